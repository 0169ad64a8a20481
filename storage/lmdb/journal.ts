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
    try {
      for (let at = this.allocated; at < target; ) {
        const n = Math.min(ZEROS.length, target - at);
        writeFully(this.fd, ZEROS.subarray(0, n), at);
        at += n;
      }
      fs.fsyncSync(this.fd); // the new size is metadata: fsync, once per chunk
    } catch (err) {
      // Disk full: give back what part of the chunk was written, rather than leave the disk with no byte free
      // (which raises the disk alarm and blocks every producer, even those whose commits would fit).
      try {
        fs.ftruncateSync(this.fd, this.allocated);
      } catch {
        // the next grow writes over it
      }
      throw err;
    }
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
 * file was flushed, i.e. the root of a tree that is entirely on disk.
 *
 *   header (4 KiB): magic u32 | slot size u32 | crc32 u32 (over magic and slot size)
 *   two slots at 4096 and 4096 + slot size: length u32 | counter f64 | crc32 u32 (over length, counter, metas) | metas
 *
 * Created whole when the store opens (temp file, fsync, rename, directory fsync). Every later checkpoint
 * overwrites the slot that does not hold the newest one and fdatasyncs: the file never grows, so a checkpoint
 * needs no free disk space (what a full disk needs: a checkpoint is how LMDB gets its freed pages back), and a
 * torn write leaves the other slot, whose tree is still whole (its pin is released only after the new slot was
 * flushed). The valid slot with the highest counter is the checkpoint.
 */
const CHECKPOINT_MAGIC = 0x32504357; // "WCP2"
/** The first format: one copy, rewritten through a temp file each time (read, then replaced at open). */
const CHECKPOINT_MAGIC_V1 = 0x31504357; // "WCP1"
const CHECKPOINT_HEADER = 4096;
const SLOT_HEADER = 16;

/** Flush a directory, so a file created, renamed or removed in it is too. */
export function fsyncDirectory(dir: string): void {
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

export function checkpointPath(dir: string): string {
  return path.join(dir, 'wharf.checkpoint');
}

export interface Checkpoint {
  metas: Buffer;
  /** Increases with every checkpoint. */
  counter: number;
}

export class CheckpointFile {
  private constructor(
    private readonly fd: number,
    private readonly slotSize: number,
    private counter: number,
  ) {}

  /** Replace whatever is at `<dir>/wharf.checkpoint` by a new file holding `cp` in its first slot. */
  static create(dir: string, cp: Checkpoint): CheckpointFile {
    const file = checkpointPath(dir);
    const tmp = `${file}.tmp`;
    const slotSize = Math.ceil((SLOT_HEADER + cp.metas.length) / 4096) * 4096;
    const buf = Buffer.alloc(CHECKPOINT_HEADER + 2 * slotSize);
    buf.writeUInt32LE(CHECKPOINT_MAGIC, 0);
    buf.writeUInt32LE(slotSize, 4);
    buf.writeUInt32LE(zlib.crc32(buf.subarray(0, 8)), 8);
    encodeSlot(cp, slotSize).copy(buf, CHECKPOINT_HEADER + (cp.counter % 2) * slotSize);
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      writeFully(fd, buf, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDirectory(dir);
    return new CheckpointFile(fs.openSync(file, 'r+'), slotSize, cp.counter);
  }

  /** Record the next checkpoint in place (the older slot), flushed when this returns. */
  write(metas: Buffer): void {
    const counter = this.counter + 1;
    const slot = encodeSlot({ metas, counter }, this.slotSize);
    writeFully(this.fd, slot, CHECKPOINT_HEADER + (counter % 2) * this.slotSize);
    fs.fdatasyncSync(this.fd);
    this.counter = counter;
  }

  get lastCounter(): number {
    return this.counter;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function encodeSlot(cp: Checkpoint, slotSize: number): Buffer {
  if (SLOT_HEADER + cp.metas.length > slotSize) throw new Error(`checkpoint: ${cp.metas.length} bytes of meta pages do not fit a ${slotSize}-byte slot`);
  const b = Buffer.alloc(SLOT_HEADER + cp.metas.length);
  b.writeUInt32LE(cp.metas.length, 0);
  b.writeDoubleLE(cp.counter, 4);
  cp.metas.copy(b, SLOT_HEADER);
  b.writeUInt32LE(zlib.crc32(b.subarray(SLOT_HEADER), zlib.crc32(b.subarray(0, 12))), 12);
  return b;
}

function decodeSlot(buf: Buffer, at: number, slotSize: number): Checkpoint | undefined {
  if (at + SLOT_HEADER > buf.length) return undefined;
  const len = buf.readUInt32LE(at);
  if (SLOT_HEADER + len > slotSize || at + SLOT_HEADER + len > buf.length) return undefined;
  const metas = buf.subarray(at + SLOT_HEADER, at + SLOT_HEADER + len);
  if (zlib.crc32(metas, zlib.crc32(buf.subarray(at, at + 12))) !== buf.readUInt32LE(at + 12)) return undefined;
  const counter = buf.readDoubleLE(at + 4);
  return counter > 0 ? { metas, counter } : undefined;
}

/** The newest checkpoint, or undefined if there is none. Throws if the file is damaged (no valid slot). */
export function readCheckpoint(dir: string): Checkpoint | undefined {
  const file = checkpointPath(dir);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const magic = buf.length >= 12 ? buf.readUInt32LE(0) : 0;
  if (magic === CHECKPOINT_MAGIC_V1) {
    const len = buf.readUInt32LE(4);
    const metas = buf.subarray(12, 12 + len);
    if (metas.length !== len || zlib.crc32(metas) !== buf.readUInt32LE(8)) throw new Error(`${file} is damaged (length or CRC)`);
    return { metas, counter: 1 };
  }
  if (magic !== CHECKPOINT_MAGIC) throw new Error(`${file} is not a Wharf checkpoint`);
  if (zlib.crc32(buf.subarray(0, 8)) !== buf.readUInt32LE(8)) throw new Error(`${file} is damaged (header CRC)`);
  const slotSize = buf.readUInt32LE(4);
  const a = decodeSlot(buf, CHECKPOINT_HEADER, slotSize);
  const b = decodeSlot(buf, CHECKPOINT_HEADER + slotSize, slotSize);
  const newest = a && b ? (a.counter > b.counter ? a : b) : (a ?? b);
  if (!newest) throw new Error(`${file} is damaged (no valid slot)`);
  return newest;
}
