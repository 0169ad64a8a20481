/**
 * The Raft core's durable log (`cluster/raft` `Storage`) as an append-only write-ahead log: one disk flush per
 * write (`fdatasync` on libuv's thread pool), where an LMDB transaction costs two and lmdb-js's writer-thread
 * hand-offs (LmdbRaftLog, raft-log.ts, which this replaces for cluster nodes; an existing `raft.mdb` is migrated
 * once, see `open`).
 *
 * Layout, under `<path>/wal/`:
 * - `seg-<n>.wal`: segments of records, n = 1, 2, … in write order, appended to and never rewritten; a new one
 *   starts once one holds SEGMENT_BYTES. (Zero-filling a segment ahead of the writes, so that an fdatasync has no
 *   file size to record, was tried: it doubled the bytes written, and the fill's flushes delayed the commits'.)
 * - `snap-<gen>.snap`: the snapshot in effect (index, term, membership, data, CRC), written whole (temp file,
 *   fsync, rename, directory fsync) before the record naming it.
 *
 * A record: magic u32 | payload length u32 | crc32 u32 (kind, padding and payload) | kind u8 | 3 zero bytes | payload.
 * - ENTRY `index f64 | term f64 | type u8 | data`: the entry at `index`; an index at or below the last one first
 *   drops that entry and everything after it (a new leader overwriting a suffix), as the in-memory log does.
 * - HARD `term f64 | vote f64 | commit f64`.
 * - SNAP `gen f64 | index f64 | term f64 | replace u8`: snapshot `gen` is in effect; with `replace` (InstallSnapshot)
 *   it replaces the whole log, otherwise (compaction) it drops the entries up to its index.
 * Replay reads the segments in order and stops, in each, at the first record that is not whole (a torn write at
 * the end of the newest, which is cut off). A gap in the indexes is corruption (an error).
 *
 * Each new segment begins with the hard state and the snapshot in effect, so a segment whose entries are all
 * covered by the snapshot can be deleted (compaction deletes them) with everything later still replayable.
 *
 * Durability contract (cluster/raft/node.ts): `save(ready)` appends the Ready's records with one write and
 * resolves once they are flushed. The bounds and the in-memory index change when the write is issued (the Raft
 * core never reads what a Ready being persisted carries), and writes are serialized. A failed write or flush
 * leaves the log unusable (every later read and write throws): the node must stop.
 *
 * Reads: the newest entries written are kept in memory (`tail`, bounded by `cacheBytes`) as the very Entry objects
 * handed to save() — a leader recognises its own proposals by them; older ones are read from their segment.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ConfState, Entry, EntryType, HardState, Snapshot, Storage } from '../../cluster/raft/index.js';
import { EMPTY_SNAPSHOT, entrySize } from '../../cluster/raft/index.js';
import { LmdbRaftLog, type RaftPersist } from './raft-log.js';
import { fsyncDirectory } from '../lmdb/journal.js';
import { EntryTail } from './entry-tail.js';
import { mkdirs } from '../mkdirs.js';

export interface WalRaftLogOptions {
  /** Directory holding `wal/` (created if missing). */
  path: string;
  /** Tests/benchmarks only: no fsync. */
  noSync?: boolean;
  /** Bytes of the newest entries kept in memory for reads (default 8 MiB; 0 = none). */
  cacheBytes?: number;
  /** Start a new segment once the current one holds this many bytes (default 64 MiB). */
  segmentBytes?: number;
}

const MAGIC = 0x31544652; // "RFT1"
const HEADER = 16;
const KIND_ENTRY = 1;
const KIND_HARD = 2;
const KIND_SNAP = 3;
const ENTRY_HEAD = 17;
const HARD_RECORD = HEADER + 24;
const SNAP_RECORD = HEADER + 25;
const TYPE_NORMAL = 0;
const TYPE_CONF = 1;
const SNAP_MAGIC = 0x31504e53; // "SNP1"
const ZERO_HARD: HardState = { term: 0, vote: 0, commit: 0 };

/** Where an entry is: its segment, the offset of its data there, and what a read needs without the data. */
interface Loc {
  term: number;
  type: EntryType;
  seg: number;
  at: number;
  len: number;
}

interface Segment {
  n: number;
  fd: number;
  /** Where the next record goes (the file's size). */
  offset: number;
  /** Highest entry index written in it (0: none). */
  maxIndex: number;
  /** Created and its directory entry not flushed yet: the first write's flush does it. */
  newFile: boolean;
}

