/**
 * The engine's public API: the one core module that protocols/, the admin module and the CLI import.
 *
 * It names what an adapter may hold (messages, addresses, handles to its connections, consumers,
 * deliveries and transactions) and what it may ask (`EngineApi`). Queues, send plans and the store are
 * not reachable from here: every change an adapter makes goes through an operation that authorizes it,
 * records it as a store command and applies it once committed, so the engine's state stays a function of
 * its committed commands (what replication relies on). The dependency rules (`.dependency-cruiser.cjs`)
 * keep adapters on this module.
 */
import type { Address } from './address.js';
import type { Message } from './message.js';
import type { DestinationPolicy } from './policy.js';
import type { Action, Credentials, Principal } from './security.js';

export type { Address, DestinationKind } from './address.js';
export { formatAddress, isWildcard, matchTopic, parseAddress, queue, topic } from './address.js';
export type { BodyType, Message, MessageInit, PropertyValue } from './message.js';
export { clampPriority, copyMessage, createMessage, DEFAULT_PRIORITY, messageSize, newMessageId } from './message.js';
export { BrokerError, type BrokerErrorCode } from './errors.js';
export type { DestinationPolicy, LimitPolicy, PolicyRule } from './policy.js';
export { DEFAULT_POLICY } from './policy.js';
export type { AccessKey, AclRule, Action, CertificateLogin, StoredAclRule, ClientCertificate, ConsoleRole, Credentials, Principal, SecurityConfig, SecurityHooks, SecurityMode, StoredUser, UserRecord } from './security.js';
export { ACL_KV_PREFIX, allowAll, ANONYMOUS, SECURITY_KV_PREFIX, USER_KV_PREFIX } from './security.js';
export { hashPassword, isLoopback, PASSWORD_HASH_PATTERN, verifyPassword } from './passwords.js';
export { durableSubscriptionId, sharedSubscriptionId } from './subscription-ids.js';
export { SendBatch, type SendDone } from './send-batch.js';
export { CONVERT_STRING_EXPRESSIONS } from './selector.js';

export type QueueRole = 'queue' | 'durable-subscription' | 'shared-subscription' | 'subscription' | 'temporary';

/** The queue a delivery came from, or a consumer reads: a queue, or the queue behind a topic subscription. */
export interface QueueView {
  /** The queue's name, or the subscription's engine id (`durableSubscriptionId`, `sharedSubscriptionId`). */
  readonly name: string;
  readonly role: QueueRole;
  /** The queue's own address, or the topic (pattern) of a subscription. */
  readonly address: Address;
}

export interface NackOptions {
  /** Count this as a failed delivery attempt (nack/modified/rollback); false for AMQP `released`. */
  countFailure?: boolean;
  /** Send straight to the DLQ (reject). */
  deadLetter?: boolean;
  /** Delay before it is available again, ms (overrides the redelivery policy), e.g. SQS visibility. */
  delay?: number;
  reason?: string;
  /** Do not redeliver to the same consumer (AMQP modified undeliverable-here). */
  notHere?: boolean;
  /** false: do not flag the message redelivered (AMQP released: the client never processed it). Default true. */
  redelivered?: boolean;
  /**
   * With `redelivered: false`: the client did acquire it (AMQP released / modified), so a later delivery is not
   * its first acquisition (AMQP first-acquirer false), though still not flagged redelivered.
   */
  acquired?: boolean;
  /**
   * Annotations set on the message before it is offered again (merged over its own, key by key): what a consumer
   * changed in the message as it gave it back (AMQP `modified` message-annotations). Kept in memory: the stored
   * copy keeps the original annotations, so a restart delivers those (its delivery count is stored).
   */
  annotations?: Record<string, unknown>;
}

export type KillCause = 'unauthorized';

export interface ConnectionInfo {
  protocol: string;
  clientId?: string;
  remoteAddress?: string;
  /** When another connection claims this one's clientId (MQTT session takeover), it is closed via onKill. */
  takeover?: boolean;
  /**
   * Called when the broker wants this connection gone (takeover, admin close). The adapter closes its socket.
   * `cause: 'unauthorized'`: the user's rights were revoked (user removed, groups changed): the adapter closes
   * with its "not authorized" error (MQTT 5 DISCONNECT 0x87, AMQP close `amqp:unauthorized-access`, STOMP ERROR).
   */
  onKill?: (reason: string, cause?: KillCause) => void;
  /** Where the socket is (shown by the admin console): ports, transport, the AMQP container id. */
  endpoint?: ConnectionEndpoint;
}

