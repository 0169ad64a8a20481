/**
 * One timer for the whole engine: a min-heap of due times, with a single `setTimeout` armed for the
 * earliest. Delayed messages, redelivery back-off, delivery leases and expiry all schedule through it,
 * so millions of scheduled messages cost heap entries, not Node timers.
 */
export interface TimerHandle {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

export class TimerWheel {
  private heap: TimerHandle[] = [];
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

  cancel(h: TimerHandle | undefined | null): void {
    if (h) h.cancelled = true;
  }

  get size(): number {
    return this.heap.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.heap = [];
  }

  private arm(): void {
    if (this.stopped) return;
    while (this.heap.length && this.heap[0].cancelled) this.pop();
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
      if (h.cancelled) continue;
      n++;
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
      let i = 0;
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
    return top;
  }
}
