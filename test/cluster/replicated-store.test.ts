/**
 * The replicated Store, proven in one process: 3 ReplicatedNodes on an in-process network with temp LMDB dirs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { decodeBatch, decodePrepared, encodeBatch, encodePrepared } from '../../cluster/batch-codec.js';
import { prepareBatch } from '../../storage/lmdb/lmdb-store.js';
import { NotLeaderError, type ReplicatedNode } from '../../cluster/replicated-store.js';
import type { Command, QueueRecovery, Store, StoredEntry } from '../../src/core/store.js';
import { assertSameMessage, fullMessage, plainMessage, storeSuite } from '../storage/store-suite.js';
import { FAST, TestCluster, dump, tempRoot, until } from './cluster-helpers.js';

/**
 * The shared Store suite's shape: `makeStore(dir)` → an unopened Store on `dir`. Here that is a whole 3-node
 * cluster under `dir`; open() starts it, waits for a leader and opens the leader's ReplicatedStore; close()
 * stops every node. Reopening starts the cluster again on the same dirs (restart of all nodes).
 */
class ClusterStore implements Store {
  private readonly cluster: TestCluster;
  private leader: ReplicatedNode | undefined;
  private closing: Promise<void> | undefined;

  constructor(dir: string) {
    this.cluster = new TestCluster(dir);
  }

  async open(): Promise<{ queues: QueueRecovery[]; kv: Map<string, unknown> }> {
    await this.cluster.startAll();
    this.cluster.node(1).campaign(); // no need to wait out an election timeout
    this.leader = await this.cluster.leader();
    return this.leader.store.open();
  }
  private get store(): Store {
    if (!this.leader) throw new Error('ClusterStore: not open');
    return this.leader.store;
  }
  commit(batch: Command[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error('ClusterStore: commit on a closed store'));
    return this.store.commit(batch);
  }
  readEntries(queue: string, afterSeq: number, limit: number): StoredEntry[] {
    return this.store.readEntries(queue, afterSeq, limit);
  }
  readSeqs(queue: string, afterSeq: number, limit: number): number[] {
    return this.store.readSeqs(queue, afterSeq, limit);
  }
  size(): number {
    return this.store.size();
  }
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.leader?.store.close();
      await this.cluster.stopAll();
    })();
    return this.closing;
  }
}

storeSuite('ReplicatedStore (leader of a 3-node in-process cluster)', (dir) => new ClusterStore(dir));

const enq = (queue: string, seq: number, extra: Partial<Extract<Command, { t: 'enqueue' }>> = {}): Command => ({
  t: 'enqueue',
  queue,
  seq,
  message: plainMessage(seq),
  ...extra,
});