/** A connection's socket as the admin console shows it. */
export interface ConnectionEndpoint {
  transport?: string;
  remotePort?: number;
  localPort?: number;
  /** AMQP container id (also when it is not used as the client id). */
  containerId?: string;
  /** MQTT/STOMP protocol version, AMQP 1.0, … */
  version?: string;
}

/** A client connection as the engine sees it. */
export interface ConnectionHandle {
  readonly id: string;
  readonly protocol: string;
  readonly clientId?: string;
  readonly remoteAddress?: string;
  readonly principal: Principal;
  readonly createdAt: number;
  readonly consumers: ReadonlySet<ConsumerHandle>;
  /** Temporary destinations owned by this connection: `queue:name` / `topic:name`. */
  readonly temporaries: ReadonlySet<string>;
  readonly producers: number;
  readonly closed: boolean;
  readonly endpoint?: ConnectionEndpoint;
  readonly stats: { readonly messagesIn: number; readonly messagesOut: number; readonly bytesIn: number; readonly bytesOut: number };
}

/** A consumer attached by `subscribe`: settlement and flow control. */
export interface ConsumerHandle {
  readonly id: number;
  readonly queue: QueueView;
  readonly connection: ConnectionHandle | null;
  /** Deliveries it may still receive (explicit credit), or prefetch room. */
  readonly credit: number;
  readonly prefetchMode: boolean;
  readonly prefetch: number;
  readonly exclusive: boolean;
  readonly autoAck: boolean;
  readonly closed: boolean;
  readonly delivered: number;
  readonly unsettledIds: number[];
  ack(deliveryId: number): Promise<void>;
  /** Acknowledge every unsettled delivery up to and including `deliveryId` (cumulative ack). */
  ackUpTo(deliveryId: number): Promise<void>;
  nack(deliveryId: number, opts?: NackOptions): void;
  extendLease(deliveryId: number, ms: number): void;
  /**
   * A `readAhead` consumer gave these deliveries to its client: record durably (asynchronously, not awaited) that they may
   * have been delivered, so after a crash they come back flagged redelivered. No-op for ids it no longer owns.
   */
  handedOut(deliveryIds: readonly number[]): void;
  /** Is this delivery still unsettled on this consumer (not acked, not returned to its queue)? */
  owns(deliveryId: number): boolean;
  addCredit(n: number): void;
  setCredit(n: number): void;
  /** Give up the remaining credit; returns how much there was. */
  drain(): number;
  close(opts?: { countFailures?: boolean; reason?: string; notify?: boolean; cause?: KillCause }): void;
}

export interface Delivery {
  /** Engine-unique delivery id (the delivery tag / receipt the adapter hands out). */
  readonly id: number;
  readonly message: Message;
  /** The message's place in its queue (what findMessage / removeMessage take), also once this delivery is over. */
  readonly seq: number;
  /** Prior failed delivery attempts (AMQP delivery-count; JMSXDeliveryCount = deliveryCount + 1). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** A consumer acquired it before and gave it back unflagged (NackOptions.acquired): AMQP first-acquirer false. */
  readonly acquiredBefore?: boolean;
  readonly queue: QueueView;
  readonly consumer: ConsumerHandle;
}

/** A local transaction: sends buffered and acks taken off the books until one atomic commit. */
export interface TransactionHandle {
  readonly id: number;
  readonly state: 'active' | 'prepared' | 'committed' | 'rolled-back';
  readonly pendingSends: number;
  readonly pendingAcks: number;
  ack(consumer: ConsumerHandle, deliveryId: number): void;
  /**
   * Two-phase commit, phase one (XA prepare): durable under `key` (unique among prepared transactions; namespace it
   * by protocol), its acked messages held from every consumer until it ends. It then outlives its connection and a
   * restart: end it with commit() or rollback() here or on `EngineApi.preparedTransaction(key)`.
   */
  prepare(key: string): Promise<void>;
  commit(): Promise<void>;
  /** Resolves at once unless prepared (then once the prepared record is durably gone). */
  rollback(): Promise<void>;
}

/** One durable key/value change; `value` undefined deletes the key. */
export interface KvChange {
  key: string;
  value?: unknown;
}

