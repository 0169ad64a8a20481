/**
 * A seeded stream of Raft-log writes (appends, suffix overwrites at a higher term, compactions, installed snapshots,
 * hard states), the same for the crash child (raft-wal-crash-child.ts), which applies it to a WalRaftLog, and for the
 * test, which applies it to MemoryStorage to know what every acknowledged write left.
 */
import { Prng, type ConfState, type Entry, type HardState, type Snapshot } from '../../cluster/raft/index.js';

export type WalOp =
  | { t: 'save'; entries: Entry[]; hardState: HardState }
  | { t: 'compact'; index: number; data: Buffer }
  | { t: 'install'; snapshot: Snapshot };

export const CRASH_CONF: ConfState = { voters: [1, 2, 3], learners: [] };

/** Bounds the generator needs from the log it writes to (both logs answer the same). */
export interface Bounds {
  firstIndex(): number;
  lastIndex(): number;
}

export class WalOps {
  private readonly rnd: Prng;
  private term = 1;
  constructor(seed: number) {
    this.rnd = new Prng(seed);
  }

  /** The next write, given the log's bounds before it. */
  next(log: Bounds): WalOp {
    const first = log.firstIndex();
    const last = log.lastIndex();
    const r = this.rnd.next();
    if (r < 0.08 && last >= first) {
      const index = first - 1 + this.rnd.int(last - first + 2);
      return { t: 'compact', index, data: Buffer.from(`state@${index}`) };
    }
    if (r < 0.1) {
      this.term++;
      return { t: 'install', snapshot: { meta: { index: last + this.rnd.int(4), term: this.term, conf: CRASH_CONF }, data: Buffer.from(`image@${last}`) } };
    }
    let from = last + 1;
    if (r < 0.2 && last >= first) {
      from = Math.max(first, last - this.rnd.int(6));
      this.term++;
    }
    const entries: Entry[] = [];
    for (let i = 0, n = 1 + this.rnd.int(5); i < n; i++) {
      const index = from + i;
      entries.push({ index, term: this.term, type: 'normal', data: Buffer.alloc(40 + this.rnd.int(3000), `${index}:${this.term};`) });
    }
    return { t: 'save', entries, hardState: { term: this.term, vote: 1, commit: Math.max(0, from - 1) } };
  }
}
