/**
 * A queue: the unit every destination is built from. Point-to-point queues, topic subscriptions
 * (durable, shared, non-durable), DLQs and temporary queues are all CoreQueues; topics only route.
 *
 * It holds a window of entries in memory (priority order, FIFO within a priority) and pages the rest
 * from the store; dispatches to consumers within their credit (round-robin, selectors, message groups,
 * exclusive consumer); tracks in-flight deliveries with optional leases; and applies redelivery,
 * dead-letter, expiry and limit policies.
 */
import type { Message } from './message.js';
import { copyMessage, messageSize } from './message.js';
import { PolicyResolver, type DestinationPolicy } from './policy.js';
import type { Command, StoredEntry } from './store.js';
import type { TimerHandle, TimerWheel } from './timers.js';
import { BrokerError } from './errors.js';
import type { Consumer } from './consumer.js';
import type { DeliverySelector } from './selector.js';
import { afterStored, type Entry } from './entry.js';

export type { Entry } from './entry.js';
import type { Address } from './address.js';

export interface Delivery {
  /** Engine-unique delivery id (the delivery tag / receipt the adapter hands out). */
  readonly id: number;
  readonly message: Message;
  /** The message's place in this queue (findMessage / removeMessage take it), also once this delivery is over. */
  readonly seq: number;
  /** Prior failed delivery attempts (AMQP delivery-count; JMSXDeliveryCount = deliveryCount + 1). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly acquiredBefore?: boolean;
  readonly queue: CoreQueue;
  readonly consumer: Consumer<CoreQueue>;
}

/** A send waiting for room under the block policy; its timer runs only once it actually had to wait. */
interface BlockedSend {
  size: number;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

interface InFlight {
  delivery: Delivery;
  entry: Entry;
  consumer: Consumer<CoreQueue>;
  lease?: TimerHandle;
  /**
   * Delivery callback postponed: until the redelivery mark covering `markSeq` is durable, or (markSeq 0) only
   * until the consumer's earlier postponed deliveries go out — a consumer sees its messages in dispatch order.
   */
  pending: boolean;
  markSeq: number;
}

export type { NackOptions, QueueRole } from './api.js';
import type { NackOptions, QueueRole } from './api.js';

/** How long a queue waits before asking again for a mark commit that failed. */
const MARK_RETRY_MS = 1000;

/** What a queue needs from the engine that owns it. */
export interface QueueHost {
  readonly timers: TimerWheel;
  commit(batch: Command[]): Promise<void>;
  readEntries(storageName: string, afterSeq: number, limit: number): StoredEntry[];
  readSeqs(storageName: string, afterSeq: number, limit: number): number[];
  /** Dead-letter an entry: returns the commands to commit with the entry's removal, and a function applying the DLQ side. */
  deadLetter(from: CoreQueue, entry: Entry, reason: string): { commands: Command[]; apply: () => void } | null;
  onError(err: unknown, where: string): void;
  /** A producer hit a destination limit (logged, rate-limited, by the engine). */
  onLimit(queue: CoreQueue, detail: string): void;
  now(): number;
}


export interface QueueOptions {
  /** Engine name: the queue's name, or a subscription's id. */
  name: string;
  /** Key in the store (only for persistent queues). */
  storageName: string;
  role: QueueRole;
  /** The destination this queue serves: the queue's own address, or the topic (pattern) of a subscription. */
  address: Address;
  persistent: boolean;
  policy: DestinationPolicy;
  /** Messages kept in memory before paging to the store. */
  windowSize?: number;
  windowBytes?: number;
  /** Subscription details (kept in the store's queue meta). */
  subscription?: { clientId?: string; subscriptionName?: string; selector?: string; noLocal?: boolean; topicPattern: string };
}

const PRIORITIES = 10;
const SCAN_LIMIT = 20_000;
const PAGE_BATCH = 500;
/** Stored entries removed per commit by a purge (a few ms of write transaction each). */
const PURGE_CHUNK = 2000;

const RESOLVED: Promise<void> = Promise.resolve();

export class CoreQueue {
  readonly name: string;
  readonly storageName: string;
  readonly role: QueueRole;
  readonly address: Address;
  readonly persistent: boolean;
  policy: DestinationPolicy;
  readonly subscription?: QueueOptions['subscription'];
  isDeadLetterQueue = false;
  paused = false;
  deleted = false;

  readonly consumers: Consumer<CoreQueue>[] = [];
  private rr = 0;
  private readonly groups = new Map<string, Consumer<CoreQueue>>();

  private readonly ready: Entry[][] = Array.from({ length: PRIORITIES }, () => []);
  private readonly heads: number[] = new Array(PRIORITIES).fill(0);
  private readyCount = 0;
  private scheduledCount = 0;
  private readonly scheduled = new Set<Entry>();
  private readonly inflight = new Map<number, InFlight>();
  /** Postponed (pending) deliveries per consumer, so a later delivery to it knows to wait behind them. */
  private readonly pendingPer = new Map<Consumer<CoreQueue>, number>();
  /**
   * Entries acked by a prepared (XA) transaction, by seq: out of dispatch until it commits (removed) or rolls back
   * (returned). null = recovered after a restart and not paged in yet: pageIn parks it here when it gets to it.
   */
  private readonly locked = new Map<number, Entry | null>();
  /** Sizes of locked entries whose ack is being committed while they are still paged out (for pagedBytes). */
  private readonly lockedPagedSizes = new Map<number, number>();

  private readonly windowSize: number;
  private readonly windowBytes: number;
  private memCount = 0;
  private memBytes = 0;
  private pagingActive = false;
  private pagedCount = 0;
  private pagedBytes = 0;
  private pageCursor = 0;

  /** Highest seq assigned (persisted queues continue from the store's lastSeq). */
  lastSeq = 0;
  private committedMark = 0;
  private requestedMark = 0;

  /**
   * Enqueues whose seq is taken and that will be applied once their commit resolves (transactions, scheduled
   * sends, sends the window could not take). While any is outstanding, no send is applied early (acceptsEarly):
   * it would be dispatched ahead of a message with a lower seq.
   */
  lateApplies = 0;

  /** Entries enqueued but not yet applied (in a commit) count against limits too. */
  private pendingCount = 0;
  private pendingBytes = 0;
  /** Sends waiting for room (block policy), in arrival order; each is let in with its room already held. */
  private blocked: BlockedSend[] = [];
  private dispatchScheduled = false;
  private dispatching = false;

