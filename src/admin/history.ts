/**
 * Per-destination history for the console's charts and sparklines: depth, messages in, out and redelivered, in
 * two downsampled ring buffers — 10 s buckets for the last hour and 5 min buckets for the last 24 h — in
 * Float32Arrays, so the cost per destination is fixed:
 *
 *   4 series × (360 + 288) buckets × 4 bytes = 10,368 bytes (+ ~150 bytes of object), allocated only for
 *   destinations that have had traffic or held messages since the broker started; at most `maxDestinations`
 *   (default 2,000 → ≤ 21 MB) are tracked, the least recently active one makes room for a new one.
 *
 * Fed by the sampler once a second with every destination's counters; depth is the last value in a bucket,
 * in/out/redelivered are the sums of the increases during it.
 */

export const SERIES = ['depth', 'in', 'out', 'redelivered'] as const;
export type SeriesName = (typeof SERIES)[number];

export interface Tier {
  /** Bucket width, seconds. */
  step: number;
  /** Buckets kept. */
  points: number;
}

export const TIERS: readonly Tier[] = [
  { step: 10, points: 360 },
  { step: 300, points: 288 },
];

export const BYTES_PER_DESTINATION = SERIES.length * TIERS.reduce((n, t) => n + t.points, 0) * Float32Array.BYTES_PER_ELEMENT;

interface Ring {
  /** SERIES.length values per bucket, bucket after bucket. */
  values: Float32Array;
  /** The bucket number (epoch seconds / step) of the newest bucket. */
  head: number;
}

class DestHistory {
  readonly rings: Ring[];
  lastActive = 0;
  /** The sample generation it was last seen in. */
  gen = 0;
  prev: { in: number; out: number; redelivered: number };

  /** When tracking began (epoch s): charts start there, not with an hour of zeros. */
  readonly start: number;

  constructor(now: number, counters: { in: number; out: number; redelivered: number }) {
    this.start = now;
    this.rings = TIERS.map((t) => ({ values: new Float32Array(t.points * SERIES.length), head: Math.floor(now / t.step) }));
    this.prev = { ...counters };
    this.lastActive = now;
  }

  add(now: number, depth: number, dIn: number, dOut: number, dRe: number): void {
    // a plain loop: this runs for every tracked destination once a second
    for (let i = 0; i < TIERS.length; i++) {
      const t = TIERS[i];
      const r = this.rings[i];
      const b = Math.floor(now / t.step);
      if (b > r.head) {
        // clear the buckets skipped since the last sample (nothing happened then; depth carries over)
        const lastDepth = r.values[(r.head % t.points) * SERIES.length];
        for (let k = Math.max(r.head + 1, b - t.points + 1); k <= b; k++) {
          const o = (k % t.points) * SERIES.length;
          r.values[o] = lastDepth;
          r.values[o + 1] = 0;
          r.values[o + 2] = 0;
          r.values[o + 3] = 0;
        }
        r.head = b;
      }
      const o = (b % t.points) * SERIES.length;
      r.values[o] = depth;
      r.values[o + 1] += dIn;
      r.values[o + 2] += dOut;
      r.values[o + 3] += dRe;
    }
  }

  /** The tier's buckets since tracking began (at most `points`), oldest first: bucket start times (epoch s) and one array per series. */
  read(tier: number, now: number, points: number): { t: number[]; series: Record<SeriesName, number[]> } {
    const spec = TIERS[tier];
    const r = this.rings[tier];
    const cur = Math.floor(now / spec.step);
    const n = Math.min(points, spec.points);
    const out = { t: [] as number[], series: { depth: [], in: [], out: [], redelivered: [] } as Record<SeriesName, number[]> };
    const lastDepth = r.values[(r.head % spec.points) * SERIES.length];
    for (let k = Math.max(cur - n + 1, Math.floor(this.start / spec.step)); k <= cur; k++) {
      out.t.push(k * spec.step);
      if (k > r.head || k <= r.head - spec.points) {
        // not sampled (before tracking began: 0; after the last sample: the depth carried)
        const depth = k > r.head ? lastDepth : 0;
        out.series.depth.push(depth);
        out.series.in.push(0);
        out.series.out.push(0);
        out.series.redelivered.push(0);
        continue;
      }
      const o = (k % spec.points) * SERIES.length;
      out.series.depth.push(r.values[o]);
      out.series.in.push(r.values[o + 1]);
      out.series.out.push(r.values[o + 2]);
      out.series.redelivered.push(r.values[o + 3]);
    }
    return out;
  }
}

