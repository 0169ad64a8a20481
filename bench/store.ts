/**
 * Store microbenchmark (LmdbStore).
 *
 *   npx tsx bench/store.ts [--seconds 5] [--window 1000] [--size 1024] [--nosync] [--journal] [--recovery 1000000]
 *
 * 1. pairs: keeps `window` messages outstanding; each message is one `commit([enqueue])` and, once that
 *    resolves, one `commit([ack])` (as the engine does: one commit per producer send and per consumer ack).
 *    A finished ack starts the next enqueue. Prints enqueue+ack pairs/s, commits/s, LMDB transactions/s.
 * 2. latency: one outstanding enqueue at a time (shows the fsync per commit; compare with --nosync).
 * 3. recovery (with --recovery N): fills one queue with N entries, closes, times open().
 * 4. idle (with --idle N): N lone commits 3 ms apart, as a producer at a fixed low rate: how long each commit the
 *    store takes on the main thread (the idle commit) blocks the event loop — what a message arriving meanwhile waits
 *    — and how long until it resolves (a journaled store's flush on the main thread is not counted).
 *
 * Durable (fsync per transaction) unless --nosync is given; `--journal`: the store's write-ahead journal (one
 * flush per group commit instead of LMDB's two).
 */
import { parseArgs } from 'node:util';
import { createMessage } from '../src/core/message.js';
import type { Command } from '../src/core/store.js';
import { LmdbStore } from '../storage/lmdb/lmdb-store.js';
import { percentile, removeDir, tempDir } from './lib.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    window: { type: 'string', default: '1000' },
    size: { type: 'string', default: '1024' },
    nosync: { type: 'boolean', default: false },
    journal: { type: 'boolean', default: false },
    recovery: { type: 'string', default: '0' },
    idle: { type: 'string', default: '0' },
    dir: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const windowSize = Number(args.window);
const bodySize = Number(args.size);
const noSync = args.nosync;
const recoveryN = Number(args.recovery);
const idleN = Number(args.idle);

const body = Buffer.alloc(bodySize, 'x');
function message(i: number) {
  return createMessage({ body, properties: { i, kind: 'bench' }, destination: 'queue://bench' });
}

async function pairs(): Promise<void> {
  const dir = tempDir('store', args.dir);
  const store = new LmdbStore({ path: dir, noSync, journal: args.journal });
  await store.open();
  await store.commit([{ t: 'queue.put', queue: 'q:bench', meta: { kind: 'queue' } }]);
  let seq = 0;
  let done = 0;
  let stop = false;
  const t0 = performance.now();
  const tx0 = store.stats.transactions;
  await new Promise<void>((resolve) => {
    let live = 0;
    const startOne = () => {
      const s = ++seq;
      live++;
      store
        .commit([{ t: 'enqueue', queue: 'q:bench', seq: s, message: message(s) }])
        .then(() => store.commit([{ t: 'ack', queue: 'q:bench', seq: s }]))
        .then(() => {
          done++;
          live--;
          if (!stop) startOne();
          else if (live === 0) resolve();
        })
        .catch((err) => {
          console.error(err);
          process.exit(1);
        });
    };
    for (let i = 0; i < windowSize; i++) startOne();
    setTimeout(() => (stop = true), seconds * 1000);
  });
  const secs = (performance.now() - t0) / 1000;
  const txns = store.stats.transactions - tx0;
  console.log(
    `pairs: ${bodySize} B bodies, window ${windowSize}, ${noSync ? 'noSync' : 'durable'}: ` +
      `${Math.round(done / secs).toLocaleString('en')} enqueue+ack pairs/s ` +
      `(${Math.round((2 * done) / secs).toLocaleString('en')} commits/s, ${Math.round(txns / secs).toLocaleString('en')} LMDB txns/s, ` +
      `${((2 * done) / txns).toFixed(0)} commits per txn), ${done.toLocaleString('en')} pairs in ${secs.toFixed(1)} s`,
  );
  await store.close();
  removeDir(dir);
}

