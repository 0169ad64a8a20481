/**
 * Topic subscriptions: every subscriber reads a queue of its own (non-durable), its durable subscription's
 * (by client id and name), or its shared group's. This module creates, replaces and removes those queues;
 * routing (routing.ts) fills them.
 */
import { formatAddress, matchTopic, type Address } from './address.js';
import type { SubscribeOptions, SubscriptionLimits } from './api.js';
import type { Connection } from './connection.js';
import type { Consumer } from './consumer.js';
import { EngineState, PAUSED_PREFIX, refKey, type QueueMeta } from './engine-state.js';
import { BrokerError } from './errors.js';
import { messageSize } from './message.js';
import { sameSelector } from './selector.js';
import type { DestinationPolicy } from './policy.js';
import type { Principal } from './security.js';
import type { CoreQueue, QueueRole } from './queue.js';
import type { Command } from './store.js';
import { durableSubscriptionId, sharedSubscriptionId, volatileSharedSubscriptionId } from './subscription-ids.js';

/** What subscription management needs of the engine. */
export interface SubscriptionsHost {
  instantiateQueue(meta: QueueMeta, storageName: string): CoreQueue;
  storageNameFor(role: QueueRole, name: string): string;
  queuePolicy(meta: QueueMeta, address: Address): DestinationPolicy;
  commit(batch: Command[]): Promise<void>;
  emit(event: string, payload: unknown): void;
  /** A fresh engine-unique number (names non-durable subscription queues). */
  nextId(): number;
  /** Whether a principal may read a topic (wildcard subscribers get only the retained messages they may read). */
  mayRead(principal: Principal, topicName: string): boolean;
}

function sameLimits(a: SubscriptionLimits | undefined, b: SubscriptionLimits | undefined): boolean {
  return (a?.maxMessages ?? 0) === (b?.maxMessages ?? 0) && (a?.limitPolicy ?? '') === (b?.limitPolicy ?? '');
}

export class Subscriptions {
  constructor(private readonly state: EngineState, private readonly host: SubscriptionsHost) {}

  /** Matching retained messages go to a new subscriber first, from memory (they are durable as retained). */
  deliverRetained(queue: CoreQueue, pattern: string): void {
    const sel = this.state.subscriptionSelectors.get(queue);
    // a wildcard filter no single rule covers: routing checks each live message, and so must the retained ones,
    // else `#` would hand over every retained message of the broker (mosquitto checks them against the ACL too)
    const reader = this.state.subscriptionReaders.get(queue);
    for (const [topicName, m] of this.state.retained) {
      if (!matchTopic(pattern, topicName)) continue;
      if (sel && !sel(m)) continue;
      if (reader && !this.host.mayRead(reader, topicName)) continue;
      const seq = queue.reserve(messageSize(m));
      // retained copies are delivered from memory: they are already durable as the topic's retained message
      queue.applyEnqueue(seq, m, false, true);
    }
  }

