/**
 * Raft messages over TCP between cluster nodes.
 *
 * Connections are one-way: each node dials every peer it sends to (one outbound connection per peer, created on
 * the first send, re-dialed with exponential back-off after a failure) and accepts inbound connections it only
 * reads from. No tie-breaking is needed and a half-broken link heals on its own.
 *
 * Frames: `[u32 BE length][msgpack]`, at most `maxFrameBytes`. The first three frames of a connection are the
 * handshake, which proves on both sides that the peer knows the shared cluster secret (HMAC-SHA256 over fresh
 * nonces from both ends, so a recorded handshake cannot be replayed) and binds the node ids:
 *
 *   server → client  { v: 1, id: serverId, nonce: Ns }
 *   client → server  { v: 1, id: clientId, to: serverId, nonce: Nc, mac: HMAC(secret, "wharf-raft c" | Ns | Nc | clientId | serverId) }
 *   server → client  { mac: HMAC(secret, "wharf-raft s" | Nc | Ns | serverId | clientId) }
 *
 * A connection that fails the handshake (wrong secret, wrong id, timeout, garbage) is closed and nothing it sent
 * is delivered. After it, every frame is one Raft message; a message whose `from` is not the authenticated peer,
 * or whose `to` is not this node, is dropped. The secret authenticates; it does not encrypt (run the cluster port
 * on a private network, or set `tls`).
 *
 * Sending never blocks: each peer has a bounded queue (frames and bytes); when it is full, new messages are
 * dropped (Raft retransmits what matters) and counted.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Packr } from 'msgpackr';
import type { Message, NodeId } from '../raft/index.js';
import { decodeRaftMessage, encodeRaftFrame } from './codec.js';
import type { Transport } from './transport.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface TcpTransportOptions {
  id: NodeId;
  /** Shared cluster secret (at least 16 bytes). */
  secret: string | Buffer;
  /** Listen address (default 127.0.0.1, port 0 = any free port: read `.port`). */
  host?: string;
  port?: number;
  /** Peer addresses (more can be set with setPeer). */
  peers?: ReadonlyMap<NodeId, PeerAddress> | Record<number, PeerAddress>;
  /** Per-peer send queue bounds (default 8192 frames, 64 MiB). */
  maxQueueFrames?: number;
  maxQueueBytes?: number;
  /** Largest frame accepted or sent (default 64 MiB). */
  maxFrameBytes?: number;
  /** Reconnect back-off (default 50 ms doubling up to 2 s, with jitter). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Handshake deadline (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Diagnostics (handshake failures, connection errors). */
  logger?: (line: string) => void;
  /**
   * TLS on the Raft links (PEM contents): every node serves `cert`/`key` and verifies the peer it dials against `ca`
   * (host name included). Encrypts; the HMAC handshake on top still proves both ends know the secret.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const VERSION = 1;

function mac(secret: Buffer, label: string, a: Buffer, b: Buffer, x: NodeId, y: NodeId): Buffer {
  const h = crypto.createHmac('sha256', secret);
  h.update(label);
  h.update(a);
  h.update(b);
  const ids = Buffer.alloc(16);
  ids.writeDoubleBE(x, 0);
  ids.writeDoubleBE(y, 8);
  h.update(ids);
  return h.digest();
}

function sameMac(a: unknown, b: Buffer): boolean {
  return a instanceof Uint8Array && a.length === b.length && crypto.timingSafeEqual(a, b);
}

function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/**
 * Splits a byte stream into length-prefixed frames. A frame spread over several chunks is copied once, when its
 * last chunk arrives (not the whole pending buffer again on every chunk); frames within a chunk are views of it.
 */
export class FrameReader {
  /** Bytes received and not yet framed: `head` (a view), then `parts` (whole chunks). */
  private head: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private pending = 0;
  /** Size of the frame being collected (header included), once its header is known; 0 before. */
  private need = 0;
  constructor(private readonly max: number) {}
  /** Frames completed by `chunk`; throws on an oversized frame. */
  push(chunk: Buffer): Buffer[] {
    if (this.pending === 0) this.head = chunk;
    else this.parts.push(chunk);
    this.pending += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.need === 0) {
        if (this.pending < 4) break;
        if (this.head.length < 4) this.gather();
        const n = this.head.readUInt32BE(0);
        if (n > this.max) throw new Error(`frame of ${n} bytes exceeds the limit of ${this.max}`);
        this.need = 4 + n;
      }
      if (this.pending < this.need) break;
      if (this.head.length < this.need) this.gather();
      out.push(this.head.subarray(4, this.need));
      this.head = this.head.subarray(this.need);
      this.pending -= this.need;
      this.need = 0;
    }
    return out;
  }
  /** Join everything pending into `head`. */
  private gather(): void {
    this.head = Buffer.concat([this.head, ...this.parts]);
    this.parts = [];
  }
}

