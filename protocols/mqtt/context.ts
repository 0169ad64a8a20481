/**
 * What a packet handler (handlers/) and the outbound delivery (outbound.ts) see of their connection: the
 * per-connection state and the few operations on it. MqttConnection (connection.ts) implements it; the handlers
 * depend on this interface, never on the connection, so the connection can dispatch to them without an import cycle.
 *
 * Spec clause ids in comments (`[MQTT-3.1.2-4]`) are MQTT 5.0's; an id numbered after 3.1.1 says so.
 */
import type { Duplex } from 'node:stream';
import type * as mqttPacket from 'mqtt-packet';
import type { ConnectionHandle, ConsumerHandle, Delivery, KillCause } from '../../src/core/api.js';
import type { PeerInfo } from '../../src/transport/types.js';
import type { Version } from './codec.js';
import type { DirectReceiver, MqttHost } from './host.js';
import type { SessionState, SubRecord, WillRecord } from './session.js';
import type { ParsedFilter } from './topics.js';

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'closed';

/** One subscription of the connection and the engine consumer delivering it. */
export interface SubEntry {
  sub: SubRecord;
  parsed: ParsedFilter;
  consumer: ConsumerHandle | null;
  /** Filter starts with a wildcard: topics starting with `$` are not delivered to it. */
  wildFirst: boolean;
  /**
   * Date.now() once its engine subscription existed (0: a durable one older than this connection; Infinity: not yet):
   * a message created later is in its queue too, which lets an overlapping 3.1.1 subscription leave it to this one.
   */
  readyAt: number;
}

/** An outbound QoS 1 / 2 PUBLISH in flight. */
export interface OutEntry {
  pid: number;
  qos: number;
  state: 'publish' | 'pubrel';
  d: Delivery | null;
  key?: string;
}

/** The acknowledgement of one inbound QoS ≥ 1 PUBLISH, written once it and every one before it are ready. */
export interface AckSlot {
  buf: Buffer | null;
}

/** Inbound PUBLISH flow (handlers/publish.ts). */
export interface InboundState {
  /** Topic aliases set by the client (v5). */
  readonly aliases: Map<number, string>;
  /** QoS ≥ 1 PUBLISHes not yet completely acknowledged (bounded by our Receive Maximum). */
  pending: number;
  /** QoS 0 engine sends not yet resolved. */
  pendingSends: number;
  /** Input paused by flow control. */
  paused: boolean;
  readonly ackSlots: AckSlot[];
  ackHead: number;
  /** Called when the engine send of a QoS 0 PUBLISH settled (one function for all of them). */
  readonly sendDone: () => void;
}

/** A write in the outbound hold queue: run in order once it and every slot before it are ready. */
export interface HoldSlot {
  ready: boolean;
  run: () => void;
}

/** Outbound delivery (outbound.ts). */
export interface OutboundState {
  /**
   * Delivery writes queued behind a QoS 2 PUBLISH whose packet id is still being stored, or behind the SUBACK of a
   * SUBSCRIBE being handled: written in order once the slots before them are ready (empty in the common case).
   */
  hold: HoldSlot[];
  /** QoS 1 / 2 PUBLISHes in flight by packet id. */
  readonly inflight: Map<number, OutEntry>;
  /** Deliveries waiting for room in the in-flight window, in order. */
  waiting: Array<{ entry: SubEntry; d: Delivery }>;
  /** Engine acks of QoS 0 deliveries held back while the socket is congested. */
  heldAcks: Delivery[];
  nextPid: number;
  /** The in-flight window: min(mqtt.maxInflight, the client's Receive Maximum). */
  maxOut: number;
  /** The client's Maximum Packet Size (v5). */
  clientMaxPacket: number;
  /** The client's Topic Alias Maximum (v5). */
  clientAliasMax: number;
  /** Topic aliases we set, by topic. */
  readonly aliases: Map<string, number>;
}

export interface CloseOptions {
  normal: boolean;
  reason: string;
  /** The CONNECT was refused: no session or will to take care of. */
  noSession?: boolean;
  /** Broker shutdown: sessions and wills stay stored. */
  shutdown?: boolean;
}

export interface ConnectionContext extends DirectReceiver {
  readonly host: MqttHost;
  readonly stream: Duplex;
  readonly peer: PeerInfo;
  state: ConnectionState;
  version: Version;
  clientId: string;
  /** The engine's connection, once CONNECT got that far. */
  engineConnection: ConnectionHandle | null;
  /** The MQTT session, once connected. */
  session: SessionState | null;
  keepAliveMs: number;
  /** Session Expiry Interval of the CONNECT (DISCONNECT may not raise it from 0). */
  connectExpiry: number;
  /** The will of this connection, once connected. */
  will: WillRecord | undefined;
  /** Packets received while the CONNECT is being handled. */
  queued: mqttPacket.Packet[];
  /**
   * A malformed packet pipelined behind the CONNECT (reason code, message): the connection ends once the CONNACK
   * and the packets before it are out, so a v5 client reads the DISCONNECT's reason rather than a bare close.
   */
  deferredClose: [number, string] | null;
  /** Unsent output above the high-water mark: QoS 0 flow is held back until the socket drains. */
  readonly congested: boolean;
  /** Subscriptions of this connection by filter as sent. */
  readonly subEntries: Map<string, SubEntry>;
  readonly inbound: InboundState;
  readonly outbound: OutboundState;

  /** The current state (a call, so TypeScript does not narrow it across awaits and callbacks). */
  currentState(): ConnectionState;
  /** Handle one packet (the state machine's entry point; CONNECT replays the packets queued meanwhile). */
  dispatch(p: mqttPacket.Packet): void;
  /** Run SUBSCRIBE / UNSUBSCRIBE / subscription restoring one after the other. */
  chain(fn: () => Promise<void>): void;
  write(buf: Buffer): void;
  protocolClose(rc: number, message: string): void;
  /** The engine wants this connection gone (session takeover, admin). */
  kill(reason: string, cause?: KillCause): void;
  close(o: CloseOptions): void;
}
