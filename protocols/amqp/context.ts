/**
 * What the per-concern modules (sasl, open, sessions, links, sender-*, receiver-*, transactions) see of
 * one AMQP connection, and the link/transaction bookkeeping they share. AmqpConnection (connection.ts)
 * implements AmqpContext; those modules import this one, never connection.ts, so there is no import cycle.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type Address, BrokerError, type BrokerErrorCode, type ConnectionHandle, type ConsumerHandle, type Credentials, type DestinationKind, type EngineApi, type KillCause, type Message, type SendBatch, type TransactionHandle } from '../../src/core/api.js';
import type { ConnectionLimits, PeerInfo } from '../../src/transport/types.js';
import { DecodeError } from './codec.js';
import type { FrameGuard } from './guard.js';
import type { MappingOptions } from './mapping.js';
import type { AmqpOptions } from './options.js';
import type { AmqpError, RConnection, RLink, RTerminus } from './rhea.js';

/** Engine error codes as AMQP error conditions (AMQP 1.0 §2.8.15–§2.8.17, §4.5.8 for transactions). */
const CONDITION: Record<BrokerErrorCode, string> = {
  limit: 'amqp:resource-limit-exceeded',
  'not-found': 'amqp:not-found',
  unauthorized: 'amqp:unauthorized-access',
  unauthenticated: 'amqp:unauthorized-access',
  invalid: 'amqp:invalid-field',
  'client-id-in-use': 'amqp:invalid-field',
  closed: 'amqp:connection:forced',
  transaction: 'amqp:transaction:unknown-id',
  unavailable: 'amqp:resource-limit-exceeded',
};

/** Any error as the AMQP error (condition + description) a close, detach or rejected outcome carries. */
export function amqpError(err: unknown): AmqpError {
  if (err instanceof BrokerError) return { condition: CONDITION[err.code], description: err.message };
  if (err instanceof DecodeError) return { condition: 'amqp:decode-error', description: err.message };
  return { condition: 'amqp:internal-error', description: err instanceof Error ? err.message : String(err) };
}

/** A session whose rhea delivery buffer has fewer free slots than this gets no new deliveries. */
export const SESSION_MARGIN = 64;

/** Reasons reading is paused; reading resumes when none is left. */
export const HOLD_GUARD = 1;
export const HOLD_BACKPRESSURE = 2;
export const HOLD_PENDING = 4;

export type LinkState = 'attaching' | 'open' | 'closed';

/** A link the client receives on (our sender, AMQP 1.0 §2.6): an engine consumer, or a browser. */
export interface OutLink {
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
  /** Our attach went to rhea (the link opens for deliveries once it is written). */
  attachSent?: boolean;
  durable?: { clientId: string; name: string; shared?: string };
  tempToDelete?: Address;
}

/** A link the client sends on (our receiver), or a transaction coordinator (§4.2). */
export interface InLink {
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

export type Link = OutLink | InLink;

/** A declared transaction (§4.3). */
export interface Tx {
  id: Buffer;
  tx: TransactionHandle;
  /** Transactional sends still on their way into the transaction. */
  ops: Set<Promise<unknown>>;
  coordinator: InLink;
}

/** What we hang on a delivery we sent, to settle its engine delivery when the disposition comes. */
export interface OutDeliveryTag {
  id: number;
  consumer: ConsumerHandle;
  done: boolean;
  /** What was delivered (a modified outcome's message-annotations are merged into its own). */
  message: Message;
}

export type State = 'new' | 'connecting' | 'open' | 'closing' | 'closed';


/** The connection state and services the protocol modules use. */
export interface AmqpContext {
  state: State;
  conn: ConnectionHandle | null;
  readonly engine: EngineApi;
  readonly opts: AmqpOptions;
  readonly log: Logger;
  readonly host: { readonly limits: ConnectionLimits; readonly defaultKind: DestinationKind; readonly product: string; readonly version: string };
  readonly stream: Duplex;
  readonly peer: PeerInfo;
  readonly guard: FrameGuard;
  readonly rconn: RConnection;
  readonly mapOpts: MappingOptions;
  /** Non-transactional transfers of the current socket read, started as one engine sendMany (see connection.ts). */
  readonly sends: SendBatch<ConnectionHandle>;
  /** What SASL authenticated (the engine connect uses them). */
  credentials: Omit<Credentials, 'protocol'>;
  /** Sends our (held) open once; set while the engine connect is under way. */
  openNow: ((failed: boolean) => void) | null;
  /** The client's container-id (durable subscription names are scoped by it). */
  containerId: string;

  readonly links: Map<RLink, Link>;
  /** Decoded values the open sessions' begin and links' attach frames hold (budget.ts). */
  retainedValues: number;
  /** Open transactions by txn-id (hex). */
  readonly txns: Map<string, Tx>;
  nextTxnId: number;

  backedUp: boolean;
  closeSent: boolean;
  tornDown: boolean;
  pendingBytes: number;
  /** Delivery payload handed to rhea since the last flush (not in the socket yet). */
  turnBytes: number;
  creditRefreshScheduled: boolean;
  connectTimer: NodeJS.Timeout | null;

  /** A disposition from the client updated one of our deliveries: settle its engine delivery. */
  readonly onDeliveryOutcome: (delivery: unknown, outcome: string) => void;
  /** Bytes for the socket, in order with what rhea writes (coalesced into one write per turn). */
  writeOut(b: Buffer): void;
  /** rhea writes frames now (its socket is attached and ready); until then they wait in rhea. */
  rheaWritable(): boolean;
  /** Send close with an error (after our open) or just end the socket. */
  closeConnection(err: AmqpError): void;
  /** The engine (admin, client-id takeover) closes this connection. */
  kill(reason: string, cause?: KillCause): void;
  /** Output is above the high-water mark: stop deliveries and reading until 'drain'. */
  backpressure(): void;
  hold(bit: number): void;
  release(bit: number): void;
}

/** A source/target/coordinator, or null (rhea leaves an absent terminus as a typed null). */
export function terminus(t: unknown): RTerminus | null {
  return t && typeof t === 'object' && 'terminus_type' in t ? (t as RTerminus) : null;
}

/** AMQP 1.0 §2.8.2/§2.8.3: settle modes are 0..2 (snd) and 0..1 (rcv); anything else is read as mixed. */
export function clampSettleMode(m: unknown): number {
  return m === 0 || m === 1 || m === 2 ? m : 2;
}

/** A symbol or array of symbols (rhea gives either) as strings. */
export function symbols(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}
