/**
 * One STOMP connection: frames ⇄ Engine calls.
 *
 * Frames are handled in wire order. SENDs and ACKs start their engine call at once and complete
 * concurrently (their RECEIPT follows when the engine call resolved, so a persistent SEND's receipt means
 * durable); frames whose outcome later frames depend on (CONNECT, SUBSCRIBE, UNSUBSCRIBE, COMMIT) are
 * barriers: decoding and reading pause until they completed.
 *
 * Output is coalesced: the stream is corked on the first write of an event turn and uncorked in
 * setImmediate. Every subscription uses explicit credit, which this session keeps at
 * `prefetch − unacknowledged`; while the stream's `writableLength` is above the high-water mark, credit is
 * withdrawn and reading pauses until 'drain'.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type Address, BrokerError, type BrokerErrorCode, type ConnectionHandle, type ConsumerHandle, type Delivery, type EngineApi, type Message, type TransactionHandle } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import { encodeFrame, HEARTBEAT, PreparedMessage, StompDecoder } from './codec.js';
import { header, StompProtocolError, type StompFrame, type StompVersion } from './frame.js';
import { compositeAddress, kindOf, messageHeaders, parseDestination, sendToMessage, type SendContext } from './mapping.js';

export interface StompOptions {
  /** Close a connection that has not sent CONNECT within this many ms. */
  connectTimeout: number;
  /** Smallest heart-beat interval the server agrees to, ms (a client asking for less gets this). */
  heartbeatMin: number;
  /** A peer that sent nothing for `tolerance ×` its negotiated heart-beat interval is disconnected. */
  heartbeatTolerance: number;
  /** Unacknowledged messages per subscription when the SUBSCRIBE has no `activemq.prefetchSize`. */
  defaultPrefetch: number;
  /** Upper bound for `activemq.prefetchSize`. */
  maxPrefetch: number;
  maxSubscriptions: number;
  /** Open transactions per connection. */
  maxTransactions: number;
  /** Messages / body bytes buffered in one transaction. */
  maxTransactionMessages: number;
  maxTransactionBytes: number;
  /** Temporary destinations per connection. */
  maxTemporaries: number;
  /** SENDs (and their body bytes) in flight before reading pauses. */
  maxPendingSends: number;
  maxPendingBytes: number;
  /** Output buffered above this many bytes withdraws credit and pauses reading until 'drain'. */
  writeHighWater: number;
  /** After an ERROR (or DISCONNECT receipt) the socket is destroyed if the peer has not closed it within this many ms. */
  closeGrace: number;
  /** Longest command/header line, and most headers per frame. */
  maxLineLength: number;
  maxHeaders: number;
}

export const DEFAULT_STOMP_OPTIONS: StompOptions = {
  connectTimeout: 10_000,
  heartbeatMin: 100,
  heartbeatTolerance: 2,
  defaultPrefetch: 1000,
  maxPrefetch: 32_767,
  maxSubscriptions: 1024,
  maxTransactions: 256,
  maxTransactionMessages: 100_000,
  maxTransactionBytes: 64 * 1024 * 1024,
  maxTemporaries: 1024,
  maxPendingSends: 1024,
  maxPendingBytes: 32 * 1024 * 1024,
  writeHighWater: 1024 * 1024,
  closeGrace: 2000,
  maxLineLength: 8 * 1024,
  maxHeaders: 128,
};

export interface ConnectionHost {
  engine: EngineApi;
  logger: Logger;
  limits: ConnectionLimits;
  options: StompOptions;
  serverName: string;
  closed(connection: StompConnection): void;
}

type AckMode = 'auto' | 'client' | 'client-individual';

interface Sub {
  id: string;
  destination: string;
  ackMode: AckMode;
  prefetch: number;
  consumer: ConsumerHandle | null;
  /** Delivered and not yet acknowledged (client modes), in delivery order. */
  unacked: Map<number, Pending>;
  /** message-id → delivery id, for 1.0/1.1 ACKs. */
  byMessageId: Map<string, number>;
  closed: boolean;
}

interface Pending {
  id: number;
  sub: Sub;
  messageId: string;
}

interface Tx {
  tx: TransactionHandle;
  messages: number;
  bytes: number;
  /** NACKs sent in the transaction: applied when it ends (commit or abort), not before. */
  nacks: Array<{ consumer: ConsumerHandle; id: number }>;
}

/** A problem with a frame: `message` goes into the ERROR frame's header, `detail` into its body. */
export class FrameError extends Error {
  constructor(message: string, readonly detail: string = message) {
    super(message);
    this.name = 'FrameError';
  }
}

const VERSIONS: StompVersion[] = ['1.2', '1.1', '1.0'];
const ACK_MODES = new Set<AckMode>(['auto', 'client', 'client-individual']);

const HOLD_BARRIER = 1;
const HOLD_BACKPRESSURE = 2;
const HOLD_SENDS = 4;
const HOLD_CLOSING = 8;