export interface SendOptions {
  connection?: ConnectionHandle | null;
  /** While a resource alarm is raised: wait for it to clear (default), or fail at once with `unavailable` (SQS). */
  onAlarm?: 'wait' | 'fail';
  transaction?: TransactionHandle | null;
  /** Topic only: keep as the topic's retained message (an empty body clears it). */
  retain?: boolean;
  /** Adapter state committed atomically with the send (e.g. MQTT QoS 2 PUBREC state). */
  kv?: KvChange[];
}

/** One message of `sendMany`; its `kv` changes commit only if the message itself is admitted. */
export interface SendItem {
  message: Message;
  address: Address;
  kv?: KvChange[];
}

/** Limits a subscription queue gets when no destination policy sets one (kept with the subscription). */
export interface SubscriptionLimits {
  maxMessages: number;
  limitPolicy: 'block' | 'reject' | 'drop-oldest';
}

export interface SubscribeOptions {
  address: Address;
  connection?: ConnectionHandle | null;
  /** Max unsettled deliveries (credit replenished on settle). Omit or 0 for explicit credit. */
  prefetch?: number;
  /** Initial explicit credit when prefetch is not used. */
  credit?: number;
  /** JMS selector; after the prefix `convert_string_expressions:` strings compare with numbers and booleans as ActiveMQ's STOMP does. */
  selector?: string;
  exclusive?: boolean;
  /** Queue: higher first — each message goes to the highest-priority consumers with room (ActiveMQ consumer.priority). */
  priority?: number;
  /** At-most-once: messages are removed as they are delivered. */
  autoAck?: boolean;
  noLocal?: boolean;
  /** Topic: a durable subscription `name` owned by `clientId` (defaults to the connection's clientId). */
  durable?: { name: string; clientId?: string };
  /** Topic: a shared subscription (one copy per group, spread over its members). With `durable`, a shared durable one. */
  shared?: string;
  /** Topic: deliver matching retained messages first. */
  retained?: boolean;
  /** Topic: bound the subscription's queue when no destination policy does (MQTT maxQueuedMessages). */
  limits?: SubscriptionLimits;
  ackTimeout?: number;
  /**
   * The adapter fetches ahead on its own behalf (SQS's read-ahead for receives to come): a dispatch is not recorded as
   * "may have been delivered", so a crash does not flag, and count as received, messages no client ever got. The adapter
   * records that with `handedOut` once it gives deliveries to a client.
   */
  readAhead?: boolean;
  /**
   * A lease `extendLease` gives a delivery of a persistent entry is also written as the entry's stored delivery time
   * (with the delivery's nacks with a delay), so a restart holds the message back until the lease would have ended —
   * SQS's visibility timeout, which is not tied to a connection. Best effort: the write is not awaited; losing it makes
   * the message available at once after a restart. Settling it back early writes it available again. Other
   * protocols' ack timeouts belong to a connection that a restart ends: they leave this off and write nothing.
   */
  durableLeases?: boolean;
  onMessage: (d: Delivery) => void;
  /**
   * The engine closed the consumer (its queue or subscription was deleted, or `cause: 'unauthorized'`: its user may
   * no longer read the destination after an ACL, user or group change). The adapter ends it with its protocol's
   * error (AMQP detach `amqp:unauthorized-access`, STOMP ERROR naming the destination, MQTT 5 DISCONNECT 0x87, …).
   */
  onClose?: (reason: string, cause?: KillCause) => void;
  onLeaseExpired?: (d: Delivery) => void;
}

export interface SubscriptionInfo {
  clientId?: string;
  subscriptionName?: string;
  selector?: string;
  noLocal?: boolean;
  topicPattern: string;
}

export interface DestinationInfo {
  kind: 'queue' | 'topic';
  name: string;
  role: QueueRole;
  depth: number;
  ready: number;
  inflight: number;
  scheduled: number;
  bytes: number;
  consumers: number;
  producers: number;
  enqueued: number;
  dequeued: number;
  expired: number;
  deadLettered: number;
  dropped: number;
  limitHits: number;
  /** Deliveries that failed and went back to the queue (nack, rollback, lease expiry), since start. */
  redelivered?: number;
  paused: boolean;
  temporary: boolean;
  /** Marked as a dead-letter queue: expired or failed messages in it are not dead-lettered again. */
  deadLetterQueue: boolean;
  persistent: boolean;
  createdAt: number;
  subscription?: SubscriptionInfo;
}

/** A queue (`queue`) or the queue behind a topic subscription (`subscription`, by its engine id). */
export interface QueueRef {
  kind: 'queue' | 'subscription';
  name: string;
}

