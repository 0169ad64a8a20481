/**
 * Once a second: broker-wide message rates (publish, deliver, ack), total depth and connections, kept as a
 * five-minute history for the console's overview chart and pushed to live listeners (SSE); per-destination and
 * per-connection in/out rates for the tables; and byte counters that survive connection close (for /metrics).
 */
import { type ConnectionHandle, type EngineApi } from '../core/api.js';
import { History, type HistoryInput } from './history.js';

export interface RateSample {
  /** Epoch seconds (fractional when sampling faster than once a second). */
  t: number;
  publish: number;
  deliver: number;
  ack: number;
  depth: number;
  connections: number;
}

interface Prev {
  in: number;
  out: number;
  inRate: number;
  outRate: number;
}

export class Sampler {
  readonly history: RateSample[] = [];
  /** Per-destination depth/in/out/redelivered over 24 h, downsampled (history.ts). */
  readonly destinations = new History();
  private readonly max: number;
  private timer: NodeJS.Timeout | null = null;
  private last = { t: 0, enqueued: 0, delivered: 0, acked: 0 };
  private readonly dest = new Map<string, Prev>();
  private readonly conn = new Map<string, Prev>();
  private readonly listeners = new Set<(s: RateSample) => void>();
  /** Message body bytes and messages of connections that have closed (live ones are added on read). */
  readonly retired = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
  private readonly onClosed = (c: ConnectionHandle) => {
    this.retired.bytesIn += c.stats.bytesIn;
    this.retired.bytesOut += c.stats.bytesOut;
    this.retired.messagesIn += c.stats.messagesIn;
    this.retired.messagesOut += c.stats.messagesOut;
    this.conn.delete(c.id);
  };

  constructor(private readonly engine: EngineApi, private readonly intervalMs = 1000, historySeconds = 300) {
    this.max = Math.ceil((historySeconds * 1000) / intervalMs);
  }

  start(): void {
    this.engine.on('connection.closed', this.onClosed);
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.engine.off('connection.closed', this.onClosed);
    this.listeners.clear();
  }

  subscribe(fn: (s: RateSample) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Totals over live and closed connections. */
  traffic(): { bytesIn: number; bytesOut: number; messagesIn: number; messagesOut: number } {
    const t = { ...this.retired };
    for (const c of this.engine.listConnections()) {
      t.bytesIn += c.stats.bytesIn;
      t.bytesOut += c.stats.bytesOut;
      t.messagesIn += c.stats.messagesIn;
      t.messagesOut += c.stats.messagesOut;
    }
    return t;
  }

  destinationRates(key: string): { in: number; out: number } {
    const p = this.dest.get(key);
    return { in: p?.inRate ?? 0, out: p?.outRate ?? 0 };
  }

  connectionRates(id: string): { in: number; out: number } {
    const p = this.conn.get(id);
    return { in: p?.inRate ?? 0, out: p?.outRate ?? 0 };
  }

  /** The latest sample (zeros before the first full interval). */
  current(): RateSample {
    return this.history[this.history.length - 1] ?? { t: Math.round(Date.now()) / 1000, publish: 0, deliver: 0, ack: 0, depth: 0, connections: 0 };
  }

  sample(): void {
    const now = Date.now();
    const dt = this.last.t ? Math.max(0.001, (now - this.last.t) / 1000) : 0;
    const rate = (cur: number, prev: number) => (dt ? Math.max(0, cur - prev) / dt : 0);

    let depth = 0;
    let acked = 0;
    const seen = new Set<string>();
    const track = (key: string, inCount: number, outCount: number) => {
      seen.add(key);
      const p = this.dest.get(key);
      if (!p) {
        this.dest.set(key, { in: inCount, out: outCount, inRate: 0, outRate: 0 });
        return;
      }
      p.inRate = rate(inCount, p.in);
      p.outRate = rate(outCount, p.out);
      acked += Math.max(0, outCount - p.out);
      p.in = inCount;
      p.out = outCount;
    };
    const hist: HistoryInput[] = [];
    for (const d of this.engine.listDestinations()) {
      depth += d.depth;
      const key = `${d.kind}:${d.name}`;
      track(key, d.enqueued, d.dequeued);
      hist.push({ key, depth: d.depth, in: d.enqueued, out: d.dequeued, redelivered: d.redelivered ?? 0 });
    }
    for (const s of this.engine.listSubscriptions()) {
      depth += s.depth;
      const key = `sub:${s.name}`;
      track(key, s.enqueued, s.dequeued);
      hist.push({ key, depth: s.depth, in: s.enqueued, out: s.dequeued, redelivered: s.redelivered ?? 0 });
    }
    this.destinations.sample(hist);
    for (const k of this.dest.keys()) if (!seen.has(k)) this.dest.delete(k);

    const conns = this.engine.listConnections();
    for (const c of conns) {
      const p = this.conn.get(c.id);
      if (!p) this.conn.set(c.id, { in: c.stats.messagesIn, out: c.stats.messagesOut, inRate: 0, outRate: 0 });
      else {
        p.inRate = rate(c.stats.messagesIn, p.in);
        p.outRate = rate(c.stats.messagesOut, p.out);
        p.in = c.stats.messagesIn;
        p.out = c.stats.messagesOut;
      }
    }

    const totals = this.engine.totals;
    const ackCount = this.last.t ? acked : 0;
    const s: RateSample = {
      t: Math.round(now) / 1000,
      publish: round(rate(totals.enqueued, this.last.enqueued)),
      deliver: round(rate(totals.delivered, this.last.delivered)),
      ack: round(dt ? ackCount / dt : 0),
      depth,
      connections: conns.length,
    };
    this.last = { t: now, enqueued: totals.enqueued, delivered: totals.delivered, acked: this.last.acked + ackCount };
    if (!dt) return; // the first call only sets the baseline
    this.history.push(s);
    if (this.history.length > this.max) this.history.splice(0, this.history.length - this.max);
    for (const fn of this.listeners) {
      try {
        fn(s);
      } catch {
        // a broken listener must not stop sampling
      }
    }
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
