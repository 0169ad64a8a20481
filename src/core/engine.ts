/**
 * The engine: the one place where messaging semantics live. Protocol adapters call it; it decides
 * routing, dispatch, acks, redelivery, DLQ, expiry, delay, transactions and fan-out, and records every
 * durable change as a Store command, applying it only once the store has committed it.
 */
import { EventEmitter } from 'node:events';
import { CronExpressionParser } from 'cron-parser';
import { type Address, formatAddress, parseAddress, isWildcard, matchTopic } from './address.js';
import { BrokerError } from './errors.js';
import { copyMessage, createMessage, messageSize, newMessageId, type Message } from './message.js';
import { PolicyResolver, type DestinationPolicy, type PolicyRule } from './policy.js';
import { CoreQueue, type Entry, type QueueRole } from './queue.js';
import { Consumer } from './consumer.js';
import { Connection } from './connection.js';
import { allowAll, ANONYMOUS, type Action, type Credentials, type Principal, type SecurityHooks } from './security.js';
import type {
  BrowsedMessage, ConnectionHandle, ConnectionInfo, ConsumerHandle, DestinationInfo, EngineApi, KvChange, Logger, QueueRef,
  SendItem, SendOptions, SubscribeOptions, SubscriptionLimits, TransactionHandle,
} from './api.js';
import { durableSubscriptionId, sharedSubscriptionId, volatileSharedSubscriptionId } from './subscription-ids.js';
import type { Command, Store } from './store.js';
import { TimerWheel } from './timers.js';
import { TopicIndex } from './topic-index.js';
import { compileSelector, type Selector } from './selector.js';
import { Transaction } from './transaction.js';
import { mergePlans, type SendPlan } from './plan.js';

const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export interface CompositeTarget {
  /** `queue://a` or `topic://b`. */
  address: string;
  selector?: string;
}

export interface CompositeDestination {
  name: string;
  kind: 'queue' | 'topic';
  targets: CompositeTarget[];
  /** false: the composite itself also receives the message. */
  forwardOnly?: boolean;
}

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
}

interface QueueMeta {
  role: QueueRole;
  name: string;
  kind: 'queue' | 'topic';
  address: string;
  dlq?: boolean;
  subscription?: CoreQueue['subscription'];
  /** Limits given by the subscriber (SubscribeOptions.limits), used when no destination policy sets one. */
  limits?: SubscriptionLimits;
  [key: string]: unknown;
}

interface ScheduledJob {
  id: string;
  message: Message;
  destination: string;
  cron?: string;
  delay: number;
  period: number;
  repeat: number;
  /** Next fire time (epoch ms) for cron jobs. */
  next: number;
}

const SCHEDULE_PROPS = ['AMQ_SCHEDULED_DELAY', 'AMQ_SCHEDULED_PERIOD', 'AMQ_SCHEDULED_REPEAT', 'AMQ_SCHEDULED_CRON'];

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return 0;
}

export class Engine extends EventEmitter implements EngineApi {
  readonly store: Store;
  readonly timers: TimerWheel;
  readonly logger: Logger;
  security: SecurityHooks;
  readonly policies: PolicyResolver;
  private readonly queues = new Map<string, CoreQueue>();
  /** Durable / shared subscription queues by engine name. */
  private readonly subscriptions = new Map<string, CoreQueue>();
  private readonly topicIndex = new TopicIndex<CoreQueue>();
  /** Topics that have ever been published to or subscribed (for listing). */
  private readonly knownTopics = new Map<string, { enqueued: number; producers: number; createdAt: number }>();
  private readonly virtualConsumers = new Map<string, Set<CoreQueue>>();
  private readonly retained = new Map<string, Message>();
  private readonly kv = new Map<string, unknown>();
  /** Runtime policy overrides by `kind:name` (kv `core:policy:<kind>:<name>`). */
  private readonly overrides = new Map<string, Partial<DestinationPolicy>>();
  /** The stored meta of each queue (what its `queue.put` command said). */
  private readonly metas = new WeakMap<CoreQueue, QueueMeta>();
  private readonly connections = new Map<string, Connection>();
  private readonly clientIds = new Map<string, Connection>();
  /** Configured composite destinations by `kind:name`, their targets parsed and selectors compiled once. */
  private readonly composites = new Map<string, { targets: Array<{ address: Address; selector?: Selector }>; forwardOnly: boolean }>();
  private readonly producersByDest = new Map<string, number>();
  private readonly jobs = new Map<string, { job: ScheduledJob; timer?: ReturnType<TimerWheel['schedule']> }>();
  private readonly opts: EngineOptions;
  private deliveryIds = 0;
  private tempIds = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private readonly inflightCommits = new Set<Promise<void>>();
  readonly now: () => number;
  readonly totals = { enqueued: 0, delivered: 0, acked: 0, expired: 0, deadLettered: 0 };
  /** Observes every store commit's duration in seconds (admin metrics: commit latency histogram). */
  commitObserver: ((seconds: number, ok: boolean) => void) | null = null;

  constructor(opts: EngineOptions) {
    super();
    this.opts = opts;
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.timers = new TimerWheel(this.now);
    this.host.timers = this.timers;
    this.logger = opts.logger ?? silentLogger;
    this.security = opts.security ?? allowAll;
    this.policies = new PolicyResolver(opts.policies ?? []);
    for (const c of opts.composites ?? []) {
      const targets = c.targets.map((t) => {
        try {
          return { address: parseAddress(t.address, c.kind), selector: t.selector ? compileSelector(t.selector) : undefined };
        } catch (err) {
          throw new BrokerError('invalid', `Composite ${c.kind} '${c.name}', target '${t.address}': ${(err as Error).message}`);
        }
      });
      this.composites.set(`${c.kind}:${c.name}`, { targets, forwardOnly: c.forwardOnly !== false });
    }
  }

  // ================================================================ lifecycle

