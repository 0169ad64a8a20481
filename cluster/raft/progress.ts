import type { Snapshot } from './types.js';

/**
 * Sliding window of MsgApps in flight to one follower, for flow control. Each item is
 * the last index a message carried and its byte size; acks free everything <= an index.
 */
export class Inflights {
  private readonly idx: number[] = [];
  private readonly size: number[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    readonly maxCount: number,
    /** 0 = no byte limit. */
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.idx.length - this.head;
  }
  get bytes(): number {
    return this.totalBytes;
  }

  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('inflights: add to a full window');
    const last = this.idx[this.idx.length - 1];
    if (this.count > 0 && last !== undefined && index <= last) throw new Error(`inflights: index ${index} not increasing`);
    this.idx.push(index);
    this.size.push(bytes);
    this.totalBytes += bytes;
  }

  /** The follower acknowledged everything up to `index`. */
  freeLE(index: number): void {
    while (this.head < this.idx.length && (this.idx[this.head] as number) <= index) {
      this.totalBytes -= this.size[this.head] as number;
      this.head++;
    }
    // Compact the backing arrays once the dead prefix dominates, keeping add/free O(1) amortized.
    if (this.head > 32 && this.head * 2 > this.idx.length) {
      this.idx.splice(0, this.head);
      this.size.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Drop the oldest item: used when a heartbeat answer shows the follower is alive while the
   *  window is full, so one more MsgApp goes out. If earlier ones were lost, the follower
   *  rejects it (gap) and the leader falls back to probing instead of stalling forever. */
  freeFirstOne(): void {
    const first = this.idx[this.head];
    if (first !== undefined) this.freeLE(first);
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  reset(): void {
    this.idx.length = 0;
    this.size.length = 0;
    this.head = 0;
    this.totalBytes = 0;
  }
}

/**
 * How the leader replicates to a follower (etcd's three states):
 * - probe: we don't know where the follower's log matches ours. Send one MsgApp per
 *   heartbeat interval and wait for the answer (reject -> back off, accept -> replicate).
 * - replicate: the follower is known to match up to `match`; stream entries optimistically
 *   (`next` runs ahead of `match`), bounded by the inflight window.
 * - snapshot: the follower needs entries we have compacted; a chunked snapshot transfer
 *   is in progress and log replication is paused until it completes.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: a MsgApp is outstanding, wait for its answer or the next heartbeat. */
  msgAppFlowPaused = false;
  /** Heard from the follower since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;
  /** Snapshot state: the image being sent (pinned, so later compactions don't change it
   *  mid-transfer) and how many bytes the follower has acknowledged. */
  pendingSnapshot: Snapshot | undefined;
  snapshotOffset = 0;
  /** Snapshot state: ticks since the follower last acknowledged a chunk. */
  snapshotIdle = 0;

  constructor(next: number, maxInflight: number, maxInflightBytes: number, isLearner: boolean) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = undefined;
    this.snapshotOffset = 0;
    this.snapshotIdle = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the snapshot index is the best guess of where the follower is.
    const snapIndex = this.state === 'snapshot' ? (this.pendingSnapshot?.meta.index ?? 0) : 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, snapIndex + 1);
  }
  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }
  becomeSnapshot(s: Snapshot): void {
    this.resetState('snapshot');
    this.pendingSnapshot = s;
  }

  /** A successful append ack for `n`. Returns true if `match` advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Bookkeeping after sending a MsgApp of `count` entries / `bytes` bytes starting at `next`. */
  sentEntries(count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        const last = this.next + count - 1;
        this.inflights.add(last, bytes);
        this.next = last + 1;
      }
    } else if (this.state === 'probe') {
      // One probe at a time; unpaused by the answer or by the next heartbeat response.
      this.msgAppFlowPaused = true;
    }
  }

  /**
   * The follower rejected a MsgApp whose preceding index was `rejected`; `matchHint` is
   * the highest index that may match (from the follower's and our conflict hints).
   * Returns false when the rejection is stale (an answer to an old message) and ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Entries up to match are known to match; a rejection at or below it is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the answer to the outstanding probe (whose prev index is next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.msgAppFlowPaused;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  toString(): string {
    let s = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.state === 'snapshot') s += ` snap=${this.pendingSnapshot?.meta.index ?? 0}@${this.snapshotOffset}`;
    if (this.state === 'replicate' && this.inflights.count > 0) s += ` inflight=${this.inflights.count}`;
    if (this.msgAppFlowPaused) s += ' paused';
    return s;
  }
}
