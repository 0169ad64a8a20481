/**
 * What the engine's parts share: its queues and subscriptions, routing tables, retained messages, kv copy and
 * policy overrides. Every durable part of it is rebuilt from the store at start (Engine.start); the rest
 * (statistics, routing caches) follows from it.
 */
import type { QueueRef, SubscriptionLimits } from './api.js';
import type { Message } from './message.js';
import type { DestinationPolicy } from './policy.js';
import type { CoreQueue, QueueRole } from './queue.js';
import type { Principal } from './security.js';
import type { Selector } from './selector.js';
import { TopicIndex } from './topic-index.js';
import { BrokerError } from './errors.js';

/** A queue's stored description: what its `queue.put` command says. */
export interface QueueMeta {
  role: QueueRole;
  name: string;
  kind: 'queue' | 'topic';
  address: string;
  dlq?: boolean;
  subscription?: CoreQueue['subscription'];
  /** Limits given by the subscriber (SubscribeOptions.limits), used when no destination policy sets one. */
  limits?: SubscriptionLimits;
  /**
   * A durable subscription: the user who made it, whose read rights filter a wildcard filter again after a restart
   * (before its subscriber is back, routing would otherwise fill it with topics that user may not read).
   */
  reader?: { username: string; anonymous?: boolean };
  [key: string]: unknown;
}

/** What the engine counts for a topic it knows. */
export interface TopicStats {
  enqueued: number;
  producers: number;
  createdAt: number;
}

export class EngineState {
  /** Queues (incl. DLQs and temporary queues) by name. */
  readonly queues = new Map<string, CoreQueue>();
  /** The queues behind topic subscriptions (durable, shared, non-durable) by engine id. */
  readonly subscriptions = new Map<string, CoreQueue>();
  readonly topicIndex = new TopicIndex<CoreQueue>();
  /** Topics that have ever been published to or subscribed (for listing). */
  readonly knownTopics = new Map<string, TopicStats>();
  /** Virtual-topic consumer queues by topic name. */
  readonly virtualConsumers = new Map<string, Set<CoreQueue>>();
  readonly retained = new Map<string, Message>();
  /** The committed key/value state (what the store holds). */
  readonly kv = new Map<string, unknown>();
  /** Runtime policy overrides by `kind:name` (kv `core:policy:<kind>:<name>`). */
  readonly overrides = new Map<string, Partial<DestinationPolicy>>();
  /** The stored meta of each queue. */
  readonly metas = new WeakMap<CoreQueue, QueueMeta>();
  readonly producersByDest = new Map<string, number>();
  /** Routing-time selectors of topic subscriptions (kept off CoreQueue: routing is the engine's business). */
  readonly subscriptionSelectors = new WeakMap<CoreQueue, Selector>();
  /** The connection that owns a non-durable subscription (for noLocal). */
  readonly subscriptionOwners = new WeakMap<CoreQueue, string>();
  /** Wildcard subscriptions whose messages are checked against their subscriber's read rights (security.acl). */
  readonly subscriptionReaders = new WeakMap<CoreQueue, Principal>();
  readonly totals = { enqueued: 0, delivered: 0, acked: 0, expired: 0, deadLettered: 0 };
  /** Counts that bound what clients may create (limits.*): a clear `limit` error past them. */
  limits = { maxDestinations: Infinity, maxSubscriptions: Infinity, maxConsumersPerConnection: Infinity };

  /** A new queue or topic would be one too many. */
  checkNewDestination(kind: 'queue' | 'topic', name: string): void {
    if (this.queues.size + this.knownTopics.size >= this.limits.maxDestinations) {
      throw new BrokerError('limit', `Cannot create ${kind} '${name}': the broker holds its limit of ${this.limits.maxDestinations} destinations (limits.maxDestinations)`);
    }
  }

  checkNewSubscription(): void {
    if (this.subscriptions.size >= this.limits.maxSubscriptions) {
      throw new BrokerError('limit', `The broker holds its limit of ${this.limits.maxSubscriptions} topic subscriptions (limits.maxSubscriptions)`);
    }
  }
}

export type { SubscriptionLimits };

/** kv keys of state the core keeps for destinations. */
export const POLICY_PREFIX = 'core:policy:';
/** Paused dispatch (an operator's pause). The key keeps the name it had when the admin API stored it. */
export const PAUSED_PREFIX = 'admin:paused:';

export function refKey(ref: QueueRef): string {
  return `${ref.kind === 'queue' ? 'q' : 's'}:${ref.name}`;
}

export function refFromKey(k: string): QueueRef {
  return { kind: k.startsWith('q:') ? 'queue' : 'subscription', name: k.slice(2) };
}