describe('ReplicatedStore', function () {
  this.timeout(60_000);
  let roots: string[] = [];
  let clusters: TestCluster[] = [];
  const newCluster = (): TestCluster => {
    const root = tempRoot();
    roots.push(root);
    const c = new TestCluster(root);
    clusters.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clusters) await c.stopAll().catch(() => undefined);
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    clusters = [];
    roots = [];
  });

  it('entry data: prepared batches round-trip op for op, a fanned-out message once; version-1 data still decodes', () => {
    const m = fullMessage(3, 100);
    const a: Command[] = [
      { t: 'queue.put', queue: 'q:a', meta: { kind: 'queue', n: 2n ** 70n } },
      { t: 'enqueue', queue: 'q:a', seq: 1, message: m, shared: 'S1' },
      { t: 'enqueue', queue: 'q:b', seq: 1, message: m, shared: 'S1', deliveryCount: 2 },
      { t: 'update', queue: 'q:a', seq: 1, deliveryCount: 1 },
      { t: 'update', queue: 'q:a', seq: 1, deliveryCount: 2, deliveryTime: 1234 },
    ];
    const b: Command[] = [
      { t: 'enqueue', queue: 'q:c', seq: 9, message: plainMessage(9) },
      { t: 'kv.put', key: 'retained:x', value: { b: Buffer.from([1, 2]), big: -(2n ** 63n) } },
      { t: 'ack', queue: 'q:b', seq: 1 },
      { t: 'mark', queue: 'q:a', seq: 1 },
      { t: 'purge', queue: 'q:c' },
      { t: 'queue.delete', queue: 'q:c' },
      { t: 'kv.delete', key: 'retained:x' },
    ];
    const batches = [prepareBatch(a), prepareBatch(b)];
    const enc = encodePrepared(batches);
    assert.ok(enc.length < 2 * encodePrepared([prepareBatch([a[1]!])]).length + encodePrepared([prepareBatch(b)]).length, 'the shared message is encoded once');
    const out = decodePrepared(enc);
    assert.deepEqual(out, batches);
    // An entry written by an earlier version (commands): decoded and prepared here.
    assert.deepEqual(decodePrepared(encodeBatch(a)), [prepareBatch(a)]);
    assert.throws(() => decodePrepared(encodePrepared(batches).subarray(0, 40)));
    // [2, [[[9, 1]]], []]: an op code nobody writes
    assert.throws(() => decodePrepared(Buffer.from([0x93, 2, 0x91, 0x91, 0x92, 9, 1, 0x90])), /malformed replicated batch: op 9/);
    // [2, [[[1, "q", "x"]]], []]: an ack whose seq is not a number
    assert.throws(() => decodePrepared(Buffer.from([0x93, 2, 0x91, 0x91, 0x93, 1, 0xa1, 0x71, 0xa1, 0x78, 0x90])), /malformed replicated batch: number/);
  });

  it('encodes a batch losslessly, a fanned-out message once', () => {
    const m = fullMessage(3, 100);
    const batch: Command[] = [
      { t: 'queue.put', queue: 'q:a', meta: { kind: 'queue', n: 2n ** 70n } },
      { t: 'enqueue', queue: 'q:a', seq: 1, message: m, shared: 'S1' },
      { t: 'enqueue', queue: 'q:b', seq: 1, message: m, shared: 'S1', deliveryCount: 2 },
      { t: 'update', queue: 'q:a', seq: 1, deliveryCount: 1 },
      { t: 'kv.put', key: 'retained:x', value: { b: Buffer.from([1, 2]), big: -(2n ** 63n), u: undefined } },
      { t: 'ack', queue: 'q:b', seq: 1 },
    ];
    const enc = encodeBatch(batch);
    assert.ok(enc.length < 2 * encodeBatch([batch[1]!]).length, 'the shared message is encoded once');
    const out = decodeBatch(enc);
    assert.equal(out.length, batch.length);
    const e1 = out[1] as Extract<Command, { t: 'enqueue' }>;
    const e2 = out[2] as Extract<Command, { t: 'enqueue' }>;
    assertSameMessage(e1.message, m);
    assert.equal(e1.message, e2.message, 'one decoded object for a fanned-out message');
    assert.equal(e2.deliveryCount, 2);
    assert.deepEqual(out[0], batch[0]);
    const kv = out[4] as Extract<Command, { t: 'kv.put' }>;
    assert.ok(Buffer.isBuffer((kv.value as { b: unknown }).b));
    assert.equal((kv.value as { big: bigint }).big, -(2n ** 63n));
  });

  it('replicates every commit: followers end with the same queues, kv and entries as the leader', async () => {
    const c = newCluster();
    await c.startAll();
    const leader = await c.leader();
    const s = leader.store;
    await s.open();
    const m = fullMessage(1);
    const commits: Promise<void>[] = [];
    for (let i = 1; i <= 200; i++) commits.push(s.commit([enq('q:a', i), { t: 'kv.put', key: `k${i % 7}`, value: i }]));
    commits.push(s.commit([{ t: 'queue.put', queue: 'q:b', meta: { durable: true } }, enq('q:b', 1, { message: m, shared: 'X' }), enq('q:c', 1, { message: m, shared: 'X' })]));
    await Promise.all(commits);
    await s.commit([{ t: 'ack', queue: 'q:a', seq: 5 }, { t: 'update', queue: 'q:a', seq: 6, deliveryCount: 3 }, { t: 'mark', queue: 'q:a', seq: 10 }, { t: 'kv.delete', key: 'k0' }]);
    await s.commit([{ t: 'purge', queue: 'q:c' }, { t: 'ack', queue: 'q:b', seq: 1 }]);
    // Group commit: 202 proposals took far fewer Raft-log fsyncs.
    assert.ok(leader.log.stats.transactions < 100, `leader Raft-log transactions: ${leader.log.stats.transactions}`);
    await c.settle();
    const want = dump(leader.state);
    for (const n of c.running()) assert.deepEqual(dump(n.state), want, `node ${n.id} state`);
    const q = (want as { queues: { name: string; count: number }[] }).queues.find((x) => x.name === 'q:a');
    assert.equal(q?.count, 199);
  });

  it('every node applies in windows: messages enqueued and acked within one are never written, the same state everywhere', async () => {
    const c = newCluster();
    await c.startAll();
    const leader = await c.leader();
    const s = leader.store;
    await s.open();
    // Consumers that keep up: each message is acked a moment after its enqueue is committed.
    for (let i = 1; i <= 60; i++) {
      await s.commit([enq('q:w', i)]);
      if (i > 2) await s.commit([{ t: 'ack', queue: 'q:w', seq: i - 2 }]);
    }
    await c.settle();
    const want = dump(leader.state);
    const followers = c.running().filter((n) => n !== leader);
    for (const n of followers) assert.deepEqual(dump(n.state), want, `node ${n.id} state`);
    for (const n of c.running()) assert.ok(n.state.elision.enqueues > 0, `node ${n.id} elided ${n.state.elision.enqueues} of 58 acked messages`);
  });

  it('the leader confirms a commit before its apply, and the engine\'s reads of the state (paging, recovery) see it', async () => {
    const c = newCluster();
    await c.startAll();
    const leader = await c.leader();
    const s = leader.store;
    await s.open();
    await s.commit([enq('q:r', 1), { t: 'kv.put', key: 'r', value: 1 }]);
    const committed = leader.raw.raft.log.committed;
    assert.ok(leader.appliedIndex < committed, `confirmed at commit ${committed}, applied ${leader.appliedIndex} (the window is open)`);
    assert.ok(!leader.state.readSeqs('q:r', 0, 10).includes(1), 'not in the state store yet');
    assert.deepEqual(s.readSeqs('q:r', 0, 10), [1], 'the store port puts it there before reading');
    assert.equal(leader.state.readSeqs('q:r', 0, 10).length, 1);
    await s.commit([enq('q:r', 2)]);
    assert.deepEqual(s.readEntries('q:r', 1, 10).map((e) => e.seq), [2]);
    const rec = await s.open();
    assert.equal(rec.queues.find((q) => q.name === 'q:r')?.count, 2, 'recovery (a new engine) reads it applied');
    await c.settle();
    for (const n of c.running()) assert.deepEqual(dump(n.state), dump(leader.state), `node ${n.id} state`);
  });

  it('followers refuse open() and commit() with an error naming the leader', async () => {
    const c = newCluster();
    await c.startAll();
    const leader = await c.leader();
    await c.settle();
    const f = c.running().find((n) => n !== leader)!;
    await until(() => f.leader === leader.id, 'the follower to know the leader');
    await assert.rejects(f.store.commit([enq('q', 1)]), (err: unknown) => {
      assert.ok(err instanceof NotLeaderError);
      assert.equal(err.leader, leader.id);
      assert.match(err.message, new RegExp(`not the cluster leader; the leader is node ${leader.id}`));
      return true;
    });
    await assert.rejects(f.store.open(), NotLeaderError);
    // A bad batch is refused before it reaches the log.
    const last = leader.status().lastIndex;
    await assert.rejects(leader.store.commit([{ t: 'enqueue', queue: '', seq: 1, message: plainMessage(1) }]), TypeError);
    assert.equal(leader.status().lastIndex, last);
  });

  it('survives a leader crash: a new leader holds every commit that resolved, open() returns the same state', async () => {
    const c = newCluster();
    await c.startAll();
    const old = await c.leader();
    await old.store.open();
    const resolved: number[] = [];
    const pending: Promise<void>[] = [];
    let seq = 0;
    // A stream of commits; crash the leader in the middle of it.
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 10; k++) {
        const s = ++seq;
        pending.push(old.store.commit([enq('q:x', s), { t: 'kv.put', key: 'last', value: s }]).then(() => void resolved.push(s), () => undefined));
      }
      await new Promise((r) => setTimeout(r, 10));
      if (round === 12) await c.crash(old.id);
    }
    await Promise.all(pending);
    assert.ok(resolved.length >= 10, `some commits resolved before the crash (${resolved.length})`);
    const leader = await c.leader();
    assert.notEqual(leader.id, old.id);
    const rec = await leader.store.open();
    const have = new Set(leader.store.readSeqs('q:x', 0, 1_000_000));
    for (const s of resolved) assert.ok(have.has(s), `resolved commit ${s} present on the new leader`);
    const qx = rec.queues.find((q) => q.name === 'q:x')!;
    assert.equal(qx.count, have.size);
    await leader.store.commit([enq('q:x', 1000)]);
    await c.settle();
    const want = dump(leader.state);
    for (const n of c.running()) assert.deepEqual(dump(n.state), want, `survivor ${n.id} state`);

    // The crashed node comes back as a follower, replays and catches up.
    const back = await c.start(old.id);
    await c.settle();
    assert.ok(!back.isLeader || (await c.leader()) === back);
    assert.deepEqual(dump(back.state), dump((await c.leader()).state));
  });

  it('compacts the log into state snapshots; a follower that fell behind is caught up by InstallSnapshot', async () => {
    const root = tempRoot();
    roots.push(root);
    const c = new TestCluster(root, [1, 2, 3], { ...FAST, snapshotEntries: 20 });
    clusters.push(c);
    await c.startAll();
    c.node(1).campaign();
    const leader = await c.leader();
    await leader.store.open();
    const lagging = c.running().find((n) => n !== leader)!;
    c.net.isolate(lagging.id);
    const m = fullMessage(7);
    for (let i = 1; i <= 60; i++) {
      await leader.store.commit([enq('q', i), { t: 'kv.put', key: `k${i % 5}`, value: { i, big: BigInt(i) ** 30n } }, enq('fan', i, { message: m, shared: `S${i % 3}` })]);
    }
    await leader.store.commit([{ t: 'ack', queue: 'q', seq: 3 }, { t: 'purge', queue: 'fan' }]);
    // Applies go in windows (one state transaction each), so one snapshot may cover several multiples of 20 entries.
    await until(() => leader.stats.snapshotsCreated >= 1 && leader.log.firstIndex() > 40, 'the leader to compact its log after its apply windows');
    c.net.heal(lagging.id);
    await c.settle();
    assert.equal(lagging.stats.snapshotsInstalled, 1);
    assert.deepEqual(dump(lagging.state), dump(leader.state));
    // Restart after the install: state and log agree, nothing replayed twice.
    await c.stop(lagging.id);
    const back = await c.start(lagging.id);
    await leader.store.commit([enq('q', 100)]);
    await c.settle();
    assert.deepEqual(dump(back.state), dump(leader.state));
  });

  it('a restarted node replays exactly: nothing applied twice, nothing missed; an empty state is rebuilt from the log', async () => {
    const c = newCluster();
    await c.startAll();
    c.node(1).campaign();
    const leader = await c.leader();
    await leader.store.open();
    for (let i = 1; i <= 30; i++) await leader.store.commit([enq('q', i)]);
    await c.settle();
    const f = c.running().find((n) => n !== leader)!;
    const fid = f.id;
    const appliedBefore = f.appliedIndex;
    await c.stop(fid);
    let back = await c.start(fid);
    assert.equal(back.state.appliedIndex(), appliedBefore);
    await c.settle();
    assert.equal(back.state.stats.batches, 0, 'nothing re-applied after a restart');
    for (let i = 31; i <= 35; i++) await leader.store.commit([enq('q', i)]);
    await c.settle();
    assert.equal(back.state.stats.batches, 5, 'exactly the 5 new entries applied');
    assert.deepEqual(dump(back.state), dump(leader.state));

    // Lose the follower's state store entirely: it is rebuilt by replaying the Raft log from index 1.
    await c.stop(fid);
    fs.rmSync(`${c.dir(fid)}/state`, { recursive: true, force: true });
    back = await c.start(fid);
    await c.settle();
    assert.deepEqual(dump(back.state), dump(leader.state));
    assert.equal(back.state.appliedIndex(), leader.state.appliedIndex());
  });

  it('a node killed after applying without sync replays what its state lost from the Raft log', async () => {
    const c = newCluster();
    await c.startAll();
    c.node(1).campaign();
    const leader = await c.leader();
    await leader.store.open();
    for (let i = 1; i <= 40; i++) await leader.store.commit([enq('q', i), { t: 'kv.put', key: 'last', value: i }]);
    await c.settle();
    const f = c.running().find((n) => n !== leader)!;
    const fid = f.id;
    // What an OS crash can leave of an unsynced state store: its file as of its last sync.
    await f.state.syncNow();
    const stateFile = path.join(c.dir(fid), 'state', 'wharf.mdb');
    const synced = fs.readFileSync(stateFile);
    const syncedIndex = f.appliedIndex;
    for (let i = 41; i <= 80; i++) await leader.store.commit([enq('q', i), { t: 'kv.put', key: 'last', value: i }, ...(i % 4 === 0 ? [{ t: 'ack', queue: 'q', seq: i - 40 } as Command] : [])]);
    await c.settle();
    assert.ok(f.appliedIndex >= syncedIndex + 40);
    await c.crash(fid);
    fs.writeFileSync(stateFile, synced);

    const back = await c.start(fid);
    assert.equal(back.state.appliedIndex(), syncedIndex, 'the state resumes from its last synced applied index');
    await c.settle();
    assert.equal(back.state.stats.batches, back.appliedIndex - syncedIndex, 'every entry after it replayed, once');
    assert.deepEqual(dump(back.state), dump(leader.state));
  });

  it('after a reboot with unsynced state, a node rebuilds its state from the Raft log instead of trusting it', async () => {
    const root = tempRoot();
    roots.push(root);
    const c = new TestCluster(root, [1, 2, 3], { ...FAST, snapshotEntries: 25 });
    clusters.push(c);
    await c.startAll();
    c.node(1).campaign();
    const leader = await c.leader();
    await leader.store.open();
    for (let i = 1; i <= 60; i++) await leader.store.commit([enq('q', i)]);
    await c.settle();
    const f = c.running().find((n) => n !== leader)!;
    const fid = f.id;
    // settle() waits for the applies, not for the compaction they started (a state fsync and a log write).
    await until(() => f.log.firstIndex() > 1, 'the follower to compact its log (its state synced first)');
    await c.crash(fid);
    // The machine went down: the marker names another boot, and the state file is torn.
    fs.writeFileSync(path.join(c.dir(fid), 'state-unsynced'), 'a-previous-boot');
    const stateFile = path.join(c.dir(fid), 'state', 'wharf.mdb');
    const torn = fs.readFileSync(stateFile);
    torn.fill(0xa5, 0, Math.min(torn.length, 64 * 1024));
    fs.writeFileSync(stateFile, torn);

    const back = await c.start(fid);
    await c.settle();
    assert.deepEqual(dump(back.state), dump(leader.state));
    // A clean stop syncs and clears the marker: the next start trusts the state.
    await c.stop(fid);
    assert.equal(fs.existsSync(path.join(c.dir(fid), 'state-unsynced')), false);
    const again = await c.start(fid);
    assert.equal(again.state.appliedIndex(), back.appliedIndex);
  });
});
