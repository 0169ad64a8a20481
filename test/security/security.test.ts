/**
 * Users, anonymous access and destination ACLs (security.*), one table over every protocol with its real client
 * library: STOMP (stompit), MQTT 3.1.1 and 5 (MQTT.js), AMQP 1.0 (rhea), SQS JSON (AWS SDK v3).
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { SQSClient, CreateQueueCommand, SendMessageCommand, ReceiveMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { SNSClient, CreateTopicCommand, PublishCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import mqtt, { type MqttClient } from 'mqtt';
import { hashPassword } from '../../src/core/api.js';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import type { BrokerConfigInput } from '../../src/app/config.js';
import { eventually, sleep } from '../helpers/wait.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { Stompit } from '../protocols/stomp/helpers.js';
import { Client as AmqpClient } from '../protocols/amqp/helpers.js';
import { get, presignedPath, signedRequest, xmlText } from '../protocols/sqs/sigv4-client.js';
import { JmsClient, type JmsError } from './openwire-client.js';

type Ports = RunningBroker & { stomp: number; mqtt: number; amqp: number; sqs: number; admin: number; openwire: number };

const PW = { boss: 'boss-password', writer: 'writer-password', reader: 'reader-password', opsy: 'opsy-password', sports: 'sports-password' };
const KEYS = {
  writer: { accessKeyId: 'AKIDWRITER', secretAccessKey: 'writer-secret' },
  reader: { accessKeyId: 'AKIDREADER', secretAccessKey: 'reader-secret' },
  opsy: { accessKeyId: 'AKIDOPSY', secretAccessKey: 'opsy-secret' },
  boss: { accessKeyId: 'AKIDBOSS', secretAccessKey: 'boss-secret' },
};

async function securityConfig(): Promise<BrokerConfigInput['security']> {
  const [boss, writer, reader, opsy, sports] = await Promise.all([PW.boss, PW.writer, PW.reader, PW.opsy, PW.sports].map((p) => hashPassword(p)));
  return {
    users: [
      { username: 'boss', passwordHash: boss, roles: ['admin'], accessKeys: [KEYS.boss] },
      { username: 'writer', passwordHash: writer, groups: ['producers'], accessKeys: [KEYS.writer] },
      { username: 'reader', passwordHash: reader, groups: ['consumers'], accessKeys: [KEYS.reader] },
      { username: 'opsy', passwordHash: opsy, groups: ['ops'], accessKeys: [KEYS.opsy] },
      { username: 'sports', passwordHash: sports, groups: ['fans'] },
    ],
    acl: [
      { match: '>', read: ['boss'], write: ['boss'], admin: ['boss'] },
      { match: 'orders.>', write: ['producers'], admin: ['producers'] },
      { match: 'orders.>', read: ['consumers'] },
      { match: 'orders.>', read: ['ops'], write: ['ops'], admin: ['ops'] },
      { match: 'news.sports.>', kind: 'topic', read: ['fans'] },
    ],
  };
}

async function start(security: BrokerConfigInput['security'], host = '127.0.0.1'): Promise<Ports> {
  const r = await runBroker({
    name: 'security',
    config: {
      security,
      sqs: { purgeInterval: 0 },
      listeners: { stomp: { host, port: 0 }, mqtt: { host, port: 0 }, amqp: { host, port: 0 }, sqs: { host, port: 0 }, openwire: { host, port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    },
    modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
  });
  return withPorts(r, { stomp: 'stomp', mqtt: 'mqtt', amqp: 'amqp', sqs: 'sqs', openwire: 'openwire', admin: 'admin' });
}

// ------------------------------------------------------------------------------------------ one client shape

interface Conn {
  /** Resolves once the broker took it; rejects with the client library's error on a refusal. */
  send(name: string, body: string): Promise<void>;
  /** Resolves once subscribed; rejects on a refusal. */
  subscribe(name: string): Promise<{ texts(): string[] }>;
  close(): Promise<void>;
}

interface Proto {
  name: string;
  /** queue (STOMP, AMQP, SQS) or topic (MQTT) for the orders tests */
  kind: 'queue' | 'topic';
  /** a topic wildcard filter matching everything, or null when the protocol has no topics (SQS) */
  everything: string | null;
  connect(b: Ports, user?: string, password?: string, host?: string): Promise<Conn>;
  /** The exact error the client library reports for a bad password. */
  authError(err: Error): void;
  /** The exact error for a denied send / subscribe; `null` = the protocol drops the message silently. */
  sendDenied: ((err: Error, name: string) => void) | null;
  subscribeDenied(err: Error, name: string): void;
}

