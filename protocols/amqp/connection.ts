/**
 * One AMQP 1.0 connection: its state, the socket and output, close and teardown, and the routing of rhea's
 * events to the modules that handle them: sasl.ts, open.ts (connection open), sessions.ts (begin/end),
 * links.ts (attach/detach common), sender-link.ts + sender-flow.ts (broker → client), receiver-link.ts +
 * receiver-transfer.ts (client → broker), transactions.ts (coordinator). They see this class through
 * AmqpContext (context.ts).
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
import { type ConnectionHandle, type Credentials, type DestinationKind, type EngineApi, type KillCause, SendBatch } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import { FrameGuard } from './guard.js';
import type { MappingOptions } from './mapping.js';
import type { AmqpOptions } from './options.js';
import { rheaTypes, type AmqpError, type RConnection, type RContainer, type RDelivery, type RLink, type RSession, type Typed } from './rhea.js';
import { HOLD_BACKPRESSURE, HOLD_GUARD, type AmqpContext, type Link, type State, type Tx } from './context.js';
import { linkGone, onPeerDetach } from './links.js';
import { onOpenForwarded, onRemoteOpen } from './open.js';
import { onReceiverOpen } from './receiver-link.js';
import { onAbortedTransfer, onTransfer } from './receiver-transfer.js';
import { mechanisms, saslAuthenticate } from './sasl.js';
import { onSenderOpen } from './sender-link.js';
import { applyPendingOutcomes, onOutcome, onSenderFlow, refreshAllCredit } from './sender-flow.js';
import { onSessionClose, onSessionOpen } from './sessions.js';
import { installTransferReader } from './transfer-in.js';

/** A turn's output up to this many bytes is copied into one buffer for one socket write. */
const CONCAT_LIMIT = 64 * 1024;

/** rhea's events for a disposition of one of our deliveries ('settled' after the outcome's own). */
const OUTCOME_EVENTS = ['accepted', 'released', 'rejected', 'modified', 'transactional_state', 'settled'] as const;

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

/** Members without `private` form the AmqpContext the protocol modules use; nothing outside protocols/amqp should. */
export class AmqpConnection implements AmqpContext {
  state: State = 'new';
  conn: ConnectionHandle | null = null;
  readonly engine: EngineApi;
  readonly opts: AmqpOptions;
  readonly log: Logger;
  readonly guard: FrameGuard;
  readonly rconn: RConnection;
  readonly mapOpts: MappingOptions;
  readonly sends: SendBatch<ConnectionHandle>;
  private readonly maxFrameSize: number;
  credentials: Omit<Credentials, 'protocol'> = {};
  /** Sends our (held) open once; set while the engine connect is under way. */
  openNow: ((failed: boolean) => void) | null = null;
  containerId = '';

  readonly links = new Map<RLink, Link>();
  retainedValues = 0;
  readonly txns = new Map<string, Tx>();
  nextTxnId = 1;

  // rhea's socket handlers (it calls on('data'|'error'|'end') on the object we give it)
  private rheaData: ((b: Buffer) => void) | null = null;
  private rheaEnd: ((e?: unknown) => void) | null = null;

  // output
  private out: Buffer[] = [];
  private flushScheduled = false;
  private endRequested = false;
  private outClosed = false;
  backedUp = false;
  private holds = 0;
  pendingBytes = 0;
  /** Delivery payload handed to rhea since the last flush (not in the socket yet). */
  turnBytes = 0;
  creditRefreshScheduled = false;

  connectTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  closeSent = false;
  tornDown = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    readonly host: ConnectionHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
  ) {
    this.engine = host.engine;
    this.opts = host.options;
    this.log = host.logger;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.mapOpts = { defaultKind: host.defaultKind };
    this.sends = new SendBatch(host.engine);
    this.maxFrameSize = Math.max(512, this.opts.maxFrameSize || Math.min(host.limits.maxFrameSize, 1024 * 1024));
    this.guard = new FrameGuard(
      {
        toRhea: (b) => this.toRhea(b),
        write: (b) => this.write(b),
        mechanisms: () => mechanisms(this),
        authenticate: (m, r, h) => saslAuthenticate(this, m, r, h),
        openForwarded: () => onOpenForwarded(this),
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
    installTransferReader(this.rconn, this.flushSends);
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

  kill(reason: string, cause?: KillCause): void {
    this.closeConnection({ condition: cause === 'unauthorized' ? 'amqp:unauthorized-access' : 'amqp:connection:forced', description: reason });
  }

  /** Send close with an error (after our open) or just end the socket; the socket is destroyed after closeGrace. */
  closeConnection(err: AmqpError): void {
    if (this.closeSent || this.tornDown) return;
    this.closeSent = true;
    if (this.state !== 'closed') this.state = 'closing';
    refreshAllCredit(this);
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
    // transfers read before the end still go to the engine, as they did one by one
    this.flushSends();
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
    for (const rs of Object.values(this.rconn.local_channel_map)) applyPendingOutcomes(this, rs);
    for (const l of [...this.links.values()]) linkGone(this, l, false);
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

  /** A disposition from the client updated one of our deliveries (transfer-out.ts calls this per delivery). */
  readonly onDeliveryOutcome = (delivery: unknown, outcome: string): void => {
    if (!(OUTCOME_EVENTS as readonly string[]).includes(outcome)) return; // 'received' is not terminal; nothing else is ours
    try {
      onOutcome(this, delivery as RDelivery, outcome as (typeof OUTCOME_EVENTS)[number]);
    } catch (err) {
      this.log.error({ err, remote: this.peer.remoteAddress }, 'amqp: event handler failed');
      this.closeConnection({ condition: 'amqp:internal-error', description: 'internal error' });
    }
  };

  writeOut(b: Buffer): void {
    this.write(b);
  }

  rheaWritable(): boolean {
    const c = this.rconn as unknown as { socket?: unknown; socket_ready?: boolean };
    return !!c.socket && c.socket_ready === true;
  }

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
      let bytes = 0;
      for (const c of chunks) bytes += c.length;
      if (chunks.length === 1) s.write(chunks[0]);
      // a turn's frames are many and small (a transfer, a disposition): one copy costs less than a stream
      // write request and an iovec each
      else if (bytes <= CONCAT_LIMIT || this.peer.transport === 'ws' || this.peer.transport === 'wss') s.write(Buffer.concat(chunks, bytes));
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

  backpressure(): void {
    this.backedUp = true;
    this.hold(HOLD_BACKPRESSURE);
    refreshAllCredit(this);
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
    refreshAllCredit(this);
  }

  hold(bit: number): void {
    if (this.holds === 0) this.stream.pause();
    this.holds |= bit;
  }

  release(bit: number): void {
    if (!(this.holds & bit)) return;
    this.holds &= ~bit;
    if (this.holds === 0 && !this.tornDown) this.stream.resume();
  }

  // ============================================================================= guard → rhea

  private toRhea(b: Buffer): void {
    if (this.tornDown) return;
    this.rheaData?.(b);
    this.flushSends();
  }

  /** Start the transfers collected from the input so far (one engine sendMany; receiver-transfer.ts). */
  readonly flushSends = (): void => {
    if (this.sends.size > 0) this.sends.flush(this.conn);
  };


  private guardFailed(condition: string, description: string, amqpOpen: boolean): void {
    this.log.debug({ remote: this.peer.remoteAddress, condition, description }, 'amqp: input refused');
    if (amqpOpen) this.closeConnection({ condition, description });
    else {
      this.closeSent = true;
      this.endOutput();
      this.armCloseTimer();
    }
  }

  // ============================================================================= rhea events

  private registerRheaHandlers(): void {
    const c = this.rconn;
    const guarded =
      <T>(fn: (ev: T) => void) =>
      (ev: T) => {
        try {
          fn(ev);
        } catch (err) {
          this.log.error({ err, remote: this.peer.remoteAddress }, 'amqp: event handler failed');
          this.closeConnection({ condition: 'amqp:internal-error', description: 'internal error' });
        }
      };
    c.on('error', (e: Error & { condition?: string }) => this.rheaError(e));
    c.on('protocol_error', (e: Error & { condition?: string }) => this.rheaError(e));
    c.on('connection_open', () => onRemoteOpen(this));
    c.on('connection_close', () => undefined);
    c.on('connection_error', () => undefined);
    c.on('disconnected', () => this.teardown());
    c.on('session_open', guarded((ev: { session: RSession }) => onSessionOpen(this, ev.session)));
    c.on('session_close', guarded((ev: { session: RSession }) => onSessionClose(this, ev.session)));
    c.on('session_error', () => undefined);
    const onMessage = guarded((ev: { receiver: RLink; delivery: RDelivery; raw?: Buffer }) => onTransfer(this, ev.receiver, ev.delivery, ev.raw));
    const onAborted = guarded((ev: { receiver: RLink }) => onAbortedTransfer(this, ev.receiver));
    const onOutcomes = OUTCOME_EVENTS.map((outcome) => guarded((ev: { sender?: RLink; delivery: RDelivery }) => ev.sender && onOutcome(this, ev.delivery, outcome)));
    // Per-message events are listened to on the link itself: rhea hands an event that has no listener on the
    // link to its session and then to the connection, looking listeners up (a copied array) at every level.
    c.on('sender_open', guarded((ev: { sender: RLink }) => {
      OUTCOME_EVENTS.forEach((outcome, i) => ev.sender.on(outcome, onOutcomes[i]!));
      onSenderOpen(this, ev.sender);
    }));
    c.on('receiver_open', guarded((ev: { receiver: RLink }) => {
      ev.receiver.on('message', onMessage);
      ev.receiver.on('aborted', onAborted);
      onReceiverOpen(this, ev.receiver);
    }));
    c.on('sender_close', guarded((ev: { sender: RLink }) => onPeerDetach(this, ev.sender)));
    c.on('receiver_close', guarded((ev: { receiver: RLink }) => onPeerDetach(this, ev.receiver)));
    c.on('sender_error', () => undefined);
    c.on('receiver_error', () => undefined);
    c.on('sender_flow', guarded((ev: { sender: RLink }) => onSenderFlow(this, ev.sender)));
    c.on('sendable', () => undefined);
    c.on('sender_draining', () => undefined);
    c.on('message', onMessage);
    OUTCOME_EVENTS.forEach((outcome, i) => c.on(outcome, onOutcomes[i]!));
    c.on('received', () => undefined);
  }

  private rheaError(e: Error & { condition?: string }): void {
    const condition = e.condition ?? (e.name === 'TypeError' || e instanceof RangeError ? 'amqp:decode-error' : e.name === 'ProtocolError' ? 'amqp:connection:framing-error' : 'amqp:internal-error');
    this.log.debug({ err: e.message, condition, remote: this.peer.remoteAddress }, 'amqp: protocol error');
    this.closeConnection({ condition, description: e.message });
  }

}
