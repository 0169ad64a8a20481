/**
 * One STOMP connection: its state, frame dispatch, output and close. What each client frame does lives in
 * handlers/ (one module per frame, as aedes does it per packet); MESSAGE delivery and credit in delivery.ts,
 * destination names in destinations.ts. They see this class through StompContext (context.ts).
 *
 * Frames are handled in wire order. ACKs start their engine call at once; the SENDs of one socket read
 * start together, as one engine sendMany, at the end of the read or before the next frame that is not a
 * SEND; both complete concurrently (a RECEIPT follows when the send's own outcome is known, so a
 * persistent SEND's receipt means durable); frames whose outcome later frames depend on (CONNECT,
 * SUBSCRIBE, UNSUBSCRIBE, COMMIT) are barriers: decoding and reading pause until they completed.
 *
 * Output is coalesced: an event turn's frames go into shared buffers (output.ts), written to the stream in
 * setImmediate (or earlier once large). Every subscription uses explicit credit, which this connection keeps at
 * `prefetch − unacknowledged`; while the stream's `writableLength` is above the high-water mark, credit is
 * withdrawn and reading pauses until 'drain'.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type Address, BrokerError, type BrokerErrorCode, type ConnectionHandle, type EngineApi, SendBatch } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import { encodeFrame, type PreparedMessage, receiptFrame, StompDecoder } from './codec.js';
import { OutputBuffer } from './output.js';
import { header, StompProtocolError, type StompFrame, type StompVersion } from './frame.js';
import type { SendContext } from './mapping.js';
import type { StompOptions } from './options.js';
import { clip, FrameError, HOLD_BACKPRESSURE, HOLD_BARRIER, HOLD_CLOSING, type Pending, type State, type StompContext, type Sub, type Tx } from './context.js';
import { replyToAddress } from './destinations.js';
import { replenish } from './delivery.js';
import { onAck } from './handlers/ack.js';
import { onConnect } from './handlers/connect.js';
import { onDisconnect } from './handlers/disconnect.js';
import { onSend } from './handlers/send.js';
import { onSubscribe, onUnsubscribe } from './handlers/subscribe.js';
import { onAbort, onBegin, onCommit } from './handlers/transaction.js';


export interface ConnectionHost {
  engine: EngineApi;
  logger: Logger;
  limits: ConnectionLimits;
  options: StompOptions;
  serverName: string;
  closed(connection: StompConnection): void;
}

const CODE_TEXT: Record<BrokerErrorCode, string> = {
  limit: 'Destination limit reached',
  'not-found': 'Not found',
  unauthorized: 'Not authorized',
  unauthenticated: 'Authentication failed',
  invalid: 'Invalid request',
  'client-id-in-use': 'Client id in use',
  closed: 'Closed',
  transaction: 'Transaction error',
  unavailable: 'Store unavailable',
};

/** Members without `private` form the StompContext the handlers use; nothing outside protocols/stomp should. */
export class StompConnection implements StompContext {
  version: StompVersion = '1.0';
  state: State = 'new';
  conn: ConnectionHandle | null = null;
  readonly engine: EngineApi;
  readonly opts: StompOptions;
  readonly log: Logger;
  readonly decoder: StompDecoder;

  readonly subs = new Map<string, Sub>();
  /** Unacknowledged deliveries by delivery id (the 1.2 `ack` header). */
  readonly pending = new Map<number, Pending>();
  readonly txs = new Map<string, Tx>();
  /** `queue:<local name>` → the engine's temporary address. */
  readonly temps = new Map<string, Address>();
  /** `queue:<engine name>` → `/temp-queue/<local name>` (rendering for the owner). */
  readonly tempLocal = new Map<string, string>();

  holds = 0;
  /** This turn's output, written to the stream at the end of the turn (flush) or once it is large. */
  private readonly out = new OutputBuffer();
  /**
   * WebSocket only: the frames of this turn, each left as its own WebSocket message, as ActiveMQ and RabbitMQ send
   * them (simple clients read one message as one frame); null on TCP, where the output buffer coalesces them.
   */
  private readonly frames: Buffer[] | null;
  private framesBytes = 0;
  private flushScheduled = false;
  backedUp = false;
  outClosed = false;
  tornDown = false;
  readonly creditDue = new Set<Sub>();

  pendingSends = 0;
  pendingBytes = 0;
  /** Engine calls in flight (sends, acks, barriers): DISCONNECT and shutdown wait for them. */
  ops = 0;
  lastAckWait: Promise<unknown> | null = null;
  private idleWaiters: Array<() => void> = [];

  lastReadAt = Date.now();
  lastWriteAt = Date.now();
  connectTimer: NodeJS.Timeout | null = null;
  hbOutTimer: NodeJS.Timeout | null = null;
  hbInTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  readonly sendCtx: SendContext;
  readonly sends: SendBatch<ConnectionHandle>;