function name(p: Proto, n: string): string {
  return p.kind === 'topic' ? n.replaceAll('.', '/') : n;
}

const stomp: Proto = {
  name: 'STOMP',
  kind: 'queue',
  everything: '/topic/>',
  async connect(b, user, password, host = '127.0.0.1') {
    const c = await Stompit.connect({ port: b.stomp, host, headers: user ? { login: user, passcode: password ?? '' } : {} });
    const dest = (n: string) => (n.includes('>') || n.startsWith('/') ? n : `/queue/${n}`);
    return {
      send: (n, body) => c.send(dest(n), body),
      async subscribe(n) {
        const inbox = await c.subscribe(n.startsWith('/') ? n : dest(n));
        return { texts: () => inbox.items.map((i) => i.text) };
      },
      close: () => c.disconnect(),
    };
  },
  authError(err) {
    assert.match(err.message, /Authentication failed/);
  },
  sendDenied(err, n) {
    assert.match(err.message, new RegExp(`not authorized to send queue://${n.replaceAll('.', '\\.')}`));
  },
  subscribeDenied(err, n) {
    assert.match(err.message, new RegExp(`not authorized to consume (queue|topic)://${n.replaceAll('.', '\\.')}`));
  },
};

function mqttProto(version: 4 | 5): Proto {
  return {
    name: version === 4 ? 'MQTT 3.1.1' : 'MQTT 5',
    kind: 'topic',
    everything: '#',
    async connect(b, user, password, host = '127.0.0.1') {
      const c: MqttClient = mqtt.connect(`mqtt://${host}:${b.mqtt}`, { protocolVersion: version, reconnectPeriod: 0, connectTimeout: 5000, username: user, password, clientId: `sec-${Math.random().toString(36).slice(2)}` });
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
        c.once('close', () => reject(new Error('closed before CONNACK')));
      });
      c.on('error', () => undefined);
      const received: string[] = [];
      c.on('message', (_t, payload) => received.push(payload.toString()));
      return {
        send: (n, body) => new Promise<void>((resolve, reject) => c.publish(n, body, { qos: 1 }, (err) => (err ? reject(err) : resolve()))),
        subscribe: (n) =>
          new Promise((resolve, reject) =>
            c.subscribe(n, { qos: 1 }, (err, granted) => {
              if (err) return reject(err);
              const q = granted?.[0]?.qos ?? 0;
              if (q >= 0x80) return reject(Object.assign(new Error(`SUBACK 0x${q.toString(16)}`), { code: q }));
              resolve({ texts: () => received });
            }),
          ),
        close: () => new Promise<void>((r) => c.end(true, {}, () => r())),
      };
    },
    authError(err) {
      assert.equal((err as Error & { code?: number }).code, version === 4 ? 4 : 0x86, err.message);
    },
    // 3.1.1 has no negative PUBACK: the message is dropped silently
    sendDenied:
      version === 4
        ? null
        : (err) => {
            assert.equal((err as Error & { code?: number }).code, 0x87, err.message);
          },
    subscribeDenied(err) {
      // MQTT.js reports a failure return code in the SUBACK as an error naming it (0x80 in 3.1.1, 0x87 in 5)
      assert.match(err.message, version === 4 ? /^Subscribe error: Unspecified error/ : /^Subscribe error: Not authorized/);
    },
  };
}

const amqp: Proto = {
  name: 'AMQP 1.0',
  kind: 'queue',
  everything: 'topic://>',
  async connect(b, user, password, host = '127.0.0.1') {
    const c = await AmqpClient.connect({ port: b.amqp, tlsPort: 0, wsPort: 0 }, { username: user, password, extra: { host } });
    // without SASL, a refusal is an open followed at once by a close carrying the error (AMQP 1.0 §2.4.1)
    await sleep(150);
    if (c.closed || c.errors.length) throw new Error(`connection refused: ${JSON.stringify(c.errors[0] ?? c.conn.error)}`);
    return {
      async send(n, body) {
        const s = await c.sender(n);
        const o = await s.send({ body });
        if (o.state !== 'accepted') throw Object.assign(new Error(`${o.state}: ${o.error?.condition} ${o.error?.description}`), { condition: o.error?.condition });
      },
      async subscribe(n) {
        const r = await c.receiver(n);
        return { texts: () => r.inbox.items.map((i: { message: { body: unknown } }) => String(i.message.body)) };
      },
      close: () => c.close(),
    };
  },
  authError(err) {
    assert.match(err.message, /amqp:unauthorized-access/);
  },
  sendDenied(err) {
    assert.equal((err as Error & { condition?: string }).condition, 'amqp:unauthorized-access', err.message);
  },
  subscribeDenied(err) {
    assert.equal((err as Error & { condition?: string }).condition, 'amqp:unauthorized-access', err.message);
  },
};