  readonly stats = { enqueued: 0, dequeued: 0, expired: 0, deadLettered: 0, dropped: 0, limitHits: 0, redelivered: 0 };
  readonly createdAt = Date.now();

  constructor(private readonly host: QueueHost, opts: QueueOptions) {
    this.name = opts.name;
    this.storageName = opts.storageName;
    this.role = opts.role;
    this.address = opts.address;
    this.persistent = opts.persistent;
    this.policy = opts.policy;
    this.subscription = opts.subscription;
    this.windowSize = opts.windowSize ?? 5000;
    this.windowBytes = opts.windowBytes ?? 32 * 1024 * 1024;
  }

  // ---------------------------------------------------------------- counts

  /** Messages held (ready, scheduled, in flight, paged). */
  get depth(): number {
    return this.memCount + this.pagedCount;
  }
  get bytes(): number {
    return this.memBytes + this.pagedBytes;
  }
  get inflightCount(): number {
    return this.inflight.size;
  }
  get scheduledMessages(): number {
    return this.scheduledCount;
  }
  /** Messages available for delivery now (excludes in-flight and delayed). */
  get readyMessages(): number {
    return this.readyCount + this.pagedCount;
  }

  // ---------------------------------------------------------------- recovery

  /** Called once after the store opened: entries are paged in lazily. */
  recover(count: number, bytes: number, lastSeq: number, mark: number): void {
    this.lastSeq = lastSeq;
    this.committedMark = this.requestedMark = mark;
    if (count > 0) {
      this.pagingActive = true;
      this.pagedCount = count;
      this.pagedBytes = bytes;
      this.pageCursor = 0;
      this.pageIn();
    }
  }

  // ---------------------------------------------------------------- limits

  /**
   * Admission control before a send is committed; on success the message's room is held (`hold`) in the same
   * synchronous step as the check. Block policy waits, first come first served: every send takes its place in
   * line, even one that fits at once, and is let in by wakeBlocked. So a send never overtakes one already waiting —
   * neither at the check nor afterwards: a send admitted at once would resume a step sooner than one woken by the
   * same synchronous code (acks applied right before a send, as OpenWire's held acks and a STOMP frame batch do) and
   * reach its seq first. Woken in arrival order, they all resume the same way and keep that order. Throws
   * BrokerError('limit') for reject / block timeout. For drop-oldest it makes room itself.
   */
  async admit(size: number): Promise<void> {
    if (this.admitsNow(size)) return this.admitNow(size);
    const p = this.policy;
    if (this.full(size)) {
      this.stats.limitHits++;
      this.host.onLimit(this, `${this.limitText()}, policy ${p.limitPolicy}`);
    }
    if (p.limitPolicy !== 'block') throw new BrokerError('limit', `${this.describe()} is full (${this.limitText()}); message rejected`);
    const what = this.limitText();
    await new Promise<void>((resolve, reject) => {
      const w: BlockedSend = { size, resolve, reject, timer: null };
      this.blocked.push(w);
      this.wakeBlocked();
      if (this.blocked.includes(w)) {
        w.timer = setTimeout(() => {
          this.blocked = this.blocked.filter((b) => b !== w);
          reject(new BrokerError('limit', `${this.describe()} is full (${what}); producer blocked for ${p.blockTimeout} ms`));
          this.wakeBlocked(); // the next one may fit where this one did not
        }, p.blockTimeout);
      }
    });
  }

  /**
   * Whether admit() would let a send of `size` in at once, neither waiting nor refusing it (the synchronous plan's
   * test). Never under the block policy: there every send takes its place in line (see admit).
   */
  admitsNow(size: number): boolean {
    const p = this.policy;
    if ((!p.maxMessages && !p.maxBytes) || p.limitPolicy === 'drop-oldest') return true; // drop-oldest makes room when the message is applied (see trimToLimits)
    return p.limitPolicy === 'reject' && !this.full(size);
  }

  /** Admit a send that admitsNow() let in: hold its room, counting the limit hit drop-oldest makes room for. */
  admitNow(size: number): void {
    if (this.full(size)) {
      this.stats.limitHits++;
      this.host.onLimit(this, `${this.limitText()}, policy ${this.policy.limitPolicy}`);
    }
    this.hold(size);
  }

  private full(size: number): boolean {
    const p = this.policy;
    const count = this.depth + this.pendingCount;
    const bytes = this.bytes + this.pendingBytes;
    return (p.maxMessages > 0 && count + 1 > p.maxMessages) || (p.maxBytes > 0 && bytes + size > p.maxBytes && count > 0);
  }

  private limitText(): string {
    const p = this.policy;
    const parts: string[] = [];
    if (p.maxMessages) parts.push(`maxMessages=${p.maxMessages}`);
    if (p.maxBytes) parts.push(`maxBytes=${p.maxBytes}`);
    return parts.join(', ');
  }

  describe(): string {
    return this.role === 'queue' || this.role === 'temporary' ? `queue '${this.name}'` : `subscription '${this.name}' on topic '${this.address.name}'`;
  }

  /** Let waiting sends in, in arrival order, while the first one fits; its room is held before it resumes. */
  private wakeBlocked(): void {
    while (this.blocked.length && !this.full(this.blocked[0]!.size)) {
      const b = this.blocked.shift()!;
      if (b.timer) clearTimeout(b.timer);
      this.hold(b.size);
      b.resolve();
    }
  }

  private dropOldest(): boolean {
    for (let p = 0; p < PRIORITIES; p++) {
      const arr = this.ready[p];
      if (this.heads[p] < arr.length) {
        const e = arr[this.heads[p]];
        this.removeReadyAt(p, this.heads[p]);
        this.stats.dropped++;
        this.forget(e);
        if (e.persisted) afterStored(e, () => this.host.commit([{ t: 'ack', queue: this.storageName, seq: e.seq }])).catch((err) => this.host.onError(err, 'drop-oldest'));
        return true;
      }
    }
    if (this.pagedCount > 0) {
      this.pageIn(true);
      return this.readyCount > 0 && this.dropOldest();
    }
    return false;
  }

  // ---------------------------------------------------------------- enqueue

  /** Count a not-yet-committed entry against the limits (released by applyEnqueue or unreserve). */
  hold(size: number): void {
    this.pendingCount++;
    this.pendingBytes += size;
  }

  /**
   * The next seq. Callers take it in the same synchronous step as the store commit() call that carries
   * the enqueue, so per queue, commit order (and so apply order) equals seq order — paging relies on it.
   */
  nextSeq(): number {
    return ++this.lastSeq;
  }

