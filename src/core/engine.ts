/**
 * The engine: the one place where messaging semantics live. Protocol adapters call it; it decides
 * routing, dispatch, acks, redelivery, DLQ, expiry, delay, transactions and fan-out, and records every
 * durable change as a Store command, applying it only once the store has committed it (except a plain send's
 * enqueue under concurrent store and dispatch: applied while committed, withdrawn if the commit fails).
 */
import { EventEmitter } from 'node:events';
import { type Address, formatAddress, parseAddress, isWildcard, matchTopic } from './address.js';
import { BrokerError } from './errors.js';
import { createMessage, type Message } from './message.js';
import { PolicyResolver, type DestinationPolicy, type PolicyRule } from './policy.js';
import { CoreQueue, type Entry, type QueueRole } from './queue.js';
import { Consumer } from './consumer.js';
import { Connection } from './connection.js';
import { ACL_KV_PREFIX, allowAll, ANONYMOUS, type Action, type Credentials, type Principal, type SecurityHooks } from './security.js';
import type {
  BrowsedMessage, EngineOverview, ConnectionHandle, ConnectionInfo, KillCause, ConsumerHandle, DestinationInfo, EngineApi, KvChange, Logger, QueueRef,
  SendItem, SendOptions, SubscribeOptions, TransactionHandle,
} from './api.js';
import type { Command, Store } from './store.js';
import { TimerWheel } from './timers.js';
import { compileDeliverySelector, compileSelector, type DeliverySelector, type Selector } from './selector.js';
import { PREPARED_PREFIX, Transaction, type PreparedRecord } from './transaction.js';
import { appendPlan, newPlan, truncatePlan, type SendPlan } from './plan.js';
import { EngineState, PAUSED_PREFIX, POLICY_PREFIX, refFromKey, refKey, type QueueMeta, type TopicStats } from './engine-state.js';
import { RecentSenders } from './senders.js';
import { Scheduler, type ScheduledJob } from './scheduler.js';
import { Router, type CompositeDestination } from './routing.js';
import { DeadLetters } from './dead-letters.js';
import { Subscriptions } from './subscriptions.js';
import { RuntimePolicies } from './runtime-policies.js';
import { countAll, describeQueue, listDestinations, scanDestinations } from './describe.js';
import { ConnectionRegistry } from './connections.js';
import { Alarms, type AlarmInfo } from './alarms.js';
import { AccessControl } from './access.js';

export { LOGIN_MAX_FAILURES, LOGIN_WINDOW_MS } from './access.js';

/** No extra commands (Router.execute does not change it). */
const NO_COMMANDS: Command[] = [];

const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export type { CompositeDestination, CompositeTarget } from './routing.js';

export interface EngineOptions {
  store: Store;
  policies?: PolicyRule[];
  logger?: Logger;
  security?: SecurityHooks;
  virtualTopics?: { topicPrefix: string; consumerPrefix: string } | false;
  composites?: CompositeDestination[];
  /** Queue window held in memory before paging (entries / bytes). */
  windowSize?: number;
  windowBytes?: number;
  /** How often expired messages are swept from queues without consumers, ms. */
  expirySweepInterval?: number;
  now?: () => number;
  /** Connections one authenticated user may hold; 0 = unlimited. */
  maxConnectionsPerUser?: number;
  /** Queues and topics clients may create (0 = unlimited), topic subscriptions, consumers per connection. */
  maxDestinations?: number;
  maxSubscriptions?: number;
  maxConsumersPerConnection?: number;
  /**
   * Concurrent store and dispatch (default true): a non-transactional persistent send is handed to a waiting
   * consumer while its enqueue is being committed; the producer is still confirmed only once it is durable, and
   * nothing about the message (ack, redelivery count, DLQ move) is written before its enqueue. false: dispatch
   * only after the commit (config `store.concurrentDispatch`).
   */
  concurrentDispatch?: boolean;
}

export class Engine extends EventEmitter implements EngineApi {
  readonly store: Store;
  readonly timers: TimerWheel;
  readonly logger: Logger;
  security: SecurityHooks;
  readonly policies: PolicyResolver;
  private readonly connections: ConnectionRegistry;
  private readonly alarmState = new Alarms((resource, info) => {
    if (info) {
      this.logger.warn({ resource, detail: info.detail }, `${resource} alarm: ${info.detail}; producers on every protocol wait until it clears`);
      this.emit('alarm.raised', info);
    } else {
      this.logger.info({ resource }, `${resource} alarm cleared; producers continue`);
      this.emit('alarm.cleared', { resource });
    }
  });
  /** Configured composite destinations by `kind:name`, their targets parsed and selectors compiled once. */
  private readonly opts: EngineOptions;
  private deliveryIds = 0;
  private tempIds = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private started = false;
  /** Prepared (XA) transactions by key, until they commit or roll back. */
  private readonly prepared = new Map<string, Transaction>();
  private stopped = false;
  private readonly inflightCommits = new Set<Promise<void>>();
  readonly now: () => number;
  private readonly concurrentDispatch: boolean;
  /** Queues, subscriptions, routing tables and kv: what the engine's parts share. */
  readonly state = new EngineState();
  private readonly scheduler: Scheduler;
  private readonly router: Router;
  private readonly deadLetters: DeadLetters;
  private readonly subs: Subscriptions;
  private readonly runtime: RuntimePolicies;
  private readonly access: AccessControl;
  /** STOMP, MQTT and SQS senders counted as producers (they have no producer objects). */
  private readonly senders = new RecentSenders((a, c) => this.registerProducer(a, c, true));