function jmsSecurityException(err: Error, n?: string): void {
  assert.equal((err as JmsError).javaClass, 'javax.jms.JMSSecurityException', err.message);
  if (n) assert.ok(err.message.includes(n), err.message);
}

/** OpenWire: ActiveMQ 5.17's JMS client (test/security/java/SecurityJms.java). */
const openwire: Proto = {
  name: 'OpenWire (JMS)',
  kind: 'queue',
  everything: 'topic://>',
  async connect(b, user, password) {
    const c = await JmsClient.connect(b.openwire, user, password);
    return {
      send: (n, body) => c.send(n, body),
      async subscribe(n) {
        const list = await c.subscribe(n);
        return { texts: () => list };
      },
      close: () => c.close(),
    };
  },
  authError: (err) => jmsSecurityException(err),
  sendDenied: (err, n) => jmsSecurityException(err, n),
  subscribeDenied: (err, n) => jmsSecurityException(err, n),
};

const SQS_PW_TO_KEY: Record<string, { accessKeyId: string; secretAccessKey: string }> = {
  [PW.writer]: KEYS.writer,
  [PW.reader]: KEYS.reader,
  [PW.opsy]: KEYS.opsy,
  [PW.boss]: KEYS.boss,
};

const sqs: Proto = {
  name: 'SQS (JSON)',
  kind: 'queue',
  everything: null,
  async connect(b, user, password, host = '127.0.0.1') {
    const key = password && SQS_PW_TO_KEY[password] ? SQS_PW_TO_KEY[password] : { accessKeyId: user === 'writer' ? KEYS.writer.accessKeyId : 'AKIDNOBODY', secretAccessKey: 'wrong-secret' };
    const client = new SQSClient({ endpoint: `http://${host}:${b.sqs}`, region: 'us-east-1', credentials: key, maxAttempts: 1 });
    // a connection test like the other protocols': an authenticated call
    await client.send(new GetQueueUrlCommand({ QueueName: 'no-such-queue-probe' })).catch((err: Error & { name: string }) => {
      if (err.name !== 'QueueDoesNotExist' && err.name !== 'AWS.SimpleQueueService.NonExistentQueue') throw err;
    });
    const url = (n: string) => `http://${host}:${b.sqs}/000000000000/${n}`;
    return {
      async send(n, body) {
        // SQS queue names have no dots: the operator made the queue (as a JMS/AMQP client would have)
        if (!b.broker.engine.queueInfo(n)) await b.broker.engine.createQueue(n);
        await client.send(new SendMessageCommand({ QueueUrl: url(n), MessageBody: body }));
      },
      async subscribe(n) {
        const got: string[] = [];
        const r = await client.send(new ReceiveMessageCommand({ QueueUrl: url(n), WaitTimeSeconds: 0, MaxNumberOfMessages: 10 }));
        for (const m of r.Messages ?? []) got.push(m.Body ?? '');
        return {
          texts: () => got,
        };
      },
      async close() {
        client.destroy();
      },
    };
  },
  authError(err) {
    assert.equal((err as Error & { name: string }).name, 'SignatureDoesNotMatch', err.message);
  },
  sendDenied(err) {
    assert.equal((err as Error & { name: string }).name, 'AccessDenied', err.message);
    assert.equal((err as Error & { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 403);
  },
  subscribeDenied(err) {
    assert.equal((err as Error & { name: string }).name, 'AccessDenied', err.message);
    assert.equal((err as Error & { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 403);
  },
};

const PROTOCOLS: Proto[] = [stomp, mqttProto(4), mqttProto(5), amqp, openwire, sqs];

async function rejects(p: Promise<unknown>, what = ''): Promise<Error> {
  let ok: unknown;
  try {
    ok = await p;
  } catch (err) {
    return err as Error;
  }
  await (ok as Partial<Conn> | undefined)?.close?.().catch(() => undefined);
  assert.fail(`expected a refusal ${what}`);
}

describe('security: users and ACLs over every protocol', function () {
  this.timeout(60_000);
  let b: Ports;

  before(async () => {
    b = await start(await securityConfig());
  });
  after(async () => {
    await b?.close();
  });

  for (const p of PROTOCOLS) {
    describe(p.name, () => {
      const dest = (n: string) => name(p, n);
      const tag = p.name.replace(/\W+/g, '').toLowerCase();

      it('refuses a wrong password', async () => {
        p.authError(await rejects(p.connect(b, 'writer', 'not-the-password')));
      });

      it('write without read: may send to orders.<x>, may not consume it', async () => {
        const q = dest(`orders.eu${tag}`);
        const w = await p.connect(b, 'writer', PW.writer);
        await w.send(q, 'w1');
        await w.close();
        const w2 = await p.connect(b, 'writer', PW.writer);
        p.subscribeDenied(await rejects(w2.subscribe(q)), `orders.eu${tag}`);
        await w2.close().catch(() => undefined);
      });

      it('read without write: may consume, may not send', async () => {
        const q = dest(`orders.us${tag}`);
        const r = await p.connect(b, 'reader', PW.reader);
        if (p.kind === 'queue') {
          const w = await p.connect(b, 'writer', PW.writer);
          await w.send(q, 'for-reader');
          await w.close();
        }
        const inbox = await r.subscribe(q);
        if (p.kind === 'topic') {
          const w = await p.connect(b, 'writer', PW.writer);
          await w.send(q, 'for-reader');
          await w.close();
        }
        if (p.name.startsWith('SQS')) {
          let texts: string[] = [...inbox.texts()];
          for (let i = 0; i < 20 && !texts.includes('for-reader'); i++) texts = texts.concat((await r.subscribe(q)).texts());
          assert.ok(texts.includes('for-reader'), JSON.stringify(texts));
        } else {
          await eventually(() => assert.deepEqual(inbox.texts(), ['for-reader']));
        }
        const r2 = p.kind === 'topic' ? r : await p.connect(b, 'reader', PW.reader);
        if (p.sendDenied) p.sendDenied(await rejects(r2.send(q, 'not-allowed')), `orders.us${tag}`);
        else {
          await r2.send(q, 'not-allowed'); // 3.1.1: acknowledged, dropped
          await sleep(200);
          assert.deepEqual(inbox.texts(), ['for-reader']);
        }
        await r.close().catch(() => undefined);
        if (r2 !== r) await r2.close().catch(() => undefined);
      });

      it('a group grant (ops: read, write, admin on orders.>) works for its member', async () => {
        const q = dest(`orders.ops${tag}`);
        const c = await p.connect(b, 'opsy', PW.opsy);
        if (p.name.startsWith('SQS')) {
          await c.send(q, 'by-group');
          let texts: string[] = [];
          for (let i = 0; i < 20 && !texts.includes('by-group'); i++) texts = texts.concat((await c.subscribe(q)).texts());
          assert.deepEqual(texts, ['by-group']);
        } else {
          const inbox = await c.subscribe(q);
          await c.send(q, 'by-group');
          await eventually(() => assert.deepEqual(inbox.texts(), ['by-group']));
        }
        await c.close();
        const other = await p.connect(b, 'opsy', PW.opsy);
        if (p.sendDenied) p.sendDenied(await rejects(other.send(dest(`billing.x${tag}`), 'no')), `billing.x${tag}`);
        else await other.send(dest(`billing.x${tag}`), 'no'); // 3.1.1: acknowledged and dropped
        await other.close().catch(() => undefined);
      });

      if (p.everything) {
        it(`a subscription to ${p.everything} receives only the topics the user may read`, async () => {
          const fan = await p.connect(b, 'sports', PW.sports);
          const inbox = await fan.subscribe(p.everything!);
          const boss = await p.connect(b, 'boss', PW.boss);
          const t = (n: string) => (p.kind === 'topic' ? n.replaceAll('.', '/') : p.name === 'STOMP' ? `/topic/${n}` : `topic://${n}`);
          await boss.send(t(`news.politics.${tag}`), 'politics');
          await boss.send(t(`news.sports.${tag}`), 'sports');
          await boss.send(t(`orders.${tag}`), 'orders');
          await eventually(() => assert.deepEqual(inbox.texts(), ['sports']));
          await sleep(200);
          assert.deepEqual(inbox.texts(), ['sports']);
          await Promise.all([fan.close(), boss.close()]);
        });
      }
    });
  }

  it("SigV4 with a user's access key: wrong secret, a signature older than 15 minutes, a modified presigned URL are refused", async () => {
    const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams({ Action: 'ListQueues', Version: '2012-11-05' }).toString();
    const ok = await signedRequest(b.sqs, KEYS.opsy, { headers: FORM, body });
    assert.equal(ok.status, 200, ok.body);
    const wrong = await signedRequest(b.sqs, { ...KEYS.opsy, secretAccessKey: 'not-the-secret' }, { headers: FORM, body });
    assert.equal(wrong.status, 403);
    assert.equal(xmlText(wrong.body, 'Code'), 'SignatureDoesNotMatch');
    const old = await signedRequest(b.sqs, KEYS.opsy, { headers: FORM, body, signingDate: new Date(Date.now() - 16 * 60_000) });
    assert.equal(old.status, 403);
    assert.equal(xmlText(old.body, 'Code'), 'SignatureDoesNotMatch');
    const path = await presignedPath(b.sqs, KEYS.opsy, { Action: 'ListQueues', Version: '2012-11-05' }, 60);
    assert.equal((await get(b.sqs, path)).status, 200);
    const bad = await get(b.sqs, path.replace('ListQueues', 'ListQueuez'));
    assert.equal(bad.status, 403);
    assert.equal(xmlText(bad.body, 'Code'), 'SignatureDoesNotMatch');
    // SNS (same listener, its own action and signing service) verifies the same way
    const sns = new URLSearchParams({ Action: 'ListTopics', Version: '2010-03-31' }).toString();
    assert.equal((await signedRequest(b.sqs, KEYS.opsy, { headers: FORM, body: sns, service: 'sns' })).status, 200);
    const snsWrong = await signedRequest(b.sqs, { ...KEYS.opsy, secretAccessKey: 'not-the-secret' }, { headers: FORM, body: sns, service: 'sns' });
    assert.equal(snsWrong.status, 403);
    assert.equal(xmlText(snsWrong.body, 'Code'), 'SignatureDoesNotMatch');
    const snsOld = await signedRequest(b.sqs, KEYS.opsy, { headers: FORM, body: sns, service: 'sns', signingDate: new Date(Date.now() - 16 * 60_000) });
    assert.equal(snsOld.status, 403);
    assert.equal(xmlText(snsOld.body, 'Code'), 'SignatureDoesNotMatch');
  });

  it('audit: the engine logged the denials and logins (audit: true)', async () => {
    // covered by the log assertions in the remote test below; here: the principal of a connection is the user
    const conns = b.broker.engine.listConnections();
    for (const c of conns) assert.ok(!c.principal.anonymous || c.protocol === 'sqs' || c.protocol === 'sns');
  });
});

describe('security: anonymous clients', function () {
  this.timeout(60_000);

  it('without users: anonymous from loopback works, from another address is refused', async function () {
    const ip = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!ip) this.skip();
    const b = await start(undefined, '0.0.0.0');
    try {
      for (const p of [stomp, mqttProto(4), mqttProto(5), amqp]) {
        const local = await p.connect(b);
        await local.close();
        const err = await rejects(p.connect(b, undefined, undefined, ip), p.name);
        if (p === stomp) assert.match(err.message, /Authentication failed/);
        else if (p === amqp) assert.match(err.message, /amqp:unauthorized-access/);
        else assert.equal((err as Error & { code?: number }).code, p.name === 'MQTT 5' ? 0x87 : 5, `${p.name}: ${err.message}`);
      }
    } finally {
      await b.close();
    }
  });

  it('with users: anonymous is refused even from loopback, unless security.anonymous: true', async () => {
    const hash = await hashPassword('some-password');
    const b = await start({ users: [{ username: 'u', passwordHash: hash }] });
    try {
      for (const p of [stomp, mqttProto(5), amqp]) await rejects(p.connect(b), p.name);
      const ok = await stomp.connect(b, 'u', 'some-password');
      await ok.close();
    } finally {
      await b.close();
    }
    const open = await start({ users: [{ username: 'u', passwordHash: hash }], anonymous: true });
    try {
      const c = await stomp.connect(open);
      await c.close();
    } finally {
      await open.close();
    }
  });
});

describe('security: runtime users (wharf users over the admin REST API)', function () {
  this.timeout(90_000);

  it('add, log in over STOMP and SQS, passwd, remove; stored durably; the admin actions are audited', async () => {
    const { execFile } = await import('node:child_process');
    const path = await import('node:path');
    const { repoRoot } = await import('../helpers/paths.js');
    const lines: string[] = [];
    const { default: pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const r = await runBroker({
      name: 'security-users',
      config: { listeners: { stomp: { host: '127.0.0.1', port: 0 }, sqs: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } },
      modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
      logger,
    });
    const ports = (): Ports => {
      const a = r.broker.listenerAddresses();
      return { stomp: a.stomp.port, sqs: a.sqs.port, admin: a.admin.port } as unknown as Ports;
    };
    const b = ports();
    const wharf = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
        execFile(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'app', 'cli.ts'), ...args, '--url', `http://127.0.0.1:${b.admin}`], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    try {
      // no users yet: anonymous from loopback
      await (await stomp.connect(b)).close();
      const add = await wharf(['users', 'add', 'carol', '--new-password', 'carol-password', '--group', 'ops', '--role', 'admin', '--access-key', 'AKIDCAROL:carol-secret-key']);
      assert.equal(add.code, 0, add.stderr);
      // a user exists now: anonymous is off, carol logs in
      await rejects(stomp.connect(b), 'anonymous after a user was added');
      await (await stomp.connect(b, 'carol', 'carol-password')).close();
      const sqsClient = new SQSClient({ endpoint: `http://127.0.0.1:${b.sqs}`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDCAROL', secretAccessKey: 'carol-secret-key' }, maxAttempts: 1 });
      await sqsClient.send(new CreateQueueCommand({ QueueName: 'carols' }));
      sqsClient.destroy();
      const list = await wharf(['users', 'list', '--user', 'carol', '--password', 'carol-password']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /carol\s+ops\s+admin\s+AKIDCAROL\s+runtime/);
      assert.doesNotMatch(list.stdout, /carol-secret-key|scrypt/);
      const pw = await wharf(['users', 'passwd', 'carol', '--new-password', 'carol-password-2', '--user', 'carol', '--password', 'carol-password']);
      assert.equal(pw.code, 0, pw.stderr);
      stomp.authError(await rejects(stomp.connect(b, 'carol', 'carol-password')));
      await r.restart();
      const b2 = ports();
      await (await stomp.connect(b2, 'carol', 'carol-password-2')).close();
      Object.assign(b, { admin: b2.admin });
      const rm = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'app', 'cli.ts'), 'users', 'remove', 'carol', '--url', `http://127.0.0.1:${b2.admin}`, '--user', 'carol', '--password', 'carol-password-2'], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 }, (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr })),
      );
      assert.equal(rm.code, 0, rm.stderr);
      // no users again: back to anonymous from loopback
      await (await stomp.connect(b2)).close();
      const audit = lines.map((l) => JSON.parse(l)).filter((e) => e.audit === true);
      assert.ok(audit.some((e) => e.event === 'user-change' && e.method === 'PUT'), 'user change audited');
      assert.ok(audit.some((e) => e.event === 'login' && e.outcome === 'failure' && e.user === 'carol'), 'failed login audited');
      assert.ok(audit.some((e) => e.event === 'login' && e.outcome === 'success' && e.user === 'carol'), 'login audited');
    } finally {
      await r.close();
    }
  });
});

