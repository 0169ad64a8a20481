import assert from 'node:assert/strict';
import { createMessage, type Delivery, queue } from '../../src/core/api.js';
import { hashPassword } from '../../src/admin/auth.js';
import { client, request, startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/**
 * A Prometheus text exposition format (0.0.4) parser: HELP/TYPE lines, samples with escaped label values,
 * optional timestamps, NaN/±Inf. Throws on anything malformed, so the test also checks the format.
 */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    for (const suffix of ['_bucket', '_sum', '_count', '']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const base = suffix ? sample.slice(0, -suffix.length) : sample;
      const f = families.get(base);
      if (f && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
    }
    return undefined;
  };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) {
        assert.ok(!/^# (HELP|TYPE)/.test(line), `malformed ${where}`);
        return;
      }
      const f = families.get(m[2]) ?? { name: m[2], type: 'untyped', help: '', samples: [] };
      families.set(m[2], f);
      if (m[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]), `bad type, ${where}`);
        assert.equal(f.samples.length, 0, `TYPE after samples, ${where}`);
        f.type = m[3];
      } else f.help = m[3];
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    assert.ok(m, `malformed sample, ${where}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[3].length) {
        re.lastIndex = pos;
        const l = re.exec(m[3]);
        assert.ok(l, `malformed labels, ${where}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    // like Prometheus (Go's strconv.ParseFloat): NaN and Inf in any letter case (prom-client writes "Nan")
    const raw = m[4].toLowerCase();
    const value = raw === 'nan' ? NaN : raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : Number(raw);
    assert.ok(raw === 'nan' || !Number.isNaN(value), `bad value, ${where}`);
    const f = familyOf(m[1]);
    assert.ok(f, `sample without TYPE/HELP, ${where}`);
    f.samples.push({ name: m[1], labels, value });
  });
  return families;
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}, sampleName = name): number | undefined {
  const f = fams.get(name);
  if (!f) return undefined;
  const s = f.samples.find((x) => x.name === sampleName && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

describe('admin /metrics', function () {
  this.timeout(30_000);
  let b: AdminBroker;
  const clients: Stompit[] = [];
  beforeEach(async () => {
    b = await startAdminBroker({ config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 0 }] } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await b.close();
  });

  const scrape = async () => {
    const r = await request(b.url, 'GET', '/metrics', { auth: null });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(r.text);
  };

  it('parses cleanly and matches the broker state: depth, in-flight, counters, consumers, connections, bytes, store, commits', async () => {
    const engine = b.broker.engine;
    const s = await Stompit.connect({ port: b.stompPort });
    clients.push(s);
    for (let i = 0; i < 5; i++) await s.send('/queue/orders', `order-${i}`, { persistent: 'true' });
    await s.send('/queue/odd name "quoted"\\back', 'q', { persistent: 'true' });
    const inbox = await s.subscribe('/queue/orders', { ack: 'client-individual', 'activemq.prefetchSize': '2' });
    const [m1] = await inbox.take(2);
    await s.ack(m1);
    await until(() => engine.getQueue('orders')!.stats.dequeued === 1, 'ack');
    // one message dead-lettered, one expired
    await engine.send(createMessage({ body: Buffer.from('poison') }), queue('poison'));
    const ds: Delivery[] = [];
    const c = await engine.subscribe({ address: queue('poison'), prefetch: 1, onMessage: (d) => ds.push(d) });
    await until(() => ds.length === 1, 'delivery');
    c.nack(ds[0].id, { deadLetter: true });
    c.close();
    await engine.send(createMessage({ body: Buffer.from('old'), expiration: Date.now() + 20 }), queue('stale'));
    await until(() => engine.getQueue('stale')!.stats.expired === 1, 'expiry', 5000);
    // the move to the DLQ lands after its store commit, a little after the counters tick
    const depth = (name: string) => engine.listDestinations().find((d) => d.name === name)?.depth ?? 0;
    await until(() => depth('DLQ.stale') === 1 && depth('DLQ.poison') === 1, 'dead letters', 5000);

    const m = await scrape();
    const q = { kind: 'queue', name: 'orders' };
    const info = engine.listDestinations().find((d) => d.name === 'orders')!;
    assert.equal(value(m, 'wharf_destination_messages', q), info.depth);
    assert.equal(value(m, 'wharf_destination_messages', q), 4);
    // prefetch 2: after the ack the next message is in flight too
    assert.equal(value(m, 'wharf_destination_messages_inflight', q), 2);
    assert.equal(value(m, 'wharf_destination_messages_ready', q), 2);
    assert.equal(value(m, 'wharf_destination_consumers', q), 1);
    assert.equal(value(m, 'wharf_destination_enqueued_total', q), 5);
    assert.equal(value(m, 'wharf_destination_dequeued_total', q), 1);
    assert.equal(value(m, 'wharf_destination_bytes', q), info.bytes);
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'odd name "quoted"\\back' }), 1, 'label values are escaped');
    assert.equal(value(m, 'wharf_destination_dead_lettered_total', { kind: 'queue', name: 'poison' }), 1);
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'DLQ.poison' }), 1);
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'DLQ.stale' }), 1, 'expired messages are dead-lettered too');
    assert.equal(value(m, 'wharf_destination_expired_total', { kind: 'queue', name: 'stale' }), 1);
    assert.equal(m.get('wharf_destination_enqueued_total')!.type, 'counter');
    assert.equal(m.get('wharf_destination_messages')!.type, 'gauge');

    assert.equal(value(m, 'wharf_connections', { protocol: 'stomp' }), 1);
    const traffic = b.handler.sampler.traffic();
    assert.equal(value(m, 'wharf_received_bytes_total'), traffic.bytesIn);
    assert.equal(value(m, 'wharf_received_bytes_total'), 5 * 'order-0'.length + 1);
    assert.equal(value(m, 'wharf_sent_bytes_total'), 3 * 'order-0'.length);
    assert.equal(value(m, 'wharf_received_messages_total'), 6);
    assert.equal(value(m, 'wharf_store_size_bytes'), engine.store.size());
    assert.ok(value(m, 'wharf_store_size_bytes')! > 0);
    const commits = value(m, 'wharf_store_commit_duration_seconds', { result: 'ok' }, 'wharf_store_commit_duration_seconds_count')!;
    assert.ok(commits >= 6, `commit count ${commits}`);
    assert.equal(m.get('wharf_store_commit_duration_seconds')!.type, 'histogram');
    const inf = value(m, 'wharf_store_commit_duration_seconds', { result: 'ok', le: '+Inf' }, 'wharf_store_commit_duration_seconds_bucket');
    assert.equal(inf, commits);
    assert.equal(value(m, 'wharf_destinations', { kind: 'queue' }), engine.overview().queues);
    assert.ok(value(m, 'wharf_uptime_seconds')! >= 0);
    assert.ok(value(m, 'wharf_process_resident_memory_bytes')! > 0 || m.has('wharf_nodejs_heap_size_used_bytes'));
  });

  it('follows changes: a purged and a deleted queue, a closed connection (bytes survive)', async () => {
    const s = await Stompit.connect({ port: b.stompPort });
    for (let i = 0; i < 3; i++) await s.send('/queue/a', 'abc', { persistent: 'true' });
    await s.send('/queue/b', 'abc', { persistent: 'true' });
    let m = await scrape();
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'a' }), 3);
    const api = client(b.url);
    await api.post('/api/queues/a/purge');
    await api.del('/api/queues/b');
    await s.disconnect();
    await until(() => b.broker.engine.listConnections().length === 0, 'disconnect');
    m = await scrape();
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'a' }), 0);
    assert.equal(value(m, 'wharf_destination_dropped_total', { kind: 'queue', name: 'a' }), 3);
    assert.equal(value(m, 'wharf_destination_messages', { kind: 'queue', name: 'b' }), undefined);
    assert.equal(value(m, 'wharf_connections', { protocol: 'stomp' }), undefined);
    assert.equal(value(m, 'wharf_received_bytes_total'), 12);
  });

  it('topics and subscriptions have their own kind label', async () => {
    const s = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'c1' } });
    clients.push(s);
    await s.subscribe('/topic/news', { 'activemq.subscriptionName': 'keep' });
    await s.send('/topic/news', 'n1');
    const m = await scrape();
    assert.equal(value(m, 'wharf_destination_enqueued_total', { kind: 'topic', name: 'news' }), 1);
    assert.equal(value(m, 'wharf_destination_consumers', { kind: 'topic', name: 'news' }), 1);
    const subs = m.get('wharf_destination_enqueued_total')!.samples.filter((x) => x.labels.kind === 'subscription');
    assert.equal(subs.length, 1);
    assert.equal(subs[0].value, 1);
  });

  it('can require a login (admin.metricsAuth)', async () => {
    const locked = await startAdminBroker({ config: { admin: { metricsAuth: true, users: [{ username: 'prom', passwordHash: await hashPassword('scrape-me'), role: 'viewer' }] } } });
    try {
      assert.equal((await request(locked.url, 'GET', '/metrics', { auth: null })).status, 401);
      const ok = await request(locked.url, 'GET', '/metrics', { auth: { user: 'prom', password: 'scrape-me' } });
      assert.equal(ok.status, 200);
      assert.ok(parsePrometheus(ok.text).has('wharf_destination_messages'));
    } finally {
      await locked.close();
    }
  });

  it('many destinations: /metrics carries the busiest (admin.metricsTopDestinations), /metrics/per-destination every one', async () => {
    const big = await startAdminBroker({ config: { admin: { metricsTopDestinations: 3 } } });
    try {
      const engine = big.broker.engine;
      for (let i = 0; i < 12; i++) await engine.createQueue(`many.q${i}`);
      // depths 0..11: the busiest three are q11, q10, q9
      for (let i = 0; i < 12; i++) for (let k = 0; k < i; k++) await engine.send(createMessage({ body: Buffer.from('x') }), queue(`many.q${i}`));
      const names = (text: string) =>
        parsePrometheus(text)
          .get('wharf_destination_messages')!
          .samples.filter((x) => x.labels.kind === 'queue')
          .map((x) => x.labels.name)
          .sort();
      const top = await request(big.url, 'GET', '/metrics', { auth: null });
      assert.equal(top.status, 200);
      assert.deepEqual(names(top.text), ['many.q10', 'many.q11', 'many.q9']);
      // broker-wide series stay complete
      assert.equal(value(parsePrometheus(top.text), 'wharf_destinations', { kind: 'queue' }), 12);
      const all = await request(big.url, 'GET', '/metrics/per-destination', { auth: null });
      assert.equal(all.status, 200);
      assert.match(String(all.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const every = parsePrometheus(all.text);
      assert.equal(every.get('wharf_destination_messages')!.samples.length, 12);
      assert.equal(value(every, 'wharf_destination_messages', { kind: 'queue', name: 'many.q7' }), 7);
      assert.equal(value(every, 'wharf_destination_enqueued_total', { kind: 'queue', name: 'many.q5' }), 5);
      // scrapes at the same time all get the full answer
      const three = await Promise.all([1, 2, 3].map(() => request(big.url, 'GET', '/metrics', { auth: null })));
      for (const r of three) assert.deepEqual(names(r.text), ['many.q10', 'many.q11', 'many.q9']);
    } finally {
      await big.close();
    }
  });

  it('the parser rejects malformed exposition text', () => {
    assert.throws(() => parsePrometheus('# TYPE x counter\nx{a="b" 1\n'));
    assert.throws(() => parsePrometheus('y 1\n'));
    assert.throws(() => parsePrometheus('# TYPE x gauge\nx abc\n'));
    assert.equal(parsePrometheus('# HELP x h\n# TYPE x gauge\nx{a="q\\"z"} 2\n').get('x')!.samples[0].labels.a, 'q"z');
  });
});
