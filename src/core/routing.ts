/**
 * Routing: where a send goes and what committing it takes. A send is planned (composite destinations and
 * virtual topics expanded, topic subscriptions matched with their selectors and no-local, limits admitted,
 * default TTLs applied), then executed: seqs are taken and the plan's commands committed in one synchronous
 * step, and its effects applied once the commit resolved.
 */
import { formatAddress, isWildcard, parseAddress, type Address } from './address.js';
import type { Connection } from './connection.js';
import type { EngineState, TopicStats } from './engine-state.js';
import { BrokerError } from './errors.js';
import { copyMessage, messageSize, newMessageId, type Message } from './message.js';
import { newPlan, type SendPlan } from './plan.js';
import type { DestinationPolicy } from './policy.js';
import type { CoreQueue } from './queue.js';
import type { Entry } from './entry.js';
import { compileSelector, type Selector } from './selector.js';
import type { Principal } from './security.js';
import type { Command } from './store.js';

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

/** What routing needs of the engine. */
export interface RouterHost {
  /** The queue, created if missing (its creation command goes into `pending`). */
  ensureQueue(name: string, pending: Command[]): CoreQueue;
  policyOf(kind: 'queue' | 'topic', name: string): DestinationPolicy;
  commit(batch: Command[]): Promise<void>;
  /** Record and announce a topic first published to (Engine.knowTopic). */
  knowTopic(name: string): TopicStats;
  /** Whether a wildcard subscriber may read a topic it matched (security.acl; filtered at delivery). */
  mayRead(principal: Principal, topicName: string): boolean;
}

/** A target applied while its enqueue commit is in flight (concurrent store and dispatch). */
interface EarlyEnqueue {
  q: CoreQueue;
  seq: number;
  m: Message;
  size: number;
  persisted: boolean;
}

export class Router {
  /** Configured composite destinations by `kind:name`, their targets parsed and selectors compiled once. */
  private readonly composites = new Map<string, { targets: Array<{ address: Address; selector?: Selector }>; forwardOnly: boolean }>();