describe('security: revocation without a restart (runtime user removed or its groups changed)', function () {
  this.timeout(120_000);

  it("ends the user's consumers (a removed user: its connections) on every protocol with its not-authorized error; the reconnect gets the new rights", async () => {
    const boss = await hashPassword(PW.boss);
    const b = await start({
      users: [{ username: 'boss', passwordHash: boss, roles: ['admin'] }],
      acl: [
        { match: '>', read: ['boss'], write: ['boss'], admin: ['boss'] },
        { match: 'orders.>', read: ['consumers'] },
      ],
    });
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${b.admin}${path}`, {
        method,
        headers: { authorization: `Basic ${Buffer.from(`boss:${PW.boss}`).toString('base64')}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.text()}`);
    };
    const PWD = 'dana-password';
    // one consumer of orders.rev per protocol, each observing how its connection ends
    const consumers = async () => {
      const st = await Stompit.connect({ port: b.stomp, host: '127.0.0.1', headers: { login: 'dana', passcode: PWD } });
      await st.subscribe('/queue/orders.rev');
      const mq = async (version: 4 | 5) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${b.mqtt}`, { protocolVersion: version, reconnectPeriod: 0, username: 'dana', password: PWD, clientId: `rev-${version}-${Math.random().toString(36).slice(2)}` });
        const seen = { closed: false, disconnectRc: undefined as number | undefined };
        c.on('error', () => undefined);
        c.on('disconnect', (p) => (seen.disconnectRc = p.reasonCode));
        c.on('close', () => (seen.closed = true));
        await new Promise<void>((resolve, reject) => (c.once('connect', () => resolve()), c.once('error', reject)));
        await new Promise<void>((resolve, reject) => c.subscribe('orders/rev', { qos: 1 }, (err, g) => (err || (g?.[0]?.qos ?? 0) >= 0x80 ? reject(err ?? new Error('SUBACK refused')) : resolve())));
        return { c, seen };
      };
      const m4 = await mq(4);
      const m5 = await mq(5);
      const am = await AmqpClient.connect({ port: b.amqp, tlsPort: 0, wsPort: 0 }, { username: 'dana', password: PWD });
      const amLink = (await am.receiver('orders.rev')).link;
      const jms = await JmsClient.connect(b.openwire, 'dana', PWD);
      await jms.subscribe('orders.rev');
      assert.equal(b.broker.engine.listConnections().filter((c) => c.principal.username === 'dana').length, 5);
      return { st, m4, m5, am, amLink, jms };
    };
    // whole: the user is gone, every connection ends; else (groups changed) only the consumers of orders.rev end:
    // STOMP and MQTT can only say so by ending the connection, AMQP detaches the link, OpenWire removes the consumer
    const ended = async (c: Awaited<ReturnType<typeof consumers>>, whole = true) => {
      await eventually(() => {
        assert.ok(c.st.errors.some((e) => /not authorized|no longer authorized to consume queue:\/\/orders\.rev|was removed/.test(e.message)), `STOMP ERROR: ${c.st.errors.map((e) => e.message)}`);
        assert.ok(c.m4.seen.closed, 'MQTT 3.1.1 closed');
        assert.equal(c.m5.seen.disconnectRc, 0x87, 'MQTT 5 DISCONNECT 0x87');
        if (whole) assert.ok(c.am.errors.some((e) => e?.condition === 'amqp:unauthorized-access'), `AMQP close: ${JSON.stringify(c.am.errors)}`);
        else assert.equal(c.amLink.remote?.detach?.error?.condition, 'amqp:unauthorized-access', 'AMQP link detached');
        if (whole) assert.ok(c.jms.connectionErrors.some((l) => /JMSSecurityException/.test(l)), `OpenWire JMSSecurityException, then the connection fails: ${c.jms.connectionErrors}`);
        else assert.ok(c.jms.connectionErrors.some((l) => /JMSSecurityException/.test(l)), 'OpenWire JMSSecurityException');
      }, 10_000);
      const left = b.broker.engine.listConnections().filter((x) => x.principal.username === 'dana').map((x) => x.protocol).sort();
      assert.deepEqual(left, whole ? [] : ['amqp', 'openwire']);
      await Promise.all([c.st.disconnect().catch(() => undefined), c.am.close().catch(() => undefined), c.jms.close()]);
      c.m4.c.end(true);
      c.m5.c.end(true);
    };
    try {
      await api('PUT', '/api/security/users/dana', { password: PWD, groups: ['consumers'] });
      await b.broker.engine.createQueue('orders.rev');
      // a groups change: the consumers end; a reconnect logs in with the new groups and is refused the subscription
      const first = await consumers();
      await api('PUT', '/api/security/users/dana', { roles: ['viewer'] }); // not a messaging right: nothing ends
      await sleep(300);
      assert.equal(b.broker.engine.listConnections().filter((c) => c.principal.username === 'dana').length, 5);
      await api('PUT', '/api/security/users/dana', { groups: [] });
      await ended(first, false);
      stomp.subscribeDenied(await rejects(stomp.connect(b, 'dana', PWD).then((c) => c.subscribe('orders.rev'))), 'orders.rev');
      // removal
      await api('PUT', '/api/security/users/dana', { groups: ['consumers'] });
      const second = await consumers();
      await api('DELETE', '/api/security/users/dana');
      await ended(second);
      stomp.authError(await rejects(stomp.connect(b, 'dana', PWD)));
    } finally {
      await b.close();
    }
  });
});

