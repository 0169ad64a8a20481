/**
 * Migration import (issue 13): a RabbitMQ definitions export and an ActiveMQ activemq.xml (realistic samples in
 * test/fixtures/migration) through `POST /api/definitions/import?format=…` and `wharf import --format …`: what maps
 * is created and behaves for real clients, what does not is listed precisely, and the configuration entries the
 * answer proposes are a valid Wharf configuration.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/app/config.js';
import { repoRoot } from '../helpers/paths.js';
import { client, request, startAdminBroker, Stompit, type AdminBroker } from './helpers.js';
import { mulberry32 } from '../helpers/prng.js';

const fixture = (name: string) => path.join(repoRoot, 'test', 'fixtures', 'migration', name);
const RABBIT = readFileSync(fixture('rabbitmq-definitions.json'), 'utf8');
const AMQ = readFileSync(fixture('activemq.xml'), 'utf8');

/** Run the wharf command (asynchronously: the broker under test lives in this process), without WHARF_* settings. */
function wharf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = path.join(repoRoot, 'src', 'app', 'cli.ts');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end();
  });
}

const whats = (r: { json: { notMapped: Array<{ what: string }> } }) => r.json.notMapped.map((n) => n.what).sort();

describe('migration import: RabbitMQ definitions and ActiveMQ activemq.xml', function () {
  this.timeout(60_000);
  let b: AdminBroker;
  const stomps: Stompit[] = [];
  beforeEach(async () => {
    b = await startAdminBroker();
  });
  afterEach(async () => {
    for (const s of stomps.splice(0)) await s.disconnect().catch(() => undefined);
    await b.close();
  });

  it('RabbitMQ: queues with their arguments and policies become queues with policy overrides; what does not map is listed; dry run changes nothing', async () => {
    const post = (q: string) => request(b.url, 'POST', `/api/definitions/import?${q}`, { raw: RABBIT, headers: { 'content-type': 'application/json' } });
    const dry = await post('format=rabbitmq&dryRun=true');
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.dryRun, true);
    assert.deepEqual(dry.json.definitions.queues, [{ name: 'orders.created' }, { name: 'orders.dead', dlq: true }, { name: 'billing.invoices' }, { name: 'audit.log' }, { name: 'scratch' }]);
    assert.equal(b.broker.engine.queueInfo('orders.created'), undefined, 'a dry run creates nothing');
    assert.equal(dry.json.definitions.acl.length, 2, 'the dry run shows the ACL rules');
    assert.deepEqual((await client(b.url).get('/api/security/acl')).json.runtime, [], 'a dry run adds no ACL rule');

    const r = await post('format=rabbitmq');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created.queues, 5);
    assert.equal(r.json.created.policyOverrides, 3);
    assert.equal(r.json.created.brokerUsers, 0);
    assert.deepEqual(whats(r), [
      'exchange events (topic)',
      'exchange notifications (fanout)',
      'parameters',
      'permission grafana read',
      'policy alt',
      'policy ha-all: ha-mode',
      'policy ha-all: ha-sync-mode',
      'queue audit.log',
      'queue audit.log: x-max-age',
      'queue billing.invoices: x-single-active-consumer',
      'queue scratch: auto_delete',
      'queue scratch: durable false',
      'queue scratch: x-expires',
      'user grafana',
      'user guest',
      'user ops',
      'user orders-app',
      'vhost staging',
    ]);
    assert.match(r.json.notMapped.find((n: { what: string }) => n.what === 'user ops').reason, /scrypt.*wharf users add ops --new-password … --role admin/);
    // the policy (max-length, overflow, TTL) and the queue's own arguments (delivery limit, dead-letter exchange) merged
    const api = client(b.url);
    const pol = (await api.get('/api/policies/queue/orders.created')).json;
    assert.deepEqual(pol.override, { maxMessages: 50000, limitPolicy: 'reject', defaultTtl: 86400000, maxRedeliveries: 2, deadLetterQueue: 'orders.dead', expiry: 'dlq' });
    assert.deepEqual((await api.get('/api/policies/queue/billing.invoices')).json.override, { maxMessages: 1000, defaultTtl: 60000, limitPolicy: 'drop-oldest' });
    assert.equal((await api.get('/api/queues/orders.dead')).json.dlq, true);
    assert.equal((await api.get('/api/security/users')).json.items.length, 0, 'users whose hashes cannot be carried are not created');

    // the configuration entries the answer proposes are a valid configuration
    assert.deepEqual(r.json.config.composites, [{ name: 'notifications', kind: 'topic', targets: [{ address: 'queue://billing.invoices' }, { address: 'queue://orders.created' }] }]);
    assert.deepEqual(r.json.config.destinations, [{ match: 'orders.>', kind: 'queue', maxMessages: 50000, defaultTtl: 86400000, limitPolicy: 'reject' }]);
    // permissions become runtime ACL rules, in force at once
    assert.equal(r.json.created.acl, 2);
    const rules = (await api.get('/api/security/acl')).json.runtime.map(({ match, read, write, admin }: Record<string, unknown>) => ({ match, read, write, admin }));
    assert.deepEqual(rules, [
      { match: '>', read: ['ops'], write: ['ops'], admin: ['ops'] },
      { match: 'orders.>', read: ['orders-app'], write: ['orders-app'], admin: ['orders-app'] },
    ]);
    assert.equal(r.json.config.security, undefined);
    parseConfig({ ...r.json.config, dataDir: b.dir });

    // the listed user, given a password as the answer says (wharf users add), works under its imported rule
    assert.equal((await api.put('/api/security/users/orders-app', { password: 'orders-app-pw' })).status, 200);
    const anon = await Stompit.connect({ port: b.stompPort }).catch((err: Error) => err);
    assert.ok(anon instanceof Error, 'anonymous clients are refused once users exist');
    // a STOMP consumer feels the delivery limit: three failed deliveries, then the dead-letter queue
    const s = await Stompit.connect({ port: b.stompPort, headers: { login: 'orders-app', passcode: 'orders-app-pw' } });
    stomps.push(s);
    await s.send('/queue/orders.created', 'order-7', { persistent: 'true' });
    const inbox = await s.subscribe('/queue/orders.created', { ack: 'client-individual' });
    for (let i = 0; i < 3; i++) await s.nack(await inbox.next());
    const dead = await s.subscribe('/queue/orders.dead', { ack: 'auto' });
    assert.equal((await dead.next()).text, 'order-7');

    // the other virtual host on its own
    const staging = await post('format=rabbitmq&vhost=staging');
    assert.equal(staging.status, 200);
    assert.equal(staging.json.existing.queues, 1, 'orders.created of vhost staging is the same Wharf queue');
  });

  it('ActiveMQ: destinations, dead-letter and redelivery policies, users with their groups, ACL rules; composites and listeners as configuration', async () => {
    const r = await request(b.url, 'POST', '/api/definitions/import?format=activemq', { raw: AMQ, headers: { 'content-type': 'application/xml' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      { queues: r.json.created.queues, topics: r.json.created.topics, policyOverrides: r.json.created.policyOverrides, brokerUsers: r.json.created.brokerUsers },
      { queues: 3, topics: 1, policyOverrides: 4, brokerUsers: 2 },
    );
    assert.deepEqual(whats(r), [
      'authenticationUser admin',
      'persistenceAdapter',
      'policyEntry queue=">": memoryLimit="64mb"',
      'policyEntry queue=">": queuePrefetch="100"',
      'policyEntry topic=">": <pendingMessageLimitStrategy>',
      'policyEntry topic=">": producerFlowControl="true"',
      'redeliveryPolicy (defaultEntry): initialRedeliveryDelay="0"',
      'systemUsage',
      'tempDestinationAuthorizationEntry',
      'transportConnector amqp: options',
      'transportConnector openwire: options',
      'transportConnector ssl',
      'virtualDestinations',
    ]);
    const api = client(b.url);
    // the most specific policyEntry and the most specific redeliveryPolicy, as ActiveMQ applies them
    assert.deepEqual((await api.get('/api/policies/queue/orders.incoming')).json.override, { deadLetterQueue: 'DLQ.{name}', expiry: 'drop', maxRedeliveries: 4, initialRedeliveryDelay: 5000 });
    assert.deepEqual((await api.get('/api/policies/queue/payments.card')).json.override, { deadLetterQueue: 'payments.DLQ', maxRedeliveries: 3, initialRedeliveryDelay: 1000, backoffMultiplier: 2, maxRedeliveryDelay: 30000 });
    assert.equal((await api.get('/api/queues/payments.DLQ')).json.dlq, true);
    assert.ok((await api.get('/api/topics/prices.gold')).status === 200);
    const users = (await api.get('/api/security/users')).json.items;
    assert.deepEqual(users.map((u: { username: string; groups: string[] }) => [u.username, u.groups]), [['orders-svc', ['users', 'orders']], ['payments-svc', ['users', 'payments']]]);

    // the carried passwords work for a real client; anonymous clients are refused now that users exist
    const s = await Stompit.connect({ port: b.stompPort, headers: { login: 'orders-svc', passcode: 'orders-secret-1' } });
    stomps.push(s);
    await s.send('/queue/orders.incoming', 'hello', { persistent: 'true' });
    await assert.rejects(Stompit.connect({ port: b.stompPort, headers: { login: 'orders-svc', passcode: 'wrong' } }));

    // authorizationEntries are runtime ACL rules, in force at once: orders-svc (group orders) may write payments.> but not read it
    assert.equal(r.json.created.acl, 3);
    const rules = (await api.get('/api/security/acl')).json.runtime.map(({ match, kind, read, write, admin }: Record<string, unknown>) => ({ match, kind, read, write, admin }));
    assert.deepEqual(rules, [
      { match: '>', kind: 'queue', read: ['admins'], write: ['admins'], admin: ['admins'] },
      { match: 'orders.>', kind: 'queue', read: ['orders'], write: ['orders'], admin: ['orders'] },
      { match: 'payments.>', kind: 'queue', read: ['payments'], write: ['payments', 'orders'], admin: ['payments'] },
    ]);
    await s.send('/queue/payments.card', 'charge', { persistent: 'true' });
    await assert.rejects(s.subscribe('/queue/payments.card', { ack: 'auto' }), /not authorized|unauthorized|denied/i);
    const cfg = r.json.config;
    assert.equal(cfg.security.anonymous, false);
    assert.deepEqual(cfg.composites, [{ name: 'orders.all', kind: 'queue', targets: [{ address: 'queue://orders.incoming' }, { address: 'topic://orders.audit' }, { address: 'queue://orders.big', selector: 'amount > 1000' }] }]);
    assert.deepEqual(cfg.listeners.openwire, { port: 61616, host: '0.0.0.0' });
    assert.ok(cfg.destinations.some((d: { match: string; kind: string }) => d.match === 'payments.>' && d.kind === 'queue'));
    parseConfig({ ...cfg, dataDir: b.dir });
  });

  it('bad input gets a clear error and changes nothing; a viewer may not import', async () => {
    const post = (q: string, raw: string, type: string, auth?: { user: string; password: string }) => request(b.url, 'POST', `/api/definitions/import?${q}`, { raw, headers: { 'content-type': type }, ...(auth ? { auth } : {}) });
    let r = await post('format=kafka', '{}', 'application/json');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /format: expected one of wharf, rabbitmq, activemq/);
    r = await post('format=activemq', '<beans><broker><destinations><queue physicalName="x"></destinations></broker></beans>', 'application/xml');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /not well-formed XML: .*line 1/);
    r = await post('format=activemq', '<beans><bean class="x"/></beans>', 'text/xml');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /no <broker> element/);
    r = await post('format=activemq', AMQ, 'application/json');
    assert.equal(r.status, 415);
    r = await post('format=rabbitmq', '{"rabbit_version": "3.13.7", "queues": 3}', 'application/json');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /queues: expected a list/);
    r = await post('format=rabbitmq', '{"hello": "world"}', 'application/json');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /not a RabbitMQ definitions document/);
    r = await post('format=rabbitmq', '{"queues": [', 'application/json');
    assert.equal(r.status, 400);
    assert.equal(b.broker.engine.listDestinations().filter((d) => d.kind === 'queue').length, 0);
    // format=wharf is POST /api/definitions
    r = await post('format=wharf', JSON.stringify({ wharf: 'definitions', version: 1, queues: [{ name: 'w1' }] }), 'application/json');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created.queues, 1);
    assert.equal((await client(b.url).put('/api/users/watcher', { password: 'watcher-password', role: 'viewer' })).status, 200);
    r = await post('format=rabbitmq', RABBIT, 'application/json', { user: 'watcher', password: 'watcher-password' });
    assert.equal(r.status, 403);
    assert.equal(b.broker.engine.queueInfo('orders.created'), undefined);
  });

  it('wharf import --format rabbitmq|activemq prints what it created, what did not map and the configuration to add', async () => {
    const url = ['--url', b.url];
    const dry = await wharf(['import', fixture('rabbitmq-definitions.json'), '--format', 'rabbitmq', '--dry-run', ...url]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would create: 5 queues, 0 topics, 3 policy overrides, 0 users$/m);
    assert.match(dry.stdout, /^not mapped: user ops: /m);
    assert.match(dry.stdout, /^add to the configuration file \(YAML\):\ncomposites:\n {2}- name: notifications/m);
    assert.equal(b.broker.engine.queueInfo('orders.created'), undefined);
    const amq = await wharf(['import', fixture('activemq.xml'), '--format', 'activemq', '--json', ...url]);
    assert.equal(amq.code, 0, amq.stderr);
    assert.equal(JSON.parse(amq.stdout).created.queues, 3);
    assert.ok(b.broker.engine.queueInfo('payments.card'));
  });

  it('mutated samples (seeded) always get an answer — a plan or a 4xx — never a server error', async () => {
    const rnd = mulberry32(13);
    const int = (n: number) => Math.floor(rnd() * n);
    const mutate = (text: string) => {
      let t = text;
      for (let k = 1 + int(4); k > 0; k--) {
        const at = int(t.length);
        const len = 1 + int(40);
        switch (int(4)) {
          case 0:
            t = t.slice(0, at) + t.slice(at + len);
            break;
          case 1:
            t = t.slice(0, at) + String.fromCharCode(...Array.from({ length: len }, () => int(256))) + t.slice(at);
            break;
          case 2:
            t = t.slice(0, at) + t.slice(at, at + len).repeat(2 + int(3)) + t.slice(at + len);
            break;
          default:
            t = t.slice(0, at) + '"<>{}[],:=&\\'.charAt(int(13)) + t.slice(at + 1);
        }
      }
      return t;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      for (const [format, text, type] of [['rabbitmq', RABBIT, 'application/json'], ['activemq', AMQ, 'application/xml']] as const) {
        const r = await request(b.url, 'POST', `/api/definitions/import?format=${format}&dryRun=true`, { raw: mutate(text), headers: { 'content-type': type } });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        assert.ok(r.status === 200 || r.status === 400, `mutation ${i} (${format}): ${r.status} ${r.text.slice(0, 300)}`);
        assert.ok(r.json && (r.status === 200 ? Array.isArray(r.json.notMapped) : typeof r.json.error.message === 'string'));
      }
    }
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, `both plans and refusals: ${JSON.stringify([...statuses])}`);
    assert.equal((await request(b.url, 'GET', '/healthz')).status, 200);
  });
});
