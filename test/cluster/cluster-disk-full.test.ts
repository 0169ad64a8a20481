/**
 * A follower's disk fills (its data directory on a 48 MiB tmpfs, mounted by the test as root, as CI runs): its writes
 * fail and it stops taking part, while the leader and the other follower go on confirming sends. Once space is freed
 * and the process restarted, it catches up and every confirmed message is there.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Stompit } from '../protocols/stomp/helpers.js';
import { sleep, WharfCluster } from './wharf-cluster.js';

describe('cluster: a follower whose disk fills', function () {
  this.timeout(120_000);
  let root: string;
  let mount: string;
  let c: WharfCluster | undefined;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-cdisk-'));
    mount = path.join(root, 'small');
    fs.mkdirSync(mount);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mount]);
    } catch (err) {
      throw new Error(`this test mounts a 48 MiB tmpfs and needs root (CI runs as root): ${(err as Error).message}`);
    }
  });
  after(async () => {
    await c?.close();
    try {
      execFileSync('umount', [mount]);
    } catch {
      /* not mounted */
    }
    if (!process.env.WHARF_KEEP_TEST_DIR) fs.rmSync(root, { recursive: true, force: true });
  });

  it('stops that node, keeps the cluster going, and the node catches up after a restart with space', async () => {
    c = await WharfCluster.create(root);
    c.node(3).dataDir = path.join(mount, 'data');
    await c.startAll();
    let lead = await c.leader();
    if (lead === 3) {
      await c.transferLeader(3, 1);
      for (let i = 0; i < 50 && lead === 3; i++) lead = await c.leader();
    }
    assert.notEqual(lead, 3);
    // Leave node 3 a few MiB, then send more than that.
    const filler = path.join(mount, 'filler');
    const free = () => {
      const st = fs.statfsSync(mount);
      return st.bavail * st.bsize;
    };
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 4 * 1024 * 1024), 1));
    const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
    const body = Buffer.alloc(64 * 1024, 0x61);
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      await p.send('/queue/diskfull', Buffer.concat([Buffer.from(`m${i}|`), body]), { persistent: 'true' });
      sent.push(`m${i}`);
    }
    // The two other nodes confirmed every send. Node 3 no longer takes part: its process has exited (today lmdb-js
    // surfaces the failed commit as an unhandled rejection), or it stays up and reports `failed` with /readyz 503.
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      const s3 = (await c.status(3)) as unknown as { failed?: string } | undefined;
      gone = !c.alive(3) || typeof s3?.failed === 'string';
      if (!gone) await sleep(100);
    }
    assert.ok(gone, 'node 3 stopped taking part once its disk was full');
    if (c.alive(3)) assert.equal((await fetch(`http://127.0.0.1:${c.node(3).ports.admin}/readyz`)).status, 503);
    await p.disconnect();

    // Space back, process restarted: it catches up with the leader.
    fs.rmSync(filler);
    await c.kill(3);
    await c.start(3);
    const target = (await c.status(lead))!.commitIndex;
    const t0 = Date.now();
    while (((await c.status(3))?.appliedIndex ?? 0) < target) {
      assert.ok(Date.now() - t0 < 30_000, `node 3 did not catch up to ${target}`);
      await sleep(100);
    }
    const r = await Stompit.connect({ port: c.node(3).ports.stomp }); // forwarded to the leader
    const inbox = await r.subscribe('/queue/diskfull', { ack: 'auto' });
    const got = await inbox.take(200, 20_000);
    assert.deepEqual(got.map((m) => m.text.slice(0, m.text.indexOf('|'))), sent);
    await r.disconnect();
  });
});
