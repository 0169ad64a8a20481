/**
 * A fault-injecting TCP proxy for one direction of a Raft link (node A dials node B through it).
 *
 *  - `pass`: bytes flow unchanged (optionally `delayMs` late, order kept);
 *  - `drop`: a partition. Existing connections are cut and new ones are accepted but black-holed (nothing is
 *    forwarded, nothing answered), as when packets are lost; the dialer sees a silent peer, then its handshake
 *    timeout. Cutting whole connections (never single chunks) keeps the length-prefixed frame stream intact, as
 *    TCP would.
 * Switching back to `pass` cuts the black-holed connections so the dialer redials.
 */
import net from 'node:net';

export type ProxyMode = 'pass' | 'drop';

export class FaultProxy {
  private mode: ProxyMode = 'pass';
  private delayMs = 0;
  private readonly conns = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
  ) {
    server.on('connection', (c) => this.accept(c));
  }

  static async listen(target: { host: string; port: number }, port = 0): Promise<FaultProxy> {
    const server = net.createServer();
    const p = new FaultProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  setMode(mode: ProxyMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.cutAll();
  }

  /** Delay every chunk by `ms` (both directions; order kept). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  private cutAll(): void {
    for (const s of this.conns) s.destroy();
    this.conns.clear();
  }

  private accept(client: net.Socket): void {
    this.conns.add(client);
    client.on('error', () => undefined);
    client.on('close', () => this.conns.delete(client));
    if (this.mode === 'drop') {
      client.resume(); // black hole
      return;
    }
    const upstream = net.connect(this.target);
    this.conns.add(upstream);
    upstream.on('error', () => undefined);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('close', () => {
      this.conns.delete(upstream);
      end();
    });
    client.on('close', end);
    const relay = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (this.delayMs <= 0) to.write(chunk);
        else setTimeout(() => to.writable && to.write(chunk), this.delayMs);
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
