/**
 * Runtime ACL rules (`wharf acl`, `/api/security/acl`): stored durably, audited, admin-only, effective on new
 * operations without a restart; and revocation that closes only what was revoked — a consumer whose user may no
 * longer read its destination is closed with its protocol's error (STOMP ERROR naming the destination, AMQP detach
 * amqp:unauthorized-access, MQTT 5 DISCONNECT 0x87 / 3.1.1 close, OpenWire consumer removal + JMSSecurityException),
 * while the user's other consumers and (where the protocol allows) its connection go on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { hashPassword } from '../../src/core/api.js';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { eventually } from '../helpers/wait.js';
import { runBroker, withPorts } from '../helpers/broker.js';
import { repoRoot } from '../helpers/paths.js';
import { Stompit } from '../protocols/stomp/helpers.js';
import { Client as AmqpClient, LinkError } from '../protocols/amqp/helpers.js';
import { JmsClient } from './openwire-client.js';

const PW = { boss: 'boss-password', viewer: 'viewer-password', dana: 'dana-password' };

async function start(lines: string[] = []) {
  const [boss, viewer] = await Promise.all([PW.boss, PW.viewer].map((p) => hashPassword(p)));
  const r = await runBroker({
    name: 'acl-runtime',
    config: {
      security: {
        users: [
          { username: 'boss', passwordHash: boss, roles: ['admin'] },
          { username: 'viewer', passwordHash: viewer, roles: ['viewer'] },
        ],
        acl: [
          { match: '>', read: ['boss'], write: ['boss'], admin: ['boss'] },
          { match: 'keep.>', read: ['dana'], write: ['dana'], admin: ['dana'] },
        ],
      },
      listeners: { stomp: { host: '127.0.0.1', port: 0 }, mqtt: { host: '127.0.0.1', port: 0 }, amqp: { host: '127.0.0.1', port: 0 }, openwire: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    },
    modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
    logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
  });
  const b = withPorts(r, { stomp: 'stomp', mqtt: 'mqtt', amqp: 'amqp', openwire: 'openwire', admin: 'admin' });
  const api = async (method: string, p: string, body?: unknown, user: keyof typeof PW = 'boss') => {
    const res = await fetch(`http://127.0.0.1:${b.admin}${p}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(`${user}:${PW[user]}`).toString('base64')}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  // dana is a runtime user in group consumers
  assert.equal((await api('PUT', '/api/security/users/dana', { password: PW.dana, groups: ['consumers'] })).status, 200);
  return { b, api };
}

function wharf(admin: number, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
    execFile(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'app', 'cli.ts'), ...args, '--url', `http://127.0.0.1:${admin}`, '--user', 'boss', '--password', PW.boss], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function mqttConnect(port: number, version: 4 | 5) {
  const c: MqttClient = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: version, reconnectPeriod: 0, username: 'dana', password: PW.dana, clientId: `acl-${version}-${Math.random().toString(36).slice(2)}` });
  const seen = { closed: false, disconnectRc: undefined as number | undefined, reason: undefined as string | undefined };
  c.on('error', () => undefined);
  c.on('disconnect', (p) => ((seen.disconnectRc = p.reasonCode), (seen.reason = p.properties?.reasonString)));
  c.on('close', () => (seen.closed = true));
  await new Promise<void>((resolve, reject) => (c.once('connect', () => resolve()), c.once('error', reject)));
  await c.subscribeAsync('orders/rev', { qos: 1 });
  return { c, seen };
}

describe('security: runtime ACL rules (wharf acl, /api/security/acl)', function () {
  this.timeout(120_000);

  it('add and remove through the CLI: durable, audited, admin-only, effective on new operations without a restart', async () => {
    const lines: string[] = [];
    const { b, api } = await start(lines);
    try {
      await b.broker.engine.createQueue('orders.cli');
      const stomp = () => Stompit.connect({ port: b.stomp, headers: { login: 'dana', passcode: PW.dana } });
      const s1 = await stomp();
      await assert.rejects(s1.subscribe('/queue/orders.cli'), /not authorized to consume queue:\/\/orders\.cli/);
      s1.client.destroy();

      const add = await wharf(b.admin, ['acl', 'add', 'orders.>', '--kind', 'queue', '--read', 'consumers']);
      assert.equal(add.code, 0, add.stderr);
      const id = /rule (\w+) added/.exec(add.stdout)?.[1];
      assert.ok(id, add.stdout);
      // a new subscription of the same user is allowed at once
      const s2 = await stomp();
      await s2.subscribe('/queue/orders.cli');
      s2.client.destroy();

      // viewers and messaging-only users cannot change rules
      assert.equal((await api('POST', '/api/security/acl', { match: 'x', read: ['viewer'] }, 'viewer')).status, 403);
      assert.equal((await api('DELETE', `/api/security/acl/${id}`, undefined, 'viewer')).status, 403);
      assert.equal((await api('POST', '/api/security/acl', { match: 'x', read: ['dana'] }, 'dana')).status, 401);
      // a bad rule is a 400 that says why
      const bad = await api('POST', '/api/security/acl', { match: 'a..b', read: ['x'] });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /empty segments/);

      const list = await wharf(b.admin, ['acl', 'list']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /config\s+keep\.>\s+both\s+dana\s+dana\s+dana/);
      assert.match(list.stdout, new RegExp(`${id}\\s+orders\\.>\\s+queue\\s+consumers`));

      // durable: after a restart the rule is still in force
      await b.restart();
      const listed = await api('GET', '/api/security/acl');
      assert.deepEqual(listed.body.runtime.map((r: { id: string; match: string; by: string }) => [r.id, r.match, r.by]), [[id, 'orders.>', 'boss']]);
      const s3 = await stomp();
      await s3.subscribe('/queue/orders.cli');

      // removal: the live subscription is closed with an ERROR naming the destination
      const rm = await wharf(b.admin, ['acl', 'remove', id!]);
      assert.equal(rm.code, 0, rm.stderr);
      await eventually(() => assert.ok(s3.errors.some((e) => /no longer authorized to consume queue:\/\/orders\.cli/.test(e.message)), `STOMP errors: ${s3.errors.map((e) => e.message)}`), 5000);
      assert.equal((await api('DELETE', `/api/security/acl/${id}`)).status, 404);

      const audit = lines.map((l) => JSON.parse(l)).filter((e) => e.audit === true);
      assert.ok(audit.some((e) => e.event === 'acl-change' && e.change === 'added' && e.rule?.match === 'orders.>'), 'rule added audited');
      assert.ok(audit.some((e) => e.event === 'acl-change' && e.change === 'removed' && e.id === id), 'rule removed audited');
      assert.ok(audit.some((e) => e.event === 'acl-change' && e.method === 'POST' && e.user === 'boss'), 'admin call audited with the admin');
      assert.ok(audit.some((e) => e.event === 'revoked' && e.destination === 'queue://orders.cli' && e.user === 'dana'), 'revocation audited');
    } finally {
      await b.close();
    }
  });

  it('runtime rules travel with the definitions (wharf export / import), once', async () => {
    const a = await start();
    const c = await start();
    try {
      assert.equal((await a.api('POST', '/api/security/acl', { match: 'orders.>', kind: 'queue', read: ['consumers'], write: ['dana'] })).status, 201);
      const doc = (await a.api('GET', '/api/definitions')).body;
      assert.deepEqual(doc.acl, [{ match: 'orders.>', kind: 'queue', read: ['consumers'], write: ['dana'] }]);
      const first = await c.api('POST', '/api/definitions', doc);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.created.acl, 1);
      assert.equal((await c.api('POST', '/api/definitions', doc)).body.existing.acl, 1);
      assert.deepEqual((await c.api('GET', '/api/security/acl')).body.runtime.map((r: { match: string; read: string[] }) => [r.match, r.read]), [['orders.>', ['consumers']]]);
      // a bad rule fails the whole import before anything is created
      const bad = await c.api('POST', '/api/definitions', { ...doc, queues: [{ name: 'never' }], acl: [{ match: 'x' }] });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /acl\[0\]: a rule must grant/);
      assert.equal(c.b.broker.engine.queueInfo('never'), undefined);
    } finally {
      await Promise.all([a.b.close(), c.b.close()]);
    }
  });

  it('revoking read closes only the consumers of that destination, each with its protocol error', async () => {
    const { b, api } = await start();
    try {
      const added = await api('POST', '/api/security/acl', { match: 'orders.>', read: ['consumers'] });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      await b.broker.engine.createQueue('orders.rev');

      const st = await Stompit.connect({ port: b.stomp, headers: { login: 'dana', passcode: PW.dana } });
      await st.subscribe('/queue/orders.rev');
      const m4 = await mqttConnect(b.mqtt, 4);
      const m5 = await mqttConnect(b.mqtt, 5);
      const am = await AmqpClient.connect({ port: b.amqp, tlsPort: 0, wsPort: 0 }, { username: 'dana', password: PW.dana });
      const amRev = await am.receiver('orders.rev');
      const amKeep = await am.receiver('keep.amqp');
      const jms = await JmsClient.connect(b.openwire, 'dana', PW.dana);
      const jmsRev = await jms.subscribe('orders.rev');
      const jmsKeep = await jms.subscribe('keep.jms');
      const revDetached = new Promise<LinkError>((resolve) => amRev.link.once('receiver_close', () => resolve(new LinkError(amRev.link.remote?.detach?.error?.condition, amRev.link.remote?.detach?.error?.description))));

      assert.equal((await api('DELETE', `/api/security/acl/${added.body.id}`)).status, 204);

      // AMQP: the orders.rev link is detached with amqp:unauthorized-access; the connection and keep.amqp go on
      const detach = await revDetached;
      assert.equal(detach.condition, 'amqp:unauthorized-access');
      assert.match(detach.message, /no longer authorized to consume queue:\/\/orders\.rev/);
      // OpenWire: the consumer is removed, the ExceptionListener hears a JMSSecurityException; the connection goes on
      await eventually(() => assert.ok(jms.connectionErrors.some((l) => /javax\.jms\.JMSSecurityException\t.*orders\.rev/.test(l)), `OpenWire: ${jms.connectionErrors}`), 5000);
      // STOMP: ERROR naming the destination (STOMP ends the connection after an ERROR)
      await eventually(() => assert.ok(st.errors.some((e) => /no longer authorized to consume queue:\/\/orders\.rev/.test(e.message)), `STOMP: ${st.errors.map((e) => e.message)}`), 5000);
      // MQTT: 5 gets DISCONNECT 0x87, 3.1.1 a close (no way to end one subscription from the server)
      await eventually(() => {
        assert.equal(m5.seen.disconnectRc, 0x87, 'MQTT 5 DISCONNECT 0x87');
        assert.match(m5.seen.reason ?? '', /no longer authorized to consume topic:\/\/orders\.rev/);
        assert.ok(m4.seen.closed, 'MQTT 3.1.1 closed');
      }, 5000);
      await eventually(() => assert.equal(b.broker.engine.consumersOf({ kind: 'queue', name: 'orders.rev' }).length, 0), 5000);

      assert.equal(am.closed, false, 'AMQP connection still open');
      assert.equal(jms.exited, false);
      const danas = b.broker.engine.listConnections().filter((c) => c.principal.username === 'dana').map((c) => c.protocol).sort();
      assert.deepEqual(danas, ['amqp', 'openwire']);
      await b.broker.engine.send((await import('../../src/core/api.js')).createMessage({ body: Buffer.from('still here'), bodyType: 'text' }), { kind: 'queue', name: 'keep.amqp' });
      assert.equal((await amKeep.next()).message.body, 'still here');
      await b.broker.engine.send((await import('../../src/core/api.js')).createMessage({ body: Buffer.from('jms still here'), bodyType: 'text' }), { kind: 'queue', name: 'keep.jms' });
      await eventually(() => assert.deepEqual(jmsKeep, ['jms still here']), 5000);
      assert.deepEqual(jmsRev, []);

      // a new subscription to the revoked destination is refused; the kept one still works
      await assert.rejects(am.receiver('orders.rev'), (err: LinkError) => err.condition === 'amqp:unauthorized-access');

      await Promise.all([am.close(), jms.close()]);
      m4.c.end(true);
      m5.c.end(true);
      st.client.destroy();
    } finally {
      await b.close();
    }
  });

  it("a change of a user's groups takes effect on its live connections: only the consumers it no longer may read end", async () => {
    const { b, api } = await start();
    try {
      assert.equal((await api('POST', '/api/security/acl', { match: 'orders.>', kind: 'queue', read: ['consumers'] })).status, 201);
      await b.broker.engine.createQueue('orders.grp');
      const am = await AmqpClient.connect({ port: b.amqp, tlsPort: 0, wsPort: 0 }, { username: 'dana', password: PW.dana });
      const rev = await am.receiver('orders.grp');
      const keep = await am.receiver('keep.grp');
      const detached = new Promise<string | undefined>((resolve) => rev.link.once('receiver_close', () => resolve(rev.link.remote?.detach?.error?.condition)));
      assert.equal((await api('PUT', '/api/security/users/dana', { groups: ['others'] })).status, 200);
      assert.equal(await detached, 'amqp:unauthorized-access');
      assert.equal(am.closed, false);
      // the connection has the new groups: keep.grp (granted to dana by name) still delivers
      const { createMessage } = await import('../../src/core/api.js');
      await b.broker.engine.send(createMessage({ body: Buffer.from('k'), bodyType: 'text' }), { kind: 'queue', name: 'keep.grp' });
      assert.equal((await keep.next()).message.body, 'k');
      // and back: a new link to orders.grp works once dana is in consumers again
      assert.equal((await api('PUT', '/api/security/users/dana', { groups: ['consumers'] })).status, 200);
      await am.receiver('orders.grp');
      await am.close();
    } finally {
      await b.close();
    }
  });
});
