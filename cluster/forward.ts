/**
 * Follower forwarding: a client connection accepted on a follower is piped, byte for byte, to the same listener
 * on the leader. Nothing is parsed, so every protocol works (TLS end to end, WebSocket, HTTP). When the leader
 * changes, `closeAll()` ends every forwarded connection so clients reconnect (and reach the new leader).
 */
import net from 'node:net';

export interface ForwardTarget {
  host: string;
  port: number;
}

export class Forwarder {
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  readonly stats = { forwarded: 0, failed: 0 };

  constructor(private readonly connectTimeoutMs = 5_000) {}

  /** Connections forwarded right now. */
  get active(): number {
    return this.pairs.size;
  }

  /** Pipe `client` to `target`; `header` (the client's address for the leader, see proxy-header.ts) goes first. */
  forward(client: net.Socket, target: ForwardTarget, header?: Buffer): void {
    client.setNoDelay(true);
    const upstream = net.connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    if (header) upstream.write(header);
    const pair = { client, upstream };
    this.pairs.add(pair);
    this.stats.forwarded++;
    const timer = setTimeout(() => upstream.destroy(new Error('connect timed out')), this.connectTimeoutMs);
    timer.unref();
    upstream.once('connect', () => clearTimeout(timer));
    const end = () => {
      clearTimeout(timer);
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', () => {
      this.stats.failed++;
      end();
    });
    client.on('error', end);
    upstream.on('close', end);
    client.on('close', end);
    relay(client, upstream);
    relay(upstream, client);
  }

  /** End every forwarded connection (the leader changed, or the node stops). */
  closeAll(): void {
    for (const p of [...this.pairs]) {
      this.pairs.delete(p);
      p.client.destroy();
      p.upstream.destroy();
    }
  }
}

/**
 * Copy `from` to `to` as pipe() would (back-pressure; an end passed on — a half-close does not survive it, because
 * the listeners' sockets end their side once the client's ends, as for local clients), but write what one event-loop turn
 * read in one go: a client's small writes (a STOMP frame, an MQTT packet each) then cost one write on the other
 * socket per turn, not one each.
 */
function relay(from: net.Socket, to: net.Socket): void {
  let held: Buffer[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (held.length === 0 || to.destroyed) return;
    const chunks = held;
    held = [];
    let ok = true;
    if (chunks.length === 1) ok = to.write(chunks[0]!);
    else {
      to.cork();
      for (const c of chunks) ok = to.write(c);
      to.uncork();
    }
    if (!ok) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };
  from.on('data', (chunk: Buffer) => {
    held.push(chunk);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  from.on('end', () => {
    flush();
    to.end();
  });
}