  /** hold + nextSeq, for callers that commit right away. */
  reserve(size: number): number {
    this.hold(size);
    return this.nextSeq();
  }

  /** Release a reservation that will not be applied (commit failed / transaction rolled back). */
  unreserve(size: number): void {
    this.pendingCount--;
    this.pendingBytes -= size;
  }

  /** Apply a committed enqueue (or a non-persistent one). `reserved` when `reserve` was called for it. */
  applyEnqueue(seq: number, message: Message, persisted: boolean, reserved: boolean, deliveryCount = 0): void {
    const size = messageSize(message);
    if (reserved) this.unreserve(size);
    if (this.deleted) return;
    this.stats.enqueued++;
    if (persisted && (this.pagingActive || this.memCount >= this.windowSize || this.memBytes + size > this.windowBytes)) {
      if (!this.pagingActive) {
        this.pagingActive = true;
        this.pageCursor = seq - 1;
      }
      this.pagedCount++;
      this.pagedBytes += size;
      this.trimToLimits();
      return;
    }
    const e: Entry = { seq, message, deliveryCount, redelivered: deliveryCount > 0, size, persisted };
    this.memCount++;
    this.memBytes += size;
    this.place(e);
    this.trimToLimits();
    this.scheduleDispatch();
  }

  /**
   * Concurrent store and dispatch: whether an enqueue taken now can be applied before its commit resolves. Only
   * into the in-memory window (paging reads the store, where the entry is not yet), and only with no enqueue of a
   * lower seq still waiting for its commit to be applied (lateApplies).
   */
  acceptsEarly(size: number): boolean {
    return !this.deleted && this.lateApplies === 0 && !this.pagingActive && this.memCount < this.windowSize && this.memBytes + size <= this.windowBytes;
  }

  /**
   * Apply an enqueue whose commit is in flight (`committing` resolves to whether it became durable; undefined
   * when there is nothing to commit). The room held by `hold` becomes the entry's. Returns the entry, so the
   * caller can withdraw it if the commit fails.
   */
  applyEarly(seq: number, message: Message, size: number, persisted: boolean, committing: Promise<boolean> | undefined): Entry {
    this.unreserve(size);
    this.stats.enqueued++;
    const e: Entry = { seq, message, deliveryCount: 0, redelivered: false, size, persisted, committing };
    this.memCount++;
    this.memBytes += size;
    this.place(e);
    this.trimToLimits();
    this.scheduleDispatch();
    return e;
  }

  /**
   * The enqueue commit of an entry applied early failed: the message is withdrawn. Not yet delivered: it is
   * removed. Delivered: it stays on the consumer's books until settled, and its settlement writes nothing and
   * does not redeliver it (see applyAck, requeue).
   */
  withdraw(e: Entry): void {
    if (e.withdrawn) return;
    e.withdrawn = true;
    e.committing = undefined;
    this.stats.enqueued--;
    const p = e.message.priority;
    const arr = this.ready[p];
    for (let i = this.heads[p]; i < arr.length; i++) {
      if (arr[i] === e) {
        this.removeReadyAt(p, i);
        this.forget(e);
        return;
      }
    }
    if (this.scheduled.delete(e)) {
      this.scheduledCount--;
      this.forget(e);
      return;
    }
    for (const f of this.inflight.values()) {
      if (f.entry !== e) continue;
      if (f.pending) {
        // waiting for its redelivery mark: the client never saw it, so it never will
        this.inflight.delete(f.delivery.id);
        this.unpend(f);
        if (f.lease) this.host.timers.cancel(f.lease);
        f.consumer.untrack(f.delivery.id);
        if (!f.consumer.closed) f.consumer.credit++;
        this.forget(e);
        this.releasePending();
        this.scheduleDispatch();
      }
      return;
    }
    // taken by a transaction, locked by a prepared one, or already settled: their settlement sees `withdrawn`
  }

  /** drop-oldest: applied enqueues push the oldest messages out, so the limit holds however many sends raced. */
  private trimToLimits(): void {
    const p = this.policy;
    if (p.limitPolicy !== 'drop-oldest' || (!p.maxMessages && !p.maxBytes)) return;
    const over = () => (p.maxMessages > 0 && this.depth > p.maxMessages) || (p.maxBytes > 0 && this.bytes > p.maxBytes && this.depth > 1);
    if (!over()) return;
    this.stats.limitHits++;
    this.host.onLimit(this, `${this.limitText()}, policy drop-oldest`);
    while (over() && this.dropOldest()) {
      /* keep dropping */
    }
  }

  /** Put an in-memory entry where it belongs: scheduled when not yet due, else ready. */
  private place(e: Entry, availableAt = e.message.deliveryTime): void {
    if (availableAt > this.host.now()) {
      this.scheduledCount++;
      this.scheduled.add(e);
      e.timer = this.host.timers.schedule(availableAt, () => {
        if (!this.scheduled.delete(e)) return;
        this.scheduledCount--;
        e.timer = undefined;
        this.insertReady(e);
        this.scheduleDispatch();
      });
      return;
    }
    this.insertReady(e);
  }

  private insertReady(e: Entry): void {
    const p = e.message.priority;
    const arr = this.ready[p];
    this.readyCount++;
    if (arr.length === this.heads[p] || arr[arr.length - 1].seq < e.seq) {
      arr.push(e);
      return;
    }
    // a redelivered entry goes back to its place by seq
    let lo = this.heads[p], hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid].seq < e.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.heads[p] && lo > 0) {
      this.heads[p]--;
      arr[this.heads[p]] = e;
    } else arr.splice(lo, 0, e);
  }

  private removeReadyAt(p: number, i: number): void {
    const arr = this.ready[p];
    this.readyCount--;
    if (i === this.heads[p]) {
      (arr as Array<Entry | undefined>)[i] = undefined;
      this.heads[p]++;
      if (this.heads[p] === arr.length) {
        arr.length = 0;
        this.heads[p] = 0;
      } else if (this.heads[p] > 1024 && this.heads[p] * 2 > arr.length) {
        arr.splice(0, this.heads[p]);
        this.heads[p] = 0;
      }
    } else {
      arr.splice(i, 1);
    }
  }

  /** Remove the ready entry at index i of priority p; returns the index of the entry that followed it. */
  private takeReadyAt(p: number, i: number): number {
    const wasHead = i === this.heads[p];
    this.removeReadyAt(p, i);
    return wasHead ? this.heads[p] : i;
  }

  /** Entry leaves the queue for good (acked, expired, dead-lettered, dropped). */
  private forget(e: Entry): void {
    this.memCount--;
    this.memBytes -= e.size;
    if (e.timer) this.host.timers.cancel(e.timer);
    this.wakeBlocked();
    this.pageIn();
  }

