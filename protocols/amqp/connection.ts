/**
 * One AMQP 1.0 connection: rhea's connection/session/link state machines on top of our FrameGuard, and
 * the links ⇄ Engine calls.
 *
 *   socket ─▶ FrameGuard (header, SASL, frame sizes) ─▶ rhea Connection (performatives, sessions, links)
 *   socket ◀─ coalesced writes (one write per event turn) ◀─ rhea
 *
 * Receiving from the broker (our sender links): the client's link credit drives an engine consumer in
 * explicit credit mode. `allowance` counts what the engine may still hand us (its credit plus deliveries it
 * assigned that wait for their redelivery mark); it is kept ≤ the link credit, ≤ `maxConsumerCredit`, ≤ the
 * room left in rhea's session buffer, and 0 while the socket is backed up. Drain hands over what is ready,
 * then advances the delivery-count and echoes a flow with drain set.
 *
 * Sending to the broker (our receiver links): the broker issues credit (`receiverCredit` per link), counts
 * every transfer itself (rhea does not enforce credit) and closes a link that exceeds it; each message is
 * settled `accepted` once `engine.send` resolved (a durable message is fsync'd by then), or `rejected` with
 * an AMQP error condition. Credit comes back as sends complete, so a destination that blocks (limit policy)
 * stops the producer.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type Address, BrokerError, type BrokerErrorCode, durableSubscriptionId, sharedSubscriptionId, type ConnectionHandle, type ConsumerHandle, type Credentials, type Delivery, type DestinationKind, type EngineApi, type TransactionHandle } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import { DecodeError, elements, scanMessage, toJs, toProperty } from './codec.js';
import { FrameGuard, SASL_AUTH, SASL_SYS, type SaslResult } from './guard.js';
import { addressOf, decodeMessage, encodeDelivery, type MappingOptions } from './mapping.js';
import { rheaMessage, rheaTerminus, rheaTypes, type AmqpError, type RConnection, type RContainer, type RDelivery, type RLink, type RSession, type RTerminus, type Typed } from './rhea.js';

export interface AmqpOptions {
  /** Close a connection whose open (and authentication) is not complete within this many ms. */
  connectTimeout: number;
  /** Our idle-time-out (ms) in open; 0 = none. `limits.idleTimeout`, when set, is used instead. */
  idleTimeout: number;
  /** max-frame-size we advertise (and enforce); 0 = min(limits.maxFrameSize, 1 MiB). */
  maxFrameSize: number;
  /** Largest frame accepted before the client's open and during SASL. */
  preOpenMaxFrameSize: number;
  /** Sessions per connection (channel-max + 1). */
  maxSessions: number;
  /** Links per connection. */
  maxLinks: number;
  /** Credit the broker grants each link a client sends on. */
  receiverCredit: number;
  /** Most deliveries the engine may have outstanding to one link at a time (the client's credit is capped by it). */
  maxConsumerCredit: number;
  /** rhea's per-session delivery buffers (unsettled outgoing / incoming deliveries). */
  sessionOutgoingBuffer: number;
  sessionIncomingBuffer: number;
  /** Output buffered above this many bytes stops deliveries and reading until 'drain'. */
  writeHighWater: number;
  /** Incoming message bytes waiting for their engine call above this pause reading. */
  maxPendingBytes: number;
  /** After our close, the socket is destroyed if the peer has not closed within this many ms. */
  closeGrace: number;
  /** Open transactions per connection. */
  maxTransactions: number;
  /** Refuse clients that do not do SASL (ANONYMOUS still allowed if the security hooks allow it). */
  requireSasl: boolean;
  /** Held input (after open, while connecting) above this pauses the socket. */
  maxHeldBytes: number;
}

export const DEFAULT_AMQP_OPTIONS: AmqpOptions = {
  connectTimeout: 10_000,
  idleTimeout: 60_000,
  maxFrameSize: 0,
  preOpenMaxFrameSize: 16 * 1024,
  maxSessions: 256,
  maxLinks: 1024,
  receiverCredit: 1000,
  maxConsumerCredit: 1000,
  sessionOutgoingBuffer: 8192,
  sessionIncomingBuffer: 4096,
  writeHighWater: 1024 * 1024,
  maxPendingBytes: 32 * 1024 * 1024,
  closeGrace: 2000,
  maxTransactions: 256,
  requireSasl: false,
  maxHeldBytes: 256 * 1024,
};

export interface ConnectionHost {
  engine: EngineApi;
  logger: Logger;
  limits: ConnectionLimits;
  options: AmqpOptions;
  defaultKind: DestinationKind;
  container: RContainer;
  containerId: string;
  product: string;
  version: string;
  closed(connection: AmqpConnection): void;
}

/** Filter descriptors (Apache/Qpid JMS conventions). */
const SELECTOR_FILTER = 0x0000468c00000004;
const NO_LOCAL_FILTER = 0x0000468c00000003;
const SELECTOR_SYMBOLS = new Set(['apache.org:selector-filter:string', 'apache.org:jms-selector-filter:string']);
const NO_LOCAL_SYMBOLS = new Set(['apache.org:no-local-filter:list', 'apache.org:jms-no-local-filter:list']);

const OUTCOMES = ['amqp:accepted:list', 'amqp:rejected:list', 'amqp:released:list', 'amqp:modified:list'];

const CONDITION: Record<BrokerErrorCode, string> = {
  limit: 'amqp:resource-limit-exceeded',
  'not-found': 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  unauthenticated: 'amqp:unauthorized-access',
  invalid: 'amqp:invalid-field',
  'client-id-in-use': 'amqp:invalid-field',
  closed: 'amqp:connection:forced',
  transaction: 'amqp:transaction:unknown-id',
};

export function amqpError(err: unknown): AmqpError {
  if (err instanceof BrokerError) return { condition: CONDITION[err.code], description: err.message };
  if (err instanceof DecodeError) return { condition: 'amqp:decode-error', description: err.message };
  return { condition: 'amqp:internal-error', description: err instanceof Error ? err.message : String(err) };
}

/** A session whose rhea delivery buffer has fewer free slots than this gets no new deliveries. */
const SESSION_MARGIN = 64;

const HOLD_GUARD = 1;
const HOLD_BACKPRESSURE = 2;
const HOLD_PENDING = 4;

type LinkState = 'attaching' | 'open' | 'closed';

interface OutLink {
  kind: 'out';
  r: RLink;
  name: string;
  state: LinkState;
  consumer: ConsumerHandle | null;
  browser?: { address: Address; selector?: string; offset: number };
  presettled: boolean;
  /** AMQP link credit left, relative to `deliveryCount`. */
  credit: number;
  /** Transfers handed to rhea on this link. */
  deliveryCount: number;
  /** Deliveries the engine may still hand us: its consumer credit plus those waiting for their mark. */
  allowance: number;
  draining: boolean;
  durable?: { clientId: string; name: string; shared?: string };
  tempToDelete?: Address;
}

