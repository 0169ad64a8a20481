/**
 * The Raft core's Storage contract, run against the reference (MemoryStorage), the write-ahead log cluster nodes
 * use (storage/raft/wal-raft-log.ts) and the LMDB log it replaced (storage/raft/raft-log.ts, still read to migrate
 * an older node): the same expectations, so both behave exactly like the reference.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryStorage, encodeConfChange, type ConfState, type Entry, type HardState, type Snapshot, type Storage } from '../../cluster/raft/index.js';
import { LmdbRaftLog } from '../../storage/raft/raft-log.js';
import { WalRaftLog, openRaftLog } from '../../storage/raft/wal-raft-log.js';
import { repoRoot } from '../helpers/paths.js';
import { killAfterOks } from '../helpers/crash-child.js';
import { CRASH_CONF, WalOps } from './raft-wal-ops.js';

/** Uniform async write surface over both implementations. */
interface Harness {
  readonly s: Storage;
  append(ents: Entry[]): Promise<void>;
  setHardState(h: HardState): Promise<void>;
  applySnapshot(snap: Snapshot): Promise<void>;
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot>;
  /** "Restart": a Storage reading what is durable. */
  reopen(): Promise<Harness>;
  close(): Promise<void>;
}

function memoryHarness(m: MemoryStorage = new MemoryStorage()): Harness {
  const wrap = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (err) {
      return Promise.reject(err);
    }
  };
  return {
    s: m,
    append: (e) => wrap(() => m.append(e)),
    setHardState: (h) => wrap(() => m.setHardState(h)),
    applySnapshot: (s) => wrap(() => m.applySnapshot(s)),
    createSnapshot: (i, c, d) => wrap(() => m.createSnapshot(i, c, d)),
    reopen: async () => memoryHarness(m),
    close: async () => undefined,
  };
}

/** A log on disk under `dir`, reopened from it by `reopen`. */
interface DiskLog extends Storage {
  append(e: readonly Entry[]): Promise<void>;
  setHardState(h: HardState): Promise<void>;
  applySnapshot(s: Snapshot): Promise<void>;
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot>;
  close(): Promise<void>;
}

function diskHarness(open: () => DiskLog): Harness {
  const l = open();
  return {
    s: l,
    append: (e) => l.append(e),
    setHardState: (h) => l.setHardState(h),
    applySnapshot: (s) => l.applySnapshot(s),
    createSnapshot: (i, c, d) => l.createSnapshot(i, c, d),
    reopen: async () => {
      await l.close();
      return diskHarness(open);
    },
    close: () => l.close(),
  };
}

const lmdbHarness = (dir: string, cacheBytes?: number): Harness => diskHarness(() => new LmdbRaftLog({ path: dir, cacheBytes }));
const walHarness = (dir: string, o: { cacheBytes?: number; segmentBytes?: number } = {}): Harness => diskHarness(() => new WalRaftLog({ path: dir, ...o }));

const CONF: ConfState = { voters: [1, 2, 3], learners: [] };