async function latency(): Promise<void> {
  const dir = tempDir('store', args.dir);
  const store = new LmdbStore({ path: dir, noSync, journal: args.journal });
  await store.open();
  const N = 1000;
  const lat: number[] = [];
  for (let i = 1; i <= N; i++) {
    const t = performance.now();
    await store.commit([{ t: 'enqueue', queue: 'q', seq: i, message: message(i) }]);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const us = (q: number) => (lat[Math.floor(q * (lat.length - 1))]! * 1000).toFixed(0);
  console.log(`latency: one outstanding commit, ${noSync ? 'noSync' : 'durable'}: p50 ${us(0.5)} µs, p90 ${us(0.9)} µs, p99 ${us(0.99)} µs`);
  await store.close();
  removeDir(dir);
}

async function idle(n: number): Promise<void> {
  const dir = tempDir('store', args.dir);
  const store = new LmdbStore({ path: dir, noSync, journal: args.journal });
  await store.open();
  // The main-thread commit is the store's transactionSync: time it from outside (a bench may look inside).
  const env = (store as unknown as { env: { transactionSync: (cb: () => unknown, flags?: number) => unknown } }).env;
  const original = env.transactionSync.bind(env);
  const blocked: number[] = [];
  env.transactionSync = (cb, flags) => {
    const t = performance.now();
    try {
      return original(cb, flags);
    } finally {
      blocked.push(performance.now() - t);
    }
  };
  const lat: number[] = [];
  for (let i = 1; i <= n; i++) {
    const t = performance.now();
    await store.commit([{ t: 'enqueue', queue: 'q', seq: i, message: message(i) }]);
    lat.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 3));
  }
  blocked.sort((x, y) => x - y);
  lat.sort((x, y) => x - y);
  const ms = (sorted: number[], p: number) => (sorted.length ? percentile(sorted, p).toFixed(3) : '–');
  console.log(
    `idle: ${n} lone commits 3 ms apart, ${store.stats.syncTransactions} on the main thread: event loop blocked per main-thread commit ` +
      `p50 ${ms(blocked, 50)} / p90 ${ms(blocked, 90)} / p99 ${ms(blocked, 99)} ms; commit → resolved p50 ${ms(lat, 50)} / p90 ${ms(lat, 90)} / p99 ${ms(lat, 99)} ms`,
  );
  await store.close();
  removeDir(dir);
}

async function recovery(n: number): Promise<void> {
  const dir = tempDir('store', args.dir);
  let store = new LmdbStore({ path: dir, noSync: true });
  await store.open();
  const t0 = performance.now();
  const B = 10_000;
  for (let s = 1; s <= n; s += B) {
    const batch: Command[] = [];
    for (let i = s; i < s + B && i <= n; i++) batch.push({ t: 'enqueue', queue: 'q:big', seq: i, message: message(i) });
    await store.commit(batch);
  }
  const fillSecs = (performance.now() - t0) / 1000;
  await store.close();
  const rss0 = process.memoryUsage().rss;
  store = new LmdbStore({ path: dir, noSync });
  const t1 = performance.now();
  const rec = await store.open();
  const openSecs = (performance.now() - t1) / 1000;
  const q = rec.queues[0]!;
  console.log(
    `recovery: ${n.toLocaleString('en')} entries of ${bodySize} B (filled in ${fillSecs.toFixed(1)} s): open() in ${openSecs.toFixed(2)} s, ` +
      `count ${q.count.toLocaleString('en')}, bytes ${q.bytes.toLocaleString('en')}, lastSeq ${q.lastSeq}, ` +
      `RSS +${((process.memoryUsage().rss - rss0) / 1048576).toFixed(0)} MiB, db ${(store.size() / 1048576).toFixed(0)} MiB`,
  );
  const t2 = performance.now();
  let read = 0;
  for (let after = 0; ; ) {
    const page = store.readEntries('q:big', after, 1000);
    if (page.length === 0) break;
    read += page.length;
    after = page[page.length - 1]!.seq;
  }
  console.log(`readEntries: ${Math.round(read / ((performance.now() - t2) / 1000)).toLocaleString('en')} entries/s (pages of 1000)`);
  const t3 = performance.now();
  await store.commit([{ t: 'purge', queue: 'q:big' }]);
  console.log(`purge of ${n.toLocaleString('en')} entries: ${((performance.now() - t3) / 1000).toFixed(2)} s`);
  await store.close();
  removeDir(dir);
}

if (idleN > 0) {
  await idle(idleN);
} else {
  await pairs();
  await latency();
  if (recoveryN > 0) await recovery(recoveryN);
}
