/**
 * The journaled store reopened from states a kill -9 leaves (the directory's files as the page cache holds them,
 * copied between transactions) while it commits concurrently, checkpoints every few milliseconds, and frees and
 * reuses pages (acks, overflow-page bodies). Each copy is opened twice over: as this boot left it (the store
 * starts from LMDB's newest tree) and marked as another boot's (it writes the checkpoint's meta pages back, as
 * after a power loss: this needs the checkpointed tree kept whole, the pin). Each must open, hold exactly what was
 * confirmed, and then take new writes that allocate from the free pages it recovered — then open again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { createMessage } from '../../src/core/message.js';
import type { Command } from '../../src/core/store.js';

describe('LmdbStore journal: reopened from kill -9 states taken under concurrent load', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const tempDir = (tag: string) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `wharf-jstates-${tag}-`));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  for (const seed of [11, 29]) {
    it(`seed ${seed}: every copy opens with its confirmed messages, none of its confirmed acks, and takes new writes`, async () => {
      let x = seed;
      const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
      const dir = tempDir('live');
      const s = new LmdbStore({ path: dir, journal: true, checkpointMs: 5, checkpointBytes: 1 << 16 });
      await s.open();
      const queues = ['a', 'b', 'c'];
      const nextSeq = new Map<string, number>();
      /** Enqueues confirmed and not asked to be acked (must survive), acks confirmed (must stay gone). */
      const live = new Map<string, number[]>(queues.map((q) => [q, []]));
      const acked = new Set<string>();
      const copies: Array<{ dir: string; mustHave: string[]; mustNotHave: string[]; restored: boolean }> = [];
      const body = (seq: number, size: number) => Buffer.alloc(size, seq & 255);
      const commitOne = async () => {
        const q = queues[Math.floor(rnd() * queues.length)]!;
        const cmds: Command[] = [];
        const enq: number[] = [];
        for (let n = 1 + Math.floor(rnd() * 4); n > 0; n--) {
          const seq = (nextSeq.get(q) ?? 0) + 1;
          nextSeq.set(q, seq);
          // one in ten bodies spans overflow pages, so runs of free pages are taken and given back
          const size = rnd() < 0.1 ? 5000 + Math.floor(rnd() * 30000) : 50 + Math.floor(rnd() * 400);
          cmds.push({ t: 'enqueue', queue: q, seq, message: createMessage({ body: body(seq, size) }) });
          enq.push(seq);
        }
        const present = live.get(q)!;
        const acks: number[] = [];
        while (present.length > 0 && rnd() < 0.6) acks.push(present.splice(Math.floor(rnd() * Math.min(present.length, 8)), 1)[0]!);
        for (const seq of acks) cmds.push({ t: 'ack', queue: q, seq });
        if (rnd() < 0.2) cmds.push({ t: 'kv.put', key: `k${Math.floor(rnd() * 5)}`, value: Math.floor(rnd() * 1e6) });
        await s.commit(cmds);
        live.get(q)!.push(...enq); // ackable once confirmed, as the engine does
        for (const seq of acks) acked.add(`${q}#${seq}`);
      };
      const copyNow = () => {
        const to = tempDir('copy');
        for (const f of fs.readdirSync(dir)) if (!f.endsWith('-lock')) fs.copyFileSync(path.join(dir, f), path.join(to, f));
        // The same state after an OS crash, as far as the store can tell (another boot's marker): it must start from
        // the checkpoint's tree, where the copy above starts from LMDB's newest one.
        const rebooted = tempDir('rebooted');
        for (const f of fs.readdirSync(to)) fs.copyFileSync(path.join(to, f), path.join(rebooted, f));
        fs.writeFileSync(path.join(rebooted, 'wharf.boot'), 'another boot');
        const mustHave = [...live].flatMap(([q, seqs]) => seqs.map((seq) => `${q}#${seq}`));
        copies.push({ dir: to, mustHave, mustNotHave: [...acked], restored: false });
        copies.push({ dir: rebooted, mustHave, mustNotHave: [...acked], restored: true });
      };
      await Promise.all(
        Array.from({ length: 6 }, async () => {
          for (let i = 0; i < 250; i++) {
            await commitOne();
            if (rnd() < 0.03) copyNow();
            if (rnd() < 0.05) await new Promise((r) => setTimeout(r, rnd() * 8));
          }
        }),
      );
      await s.close();
      assert.ok(copies.length >= 20, `took ${copies.length / 2} copies`);
      for (const c of copies) {
        const r = new LmdbStore({ path: c.dir, journal: true, verifyRecovery: true });
        await r.open();
        assert.equal(r.journalCounters()!.restores, c.restored ? 1 : 0, `${c.dir}: started from the checkpoint's tree`);
        const have = new Set(queues.flatMap((q) => r.readEntries(q, 0, 1e9).map((e) => {
          assert.equal(e.message.body[0] ?? e.seq & 255, e.seq & 255, `${c.dir}: body of ${q}#${e.seq}`);
          return `${q}#${e.seq}`;
        })));
        for (const k of c.mustHave) assert.ok(have.has(k), `${c.dir}: confirmed ${k} is missing`);
        for (const k of c.mustNotHave) assert.ok(!have.has(k), `${c.dir}: acked ${k} came back`);
        // new writes allocate from the free pages this state recovered
        for (let i = 0; i < 30; i++) {
          const cmds: Command[] = [];
          for (let j = 0; j < 10; j++) cmds.push({ t: 'enqueue', queue: 'z', seq: i * 10 + j + 1, message: createMessage({ body: body(j, j === 0 ? 20000 : 300) }) });
          if (i > 0) for (let j = 0; j < 10; j++) cmds.push({ t: 'ack', queue: 'z', seq: (i - 1) * 10 + j + 1 });
          await r.commit(cmds);
        }
        await r.close();
        const again = new LmdbStore({ path: c.dir, journal: true, verifyRecovery: true });
        await again.open();
        assert.deepEqual(again.readSeqs('z', 0, 100), Array.from({ length: 10 }, (_, j) => 291 + j));
        await again.close();
        fs.rmSync(c.dir, { recursive: true, force: true });
      }
    });
  }
});