function segName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}.wal`;
}
function snapName(gen: number): string {
  return `snap-${String(gen).padStart(12, '0')}.snap`;
}

/** Records are built into one buffer per write: sizes first, then `put*` at increasing offsets. */
function recordHeader(buf: Buffer, at: number, kind: number, payloadLen: number): void {
  buf.writeUInt32LE(MAGIC, at);
  buf.writeUInt32LE(payloadLen, at + 4);
  buf.writeUInt32LE(0, at + 12);
  buf[at + 12] = kind;
}
function sealRecord(buf: Buffer, at: number, payloadLen: number): void {
  buf.writeUInt32LE(zlib.crc32(buf.subarray(at + 12, at + HEADER + payloadLen)), at + 8);
}

function encodeSnapFile(s: Snapshot): Buffer {
  const conf = Buffer.from(JSON.stringify({ voters: s.meta.conf.voters, learners: s.meta.conf.learners }));
  const out = Buffer.allocUnsafe(32 + conf.length + s.data.byteLength);
  out.writeUInt32LE(SNAP_MAGIC, 0);
  out.writeDoubleLE(s.meta.index, 8);
  out.writeDoubleLE(s.meta.term, 16);
  out.writeUInt32LE(conf.length, 24);
  out.writeUInt32LE(s.data.byteLength, 28);
  conf.copy(out, 32);
  out.set(s.data, 32 + conf.length);
  out.writeUInt32LE(zlib.crc32(out.subarray(8)), 4);
  return out;
}

function decodeSnapFile(file: string, v: Buffer): Snapshot {
  if (v.length < 32 || v.readUInt32LE(0) !== SNAP_MAGIC) throw new Error(`${file} is not a Raft snapshot`);
  if (zlib.crc32(v.subarray(8)) !== v.readUInt32LE(4)) throw new Error(`${file} is damaged (CRC)`);
  const n = v.readUInt32LE(24);
  const len = v.readUInt32LE(28);
  if (32 + n + len !== v.length) throw new Error(`${file} is damaged (length)`);
  const conf = JSON.parse(v.toString('utf8', 32, 32 + n)) as ConfState;
  return { meta: { index: v.readDoubleLE(8), term: v.readDoubleLE(16), conf }, data: v.subarray(32 + n) };
}

function fsyncDirectoryAsync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(dir, 'r', (err, fd) => {
      if (err) return reject(err);
      fs.fsync(fd, (e) => fs.close(fd, () => (e ? reject(e) : resolve())));
    });
  });
}

function writeFully(fd: number, buf: Buffer, at: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, at + done);
}

function readFully(fd: number, len: number, at: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, out, got, len - got, at + got);
    if (n === 0) throw new Error('unexpected end of file');
    got += n;
  }
  return out;
}

export class WalRaftLog implements Storage {
  readonly path: string;
  private readonly dir: string;
  private readonly noSync: boolean;
  private readonly segmentBytes: number;
  private hard: HardState = ZERO_HARD;
  private snap: Snapshot = EMPTY_SNAPSHOT;
  private snapGen = 0;
  /** locs[k] is entry snap.meta.index + 1 + k. */
  private locs: Loc[] = [];
  private segs: Segment[] = [];
  private everWritten = false;
  private closed = false;
  private broken: Error | undefined;
  /** The newest entries written (see entry-tail.ts). */
  private readonly tail: EntryTail;
  /** Writes are serialized: each one sees the bounds the previous one left. */
  private writing: Promise<unknown> = Promise.resolve();
  /** Counters for tests and metrics: flushed writes, entries written, segments started and deleted. */
  readonly stats = { transactions: 0, entries: 0, segments: 0, segmentsDeleted: 0 };

  constructor(opts: WalRaftLogOptions) {
    this.path = path.resolve(opts.path);
    this.dir = path.join(this.path, 'wal');
    this.noSync = opts.noSync === true;
    this.tail = new EntryTail(opts.cacheBytes ?? 8 * 1024 * 1024);
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    mkdirs(this.dir);
    this.replay();
  }

  // ---- open ----

  private replay(): void {
    const names = fs.readdirSync(this.dir);
    for (const f of names) if (f.endsWith('.tmp')) fs.rmSync(path.join(this.dir, f), { force: true });
    const segNs = names
      .filter((f) => /^seg-\d+\.wal$/.test(f))
      .map((f) => Number(f.slice(4, -4)))
      .sort((a, b) => a - b);
    let snapIndex = 0;
    let snapTerm = 0;
    let last = 0;
    const locs: (Loc | undefined)[] = [];
    for (const n of segNs) {
      const file = path.join(this.dir, segName(n));
      const fd = fs.openSync(file, fs.constants.O_RDWR);
      const size = fs.fstatSync(fd).size;
      const buf = size > 0 ? readFully(fd, size, 0) : Buffer.alloc(0);
      const seg: Segment = { n, fd, offset: 0, maxIndex: 0, newFile: false };
      this.segs.push(seg);
      let at = 0;
      let records = 0;
      while (at + HEADER <= buf.length) {
        if (buf.readUInt32LE(at) !== MAGIC) break;
        const len = buf.readUInt32LE(at + 4);
        if (at + HEADER + len > buf.length) break;
        if (zlib.crc32(buf.subarray(at + 12, at + HEADER + len)) !== buf.readUInt32LE(at + 8)) break;
        const p = at + HEADER;
        const kind = buf[at + 12];
        if (kind === KIND_ENTRY) {
          const index = buf.readDoubleLE(p);
          const term = buf.readDoubleLE(p + 8);
          const type: EntryType = buf[p + 16] === TYPE_CONF ? 'confChange' : 'normal';
          if (index > snapIndex) {
            // A gap is where deleted segments held entries a later snapshot covers (checked at the end).
            while (snapIndex + locs.length + 1 < index) locs.push(undefined);
            locs.length = index - snapIndex - 1;
            locs.push({ term, type, seg: n, at: p + ENTRY_HEAD, len: len - ENTRY_HEAD });
            last = index;
            seg.maxIndex = Math.max(seg.maxIndex, index);
          }
        } else if (kind === KIND_HARD) {
          this.hard = { term: buf.readDoubleLE(p), vote: buf.readDoubleLE(p + 8), commit: buf.readDoubleLE(p + 16) };
        } else if (kind === KIND_SNAP) {
          const gen = buf.readDoubleLE(p);
          const index = buf.readDoubleLE(p + 8);
          const term = buf.readDoubleLE(p + 16);
          const replace = buf[p + 24] === 1;
          if (replace || index > last) {
            locs.length = 0;
            last = index;
          } else if (index > snapIndex) {
            locs.splice(0, index - snapIndex);
          }
          snapIndex = index;
          snapTerm = term;
          this.snapGen = gen;
        } else {
          throw new Error(`WalRaftLog(${this.path}): unknown record kind ${kind} in ${segName(n)}`);
        }
        this.everWritten = true;
        records++;
        at = p + len;
      }
      if (records < 2 && seg.maxIndex === 0 && n !== segNs[0] && n === segNs[segNs.length - 1]) {
        // A segment started just before a crash, its head (hard state, snapshot) not whole: writes go on in the one
        // before (a segment other than the first must begin with its head).
        fs.closeSync(fd);
        fs.rmSync(file, { force: true });
        this.segs.pop();
        continue;
      }
      seg.offset = at;
      // Whatever follows the last whole record (a torn write) is cut off, so that records appended there can never
      // be followed, at the next replay, by a remnant of it that happens to parse.
      if (at < buf.length) {
        fs.ftruncateSync(fd, at);
        if (!this.noSync) fs.fsyncSync(fd);
      }
    }
    if (this.snapGen > 0) {
      const file = path.join(this.dir, snapName(this.snapGen));
      this.snap = decodeSnapFile(file, fs.readFileSync(file));
      if (this.snap.meta.index !== snapIndex || this.snap.meta.term !== snapTerm) {
        throw new Error(`WalRaftLog(${this.path}): ${snapName(this.snapGen)} holds ${this.snap.meta.index}/${this.snap.meta.term}, the log names ${snapIndex}/${snapTerm}`);
      }
    }
    const missing = locs.indexOf(undefined);
    if (missing >= 0) throw new Error(`WalRaftLog(${this.path}): entry ${snapIndex + missing + 1} is missing (a segment was lost)`);
    this.locs = locs as Loc[];
    // Snapshot files no record names any more (a crash between a new one's record and the old one's removal).
    for (const f of names) {
      if (/^snap-\d+\.snap$/.test(f) && Number(f.slice(5, -5)) !== this.snapGen) fs.rmSync(path.join(this.dir, f), { force: true });
    }
  }

  /** True when nothing was ever written (a brand-new node). */
  isEmpty(): boolean {
    return !this.everWritten;
  }

  /** Durably record the initial membership as an index-0 snapshot (a member of the initial cluster). */
  bootstrap(conf: ConfState): Promise<void> {
    if (!this.isEmpty()) return Promise.reject(new Error(`WalRaftLog(${this.path}): bootstrap on a non-empty log`));
    const s: Snapshot = { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) };
    return this.write(() => {
      const seg = this.writableSegment(SNAP_RECORD);
      return { seg, bytes: this.snapshotRecord(s, true) };
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
    return this.snap.meta.index + this.locs.length;
  }
  term(i: number): number {
    if (this.broken) throw this.broken;
    const off = this.snap.meta.index;
    if (i === off) return this.snap.meta.term;
    if (i < off || i > this.lastIndex()) throw new RangeError(`term(${i}) outside [${off}, ${this.lastIndex()}]`);
    return (this.locs[i - off - 1] as Loc).term;
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (this.broken) throw this.broken;
    const off = this.snap.meta.index;
    const last = this.lastIndex();
    if (lo <= off || hi > last + 1 || lo > hi) throw new RangeError(`entries(${lo}, ${hi}) outside [${off + 1}, ${last + 1})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.tail.get(i) ?? this.readEntry(i);
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }
  snapshot(): Snapshot {
    return this.snap;
  }

  /** The conf-change entries still in the log, ascending. */
  confEntries(): Entry[] {
    const out: Entry[] = [];
    const off = this.snap.meta.index;
    this.locs.forEach((l, k) => {
      if (l.type === 'confChange') out.push(this.tail.get(k + off + 1) ?? this.readEntry(k + off + 1));
    });
    return out;
  }

  private readEntry(i: number): Entry {
    const l = this.locs[i - this.snap.meta.index - 1] as Loc;
    const seg = this.segs.find((s) => s.n === l.seg);
    if (!seg) throw new Error(`WalRaftLog(${this.path}): entry ${i}: segment ${l.seg} is gone`);
    return { index: i, term: l.term, type: l.type, data: readFully(seg.fd, l.len, l.at) };
  }

  // ---- writes ----

  /**
   * Persist one Ready — snapshot (replacing the log), entries (an entry at an existing index replaces it and
   * everything after), hard state — with one write and one flush.
   */
  save(rd: RaftPersist): Promise<void> {
    return this.write(() => {
      const snap = rd.snapshot && rd.snapshot.meta.index > this.snap.meta.index ? rd.snapshot : undefined;
      const snapIndex = snap ? snap.meta.index : this.snap.meta.index;
      const last = snap ? snap.meta.index : this.lastIndex();
      let keep: readonly Entry[] = [];
      if (rd.entries.length > 0) {
        const first = (rd.entries[0] as Entry).index;
        if (first > last + 1) throw new Error(`WalRaftLog(${this.path}): append at ${first} leaves a gap after ${last}`);
        keep = rd.entries.filter((e) => e.index > snapIndex);
      }
      let size = snap ? SNAP_RECORD : 0;
      for (const e of keep) size += HEADER + ENTRY_HEAD + e.data.byteLength;
      if (rd.hardState) size += HARD_RECORD;
      if (size === 0) return undefined;
      const seg = this.writableSegment(size);
      const buf = Buffer.allocUnsafe(size);
      let at = 0;
      if (snap) at += this.snapshotRecord(snap, true).copy(buf, at);
      if (keep.length > 0) at = this.entryRecords(keep, buf, at, seg);
      if (rd.hardState) this.hardRecord(rd.hardState).copy(buf, at);
      return { seg, bytes: buf };
    });
  }

  /** MemoryStorage-shaped single writes (each one flush). */
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
   * Compaction: record a snapshot of the state machine at applied index `index` and drop the entries up to it;
   * segments holding nothing newer are deleted once that is flushed. Resolves with the snapshot in effect.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    let result: Snapshot = this.snap;
    return this.write(() => {
      if (index <= this.snap.meta.index) return undefined;
      if (index > this.lastIndex()) throw new Error(`snapshot ${index} beyond last index ${this.lastIndex()}`);
      const s: Snapshot = { meta: { index, term: this.term(index), conf }, data };
      result = s;
      const seg = this.writableSegment(SNAP_RECORD);
      return { seg, bytes: this.snapshotRecord(s, false) };
    }).then(() => {
      this.dropCoveredSegments();
      return result;
    });
  }

  /**
   * Records for `keep` (entries past the snapshot, the first at most lastIndex + 1) into `buf` from `at`, which
   * goes to `seg` at its write offset; updates the index and tail. Returns where the records end in `buf`.
   */
  private entryRecords(keep: readonly Entry[], buf: Buffer, at: number, seg: Segment): number {
    this.dirty = true;
    const off = this.snap.meta.index;
    const start = (keep[0] as Entry).index;
    this.locs.length = start - off - 1; // an overwritten suffix goes
    for (const e of keep) {
      const len = ENTRY_HEAD + e.data.byteLength;
      recordHeader(buf, at, KIND_ENTRY, len);
      const p = at + HEADER;
      buf.writeDoubleLE(e.index, p);
      buf.writeDoubleLE(e.term, p + 8);
      buf[p + 16] = e.type === 'confChange' ? TYPE_CONF : TYPE_NORMAL;
      buf.set(e.data, p + ENTRY_HEAD);
      sealRecord(buf, at, len);
      this.locs.push({ term: e.term, type: e.type, seg: seg.n, at: seg.offset + p + ENTRY_HEAD, len: e.data.byteLength });
      at += HEADER + len;
    }
    seg.maxIndex = Math.max(seg.maxIndex, (keep[keep.length - 1] as Entry).index);
    this.stats.entries += keep.length;
    this.tail.append(keep);
    return at;
  }

  private hardRecord(h: HardState): Buffer {
    this.dirty = true;
    const buf = Buffer.allocUnsafe(HARD_RECORD);
    recordHeader(buf, 0, KIND_HARD, 24);
    buf.writeDoubleLE(h.term, HEADER);
    buf.writeDoubleLE(h.vote, HEADER + 8);
    buf.writeDoubleLE(h.commit, HEADER + 16);
    sealRecord(buf, 0, 24);
    this.hard = h;
    return buf;
  }

  /**
   * Write snapshot `s` to a file of its own (flushed, renamed, directory flushed) and return the record that puts
   * it in effect: `replace`, the whole log (InstallSnapshot, bootstrap); otherwise the entries up to its index.
   */
  private snapshotRecord(s: Snapshot, replace: boolean): Buffer {
    this.dirty = true;
    const gen = this.snapGen + 1;
    const file = path.join(this.dir, snapName(gen));
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      writeFully(fd, encodeSnapFile(s), 0);
      if (!this.noSync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    if (!this.noSync) fsyncDirectory(this.dir);
    const buf = this.snapRecordBytes(gen, s, replace);
    const old = this.snapGen;
    if (replace || s.meta.index > this.lastIndex()) {
      this.locs = [];
      this.tail.dropThrough(Infinity);
    } else {
      this.locs.splice(0, s.meta.index - this.snap.meta.index);
      this.tail.dropThrough(s.meta.index);
    }
    this.snap = s;
    this.snapGen = gen;
    this.pendingSnapRemoval = old;
    return buf;
  }

  /** The previous snapshot file, removed once the record replacing it is flushed. */
  private pendingSnapRemoval = 0;

  private snapRecordBytes(gen: number, s: Snapshot, replace: boolean): Buffer {
    const buf = Buffer.allocUnsafe(SNAP_RECORD);
    recordHeader(buf, 0, KIND_SNAP, 25);
    buf.writeDoubleLE(gen, HEADER);
    buf.writeDoubleLE(s.meta.index, HEADER + 8);
    buf.writeDoubleLE(s.meta.term, HEADER + 16);
    buf[HEADER + 24] = replace ? 1 : 0;
    sealRecord(buf, 0, 25);
    return buf;
  }

  /**
   * The segment the next `size` bytes go to. Past SEGMENT_BYTES a new one starts with the hard state and the
   * snapshot in effect (written, like the previous segment's records, before anything else in it is flushed).
   */
  private writableSegment(size: number): Segment {
    let seg = this.segs[this.segs.length - 1];
    if (!seg || (seg.offset > 0 && seg.offset + size > this.segmentBytes)) seg = this.startSegment();
    return seg;
  }

  private startSegment(): Segment {
    this.dirty = true;
    const n = (this.segs[this.segs.length - 1]?.n ?? 0) + 1;
    const fd = fs.openSync(path.join(this.dir, segName(n)), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    const seg: Segment = { n, fd, offset: 0, maxIndex: 0, newFile: true };
    this.segs.push(seg);
    this.stats.segments++;
    if (this.snapGen > 0 || this.hard !== ZERO_HARD) {
      // Flushed with the segment's first write, which follows at once.
      const head = Buffer.concat([this.snapRecordBytes(this.snapGen, this.snap, false), this.hardRecord(this.hard)]);
      writeFully(seg.fd, head, 0);
      seg.offset = head.length;
    }
    return seg;
  }

  /** Delete the segments (not the newest) whose entries the snapshot covers, oldest first. */
  private dropCoveredSegments(): void {
    while (this.segs.length > 1 && (this.segs[0] as Segment).maxIndex <= this.snap.meta.index) {
      const seg = this.segs.shift() as Segment;
      fs.closeSync(seg.fd);
      fs.rmSync(path.join(this.dir, segName(seg.n)), { force: true });
      this.stats.segmentsDeleted++;
    }
  }

  /** Set by the first change a write's body makes: a failure after it leaves the log broken. */
  private dirty = false;

  /**
   * After every earlier write: `body` checks its arguments (throwing before any change), then updates the bounds
   * and returns the records to append at the end of `seg` (or nothing); they are written and flushed. A failure
   * after the body's first change — or of the write or the flush — leaves the log broken.
   */
  private write(body: () => { seg: Segment; bytes: Buffer } | undefined): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    if (this.closed) return Promise.reject(new Error(`WalRaftLog(${this.path}): closed`));
    const run = async (): Promise<void> => {
      if (this.broken) throw this.broken;
      this.dirty = false;
      try {
        const out = body();
        if (!out) return;
        const { seg, bytes } = out;
        writeFully(seg.fd, bytes, seg.offset);
        seg.offset += bytes.length;
        this.everWritten = true;
        if (!this.noSync) {
          await new Promise<void>((resolve, reject) => fs.fdatasync(seg.fd, (err) => (err ? reject(err) : resolve())));
          if (seg.newFile) await fsyncDirectoryAsync(this.dir);
        }
        seg.newFile = false;
      } catch (err) {
        if (!this.dirty) throw err;
        this.broken = new Error(`WalRaftLog(${this.path}): a write failed, the log is unusable: ${(err as Error).message}`, { cause: err });
        throw this.broken;
      }
      this.stats.transactions++;
      if (this.pendingSnapRemoval > 0) {
        fs.rmSync(path.join(this.dir, snapName(this.pendingSnapRemoval)), { force: true });
        this.pendingSnapRemoval = 0;
      }
    };
    const p = this.writing.then(run, run);
    this.writing = p.catch(() => undefined);
    return p;
  }

  /** Waits for the writes in flight, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writing;
    for (const s of this.segs) fs.closeSync(s.fd);
    this.segs = [];
  }
}

/**
 * The node's Raft log under `dir`: the WAL (`dir/wal/`); a log kept in LMDB by an earlier version (`dir/raft.mdb`)
 * is copied into a new WAL first — built in `dir/migrating/`, flushed, renamed into place — and then removed. A
 * crash before the rename redoes the copy; after it, the WAL is used and the LMDB files are removed.
 */
export async function openRaftLog(opts: WalRaftLogOptions): Promise<WalRaftLog> {
  const dir = path.resolve(opts.path);
  const lmdbFile = path.join(dir, 'raft.mdb');
  const removeLmdb = () => {
    for (const f of [lmdbFile, `${lmdbFile}-lock`]) fs.rmSync(f, { recursive: true, force: true });
  };
  if (fs.existsSync(path.join(dir, 'wal'))) {
    removeLmdb();
    return new WalRaftLog(opts);
  }
  if (fs.existsSync(lmdbFile)) {
    const tmp = path.join(dir, 'migrating');
    fs.rmSync(tmp, { recursive: true, force: true });
    const from = new LmdbRaftLog({ path: dir, cacheBytes: 0 });
    const to = new WalRaftLog({ ...opts, path: tmp });
    try {
      if (!from.isEmpty()) {
        const snap = from.snapshot();
        if (snap.meta.index === 0) await to.bootstrap(snap.meta.conf);
        else await to.applySnapshot(snap);
        for (let i = from.firstIndex(); i <= from.lastIndex(); ) {
          const batch = from.entries(i, from.lastIndex() + 1, 16 << 20);
          await to.append(batch);
          i += batch.length;
        }
        await to.setHardState(from.initialState());
      }
    } finally {
      await to.close();
      await from.close();
    }
    fs.renameSync(path.join(tmp, 'wal'), path.join(dir, 'wal'));
    if (opts.noSync !== true) fsyncDirectory(dir);
    fs.rmSync(tmp, { recursive: true, force: true });
    removeLmdb();
  }
  return new WalRaftLog(opts);
}
