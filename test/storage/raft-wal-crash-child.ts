/**
 * Child process for the kill -9 test of the Raft WAL (raft-log.test.ts): applies the seeded write stream of
 * raft-wal-ops.ts to a WalRaftLog (small segments: they start and are deleted all the time) and prints `ok <n>`
 * once write n is flushed, until it is killed.
 * Usage: node --import tsx test/storage/raft-wal-crash-child.ts <dir> <seed>
 */
import { WalRaftLog } from '../../storage/raft/wal-raft-log.js';
import { CRASH_CONF, WalOps } from './raft-wal-ops.js';

const log = new WalRaftLog({ path: process.argv[2]!, segmentBytes: 32 * 1024 });
const ops = new WalOps(Number(process.argv[3]));
await log.bootstrap(CRASH_CONF);
for (let n = 1; ; n++) {
  const op = ops.next(log);
  if (op.t === 'save') await log.save(op);
  else if (op.t === 'compact') await log.createSnapshot(op.index, CRASH_CONF, op.data);
  else await log.applySnapshot(op.snapshot);
  process.stdout.write(`ok ${n}\n`);
}
