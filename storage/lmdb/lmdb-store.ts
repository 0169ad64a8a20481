/**
 * The Store port on LMDB (lmdb-js), for one node.
 *
 * Layout — one LMDB environment (file `<path>/wharf.mdb`) with named DBs:
 * - `entries` [queue, seq] (ordered-binary) → entry value (see codec.ts): fixed prefix (kind, deliveryCount,
 *   deliveryTime, messageSize) then the message inline, or the id of a shared message.
 * - `shared`  sharedId → encoded message, stored once for every entry referencing it.
 * - `refs`    sharedId → u32 LE reference count; at 0 both records are deleted.
 * - `queues`  queue → queue record: meta (from queue.put), lastSeq (highest seq ever enqueued), mark, and
 *   counters (entries, bytes = Σ messageSize, shared entries) updated in the same transactions as the
 *   entries, so `open()` reads no entry: recovery is O(queues + kv) whatever the queue depths.
 * - `kv`      key → msgpack value.
 *
 * A queue exists for recovery once it has a record: created by queue.put, enqueue or mark; removed by
 * queue.delete (with its entries, lastSeq and mark: a queue created again under that name starts afresh).
 * A queue that never got a queue.put is recovered with meta `{}`.
 *
 * Durability: the env is opened with `overlappingSync: false`, so an lmdb-js transaction promise resolves
 * only after the commit has been fsync'd (with the default `overlappingSync: true` it resolves before;
 * see /work/shared/LIBRARIES.md §4.1). `noSync: true` (benchmarks only) disables fsync altogether.
 *
 * Group commit: `commit()` encodes its batch at once (so encoding errors reject that batch alone) and
 * queues it. With no LMDB transaction in flight, it starts one (`childTransaction`, async: the callback
 * runs on the main thread inside the write transaction, the commit and fsync run on lmdb-js's writer
 * thread — the event loop is not blocked on the disk). The callback applies every batch queued by the
 * time it runs, in call order, so all commits of an event turn, plus those arriving while the previous
 * transaction was being written, share one transaction and one fsync. Batches queued after the callback
 * ran form the next transaction. The callback runs as an abortable (child) transaction: if applying
 * throws, nothing of the group is written and each of its batches is retried in a transaction of its own,
 * so a batch is applied whole or not at all and only the failing batch rejects.
 *
 * Journal (`journal: true`; `store.journal` for `wharf start` on a single node). An LMDB commit costs two disk flushes:
 * fdatasync of the data pages, then the meta page written through an O_DSYNC descriptor. KahaDB, RabbitMQ and
 * etcd flush once: an append-only log, replayed after a crash over a state that is checkpointed now and then.
 * Here: LMDB is opened with `noSync`; a group commit applies its batches in one synchronous LMDB transaction on
 * the main thread, appends them as one record (`journal.ts`: seq + CRC + the encoded batches) inside that
 * transaction, and records the seq in `meta`; then one fdatasync of the journal (on this thread when idle, on
 * libuv's pool under load), and only then do the commits resolve. New groups wait while a flush is in flight
 * and go in the next one, so under load many commits share one flush.
 *
 * Why LMDB with noSync stays recoverable: after an OS crash a noSync LMDB file cannot be trusted — a meta page
 * may have reached the disk before the pages it points to, and pages of the last flushed tree may have been
 * reused by later transactions. So a checkpoint (every `checkpointBytes` of journal or `checkpointMs`) makes a
 * tree that is whole on disk and keeps it whole: fdatasync the data file (everything committed so far, meta
 * pages included), copy the two meta pages into `wharf.checkpoint` (the older of its two slots, in place, fdatasync;
 * journal.ts),
 * then hold an LMDB read transaction on that snapshot until the next checkpoint — LMDB never reuses a page a
 * reader can still see, so no page of the checkpointed tree is overwritten — and start the journal again at
 * offset 0. On open after an OS crash or power loss (`wharf.boot` holds another boot's id, or is missing), the
 * saved meta pages are written back over the data file's (whatever the crash left there), which opens LMDB
 * exactly at the checkpoint. After a process crash on this boot the page cache kept LMDB's later writes, and
 * LMDB's own newest tree is whole (a commit never overwrites the tree before it): the store opens at that tree
 * and checkpoints it before replaying anything. Either way the journal records after the seq recorded in the
 * tree are applied again, in order, up to the first torn or corrupt one. A record is written only for transactions
 * that applied, so what replay applies is what was committed; a commit resolves only after its record was flushed,
 * so nothing confirmed is lost.
 * Cost: between checkpoints LMDB cannot reuse freed pages (the file grows by what that interval wrote), and a
 * restart replays up to one interval. Reads see a group as soon as it is applied, before its flush.
 * A full disk: for the same reason a commit there needs new space where LMDB alone would reuse freed pages, and
 * would fail even for an ack. So a commit that fails for a disk error checkpoints at once (if anything was
 * committed since the last one; a checkpoint itself writes only within files it already has) and is tried once
 * more: LMDB gets back what the interval freed, the journal its start. A commit that still fails is rejected
 * (StoreWriteError, `unavailable`) with nothing of it applied or journaled, as without the journal.
 * Not chosen: LMDB's own MDB_NOMETASYNC (one flush per commit, but commit N's meta page only reaches the disk
 * with commit N+1's flush, so a lone commit would still need a second flush before it could be confirmed), and
 * lmdb-js's overlappingSync (its background sync is still two flushes, done inside the committing thread).
 */
import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { pack, unpack } from 'msgpackr';
import { BrokerError } from '../../src/core/errors.js';
import { bootId, markBoot, markedBoot } from '../boot-id.js';
import { messageSize } from '../../src/core/message.js';
import type { Command, QueueRecovery, Store, StoredEntry } from '../../src/core/store.js';
import {
  decodeMessage,
  decodeQueueRecord,
  decodeValue,
  encodeInlineEntry,
  encodeMessage,
  encodeQueueRecord,
  encodeSharedEntry,
  encodeValue,
  entryDeliveryCount,
  entryDeliveryTime,
  entryKind,
  entrySharedId,
  entrySize,
  ENTRY_PREFIX,
  KIND_INLINE,
  KIND_SHARED,
  withDeliveryState,
  newQueueRecord,
  type QueueRecord,
} from './codec.js';
import { CheckpointFile, checkpointPath, fsyncDirectory, Journal, readCheckpoint } from './journal.js';
import { mkdirs } from '../mkdirs.js';

export interface LmdbStoreOptions {
  /** Directory holding the database (created if missing). */
  path: string;
  /** Initial LMDB map size in bytes; lmdb-js grows the map automatically. */
  mapSize?: number;
  /** Do not fsync — commits are NOT durable across an OS crash. Benchmarks, and a cluster node's state store
   *  (whose durable record is the Raft log; it calls `syncNow()` before compacting the log). */
  noSync?: boolean;
  /** Tests: on open(), recount every queue by scanning its entries and fail if the stored counters differ. */
  verifyRecovery?: boolean;
  /** Commit on the main thread when the store is idle (see startTxn); default true. false: always the writer thread. */
  idleSyncCommit?: boolean;
  /**
   * Write-ahead journal (see "Journal" above): one disk flush per group commit instead of LMDB's two. Default
   * false (cluster nodes journal in their Raft log). Unset: a store that has a checkpoint file is opened journaled.
   * false: such a store is replayed, checkpointed, and continues without its journal (`store.journal: false`).
   */
  journal?: boolean;
  /** Journal: checkpoint when this many bytes were journaled since the last one (default 16 MiB). */
  checkpointBytes?: number;
  /** Journal: checkpoint at least this often while commits come in (ms, default 2000). */
  checkpointMs?: number;
  /**
   * Journal: a group of nothing but acks waits up to this long (ms, default 1; 0: not at all) for a commit that
   * needs a flush anyway, and shares it. Its promise still resolves only after the flush.
   */
  lazyAckMs?: number;
}

type Key = [string, number];

