/**
 * What the per-frame handlers (handlers/*.ts) and the delivery/destination helpers see of one STOMP
 * connection, and the bookkeeping types they share. StompConnection (connection.ts) implements
 * StompContext; the handlers import this module, never connection.ts, so there is no import cycle.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Address, ConnectionHandle, ConsumerHandle, EngineApi, SendBatch, TransactionHandle } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import type { PreparedMessage, StompDecoder } from './codec.js';
import { header, type StompFrame, type StompVersion } from './frame.js';
import type { SendContext } from './mapping.js';
import type { StompOptions } from './options.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/** One SUBSCRIBE: its engine consumer and what it delivered that the client has not acknowledged yet. */
export interface Sub {
  id: string;
  destination: string;
  ackMode: AckMode;
  prefetch: number;
  consumer: ConsumerHandle | null;
  /** Delivered and not yet acknowledged (client modes), in delivery order. */
  unacked: Map<number, Pending>;
  /** message-id → delivery id, for 1.0/1.1 ACKs (empty on a 1.2 connection). */
  byMessageId: Map<string, number>;
  closed: boolean;
  /** `subscription:<id, escaped>\nmessage-id:`, how each of its MESSAGE frames starts (made at the first). */
  lead?: string;
}

export interface Pending {
  id: number;
  sub: Sub;
  messageId: string;
}

/** One BEGIN … COMMIT/ABORT. */
export interface Tx {
  tx: TransactionHandle;
  messages: number;
  bytes: number;
  /**
   * ACKs and NACKs sent in the transaction, each with the deliveries it covers: settled at COMMIT. Until then
   * they stay delivered and unacknowledged, and ABORT leaves them so (as RabbitMQ and ActiveMQ do): the client
   * may ACK or NACK them again, by the same ids.
   */
  settles: Array<{ target: Pending; cumulative: boolean; positive: boolean }>;
}

export type State = 'new' | 'connecting' | 'connected' | 'disconnecting' | 'closing' | 'closed';

/** Reasons reading is paused; reading resumes when none is left. */
export const HOLD_BARRIER = 1;
export const HOLD_BACKPRESSURE = 2;
export const HOLD_SENDS = 4;
export const HOLD_CLOSING = 8;

/** A problem with a frame: `message` goes into the ERROR frame's header, `detail` into its body. */
export class FrameError extends Error {
  constructor(message: string, readonly detail: string = message) {
    super(message);
    this.name = 'FrameError';
  }
}

/** The connection state and services a frame handler uses. */
export interface StompContext {
  version: StompVersion;
  state: State;
  conn: ConnectionHandle | null;
  readonly engine: EngineApi;
  readonly opts: StompOptions;
  readonly log: Logger;
  readonly host: { readonly limits: ConnectionLimits; readonly serverName: string };
  readonly stream: Duplex;
  readonly peer: PeerInfo;
  readonly decoder: StompDecoder;
  readonly sendCtx: SendContext;
  /** Non-transactional SENDs of the current socket read, started as one engine sendMany (connection.flushSends). */
  readonly sends: SendBatch<ConnectionHandle>;

  readonly subs: Map<string, Sub>;
  /** Unacknowledged deliveries by delivery id (the 1.2 `ack` header). */
  readonly pending: Map<number, Pending>;
  readonly txs: Map<string, Tx>;
  /** `queue:<local name>` → the engine's temporary address. */
  readonly temps: Map<string, Address>;
  /** `queue:<engine name>` → `/temp-queue/<local name>` (rendering for the owner). */
  readonly tempLocal: Map<string, string>;
  /** Auto-ack subscriptions whose credit is topped up at the next flush. */
  readonly creditDue: Set<Sub>;

  holds: number;
  backedUp: boolean;
  outClosed: boolean;
  tornDown: boolean;
  pendingSends: number;
  pendingBytes: number;
  /** Engine calls in flight (sends, acks, barriers): DISCONNECT and shutdown wait for them. */
  ops: number;
  /** The commit promise the last waited-for ACK got (handlers/ack.ts: later ACKs sharing it wait no more). */
  lastAckWait: Promise<unknown> | null;
  lastReadAt: number;
  lastWriteAt: number;
  connectTimer: NodeJS.Timeout | null;
  hbOutTimer: NodeJS.Timeout | null;
  hbInTimer: NodeJS.Timeout | null;

  hold(bit: number): void;
  release(bit: number): void;
  opDone(): void;
  whenIdle(): Promise<void>;
  receipt(id: string): void;
  writeFrame(command: string, headers: Array<[string, string]>, body?: Buffer): void;
  write(buf: Buffer): void;
  /** A MESSAGE: `lines` are the delivery's own header lines, escaped, each ending in `\n` (PreparedMessage.writeInto). */
  writeMessage(pm: PreparedMessage, lines: string): void;
  /** Map an error to an ERROR frame and close. */
  fail(err: unknown, f?: StompFrame): void;
  errorClose(message: string, detail: string, receiptId?: string, extra?: Array<[string, string]>): void;
  endOutput(): void;
}

export function required(f: StompFrame, name: string): string {
  const v = header(f, name);
  if (v === undefined || v === '') throw missing(f.command, name);
  return v;
}

export function missing(command: string, name: string): FrameError {
  return new FrameError(`Missing header '${name}'`, `The ${command} frame needs the '${name}' header.`);
}

export function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
