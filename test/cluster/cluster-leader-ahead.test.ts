/**
 * The leader applies what two followers committed while its own Raft-log write of it is still in flight
 * (RawNode.takeCommitted). Here the leader's disk is made slow on purpose (WHARF_TEST_LEADER_WRITE_DELAY_MS: each of
 * its Raft-log writes waits 1.5 s), so the receipts for the messages below are sent while the leader's own log does
 * not hold them yet; then the leader is SIGKILLed. Proven: no confirmed message is lost, and the killed node — its
 * state store ahead of its log — restarts, catches up, leads and serves exactly the confirmed messages, once each.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Stompit } from '../protocols/stomp/helpers.js';
import { WharfCluster, sleep } from './wharf-cluster.js';

const SLOW_LEADER_DISK = { WHARF_TEST_LEADER_WRITE_DELAY_MS: '1500' };

describe('cluster: the leader applies entries its own write has not finished (kill -9 in that window)', function () {
  this.timeout(120_000);
  let root: string;
  let c: WharfCluster;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-cahead-'));
    c = await WharfCluster.create(root, 3);
    for (const n of c.nodes) n.env = SLOW_LEADER_DISK;
    await c.startAll();
  });
  after(async () => {
    await c?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('loses no confirmed message when the leader dies before its own write; its restart skips what its state already holds', async () => {
    const lead = await c.leader();
    const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
    const sent = Array.from({ length: 20 }, (_, i) => `a${i}`);
    for (const body of sent) await p.send('/queue/ahead', body, { persistent: 'true' }); // each waits for its receipt
    await c.kill(lead); // SIGKILL: the slow write of (most of) these entries has not ended
    p.destroy();

    // Another node leads and has every confirmed message (two followers' logs held them).
    const next = await c.leader(20_000, lead);
    assert.notEqual(next, lead);

    // The killed node restarts with its state store ahead of its log, and says so.
    c.node(lead).env = {};
    await c.start(lead);
    let log = '';
    for (let i = 0; i < 50 && !/state store is ahead of the Raft log/.test(log); i++) {
      await sleep(100);
      log = fs.readFileSync(path.join(c.node(lead).dir, 'wharf.log'), 'utf8');
    }
    const ahead = /state store is ahead of the Raft log \(applied (\d+), log ends at (\d+)\)/.exec(log);
    assert.ok(ahead, 'the leader was killed before its own write: the path under test was taken');
    console.log(`      node ${lead} restarted with its state at ${ahead[1]}, its log ending at ${ahead[2]}`);

    // It catches up (the entries its log lacks come back from the new leader, not applied twice) and leads again.
    const target = (await c.status(next))!.commitIndex;
    for (let t0 = Date.now(); ((await c.status(lead))?.appliedIndex ?? 0) < target; ) {
      assert.ok(Date.now() - t0 < 20_000, `node ${lead} did not catch up to ${target}`);
      await sleep(100);
    }
    await c.transferLeader(next, lead);
    let now = await c.leader();
    for (let i = 0; i < 50 && now !== lead; i++) now = await c.leader();
    assert.equal(now, lead);

    // Its engine, opened from that state, holds exactly the confirmed messages, in order, once each.
    const s = await Stompit.connect({ port: c.node(lead).ports.stomp });
    await s.send('/queue/ahead', 'end', { persistent: 'true' });
    const inbox = await s.subscribe('/queue/ahead', { ack: 'client-individual' });
    const got = await inbox.take(sent.length + 1, 10_000);
    assert.deepEqual(got.map((m) => m.text), [...sent, 'end']);
    for (const m of got) await s.ack(m);
    await s.disconnect();
  });
});
