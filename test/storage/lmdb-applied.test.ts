/** LmdbStore's extension point for replicated apply: commitApplied(batch, index) / appliedIndex() / recovery(). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from '../../src/core/store.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
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
});
