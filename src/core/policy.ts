/**
 * Per-destination policies. Config lists them by exact name or wildcard pattern (`orders.>`, `*.dlq`);
 * the most specific match wins (exact, then longest pattern), falling back to the defaults below.
 */
import { matchTopic, type DestinationKind } from './address.js';

export type LimitPolicy = 'block' | 'reject' | 'drop-oldest';

export interface DestinationPolicy {
  /** Failed deliveries before dead-lettering; -1 = retry forever. ActiveMQ's default is 6. */
  maxRedeliveries: number;
  /** Delay before the first redelivery after a nack, ms. */
  initialRedeliveryDelay: number;
  backoffMultiplier: number;
  maxRedeliveryDelay: number;
  /** DLQ name template; `{name}` is the queue's name. Empty string = no DLQ (drop). */
  deadLetterQueue: string;
  /** What happens to expired messages. */
  expiry: 'dlq' | 'drop';
  /** Default TTL applied to messages without one, ms; 0 = none. */
  defaultTtl: number;
  /** 0 = unlimited. */
  maxMessages: number;
  maxBytes: number;
  limitPolicy: LimitPolicy;
  /** How long a `block`ed producer waits before getting an error, ms. */
  blockTimeout: number;
  /** Default consumer ack timeout (lease), ms; 0 = none. */
  ackTimeout: number;
}

export interface PolicyRule extends Partial<DestinationPolicy> {
  /** Exact name or wildcard pattern. */
  match: string;
  /** Restrict the rule to queues or topics; both when absent. */
  kind?: DestinationKind;
}

export const DEFAULT_POLICY: DestinationPolicy = {
  maxRedeliveries: 6,
  initialRedeliveryDelay: 0,
  backoffMultiplier: 1,
  maxRedeliveryDelay: 60_000,
  deadLetterQueue: 'DLQ.{name}',
  expiry: 'dlq',
  defaultTtl: 0,
  maxMessages: 0,
  maxBytes: 0,
  limitPolicy: 'block',
  blockTimeout: 30_000,
  ackTimeout: 0,
};

export class PolicyResolver {
  constructor(private readonly rules: PolicyRule[] = [], private readonly defaults: DestinationPolicy = DEFAULT_POLICY) {}

  resolve(kind: DestinationKind, name: string): DestinationPolicy {
    let best: PolicyRule | undefined;
    let bestScore = -1;
    for (const r of this.rules) {
      if (r.kind && r.kind !== kind) continue;
      if (!matchTopic(r.match, name)) continue;
      const score = r.match === name ? Number.MAX_SAFE_INTEGER : r.match.length;
      if (score > bestScore) { best = r; bestScore = score; }
    }
    if (!best) return this.defaults;
    const { match: _m, kind: _k, ...overrides } = best;
    return { ...this.defaults, ...overrides };
  }

  /** Delay before redelivery attempt number `count` (1-based). */
  static redeliveryDelay(p: DestinationPolicy, count: number): number {
    if (p.initialRedeliveryDelay <= 0) return 0;
    const d = p.initialRedeliveryDelay * Math.pow(Math.max(1, p.backoffMultiplier), Math.max(0, count - 1));
    return Math.min(d, p.maxRedeliveryDelay);
  }
}
