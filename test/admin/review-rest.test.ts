/**
 * The REST side of the console review: bulk actions and their bad input, the health report, the history buffers
 * (bounded memory, measured with 10,000 destinations), connection endpoints, and recent senders as producers.
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { repoRoot } from '../helpers/paths.js';
import { BYTES_PER_DESTINATION, History, TIERS } from '../../src/admin/history.js';
import { hashPassword } from '../../src/admin/auth.js';
import { tlsFixture } from '../helpers/broker.js';
import { client, startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';

describe('admin API: the console review', function () {
  this.timeout(30_000);

  describe('over a broker', () => {
    let b: AdminBroker;
    let api: ReturnType<typeof client>;
    const stomps: Stompit[] = [];
    beforeEach(async () => {
      b = await startAdminBroker();
      api = client(b.url);
    });
    afterEach(async () => {
      for (const s of stomps.splice(0)) s.destroy();
      await b.close();
    });

    it('bulk: dry run counts, then acts; in-flight messages are left alone', async () => {
      const s = await Stompit.connect({ port: b.stompPort });
      stomps.push(s);
      for (let i = 0; i < 5; i++) await s.send('/queue/bulk.rest', `m${i}`, { persistent: 'true', n: String(i) });
      const c = await Stompit.connect({ port: b.stompPort });
      stomps.push(c);
      const inbox = await c.subscribe('/queue/bulk.rest', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
      await inbox.next(5000);
      const dry = await api.post('/api/queues/bulk.rest/bulk', { action: 'delete', all: true, dryRun: true });
      assert.equal(dry.status, 200);
      assert.deepEqual({ matched: dry.json.matched, inflight: dry.json.inflight, done: dry.json.done }, { matched: 5, inflight: 1, done: 0 });
      assert.equal(b.broker.engine.getQueue('bulk.rest')!.depth, 5);
      const copy = await api.post('/api/queues/bulk.rest/bulk', { action: 'copy', selector: "n IN ('3', '4')", to: 'bulk.copies' });
      assert.equal(copy.json.done, 2);
      assert.equal(b.broker.engine.getQueue('bulk.copies')!.depth, 2);
      const del = await api.post('/api/queues/bulk.rest/bulk', { action: 'delete', all: true });
      assert.equal(del.json.done, 4);
      assert.equal(b.broker.engine.getQueue('bulk.rest')!.depth, 1, 'the in-flight one stays');
    });

    it('bulk: bad input is a 400 with a clear message', async () => {
      await b.broker.engine.createQueue('q1');
      const cases: Array<[unknown, RegExp]> = [
        [{ action: 'explode', all: true }, /action: expected one of move, copy, delete, retry/],
        [{ action: 'delete' }, /say which messages/],
        [{ action: 'delete', seqs: [1, -2] }, /seqs: expected/],
        [{ action: 'move', all: true }, /to: expected a destination name/],
        [{ action: 'move', all: true, to: 'a.*' }, /no wildcards/],
        [{ action: 'move', all: true, to: 'q1' }, /already there/],
        [{ action: 'delete', selector: "x = 'unclosed" }, /./],
      ];
      for (const [body, re] of cases) {
        const r = await api.post('/api/queues/q1/bulk', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match(r.json.error.message, re, JSON.stringify(body));
      }
      assert.equal((await api.post('/api/queues/nope/bulk', { action: 'delete', all: true })).status, 404);
      assert.equal((await api.get('/api/history/widget/x')).status, 400);
      assert.equal((await api.get('/api/history/queue/x?range=7d')).status, 400);
      assert.equal((await api.get('/api/health?stuckSeconds=0')).status, 400);
    });

    it('STOMP senders are producers while connected; the connection row names its ports', async () => {
      const s = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'sender-1' } });
      stomps.push(s);
      await s.send('/queue/p1', 'x', { persistent: 'true' });
      await s.send('/queue/p1', 'y', { persistent: 'true' });
      await s.send('/topic/t1', 'z');
      assert.equal(b.broker.engine.queueInfo('p1')!.producers, 1, 'one sender, however many messages');
      const conns = await api.get('/api/connections');
      const row = conns.json.items.find((c: { clientId?: string }) => c.clientId === 'sender-1');
      assert.equal(row.producers, 2, 'a queue and a topic');
      assert.equal(row.localPort, b.stompPort);
      assert.equal(row.transport, 'tcp');
      assert.equal(row.tls, false);
      assert.ok(row.remotePort > 0);
      assert.equal(row.protocolVersion, '1.2');
      s.destroy();
      await until(() => b.broker.engine.queueInfo('p1')!.producers === 0, 'released on close');
    });
  });

  it('a TLS connection is shown as TLS, with its ports', async () => {
    const b = await startAdminBroker({ config: { listeners: { stomp: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } } } } });
    let s: Stompit | undefined;
    try {
      const tlsPort = b.broker.listenerAddresses()['stomp-tls'].port;
      s = await Stompit.connect({ port: tlsPort, ssl: true, headers: { 'client-id': 'secure-one' } });
      const rows = (await client(b.url).get('/api/connections')).json.items as Array<Record<string, unknown>>;
      const row = rows.find((c) => c.clientId === 'secure-one')!;
      assert.equal(row.tls, true);
      assert.equal(row.transport, 'tls');
      assert.equal(row.localPort, tlsPort);
      const detail = (await client(b.url).get(`/api/connections/${encodeURIComponent(String(row.id))}`)).json;
      assert.equal(detail.tls, true);
    } finally {
      s?.destroy();
      await b.close();
    }
  });

  it('a viewer may look (health, history, dead-letter causes) but not act in bulk', async () => {
    const [adminHash, viewerHash] = await Promise.all([hashPassword('s3cret-admin'), hashPassword('just-looking')]);
    const b = await startAdminBroker({ config: { admin: { users: [{ username: 'ops', passwordHash: adminHash }, { username: 'eve', passwordHash: viewerHash, role: 'viewer' }] } } });
    try {
      await b.broker.engine.createQueue('DLQ.x', { dlq: true });
      const viewer = client(b.url, { user: 'eve', password: 'just-looking' });
      assert.equal((await viewer.get('/api/health')).status, 200);
      assert.equal((await viewer.get('/api/history/queue/DLQ.x')).status, 200);
      assert.equal((await viewer.get('/api/queues/DLQ.x/dead-letter-causes')).status, 200);
      const r = await viewer.post('/api/queues/DLQ.x/bulk', { action: 'delete', all: true, dryRun: true });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'forbidden');
    } finally {
      await b.close();
    }
  });

  describe('history buffers', () => {
    it('bounded: a fixed size per destination, only for destinations with traffic, capped', () => {
      let now = 1_000_000;
      const h = new History(3, () => now);
      assert.equal(BYTES_PER_DESTINATION, 4 * (360 + 288) * 4);
      const feed = (items: Array<[string, number, number]>) => h.sample(items.map(([key, depth, n]) => ({ key, depth, in: n, out: 0, redelivered: 0 })));
      feed([['queue:idle', 0, 0], ['queue:a', 1, 1]]);
      assert.equal(h.tracked, 1, 'an idle, empty destination costs nothing');
      feed([['queue:a', 1, 1], ['queue:b', 2, 2], ['queue:c', 0, 5]]);
      assert.equal(h.tracked, 3);
      now += 20;
      feed([['queue:a', 1, 1], ['queue:b', 2, 2], ['queue:c', 0, 5], ['queue:d', 4, 4]]);
      assert.equal(h.tracked, 3, 'the cap holds');
      assert.equal(h.has('queue:d'), true, 'the newly busy destination is tracked');
      assert.equal(h.bytes, 3 * BYTES_PER_DESTINATION);
      feed([['queue:d', 4, 4]]);
      assert.equal(h.tracked, 1, 'deleted destinations are forgotten');
    });

    it('keeps 24 h: 10 s buckets for the last hour, 5 min buckets for the day; old buckets roll off', () => {
      let now = 10_000_000; // seconds
      const h = new History(10, () => now);
      let sent = 0;
      // 25 h of one message per 10 s, sampled every 10 s
      for (let i = 0; i < 25 * 360; i++) {
        sent++;
        h.sample([{ key: 'queue:q', depth: i % 7, in: sent, out: sent - 1, redelivered: 0 }]);
        now += 10;
      }
      const hour = h.read('queue:q', '1h')!;
      assert.equal(hour.step, TIERS[0].step);
      assert.equal(hour.t.length, 360);
      assert.equal(hour.series.in.reduce((a, x) => a + x, 0), 359, 'one per 10 s bucket over the last hour (the current bucket is empty)');
      const day = h.read('queue:q', '24h')!;
      assert.equal(day.t.length, 288);
      const dayIn = day.series.in.reduce((a, x) => a + x, 0);
      assert.ok(dayIn >= 287 * 30 && dayIn <= 288 * 30, `30 per 5-minute bucket over 24 h (${dayIn})`);
      assert.ok(day.t[287] - day.t[0] === 287 * 300);
    });

    it('memory with 10,000 destinations (measured and written to test-output/)', function () {
      this.timeout(60_000);
      // a real measurement needs a collection before each reading: expose gc for this process if it is not already
      v8.setFlagsFromString('--expose-gc');
      const gc = ((globalThis as { gc?: () => void }).gc ?? (vm.runInNewContext('gc') as (() => void) | undefined));
      const N = 10_000;
      let now = 2_000_000;
      const heap = () => {
        gc?.();
        return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
      };
      const before = heap();
      const h = new History(N, () => now);
      const items = Array.from({ length: N }, (_, i) => ({ key: `queue:load.q${i}`, depth: 1, in: 0, out: 0, redelivered: 0 }));
      const t0 = process.hrtime.bigint();
      for (const it of items) it.in++;
      h.sample(items); // the first sample allocates every buffer
      const firstMs = Number(process.hrtime.bigint() - t0) / 1e6;
      now += 1;
      // CPU time, not wall time: the machine is shared, and wall time counts other processes' turns
      const c1 = process.cpuUsage();
      const t1 = process.hrtime.bigint();
      for (let s = 0; s < 30; s++) {
        for (const it of items) it.in++;
        h.sample(items);
        now += 1;
      }
      const sampleMs = Number(process.hrtime.bigint() - t1) / 1e6 / 30;
      const cpu = process.cpuUsage(c1);
      const sampleCpuMs = (cpu.user + cpu.system) / 1000 / 30;
      const after = heap();
      assert.equal(h.tracked, N);
      assert.equal(h.bytes, N * BYTES_PER_DESTINATION);
      const result = { destinations: N, bytesPerDestinationBuffers: BYTES_PER_DESTINATION, buffersBytes: h.bytes, measuredHeapDeltaBytes: after - before, measuredPerDestination: Math.round((after - before) / N), firstSampleMs: Math.round(firstMs), sampleWallMsPerTick: Math.round(sampleMs * 10) / 10, sampleCpuMsPerTick: Math.round(sampleCpuMs * 10) / 10, gcExposed: !!gc };
      mkdirSync(path.join(repoRoot, 'test-output'), { recursive: true });
      writeFileSync(path.join(repoRoot, 'test-output', 'history-memory-10000.json'), JSON.stringify(result, null, 2));
      console.log(`      history with ${N} destinations: ${JSON.stringify(result)}`);
      // the measured cost stays near the stated bound (typed arrays + a small object and map entry each)
      assert.ok(gc, 'gc exposed for the measurement');
      assert.ok(after - before < N * (BYTES_PER_DESTINATION + 2048), `heap grew ${after - before} bytes`);
    });
  });
});