const ZERO = { in: 0, out: 0, redelivered: 0 };

export interface HistoryInput {
  key: string;
  depth: number;
  in: number;
  out: number;
  redelivered: number;
}

export class History {
  private readonly dests = new Map<string, DestHistory>();
  /**
   * Counters of untracked destinations that were tracked once (evicted at the cap): where their next increase is
   * measured from. Every other destination's counters count from 0, as they do since the broker started.
   */
  private readonly baseline = new Map<string, { in: number; out: number; redelivered: number; gen: number }>();
  private gen = 0;
  private noRoomGen = -1;

  constructor(readonly maxDestinations = 2_000, private readonly now: () => number = () => Date.now() / 1000) {}

  get tracked(): number {
    return this.dests.size;
  }

  /** Fixed buffer bytes held now (typed arrays only). */
  get bytes(): number {
    return this.dests.size * BYTES_PER_DESTINATION;
  }

  /** One sample of every destination (a destination not in it is forgotten: it is gone). */
  sample(items: Iterable<HistoryInput>): void {
    const now = this.now();
    const gen = ++this.gen;
    for (const d of items) {
      let h = this.dests.get(d.key);
      if (!h) {
        const base = this.baseline.get(d.key);
        if (base) base.gen = gen;
        const from = base ?? ZERO;
        // an idle, empty destination costs no buffer
        if (d.depth === 0 && d.in === from.in && d.out === from.out && d.redelivered === from.redelivered) continue;
        h = this.track(d.key, now, from) ?? undefined;
        if (!h) continue;
      }
      h.gen = gen;
      const dIn = Math.max(0, d.in - h.prev.in), dOut = Math.max(0, d.out - h.prev.out), dRe = Math.max(0, d.redelivered - h.prev.redelivered);
      if (dIn || dOut || dRe || d.depth) h.lastActive = now;
      h.prev.in = d.in;
      h.prev.out = d.out;
      h.prev.redelivered = d.redelivered;
      h.add(now, d.depth, dIn, dOut, dRe);
    }
    for (const [k, h] of this.dests) if (h.gen !== gen) this.dests.delete(k);
    for (const [k, b] of this.baseline) if (b.gen !== gen) this.baseline.delete(k);
  }

  private track(key: string, now: number, from: { in: number; out: number; redelivered: number }): DestHistory | null {
    if (this.dests.size >= this.maxDestinations) {
      // every tracked one was active this second: no room in this sample (don't scan again for each newcomer)
      if (this.noRoomGen === this.gen) return null;
      // make room: the destination idle the longest gives up its history
      let oldest: string | undefined;
      let at = Infinity;
      for (const [k, h] of this.dests) {
        if (h.lastActive < at) {
          at = h.lastActive;
          oldest = k;
        }
      }
      if (oldest === undefined || at >= now) {
        this.noRoomGen = this.gen;
        return null;
      }
      const gone = this.dests.get(oldest)!;
      this.baseline.set(oldest, { ...gone.prev, gen: gone.gen });
      this.dests.delete(oldest);
    }
    this.baseline.delete(key);
    const h = new DestHistory(now, from);
    this.dests.set(key, h);
    return h;
  }

  has(key: string): boolean {
    return this.dests.has(key);
  }

  /** `range`: '1h' (10 s buckets) or '24h' (5 min buckets); a shorter window for sparklines. */
  read(key: string, range: '1h' | '24h' | '15m'): { step: number; t: number[]; series: Record<SeriesName, number[]> } | null {
    const h = this.dests.get(key);
    const tier = range === '24h' ? 1 : 0;
    const points = range === '15m' ? 90 : TIERS[tier].points;
    if (!h) return null;
    return { step: TIERS[tier].step, ...h.read(tier, this.now(), points) };
  }
}