/** Outbound link to one peer: a bounded queue, a connection, reconnects. */
class Peer {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private socket: net.Socket | undefined;
  private ready = false;
  private flushQueued = false;
  private backoff: number;
  private timer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    private readonly t: TcpTransport,
    readonly id: NodeId,
    public addr: PeerAddress | undefined,
  ) {
    this.backoff = t.reconnectMinMs;
  }

  enqueue(f: Buffer): void {
    if (this.queue.length >= this.t.maxQueueFrames || this.queuedBytes + f.length > this.t.maxQueueBytes) {
      this.t.stats.dropped++;
      return;
    }
    this.queue.push(f);
    this.queuedBytes += f.length;
    // The messages of one Ready are sent in one synchronous loop: write them together, one syscall, after it.
    if (this.ready && !this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => {
        this.flushQueued = false;
        this.flush();
      });
    }
    else if (!this.socket && !this.timer) this.connect();
  }

  get queued(): number {
    return this.queue.length;
  }

  private connect(): void {
    if (this.closed || !this.addr) return;
    const t = this.t;
    const s = t.tls
      ? tls.connect({ host: this.addr.host, port: this.addr.port, ca: t.tls.ca, servername: net.isIP(this.addr.host) ? undefined : this.addr.host })
      : net.connect({ host: this.addr.host, port: this.addr.port });
    s.setNoDelay(true);
    this.socket = s;
    const reader = new FrameReader(t.maxFrameBytes);
    let step = 0;
    let nonceS: Buffer | undefined;
    const nonceC = crypto.randomBytes(32);
    const deadline = setTimeout(() => s.destroy(new Error('handshake timed out')), t.handshakeTimeoutMs);
    s.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (step === 0) {
            const h = packr.unpack(f) as { v?: unknown; id?: unknown; nonce?: unknown };
            if (h.v !== VERSION || h.id !== this.id || !(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) {
              throw new Error(`unexpected hello (expected node ${this.id}, got ${String(h.id)})`);
            }
            nonceS = Buffer.from(h.nonce);
            const m = mac(t.secret, 'wharf-raft c', nonceS, nonceC, t.id, this.id);
            s.write(frame(Buffer.from(packr.pack({ v: VERSION, id: t.id, to: this.id, nonce: nonceC, mac: m }))));
            step = 1;
          } else if (step === 1) {
            const r = packr.unpack(f) as { mac?: unknown };
            if (!sameMac(r.mac, mac(t.secret, 'wharf-raft s', nonceC, nonceS!, this.id, t.id))) throw new Error('peer failed authentication');
            clearTimeout(deadline);
            step = 2;
            this.ready = true;
            this.backoff = t.reconnectMinMs;
            this.flush();
          } else {
            throw new Error('unexpected data from the peer');
          }
        }
      } catch (err) {
        t.log(`${t.id}→${this.id}: ${(err as Error).message}`);
        s.destroy();
      }
    });
    s.on('drain', () => this.flush());
    s.on('error', (err) => t.log(`${t.id}→${this.id}: ${err.message}`));
    s.on('close', () => {
      clearTimeout(deadline);
      if (this.socket === s) {
        this.socket = undefined;
        this.ready = false;
        this.scheduleReconnect();
      }
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const delay = this.backoff / 2 + Math.random() * (this.backoff / 2);
    this.backoff = Math.min(this.backoff * 2, this.t.reconnectMaxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.queue.length > 0 || this.t.keepConnected) this.connect();
    }, delay);
    this.timer.unref?.();
  }

  private flush(): void {
    const s = this.socket;
    if (!s || !this.ready) return;
    s.cork();
    while (this.queue.length > 0 && !s.writableNeedDrain) {
      const f = this.queue.shift()!;
      this.queuedBytes -= f.length;
      s.write(f);
      this.t.stats.sent++;
    }
    s.uncork();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    this.queue = [];
    this.queuedBytes = 0;
  }
}

export class TcpTransport implements Transport {
  readonly id: NodeId;
  readonly secret: Buffer;
  readonly maxQueueFrames: number;
  readonly maxQueueBytes: number;
  readonly maxFrameBytes: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  readonly handshakeTimeoutMs: number;
  readonly tls: TcpTransportOptions['tls'];
  /** Reconnect even with nothing queued (Raft heartbeats keep links busy anyway). */
  readonly keepConnected = false;
  readonly stats = { sent: 0, received: 0, dropped: 0, rejectedConnections: 0 };
  private readonly server: net.Server;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<net.Socket>();
  private handler: ((msg: Message) => void) | undefined;
  private closed = false;
  private readonly logger: ((line: string) => void) | undefined;