  // ---------------------------------------------------------------- paging

  private pageIn(force = false): void {
    if (this.pagedCount === 0 || this.deleted) return;
    if (!force && this.memCount > this.windowSize / 2) return;
    // Small reads: paging runs on the event loop, and a 5,000-entry read would stall every connection.
    const want = Math.max(1, Math.min(PAGE_BATCH, this.windowSize - this.memCount));
    let entries: StoredEntry[];
    try {
      entries = this.host.readEntries(this.storageName, this.pageCursor, Math.min(want, this.pagedCount));
    } catch (err) {
      this.host.onError(err, `paging ${this.describe()}`);
      return;
    }
    if (entries.length === 0) {
      // The store holds fewer than we counted (should not happen): resynchronise rather than stall.
      this.pagedCount = 0;
      this.pagedBytes = 0;
      this.pagingActive = false;
      return;
    }
    for (const s of entries) {
      this.pageCursor = s.seq;
      const size = messageSize(s.message);
      this.pagedCount--;
      this.pagedBytes -= size;
      const e: Entry = { seq: s.seq, message: s.message, deliveryCount: s.deliveryCount, redelivered: s.deliveryCount > 0 || s.seq <= this.committedMark, size, persisted: true };
      this.memCount++;
      this.memBytes += size;
      if (this.locked.has(e.seq)) this.locked.set(e.seq, e);
      else this.place(e);
    }
    if (this.pagedCount <= 0) {
      this.pagedCount = 0;
      this.pagedBytes = 0;
      this.pagingActive = false;
    }
    this.scheduleDispatch();
  }

  // ---------------------------------------------------------------- consumers

  addConsumer(c: Consumer<CoreQueue>): void {
    this.consumers.push(c);
    if (c.priority !== 0) this.prioritized = true;
    // Not a microtask: the adapter gets its Consumer back from subscribe() before the first delivery.
    setImmediate(() => this.scheduleDispatch());
  }

