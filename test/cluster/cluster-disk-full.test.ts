/**
 * A follower's disk (its data directory on a 48 MiB tmpfs, mounted by the test as root, as CI runs):
 * - runs low: its disk alarm blocks publishers cluster-wide (as RabbitMQ's does), through the leader, until space
 *   is back;
 * - fills (alarm floor set below what is left): its writes fail and it reports `failed` (status, /readyz 503) while
 *   staying up; the leader and the other follower go on confirming sends. Once space is freed and the process
 *   restarted, it catches up and every confirmed message is there.
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
  const free = () => {
    const st = fs.statfsSync(mount);
    return st.bavail * st.bsize;
  };
  /** Start 3 nodes with node 3's data on the tmpfs and `resources` for node 3; a leader other than node 3. */
  async function start(resources: Record<string, unknown>): Promise<number> {
    await c?.close();
    fs.rmSync(path.join(mount, 'data'), { recursive: true, force: true });
    c = await WharfCluster.create(fs.mkdtempSync(path.join(root, 'c-')));
    c.node(3).dataDir = path.join(mount, 'data');
    c.node(3).config = { resources };
    await c.startAll();
    let lead = await c.leader();
    if (lead === 3) {
      await c.transferLeader(3, 1);
      for (let i = 0; i < 50 && lead === 3; i++) lead = await c.leader();
    }
    assert.notEqual(lead, 3);
    return lead;
  }
  async function alarms(id: number): Promise<{ resource: string; detail: string }[]> {
    const res = await fetch(`http://127.0.0.1:${c!.node(id).ports.admin}/api/overview`, { headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
    return ((await res.json()) as { alarms: { resource: string; detail: string }[] }).alarms;
  }

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

  it('a follower short of disk raises the disk alarm on the leader: publishers wait cluster-wide until space is back', async () => {
    const lead = await start({ minFreeDisk: 16 * 1024 * 1024, checkInterval: 200 });
    const filler = path.join(mount, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 8 * 1024 * 1024), 1));
    let raised: { resource: string; detail: string } | undefined;
    for (let i = 0; i < 100 && !raised; i++) {
      raised = (await alarms(lead)).find((a) => a.resource === 'disk');
      if (!raised) await sleep(100);
    }
    assert.ok(raised, 'the leader raised the disk alarm');
    assert.match(raised.detail, /^node 3: .* free on the data directory's disk/);
    assert.match((await c!.status(3))?.diskAlarm ?? '', /free on the data directory's disk/);

    // A send through the other follower waits for the alarm to clear, then is confirmed.
    const other = [1, 2].find((n) => n !== lead)!;
    const p = await Stompit.connect({ port: c!.node(other).ports.stomp });
    const sent = p.send('/queue/diskalarm', 'held', { persistent: 'true' });
    fs.rmSync(filler);
    await sent;
    for (let i = 0; i < 100 && (await alarms(lead)).some((a) => a.resource === 'disk'); i++) await sleep(100);
    assert.deepEqual(await alarms(lead), []);
    const inbox = await p.subscribe('/queue/diskalarm', { ack: 'auto' });
    assert.deepEqual((await inbox.take(1, 20_000)).map((m) => m.text), ['held']);
    await p.disconnect();
  });

  it('a follower whose disk fills reports failed and stays up; the cluster goes on; it catches up after a restart with space', async () => {
    // The alarm floor under what is left, so the disk really fills.
    const lead = await start({ minFreeDisk: 1, checkInterval: 200 });
    // Leave node 3 a few MiB, then send more than that.
    const filler = path.join(mount, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 4 * 1024 * 1024), 1));
    const p = await Stompit.connect({ port: c!.node(lead).ports.stomp });
    const body = Buffer.alloc(64 * 1024, 0x61);
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      await p.send('/queue/diskfull', Buffer.concat([Buffer.from(`m${i}|`), body]), { persistent: 'true' });
      sent.push(`m${i}`);
    }
    // The two other nodes confirmed every send. Node 3 no longer takes part, and says so: its process stays up.
    let failed: string | undefined;
    for (let i = 0; i < 100 && failed === undefined; i++) {
      assert.ok(c!.alive(3), 'node 3 stays up when its disk is full');
      failed = (await c!.status(3))?.failed;
      if (failed === undefined) await sleep(100);
    }
    assert.match(failed ?? '', /space|disk|MDB|write|commit/i, 'node 3 reports why it failed');
    assert.ok(c!.alive(3));
    assert.equal((await fetch(`http://127.0.0.1:${c!.node(3).ports.admin}/readyz`)).status, 503);
    await p.disconnect();

    // Space back, process restarted: it catches up with the leader.
    fs.rmSync(filler);
    await c!.kill(3);
    await c!.start(3);
    const target = (await c!.status(lead))!.commitIndex;
    const t0 = Date.now();
    while (((await c!.status(3))?.appliedIndex ?? 0) < target) {
      assert.ok(Date.now() - t0 < 30_000, `node 3 did not catch up to ${target}`);
      await sleep(100);
    }
    const r = await Stompit.connect({ port: c!.node(3).ports.stomp }); // forwarded to the leader
    const inbox = await r.subscribe('/queue/diskfull', { ack: 'auto' });
    const got = await inbox.take(200, 20_000);
    assert.deepEqual(got.map((m) => m.text.slice(0, m.text.indexOf('|'))), sent);
    await r.disconnect();
  });
});
