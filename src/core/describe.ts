/** What the engine reports about its destinations (admin, metrics, adapters' queue lookups). */
import type { DestinationInfo } from './api.js';
import type { EngineState } from './engine-state.js';
import type { CoreQueue } from './queue.js';

export function listDestinations(state: EngineState): DestinationInfo[] {
  const out: DestinationInfo[] = [];
  for (const q of state.queues.values()) out.push(describeQueue(state, q));
  for (const [name, t] of state.knownTopics) out.push(describeTopic(state, name, t));
  return out;
}

function describeTopic(state: EngineState, name: string, t: { enqueued: number; createdAt: number }): DestinationInfo {
  let consumers = 0;
  for (const s of state.topicIndex.match(name)) consumers += s.consumers.length;
  return {
    kind: 'topic', name, role: 'queue', depth: 0, ready: 0, inflight: 0, scheduled: 0, bytes: 0, consumers,
    producers: state.producersByDest.get(`topic:${name}`) ?? 0, enqueued: t.enqueued, dequeued: 0, expired: 0, deadLettered: 0,
    dropped: 0, limitHits: 0, paused: false, temporary: false, deadLetterQueue: false, persistent: false, createdAt: t.createdAt,
  };
}

/**
 * Every queue, topic and subscription, described a slice at a time with a turn of the event loop between slices:
 * a scrape of 100,000 destinations must not hold up the clients. What changes meanwhile is seen or not.
 */
export async function scanDestinations(state: EngineState, onSlice: (infos: DestinationInfo[], what: 'queue' | 'topic' | 'subscription') => void, slice = 2000): Promise<void> {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const queues = [...state.queues.values()];
  for (let i = 0; i < queues.length; i += slice) {
    onSlice(queues.slice(i, i + slice).filter((q) => !q.deleted).map((q) => describeQueue(state, q)), 'queue');
    await turn();
  }
  const topics = [...state.knownTopics];
  for (let i = 0; i < topics.length; i += slice) {
    onSlice(topics.slice(i, i + slice).map(([name, t]) => describeTopic(state, name, t)), 'topic');
    await turn();
  }
  const subs = [...state.subscriptions.values()];
  for (let i = 0; i < subs.length; i += slice) {
    onSlice(subs.slice(i, i + slice).filter((q) => !q.deleted).map((q) => describeQueue(state, q)), 'subscription');
    await turn();
  }
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
    redelivered: q.stats.redelivered,
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