interface InLink {
  kind: 'in' | 'coordinator';
  r: RLink;
  name: string;
  state: LinkState;
  /** null: the anonymous relay (each message routed by its `to`). */
  address: Address | null;
  creditLeft: number;
  inflight: number;
  unregister?: () => void;
  tempToDelete?: Address;
}

type Link = OutLink | InLink;

interface Tx {
  id: Buffer;
  tx: TransactionHandle;
  /** Transactional sends still on their way into the transaction. */
  ops: Set<Promise<unknown>>;
  coordinator: InLink;
}

interface OutDeliveryTag {
  id: number;
  consumer: ConsumerHandle;
  done: boolean;
}

type State = 'new' | 'connecting' | 'open' | 'closing' | 'closed';

export class AmqpConnection {
  private state: State = 'new';
  private conn: ConnectionHandle | null = null;
  private readonly engine: EngineApi;
  private readonly opts: AmqpOptions;
  private readonly log: Logger;
  private readonly guard: FrameGuard;
  private readonly rconn: RConnection;
  private readonly mapOpts: MappingOptions;
  private readonly maxFrameSize: number;
  private credentials: Omit<Credentials, 'protocol'> = {};
  /** Sends our (held) open once; set while the engine connect is under way. */
  private openNow: ((failed: boolean) => void) | null = null;
  private containerId = '';

  private readonly links = new Map<RLink, Link>();
  private readonly txns = new Map<string, Tx>();
  private nextTxnId = 1;

  // rhea's socket handlers (it calls on('data'|'error'|'end') on the object we give it)
  private rheaData: ((b: Buffer) => void) | null = null;
  private rheaEnd: ((e?: unknown) => void) | null = null;

  // output
  private out: Buffer[] = [];
  private flushScheduled = false;
  private endRequested = false;
  private outClosed = false;
  private backedUp = false;
  private holds = 0;
  private pendingBytes = 0;
  /** Delivery payload handed to rhea since the last flush (not in the socket yet). */
  private turnBytes = 0;
  private creditRefreshScheduled = false;

