/**
 * The abstract Store test suite: the contract of src/core/store.ts, tested through the Store interface
 * only. Any implementation (LMDB, the Raft-replicated store…) runs it with
 *
 *   storeSuite('my store', (dir) => new MyStore({ path: dir }));
 *
 * `makeStore(dir)` must return a new, unopened Store persisting under `dir`; calling it again with the same
 * dir after the first store is closed must see the same data (reopen / recovery).
 * The suite creates a temp dir per test (fs.mkdtempSync under os.tmpdir()) and removes it afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMessage, messageSize, type Message } from '../../src/core/message.js';
import type { Command, QueueRecovery, Store, StoredEntry } from '../../src/core/store.js';

type Recovered = Awaited<ReturnType<Store['open']>>;

/** A message with every field set, property values of every type. */
export function fullMessage(i = 1, bodyBytes = 32): Message {
  const body = Buffer.alloc(bodyBytes);
  for (let j = 0; j < bodyBytes; j++) body[j] = (i + j) & 0xff;
  return {
    messageId: `ID:test-${i}`,
    body,
    bodyType: 'bytes',
    properties: {
      str: `s${i}`,
      empty: '',
      unicode: 'zażółć 🚢',
      int: i,
      neg: -42,
      float: 1.5,
      big: 2 ** 40,
      one: 1.0,
      t: true,
      f: false,
      n: null,
      bi: 123n,
      biNeg: -(2n ** 63n),
      biHuge: 2n ** 100n + 7n,
      buf: Buffer.from([0, 1, 2, 255]),
      emptyBuf: Buffer.alloc(0),
    },
    durable: true,
    priority: 7,
    expiration: 1_900_000_000_000 + i,
    deliveryTime: 1_800_000_000_000 + i,
    timestamp: 1_700_000_000_000 + i,
    correlationId: `corr-${i}`,
    replyTo: 'queue://replies',
    type: 'order.created',
    groupId: 'g1',
    groupSeq: i,
    contentType: 'application/octet-stream',
    contentEncoding: 'gzip',
    userId: 'alice',
    destination: 'queue://orders',
    annotations: {
      'stomp.headers': { a: 'b', list: [1, 'two', null, true, { x: 1.25 }] },
      'amqp.messageAnnotations': { 'x-opt-seq': 5n, raw: Buffer.from('xyz') },
      'mqtt.qos': 1,
      'sqs.flag': false,
      'none': null,
    },
  };
}

/** A minimal message: no optional field set. */
export function plainMessage(i: number, body: string | Buffer = `body-${i}`): Message {
  return createMessage({ messageId: `ID:plain-${i}`, body: Buffer.isBuffer(body) ? body : Buffer.from(body), timestamp: 1_700_000_000_000, properties: { i } });
}

const OPTIONAL_FIELDS = ['correlationId', 'replyTo', 'type', 'groupId', 'groupSeq', 'contentType', 'contentEncoding', 'userId', 'destination', 'annotations'] as const;

/**
 * Compare two messages field by field. Every field of either message is compared (so fields added to
 * `Message` later are covered); an absent optional field compares equal to one set to undefined, never to null.
 */
export function assertSameMessage(actual: Message, expected: Message, what = 'message'): void {
  assert.ok(Buffer.isBuffer(actual.body), `${what}: body must be a Buffer`);
  assert.ok(actual.body.equals(expected.body), `${what}: body differs`);
  assert.deepEqual(Object.keys(actual.properties).sort(), Object.keys(expected.properties).sort(), `${what}: property names`);
  for (const k of Object.keys(expected.properties)) {
    const a = actual.properties[k];
    const e = expected.properties[k];
    if (Buffer.isBuffer(e)) {
      assert.ok(Buffer.isBuffer(a), `${what}: property ${k} must be a Buffer`);
      assert.ok(a.equals(e), `${what}: property ${k}`);
    } else {
      assert.equal(typeof a, typeof e, `${what}: type of property ${k}`);
      assert.equal(a, e, `${what}: property ${k}`);
    }
  }
  const a = actual as unknown as Record<string, unknown>;
  const e = expected as unknown as Record<string, unknown>;
  for (const f of new Set([...Object.keys(a), ...Object.keys(e)])) {
    if (f === 'body' || f === 'properties') continue;
    if (e[f] === undefined) assert.equal(a[f], undefined, `${what}: ${f} must stay absent`);
    else assert.deepStrictEqual(a[f], e[f], `${what}: ${f}`);
  }
}

function byName(r: Recovered): Map<string, QueueRecovery> {
  const m = new Map<string, QueueRecovery>();
  for (const q of r.queues) {
    assert.ok(!m.has(q.name), `queue ${q.name} recovered twice`);
    m.set(q.name, q);
  }
  return m;
}

function seqs(entries: StoredEntry[]): number[] {
  return entries.map((e) => e.seq);
}

function enq(queue: string, seq: number, message: Message = plainMessage(seq), extra: { shared?: string; deliveryCount?: number } = {}): Command {
  return { t: 'enqueue', queue, seq, message, ...extra };
}