  /** Remove a consumer; its in-flight deliveries go back to the queue (redelivered). */
  removeConsumer(c: Consumer<CoreQueue>, countFailures = false): void {
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
    this.prioritized = this.consumers.some((x) => x.priority !== 0);
    for (const [gid, owner] of this.groups) if (owner === c) this.groups.delete(gid);
    for (const f of [...this.inflight.values()]) {
      if (f.consumer === c) this.settleBack(f, { countFailure: countFailures });
    }
    this.scheduleDispatch();
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /** Some consumer has a non-zero priority: dispatch looks at every candidate, not the first that fits. */
  private prioritized = false;

  private anyCredit(): boolean {
    for (const c of this.consumers) if (c.credit > 0 && !c.closed) return true;
    return false;
  }

  dispatch(): void {
    if (this.dispatching || this.paused || this.deleted || this.consumers.length === 0) return;
    this.dispatching = true;
    try {
      let scanned = 0;
      const now = this.host.now();
      for (let p = PRIORITIES - 1; p >= 0; p--) {
        const arr = this.ready[p];
        let i = this.heads[p];
        while (i < arr.length) {
          if (!this.anyCredit()) return;
          const e = arr[i];
          if (e.message.expiration > 0 && e.message.expiration <= now) {
            i = this.takeReadyAt(p, i);
            this.expire(e);
            continue;
          }
          const c = this.chooseConsumer(e);
          if (c) {
            i = this.takeReadyAt(p, i);
            this.deliver(e, c);
            continue;
          }
          i++;
          if (++scanned > SCAN_LIMIT) return;
        }
      }
    } finally {
      this.dispatching = false;
    }
    if (this.pagedCount > 0 && this.readyCount === 0 && this.anyCredit()) this.pageIn(true);
  }

  private chooseConsumer(e: Entry): Consumer<CoreQueue> | null {
    const gid = e.message.groupId;
    if (gid !== undefined) {
      const owner = this.groups.get(gid);
      if (owner && !owner.closed) return owner.credit > 0 && owner.accepts(e) ? owner : null;
    }
    let candidates = this.consumers;
    const exclusive = candidates.find((c) => c.exclusive && !c.closed);
    if (exclusive) candidates = [exclusive];
    const n = candidates.length;
    // round-robin among the highest-priority consumers that can take it (all 0 unless a client set consumer.priority)
    let chosen: Consumer<CoreQueue> | null = null;
    let chosenIdx = 0;
    for (let k = 0; k < n; k++) {
      const idx = (this.rr + k) % n;
      const c = candidates[idx];
      if (chosen && c.priority <= chosen.priority) continue;
      if (c.closed || c.credit <= 0 || !c.accepts(e)) continue;
      chosen = c;
      chosenIdx = idx;
      if (!this.prioritized) break;
    }
    if (!chosen) return null;
    this.rr = chosenIdx + 1;
    if (gid !== undefined) this.groups.set(gid, chosen);
    return chosen;
  }

  private deliver(e: Entry, c: Consumer<CoreQueue>): void {
    c.credit--;
    const delivery: Delivery = { id: c.engine.nextDeliveryId(), seq: e.seq, message: e.message, deliveryCount: e.deliveryCount, redelivered: e.redelivered, acquiredBefore: e.acquired, queue: this, consumer: c };
    const gid = e.message.groupId;
    if (gid !== undefined && e.message.groupSeq === -1) this.groups.delete(gid); // JMS: groupSeq -1 closes the group
    if (c.autoAck) {
      // at-most-once: the message leaves the queue as it is sent
      this.stats.dequeued++;
      this.forget(e);
      if (e.persisted) afterStored(e, () => this.commitAck(e.seq)).catch((err) => this.host.onError(err, 'auto-ack'));
      c.deliver(delivery);
      if (c.prefetchMode) c.credit++;
      return;
    }
    const f: InFlight = { delivery, entry: e, consumer: c, pending: false, markSeq: 0 };
    this.inflight.set(delivery.id, f);
    c.track(delivery.id);
    const lease = c.ackTimeout || this.policy.ackTimeout;
    if (lease > 0) this.setLease(f, lease);
    if (c.readAhead) {
      // fetched ahead by the adapter: marked when it hands the message to a client (markHandedOut), not now
      c.deliver(delivery);
      return;
    }
    // An entry whose enqueue commit is in flight with a mark covering it submitted (in that commit or before it)
    // needs no wait: the mark is durable no later than the entry, and a crash before that loses both.
    if (e.persisted && e.seq > this.committedMark && !(e.committing !== undefined && e.seq <= this.requestedMark)) {
      // Record "may have been delivered" durably before the client sees it, so a crash
      // afterwards redelivers it flagged redelivered.
      this.pend(f, e.seq);
      this.wantMark(e.seq);
      return;
    }
    if (this.pendingPer.has(c)) {
      // an earlier delivery to this consumer waits for its mark (a persistent message dispatched ahead of this
      // non-persistent one, by priority or FIFO): this one goes out after it, not before
      this.pend(f, 0);
      return;
    }
    c.deliver(delivery);
  }

  private pend(f: InFlight, markSeq: number): void {
    f.pending = true;
    f.markSeq = markSeq;
    this.pendingPer.set(f.consumer, (this.pendingPer.get(f.consumer) ?? 0) + 1);
  }

  private unpend(f: InFlight): void {
    if (!f.pending) return;
    f.pending = false;
    const n = (this.pendingPer.get(f.consumer) ?? 1) - 1;
    if (n > 0) this.pendingPer.set(f.consumer, n);
    else this.pendingPer.delete(f.consumer);
  }

  /** Hand out the postponed deliveries whose mark is durable, per consumer in dispatch order (inflight's order). */
  private releasePending(): void {
    if (this.pendingPer.size === 0) return;
    let blocked: Set<Consumer<CoreQueue>> | undefined;
    for (const f of this.inflight.values()) {
      if (!f.pending) continue;
      if (f.markSeq > this.committedMark || blocked?.has(f.consumer)) {
        (blocked ??= new Set()).add(f.consumer);
        continue;
      }
      this.unpend(f);
      if (!f.consumer.closed) f.consumer.deliver(f.delivery);
    }
  }

  private markWanted = 0;
  private markScheduled = false;
  /** Delivery-state updates (redelivery counts, stored lease ends) waiting for this tick's commit, by seq. */
  private updates: Map<number, Command & { t: 'update' }> | null = null;
  private updatesScheduled = false;

  /**
   * Store `e`'s delivery count (and, when given, its delivery time) in this tick's update commit — the mark's, when
   * one is due — once its enqueue is durable. Not awaited by anyone: a lost update is a count or a lease the next
   * restart does not see. Later updates of an entry in the same tick replace earlier ones.
   */
  private queueUpdate(e: Entry, deliveryTime?: number): void {
    const deliveryCount = e.deliveryCount;
    void afterStored(e, () => {
      const updates = (this.updates ??= new Map());
      const prev = updates.get(e.seq);
      updates.set(e.seq, { t: 'update', queue: this.storageName, seq: e.seq, deliveryCount, deliveryTime: deliveryTime ?? prev?.deliveryTime });
      if (this.markScheduled || this.updatesScheduled) return;
      this.updatesScheduled = true;
      queueMicrotask(() => {
        this.updatesScheduled = false;
        const batch = this.takeUpdates();
        if (batch.length) this.commitUpdates(batch);
      });
    });
  }

  private takeUpdates(): Command[] {
    const u = this.updates;
    if (u === null) return [];
    this.updates = null;
    return [...u.values()];
  }

  private commitUpdates(batch: Command[]): void {
    this.host.commit(batch).catch((err) => this.host.onError(err, 'delivery state'));
  }

  private flushMark(): void {
    this.markScheduled = false;
    // the delivery-state updates of this tick (an SQS receive's leases) ride in the mark's commit
    const updates = this.takeUpdates();
    if (this.markWanted <= this.requestedMark) {
      if (updates.length) this.commitUpdates(updates);
      return;
    }
    const mark = this.markWanted;
    this.requestedMark = mark;
    this.host.commit([{ t: 'mark', queue: this.storageName, seq: mark }, ...updates]).then(
      () => this.markCommitted(mark),
      (err) => {
        this.host.onError(err, 'mark');
        this.retryMark(mark);
      },
    );
  }

  /**
   * A mark commit failed (a full or failing disk): the deliveries waiting for it must not wait forever, nor go out
   * unmarked. Ask again after a second, for as long as one of them is still waiting — a disk that frees up lets
   * them through.
   */
  private retryMark(failed: number): void {
    if (this.requestedMark === failed) this.requestedMark = this.committedMark;
    this.host.timers.schedule(this.host.now() + MARK_RETRY_MS, () => {
      if (this.deleted || this.markScheduled) return;
      let waiting = false;
      for (const f of this.inflight.values()) if (f.pending) waiting = true;
      if (!waiting) return;
      this.markScheduled = true;
      this.flushMark();
    });
  }

  /**
   * Whether a persistent enqueue should carry its redelivery mark in its own commit: consumers are waiting
   * with more credit than there are ready entries ahead of it, so it will be delivered as soon as it is applied. Saves the
   * mark's separate commit on the streaming path; if the broker dies in between, the message is flagged
   * redelivered without having been delivered, which "may have been delivered" allows.
   */
  wantsEagerMark(seq: number): boolean {
    if (seq <= this.requestedMark || this.pagingActive || this.paused) return false;
    // Ready entries take credit first: those applied early by concurrent dispatch and not yet dispatched (this
    // microtask) are ahead of it, and should not cost it a mark commit of its own.
    let credit = 0;
    for (const c of this.consumers) if (c.credit > 0 && !c.closed && !c.readAhead) credit += c.credit; // read-ahead is marked when handed out
    return credit > this.readyCount;
  }

  /**
   * A read-ahead consumer handed these deliveries to its client: cover them with a mark. Nothing waits for it (the
   * client already has them): if the broker dies before it is durable, they come back unflagged — an undercount the
   * adapter's "approximate" receive count allows, where marking at dispatch counted messages nobody received.
   */
  markHandedOut(deliveryIds: readonly number[]): void {
    let max = 0;
    for (const id of deliveryIds) {
      const f = this.inflight.get(id);
      if (f && f.entry.persisted && f.entry.seq > max) max = f.entry.seq;
    }
    if (max > this.requestedMark) this.wantMark(max);
  }

  /** Cover `seq` with the mark commit of this round: one per dispatch round, covering exactly what it delivered. */
  private wantMark(seq: number): void {
    if (seq > this.markWanted) this.markWanted = seq;
    if (!this.markScheduled) {
      this.markScheduled = true;
      queueMicrotask(() => this.flushMark());
    }
  }

  noteMarkRequested(seq: number): void {
    if (seq > this.requestedMark) this.requestedMark = seq;
  }

  markCommitted(mark: number): void {
    if (mark > this.committedMark) this.committedMark = mark;
    this.releasePending();
  }

  private setLease(f: InFlight, ms: number): void {
    if (f.lease) this.host.timers.cancel(f.lease);
    f.lease = this.host.timers.schedule(this.host.now() + ms, () => {
      f.lease = undefined;
      if (this.inflight.get(f.delivery.id) !== f) return;
      // lease expired: that one message becomes available again; the consumer stays connected
      this.settleBack(f, { countFailure: true, reason: 'lease expired' });
      f.consumer.onLeaseExpired?.(f.delivery);
    });
  }

  /** Extend (or shorten; 0 = now) the lease of an in-flight delivery. */
  extendLease(deliveryId: number, ms: number): void {
    const f = this.inflight.get(deliveryId);
    if (!f) throw new BrokerError('not-found', `Delivery ${deliveryId} is not in flight on ${this.describe()}`);
    if (ms <= 0) {
      if (f.lease) this.host.timers.cancel(f.lease);
      f.lease = undefined;
      this.settleBack(f, { countFailure: false, reason: 'lease released' });
      return;
    }
    this.setLease(f, ms);
    if (f.consumer.durableLeases && f.entry.persisted && !f.entry.withdrawn) {
      // a restart holds the message back until then, as this lease does (SQS visibility timeout)
      f.entry.leaseStored = true;
      this.queueUpdate(f.entry, this.host.now() + ms);
    }
  }

  hasInflight(deliveryId: number): boolean {
    return this.inflight.has(deliveryId);
  }

  // ---------------------------------------------------------------- settlement

  /** Take an in-flight delivery off the books for an ack; returns the commands to commit (for transactions). */
  takeForAck(deliveryId: number): { entry: Entry; consumer: Consumer<CoreQueue> } {
    const f = this.inflight.get(deliveryId);
    if (!f) throw new BrokerError('not-found', `Delivery ${deliveryId} is not in flight on ${this.describe()} (already settled or lease expired)`);
    this.inflight.delete(deliveryId);
    this.unpend(f);
    if (f.lease) this.host.timers.cancel(f.lease);
    f.consumer.untrack(deliveryId);
    return { entry: f.entry, consumer: f.consumer };
  }

  ackCommands(e: Entry): Command[] {
    return e.persisted && !e.withdrawn ? [{ t: 'ack', queue: this.storageName, seq: e.seq }] : [];
  }

  /** The ack is committed (or needed no commit): the entry is gone. */
  applyAck(e: Entry, c: Consumer<CoreQueue> | null): void {
    if (!e.withdrawn) this.stats.dequeued++;
    this.forget(e);
    if (c && c.prefetchMode && !c.closed) c.credit++;
    this.scheduleDispatch();
  }

  ack(deliveryId: number): Promise<void> {
    let entry: Entry;
    try {
      const taken = this.takeForAck(deliveryId);
      entry = taken.entry;
      // Give the credit back at once: the ack's durability is the client's business, not dispatch's.
      this.applyAck(entry, taken.consumer);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!entry.persisted) return RESOLVED;
    const seq = entry.seq;
    return entry.committing === undefined && !entry.withdrawn ? this.commitAck(seq) : afterStored(entry, () => this.commitAck(seq));
  }

  /**
   * The ack commands of one tick go to the store as one batch (one commit, one promise shared by their callers)
   * instead of a commit each: a consumer acking a window of messages costs the store one batch. An ack
   * removes an entry no other command of the tick refers to (seqs are never reused), so taking it out of call
   * order within the tick changes nothing that is written.
   */
  private commitAck(seq: number): Promise<void> {
    let batch = this.ackBatch;
    if (batch === null) {
      const b: Command[] = (batch = this.ackBatch = []);
      this.ackBatchDone = new Promise<void>((resolve, reject) => {
        queueMicrotask(() => {
          this.ackBatch = null;
          this.host.commit(b).then(resolve, reject);
        });
      });
    }
    batch.push({ t: 'ack', queue: this.storageName, seq });
    return this.ackBatchDone!;
  }

  private ackBatch: Command[] | null = null;
  private ackBatchDone: Promise<void> | null = null;

  nack(deliveryId: number, opts: NackOptions = {}): void {
    const f = this.inflight.get(deliveryId);
    if (!f) throw new BrokerError('not-found', `Delivery ${deliveryId} is not in flight on ${this.describe()} (already settled or lease expired)`);
    this.settleBack(f, { countFailure: true, ...opts });
  }

  /** Return a delivery taken by takeForAck (transaction rollback) to the queue. */
  returnEntry(e: Entry, c: Consumer<CoreQueue> | null, opts: NackOptions): void {
    if (c && c.prefetchMode && !c.closed) c.credit++;
    this.requeue(e, opts, c);
  }

  private settleBack(f: InFlight, opts: NackOptions): void {
    this.inflight.delete(f.delivery.id);
    if (f.lease) this.host.timers.cancel(f.lease);
    f.consumer.untrack(f.delivery.id);
    if (f.consumer.prefetchMode && !f.consumer.closed) f.consumer.credit++;
    if (f.pending) {
      // the client never saw it: as if never delivered
      this.unpend(f);
      this.insertReady(f.entry);
      // deliveries waiting behind it go out now, unless the consumer is leaving (they come back too)
      if (!f.consumer.closed && this.consumers.includes(f.consumer)) this.releasePending();
      this.scheduleDispatch();
      return;
    }
    this.requeue(f.entry, opts, f.consumer);
  }

  private requeue(e: Entry, opts: NackOptions, from: Consumer<CoreQueue> | null): void {
    if (this.deleted) return;
    if (e.withdrawn) {
      // its enqueue never became durable: not redelivered (the producer was told the send failed)
      this.forget(e);
      this.scheduleDispatch();
      return;
    }
    if (opts.redelivered !== false) e.redelivered = true;
    else if (opts.acquired) e.acquired = true;
    // a copy: the message object may be shared with the other queues a topic fanned it out to
    if (opts.annotations) e.message = copyMessage(e.message, { annotations: { ...e.message.annotations, ...opts.annotations } });
    this.stats.redelivered++;
    if (opts.deadLetter) {
      this.deadLetter(e, opts.reason ?? 'rejected by consumer');
      return;
    }
    if (opts.countFailure) {
      e.deliveryCount++;
      const max = this.policy.maxRedeliveries;
      if (max >= 0 && e.deliveryCount > max) {
        this.deadLetter(e, opts.reason ? `${opts.reason}; delivery attempts exceeded maxRedeliveries=${max}` : `Delivery attempts exceeded maxRedeliveries=${max}`);
        return;
      }
    }
    if (opts.notHere && from) from.refuse(e.seq);
    const delay = opts.delay ?? (opts.countFailure ? PolicyResolver.redeliveryDelay(this.policy, e.deliveryCount) : 0);
    const availableAt = delay > 0 ? this.host.now() + delay : 0;
    if (e.persisted) {
      if (from?.durableLeases && delay > 0) {
        e.leaseStored = true;
        this.queueUpdate(e, availableAt);
      } else if (e.leaseStored && from && !from.closed) {
        // given back before its stored lease ended: available again after a restart too. A closing consumer
        // (the broker stopping) leaves the stored lease as it is, so the restart still holds the message back.
        e.leaseStored = undefined;
        this.queueUpdate(e, this.host.now());
      } else if (opts.countFailure) this.queueUpdate(e);
    }
    this.place(e, availableAt);
    this.scheduleDispatch();
  }

  // ---------------------------------------------------------------- expiry and dead letters

  private expire(e: Entry): void {
    this.stats.expired++;
    if (this.policy.expiry === 'dlq' && e.message.durable && !this.isDeadLetterQueue) {
      this.deadLetter(e, 'expired');
      return;
    }
    this.forget(e);
    if (e.persisted) afterStored(e, () => this.host.commit([{ t: 'ack', queue: this.storageName, seq: e.seq }])).catch((err) => this.host.onError(err, 'expire'));
  }

  /** Remove an in-memory entry (not in flight) and move it to the DLQ atomically. */
  private deadLetter(e: Entry, reason: string): void {
    this.stats.deadLettered++;
    this.forget(e);
    // planned when written: the DLQ's seq is taken in the same step as the commit carrying it
    void afterStored(e, () => {
      const dl = this.isDeadLetterQueue ? null : this.host.deadLetter(this, e, reason);
      const cmds = [...this.ackCommands(e), ...(dl?.commands ?? [])];
      const applyDlq = () => dl?.apply();
      if (cmds.length) this.host.commit(cmds).then(applyDlq, (err) => this.host.onError(err, 'dead-letter'));
      else applyDlq();
    });
  }

  /** Periodic sweep: expire what sits in the window past its expiration. */
  sweepExpired(): void {
    const now = this.host.now();
    for (let p = 0; p < PRIORITIES; p++) {
      const arr = this.ready[p];
      for (let i = this.heads[p]; i < arr.length; ) {
        const e = arr[i];
        if (e.message.expiration > 0 && e.message.expiration <= now) {
          i = this.takeReadyAt(p, i);
          this.expire(e);
        } else i++;
      }
    }
    for (const e of [...this.scheduled]) {
      if (e.message.expiration > 0 && e.message.expiration <= now) {
        this.scheduled.delete(e);
        this.scheduledCount--;
        this.expire(e);
      }
    }
  }

  // ---------------------------------------------------------------- browse, purge, delete

  /** Messages in queue order without consuming them (in-memory window, then paged from the store). */
  browse(limit = 1000, offset = 0, filter?: DeliverySelector): Array<{ seq: number; message: Message; deliveryCount: number; redelivered: boolean; state: 'ready' | 'scheduled' | 'inflight' }> {
    const out: Array<{ seq: number; message: Message; deliveryCount: number; redelivered: boolean; state: 'ready' | 'scheduled' | 'inflight' }> = [];
    const mem: Array<{ e: Entry; state: 'ready' | 'scheduled' | 'inflight' }> = [];
    for (let p = PRIORITIES - 1; p >= 0; p--) for (let i = this.heads[p]; i < this.ready[p].length; i++) mem.push({ e: this.ready[p][i], state: 'ready' });
    for (const e of this.scheduled) mem.push({ e, state: 'scheduled' });
    for (const f of this.inflight.values()) mem.push({ e: f.entry, state: 'inflight' });
    mem.sort((a, b) => b.e.message.priority - a.e.message.priority || a.e.seq - b.e.seq);
    let skipped = 0;
    const take = (seq: number, message: Message, deliveryCount: number, redelivered: boolean, state: 'ready' | 'scheduled' | 'inflight') => {
      if (filter && !filter({ message, deliveryCount, redelivered })) return;
      if (skipped < offset) {
        skipped++;
        return;
      }
      out.push({ seq, message, deliveryCount, redelivered, state });
    };
    for (const { e, state } of mem) {
      if (out.length >= limit) return out;
      take(e.seq, e.message, e.deliveryCount, e.redelivered, state);
    }
    let cursor = this.pageCursor;
    while (out.length < limit && this.pagedCount > 0) {
      const batch = this.host.readEntries(this.storageName, cursor, 500);
      if (!batch.length) break;
      for (const s of batch) {
        cursor = s.seq;
        if (out.length >= limit) break;
        take(s.seq, s.message, s.deliveryCount, s.deliveryCount > 0, 'ready');
      }
    }
    return out;
  }

  /** Remove every message that is not in flight. Returns how many were removed. */
  async purge(): Promise<number> {
    let removed = 0;
    for (let p = 0; p < PRIORITIES; p++) {
      for (let i = this.heads[p]; i < this.ready[p].length; i++) {
        removed++;
        const e = this.ready[p][i];
        this.memCount--;
        this.memBytes -= e.size;
        if (e.committing) this.ackWhenStored(e);
      }
      this.ready[p] = [];
      this.heads[p] = 0;
    }
    this.readyCount = 0;
    for (const e of this.scheduled) {
      removed++;
      this.memCount--;
      this.memBytes -= e.size;
      if (e.timer) this.host.timers.cancel(e.timer);
      if (e.committing) this.ackWhenStored(e);
    }
    this.scheduled.clear();
    this.scheduledCount = 0;
    removed += this.pagedCount;
    this.pagedCount = 0;
    this.pagedBytes = 0;
    this.pagingActive = false;
    const upTo = this.lastSeq;
    if (this.persistent) this.pageCursor = upTo;
    this.stats.dropped += removed;
    this.wakeBlocked();
    if (this.persistent) await this.removeStored(upTo);
    return removed;
  }

  /** A purged entry whose enqueue is still being committed: removed from the store once it is there. */
  private ackWhenStored(e: Entry): void {
    if (e.persisted) afterStored(e, () => this.host.commit([{ t: 'ack', queue: this.storageName, seq: e.seq }])).catch((err) => this.host.onError(err, 'purge'));
  }

  /**
   * Delete the stored entries with seq ≤ `upTo` that this queue no longer holds in memory, one chunk per
   * commit, so that purging millions of entries never holds the event loop in one long write transaction.
   * Kept: entries in flight, and entries whose enqueue commit landed after the purge had begun. A crash in
   * the middle leaves the rest of the purge undone (the caller has not been answered yet).
   */
  private async removeStored(upTo: number): Promise<void> {
    let after = 0;
    for (;;) {
      const seqs = this.host.readSeqs(this.storageName, after, PURGE_CHUNK);
      if (seqs.length === 0) return;
      const held = this.heldSeqs();
      const cmds: Command[] = [];
      for (const seq of seqs) if (seq <= upTo && !held.has(seq)) cmds.push({ t: 'ack', queue: this.storageName, seq });
      after = seqs[seqs.length - 1];
      if (cmds.length) await this.host.commit(cmds);
      if (after >= upTo || seqs.length < PURGE_CHUNK) return;
    }
  }

  /** Seqs of the entries held in memory (ready window, scheduled, in flight) or by a prepared transaction. */
  private heldSeqs(): Set<number> {
    const held = new Set<number>();
    for (let p = 0; p < PRIORITIES; p++) for (let i = this.heads[p]; i < this.ready[p].length; i++) held.add(this.ready[p][i].seq);
    for (const e of this.scheduled) held.add(e.seq);
    for (const f of this.inflight.values()) held.add(f.entry.seq);
    for (const seq of this.locked.keys()) held.add(seq); // acked by a prepared transaction: it decides
    return held;
  }

  /** Mark deleted: consumers are closed by the engine; pending timers dropped. */
  markDeleted(): void {
    this.deleted = true;
    for (const e of this.scheduled) if (e.timer) this.host.timers.cancel(e.timer);
    for (const f of this.inflight.values()) if (f.lease) this.host.timers.cancel(f.lease);
    for (const b of this.blocked) {
      if (b.timer) clearTimeout(b.timer);
      b.reject(new BrokerError('not-found', `${this.describe()} was deleted`));
    }
    this.blocked = [];
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) this.scheduleDispatch();
  }

