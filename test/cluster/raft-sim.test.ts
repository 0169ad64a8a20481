import assert from 'node:assert/strict';
import { defaultOptions, runSeed } from './sim.js';
import type { SimOptions } from './sim.js';

// Default: 5,000 seeds in `npm test`. RAFT_SEEDS=n runs more (seeds 1..n), RAFT_SEED=s replays one
// with a trace, RAFT_SEED_BASE=b shifts the range (for soak runs on new seeds).
const SEEDS = Number(process.env.RAFT_SEEDS ?? 5000);
const BASE = Number(process.env.RAFT_SEED_BASE ?? 0);
const ONE = process.env.RAFT_SEED;

function replayCommand(seed: number): string {
  return `cd ${process.cwd()} && npx tsc -p . && RAFT_SEED=${seed} npx mocha dist/test/cluster/raft-sim.test.js`;
}

describe('raft: deterministic simulation', function () {
  this.timeout(0);

  if (ONE !== undefined) {
    it(`seed ${ONE} (replay)`, () => {
      const seed = Number(ONE);
      const { error, sim } = runSeed({ ...defaultOptions(seed), trace: true });
      if (error) {
        console.log(sim.traceLines.slice(-200).join('\n'));
        assert.fail(`seed ${seed}: ${error}`);
      }
      console.log(`    seed ${seed} ok: ${JSON.stringify(sim.stats)}`);
    });
    return;
  }

  it(`safety after every step, liveness after healing: ${SEEDS} seeds`, () => {
    const t0 = Date.now();
    const total = { elections: 0, commits: 0, snapshotsSent: 0, restarts: 0, confChanges: 0, transfers: 0, commitsAheadOfLeaderDisk: 0, leaderCrashesWithSentUnwritten: 0, appliedAheadOfLeaderDisk: 0, restartsWithStateAheadOfLog: 0, replaysSkipped: 0 };
    for (let s = BASE + 1; s <= BASE + SEEDS; s++) {
      const { error, sim } = runSeed(defaultOptions(s));
      if (error) assert.fail(`seed ${s} failed: ${error}\n  replay: ${replayCommand(s)}`);
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += sim.stats[k];
    }
    console.log(`    ${SEEDS} seeds in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${JSON.stringify(total)}`);
    if (SEEDS >= 1000) {
      // The orderings RawNode allows before a write were exercised, not just permitted: followers committed what
      // the leader had not written yet, and leaders died with appends out but their own write lost.
      assert.ok(total.commitsAheadOfLeaderDisk > 0, 'no commit ahead of the leader\'s own write');
      assert.ok(total.leaderCrashesWithSentUnwritten > 0, 'no leader crash with sent but unwritten entries');
      // Leaders applied what two followers committed before their own write ended, and nodes restarted with a
      // state ahead of their log (skipping the replayed entries).
      assert.ok(total.appliedAheadOfLeaderDisk > 0, 'no leader applied an entry ahead of its own write');
      assert.ok(total.restartsWithStateAheadOfLog > 0, 'no restart with a state ahead of the log');
    }
  });
});

describe('raft: the simulation checker has teeth', function () {
  this.timeout(0);
  const hunt = (bug: NonNullable<SimOptions['bug']>, pattern: RegExp, extra: Partial<SimOptions>) => {
    for (let s = 1; s <= 400; s++) {
      const { error } = runSeed({ ...defaultOptions(s), ...extra, bug });
      // A broken protocol may also just stall; we want the safety checker itself to fire.
      if (error === undefined || error.startsWith('Liveness')) continue;
      assert.match(error, pattern);
      console.log(`      seed ${s}: ${error.split('\n')[0]}`);
      return s;
    }
    return assert.fail(`bug ${bug} went unnoticed in 400 seeds`);
  };

  it('catches a node that forgets its vote across a restart (two votes in one term)', () => {
    // early: 0 — else the check that a leader's term and vote are on disk before it sends (earlyWork) fires first.
    hunt('forgetVote', /Election Safety/, { preVote: false, checkQuorum: false, early: 0 });
  });

  it('catches a node that answers before its write is durable (answers promise a write a crash then loses)', () => {
    // Or the core's own guard: a leader tells a follower a commit index beyond what that follower still holds.
    hunt('sendBeforeWrite', /Election Safety|State Machine Safety|Leader Completeness|Log Matching|commit \d+ beyond last index/, { asyncWrite: 0.5, crashRate: 0.01 });
  });

  it('catches a compaction at the log\'s end while the state is ahead of the log (a snapshot that is not the state)', () => {
    hunt('compactAheadOfLog', /snapshot image is at \d+ but meta says|State Machine Safety/, { leaderAhead: true, keepState: 0.5, early: 1, asyncWrite: 0.5, crashRate: 0.01 });
  });

  it('catches a follower that acknowledges entries it rejected (commit by a minority)', () => {
    hunt('ackRejectedAppend', /State Machine Safety|Leader Completeness|Log Matching|Election Safety/, {});
  });
});
