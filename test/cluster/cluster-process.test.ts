/**
 * `wharf start` with a `cluster:` section, three real processes on 127.0.0.1 (Raft links over TLS): a leader is elected and serves,
 * followers forward client connections to it byte for byte (STOMP and SQS over HTTP here), /readyz holds on every
 * node, and a SIGKILLed leader is replaced while its confirmed messages survive.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Stompit } from '../protocols/stomp/helpers.js';
import { WharfCluster, wharfCli } from './wharf-cluster.js';
import { tlsFixture } from '../helpers/broker.js';

describe('cluster: three wharf processes', function () {
  this.timeout(120_000);
  let root: string;
  let c: WharfCluster;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-cproc-'));
    // The Raft links of this cluster run over TLS (the fault test's run over plain TCP).
    c = await WharfCluster.create(root, 3, { tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key'), ca: tlsFixture('ca.crt') } });
    await c.startAll();
  });
  after(async () => {
    await c?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('elects one leader that serves; every node is ready and reports the members', async () => {
    const lead = await c.leader();
    for (const n of c.nodes) {
      // A follower is ready once it has heard from the leader (the first heartbeat after the election).
      let res = await fetch(`http://127.0.0.1:${n.ports.admin}/readyz`);
      for (let i = 0; i < 50 && res.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        res = await fetch(`http://127.0.0.1:${n.ports.admin}/readyz`);
      }
      assert.equal(res.status, 200, `node ${n.id} /readyz`);
      const s = (await c.status(n.id))!;
      assert.equal(s.leader, lead);
      assert.deepEqual(s.members.map((m) => m.id).sort(), [1, 2, 3]);
    }
    const ls = (await c.status(lead))!;
    assert.ok(ls.members.every((m) => typeof m.lag === 'number'), `the leader reports each member's lag: ${JSON.stringify(ls)}`);
  });

  it('a follower forwards STOMP and SQS clients to the leader', async () => {
    const lead = await c.leader();
    const [f1, f2] = c.nodes.filter((n) => n.id !== lead);
    const p = await Stompit.connect({ port: f1!.ports.stomp });
    for (let i = 0; i < 20; i++) await p.send('/queue/fwd', `m${i}`, { persistent: 'true' });
    await p.disconnect();
    const s = await Stompit.connect({ port: f2!.ports.stomp });
    const inbox = await s.subscribe('/queue/fwd', { ack: 'client-individual' });
    const got = await inbox.take(20, 10_000);
    assert.deepEqual(got.map((m) => m.text), Array.from({ length: 20 }, (_, i) => `m${i}`));
    for (const m of got) await s.ack(m);
    await s.disconnect();

    const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${f1!.ports.sqs}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'fwd-sqs' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'via follower' }));
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
    assert.equal(r.Messages?.[0]?.Body, 'via follower');
    sqs.destroy();
  });

  it('a follower forwards STOMP over TLS unchanged (the leader terminates TLS)', async () => {
    const lead = await c.leader();
    const f = c.nodes.find((n) => n.id !== lead)!;
    const p = await Stompit.connect({ port: f.ports['stomp-tls'], ssl: true });
    await p.send('/queue/fwd-tls', 'secret', { persistent: 'true' });
    const inbox = await p.subscribe('/queue/fwd-tls', { ack: 'auto' });
    assert.equal((await inbox.next(10_000)).text, 'secret');
    await p.disconnect();
  });

  it('wharf cluster status and transfer-leader, pointed at a follower', async () => {
    const lead = await c.leader();
    const f = c.nodes.find((n) => n.id !== lead)!;
    const url = `http://127.0.0.1:${f.ports.admin}`;
    const st = await wharfCli(['cluster', 'status', '--url', url]);
    assert.match(st, new RegExp(`^node ${f.id}: follower, term \\d+, leader ${lead}, commit \\d+, applied \\d+`), st);
    assert.match(st, /id\s+role\s+raft\s+match\s+lag\s+last contact/);
    const to = c.nodes.find((n) => n.id !== lead && n.id !== f.id)!.id;
    const tr = await wharfCli(['cluster', 'transfer-leader', String(to), '--url', url]);
    assert.match(tr, new RegExp(`node ${to} leads`));
    assert.equal(await c.leader(), to);
    const json = JSON.parse(await wharfCli(['cluster', 'status', '--json', '--url', `http://127.0.0.1:${c.node(to).ports.admin}`])) as { role: string; members: { id: number; lag: number }[] };
    assert.equal(json.role, 'leader');
    assert.equal(json.members.length, 3);
  });

  it('after SIGKILL of the leader another node leads and still has every confirmed message', async () => {
    const lead = await c.leader();
    const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
    for (let i = 0; i < 50; i++) await p.send('/queue/survive', `s${i}`, { persistent: 'true' });
    p.destroy();
    await c.kill(lead);
    const next = await c.leader(20_000, lead);
    assert.notEqual(next, lead);
    const s = await Stompit.connect({ port: c.node(next).ports.stomp });
    const inbox = await s.subscribe('/queue/survive', { ack: 'auto' });
    const got = await inbox.take(50, 10_000);
    assert.deepEqual(got.map((m) => m.text), Array.from({ length: 50 }, (_, i) => `s${i}`));
    await s.disconnect();
    await c.start(lead); // it rejoins as a follower
    await c.leader();
  });

  it('a node whose data is lost is replaced: wharf cluster remove, then add under a new id; the new node catches up and can lead', async () => {
    const lead = await c.leader();
    const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
    for (let i = 0; i < 30; i++) await p.send('/queue/rebuilt', `r${i}`, { persistent: 'true' });
    await p.disconnect();
    const lost = c.nodes.find((n) => n.id !== lead)!.id;
    await c.retire(lost); // its disk is gone
    const url = `http://127.0.0.1:${c.node(lead).ports.admin}`;
    assert.match(await wharfCli(['cluster', 'remove', String(lost), '--url', url]), new RegExp(`node ${lost} removed`));
    const n4 = await c.addNode(4);
    await c.start(4);
    const listeners = Object.entries(n4.ports).flatMap(([k, v]) => ['--listener', `${k}=${v}`]);
    const added = await wharfCli(['cluster', 'add', '4', '--host', '127.0.0.1', '--port', String(n4.raftPort), ...listeners, '--url', url]);
    assert.match(added, /node 4 is a voter/);
    const st = (await c.status(lead))!;
    assert.deepEqual(st.members.map((m) => m.id).sort(), [...c.nodes.map((n) => n.id)].sort());
    const target = st.commitIndex;
    const t0 = Date.now();
    while (((await c.status(4))?.appliedIndex ?? 0) < target) {
      assert.ok(Date.now() - t0 < 20_000, `node 4 did not catch up to ${target}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.transferLeader(lead, 4);
    let now = await c.leader();
    for (let i = 0; i < 50 && now !== 4; i++) now = await c.leader();
    assert.equal(now, 4);
    // A client of a follower is forwarded to node 4 with the ports its `add` carried.
    const other = c.nodes.find((n) => n.id !== 4)!;
    const s = await Stompit.connect({ port: other.ports.stomp });
    const inbox = await s.subscribe('/queue/rebuilt', { ack: 'auto' });
    assert.deepEqual((await inbox.take(30, 10_000)).map((m) => m.text), Array.from({ length: 30 }, (_, i) => `r${i}`));
    await s.disconnect();
  });

  it('a leader stopped with SIGTERM hands leadership to a caught-up voter before it goes', async () => {
    const lead = await c.leader();
    await c.kill(lead, 'SIGTERM');
    // (the log file is written by this process from the child's stdout: give the last lines a moment)
    let log = '';
    for (let i = 0; i < 50 && !/handing leadership/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = fs.readFileSync(path.join(c.node(lead).dir, 'wharf.log'), 'utf8');
    }
    assert.match(log, /stopping; handing leadership to node \d/);
    const next = await c.leader(20_000, lead);
    assert.notEqual(next, lead);
    await c.start(lead);
    await c.leader();
  });

  it('a full cluster restart (SIGTERM all, start all) keeps every confirmed message', async () => {
    const lead = await c.leader();
    const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
    for (let i = 0; i < 30; i++) await p.send('/queue/restart', `t${i}`, { persistent: 'true' });
    await p.disconnect();
    await Promise.all(c.nodes.map((n) => c.kill(n.id, 'SIGTERM')));
    await c.startAll();
    const next = await c.leader();
    const s = await Stompit.connect({ port: c.node(next).ports.stomp });
    const inbox = await s.subscribe('/queue/restart', { ack: 'auto' });
    assert.deepEqual((await inbox.take(30, 10_000)).map((m) => m.text), Array.from({ length: 30 }, (_, i) => `t${i}`));
    await s.disconnect();
  });
});