  get totals(): EngineState['totals'] {
    return this.state.totals;
  }
  /** Observes every store commit's duration in seconds (admin metrics: commit latency histogram). */
  commitObserver: ((seconds: number, ok: boolean) => void) | null = null;

  constructor(opts: EngineOptions) {
    super();
    this.opts = opts;
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.concurrentDispatch = opts.concurrentDispatch !== false;
    this.timers = new TimerWheel(this.now);
    this.host.timers = this.timers;
    this.logger = opts.logger ?? silentLogger;
    this.security = opts.security ?? allowAll;
    this.policies = new PolicyResolver(opts.policies ?? []);
    const lim = (n: number | undefined) => (n && n > 0 ? n : Infinity);
    this.state.limits = { maxDestinations: lim(opts.maxDestinations), maxSubscriptions: lim(opts.maxSubscriptions), maxConsumersPerConnection: lim(opts.maxConsumersPerConnection) };
    this.access = new AccessControl(this.state, () => this.security, this.logger);
    this.router = new Router(this.state, {
      ensureQueue: (name, pending) => this.ensureQueue(name, pending),
      policyOf: (kind, name) => this.policyOf(kind, name),
      commit: (batch) => this.commit(batch),
      knowTopic: (name) => this.knowTopic(name),
      mayRead: (principal, name) => this.security.authorize(principal, 'consume', { kind: 'topic', name }),
    }, opts.composites ?? []);
    this.connections = new ConnectionRegistry({
      deleteQueue: (name) => this.deleteQueue(name).catch((err) => this.onError(err, 'temp queue delete')),
      forgetTopic: (name) => {
        this.state.knownTopics.delete(name);
        this.emit('destination.deleted', { kind: 'topic', name, temporary: true });
      },
      emit: (event, c) => {
        if (event === 'connection.closed') this.senders.release(c);
        this.emit(event, c);
      },
      maxPerUser: opts.maxConnectionsPerUser ?? 0,
    });
    this.runtime = new RuntimePolicies(this.state, this.policies, (batch) => this.commit(batch));
    this.subs = new Subscriptions(this.state, {
      instantiateQueue: (meta, storageName) => this.instantiateQueue(meta, storageName),
      storageNameFor: (role, name) => this.storageNameFor(role, name),
      queuePolicy: (meta, address) => this.queuePolicy(meta, address),
      commit: (batch) => this.commit(batch),
      emit: (event, payload) => this.emit(event, payload),
      nextId: () => this.nextDeliveryId(),
      mayRead: (principal, name) => this.security.authorize(principal, 'consume', { kind: 'topic', name }),
    });
    this.deadLetters = new DeadLetters(this.state, {
      ensureQueue: (name, pending, o) => this.ensureQueue(name, pending, o),
      send: (m, a) => this.send(m, a),
      logger: this.logger,
      now: () => this.now(),
    });
    this.scheduler = new Scheduler(this.state, {
      timers: this.timers,
      now: () => this.now(),
      commit: (batch) => this.commit(batch),
      planSend: (m, a) => this.planSend(m, a, false, null),
      executePlan: (plan, extra) => this.executePlan(plan, extra),
      onError: (err, where) => this.onError(err, where),
    });
  }

