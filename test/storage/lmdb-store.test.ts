import { repoRoot } from '../helpers/paths.js';
import { killAfterOks } from '../helpers/crash-child.js';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMessage, type Message } from '../../src/core/message.js';
import type { Command } from '../../src/core/store.js';
import { decodeMessage, encodeMessage, decodeValue, encodeValue } from '../../storage/lmdb/codec.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { assertSameMessage, fullMessage, plainMessage, storeSuite } from './store-suite.js';

storeSuite('LmdbStore', (dir) => new LmdbStore({ path: dir, verifyRecovery: true }));
storeSuite('LmdbStore with journal', (dir) => new LmdbStore({ path: dir, verifyRecovery: true, journal: true }));

describe('LmdbStore specifics', function () {
  this.timeout(60_000);
  let dirs: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-lmdb-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs) {
      try {
        fs.chmodSync(d, 0o700);
      } catch {
        /* already gone */
      }
      fs.rmSync(d, { recursive: true, force: true });
    }
    dirs = [];
  });

  describe('codec', () => {
    it('stores the body raw after [u32 header length][msgpack header]', () => {
      const m = fullMessage(1, 100);
      const enc = encodeMessage(m);
      const hlen = enc.readUInt32LE(0);
      assert.equal(enc.length, 4 + hlen + 100);
      assert.ok(enc.subarray(4 + hlen).equals(m.body));
      assertSameMessage(decodeMessage(enc), m);
    });

    it('decodes to the createMessage shape: optional fields undefined, body a Buffer', () => {
      const m = createMessage({ messageId: 'x', body: Buffer.from('b'), timestamp: 5 });
      const d = decodeMessage(encodeMessage(m));
      assert.deepStrictEqual(d, m);
      assert.ok(Buffer.isBuffer(d.body));
    });

    it('round-trips property values by type', () => {
      const props = { s: 'x', n: 1.0, f: 0.1, i: -7, big: 2 ** 53 + 2, t: true, nul: null, bi: 1n, bi64: 2n ** 64n - 1n, bihuge: -(2n ** 200n), buf: Buffer.from([9]) };
      const d = decodeMessage(encodeMessage(createMessage({ messageId: 'p', properties: props, timestamp: 1 })));
      assert.deepStrictEqual(d.properties, props);
      assert.equal(typeof d.properties['n'], 'number');
      assert.equal(typeof d.properties['bi'], 'bigint');
    });

    it('round-trips message fields it does not know (added to Message later)', () => {
      const m = { ...createMessage({ messageId: 'x', timestamp: 5 }), futureField: { a: [1n, Buffer.from('q')] }, futureFlag: false } as Message;
      assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
    });

    it('round-trips kv values', () => {
      for (const v of [null, true, 0, -1.5, 'str', [1, [2]], { a: { b: [null, false] } }, Buffer.from('z'), 12n]) {
        assert.deepStrictEqual(decodeValue(encodeValue(v)), v);
      }
    });
  });

  describe('opening', () => {
    it('creates a missing directory', async () => {
      const dir = path.join(tempDir(), 'a', 'b');
      const s = new LmdbStore({ path: dir });
      await s.open();
      assert.ok(fs.statSync(dir).isDirectory());
      await s.close();
    });

    it('rejects a path that is a file, naming it', async () => {
      const file = path.join(tempDir(), 'file');
      fs.writeFileSync(file, 'x');
      await assert.rejects(new LmdbStore({ path: file }).open(), (e: unknown) => e instanceof Error && e.message.includes(file));
    });

    it('rejects a path below a file, naming it', async () => {
      const file = path.join(tempDir(), 'file');
      fs.writeFileSync(file, 'x');
      const p = path.join(file, 'sub');
      await assert.rejects(new LmdbStore({ path: p }).open(), (e: unknown) => e instanceof Error && e.message.includes(p));
    });

    it('rejects a read-only directory, naming it', async function () {
      if (process.getuid?.() === 0) {
        // root writes anywhere on a writable mount: use a read-only filesystem instead, if there is one.
        const ro = '/proc/wharf-store-test';
        await assert.rejects(new LmdbStore({ path: ro }).open(), (e: unknown) => e instanceof Error && e.message.includes(ro));
        return;
      }
      const dir = tempDir();
      fs.chmodSync(dir, 0o500);
      await assert.rejects(new LmdbStore({ path: dir }).open(), (e: unknown) => e instanceof Error && e.message.includes(dir));
    });

    it('rejects opening twice and using a store before open', async () => {
      const s = new LmdbStore({ path: tempDir() });
      assert.throws(() => s.readEntries('q', 0, 1), /not open|new/);
      await assert.rejects(s.commit([]), /not open/);
      await s.open();
      await assert.rejects(s.open(), Error);
      await s.close();
    });
  });

  describe('group commit', () => {
    it('puts all commits of one event turn into one LMDB transaction', async () => {
      const s = new LmdbStore({ path: tempDir() });
      await s.open();
      await s.commit([{ t: 'kv.put', key: 'warm', value: 1 }]);
      const before = s.stats.transactions;
      const ps: Promise<void>[] = [];
      for (let i = 1; i <= 1000; i++) ps.push(s.commit([{ t: 'enqueue', queue: 'q', seq: i, message: plainMessage(i) }]));
      await Promise.all(ps);
      assert.equal(s.stats.transactions - before, 1);
      await s.close();
    });

    it('an idle store commits a lone batch on the main thread at the end of the tick; idleSyncCommit:false never does', async () => {
      const s = new LmdbStore({ path: tempDir() });
      await s.open();
      // a fresh store is idle: both commits of this tick share one main-thread transaction
      const a = s.commit([{ t: 'enqueue', queue: 'q', seq: 1, message: plainMessage(1) }]);
      const b = s.commit([{ t: 'enqueue', queue: 'q', seq: 2, message: plainMessage(2) }]);
      await Promise.all([a, b]);
      assert.deepEqual({ ...s.stats }, { transactions: 1, batches: 2, syncTransactions: 1 });
      assert.equal(s.readEntries('q', 0, 10).length, 2);
      await s.close();
      const w = new LmdbStore({ path: tempDir(), idleSyncCommit: false });
      await w.open();
      await w.commit([{ t: 'enqueue', queue: 'q', seq: 1, message: plainMessage(1) }]);
      assert.equal(w.stats.syncTransactions, 0);
      assert.equal(w.stats.transactions, 1);
      await w.close();
    });

    it('commits arriving while a transaction is written form the next one', async () => {
      const s = new LmdbStore({ path: tempDir() });
      await s.open();
      const before = s.stats.transactions;
      const first = s.commit([{ t: 'enqueue', queue: 'q', seq: 1, message: plainMessage(1) }]);
      // Next event turns: the first transaction has started; these must wait and then share one.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      const later: Promise<void>[] = [];
      for (let i = 2; i <= 50; i++) later.push(s.commit([{ t: 'enqueue', queue: 'q', seq: i, message: plainMessage(i) }]));
      await first;
      await Promise.all(later);
      assert.ok(s.stats.transactions - before <= 3, `transactions: ${s.stats.transactions - before}`);
      assert.equal(s.readEntries('q', 0, 100).length, 50);
      await s.close();
    });

    it('a failing batch does not take the other batches of its transaction down', async () => {
      const s = new LmdbStore({ path: tempDir() });
      await s.open();
      // A poisoned command passes validation but throws while applied (inside the write transaction).
      const ok1 = s.commit([{ t: 'enqueue', queue: 'q', seq: 1, message: plainMessage(1) }]);
      const poisoned: Command = { t: 'mark', queue: 'q', seq: 1 };
      const bad = s.commit([{ t: 'enqueue', queue: 'q', seq: 2, message: plainMessage(2) }, poisoned]);
      const badRejects = assert.rejects(bad, /injected/);
      const ok2 = s.commit([{ t: 'enqueue', queue: 'q', seq: 3, message: plainMessage(3) }]);
      s.injectApplyFault = (op) => op.t === 'mark';
      await ok1;
      await badRejects;
      await ok2;
      s.injectApplyFault = undefined;
      assert.deepEqual(s.readEntries('q', 0, 10).map((e) => e.seq), [1, 3]);
      await s.close();
      const s2 = new LmdbStore({ path: s.path });
      const rec = await s2.open();
      assert.equal(rec.queues[0]!.mark, 0);
      assert.equal(rec.queues[0]!.lastSeq, 3);
      await s2.close();
    });

    it('commits queued while a failed group is being committed wait for its batches to be retried (pipelined writer transactions)', async () => {
      const s = new LmdbStore({ path: tempDir(), idleSyncCommit: false });
      await s.open();
      // Each batch enqueues one message and writes its number under one kv key: were a later batch written before an
      // earlier one (the failed group retried after the next group was applied), the key would not end at the last.
      const batch = (seq: number): Command[] => [
        { t: 'enqueue', queue: 'q', seq, message: plainMessage(seq) },
        { t: 'kv.put', key: 'last', value: seq },
        ...(seq === 5 ? [{ t: 'mark', queue: 'q', seq } as Command] : []),
      ];
      const outcomes: Promise<'ok' | 'failed'>[] = [];
      const commit = (seq: number) => outcomes.push(s.commit(batch(seq)).then(() => 'ok' as const, () => 'failed' as const));
      let fired = false;
      s.injectApplyFault = (op) => {
        if (op.t !== 'mark') return false;
        // Right after this transaction's callback, while the writer thread holds it: the next transaction is
        // requested at once (pipelined) and its callback may run before this group's failure is known.
        if (!fired) process.nextTick(() => [11, 12, 13, 14, 15].forEach(commit));
        fired = true;
        return true;
      };
      for (let seq = 1; seq <= 10; seq++) commit(seq);
      await new Promise((r) => setTimeout(r, 50));
      const got = await Promise.all(outcomes);
      assert.equal(got.length, 15);
      assert.deepEqual(got.flatMap((o, i) => (o === 'failed' ? [i + 1] : [])), [5]);
      s.injectApplyFault = undefined;
      assert.deepEqual(s.readEntries('q', 0, 100).map((e) => e.seq), [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      await s.close();
      const s2 = new LmdbStore({ path: s.path, verifyRecovery: true });
      const rec = await s2.open();
      assert.equal(rec.kv.get('last'), 15);
      await s2.close();
    });

    it('a stream of commits over many turns on the writer thread: every one lands, in order', async () => {
      const s = new LmdbStore({ path: tempDir(), idleSyncCommit: false });
      await s.open();
      const ps: Promise<void>[] = [];
      let seq = 0;
      for (let turn = 0; turn < 60; turn++) {
        for (let k = 0; k < 5; k++) {
          seq++;
          ps.push(s.commit([{ t: 'enqueue', queue: 'q', seq, message: plainMessage(seq) }, { t: 'kv.put', key: 'last', value: seq }]));
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(ps);
      assert.equal(s.readEntries('q', 0, 1000).length, seq);
      await s.close();
      const s2 = new LmdbStore({ path: s.path, verifyRecovery: true });
      const rec = await s2.open();
      assert.equal(rec.kv.get('last'), seq);
      await s2.close();
    });
  });

  describe('durability', () => {
    for (const journal of [false, true])
    it(`keeps every resolved commit and consistent counters when the process is killed mid-stream${journal ? ' (journal)' : ''}`, async function () {
      const dir = tempDir();
      const args = [path.join(repoRoot, 'test', 'storage', 'lmdb-crash-child.ts'), dir, ...(journal ? ['journal'] : [])];
      // Let it run well into the steady state, then kill it without warning.
      const lastOk = await killAfterOks(args, 20_000);
      const s = new LmdbStore({ path: dir, verifyRecovery: true, journal }); // also checks counters against a scan
      const rec = await s.open();
      if (journal) console.log(`      journal records replayed after the kill: ${s.journalCounters()!.replayed}`);
      const last = rec.kv.get('last') as number;
      assert.ok(last >= lastOk, `kv last ${last} must include every resolved commit (${lastOk})`);
      const q = rec.queues.find((x) => x.name === 'q')!;
      assert.equal(q.lastSeq, last);
      // Batches are atomic: entries, acks and kv of each batch are all there or all absent.
      const seqsQ = new Set<number>();
      for (let after = 0; ; ) {
        const page = s.readEntries('q', after, 5000);
        if (page.length === 0) break;
        for (const e of page) seqsQ.add(e.seq);
        after = page[page.length - 1]!.seq;
      }
      for (let seq = 1; seq <= last; seq++) {
        const acked = seq % 3 === 2 && seq + 1 <= last;
        assert.equal(seqsQ.has(seq), !acked, `q#${seq}`);
      }
      assert.equal(q.count, seqsQ.size);
      const fan2 = s.readEntries('fan2', 0, 100_000);
      assert.equal(fan2.length, Math.floor(last / 10));
      for (const e of fan2) assert.equal(e.message.messageId, `m${e.seq}`);
      await s.close();
    });

    it('a single commit waits for an fsync (much slower than with noSync)', async function () {
      this.retries(2); // timing on a shared disk
      const time = async (noSync: boolean) => {
        const s = new LmdbStore({ path: tempDir(), noSync });
        await s.open();
        const m = plainMessage(1, Buffer.alloc(1024, 7));
        for (let i = 1; i <= 20; i++) await s.commit([{ t: 'enqueue', queue: 'q', seq: i, message: m }]); // warm-up
        const N = 200;
        const t0 = process.hrtime.bigint();
        for (let i = 21; i < 21 + N; i++) await s.commit([{ t: 'enqueue', queue: 'q', seq: i, message: m }]);
        const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
        await s.close();
        return us;
      };
      const synced = await time(false);
      const unsynced = await time(true);
      console.log(`      one outstanding commit: ${synced.toFixed(0)} µs durable, ${unsynced.toFixed(0)} µs with noSync`);
      assert.ok(synced > unsynced * 1.2, `durable commit (${synced} µs) should cost an fsync more than noSync (${unsynced} µs)`);
    });
  });
});
