import assert from 'node:assert/strict';
import { Inflights, Progress } from '../../cluster/raft/progress.js';
import { committedIndex, voteResult, applyConfChange } from '../../cluster/raft/confchange.js';

describe('raft: Inflights', () => {
  it('fills by count and bytes, frees by index', () => {
    const f = new Inflights(3, 100);
    f.add(1, 10);
    f.add(3, 10);
    assert.equal(f.full(), false);
    f.add(5, 10);
    assert.equal(f.full(), true);
    assert.throws(() => f.add(6, 1));
    f.freeLE(3);
    assert.equal(f.count, 1);
    assert.equal(f.bytes, 10);
    f.add(6, 95);
    assert.equal(f.full(), true, 'byte limit');
    f.freeFirstOne();
    assert.equal(f.count, 1);
    f.freeLE(100);
    assert.equal(f.count, 0);
    assert.equal(f.bytes, 0);
  });
  it('stays correct over many add/free cycles (array compaction)', () => {
    const f = new Inflights(4, 0);
    for (let i = 1; i <= 1000; i++) {
      f.add(i, 1);
      if (i % 2 === 0) f.freeLE(i - 1);
    }
    assert.equal(f.count, 1);
  });
});

describe('raft: Progress', () => {
  it('probe sends one message at a time; an ack switches to replicate and pipelines', () => {
    const p = new Progress(11, 2, 0, false);
    assert.equal(p.isPaused(), false);
    p.sentEntries(3, 30);
    assert.equal(p.isPaused(), true, 'one probe in flight');
    assert.equal(p.next, 11, 'probe does not advance next optimistically');
    assert.equal(p.maybeUpdate(13), true);
    p.becomeReplicate();
    assert.equal(p.next, 14);
    p.sentEntries(2, 20);
    assert.equal(p.next, 16);
    p.sentEntries(2, 20);
    assert.equal(p.isPaused(), true, 'window of 2 is full');
    p.inflights.freeLE(15);
    assert.equal(p.isPaused(), false);
  });

  it('maybeDecrTo: stale rejections are ignored, fresh ones back off to the hint', () => {
    const p = new Progress(11, 4, 0, false);
    // probe at prev index 10
    assert.equal(p.maybeDecrTo(9, 0), false, 'not the outstanding probe');
    assert.equal(p.maybeDecrTo(10, 4), true);
    assert.equal(p.next, 5);
    p.match = 3;
    p.becomeReplicate();
    p.sentEntries(5, 50);
    assert.equal(p.maybeDecrTo(3, 0), false, 'at or below match: stale');
    assert.equal(p.maybeDecrTo(6, 0), true);
    assert.equal(p.next, 4, 'replicate falls back to match + 1');
  });

  it('snapshot state pauses replication; becomeProbe resumes after the snapshot index', () => {
    const p = new Progress(5, 4, 0, false);
    p.becomeSnapshot({ meta: { index: 20, term: 2, conf: { voters: [1], learners: [] } }, data: new Uint8Array(10) });
    assert.equal(p.isPaused(), true);
    p.becomeProbe();
    assert.equal(p.next, 21);
    assert.equal(p.state, 'probe');
  });
});

describe('raft: quorum and conf changes', () => {
  const conf = { voters: [1, 2, 3, 4, 5], learners: [6] };
  it('commit index is the majority match of voters only', () => {
    const m = new Map([[1, 9], [2, 7], [3, 5], [4, 1], [5, 0], [6, 100]]);
    assert.equal(committedIndex(conf, (id) => m.get(id) ?? 0), 5);
  });
  it('vote tally: won / lost / pending; learners do not count', () => {
    assert.equal(voteResult(conf, new Map([[1, true], [2, true], [6, true]])), 'pending');
    assert.equal(voteResult(conf, new Map([[1, true], [2, true], [3, true]])), 'won');
    assert.equal(voteResult(conf, new Map([[1, false], [2, false], [3, false]])), 'lost');
  });
  it('validates single-server changes', () => {
    assert.deepEqual(applyConfChange(conf, { type: 'promoteLearner', node: 6 }), { voters: [1, 2, 3, 4, 5, 6], learners: [] });
    assert.throws(() => applyConfChange(conf, { type: 'addVoter', node: 6 }), /learner/);
    assert.throws(() => applyConfChange(conf, { type: 'promoteLearner', node: 2 }), /not a learner/);
    assert.throws(() => applyConfChange({ voters: [1], learners: [] }, { type: 'removeNode', node: 1 }), /last voter/);
  });
});
