import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { entrySize } from './types.js';

/**
 * Read-only view of the durable log that Raft consults. The application owns the
 * writes (it persists what Ready hands it, then calls advance()); Raft only reads.
 *
 * Layout: the log is a contiguous run of entries [firstIndex, lastIndex] preceded by
 * a snapshot whose meta.index == firstIndex - 1 (index 0 / term 0 when there is none).
 * Raft only asks for indices inside [firstIndex - 1, lastIndex]; implementations may
 * throw on anything else. Reads are synchronous (LMDB reads are).
 */
export interface Storage {
  /** Hard state as last persisted (term 0, vote 0, commit 0 for a fresh node). */
  initialState(): HardState;
  /** Entries [lo, hi), stopping early once `maxBytes` is exceeded (always at least one). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i, for firstIndex - 1 <= i <= lastIndex (firstIndex - 1 answers the snapshot term). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (meta.index 0 when none). */
  snapshot(): Snapshot;
}

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };
export const EMPTY_SNAPSHOT: Snapshot = { meta: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) };

/**
 * In-memory Storage, used by the tests and simulation as the "disk", and the reference
 * for the LMDB implementation: same operations, same order, same invariants.
 */
export class MemoryStorage implements Storage {
  private hard: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = EMPTY_SNAPSHOT;
  /** ents[k] is entry snap.meta.index + 1 + k. */
  private ents: Entry[] = [];

  /** A node that is part of the initial cluster starts from an index-0 "snapshot" holding the
   *  initial membership; a node that joins later starts empty and learns it from the leader. */
  static bootstrap(conf: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.snap = { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) };
    return s;
  }

  initialState(): HardState {
    return this.hard;
  }
  firstIndex(): number {
    return this.snap.meta.index + 1;
  }
  lastIndex(): number {
    return this.snap.meta.index + this.ents.length;
  }
  term(i: number): number {
    const off = this.snap.meta.index;
    if (i === off) return this.snap.meta.term;
    if (i < off || i > this.lastIndex()) throw new RangeError(`term(${i}) outside [${off}, ${this.lastIndex()}]`);
    return (this.ents[i - off - 1] as Entry).term;
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.snap.meta.index;
    if (lo <= off || hi > this.lastIndex() + 1 || lo > hi) {
      throw new RangeError(`entries(${lo}, ${hi}) outside [${off + 1}, ${this.lastIndex() + 1})`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - off - 1] as Entry;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }
  snapshot(): Snapshot {
    return this.snap;
  }

  // ---- writes (done by the application while handling a Ready) ----

  setHardState(h: HardState): void {
    this.hard = h;
  }

  /** Append entries, truncating any existing suffix from entries[0].index on
   *  (a new leader may overwrite an uncommitted tail). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = (entries[0] as Entry).index;
    const off = this.snap.meta.index;
    if (first > this.lastIndex() + 1) throw new Error(`append at ${first} leaves a gap after ${this.lastIndex()}`);
    // Entries at or below the snapshot are already covered by it; skip them.
    const keep = entries.filter((e) => e.index > off);
    if (keep.length === 0) return;
    const start = (keep[0] as Entry).index;
    this.ents = this.ents.slice(0, start - off - 1).concat(keep);
  }

  /** Install a snapshot received from the leader: it replaces the whole log. (Raft only
   *  hands one out when its own view of the log does not contain the snapshot's last entry,
   *  so nothing stored after it can be trusted to match.) */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index <= this.snap.meta.index) return; // older than what we have
    this.ents = [];
    this.snap = s;
  }

  /** Application-side compaction: record a snapshot of the state machine at `index`
   *  (which must be applied, hence committed and in the log) and drop entries up to it. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const off = this.snap.meta.index;
    if (index <= off) return this.snap;
    if (index > this.lastIndex()) throw new Error(`snapshot ${index} beyond last index ${this.lastIndex()}`);
    const term = this.term(index);
    this.snap = { meta: { index, term, conf }, data };
    this.ents = this.ents.slice(index - off);
    return this.snap;
  }
}
