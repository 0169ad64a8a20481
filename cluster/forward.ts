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
    // pipe() handles back-pressure both ways; a half-close is passed on as one.
    client.pipe(upstream);
    upstream.pipe(client);
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