export interface BrowsedMessage {
  seq: number;
  message: Message;
  deliveryCount: number;
  redelivered: boolean;
  state: string;
}

export interface ScheduledJobInfo {
  id: string;
  message: Message;
  destination: string;
  cron?: string;
  delay: number;
  period: number;
  repeat: number;
  /** Next fire time (epoch ms) of a cron job. */
  next: number;
}

export interface EngineTotals {
  readonly enqueued: number;
  readonly delivered: number;
  readonly acked: number;
  readonly expired: number;
  readonly deadLettered: number;
}

export interface EngineOverview {
  connections: number;
  queues: number;
  topics: number;
  subscriptions: number;
  consumers: number;
  depth: number;
  totals: EngineTotals;
  storeBytes: number;
  timers: number;
}

/** Events the engine emits (`on`/`off`). */
export interface EngineEvents {
  'connection.opened': ConnectionHandle;
  'connection.closed': ConnectionHandle;
  'consumer.opened': ConsumerHandle;
  'consumer.closed': ConsumerHandle;
  /** `temporary`: a connection's temporary queue or topic (OpenWire announces those of every protocol as ActiveMQ advisories). */
  'destination.created': { kind: 'queue' | 'topic'; name: string; temporary?: boolean };
  'destination.deleted': { kind: 'queue' | 'topic'; name: string; temporary?: boolean };
  'destination.limit': { name: string; detail: string };
  'subscription.created': { name: string };
  'subscription.deleted': { name: string };
  'alarm.raised': { resource: string; detail: string; since: number };
  'alarm.cleared': { resource: string };
}

export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
}

/**
 * What adapters, the admin module and the CLI may ask of the engine. Every operation that changes durable
 * state commits a store command first and applies its effect once committed.
 */
export interface EngineApi {
  // ------------------------------------------------------------------ connections and security
  connect(info: ConnectionInfo, credentials?: Omit<Credentials, 'protocol'>): Promise<ConnectionHandle>;
  /** Check credentials without opening a connection (e.g. AMQP SASL before open): a principal, or null. */
  authenticate(credentials: Credentials): Promise<Principal | null>;
  /** Throws `BrokerError('unauthorized')` unless the principal may do `action` on `address`. */
  authorize(principal: Principal | undefined, action: Action, address: Address | null, connection?: ConnectionHandle | null): void;
  /** The secret and user of a SigV4 access key that belongs to a user (security.users[].accessKeys). */
  accessKey(accessKeyId: string): { secret: string; principal: Principal } | undefined;
  disconnect(c: ConnectionHandle): void;
  killConnection(id: string, reason?: string, cause?: KillCause): boolean;
  /** Refused logins by protocol since start (bad credentials, refused anonymous clients, throttled), and the throttled ones. */
  loginStats(): { failures: Record<string, number>; throttled: Record<string, number> };
  listConnections(): ConnectionHandle[];

  // ------------------------------------------------------------------ sending
  /** Resolves once durable (persistent message, persistent destination) or routed. */
  send(message: Message, address: Address, opts?: SendOptions): Promise<void>;
  /**
   * Send several messages, in order, in one store commit (more only when one waits for room or a new queue:
   * what was planned before it is committed first). Each item is authorized and admitted on its own: the result
   * at its index is undefined when sent (durable, if persistent), or the error that refused it or failed its
   * commit. Throws only when the whole call is refused (the broker is stopping, a resource alarm with `fail`).
   */
  sendMany(items: SendItem[], opts?: { connection?: ConnectionHandle | null; onAlarm?: 'wait' | 'fail' }): Promise<Array<Error | undefined>>;
  /** Count a producer on a destination (stats); returns a function that un-counts it. */
  registerProducer(address: Address, connection?: ConnectionHandle | null): () => void;

  // ------------------------------------------------------------------ consuming
  subscribe(o: SubscribeOptions): Promise<ConsumerHandle>;
  /** Remove a durable subscription (JMS unsubscribe): refused while it has an active consumer. */
  unsubscribeDurable(clientId: string, name: string): Promise<boolean>;
  /** Remove a durable or shared subscription by its engine id. */
  deleteSubscription(id: string): Promise<boolean>;
  beginTransaction(connection?: ConnectionHandle | null): TransactionHandle;
  /** Keys of the prepared transactions (XA recover), including those rebuilt after a restart. */
  preparedTransactions(): string[];
  /** A prepared transaction by key, to commit or roll back from any connection. */
  preparedTransaction(key: string): TransactionHandle | undefined;

