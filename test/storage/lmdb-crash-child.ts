/**
 * Child process for the crash test in lmdb-store.test.ts: commits enqueue/ack batches to an LmdbStore
 * in a loop and prints `ok <seq>` each time an enqueue of `seq` has been committed, until it is killed.
 * Usage: node --import tsx test/storage/lmdb-crash-child.ts <dir> [journal]
 */
import { createMessage } from '../../src/core/message.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';

const dir = process.argv[2]!;
// A small checkpoint interval, so the kill also lands during and between checkpoints.
const journal = process.argv[3] === 'journal';
const store = new LmdbStore({ path: dir, journal, checkpointBytes: journal ? 256 << 10 : undefined });
await store.open();
const body = Buffer.alloc(512, 'c');
let seq = 0;
let sharedNo = 0;
for (;;) {
  const ps: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const s = ++seq;
    const message = createMessage({ messageId: `m${s}`, body, timestamp: 1 });
    const batch: Parameters<LmdbStore['commit']>[0] = [{ t: 'enqueue', queue: 'q', seq: s, message }, { t: 'kv.put', key: 'last', value: s }];
    if (s % 10 === 0) {
      const shared = `sh${++sharedNo}`;
      batch.push({ t: 'enqueue', queue: 'fan1', seq: s, message, shared }, { t: 'enqueue', queue: 'fan2', seq: s, message, shared });
    }
    if (s % 3 === 0) batch.push({ t: 'ack', queue: 'q', seq: s - 1 }, { t: 'ack', queue: 'fan1', seq: s - 10 });
    ps.push(store.commit(batch).then(() => void process.stdout.write(`ok ${s}\n`)));
  }
  await Promise.all(ps);
}