function ent(index: number, term: number, data = `e${index}`): Entry {
  return { index, term, type: 'normal', data: Buffer.from(data) };
}
function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term));
  return out;
}
function summary(es: Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}:${e.type}:${Buffer.from(e.data).toString()}`);
}

function storageContract(name: string, make: () => Harness): void {
  describe(`Raft Storage contract: ${name}`, () => {
    let h: Harness;
    beforeEach(() => {
      h = make();
    });
    afterEach(async () => {
      await h.close();
    });

    it('starts empty: zero hard state, no snapshot, firstIndex 1, lastIndex 0', () => {
      assert.deepEqual(h.s.initialState(), { term: 0, vote: 0, commit: 0 });
      assert.equal(h.s.firstIndex(), 1);
      assert.equal(h.s.lastIndex(), 0);
      assert.equal(h.s.term(0), 0);
      assert.equal(h.s.snapshot().meta.index, 0);
      assert.throws(() => h.s.term(1), RangeError);
    });

    it('appends and reads entries and terms; entries() honours maxBytes but returns at least one', async () => {
      await h.append(ents(1, 5, 1));
      await h.append(ents(6, 7, 2));
      assert.equal(h.s.lastIndex(), 7);
      assert.equal(h.s.term(5), 1);
      assert.equal(h.s.term(6), 2);
      assert.deepEqual(summary(h.s.entries(2, 5, Infinity)), ['2/1:normal:e2', '3/1:normal:e3', '4/1:normal:e4']);
      assert.equal(h.s.entries(1, 8, 1).length, 1);
      assert.equal(h.s.entries(1, 8, 2 * (16 + 2)).length, 2);
      assert.deepEqual(h.s.entries(3, 3, 100), []);
      assert.throws(() => h.s.entries(0, 3, 100), RangeError);
      assert.throws(() => h.s.entries(3, 9, 100), RangeError);
      assert.throws(() => h.s.term(8), RangeError);
    });

    it('an append at an existing index replaces that entry and everything after it', async () => {
      await h.append(ents(1, 6, 1));
      await h.append([ent(4, 2, 'x4'), ent(5, 2, 'x5')]);
      assert.equal(h.s.lastIndex(), 5);
      assert.deepEqual(summary(h.s.entries(3, 6, Infinity)), ['3/1:normal:e3', '4/2:normal:x4', '5/2:normal:x5']);
      await h.append([ent(6, 2)]);
      assert.equal(h.s.lastIndex(), 6);
    });

    it('refuses an append that leaves a gap, and changes nothing', async () => {
      await h.append(ents(1, 3, 1));
      await assert.rejects(h.append([ent(5, 1)]), /gap/);
      assert.equal(h.s.lastIndex(), 3);
    });

    it('keeps the hard state', async () => {
      await h.setHardState({ term: 3, vote: 2, commit: 0 });
      await h.append(ents(1, 2, 3));
      await h.setHardState({ term: 3, vote: 2, commit: 2 });
      assert.deepEqual(h.s.initialState(), { term: 3, vote: 2, commit: 2 });
    });

    it('createSnapshot compacts the prefix; the snapshot point answers its term', async () => {
      await h.append(ents(1, 10, 1));
      const s = await h.createSnapshot(4, CONF, Buffer.from('img'));
      assert.equal(s.meta.index, 4);
      assert.equal(s.meta.term, 1);
      assert.equal(h.s.firstIndex(), 5);
      assert.equal(h.s.lastIndex(), 10);
      assert.equal(h.s.term(4), 1);
      assert.throws(() => h.s.term(3), RangeError);
      assert.throws(() => h.s.entries(4, 6, 100), RangeError);
      assert.deepEqual(summary(h.s.entries(5, 7, Infinity)), ['5/1:normal:e5', '6/1:normal:e6']);
      assert.deepEqual(h.s.snapshot().meta.conf, CONF);
      assert.equal(Buffer.from(h.s.snapshot().data).toString(), 'img');
      // Older or equal: no-op; beyond the log: refused.
      assert.equal((await h.createSnapshot(3, CONF, Buffer.from('old'))).meta.index, 4);
      await assert.rejects(h.createSnapshot(11, CONF, Buffer.alloc(0)), /beyond/);
    });

    it('an append covering compacted indices skips them', async () => {
      await h.append(ents(1, 5, 1));
      await h.createSnapshot(3, CONF, Buffer.alloc(0));
      await h.append([ent(2, 1), ent(3, 1), ent(4, 2, 'n4')]);
      assert.equal(h.s.firstIndex(), 4);
      assert.equal(h.s.lastIndex(), 4);
      assert.equal(h.s.term(4), 2);
    });

    it('installing a snapshot replaces the whole log; an older one is ignored', async () => {
      await h.append(ents(1, 5, 1));
      const snap: Snapshot = { meta: { index: 8, term: 3, conf: CONF }, data: Buffer.from('leader image') };
      await h.applySnapshot(snap);
      assert.equal(h.s.firstIndex(), 9);
      assert.equal(h.s.lastIndex(), 8);
      assert.equal(h.s.term(8), 3);
      assert.throws(() => h.s.term(5), RangeError);
      await h.applySnapshot({ meta: { index: 2, term: 1, conf: CONF }, data: Buffer.alloc(0) });
      assert.equal(h.s.snapshot().meta.index, 8);
      await h.append([ent(9, 3)]);
      assert.equal(h.s.lastIndex(), 9);
    });

    it('a restart sees exactly what was persisted', async () => {
      await h.setHardState({ term: 2, vote: 1, commit: 0 });
      await h.append(ents(1, 6, 2));
      await h.createSnapshot(2, CONF, Buffer.from('two'));
      await h.append([ent(5, 3, 'r5')]);
      await h.setHardState({ term: 3, vote: 1, commit: 4 });
      h = await h.reopen();
      assert.deepEqual(h.s.initialState(), { term: 3, vote: 1, commit: 4 });
      assert.equal(h.s.firstIndex(), 3);
      assert.equal(h.s.lastIndex(), 5);
      assert.deepEqual(summary(h.s.entries(3, 6, Infinity)), ['3/2:normal:e3', '4/2:normal:e4', '5/3:normal:r5']);
      assert.equal(Buffer.from(h.s.snapshot().data).toString(), 'two');
      assert.deepEqual(h.s.snapshot().meta, { index: 2, term: 2, conf: CONF });
    });
  });
}

describe('LmdbRaftLog', function () {
  this.timeout(30_000);
  let dirs: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-raftlog-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  storageContract('MemoryStorage (reference)', () => memoryHarness());
  storageContract('LmdbRaftLog', () => lmdbHarness(tempDir()));
  // Reads served from LMDB only, and from a cache holding the newest one or two entries (reads straddle both).
  storageContract('LmdbRaftLog without its entry cache', () => lmdbHarness(tempDir(), 0));
  storageContract('LmdbRaftLog with a cache of one or two entries', () => lmdbHarness(tempDir(), 40));
  storageContract('WalRaftLog', () => walHarness(tempDir()));
  storageContract('WalRaftLog without its entry cache, in segments of 200 bytes', () => walHarness(tempDir(), { cacheBytes: 0, segmentBytes: 200 }));

  describe('the in-memory tail of newest entries', () => {
    it('hands back the very entries written (a leader knows its own proposals by them)', async () => {
      const l = new LmdbRaftLog({ path: tempDir() });
      try {
        const written = ents(1, 5, 1);
        await l.append(written);
        const read = l.entries(2, 6, Infinity);
        read.forEach((e, i) => assert.equal(e, written[i + 1]));
      } finally {
        await l.close();
      }
    });

    const variants: { name: string; make: (dir: string, cacheBytes: number) => Harness }[] = [
      { name: 'LmdbRaftLog', make: (dir, cacheBytes) => lmdbHarness(dir, cacheBytes) },
      // Small segments: many start and are deleted by compactions, replays read across them.
      { name: 'WalRaftLog', make: (dir, cacheBytes) => walHarness(dir, { cacheBytes, segmentBytes: 300 }) },
    ];
    for (const v of variants)
    for (const cacheBytes of [0, 40, 400, 8 << 20]) {
      it(`${v.name} matches MemoryStorage through random appends, truncations, compactions, snapshots and restarts (cache ${cacheBytes} B)`, async () => {
        let seed = 12345 + cacheBytes;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) >>> 0;
          return (seed >>> 8) % n;
        };
        const dir = tempDir();
        let l = v.make(dir, cacheBytes);
        const m = memoryHarness();
        let term = 1;
        try {
          for (let step = 0; step < 300; step++) {
            const first = m.s.firstIndex();
            const last = m.s.lastIndex();
            const op = rnd(10);
            if (op < 6) {
              // append, sometimes replacing a suffix (a new leader's entries at a higher term)
              const from = last >= first && rnd(3) === 0 ? first + rnd(last - first + 2) : last + 1;
              if (from <= last) term++;
              const batch: Entry[] = [];
              for (let i = 0, n = 1 + rnd(6); i < n; i++) batch.push(ent(from + i, term, `s${step}-${i}`));
              await Promise.all([l.append(batch), m.append(batch)]);
            } else if (op < 8 && last >= first) {
              const at = first - 1 + rnd(last - first + 2);
              await Promise.all([l.createSnapshot(at, CONF, Buffer.from(`c${step}`)), m.createSnapshot(at, CONF, Buffer.from(`c${step}`))]);
            } else if (op === 8) {
              term++;
              const snap: Snapshot = { meta: { index: last + rnd(4), term, conf: CONF }, data: Buffer.from(`i${step}`) };
              await Promise.all([l.applySnapshot(snap), m.applySnapshot(snap)]);
            } else {
              l = await l.reopen();
            }
            assert.equal(l.s.firstIndex(), m.s.firstIndex(), `step ${step}: firstIndex`);
            assert.equal(l.s.lastIndex(), m.s.lastIndex(), `step ${step}: lastIndex`);
            const f = m.s.firstIndex();
            const z = m.s.lastIndex();
            for (let i = f - 1; i <= z; i++) assert.equal(l.s.term(i), m.s.term(i), `step ${step}: term(${i})`);
            if (z >= f) {
              const lo = f + rnd(z - f + 1);
              const hi = lo + rnd(z - lo + 2);
              const max = rnd(3) === 0 ? Infinity : rnd(120);
              assert.deepEqual(summary(l.s.entries(lo, hi, max)), summary(m.s.entries(lo, hi, max)), `step ${step}: entries(${lo}, ${hi}, ${max})`);
            }
          }
        } finally {
          await l.close();
        }
      });
    }
  });

  for (const [name, Log] of [['LmdbRaftLog', LmdbRaftLog], ['WalRaftLog', WalRaftLog]] as const)
  describe(`${name} specifics`, () => {
    const conf = (voters: number[]): ConfState => ({ voters, learners: [] });
    const confEnt = (index: number, term: number, voters: number[]): Entry => ({
      index,
      term,
      type: 'confChange',
      data: encodeConfChange({ change: { type: 'addVoter', node: voters[voters.length - 1]! }, conf: conf(voters) }),
    });

    it('saves snapshot + entries + hard state of one Ready in one transaction (one flush)', async () => {
      const l = new Log({ path: tempDir() });
      try {
        const before = l.stats.transactions;
        await l.save({
          snapshot: { meta: { index: 3, term: 1, conf: CONF }, data: Buffer.from('s') },
          entries: ents(4, 6, 2),
          hardState: { term: 2, vote: 1, commit: 5 },
        });
        assert.equal(l.stats.transactions - before, 1);
        assert.equal(l.firstIndex(), 4);
        assert.equal(l.lastIndex(), 6);
        assert.deepEqual(l.initialState(), { term: 2, vote: 1, commit: 5 });
      } finally {
        await l.close();
      }
    });

    it('bootstraps the initial membership durably, once', async () => {
      const dir = tempDir();
      let l = new Log({ path: dir });
      assert.ok(l.isEmpty());
      await l.bootstrap(CONF);
      await assert.rejects(l.bootstrap(CONF), /non-empty/);
      await l.close();
      l = new Log({ path: dir });
      assert.ok(!l.isEmpty());
      assert.deepEqual(l.snapshot().meta, { index: 0, term: 0, conf: CONF });
      await l.close();
    });

    it('indexes conf-change entries: truncation and compaction drop them, a restart finds them without a scan', async () => {
      const dir = tempDir();
      let l = new Log({ path: dir });
      await l.append([ent(1, 1), confEnt(2, 1, [1, 2]), ent(3, 1), confEnt(4, 1, [1, 2, 3]), ent(5, 1)]);
      assert.deepEqual(l.confEntries().map((e) => e.index), [2, 4]);
      await l.append([ent(4, 2, 'over')]); // truncates the conf change at 4
      assert.deepEqual(l.confEntries().map((e) => e.index), [2]);
      await l.append([confEnt(5, 2, [1, 2, 4])]);
      await l.createSnapshot(3, conf([1, 2]), Buffer.alloc(0)); // compacts the one at 2
      await l.close();
      l = new Log({ path: dir });
      const cs = l.confEntries();
      assert.deepEqual(cs.map((e) => e.index), [5]);
      assert.equal(cs[0]!.type, 'confChange');
      await l.applySnapshot({ meta: { index: 9, term: 3, conf: CONF }, data: Buffer.alloc(0) });
      assert.deepEqual(l.confEntries(), []);
      await l.close();
    });

    it('groups: a write queued while another is in flight runs after it, in order', async () => {
      const l = new Log({ path: tempDir() });
      try {
        const a = l.append(ents(1, 100, 1));
        const b = l.append([ent(50, 2, 'b')]);
        const c = l.setHardState({ term: 2, vote: 0, commit: 50 });
        await Promise.all([a, b, c]);
        assert.equal(l.lastIndex(), 50);
        assert.equal(l.term(50), 2);
        assert.equal(l.initialState().commit, 50);
      } finally {
        await l.close();
      }
    });
  });
  describe('WalRaftLog: segments, torn writes, migration', () => {
    const segFiles = (dir: string) => fs.readdirSync(path.join(dir, 'wal')).filter((f) => f.endsWith('.wal'));

    it('starts new segments as they fill; compaction deletes those its snapshot covers; a restart reads across the rest', async () => {
      const dir = tempDir();
      let l = new WalRaftLog({ path: dir, segmentBytes: 1000 });
      for (let i = 1; i <= 60; i += 3) await l.save({ entries: ents(i, i + 2, 1).map((e) => ({ ...e, data: Buffer.alloc(100, i) })), hardState: { term: 1, vote: 1, commit: i } });
      assert.ok(l.stats.segments >= 6, `segments started: ${l.stats.segments}`);
      const before = segFiles(dir).length;
      await l.createSnapshot(40, CONF, Buffer.from('img40'));
      assert.ok(l.stats.segmentsDeleted > 0 && segFiles(dir).length < before, `${before} → ${segFiles(dir).length} segment files`);
      await l.close();
      l = new WalRaftLog({ path: dir, segmentBytes: 1000 });
      assert.equal(l.firstIndex(), 41);
      assert.equal(l.lastIndex(), 60);
      assert.deepEqual(l.initialState(), { term: 1, vote: 1, commit: 58 });
      assert.equal(Buffer.from(l.snapshot().data).toString(), 'img40');
      assert.deepEqual(l.entries(41, 61, Infinity).map((e) => [e.index, Buffer.from(e.data)[0]]), ents(41, 60, 1).map((e) => [e.index, e.index - ((e.index - 1) % 3)]));
      await l.close();
    });

    it('a torn last write is cut off at restart, and writes after it replay cleanly', async () => {
      const dir = tempDir();
      let l = new WalRaftLog({ path: dir });
      await l.append(ents(1, 3, 1));
      await l.append([ent(4, 1, 'x'.repeat(500))]);
      await l.close();
      // The last record half on disk: its second half is lost, the rest of the file is what it held before (zeros).
      const file = path.join(dir, 'wal', segFiles(dir)[0]!);
      const buf = fs.readFileSync(file);
      let end = buf.length;
      while (buf[end - 1] === 0) end--;
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.alloc(250), 0, 250, end - 250);
      fs.closeSync(fd);
      l = new WalRaftLog({ path: dir });
      assert.equal(l.lastIndex(), 3, 'the torn entry is not in the log');
      await l.append([ent(4, 2, 'y')]);
      await l.close();
      l = new WalRaftLog({ path: dir });
      assert.deepEqual(summary(l.entries(3, 5, Infinity)), ['3/1:normal:e3', '4/2:normal:y']);
      await l.close();
    });

    it('a segment started just before a crash, its head torn, is removed at open and writes go on before it', async () => {
      const dir = tempDir();
      let l = new WalRaftLog({ path: dir, segmentBytes: 300 });
      for (let i = 1; i <= 6; i++) await l.save({ entries: [ent(i, 1, 'w'.repeat(100))], hardState: { term: 1, vote: 2, commit: i - 1 } });
      await l.close();
      const files = segFiles(dir).sort();
      const next = `seg-${String(Number(files[files.length - 1]!.slice(4, -4)) + 1).padStart(12, '0')}.wal`;
      fs.writeFileSync(path.join(dir, 'wal', next), Buffer.from([0x52, 0x46, 0x54, 0x31, 9, 9]));
      l = new WalRaftLog({ path: dir, segmentBytes: 300 });
      assert.ok(!segFiles(dir).includes(next));
      assert.equal(l.lastIndex(), 6);
      await l.append([ent(7, 1)]);
      await l.close();
      l = new WalRaftLog({ path: dir, segmentBytes: 300 });
      assert.equal(l.lastIndex(), 7);
      assert.deepEqual(l.initialState(), { term: 1, vote: 2, commit: 5 });
      await l.close();
    });

    it('a segment lost from the middle of the log is an error at open, not a shorter log', async () => {
      const dir = tempDir();
      const l = new WalRaftLog({ path: dir, segmentBytes: 300 });
      for (let i = 1; i <= 12; i++) await l.append([ent(i, 1, 'z'.repeat(100))]);
      await l.close();
      const files = segFiles(dir).sort();
      assert.ok(files.length >= 4);
      fs.rmSync(path.join(dir, 'wal', files[1]!));
      assert.throws(() => new WalRaftLog({ path: dir, segmentBytes: 300 }), /missing/);
    });

    it('openRaftLog migrates a log kept in LMDB by an earlier version: same hard state, snapshot, entries and conf entries', async () => {
      const dir = tempDir();
      const old = new LmdbRaftLog({ path: dir });
      await old.bootstrap(CONF);
      await old.append([...ents(1, 4, 1), { index: 5, term: 1, type: 'confChange', data: encodeConfChange({ change: { type: 'addVoter', node: 4 }, conf: { voters: [1, 2, 3, 4], learners: [] } }) }, ...ents(6, 9, 2)]);
      await old.createSnapshot(3, CONF, Buffer.from('state@3'));
      await old.setHardState({ term: 2, vote: 3, commit: 8 });
      await old.close();
      let l = await openRaftLog({ path: dir });
      const check = () => {
        assert.deepEqual(l.initialState(), { term: 2, vote: 3, commit: 8 });
        assert.deepEqual(l.snapshot().meta, { index: 3, term: 1, conf: CONF });
        assert.equal(Buffer.from(l.snapshot().data).toString(), 'state@3');
        assert.deepEqual(summary(l.entries(4, 10, Infinity)).map((x) => x.split(':').slice(0, 2).join(':')), ['4/1:normal', '5/1:confChange', '6/2:normal', '7/2:normal', '8/2:normal', '9/2:normal']);
        assert.deepEqual(l.confEntries().map((e) => e.index), [5]);
      };
      check();
      assert.ok(!fs.existsSync(path.join(dir, 'raft.mdb')), 'the LMDB log is removed');
      await l.append([ent(10, 2)]);
      await l.close();
      l = await openRaftLog({ path: dir });
      check();
      assert.equal(l.lastIndex(), 10);
      await l.close();
    });

    it('openRaftLog on a brand-new directory gives an empty log; bootstrap makes it non-empty', async () => {
      const dir = tempDir();
      let l = await openRaftLog({ path: dir });
      assert.ok(l.isEmpty());
      await l.bootstrap(CONF);
      await l.close();
      l = await openRaftLog({ path: dir });
      assert.ok(!l.isEmpty());
      assert.deepEqual(l.snapshot().meta.conf, CONF);
      await l.close();
    });
  });
  describe('WalRaftLog: kill -9 in the middle of a write stream', () => {
    /** What a log holds, for comparison. */
    const image = (l: Storage) => ({
      hard: l.initialState(),
      snap: { ...l.snapshot().meta, data: Buffer.from(l.snapshot().data).toString() },
      entries: l.lastIndex() >= l.firstIndex() ? summary(l.entries(l.firstIndex(), l.lastIndex() + 1, Infinity)).map((x) => x.slice(0, x.indexOf(';'))) : [],
      first: l.firstIndex(),
      last: l.lastIndex(),
    });

    for (const [seed, killAfter] of [[11, 150], [12, 400], [13, 900]] as const) {
      it(`keeps every flushed write, whole, and nothing half-written (seed ${seed}, killed after ${killAfter}+ writes)`, async () => {
        const dir = tempDir();
        const ackedAtKill = await killAfterOks([path.join(repoRoot, 'test', 'storage', 'raft-wal-crash-child.ts'), dir, String(seed)], killAfter);

        // The model: the same writes on MemoryStorage; the log must hold all acknowledged ones, and at most the one
        // that was in flight besides.
        const m = MemoryStorage.bootstrap(CRASH_CONF);
        const ops = new WalOps(seed);
        const apply = () => {
          const op = ops.next(m);
          if (op.t === 'save') {
            m.append(op.entries);
            m.setHardState(op.hardState);
          } else if (op.t === 'compact') m.createSnapshot(op.index, CRASH_CONF, op.data);
          else m.applySnapshot(op.snapshot);
        };
        for (let n = 0; n < ackedAtKill; n++) apply();
        const atAck = image(m);
        apply();
        const inFlight = image(m);
        const l = new WalRaftLog({ path: dir, segmentBytes: 32 * 1024 });
        try {
          const got = image(l);
          assert.ok(
            JSON.stringify(got) === JSON.stringify(atAck) || JSON.stringify(got) === JSON.stringify(inFlight),
            `after ${ackedAtKill} acknowledged writes the log holds neither what they left nor that plus the write in flight:\n${JSON.stringify({ got, atAck }).slice(0, 2000)}`,
          );
          // And it goes on: a write after the restart is kept.
          await l.append([{ index: l.lastIndex() + 1, term: got.hard.term + 1, type: 'normal', data: Buffer.from('after') }]);
        } finally {
          await l.close();
        }
        const again = new WalRaftLog({ path: dir, segmentBytes: 32 * 1024 });
        assert.equal(Buffer.from(again.entries(again.lastIndex(), again.lastIndex() + 1, Infinity)[0]!.data).toString(), 'after');
        await again.close();
      });
    }
  });
});