  /** Oldest-first list of in-flight deliveries (admin, SQS). */
  inflightDeliveries(): Delivery[] {
    return [...this.inflight.values()].map((f) => f.delivery);
  }

  // ---------------------------------------------------------------- prepared (XA) transactions

  /** An entry taken for an ack (takeForAck) whose transaction is now prepared: held until it ends. */
  lockEntry(e: Entry): void {
    this.locked.set(e.seq, e);
  }

  /** Recovery: the entry at `seq` belongs to a prepared transaction; call before recover() pages entries in. */
  lockSeq(seq: number): void {
    if (!this.locked.has(seq)) this.locked.set(seq, null);
  }

  /** The commands removing a locked entry for good: in memory, or still in the store (paged out); none if gone. */
  lockedAckCommands(seq: number): Command[] {
    if (!this.locked.has(seq)) return [];
    const e = this.locked.get(seq);
    if (e) return this.ackCommands(e);
    if (this.pagedCount > 0 && seq > this.pageCursor) {
      const [s] = this.host.readEntries(this.storageName, seq - 1, 1);
      if (s && s.seq === seq) {
        this.lockedPagedSizes.set(seq, messageSize(s.message));
        return [{ t: 'ack', queue: this.storageName, seq }];
      }
    }
    return [];
  }