  private constructor(o: TcpTransportOptions, server: net.Server) {
    this.id = o.id;
    this.secret = Buffer.isBuffer(o.secret) ? o.secret : Buffer.from(o.secret, 'utf8');
    this.maxQueueFrames = o.maxQueueFrames ?? 8192;
    this.maxQueueBytes = o.maxQueueBytes ?? 64 * 1024 * 1024;
    this.maxFrameBytes = o.maxFrameBytes ?? 64 * 1024 * 1024;
    this.reconnectMinMs = o.reconnectMinMs ?? 50;
    this.reconnectMaxMs = o.reconnectMaxMs ?? 2000;
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 5000;
    this.logger = o.logger;
    this.tls = o.tls;
    this.server = server;
    const peers = o.peers instanceof Map ? o.peers : new Map(Object.entries(o.peers ?? {}).map(([k, v]) => [Number(k), v] as const));
    for (const [id, addr] of peers) if (id !== o.id) this.setPeer(id, addr);
    server.on(o.tls ? 'secureConnection' : 'connection', (s: net.Socket) => this.accept(s));
    if (o.tls) server.on('tlsClientError', (err) => this.log(`TLS handshake failed: ${err.message}`));
  }

  /** Start listening; resolves once bound (`port` then holds the actual port). */
  static listen(o: TcpTransportOptions): Promise<TcpTransport> {
    const secretLen = Buffer.isBuffer(o.secret) ? o.secret.length : Buffer.byteLength(o.secret ?? '');
    if (secretLen < 16) return Promise.reject(new Error('cluster secret must be at least 16 bytes'));
    const server = o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key }) : net.createServer();
    const t = new TcpTransport(o, server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        server.on('error', (err) => t.log(`listener: ${err.message}`));
        resolve(t);
      });
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  log(line: string): void {
    this.logger?.(line);
  }

  setPeer(id: NodeId, addr: PeerAddress): void {
    const p = this.peers.get(id);
    if (p) p.addr = addr;
    else this.peers.set(id, new Peer(this, id, addr));
  }

  /** Frames waiting for peer `id` (tests, metrics). */
  queued(id: NodeId): number {
    return this.peers.get(id)?.queued ?? 0;
  }

  send(to: NodeId, msg: Message): void {
    if (this.closed) return;
    const p = this.peers.get(to);
    if (!p) {
      this.stats.dropped++;
      return;
    }
    const f = encodeRaftFrame(msg);
    if (f.length - 4 > this.maxFrameBytes) {
      this.log(`${this.id}→${to}: message of ${f.length - 4} bytes exceeds the frame limit; dropped`);
      this.stats.dropped++;
      return;
    }
    p.enqueue(f);
  }

  onMessage(handler: (msg: Message) => void): void {
    this.handler = handler;
  }

  private accept(s: net.Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    this.inbound.add(s);
    const reader = new FrameReader(this.maxFrameBytes);
    const nonceS = crypto.randomBytes(32);
    let peer: NodeId | undefined;
    const deadline = setTimeout(() => {
      this.stats.rejectedConnections++;
      s.destroy();
    }, this.handshakeTimeoutMs);
    s.write(frame(Buffer.from(packr.pack({ v: VERSION, id: this.id, nonce: nonceS }))));
    s.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (peer === undefined) {
            const h = packr.unpack(f) as { v?: unknown; id?: unknown; to?: unknown; nonce?: unknown; mac?: unknown };
            if (h.v !== VERSION || typeof h.id !== 'number' || h.to !== this.id || !(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) {
              throw new Error('bad handshake');
            }
            const nonceC = Buffer.from(h.nonce);
            if (!sameMac(h.mac, mac(this.secret, 'wharf-raft c', nonceS, nonceC, h.id, this.id))) throw new Error(`node ${h.id} failed authentication`);
            peer = h.id;
            clearTimeout(deadline);
            s.write(frame(Buffer.from(packr.pack({ mac: mac(this.secret, 'wharf-raft s', nonceC, nonceS, this.id, peer) }))));
          } else {
            const m = decodeRaftMessage(f);
            if (m.from !== peer || m.to !== this.id) {
              this.stats.dropped++;
              continue;
            }
            this.stats.received++;
            this.handler?.(m);
          }
        }
      } catch (err) {
        if (peer === undefined) this.stats.rejectedConnections++;
        this.log(`${this.id}←${peer ?? s.remoteAddress}: ${(err as Error).message}; closing`);
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(deadline);
      this.inbound.delete(s);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
