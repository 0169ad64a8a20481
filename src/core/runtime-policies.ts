/**
 * Destination settings an operator or adapter changes at runtime — policy overrides, the dead-letter flag,
 * paused dispatch — each a committed command (kv or queue meta) before it takes effect, so a restart or a
 * follower applying the same commands sees the same settings.
 */
import type { Address } from './address.js';
import type { QueueRef } from './api.js';
import { PAUSED_PREFIX, POLICY_PREFIX, refKey, type EngineState, type QueueMeta } from './engine-state.js';
import type { DestinationPolicy, PolicyResolver } from './policy.js';
import type { CoreQueue } from './queue.js';
import type { Command } from './store.js';

export class RuntimePolicies {
  constructor(private readonly state: EngineState, private readonly resolver: PolicyResolver, private readonly commit: (batch: Command[]) => Promise<void>) {}

  /** A queue's policy: configured rules, the runtime override, then a subscriber's own limits where none is set. */
  queuePolicy(meta: QueueMeta, address: Address): DestinationPolicy {
    const p = this.policyOf(meta.kind, meta.kind === 'queue' ? meta.name : address.name);
    const lim = meta.limits;
    if (lim && lim.maxMessages > 0 && !p.maxMessages && !p.maxBytes) return { ...p, maxMessages: lim.maxMessages, limitPolicy: lim.limitPolicy };
    return p;
  }

  policyOf(kind: 'queue' | 'topic', name: string): DestinationPolicy {
    const base = this.resolver.resolve(kind, name);
    const o = this.state.overrides.get(`${kind}:${name}`);
    return o ? { ...base, ...o } : base;
  }

  async setOverride(kind: 'queue' | 'topic', name: string, override: Partial<DestinationPolicy> | null): Promise<void> {
    const key = `${POLICY_PREFIX}${kind}:${name}`;
    if (override === null) {
      if (!this.state.overrides.has(`${kind}:${name}`)) return;
      await this.commit([{ t: 'kv.delete', key }]);
      this.state.kv.delete(key);
      this.state.overrides.delete(`${kind}:${name}`);
    } else {
      const value = { ...override };
      await this.commit([{ t: 'kv.put', key, value }]);
      this.state.kv.set(key, value);
      this.state.overrides.set(`${kind}:${name}`, value);
    }
    this.refreshPolicies(kind, name);
  }

  overrides(): Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }> {
    return [...this.state.overrides].map(([k, override]) => {
      const i = k.indexOf(':');
      return { kind: k.slice(0, i) as 'queue' | 'topic', name: k.slice(i + 1), override };
    });
  }

  private refreshPolicies(kind: 'queue' | 'topic', name: string): void {
    const qs = kind === 'queue' ? [this.state.queues.get(name)] : [...this.state.subscriptions.values()].filter((q) => q.address.name === name);
    for (const q of qs) {
      const meta = q && this.state.metas.get(q);
      if (q && meta) q.policy = this.queuePolicy(meta, q.address);
    }
  }

  async setDeadLetterQueue(q: CoreQueue, dlq: boolean): Promise<void> {
    if (q.isDeadLetterQueue === dlq) return;
    const meta = { ...this.state.metas.get(q)!, dlq };
    if (q.role !== 'temporary') await this.commit([{ t: 'queue.put', queue: q.storageName, meta }]);
    this.state.metas.set(q, meta);
    q.isDeadLetterQueue = dlq;
  }

  async setPaused(q: CoreQueue, ref: QueueRef, paused: boolean): Promise<void> {
    const key = `${PAUSED_PREFIX}${refKey(ref)}`;
    if (paused) {
      await this.commit([{ t: 'kv.put', key, value: true }]);
      this.state.kv.set(key, true);
    } else if (this.state.kv.has(key)) {
      await this.commit([{ t: 'kv.delete', key }]);
      this.state.kv.delete(key);
    }
    q.setPaused(paused);
  }
}
