/**
 * One OpenWire connection: the wire side. WireFormatInfo exchange and negotiation, BrokerInfo, frames bounded
 * by the max frame size, KeepAliveInfo both ways and the inactivity monitor, and the command loop that hands
 * each command to the session handlers (handlers.ts) in wire order and answers every command that asks for a
 * response — with a Response, or an ExceptionResponse naming the Java exception class.
 *
 * Commands are handled one at a time (a command's engine call completes before the next starts), so a
 * persistent send is answered only once durable and acks, commits and removes see everything sent before them.
 * Reading pauses while too many commands are queued. Output is coalesced per event-loop turn (cork/uncork).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { EngineApi } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import type { ProtocolConnection } from '../../src/transport/connection-adapter.js';
import type { AckBatcher } from './ack-batcher.js';
import type { AdvisoryHub } from './advisories.js';
import type { BrokerInfo, DataStructure, Message as OwMessage, ExceptionResponse, KeepAliveInfo, Response, WireFormatInfo } from './commands.js';
import { OpenWireError } from './errors.js';
import { toThrowable } from './exceptions.js';
import { Handlers } from './handlers.js';
import { DataType } from './schema.js';
import { DEFAULT_SERVER_PREFERENCES, FrameReader, makeWireFormatInfo, negotiate, OpenWireCodec, readWireFormatInfo, type NegotiatedWireFormat } from './wire-format.js';

export interface OpenWireOptions {
  /** Close a connection that has not sent its WireFormatInfo within this many ms. */
  handshakeTimeout: number;
  /** MaxInactivityDuration we propose (ms); the smaller of ours and the client's wins, 0 = off. */
  maxInactivityDuration: number;
  maxInactivityDurationInitalDelay: number;
  /** Upper bound for a consumer's prefetchSize. */
  maxPrefetch: number;
  /** Commands queued for handling before reading pauses. */
  maxQueuedCommands: number;
  /** After a ShutdownInfo or an error, the socket is destroyed if the peer has not closed it within this many ms. */
  closeGrace: number;
  brokerName: string;
}

export const DEFAULT_OPENWIRE_OPTIONS: OpenWireOptions = {
  handshakeTimeout: 30_000,
  maxInactivityDuration: 30_000,
  maxInactivityDurationInitalDelay: 10_000,
  maxPrefetch: 65_535,
  maxQueuedCommands: 1024,
  closeGrace: 2000,
  brokerName: 'wharf',
};

export interface ConnectionHost {
  engine: EngineApi;
  logger: Logger;
  limits: ConnectionLimits;
  options: OpenWireOptions;
  advisories: AdvisoryHub;
  /** Fire-and-forget acks of every connection of the adapter, held until the next command (ack-batcher.ts). */
  acks: AckBatcher;
  brokerId: string;
  closed(c: OpenWireConnection): void;
}

type State = 'handshake' | 'open' | 'closing' | 'closed';

/** Message sends of one connection in flight at once (see run()). */
const MAX_INFLIGHT_SENDS = 256;

export class OpenWireConnection implements ProtocolConnection {
  readonly codec = new OpenWireCodec();
  readonly reader: FrameReader;
  private state: State = 'handshake';
  negotiated: NegotiatedWireFormat | null = null;
  readonly handlers: Handlers;
  readonly log: Logger;

  private chain: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  private queued = 0;
  private paused = false;
  private corked = false;
  private lastReadAt = Date.now();
  private lastWriteAt = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private tornDown = false;

  constructor(
    readonly host: ConnectionHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
  ) {
    this.log = host.logger;
    this.reader = new FrameReader(host.limits.maxFrameSize);
    this.handlers = new Handlers(this);
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  start(): void {
    const s = this.stream;
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.close('peer closed'));
    s.on('error', (err) => this.log.debug({ err: err.message, remote: this.peer.remoteAddress }, 'openwire: stream error'));
    s.on('close', () => this.onClosed());
    // Like an ActiveMQ broker, announce our wire format at once (loose encoding until both are known).
    this.write(makeWireFormatInfo(this.preferences(), { ProviderName: 'Wharf', ProviderVersion: '1.0', PlatformDetails: `Node.js ${process.version}` }));
    this.timer(() => {
      if (this.state === 'handshake') this.abort(`no WireFormatInfo within ${this.host.options.handshakeTimeout} ms`);
    }, this.host.options.handshakeTimeout, false);
  }