  constructor(private readonly state: EngineState, private readonly host: RouterHost, composites: CompositeDestination[]) {
    for (const c of composites) {
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

  /** A routed, admitted send: commands to commit and what to apply afterwards. */
  async plan(message: Message, address: Address, retain: boolean, conn: Connection | null): Promise<SendPlan> {
    const plan: SendPlan = { commands: [], apply: [], release: [], targets: [] };
    const targets = this.expandComposite(address);
    try {
      for (const t of targets) {
        let m = targets.length === 1 ? this.withDestination(message, t.address) : copyMessage(message, { destination: formatAddress(t.address) });
        if (t.selector && !t.selector(m)) continue;
        m = this.withDefaultTtl(m, t.address);
        if (t.address.kind === 'queue') await this.planQueue(plan, m, t.address);
        else await this.planTopic(plan, m, t.address.name, retain, conn);
      }
    } catch (err) {
      for (const r of plan.release) r();
      throw err;
    }
    return plan;
  }

  /**
   * The plan of the common send — to one existing queue, or one known topic, without limits (no composite,
   * no admission wait, no retain) — built synchronously, so the send reaches its commit without the promises
   * and microtask hops of plan(); null for everything else (plan() then does it). Same result as plan() for
   * the sends it takes. With `into`, the send is added to that plan (a batch's; nothing is added when null is
   * returned).
   */
  planNow(message: Message, address: Address, conn: Connection | null, retain: boolean, into?: SendPlan): SendPlan | null {
    if (retain || this.composites.size > 0 || address.name.includes(',')) return null;
    if (address.kind === 'topic') return this.planTopicNow(message, address, conn, into);
    const q = this.state.queues.get(address.name);
    if (q === undefined) return null;
    const m = this.withDefaults(message, address);
    if (!q.admitsNow(messageSize(m))) return null;
    const plan = into ?? newPlan();
    this.enqueueInto(plan, q, m);
    return plan;
  }

  private planTopicNow(message: Message, address: Address, conn: Connection | null, into: SendPlan | undefined): SendPlan | null {
    const topicStats = this.state.knownTopics.get(address.name);
    if (topicStats === undefined || this.state.virtualConsumers.has(address.name)) return null;
    const matched = this.state.topicIndex.match(address.name);
    const m = this.withDefaults(message, address);
    const size = messageSize(m);
    for (const q of matched) if (!q.admitsNow(size)) return null;
    const plan = into ?? newPlan();
    plan.apply.push(() => topicStats.enqueued++);
    for (const q of matched) if (this.reaches(q, m, address.name, conn)) this.enqueueInto(plan, q, m);
    return plan;
  }

  /** The message as sent to `address`: its destination set, the destination's default TTL applied. */
  private withDefaults(message: Message, address: Address): Message {
    return this.withDefaultTtl(this.withDestination(message, address), address);
  }

  /** The message itself when it has no destination or already this one (it is set), else a copy naming `address`. */
  private withDestination(message: Message, address: Address): Message {
    const dest = formatAddress(address);
    if (message.destination !== undefined && message.destination !== dest) return copyMessage(message, { destination: dest });
    message.destination = dest;
    return message;
  }

  /** With the destination's default TTL as its expiration when it has none. */
  private withDefaultTtl(m: Message, address: Address): Message {
    if (m.expiration) return m;
    const ttl = this.host.policyOf(address.kind, address.name).defaultTtl;
    return ttl > 0 ? copyMessage(m, { expiration: m.timestamp + ttl }) : m;
  }

  /** Whether a publish to `topicName` goes to subscription queue `q` (no-local, its selector, its reader's rights). */
  private reaches(q: CoreQueue, m: Message, topicName: string, conn: Connection | null): boolean {
    if (q.subscription?.noLocal && conn && this.isLocal(q, conn)) return false;
    const sel = this.state.subscriptionSelectors.get(q);
    if (sel && !sel(m)) return false;
    const reader = this.state.subscriptionReaders.get(q);
    return !(reader && !this.host.mayRead(reader, topicName));
  }

  /**
   * Commit a plan (with `extra` commands in the same commit), then apply it. `concurrent` (concurrent store and
   * dispatch, non-transactional sends): the enqueues a queue can take into its window are applied as soon as
   * the commit is submitted, so a waiting consumer gets the message while the fsync runs; the caller (the
   * producer's confirmation) still waits for the commit. If it fails, those entries are withdrawn.
   */
  async execute(plan: SendPlan, extra: Command[], concurrent = false): Promise<void> {
    const early = this.finalizePlan(plan, concurrent);
    const cmds = extra.length ? [...extra, ...plan.commands] : plan.commands;
    if (cmds.length === 0) {
      for (const t of early) this.applyEarly(t, undefined);
      for (const a of plan.apply) a();
      return;
    }
    let committed: Promise<void>;
    try {
      committed = this.host.commit(cmds);
    } catch (err) {
      committed = Promise.reject(err);
    }
    let applied: Array<{ q: CoreQueue; e: Entry }> | null = null;
    let gate: Promise<boolean> | undefined;
    if (early.length) {
      gate = committed.then(
        () => true,
        () => false,
      );
      applied = early.map((t) => ({ q: t.q, e: this.applyEarly(t, gate) }));
    }
    try {
      await committed;
    } catch (err) {
      for (const r of plan.release) r();
      if (applied) {
        for (const { q, e } of applied) {
          this.state.totals.enqueued--;
          q.withdraw(e);
        }
      }
      throw err;
    }
    if (applied) for (const { e } of applied) if (e.committing === gate) e.committing = undefined;
    for (const a of plan.apply) a();
  }

  private applyEarly(t: EarlyEnqueue, gate: Promise<boolean> | undefined): Entry {
    this.state.totals.enqueued++;
    return t.q.applyEarly(t.seq, t.m, t.size, t.persisted, gate);
  }

  private async planQueue(plan: SendPlan, m: Message, address: Address): Promise<void> {
    const existing = this.state.queues.get(address.name);
    if (!existing && address.temporary) throw new BrokerError('not-found', `Temporary queue '${address.name}' does not exist (its connection closed)`);
    const q = existing ?? this.host.ensureQueue(address.name, plan.commands);
    await this.enqueueInto(plan, q, m);
  }

  private enqueueInto(plan: SendPlan, q: CoreQueue, m: Message): Promise<void> | void {
    const size = messageSize(m);
    const held = () => {
      plan.release.push(() => q.unreserve(size));
      plan.targets.push({ q, m, size });
    };
    if (q.admitsNow(size)) {
      q.admitNow(size);
      return held();
    }
    // admit holds the room itself, in the same step as its check (a woken blocked send is not overtaken)
    return q.admit(size).then(held);
  }

  /**
   * Give every target its seq and build the enqueue commands. Must run in the same synchronous step as
   * the commit() call (see CoreQueue.nextSeq). With `concurrent`, returns the targets to apply before the
   * commit resolves (CoreQueue.acceptsEarly); the others are applied after it, as without.
   */
  private finalizePlan(plan: SendPlan, concurrent: boolean): EarlyEnqueue[] {
    const enqueues: Array<Extract<Command, { t: 'enqueue' }>> = [];
    const early: EarlyEnqueue[] = [];
    const release: Array<() => void> = [];
    for (const { q, m, size } of plan.targets) {
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
      if (concurrent && q.acceptsEarly(size)) {
        early.push({ q, seq, m, size, persisted });
        continue;
      }
      // applied after the commit: a later send to this queue must not be applied (dispatched) before it
      q.lateApplies++;
      release.push(() => {
        q.lateApplies--;
        q.unreserve(size);
      });
      plan.apply.push(() => {
        q.lateApplies--;
        this.state.totals.enqueued++;
        q.applyEnqueue(seq, m, persisted, true);
      });
    }
    plan.targets = [];
    plan.release = release;
    // A message body fanned out to several persistent queues is stored once.
    if (enqueues.length > 1 && enqueues.every((c) => c.message === enqueues[0].message)) {
      const shared = newMessageId();
      for (const c of enqueues) c.shared = shared;
    }
    return early;
  }

  private async planTopic(plan: SendPlan, m: Message, topicName: string, retain: boolean, conn: Connection | null): Promise<void> {
    if (!topicName || isWildcard(topicName)) throw new BrokerError('invalid', `Cannot publish to topic '${topicName}': wildcards are for subscribing`);
    let t = this.state.knownTopics.get(topicName);
    if (!t) {
      this.state.checkNewDestination('topic', topicName);
      t = this.host.knowTopic(topicName);
    }
    const topicStats = t;
    plan.apply.push(() => topicStats.enqueued++);
    if (retain) {
      const key = `retained:${topicName}`;
      if (m.body.length === 0) {
        plan.commands.push({ t: 'kv.delete', key });
        plan.apply.push(() => {
          this.state.retained.delete(topicName);
          this.state.kv.delete(key);
        });
      } else {
        const stored = copyMessage(m, { annotations: { ...(m.annotations ?? {}), 'core.retained': true } });
        plan.commands.push({ t: 'kv.put', key, value: stored });
        plan.apply.push(() => {
          this.state.retained.set(topicName, stored);
          this.state.kv.set(key, stored);
        });
      }
    }
    for (const q of this.state.topicIndex.match(topicName)) {
      if (this.reaches(q, m, topicName, conn)) await this.enqueueInto(plan, q, m);
    }
    const vqs = this.state.virtualConsumers.get(topicName);
    if (vqs) {
      for (const q of vqs) await this.enqueueInto(plan, q, copyMessage(m, { destination: formatAddress({ kind: 'queue', name: q.name }), annotations: { ...(m.annotations ?? {}), 'core.originalDestination': m.destination } }));
    }
  }

  private isLocal(q: CoreQueue, conn: Connection): boolean {
    const owner = this.state.subscriptionOwners.get(q);
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
}

