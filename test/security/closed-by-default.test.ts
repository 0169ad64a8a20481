/**
 * "Closed by default" under ACLs, with clients no one here wrote: what a user without a right must not get around
 * the ACL by a side door. MQTT with Debian's python3-paho-mqtt (retained messages through a wildcard, wills), checked
 * against mosquitto 2.0 with an acl_file (it behaves the same: retained messages are filtered per topic, a will to a
 * topic its client may not write is dropped); OpenWire with ActiveMQ 5.17's JMS client (QueueBrowser,
 * destroyDestination, someone else's temporary queue). Each refusal is audited, and the connection goes on.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { hashPassword } from '../../src/core/api.js';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { DEBIAN_PYTHON, need, run, testSource } from '../helpers/external.js';
import { eventually } from '../helpers/wait.js';
import { JmsClient, type JmsError } from './openwire-client.js';

const PAHO_ACL = testSource('security', 'py', 'paho_acl.py');
const USERS = ['publisher', 'fan', 'reader', 'writer', 'plain'] as const;

type Ports = RunningBroker & { mqtt: number; openwire: number; sqs: number };

interface AuditLine {
  audit?: boolean;
  event?: string;
  user?: string;
  action?: string;
  destination?: string;
}

async function paho(b: Ports, scenario: string, version: '311' | '5', tag: string): Promise<{ connack?: number; granted?: unknown; received: Array<[string, string, boolean]> }> {
  const { stdout } = await run(DEBIAN_PYTHON, [PAHO_ACL, scenario, '127.0.0.1', String(b.mqtt), version, tag], 60_000);
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as { connack?: number; granted?: unknown; received: Array<[string, string, boolean]> };
}

function jmsSecurityException(err: unknown, text: string): void {
  assert.equal((err as JmsError).javaClass, 'javax.jms.JMSSecurityException', String(err));
  assert.ok((err as Error).message.includes(text), (err as Error).message);
}

async function refused(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a refusal');
}

describe('security: closed by default (paho-mqtt, ActiveMQ JMS client)', function () {
  this.timeout(120_000);
  let b: Ports;
  const lines: string[] = [];
  const audit = () => lines.map((l) => JSON.parse(l) as AuditLine).filter((e) => e.audit === true);

  before(async () => {
    need(DEBIAN_PYTHON, 'python3');
    const hashes = await Promise.all(USERS.map((u) => hashPassword(`${u}-pw`)));
    const r = await runBroker({
      name: 'closed-by-default',
      config: {
        security: {
          users: USERS.map((username, i) => ({ username, passwordHash: hashes[i]!, groups: [], accessKeys: [{ accessKeyId: `AKID${username.toUpperCase()}`, secretAccessKey: `${username}-secret` }] })),
          acl: [
            { match: '>', read: ['publisher'], write: ['publisher'], admin: ['publisher'] },
            { match: 'news.sports.>', kind: 'topic', read: ['fan'] },
            { match: 'orders.>', read: ['reader'] },
            { match: 'orders.>', write: ['writer'] },
            { match: 'svc.>', kind: 'queue', write: ['*'] },
          ],
        },
        listeners: { mqtt: { host: '127.0.0.1', port: 0 }, openwire: { host: '127.0.0.1', port: 0 }, sqs: { host: '127.0.0.1', port: 0 } },
      },
      logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
      modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
    });
    b = withPorts(r, { mqtt: 'mqtt', openwire: 'openwire', sqs: 'sqs' });
  });
  after(async () => {
    await b?.close();
  });

  for (const version of ['311', '5'] as const) {
    describe(`MQTT ${version === '5' ? '5' : '3.1.1'} (paho)`, () => {
      it('a `#` subscriber gets only the retained (and live) messages of topics it may read', async () => {
        const tag = `ret${version}`;
        const r = await paho(b, 'retained', version, tag);
        assert.equal(r.connack, 0);
        // both filters are accepted (the user may read something under them), as mosquitto does
        assert.deepEqual(r.granted, [[1], [1]]);
        // (`#` also finds the other tests' retained sports messages on this broker: readable too)
        const unreadable = r.received.filter(([t]) => !t.startsWith('news/sports/'));
        assert.deepEqual(unreadable, [], JSON.stringify(r.received));
        assert.ok(r.received.some(([, body, retained]) => body === `retained news/sports/${tag}` && retained), JSON.stringify(r.received));
        assert.ok(r.received.some(([, body]) => body === `live news/sports/${tag}`), JSON.stringify(r.received));
      });

      it('a shared subscription to a wildcard needs read on all of it (one queue serves the group); within its rights it works', async () => {
        const tag = `share${version}`;
        const r = (await paho(b, 'shared', version, tag)) as Awaited<ReturnType<typeof paho>> & { publisher: string[] };
        // SUBACK: MQTT 5 0x87 Not authorized, 3.1.1 0x80 Failure
        assert.deepEqual(r.granted, [[version === '5' ? 0x87 : 0x80], [1], [1]]);
        assert.deepEqual(r.received.map(([t, body]) => [t, body]), [[`news/sports/${tag}/end`, 'end']]);
        assert.deepEqual(r.publisher, ['end', 'politics 0', 'politics 1', 'politics 2', 'politics 3', 'politics 4']);
        assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'fan' && e.action === 'consume' && e.destination === 'topic://>'), 'audit line for the shared subscription');
      });

      it("a durable `#` subscription is filtered by its user's rights after a restart, before its subscriber is back", async () => {
        const tag = `dur${version}`;
        const sub = await paho(b, 'durable', version, tag);
        assert.equal(sub.connack, 0);
        assert.deepEqual(sub.granted, [1]);
        await b.restart();
        const r = await paho(b, 'resume', version, tag);
        assert.equal(r.connack, 0);
        assert.deepEqual(r.received.map(([t, body]) => [t, body]), [[`news/sports/${tag}`, `offline news/sports/${tag}`]]);
      });

      it('a will to a topic its user may not write is dropped (the CONNECT is accepted); the denial is audited', async () => {
        const tag = `will${version}`;
        const r = await paho(b, 'will', version, tag);
        assert.equal(r.connack, 0);
        // the control will (a user who may write) arrives; the reader's does not
        assert.deepEqual(r.received.map(([t, body]) => [t, body]), [[`news/sports/${tag}/control`, 'will-of-publisher']]);
        assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'reader' && e.action === 'send' && e.destination === `topic://news.sports.${tag}.will`), 'audit line for the will');
      });
    });
  }

  describe('OpenWire (ActiveMQ JMS client)', () => {
    it('an unknown user, a wrong password and an anonymous client are each a JMSSecurityException that says which', async () => {
      jmsSecurityException(await refused(JmsClient.connect(b.openwire, 'nobody', 'x')), 'Authentication failed: bad username or password');
      jmsSecurityException(await refused(JmsClient.connect(b.openwire, 'writer', 'not-the-password')), 'Authentication failed: bad username or password');
      // from loopback too (users exist): not "from this address", which would send the user hunting for a network cause
      const anon = await refused(JmsClient.connect(b.openwire));
      jmsSecurityException(anon, 'anonymous access is not allowed here: log in with a username and password');
      assert.ok(!(anon as Error).message.includes('address'), (anon as Error).message);
    });

    it('a QueueBrowser needs read: JMSSecurityException for a user who may only write; the connection goes on', async () => {
      const writer = await JmsClient.connect(b.openwire, 'writer', 'writer-pw');
      const publisher = await JmsClient.connect(b.openwire, 'publisher', 'publisher-pw');
      try {
        await publisher.send('queue://orders.browse', 'secret');
        jmsSecurityException(await refused(writer.browse('queue://orders.browse')), "User 'writer' is not authorized to browse queue://orders.browse");
        await writer.send('queue://orders.browse', 'still-sending');
        const reader = await JmsClient.connect(b.openwire, 'reader', 'reader-pw');
        assert.equal(await reader.browse('queue://orders.browse'), 2);
        await reader.close();
        assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'writer' && e.action === 'browse' && e.destination === 'queue://orders.browse'));
      } finally {
        await Promise.all([writer.close(), publisher.close()]);
      }
    });

    it('destroyDestination needs admin: JMSSecurityException for users with write or read; the queue and its messages stay', async () => {
      const publisher = await JmsClient.connect(b.openwire, 'publisher', 'publisher-pw');
      const writer = await JmsClient.connect(b.openwire, 'writer', 'writer-pw');
      const reader = await JmsClient.connect(b.openwire, 'reader', 'reader-pw');
      try {
        await publisher.send('queue://orders.keep', 'kept');
        jmsSecurityException(await refused(writer.destroy('queue://orders.keep')), "User 'writer' is not authorized to delete queue://orders.keep");
        jmsSecurityException(await refused(reader.destroy('queue://orders.keep')), "User 'reader' is not authorized to delete queue://orders.keep");
        assert.equal(await reader.browse('queue://orders.keep'), 1);
        assert.ok(b.broker.engine.queueInfo('orders.keep'));
        await publisher.destroy('queue://orders.keep');
        assert.equal(b.broker.engine.queueInfo('orders.keep'), undefined);
        assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'writer' && e.action === 'delete' && e.destination === 'queue://orders.keep'));
      } finally {
        await Promise.all([publisher.close(), writer.close(), reader.close()]);
      }
    });

    it("an ordinary user's temporary queue takes replies, and no other connection can destroy it", async () => {
      const plain = await JmsClient.connect(b.openwire, 'plain', 'plain-pw');
      const writer = await JmsClient.connect(b.openwire, 'writer', 'writer-pw');
      try {
        const tq = await plain.tempQueue();
        jmsSecurityException(await refused(writer.destroy(`temp-queue://${tq.name}`)), 'belongs to another connection');
        // anyone may send to a temporary queue (replies); the owner still has it
        await writer.send(`temp-queue://${tq.name}`, 'reply');
        await eventually(() => assert.deepEqual(tq.received, ['reply']));
        await plain.destroy(`temp-queue://${tq.name}`);
      } finally {
        await Promise.all([plain.close(), writer.close()]);
      }
    });
  });

  describe('SQS and SNS (boto3)', () => {
    it("a SigV4 signature more than 15 minutes off is AWS's 403 SignatureDoesNotMatch 'Signature expired' / 'not yet current'", async () => {
      const { stdout } = await run(DEBIAN_PYTHON, [testSource('security', 'py', 'boto3_skew.py'), `http://127.0.0.1:${b.sqs}`, 'AKIDPLAIN', 'plain-secret', '-16', '16', '-14', '14'], 60_000);
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, Record<'sqs' | 'sns', [number | 'ok', string?, string?]>>;
      for (const svc of ['sqs', 'sns'] as const) {
        const [status, code, message] = r['-16']![svc];
        assert.equal(status, 403, JSON.stringify(r));
        assert.equal(code, 'SignatureDoesNotMatch');
        assert.match(message!, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
        const [fStatus, fCode, fMessage] = r['16']![svc];
        assert.equal(fStatus, 403, JSON.stringify(r));
        assert.equal(fCode, 'SignatureDoesNotMatch');
        assert.match(fMessage!, /^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 15 min\.\)$/);
        // within the window both work
        assert.deepEqual([r['-14']![svc], r['14']![svc]], [['ok'], ['ok']]);
      }
    });

    it("a user without read on a topic may not unsubscribe or reconfigure another's subscription (AuthorizationError 403)", async () => {
      const args = [testSource('security', 'py', 'boto3_sns_subs.py'), `http://127.0.0.1:${b.sqs}`, 'AKIDPUBLISHER', 'publisher-secret', 'AKIDPLAIN', 'plain-secret', 'subs'];
      const r = JSON.parse((await run(DEBIAN_PYTHON, args, 60_000)).stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.equal(r.listed, true);
      assert.deepEqual(r.setAttributes, [403, 'AuthorizationError']);
      assert.deepEqual(r.unsubscribe, [403, 'AuthorizationError']);
      assert.equal(r.raw, 'false');
      assert.deepEqual(r.delivered, ['still-subscribed']);
      assert.deepEqual(r.ownerUnsubscribe, ['ok']);
      assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'plain' && e.action === 'consume' && e.destination === 'topic://t-subs'));
    });
  });
});
