/**
 * MQTT session state. Everything that must outlive a connection is in the engine:
 * - `mqtt:session:<clientId>` (kv): expiry interval and the subscriptions with their MQTT options; each
 *   subscription of a persistent session is an engine durable subscription (`durable:<clientId>:<filter>`),
 *   whose queue holds the QoS ≥ 1 messages published while the client is away, in order, across restarts;
 *   a shared one (`$share/g/f`) is the engine shared durable subscription `mqtt:<g>:<f>`, which every member of
 *   the group consumes from, clean or persistent, so the group gets one copy of each message (MQTT 5 §4.8.2);
 * - `mqtt:in2:<clientId>:<packetId>` (kv): inbound QoS 2 publishes that got PUBREC and wait for PUBREL,
 *   committed in the same store commit as the message itself;
 * - `mqtt:out2:<clientId>:<packetId>` (kv): outbound QoS 2 PUBLISHes not yet PUBREC'd, value `<queue>|<messageId>`,
 *   stored before the PUBLISH is written, so a resend after a broker restart keeps the packet id (MQTT 4.4);
 * - `mqtt:pubrel:<clientId>:<packetId>` (kv): outbound QoS 2 messages the client acknowledged with PUBREC,
 *   waiting for PUBCOMP;
 * - `mqtt:will:<clientId>` (kv): the will of the current connection, so a broker crash still publishes it.
 * Non-persistent sessions (clean session / session expiry 0) keep the same structures in memory only.
 */
import type { UserProperties } from './codec.js';

export interface SubRecord {
  /** The filter as the client sent it (including `$share/<group>/`). */
  filter: string;
  qos: number;
  /** v5 options. */
  nl: boolean;
  rap: boolean;
  rh: number;
  subId?: number;
  /** Backed by an engine durable subscription. */
  durable: boolean;
}

export interface StoredSession {
  v: 1;
  /** Session expiry interval, seconds (0xFFFFFFFF = never). */
  expiry: number;
  subs: SubRecord[];
}

export interface WillRecord {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** v5 will properties (message properties + will delay). */
  properties?: {
    willDelayInterval?: number;
    payloadFormatIndicator?: boolean;
    messageExpiryInterval?: number;
    contentType?: string;
    responseTopic?: string;
    correlationData?: Buffer;
    /** mqtt-packet's record, or the pairs in wire order when the record would change it (codec.ts). */
    userProperties?: UserProperties;
  };
  /** Session expiry interval of the connection that set it (the will is sent at the latest when the session ends). */
  sessionExpiry: number;
}

export const NEVER = 0xffffffff;

export const kvKeys = {
  session: (cid: string) => `mqtt:session:${cid}`,
  in2Prefix: (cid: string) => `mqtt:in2:${cid}:`,
  in2: (cid: string, pid: number) => `mqtt:in2:${cid}:${pid}`,
  pubrelPrefix: (cid: string) => `mqtt:pubrel:${cid}:`,
  pubrel: (cid: string, pid: number) => `mqtt:pubrel:${cid}:${pid}`,
  out2Prefix: (cid: string) => `mqtt:out2:${cid}:`,
  out2: (cid: string, pid: number) => `mqtt:out2:${cid}:${pid}`,
  will: (cid: string) => `mqtt:will:${cid}`,
};

/** The connection using a session (connection.ts): a CONNECT for the same client id takes the session over. */
export interface SessionOwner {
  close(o: { normal: boolean; reason: string }): void;
}

export class SessionState {
  /** Subscriptions by filter as sent. */
  readonly subs = new Map<string, SubRecord>();
  /** Inbound QoS 2 packet ids that got PUBREC (waiting for PUBREL). */
  readonly in2 = new Set<number>();
  /** Outbound QoS 2 packet ids the client PUBREC'd (waiting for PUBCOMP). */
  readonly pubrel = new Set<number>();
  /** Packet id given to a message still unacknowledged (`queue|messageId`), so a resend after reconnect reuses it. */
  readonly pidByMsg = new Map<string, number>();
  /**
   * Outbound QoS 2 packet ids stored in kv (`mqtt:out2:`) → `queue|messageId`. Reserved: a new message must not
   * take an id that a stored message will be resent with.
   */
  readonly out2 = new Map<number, { key: string; queue: string }>();
  /** The connection using the session now. */
  owner: SessionOwner | null = null;
  expiryTimer: NodeJS.Timeout | null = null;
  /** Persisted record exists. */
  stored = false;

  constructor(
    readonly clientId: string,
    /** Session expiry interval, seconds; 0 = ends with the connection. */
    public expiry: number,
  ) {}

  get persistent(): boolean {
    return this.expiry > 0;
  }

  toStored(): StoredSession {
    return { v: 1, expiry: this.expiry, subs: [...this.subs.values()] };
  }
}
