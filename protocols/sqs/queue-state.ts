/**
 * Per-queue adapter state of the SQS service: the engine consumer a queue's receives share, the receives waiting
 * on it, the receipts of messages in flight, FIFO group bookkeeping, fair-queue tenants, and FIFO deduplication
 * ids. One QueueState per queue, made on first use (SqsQueues.state) and dropped with the queue.
 */
import type { ConsumerHandle, Delivery } from '../../src/core/api.js';

export interface Receipt {
  delivery: Delivery;
  nonce: string;
  handle: string;
  groupId?: string;
  /** Standard queues: the message's MessageGroupId (its tenant for fair-queue scheduling). */
  tenant?: string;
}

/** A receipt whose receive is over (visibility timeout ended or set to 0): AWS still lets a standard queue's delete use it. */
export interface LapsedReceipt {
  nonce: string;
  /** The message's seq in the core queue. */
  seq: number;
}

/** Lapsed receipts kept per queue (the oldest are forgotten first; a forgotten one deletes nothing, still without error). */
const LAPSED_LIMIT = 10_000;

export interface Waiter {
  /** Deliveries it takes (FIFO: the client's maximum plus a look-ahead). */
  want: number;
  /** FIFO: how many it returns, chosen group by group from what it took; the rest go back. */
  keep?: number;
  got: Delivery[];
  groups: Set<string>;
  done: boolean;
  flushScheduled: boolean;
  timer?: NodeJS.Timeout;
  finish: () => void;
}

export interface DedupEntry {
  expires: number;
  messageId: string;
  seq?: string;
  pending?: Promise<boolean>;
}

/** Fair queues: a tenant is noisy with more than this share of the in-flight messages and at least FAIR_NOISY_MIN of them (AWS's thresholds). */
const FAIR_NOISY_SHARE = 0.1;
const FAIR_NOISY_MIN = 30;
/** Fair queues: while a tenant is noisy, look this far ahead of the backlog for messages of quiet tenants. */
export const FAIR_LOOKAHEAD = 1000;

/** Per-queue adapter state: the engine consumer, open receives, current receipts, FIFO group bookkeeping. */
export class QueueState {
  consumer?: ConsumerHandle;
  starting?: Promise<ConsumerHandle>;
  readonly waiters: Waiter[] = [];
  readonly receipts = new Map<number, Receipt>();
  /** Receipts that lapsed, by delivery id (see LapsedReceipt). */
  readonly lapsed = new Map<number, LapsedReceipt>();
  /** Fair queues (standard queues): in-flight messages per MessageGroupId, and the groups with at least FAIR_NOISY_MIN. */
  readonly tenantInflight = new Map<string, number>();
  readonly heavyTenants = new Set<string>();
  fairServeScheduled = false;
  /**
   * Deliveries not yet handed to a client. FIFO: messages of busy groups, in order. Standard: messages fetched
   * ahead of receives (at most `prefetch`), so a receive does not wait for the core's redelivery-mark commit.
   */
  held: Delivery[] = [];
  /** Standard queues: how many deliveries to keep fetched ahead (grows with concurrent receives, 0 when idle). */
  prefetch = 0;
  idleTimer?: NodeJS.Timeout;
  readonly groupInflight = new Map<string, number>();
  readonly dedup = new Map<string, DedupEntry>();
  readonly attempts = new Map<string, { expires: number; handles: string[]; messages: unknown[] }>();
  creditAdded = 0;
  creditRemoved = 0;
  delivered = 0;
  constructor(readonly name: string) {}

  addReceipt(r: Receipt): void {
    this.dropReceipt(r.delivery.id);
    this.receipts.set(r.delivery.id, r);
    if (r.tenant === undefined) return;
    const n = (this.tenantInflight.get(r.tenant) ?? 0) + 1;
    this.tenantInflight.set(r.tenant, n);
    if (n >= FAIR_NOISY_MIN) this.heavyTenants.add(r.tenant);
  }

  dropReceipt(id: number): void {
    const r = this.receipts.get(id);
    if (!r) return;
    this.receipts.delete(id);
    if (r.tenant === undefined) return;
    const n = (this.tenantInflight.get(r.tenant) ?? 1) - 1;
    if (n > 0) this.tenantInflight.set(r.tenant, n);
    else this.tenantInflight.delete(r.tenant);
    if (n < FAIR_NOISY_MIN) this.heavyTenants.delete(r.tenant);
  }

  /** The receipt's receive is over but the message was not deleted: remember it for a late DeleteMessage. */
  lapse(r: Receipt): void {
    if (this.lapsed.size >= LAPSED_LIMIT) this.lapsed.delete(this.lapsed.keys().next().value!);
    this.lapsed.set(r.delivery.id, { nonce: r.nonce, seq: r.delivery.seq });
  }

  clearReceipts(): void {
    this.receipts.clear();
    this.tenantInflight.clear();
    this.heavyTenants.clear();
  }

  /**
   * Fair queues, as AWS detects a noisy neighbour by concurrency share: a tenant (MessageGroupId) with more than
   * 10 % of the queue's in-flight messages and at least FAIR_NOISY_MIN of its own. Returns them with their
   * in-flight counts (empty when nobody is noisy, the common case: no work then).
   */
  hasNoisyTenant(): boolean {
    if (this.heavyTenants.size === 0) return false;
    const limit = this.receipts.size * FAIR_NOISY_SHARE;
    for (const t of this.heavyTenants) if ((this.tenantInflight.get(t) ?? 0) > limit) return true;
    return false;
  }

  noisyTenants(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.heavyTenants.size === 0) return out;
    const total = this.receipts.size;
    for (const t of this.heavyTenants) {
      const n = this.tenantInflight.get(t) ?? 0;
      if (n > total * FAIR_NOISY_SHARE) out.set(t, n);
    }
    return out;
  }

  /** Deliveries the core dispatched to the consumer that have not reached onMessage yet (mark commit pending). */
  pendingDispatch(): number {
    const c = this.consumer;
    if (!c) return 0;
    return this.creditAdded - this.creditRemoved - c.credit - this.delivered;
  }
}

/** The tenant of a message on a fair (standard) queue: its MessageGroupId; none = a tenant of its own. */
export function tenantOf(d: Delivery): string | undefined {
  const g = d.message.annotations?.['sqs.group'];
  return typeof g === 'string' ? g : undefined;
}

/**
 * Take `n` deliveries out of `held` (oldest first) for a fair queue: messages of quiet tenants first; then those
 * of noisy tenants, the tenant with the fewest in-flight messages first (as AWS does).
 */
export function pickFair(held: Delivery[], n: number, noisy: Map<string, number>): Delivery[] {
  const out: Delivery[] = [];
  const rest: Delivery[] = [];
  for (const d of held) {
    const t = tenantOf(d);
    if (out.length < n && (t === undefined || !noisy.has(t))) out.push(d);
    else rest.push(d);
  }
  if (out.length < n && rest.length) {
    const order = [...noisy.entries()].sort((a, b) => a[1] - b[1]).map(([t]) => t);
    const taken = new Set<Delivery>();
    for (const t of order) {
      for (const d of rest) {
        if (out.length >= n) break;
        if (tenantOf(d) === t) {
          out.push(d);
          taken.add(d);
        }
      }
      if (out.length >= n) break;
    }
    held.length = 0;
    for (const d of rest) if (!taken.has(d)) held.push(d);
    return out;
  }
  held.length = 0;
  held.push(...rest);
  return out;
}