/** A command with everything that can fail (validation, encoding) already done. */
type Op =
  | { t: 'queue.put'; queue: string; meta: Buffer }
  | { t: 'queue.delete'; queue: string }
  | { t: 'enqueue'; queue: string; seq: number; size: number; value: Buffer; shared?: string; sharedMessage?: Buffer }
  | { t: 'ack'; queue: string; seq: number }
  | { t: 'update'; queue: string; seq: number; deliveryCount: number; deliveryTime?: number }
  | { t: 'mark'; queue: string; seq: number }
  | { t: 'purge'; queue: string }
  | { t: 'kv.put'; key: string; value: Buffer }
  | { t: 'kv.delete'; key: string };

/** A batch as `prepareBatch` leaves it: validated, messages encoded as they are stored. What a cluster node replicates. */
export type PreparedOp = Op;

interface Pending {
  ops: Op[];
  resolve: () => void;
  reject: (err: Error) => void;
  /** Replicated apply (`commitApplied`): the Raft log index recorded with this batch. */
  applied?: number;
  /** Replicated apply: the batch could not be applied (deterministic failure); only its index was recorded. */
  skipped?: Error;
}

interface RefState {
  /** Reference count as of now in the transaction being applied. */
  count: number;
  /** The shared message record exists in the DB (at the start of this transaction). */
  existed: boolean;
  /** Message bytes to write: set when the count went from 0 to 1 in this transaction. */
  message?: Buffer;
}

/** Per-transaction write-back caches for records updated many times per transaction. */
interface TxnState {
  /** null: deleted in this transaction. */
  queues: Map<string, QueueRecord | null>;
  refs: Map<string, RefState>;
}

/** Chunk size of the range scans that delete a queue's entries. */
const DELETE_CHUNK = 4096;

type State = 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed';

export class LmdbStore implements Store {
  readonly path: string;
  private readonly opts: LmdbStoreOptions;
  private state: State = 'new';
  private env!: RootDatabase;
  private entries!: Database<Buffer, Key>;
  private shared!: Database<Buffer, string>;
  private refs!: Database<Buffer, string>;
  private queues!: Database<Buffer, string>;
  private kv!: Database<Buffer, string>;
  /** Store bookkeeping (not engine state): `applied` = last Raft log index applied (cluster nodes only). */
  private meta!: Database<Buffer, string>;

  private pending: Pending[] = [];
  private inFlight = false;
  /** When the last transaction ended and how long it took (performance.now(), ms): the idle test of startTxn. */
  private lastTxnEnd = -Infinity;
  private lastTxnTook = 0;
  private lastGroupSize = 0;
  private idleWaiters: (() => void)[] = [];
  private closing: Promise<void> | undefined;

  /** Counters for metrics and tests: LMDB write transactions committed, batches applied. */
  readonly stats = { transactions: 0, batches: 0, syncTransactions: 0 };
  /** Enqueues not written because acked in the same transaction (applyOpOrElide); tests and metrics. */
  readonly elision = { enqueues: 0 };
  /** Journal mode: the journal, the data file (for the checkpoint's fdatasync) and the read transaction that keeps the checkpointed tree. */
  private journal: Journal | undefined;
  private dataFd = -1;
  private metaBytes = 0;
  private pin: { done(): void } | undefined;
  /** The checkpoint file, created by the first checkpoint after open (which replaces the one restored from). */
  private checkpointFile: CheckpointFile | undefined;
  private restoredCheckpoint = 0;
  /** Seq of the last journal record written (applied to LMDB, maybe not yet flushed). */
  private journalSeq = 0;
  private journalScheduled = false;
  /** A checkpoint's first data-file flush, running on the pool (close() waits for it before closing the file). */
  private preFlush: Promise<void> | undefined;
  private journalSyncing = false;
  /** Groups written to the journal, waiting for its flush. */
  private awaiting: Pending[][] = [];
  private lastCheckpoint = 0;
  /** Ack-only groups are written and wait for this timer or for the next group's flush, whichever comes first. */
  private lazyTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** The journal could not be flushed: nothing can be confirmed any more. */
  private journalFailed: Error | undefined;
  /** Journal mode counters: checkpoints, journal records replayed on open. */
  readonly journalStats = { checkpoints: 0, replayed: 0, restores: 0 };

  /** Testing hook: when it returns true for a command, applying it throws inside the write transaction. */
  injectApplyFault: ((op: { t: string }) => boolean) | undefined;

  constructor(opts: LmdbStoreOptions) {
    if (!opts || typeof opts.path !== 'string' || opts.path === '') throw new TypeError('LmdbStore: opts.path (a directory) is required');
    this.opts = { ...opts };
    this.path = path.resolve(opts.path);
  }

  // --- lifecycle ----------------------------------------------------------------------------------

  async open(): Promise<{ queues: QueueRecovery[]; kv: Map<string, unknown> }> {
    if (this.state !== 'new') throw new Error(`LmdbStore(${this.path}): open() called on a store that is ${this.state}`);
    this.state = 'opening';
    filterLmdbCommitRejections();
    try {
      this.prepareDirectory();
      const dataFile = path.join(this.path, 'wharf.mdb');
      const checkpoint = readCheckpoint(this.path);
      const journaled = checkpoint !== undefined || (this.opts.journal === true && this.opts.noSync !== true);
      // A process killed on this boot left its unflushed writes in the page cache, and LMDB's newest tree with
      // them: whole (a commit never overwrites the tree before it). Start from that tree; only an OS crash or a
      // power loss (a new boot) needs the checkpoint's meta pages written back.
      const trustLmdb = checkpoint !== undefined && wroteUnderThisBoot(this.path);
      if (checkpoint && !trustLmdb) {
        restoreMetaPages(dataFile, checkpoint.metas);
        this.journalStats.restores++;
      }
      this.restoredCheckpoint = checkpoint?.counter ?? 0;
      if (journaled) markBoot(bootMarker(this.path));
      this.openEnv(dataFile, this.opts.noSync === true || journaled);
      // Before any write: keeps the tree replay starts from whole while replay and commits go on.
      if (journaled) this.pin = this.env.useReadTransaction();
      if (journaled) this.openJournal(dataFile, trustLmdb);
      if (journaled && this.opts.journal === false) {
        // Asked for no journal (`store.journal: false`, the way back): replayed and checkpointed, LMDB alone now
        // holds everything, flushed. Drop the journal and open LMDB with its own fsyncs.
        this.leaveJournal();
        await this.env.close();
        this.openEnv(dataFile, this.opts.noSync === true);
      }
      const result = this.recover();
      this.state = 'open';
      return result;
    } catch (err) {
      this.state = 'failed';
      this.closeJournal();
      if (this.env) await this.env.close().catch(() => undefined);
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(msg.includes(this.path) ? msg : `LmdbStore: cannot open storage at ${this.path}: ${msg}`, { cause: err });
    }
  }

