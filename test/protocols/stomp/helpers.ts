/** STOMP test helpers: a real broker on port 0, a promise wrapper around stompit, and a raw frame client. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import type { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import type { BrokerConfigInput } from '../../../src/app/config.js';
import { runBroker, tlsFixture, withPorts, type RunningBroker } from '../../helpers/broker.js';
import { createStompModule, type StompOptions } from '../../../protocols/stomp/index.js';
import { encodeFrame, StompDecoder } from '../../../protocols/stomp/codec.js';
import type { StompFrame, StompVersion } from '../../../protocols/stomp/frame.js';

export { tlsFixture };

// ------------------------------------------------------------------------------------------- broker

export interface TestBroker extends RunningBroker {
  readonly port: number;
  readonly tlsPort: number;
  readonly wsPort: number;
}

export async function startBroker(opts: { stomp?: Partial<StompOptions>; config?: BrokerConfigInput } = {}): Promise<TestBroker> {
  const r = await runBroker({
    name: 'stomp',
    config: {
      ...opts.config,
      listeners: {
        stomp: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } },
        ws: { host: '127.0.0.1', port: 0 },
        ...opts.config?.listeners,
      },
    },
    modules: () => ({ protocols: [createStompModule(opts.stomp)] }),
  });
  return withPorts(r, { port: 'stomp', tlsPort: 'stomp-tls', wsPort: 'ws' });
}

// ------------------------------------------------------------------------------------------- stompit

const require = createRequire(import.meta.url);

export interface StompitFrame extends NodeJS.ReadableStream {
  headers: Record<string, string>;
}

interface StompitClientRaw extends EventEmitter {
  headers: Record<string, string>;
  sendFrame(command: string, headers: Record<string, unknown>, options?: { onReceipt?: () => void }): Writable & { headers: Record<string, unknown> };
  subscribe(headers: Record<string, unknown>, cb: (err: Error | null, msg: StompitFrame) => void): { unsubscribe(headers?: Record<string, unknown>): void; getId(): string };
  ack(msg: { headers: Record<string, string> }, headers?: Record<string, unknown>, options?: { onReceipt?: () => void }): void;
  nack(msg: { headers: Record<string, string> }, headers?: Record<string, unknown>, options?: { onReceipt?: () => void }): void;
  disconnect(cb?: (err?: Error) => void): void;
  destroy(err?: Error): void;
  getTransportSocket(): net.Socket;
}

const stompit = require('stompit') as {
  connect(options: Record<string, unknown>, cb: (err: Error | null, client: StompitClientRaw) => void): StompitClientRaw;
};

export interface Received {
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  frame: StompitFrame;
}

/** Messages of one subscription, in arrival order. */
export class Inbox {
  readonly items: Received[] = [];
  private taken = 0;
  private waiters: Array<() => void> = [];
  constructor(readonly id: string, private readonly sub: { unsubscribe(headers?: Record<string, unknown>): void }) {}
  push(r: Received): void {
    this.items.push(r);
    for (const w of this.waiters.splice(0)) w();
  }
  /** The next message not yet taken. */
  async next(timeoutMs = 3000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length <= this.taken) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`subscription ${this.id}: timed out waiting for message #${this.taken + 1}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.items[this.taken++]!;
  }
  async take(n: number, timeoutMs = 3000): Promise<Received[]> {
    const out: Received[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }
  /** Resolves with nothing if no message arrives within `ms`, else fails. */
  async none(ms = 200): Promise<void> {
    await sleep(ms);
    if (this.items.length > this.taken) throw new Error(`subscription ${this.id}: unexpected message ${this.items[this.taken]!.text}`);
  }
  unsubscribe(headers?: Record<string, unknown>): void {
    this.sub.unsubscribe(headers);
  }
}

export interface ConnectOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  ssl?: boolean;
  /** With ssl: more tls.connect options (a client certificate's `cert` and `key`). */
  tls?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** A connected stompit client with promise helpers. Errors from the server are collected in `errors`. */
export class Stompit {
  readonly errors: Error[] = [];
  private nextSub = 1;
  private constructor(readonly client: StompitClientRaw) {
    client.on('error', (e: Error) => this.errors.push(e));
  }

  static connect(o: ConnectOptions): Promise<Stompit> {
    return new Promise((resolve, reject) => {
      const opts: Record<string, unknown> = { host: o.host ?? '127.0.0.1', port: o.port, connectHeaders: { host: '/', 'accept-version': '1.2', ...o.headers } };
      if (o.ssl) Object.assign(opts, { ssl: true, ca: readFileSync(tlsFixture('ca.crt')), servername: 'localhost', ...o.tls });
      stompit.connect(opts, (err, client) => (err ? reject(err) : resolve(new Stompit(client))));
    });
  }

  get version(): string {
    return this.client.headers.version ?? '1.0';
  }

  /** Any frame; resolves on its RECEIPT (or at once without `receipt`), rejects on an ERROR. */
  frame(command: string, headers: Record<string, unknown>, body?: string | Buffer, receipt = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.client.once('error', onError);
      const w = this.client.sendFrame(command, { ...headers }, receipt ? { onReceipt: () => (this.client.off('error', onError), resolve()) } : undefined);
      if (body !== undefined) w.write(body);
      w.end();
      if (!receipt) {
        this.client.off('error', onError);
        resolve();
      }
    });
  }

  send(destination: string, body: string | Buffer, headers: Record<string, unknown> = {}, receipt = true): Promise<void> {
    return this.frame('SEND', { destination, ...headers }, body, receipt);
  }

  /** SUBSCRIBE with a receipt; messages (bodies read) go to the returned inbox. */
  async subscribe(destination: string, headers: Record<string, unknown> = {}): Promise<Inbox> {
    const id = String(headers.id ?? `sub-${this.nextSub++}`);
    let inbox!: Inbox;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.client.once('error', onError);
      const sub = this.client.subscribe({ destination, ...headers, id }, (err, msg) => {
        if (err) return;
        const chunks: Buffer[] = [];
        msg.on('data', (c: Buffer) => chunks.push(c));
        msg.on('end', () => {
          const body = Buffer.concat(chunks);
          inbox.push({ headers: msg.headers, body, text: body.toString('utf8'), frame: msg });
        });
      });
      inbox = new Inbox(id, sub);
      // stompit's subscribe() has no receipt option: follow it with a no-op frame that has one
      this.frame('BEGIN', { transaction: `sync-${id}` })
        .then(() => this.frame('ABORT', { transaction: `sync-${id}` }))
        .then(() => {
          this.client.off('error', onError);
          resolve();
        }, reject);
    });
    return inbox;
  }

  ack(m: Received, headers: Record<string, unknown> = {}, receipt = true): Promise<void> {
    return this.settle('ack', m, headers, receipt);
  }

  nack(m: Received, headers: Record<string, unknown> = {}, receipt = true): Promise<void> {
    return this.settle('nack', m, headers, receipt);
  }

  private settle(kind: 'ack' | 'nack', m: Received, headers: Record<string, unknown>, receipt: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.client.once('error', onError);
      this.client[kind](m.frame, headers, receipt ? { onReceipt: () => (this.client.off('error', onError), resolve()) } : undefined);
      if (!receipt) {
        this.client.off('error', onError);
        resolve();
      }
    });
  }

  /** Wait for the next ERROR (or transport error) from the server. */
  async nextError(timeoutMs = 3000): Promise<Error & { longMessage?: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.errors.length === 0) {
      if (Date.now() > deadline) throw new Error('no error from the server');
      await sleep(5);
    }
    return this.errors.shift()!;
  }

  disconnect(): Promise<void> {
    return new Promise((resolve) => {
      this.client.disconnect(() => resolve());
      setTimeout(resolve, 2000).unref();
    });
  }

  /** Drop the connection without DISCONNECT. */
  destroy(): void {
    this.client.destroy();
  }
}

// ------------------------------------------------------------------------------------------- raw frames

/** A socket speaking raw STOMP frames, decoded with the broker's own codec. */
export class RawClient {
  readonly frames: StompFrame[] = [];
  private taken = 0;
  closed = false;
  private waiters: Array<() => void> = [];
  readonly decoder: StompDecoder;
  error: Error | undefined;

  private constructor(readonly socket: net.Socket, version: StompVersion) {
    this.decoder = new StompDecoder({
      version,
      maxBodySize: 64 * 1024 * 1024,
      onFrame: (f) => {
        this.frames.push(f);
        this.wake();
      },
      onError: (e) => {
        this.error = e;
        this.wake();
      },
    });
    socket.on('data', (c: Buffer) => this.decoder.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(port: number, opts: { tls?: boolean; version?: StompVersion } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = opts.tls
        ? tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(tlsFixture('ca.crt')) }, () => resolve(new RawClient(s, opts.version ?? '1.2')))
        : net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(s, opts.version ?? '1.2')));
      s.once('error', reject);
    });
  }

  /** Connect and send CONNECT; resolves with the CONNECTED frame. */
  static async open(port: number, headers: Record<string, string> = {}, version: StompVersion = '1.2'): Promise<RawClient> {
    const c = await RawClient.connect(port, { version });
    c.send('CONNECT', { 'accept-version': version, host: '/', ...headers });
    const f = await c.next();
    if (f.command !== 'CONNECTED') throw new Error(`expected CONNECTED, got ${f.command}: ${f.body.toString()}`);
    return c;
  }

  send(command: string, headers: Record<string, string> = {}, body: string | Buffer = ''): void {
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    this.socket.write(encodeFrame({ command, headers: Object.entries(headers), body: b }, this.decoder.version));
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  async next(timeoutMs = 3000): Promise<StompFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length <= this.taken) {
      if (this.closed || this.error) throw new Error(`connection closed while waiting for a frame (${this.error?.message ?? 'closed'})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames[this.taken++]!;
  }

  /** Resolves when the server closed the connection. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('connection was not closed');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function hdr(f: StompFrame, name: string): string | undefined {
  for (const [k, v] of f.headers) if (k === name) return v;
  return undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met in time`);
    await sleep(5);
  }
}