  private connectTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private closeSent = false;
  private tornDown = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly host: ConnectionHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
  ) {
    this.engine = host.engine;
    this.opts = host.options;
    this.log = host.logger;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.mapOpts = { defaultKind: host.defaultKind };
    this.maxFrameSize = Math.max(512, this.opts.maxFrameSize || Math.min(host.limits.maxFrameSize, 1024 * 1024));
    this.guard = new FrameGuard(
      {
        toRhea: (b) => this.toRhea(b),
        write: (b) => this.write(b),
        mechanisms: () => this.mechanisms(),
        authenticate: (m, r, h) => this.saslAuthenticate(m, r, h),
        openForwarded: () => this.onOpenForwarded(),
        pause: () => this.hold(HOLD_GUARD),
        resume: () => this.release(HOLD_GUARD),
        fail: (condition, description, amqpOpen) => this.guardFailed(condition, description, amqpOpen),
      },
      {
        maxFrameSize: this.maxFrameSize,
        preOpenMaxFrameSize: Math.min(this.opts.preOpenMaxFrameSize, this.maxFrameSize),
        requireSasl: this.opts.requireSasl,
        maxHeldBytes: this.opts.maxHeldBytes,
      },
    );
    const idle = host.limits.idleTimeout > 0 ? host.limits.idleTimeout : this.opts.idleTimeout;
    this.rconn = host.container.create_connection({
      id: `amqp-${peer.remoteAddress}:${peer.remotePort}`,
      container_id: host.containerId,
      max_frame_size: this.maxFrameSize,
      channel_max: this.opts.maxSessions - 1,
      idle_time_out: idle > 0 ? idle : undefined,
      offered_capabilities: ['ANONYMOUS-RELAY', 'DELAYED_DELIVERY', 'SHARED-SUBS', 'sole-connection-for-container'],
      properties: { product: host.product, version: host.version },
      disable_sasl: true,
      reconnect: false,
      session_buffer_size: { outgoing: this.opts.sessionOutgoingBuffer, incoming: this.opts.sessionIncomingBuffer },
      receiver_options: { credit_window: 0, autoaccept: false, raw_messages: true },
      sender_options: { autosettle: true, treat_modified_as_released: false },
    });
    this.registerRheaHandlers();
  }

  // ============================================================================= lifecycle

  start(): void {
    const s = this.stream;
    const self = this;
    const facade = {
      on(event: string, fn: (arg?: unknown) => void) {
        if (event === 'data') self.rheaData = fn as (b: Buffer) => void;
        else if (event === 'end') self.rheaEnd = fn;
        return facade;
      },
      removeAllListeners(event?: string) {
        if (!event || event === 'data') self.rheaData = null;
        if (!event || event === 'end') self.rheaEnd = null;
        return facade;
      },
      write(b: Buffer) {
        self.write(b);
        return true;
      },
      end() {
        self.endOutput();
      },
      destroy() {
        self.stream.destroy();
      },
      get_id_string() {
        return `${self.peer.remoteAddress}:${self.peer.remotePort}`;
      },
    };
    this.rconn.accept(facade);
    s.on('data', (chunk: Buffer) => {
      if (this.tornDown) return;
      try {
        this.guard.push(chunk);
      } catch (err) {
        // rhea catches its own errors; this is ours
        this.log.error({ err, remote: this.peer.remoteAddress }, 'amqp: input handling failed');
        this.closeConnection({ condition: 'amqp:internal-error', description: 'internal error' });
      }
    });
    s.on('end', () => {
      if (this.peer.transport === 'ws' || this.peer.transport === 'wss') {
        this.teardown();
        s.destroy();
      } else {
        this.teardown();
        this.endOutput();
      }
    });
    s.on('error', (err) => this.log.debug({ err: err.message, remote: this.peer.remoteAddress }, 'amqp: stream error'));
    s.on('close', () => this.onClosed());
    s.on('drain', () => this.onDrain());
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.state === 'new' || this.state === 'connecting') {
        this.log.debug({ remote: this.peer.remoteAddress }, 'amqp: connect timeout');
        if (this.state === 'connecting') this.openNow?.(true);
        this.closeConnection({ condition: 'amqp:connection:forced', description: `the connection was not opened within ${this.opts.connectTimeout} ms` });
      }
    }, this.opts.connectTimeout);
    this.connectTimer.unref();
  }

  get whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  get connection(): ConnectionHandle | null {
    return this.conn;
  }

  /** Close gracefully (amqp:connection:forced), resolve when the socket is gone. */
  shutdown(reason = 'broker is shutting down'): Promise<void> {
    this.closeConnection({ condition: 'amqp:connection:forced', description: reason });
    return this.closedPromise;
  }

  private kill(reason: string): void {
    this.closeConnection({ condition: 'amqp:connection:forced', description: reason });
  }

  /** Send close with an error (after our open) or just end the socket; the socket is destroyed after closeGrace. */
  private closeConnection(err: AmqpError): void {
    if (this.closeSent || this.tornDown) return;
    this.closeSent = true;
    if (this.state !== 'closed') this.state = 'closing';
    this.refreshAllCredit();
    if (this.rconn.remote.open && !this.rconn.is_closed()) {
      this.openNow?.(true);
      this.rconn.close({ condition: err.condition, description: err.description });
      if (err.info) this.patchErrorInfo((this.rconn.local as unknown as { close: { value: Typed[] } }).close, err.info);
    } else {
      this.endOutput();
    }
    this.armCloseTimer();
  }

  /** rhea encodes an error's `info` with string keys; AMQP (and Qpid JMS) want symbols. */
  private patchErrorInfo(perf: { value: Typed[] }, info: Record<string, unknown>): void {
    const error = perf.value[0];
    if (error && Array.isArray(error.value)) (error.value as Typed[])[2] = rheaTypes.wrap_symbolic_map(info);
  }

  private armCloseTimer(): void {
    if (this.closeTimer) return;
    this.closeTimer = setTimeout(() => this.stream.destroy(), this.opts.closeGrace);
    this.closeTimer.unref();
  }

  private onClosed(): void {
    this.teardown();
    this.outClosed = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.resolveClosed();
  }

  /** Everything the connection owned goes: consumers (unsettled return), transactions roll back. */
  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.state = 'closed';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    // let rhea stop its heart-beat timers
    try {
      this.rheaEnd?.();
    } catch {
      // rhea's disconnect handling; nothing to do
    }
    for (const rs of Object.values(this.rconn.local_channel_map)) this.applyPendingOutcomes(rs);
    for (const l of [...this.links.values()]) this.linkGone(l, false);
    for (const t of this.txns.values()) t.tx.rollback();
    this.txns.clear();
    if (this.conn) {
      this.engine.disconnect(this.conn);
      this.log.debug({ connection: this.conn.id }, 'amqp: disconnected');
    }
    this.armCloseTimer();
    this.host.closed(this);
  }

  // ============================================================================= output

  private write(b: Buffer): void {
    if (this.outClosed) return;
    this.out.push(b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  /** One socket write per event turn (rhea writes one buffer per frame). */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const chunks = this.out;
    this.out = [];
    const s = this.stream;
    if (!this.outClosed && chunks.length > 0 && s.writable) {
      if (chunks.length === 1) s.write(chunks[0]);
      else if (this.peer.transport === 'ws' || this.peer.transport === 'wss') s.write(Buffer.concat(chunks));
      else {
        s.cork();
        for (const c of chunks) s.write(c);
        s.uncork();
      }
    }
    this.turnBytes = 0;
    if (this.outClosed) return;
    if (s.writableLength > this.opts.writeHighWater) {
      if (!this.backedUp) this.backpressure(); // 'drain' follows
    } else if (this.backedUp) this.onDrain();
    if (this.endRequested && !this.outClosed) {
      this.outClosed = true;
      s.end();
      this.armCloseTimer();
    }
  };

  private endOutput(): void {
    if (this.endRequested) return;
    this.endRequested = true;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private backpressure(): void {
    this.backedUp = true;
    this.hold(HOLD_BACKPRESSURE);
    this.refreshAllCredit();
    // the next flush decides: wait for 'drain' (something is buffered) or carry on at once
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private onDrain(): void {
    if (!this.backedUp) return;
    this.backedUp = false;
    this.release(HOLD_BACKPRESSURE);
    this.refreshAllCredit();
  }

  private hold(bit: number): void {
    if (this.holds === 0) this.stream.pause();
    this.holds |= bit;
  }

  private release(bit: number): void {
    if (!(this.holds & bit)) return;
    this.holds &= ~bit;
    if (this.holds === 0 && !this.tornDown) this.stream.resume();
  }

  // ============================================================================= guard → rhea

  private toRhea(b: Buffer): void {
    if (this.tornDown) return;
    this.rheaData?.(b);
  }

  private mechanisms(): string[] {
    const m = ['PLAIN', 'ANONYMOUS'];
    if (this.peer.clientCertificate) m.unshift('EXTERNAL');
    return m;
  }

  private async saslAuthenticate(mechanism: string, response: Buffer | undefined, _hostname: string | undefined): Promise<SaslResult> {
    let creds: Omit<Credentials, 'protocol'>;
    if (mechanism === 'PLAIN') {
      if (!response) return { ok: false, code: SASL_AUTH };
      const parts = splitNul(response);
      if (parts.length !== 3) return { ok: false, code: SASL_AUTH };
      creds = { username: parts[1] || undefined, password: parts[2] };
    } else if (mechanism === 'EXTERNAL') {
      const cert = this.peer.clientCertificate;
      if (!cert) return { ok: false, code: SASL_AUTH };
      creds = { certificateSubject: formatSubject(cert.subject as unknown as Record<string, string | string[]>) };
    } else creds = {};
    try {
      const principal = await this.engine.authenticate({ protocol: 'amqp', remoteAddress: this.peer.remoteAddress, ...creds });
      if (!principal) return { ok: false, code: SASL_AUTH };
    } catch (err) {
      this.log.warn({ err, remote: this.peer.remoteAddress }, 'amqp: authenticate hook failed');
      return { ok: false, code: SASL_SYS };
    }
    this.credentials = creds;
    return { ok: true };
  }

  private guardFailed(condition: string, description: string, amqpOpen: boolean): void {
    this.log.debug({ remote: this.peer.remoteAddress, condition, description }, 'amqp: input refused');
    if (amqpOpen) this.closeConnection({ condition, description });
    else {
      this.closeSent = true;
      this.endOutput();
      this.armCloseTimer();
    }
  }

  /**
   * rhea just took the client's open (synchronously, before it writes anything): bound the peer's
   * idle-time-out (rhea would arm setTimeout(idle/2): 2^32-1 overflows into a 1 ms heart-beat), and hold
   * our open back until the engine has the connection (Qpid JMS reads amqp:connection-establishment-failed
   * in it). No heart-beat may precede our open, so the peer's idle-time-out stays 0 until then.
   */
  private onRemoteOpen(): void {
    const open = this.rconn.remote.open;
    if (!open || this.openNow) return;
    const idle = open.idle_time_out;
    const peerIdle = typeof idle === 'number' && idle > 0 ? Math.max(100, Math.min(idle, 3_600_000)) : 0;
    open.idle_time_out = 0;
    const st = (this.rconn as unknown as { state: { open_requests: number } }).state;
    if (st.open_requests > 0) st.open_requests--;
    this.openNow = (failed: boolean) => {
      this.openNow = null;
      if (peerIdle) open.idle_time_out = peerIdle;
      if (failed) this.rconn.local.open.properties = { product: this.host.product, version: this.host.version, 'amqp:connection-establishment-failed': true };
      st.open_requests++;
      this.rconn._register();
    };
  }

  /** The client's open is in rhea: connect to the engine, then let frames flow. */
  private onOpenForwarded(): void {
    const open = this.rconn.remote.open;
    if (!open) {
      this.closeConnection({ condition: 'amqp:connection:framing-error', description: 'the first frame must be open' });
      return;
    }
    const mfs = open.max_frame_size;
    if (typeof mfs === 'number' && mfs < 512) {
      this.closeConnection({ condition: 'amqp:invalid-field', description: `max-frame-size ${mfs} is below the minimum of 512` });
      return;
    }
    this.containerId = typeof open.container_id === 'string' ? open.container_id : '';
    const sole = symbols(open.desired_capabilities).includes('sole-connection-for-container');
    this.state = 'connecting';
    this.engine
      .connect(
        { protocol: 'amqp', clientId: sole && this.containerId ? this.containerId : undefined, remoteAddress: this.peer.remoteAddress, onKill: (reason) => this.kill(reason) },
        this.credentials,
      )
      .then(
        (conn) => {
          if (this.state !== 'connecting') {
            this.engine.disconnect(conn);
            return;
          }
          this.conn = conn;
          this.state = 'open';
          this.openNow?.(false);
          if (this.connectTimer) clearTimeout(this.connectTimer);
          this.connectTimer = null;
          this.log.debug({ connection: conn.id, container: this.containerId, remote: this.peer.remoteAddress, transport: this.peer.transport }, 'amqp: connected');
          this.guard.release();
        },
        (err: unknown) => {
          const e = amqpError(err);
          if (err instanceof BrokerError && err.code === 'client-id-in-use') e.info = { 'invalid-field': 'container-id' };
          if (this.state === 'connecting') this.openNow?.(true);
          this.closeConnection(e);
        },
      );
  }

  // ============================================================================= rhea events

  private registerRheaHandlers(): void {
    const c = this.rconn;
    const guarded =
      <T>(fn: (ctx: T) => void) =>
      (ctx: T) => {
        try {
          fn(ctx);
        } catch (err) {
          this.log.error({ err, remote: this.peer.remoteAddress }, 'amqp: event handler failed');
          this.closeConnection({ condition: 'amqp:internal-error', description: 'internal error' });
        }
      };
    c.on('error', (e: Error & { condition?: string }) => this.rheaError(e));
    c.on('protocol_error', (e: Error & { condition?: string }) => this.rheaError(e));
    c.on('connection_open', () => this.onRemoteOpen());
    c.on('connection_close', () => undefined);
    c.on('connection_error', () => undefined);
    c.on('disconnected', () => this.teardown());
    c.on('session_open', guarded((ctx: { session: RSession }) => this.onSessionOpen(ctx.session)));
    c.on('session_close', guarded((ctx: { session: RSession }) => this.onSessionClose(ctx.session)));
    c.on('session_error', () => undefined);
    c.on('sender_open', guarded((ctx: { sender: RLink }) => this.onSenderOpen(ctx.sender)));
    c.on('receiver_open', guarded((ctx: { receiver: RLink }) => this.onReceiverOpen(ctx.receiver)));
    c.on('sender_close', guarded((ctx: { sender: RLink }) => this.onPeerDetach(ctx.sender)));
    c.on('receiver_close', guarded((ctx: { receiver: RLink }) => this.onPeerDetach(ctx.receiver)));
    c.on('sender_error', () => undefined);
    c.on('receiver_error', () => undefined);
    c.on('sender_flow', guarded((ctx: { sender: RLink }) => this.onSenderFlow(ctx.sender)));
    c.on('sendable', () => undefined);
    c.on('sender_draining', () => undefined);
    c.on('message', guarded((ctx: { receiver: RLink; delivery: RDelivery; raw?: Buffer }) => this.onTransfer(ctx.receiver, ctx.delivery, ctx.raw)));
    for (const outcome of ['accepted', 'released', 'rejected', 'modified', 'transactional_state'] as const) {
      c.on(outcome, guarded((ctx: { sender?: RLink; delivery: RDelivery }) => ctx.sender && this.onOutcome(ctx.delivery, outcome)));
    }
    c.on('received', () => undefined);
    c.on('settled', guarded((ctx: { sender?: RLink; delivery: RDelivery }) => ctx.sender && this.onOutcome(ctx.delivery, 'settled')));
  }

  private rheaError(e: Error & { condition?: string }): void {
    const condition = e.condition ?? (e.name === 'TypeError' || e instanceof RangeError ? 'amqp:decode-error' : e.name === 'ProtocolError' ? 'amqp:connection:framing-error' : 'amqp:internal-error');
    this.log.debug({ err: e.message, condition, remote: this.peer.remoteAddress }, 'amqp: protocol error');
    this.closeConnection({ condition, description: e.message });
  }

  private onSessionOpen(rs: RSession): void {
    const channel = rs.remote.channel ?? 0;
    const count = Object.keys(this.rconn.local_channel_map).length;
    if (channel > this.opts.maxSessions - 1 || count > this.opts.maxSessions) {
      this.closeConnection({ condition: 'amqp:resource-limit-exceeded', description: `at most ${this.opts.maxSessions} sessions (channel-max ${this.opts.maxSessions - 1})` });
      return;
    }
    rs.local.begin.handle_max = this.opts.maxLinks - 1;
  }

  private onSessionClose(rs: RSession): void {
    this.applyPendingOutcomes(rs);
    for (const l of [...this.links.values()]) if (l.r.session === rs) this.linkGone(l, false);
  }

  // ============================================================================= link attach

  /** Keep rhea from answering the attach until we know the outcome. */
  private holdAttach(r: RLink): void {
    if (r.state.open_requests > 0) r.state.open_requests--;
  }

  private sendAttach(r: RLink): void {
    r.state.open_requests++;
    r.connection._register();
  }

  /** Answer an attach with a null terminus and detach with the error (AMQP 1.0 §2.6.3). */
  private refuse(r: RLink, err: AmqpError, held: boolean): void {
    if (r.is_sender()) r.local.attach.source = null;
    else r.local.attach.target = null;
    if (held) this.sendAttach(r);
    r.close(err);
    const l = this.links.get(r);
    if (l) {
      l.state = 'closed';
      this.links.delete(r);
    }
    this.log.debug({ link: r.name, condition: err.condition, description: err.description }, 'amqp: link refused');
  }

  private linkAllowed(r: RLink): AmqpError | null {
    if (this.state !== 'open' || !this.conn) return { condition: 'amqp:connection:forced', description: 'connection is closing' };
    if (this.links.size >= this.opts.maxLinks) return { condition: 'amqp:resource-limit-exceeded', description: `at most ${this.opts.maxLinks} links per connection` };
    const h = r.remote.handle ?? 0;
    if (h > this.opts.maxLinks - 1) return { condition: 'amqp:resource-limit-exceeded', description: `handle ${h} above handle-max ${this.opts.maxLinks - 1}` };
    return null;
  }

  /** The client sends on this link (our receiver). */
  private onReceiverOpen(r: RLink): void {
    const att = r.remote.attach!;
    const denied = this.linkAllowed(r);
    if (denied) return this.refuse(r, denied, false);
    const tgt = terminus(att.target);
    const src = terminus(att.source);
    r.local.attach.snd_settle_mode = clampSettleMode(att.snd_settle_mode);
    r.local.attach.rcv_settle_mode = 0;
    r.local.attach.max_message_size = this.host.limits.maxFrameSize;
    r.max_incoming_message_size = this.host.limits.maxFrameSize;
    r.set_source(src && typeof src.address === 'string' ? { address: src.address } : {});
    const link: InLink = { kind: 'in', r, name: r.name, state: 'open', address: null, creditLeft: 0, inflight: 0 };
    try {
      if (tgt?.terminus_type === 'coordinator') {
        link.kind = 'coordinator';
        r.local.attach.target = rheaTerminus.coordinator({ capabilities: ['amqp:local-transactions'] }).described();
      } else if (tgt && tgt.dynamic) {
        const caps = symbols(tgt.capabilities);
        const kind = caps.includes('temporary-topic') || caps.includes('topic') ? 'topic' : 'queue';
        const a = this.engine.createTemporary(kind, this.conn!);
        link.address = a;
        if (tgt.expiry_policy === 'link-detach') link.tempToDelete = a;
        r.set_target({ address: `temp-${kind}://${a.name}`, dynamic: true, expiry_policy: tgt.expiry_policy ?? undefined, capabilities: [kind === 'queue' ? 'temporary-queue' : 'temporary-topic'] });
      } else if (tgt && typeof tgt.address === 'string' && tgt.address !== '') {
        const a = this.resolveTerminus(tgt.address, symbols(tgt.capabilities));
        this.engine.authorize(this.conn!.principal, 'send', a);
        link.address = a;
        link.unregister = this.engine.registerProducer(a, this.conn);
        r.set_target({ address: tgt.address, durable: tgt.durable ?? undefined, expiry_policy: tgt.expiry_policy ?? undefined, capabilities: [a.temporary ? `temporary-${a.kind}` : a.kind] });
      } else {
        // anonymous relay: each message says where it goes (`to`)
        r.set_target({});
      }
    } catch (err) {
      return this.refuse(r, amqpError(err), false);
    }
    this.links.set(r, link);
    this.grantCredit(link);
  }

  /** The client receives on this link (our sender). The attach is answered once the consumer exists. */
  private onSenderOpen(r: RLink): void {
    const denied = this.linkAllowed(r);
    if (denied) return this.refuse(r, denied, false);
    this.holdAttach(r);
    const att = r.remote.attach!;
    const presettled = att.snd_settle_mode === 1;
    const link: OutLink = { kind: 'out', r, name: r.name, state: 'attaching', consumer: null, presettled, credit: 0, deliveryCount: 0, allowance: 0, draining: false };
    this.links.set(r, link);
    // our drain echo (rhea's only fires while credit is left)
    (r as unknown as { _get_drain: () => boolean })._get_drain = function (this: RLink & { _wharf_drain?: boolean }) {
      if (!this._wharf_drain) return false;
      this._wharf_drain = false;
      this.delivery_count += this.credit;
      this.credit = 0;
      return true;
    };
    r.local.attach.snd_settle_mode = clampSettleMode(att.snd_settle_mode);
    r.local.attach.rcv_settle_mode = 0;
    const tgt = terminus(att.target);
    r.set_target(tgt && typeof tgt.address === 'string' ? { address: tgt.address } : {});
    this.setupOutgoing(link, terminus(att.source)).then(
      (source) => {
        if (link.state === 'closed') {
          this.dropConsumer(link, false);
          return;
        }
        r.set_source(source);
        link.state = 'open';
        this.sendAttach(r);
        this.syncCredit(link);
      },
      (err: unknown) => {
        if (link.state === 'closed') return;
        this.refuse(r, amqpError(err), true);
      },
    );
  }

  /** Create what the source asks for; returns the source to answer with. */
  private async setupOutgoing(link: OutLink, src: RTerminus | null): Promise<Record<string, unknown>> {
    const conn = this.conn!;
    const caps = symbols(src?.capabilities);
    const { selector, noLocal, filterEcho } = parseFilters(src?.filter);
    const base = { durable: src?.durable ?? undefined, expiry_policy: src?.expiry_policy ?? undefined, timeout: src?.timeout ?? undefined, outcomes: OUTCOMES };
    const onMessage = (d: Delivery) => this.deliver(link, d);
    const onClose = (reason: string) => this.consumerClosed(link, reason);
    const common = { connection: conn, credit: 0, selector, noLocal, autoAck: link.presettled, onMessage, onClose };
    if (src?.dynamic) {
      const kind: 'queue' | 'topic' = caps.includes('temporary-topic') || caps.includes('topic') ? 'topic' : 'queue';
      const a = this.engine.createTemporary(kind, conn);
      if (src.expiry_policy === 'link-detach') link.tempToDelete = a;
      link.consumer = await this.engine.subscribe({ ...common, address: a });
      return { ...base, address: `temp-${kind}://${a.name}`, dynamic: true, capabilities: [`temporary-${kind}`], filter: filterEcho };
    }
    const subName = link.name.split('|')[0]!;
    const shared = caps.includes('shared');
    const global = caps.includes('global');
    const group = shared ? (global || !this.containerId ? subName : `${this.containerId}:${subName}`) : undefined;
    if (!src || typeof src.address !== 'string' || src.address === '') {
      // Qpid JMS unsubscribe / resume by name: find the durable subscription this link name stands for
      const q = this.engine.subscriptionInfo(shared ? sharedSubscriptionId(group!) : durableSubscriptionId(this.containerId, subName));
      const sub = q?.subscription;
      if (!q || !sub || (q.role !== 'durable-subscription' && !(q.role === 'shared-subscription' && q.persistent))) {
        throw new BrokerError('not-found', `No durable subscription '${subName}' for client '${this.containerId}'`);
      }
      const address: Address = { kind: 'topic', name: sub.topicPattern };
      link.durable = { clientId: this.containerId, name: subName, shared: shared ? group : undefined };
      link.consumer = await this.engine.subscribe({ ...common, selector: sub.selector, noLocal: sub.noLocal, address, durable: { name: subName, clientId: this.containerId }, shared: group });
      const echo = sub.selector ? { 'jms-selector': rheaTypes.wrap_described(sub.selector, SELECTOR_FILTER) } : undefined;
      return { ...base, address: renderTopic(sub.topicPattern, this.host.defaultKind), durable: 2, expiry_policy: 'never', capabilities: ['topic', ...(shared ? ['shared'] : []), ...(global ? ['global'] : [])], filter: echo };
    }
    const address = this.resolveTerminus(src.address, caps);
    if (src.distribution_mode === 'copy') {
      if (address.kind !== 'queue') throw new BrokerError('invalid', 'Browsing (distribution-mode copy) is for queues');
      this.engine.authorize(conn.principal, 'browse', address);
      if (selector) this.engine.browse(address, { selector, limit: 0 }); // validates the selector
      link.browser = { address, selector, offset: 0 };
      link.presettled = true;
      link.r.local.attach.snd_settle_mode = 1;
      return { ...base, address: src.address, distribution_mode: 'copy', capabilities: caps.filter((c) => c === 'queue' || c === 'temporary-queue'), filter: filterEcho };
    }
    const durable = address.kind === 'topic' && ((src.durable ?? 0) > 0 || src.expiry_policy === 'never');
    if (address.kind === 'topic' && durable) {
      if (!shared && !this.containerId) throw new BrokerError('invalid', 'A durable subscription needs a container-id');
      link.durable = { clientId: this.containerId, name: subName, shared: group };
      link.consumer = await this.engine.subscribe({ ...common, address, durable: { name: subName, clientId: this.containerId }, shared: group });
    } else if (address.kind === 'topic' && shared) {
      link.consumer = await this.engine.subscribe({ ...common, address, shared: group });
    } else {
      link.consumer = await this.engine.subscribe({ ...common, address });
    }
    const kindCaps = caps.filter((c) => c === 'queue' || c === 'topic' || c === 'temporary-queue' || c === 'temporary-topic' || c === 'shared' || c === 'global');
    return { ...base, address: src.address, capabilities: kindCaps.length ? kindCaps : [address.kind], filter: filterEcho };
  }

  private resolveTerminus(address: string, caps: string[]): Address {
    let a: Address;
    if (/^(queue|topic|temp-queue|temp-topic):\/\//.test(address)) a = addressOf(address, undefined, this.host.defaultKind);
    else if (caps.includes('temporary-queue')) a = { kind: 'queue', name: address, temporary: true };
    else if (caps.includes('temporary-topic')) a = { kind: 'topic', name: address, temporary: true };
    else if (caps.includes('queue')) a = { kind: 'queue', name: address };
    else if (caps.includes('topic')) a = { kind: 'topic', name: address };
    else a = { kind: this.host.defaultKind, name: address };
    if (!a.name) throw new BrokerError('invalid', `Invalid address '${address}'`);
    return a;
  }

  // ============================================================================= link detach

  /** The peer detached (or closed) a link. */
  private onPeerDetach(r: RLink): void {
    const l = this.links.get(r);
    if (!l) return;
    this.applyPendingOutcomes(r.session, r);
    const closed = r.remote.detach?.closed === true;
    if (l.state === 'attaching') {
      // our attach was held back: it must still precede our detach
      r.local.attach.source = null;
      this.sendAttach(r);
    }
    if (!closed && !r.is_itself_closed()) {
      // answer with closed=false too (rhea would answer closed=true), and let rhea forget the link after
      r.detach();
      // once our detach is written; not if the peer re-attached the same name meanwhile
      setImmediate(() => {
        if (!r.state.local_open && !r.state.remote_open) r.remove();
      });
    }
    this.linkGone(l, closed);
  }

  /** Forget a link: its consumer closes (unsettled deliveries return), a durable subscription goes if `closed`. */
  private linkGone(l: Link, closed: boolean): void {
    if (l.state === 'closed') return;
    const wasAttaching = l.state === 'attaching';
    l.state = 'closed';
    this.links.delete(l.r);
    if (l.kind === 'out') {
      if (!wasAttaching) this.dropConsumer(l, closed);
    } else {
      l.unregister?.();
      if (l.kind === 'coordinator') {
        for (const [k, t] of this.txns) {
          if (t.coordinator === l) {
            t.tx.rollback();
            this.txns.delete(k);
          }
        }
      }
      if (l.tempToDelete && l.tempToDelete.kind === 'queue' && this.state !== 'closed') {
        this.engine.deleteQueue(l.tempToDelete.name).catch((err) => this.log.debug({ err }, 'amqp: temporary queue delete'));
      }
    }
  }

  private dropConsumer(l: OutLink, closed: boolean): void {
    const c = l.consumer;
    l.consumer = null;
    l.allowance = 0;
    if (c && !c.closed) c.close();
    if (closed && l.durable && this.state !== 'closed') {
      const d = l.durable;
      if (d.shared) {
        const id = sharedSubscriptionId(d.shared);
        if (this.engine.consumersOf({ kind: 'subscription', name: id }).every((x) => x.closed)) this.engine.deleteSubscription(id).catch((err) => this.log.debug({ err }, 'amqp: shared subscription delete'));
      } else {
        this.engine.unsubscribeDurable(d.clientId, d.name).catch((err) => this.log.debug({ err }, 'amqp: unsubscribe'));
      }
    }
    if (l.tempToDelete && l.tempToDelete.kind === 'queue' && this.state !== 'closed') {
      this.engine.deleteQueue(l.tempToDelete.name).catch((err) => this.log.debug({ err }, 'amqp: temporary queue delete'));
    }
  }

  /** The engine closed the consumer (queue deleted, subscription removed): detach with an error. */
  private consumerClosed(l: OutLink, reason: string): void {
    if (l.state === 'closed') return;
    l.consumer = null;
    l.state = 'closed';
    this.links.delete(l.r);
    if (!l.r.is_itself_closed()) l.r.close({ condition: 'amqp:resource-deleted', description: reason });
  }

  // ============================================================================= broker → client

  private onSenderFlow(r: RLink): void {
    const l = this.links.get(r);
    if (!l || l.kind !== 'out') return;
    l.credit = Math.max(0, r.credit + r.delivery_count - l.deliveryCount);
    const drain = r._draining === true;
    if (l.state !== 'open') return; // applied once attached
    if (l.browser) {
      this.browseMore(l);
      if (drain) this.finishDrain(l);
      return;
    }
    l.draining = false;
    this.syncCredit(l);
    if (drain && l.consumer && !l.consumer.closed) {
      l.draining = true;
      const left = l.consumer.drain();
      l.allowance -= left;
      this.maybeFinishDrain(l);
    }
  }

  /** Give the engine what it may hand us: min(link credit, cap, session room), none while backed up. */
  private syncCredit(l: OutLink): void {
    const c = l.consumer;
    if (!c || c.closed || l.state !== 'open' || l.browser) return;
    const full = l.r.session.outgoing.available() < SESSION_MARGIN;
    const target = this.backedUp || this.closeSent || l.draining || full ? 0 : Math.min(l.credit, this.opts.maxConsumerCredit);
    const delta = target - l.allowance;
    if (delta > 0) {
      l.allowance += delta;
      c.addCredit(delta);
    } else if (delta < 0) {
      const cut = Math.min(-delta, Math.max(0, c.credit));
      if (cut > 0) {
        l.allowance -= cut;
        c.setCredit(c.credit - cut);
      }
    }
  }

  private refreshAllCredit(): void {
    for (const l of this.links.values()) {
      if (l.kind !== 'out') continue;
      if (l.browser) {
        if (l.state === 'open' && l.credit > 0 && !this.backedUp && !this.closeSent) this.browseMore(l);
      } else this.syncCredit(l);
    }
  }

  private scheduleCreditRefresh(): void {
    if (this.creditRefreshScheduled) return;
    this.creditRefreshScheduled = true;
    setImmediate(() => {
      this.creditRefreshScheduled = false;
      this.refreshAllCredit();
    });
  }

  private deliver(l: OutLink, d: Delivery): void {
    l.allowance--;
    if (l.state !== 'open' || this.tornDown) {
      this.giveBack(d);
      return;
    }
    if (!l.presettled && (this.backedUp || this.turnBytes + this.stream.writableLength > this.opts.writeHighWater)) {
      // the engine handed over more than the socket takes now (a whole dispatch round): give it back
      if (!this.backedUp) this.backpressure();
      this.giveBack(d);
      return;
    }
    if (l.r.session.outgoing.available() < 2) {
      // rhea's session buffer of unsettled deliveries is full (it frees in order): wait for settlements
      this.giveBack(d);
      this.syncCredit(l);
      return;
    }
    let rd: RDelivery;
    try {
      const payload = encodeDelivery(d.message, d, this.mapOpts);
      this.turnBytes += payload.length;
      rd = l.r.send(payload, Buffer.from(d.id.toString(36)), 0);
    } catch (err) {
      this.log.error({ err, link: l.name }, 'amqp: delivery failed');
      this.giveBack(d);
      return;
    }
    l.deliveryCount++;
    l.credit--;
    if (!l.presettled) rd.wharf = { id: d.id, consumer: d.consumer, done: false } satisfies OutDeliveryTag;
    if (l.draining) this.maybeFinishDrain(l);
    else if (l.allowance < Math.min(l.credit, this.opts.maxConsumerCredit) / 2) this.syncCredit(l);
  }

  private giveBack(d: Delivery): void {
    if (d.consumer.closed || d.consumer.autoAck) return;
    try {
      d.consumer.nack(d.id, { countFailure: false, redelivered: false });
    } catch {
      // already back
    }
  }

  private maybeFinishDrain(l: OutLink): void {
    if (l.draining && l.allowance <= 0) {
      l.draining = false;
      this.finishDrain(l);
    }
  }

  /** The credit left is used up: advance the delivery-count and echo a flow with drain set. */
  private finishDrain(l: OutLink): void {
    l.deliveryCount += l.credit;
    l.credit = 0;
    (l.r as RLink & { _wharf_drain?: boolean })._wharf_drain = true;
    l.r.issue_flow = true;
    l.r.connection._register();
  }

  private browseMore(l: OutLink): void {
    const b = l.browser!;
    while (l.credit > 0 && l.r.session.outgoing.available() >= SESSION_MARGIN && !this.backedUp && this.turnBytes + this.stream.writableLength <= this.opts.writeHighWater) {
      const items = this.engine.browse(b.address, { limit: Math.min(l.credit, 100), offset: b.offset, selector: b.selector });
      if (items.length === 0) return;
      for (const it of items) {
        b.offset++;
        try {
          const payload = encodeDelivery(it.message, it, this.mapOpts);
          this.turnBytes += payload.length;
          l.r.send(payload, Buffer.from(`b${b.offset.toString(36)}`), 0);
        } catch (err) {
          this.log.error({ err, link: l.name }, 'amqp: browse delivery failed');
          return;
        }
        l.deliveryCount++;
        l.credit--;
      }
    }
  }

  /**
   * rhea applies dispositions for our deliveries in its deferred processing; a detach (or end, or socket
   * close) in the same read would otherwise overtake them and return already-accepted messages.
   */
  private applyPendingOutcomes(rs: RSession, only?: RLink): void {
    const updated = (rs as unknown as { outgoing?: { updated?: RDelivery[] } }).outgoing?.updated;
    if (!updated) return;
    for (const d of updated) if ((!only || d.link === only) && (d.remote_state || d.remote_settled)) this.onOutcome(d, 'settled');
  }

  /** A disposition from the client for one of our deliveries. */
  private onOutcome(rd: RDelivery, kind: 'accepted' | 'released' | 'rejected' | 'modified' | 'transactional_state' | 'settled'): void {
    const w = rd.wharf as OutDeliveryTag | undefined;
    if (!w || w.done) return;
    const st = rd.remote_state;
    let outcome: string = kind;
    let state = st;
    if (kind === 'settled') outcome = st?.constructor?.composite_type ?? 'accepted';
    if (outcome === 'received') return; // not terminal
    let txn: Tx | undefined;
    if (outcome === 'transactional_state') {
      const id = st?.txn_id;
      txn = Buffer.isBuffer(id) ? this.txns.get(id.toString('hex')) : undefined;
      state = rheaMessage.unwrap_outcome(st?.outcome);
      outcome = state?.constructor?.composite_type ?? 'accepted';
      if (!txn) {
        w.done = true;
        this.closeConnection({ condition: 'amqp:transaction:unknown-id', description: 'disposition in an unknown transaction' });
        return;
      }
    }
    w.done = true;
    const c = w.consumer;
    if (!c.closed) {
      try {
        switch (outcome) {
          case 'accepted':
            if (txn) txn.tx.ack(c, w.id);
            else c.ack(w.id).catch((err) => this.log.debug({ err }, 'amqp: ack'));
            break;
          case 'released':
            c.nack(w.id, { countFailure: false, redelivered: false });
            break;
          case 'modified': {
            const failed = state?.delivery_failed === true;
            const notHere = state?.undeliverable_here === true;
            c.nack(w.id, { countFailure: failed, notHere, redelivered: failed ? undefined : false, reason: failed ? 'modified (delivery-failed) by consumer' : undefined });
            break;
          }
          case 'rejected': {
            const e = state?.error as { description?: string; condition?: string } | undefined;
            c.nack(w.id, { deadLetter: true, reason: e?.description || e?.condition || 'rejected by consumer' });
            break;
          }
          default:
            c.ack(w.id).catch((err) => this.log.debug({ err }, 'amqp: ack'));
        }
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'amqp: settlement of a delivery that is no longer unsettled');
      }
    }
    if (!rd.remote_settled) rd.update(true);
    this.scheduleCreditRefresh();
  }

  // ============================================================================= client → broker

  private grantCredit(l: InLink): void {
    if (l.state !== 'open' || this.tornDown) return;
    const want = this.opts.receiverCredit - l.inflight - l.creditLeft;
    if (want <= 0) return;
    if (l.creditLeft > 0 && want < this.opts.receiverCredit / 4) return;
    l.creditLeft += want;
    l.r.flow(want);
  }

  private onTransfer(r: RLink, d: RDelivery, raw: Buffer | undefined): void {
    const l = this.links.get(r);
    if (!l || l.kind === 'out' || l.state !== 'open') {
      if (!d.remote_settled) d.update(true, rheaMessage.released().described());
      else d.update(true);
      return;
    }
    if (--l.creditLeft < 0) {
      // rhea only logs this; we enforce it
      l.state = 'closed';
      this.links.delete(r);
      l.unregister?.();
      r.close({ condition: 'amqp:link:transfer-limit-exceeded', description: 'transfer without link credit' });
      return;
    }
    const bytes = raw ?? Buffer.alloc(0);
    if (d.format) {
      this.settleIn(l, d, rheaMessage.rejected({ error: { condition: 'amqp:not-implemented', description: `message-format ${d.format} is not supported` } }).described());
      this.grantCredit(l);
      return;
    }
    if (l.kind === 'coordinator') {
      this.onCoordinator(l, d, bytes);
      return;
    }
    let inbound;
    try {
      inbound = decodeMessage(bytes, this.mapOpts);
    } catch (err) {
      this.settleIn(l, d, rheaMessage.rejected({ error: amqpError(err instanceof DecodeError ? err : new DecodeError(String(err))) }).described());
      this.grantCredit(l);
      return;
    }
    let address = l.address;
    if (!address) {
      if (!inbound.to) {
        this.settleIn(l, d, rheaMessage.rejected({ error: { condition: 'amqp:not-found', description: "anonymous relay: the message has no 'to' address" } }).described());
        this.grantCredit(l);
        return;
      }
      address = addressOf(inbound.to, inbound.toType, this.host.defaultKind);
    }
    let txn: Tx | undefined;
    if (d.raw_state !== undefined && d.raw_state !== null) {
      const st = rheaMessage.unwrap_outcome(d.raw_state);
      if (st?.constructor?.composite_type === 'transactional_state') {
        const id = st.txn_id;
        txn = Buffer.isBuffer(id) ? this.txns.get(id.toString('hex')) : undefined;
        if (!txn) {
          this.settleIn(l, d, rheaMessage.rejected({ error: { condition: 'amqp:transaction:unknown-id', description: 'unknown transaction' } }).described());
          this.grantCredit(l);
          return;
        }
      }
    }
    const size = bytes.length;
    l.inflight++;
    this.pendingBytes += size;
    if (this.pendingBytes > this.opts.maxPendingBytes) this.hold(HOLD_PENDING);
    const p = this.engine.send(inbound.message, address, { connection: this.conn, transaction: txn?.tx });
    if (txn) txn.ops.add(p);
    const t = txn;
    p.then(
      () => {
        const accepted = rheaMessage.accepted().described();
        this.settleIn(l, d, t ? rheaMessage.transactional_state({ txn_id: t.id, outcome: accepted }).described() : accepted);
      },
      (err: unknown) => {
        if (!(err instanceof BrokerError)) this.log.warn({ err, address }, 'amqp: send failed');
        this.settleIn(l, d, rheaMessage.rejected({ error: amqpError(err) }).described());
      },
    ).finally(() => {
      t?.ops.delete(p);
      l.inflight--;
      this.pendingBytes -= size;
      if (this.pendingBytes <= this.opts.maxPendingBytes / 2) this.release(HOLD_PENDING);
      this.grantCredit(l);
    });
  }

  /** Settle an incoming delivery with `state` (no disposition frame if the client pre-settled it). */
  private settleIn(l: InLink, d: RDelivery, state: Typed): void {
    if (this.tornDown || this.closeSent || l.r.session.is_closed()) return;
    d.update(true, d.remote_settled ? undefined : state);
  }

  // ============================================================================= transactions

  private onCoordinator(l: InLink, d: RDelivery, bytes: Buffer): void {
    let body: Typed | undefined;
    try {
      const s = scanMessage(bytes);
      body = s.bodyKind === 'value' ? s.body[0]?.value : undefined;
    } catch {
      body = undefined;
    }
    const code = body?.descriptor ? descriptorCode(body.descriptor) : -1;
    const reject = (condition: string, description: string) => {
      this.settleIn(l, d, rheaMessage.rejected({ error: { condition, description } }).described());
      this.grantCredit(l);
    };
    if (code === 0x31) {
      if (this.txns.size >= this.opts.maxTransactions) return reject('amqp:resource-limit-exceeded', `at most ${this.opts.maxTransactions} open transactions per connection`);
      const id = Buffer.alloc(4);
      id.writeUInt32BE(this.nextTxnId++ >>> 0);
      this.txns.set(id.toString('hex'), { id, tx: this.engine.beginTransaction(this.conn), ops: new Set(), coordinator: l });
      this.settleIn(l, d, rheaMessage.declared({ txn_id: id }).described());
      this.grantCredit(l);
      return;
    }
    if (code !== 0x32) return reject('amqp:decode-error', 'expected declare or discharge');
    // transactional dispositions that arrived before this discharge must be in the transaction
    for (const rs of Object.values(this.rconn.local_channel_map)) this.applyPendingOutcomes(rs);
    const f = elements(body);
    const idv = toProperty(f[0]);
    const fail = toJs(f[1]) === true;
    const key = Buffer.isBuffer(idv) ? idv.toString('hex') : '';
    const t = this.txns.get(key);
    if (!t) return reject('amqp:transaction:unknown-id', 'unknown transaction');
    this.txns.delete(key);
    l.inflight++;
    Promise.allSettled([...t.ops])
      .then(async () => {
        if (fail) t.tx.rollback();
        else await t.tx.commit();
      })
      .then(
        () => this.settleIn(l, d, rheaMessage.accepted().described()),
        (err: unknown) => {
          const e = amqpError(err);
          this.settleIn(l, d, rheaMessage.rejected({ error: { condition: 'amqp:transaction:rollback', description: e.description } }).described());
        },
      )
      .finally(() => {
        l.inflight--;
        this.grantCredit(l);
      });
  }
}

// ------------------------------------------------------------------------------------ helpers

/** A source/target/coordinator, or null (rhea leaves an absent terminus as a typed null). */
function terminus(t: unknown): RTerminus | null {
  return t && typeof t === 'object' && 'terminus_type' in t ? (t as RTerminus) : null;
}

function clampSettleMode(m: unknown): number {
  return m === 0 || m === 1 || m === 2 ? m : 2;
}

/** A symbol or array of symbols (rhea gives either) as strings. */
function symbols(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

function descriptorCode(d: Typed): number {
  const v = d.value;
  if (typeof v === 'number') return v;
  if (v === 'amqp:declare:list') return 0x31;
  if (v === 'amqp:discharge:list') return 0x32;
  return -1;
}

/** The selector and no-local filters of a source, and what to echo back (the filters in force). */
function parseFilters(filter: Record<string, unknown> | null | undefined): { selector?: string; noLocal: boolean; filterEcho?: Record<string, Typed> } {
  if (!filter || typeof filter !== 'object') return { noLocal: false };
  let selector: string | undefined;
  let noLocal = false;
  const echo: Record<string, Typed> = {};
  for (const [key, raw] of Object.entries(filter)) {
    const t = raw as Typed | null;
    const d = t && typeof t === 'object' ? t.descriptor : undefined;
    const dv = d?.value;
    if (dv === SELECTOR_FILTER || (typeof dv === 'string' && SELECTOR_SYMBOLS.has(dv))) {
      const s = t?.value;
      if (typeof s === 'string' && s.trim()) {
        selector = s;
        echo[key] = rheaTypes.wrap_described(s, SELECTOR_FILTER);
      }
    } else if (dv === NO_LOCAL_FILTER || (typeof dv === 'string' && NO_LOCAL_SYMBOLS.has(dv))) {
      noLocal = true;
      echo[key] = rheaTypes.described(rheaTypes.wrap_ulong(NO_LOCAL_FILTER), rheaTypes.wrap_list([]));
    }
  }
  return { selector, noLocal, filterEcho: Object.keys(echo).length ? echo : undefined };
}

function renderTopic(pattern: string, defaultKind: DestinationKind): string {
  return defaultKind === 'topic' ? pattern : `topic://${pattern}`;
}

function splitNul(b: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === 0) {
      out.push(b.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}

function formatSubject(subject: Record<string, string | string[]>): string {
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
}