  // ------------------------------------------------------------------ destinations
  createQueue(name: string, opts?: { dlq?: boolean }): Promise<DestinationInfo>;
  deleteQueue(name: string): Promise<boolean>;
  purgeQueue(name: string): Promise<number>;
  createTemporary(kind: 'queue' | 'topic', connection: ConnectionHandle, name?: string): Address;
  /** A queue (not deleted) by name. */
  queueInfo(name: string): DestinationInfo | undefined;
  /** Whether `name` is a live temporary queue (what `queueInfo(name)?.temporary` says, without describing the queue: per delivery). */
  isTemporaryQueue(name: string): boolean;
  /** Whether `name` is a live queue (what `queueInfo(name) !== undefined` says, without describing it: per request). */
  queueExists(name: string): boolean;
  /** A durable/shared/non-durable subscription by its engine id. */
  subscriptionInfo(id: string): DestinationInfo | undefined;
  listDestinations(): DestinationInfo[];
  listSubscriptions(): DestinationInfo[];
  /** Every queue, topic and subscription, a slice at a time, yielding to the event loop between slices (metrics of 100,000 destinations). */
  scanDestinations(onSlice: (infos: DestinationInfo[], what: 'queue' | 'topic' | 'subscription') => void, slice?: number): Promise<void>;
  /** Durable subscriptions owned by a client id (MQTT session state). */
  durableSubscriptionsOf(clientId: string): DestinationInfo[];
  consumersOf(ref: QueueRef): ConsumerHandle[];

  // ------------------------------------------------------------------ policies (durable runtime overrides)
  /** The effective policy: configured rules, then the runtime override. */
  policyOf(kind: 'queue' | 'topic', name: string): DestinationPolicy;
  /** Replace (or with null remove) a destination's runtime policy override; durable, applied once committed. */
  setPolicyOverride(kind: 'queue' | 'topic', name: string, override: Partial<DestinationPolicy> | null): Promise<void>;
  policyOverride(kind: 'queue' | 'topic', name: string): Partial<DestinationPolicy> | undefined;
  policyOverrides(): Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }>;
  /** Mark or unmark a queue as a dead-letter queue (durable). */
  setDeadLetterQueue(name: string, dlq: boolean): Promise<void>;
  /** Pause or resume dispatch (durable, survives restarts). */
  setPaused(ref: QueueRef, paused: boolean): Promise<void>;

  // ------------------------------------------------------------------ messages (browse and admin)
  browse(address: Address, opts?: { limit?: number; offset?: number; selector?: string }): BrowsedMessage[];
  /** One message by seq (in memory or paged from the store), whatever its state. */
  findMessage(ref: QueueRef, seq: number): BrowsedMessage | undefined;
  /** Remove one message that is not in flight; false if it is not there (or in flight). */
  removeMessage(ref: QueueRef, seq: number): Promise<boolean>;
  moveMessage(fromQueue: string, seq: number, target: Address, copy?: boolean): Promise<boolean>;
  retryDeadLetters(dlqName: string, opts?: { seqs?: number[]; target?: Address }): Promise<number>;
  retainedMessages(pattern?: string): Message[];
  listScheduledJobs(): ScheduledJobInfo[];
  cancelScheduledJob(id: string): Promise<boolean>;

  // ------------------------------------------------------------------ adapter key/value state
  kvGet<T = unknown>(key: string): T | undefined;
  kvEntries<T = unknown>(prefix: string): Array<[string, T]>;
  kvPut(key: string, value: unknown): Promise<void>;
  kvDelete(key: string): Promise<void>;
  /** Several key/value changes in one atomic commit. */
  kvCommit(changes: KvChange[]): Promise<void>;

  // ------------------------------------------------------------------ resource alarms
  /** Raised resource alarms (disk, store, memory): producers wait while any is raised. */
  alarms(): Array<{ resource: string; detail: string; since: number }>;

  // ------------------------------------------------------------------ stats and events
  overview(): EngineOverview;
  readonly totals: EngineTotals;
  storeSize(): number;
  /** One optional observer of every store commit's duration (admin: commit-latency histogram). */
  commitObserver: ((seconds: number, ok: boolean) => void) | null;
  on<K extends keyof EngineEvents>(event: K, listener: (e: EngineEvents[K]) => void): this;
  off<K extends keyof EngineEvents>(event: K, listener: (e: EngineEvents[K]) => void): this;
}
