/**
 * The overview's health strip (`GET /api/health`): resource alarms, dead letters ("N in M DLQs"), queues holding
 * messages with no consumer, the oldest message waiting, offline durable subscriptions whose backlog grows, and
 * stuck consumers (holding unacknowledged messages without acknowledging or receiving anything for a while).
 * Readiness comes from /readyz and reachability from the console itself. Consumer and subscription trends are
 * tracked on the sampler's tick (once a second), so they are known before anyone opens the page.
 */
import type { EngineApi } from '../core/api.js';
import type { Sampler } from './sampler.js';

/** How many names each marker lists (the counts are complete). */
const TOP = 5;
/** Queues whose first message is looked at for the oldest-message age (the deepest ones). */
const OLDEST_SCAN = 200;

interface ConsumerTrack {
  delivered: number;
  unsettled: number;
  firstUnsettled: number;
  /** Since when (ms) nothing changed while it held unacknowledged messages. */
  since: number;
  seen: number;
}

interface SubTrack {
  /** Depth samples of the last minute (one per tick, offline only). */
  depths: number[];
}

export class HealthWatch {
  private readonly consumers = new Map<string, ConsumerTrack>();
  private readonly subs = new Map<string, SubTrack>();
  private tick = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly engine: EngineApi, sampler: Sampler, private readonly now: () => number = Date.now) {
    this.unsubscribe = sampler.subscribe(() => this.observe());
  }

  close(): void {
    this.unsubscribe();
  }

  /** One tick: consumer progress and offline subscription backlogs. */
  observe(): void {
    const now = this.now();
    const tick = ++this.tick;
    for (const c of this.engine.listConnections()) {
      for (const k of c.consumers) {
        const key = `${c.id}/${k.id}`;
        const unsettled = k.unsettledIds.length;
        const first = k.unsettledIds[0] ?? -1;
        const t = this.consumers.get(key);
        if (!t || t.delivered !== k.delivered || t.unsettled !== unsettled || t.firstUnsettled !== first || unsettled === 0) {
          this.consumers.set(key, { delivered: k.delivered, unsettled, firstUnsettled: first, since: now, seen: tick });
        } else t.seen = tick;
      }
    }
    for (const [k, t] of this.consumers) if (t.seen !== tick) this.consumers.delete(k);
    const live = new Set<string>();
    for (const s of this.engine.listSubscriptions()) {
      if (s.role !== 'durable-subscription' && !(s.role === 'shared-subscription' && s.name.startsWith('shared:'))) continue;
      if (s.consumers > 0) continue;
      live.add(s.name);
      let t = this.subs.get(s.name);
      if (!t) this.subs.set(s.name, (t = { depths: [] }));
      t.depths.push(s.depth);
      if (t.depths.length > 60) t.depths.shift();
    }
    for (const k of this.subs.keys()) if (!live.has(k)) this.subs.delete(k);
  }

  report(stuckSeconds = 60) {
    const now = this.now();
    const dests = this.engine.listDestinations().filter((d) => d.kind === 'queue');
    const dlqs = dests.filter((d) => d.deadLetterQueue);
    const dlqWithMessages = dlqs.filter((d) => d.depth > 0).sort((a, b) => b.depth - a.depth);
    const idle = dests.filter((d) => !d.deadLetterQueue && !d.temporary && d.ready > 0 && d.consumers === 0).sort((a, b) => b.ready - a.ready);

    // the oldest message waiting to be processed: the first message of the deepest queues (DLQs have their own marker)
    let oldest: { name: string; ageSeconds: number; timestamp: number } | null = null;
    for (const d of dests.filter((x) => x.depth > 0 && !x.deadLetterQueue).sort((a, b) => b.depth - a.depth).slice(0, OLDEST_SCAN)) {
      const [m] = this.engine.browse({ kind: 'queue', name: d.name }, { limit: 1 });
      if (m && (!oldest || m.message.timestamp < oldest.timestamp)) oldest = { name: d.name, timestamp: m.message.timestamp, ageSeconds: Math.max(0, Math.round((now - m.message.timestamp) / 1000)) };
    }

    const growing: Array<{ name: string; depth: number; growth: number }> = [];
    for (const [name, t] of this.subs) {
      if (t.depths.length < 2) continue;
      const growth = t.depths[t.depths.length - 1] - t.depths[0];
      if (growth > 0) growing.push({ name, depth: t.depths[t.depths.length - 1], growth });
    }
    growing.sort((a, b) => b.growth - a.growth);

    const stuck: Array<{ connection: string; consumer: number; destination: string; unacked: number; stuckSeconds: number }> = [];
    for (const c of this.engine.listConnections()) {
      for (const k of c.consumers) {
        const t = this.consumers.get(`${c.id}/${k.id}`);
        if (!t || t.unsettled === 0) continue;
        const secs = (now - t.since) / 1000;
        if (secs >= stuckSeconds) stuck.push({ connection: c.id, consumer: k.id, destination: k.queue.name, unacked: t.unsettled, stuckSeconds: Math.round(secs) });
      }
    }
    stuck.sort((a, b) => b.stuckSeconds - a.stuckSeconds);

    return {
      alarms: this.engine.alarms(),
      deadLetters: { messages: dlqs.reduce((n, d) => n + d.depth, 0), queues: dlqWithMessages.length, items: dlqWithMessages.slice(0, TOP).map((d) => ({ name: d.name, depth: d.depth })) },
      noConsumer: { count: idle.length, items: idle.slice(0, TOP).map((d) => ({ name: d.name, ready: d.ready })) },
      oldestMessage: oldest,
      growingSubscriptions: { count: growing.length, items: growing.slice(0, TOP) },
      stuckConsumers: { count: stuck.length, thresholdSeconds: stuckSeconds, items: stuck.slice(0, TOP) },
    };
  }
}
