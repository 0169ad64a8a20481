/** AMQP test helpers: a real broker on port 0, and promise wrappers around the rhea client (TCP, TLS, WebSocket). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import WebSocket from 'ws';
import type { BrokerConfigInput } from '../../../src/app/config.js';
import { runBroker, tlsFixture, withPorts, type RunningBroker } from '../../helpers/broker.js';
import type { ProtocolModule } from '../../../src/transport/types.js';
import { createAmqpModule, type AmqpOptions } from '../../../protocols/amqp/index.js';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Any = any;

/** The rhea module (the default container; use `container()` for one with its own id). */
export const rhea: Any = require('rhea');

export { tlsFixture };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met in time`);
    await sleep(5);
  }
}

// ------------------------------------------------------------------------------------------- broker

export interface TestBroker extends RunningBroker {
  readonly port: number;
  readonly tlsPort: number;
  readonly wsPort: number;
  readonly stompPort: number;
}

export async function startBroker(opts: { amqp?: Partial<AmqpOptions>; config?: BrokerConfigInput; protocols?: ProtocolModule[] } = {}): Promise<TestBroker> {
  const r = await runBroker({
    name: 'amqp',
    config: {
      ...opts.config,
      listeners: {
        amqp: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key'), ca: tlsFixture('ca.crt'), requestClientCert: true } },
        ws: { host: '127.0.0.1', port: 0 },
        ...(opts.protocols?.some((p) => p.name === 'stomp') ? { stomp: { host: '127.0.0.1', port: 0 } } : {}),
        ...opts.config?.listeners,
      },
    },
    modules: () => ({ protocols: [createAmqpModule(opts.amqp), ...(opts.protocols ?? [])] }),
  });
  return withPorts(r, { port: 'amqp', tlsPort: 'amqp-tls', wsPort: 'ws', stompPort: 'stomp' });
}

// ------------------------------------------------------------------------------------------- rhea client

export interface ConnectOptions {
  transport?: 'tcp' | 'tls' | 'ws';
  containerId?: string;
  username?: string;
  password?: string;
  /** extra rhea connection options */
  extra?: Record<string, unknown>;
}

export interface Received {
  message: Any;
  delivery: Any;
  raw?: Buffer;
}

/** Messages of one receiver, in arrival order. */
export class Inbox {
  readonly items: Received[] = [];
  private taken = 0;
  private waiters: Array<() => void> = [];
  drained = 0;
  push(r: Received): void {
    this.items.push(r);
    this.wake();
  }
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async wait(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  async next(timeoutMs = 3000): Promise<Received> {
    await this.wait(() => this.items.length > this.taken, timeoutMs, `message #${this.taken + 1}`);
    return this.items[this.taken++]!;
  }
  async take(n: number, timeoutMs = 3000): Promise<Received[]> {
    const out: Received[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }
  async none(ms = 200): Promise<void> {
    await sleep(ms);
    if (this.items.length > this.taken) throw new Error(`unexpected message ${JSON.stringify(this.items[this.taken]!.message?.body)}`);
  }
  get pending(): number {
    return this.items.length - this.taken;
  }
}

let containerSeq = 0;

export class Client {
  readonly errors: Any[] = [];
  closed = false;
  private constructor(readonly container: Any, readonly conn: Any) {
    conn.on('connection_error', (ctx: Any) => this.errors.push(ctx.connection.error));
    conn.on('connection_close', () => (this.closed = true));
    conn.on('disconnected', () => (this.closed = true));
    conn.on('error', (e: Any) => this.errors.push(e));
    conn.on('protocol_error', (e: Any) => this.errors.push(e));
  }

  /** A plain TCP connection to a port (a broker in a child process). */
  static connectTo(port: number, o: ConnectOptions = {}): Promise<Client> {
    return Client.connect({ port, tlsPort: 0, wsPort: 0 }, o);
  }