describe('security: SNS per-topic authorization (a user\'s access key)', function () {
  this.timeout(60_000);

  it('Publish needs write, Subscribe read (and write on an sqs/wharf target), creating a topic admin: else AuthorizationError 403', async () => {
    const [boss, writer, reader] = await Promise.all([PW.boss, PW.writer, PW.reader].map((p) => hashPassword(p)));
    // new objects: the config parser marks the ones it was given ($source), and the table above parsed KEYS
    const fresh = (k: { accessKeyId: string; secretAccessKey: string }) => ({ accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey });
    const b = await start({
      users: [
        { username: 'boss', passwordHash: boss, accessKeys: [fresh(KEYS.boss)] },
        { username: 'writer', passwordHash: writer, groups: ['producers'], accessKeys: [fresh(KEYS.writer)] },
        { username: 'reader', passwordHash: reader, groups: ['consumers'], accessKeys: [fresh(KEYS.reader)] },
      ],
      acl: [
        { match: '>', read: ['boss'], write: ['boss'], admin: ['boss'] },
        { match: 'alerts', kind: 'topic', write: ['producers'] },
        { match: 'alerts', kind: 'topic', read: ['consumers'] },
        // Subscribe of an sqs/wharf endpoint needs write on the target queue too
        { match: 'alerts-inbox', kind: 'queue', write: ['consumers'] },
      ],
    });
    const sns = (key: { accessKeyId: string; secretAccessKey: string }) => new SNSClient({ endpoint: `http://127.0.0.1:${b.sqs}`, region: 'us-east-1', credentials: key, maxAttempts: 1 });
    const denied = async (p: Promise<unknown>, action: string) => {
      const err = (await rejects(p, action)) as Error & { $metadata?: { httpStatusCode?: number } };
      // the SDK's class for AWS's AuthorizationError code (403)
      assert.equal(err.name, 'AuthorizationErrorException', err.message);
      assert.equal(err.$metadata?.httpStatusCode, 403);
      assert.match(err.message, new RegExp(`not authorized to perform: SNS:${action} on resource: arn:aws:sns:[^:]*:[^:]*:`));
    };
    const [bs, ws, rs] = [sns(KEYS.boss), sns(KEYS.writer), sns(KEYS.reader)];
    try {
      const { TopicArn } = await bs.send(new CreateTopicCommand({ Name: 'alerts' }));
      await b.broker.engine.createQueue('alerts-inbox');
      const Endpoint = 'arn:aws:sqs:us-east-1:000000000000:alerts-inbox';
      // writer: publish yes, subscribe no, a new topic no; creating the existing one is a lookup
      await ws.send(new PublishCommand({ TopicArn, Message: 'by-writer' }));
      await denied(ws.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint })), 'Subscribe');
      await denied(ws.send(new CreateTopicCommand({ Name: 'other' })), 'CreateTopic');
      assert.equal((await ws.send(new CreateTopicCommand({ Name: 'alerts' }))).TopicArn, TopicArn);
      // reader: subscribe yes, publish no
      await rs.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint }));
      // ... but not into a queue the reader may not write to (sqs or a broker-native wharf endpoint)
      await b.broker.engine.createQueue('payroll');
      for (const [Protocol, target] of [['sqs', 'arn:aws:sqs:us-east-1:000000000000:payroll'], ['wharf', 'queue://payroll']]) {
        const err = (await rejects(rs.send(new SubscribeCommand({ TopicArn, Protocol, Endpoint: target })), `Subscribe ${Protocol}`)) as Error & { $metadata?: { httpStatusCode?: number } };
        assert.equal(err.name, 'AuthorizationErrorException', err.message);
        assert.equal(err.$metadata?.httpStatusCode, 403);
        assert.match(err.message, /User 'reader' is not authorized to perform: SNS:Subscribe with endpoint .*sending to queue:\/\/payroll is not allowed/);
      }
      await denied(rs.send(new PublishCommand({ TopicArn, Message: 'by-reader' })), 'Publish');
      await ws.send(new PublishCommand({ TopicArn, Message: 'after-subscribe' }));
      await eventually(() => assert.equal(b.broker.engine.queueInfo('alerts-inbox')?.depth, 1));
    } finally {
      for (const c of [bs, ws, rs]) c.destroy();
      await b.close();
    }
  });
});

