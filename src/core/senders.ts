/**
 * Producers of protocols that have no producer objects (STOMP, MQTT, SQS, the admin API): a connection that sent
 * to a destination within the last window counts as one producer there until it stops sending for a window or
 * closes. AMQP sender links and OpenWire producers are registered explicitly (`registerProducer`), so a connection
 * that registered one is left to that count and never counted twice.
 */
import type { Address } from './address.js';
import type { Connection } from './connection.js';

export class RecentSenders {
  private readonly active = new Set<Connection>();
  private lastSweep = 0;

  constructor(
    private readonly register: (a: Address, c: Connection) => () => void,
    private readonly windowMs = 60_000,
  ) {}

  /** On every send: cheap when the connection keeps sending to the same destinations (two map lookups, no allocation). */
  note(conn: Connection, address: Address): void {
    if (conn.explicitProducers) return;
    let byKind = conn.recentSends;
    if (!byKind) {
      byKind = conn.recentSends = { queue: new Map(), topic: new Map() };
      this.active.add(conn);
    }
    const m = address.kind === 'topic' ? byKind.topic : byKind.queue;
    const r = m.get(address.name);
    if (r) r.touched = true;
    else m.set(address.name, { release: this.register(address, conn), touched: true });
  }

  /** Called from the engine's sweep (once a second): every window, senders that sent nothing since the last one stop counting. */
  sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    for (const c of this.active) {
      const byKind = c.recentSends!;
      for (const m of [byKind.queue, byKind.topic]) {
        for (const [name, r] of m) {
          if (r.touched) r.touched = false;
          else {
            r.release();
            m.delete(name);
          }
        }
      }
      if (byKind.queue.size === 0 && byKind.topic.size === 0) {
        c.recentSends = undefined;
        this.active.delete(c);
      }
    }
  }

  /** A closed connection produces no more. */
  release(c: Connection): void {
    const byKind = c.recentSends;
    if (!byKind) return;
    for (const m of [byKind.queue, byKind.topic]) for (const r of m.values()) r.release();
    c.recentSends = undefined;
    this.active.delete(c);
  }
}