  /** The queue a topic subscriber reads: a durable or shared subscription's (created if new), or its own. */
  async queueFor(o: SubscribeOptions, conn: Connection | null): Promise<{ queue: CoreQueue; ownsQueue: boolean }> {
    const pattern = o.address.name;
    if (o.durable) {
      const clientId = o.shared ? undefined : o.durable.clientId ?? conn?.clientId;
      if (!o.shared && !clientId) throw new BrokerError('invalid', 'A durable subscription needs a client id');
      const name = o.shared ? sharedSubscriptionId(o.shared) : durableSubscriptionId(clientId!, o.durable.name);
      const sub = { clientId, subscriptionName: o.durable.name, selector: o.selector || undefined, noLocal: o.noLocal || undefined, topicPattern: pattern };
      let q = this.state.subscriptions.get(name);
      if (q && (q.subscription?.topicPattern !== pattern || !sameSelector(q.subscription?.selector, o.selector) || !!q.subscription?.noLocal !== !!o.noLocal)) {
        // JMS: subscribing with a different topic or selector replaces the subscription
        if (q.consumers.length && !o.shared) throw new BrokerError('invalid', `Durable subscription '${o.durable.name}' is in use`);
        await this.remove(q);
        q = undefined;
      }
      if (q && !o.shared && q.consumers.some((c) => !c.closed)) throw new BrokerError('invalid', `Durable subscription '${o.durable.name}' of client '${clientId}' already has an active consumer`);
      if (!q) {
        const reader = conn && !conn.principal.internal ? { username: conn.principal.username, ...(conn.principal.anonymous ? { anonymous: true } : {}) } : undefined;
        const meta: QueueMeta = { role: o.shared ? 'shared-subscription' : 'durable-subscription', durable: true, name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: sub, limits: o.limits, ...(reader ? { reader } : {}) };
        this.state.checkNewSubscription();
        q = this.host.instantiateQueue(meta, this.host.storageNameFor(meta.role, name));
        await this.host.commit([{ t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> }]);
        this.host.emit('subscription.created', { name });
      } else if (!sameLimits(this.state.metas.get(q)?.limits, o.limits)) {
        // the subscriber's limits changed (configuration): a new meta, committed before it takes effect
        const meta: QueueMeta = { ...this.state.metas.get(q)!, limits: o.limits };
        await this.host.commit([{ t: 'queue.put', queue: q.storageName, meta: meta as Record<string, unknown> }]);
        this.state.metas.set(q, meta);
        q.policy = this.host.queuePolicy(meta, q.address);
      }
      return { queue: q, ownsQueue: false };
    }
    if (o.shared) {
      const name = volatileSharedSubscriptionId(o.shared, pattern);
      let q = this.state.subscriptions.get(name);
      if (!q) {
        const meta: QueueMeta = { role: 'shared-subscription', name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: { topicPattern: pattern, selector: o.selector || undefined, subscriptionName: o.shared }, limits: o.limits };
        this.state.checkNewSubscription();
        q = this.host.instantiateQueue(meta, this.host.storageNameFor('shared-subscription', name));
      }
      return { queue: q, ownsQueue: false };
    }
    const name = `sub:${conn?.id ?? 'local'}:${this.host.nextId()}`;
    const meta: QueueMeta = { role: 'subscription', name, kind: 'topic', address: formatAddress({ kind: 'topic', name: pattern }), subscription: { topicPattern: pattern, noLocal: o.noLocal || undefined, selector: o.selector || undefined }, limits: o.limits };
    this.state.checkNewSubscription();
    const q = this.host.instantiateQueue(meta, this.host.storageNameFor('subscription', name));
    if (conn) this.state.subscriptionOwners.set(q, conn.id);
    return { queue: q, ownsQueue: true };
  }

  consumerClosed(c: Consumer<CoreQueue>): void {
    (c.connection as Connection | null)?.consumers.delete(c);
    const q = c.queue;
    this.host.emit('consumer.closed', c);
    if (c.ownsQueue || (q.role === 'shared-subscription' && !q.persistent && q.consumers.length === 0)) {
      this.drop(q);
    }
  }

  private drop(q: CoreQueue): void {
    this.state.subscriptions.delete(q.name);
    if (q.subscription) this.state.topicIndex.remove(q.subscription.topicPattern, q);
    q.markDeleted();
  }

  async remove(q: CoreQueue): Promise<void> {
    for (const c of [...q.consumers]) c.close({ notify: true, reason: 'subscription removed' });
    if (q.persistent) {
      // empty its backlog a chunk per commit first (see deleteQueue); still routed meanwhile, so a subscriber
      // coming back under the same name finds this queue rather than a second one with colliding seqs
      await q.purge();
      if (this.state.subscriptions.get(q.name) !== q) return; // removed meanwhile by another call
      for (const c of [...q.consumers]) c.close({ notify: true, reason: 'subscription removed' });
    }
    this.drop(q);
    if (q.persistent) {
      const paused = `${PAUSED_PREFIX}${refKey({ kind: 'subscription', name: q.name })}`;
      const cmds: Command[] = [{ t: 'queue.delete', queue: q.storageName }];
      if (this.state.kv.has(paused)) cmds.push({ t: 'kv.delete', key: paused });
      await this.host.commit(cmds);
      this.state.kv.delete(paused);
    }
    this.host.emit('subscription.deleted', { name: q.name });
  }

  /** Remove a durable subscription (JMS unsubscribe, STOMP UNSUBSCRIBE with activemq.subscriptionName, MQTT clean session). */
  async unsubscribeDurable(clientId: string, name: string): Promise<boolean> {
    const q = this.state.subscriptions.get(durableSubscriptionId(clientId, name));
    if (!q) return false;
    if (q.consumers.some((c) => !c.closed)) throw new BrokerError('invalid', `Durable subscription '${name}' has an active consumer`);
    await this.remove(q);
    return true;
  }

  async delete(name: string): Promise<boolean> {
    const q = this.state.subscriptions.get(name);
    if (!q) return false;
    await this.remove(q);
    return true;
  }
}
