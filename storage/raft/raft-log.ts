/**
 * The Raft core's durable log (`cluster/raft` `Storage`) on LMDB, for one cluster node.
 *
 * Layout — one LMDB environment (file `<path>/raft.mdb`), separate from the node's state store, with named DBs:
 * - `log`   index (ordered-binary number) → `[f64 term][u8 type: 0 normal, 1 confChange][data]`
 * - `confs` index → empty: the index of every conf-change entry in `log`, so a restart finds membership
 *           without scanning the log (`confEntries()`).
 * - `meta`  `hard` → `[f64 term][f64 vote][f64 commit]`;
 *           `snap` → `[f64 index][f64 term][u32 n][msgpack conf (JSON bytes)][data]` (see encodeSnap).
 *
 * Invariants (same as MemoryStorage, the reference): the log is the contiguous run [firstIndex, lastIndex]
 * with firstIndex = snapshot index + 1.
 *
 * Durability contract (cluster/raft/node.ts): `save(ready)` writes the Ready's snapshot, entries (truncating
 * from the first one) and hard state in ONE LMDB write transaction; the env is opened with
 * `overlappingSync: false`, so the promise resolves only once that transaction is fsync'd — the caller sends
 * the Ready's messages after it. The transaction runs asynchronously (lmdb-js writer thread) so the event loop
 * keeps stepping the Raft node meanwhile; everything proposed during one fsync goes into the next Ready, i.e.
 * the next transaction (group commit).
 *
 * The newest entries written are also kept in memory (`tail`, entry-tail.ts): reads of them (a leader sending
 * appends, every node applying what was committed, term checks) neither touch LMDB nor copy.
 *
 * Reads are synchronous. The cached bounds (first, last, hard state, snapshot) change when a write transaction's
 * body runs, not when its commit finishes: lmdb-js may expose a transaction's effects to main-thread reads before
 * the commit promise resolves, and a compaction whose removals are visible while the cached first index is still
 * the old one would answer "entry missing" (seen under load). The Raft core never reads from storage what a
 * Ready being persisted carries (it stays in its unstable tail until advance()), so bounds that are ahead of the
 * durable state are never used to read data that is not there yet. A write that fails leaves the log unusable
 * (every later read and write throws): the node must stop.
 */
import path from 'node:path';
import fs from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { ConfState, Entry, EntryType, HardState, Snapshot, Storage } from '../../cluster/raft/index.js';
import { EMPTY_SNAPSHOT, entrySize } from '../../cluster/raft/index.js';
import { EntryTail } from './entry-tail.js';
import { mkdirs } from '../mkdirs.js';

export interface RaftLogOptions {
  /** Directory holding `raft.mdb` (created if missing). */
  path: string;
  mapSize?: number;
  /** Tests/benchmarks only: no fsync. */
  noSync?: boolean;
  /** Bytes of the newest entries kept in memory for reads (default 8 MiB; 0 = none). */
  cacheBytes?: number;
}

/** What one Ready asks to persist (a subset of the core's `Ready`). */
export interface RaftPersist {
  readonly snapshot?: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState | undefined;
}

const ZERO_HARD: HardState = { term: 0, vote: 0, commit: 0 };
const TYPE_NORMAL = 0;
const TYPE_CONF = 1;

function encodeEntry(e: Entry): Buffer {
  const out = Buffer.allocUnsafe(9 + e.data.byteLength);
  out.writeDoubleLE(e.term, 0);
  out[8] = e.type === 'confChange' ? TYPE_CONF : TYPE_NORMAL;
  out.set(e.data, 9);
  return out;
}

function decodeEntry(index: number, v: Buffer): Entry {
  const type: EntryType = v[8] === TYPE_CONF ? 'confChange' : 'normal';
  // `v` is a fresh copy (binary DB get/getRange), so the data may be a view of it.
  return { index, term: v.readDoubleLE(0), type, data: v.subarray(9) };
}

function encodeHard(h: HardState): Buffer {
  const out = Buffer.allocUnsafe(24);
  out.writeDoubleLE(h.term, 0);
  out.writeDoubleLE(h.vote, 8);
  out.writeDoubleLE(h.commit, 16);
  return out;
}

function decodeHard(v: Buffer): HardState {
  return { term: v.readDoubleLE(0), vote: v.readDoubleLE(8), commit: v.readDoubleLE(16) };
}

function encodeSnap(s: Snapshot): Buffer {
  const conf = Buffer.from(JSON.stringify({ voters: s.meta.conf.voters, learners: s.meta.conf.learners }));
  const out = Buffer.allocUnsafe(20 + conf.length + s.data.byteLength);
  out.writeDoubleLE(s.meta.index, 0);
  out.writeDoubleLE(s.meta.term, 8);
  out.writeUInt32LE(conf.length, 16);
  out.set(conf, 20);
  out.set(s.data, 20 + conf.length);
  return out;
}