/** PreparedMessage per message, per version (fan-out and redelivery encode the message's headers once). */
const prepared: Record<StompVersion, WeakMap<Message, PreparedMessage>> = {
  '1.0': new WeakMap(),
  '1.1': new WeakMap(),
  '1.2': new WeakMap(),
};

const CODE_TEXT: Record<BrokerErrorCode, string> = {
  limit: 'Destination limit reached',
  'not-found': 'Not found',
  unauthorized: 'Not authorized',
  unauthenticated: 'Authentication failed',
  invalid: 'Invalid request',
  'client-id-in-use': 'Client id in use',
  closed: 'Closed',
  transaction: 'Transaction error',
};

type State = 'new' | 'connecting' | 'connected' | 'disconnecting' | 'closing' | 'closed';

export class StompConnection {
  version: StompVersion = '1.0';
  private state: State = 'new';
  private conn: ConnectionHandle | null = null;
  private readonly engine: EngineApi;
  private readonly opts: StompOptions;
  private readonly log: Logger;
  private readonly decoder: StompDecoder;

  private readonly subs = new Map<string, Sub>();
  /** Unacknowledged deliveries by delivery id (the 1.2 `ack` header). */
  private readonly pending = new Map<number, Pending>();
  private readonly txs = new Map<string, Tx>();
  /** `queue:<local name>` → the engine's temporary address. */
  private readonly temps = new Map<string, Address>();
  /** `queue:<engine name>` → `/temp-queue/<local name>` (rendering for the owner). */
  private readonly tempLocal = new Map<string, string>();

  private holds = 0;
  private corked = false;
  private flushScheduled = false;
  private backedUp = false;
  private outClosed = false;
  private tornDown = false;
  private readonly creditDue = new Set<Sub>();

  private pendingSends = 0;
  private pendingBytes = 0;
  /** Engine calls in flight (sends, acks, barriers): DISCONNECT and shutdown wait for them. */
  private ops = 0;
  private idleWaiters: Array<() => void> = [];

  private lastReadAt = Date.now();
  private lastWriteAt = Date.now();
  private connectTimer: NodeJS.Timeout | null = null;
  private hbOutTimer: NodeJS.Timeout | null = null;
  private hbInTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  private readonly sendCtx: SendContext;

  constructor(
    private readonly host: ConnectionHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
  ) {
    this.engine = host.engine;
    this.opts = host.options;
    this.log = host.logger;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    const max = host.limits.maxFrameSize;
    this.decoder = new StompDecoder({
      maxFrameSize: max,
      maxBodySize: max,
      maxLineLength: this.opts.maxLineLength,
      maxHeaders: this.opts.maxHeaders,
      onFrame: (f) => this.onFrame(f),
      onHeartbeat: () => undefined,
      onError: (err) => this.fail(err),
    });
    const self = this;
    this.sendCtx = {
      replyTo: (d) => self.replyToAddress(d),
      get now() {
        return Date.now();
      },
    };
  }

