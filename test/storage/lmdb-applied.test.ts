/** LmdbStore's extension point for replicated apply: commitApplied(batch, index) / appliedIndex() / recovery(). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../../src/core/store.js';
import { LmdbStore, prepareBatch } from '../../storage/lmdb/lmdb-store.js';
import { plainMessage } from './store-suite.js';

const enq = (queue: string, seq: number): Command => ({ t: 'enqueue', queue, seq, message: plainMessage(seq) });

describe('LmdbStore replicated apply', function () {
  this.timeout(30_000);
  let dirs: string[] = [];
  let stores: LmdbStore[] = [];
  const open = async (dir?: string, opts: { noSync?: boolean; journal?: boolean } = {}) => {
    const d = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-applied-'));
    if (!dir) dirs.push(d);
    const s = new LmdbStore({ path: d, verifyRecovery: true, ...opts });
    stores.push(s);
    await s.open();
    return { s, d };
  };
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    stores = [];
    dirs = [];
  });

  it('records the applied index with the batch, grouped, and keeps it across a reopen', async () => {
    const { s, d } = await open();
    assert.equal(s.appliedIndex(), 0);
    const rs = await Promise.all([s.commitApplied([enq('q', 1)], 1), s.commitApplied([], 2), s.commitApplied([enq('q', 2)], 3)]);
    assert.deepEqual(rs, [undefined, undefined, undefined]);
    assert.equal(s.stats.transactions, 1, 'one transaction for the group');
    assert.equal(s.appliedIndex(), 3);
    assert.equal(s.recovery().queues[0]!.count, 2);
    await s.close();
    const { s: s2 } = await open(d);
    assert.equal(s2.appliedIndex(), 3);
    assert.deepEqual(s2.readSeqs('q', 0, 10), [1, 2]);
  });

  // The writer-thread group commit, the main-thread one of a noSync store (a cluster node's), the journal's.
  for (const [mode, opts] of [
    ['fsync', {}],
    ['noSync', { noSync: true }],
    ['journal', { journal: true }],
  ] as const) {
    it(`skips a batch that cannot be applied, deterministically: nothing of it written, its index recorded (${mode})`, async () => {
      const { s } = await open(undefined, opts);
      const bad = s.commitApplied([enq('q', 1), { t: 'enqueue', queue: '', seq: 2, message: plainMessage(2) }], 1);
      s.injectApplyFault = (op) => op.t === 'kv.put';
      const faulty = s.commitApplied([enq('q', 3), { t: 'kv.put', key: 'k', value: 1 }], 2);
      const good = s.commitApplied([enq('q', 4)], 3);
      const [r1, r2, r3] = await Promise.all([bad, faulty, good]);
      assert.ok(r1 instanceof TypeError, 'invalid batch reported');
      assert.match(String(r2), /injected fault/);
      assert.equal(r3, undefined);
      assert.equal(s.appliedIndex(), 3);
      assert.deepEqual(s.readSeqs('q', 0, 10), [4]);
      assert.equal(s.recovery().kv.size, 0);
    });
  }

  it('the batches of one entry (commitPrepared, same index) apply together; a failing one is skipped alone, the index recorded once', async () => {
    const { s, d } = await open();
    await s.commitPrepared(prepareBatch([enq('q', 1)]), 1);
    s.injectApplyFault = (op) => op.t === 'kv.put';
    // Entry 2 carries three batches; the middle one cannot be applied. Entry 3 follows in the same group.
    const parts = [
      s.commitPrepared(prepareBatch([enq('q', 2)]), 2),
      s.commitPrepared(prepareBatch([enq('q', 3), { t: 'kv.put', key: 'k', value: 1 }]), 2),
      s.commitPrepared(prepareBatch([{ t: 'ack', queue: 'q', seq: 1 }]), 2),
      s.commitPrepared(prepareBatch([enq('q', 4)]), 3),
    ];
    const rs = await Promise.all(parts);
    assert.equal(rs[0], undefined);
    assert.match(String(rs[1]), /injected fault/);
    assert.equal(rs[2], undefined);
    assert.equal(rs[3], undefined);
    s.injectApplyFault = undefined;
    assert.equal(s.appliedIndex(), 3);
    assert.deepEqual(s.readSeqs('q', 0, 10), [2, 4]);
    assert.equal(s.recovery().kv.size, 0);
    await s.close();
    const { s: s2 } = await open(d);
    assert.equal(s2.appliedIndex(), 3);
    assert.deepEqual(s2.readSeqs('q', 0, 10), [2, 4]);
  });

  it('a message enqueued and acked in one transaction is never written, with the same end state as writing it', async () => {
    const { s, d } = await open();
    await s.commitApplied([enq('q', 1), enq('q', 2), { t: 'queue.put', queue: 'p', meta: { k: 1 } }], 1);
    const before = s.stats.transactions;
    // One group: 3 enqueued then acked (elided); 4 enqueued, updated, acked; 2 (already stored) re-enqueued and acked
    // (a replace: must be deleted); 5 enqueued, the queue purged, 5 acked; 6 enqueued and kept; p: enqueue, delete, ack.
    const rs = await Promise.all([
      s.commitApplied([enq('q', 3), enq('q', 4)], 2),
      s.commitApplied([{ t: 'update', queue: 'q', seq: 4, deliveryCount: 3 }, { t: 'ack', queue: 'q', seq: 3 }], 3),
      s.commitApplied([{ t: 'ack', queue: 'q', seq: 4 }, enq('q', 2)], 4),
      s.commitApplied([{ t: 'ack', queue: 'q', seq: 2 }, enq('r', 5), { t: 'purge', queue: 'r' }, { t: 'ack', queue: 'r', seq: 5 }, enq('q', 6)], 5),
      s.commitApplied([enq('p', 7), { t: 'queue.delete', queue: 'p' }, { t: 'ack', queue: 'p', seq: 7 }], 6),
    ]);
    assert.deepEqual(rs, [undefined, undefined, undefined, undefined, undefined]);
    assert.equal(s.stats.transactions - before, 1, 'one group');
    assert.equal(s.elision.enqueues, 4, 'q#3, q#4, r#5, p#7 (q#2 replaced a stored entry: written and deleted)');
    const check = (st: LmdbStore) => {
      assert.deepEqual(st.readSeqs('q', 0, 10), [1, 6]);
      assert.deepEqual(st.readSeqs('r', 0, 10), []);
      const qs = new Map(st.recovery().queues.map((q) => [q.name, q]));
      assert.equal(qs.get('q')!.count, 2);
      assert.equal(qs.get('q')!.lastSeq, 6);
      assert.equal(qs.get('r')!.count, 0);
      assert.equal(qs.get('r')!.lastSeq, 5);
      assert.equal(qs.has('p'), false);
      assert.equal(st.appliedIndex(), 6);
    };
    check(s);
    await s.close();
    const { s: s2 } = await open(d); // verifyRecovery recounts every queue from its entries
    check(s2);
  });
});
