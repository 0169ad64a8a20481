/**
 * The write-ahead journal of a journaled LmdbStore (see lmdb-store.ts, "Journal"): one append-only file,
 * `<dir>/wharf.journal`, of records
 *
 *   magic u32 | payload length u32 | seq f64 | crc32 u32 (over length, seq and payload) | reserved u32 | payload
 *
 * (little-endian), written at increasing offsets from 0 and flushed with one fdatasync per group. Seqs are
 * consecutive. A checkpoint resets the write offset to 0: the next record overwrites the oldest, and what is
 * left behind it is older (smaller seqs) or torn, so a scan stops at the first record that is not the next seq,
 * fails its CRC, or runs past the end (zeros, a torn tail).
 *
 * The file is grown in zero-filled chunks and fsync'd once per chunk, so that appends within it never change
 * the file's size and the per-commit fdatasync has no metadata to write (one flush, not a journal commit of
 * the filesystem too).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const MAGIC = 0x314c4157; // "WAL1"
export const RECORD_HEADER = 24;
/** Grow the file by at least this much at a time (zero-filled, fsync'd). */
const GROW_CHUNK = 4 << 20;
const ZEROS = Buffer.alloc(1 << 20);

export interface JournalRecord {
  seq: number;
  payload: Buffer;
}

export class Journal {
  readonly file: string;
  private readonly fd: number;
  /** Bytes allocated (zero-filled and fsync'd) in the file. */
  private allocated: number;
  /** Where the next record goes. */
  private offset = 0;
  /** Counters for tests and metrics: data flushes (one per group), flushes that grew the file. */
  readonly stats = { syncs: 0, growSyncs: 0, records: 0 };

  constructor(dir: string) {
    this.file = path.join(dir, 'wharf.journal');
    this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    this.allocated = fs.fstatSync(this.fd).size;
  }

  /** Bytes written since the last reset. */
  get written(): number {
    return this.offset;
  }

  /** The records from offset 0, in order, up to the first torn, corrupt, stale or missing one. */
  readRecords(): JournalRecord[] {
    const size = fs.fstatSync(this.fd).size;
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(this.fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const out: JournalRecord[] = [];
    let at = 0;
    let prev: number | undefined;
    while (at + RECORD_HEADER <= got) {
      if (buf.readUInt32LE(at) !== MAGIC) break;
      const len = buf.readUInt32LE(at + 4);
      const seq = buf.readDoubleLE(at + 8);
      if (at + RECORD_HEADER + len > got) break;
      if (buf.readUInt32LE(at + 16) !== recordCrc(buf, at, len)) break;
      if (prev !== undefined && seq !== prev + 1) break;
      out.push({ seq, payload: buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len) });
      prev = seq;
      at += RECORD_HEADER + len;
    }
    return out;
  }

  /** Write one record at the write offset (not flushed: call sync()). Returns the offset it was written at. */
  append(seq: number, payload: Buffer): number {
    const at = this.offset;
    const total = RECORD_HEADER + payload.length;
    this.ensureAllocated(at + total);
    const rec = Buffer.allocUnsafe(total);
    rec.writeUInt32LE(MAGIC, 0);
    rec.writeUInt32LE(payload.length, 4);
    rec.writeDoubleLE(seq, 8);
    payload.copy(rec, RECORD_HEADER);
    rec.writeUInt32LE(recordCrc(rec, 0, payload.length), 16);
    rec.writeUInt32LE(0, 20);
    writeFully(this.fd, rec, at);
    this.offset = at + total;
    this.stats.records++;
    return at;
  }

  /**
   * Take back the record written at `at` (its LMDB transaction failed): the offset goes back and its magic is
   * zeroed, so neither a scan nor the next append sees it.
   */
  unappend(at: number): void {
    writeFully(this.fd, Buffer.alloc(4), at);
    this.offset = at;
  }

  /** Flush everything appended so far (on this thread). */
  sync(): void {
    fs.fdatasyncSync(this.fd);
    this.stats.syncs++;
  }

  /** Flush everything appended so far, on libuv's thread pool. */
  syncAsync(done: (err: Error | null) => void): void {
    fs.fdatasync(this.fd, (err) => {
      if (!err) this.stats.syncs++;
      done(err);
    });
  }

  /** After a checkpoint: the next record goes to offset 0. */
  reset(): void {
    this.offset = 0;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private ensureAllocated(end: number): void {
    if (end <= this.allocated) return;
    const target = Math.max(this.allocated + GROW_CHUNK, Math.ceil(end / GROW_CHUNK) * GROW_CHUNK);
    for (let at = this.allocated; at < target; ) {
      const n = Math.min(ZEROS.length, target - at);
      writeFully(this.fd, ZEROS.subarray(0, n), at);
      at += n;
    }
    fs.fsyncSync(this.fd); // the new size is metadata: fsync, once per chunk
    this.stats.growSyncs++;
    this.allocated = target;
  }
}

function recordCrc(buf: Buffer, at: number, len: number): number {
  const c = zlib.crc32(buf.subarray(at + 4, at + 16));
  return zlib.crc32(buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len), c);
}

function writeFully(fd: number, buf: Buffer, at: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, at + done);
}

/**
 * The checkpoint file `<dir>/wharf.checkpoint`: a copy of LMDB's two meta pages taken right after the data
 * file was flushed, i.e. the root of a tree that is entirely on disk. Written to a temp file, fsync'd, renamed,
 * directory fsync'd: a crash leaves the old or the new copy, whole.
 */
const CHECKPOINT_MAGIC = 0x31504357; // "WCP1"

export function checkpointPath(dir: string): string {
  return path.join(dir, 'wharf.checkpoint');
}

export function writeCheckpoint(dir: string, metas: Buffer): void {
  const file = checkpointPath(dir);
  const tmp = `${file}.tmp`;
  const head = Buffer.allocUnsafe(12);
  head.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  head.writeUInt32LE(metas.length, 4);
  head.writeUInt32LE(zlib.crc32(metas), 8);
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    writeFully(fd, head, 0);
    writeFully(fd, metas, head.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

/** The meta pages of the last checkpoint, or undefined if there is none. Throws if the file is damaged. */
export function readCheckpoint(dir: string): Buffer | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(checkpointPath(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (buf.length < 12 || buf.readUInt32LE(0) !== CHECKPOINT_MAGIC) throw new Error(`${checkpointPath(dir)} is not a Wharf checkpoint`);
  const len = buf.readUInt32LE(4);
  const metas = buf.subarray(12, 12 + len);
  if (metas.length !== len || zlib.crc32(metas) !== buf.readUInt32LE(8)) throw new Error(`${checkpointPath(dir)} is damaged (length or CRC)`);
  return metas;
}
