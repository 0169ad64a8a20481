/**
 * Destination policies over REST (issue 13): the configured rules and every runtime override, read and changed at
 * runtime (`/api/policies`, `/api/policies/{kind}/{name}`), durable across a restart, admin-only, checked field
 * by field; and the override takes effect for a real client at once.
 */
import assert from 'node:assert/strict';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { client, request, startAdminBroker, Stompit, type AdminBroker } from './helpers.js';
import { KEY } from '../protocols/sqs/helpers.js';
import { pino } from 'pino';
import { runBroker, withPorts } from '../helpers/broker.js';
import { createAdminHandler } from '../../src/admin/index.js';

describe('policies REST API', function () {
  this.timeout(30_000);
  let b: AdminBroker;
  const stomps: Stompit[] = [];
  beforeEach(async () => {
    b = await startAdminBroker({ sqs: true, config: { destinations: [{ match: 'jobs.>', maxRedeliveries: 5 }] } });
  });
  afterEach(async () => {
    for (const s of stomps.splice(0)) await s.disconnect().catch(() => undefined);
    await b.close();
  });

  it('lists rules and overrides; PUT sets a durable override that a STOMP consumer feels at once; DELETE removes it', async () => {
    const api = client(b.url);
    let list = (await api.get('/api/policies')).json;
    assert.deepEqual(list.rules, [{ match: 'jobs.>', maxRedeliveries: 5 }]);
    assert.deepEqual(list.overrides, []);
    assert.equal(list.defaults.maxRedeliveries, 6);
    assert.equal((await api.get('/api/policies/queue/jobs.eu')).json.effective.maxRedeliveries, 5, 'the configured rule');

    const put = await api.put('/api/policies/queue/jobs.eu', { maxRedeliveries: 1, deadLetterQueue: 'jobs.failed' });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json.override, { maxRedeliveries: 1, deadLetterQueue: 'jobs.failed' });
    assert.equal(put.json.effective.maxRedeliveries, 1);
    assert.equal(put.json.effective.backoffMultiplier, 1, 'the rest comes from the rules and defaults');
    list = (await api.get('/api/policies')).json;
    assert.deepEqual(list.overrides.map((o: { kind: string; name: string }) => `${o.kind}:${o.name}`), ['queue:jobs.eu']);
    // items: every destination with its override and effective policy (the console's policies page), here the
    // override of a queue that does not exist yet
    assert.deepEqual(list.items.map((i: { kind: string; name: string; override: unknown; effective: { maxRedeliveries: number } }) => [i.kind, i.name, i.override, i.effective.maxRedeliveries]), [['queue', 'jobs.eu', { maxRedeliveries: 1, deadLetterQueue: 'jobs.failed' }, 1]]);

    // the override applies to a real consumer: one redelivery, then the DLQ it names
    const s = await Stompit.connect({ port: b.stompPort });
    stomps.push(s);
    await s.send('/queue/jobs.eu', 'job-1', { persistent: 'true' });
    const inbox = await s.subscribe('/queue/jobs.eu', { ack: 'client-individual' });
    await s.nack(await inbox.next());
    const again = await inbox.next();
    assert.equal(again.text, 'job-1');
    await s.nack(again);
    const failed = await s.subscribe('/queue/jobs.failed', { ack: 'auto' });
    assert.equal((await failed.next()).text, 'job-1');

    // durable: it survives a restart
    await s.disconnect();
    stomps.length = 0;
    await b.restart();
    const api2 = client(b.url);
    assert.deepEqual((await api2.get('/api/policies/queue/jobs.eu')).json.override, { maxRedeliveries: 1, deadLetterQueue: 'jobs.failed' });

    assert.equal((await api2.del('/api/policies/queue/jobs.eu')).status, 204);
    const after = (await api2.get('/api/policies/queue/jobs.eu')).json;
    assert.equal(after.override, null);
    assert.equal(after.effective.maxRedeliveries, 5);
    assert.equal((await api2.del('/api/policies/queue/jobs.eu')).status, 404);
  });

  it('refuses bad input with a clear 400, a viewer with 403, and an SQS queue\'s override with 409', async () => {
    const api = client(b.url);
    const bad = async (path: string, body: unknown, re: RegExp) => {
      const r = await api.put(path, body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.error.message, re);
    };
    await bad('/api/policies/queue/q1', { maxRedelivery: 3 }, /body\.maxRedelivery: not a policy setting/);
    await bad('/api/policies/queue/q1', { maxRedeliveries: -2 }, /maxRedeliveries: expected an integer ≥ -1/);
    await bad('/api/policies/queue/q1', { limitPolicy: 'drop' }, /limitPolicy: expected one of block, reject, drop-oldest/);
    await bad('/api/policies/queue/q1', { backoffMultiplier: '2' }, /backoffMultiplier: expected a number/);
    await bad('/api/policies/queue/q1', [1], /expected a JSON object/);
    await bad('/api/policies/exchange/q1', {}, /kind: expected queue or topic/);
    await bad('/api/policies/topic/prices.%3E', {}, /wildcard rules belong in the configuration file/);
    assert.equal(b.broker.engine.policyOverrides().length, 0, 'nothing stored');

    assert.equal((await api.put('/api/users/watcher', { password: 'watcher-password', role: 'viewer' })).status, 200);
    const asViewer = await request(b.url, 'PUT', '/api/policies/queue/q1', { body: { maxRedeliveries: 1 }, auth: { user: 'watcher', password: 'watcher-password' } });
    assert.equal(asViewer.status, 403);
    assert.equal((await request(b.url, 'GET', '/api/policies', { auth: { user: 'watcher', password: 'watcher-password' } })).status, 200, 'a viewer may read');

    const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${b.sqsPort}`, region: 'us-east-1', credentials: { ...KEY }, maxAttempts: 1 });
    await sqs.send(new CreateQueueCommand({ QueueName: 'inbox' }));
    const row = (await api.get('/api/policies/queue/inbox')).json;
    assert.equal(row.managedBy, 'sqs');
    assert.equal(row.override.maxRedeliveries, -1, 'SQS keeps its own override (no redrive policy: retry forever)');
    const r = await api.put('/api/policies/queue/inbox', { maxRedeliveries: 1 });
    assert.equal(r.status, 409);
    assert.match(r.json.error.message, /kept by the SQS service/);
    assert.equal((await api.del('/api/policies/queue/inbox')).status, 409);
  });

  it('every change is an audit line naming the user (event policy-change)', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const r = await runBroker({
      name: 'policies-audit',
      config: { listeners: { admin: { host: '127.0.0.1', port: 0 } } },
      modules: () => ({ protocols: [], http: [{ name: 'admin', create: (ctx) => createAdminHandler(ctx) }] }),
      logger,
    }).then((x) => withPorts(x, { adminPort: 'admin' }));
    try {
      const api = client(`http://127.0.0.1:${r.adminPort}`);
      assert.equal((await api.put('/api/policies/topic/prices', { defaultTtl: 60000 })).status, 200);
      assert.equal((await api.del('/api/policies/topic/prices')).status, 204);
      const audit = lines.filter((l) => l.audit === true && l.event === 'policy-change').map((l) => [l.user, l.method, l.path]);
      assert.deepEqual(audit, [['admin', 'PUT', '/api/policies/topic/prices'], ['admin', 'DELETE', '/api/policies/topic/prices']]);
    } finally {
      await r.close();
    }
  });
});