  async start(): Promise<void> {
    if (this.started) return;
    const { queues, kv } = await this.store.open();
    for (const [k, v] of kv) this.kv.set(k, v);
    for (const [k, v] of this.kv) {
      if (k.startsWith(POLICY_PREFIX)) this.overrides.set(k.slice(POLICY_PREFIX.length), v as Partial<DestinationPolicy>);
    }
    for (const r of queues) {
      const meta = r.meta as QueueMeta;
      const q = this.instantiateQueue(meta, r.name);
      q.recover(r.count, r.bytes, r.lastSeq, r.mark);
    }
    for (const [k, v] of this.kv) {
      if (k.startsWith('retained:')) this.retained.set(k.slice('retained:'.length), v as Message);
      else if (k.startsWith('sched:')) this.armJob(v as ScheduledJob);
      else if (k.startsWith(PAUSED_PREFIX)) this.queueByRef(refFromKey(k.slice(PAUSED_PREFIX.length)))?.setPaused(true);
    }
    const interval = this.opts.expirySweepInterval ?? 1000;
    this.sweepTimer = setInterval(() => this.sweep(), interval);
    this.sweepTimer.unref();
    this.started = true;
    this.logger.info({ queues: this.queues.size, subscriptions: this.subscriptions.size, retained: this.retained.size }, 'engine recovered');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const c of [...this.connections.values()]) this.disconnect(c);
    this.timers.stop();
    await Promise.allSettled([...this.inflightCommits]);
    await this.store.close();
  }

  private sweep(): void {
    for (const q of [...this.queues.values(), ...this.subscriptions.values()]) {
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

  authenticate(credentials: Credentials): Promise<Principal | null> {
    return this.security.authenticate(credentials);
  }

  async connect(info: ConnectionInfo, credentials?: Omit<Credentials, 'protocol'>): Promise<Connection> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const principal = await this.security.authenticate({ protocol: info.protocol, remoteAddress: info.remoteAddress, ...credentials });
    if (!principal) throw new BrokerError('unauthenticated', 'Authentication failed: bad username or password');
    if (info.clientId) {
      const existing = this.clientIds.get(info.clientId);
      if (existing && !existing.closed) {
        if (!info.takeover) throw new BrokerError('client-id-in-use', `Client id '${info.clientId}' is already connected`);
        existing.onKill?.('session taken over by a new connection with the same client id');
        this.disconnect(existing);
      }
    }
    const c = new Connection(info, principal);
    this.connections.set(c.id, c);
    if (info.clientId) this.clientIds.set(info.clientId, c);
    this.emit('connection.opened', c);
    return c;
  }

  /** Close everything a connection owns: consumers (unsettled go back), temporary destinations. */
  disconnect(handle: ConnectionHandle): void {
    const c = handle as Connection;
    if (c.closed) return;
    c.closed = true;
    for (const consumer of [...c.consumers]) consumer.close();
    for (const t of c.temporaries) {
      const [kind, name] = [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)];
      if (kind === 'queue') this.deleteQueue(name).catch((err) => this.onError(err, 'temp queue delete'));
      else this.knownTopics.delete(name);
    }
    this.connections.delete(c.id);
    if (c.clientId && this.clientIds.get(c.clientId) === c) this.clientIds.delete(c.clientId);
    this.emit('connection.closed', c);
  }

  /** Ask the adapter to drop a connection (admin close). */
  killConnection(id: string, reason = 'closed by administrator'): boolean {
    const c = this.connections.get(id);
    if (!c) return false;
    c.onKill?.(reason);
    this.disconnect(c);
    return true;
  }

  listConnections(): Connection[] {
    return [...this.connections.values()];
  }

  authorize(principal: Principal | undefined, action: Action, address: Address | null): void {
    if (!this.security.authorize(principal ?? ANONYMOUS, action, address)) {
      throw new BrokerError('unauthorized', `User '${(principal ?? ANONYMOUS).username}' is not authorized to ${action} ${address ? formatAddress(address) : ''}`.trim());
    }
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
    this.metas.set(q, meta);
    if (meta.role === 'queue' || meta.role === 'temporary') {
      this.queues.set(meta.name, q);
      this.indexVirtualConsumer(q, true);
    } else {
      this.subscriptions.set(meta.name, q);
      if (meta.subscription) this.topicIndex.add(meta.subscription.topicPattern, q);
    }
    if (meta.subscription?.selector) subscriptionSelectors.set(q, compileSelector(meta.subscription.selector));
    return q;
  }

  private readonly host = {
    timers: null as unknown as TimerWheel,
    commit: (batch: Command[]) => this.commit(batch),
    readEntries: (s: string, after: number, limit: number) => this.store.readEntries(s, after, limit),
    readSeqs: (s: string, after: number, limit: number) => this.store.readSeqs(s, after, limit),
    deadLetter: (from: CoreQueue, entry: Entry, reason: string) => this.deadLetterPlan(from, entry, reason),
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
    let set = this.virtualConsumers.get(topicName);
    if (add) {
      if (!set) this.virtualConsumers.set(topicName, (set = new Set()));
      set.add(q);
    } else set?.delete(q);
  }

  /** The live queue (core and tests only: adapters get `queueInfo`). */
  getQueue(name: string): CoreQueue | undefined {
    return this.queues.get(name);
  }

  /** The live subscription queue (core and tests only: adapters get `subscriptionInfo`). */
  getSubscription(name: string): CoreQueue | undefined {
    return this.subscriptions.get(name);
  }

  private queueByRef(ref: QueueRef): CoreQueue | undefined {
    return ref.kind === 'queue' ? this.queues.get(ref.name) : this.subscriptions.get(ref.name);
  }

  private queueOrThrow(ref: QueueRef): CoreQueue {
    const q = this.queueByRef(ref);
    if (!q) throw new BrokerError('not-found', `${ref.kind === 'queue' ? 'Queue' : 'Subscription'} '${ref.name}' does not exist`);
    return q;
  }

  queueInfo(name: string): DestinationInfo | undefined {
    const q = this.queues.get(name);
    return q && !q.deleted ? this.describeQueue(q) : undefined;
  }

  subscriptionInfo(id: string): DestinationInfo | undefined {
    const q = this.subscriptions.get(id);
    return q && !q.deleted ? this.describeQueue(q) : undefined;
  }

  consumersOf(ref: QueueRef): ConsumerHandle[] {
    return [...(this.queueByRef(ref)?.consumers ?? [])];
  }

  // ================================================================ policies

  /** A queue's policy: configured rules, the runtime override, then a subscriber's own limits where none is set. */
  private queuePolicy(meta: QueueMeta, address: Address): DestinationPolicy {
    const p = this.policyOf(meta.kind, meta.kind === 'queue' ? meta.name : address.name);
    const lim = meta.limits;
    if (lim && lim.maxMessages > 0 && !p.maxMessages && !p.maxBytes) return { ...p, maxMessages: lim.maxMessages, limitPolicy: lim.limitPolicy };
    return p;
  }

  policyOf(kind: 'queue' | 'topic', name: string): DestinationPolicy {
    const base = this.policies.resolve(kind, name);
    const o = this.overrides.get(`${kind}:${name}`);
    return o ? { ...base, ...o } : base;
  }

  async setPolicyOverride(kind: 'queue' | 'topic', name: string, override: Partial<DestinationPolicy> | null): Promise<void> {
    const key = `${POLICY_PREFIX}${kind}:${name}`;
    if (override === null) {
      if (!this.overrides.has(`${kind}:${name}`)) return;
      await this.commit([{ t: 'kv.delete', key }]);
      this.kv.delete(key);
      this.overrides.delete(`${kind}:${name}`);
    } else {
      const value = { ...override };
      await this.commit([{ t: 'kv.put', key, value }]);
      this.kv.set(key, value);
      this.overrides.set(`${kind}:${name}`, value);
    }
    this.refreshPolicies(kind, name);
  }

  policyOverride(kind: 'queue' | 'topic', name: string): Partial<DestinationPolicy> | undefined {
    return this.overrides.get(`${kind}:${name}`);
  }

  policyOverrides(): Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }> {
    return [...this.overrides].map(([k, override]) => {
      const i = k.indexOf(':');
      return { kind: k.slice(0, i) as 'queue' | 'topic', name: k.slice(i + 1), override };
    });
  }

  private refreshPolicies(kind: 'queue' | 'topic', name: string): void {
    const qs = kind === 'queue' ? [this.queues.get(name)] : [...this.subscriptions.values()].filter((q) => q.address.name === name);
    for (const q of qs) {
      const meta = q && this.metas.get(q);
      if (q && meta) q.policy = this.queuePolicy(meta, q.address);
    }
  }

  async setDeadLetterQueue(name: string, dlq: boolean): Promise<void> {
    const q = this.queueOrThrow({ kind: 'queue', name });
    if (q.isDeadLetterQueue === dlq) return;
    const meta = { ...this.metas.get(q)!, dlq };
    if (q.role !== 'temporary') await this.commit([{ t: 'queue.put', queue: q.storageName, meta }]);
    this.metas.set(q, meta);
    q.isDeadLetterQueue = dlq;
  }

  async setPaused(ref: QueueRef, paused: boolean): Promise<void> {
    const q = this.queueOrThrow(ref);
    const key = `${PAUSED_PREFIX}${refKey(ref)}`;
    if (paused) {
      await this.commit([{ t: 'kv.put', key, value: true }]);
      this.kv.set(key, true);
    } else if (this.kv.has(key)) {
      await this.commit([{ t: 'kv.delete', key }]);
      this.kv.delete(key);
    }
    q.setPaused(paused);
  }

  /**
   * The queue named `name`, created (and its creation committed) if missing.
   * Returns the commands that create it when `deferCommit` (so a send can commit creation and enqueue together).
   */
  private ensureQueue(name: string, pending?: Command[], opts: { dlq?: boolean; temporary?: boolean } = {}): CoreQueue {
    let q = this.queues.get(name);
    if (q) return q;
    if (!name || name.length > 1024 || isWildcard(name)) throw new BrokerError('invalid', `Invalid queue name '${name}'`);
    const meta: QueueMeta = { role: opts.temporary ? 'temporary' : 'queue', name, kind: 'queue', address: formatAddress({ kind: 'queue', name }), dlq: opts.dlq };
    q = this.instantiateQueue(meta, this.storageNameFor('queue', name));
    if (!opts.temporary) {
      const cmd: Command = { t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> };
      if (pending) pending.push(cmd);
      else this.commit([cmd]).catch((err) => this.onError(err, 'queue create'));
    }
    this.emit('destination.created', { kind: 'queue', name });
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
    const q = this.queues.get(name);
    if (!q) return false;
    if (q.persistent && q.role !== 'temporary') {
      // Empty it a chunk per commit first (CoreQueue.purge), so the final delete is a small transaction. The
      // queue stays registered meanwhile: new sends take seqs above the purge and go with the delete.
      for (const c of [...q.consumers]) c.close({ notify: true, reason: `queue '${name}' was deleted` });
      await q.purge();
      if (this.queues.get(name) !== q) return true; // another call deleted it meanwhile
    }
    this.queues.delete(name);
    this.indexVirtualConsumer(q, false);
    q.markDeleted();
    for (const c of [...q.consumers]) c.close({ notify: true, reason: `queue '${name}' was deleted` });
    if (q.role !== 'temporary') {
      // the queue's runtime state goes with it, in the same commit
      const cmds: Command[] = [{ t: 'queue.delete', queue: q.storageName }];
      const stateKeys = [`${POLICY_PREFIX}queue:${name}`, `${PAUSED_PREFIX}${refKey({ kind: 'queue', name })}`].filter((k) => this.kv.has(k));
      for (const key of stateKeys) cmds.push({ t: 'kv.delete', key });
      await this.commit(cmds);
      for (const key of stateKeys) this.kv.delete(key);
      this.overrides.delete(`queue:${name}`);
    }
    this.emit('destination.deleted', { kind: 'queue', name });
    return true;
  }

  async purgeQueue(name: string): Promise<number> {
    const q = this.queues.get(name) ?? this.subscriptions.get(name);
    if (!q) throw new BrokerError('not-found', `Queue '${name}' does not exist`);
    return q.purge();
  }

  /** A temporary queue or topic owned by the connection, deleted when it closes. */
  createTemporary(kind: 'queue' | 'topic', handle: ConnectionHandle, name?: string): Address {
    const connection = handle as Connection;
    const n = name ?? `temp.${connection.id}.${++this.tempIds}`;
    if (kind === 'queue') this.ensureQueue(n, undefined, { temporary: true });
    else this.knownTopics.set(n, { enqueued: 0, producers: 0, createdAt: Date.now() });
    connection.temporaries.add(`${kind}:${n}`);
    return { kind, name: n, temporary: true };
  }

  listDestinations(): DestinationInfo[] {
    const out: DestinationInfo[] = [];
    for (const q of this.queues.values()) out.push(this.describeQueue(q));
    for (const [name, t] of this.knownTopics) {
      const subs = this.topicIndex.match(name);
      let consumers = 0;
      for (const s of subs) consumers += s.consumers.length;
      out.push({
        kind: 'topic', name, role: 'queue', depth: 0, ready: 0, inflight: 0, scheduled: 0, bytes: 0, consumers,
        producers: this.producersByDest.get(`topic:${name}`) ?? 0, enqueued: t.enqueued, dequeued: 0, expired: 0, deadLettered: 0,
        dropped: 0, limitHits: 0, paused: false, temporary: false, deadLetterQueue: false, persistent: false, createdAt: t.createdAt,
      });
    }
    return out;
  }

  listSubscriptions(): DestinationInfo[] {
    return [...this.subscriptions.values()].map((q) => this.describeQueue(q));
  }

  describeQueue(q: CoreQueue): DestinationInfo {
    return {
      kind: q.role === 'queue' || q.role === 'temporary' ? 'queue' : 'topic',
      name: q.name,
      role: q.role,
      depth: q.depth,
      ready: q.readyMessages,
      inflight: q.inflightCount,
      scheduled: q.scheduledMessages,
      bytes: q.bytes,
      consumers: q.consumers.length,
      producers: this.producersByDest.get(`queue:${q.name}`) ?? 0,
      enqueued: q.stats.enqueued,
      dequeued: q.stats.dequeued,
      expired: q.stats.expired,
      deadLettered: q.stats.deadLettered,
      dropped: q.stats.dropped,
      limitHits: q.stats.limitHits,
      paused: q.paused,
      temporary: q.role === 'temporary',
      deadLetterQueue: q.isDeadLetterQueue,
      persistent: q.persistent,
      createdAt: q.createdAt,
      subscription: q.subscription,
    };
  }

  /** Count a producer on a destination (for stats); returns a function that un-counts it. */
  registerProducer(address: Address, handle?: ConnectionHandle | null): () => void {
    const connection = handle as Connection | null | undefined;
    const key = `${address.kind}:${address.name}`;
    this.producersByDest.set(key, (this.producersByDest.get(key) ?? 0) + 1);
    if (connection) connection.producers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.producersByDest.set(key, Math.max(0, (this.producersByDest.get(key) ?? 1) - 1));
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
    this.authorize(conn?.principal, 'send', address);
    if (conn) {
      conn.stats.messagesIn++;
      conn.stats.bytesIn += message.body.length;
    }
    if (opts.transaction) {
      (opts.transaction as Transaction).addSend(message, address, opts.retain ?? false);
      return;
    }
    const kvCmds = kvCommands(opts.kv);
    if (this.hasScheduleProps(message)) {
      await this.schedule(message, address);
      if (kvCmds.length) await this.commit(kvCmds);
    } else {
      const plan = await this.planSend(message, address, opts.retain ?? false, conn);
      await this.executePlan(plan, kvCmds);
    }
    this.applyKv(opts.kv);
  }

  async sendMany(items: SendItem[], opts: { connection?: ConnectionHandle | null } = {}): Promise<Array<Error | undefined>> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const conn = (opts.connection ?? null) as Connection | null;
    const results: Array<Error | undefined> = new Array(items.length).fill(undefined);
    const plans: SendPlan[] = [];
    const kv: KvChange[] = [];
    const scheduled: number[] = [];
    try {
      for (let i = 0; i < items.length; i++) {
        const { message, address } = items[i];
        try {
          this.authorize(conn?.principal, 'send', address);
          if (this.hasScheduleProps(message)) {
            scheduled.push(i);
            continue;
          }
          plans.push(await this.planSend(message, address, false, conn));
        } catch (err) {
          results[i] = err as Error;
          continue;
        }
        if (conn) {
          conn.stats.messagesIn++;
          conn.stats.bytesIn += message.body.length;
        }
        if (items[i].kv) kv.push(...items[i].kv!);
      }
    } catch (err) {
      for (const p of plans) for (const r of p.release) r();
      throw err;
    }
    await this.executePlan(mergePlans(plans), kvCommands(kv));
    this.applyKv(kv);
    // scheduled messages are jobs of their own (rare over SQS): one commit each
    for (const i of scheduled) {
      try {
        await this.send(items[i].message, items[i].address, { connection: conn, kv: items[i].kv });
      } catch (err) {
        results[i] = err as Error;
      }
    }
    return results;
  }

  private applyKv(changes: KvChange[] | undefined): void {
    for (const e of changes ?? []) {
      if (e.value === undefined) this.kv.delete(e.key);
      else this.kv.set(e.key, e.value);
    }
  }

  /** A routed, admitted send: commands to commit and what to apply afterwards. */
  async planSend(message: Message, address: Address, retain: boolean, conn: Connection | null): Promise<SendPlan> {
    const plan: SendPlan = { commands: [], apply: [], release: [], targets: [] };
    const targets = this.expandComposite(address);
    const policyTtl = (a: Address) => this.policyOf(a.kind, a.name).defaultTtl;
    try {
      for (const t of targets) {
        const dest = formatAddress(t.address);
        let m: Message;
        if (targets.length === 1 && (message.destination === undefined || message.destination === dest)) {
          message.destination = dest;
          m = message;
        } else m = copyMessage(message, { destination: dest });
        if (t.selector && !t.selector(m)) continue;
        if (!m.expiration) {
          const ttl = policyTtl(t.address);
          if (ttl > 0) m = copyMessage(m, { expiration: m.timestamp + ttl });
        }
        if (t.address.kind === 'queue') await this.planQueue(plan, m, t.address);
        else await this.planTopic(plan, m, t.address.name, retain, conn);
      }
    } catch (err) {
      for (const r of plan.release) r();
      throw err;
    }
    return plan;
  }

  async executePlan(plan: SendPlan, extra: Command[]): Promise<void> {
    this.finalizePlan(plan);
    const cmds = extra.length ? [...extra, ...plan.commands] : plan.commands;
    if (cmds.length) {
      try {
        await this.commit(cmds);
      } catch (err) {
        for (const r of plan.release) r();
        throw err;
      }
    }
    for (const a of plan.apply) a();
  }

  private async planQueue(plan: SendPlan, m: Message, address: Address): Promise<void> {
    const existing = this.queues.get(address.name);
    if (!existing && address.temporary) throw new BrokerError('not-found', `Temporary queue '${address.name}' does not exist (its connection closed)`);
    const q = existing ?? this.ensureQueue(address.name, plan.commands);
    await this.enqueueInto(plan, q, m);
  }

  private enqueueInto(plan: SendPlan, q: CoreQueue, m: Message): Promise<void> | void {
    const size = messageSize(m);
    const doHold = () => {
      q.hold(size);
      plan.release.push(() => q.unreserve(size));
      plan.targets.push({ q, m, size });
    };
    const p = q.policy;
    if (!p.maxMessages && !p.maxBytes) return doHold();
    return q.admit(size).then(doHold);
  }

  /**
   * Give every target its seq and build the enqueue commands. Must run in the same synchronous step as
   * the commit() call (see CoreQueue.nextSeq).
   */
  private finalizePlan(plan: SendPlan): void {
    const enqueues: Array<Extract<Command, { t: 'enqueue' }>> = [];
    for (const { q, m } of plan.targets) {
      const seq = q.nextSeq();
      const persisted = q.persistent && m.durable;
      if (persisted) {
        const cmd: Extract<Command, { t: 'enqueue' }> = { t: 'enqueue', queue: q.storageName, seq, message: m };
        enqueues.push(cmd);
        plan.commands.push(cmd);
        if (q.wantsEagerMark(seq)) {
          plan.commands.push({ t: 'mark', queue: q.storageName, seq });
          q.noteMarkRequested(seq);
          plan.apply.push(() => q.markCommitted(seq));
        }
      }
      plan.apply.push(() => {
        this.totals.enqueued++;
        q.applyEnqueue(seq, m, persisted, true);
      });
    }
    plan.targets = [];
    // A message body fanned out to several persistent queues is stored once.
    if (enqueues.length > 1 && enqueues.every((c) => c.message === enqueues[0].message)) {
      const shared = newMessageId();
      for (const c of enqueues) c.shared = shared;
    }
  }

  private async planTopic(plan: SendPlan, m: Message, topicName: string, retain: boolean, conn: Connection | null): Promise<void> {
    if (!topicName || isWildcard(topicName)) throw new BrokerError('invalid', `Cannot publish to topic '${topicName}': wildcards are for subscribing`);
    let t = this.knownTopics.get(topicName);
    if (!t) {
      this.knownTopics.set(topicName, (t = { enqueued: 0, producers: 0, createdAt: Date.now() }));
      this.emit('destination.created', { kind: 'topic', name: topicName });
    }
    const topicStats = t;
    plan.apply.push(() => topicStats.enqueued++);
    if (retain) {
      const key = `retained:${topicName}`;
      if (m.body.length === 0) {
        plan.commands.push({ t: 'kv.delete', key });
        plan.apply.push(() => {
          this.retained.delete(topicName);
          this.kv.delete(key);
        });
      } else {
        const stored = copyMessage(m, { annotations: { ...(m.annotations ?? {}), 'core.retained': true } });
        plan.commands.push({ t: 'kv.put', key, value: stored });
        plan.apply.push(() => {
          this.retained.set(topicName, stored);
          this.kv.set(key, stored);
        });
      }
    }
    for (const q of this.topicIndex.match(topicName)) {
      const sub = q.subscription;
      if (sub?.noLocal && conn && this.isLocal(q, conn)) continue;
      const sel = subscriptionSelectors.get(q);
      if (sel && !sel(m)) continue;
      await this.enqueueInto(plan, q, m);
    }
    const vqs = this.virtualConsumers.get(topicName);
    if (vqs) {
      for (const q of vqs) await this.enqueueInto(plan, q, copyMessage(m, { destination: formatAddress({ kind: 'queue', name: q.name }), annotations: { ...(m.annotations ?? {}), 'core.originalDestination': m.destination } }));
    }
  }

  private isLocal(q: CoreQueue, conn: Connection): boolean {
    const owner = subscriptionOwners.get(q);
    if (owner === conn.id) return true;
    return !!conn.clientId && q.subscription?.clientId === conn.clientId;
  }

  private expandComposite(address: Address): Array<{ address: Address; selector?: Selector }> {
    const configured = this.composites.get(`${address.kind}:${address.name}`);
    if (configured) {
      return configured.forwardOnly ? configured.targets : [...configured.targets, { address }];
    }
    if (!address.name.includes(',')) return [{ address }];
    return address.name
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => ({ address: parseAddress(s, address.kind) }));
  }

  // ================================================================ scheduled delivery (ActiveMQ scheduler properties)

  private hasScheduleProps(m: Message): boolean {
    const p = m.properties;
    return p.AMQ_SCHEDULED_DELAY !== undefined || p.AMQ_SCHEDULED_PERIOD !== undefined || p.AMQ_SCHEDULED_REPEAT !== undefined || p.AMQ_SCHEDULED_CRON !== undefined;
  }

  private stripSchedule(m: Message, extra: Partial<Message> = {}): Message {
    const c = copyMessage(m, extra);
    for (const k of SCHEDULE_PROPS) delete c.properties[k];
    return c;
  }

  private async schedule(message: Message, address: Address): Promise<void> {
    const p = message.properties;
    const delay = Math.max(0, num(p.AMQ_SCHEDULED_DELAY));
    const period = Math.max(0, num(p.AMQ_SCHEDULED_PERIOD));
    const repeat = Math.max(0, Math.trunc(num(p.AMQ_SCHEDULED_REPEAT)));
    const cron = typeof p.AMQ_SCHEDULED_CRON === 'string' ? p.AMQ_SCHEDULED_CRON : undefined;
    const now = this.now();
    if (cron) {
      let next: number;
      try {
        next = CronExpressionParser.parse(cron, { currentDate: new Date(now) }).next().getTime();
      } catch (err) {
        throw new BrokerError('invalid', `Invalid AMQ_SCHEDULED_CRON '${cron}': ${(err as Error).message}`);
      }
      const job: ScheduledJob = { id: newMessageId(), message: this.stripSchedule(message), destination: formatAddress(address), cron, delay, period, repeat, next };
      await this.commit([{ t: 'kv.put', key: `sched:${job.id}`, value: job }]);
      this.kv.set(`sched:${job.id}`, job);
      this.armJob(job);
      return;
    }
    // delay / repeat: each occurrence is an ordinary message with a delivery time
    const plans: SendPlan[] = [];
    for (let i = 0; i <= repeat; i++) {
      const at = now + delay + i * period;
      const m = this.stripSchedule(message, { deliveryTime: at, messageId: i === 0 ? message.messageId : newMessageId() });
      plans.push(await this.planSend(m, address, false, null));
    }
    await this.executePlan(mergePlans(plans), []);
  }

  private armJob(job: ScheduledJob): void {
    const entry: { job: ScheduledJob; timer?: ReturnType<TimerWheel['schedule']> } = { job };
    this.jobs.set(job.id, entry);
    entry.timer = this.timers.schedule(job.next, () => this.fireJob(job));
  }

  private fireJob(job: ScheduledJob): void {
    const address = parseAddress(job.destination);
    const now = this.now();
    const occurrences: Message[] = [];
    for (let i = 0; i <= job.repeat; i++) occurrences.push(copyMessage(job.message, { messageId: newMessageId(), timestamp: now, deliveryTime: now + job.delay + i * job.period, properties: { ...job.message.properties, scheduledJobId: job.id } }));
    let next: number;
    try {
      next = CronExpressionParser.parse(job.cron!, { currentDate: new Date(now + 1) }).next().getTime();
    } catch {
      return;
    }
    const updated = { ...job, next };
    (async () => {
      const plans = await Promise.all(occurrences.map((m) => this.planSend(m, address, false, null)));
      await this.executePlan(mergePlans(plans), [{ t: 'kv.put', key: `sched:${job.id}`, value: updated }]);
      if (this.jobs.has(job.id)) {
        this.kv.set(`sched:${job.id}`, updated);
        this.armJob(updated);
      }
    })().catch((err) => this.onError(err, 'scheduled job'));
  }

  listScheduledJobs(): ScheduledJob[] {
    return [...this.jobs.values()].map((j) => j.job);
  }

  async cancelScheduledJob(id: string): Promise<boolean> {
    const j = this.jobs.get(id);
    if (!j) return false;
    this.timers.cancel(j.timer);
    this.jobs.delete(id);
    await this.commit([{ t: 'kv.delete', key: `sched:${id}` }]);
    this.kv.delete(`sched:${id}`);
    return true;
  }

  // ================================================================ dead letters

  private deadLetterPlan(from: CoreQueue, entry: Entry, reason: string): { commands: Command[]; apply: () => void } | null {
    const template = from.policy.deadLetterQueue;
    if (!template) return null;
    // A subscription dead-letters per concrete topic the message was published to (its pattern may be a wildcard).
    const published = entry.message.destination ? parseAddress(entry.message.destination) : null;
    const baseName = from.role === 'queue' || from.role === 'temporary' ? from.name : published?.kind === 'topic' ? published.name : from.address.name;
    const dlqName = template.replace('{name}', baseName);
    if (dlqName === from.name) return null;
    const commands: Command[] = [];
    let dlq: CoreQueue;
    try {
      dlq = this.ensureQueue(dlqName, commands, { dlq: true });
    } catch (err) {
      // e.g. a subscription on a wildcard pattern ('DLQ.a.*' is no queue name): drop rather than throw out
      // of an expiry sweep timer
      this.logger.warn({ err, from: from.name, dlq: dlqName }, 'dead-letter queue name is not valid; message dropped');
      return null;
    }
    if (!dlq.isDeadLetterQueue) {
      // an existing queue becomes a DLQ: recorded in its meta with the move, so a restart knows it too
      const meta = { ...this.metas.get(dlq)!, dlq: true };
      if (dlq.persistent && commands.length === 0) commands.push({ t: 'queue.put', queue: dlq.storageName, meta });
      this.metas.set(dlq, meta);
      dlq.isDeadLetterQueue = true;
    }
    const m = copyMessage(entry.message, { expiration: 0 });
    m.properties.dlqDeliveryFailureCause = reason;
    m.properties.originalDestination = entry.message.destination ?? formatAddress(from.address);
    if (from.role !== 'queue') m.properties.originalSubscription = from.name;
    m.properties.originalDeliveryCount = entry.deliveryCount;
    const size = messageSize(m);
    const seq = dlq.reserve(size);
    const persisted = dlq.persistent && m.durable;
    if (persisted) commands.push({ t: 'enqueue', queue: dlq.storageName, seq, message: m });
    this.totals.deadLettered++;
    return { commands, apply: () => dlq.applyEnqueue(seq, m, persisted, true) };
  }

  /**
   * Move messages from a DLQ back to where they came from (`originalDestination`), or to `target`.
   * Returns how many were moved.
   */
  async retryDeadLetters(dlqName: string, opts: { seqs?: number[]; target?: Address } = {}): Promise<number> {
    const dlq = this.queues.get(dlqName);
    if (!dlq) throw new BrokerError('not-found', `Queue '${dlqName}' does not exist`);
    const items = dlq.browse(opts.seqs ? Number.MAX_SAFE_INTEGER : 100_000).filter((b) => b.state !== 'inflight' && (!opts.seqs || opts.seqs.includes(b.seq)));
    let moved = 0;
    for (const it of items) {
      const orig = typeof it.message.properties.originalDestination === 'string' ? parseAddress(it.message.properties.originalDestination) : null;
      const target = opts.target ?? orig;
      if (!target) continue;
      const removed = await dlq.removeBySeq(it.seq);
      if (!removed) continue;
      const m = copyMessage(removed, { destination: formatAddress(target) });
      delete m.properties.dlqDeliveryFailureCause;
      delete m.properties.originalDestination;
      delete m.properties.originalSubscription;
      delete m.properties.originalDeliveryCount;
      await this.send(m, target);
      moved++;
    }
    return moved;
  }

  /** Move or copy one message (admin). */
  async moveMessage(fromQueue: string, seq: number, target: Address, copy = false): Promise<boolean> {
    const q = this.queues.get(fromQueue) ?? this.subscriptions.get(fromQueue);
    if (!q) throw new BrokerError('not-found', `Queue '${fromQueue}' does not exist`);
    if (copy) {
      const found = q.browse(Number.MAX_SAFE_INTEGER).find((b) => b.seq === seq);
      if (!found) return false;
      await this.send(copyMessage(found.message, { messageId: newMessageId(), destination: formatAddress(target) }), target);
      return true;
    }
    const m = await q.removeBySeq(seq);
    if (!m) return false;
    await this.send(copyMessage(m, { destination: formatAddress(target) }), target);
    return true;
  }

  // ================================================================ consuming

  /** Attach a consumer to a queue or a topic subscription. */
  async subscribe(o: SubscribeOptions): Promise<Consumer> {
    if (this.stopped) throw new BrokerError('closed', 'broker is shutting down');
    const conn = (o.connection ?? null) as Connection | null;
    this.authorize(conn?.principal, 'consume', o.address);
    let selector: Selector | undefined;
    if (o.selector && o.selector.trim()) {
      try {
        selector = compileSelector(o.selector);
      } catch (err) {
        throw new BrokerError('invalid', `Invalid selector: ${(err as Error).message}`);
      }
    }
    let queue: CoreQueue;
    let ownsQueue = false;
    let consumerSelector = selector;
    if (o.address.kind === 'queue') {
      if (isWildcard(o.address.name)) throw new BrokerError('invalid', `Wildcards are not supported for queue consumers: '${o.address.name}'`);
      const existing = this.queues.get(o.address.name);
      if (!existing && o.address.temporary) throw new BrokerError('not-found', `Temporary queue '${o.address.name}' does not exist`);
      queue = existing ?? (await this.openQueue(o.address.name));
    } else {
      consumerSelector = undefined; // topic selectors filter at routing time
      if (!this.knownTopics.has(o.address.name) && !isWildcard(o.address.name)) this.knownTopics.set(o.address.name, { enqueued: 0, producers: 0, createdAt: Date.now() });
      ({ queue, ownsQueue } = await this.subscriptionQueue(o, conn));
      if (selector) subscriptionSelectors.set(queue, selector);
    }
    const consumer = new Consumer<CoreQueue>(
      { nextDeliveryId: () => this.nextDeliveryId(), consumerClosed: (c) => this.consumerClosed(c) },
      {
        queue,
        connection: conn,
        prefetch: o.prefetch,
        credit: o.credit,
        selector: consumerSelector,
        exclusive: o.exclusive,
        autoAck: o.autoAck,
        ackTimeout: o.ackTimeout,
        onMessage: (d) => {
          this.totals.delivered++;
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
    if (o.retained && o.address.kind === 'topic') this.deliverRetained(queue, o.address.name);
    queue.addConsumer(consumer);
    this.emit('consumer.opened', consumer);
    return consumer;
  }

  private deliverRetained(queue: CoreQueue, pattern: string): void {
    const sel = subscriptionSelectors.get(queue);
    for (const [topicName, m] of this.retained) {
      if (!matchTopic(pattern, topicName)) continue;
      if (sel && !sel(m)) continue;
      const seq = queue.reserve(messageSize(m));
      // retained copies are delivered from memory: they are already durable as the topic's retained message
      queue.applyEnqueue(seq, m, false, true);
    }
  }

  private async subscriptionQueue(o: SubscribeOptions, conn: Connection | null): Promise<{ queue: CoreQueue; ownsQueue: boolean }> {
    const pattern = o.address.name;
    if (o.durable) {
      const clientId = o.shared ? undefined : o.durable.clientId ?? conn?.clientId;
      if (!o.shared && !clientId) throw new BrokerError('invalid', 'A durable subscription needs a client id');
      const name = o.shared ? sharedSubscriptionId(o.shared) : durableSubscriptionId(clientId!, o.durable.name);
      const sub = { clientId, subscriptionName: o.durable.name, selector: o.selector || undefined, noLocal: o.noLocal || undefined, topicPattern: pattern };
      let q = this.subscriptions.get(name);
      if (q && (q.subscription?.topicPattern !== pattern || (q.subscription?.selector ?? '') !== (o.selector ?? '') || !!q.subscription?.noLocal !== !!o.noLocal)) {
        // JMS: subscribing with a different topic or selector replaces the subscription
        if (q.consumers.length && !o.shared) throw new BrokerError('invalid', `Durable subscription '${o.durable.name}' is in use`);
        await this.removeSubscription(q);
        q = undefined;
      }
      if (q && !o.shared && q.consumers.some((c) => !c.closed)) throw new BrokerError('invalid', `Durable subscription '${o.durable.name}' of client '${clientId}' already has an active consumer`);
      if (!q) {
        const meta: QueueMeta = { role: o.shared ? 'shared-subscription' : 'durable-subscription', durable: true, name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: sub, limits: o.limits };
        q = this.instantiateQueue(meta, this.storageNameFor(meta.role, name));
        await this.commit([{ t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> }]);
        this.emit('subscription.created', { name });
      } else if (!sameLimits(this.metas.get(q)?.limits, o.limits)) {
        // the subscriber's limits changed (configuration): a new meta, committed before it takes effect
        const meta: QueueMeta = { ...this.metas.get(q)!, limits: o.limits };
        await this.commit([{ t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> }]);
        this.metas.set(q, meta);
        q.policy = this.queuePolicy(meta, q.address);
      }
      return { queue: q, ownsQueue: false };
    }
    if (o.shared) {
      const name = volatileSharedSubscriptionId(o.shared, pattern);
      let q = this.subscriptions.get(name);
      if (!q) {
        const meta: QueueMeta = { role: 'shared-subscription', name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: { topicPattern: pattern, selector: o.selector || undefined, subscriptionName: o.shared }, limits: o.limits };
        q = this.instantiateQueue(meta, this.storageNameFor('shared-subscription', name));
      }
      return { queue: q, ownsQueue: false };
    }
    const name = `sub:${conn?.id ?? 'local'}:${this.nextDeliveryId()}`;
    const meta: QueueMeta = { role: 'subscription', name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: { topicPattern: pattern, noLocal: o.noLocal || undefined, selector: o.selector || undefined }, limits: o.limits };
    const q = this.instantiateQueue(meta, this.storageNameFor('subscription', name));
    if (conn) subscriptionOwners.set(q, conn.id);
    return { queue: q, ownsQueue: true };
  }

  private consumerClosed(c: Consumer<CoreQueue>): void {
    (c.connection as Connection | null)?.consumers.delete(c);
    const q = c.queue;
    this.emit('consumer.closed', c);
    if (c.ownsQueue || (q.role === 'shared-subscription' && !q.persistent && q.consumers.length === 0)) {
      this.dropSubscriptionQueue(q);
    }
  }

  private dropSubscriptionQueue(q: CoreQueue): void {
    this.subscriptions.delete(q.name);
    if (q.subscription) this.topicIndex.remove(q.subscription.topicPattern, q);
    q.markDeleted();
  }

  private async removeSubscription(q: CoreQueue): Promise<void> {
    for (const c of [...q.consumers]) c.close({ notify: true, reason: 'subscription removed' });
    if (q.persistent) {
      // empty its backlog a chunk per commit first (see deleteQueue); still routed meanwhile, so a subscriber
      // coming back under the same name finds this queue rather than a second one with colliding seqs
      await q.purge();
      if (this.subscriptions.get(q.name) !== q) return; // removed meanwhile by another call
      for (const c of [...q.consumers]) c.close({ notify: true, reason: 'subscription removed' });
    }
    this.dropSubscriptionQueue(q);
    if (q.persistent) {
      const paused = `${PAUSED_PREFIX}${refKey({ kind: 'subscription', name: q.name })}`;
      const cmds: Command[] = [{ t: 'queue.delete', queue: q.storageName }];
      if (this.kv.has(paused)) cmds.push({ t: 'kv.delete', key: paused });
      await this.commit(cmds);
      this.kv.delete(paused);
    }
    this.emit('subscription.deleted', { name: q.name });
  }

  /** Remove a durable subscription (JMS unsubscribe, STOMP UNSUBSCRIBE with activemq.subscriptionName, MQTT clean session). */
  async unsubscribeDurable(clientId: string, name: string): Promise<boolean> {
    const q = this.subscriptions.get(durableSubscriptionId(clientId, name));
    if (!q) return false;
    if (q.consumers.some((c) => !c.closed)) throw new BrokerError('invalid', `Durable subscription '${name}' has an active consumer`);
    await this.removeSubscription(q);
    return true;
  }

  async deleteSubscription(name: string): Promise<boolean> {
    const q = this.subscriptions.get(name);
    if (!q) return false;
    await this.removeSubscription(q);
    return true;
  }

  /** Durable subscriptions of a client (MQTT session state). */
  durableSubscriptionsOf(clientId: string): DestinationInfo[] {
    return [...this.subscriptions.values()].filter((q) => q.role === 'durable-subscription' && q.subscription?.clientId === clientId).map((q) => this.describeQueue(q));
  }

  // ================================================================ browsing, retained, kv

  browse(address: Address, opts: { limit?: number; offset?: number; selector?: string } = {}): BrowsedMessage[] {
    const q = address.kind === 'queue' ? this.queues.get(address.name) : this.subscriptions.get(address.name);
    if (!q) return [];
    let filter: Selector | undefined;
    if (opts.selector) {
      try {
        filter = compileSelector(opts.selector);
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
    return [...this.retained].filter(([t]) => matchTopic(pattern, t)).map(([, m]) => m);
  }

  kvGet<T = unknown>(key: string): T | undefined {
    return this.kv.get(key) as T | undefined;
  }

  kvEntries<T = unknown>(prefix: string): Array<[string, T]> {
    return [...this.kv].filter(([k]) => k.startsWith(prefix)) as Array<[string, T]>;
  }

  async kvPut(key: string, value: unknown): Promise<void> {
    await this.commit([{ t: 'kv.put', key, value }]);
    this.kv.set(key, value);
  }

  async kvDelete(key: string): Promise<void> {
    await this.commit([{ t: 'kv.delete', key }]);
    this.kv.delete(key);
  }

  async kvCommit(changes: KvChange[]): Promise<void> {
    if (!changes.length) return;
    await this.commit(kvCommands(changes));
    this.applyKv(changes);
  }

  storeSize(): number {
    return this.store.size();
  }

  // ================================================================ transactions

  beginTransaction(connection?: ConnectionHandle | null): TransactionHandle {
    return new Transaction(this, (connection ?? null) as Connection | null);
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

  overview(): { connections: number; queues: number; topics: number; subscriptions: number; consumers: number; depth: number; totals: Engine['totals']; storeBytes: number; timers: number } {
    let consumers = 0, depth = 0;
    for (const q of this.queues.values()) {
      consumers += q.consumers.length;
      depth += q.depth;
    }
    for (const q of this.subscriptions.values()) {
      consumers += q.consumers.length;
      depth += q.depth;
    }
    return { connections: this.connections.size, queues: this.queues.size, topics: this.knownTopics.size, subscriptions: this.subscriptions.size, consumers, depth, totals: this.totals, storeBytes: this.store.size(), timers: this.timers.size };
  }
}

const POLICY_PREFIX = 'core:policy:';
/** Paused dispatch (an operator's pause). The key keeps the name it had when the admin API stored it. */
const PAUSED_PREFIX = 'admin:paused:';

function refKey(ref: QueueRef): string {
  return `${ref.kind === 'queue' ? 'q' : 's'}:${ref.name}`;
}

function refFromKey(k: string): QueueRef {
  return { kind: k.startsWith('q:') ? 'queue' : 'subscription', name: k.slice(2) };
}

function kvCommands(changes: KvChange[] | undefined): Command[] {
  return (changes ?? []).map((e) => (e.value === undefined ? { t: 'kv.delete', key: e.key } : { t: 'kv.put', key: e.key, value: e.value }));
}

function sameLimits(a: SubscriptionLimits | undefined, b: SubscriptionLimits | undefined): boolean {
  return (a?.maxMessages ?? 0) === (b?.maxMessages ?? 0) && (a?.limitPolicy ?? '') === (b?.limitPolicy ?? '');
}

/** Routing-time selectors of topic subscriptions (kept off CoreQueue: routing is the engine's business). */
const subscriptionSelectors = new WeakMap<CoreQueue, Selector>();
/** The connection that owns a non-durable subscription (for noLocal). */
const subscriptionOwners = new WeakMap<CoreQueue, string>();

export { createMessage };