  static connect(b: Pick<TestBroker, 'port' | 'tlsPort' | 'wsPort'>, o: ConnectOptions = {}): Promise<Client> {
    const container = rhea.create_container({ id: o.containerId ?? `test-client-${process.pid}-${++containerSeq}` });
    container.on('error', () => undefined);
    const common: Record<string, unknown> = { reconnect: false, host: '127.0.0.1', idle_time_out: 0, ...o.extra };
    if (o.username !== undefined) Object.assign(common, { username: o.username, password: o.password });
    let conn: Any;
    if (o.transport === 'ws') {
      const ws = container.websocket_connect(WebSocket);
      conn = container.connect({ ...common, connection_details: ws(`ws://127.0.0.1:${b.wsPort}`, ['amqp']) });
    } else if (o.transport === 'tls') {
      conn = container.connect({ ...common, port: b.tlsPort, transport: 'tls', servername: 'localhost', ca: readFileSync(tlsFixture('ca.crt')) });
    } else {
      conn = container.connect({ ...common, port: b.port });
    }
    const c = new Client(container, conn);
    return new Promise((resolve, reject) => {
      conn.once('connection_open', () => resolve(c));
      conn.once('connection_error', (ctx: Any) => reject(new Error(`connection refused: ${JSON.stringify(ctx.connection.error ?? { condition: ctx.error?.condition, description: ctx.error?.description })}`)));
      conn.once('disconnected', (ctx: Any) => reject(new Error(`disconnected: ${ctx.error?.message ?? 'closed'}`)));
    });
  }

  /** A sender; resolves when the broker attached it (rejects on a refusal). */
  sender(options: string | Record<string, unknown>): Promise<Sender> {
    const opts = typeof options === 'string' ? { target: { address: options } } : options;
    const s = this.conn.open_sender(opts);
    return new Promise((resolve, reject) => {
      s.once('sender_open', () => {
        if (!s.remote.attach?.target?.terminus_type) {
          s.once('sender_close', () => reject(linkError(s)));
          s.once('sender_error', () => reject(linkError(s)));
          return;
        }
        resolve(new Sender(s));
      });
      s.once('sender_error', () => reject(linkError(s)));
      s.once('sender_close', () => reject(linkError(s)));
    });
  }

  /** A receiver; resolves when attached. `credit_window: 0` for manual credit. */
  receiver(options: string | Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Receiver> {
    const opts = typeof options === 'string' ? { source: { address: options }, ...extra } : { ...options, ...extra };
    const r = this.conn.open_receiver(opts);
    const inbox = new Inbox();
    r.on('message', (ctx: Any) => inbox.push({ message: ctx.message, delivery: ctx.delivery, raw: ctx.raw }));
    r.on('receiver_drained', () => {
      inbox.drained++;
      inbox.wake();
    });
    return new Promise((resolve, reject) => {
      r.once('receiver_open', () => {
        if (!r.remote.attach?.source?.terminus_type) {
          r.once('receiver_close', () => reject(linkError(r)));
          r.once('receiver_error', () => reject(linkError(r)));
          return;
        }
        resolve(new Receiver(r, inbox));
      });
      r.once('receiver_error', () => reject(linkError(r)));
      r.once('receiver_close', () => reject(linkError(r)));
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.conn.once('connection_close', () => {
        clearTimeout(t);
        resolve();
      });
      this.conn.once('disconnected', () => {
        clearTimeout(t);
        resolve();
      });
      this.conn.close();
    });
  }

  destroy(): void {
    this.conn.socket?.destroy?.();
  }
}

export class LinkError extends Error {
  constructor(readonly condition: string | undefined, description: string | undefined) {
    super(`${condition}: ${description}`);
  }
}

function linkError(l: Any): LinkError {
  const e = l.remote?.detach?.error;
  return new LinkError(e?.condition, e?.description);
}

export type Outcome = { state: 'accepted' | 'rejected' | 'released' | 'modified'; error?: { condition: string; description?: string }; delivery: Any };

export class Sender {
  constructor(readonly link: Any) {
    link.on('accepted', (ctx: Any) => this.settle(ctx, 'accepted'));
    link.on('rejected', (ctx: Any) => this.settle(ctx, 'rejected'));
    link.on('released', (ctx: Any) => this.settle(ctx, 'released'));
    link.on('modified', (ctx: Any) => this.settle(ctx, 'modified'));
  }
  private waiting = new Map<Any, (o: Outcome) => void>();
  private settle(ctx: Any, state: Outcome['state']): void {
    const w = this.waiting.get(ctx.delivery);
    if (!w) return;
    this.waiting.delete(ctx.delivery);
    w({ state, error: ctx.delivery.remote_state?.error, delivery: ctx.delivery });
  }
  /** Wait until there is credit. */
  async ready(timeoutMs = 3000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.link.sendable()) {
      if (Date.now() > end) throw new Error('no credit from the broker');
      await sleep(2);
    }
  }
  /** Send and resolve with the broker's outcome. */
  async send(msg: Any, timeoutMs = 5000): Promise<Outcome> {
    await this.ready(timeoutMs);
    const d = this.link.send(msg);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no outcome from the broker')), timeoutMs);
      this.waiting.set(d, (o) => {
        clearTimeout(t);
        resolve(o);
      });
    });
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.link.once('sender_close', () => resolve());
      this.link.close();
      setTimeout(resolve, 1000);
    });
  }
}