describe('security: login throttling', function () {
  this.timeout(60_000);

  it('after 10 failed logins of a user from an address, further attempts are refused unchecked on every protocol; /metrics counts them', async () => {
    const [boss, writer] = await Promise.all([PW.boss, PW.writer].map((p) => hashPassword(p)));
    const b = await start({ users: [{ username: 'boss', passwordHash: boss, roles: ['admin'] }, { username: 'writer', passwordHash: writer }] });
    try {
      for (let i = 0; i < 10; i++) {
        const p = i % 2 ? amqp : stomp;
        p.authError(await rejects(p.connect(b, 'writer', `wrong-${i}`)));
      }
      // the right password now: refused without being checked, on every protocol, from this address
      stomp.authError(await rejects(stomp.connect(b, 'writer', PW.writer)));
      mqttProto(5).authError(await rejects(mqttProto(5).connect(b, 'writer', PW.writer)));
      openwire.authError(await rejects(openwire.connect(b, 'writer', PW.writer)));
      // another user from the same address is not affected
      await (await stomp.connect(b, 'boss', PW.boss)).close();
      const res = await fetch(`http://127.0.0.1:${b.admin}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`boss:${PW.boss}`).toString('base64')}` } });
      const text = await res.text();
      const value = (name: string, protocol: string) => Number(new RegExp(`^${name}\\{protocol="${protocol}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      assert.equal(value('wharf_login_failures_total', 'stomp'), 6, text);
      assert.equal(value('wharf_login_failures_total', 'amqp'), 5);
      assert.equal(value('wharf_login_failures_total', 'mqtt'), 1);
      assert.equal(value('wharf_login_failures_total', 'openwire'), 1);
      assert.equal(value('wharf_logins_throttled_total', 'stomp'), 1);
      assert.equal(value('wharf_logins_throttled_total', 'mqtt'), 1);
    } finally {
      await b.close();
    }
  });
});