  private preferences() {
    const o = this.host.options;
    return {
      ...DEFAULT_SERVER_PREFERENCES,
      maxInactivityDuration: o.maxInactivityDuration,
      maxInactivityDurationInitalDelay: o.maxInactivityDurationInitalDelay,
      maxFrameSize: this.host.limits.maxFrameSize,
    };
  }

  /** Closing or closed: nothing more is handled. */
  get closing(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  get whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  // ============================================================================= input

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    if (this.state === 'closing' || this.state === 'closed') return;
    let payloads: Buffer[];
    try {
      payloads = this.reader.push(chunk);
    } catch (err) {
      this.protocolError(err);
      return;
    }
    for (const p of payloads) {
      let cmd: DataStructure | null;
      try {
        cmd = this.codec.decode(p);
      } catch (err) {
        this.protocolError(err);
        return;
      }
      if (cmd) this.received(cmd);
      if (this.closing) return;
    }
  }

  private received(cmd: DataStructure): void {
    if (this.state === 'handshake') {
      if (cmd.type !== DataType.WIREFORMAT_INFO) {
        this.protocolError(new OpenWireError(`expected WireFormatInfo first, got command type ${cmd.type}`));
        return;
      }
      this.handshake(cmd);
      return;
    }
    switch (cmd.type) {
      case DataType.KEEP_ALIVE_INFO:
        // The inactivity monitor's ping: answered in kind (ActiveMQ's InactivityMonitor), never queued.
        if (cmd.responseRequired) this.write({ type: DataType.KEEP_ALIVE_INFO, commandId: 0, responseRequired: false } satisfies KeepAliveInfo);
        return;
      case DataType.WIREFORMAT_INFO:
        return; // renegotiation is not supported; a repeated WireFormatInfo is ignored
      default:
        break;
    }
    this.queued++;
    if (this.queued >= this.host.options.maxQueuedCommands && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.chain = this.chain.then(() => this.run(cmd));
  }

  private handshake(info: WireFormatInfo): void {
    let n: NegotiatedWireFormat;
    try {
      n = negotiate(this.preferences(), readWireFormatInfo(info));
    } catch (err) {
      this.protocolError(err);
      return;
    }
    this.negotiated = n;
    this.codec.apply(n);
    this.reader.maxFrameSize = n.maxFrameSize;
    this.state = 'open';
    const proto = this.peer.transport === 'tls' || this.peer.transport === 'wss' ? 'ssl' : 'tcp';
    this.write({
      type: DataType.BROKER_INFO,
      commandId: 0,
      responseRequired: false,
      brokerId: { type: DataType.BROKER_ID, value: this.host.brokerId },
      brokerURL: `${proto}://localhost:${this.peer.localPort}`,
      peerBrokerInfos: null,
      brokerName: this.host.options.brokerName,
      slaveBroker: false,
      masterBroker: false,
      faultTolerantConfiguration: false,
      duplexConnection: false,
      networkConnection: false,
      connectionId: 0n,
      brokerUploadUrl: null,
      networkProperties: null,
    } satisfies BrokerInfo);
    this.startMonitor(n);
  }

  /** Send KeepAliveInfo when we have been quiet, close a peer silent for longer than the negotiated duration. */
  private startMonitor(n: NegotiatedWireFormat): void {
    const idle = this.host.limits.idleTimeout;
    const d = n.maxInactivityDuration > 0 ? (idle > 0 ? Math.min(idle, n.maxInactivityDuration) : n.maxInactivityDuration) : idle;
    if (d <= 0) return;
    const start = Date.now() + Math.max(0, n.maxInactivityDurationInitalDelay);
    const tick = Math.max(25, Math.floor(d / 4));
    this.timer(() => {
      const now = Date.now();
      if (n.maxInactivityDuration > 0 && now - this.lastWriteAt >= d / 3) this.write({ type: DataType.KEEP_ALIVE_INFO, commandId: 0, responseRequired: false } satisfies KeepAliveInfo);
      if (now > start && now - this.lastReadAt > d) this.abort(`no data received for ${d} ms (inactivity)`);
    }, tick, true);
  }

  private timer(fn: () => void, ms: number, repeat: boolean): void {
    const t = repeat ? setInterval(fn, ms) : setTimeout(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /**
   * One command, in wire order. Persistent sends are pipelined: each starts its engine call at once (commit
   * order is call order) and is answered when it resolves, so the persistent sends of one connection share
   * group commits. Any other command — a non-persistent send too, which the engine routes without a commit and
   * would otherwise overtake them — first waits for the sends before it.
   */
  private async run(cmd: DataStructure): Promise<void> {
    if (this.state !== 'open') {
      this.done();
      return;
    }
    const heldAck = cmd.type === DataType.MESSAGE_ACK && !cmd.responseRequired;
    if (!heldAck) this.host.acks.flush(); // a send joins the held acks' store batch; a close or commit sees them
    if (cmd.type >= DataType.ACTIVEMQ_MESSAGE && cmd.type <= DataType.ACTIVEMQ_BLOB_MESSAGE && (cmd as OwMessage).persistent) {
      while (this.inflight.size >= MAX_INFLIGHT_SENDS) await Promise.race(this.inflight);
      const p: Promise<void> = this.execute(cmd).finally(() => {
        this.inflight.delete(p);
        this.done();
      });
      this.inflight.add(p);
      return;
    }
    if (this.inflight.size > 0) await Promise.all(this.inflight);
    if (heldAck) {
      // An ack nobody waits for (AUTO_ACKNOWLEDGE, the usual case): the consumer's credit comes back at once and
      // the engine ack is held briefly (ack-batcher.ts). Waiting for its store commit would hold every later
      // command of this connection behind one fsync per ack; a commit of its own would make the next send wait
      // behind it. A crash before it lands redelivers the message (at-least-once) — as with ActiveMQ, whose KahaDB
      // does not sync acks without a response.
      void this.execute(cmd);
      this.done();
      return;
    }
    await this.execute(cmd);
    this.done();
  }

  /** Handle one command and answer it if it asks for an answer; never throws. */
  private async execute(cmd: DataStructure): Promise<void> {
    const rr = 'responseRequired' in cmd && cmd.responseRequired;
    try {
      const answer = await this.handlers.handle(cmd);
      if (rr && this.state === 'open') {
        if (answer) this.write(answer);
        else this.respond(cmd.commandId);
      }
    } catch (err) {
      if (rr) this.respondError(cmd.commandId, err);
      else this.log.debug({ err: (err as Error).message, type: cmd.type }, 'openwire: command failed (no response requested)');
    }
  }

  private done(): void {
    this.queued--;
    if (this.paused && this.queued < this.host.options.maxQueuedCommands / 2) {
      this.paused = false;
      this.stream.resume();
    }
  }

  // ============================================================================= output

  respond(correlationId: number): void {
    this.write({ type: DataType.RESPONSE, commandId: 0, responseRequired: false, correlationId } satisfies Response);
  }

  respondError(correlationId: number, err: unknown): void {
    this.log.debug({ err: (err as Error).message }, 'openwire: exception response');
    this.write({ type: DataType.EXCEPTION_RESPONSE, commandId: 0, responseRequired: false, correlationId, exception: toThrowable(err) } satisfies ExceptionResponse);
  }

  write(cmd: DataStructure): void {
    if (this.state === 'closed' || this.stream.destroyed || this.stream.writableEnded) return;
    let buf: Buffer;
    try {
      buf = this.codec.encode(cmd);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, type: cmd.type }, 'openwire: cannot encode a command');
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      setImmediate(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.lastWriteAt = Date.now();
    this.stream.write(buf);
  }

  // ============================================================================= closing

  /** Bad bytes: tell the client why (ConnectionError), then close. */
  private protocolError(err: unknown): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const message = err instanceof Error ? err.message : String(err);
    this.log.debug({ err: message, remote: this.peer.remoteAddress }, 'openwire: protocol error');
    if (this.state === 'open') {
      this.write({ type: DataType.CONNECTION_ERROR, commandId: 0, responseRequired: false, exception: { className: 'java.io.IOException', message, stackTrace: [], cause: null }, connectionId: null });
    }
    this.close(message);
  }

  private abort(reason: string): void {
    this.log.debug({ reason, remote: this.peer.remoteAddress }, 'openwire: closing connection');
    this.close(reason);
  }

  /** Release everything, end our side, destroy the socket if the peer does not close within the grace period. */
  close(reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.log.debug({ reason }, 'openwire: close');
    this.teardown();
    this.stream.end();
    const t = setTimeout(() => this.stream.destroy(), this.host.options.closeGrace);
    t.unref();
    this.timers.push(t);
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.stream.pause();
    this.handlers.teardown();
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    this.teardown();
    this.state = 'closed';
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.host.closed(this);
    this.resolveClosed();
  }

  /** Broker shutdown: close the transport (the client sees its connection fail, as with an ActiveMQ broker stop). */
  async shutdown(): Promise<void> {
    this.close('broker shutdown');
    await this.closedPromise;
  }
}
