import assert from 'node:assert/strict';
import { RaftLog } from '../../cluster/raft/log.js';
import { MemoryStorage } from '../../cluster/raft/storage.js';
import type { Entry } from '../../cluster/raft/types.js';

const conf = { voters: [1, 2, 3], learners: [] };
function ents(...ids: [number, number][]): Entry[] {
  return ids.map(([index, term]) => ({ index, term, type: 'normal' as const, data: new Uint8Array([index & 255]) }));
}
function terms(log: RaftLog): string {
  return log.allEntries().map((e) => `${e.index}/${e.term}`).join(' ');
}

describe('raft: RaftLog', () => {
  it('appends to the unstable tail and reads across storage and unstable', () => {
    const st = MemoryStorage.bootstrap(conf);
    st.append(ents([1, 1], [2, 1]));
    const log = new RaftLog(st);
    assert.equal(log.lastIndex(), 2);
    log.append(ents([3, 2], [4, 2]));
    assert.equal(terms(log), '1/1 2/1 3/2 4/2');
    assert.equal(log.term(0), 0);
    assert.equal(log.term(5), undefined);
    assert.deepEqual(log.unstable.entries.map((e) => e.index), [3, 4]);
  });

  it('maybeAppend truncates a conflicting uncommitted suffix, even below the unstable offset', () => {
    const st = MemoryStorage.bootstrap(conf);
    st.append(ents([1, 1], [2, 1], [3, 1]));
    const log = new RaftLog(st);
    log.commitTo(1);
    assert.equal(log.maybeAppend(1, 1, 3, ents([2, 2], [3, 2], [4, 2])), 4);
    assert.equal(terms(log), '1/1 2/2 3/2 4/2');
    assert.equal(log.committed, 3);
    // The storage still holds the stale 2/1 3/1 until the Ready is persisted.
    assert.equal(st.term(2), 1);
    st.append(log.unstable.entries);
    log.stableTo(4, 2);
    assert.equal(log.unstable.entries.length, 0);
    assert.equal(terms(log), '1/1 2/2 3/2 4/2');
  });

  it('maybeAppend rejects a missing predecessor and never truncates committed entries', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 1]));
    assert.equal(log.maybeAppend(2, 2, 2, ents([3, 2])), undefined);
    assert.equal(log.maybeAppend(5, 1, 2, []), undefined);
    log.commitTo(2);
    assert.throws(() => log.maybeAppend(0, 0, 2, ents([1, 1], [2, 3])), /conflicts with committed/);
  });

  it('maybeAppend of entries already present is a no-op (duplicate delivery)', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 1], [3, 1]));
    assert.equal(log.maybeAppend(0, 0, 0, ents([1, 1], [2, 1])), 2);
    assert.equal(terms(log), '1/1 2/1 3/1', 'an old, shorter append must not truncate 3');
  });

  it('findConflictByTerm skips a tail of higher terms', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 2], [3, 2], [4, 5], [5, 5], [6, 5]));
    assert.deepEqual(log.findConflictByTerm(6, 3), { index: 3, term: 2 });
    assert.deepEqual(log.findConflictByTerm(6, 5), { index: 6, term: 5 });
    assert.deepEqual(log.findConflictByTerm(6, 0), { index: 0, term: 0 });
  });

  it('isUpToDate compares last term, then last index (§5.4.1)', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 2]));
    assert.equal(log.isUpToDate(2, 2), true);
    assert.equal(log.isUpToDate(1, 2), false);
    assert.equal(log.isUpToDate(9, 1), false);
    assert.equal(log.isUpToDate(1, 3), true);
  });

  it('slice respects the byte cap but returns at least one entry, and reports compaction', () => {
    const st = MemoryStorage.bootstrap(conf);
    st.append(ents([1, 1], [2, 1], [3, 1], [4, 1]));
    st.createSnapshot(2, conf, new Uint8Array([9]));
    const log = new RaftLog(st);
    log.append(ents([5, 2], [6, 2]));
    assert.equal(log.firstIndex(), 3);
    assert.equal(log.term(2), 1, 'the snapshot point answers its term');
    assert.equal(log.term(1), undefined);
    assert.equal(log.slice(2, 5, 1e9), undefined);
    assert.deepEqual(log.slice(3, 7, 1e9)?.map((e) => e.index), [3, 4, 5, 6]);
    assert.deepEqual(log.slice(3, 7, 1)?.map((e) => e.index), [3]);
    assert.deepEqual(log.slice(3, 7, 34)?.map((e) => e.index), [3, 4]);
  });

  it('restore replaces the log with a snapshot and commits it', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 1]));
    log.restore({ meta: { index: 10, term: 3, conf }, data: new Uint8Array() });
    assert.equal(log.firstIndex(), 11);
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.lastTerm(), 3);
    assert.equal(log.committed, 10);
    log.append(ents([11, 3]));
    assert.equal(log.lastIndex(), 11);
  });

  it('committed entries are handed out once, from applied + 1', () => {
    const log = new RaftLog(MemoryStorage.bootstrap(conf));
    log.append(ents([1, 1], [2, 1], [3, 1]));
    log.commitTo(2);
    assert.deepEqual(log.nextCommittedEntries().map((e) => e.index), [1, 2]);
    log.appliedTo(2);
    assert.equal(log.hasNextCommittedEntries(), false);
    log.commitTo(1);
    assert.equal(log.committed, 2, 'commit never decreases');
    assert.throws(() => log.commitTo(7), /beyond last index/);
  });
});