  /**
   * The prepared transaction ended: committed (the lockedAckCommands are durable) → the entry is gone; rolled
   * back → it is available again, flagged redelivered.
   */
  settleLocked(seq: number, committed: boolean): void {
    if (!this.locked.has(seq)) return;
    const e = this.locked.get(seq) ?? null;
    const pagedSize = this.lockedPagedSizes.get(seq) ?? 0;
    this.locked.delete(seq);
    this.lockedPagedSizes.delete(seq);
    if (e) {
      if (committed) this.applyAck(e, null);
      else this.returnEntry(e, null, { countFailure: true, reason: 'transaction rolled back' });
      return;
    }
    // Still in the store. Rolled back: pageIn places it when it gets there, unless paging is already past it
    // (a purge moved the cursor): then it is read back now.
    if (!committed) {
      if (seq <= this.pageCursor && !this.deleted) {
        const [st] = this.host.readEntries(this.storageName, seq - 1, 1);
        if (st && st.seq === seq) {
          const size = messageSize(st.message);
          this.memCount++;
          this.memBytes += size;
          this.place({ seq, message: st.message, deliveryCount: st.deliveryCount, redelivered: true, size, persisted: true });
          this.scheduleDispatch();
        }
      }
      return;
    }
    // committed: its ack went to the store without paging it in (the counters go down as removeBySeq's do)
    if (this.pagedCount > 0 && seq > this.pageCursor) {
      this.pagedCount--;
      this.pagedBytes = Math.max(0, this.pagedBytes - pagedSize);
      this.pagingActive = this.pagedCount > 0;
      this.stats.dequeued++;
      this.wakeBlocked();
    }
  }