function decodeSnap(v: Buffer): Snapshot {
  const n = v.readUInt32LE(16);
  const conf = JSON.parse(v.toString('utf8', 20, 20 + n)) as ConfState;
  return { meta: { index: v.readDoubleLE(0), term: v.readDoubleLE(8), conf }, data: v.subarray(20 + n) };
}

export class LmdbRaftLog implements Storage {
  readonly path: string;
  private readonly env: RootDatabase;
  private readonly log: Database<Buffer, number>;
  private readonly confs: Database<Buffer, number>;
  private readonly meta: Database<Buffer, string>;
  private hard: HardState;
  private snap: Snapshot;
  private last: number;
  private closed = false;
  private broken: Error | undefined;
  /** The newest entries written (see entry-tail.ts). */
  private readonly tail: EntryTail;
  /** Writes are serialized: each one sees the bounds the previous one left. */
  private writing: Promise<unknown> = Promise.resolve();
  /** Counters for tests and metrics: write transactions committed (= fsyncs), entries written. */
  readonly stats = { transactions: 0, entries: 0 };

  constructor(opts: RaftLogOptions) {
    this.path = path.resolve(opts.path);
    this.tail = new EntryTail(opts.cacheBytes ?? 8 * 1024 * 1024);
    mkdirs(this.path);
    this.env = open<Buffer, string>(path.join(this.path, 'raft.mdb'), {
      mapSize: opts.mapSize,
      noSync: opts.noSync === true,
      overlappingSync: false,
      maxDbs: 4,
    });
    this.log = this.env.openDB<Buffer, number>({ name: 'log', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.confs = this.env.openDB<Buffer, number>({ name: 'confs', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.meta = this.env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary', keyEncoding: 'ordered-binary' });
    const h = this.meta.get('hard');
    this.hard = h ? decodeHard(h) : ZERO_HARD;
    const s = this.meta.get('snap');
    this.snap = s ? decodeSnap(s) : EMPTY_SNAPSHOT;
    this.last = this.snap.meta.index;
    for (const key of this.log.getKeys({ reverse: true, limit: 1 })) this.last = Math.max(this.last, key);
  }

  /** True when nothing was ever written (a brand-new node). */
  isEmpty(): boolean {
    return this.meta.get('snap') === undefined && this.meta.get('hard') === undefined && this.last === 0;
  }

  /** Durably record the initial membership as an index-0 snapshot (a member of the initial cluster; see MemoryStorage.bootstrap). */
  bootstrap(conf: ConfState): Promise<void> {
    if (!this.isEmpty()) return Promise.reject(new Error(`LmdbRaftLog(${this.path}): bootstrap on a non-empty log`));
    const s: Snapshot = { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) };
    return this.write(() => {
      this.meta.putSync('snap', encodeSnap(s));
      this.snap = s;
    });
  }

  // ---- Storage (reads) ----

  initialState(): HardState {
    return this.hard;
  }
  firstIndex(): number {
    return this.snap.meta.index + 1;
  }
  lastIndex(): number {
    return this.last;
  }
  term(i: number): number {
    if (this.broken) throw this.broken;
    const off = this.snap.meta.index;
    if (i === off) return this.snap.meta.term;
    if (i < off || i > this.last) throw new RangeError(`term(${i}) outside [${off}, ${this.last}]`);
    const cached = this.tail.get(i);
    if (cached) return cached.term;
    const v = this.log.getBinaryFast(i);
    if (v === undefined) throw new Error(`LmdbRaftLog(${this.path}): entry ${i} missing`);
    return v.readDoubleLE(0);
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (this.broken) throw this.broken;
    const off = this.snap.meta.index;
    if (lo <= off || hi > this.last + 1 || lo > hi) {
      throw new RangeError(`entries(${lo}, ${hi}) outside [${off + 1}, ${this.last + 1})`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    if (this.tail.get(lo)) {
      // The tail ends at the last index: [lo, hi) is all in it.
      for (let i = lo; i < hi; i++) {
        const e = this.tail.get(i) as Entry;
        bytes += entrySize(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
      return out;
    }
    let expect = lo;
    for (const { key, value } of this.log.getRange({ start: lo, end: hi })) {
      if (key !== expect) throw new Error(`LmdbRaftLog(${this.path}): entry ${expect} missing`);
      expect++;
      const e = decodeEntry(key, value);
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    if (out.length === 0 && lo < hi) throw new Error(`LmdbRaftLog(${this.path}): entry ${lo} missing`);
    return out;
  }
  snapshot(): Snapshot {
    return this.snap;
  }

  /** The conf-change entries still in the log, ascending, from the membership index (no log scan). */
  confEntries(): Entry[] {
    const out: Entry[] = [];
    for (const index of this.confs.getKeys({ start: this.snap.meta.index + 1 })) {
      const v = this.log.get(index);
      if (v === undefined) throw new Error(`LmdbRaftLog(${this.path}): conf entry ${index} missing`);
      out.push(decodeEntry(index, v));
    }
    return out;
  }

  // ---- writes ----

  /**
   * Persist one Ready atomically — snapshot (replacing the log up to it), entries (an entry at an existing
   * index replaces it and everything after), hard state — in one fsync'd transaction.
   */
  save(rd: RaftPersist): Promise<void> {
    return this.write(() => {
      let snap = this.snap;
      let last = this.last;
      let hard = this.hard;
      let cached: readonly Entry[] = [];
      let replaced = false;
      if (rd.snapshot && rd.snapshot.meta.index > snap.meta.index) {
        // Replaces the whole log (MemoryStorage.applySnapshot).
        replaced = true;
        this.removeRange(snap.meta.index + 1, last);
        snap = rd.snapshot;
        last = snap.meta.index;
        this.meta.putSync('snap', encodeSnap(snap));
      }
      if (rd.entries.length > 0) {
        const first = (rd.entries[0] as Entry).index;
        if (first > last + 1) throw new Error(`LmdbRaftLog(${this.path}): append at ${first} leaves a gap after ${last}`);
        const off = snap.meta.index;
        const keep = rd.entries.filter((e) => e.index > off);
        if (keep.length > 0) {
          const start = (keep[0] as Entry).index;
          if (start <= last) this.removeRange(start, last);
          for (const e of keep) {
            this.log.putSync(e.index, encodeEntry(e));
            if (e.type === 'confChange') this.confs.putSync(e.index, Buffer.alloc(0));
          }
          last = (keep[keep.length - 1] as Entry).index;
          this.stats.entries += keep.length;
          cached = keep;
        }
      }
      if (rd.hardState) {
        hard = rd.hardState;
        this.meta.putSync('hard', encodeHard(hard));
      }
      this.snap = snap;
      this.last = last;
      this.hard = hard;
      // Nothing below throws: the tail changes only with the bounds.
      if (replaced) this.tail.dropThrough(Infinity);
      this.tail.append(cached);
      this.tail.dropThrough(snap.meta.index);
    });
  }

  /** MemoryStorage-shaped single writes (each one transaction). */
  setHardState(h: HardState): Promise<void> {
    return this.save({ entries: [], hardState: h });
  }
  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }
  applySnapshot(s: Snapshot): Promise<void> {
    return this.save({ entries: [], snapshot: s });
  }

  /**
   * Compaction: record a snapshot of the state machine at applied index `index` and drop the entries up to it
   * (MemoryStorage.createSnapshot). Resolves with the snapshot in effect afterwards.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    let result: Snapshot = this.snap;
    return this.write(() => {
      const off = this.snap.meta.index;
      if (index <= off) return;
      if (index > this.last) throw new Error(`snapshot ${index} beyond last index ${this.last}`);
      const s: Snapshot = { meta: { index, term: this.term(index), conf }, data };
      this.removeRange(off + 1, index);
      this.meta.putSync('snap', encodeSnap(s));
      result = s;
      this.snap = s;
      this.tail.dropThrough(index);
    }).then(() => result);
  }

  /** Delete log entries (and their conf index) in [lo, hi]. Inside a write transaction. */
  private removeRange(lo: number, hi: number): void {
    if (hi < lo) return;
    for (const k of Array.from(this.log.getKeys({ start: lo, end: hi + 1 }))) this.log.removeSync(k);
    for (const k of Array.from(this.confs.getKeys({ start: lo, end: hi + 1 }))) this.confs.removeSync(k);
  }

  /**
   * Run `body` inside one write transaction after every earlier write; it updates the cached bounds as it writes.
   * If `body` throws, the transaction is aborted and the bounds restored; if the commit itself fails, the log is
   * broken (the cache may be ahead of the disk).
   */
  private write(body: () => void): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error(`LmdbRaftLog(${this.path}): closed`));
    const run = async (): Promise<void> => {
      if (this.broken) throw this.broken;
      const saved = { snap: this.snap, last: this.last, hard: this.hard };
      let ran = false;
      try {
        await this.env.transaction(() => {
          try {
            body();
            ran = true;
          } catch (err) {
            this.snap = saved.snap;
            this.last = saved.last;
            this.hard = saved.hard;
            throw err;
          }
        });
      } catch (err) {
        // lmdb-js hands the cause (disk full, I/O error) as a second promise that rejects later; unobserved, its
        // rejection would end the process. Observe it, and report it as the reason.
        const cause = (err as { commitError?: Promise<unknown> }).commitError;
        let why = (err as Error).message;
        if (cause && typeof cause.then === 'function') why = await cause.then(() => why, (e: unknown) => `${why}: ${(e as Error).message ?? String(e)}`);
        if (ran) this.broken = new Error(`LmdbRaftLog(${this.path}): a write failed, the log is unusable: ${why}`, { cause: err });
        throw this.broken ?? err;
      }
      this.stats.transactions++;
    };
    const p = this.writing.then(run, run);
    this.writing = p.catch(() => undefined);
    return p;
  }

  /** Waits for the writes in flight, then closes the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    await this.env.close();
  }
}