export class Receiver {
  constructor(readonly link: Any, readonly inbox: Inbox) {}
  next(timeoutMs?: number): Promise<Received> {
    return this.inbox.next(timeoutMs);
  }
  take(n: number, timeoutMs?: number): Promise<Received[]> {
    return this.inbox.take(n, timeoutMs);
  }
  none(ms?: number): Promise<void> {
    return this.inbox.none(ms);
  }
  flow(n: number): void {
    this.link.add_credit(n);
  }
  /** Drain: resolves when the broker echoed the drain. */
  async drain(timeoutMs = 3000): Promise<void> {
    const before = this.inbox.drained;
    this.link.drain_credit();
    await this.inbox.wait(() => this.inbox.drained > before, timeoutMs, 'drain echo');
  }
  /** Detach (closed=false keeps a durable subscription) or close (closed=true). */
  detach(closed = true): Promise<void> {
    return new Promise((resolve) => {
      this.link.once('receiver_close', () => resolve());
      if (closed) this.link.close();
      else this.link.detach();
      setTimeout(resolve, 1000);
    });
  }
}

/** A raw TCP socket to the broker for malformed-input tests. */
export function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

export function closeAll(...cs: Array<Client | undefined>): Promise<unknown> {
  return Promise.all(cs.map((c) => c?.close()));
}

// ------------------------------------------------------------------------------------------- raw frames

const frames: Any = require('rhea/lib/frames.js');

export const AMQP_HEADER = Buffer.from('AMQP\x00\x01\x00\x00', 'latin1');
export const SASL_HEADER = Buffer.from('AMQP\x03\x01\x00\x00', 'latin1');

/** Encode an AMQP frame (channel, performative built with rhea's frames module). */
export function amqpFrame(channel: number, performative: Any, payload?: Buffer): Buffer {
  return frames.write_frame(frames.amqp_frame(channel, performative, payload));
}

/** A frame with an arbitrary body (no checks at all): size, doff 2, type, channel, body. */
export function rawFrame(body: Buffer, type = 0, channel = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length, 0);
  h[4] = 2;
  h[5] = type;
  h.writeUInt16BE(channel, 6);
  return Buffer.concat([h, body]);
}

export { frames };

/** A socket speaking raw AMQP frames; decodes what the broker sends with rhea's frame reader. */
export class RawAmqp {
  readonly frames: Any[] = [];
  readonly headers: Buffer[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private expectHeader = true;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(port: number): Promise<RawAmqp> {
    return new RawAmqp(await rawSocket(port));
  }

  /** AMQP header (no SASL) + open; resolves with the broker's open. */
  static async open(port: number, open: Record<string, unknown> = {}): Promise<RawAmqp> {
    const r = await RawAmqp.connect(port);
    r.write(Buffer.concat([AMQP_HEADER, amqpFrame(0, frames.open({ container_id: 'raw-client', ...open }))]));
    await r.waitFor((f) => f.performative?.constructor?.toString?.().startsWith('open'), 'open');
    return r;
  }

  private onData(c: Buffer): void {
    this.buf = Buffer.concat([this.buf, c]);
    for (;;) {
      if (this.expectHeader) {
        if (this.buf.length < 8) break;
        this.headers.push(this.buf.subarray(0, 8));
        const sasl = this.buf[4] === 3;
        this.buf = this.buf.subarray(8);
        this.expectHeader = false;
        this.sasl = sasl;
        continue;
      }
      if (this.buf.length < 4) break;
      const size = this.buf.readUInt32BE(0);
      if (this.buf.length < size) break;
      const f = frames.read_frame(this.buf.subarray(0, size));
      this.buf = this.buf.subarray(size);
      this.frames.push(f);
      // after a SASL outcome the broker's AMQP header follows
      if (this.sasl && f.performative?.constructor?.toString?.().startsWith('sasl_outcome')) this.expectHeader = true;
    }
    this.wake();
  }
  private sasl = false;

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  async waitFor(pred: (f: Any) => boolean, what: string, timeoutMs = 3000): Promise<Any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The close's error condition, or 'socket closed' if the broker just closed the socket. */
  async closeCondition(timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const close = this.frames.find((f) => f.performative?.constructor?.toString?.().startsWith('close'));
      if (close) return close.performative.error?.condition ?? 'close without error';
      if (this.closed) return 'socket closed';
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the broker neither closed the connection nor the socket');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket not closed');
      await sleep(10);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
