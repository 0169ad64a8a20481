import type { Entry, Snapshot } from './types.js';
import { entrySize } from './types.js';
import type { Storage } from './storage.js';

/**
 * Entries and/or a snapshot that Raft holds in memory but the application has not yet
 * persisted. They are handed out by Ready and dropped from here by stableTo/stableSnapTo
 * once the application reports them durable (advance()).
 *
 * Invariant: if `snapshot` is set, offset == snapshot.meta.index + 1.
 * entries[k] has index offset + k.
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.meta.index : undefined;
  }
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.meta.index === i) return this.snapshot.meta.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    if (this.entries.length === 0) return this.snapshot?.meta.term;
    return (this.entries[i - this.offset] as Entry).term;
  }

  /** Entries up to (index, term) are durable: forget them, unless they have since been
   *  replaced by a different leader's entries (term mismatch), which must still be written. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }
  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.meta.index === index) this.snapshot = undefined;
  }
  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const after = (ents[0] as Entry).index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable and part of the stable log: storage must truncate
      // its suffix from `after` when it persists these (MemoryStorage.append does).
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/**
 * The Raft log as Raft sees it: durable storage with the unstable tail on top.
 *
 *   snapshot | storage entries ........ | unstable entries ...
 *            ^firstIndex                ^unstable.offset       ^lastIndex
 *
 * committed: highest index known committed (never decreases while the process lives).
 * applying:  highest index handed to the application for applying (in a Ready, or early, see
 *            RawNode.takeDurableCommitted); the next hand-out starts after it.
 * applied:   highest index the application reported applied (advance()).
 * Invariant: applied <= applying <= committed <= lastIndex.
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  applying: number;

  constructor(storage: Storage, applied = 0) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const snapIndex = storage.firstIndex() - 1;
    this.committed = snapIndex;
    this.applied = Math.max(applied, snapIndex);
    this.applying = this.applied;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of entry i, or undefined when i is compacted away or beyond the log.
   *  firstIndex - 1 (the snapshot point) answers the snapshot's term. */
  term(i: number): number | undefined {
    const u = this.unstable.maybeTerm(i);
    if (u !== undefined) return u;
    const first = this.firstIndex();
    if (i < first - 1 || i > this.lastIndex()) return undefined;
    if (i >= this.unstable.offset) return undefined;
    return this.storage.term(i);
  }
  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** §5.4.1: is a log ending at (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. If our log has (prevIndex, prevTerm), append the
   * entries (truncating at the first conflict, never below committed), advance commit to
   * min(commit, last new index) and return the last new index; else undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(ci - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Index of the first entry in `ents` that is not in our log with the same term
   *  (a conflict or a new entry), or 0 if all of them are already there. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, with its term.
   * Every entry above it has a term > `term`, so cannot match a log whose entry at
   * `index` has term `term`. Returns term 0 when the term is unknown (compacted).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = (ents[0] as Entry).index - 1;
    if (after < this.committed) throw new Error(`append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries [lo, hi) capped at maxBytes (at least one), or undefined if lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined;
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    let out: Entry[] = [];
    const uo = this.unstable.offset;
    if (lo < uo) {
      out = this.storage.entries(lo, Math.min(hi, uo), maxBytes);
      if (out.length < Math.min(hi, uo) - lo) return out; // byte cap reached in storage
    }
    if (hi > uo) out = out.concat(this.unstable.slice(Math.max(lo, uo), hi));
    return limitSize(out, maxBytes);
  }

  /** Entries [applying+1, committed], which the application may apply once they are durable. */
  nextCommittedEntries(maxBytes = Number.MAX_SAFE_INTEGER): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }
  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** Highest index durable in storage (the unstable tail starts after it), or undefined while a snapshot
   *  waits to be persisted (nothing above the old log may be trusted until it is). */
  stableLastIndex(): number | undefined {
    return this.unstable.snapshot ? undefined : this.unstable.offset - 1;
  }

  /** Entries up to `i` were handed to the application for applying. */
  applyingTo(i: number): void {
    if (i > this.committed) throw new Error(`applying ${i} beyond commit ${this.committed}`);
    if (i > this.applying) this.applying = i;
  }

  commitTo(c: number): void {
    if (c <= this.committed) return; // commit never decreases
    if (c > this.lastIndex()) throw new Error(`commit ${c} beyond last index ${this.lastIndex()}`);
    this.committed = c;
  }
  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new Error(`applied ${i} outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = i;
    if (i > this.applying) this.applying = i;
  }

  /** Commit `index` if it holds an entry of `term` (the current-term rule of §5.4.2 is
   *  enforced by the caller passing the leader's current term). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Replace the log with a snapshot (follower receiving InstallSnapshot). */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** All entries from firstIndex on (for tests and restart scans; not for the hot path). */
  allEntries(): Entry[] {
    return this.slice(this.firstIndex(), this.lastIndex() + 1, Number.MAX_SAFE_INTEGER) ?? [];
  }
}

export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  let bytes = 0;
  for (let k = 0; k < ents.length; k++) {
    bytes += entrySize(ents[k] as Entry);
    if (k > 0 && bytes > maxBytes) return ents.slice(0, k);
  }
  return ents;
}
