/**
 * One timer for the whole engine: a min-heap of due times, with a single `setTimeout` armed for the
 * earliest. Delayed messages, redelivery back-off, delivery leases and expiry all schedule through it,
 * so millions of scheduled messages cost heap entries, not Node timers.
 */
export interface TimerHandle {
  at: number;
  fn: () => void;
  /** Cancelled, or fired: either way no longer a live entry of the heap. */
  cancelled: boolean;
}

const NOOP = (): void => undefined;
/** A heap smaller than this is never compacted: its cancelled entries cost little and leave soon enough. */
const COMPACT_MIN = 1024;

export class TimerWheel {
  private heap: TimerHandle[] = [];
  /** Cancelled entries still in the heap. */
  private dead = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Infinity;
  private stopped = false;

  constructor(private readonly now: () => number = Date.now) {}

  schedule(at: number, fn: () => void): TimerHandle {
    const h: TimerHandle = { at, fn, cancelled: false };
    this.push(h);
    this.arm();
    return h;
  }

  /**
   * A cancelled entry stays in the heap until it reaches the top or the heap is compacted: a lease acknowledged
   * in a millisecond would otherwise sit there for the whole lease (30 s of deliveries at full rate), its callback
   * holding the delivery and its message. The callback is let go at once; once more than half the heap is
   * cancelled, it is rebuilt without them (linear, so amortised constant per cancel).
   */
  cancel(h: TimerHandle | undefined | null): void {
    if (!h || h.cancelled) return;
    h.cancelled = true;
    h.fn = NOOP;
    // A handle not yet cancelled is in the heap (firing marks it cancelled; compaction drops only cancelled ones),
    // unless the wheel was stopped and emptied.
    if (this.stopped) return;
    this.dead++;
    if (this.heap.length >= COMPACT_MIN && this.dead * 2 > this.heap.length) this.compact();
  }

  /** Live (not cancelled) timers. */
  get size(): number {
    return this.heap.length - this.dead;
  }

  /** Heap entries, cancelled ones not yet dropped included. */
  get entries(): number {
    return this.heap.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.heap = [];
    this.dead = 0;
  }

  /** Drop the cancelled entries and restore the heap order (bottom-up heapify). */
  private compact(): void {
    const a = this.heap.filter((h) => !h.cancelled);
    this.heap = a;
    this.dead = 0;
    for (let i = (a.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private arm(): void {
    if (this.stopped) return;
    while (this.heap.length && this.heap[0].cancelled) {
      this.pop();
      this.dead--;
    }
    if (!this.heap.length) return;
    const at = this.heap[0].at;
    if (this.timer && at >= this.armedAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.min(at - this.now(), 2 ** 31 - 1)));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    const now = this.now();
    let n = 0;
    while (this.heap.length && this.heap[0].at <= now && n < 100_000) {
      const h = this.pop()!;
      if (h.cancelled) {
        this.dead--;
        continue;
      }
      n++;
      h.cancelled = true; // fired: a later cancel() of this handle has nothing to take out
      try {
        h.fn();
      } catch {
        // a failing callback must not stop other timers; callers log their own errors
      }
    }
    this.arm();
  }

  private push(h: TimerHandle): void {
    const a = this.heap;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].at <= a[i].at) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }

  private pop(): TimerHandle | undefined {
    const a = this.heap;
    if (!a.length) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const a = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && a[l].at < a[m].at) m = l;
      if (r < a.length && a[r].at < a[m].at) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i], a[m]];
      i = m;
    }
  }
}