  // ================================================================ lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    const { queues, kv } = await this.store.open();
    for (const [k, v] of kv) this.state.kv.set(k, v);
    this.security.changed?.(); // runtime users and ACL rules are in the kv just loaded
    for (const [k, v] of this.state.kv) {
      if (k.startsWith(POLICY_PREFIX)) this.state.overrides.set(k.slice(POLICY_PREFIX.length), v as Partial<DestinationPolicy>);
    }
    // entries acked by prepared transactions are parked before their queues page anything in
    const preparedRecords: Array<[string, PreparedRecord]> = [];
    const lockedSeqs = new Map<string, number[]>();
    for (const [k, v] of this.state.kv) {
      if (!k.startsWith(PREPARED_PREFIX)) continue;
      const record = v as PreparedRecord;
      preparedRecords.push([k.slice(PREPARED_PREFIX.length), record]);
      for (const a of record.acks) lockedSeqs.set(a.queue, [...(lockedSeqs.get(a.queue) ?? []), a.seq]);
    }
    const byStorage = new Map<string, CoreQueue>();
    for (const r of queues) {
      const meta = r.meta as QueueMeta;
      const q = this.instantiateQueue(meta, r.name);
      byStorage.set(r.name, q);
      for (const seq of lockedSeqs.get(r.name) ?? []) q.lockSeq(seq);
      q.recover(r.count, r.bytes, r.lastSeq, r.mark);
      // a durable wildcard subscription is filtered by its user's rights from the start, not once its subscriber is back
      const pattern = meta.subscription?.topicPattern;
      if (meta.role === 'durable-subscription' && meta.reader && pattern && isWildcard(pattern) && this.security.principalFor) {
        const p = meta.reader.anonymous ? ANONYMOUS : this.security.principalFor(meta.reader.username);
        if (this.security.filterAtDelivery?.(p, pattern)) this.state.subscriptionReaders.set(q, p);
      }
    }
    for (const [key, record] of preparedRecords) this.prepared.set(key, Transaction.recovered(this, key, record, (name) => byStorage.get(name)));
    for (const [k, v] of this.state.kv) {
      if (k.startsWith('retained:')) this.state.retained.set(k.slice('retained:'.length), v as Message);
      else if (k.startsWith('sched:')) this.scheduler.arm(v as ScheduledJob);
      else if (k.startsWith(PAUSED_PREFIX)) this.queueByRef(refFromKey(k.slice(PAUSED_PREFIX.length)))?.setPaused(true);
    }
    const interval = this.opts.expirySweepInterval ?? 1000;
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    this.sweepTimer.unref();
    this.started = true;
    this.logger.info({ queues: this.state.queues.size, subscriptions: this.state.subscriptions.size, retained: this.state.retained.size }, 'engine recovered');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.alarmState.close();
    for (const c of this.connections.list()) this.disconnect(c);
    this.timers.stop();
    await Promise.allSettled([...this.inflightCommits]);
    await this.store.close();
  }

  private sweep(): void {
    this.senders.sweep(this.now());
    for (const q of [...this.state.queues.values(), ...this.state.subscriptions.values()]) {
      try {
        q.sweepExpired();
      } catch (err) {
        this.onError(err, `expiry sweep of ${q.describe()}`);
      }
    }
  }

  /** Commit through the store, tracked so stop() can wait for it. */
  commit(batch: Command[]): Promise<void> {
    if (this.stopped && !this.started) return Promise.reject(new BrokerError('closed', 'broker is stopped'));
    const p = this.store.commit(batch);
    this.inflightCommits.add(p);
    const done = () => this.inflightCommits.delete(p);
    p.then(done, done);
    const observe = this.commitObserver;
    if (observe) {
      const t0 = performance.now();
      p.then(() => observe((performance.now() - t0) / 1000, true), () => observe((performance.now() - t0) / 1000, false));
    }
    return p;
  }

  nextDeliveryId(): number {
    return ++this.deliveryIds;
  }

  private readonly limitLogged = new WeakMap<CoreQueue, number>();

  /** Log a destination limit hit, at most once per 10 s per destination (every hit is counted in its stats). */
  private onLimit(q: CoreQueue, detail: string): void {
    const now = this.now();
    if ((this.limitLogged.get(q) ?? 0) + 10_000 > now) return;
    this.limitLogged.set(q, now);
    this.logger.warn({ destination: q.name, limit: detail, hits: q.stats.limitHits }, `${q.describe()} reached its limit (${detail})`);
    this.emit('destination.limit', { name: q.name, detail });
  }

  onError(err: unknown, where: string): void {
    this.logger.error({ err, where }, `engine error in ${where}`);
  }

  // ================================================================ connections and security

  async authenticate(credentials: Credentials): Promise<Principal | null> {
    const principal = await this.checkLogin(credentials);
    if (!principal) this.access.loginFailed(credentials);
    return principal;
  }

  loginStats(): { failures: Record<string, number>; throttled: Record<string, number> } {
    return this.access.loginStats();
  }

  private checkLogin(c: Credentials): Promise<Principal | null> {
    return this.access.checkLogin(c);
  }

  async connect(info: ConnectionInfo, credentials?: Omit<Credentials, 'protocol'>): Promise<Connection> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const creds: Credentials = { ...credentials, protocol: info.protocol, remoteAddress: info.remoteAddress ?? credentials?.remoteAddress };
    const principal = await this.checkLogin(creds);
    if (!principal) {
      this.access.loginFailed(creds);
      // the refused client learns only what it can act on; why (users configured, remote address) goes to the audit log
      throw new BrokerError('unauthenticated', creds.username ? 'Authentication failed: bad username or password' : 'Authentication failed: anonymous access is not allowed here: log in with a username and password');
    }
    const c = this.connections.open(info, principal);
    if (!principal.internal) {
      const viaCertificate = !creds.username && creds.certificate && !principal.anonymous ? { certificate: creds.certificate.subject } : {};
      this.logger.info({ audit: true, event: 'login', outcome: 'success', protocol: info.protocol, user: principal.username, anonymous: principal.anonymous, remote: creds.remoteAddress, connection: c.id, ...viaCertificate }, `login: ${principal.username} over ${info.protocol} from ${creds.remoteAddress ?? '?'}`);
    }
    return c;
  }

  /** The user and secret behind a SigV4 access key (SQS/SNS), from the security hooks. */
  accessKey(accessKeyId: string): { secret: string; principal: Principal } | undefined {
    return this.security.accessKey?.(accessKeyId);
  }

  /** Close everything a connection owns: consumers (unsettled go back), temporary destinations. */
  disconnect(handle: ConnectionHandle): void {
    this.connections.close(handle as Connection);
  }

  /** Ask the adapter to drop a connection (admin close). */
  killConnection(id: string, reason = 'closed by administrator', cause?: KillCause): boolean {
    return this.connections.kill(id, reason, cause);
  }

  listConnections(): Connection[] {
    return this.connections.list();
  }

  authorize(principal: Principal | undefined, action: Action, address: Address | null, connection?: ConnectionHandle | null): void {
    this.access.authorize(principal, action, address, connection as Connection | null | undefined);
  }

  private check(conn: Connection | null, action: Action, address: Address): void {
    this.access.check(conn, action, address);
  }

  private checkSend(conn: Connection | null, address: Address): void {
    this.access.checkSend(conn, address);
  }

  // ================================================================ destinations

  private storageNameFor(role: QueueRole, name: string): string {
    return role === 'queue' ? `q:${name}` : `s:${name}`;
  }

  private instantiateQueue(meta: QueueMeta, storageName: string): CoreQueue {
    const address = parseAddress(meta.address);
    const policy = this.queuePolicy(meta, address);
    const q = new CoreQueue(this.host, {
      name: meta.name,
      storageName,
      role: meta.role,
      address,
      persistent: meta.role === 'queue' || meta.role === 'durable-subscription' || (meta.role === 'shared-subscription' && !!meta.durable),
      policy,
      windowSize: this.opts.windowSize,
      windowBytes: this.opts.windowBytes,
      subscription: meta.subscription,
    });
    q.isDeadLetterQueue = !!meta.dlq;
    this.state.metas.set(q, meta);
    if (meta.role === 'queue' || meta.role === 'temporary') {
      this.state.queues.set(meta.name, q);
      this.indexVirtualConsumer(q, true);
    } else {
      this.state.subscriptions.set(meta.name, q);
      if (meta.subscription) this.state.topicIndex.add(meta.subscription.topicPattern, q);
    }
    if (meta.subscription?.selector) this.state.subscriptionSelectors.set(q, compileSelector(meta.subscription.selector));
    return q;
  }

  private readonly host = {
    timers: null as unknown as TimerWheel,
    commit: (batch: Command[]) => this.commit(batch),
    readEntries: (s: string, after: number, limit: number) => this.store.readEntries(s, after, limit),
    readSeqs: (s: string, after: number, limit: number) => this.store.readSeqs(s, after, limit),
    deadLetter: (from: CoreQueue, entry: Entry, reason: string) => this.deadLetters.plan(from, entry, reason),
    onError: (err: unknown, where: string) => this.onError(err, where),
    onLimit: (q: CoreQueue, detail: string) => this.onLimit(q, detail),
    now: () => this.now(),
  };

  private indexVirtualConsumer(q: CoreQueue, add: boolean): void {
    const vt = this.opts.virtualTopics === false ? null : this.opts.virtualTopics ?? { topicPrefix: 'VirtualTopic.', consumerPrefix: 'Consumer.' };
    if (!vt || !q.name.startsWith(vt.consumerPrefix)) return;
    const rest = q.name.slice(vt.consumerPrefix.length);
    const dot = rest.indexOf('.');
    if (dot <= 0) return;
    const topicName = rest.slice(dot + 1);
    if (!topicName.startsWith(vt.topicPrefix)) return;
    let set = this.state.virtualConsumers.get(topicName);
    if (add) {
      if (!set) this.state.virtualConsumers.set(topicName, (set = new Set()));
      set.add(q);
    } else set?.delete(q);
  }

  /** The live queue (core and tests only: adapters get `queueInfo`). */
  getQueue(name: string): CoreQueue | undefined {
    return this.state.queues.get(name);
  }

  /** The live subscription queue (core and tests only: adapters get `subscriptionInfo`). */
  getSubscription(name: string): CoreQueue | undefined {
    return this.state.subscriptions.get(name);
  }

  private queueByRef(ref: QueueRef): CoreQueue | undefined {
    return ref.kind === 'queue' ? this.state.queues.get(ref.name) : this.state.subscriptions.get(ref.name);
  }

  private queueOrThrow(ref: QueueRef): CoreQueue {
    const q = this.queueByRef(ref);
    if (!q) throw new BrokerError('not-found', `${ref.kind === 'queue' ? 'Queue' : 'Subscription'} '${ref.name}' does not exist`);
    return q;
  }

  queueInfo(name: string): DestinationInfo | undefined {
    const q = this.state.queues.get(name);
    return q && !q.deleted ? this.describeQueue(q) : undefined;
  }

  queueExists(name: string): boolean {
    const q = this.state.queues.get(name);
    return q !== undefined && !q.deleted;
  }

  isTemporaryQueue(name: string): boolean {
    const q = this.state.queues.get(name);
    return q !== undefined && !q.deleted && q.role === 'temporary';
  }

  subscriptionInfo(id: string): DestinationInfo | undefined {
    const q = this.state.subscriptions.get(id);
    return q && !q.deleted ? this.describeQueue(q) : undefined;
  }

  consumersOf(ref: QueueRef): ConsumerHandle[] {
    return [...(this.queueByRef(ref)?.consumers ?? [])];
  }

  // ================================================================ policies

  private queuePolicy(meta: QueueMeta, address: Address): DestinationPolicy {
    return this.runtime.queuePolicy(meta, address);
  }

  policyOf(kind: 'queue' | 'topic', name: string): DestinationPolicy {
    return this.runtime.policyOf(kind, name);
  }

  setPolicyOverride(kind: 'queue' | 'topic', name: string, override: Partial<DestinationPolicy> | null): Promise<void> {
    return this.runtime.setOverride(kind, name, override);
  }

  policyOverride(kind: 'queue' | 'topic', name: string): Partial<DestinationPolicy> | undefined {
    return this.state.overrides.get(`${kind}:${name}`);
  }

  policyOverrides(): Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }> {
    return this.runtime.overrides();
  }

  setDeadLetterQueue(name: string, dlq: boolean): Promise<void> {
    return this.runtime.setDeadLetterQueue(this.queueOrThrow({ kind: 'queue', name }), dlq);
  }

  setPaused(ref: QueueRef, paused: boolean): Promise<void> {
    return this.runtime.setPaused(this.queueOrThrow(ref), ref, paused);
  }

  /** A topic the engine now knows (first publish, first subscriber, a temporary topic): counted, and announced. */
  private knowTopic(name: string, temporary = false): TopicStats {
    const t: TopicStats = { enqueued: 0, producers: 0, createdAt: Date.now() };
    this.state.knownTopics.set(name, t);
    this.emit('destination.created', temporary ? { kind: 'topic', name, temporary: true } : { kind: 'topic', name });
    return t;
  }

  /**
   * The queue named `name`, created (and its creation committed) if missing.
   * Returns the commands that create it when `deferCommit` (so a send can commit creation and enqueue together).
   */
  private ensureQueue(name: string, pending?: Command[], opts: { dlq?: boolean; temporary?: boolean } = {}): CoreQueue {
    let q = this.state.queues.get(name);
    if (q) return q;
    if (!name || name.length > 1024 || isWildcard(name)) throw new BrokerError('invalid', `Invalid queue name '${name}'`);
    // a dead-letter queue is the broker's own doing: never refused (the message would be lost)
    if (!opts.dlq) this.state.checkNewDestination('queue', name);
    const meta: QueueMeta = { role: opts.temporary ? 'temporary' : 'queue', name, kind: 'queue', address: formatAddress({ kind: 'queue', name }), dlq: opts.dlq };
    q = this.instantiateQueue(meta, this.storageNameFor('queue', name));
    if (!opts.temporary) {
      const cmd: Command = { t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> };
      if (pending) pending.push(cmd);
      else this.commit([cmd]).catch((err) => this.onError(err, 'queue create'));
    }
    this.emit('destination.created', opts.temporary ? { kind: 'queue', name, temporary: true } : { kind: 'queue', name });
    return q;
  }

  /** Create a queue (idempotent; `dlq` also marks an existing one). Resolves when its creation is durable. */
  async createQueue(name: string, opts: { dlq?: boolean } = {}): Promise<DestinationInfo> {
    const q = await this.openQueue(name, opts);
    if (opts.dlq && !q.isDeadLetterQueue) await this.setDeadLetterQueue(name, true);
    return this.describeQueue(q);
  }

  private async openQueue(name: string, opts: { dlq?: boolean } = {}): Promise<CoreQueue> {
    const pending: Command[] = [];
    const q = this.ensureQueue(name, pending, opts);
    if (pending.length) await this.commit(pending);
    return q;
  }

  async deleteQueue(name: string): Promise<boolean> {
    const q = this.state.queues.get(name);
    if (!q) return false;
    if (q.persistent && q.role !== 'temporary') {
      // Empty it a chunk per commit first (CoreQueue.purge), so the final delete is a small transaction. The
      // queue stays registered meanwhile: new sends take seqs above the purge and go with the delete.
      for (const c of [...q.consumers]) c.close({ notify: true, reason: `queue '${name}' was deleted` });
      await q.purge();
      if (this.state.queues.get(name) !== q) return true; // another call deleted it meanwhile
    }
    this.state.queues.delete(name);
    this.indexVirtualConsumer(q, false);
    q.markDeleted();
    for (const c of [...q.consumers]) c.close({ notify: true, reason: `queue '${name}' was deleted` });
    if (q.role !== 'temporary') {
      // the queue's runtime state goes with it, in the same commit
      const cmds: Command[] = [{ t: 'queue.delete', queue: q.storageName }];
      const stateKeys = [`${POLICY_PREFIX}queue:${name}`, `${PAUSED_PREFIX}${refKey({ kind: 'queue', name })}`].filter((k) => this.state.kv.has(k));
      for (const key of stateKeys) cmds.push({ t: 'kv.delete', key });
      await this.commit(cmds);
      for (const key of stateKeys) this.state.kv.delete(key);
      this.state.overrides.delete(`queue:${name}`);
    }
    this.emit('destination.deleted', q.role === 'temporary' ? { kind: 'queue', name, temporary: true } : { kind: 'queue', name });
    return true;
  }

  async purgeQueue(name: string): Promise<number> {
    const q = this.state.queues.get(name) ?? this.state.subscriptions.get(name);
    if (!q) throw new BrokerError('not-found', `Queue '${name}' does not exist`);
    return q.purge();
  }

  /** A temporary queue or topic owned by the connection, deleted when it closes. */
  createTemporary(kind: 'queue' | 'topic', handle: ConnectionHandle, name?: string): Address {
    const connection = handle as Connection;
    const n = name ?? `temp.${connection.id}.${++this.tempIds}`;
    if (kind === 'queue') this.ensureQueue(n, undefined, { temporary: true });
    else this.knowTopic(n, true);
    connection.temporaries.add(`${kind}:${n}`);
    return { kind, name: n, temporary: true };
  }

  listDestinations(): DestinationInfo[] {
    return listDestinations(this.state);
  }

  listSubscriptions(): DestinationInfo[] {
    return [...this.state.subscriptions.values()].map((q) => describeQueue(this.state, q));
  }

  scanDestinations(onSlice: (infos: DestinationInfo[], what: 'queue' | 'topic' | 'subscription') => void, slice?: number): Promise<void> {
    return scanDestinations(this.state, onSlice, slice);
  }

  describeQueue(q: CoreQueue): DestinationInfo {
    return describeQueue(this.state, q);
  }

  /** Count a producer on a destination (for stats); returns a function that un-counts it. */
  registerProducer(address: Address, handle?: ConnectionHandle | null, fromRecent = false): () => void {
    const connection = handle as Connection | null | undefined;
    const key = `${address.kind}:${address.name}`;
    this.state.producersByDest.set(key, (this.state.producersByDest.get(key) ?? 0) + 1);
    if (connection) {
      connection.producers++;
      if (!fromRecent) connection.explicitProducers = true;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.state.producersByDest.set(key, Math.max(0, (this.state.producersByDest.get(key) ?? 1) - 1));
      if (connection) connection.producers--;
    };
  }

  // ================================================================ sending

  /**
   * Send a message. Resolves once it is durable (persistent messages to persistent destinations) or
   * routed (otherwise). In a transaction, it is only buffered until commit.
   */
  async send(message: Message, address: Address, opts: SendOptions = {}): Promise<void> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const conn = (opts.connection ?? null) as Connection | null;
    this.checkSend(conn, address);
    if (this.alarmState.active) await this.alarmState.admit(opts.onAlarm === 'fail');
    if (conn) {
      conn.stats.messagesIn++;
      conn.stats.bytesIn += message.body.length;
      this.senders.note(conn, address);
    }
    if (opts.transaction) {
      (opts.transaction as Transaction).addSend(message, address, opts.retain ?? false);
      return;
    }
    const kvCmds = kvCommands(opts.kv);
    if (Scheduler.applies(message)) {
      await this.scheduler.schedule(message, address);
      if (kvCmds.length) await this.commit(kvCmds);
    } else {
      // The synchronous plan only while no asynchronous one is under way: a send must not take its seq (at
      // execute) before an earlier send to the same queue whose plan is still being awaited.
      const plan = (this.asyncPlans === 0 ? this.router.planNow(message, address, conn, opts.retain ?? false) : null) ?? (await this.planSend(message, address, opts.retain ?? false, conn));
      await this.router.execute(plan, kvCmds, this.concurrentDispatch);
    }
    this.applyKv(opts.kv);
  }

  /**
   * Several sends in one plan, one store commit and one promise (an adapter's sends of one socket read, an SQS
   * batch). Each item is checked and planned on its own, in order: a refused item (rights, a bad destination, a
   * `reject` limit) gets its error at its index and the others go on. The common items plan synchronously, as
   * in send(). An item that needs an asynchronous plan (a new queue, an admission wait, a composite) plans
   * after the asynchronous plans of earlier batches, so one producer's batches keep their order, and what was
   * planned before it is committed first: a send waiting for room never holds back the sends before it (their
   * delivery and acknowledgement may be what makes the room). Those are then separate commits; a failed
   * commit is the error of its own items.
   */
  async sendMany(items: SendItem[], opts: { connection?: ConnectionHandle | null; onAlarm?: 'wait' | 'fail' } = {}): Promise<Array<Error | undefined>> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    if (this.alarmState.active) await this.alarmState.admit(opts.onAlarm === 'fail');
    const conn = (opts.connection ?? null) as Connection | null;
    const n = items.length;
    const results: Array<Error | undefined> = new Array<Error | undefined>(n).fill(undefined);
    // planned and not executed yet: one plan for them, their items' indices, their items' kv changes
    let plan = newPlan();
    let planned: number[] = [];
    let kv: KvChange[] | null = null;
    const commits: Array<Promise<void>> = [];
    let scheduled = null as number[] | null; // filled inside planHere: a plain null would narrow to never below
    const admitted = (i: number): void => {
      const item = items[i]!;
      planned.push(i);
      if (conn) {
        conn.stats.messagesIn++;
        conn.stats.bytesIn += item.message.body.length;
        this.senders.note(conn, item.address);
      }
      if (item.kv) (kv ??= []).push(...item.kv);
    };
    const execute = (): void => {
      if (planned.length === 0) return;
      const ids = planned;
      const changes = kv;
      const p = this.router.execute(plan, changes === null ? NO_COMMANDS : kvCommands(changes), this.concurrentDispatch);
      commits.push(
        p.then(
          () => {
            if (changes !== null) this.applyKv(changes);
          },
          (err: unknown) => {
            for (const k of ids) results[k] = err as Error;
          },
        ),
      );
      plan = newPlan();
      planned = [];
      kv = null;
    };
    /**
     * Check and plan item `i` into the current plan, synchronously. 'later': it needs an asynchronous plan (nothing of it
     * was added). A refused item gets its error and leaves nothing in the plan.
     */
    const planHere = (i: number): 'planned' | 'scheduled' | 'refused' | 'later' => {
      const item = items[i]!;
      const t = plan.targets.length, c = plan.commands.length, a = plan.apply.length, r = plan.release.length;
      try {
        this.checkSend(conn, item.address);
        if (Scheduler.applies(item.message)) {
          (scheduled ??= []).push(i);
          return 'scheduled';
        }
        return this.router.planNow(item.message, item.address, conn, false, plan) === null ? 'later' : 'planned';
      } catch (err) {
        truncatePlan(plan, t, c, a, r);
        results[i] = err as Error;
        return 'refused';
      }
    };
    let i = 0;
    if (this.asyncPlans === 0) {
      for (; i < n; i++) {
        const step = planHere(i);
        if (step === 'later') break;
        if (step === 'planned') admitted(i);
      }
    }
    if (i < n) {
      execute();
      this.asyncPlans++;
      const earlier = this.manyPlanned;
      let done!: () => void;
      this.manyPlanned = new Promise<void>((r) => (done = r));
      try {
        await earlier;
        for (; i < n; i++) {
          const step = planHere(i);
          if (step === 'later') {
            // what was planned before it commits first (see above); then its own plan, awaited
            execute();
            const item = items[i]!;
            try {
              appendPlan(plan, await this.router.plan(item.message, item.address, false, conn));
            } catch (err) {
              results[i] = err as Error;
              continue;
            }
          } else if (step !== 'planned') continue;
          admitted(i);
        }
      } finally {
        this.asyncPlans--;
        done();
      }
    }
    execute();
    if (commits.length > 0) await (commits.length === 1 ? commits[0] : Promise.all(commits));
    // scheduled messages are jobs of their own (rare): one commit each
    if (scheduled !== null) {
      for (const k of scheduled) {
        try {
          await this.send(items[k]!.message, items[k]!.address, { connection: conn, kv: items[k]!.kv });
        } catch (err) {
          results[k] = err as Error;
        }
      }
    }
    return results;
  }

  /** Resolves once the asynchronous plans of the last sendMany that needed them are done (see sendMany). */
  private manyPlanned: Promise<void> = Promise.resolve();

  /** Mirror committed key/value changes in memory (also used by transactions). */
  applyKv(changes: KvChange[] | undefined): void {
    for (const e of changes ?? []) {
      if (e.value === undefined) this.state.kv.delete(e.key);
      else this.state.kv.set(e.key, e.value);
    }
  }

  /** A routed, admitted send (see Router.plan); used by transactions and the scheduler. */
  planSend(message: Message, address: Address, retain: boolean, conn: Connection | null): Promise<SendPlan> {
    this.asyncPlans++;
    const p = this.router.plan(message, address, retain, conn);
    // registered before the caller's await, so it runs first: the count is down before the caller executes
    p.then(this.asyncPlanDone, this.asyncPlanDone);
    return p;
  }

  /** Plans started by planSend and not settled yet (see send). */
  private asyncPlans = 0;
  private readonly asyncPlanDone = (): void => {
    this.asyncPlans--;
  };

  /** Commit a plan and apply it once committed (transactions, the scheduler: no concurrent dispatch). */
  executePlan(plan: SendPlan, extra: Command[]): Promise<void> {
    return this.router.execute(plan, extra);
  }

  // ================================================================ scheduled delivery (ActiveMQ scheduler properties)

  listScheduledJobs(): ScheduledJob[] {
    return this.scheduler.list();
  }

  cancelScheduledJob(id: string): Promise<boolean> {
    return this.scheduler.cancel(id);
  }

  // ================================================================ dead letters

  retryDeadLetters(dlqName: string, opts: { seqs?: number[]; target?: Address } = {}): Promise<number> {
    return this.deadLetters.retry(dlqName, opts);
  }

  moveMessage(fromQueue: string, seq: number, target: Address, copy = false): Promise<boolean> {
    return this.deadLetters.move(fromQueue, seq, target, copy);
  }

  // ================================================================ consuming

  /** Attach a consumer to a queue or a topic subscription. */
  async subscribe(o: SubscribeOptions): Promise<Consumer> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const conn = (o.connection ?? null) as Connection | null;
    this.check(conn, 'consume', o.address);
    let selector: Selector | undefined;
    let consumerSelector: DeliverySelector | undefined;
    if (o.selector && o.selector.trim()) {
      try {
        // a queue consumer's selector sees the entry's delivery state too (JMSRedelivered, JMSXDeliveryCount)
        if (o.address.kind === 'queue') consumerSelector = compileDeliverySelector(o.selector);
        else selector = compileSelector(o.selector);
      } catch (err) {
        throw new BrokerError('invalid', `Invalid selector: ${(err as Error).message}`);
      }
    }
    let queue: CoreQueue;
    let ownsQueue = false;
    if (o.address.kind === 'queue') {
      if (isWildcard(o.address.name)) throw new BrokerError('invalid', `Wildcards are not supported for queue consumers: '${o.address.name}'`);
      const existing = this.state.queues.get(o.address.name);
      if (!existing && o.address.temporary) throw new BrokerError('not-found', `Temporary queue '${o.address.name}' does not exist`);
      queue = existing ?? (await this.openQueue(o.address.name));
    } else {
      // topic selectors filter at routing time
      if (!this.state.knownTopics.has(o.address.name) && !isWildcard(o.address.name)) {
        this.state.checkNewDestination('topic', o.address.name);
        this.knowTopic(o.address.name);
      }
      if (conn && o.shared) this.access.checkShared(conn, o.address);
      ({ queue, ownsQueue } = await this.subs.queueFor(o, conn));
      if (selector) this.state.subscriptionSelectors.set(queue, selector);
      // a wildcard filter no single ACL rule covers: each routed message is checked against the subscriber's read rights
      if (conn && isWildcard(o.address.name) && this.security.filterAtDelivery?.(conn.principal, o.address.name)) this.state.subscriptionReaders.set(queue, conn.principal);
      else this.state.subscriptionReaders.delete(queue);
    }
    if (conn && conn.consumers.size >= this.state.limits.maxConsumersPerConnection) {
      throw new BrokerError('limit', `A connection may have at most ${this.state.limits.maxConsumersPerConnection} consumers (limits.maxConsumersPerConnection)`);
    }
    const consumer = new Consumer<CoreQueue>(
      { nextDeliveryId: () => this.nextDeliveryId(), consumerClosed: (c) => this.subs.consumerClosed(c) },
      {
        queue,
        connection: conn,
        prefetch: o.prefetch,
        credit: o.credit,
        selector: consumerSelector,
        exclusive: o.exclusive,
        priority: o.priority,
        autoAck: o.autoAck,
        ackTimeout: o.ackTimeout,
        readAhead: o.readAhead,
        durableLeases: o.durableLeases,
        onMessage: (d) => {
          this.state.totals.delivered++;
          if (conn) {
            conn.stats.messagesOut++;
            conn.stats.bytesOut += d.message.body.length;
          }
          o.onMessage(d);
        },
        onClose: o.onClose,
        onLeaseExpired: o.onLeaseExpired,
        ownsQueue,
      },
    );
    conn?.consumers.add(consumer);
    this.access.consumerAddress.set(consumer, o.address);
    if (o.retained && o.address.kind === 'topic') this.subs.deliverRetained(queue, o.address.name);
    queue.addConsumer(consumer);
    this.emit('consumer.opened', consumer);
    return consumer;
  }

  /** Remove a durable subscription (JMS unsubscribe, STOMP UNSUBSCRIBE with activemq.subscriptionName, MQTT clean session). */
  unsubscribeDurable(clientId: string, name: string): Promise<boolean> {
    return this.subs.unsubscribeDurable(clientId, name);
  }

  deleteSubscription(id: string): Promise<boolean> {
    return this.subs.delete(id);
  }

  /** Durable subscriptions of a client (MQTT session state). */
  durableSubscriptionsOf(clientId: string): DestinationInfo[] {
    return [...this.state.subscriptions.values()].filter((q) => q.role === 'durable-subscription' && q.subscription?.clientId === clientId).map((q) => this.describeQueue(q));
  }

  // ================================================================ browsing, retained, kv

  browse(address: Address, opts: { limit?: number; offset?: number; selector?: string } = {}): BrowsedMessage[] {
    const q = address.kind === 'queue' ? this.state.queues.get(address.name) : this.state.subscriptions.get(address.name);
    if (!q) return [];
    let filter: DeliverySelector | undefined;
    if (opts.selector) {
      try {
        filter = compileDeliverySelector(opts.selector); // a browse sees each message as its next consumer would
      } catch (err) {
        throw new BrokerError('invalid', `Invalid selector: ${(err as Error).message}`);
      }
    }
    return q.browse(opts.limit ?? 1000, opts.offset ?? 0, filter);
  }

  findMessage(ref: QueueRef, seq: number): BrowsedMessage | undefined {
    // in-memory entries first; the store pages the rest in seq order
    return this.queueByRef(ref)?.browse(200_000).find((b) => b.seq === seq);
  }

  async removeMessage(ref: QueueRef, seq: number): Promise<boolean> {
    const q = this.queueOrThrow(ref);
    return (await q.removeBySeq(seq)) !== null;
  }

  retainedMessages(pattern = '>'): Message[] {
    return [...this.state.retained].filter(([t]) => matchTopic(pattern, t)).map(([, m]) => m);
  }

  kvGet<T = unknown>(key: string): T | undefined {
    return this.state.kv.get(key) as T | undefined;
  }

  kvEntries<T = unknown>(prefix: string): Array<[string, T]> {
    return [...this.state.kv].filter(([k]) => k.startsWith(prefix)) as Array<[string, T]>;
  }

  async kvPut(key: string, value: unknown): Promise<void> {
    await this.commit([{ t: 'kv.put', key, value }]);
    this.state.kv.set(key, value);
    this.kvChanged([key]);
  }

  async kvDelete(key: string): Promise<void> {
    await this.commit([{ t: 'kv.delete', key }]);
    this.state.kv.delete(key);
    this.kvChanged([key]);
  }

  async kvCommit(changes: KvChange[]): Promise<void> {
    if (!changes.length) return;
    await this.commit(kvCommands(changes));
    this.applyKv(changes);
    this.kvChanged(changes.map((c) => c.key));
  }

  /** A change of users or ACL rules (kv `security:…`) takes effect at once: see AccessControl.securityChanged. */
  private kvChanged(keys: string[]): void {
    if (!keys.some((k) => AccessControl.isSecurityKey(k))) return;
    for (const k of keys) {
      if (!k.startsWith(ACL_KV_PREFIX)) continue;
      const rule = this.state.kv.get(k);
      const id = k.slice(ACL_KV_PREFIX.length);
      this.logger.info({ audit: true, event: 'acl-change', id, change: rule === undefined ? 'removed' : 'added', rule: rule ?? null }, `acl: rule ${id} ${rule === undefined ? 'removed' : `added: ${JSON.stringify(rule)}`}`);
    }
    this.access.securityChanged(this.connections.list(), (id, reason, cause) => this.connections.kill(id, reason, cause));
  }

  alarms(): AlarmInfo[] {
    return this.alarmState.list();
  }

  /** Raise (detail) or clear (null) a resource alarm: for the resource monitor of the composition root. */
  setAlarm(resource: string, detail: string | null): void {
    this.alarmState.set(resource, detail, this.now());
  }

  /** Bytes of the messages held by persistent queues (what the store holds, less its free pages). */
  storedMessageBytes(): number {
    let n = 0;
    for (const q of this.state.queues.values()) if (q.persistent) n += q.bytes;
    for (const q of this.state.subscriptions.values()) if (q.persistent) n += q.bytes;
    return n;
  }

  storeSize(): number {
    return this.store.size();
  }

  // ================================================================ transactions

  beginTransaction(connection?: ConnectionHandle | null): TransactionHandle {
    return new Transaction(this, (connection ?? null) as Connection | null);
  }

  preparedTransactions(): string[] {
    return [...this.prepared.keys()];
  }

  preparedTransaction(key: string): TransactionHandle | undefined {
    return this.prepared.get(key);
  }

  isPrepared(key: string): boolean {
    return this.prepared.has(key);
  }

  trackPrepared(t: Transaction, live: boolean): void {
    if (t.preparedKey === null) return;
    if (live) this.prepared.set(t.preparedKey, t);
    else if (this.prepared.get(t.preparedKey) === t) this.prepared.delete(t.preparedKey);
  }

  /** Used by Transaction: take a delivery off the books now, ack durably at commit. */
  takeDelivery(consumer: Consumer<CoreQueue>, deliveryId: number): { queue: CoreQueue; entry: Entry } {
    if (!consumer.owns(deliveryId)) throw new BrokerError('not-found', `Delivery ${deliveryId} is not unsettled on this consumer`);
    const { entry } = consumer.queue.takeForAck(deliveryId);
    if (consumer.prefetchMode && !consumer.closed) {
      consumer.credit++;
      consumer.queue.scheduleDispatch();
    }
    return { queue: consumer.queue, entry };
  }

  // ================================================================ stats

  overview(): EngineOverview {
    return { ...countAll(this.state), connections: this.connections.size, totals: this.state.totals, storeBytes: this.store.size(), timers: this.timers.size };
  }
}

function kvCommands(changes: KvChange[] | undefined): Command[] {
  return (changes ?? []).map((e) => (e.value === undefined ? { t: 'kv.delete', key: e.key } : { t: 'kv.put', key: e.key, value: e.value }));
}

export { createMessage };
