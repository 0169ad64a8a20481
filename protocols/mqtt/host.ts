/**
 * What a connection and the `$SYS` publisher need of the MQTT adapter (adapter.ts implements it). They depend on
 * this interface, never on the adapter, so the adapter can create them without an import cycle.
 */
import type { Logger } from 'pino';
import type { ConnectionHandle, EngineApi, Message, SubscriptionLimits } from '../../src/core/api.js';
import type { MqttConfig } from './options.js';
import type { SessionState, SubRecord, WillRecord } from './session.js';

/** A connection as the `$SYS` publisher sees it: somewhere to write a message that no engine queue delivers. */
export interface DirectReceiver {
  sendDirect(sub: SubRecord, m: Message, topic: string): void;
}

/** The `$SYS/broker/...` publisher (sys.ts) as a connection sees it. */
export interface SysFeed {
  subscribe(c: DirectReceiver, rec: SubRecord, sendNow: boolean): void;
  unsubscribe(c: DirectReceiver, filter: string): void;
  remove(c: DirectReceiver): void;
}

export interface MqttStats {
  connects: number;
  messagesIn: number;
  /** PUBLISHes refused by authorization (3.1.1 and QoS 0: dropped silently; v5 QoS>0: PUBACK 0x87). */
  publishesDenied: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface MqttHost {
  readonly engine: EngineApi;
  readonly logger: Logger;
  readonly cfg: MqttConfig;
  /** The largest packet accepted from a client (mqtt.maxPacketSize, else the listener's frame limit). */
  readonly maxPacketSize: number;
  /** MQTT sessions by client id, connected or not. */
  readonly sessions: Map<string, SessionState>;
  readonly stats: MqttStats;
  readonly startedAt: number;
  readonly connectionCount: number;
  readonly sys: SysFeed;
  /** The bound of a subscription queue where no destination policy sets a limit. */
  readonly subscriptionLimits: SubscriptionLimits | undefined;

  /** Date.now(), also remembered by the adapter. */
  now(): number;
  newClientId(): string;
  /** Serialize CONNECT handling per client id. */
  withClientLock(cid: string, fn: () => Promise<void>): Promise<void>;

  /** MQTT topic of a delivered message (cached). */
  topicOf(m: Message): string;
  /** Core name of an MQTT topic name (cached). */
  coreTopic(t: string): string;
  /** UTF-8 bytes of a topic name (cached). */
  topicBytes(t: string): Buffer;

  saveSession(s: SessionState): Promise<void>;
  /** The session's connection went away. */
  sessionDisconnected(s: SessionState): void;
  clearExpiry(s: SessionState): void;
  endSession(s: SessionState): Promise<void>;
  /** A session no longer holds a subscription: remove the engine subscription behind it when nothing else needs it. */
  dropDurable(s: SessionState, rec: SubRecord): Promise<void>;

  /** Whether the connection's user may publish its will (a denial is audited). */
  willAllowed(w: WillRecord, conn: ConnectionHandle): boolean;
  scheduleWill(cid: string, w: WillRecord, delaySec: number): void;
  cancelWill(cid: string): void;
  dropWill(cid: string): void;
}