export function storeSuite(name: string, makeStore: (dir: string) => Store): void {
  describe(`Store contract: ${name}`, function () {
    this.timeout(60_000);

    let dirs: string[] = [];
    let open: Store[] = [];

    function tempDir(): string {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-store-'));
      dirs.push(d);
      return d;
    }

    async function start(dir: string = tempDir()): Promise<{ store: Store; rec: Recovered; dir: string }> {
      const store = makeStore(dir);
      open.push(store);
      const rec = await store.open();
      return { store, rec, dir };
    }

    async function stop(store: Store): Promise<void> {
      open = open.filter((s) => s !== store);
      await store.close();
    }

    /** Close the store and open a new one on the same dir. */
    async function reopen(store: Store, dir: string): Promise<{ store: Store; rec: Recovered; dir: string }> {
      await stop(store);
      return start(dir);
    }

    afterEach(async () => {
      for (const s of open) await s.close().catch(() => undefined);
      open = [];
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
      dirs = [];
    });

    describe('open', () => {
      it('opens an empty store with no queues and an empty kv map', async () => {
        const { rec } = await start();
        assert.deepEqual(rec.queues, []);
        assert.ok(rec.kv instanceof Map);
        assert.equal(rec.kv.size, 0);
      });

      it('reads nothing from an unknown queue', async () => {
        const { store } = await start();
        assert.deepEqual(store.readEntries('q:nothing', 0, 10), []);
      });

      it('reports a size in bytes', async () => {
        const { store } = await start();
        await store.commit([enq('q', 1, plainMessage(1, Buffer.alloc(64 * 1024, 1)))]);
        const size = store.size();
        assert.equal(typeof size, 'number');
        assert.ok(Number.isFinite(size) && size >= 0);
      });
    });

    describe('enqueue and readEntries', () => {
      it('returns entries in seq order with paging', async () => {
        const { store } = await start();
        // Out of batch order on purpose: the range is ordered by seq, not by insertion.
        await store.commit([enq('q:a', 3), enq('q:a', 1)]);
        await store.commit([enq('q:a', 2), enq('q:a', 10), enq('q:a', 4)]);
        for (let s = 5; s <= 9; s++) await store.commit([enq('q:a', s)]);
        assert.deepEqual(seqs(store.readEntries('q:a', 0, 3)), [1, 2, 3]);
        assert.deepEqual(seqs(store.readEntries('q:a', 3, 3)), [4, 5, 6]);
        assert.deepEqual(seqs(store.readEntries('q:a', 6, 100)), [7, 8, 9, 10]);
        assert.deepEqual(seqs(store.readEntries('q:a', 9, 1)), [10]);
        assert.deepEqual(store.readEntries('q:a', 10, 5), []);
        assert.deepEqual(seqs(store.readEntries('q:a', 0, 1000)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        // afterSeq between seqs
        assert.deepEqual(seqs(store.readEntries('q:a', 2.5, 2)), [3, 4]);
        const e = store.readEntries('q:a', 4, 1)[0]!;
        assert.equal(e.queue, 'q:a');
        assert.equal(e.seq, 5);
        assert.equal(e.deliveryCount, 0);
        assertSameMessage(e.message, plainMessage(5));
        // readSeqs: the same order and paging, keys only
        assert.deepEqual(store.readSeqs('q:a', 0, 3), [1, 2, 3]);
        assert.deepEqual(store.readSeqs('q:a', 6, 100), [7, 8, 9, 10]);
        assert.deepEqual(store.readSeqs('q:a', 2.5, 2), [3, 4]);
        assert.deepEqual(store.readSeqs('q:a', 10, 5), []);
        assert.deepEqual(store.readSeqs('q:a', 0, 0), []);
        assert.deepEqual(store.readSeqs('q:ab', 0, 5), []);
      });

      it('keeps queues with similar names apart', async () => {
        const { store } = await start();
        const names = ['q', 'q:', 'q:a', 'q:ab', 'q:a:b', 'qa', 'Q', 'q a', 's:client:sub', 'q:ä', 'q\u0000x'];
        await store.commit(names.flatMap((n, i) => [enq(n, 1, plainMessage(i)), enq(n, 2, plainMessage(100 + i))]));
        names.forEach((n, i) => {
          const got = store.readEntries(n, 0, 10);
          assert.deepEqual(seqs(got), [1, 2], `queue ${JSON.stringify(n)}`);
          assert.equal(got[0]!.queue, n);
          assertSameMessage(got[0]!.message, plainMessage(i));
          assertSameMessage(got[1]!.message, plainMessage(100 + i));
          assert.deepEqual(store.readSeqs(n, 0, 10), [1, 2], `readSeqs of ${JSON.stringify(n)}`);
        });
      });

      it('round-trips every message field exactly', async () => {
        const { store, dir } = await start();
        const full = fullMessage(7);
        const plain = plainMessage(8);
        const empty = createMessage({ messageId: 'ID:empty', bodyType: 'empty', timestamp: 1, properties: {} });
        await store.commit([enq('q', 1, full), enq('q', 2, plain), enq('q', 3, empty, { deliveryCount: 3 })]);
        const check = (s: Store) => {
          const [a, b, c] = s.readEntries('q', 0, 10);
          assertSameMessage(a!.message, full, 'full');
          assertSameMessage(b!.message, plain, 'plain');
          assertSameMessage(c!.message, empty, 'empty');
          assert.equal(c!.message.body.length, 0);
          assert.equal(c!.deliveryCount, 3);
          // Annotations: exact values, nested Buffers as Buffers, bigints as bigints.
          const ann = a!.message.annotations!;
          assert.ok(Buffer.isBuffer((ann['amqp.messageAnnotations'] as Record<string, unknown>)['raw']));
          assert.equal((ann['amqp.messageAnnotations'] as Record<string, unknown>)['x-opt-seq'], 5n);
          // Optional fields of the plain message are absent (undefined, not null).
          for (const f of OPTIONAL_FIELDS) assert.equal(b!.message[f], undefined, f);
        };
        check(store);
        const { store: s2 } = await reopen(store, dir);
        check(s2);
      });

      it('stores a snapshot: changing the message after commit does not change the stored one', async () => {
        const { store } = await start();
        const m = plainMessage(1, 'original');
        const p = store.commit([enq('q', 1, m)]);
        m.properties['i'] = 999;
        m.body.write('CHANGED!');
        await p;
        const got = store.readEntries('q', 0, 1)[0]!.message;
        assert.equal(got.properties['i'], 1);
        assert.equal(got.body.toString(), 'original');
      });

      it('returns bodies that stay valid after later reads and writes', async () => {
        const { store } = await start();
        await store.commit([enq('q', 1, plainMessage(1, 'first body')), enq('q', 2, plainMessage(2, 'second body'))]);
        const first = store.readEntries('q', 0, 1)[0]!.message;
        store.readEntries('q', 1, 1);
        await store.commit([enq('q', 3, plainMessage(3, 'third body!')), { t: 'ack', queue: 'q', seq: 1 }]);
        store.readEntries('q', 0, 10);
        assert.equal(first.body.toString(), 'first body');
      });

      it('sees a commit in readEntries as soon as it resolves', async () => {
        const { store } = await start();
        for (let i = 1; i <= 50; i++) {
          await store.commit([enq('q', i)]);
          assert.equal(store.readEntries('q', i - 1, 10).length, 1, `after commit ${i}`);
        }
      });
    });

    describe('ack, update, mark', () => {
      it('ack removes an entry; acking a missing entry is harmless', async () => {
        const { store } = await start();
        await store.commit([1, 2, 3, 4].map((s) => enq('q', s)));
        await store.commit([{ t: 'ack', queue: 'q', seq: 2 }]);
        assert.deepEqual(seqs(store.readEntries('q', 0, 10)), [1, 3, 4]);
        await store.commit([{ t: 'ack', queue: 'q', seq: 2 }, { t: 'ack', queue: 'q', seq: 99 }, { t: 'ack', queue: 'nope', seq: 1 }]);
        await store.commit([{ t: 'ack', queue: 'q', seq: 1 }, { t: 'ack', queue: 'q', seq: 4 }]);
        assert.deepEqual(seqs(store.readEntries('q', 0, 10)), [3]);
      });

      it('update rewrites deliveryCount and deliveryTime and keeps the message', async () => {
        const { store, dir } = await start();
        const m = fullMessage(1, 4096);
        await store.commit([enq('q', 1, m), enq('q', 2, plainMessage(2))]);
        await store.commit([{ t: 'update', queue: 'q', seq: 1, deliveryCount: 2, deliveryTime: 1_234 }]);
        let e = store.readEntries('q', 0, 1)[0]!;
        assert.equal(e.deliveryCount, 2);
        assert.equal(e.message.deliveryTime, 1_234);
        assertSameMessage(e.message, { ...m, deliveryTime: 1_234 });
        // No deliveryTime: only the count changes.
        await store.commit([{ t: 'update', queue: 'q', seq: 1, deliveryCount: 3 }]);
        e = store.readEntries('q', 0, 1)[0]!;
        assert.equal(e.deliveryCount, 3);
        assert.equal(e.message.deliveryTime, 1_234);
        // Updating a missing entry does not create it.
        await store.commit([{ t: 'update', queue: 'q', seq: 50, deliveryCount: 1 }]);
        assert.deepEqual(seqs(store.readEntries('q', 0, 100)), [1, 2]);
        assert.equal(store.readEntries('q', 1, 1)[0]!.deliveryCount, 0);
        const { store: s2, rec } = await reopen(store, dir);
        e = s2.readEntries('q', 0, 1)[0]!;
        assert.equal(e.deliveryCount, 3);
        assertSameMessage(e.message, { ...m, deliveryTime: 1_234 });
        assert.equal(byName(rec).get('q')!.bytes, messageSize(m) + messageSize(plainMessage(2)));
      });

      it('mark is kept per queue and the last one wins', async () => {
        const { store, dir } = await start();
        await store.commit([enq('a', 1), enq('a', 2), enq('b', 1)]);
        await store.commit([{ t: 'mark', queue: 'a', seq: 1 }]);
        await store.commit([{ t: 'mark', queue: 'a', seq: 2 }, { t: 'mark', queue: 'b', seq: 1 }]);
        const { rec } = await reopen(store, dir);
        const q = byName(rec);
        assert.equal(q.get('a')!.mark, 2);
        assert.equal(q.get('b')!.mark, 1);
      });
    });

    describe('queues', () => {
      it('queue.put stores meta; a later put replaces it', async () => {
        const { store, dir } = await start();
        const meta = { kind: 'queue', address: 'queue://orders', n: 5, nested: { list: [1, 'a', null, true] }, off: false, none: null };
        await store.commit([{ t: 'queue.put', queue: 'q:orders', meta }, { t: 'queue.put', queue: 'q:other', meta: { kind: 'x' } }]);
        let { store: s2, rec } = await reopen(store, dir);
        let q = byName(rec);
        assert.deepStrictEqual(q.get('q:orders'), { name: 'q:orders', meta, count: 0, bytes: 0, lastSeq: 0, mark: 0 });
        assert.deepStrictEqual(q.get('q:other')!.meta, { kind: 'x' });
        await s2.commit([{ t: 'queue.put', queue: 'q:orders', meta: { kind: 'queue', v: 2 } }]);
        ({ rec } = await reopen(s2, dir));
        q = byName(rec);
        assert.deepStrictEqual(q.get('q:orders')!.meta, { kind: 'queue', v: 2 });
      });

      it('purge removes every entry and keeps meta, lastSeq and mark', async () => {
        const { store, dir } = await start();
        await store.commit([{ t: 'queue.put', queue: 'q', meta: { k: 1 } }, { t: 'queue.put', queue: 'other', meta: {} }]);
        const batch: Command[] = [];
        for (let s = 1; s <= 5000; s++) batch.push(enq('q', s));
        batch.push(enq('other', 1));
        await store.commit(batch);
        await store.commit([{ t: 'mark', queue: 'q', seq: 10 }]);
        await store.commit([{ t: 'purge', queue: 'q' }]);
        assert.deepEqual(store.readEntries('q', 0, 10), []);
        assert.deepEqual(seqs(store.readEntries('other', 0, 10)), [1]);
        // New entries continue after the purge.
        await store.commit([enq('q', 5001)]);
        assert.deepEqual(seqs(store.readEntries('q', 0, 10)), [5001]);
        const { rec } = await reopen(store, dir);
        const q = byName(rec).get('q')!;
        assert.deepStrictEqual(q.meta, { k: 1 });
        assert.equal(q.count, 1);
        assert.equal(q.bytes, messageSize(plainMessage(5001)));
        assert.equal(q.lastSeq, 5001);
        assert.equal(q.mark, 10);
        assert.equal(byName(rec).get('other')!.count, 1);
      });

      it('queue.delete removes the queue and all its entries, and only that queue', async () => {
        const { store, dir } = await start();
        await store.commit([
          { t: 'queue.put', queue: 'q', meta: { a: 1 } },
          { t: 'queue.put', queue: 'q2', meta: { a: 2 } },
          ...[1, 2, 3].map((s) => enq('q', s)),
          ...[1, 2].map((s) => enq('q2', s)),
          { t: 'mark', queue: 'q', seq: 2 },
        ]);
        await store.commit([{ t: 'queue.delete', queue: 'q' }]);
        assert.deepEqual(store.readEntries('q', 0, 10), []);
        assert.deepEqual(seqs(store.readEntries('q2', 0, 10)), [1, 2]);
        let { store: s2, rec } = await reopen(store, dir);
        assert.deepEqual(rec.queues.map((q) => q.name), ['q2']);
        assert.equal(rec.queues[0]!.count, 2);
        // Recreating it starts afresh.
        await s2.commit([{ t: 'queue.put', queue: 'q', meta: { a: 3 } }, enq('q', 1)]);
        ({ rec } = await reopen(s2, dir));
        const q = byName(rec).get('q')!;
        assert.deepStrictEqual(q.meta, { a: 3 });
        assert.equal(q.count, 1);
        assert.equal(q.mark, 0);
      });

      it('handles many queues', async () => {
        const { store, dir } = await start();
        const N = 500;
        const batch: Command[] = [];
        for (let i = 0; i < N; i++) {
          batch.push({ t: 'queue.put', queue: `s:client${i}:sub`, meta: { i } });
          for (let s = 1; s <= 3; s++) batch.push(enq(`s:client${i}:sub`, s, plainMessage(i * 10 + s)));
        }
        await store.commit(batch);
        // And some more in separate concurrent commits.
        await Promise.all(Array.from({ length: N }, (_, i) => store.commit([enq(`s:client${i}:sub`, 4, plainMessage(i * 10 + 4))])));
        const { store: s2, rec } = await reopen(store, dir);
        assert.equal(rec.queues.length, N);
        const q = byName(rec);
        for (let i = 0; i < N; i++) {
          const name = `s:client${i}:sub`;
          const r = q.get(name)!;
          assert.deepStrictEqual(r.meta, { i });
          assert.equal(r.count, 4);
          assert.equal(r.lastSeq, 4);
          assert.equal(r.bytes, [1, 2, 3, 4].reduce((n, s) => n + messageSize(plainMessage(i * 10 + s)), 0));
          const got = s2.readEntries(name, 0, 10);
          assert.deepEqual(seqs(got), [1, 2, 3, 4]);
          assertSameMessage(got[3]!.message, plainMessage(i * 10 + 4));
        }
      });
    });

    describe('shared messages', () => {
      it('one shared message is read through every entry that references it, with independent delivery state', async () => {
        const { store, dir } = await start();
        const m = fullMessage(3, 2048);
        await store.commit(['s:1', 's:2', 's:3'].map((q, i) => enq(q, i + 1, m, { shared: 'msg-1' })));
        await store.commit([{ t: 'update', queue: 's:2', seq: 2, deliveryCount: 5, deliveryTime: 99 }]);
        const check = (s: Store) => {
          const a = s.readEntries('s:1', 0, 10);
          const b = s.readEntries('s:2', 0, 10);
          const c = s.readEntries('s:3', 0, 10);
          assert.deepEqual([seqs(a), seqs(b), seqs(c)], [[1], [2], [3]]);
          assertSameMessage(a[0]!.message, m);
          assertSameMessage(b[0]!.message, { ...m, deliveryTime: 99 });
          assert.equal(b[0]!.deliveryCount, 5);
          assertSameMessage(c[0]!.message, m);
          assert.equal(c[0]!.deliveryCount, 0);
        };
        check(store);
        const { store: s2, rec } = await reopen(store, dir);
        check(s2);
        for (const q of rec.queues) {
          assert.equal(q.count, 1);
          assert.equal(q.bytes, messageSize(m));
        }
      });

      it('the message survives until the last reference goes (ack, purge, queue.delete), then is freed', async () => {
        const { store, dir } = await start();
        const m1 = plainMessage(1, 'shared one');
        await store.commit([enq('a', 1, m1, { shared: 'x' }), enq('b', 1, m1, { shared: 'x' }), enq('c', 1, m1, { shared: 'x' }), enq('c', 2, plainMessage(2))]);
        await store.commit([{ t: 'ack', queue: 'a', seq: 1 }]);
        assertSameMessage(store.readEntries('b', 0, 1)[0]!.message, m1);
        await store.commit([{ t: 'purge', queue: 'b' }]);
        assertSameMessage(store.readEntries('c', 0, 1)[0]!.message, m1);
        let { store: s2 } = await reopen(store, dir);
        assertSameMessage(s2.readEntries('c', 0, 1)[0]!.message, m1);
        await s2.commit([{ t: 'queue.delete', queue: 'c' }]);
        // Freed: the id can be used again for a different message, which is what is read back.
        const m2 = plainMessage(3, 'a different message');
        await s2.commit([enq('a', 2, m2, { shared: 'x' })]);
        assertSameMessage(s2.readEntries('a', 0, 10)[0]!.message, m2);
        ({ store: s2 } = await reopen(s2, dir));
        assertSameMessage(s2.readEntries('a', 0, 10)[0]!.message, m2);
      });

      it('reference counting works within a single batch', async () => {
        const { store, dir } = await start();
        const m1 = plainMessage(1, 'short-lived');
        const m2 = plainMessage(2, 'second life');
        // Created, fully acked and re-created with another message in one batch.
        await store.commit([
          enq('a', 1, m1, { shared: 'y' }),
          enq('b', 1, m1, { shared: 'y' }),
          { t: 'ack', queue: 'a', seq: 1 },
          { t: 'ack', queue: 'b', seq: 1 },
          enq('a', 2, m2, { shared: 'y' }),
          enq('b', 2, m2, { shared: 'y' }),
          { t: 'ack', queue: 'a', seq: 2 },
        ]);
        assertSameMessage(store.readEntries('b', 0, 10)[0]!.message, m2);
        const { store: s2, rec } = await reopen(store, dir);
        assertSameMessage(s2.readEntries('b', 0, 10)[0]!.message, m2);
        assert.equal(byName(rec).get('a')!.count, 0);
        assert.equal(byName(rec).get('b')!.count, 1);
      });

      it('mixes shared and inline entries in one queue', async () => {
        const { store } = await start();
        const sm = plainMessage(100, 'shared');
        await store.commit([enq('q', 1), enq('q', 2, sm, { shared: 'z' }), enq('q', 3), enq('r', 1, sm, { shared: 'z' })]);
        const got = store.readEntries('q', 0, 10);
        assert.deepEqual(seqs(got), [1, 2, 3]);
        assertSameMessage(got[0]!.message, plainMessage(1));
        assertSameMessage(got[1]!.message, sm);
        assertSameMessage(got[2]!.message, plainMessage(3));
      });
    });

    describe('kv', () => {
      it('puts, replaces and deletes values of every plain type', async () => {
        const { store, dir } = await start();
        const values: Record<string, unknown> = {
          'retained:a/b': { topic: 'a/b', payload: Buffer.from([1, 2, 3]), qos: 1, props: { x: null } },
          'sqs:q1': ['a', 1, 2.5, true, null, { deep: [[]] }],
          'mqtt:s1': 'just a string',
          'n:int': 42,
          'n:float': -0.125,
          'b:true': true,
          'b:false': false,
          'null': null,
          'buf': Buffer.from('raw bytes'),
          'empty': {},
          'unicode:ключ': 'значение',
        };
        await store.commit(Object.entries(values).map(([key, value]) => ({ t: 'kv.put', key, value }) as Command));
        await store.commit([{ t: 'kv.put', key: 'mqtt:s1', value: 'replaced' }, { t: 'kv.put', key: 'gone', value: 1 }]);
        await store.commit([{ t: 'kv.delete', key: 'gone' }, { t: 'kv.delete', key: 'never-existed' }]);
        const { rec } = await reopen(store, dir);
        const expected = new Map(Object.entries({ ...values, 'mqtt:s1': 'replaced' }));
        assert.equal(rec.kv.size, expected.size);
        for (const [k, v] of expected) assert.deepStrictEqual(rec.kv.get(k), v, k);
        assert.ok(Buffer.isBuffer(rec.kv.get('buf')));
        assert.ok(Buffer.isBuffer((rec.kv.get('retained:a/b') as { payload: unknown }).payload));
      });
    });

    describe('atomicity and ordering', () => {
      it('applies a batch whole: every command of a resolved batch is visible together', async () => {
        const { store, dir } = await start();
        await store.commit([
          { t: 'queue.put', queue: 'q', meta: { v: 1 } },
          enq('q', 1),
          enq('q', 2),
          { t: 'ack', queue: 'q', seq: 1 },
          { t: 'kv.put', key: 'k', value: 'v' },
          { t: 'mark', queue: 'q', seq: 2 },
        ]);
        assert.deepEqual(seqs(store.readEntries('q', 0, 10)), [2]);
        const { rec } = await reopen(store, dir);
        assert.deepStrictEqual(byName(rec).get('q'), { name: 'q', meta: { v: 1 }, count: 1, bytes: messageSize(plainMessage(2)), lastSeq: 2, mark: 2 });
        assert.equal(rec.kv.get('k'), 'v');
      });

      it('rejects a batch with an invalid command and applies none of it; other batches are unaffected', async () => {
        const { store, dir } = await start();
        const before = store.commit([enq('q', 1)]);
        const bad = store.commit([enq('q', 2), { t: 'kv.put', key: 'bad', value: 1 }, { t: 'no-such-command', queue: 'q' } as unknown as Command]);
        const badRejects = assert.rejects(bad, Error);
        const after = store.commit([enq('q', 3)]);
        await before;
        await badRejects;
        await after;
        assert.deepEqual(seqs(store.readEntries('q', 0, 10)), [1, 3]);
        const { rec } = await reopen(store, dir);
        assert.equal(rec.kv.has('bad'), false);
        assert.equal(byName(rec).get('q')!.count, 2);
      });

      it('applies many concurrent commits in call order and resolves them in order', async () => {
        const { store, dir } = await start();
        const N = 3000;
        const resolved: number[] = [];
        const promises: Promise<void>[] = [];
        for (let i = 1; i <= N; i++) {
          const batch: Command[] = [enq('q', i, plainMessage(i)), { t: 'kv.put', key: 'last', value: i }];
          if (i % 3 === 0) batch.push({ t: 'ack', queue: 'q', seq: i - 1 });
          if (i % 100 === 0) batch.push({ t: 'update', queue: 'q', seq: i, deliveryCount: i });
          promises.push(store.commit(batch).then(() => void resolved.push(i)));
          // Spread the commits over a few event turns as well.
          if (i % 700 === 0) await new Promise((r) => setImmediate(r));
        }
        await Promise.all(promises);
        assert.deepEqual(resolved, Array.from({ length: N }, (_, i) => i + 1));
        const expected = Array.from({ length: N }, (_, i) => i + 1).filter((s) => s % 3 !== 2);
        const got = store.readEntries('q', 0, N + 10);
        assert.deepEqual(seqs(got), expected);
        for (const e of got) {
          assert.equal(e.deliveryCount, e.seq % 100 === 0 ? e.seq : 0);
          assertSameMessage(e.message, plainMessage(e.seq));
        }
        const { rec } = await reopen(store, dir);
        assert.equal(rec.kv.get('last'), N);
        assert.equal(byName(rec).get('q')!.count, expected.length);
      });

      it('enqueue then ack of the same entry in concurrent commits leaves nothing', async () => {
        const { store } = await start();
        const ps: Promise<void>[] = [];
        for (let i = 1; i <= 200; i++) {
          ps.push(store.commit([enq('q', i)]));
          ps.push(store.commit([{ t: 'ack', queue: 'q', seq: i }]));
        }
        await Promise.all(ps);
        assert.deepEqual(store.readEntries('q', 0, 1000), []);
      });
    });

    describe('recovery', () => {
      it('recovers queues (meta, count, bytes, lastSeq, mark), entries and kv after reopen', async () => {
        const { store, dir } = await start();
        const msgs = new Map<number, Message>();
        for (let s = 1; s <= 20; s++) msgs.set(s, s % 2 ? fullMessage(s, 100 + s) : plainMessage(s));
        await store.commit([{ t: 'queue.put', queue: 'q:orders', meta: { kind: 'queue', address: 'queue://orders' } }]);
        await store.commit([...msgs].map(([s, m]) => enq('q:orders', s, m, s % 5 === 0 ? { deliveryCount: 1 } : {})));
        await store.commit([{ t: 'ack', queue: 'q:orders', seq: 4 }, { t: 'ack', queue: 'q:orders', seq: 20 }, { t: 'mark', queue: 'q:orders', seq: 12 }]);
        await store.commit([{ t: 'queue.put', queue: 'q:empty', meta: { kind: 'queue' } }, { t: 'kv.put', key: 'sqs:attrs', value: { a: [1, 2] } }]);
        msgs.delete(4);
        msgs.delete(20);
        const { store: s2, rec } = await reopen(store, dir);
        const q = byName(rec);
        assert.equal(q.size, 2);
        assert.deepStrictEqual(q.get('q:orders'), {
          name: 'q:orders',
          meta: { kind: 'queue', address: 'queue://orders' },
          count: 18,
          bytes: [...msgs.values()].reduce((n, m) => n + messageSize(m), 0),
          lastSeq: 20,
          mark: 12,
        });
        assert.deepStrictEqual(q.get('q:empty'), { name: 'q:empty', meta: { kind: 'queue' }, count: 0, bytes: 0, lastSeq: 0, mark: 0 });
        assert.deepStrictEqual(rec.kv, new Map([['sqs:attrs', { a: [1, 2] }]]));
        const got = s2.readEntries('q:orders', 0, 100);
        assert.deepEqual(seqs(got), [...msgs.keys()]);
        for (const e of got) {
          assertSameMessage(e.message, msgs.get(e.seq)!);
          assert.equal(e.deliveryCount, e.seq % 5 === 0 ? 1 : 0);
        }
      });

      it('lastSeq survives acking every entry', async () => {
        const { store, dir } = await start();
        await store.commit([1, 2, 3, 4, 5].map((s) => enq('q', s)));
        await store.commit([1, 2, 3, 4, 5].map((seq) => ({ t: 'ack', queue: 'q', seq }) as Command));
        let { store: s2, rec } = await reopen(store, dir);
        assert.deepEqual(
          rec.queues.map((q) => [q.name, q.count, q.bytes, q.lastSeq]),
          [['q', 0, 0, 5]],
        );
        await s2.commit([enq('q', 6)]);
        await s2.commit([{ t: 'ack', queue: 'q', seq: 6 }]);
        ({ rec } = await reopen(s2, dir));
        assert.equal(rec.queues[0]!.lastSeq, 6);
      });

      it('lastSeq is the highest seq even when enqueued out of order', async () => {
        const { store, dir } = await start();
        await store.commit([enq('q', 9), enq('q', 3)]);
        const { rec } = await reopen(store, dir);
        assert.equal(byName(rec).get('q')!.lastSeq, 9);
      });

      it('survives several reopen cycles', async () => {
        let { store, dir } = await start();
        for (let round = 1; round <= 4; round++) {
          await store.commit([enq('q', round), { t: 'kv.put', key: `k${round}`, value: round }]);
          const r = await reopen(store, dir);
          store = r.store;
          assert.equal(byName(r.rec).get('q')!.count, round);
          assert.equal(r.rec.kv.size, round);
        }
      });
    });

    describe('randomized model check', () => {
      it('matches an in-memory model over a random workload, before and after reopen', async () => {
        let { store, dir } = await start();
        let rnd = 12345;
        const rand = (n: number) => {
          rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
          return (rnd >>> 8) % n;
        };
        interface ME { message: Message; deliveryCount: number; deliveryTime: number; shared?: string }
        interface MQ { meta: Record<string, unknown>; lastSeq: number; mark: number; entries: Map<number, ME> }
        const model = new Map<string, MQ>();
        const sharedRefs = new Map<string, { message: Message; refs: number }>();
        const names = ['q0', 'q1', 'q2', 's:a:b', 's:a:c'];
        let nextSeq = 1;
        let nextShared = 1;
        const deadShared: string[] = [];
        let msgNo = 1;
        const deref = (e: ME) => {
          if (e.shared === undefined) return;
          const r = sharedRefs.get(e.shared)!;
          if (--r.refs === 0) {
            sharedRefs.delete(e.shared);
            deadShared.push(e.shared);
          }
        };
        const randomCommand = (): Command | undefined => {
          const name = names[rand(names.length)]!;
          const q = model.get(name);
          if (!q || rand(40) === 0) {
            const meta = { v: rand(1000), name };
            if (q) q.meta = meta;
            else model.set(name, { meta, lastSeq: 0, mark: 0, entries: new Map() });
            return { t: 'queue.put', queue: name, meta };
          }
          const seqsNow = [...q.entries.keys()];
          const anySeq = () => seqsNow[rand(seqsNow.length)]!;
          const r = rand(100);
          if (r < 40) {
            const seq = nextSeq++;
            q.lastSeq = seq;
            const deliveryCount = rand(3);
            if (rand(2) === 0) {
              // Shared: reuse a live shared message (fan-out) or start a new one.
              const live = [...sharedRefs.keys()];
              // Reusing the id of a freed shared message must store the new message.
              const id =
                live.length > 0 && rand(2) === 0
                  ? live[rand(live.length)]!
                  : deadShared.length > 0 && rand(2) === 0
                    ? deadShared.splice(rand(deadShared.length), 1)[0]!
                    : `sh-${nextShared++}`;
              let ref = sharedRefs.get(id);
              if (!ref) sharedRefs.set(id, (ref = { message: rand(2) ? fullMessage(msgNo++, rand(300)) : plainMessage(msgNo++), refs: 0 }));
              ref.refs++;
              q.entries.set(seq, { message: ref.message, deliveryCount, deliveryTime: ref.message.deliveryTime, shared: id });
              return { t: 'enqueue', queue: name, seq, message: ref.message, deliveryCount, shared: id };
            }
            const message = rand(2) ? fullMessage(msgNo++, rand(2000)) : plainMessage(msgNo++);
            q.entries.set(seq, { message, deliveryCount, deliveryTime: message.deliveryTime });
            return { t: 'enqueue', queue: name, seq, message, deliveryCount };
          }
          if (r < 65) {
            const seq = seqsNow.length > 0 && rand(10) > 0 ? anySeq() : nextSeq + 1000;
            const e = q.entries.get(seq);
            if (e) {
              deref(e);
              q.entries.delete(seq);
            }
            return { t: 'ack', queue: name, seq };
          }
          if (r < 78) {
            if (seqsNow.length === 0) return undefined;
            const seq = anySeq();
            const e = q.entries.get(seq)!;
            e.deliveryCount = rand(10);
            const deliveryTime = rand(2) ? 1_000_000 + rand(1000) : undefined;
            if (deliveryTime !== undefined) e.deliveryTime = deliveryTime;
            return { t: 'update', queue: name, seq, deliveryCount: e.deliveryCount, deliveryTime };
          }
          if (r < 85) {
            q.mark = rand(nextSeq);
            return { t: 'mark', queue: name, seq: q.mark };
          }
          if (r < 88) {
            for (const e of q.entries.values()) deref(e);
            q.entries.clear();
            return { t: 'purge', queue: name };
          }
          if (r < 90) {
            for (const e of q.entries.values()) deref(e);
            model.delete(name);
            return { t: 'queue.delete', queue: name };
          }
          if (r < 96) return { t: 'kv.put', key: `k${rand(10)}`, value: { n: rand(100), b: Buffer.from([rand(256)]) } };
          return { t: 'kv.delete', key: `k${rand(10)}` };
        };
        const kvModel = new Map<string, unknown>();
        const applyKv = (c: Command) => {
          if (c.t === 'kv.put') kvModel.set(c.key, c.value);
          else if (c.t === 'kv.delete') kvModel.delete(c.key);
        };
        const compare = (s: Store, rec?: Recovered) => {
          for (const name of names) {
            const q = model.get(name);
            const got = s.readEntries(name, 0, 100_000);
            const want = q ? [...q.entries.entries()].sort((a, b) => a[0] - b[0]) : [];
            assert.deepEqual(seqs(got), want.map(([seq]) => seq), `entries of ${name}`);
            got.forEach((e, i) => {
              const w = want[i]![1];
              assert.equal(e.deliveryCount, w.deliveryCount, `${name}#${e.seq} deliveryCount`);
              assertSameMessage(e.message, { ...w.message, deliveryTime: w.deliveryTime }, `${name}#${e.seq}`);
            });
          }
          if (rec) {
            const q = byName(rec);
            assert.deepEqual([...q.keys()].sort(), [...model.keys()].sort(), 'recovered queues');
            for (const [name, m] of model) {
              const r = q.get(name)!;
              assert.deepStrictEqual(r.meta, m.meta, `${name} meta`);
              assert.equal(r.count, m.entries.size, `${name} count`);
              assert.equal(r.bytes, [...m.entries.values()].reduce((n, e) => n + messageSize(e.message), 0), `${name} bytes`);
              assert.equal(r.mark, m.mark, `${name} mark`);
              if (m.lastSeq > 0) assert.equal(r.lastSeq, m.lastSeq, `${name} lastSeq`);
            }
            assert.deepStrictEqual(rec.kv, kvModel);
          }
        };
        for (let round = 0; round < 6; round++) {
          const ps: Promise<void>[] = [];
          for (let i = 0; i < 400; i++) {
            const batch: Command[] = [];
            const n = 1 + rand(4);
            for (let j = 0; j < n; j++) {
              const c = randomCommand();
              if (c) {
                batch.push(c);
                applyKv(c);
              }
            }
            ps.push(store.commit(batch));
            if (rand(50) === 0) await new Promise((r) => setImmediate(r));
          }
          await Promise.all(ps);
          compare(store);
          if (round % 2 === 1) {
            const r = await reopen(store, dir);
            store = r.store;
            compare(store, r.rec);
          }
        }
      });
    });

    describe('large bodies', () => {
      it('stores and recovers 1 MiB bodies, inline and shared', async () => {
        const { store, dir } = await start();
        const big = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i * 2654435761 >>> 0, i);
        const m1 = plainMessage(1, big);
        const m2 = { ...fullMessage(2), body: Buffer.from(big).reverse() };
        await store.commit([enq('q', 1, m1), enq('q', 2, m2, { shared: 'big' }), enq('r', 1, m2, { shared: 'big' })]);
        await store.commit([{ t: 'update', queue: 'q', seq: 1, deliveryCount: 1 }]);
        const check = (s: Store) => {
          const [a, b] = s.readEntries('q', 0, 10);
          assertSameMessage(a!.message, m1);
          assert.equal(a!.deliveryCount, 1);
          assertSameMessage(b!.message, m2);
          assertSameMessage(s.readEntries('r', 0, 1)[0]!.message, m2);
        };
        check(store);
        const { store: s2, rec } = await reopen(store, dir);
        check(s2);
        assert.equal(byName(rec).get('q')!.bytes, messageSize(m1) + messageSize(m2));
        assert.ok(s2.size() >= 2 * 1024 * 1024, `size() ${s2.size()} should count the stored bodies`);
      });
    });

    describe('lifecycle', () => {
      it('close() waits for in-flight commits, which all resolve and are recovered', async () => {
        const { store, dir } = await start();
        const ps: Promise<void>[] = [];
        for (let i = 1; i <= 500; i++) ps.push(store.commit([enq('q', i)]));
        await store.close();
        const results = await Promise.allSettled(ps);
        assert.ok(results.every((r) => r.status === 'fulfilled'), 'every commit issued before close() resolves');
        const { rec } = await start(dir);
        assert.equal(byName(rec).get('q')!.count, 500);
      });

      it('commit on a closed store rejects with an Error', async () => {
        const { store } = await start();
        await stop(store);
        await assert.rejects(store.commit([enq('q', 1)]), (err: unknown) => err instanceof Error && /close/i.test(err.message));
      });

      it('commit after close() was called rejects', async () => {
        const { store } = await start();
        const closing = store.close();
        await assert.rejects(store.commit([enq('q', 1)]), Error);
        await closing;
        await store.close(); // idempotent
      });
    });
  });
}