  private openEnv(dataFile: string, noSync: boolean): void {
    const env = open<Buffer, string>(dataFile, { mapSize: this.opts.mapSize, noSync, overlappingSync: false, maxDbs: 8 });
    this.env = env;
    this.entries = env.openDB<Buffer, Key>({ name: 'entries', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.shared = env.openDB<Buffer, string>({ name: 'shared', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.refs = env.openDB<Buffer, string>({ name: 'refs', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.queues = env.openDB<Buffer, string>({ name: 'queues', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.kv = env.openDB<Buffer, string>({ name: 'kv', encoding: 'binary', keyEncoding: 'ordered-binary' });
    this.meta = env.openDB<Buffer, string>({ name: 'meta', encoding: 'binary', keyEncoding: 'ordered-binary' });
  }

  /**
   * Right after openJournal's checkpoint (the data file flushed at the last transaction, meta pages included):
   * remove the checkpoint file, so the next open trusts LMDB's own meta pages, then the journal (a crash in
   * between leaves a journal whose records are all at or below the seq recorded in LMDB: never replayed).
   */
  private leaveJournal(): void {
    this.closeJournal();
    fs.unlinkSync(checkpointPath(this.path));
    fsyncDirectory(this.path);
    fs.rmSync(path.join(this.path, 'wharf.journal'), { force: true });
    fs.rmSync(bootMarker(this.path), { force: true });
  }

  private prepareDirectory(): void {
    const p = this.path;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`LmdbStore: cannot use ${p} as a storage directory: ${(err as Error).message}`);
    }
    if (st && !st.isDirectory()) throw new Error(`LmdbStore: storage path ${p} exists and is not a directory`);
    if (!st) {
      try {
        mkdirs(p);
      } catch (err) {
        throw new Error(`LmdbStore: cannot create storage directory ${p}: ${(err as Error).message}`);
      }
    }
    try {
      fs.accessSync(p, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      throw new Error(`LmdbStore: storage directory ${p} is not readable and writable: ${(err as Error).message}`);
    }
    // access() says yes to root even on a read-only mount: try creating a file.
    const probe = path.join(p, `.wharf-probe-${process.pid}`);
    try {
      fs.writeFileSync(probe, '');
      fs.unlinkSync(probe);
    } catch (err) {
      throw new Error(`LmdbStore: storage directory ${p} is not writable: ${(err as Error).message}`);
    }
  }

  /**
   * Rebuild the summary of every queue and load the kv map. Entry counts and byte sums come from the
   * counters kept in each queue record (maintained in the transactions that add and remove entries), so
   * recovery reads no entry at all: O(queues + kv), whatever the queue depths. With `verifyRecovery` it
   * also recounts by scanning the entries and throws if the counters disagree (used by the tests).
   */
  private recover(): { queues: QueueRecovery[]; kv: Map<string, unknown> } {
    const queues: QueueRecovery[] = [];
    for (const { key: name, value } of this.queues.getRange({})) {
      const rec = decodeQueueRecord(value);
      if (this.opts.verifyRecovery) {
        const scanned = this.scanQueue(name);
        if (scanned.count !== rec.count || scanned.bytes !== rec.bytes || scanned.sharedCount !== rec.sharedCount) {
          throw new Error(
            `LmdbStore(${this.path}): queue ${name}: counters say ${rec.count} entries / ${rec.bytes} bytes / ${rec.sharedCount} shared, ` +
              `a scan finds ${scanned.count} / ${scanned.bytes} / ${scanned.sharedCount}`,
          );
        }
      }
      queues.push({
        name,
        meta: rec.hasMeta ? (decodeValue(rec.meta) as Record<string, unknown>) : {},
        count: rec.count,
        bytes: rec.bytes,
        lastSeq: rec.lastSeq,
        mark: rec.mark,
      });
    }
    if (this.opts.verifyRecovery) {
      // Every entry belongs to a queue with a record.
      for (const key of this.entries.getKeys({})) {
        if (this.queues.getBinaryFast(key[0]) === undefined) throw new Error(`LmdbStore(${this.path}): entry ${key[0]}#${key[1]} has no queue record`);
      }
    }
    const kv = new Map<string, unknown>();
    for (const { key, value } of this.kv.getRange({})) kv.set(key, decodeValue(value));
    return { queues, kv };
  }

  /** Count a queue's entries and sum their sizes by scanning them (the size is in the entry prefix: no decoding). */
  private scanQueue(queue: string): { count: number; bytes: number; sharedCount: number } {
    let count = 0;
    let bytes = 0;
    let sharedCount = 0;
    for (const { value } of this.entries.getRange({ start: [queue], end: [queue, Infinity] })) {
      count++;
      bytes += entrySize(value);
      if (entryKind(value) === KIND_SHARED) sharedCount++;
    }
    return { count, bytes, sharedCount };
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.state === 'new' || this.state === 'failed' || this.state === 'closed') {
      this.state = 'closed';
      return Promise.resolve();
    }
    // 'opening' cannot be observed here: open() runs synchronously up to its return.
    this.state = 'closing';
    this.closing = (async () => {
      await this.whenIdle();
      await this.preFlush;
      // A clean close leaves nothing to replay. If it cannot checkpoint (disk full), the journal still holds it all.
      if (this.journal && !this.journalFailed) {
        try {
          this.checkpoint();
        } catch {
          // replayed on the next open
        }
      }
      this.closeJournal();
      await this.env.close();
      this.state = 'closed';
    })();
    return this.closing;
  }

  /**
   * Flush everything committed so far to disk (fsync), whatever `noSync` says. A cluster node's state store runs
   * with `noSync` (the Raft log is its durable record) and calls this before the log is compacted past its
   * applied index, and on a clean stop.
   */
  syncNow(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`LmdbStore(${this.path}): syncNow on a store that is ${this.state}`));
    return new Promise<void>((resolve, reject) => {
      // lmdb-js RootDatabase.sync(callback): mdb_env_sync(force) on a worker thread (not in its typings).
      (this.env as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err) => (err ? reject(asError(err)) : resolve()));
    });
  }

  /** Resolves when no commit is queued or in flight. */
  private whenIdle(): Promise<void> {
    if (!this.inFlight && !this.journalBusy() && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // --- reads --------------------------------------------------------------------------------------

  readEntries(queue: string, afterSeq: number, limit: number): StoredEntry[] {
    this.assertReadable();
    const out: StoredEntry[] = [];
    if (!(limit > 0)) return out;
    const range = this.entries.getRange({ start: [queue, afterSeq], end: [queue, Infinity], limit: limit + 1 });
    for (const { key, value } of range) {
      const seq = key[1];
      if (key[0] !== queue || !(seq > afterSeq)) continue;
      out.push(this.decodeEntry(queue, seq, value));
      if (out.length >= limit) break;
    }
    return out;
  }

  readSeqs(queue: string, afterSeq: number, limit: number): number[] {
    this.assertReadable();
    const out: number[] = [];
    if (!(limit > 0)) return out;
    for (const key of this.entries.getKeys({ start: [queue, afterSeq], end: [queue, Infinity], limit: limit + 1 })) {
      const seq = key[1];
      if (key[0] !== queue || !(seq > afterSeq)) continue;
      out.push(seq);
      if (out.length >= limit) break;
    }
    return out;
  }

  private decodeEntry(queue: string, seq: number, v: Buffer): StoredEntry {
    let message;
    if (entryKind(v) === KIND_INLINE) {
      message = decodeMessage(v, ENTRY_PREFIX);
    } else {
      const id = entrySharedId(v);
      const m = this.shared.get(id);
      if (!m) throw new Error(`LmdbStore(${this.path}): entry ${queue}#${seq} references missing shared message ${id}`);
      message = decodeMessage(m);
    }
    message.deliveryTime = entryDeliveryTime(v);
    return { queue, seq, message, deliveryCount: entryDeliveryCount(v) };
  }

  size(): number {
    this.assertReadable();
    const stats = this.env.getStats() as { pageSize: number; lastPageNumber: number };
    return (stats.lastPageNumber + 1) * stats.pageSize;
  }

  private assertReadable(): void {
    if (this.state !== 'open' && this.state !== 'closing') throw new Error(`LmdbStore(${this.path}): store is ${this.state}, not open`);
  }

  /**
   * Read the recovery summary again (what `open()` returned, as of now). A cluster node applies replicated
   * batches from its open() on; when it becomes leader the engine is rebuilt from this.
   */
  recovery(): { queues: QueueRecovery[]; kv: Map<string, unknown> } {
    this.assertReadable();
    return this.recover();
  }

  /** The last Raft log index applied by `commitApplied` (0 if none): replay after a restart starts after it. */
  appliedIndex(): number {
    this.assertReadable();
    const v = this.meta.get('applied');
    return v === undefined ? 0 : v.readDoubleLE(0);
  }

  /**
   * Cluster snapshots: the whole state (every table) and the applied index as one image, read in one synchronous
   * pass, hence from one LMDB read snapshot (consistent). Held in memory: fine for modest stores; large stores
   * will need a streamed file copy instead.
   */
  exportImage(): { index: number; image: Buffer } {
    this.assertReadable();
    const index = this.appliedIndex();
    const dbs: Record<string, [unknown, Buffer][]> = {};
    for (const [name, db] of this.tables()) dbs[name] = Array.from(db.getRange({}), ({ key, value }) => [key, value] as [unknown, Buffer]);
    return { index, image: encodeValue({ v: 1, index, dbs }) };
  }

  /** Replace the whole state with an image from `exportImage()` (a leader's snapshot), recording `index` as applied. */
  async importImage(image: Uint8Array, index: number): Promise<void> {
    if (this.state !== 'open') throw new Error(`LmdbStore(${this.path}): importImage on a store that is ${this.state}`);
    const buf = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
    const img = decodeValue(buf) as { v?: unknown; dbs?: Record<string, [unknown, Buffer][]> };
    if (img?.v !== 1 || typeof img.dbs !== 'object') throw new Error(`LmdbStore(${this.path}): not a state image`);
    await this.whenIdle();
    await this.env.transaction(() => {
      for (const [name, db] of this.tables()) {
        for (const key of Array.from(db.getKeys({}))) db.removeSync(key as never);
        for (const [key, value] of img.dbs![name] ?? []) db.putSync(key as never, value);
      }
      const v = Buffer.allocUnsafe(8);
      v.writeDoubleLE(index, 0);
      this.meta.putSync('applied', v);
    });
    if (this.journal) this.checkpoint(); // the journal's records predate the image
  }

  private tables(): [string, Database<Buffer, never>][] {
    return [
      ['entries', this.entries as unknown as Database<Buffer, never>],
      ['shared', this.shared as unknown as Database<Buffer, never>],
      ['refs', this.refs as unknown as Database<Buffer, never>],
      ['queues', this.queues as unknown as Database<Buffer, never>],
      ['kv', this.kv as unknown as Database<Buffer, never>],
    ];
  }

  // --- writes -------------------------------------------------------------------------------------

  /**
   * Cluster apply: commit `batch` (a committed Raft entry at log `index`) and record `index` as applied in
   * the same transaction, so replay after a crash neither skips nor repeats an entry. Group commit applies as
   * for `commit()`. A batch that cannot be applied (invalid command, apply error) is skipped deterministically:
   * nothing of it is written, the index is still recorded, and the promise resolves with that error.
   * Rejects only when nothing could be written (disk full, I/O error): the caller must stop applying.
   */
  commitApplied(batch: Command[], index: number): Promise<Error | undefined> {
    if (this.state !== 'open') {
      return Promise.reject(new Error(`LmdbStore(${this.path}): commitApplied on a store that is ${this.state === 'new' ? 'not open yet' : this.state}`));
    }
    if (!Number.isInteger(index) || index <= 0) return Promise.reject(new TypeError(`commitApplied: bad index ${index}`));
    let ops: Op[];
    let skipped: Error | undefined;
    try {
      ops = prepare(batch);
    } catch (err) {
      ops = [];
      skipped = asError(err);
    }
    return this.commitPrepared(ops, index, skipped);
  }

  /**
   * `commitApplied` of a batch already prepared (`prepareBatch`, here or on the node that proposed it): nothing is
   * validated or encoded again. `skipped`: the batch could not be prepared; only the index is recorded.
   */
  commitPrepared(ops: PreparedOp[], index: number, skipped?: Error): Promise<Error | undefined> {
    if (this.state !== 'open') {
      return Promise.reject(new Error(`LmdbStore(${this.path}): commitApplied on a store that is ${this.state === 'new' ? 'not open yet' : this.state}`));
    }
    if (!Number.isInteger(index) || index <= 0) return Promise.reject(new TypeError(`commitApplied: bad index ${index}`));
    return new Promise<Error | undefined>((resolve, reject) => {
      const p: Pending = { ops, resolve: () => resolve(p.skipped), reject, applied: index, skipped };
      this.pending.push(p);
      this.kick();
    });
  }

  commit(batch: Command[]): Promise<void> {
    if (this.state !== 'open') {
      return Promise.reject(new Error(`LmdbStore(${this.path}): commit on a store that is ${this.state === 'new' ? 'not open yet' : this.state}`));
    }
    let ops: Op[];
    try {
      ops = prepare(batch);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ops, resolve, reject });
      this.kick();
    });
  }

  /** A batch was queued: start a group commit unless one is on its way (which takes the batch, or the next one will). */
  private kick(): void {
    if (this.journal) {
      if (!this.journalScheduled && !this.journalSyncing) {
        this.journalScheduled = true;
        if (this.idleNow()) {
          // Idle: apply and flush after this turn's socket writes (adapters flush in setImmediate), as startTxn
          // does — a message dispatched while its commit is in flight (concurrent dispatch) reaches its consumer
          // before the LMDB writes and the flush that block this thread, not after them.
          this.stepAfterWrites = true;
          setImmediate(this.journalStepAfterWrites);
        } else process.nextTick(this.journalStep);
      }
    } else if (!this.inFlight) this.startTxn();
  }

  private startTxn(): void {
    this.inFlight = true;
    // Idle (the last transaction was small and the disk has been quiet for at least as long as that
    // transaction took): commit on this thread at the end of this tick, without lmdb-js's setImmediate and
    // its two writer-thread hops, which cost ~0.3 ms of latency and most of the CPU of a lone commit. Under
    // load (a transaction in flight, big groups, or commits back to back) the writer thread keeps group commit.
    // Without fsync a commit is memory work only: always on this thread (the writer thread's hand-offs cost more
    // CPU than the write itself; a cluster node's state store applies every entry this way).
    if (this.opts.noSync === true) {
      process.nextTick(this.commitNow);
      return;
    }
    if (this.idleNow()) {
      // The fsync blocks this thread: let this turn's socket writes (adapters flush in setImmediate) go out first —
      // a message dispatched while its commit is in flight (concurrent dispatch) then reaches its consumer during
      // the fsync, not after it. Commands arriving meanwhile join the group.
      setImmediate(this.commitNowAfterWrites);
      return;
    }
    let group: Pending[] = [];
    let ran = false;
    let txn: Promise<void>;
    try {
      txn = this.env.childTransaction(() => {
        // Runs inside the write transaction: take everything queued up to now.
        ran = true;
        group = this.pending;
        this.pending = [];
        this.apply(group);
      });
    } catch (err) {
      txn = Promise.reject(err);
    }
    const t0 = performance.now();
    txn.then(
      () => {
        this.stats.transactions++;
        this.stats.batches += group.length;
        this.noteTxn(t0, group.length);
        for (const p of group) p.resolve();
        this.afterTxn();
      },
      (err: unknown) => {
        if (!ran) {
          // LMDB failed before our callback ran (environment error): fail what is queued, do not spin.
          group = this.pending;
          this.pending = [];
        }
        if (!ran || (group.length <= 1 && group[0]?.applied === undefined)) {
          for (const p of group) p.reject(commitFailure(err));
          this.afterTxn();
        } else {
          void this.retryOneByOne(group).then(() => this.afterTxn());
        }
      },
    );
  }

  /**
   * Commit everything queued (all commits of this tick: process.nextTick runs after its microtasks) in one
   * synchronous write transaction. With `overlappingSync: false`, commitTxn returns after the fsync, so the
   * promises resolved here are as durable as those of the writer-thread path. Same all-or-nothing contract:
   * if applying throws, the transaction is aborted and the batches are retried one by one.
   */
  private readonly commitNowAfterWrites = (): void => {
    setImmediate(this.commitNow);
  };

  /**
   * `noSync` stores: commit what is queued now, on this thread, instead of at the end of the tick — a replicated
   * node's engine is about to read what its commits resolved (ReplicatedNode.applyNow).
   */
  flushPending(): void {
    if (this.opts.noSync !== true || this.journal || this.retrying || this.pending.length === 0 || this.state !== 'open') return;
    this.inFlight = true;
    this.commitNow();
  }

  /** commitNow's transaction failed and its batches are being retried one by one (asynchronously). */
  private retrying = false;

  private readonly commitNow = (): void => {
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return; // flushPending took them; the tick that was scheduled finds nothing
    const t0 = performance.now();
    try {
      this.env.transactionSync(() => this.apply(group));
    } catch {
      this.lastGroupSize = Infinity; // the next commits take the writer-thread path
      this.retrying = true;
      void this.retryOneByOne(group).then(() => {
        this.retrying = false;
        this.afterTxn();
      });
      return;
    }
    this.stats.transactions++;
    this.stats.syncTransactions++;
    this.stats.batches += group.length;
    this.noteTxn(t0, group.length);
    for (const p of group) p.resolve();
    this.afterTxn();
  };

  private noteTxn(t0: number, groupSize: number): void {
    this.lastTxnEnd = performance.now();
    this.lastTxnTook = this.lastTxnEnd - t0;
    this.lastGroupSize = groupSize;
  }

  /** The group transaction failed and was rolled back: isolate the failing batch(es), each in an LMDB transaction. */
  private async retryOneByOne(group: Pending[]): Promise<void> {
    for (let i = 0; i < group.length; ) {
      const p = group[i]!;
      // Batches of one replicated entry (commitPrepared with the same index, queued together) are retried together.
      let j = i + 1;
      while (p.applied !== undefined && j < group.length && group[j]!.applied === p.applied) j++;
      if (j - i > 1) await this.retryEntryParts(group.slice(i, j));
      else await this.retryAlone(p);
      i = j;
    }
  }

  /** One batch of a rolled-back group in transactions of its own (`oneByOne` says which and what a failure means). */
  private async retryAlone(p: Pending): Promise<void> {
    const steps = oneByOne([p]);
    for (let step = steps.next(); !step.done; ) {
      const txn = step.value;
      let failure: Error | undefined;
      try {
        await this.env.childTransaction(() => this.apply(txn));
        this.stats.transactions++;
        this.stats.batches += txn.length;
        for (const q of txn) q.resolve();
      } catch (err) {
        failure = asError(err);
      }
      step = steps.next(failure);
    }
  }

  /**
   * The batches of one replicated entry, in one transaction with the entry's index: each in a child transaction of
   * its own, so a batch that cannot be applied is skipped whole while the others are written — and a crash finds
   * either all of them applied with the index, or none (an index recorded with only some would skip the rest on replay).
   */
  private async retryEntryParts(parts: Pending[]): Promise<void> {
    const index = parts[0]!.applied!;
    const failed = new Map<Pending, Error>();
    try {
      await this.env.childTransaction(() => {
        failed.clear();
        for (const p of parts) {
          try {
            this.env.childTransaction(() => this.apply([p])); // nested in a write transaction: runs synchronously
          } catch (err) {
            // a disk error is no reason to skip a replicated batch (another node applies it): it fails the whole entry
            if (isDiskFailure(err)) throw err;
            failed.set(p, asError(err));
          }
        }
        this.apply([{ ops: [], resolve: () => undefined, reject: () => undefined, applied: index }]);
      });
    } catch (err) {
      for (const p of parts) p.reject(commitFailure(err));
      return;
    }
    this.stats.transactions++;
    this.stats.batches += parts.length;
    for (const p of parts) {
      const err = failed.get(p);
      if (err) p.skipped = err;
      p.resolve();
    }
  }

  private afterTxn(): void {
    this.inFlight = false;
    if (this.pending.length > 0) this.startTxn();
    else for (const w of this.idleWaiters.splice(0)) w();
  }

  // --- journal ------------------------------------------------------------------------------------

  /**
   * Open the journal, replay what LMDB does not hold yet, and checkpoint (open() runs this before any commit).
   * `fromNewestTree`: LMDB was opened at its own newest tree, not at the checkpoint's (see open()). That tree is
   * checkpointed before replay writes anything: the old checkpoint's tree is not pinned any more, so replay may
   * reuse its pages, and a power loss during replay must fall back to a tree that is whole on disk.
   */
  private openJournal(dataFile: string, fromNewestTree: boolean): void {
    this.dataFd = fs.openSync(dataFile, 'r');
    this.metaBytes = 2 * (this.env.getStats() as { pageSize: number }).pageSize;
    this.journal = new Journal(this.path);
    const records = this.journal.readRecords(); // before a checkpoint moves the write offset back to 0
    if (fromNewestTree) this.checkpoint();
    const base = this.recordedJournalSeq();
    this.journalSeq = base;
    for (const rec of records) {
      if (rec.seq <= base) continue; // already in the checkpoint
      if (rec.seq !== this.journalSeq + 1) throw new Error(`LmdbStore(${this.path}): journal record ${rec.seq} follows ${this.journalSeq}: a record is missing`);
      const group = decodeJournalGroup(rec.payload);
      this.env.transactionSync(() => {
        this.apply(group);
        this.putJournalSeq(rec.seq);
      });
      this.journalSeq = rec.seq;
      this.journalStats.replayed++;
    }
    this.checkpoint();
    const every = this.opts.checkpointMs ?? 2000;
    this.checkpointTimer = setInterval(() => {
      if (this.journal && this.journal.written > 0 && performance.now() - this.lastCheckpoint >= every) this.requestCheckpoint();
    }, every);
    this.checkpointTimer.unref();
  }

  /**
   * Checkpoint soon, without stalling the event loop on the bulk of it: first flush the data file on the pool
   * while commits go on, then checkpoint (whose own flush now finds little left to write).
   */
  private requestCheckpoint(): void {
    if (this.preFlush || this.dataFd < 0 || this.journalFailed) return;
    this.preFlush = new Promise<void>((resolve) => {
      fs.fdatasync(this.dataFd, (err) => {
        this.preFlush = undefined;
        resolve();
        if (err || !this.journal || this.state !== 'open') return;
        try {
          this.checkpoint(); // between two transactions: valid whatever is queued or being flushed
        } catch {
          // Nothing confirmed depends on it (the journal holds every record since the last one): try again later.
        }
      });
    });
  }

  /**
   * Journal mode counters (undefined without a journal): journal flushes, records, checkpoints, records replayed on
   * open, and whether open wrote the checkpoint's meta pages back (1) or started from LMDB's newest tree (0).
   */
  journalCounters(): { syncs: number; growSyncs: number; records: number; checkpoints: number; replayed: number; restores: number } | undefined {
    if (!this.journal) return undefined;
    return { ...this.journal.stats, ...this.journalStats };
  }

  private recordedJournalSeq(): number {
    const v = this.meta.get('journal');
    return v === undefined ? 0 : v.readDoubleLE(0);
  }

  private putJournalSeq(seq: number): void {
    const v = Buffer.allocUnsafe(8);
    v.writeDoubleLE(seq, 0);
    this.meta.putSync('journal', v);
  }

  /**
   * Make the current LMDB state the one replay starts from (see "Journal" above). Synchronous, between
   * transactions: no write may run between the data file's flush and the copy of its meta pages.
   */
  private checkpoint(): void {
    fs.fdatasyncSync(this.dataFd);
    const metas = Buffer.allocUnsafe(this.metaBytes);
    let got = 0;
    while (got < metas.length) {
      const n = fs.readSync(this.dataFd, metas, got, metas.length - got, got);
      if (n === 0) throw new Error(`LmdbStore(${this.path}): data file shorter than its meta pages`);
      got += n;
    }
    if (this.checkpointFile) this.checkpointFile.write(metas);
    else this.checkpointFile = CheckpointFile.create(this.path, { metas, counter: this.restoredCheckpoint + 1 });
    const old = this.pin;
    this.pin = this.env.useReadTransaction();
    old?.done();
    this.journal!.reset();
    this.lastCheckpoint = performance.now();
    this.journalStats.checkpoints++;
  }

  private journalBusy(): boolean {
    return this.journalScheduled || this.journalSyncing || this.awaiting.length > 0;
  }

  private closeJournal(): void {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.pin?.done();
    this.pin = undefined;
    this.journal?.close();
    this.journal = undefined;
    this.checkpointFile?.close();
    this.checkpointFile = undefined;
    if (this.dataFd >= 0) fs.closeSync(this.dataFd);
    this.dataFd = -1;
  }

  /** Idle: the last group was small and the disk has been quiet for as long as its flush took (startTxn, the journal). */
  private idleNow(): boolean {
    return this.opts.idleSyncCommit !== false && this.lastGroupSize <= 2 && performance.now() - this.lastTxnEnd >= this.lastTxnTook;
  }

  private stepAfterWrites = false;
  private readonly journalStepAfterWrites = (): void => {
    setImmediate(this.journalStep);
  };

  /** Journal mode: apply everything queued in one LMDB transaction with its journal record, then flush the journal. */
  private readonly journalStep = (): void => {
    this.journalScheduled = false;
    const afterWrites = this.stepAfterWrites;
    this.stepAfterWrites = false;
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return this.journalIdle();
    if (this.journalFailed || !this.journal) {
      const err = this.journalFailed ?? new Error(`LmdbStore(${this.path}): store is ${this.state}`);
      for (const p of group) p.reject(err);
      return this.journalIdle();
    }
    const lazy = this.opts.lazyAckMs !== 0 && onlyAcks(group);
    let failed = this.journalTxn(group);
    // Out of disk space: between checkpoints LMDB cannot reuse the pages it freed (the pin keeps them) and the
    // journal cannot wrap. A checkpoint gives both back without needing space of its own; then try once more.
    if (failed instanceof StoreWriteError && this.reclaimSpace()) failed = this.journalTxn(group);
    if (failed !== undefined) {
      // Something in the group failed: isolate it (each batch in a transaction and record of its own, resolved
      // after the flush like any other).
      this.lastGroupSize = Infinity; // and the next flush goes to the pool
      const steps = oneByOne(group);
      let step = steps.next();
      while (!step.done) step = steps.next(this.journalTxn(step.value));
    }
    if (lazy && this.awaiting.length > 0) {
      // In a closed loop (a synchronous producer and its consumer) the consumer's ack and the producer's next send
      // arrive a fraction of a flush apart: flushing the ack alone makes the send wait for two flushes.
      this.lazyTimer ??= setTimeout(this.flushLazy, this.opts.lazyAckMs ?? 1);
      return;
    }
    this.startJournalSync(afterWrites);
  };

  private readonly flushLazy = (): void => {
    this.lazyTimer = undefined;
    if (!this.journalSyncing && !this.journalScheduled) this.startJournalSync();
  };

  /**
   * Checkpoint now, if anything was committed since the last one (otherwise it would free nothing): LMDB may then
   * reuse what it freed since, and the journal starts again at its beginning. Whether it checkpointed.
   */
  private reclaimSpace(): boolean {
    if (!this.journal || this.journal.written === 0 || this.journalFailed) return false;
    try {
      this.checkpoint();
      return true;
    } catch {
      return false;
    }
  }

  /** One LMDB transaction applying `group` and writing its journal record; returns the error if it rolled back. */
  private journalTxn(group: Pending[]): unknown {
    const journal = this.journal!;
    const seq = this.journalSeq + 1;
    let at = -1;
    let applied = false;
    try {
      this.env.transactionSync(() => {
        this.apply(group);
        applied = true;
        this.putJournalSeq(seq);
        at = journal.append(seq, encodeJournalGroup(group));
      });
    } catch (err) {
      if (at >= 0) {
        try {
          journal.unappend(at);
        } catch (e2) {
          // The record of a transaction that rolled back stays in the journal, whole, and replay would apply it
          // after every confirmed commit (a rejected batch would come back; nothing confirmed is lost). Write no
          // record after it: the store confirms nothing more until it is reopened.
          const e = asError(e2);
          this.journalFailed ??= new StoreWriteError(e, () => e.message);
        }
      }
      const e = asError(err ?? 'transaction failed');
      // Past the apply, a failure is the disk's (journal write, LMDB commit: ENOSPC, EIO): retry later, as without the
      // journal. So is an OS error during it (LMDB spilling dirty pages to a full disk).
      return applied || isOsError(e) ? new StoreWriteError(e, () => e.message) : e;
    }
    this.journalSeq = seq;
    this.stats.transactions++;
    this.stats.syncTransactions++;
    this.stats.batches += group.length;
    this.awaiting.push(group);
    return undefined;
  }

  /** `afterWrites`: this turn's socket writes already went out (the step ran after them). */
  private startJournalSync(afterWrites = false): void {
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    if (this.awaiting.length === 0) return this.journalIdle();
    const groups = this.awaiting;
    this.awaiting = [];
    let batches = 0;
    for (const g of groups) batches += g.length;
    this.journalSyncing = true;
    const t0 = performance.now();
    // Idle (as in startTxn): flush on this thread, no hop to the pool and back; under load, on the pool, so the
    // event loop keeps reading the next group while the disk works.
    if (this.idleNow()) {
      // The flush blocks this thread: let this turn's socket writes go out first (see kick). Groups arriving
      // meanwhile wait for the next flush.
      if (afterWrites) this.journalSyncHere(groups, batches);
      else setImmediate(() => setImmediate(() => this.journalSyncHere(groups, batches)));
    } else {
      this.journal!.syncAsync((err) => this.journalSynced(groups, batches, t0, err));
    }
  }

  private journalSyncHere(groups: Pending[][], batches: number): void {
    const t0 = performance.now();
    let error: Error | null = null;
    try {
      this.journal!.sync();
    } catch (err) {
      error = asError(err);
    }
    this.journalSynced(groups, batches, t0, error);
  }

  private journalSynced(groups: Pending[][], batches: number, t0: number, err: Error | null): void {
    this.journalSyncing = false;
    this.noteTxn(t0, batches);
    if (err) {
      // A failed fdatasync may have dropped the dirty pages (the kernel does not retry): nothing can be confirmed any more.
      this.journalFailed ??= new StoreWriteError(err, () => err.message);
      for (const g of groups) for (const p of g) p.reject(this.journalFailed);
    } else {
      for (const g of groups) for (const p of g) p.resolve();
      if (this.journal && this.journal.written >= (this.opts.checkpointBytes ?? 16 << 20)) this.requestCheckpoint();
    }
    if (this.pending.length > 0) this.journalStep();
    else this.journalIdle();
  }

  private journalIdle(): void {
    if (!this.journalBusy() && this.pending.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Apply batches in order inside the current write transaction. */
  private apply(group: Pending[]): void {
    const tx: TxnState = { queues: new Map(), refs: new Map() };
    let applied = 0;
    const pairs = group.length > 1 ? ackedInGroup(group) : undefined;
    for (const p of group) {
      if (pairs) for (const op of p.ops) this.applyOpOrElide(tx, op, pairs);
      else for (const op of p.ops) this.applyOp(tx, op);
      if (p.applied !== undefined && p.applied > applied) applied = p.applied;
    }
    if (applied > 0) {
      const v = Buffer.allocUnsafe(8);
      v.writeDoubleLE(applied, 0);
      this.meta.putSync('applied', v);
    }
    for (const [name, rec] of tx.queues) {
      if (rec === null) this.queues.removeSync(name);
      else this.queues.putSync(name, encodeQueueRecord(rec));
    }
    for (const [id, ref] of tx.refs) {
      if (ref.count <= 0) {
        if (ref.existed) {
          this.refs.removeSync(id);
          this.shared.removeSync(id);
        }
      } else {
        const c = Buffer.allocUnsafe(4);
        c.writeUInt32LE(ref.count, 0);
        this.refs.putSync(id, c);
        if (ref.message) this.shared.putSync(id, ref.message);
      }
    }
  }

  /**
   * A message enqueued and acked within one transaction (a cluster follower applies a whole window of entries at
   * once; consumers ack within it) is not written and then deleted: the enqueue only raises the queue's lastSeq, the
   * ack does nothing. Same end state: nothing at that key (an enqueue above lastSeq replaces no entry), counters
   * +0 either way, and what lies between (an update of the entry, a purge, a queue.delete) finds no entry either way.
   */
  private applyOpOrElide(tx: TxnState, op: Op, pairs: Map<string, ElidedPair>): void {
    if (op.t === 'enqueue' || op.t === 'ack') {
      const pair = pairs.get(pairKey(op.queue, op.seq));
      if (pair && (op.t === 'ack' ? pair.ack === op && pair.elided : pair.enqueue === op)) {
        if (this.injectApplyFault?.(op)) throw new Error(`injected fault applying ${op.t}`);
        if (op.t === 'ack') return;
        const rec = this.queueRecord(tx, op.queue, true)!;
        if (op.seq > rec.lastSeq) {
          rec.lastSeq = op.seq;
          pair.elided = true;
          this.elision.enqueues++;
          return;
        }
      }
    }
    this.applyOp(tx, op);
  }

  private applyOp(tx: TxnState, op: Op): void {
    if (this.injectApplyFault?.(op)) throw new Error(`injected fault applying ${op.t}`);
    switch (op.t) {
      case 'enqueue': {
        const key: Key = [op.queue, op.seq];
        const rec = this.queueRecord(tx, op.queue, true)!;
        // An entry already at this seq is replaced (the engine never does it; the counters stay right if it does).
        // No entry is above the queue's lastSeq (the highest seq ever enqueued): a new seq needs no read.
        if (op.seq <= rec.lastSeq) {
          const old = this.entries.getBinaryFast(key); // reused buffer: read it before any other get
          if (old !== undefined) this.forgetEntry(tx, rec, old);
        }
        if (op.shared !== undefined) {
          const ref = this.ref(tx, op.shared);
          // First reference (or first again after every earlier one went in this transaction): this message is stored.
          if (ref.count <= 0) ref.message = op.sharedMessage;
          ref.count++;
        }
        this.entries.putSync(key, op.value);
        if (op.shared !== undefined) rec.sharedCount++;
        rec.count++;
        rec.bytes += op.size;
        if (op.seq > rec.lastSeq) rec.lastSeq = op.seq;
        break;
      }
      case 'ack': {
        const key: Key = [op.queue, op.seq];
        const rec = this.queueRecord(tx, op.queue, false);
        const old = this.entries.getBinaryFast(key);
        if (old === undefined) break;
        this.forgetEntry(tx, rec, old);
        this.entries.removeSync(key);
        break;
      }
      case 'update': {
        const key: Key = [op.queue, op.seq];
        const old = this.entries.get(key);
        if (old === undefined) break;
        this.entries.putSync(key, withDeliveryState(old, op.deliveryCount, op.deliveryTime));
        break;
      }
      case 'mark': {
        this.queueRecord(tx, op.queue, true)!.mark = op.seq;
        break;
      }
      case 'queue.put': {
        const rec = this.queueRecord(tx, op.queue, true)!;
        rec.hasMeta = true;
        rec.meta = op.meta;
        break;
      }
      case 'purge':
        this.removeEntries(tx, op.queue);
        break;
      case 'queue.delete':
        this.removeEntries(tx, op.queue);
        tx.queues.set(op.queue, null);
        break;
      case 'kv.put':
        this.kv.putSync(op.key, op.value);
        break;
      case 'kv.delete':
        this.kv.removeSync(op.key);
        break;
    }
  }

  /** Account for an entry going away: queue counters and the shared message reference. */
  private forgetEntry(tx: TxnState, rec: QueueRecord | undefined, v: Buffer): void {
    const kind = entryKind(v);
    const size = entrySize(v);
    const id = kind === KIND_SHARED ? entrySharedId(v) : undefined;
    if (rec) {
      rec.count--;
      rec.bytes -= size;
      if (id !== undefined) rec.sharedCount--;
    }
    if (id !== undefined) this.deref(tx, id);
  }

  /** Remove all entries of a queue, releasing their shared messages, and zero its counters. */
  private removeEntries(tx: TxnState, queue: string): void {
    const rec = this.queueRecord(tx, queue, false);
    const range = { start: [queue], end: [queue, Infinity], limit: DELETE_CHUNK };
    if (rec && rec.sharedCount === 0) {
      // No shared references: delete by key, without reading (copying) the values.
      for (;;) {
        const keys = Array.from(this.entries.getKeys(range));
        for (const key of keys) this.entries.removeSync(key);
        if (keys.length < DELETE_CHUNK) break;
      }
    } else {
      for (;;) {
        const chunk = Array.from(this.entries.getRange(range));
        for (const { key, value } of chunk) {
          if (entryKind(value) === KIND_SHARED) this.deref(tx, entrySharedId(value));
          this.entries.removeSync(key);
        }
        if (chunk.length < DELETE_CHUNK) break;
      }
    }
    if (rec) {
      rec.count = 0;
      rec.bytes = 0;
      rec.sharedCount = 0;
    }
  }

  private queueRecord(tx: TxnState, queue: string, create: boolean): QueueRecord | undefined {
    let rec = tx.queues.get(queue);
    if (rec === undefined) {
      // Not touched yet in this transaction: the DB holds its current state.
      const v = this.queues.get(queue);
      if (v !== undefined) rec = decodeQueueRecord(v);
      else if (!create) return undefined;
      else rec = newQueueRecord();
      tx.queues.set(queue, rec);
    } else if (rec === null) {
      // Deleted earlier in this transaction.
      if (!create) return undefined;
      rec = newQueueRecord();
      tx.queues.set(queue, rec);
    }
    return rec;
  }

  private ref(tx: TxnState, id: string): RefState {
    let ref = tx.refs.get(id);
    if (!ref) {
      const v = this.refs.getBinaryFast(id);
      ref = v === undefined ? { count: 0, existed: false } : { count: v.readUInt32LE(0), existed: true };
      tx.refs.set(id, ref);
    }
    return ref;
  }

  private deref(tx: TxnState, id: string): void {
    this.ref(tx, id).count--;
  }
}

interface ElidedPair {
  enqueue: Op;
  ack: Op | undefined;
  /** Set when the enqueue was skipped (its seq was above lastSeq): then the ack is skipped too. */
  elided: boolean;
}

function pairKey(queue: string, seq: number): string {
  return `${seq}\u0000${queue}`;
}

/** Keys enqueued once (inline, not shared) and acked later in the same group: candidates for applyOpOrElide. */
function ackedInGroup(group: Pending[]): Map<string, ElidedPair> | undefined {
  let enqueued: Map<string, ElidedPair | null> | undefined;
  let found = false;
  for (const p of group) {
    for (const op of p.ops) {
      if (op.t === 'enqueue') {
        const k = pairKey(op.queue, op.seq);
        enqueued ??= new Map();
        // Shared messages and a second enqueue at the same key are applied as they are.
        enqueued.set(k, enqueued.has(k) || op.shared !== undefined ? null : { enqueue: op, ack: undefined, elided: false });
      } else if (op.t === 'ack' && enqueued) {
        const pair = enqueued.get(pairKey(op.queue, op.seq));
        if (pair && pair.ack === undefined) {
          pair.ack = op;
          found = true;
        }
      }
    }
  }
  if (!found) return undefined;
  const pairs = new Map<string, ElidedPair>();
  for (const [k, pair] of enqueued!) if (pair?.ack) pairs.set(k, pair);
  return pairs;
}

/**
 * The batches of a group that rolled back, one transaction each (yielded; the caller runs it, resolves what it
 * applied, and passes back its error, or undefined). A batch that fails alone is rejected — unless it is a
 * replicated one (`commitApplied`): that one is skipped deterministically, its Raft index recorded in a
 * transaction of its own (which fails only when the disk does).
 */
function* oneByOne(group: Pending[]): Generator<Pending[], void, unknown> {
  for (const p of group) {
    const err = yield [p];
    if (err === undefined) continue;
    // A disk error is no reason to skip a replicated batch (another node applies it): it fails the apply.
    if (p.applied === undefined || p.ops.length === 0 || isDiskFailure(err)) {
      p.reject(commitFailure(err));
      continue;
    }
    p.skipped = asError(err);
    const indexOnly: Pending = { ops: [], applied: p.applied, resolve: () => p.resolve(), reject: (e) => p.reject(e) };
    const err2 = yield [indexOnly];
    if (err2 !== undefined) p.reject(commitFailure(err2));
  }
}

function onlyAcks(group: Pending[]): boolean {
  for (const p of group) {
    if (p.applied !== undefined) return false;
    for (const op of p.ops) if (op.t !== 'ack') return false;
  }
  return group.length > 0;
}

/** A journal record's payload: the group's batches (their prepared ops and, for commitApplied, the Raft index). */
function encodeJournalGroup(group: Pending[]): Buffer {
  return encodeValue(group.map((p) => (p.applied === undefined ? [p.ops] : [p.ops, p.applied])));
}

function decodeJournalGroup(payload: Buffer): Pending[] {
  const batches = decodeValue(payload) as [Op[], number?][];
  return batches.map(([ops, applied]) => ({ ops, applied, resolve: () => undefined, reject: () => undefined }));
}

/** A journaled store's record of the boot its unflushed LMDB writes were made under (see open()). */
function bootMarker(dir: string): string {
  return path.join(dir, 'wharf.boot');
}

function wroteUnderThisBoot(dir: string): boolean {
  const now = bootId();
  return now !== undefined && markedBoot(bootMarker(dir)) === now;
}

/** Put the checkpoint's meta pages back at the start of the data file: LMDB then opens at the checkpointed tree. */
function restoreMetaPages(dataFile: string, metas: Buffer): void {
  let fd: number;
  try {
    fd = fs.openSync(dataFile, 'r+');
  } catch (err) {
    throw new Error(`a checkpoint exists but the data file ${dataFile} cannot be opened: ${(err as Error).message}`);
  }
  try {
    let done = 0;
    while (done < metas.length) done += fs.writeSync(fd, metas, done, metas.length - done, done);
  } finally {
    fs.closeSync(fd);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * lmdb-js 3.5 rejects, for every failed commit, one promise of its own that nothing can observe (measured: one
 * unhandled `Commit failed (see commitError for details)` per failed transaction, besides the one it hands the
 * caller), and sometimes leaves that `commitError` (the OS cause) unobserved too. Node ends the process on an
 * unhandled rejection, so a full disk would take the broker down. This listener drops exactly those two kinds and
 * rethrows anything else, which Node then treats as before: an uncaught exception.
 */
let commitRejectionFilter = false;
function filterLmdbCommitRejections(): void {
  if (commitRejectionFilter) return;
  commitRejectionFilter = true;
  process.on('unhandledRejection', (reason) => {
    const e = reason as { message?: unknown; commitError?: Promise<unknown> } | null;
    if (e && e.message === 'Commit failed (see commitError for details)' && e.commitError && typeof e.commitError.then === 'function') {
      e.commitError.then(undefined, () => undefined);
      return;
    }
    // The cause itself (lmdb-js's `commitError` promise, e.g. `Input/output error` with errno 5 when a disk fills):
    // rejected by its writer callback, unobserved when no failed caller's error exposed it before it fired. Every
    // caller of that transaction already got its own rejection (and stops: a cluster node reports `failed`).
    if (reason instanceof Error && typeof (reason as { code?: unknown }).code === 'number' && /[\\/]lmdb[\\/]write\.js:/.test(reason.stack ?? '')) return;
    throw reason;
  });
}

/**
 * A failed LMDB commit (disk full, I/O error) as the error the engine hands on: `unavailable`, retry later.
 * lmdb-js attaches the cause as a second, already rejected promise (`commitError`); unobserved, that promise's
 * rejection would end the process, so it is observed here.
 */
function commitFailure(err: unknown): Error {
  const e = asError(err) as Error & { commitError?: Promise<unknown> };
  const inner = e.commitError;
  if (!inner || typeof inner.then !== 'function') return isOsError(e) ? new StoreWriteError(e, () => e.message) : e;
  let cause = e.message;
  inner.then(undefined, (c: unknown) => {
    cause = c instanceof Error ? c.message : String(c);
  });
  return new StoreWriteError(e, () => cause);
}

/** An OS error (errno: EIO, ENOSPC) from LMDB or a file write — the disk's, not the batch's. LMDB's own codes are negative. */
function isOsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code > 0;
}

/** A failure of the store's disk rather than of a batch: a StoreWriteError, an OS error, an LMDB commit that failed. */
function isDiskFailure(err: unknown): boolean {
  return err instanceof StoreWriteError || isOsError(err) || typeof (err as { commitError?: { then?: unknown } } | null)?.commitError?.then === 'function';
}

/** The store could not commit; `message` names the OS cause once lmdb-js reported it (ENOSPC: "No space left on device"). */
export class StoreWriteError extends BrokerError {
  constructor(readonly original: Error, private readonly causeText: () => string) {
    super('unavailable', 'the broker cannot store messages right now (its disk is full or failing); retry later');
    this.name = 'StoreWriteError';
  }

  get detail(): string {
    return this.causeText();
  }
}

function checkQueue(c: { queue?: unknown }): string {
  if (typeof c.queue !== 'string' || c.queue === '') throw new TypeError(`Store command ${JSON.stringify((c as { t?: unknown }).t)}: queue must be a non-empty string`);
  return c.queue;
}

function checkSeq(c: { t: string; seq?: unknown }): number {
  if (typeof c.seq !== 'number' || !Number.isFinite(c.seq)) throw new TypeError(`Store command ${c.t}: seq must be a finite number`);
  return c.seq;
}

/** Throw the error `commit(batch)` would reject with for a malformed batch (a replicated store checks before proposing). */
export function validateBatch(batch: Command[]): void {
  prepare(batch);
}

/** Validate and encode a batch for `commitPrepared`; throws what `commit(batch)` would reject with. */
export function prepareBatch(batch: Command[]): PreparedOp[] {
  return prepare(batch);
}

/** Validate and encode a batch (outside the write transaction). Throws on a bad command. */
function prepare(batch: Command[]): Op[] {
  if (!Array.isArray(batch)) throw new TypeError('Store.commit: batch must be an array of commands');
  const ops: Op[] = new Array(batch.length);
  // Fan-out: the same message object enqueued under the same shared id in many queues is encoded once.
  let sharedEncoded: Map<string, { m: object; enc: Buffer }> | undefined;
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!;
    switch (c.t) {
      case 'enqueue': {
        const queue = checkQueue(c);
        const seq = checkSeq(c);
        const m = c.message;
        if (!m || typeof m !== 'object') throw new TypeError(`Store command enqueue ${queue}#${seq}: message is missing`);
        const size = messageSize(m);
        const dc = c.deliveryCount ?? 0;
        if (c.shared !== undefined) {
          if (typeof c.shared !== 'string' || c.shared === '') throw new TypeError(`Store command enqueue ${queue}#${seq}: shared must be a non-empty string`);
          sharedEncoded ??= new Map();
          let cached = sharedEncoded.get(c.shared);
          if (cached?.m !== m) sharedEncoded.set(c.shared, (cached = { m, enc: encodeMessage(m) }));
          const enc = cached.enc;
          ops[i] = { t: 'enqueue', queue, seq, size, value: encodeSharedEntry(c.shared, dc, m.deliveryTime, size), shared: c.shared, sharedMessage: enc };
        } else {
          ops[i] = { t: 'enqueue', queue, seq, size, value: encodeInlineEntry(m, dc, size) };
        }
        break;
      }
      case 'ack':
        ops[i] = { t: 'ack', queue: checkQueue(c), seq: checkSeq(c) };
        break;
      case 'update':
        if (typeof c.deliveryCount !== 'number') throw new TypeError('Store command update: deliveryCount must be a number');
        ops[i] = { t: 'update', queue: checkQueue(c), seq: checkSeq(c), deliveryCount: c.deliveryCount, deliveryTime: c.deliveryTime };
        break;
      case 'mark':
        ops[i] = { t: 'mark', queue: checkQueue(c), seq: checkSeq(c) };
        break;
      case 'queue.put':
        ops[i] = { t: 'queue.put', queue: checkQueue(c), meta: encodeValue(c.meta ?? {}) };
        break;
      case 'queue.delete':
        ops[i] = { t: 'queue.delete', queue: checkQueue(c) };
        break;
      case 'purge':
        ops[i] = { t: 'purge', queue: checkQueue(c) };
        break;
      case 'kv.put':
        if (typeof c.key !== 'string' || c.key === '') throw new TypeError('Store command kv.put: key must be a non-empty string');
        ops[i] = { t: 'kv.put', key: c.key, value: encodeValue(c.value) };
        break;
      case 'kv.delete':
        if (typeof c.key !== 'string' || c.key === '') throw new TypeError('Store command kv.delete: key must be a non-empty string');
        ops[i] = { t: 'kv.delete', key: c.key };
        break;
      default:
        throw new TypeError(`Store.commit: unknown command ${JSON.stringify((c as { t?: unknown }).t)}`);
    }
  }
  return ops;
}