  /** Remove one message by seq wherever it is not in flight (admin delete/move). Returns it if removed. */
  async removeBySeq(seq: number): Promise<Message | null> {
    for (let p = 0; p < PRIORITIES; p++) {
      const arr = this.ready[p];
      for (let i = this.heads[p]; i < arr.length; i++) {
        if (arr[i].seq === seq) {
          const e = arr[i];
          this.removeReadyAt(p, i);
          this.forget(e);
          this.stats.dequeued++;
          await afterStored(e, () => {
            const cmds = this.ackCommands(e);
            if (cmds.length) return this.host.commit(cmds);
          });
          return e.message;
        }
      }
    }
    for (const e of this.scheduled) {
      if (e.seq === seq) {
        this.scheduled.delete(e);
        this.scheduledCount--;
        this.forget(e);
        await afterStored(e, () => {
          const cmds = this.ackCommands(e);
          if (cmds.length) return this.host.commit(cmds);
        });
        return e.message;
      }
    }
    // Paged out: remove it from the store directly, without paging the backlog in.
    if (this.pagedCount > 0 && seq > this.pageCursor) {
      const [s] = this.host.readEntries(this.storageName, seq - 1, 1);
      if (!s || s.seq !== seq) return null;
      const size = messageSize(s.message);
      this.pagedCount--;
      this.pagedBytes -= size;
      if (this.pagedCount === 0) this.pagingActive = false;
      this.stats.dequeued++;
      await this.host.commit([{ t: 'ack', queue: this.storageName, seq }]);
      this.wakeBlocked();
      return s.message;
    }
    return null;
  }
}
