/** What the engine reports about its destinations (admin, metrics, adapters' queue lookups). */
import type { DestinationInfo } from './api.js';
import type { EngineState } from './engine-state.js';
import type { CoreQueue } from './queue.js';

export function listDestinations(state: EngineState): DestinationInfo[] {
  const out: DestinationInfo[] = [];
  for (const q of state.queues.values()) out.push(describeQueue(state, q));
  for (const [name, t] of state.knownTopics) {
    const subs = state.topicIndex.match(name);
    let consumers = 0;
    for (const s of subs) consumers += s.consumers.length;
    out.push({
      kind: 'topic', name, role: 'queue', depth: 0, ready: 0, inflight: 0, scheduled: 0, bytes: 0, consumers,
      producers: state.producersByDest.get(`topic:${name}`) ?? 0, enqueued: t.enqueued, dequeued: 0, expired: 0, deadLettered: 0,
      dropped: 0, limitHits: 0, paused: false, temporary: false, deadLetterQueue: false, persistent: false, createdAt: t.createdAt,
    });
  }
  return out;
}

export function describeQueue(state: EngineState, q: CoreQueue): DestinationInfo {
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
    producers: state.producersByDest.get(`queue:${q.name}`) ?? 0,
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

/** Counts over every queue and subscription (the overview). */
export function countAll(state: EngineState): { queues: number; topics: number; subscriptions: number; consumers: number; depth: number } {
  let consumers = 0, depth = 0;
  for (const q of state.queues.values()) {
    consumers += q.consumers.length;
    depth += q.depth;
  }
  for (const q of state.subscriptions.values()) {
    consumers += q.consumers.length;
    depth += q.depth;
  }
  return { queues: state.queues.size, topics: state.knownTopics.size, subscriptions: state.subscriptions.size, consumers, depth };
}
