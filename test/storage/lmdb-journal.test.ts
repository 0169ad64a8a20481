/**
 * The LmdbStore journal (storage/lmdb/journal.ts, "Journal" in lmdb-store.ts), on real LMDB in temp dirs.
 *
 * The crash states are built by copying a live store's files into a new directory (lmdb-js keeps one
 * environment per path and process, so the copy opens as a store of its own):
 * - "kill -9": the data file as the page cache holds it (every applied transaction, newest meta pages);
 * - "power loss": the data file as it was at the last checkpoint (none of LMDB's later writes reached the
 *   disk), with the journal and the checkpoint file as they are now (they were flushed);
 * - "meta first": the power-loss data file with the newest meta pages on it (the meta pages reached the disk,
 *   the pages they point to did not) — what makes a noSync LMDB file unusable by itself.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Command } from '../../src/core/store.js';
import { Journal, readCheckpoint, RECORD_HEADER } from '../../storage/lmdb/journal.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { plainMessage } from './store-suite.js';

describe('LmdbStore journal', function () {
  this.timeout(60_000);
  let dirs: string[] = [];
  let stores: LmdbStore[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-journal-'));
    dirs.push(d);
    return d;
  };
  const openStore = async (dir: string, opts: Partial<ConstructorParameters<typeof LmdbStore>[0]> = {}) => {
    const s = new LmdbStore({ path: dir, journal: true, verifyRecovery: true, ...opts });
    stores.push(s);
    const rec = await s.open();
    return { s, rec };
  };
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    stores = [];
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  const body = Buffer.alloc(300, 'j');
  /** Batch i: enqueue q#i, and from i = 3 on ack q#(i-2) and rewrite a kv (so pages are freed and reused). */
  const batch = (i: number): Command[] => {
    const b: Command[] = [
      { t: 'enqueue', queue: 'q', seq: i, message: plainMessage(i, body) },
      { t: 'kv.put', key: 'last', value: i },
    ];
    if (i >= 3) b.push({ t: 'ack', queue: 'q', seq: i - 2 });
    return b;
  };
  /** What batches 1..n leave: q holds n-1 and n (or 1 when n = 1), kv last = n. */
  const assertState = (s: LmdbStore, rec: Awaited<ReturnType<LmdbStore['open']>>, n: number) => {
    assert.equal(rec.kv.get('last'), n);
    const q = rec.queues.find((x) => x.name === 'q')!;
    assert.equal(q.lastSeq, n);
    const seqs = s.readEntries('q', 0, 1000).map((e) => e.seq);
    assert.deepEqual(seqs, n === 1 ? [1] : [n - 1, n]);
    assert.equal(q.count, seqs.length);
  };
  const copyState = (from: string, dataFile: string | Buffer): string => {
    const to = tempDir();
    fs.writeFileSync(path.join(to, 'wharf.mdb'), typeof dataFile === 'string' ? fs.readFileSync(dataFile) : dataFile);
    for (const f of ['wharf.journal', 'wharf.checkpoint']) fs.copyFileSync(path.join(from, f), path.join(to, f));
    return to;
  };
  const metaBytes = 8192; // two 4 KiB meta pages (the checkpoint file's payload length says so too)

  it('flushes the journal once per sequential commit; concurrent commits share flushes', async () => {
    const { s } = await openStore(tempDir());
    const before = s.journalCounters()!;
    const N = 50;
    for (let i = 1; i <= N; i++) await s.commit(batch(i));
    const after = s.journalCounters()!;
    assert.equal(after.syncs - before.syncs, N, 'one journal fdatasync per sequential commit');
    assert.equal(after.records - before.records, N);
    // Concurrent commits share a record and a flush.
    const ps: Promise<void>[] = [];
    for (let i = N + 1; i <= N + 100; i++) ps.push(s.commit(batch(i)));
    await Promise.all(ps);
    const end = s.journalCounters()!;
    assert.ok(end.syncs - after.syncs < 100, `100 concurrent commits took ${end.syncs - after.syncs} flushes`);
  });

  for (const state of ['kill -9', 'power loss', 'meta first'] as const) {
    it(`recovers every resolved commit from the journal (${state})`, async () => {
      const dir = tempDir();
      const { s } = await openStore(dir); // open() checkpoints
      const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
      const N = 400;
      for (let i = 1; i <= 100; i++) await s.commit(batch(i));
      const ps: Promise<void>[] = [];
      for (let i = 101; i <= N; i++) ps.push(s.commit(batch(i)));
      await Promise.all(ps);
      assert.equal(s.journalCounters()!.checkpoints, 1, 'no checkpoint since open: the journal holds every commit');
      const now = fs.readFileSync(path.join(dir, 'wharf.mdb'));
      let data: Buffer;
      if (state === 'kill -9') data = now;
      else if (state === 'power loss') data = atCheckpoint;
      else {
        data = Buffer.from(atCheckpoint);
        now.copy(data, 0, 0, metaBytes);
      }
      const copy = copyState(dir, data);
      const { s: r, rec } = await openStore(copy);
      assert.ok(r.journalCounters()!.replayed > 0);
      assertState(r, rec, N);
      // It goes on from there, and a clean close leaves nothing to replay.
      await r.commit(batch(N + 1));
      await r.close();
      const { s: r2, rec: rec2 } = await openStore(copy);
      assert.equal(r2.journalCounters()!.replayed, 0);
      assertState(r2, rec2, N + 1);
    });
  }

  it('stops replay at a torn or corrupt last record and keeps everything before it', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    for (let i = 1; i <= 20; i++) await s.commit(batch(i));
    for (const damage of ['torn', 'bit flip'] as const) {
      const copy = copyState(dir, atCheckpoint);
      const jfile = path.join(copy, 'wharf.journal');
      const j = new Journal(copy);
      const recs = j.readRecords();
      j.close();
      assert.equal(recs.length, 20);
      let last = 0;
      for (const r of recs.slice(0, -1)) last += RECORD_HEADER + r.payload.length;
      const lastLen = RECORD_HEADER + recs.at(-1)!.payload.length;
      const buf = fs.readFileSync(jfile);
      if (damage === 'torn') buf.fill(0, last + Math.floor(lastLen / 2), last + lastLen);
      else buf[last + lastLen - 3]! ^= 0x10;
      fs.writeFileSync(jfile, buf);
      const { s: r, rec } = await openStore(copy);
      assert.equal(r.journalCounters()!.replayed, 19, damage);
      assertState(r, rec, 19);
      await r.close();
    }
  });

  it('checkpoints by size, wraps the journal and recovers after many checkpoints', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir, { checkpointBytes: 16 << 10 });
    const N = 300;
    for (let i = 1; i <= N; i++) await s.commit(batch(i));
    const c = s.journalCounters()!;
    assert.ok(c.checkpoints > 5, `checkpoints: ${c.checkpoints}`);
    assert.equal(c.growSyncs, 1, 'the journal file was allocated once and reused after each checkpoint');
    // Killed now: the data file as the page cache holds it, restored to the last checkpoint, and the journal since.
    const killed = copyState(dir, path.join(dir, 'wharf.mdb'));
    const { s: r, rec } = await openStore(killed);
    assertState(r, rec, N);
    // Power loss right after the last checkpoint would have been no different: the checkpointed tree is whole
    // in the current file (the pinned snapshot kept LMDB from reusing its pages).
    await s.commit(batch(N + 1));
    const { s: r2, rec: rec2 } = await openStore(copyState(dir, path.join(dir, 'wharf.mdb')));
    assertState(r2, rec2, N + 1);
  });

  it('a checkpoint slot torn while being written is ignored (the other one holds the newest); with both damaged the store refuses to open', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir, { checkpointBytes: 8 << 10 });
    for (let i = 1; i <= 60; i++) await s.commit(batch(i));
    assert.ok(s.journalCounters()!.checkpoints > 2);
    // Killed while writing the next checkpoint: its slot (the older one) half overwritten.
    const copy = copyState(dir, path.join(dir, 'wharf.mdb'));
    const cpFile = path.join(copy, 'wharf.checkpoint');
    const newest = readCheckpoint(copy)!;
    const buf = fs.readFileSync(cpFile);
    const slotSize = buf.readUInt32LE(4);
    const nextSlot = 4096 + ((newest.counter + 1) % 2) * slotSize;
    buf.fill(0xa5, nextSlot, nextSlot + slotSize / 2);
    fs.writeFileSync(cpFile, buf);
    assert.equal(readCheckpoint(copy)!.counter, newest.counter);
    const { rec } = await openStore(copy);
    const r = stores.at(-1)!;
    assertState(r, rec, 60);
    // Both slots damaged: refuse to open rather than guess.
    await r.close();
    const bad = copyState(dir, path.join(dir, 'wharf.mdb'));
    const b2 = fs.readFileSync(path.join(bad, 'wharf.checkpoint'));
    b2.fill(0xa5, 4096);
    fs.writeFileSync(path.join(bad, 'wharf.checkpoint'), b2);
    await assert.rejects(openStore(bad), /damaged/);
  });

  it('opens a store whose checkpoint file has the first format (one copy, replaced through a temp file)', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    const metas = readCheckpoint(dir)!.metas;
    for (let i = 1; i <= 5; i++) await s.commit(batch(i));
    const copy = copyState(dir, atCheckpoint);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(0x31504357, 0); // "WCP1"
    head.writeUInt32LE(metas.length, 4);
    head.writeUInt32LE(zlib.crc32(metas), 8);
    fs.writeFileSync(path.join(copy, 'wharf.checkpoint'), Buffer.concat([head, metas]));
    const { s: r, rec } = await openStore(copy);
    assert.equal(r.journalCounters()!.replayed, 5);
    assertState(r, rec, 5);
    await r.commit(batch(6));
    await r.close();
    const { rec: rec2 } = await openStore(copy);
    assertState(stores.at(-1)!, rec2, 6);
  });

  it('a batch that fails to apply is rejected, not journaled, and the others of its group are', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    s.injectApplyFault = (op) => op.t === 'kv.put' && (op as { key?: string }).key === 'bad';
    const ok1 = s.commit([{ t: 'kv.put', key: 'a', value: 1 }]);
    const bad = assert.rejects(s.commit([{ t: 'kv.put', key: 'c', value: 3 }, { t: 'kv.put', key: 'bad', value: 0 }]), /injected fault/);
    const ok2 = s.commit([{ t: 'kv.put', key: 'b', value: 2 }]);
    await ok1;
    await ok2;
    await bad;
    const { rec } = await openStore(copyState(dir, atCheckpoint));
    assert.equal(rec.kv.get('a'), 1);
    assert.equal(rec.kv.get('b'), 2);
    assert.equal(rec.kv.has('c'), false);
    assert.equal(rec.kv.has('bad'), false);
  });

  it('commitApplied records the Raft index in the journal too', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    for (let i = 1; i <= 10; i++) await s.commitApplied(batch(i), 100 + i);
    const { s: r, rec } = await openStore(copyState(dir, atCheckpoint));
    assert.equal(r.appliedIndex(), 110);
    assertState(r, rec, 10);
  });

  it('a store written with the journal opens journaled when the option is not given', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    for (let i = 1; i <= 5; i++) await s.commit(batch(i));
    const { s: r, rec } = await openStore(copyState(dir, atCheckpoint), { journal: undefined });
    assert.equal(r.journalCounters()!.replayed, 5);
    assertState(r, rec, 5);
  });

  it('journal: false on a journaled store (the way back): replays, then goes on without a journal, durable by itself', async () => {
    const dir = tempDir();
    const { s } = await openStore(dir);
    const atCheckpoint = fs.readFileSync(path.join(dir, 'wharf.mdb'));
    for (let i = 1; i <= 5; i++) await s.commit(batch(i));
    const copy = copyState(dir, atCheckpoint); // power loss: only the journal has batches 1..5
    const { s: r, rec } = await openStore(copy, { journal: false });
    assert.equal(r.journalCounters(), undefined);
    assertState(r, rec, 5);
    assert.ok(!fs.existsSync(path.join(copy, 'wharf.checkpoint')) && !fs.existsSync(path.join(copy, 'wharf.journal')));
    await r.commit(batch(6));
    // kill -9: the data file alone has everything (LMDB's own fsyncs again).
    const killed = tempDir();
    fs.copyFileSync(path.join(copy, 'wharf.mdb'), path.join(killed, 'wharf.mdb'));
    const { s: k, rec: krec } = await openStore(killed, { journal: false });
    assertState(k, krec, 6);
    // And forth again: journaled from there on.
    await k.close();
    const { s: j, rec: jrec } = await openStore(killed, { journal: true });
    assertState(j, jrec, 6);
    await j.commit(batch(7));
    assert.equal(j.journalCounters()!.replayed, 0);
  });
});