  start(): void {
    const s = this.stream;
    s.on('data', (chunk: Buffer) => {
      this.lastReadAt = Date.now();
      if (this.state === 'closing' || this.state === 'closed') return;
      this.decoder.push(chunk);
    });
    s.on('end', () => {
      // WebSocket: 'end' means the WebSocket is closed, and the ws Duplex's _final would wait for a socket
      // 'finish' that never comes after a terminate(): nothing more can be sent, destroy now.
      // TCP/TLS: the peer half-closed; Node ends our side once what is buffered is written.
      if (this.peer.transport === 'ws' || this.peer.transport === 'wss') {
        this.teardown();
        s.destroy();
      } else this.endOutput();
    });
    s.on('error', (err) => this.log.debug({ err: err.message, remote: this.peer.remoteAddress }, 'stomp: stream error'));
    s.on('close', () => this.onClosed());
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.state === 'new' || this.state === 'connecting') {
        this.errorClose('Connect timeout', `No CONNECT frame was received within ${this.opts.connectTimeout} ms.`);
      }
    }, this.opts.connectTimeout);
    this.connectTimer.unref();
  }

  /** Resolves once the stream has closed. */
  get whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  get connection(): ConnectionHandle | null {
    return this.conn;
  }

  // ============================================================================= frame dispatch

  private onFrame(f: StompFrame): void {
    const st = this.state;
    if (st === 'disconnecting' || st === 'closing' || st === 'closed') return;
    let r: Promise<void> | void;
    try {
      r = this.handle(f);
    } catch (err) {
      this.fail(err, f);
      return;
    }
    if (r) {
      this.decoder.pause();
      this.hold(HOLD_BARRIER);
      this.ops++;
      r.then(
        () => {
          this.opDone();
          if (this.state === 'closing' || this.state === 'closed') return;
          this.release(HOLD_BARRIER);
          try {
            this.decoder.resume();
          } catch (err) {
            this.fail(err);
          }
        },
        (err: unknown) => {
          this.opDone();
          this.fail(err, f);
        },
      );
    }
  }

  private handle(f: StompFrame): Promise<void> | void {
    const cmd = f.command;
    if (this.state === 'new') {
      if (cmd === 'CONNECT' || cmd === 'STOMP') return this.onConnect(f);
      throw new FrameError('Not connected', `The first frame must be CONNECT or STOMP, got ${cmd}.`);
    }
    if (this.state !== 'connected') return; // a frame queued behind CONNECT while it is being refused
    switch (cmd) {
      case 'SEND':
        return this.onSend(f);
      case 'SUBSCRIBE':
        return this.onSubscribe(f);
      case 'UNSUBSCRIBE':
        return this.onUnsubscribe(f);
      case 'ACK':
        return this.onAck(f, true);
      case 'NACK':
        return this.onAck(f, false);
      case 'BEGIN':
        return this.onBegin(f);
      case 'COMMIT':
        return this.onCommit(f);
      case 'ABORT':
        return this.onAbort(f);
      case 'DISCONNECT':
        return this.onDisconnect(f);
      case 'CONNECT':
      case 'STOMP':
        throw new FrameError('Already connected', `A ${cmd} frame was sent on a connection that is already connected.`);
      default:
        throw new FrameError('Unknown command', `'${clip(cmd, 40)}' is not a STOMP client command.`);
    }
  }

  // ============================================================================= CONNECT

  private onConnect(f: StompFrame): Promise<void> {
    const accept = header(f, 'accept-version');
    let version: StompVersion = '1.0';
    if (accept !== undefined) {
      const offered = accept.split(',').map((s) => s.trim());
      const v = VERSIONS.find((x) => offered.includes(x));
      if (!v) {
        this.errorClose('Unsupported protocol version', `Supported protocol versions are ${[...VERSIONS].reverse().join(' ')}; the client accepts '${clip(accept, 60)}'.`, undefined, [['version', '1.0,1.1,1.2']]);
        return Promise.resolve();
      }
      version = v;
    }
    let cx = 0;
    let cy = 0;
    const hb = header(f, 'heart-beat');
    if (hb !== undefined && hb.trim() !== '') {
      const m = /^\s*(\d{1,10})\s*,\s*(\d{1,10})\s*$/.exec(hb);
      if (!m) throw new FrameError('Invalid heart-beat header', `heart-beat must be two non-negative integers 'cx,cy', got '${clip(hb, 40)}'.`);
      cx = Math.min(Number(m[1]), 2 ** 31 - 1);
      cy = Math.min(Number(m[2]), 2 ** 31 - 1);
    }
    this.version = version;
    this.decoder.version = version;
    this.state = 'connecting';
    const clientId = header(f, 'client-id') || undefined;
    const login = header(f, 'login');
    const passcode = header(f, 'passcode');
    const cert = this.peer.clientCertificate;
    const certificateSubject = cert?.subject ? formatSubject(cert.subject as unknown as Record<string, string | string[]>) : undefined;
    return this.engine
      .connect(
        { protocol: 'stomp', clientId, remoteAddress: this.peer.remoteAddress, onKill: (reason) => this.errorClose(reason, `The broker closed this connection: ${reason}.`) },
        { username: login || undefined, password: passcode, certificateSubject },
      )
      .then((conn) => {
        if (this.state !== 'connecting') {
          this.engine.disconnect(conn);
          return;
        }
        this.conn = conn;
        this.state = 'connected';
        if (this.connectTimer) clearTimeout(this.connectTimer);
        this.connectTimer = null;
        const out = cy > 0 ? Math.max(cy, this.opts.heartbeatMin) : 0;
        const inn = cx > 0 ? Math.max(cx, this.opts.heartbeatMin) : 0;
        const headers: Array<[string, string]> = [];
        if (accept !== undefined) headers.push(['version', version]);
        headers.push(['session', conn.id], ['server', this.host.serverName], ['heart-beat', `${out},${inn}`]);
        this.writeFrame('CONNECTED', headers);
        this.startHeartbeats(out, inn);
        this.log.debug({ session: conn.id, version, remote: this.peer.remoteAddress, transport: this.peer.transport }, 'stomp: connected');
      });
  }

  private startHeartbeats(out: number, inn: number): void {
    if (out > 0) {
      // Checked every quarter interval, sent once half of it passed in silence: the longest gap is then about
      // 3/4 of the interval, so a client that checks strictly against the interval never sees a late beat.
      const half = Math.max(1, Math.floor(out / 2));
      this.hbOutTimer = setInterval(() => {
        if (Date.now() - this.lastWriteAt >= half) this.write(HEARTBEAT);
      }, Math.max(1, Math.floor(out / 4)));
      this.hbOutTimer.unref();
    }
    const idle = this.host.limits.idleTimeout;
    let deadline = inn > 0 ? inn * this.opts.heartbeatTolerance : 0;
    if (idle > 0 && (deadline === 0 || idle < deadline)) deadline = idle;
    if (deadline > 0) {
      this.lastReadAt = Date.now();
      const every = Math.max(10, Math.min(Math.floor(deadline / 4), inn > 0 ? inn : deadline));
      this.hbInTimer = setInterval(() => {
        if (this.holds !== 0) {
          this.lastReadAt = Date.now(); // not reading on purpose: silence is ours
          return;
        }
        if (Date.now() - this.lastReadAt > deadline) {
          this.log.debug({ session: this.conn?.id, deadline }, 'stomp: heart-beat timeout');
          this.errorClose('Heart-beat timeout', `Nothing was received from the client for more than ${deadline} ms (negotiated client heart-beat ${inn} ms).`);
        }
      }, every);
      this.hbInTimer.unref();
    }
  }

  // ============================================================================= SEND

  private onSend(f: StompFrame): void {
    const conn = this.conn!;
    const dest = required(f, 'destination');
    const address = this.resolve(dest, false);
    const m = sendToMessage(f, this.sendCtx);
    const receipt = header(f, 'receipt');
    const txId = header(f, 'transaction');
    let p: Promise<void>;
    if (txId !== undefined) {
      const t = this.getTx(txId);
      t.messages++;
      t.bytes += m.body.length;
      if (t.messages > this.opts.maxTransactionMessages || t.bytes > Math.max(this.opts.maxTransactionBytes, 2 * this.host.limits.maxFrameSize)) {
        throw new FrameError('Transaction too large', `Transaction '${clip(txId, 60)}' exceeds ${this.opts.maxTransactionMessages} messages or ${this.opts.maxTransactionBytes} bytes; commit it in smaller parts.`);
      }
      p = this.engine.send(m, address, { connection: conn, transaction: t.tx });
    } else {
      p = this.engine.send(m, address, { connection: conn });
    }
    const size = f.body.length;
    this.pendingSends++;
    this.pendingBytes += size;
    this.ops++;
    if (this.pendingSends >= this.opts.maxPendingSends || this.pendingBytes >= this.opts.maxPendingBytes) this.hold(HOLD_SENDS);
    p.then(
      () => {
        this.sendDone(size);
        if (receipt !== undefined) this.receipt(receipt);
      },
      (err: unknown) => {
        this.sendDone(size);
        this.fail(err, f);
      },
    );
  }

  private sendDone(size: number): void {
    this.pendingSends--;
    this.pendingBytes -= size;
    if (this.holds & HOLD_SENDS && this.pendingSends < this.opts.maxPendingSends / 2 && this.pendingBytes < this.opts.maxPendingBytes / 2) this.release(HOLD_SENDS);
    this.opDone();
  }

  // ============================================================================= destinations

  /** A STOMP destination as an engine address; temp names are created on first use. */
  private resolve(dest: string, forSubscribe: boolean): Address {
    if (dest.includes(',')) {
      if (forSubscribe) throw new BrokerError('invalid', 'Composite destinations can be sent to, not subscribed to');
      return compositeAddress(dest);
    }
    const d = parseDestination(dest);
    switch (d.type) {
      case 'queue':
        return { kind: 'queue', name: d.name };
      case 'topic':
        return { kind: 'topic', name: d.name };
      case 'temp-queue':
      case 'temp-topic':
        return this.temp(kindOf(d.type), d.name);
      case 'remote-temp-queue':
        return { kind: 'queue', name: d.name, temporary: true };
      case 'remote-temp-topic':
        return { kind: 'topic', name: d.name, temporary: true };
    }
  }

  private temp(kind: 'queue' | 'topic', local: string): Address {
    const key = `${kind}:${local}`;
    const found = this.temps.get(key);
    if (found) return found;
    if (this.temps.size >= this.opts.maxTemporaries) throw new BrokerError('limit', `A connection may own at most ${this.opts.maxTemporaries} temporary destinations`);
    const a = this.engine.createTemporary(kind, this.conn!);
    this.temps.set(key, a);
    this.tempLocal.set(`${kind}:${a.name}`, `/temp-${kind}/${local}`);
    return a;
  }

  /** reply-to of a SEND as a core address string: temp names become the engine's (global) temporary name. */
  private replyToAddress(dest: string): string {
    let d;
    try {
      d = parseDestination(dest);
    } catch {
      return dest; // not a STOMP destination: kept verbatim
    }
    switch (d.type) {
      case 'queue':
      case 'topic':
        return `${d.type}://${d.name}`;
      case 'temp-queue':
      case 'temp-topic': {
        const a = this.temp(kindOf(d.type), d.name);
        return `temp-${a.kind}://${a.name}`;
      }
      case 'remote-temp-queue':
        return `temp-queue://${d.name}`;
      case 'remote-temp-topic':
        return `temp-topic://${d.name}`;
    }
  }

  /** A core address string as this connection should see it. */
  private render(core: string): string {
    const i = core.indexOf('://');
    if (i < 0) return core;
    const scheme = core.slice(0, i);
    const name = core.slice(i + 3);
    switch (scheme) {
      case 'queue': {
        if (this.tempLocal.size) {
          const local = this.tempLocal.get(`queue:${name}`);
          if (local) return local;
        }
        return this.engine.queueInfo(name)?.temporary ? `/remote-temp-queue/${name}` : `/queue/${name}`;
      }
      case 'topic':
        return (this.tempLocal.size && this.tempLocal.get(`topic:${name}`)) || `/topic/${name}`;
      case 'temp-queue':
        return this.tempLocal.get(`queue:${name}`) ?? `/remote-temp-queue/${name}`;
      case 'temp-topic':
        return this.tempLocal.get(`topic:${name}`) ?? `/remote-temp-topic/${name}`;
      default:
        return core;
    }
  }

  // ============================================================================= SUBSCRIBE / UNSUBSCRIBE

  private onSubscribe(f: StompFrame): Promise<void> {
    const dest = required(f, 'destination');
    let id = header(f, 'id');
    if (id === undefined) {
      if (this.version !== '1.0') throw missing('SUBSCRIBE', 'id');
      id = dest; // STOMP 1.0: the destination identifies the subscription
    }
    if (this.subs.has(id)) throw new FrameError('Duplicate subscription id', `This connection already has a subscription with id '${clip(id, 60)}'.`);
    if (this.subs.size >= this.opts.maxSubscriptions) throw new BrokerError('limit', `A connection may have at most ${this.opts.maxSubscriptions} subscriptions`);
    const ackMode = (header(f, 'ack') ?? 'auto') as AckMode;
    if (!ACK_MODES.has(ackMode)) throw new FrameError('Invalid ack mode', `ack must be auto, client or client-individual, got '${clip(ackMode, 40)}'.`);
    let prefetch = this.opts.defaultPrefetch;
    const pf = header(f, 'activemq.prefetchSize');
    if (pf !== undefined) {
      if (!/^\s*\d{1,10}\s*$/.test(pf) || Number(pf) < 1) throw new FrameError('Invalid activemq.prefetchSize', `activemq.prefetchSize must be a positive integer, got '${clip(pf, 40)}'.`);
      prefetch = Math.min(Number(pf), this.opts.maxPrefetch);
    }
    const selector = header(f, 'selector') || undefined;
    const subName = header(f, 'activemq.subscriptionName') ?? header(f, 'activemq.subcriptionName') ?? header(f, 'durable-subscription-name');
    const address = this.resolve(dest, true);
    const sub: Sub = { id, destination: dest, ackMode, prefetch, consumer: null, unacked: new Map(), byMessageId: new Map(), closed: false };
    this.subs.set(id, sub);
    const receipt = header(f, 'receipt');
    return this.engine
      .subscribe({
        address,
        connection: this.conn,
        credit: 0,
        selector,
        autoAck: ackMode === 'auto',
        exclusive: header(f, 'activemq.exclusive') === 'true',
        noLocal: header(f, 'activemq.noLocal') === 'true',
        durable: subName && address.kind === 'topic' ? { name: subName } : undefined,
        onMessage: (d) => this.deliver(sub, d),
        onClose: (reason) => this.subscriptionClosed(sub, reason),
        onLeaseExpired: (d) => this.leaseExpired(sub, d),
      })
      .then(
        (c) => {
          if (sub.closed || this.tornDown) {
            c.close();
            return;
          }
          sub.consumer = c;
          this.replenish(sub);
          if (receipt !== undefined) this.receipt(receipt);
        },
        (err: unknown) => {
          if (this.subs.get(sub.id) === sub) this.subs.delete(sub.id);
          throw err;
        },
      );
  }

  private onUnsubscribe(f: StompFrame): Promise<void> | void {
    let id = header(f, 'id');
    if (id === undefined && this.version === '1.0') id = header(f, 'destination');
    const subName = header(f, 'activemq.subscriptionName') ?? header(f, 'activemq.subcriptionName') ?? header(f, 'durable-subscription-name');
    if (id === undefined && subName === undefined) throw missing('UNSUBSCRIBE', 'id');
    const sub = id !== undefined ? this.subs.get(id) : undefined;
    if (!sub && subName === undefined) throw new FrameError('No such subscription', `This connection has no subscription with id '${clip(id ?? '', 60)}'.`);
    if (sub) this.closeSub(sub);
    const receipt = header(f, 'receipt');
    if (subName !== undefined) {
      const clientId = this.conn!.clientId;
      if (!clientId) throw new FrameError('No client-id', 'Removing a durable subscription needs the client-id header on CONNECT.');
      return this.engine.unsubscribeDurable(clientId, subName).then(() => {
        if (receipt !== undefined) this.receipt(receipt);
      });
    }
    if (receipt !== undefined) this.receipt(receipt);
  }

  private closeSub(sub: Sub): void {
    sub.closed = true;
    this.subs.delete(sub.id);
    for (const p of sub.unacked.values()) this.pending.delete(p.id);
    sub.unacked.clear();
    sub.byMessageId.clear();
    this.creditDue.delete(sub);
    sub.consumer?.close();
  }

  /** The engine closed the consumer (its queue or durable subscription was deleted). */
  private subscriptionClosed(sub: Sub, reason: string): void {
    if (sub.closed) return;
    this.log.debug({ session: this.conn?.id, subscription: sub.id, reason }, 'stomp: subscription closed by the broker');
    sub.closed = true;
    if (this.subs.get(sub.id) === sub) this.subs.delete(sub.id);
    for (const p of sub.unacked.values()) this.pending.delete(p.id);
    sub.unacked.clear();
    sub.byMessageId.clear();
    this.creditDue.delete(sub);
  }

  private leaseExpired(sub: Sub, d: Delivery): void {
    const p = sub.unacked.get(d.id);
    if (p) this.untrack(p);
    this.replenish(sub);
  }

  // ============================================================================= delivery and credit

  private deliver(sub: Sub, d: Delivery): void {
    if (this.outClosed || sub.closed) return;
    const m = d.message;
    const cache = prepared[this.version];
    let pm = cache.get(m);
    if (pm === undefined) {
      pm = new PreparedMessage(this.version, messageHeaders(m), m.body);
      cache.set(m, pm);
    }
    const lead: Array<[string, string]> = [
      ['subscription', sub.id],
      ['message-id', m.messageId],
      ['destination', m.destination !== undefined ? this.render(m.destination) : sub.destination],
    ];
    if (sub.ackMode !== 'auto') {
      if (this.version === '1.2') lead.push(['ack', String(d.id)]);
      const p: Pending = { id: d.id, sub, messageId: m.messageId };
      sub.unacked.set(d.id, p);
      sub.byMessageId.set(m.messageId, d.id);
      this.pending.set(d.id, p);
    } else {
      this.creditDue.add(sub);
    }
    lead.push(['redelivered', d.redelivered ? 'true' : 'false']);
    if (m.replyTo !== undefined) lead.push(['reply-to', this.render(m.replyTo)]);
    this.write(pm.encode(lead));
  }

  private untrack(p: Pending): void {
    this.pending.delete(p.id);
    const sub = p.sub;
    sub.unacked.delete(p.id);
    if (sub.byMessageId.get(p.messageId) === p.id) sub.byMessageId.delete(p.messageId);
  }

  /** Keep a subscription's credit at prefetch − unacknowledged (none while output is backed up). */
  private replenish(sub: Sub): void {
    const c = sub.consumer;
    if (!c || c.closed || this.backedUp || this.outClosed) return;
    const want = sub.prefetch - sub.unacked.size - c.credit;
    if (want > 0) c.addCredit(want);
  }

  // ============================================================================= ACK / NACK

  private findPending(f: StompFrame): Pending {
    const ackId = header(f, 'id');
    if (ackId !== undefined && /^\d{1,15}$/.test(ackId)) {
      const p = this.pending.get(Number(ackId));
      if (p) return p;
    }
    const messageId = header(f, 'message-id');
    const subId = header(f, 'subscription');
    if (messageId !== undefined) {
      if (subId !== undefined) {
        const sub = this.subs.get(subId);
        const id = sub?.byMessageId.get(messageId);
        if (id !== undefined) return sub!.unacked.get(id)!;
      } else {
        for (const sub of this.subs.values()) {
          const id = sub.byMessageId.get(messageId);
          if (id !== undefined) return sub.unacked.get(id)!;
        }
      }
    }
    if (ackId === undefined && messageId === undefined) throw missing(f.command, this.version === '1.2' ? 'id' : 'message-id');
    const what = ackId !== undefined ? `ack id '${clip(ackId, 60)}'` : `message-id '${clip(messageId!, 80)}'${subId !== undefined ? ` on subscription '${clip(subId, 60)}'` : ''}`;
    throw new FrameError(
      `Unexpected ${f.command}`,
      `There is no unacknowledged message with ${what} on this connection: it was already acknowledged, its subscription uses ack:auto or was closed, or its lease expired.`,
    );
  }

  private onAck(f: StompFrame, positive: boolean): void {
    const target = this.findPending(f);
    const sub = target.sub;
    const consumer = sub.consumer!;
    const txId = header(f, 'transaction');
    const t = txId !== undefined ? this.getTx(txId) : undefined;
    let list: Pending[];
    if (sub.ackMode === 'client') {
      // cumulative: everything this subscription received up to and including the target, in delivery order
      list = [];
      for (const p of sub.unacked.values()) {
        list.push(p);
        if (p === target) break;
      }
    } else list = [target];
    let waits: Promise<void>[] | null = null;
    for (const p of list) {
      this.untrack(p);
      if (!positive) {
        if (t) t.nacks.push({ consumer, id: p.id });
        else consumer.nack(p.id, { countFailure: true, reason: 'NACK from STOMP client' });
      }
      else if (t) t.tx.ack(consumer, p.id);
      else (waits ??= []).push(consumer.ack(p.id));
    }
    this.replenish(sub);
    const receipt = header(f, 'receipt');
    if (waits === null) {
      if (receipt !== undefined) this.receipt(receipt);
      return;
    }
    this.ops++;
    const done = waits.length === 1 ? waits[0]! : Promise.all(waits);
    done.then(
      () => {
        this.opDone();
        if (receipt !== undefined) this.receipt(receipt);
      },
      (err: unknown) => {
        this.opDone();
        this.fail(err, f);
      },
    );
  }

  // ============================================================================= transactions

  private getTx(id: string): Tx {
    const t = this.txs.get(id);
    if (!t) throw new FrameError('Unknown transaction', `Transaction '${clip(id, 60)}' was not started with BEGIN on this connection (or is already committed or aborted).`);
    return t;
  }

  private onBegin(f: StompFrame): void {
    const id = required(f, 'transaction');
    if (this.txs.has(id)) throw new FrameError('Transaction already started', `Transaction '${clip(id, 60)}' is already active on this connection.`);
    if (this.txs.size >= this.opts.maxTransactions) throw new BrokerError('limit', `A connection may have at most ${this.opts.maxTransactions} open transactions`);
    this.txs.set(id, { tx: this.engine.beginTransaction(this.conn), messages: 0, bytes: 0, nacks: [] });
    const receipt = header(f, 'receipt');
    if (receipt !== undefined) this.receipt(receipt);
  }

  private onCommit(f: StompFrame): Promise<void> {
    const id = required(f, 'transaction');
    const t = this.getTx(id);
    this.txs.delete(id);
    const receipt = header(f, 'receipt');
    return t.tx.commit().then(
      () => {
        this.applyNacks(t);
        if (receipt !== undefined) this.receipt(receipt);
      },
      (err: unknown) => {
        this.applyNacks(t);
        throw err;
      },
    );
  }

  /** A transaction ended: its NACKed messages go back (an abort would have returned them anyway). */
  private applyNacks(t: Tx): void {
    for (const { consumer, id } of t.nacks.splice(0)) {
      if (consumer.closed) continue; // closing the consumer already released it
      try {
        consumer.nack(id, { countFailure: true, reason: 'NACK from STOMP client' });
      } catch {
        // already settled another way (lease expired): nothing left to do
      }
    }
  }

  private onAbort(f: StompFrame): void {
    const id = required(f, 'transaction');
    const t = this.getTx(id);
    this.txs.delete(id);
    t.tx.rollback();
    this.applyNacks(t);
    const receipt = header(f, 'receipt');
    if (receipt !== undefined) this.receipt(receipt);
  }

  // ============================================================================= DISCONNECT, ERROR, close

  private onDisconnect(f: StompFrame): void {
    this.state = 'disconnecting';
    this.hold(HOLD_CLOSING);
    const receipt = header(f, 'receipt');
    void this.whenIdle().then(() => {
      if (this.state !== 'disconnecting') return;
      if (receipt !== undefined) this.receipt(receipt);
      this.endOutput();
    });
  }

  /** Graceful close for broker shutdown: finish what is in flight, say goodbye with an ERROR, close. */
  async shutdown(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state !== 'closing') {
      this.hold(HOLD_CLOSING);
      await Promise.race([this.whenIdle(), new Promise((r) => setTimeout(r, 5000).unref())]);
      this.errorClose('Broker shutting down', 'The broker is shutting down; reconnect later.');
    }
    await this.closedPromise;
  }

  /** Map an error to an ERROR frame and close. */
  private fail(err: unknown, f?: StompFrame): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    let message: string;
    let detail: string;
    if (err instanceof FrameError) {
      message = err.message;
      detail = err.detail;
    } else if (err instanceof StompProtocolError) {
      message = err.message;
      detail = err.detail;
    } else if (err instanceof BrokerError) {
      message = err.message;
      detail = `${CODE_TEXT[err.code] ?? 'Error'} (${err.code}): ${err.message}`;
    } else {
      this.log.error({ err, session: this.conn?.id, frame: f?.command }, 'stomp: internal error while handling a frame');
      message = 'Internal error';
      detail = 'The broker failed to process the frame (see the broker log).';
    }
    if (f) {
      const dest = header(f, 'destination');
      detail += `\n\nFrame: ${f.command}${dest !== undefined ? ` destination:${clip(dest, 200)}` : ''}`;
    }
    this.log.debug({ session: this.conn?.id, remote: this.peer.remoteAddress, message }, 'stomp: ERROR');
    this.errorClose(message, detail, f ? header(f, 'receipt') : undefined);
  }

  private errorClose(message: string, detail: string, receiptId?: string, extra: Array<[string, string]> = []): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const headers: Array<[string, string]> = [['message', clip(message.replace(/[\r\n]+/g, ' '), 256)]];
    if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
    // No content-type (as ActiveMQ): stompit 1.0 reads a `text/plain` ERROR body and then destroys the
    // *frame* stream with the error (`this` in its 'end' listener), an uncaught exception in the client.
    headers.push(...extra);
    this.writeFrame('ERROR', headers, Buffer.from(`${detail}\n`, 'utf8'));
    this.endOutput();
  }

  /** Stop everything, flush what was written, end the stream (destroyed after closeGrace if the peer lingers). */
  private endOutput(): void {
    if (this.state === 'closed' || this.outClosed) return;
    if (this.state !== 'closing') this.state = 'closing';
    this.teardown();
    this.outClosed = true;
    if (this.corked) {
      this.corked = false;
      this.stream.uncork();
    }
    this.stream.end();
    this.closeTimer = setTimeout(() => this.stream.destroy(), this.opts.closeGrace);
    this.closeTimer.unref();
  }

  private onClosed(): void {
    this.state = 'closed';
    this.outClosed = true;
    this.teardown();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.host.closed(this);
    this.resolveClosed();
  }

  /** Release everything held in the engine: transactions roll back, consumers close (unacked → redelivered). */
  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const t of [this.connectTimer, this.hbOutTimer, this.hbInTimer]) if (t) clearTimeout(t);
    this.connectTimer = this.hbOutTimer = this.hbInTimer = null;
    for (const t of this.txs.values()) t.tx.rollback();
    this.txs.clear();
    for (const s of this.subs.values()) s.closed = true;
    this.subs.clear();
    this.pending.clear();
    this.creditDue.clear();
    if (this.conn) {
      this.engine.disconnect(this.conn);
      this.log.debug({ session: this.conn.id }, 'stomp: disconnected');
    }
    // Nothing more is decoded (the 'data' handler drops input once closing), but keep reading so the
    // peer's FIN is seen and the socket closes without waiting for closeGrace.
    this.decoder.pause();
    this.holds = 0;
    this.stream.resume();
  }

  // ============================================================================= output

  private receipt(id: string): void {
    this.writeFrame('RECEIPT', [['receipt-id', id]]);
  }

  private writeFrame(command: string, headers: Array<[string, string]>, body: Buffer = EMPTY): void {
    this.write(encodeFrame({ command, headers, body }, this.version));
  }

  private write(buf: Buffer): void {
    if (this.outClosed) return;
    const s = this.stream;
    if (!this.corked) {
      this.corked = true;
      s.cork();
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    s.write(buf);
    this.lastWriteAt = Date.now();
    if (!this.backedUp && s.writableLength > this.opts.writeHighWater) this.backpressure();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.corked) {
      this.corked = false;
      this.stream.uncork();
    }
    if (this.creditDue.size > 0 && !this.backedUp) {
      for (const s of this.creditDue) this.replenish(s);
      this.creditDue.clear();
    }
  };

  private backpressure(): void {
    this.backedUp = true;
    for (const sub of this.subs.values()) if (sub.consumer && !sub.consumer.closed) sub.consumer.setCredit(0);
    this.hold(HOLD_BACKPRESSURE);
    this.stream.once('drain', () => {
      this.backedUp = false;
      if (this.outClosed) return;
      this.release(HOLD_BACKPRESSURE);
      for (const sub of this.subs.values()) this.replenish(sub);
      this.creditDue.clear();
    });
  }

  // ============================================================================= reading holds, in-flight ops

  private hold(bit: number): void {
    const was = this.holds;
    this.holds |= bit;
    if (was === 0) this.stream.pause();
  }

  private release(bit: number): void {
    if ((this.holds & bit) === 0) return;
    this.holds &= ~bit;
    if (this.holds === 0 && !this.tornDown) {
      this.lastReadAt = Date.now();
      this.stream.resume();
    }
  }

  private opDone(): void {
    if (--this.ops === 0 && this.idleWaiters.length) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private whenIdle(): Promise<void> {
    if (this.ops === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}

const EMPTY = Buffer.alloc(0);

function required(f: StompFrame, name: string): string {
  const v = header(f, name);
  if (v === undefined || v === '') throw missing(f.command, name);
  return v;
}

function missing(command: string, name: string): FrameError {
  return new FrameError(`Missing header '${name}'`, `A ${command} frame needs a '${name}' header.`);
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function formatSubject(subject: Record<string, string | string[]>): string {
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
}