  constructor(
    readonly host: ConnectionHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
  ) {
    this.engine = host.engine;
    this.frames = peer.transport === 'ws' || peer.transport === 'wss' ? [] : null;
    this.opts = host.options;
    this.log = host.logger;
    this.sends = new SendBatch(host.engine);
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
      replyTo: (d) => replyToAddress(self, d),
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
      this.flushSends();
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
    // the SENDs before this frame start first (every frame but SEND may depend on them: COMMIT, DISCONNECT, …)
    if (f.command !== 'SEND') this.flushSends();
    let r: Promise<void> | void;
    try {
      r = this.handle(f);
    } catch (err) {
      this.flushSends();
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
            this.flushSends();
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
      if (cmd === 'CONNECT' || cmd === 'STOMP') return onConnect(this, f);
      throw new FrameError('Not connected', `The first frame must be CONNECT or STOMP, got ${cmd}.`);
    }
    if (this.state !== 'connected') return; // a frame queued behind CONNECT while it is being refused
    switch (cmd) {
      case 'SEND':
        return onSend(this, f);
      case 'SUBSCRIBE':
        return onSubscribe(this, f);
      case 'UNSUBSCRIBE':
        return onUnsubscribe(this, f);
      case 'ACK':
        return onAck(this, f, true);
      case 'NACK':
        // NACK is new in STOMP 1.1; a 1.0 session has no such command (ActiveMQ refuses it the same way).
        if (this.version === '1.0') throw new FrameError('Unknown command', "NACK is not a STOMP 1.0 command (it was added in 1.1); connect with accept-version:1.1 or 1.2 to use it.");
        return onAck(this, f, false);
      case 'BEGIN':
        return onBegin(this, f);
      case 'COMMIT':
        return onCommit(this, f);
      case 'ABORT':
        return onAbort(this, f);
      case 'DISCONNECT':
        return onDisconnect(this, f);
      case 'CONNECT':
      case 'STOMP':
        throw new FrameError('Already connected', `A ${cmd} frame was sent on a connection that is already connected.`);
      default:
        throw new FrameError('Unknown command', `'${clip(cmd, 40)}' is not a STOMP client command.`);
    }
  }

  /** Start the SENDs collected from the input so far (one engine sendMany). */
  private flushSends(): void {
    if (this.sends.size > 0) this.sends.flush(this.conn);
  }

  // ============================================================================= shutdown, ERROR, close

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
  fail(err: unknown, f?: StompFrame): void {
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

  errorClose(message: string, detail: string, receiptId?: string, extra: Array<[string, string]> = []): void {
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
  endOutput(): void {
    if (this.state === 'closed' || this.outClosed) return;
    if (this.state !== 'closing') this.state = 'closing';
    this.teardown();
    this.pushOut();
    this.outClosed = true;
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
    // SENDs decoded before an error in the same read still go to the engine, as they did one by one
    this.flushSends();
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

  receipt(id: string): void {
    if (this.outClosed) return;
    if (this.frames) this.frame(Buffer.from(receiptFrame(id, this.version), 'utf8'));
    else this.out.string(receiptFrame(id, this.version));
    this.wrote();
  }

  writeFrame(command: string, headers: Array<[string, string]>, body: Buffer = EMPTY): void {
    this.write(encodeFrame({ command, headers, body }, this.version));
  }

  writeMessage(pm: PreparedMessage, lines: string): void {
    if (this.outClosed) return;
    if (this.frames) this.frame(pm.encodeLines(lines));
    else if (pm.body.length >= LARGE) {
      this.pushOut();
      this.streamWrite(pm.encodeLines(lines));
    } else pm.writeInto(this.out, lines);
    this.wrote();
  }

  write(buf: Buffer): void {
    if (this.outClosed) return;
    if (this.frames) this.frame(buf);
    else if (buf.length >= LARGE) {
      this.pushOut();
      this.streamWrite(buf);
    } else this.out.bytes(buf);
    this.wrote();
  }

  /** Something was written: flush at the end of the turn, or now when the turn's output is large. */
  private wrote(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    if (this.out.pending + this.framesBytes >= LARGE) this.pushOut();
  }

  private frame(buf: Buffer): void {
    this.frames!.push(buf);
    this.framesBytes += buf.length;
  }

  /** The output written so far to the stream (one write per buffer; corked when there are several). */
  private pushOut(): void {
    let chunks: Buffer[];
    if (this.frames) {
      chunks = this.frames.splice(0);
      this.framesBytes = 0;
    } else chunks = this.out.take();
    if (chunks.length === 0) return;
    const s = this.stream;
    if (chunks.length === 1) this.streamWrite(chunks[0]!);
    else {
      s.cork();
      for (const c of chunks) this.streamWrite(c);
      s.uncork();
    }
  }

  private streamWrite(buf: Buffer): void {
    const s = this.stream;
    s.write(buf);
    this.lastWriteAt = Date.now();
    if (!this.backedUp && s.writableLength > this.opts.writeHighWater) this.backpressure();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (!this.outClosed) this.pushOut();
    if (this.creditDue.size > 0 && !this.backedUp) {
      for (const s of this.creditDue) replenish(this, s);
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
      for (const sub of this.subs.values()) replenish(this, sub);
      this.creditDue.clear();
    });
  }

  // ============================================================================= reading holds, in-flight ops

  hold(bit: number): void {
    const was = this.holds;
    this.holds |= bit;
    if (was === 0) this.stream.pause();
  }

  release(bit: number): void {
    if ((this.holds & bit) === 0) return;
    this.holds &= ~bit;
    if (this.holds === 0 && !this.tornDown) {
      this.lastReadAt = Date.now();
      this.stream.resume();
    }
  }

  opDone(): void {
    if (--this.ops === 0 && this.idleWaiters.length) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  whenIdle(): Promise<void> {
    if (this.ops === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}

const EMPTY = Buffer.alloc(0);
/** A frame this large (or a turn's output) goes to the stream at once, not through the turn's buffer. */
const LARGE = 64 * 1024;
