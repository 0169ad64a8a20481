/**
 * A journaled LmdbStore (storage/lmdb/lmdb-store.ts, "Journal") on a full disk: a 32 MiB tmpfs mounted by the
 * test (as root, like full-disk.test.ts), filled by 64 KiB enqueues until a commit fails. Between checkpoints
 * LMDB cannot reuse the pages it freed and the journal cannot wrap, so without a checkpoint on failure every
 * later commit, even an ack that would free space, failed too. Here: the failed commit rejects with the store's
 * `unavailable` error and leaves nothing behind (not visible, not replayed); acks then go through and the space
 * they free takes new messages; a kill -9 copy of the files recovers exactly what was confirmed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../../src/core/store.js';
import { LmdbStore, StoreWriteError } from '../../storage/lmdb/lmdb-store.js';
import { plainMessage } from '../storage/store-suite.js';

describe('a full disk under a journaled store', function () {
  this.timeout(120_000);
  let mount: string;
  const stores: LmdbStore[] = [];
  const copies: string[] = [];

  before(() => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-full-journal-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mount]);
    } catch (err) {
      throw new Error(`this test mounts a 32 MiB tmpfs and needs root (CI runs as root): ${(err as Error).message}`);
    }
  });
  after(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    try {
      execFileSync('umount', [mount]);
    } catch {
      /* not mounted */
    }
    fs.rmSync(mount, { recursive: true, force: true });
    for (const d of copies) fs.rmSync(d, { recursive: true, force: true });
  });

  it('a failed commit rejects and leaves nothing; acks still commit and their space is reused; recovery has every confirmed commit', async () => {
    const dir = path.join(mount, 'store');
    // No checkpoint by size or time: only the one a failed commit makes.
    const s = new LmdbStore({ path: dir, journal: true, checkpointBytes: 1 << 30, checkpointMs: 3_600_000 });
    stores.push(s);
    await s.open();
    const body = Buffer.alloc(64 * 1024, 'f');
    const enqueue = (seq: number): Command[] => [{ t: 'enqueue', queue: 'q', seq, message: plainMessage(seq, body) }];

    let seq = 0;
    let failure: unknown;
    const confirmed: number[] = [];
    while (failure === undefined && seq < 2000) {
      seq++;
      try {
        await s.commit(enqueue(seq));
        confirmed.push(seq);
      } catch (err) {
        failure = err;
      }
    }
    assert.ok(failure instanceof StoreWriteError, `the disk filled up with a store error: ${String(failure)}`);
    assert.equal(failure.code, 'unavailable');
    const failedSeq = seq;
    const seqsNow = () => s.readSeqs('q', 0, 10_000);
    assert.deepEqual(seqsNow(), confirmed, 'the failed enqueue is not visible');
    assert.ok(s.journalCounters()!.checkpoints >= 2, 'the failure checkpointed (besides the one at open)');

    // Acks still commit (each needs a few pages and a journal record), and free room for new messages.
    const acked = confirmed.splice(0, Math.ceil(confirmed.length / 2));
    for (const q of acked) await s.commit([{ t: 'ack', queue: 'q', seq: q }]);
    let refilled = 0;
    for (let i = 0; i < 5; i++) {
      seq++;
      await s.commit(enqueue(seq));
      confirmed.push(seq);
      refilled++;
    }
    assert.equal(refilled, 5);
    assert.deepEqual(seqsNow(), confirmed);

    // kill -9 now: the files as they are (the page cache holds every applied transaction); the copy is opened
    // from its checkpoint and journal.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-full-journal-copy-'));
    copies.push(copy);
    for (const f of ['wharf.mdb', 'wharf.journal', 'wharf.checkpoint']) fs.copyFileSync(path.join(dir, f), path.join(copy, f));
    const r = new LmdbStore({ path: copy, verifyRecovery: true });
    stores.push(r);
    const rec = await r.open();
    assert.deepEqual(r.readSeqs('q', 0, 10_000), confirmed, 'recovered exactly the confirmed enqueues');
    assert.ok(!r.readSeqs('q', 0, 10_000).includes(failedSeq));
    assert.equal(rec.queues.find((q) => q.name === 'q')?.count, confirmed.length);
  });
});
