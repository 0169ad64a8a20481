/**
 * TLS client certificates as users (security.certificates, docs/security.md), with each protocol's real client over
 * TLS and certificates made by the test: a trusted certificate whose subject maps to a user is that user (its ACLs
 * apply), an unmapped one is refused with the protocol's own error, an untrusted one ends the TLS connection, and
 * `mode: required` refuses a client without a certificate.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { SQSClient, CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { hashPassword } from '../../src/core/api.js';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import type { BrokerConfigInput } from '../../src/app/config.js';
import { runBroker, tlsFixture, withPorts, type RunningBroker } from '../helpers/broker.js';
import { Stompit } from '../protocols/stomp/helpers.js';
import { Client as AmqpClient } from '../protocols/amqp/helpers.js';
import { TestCertificates, type KeyPair } from './certs.js';
import { JmsClient, type JmsError } from './openwire-client.js';

const CA = readFileSync(tlsFixture('ca.crt'));
const SERVER = { cert: tlsFixture('server.crt'), key: tlsFixture('server.key') };

type Ports = RunningBroker & { stomp: number; mqtt: number; amqp: number; sqs: number; wss: number; openwire: number };

async function start(certificates: NonNullable<BrokerConfigInput['security']>['certificates'], lines: string[] = []): Promise<Ports> {
  const [alice, bob] = await Promise.all(['alice-password', 'bob-password'].map((p) => hashPassword(p)));
  const tls = { port: 0, ...SERVER };
  const r = await runBroker({
    name: 'certs',
    config: {
      security: {
        users: [
          { username: 'alice', passwordHash: alice, groups: ['apps'] },
          { username: 'bob', passwordHash: bob },
        ],
        acl: [
          { match: 'orders.>', read: ['apps'], write: ['apps', 'bob'], admin: ['apps', 'bob'] },
          { match: 'sqs-orders', read: ['apps'], write: ['apps'], admin: ['apps'] },
        ],
        certificates,
      },
      // plain listeners off: only TLS
      listeners: {
        stomp: { host: '127.0.0.1', enabled: false, tls },
        mqtt: { host: '127.0.0.1', enabled: false, tls },
        amqp: { host: '127.0.0.1', enabled: false, tls },
        sqs: { host: '127.0.0.1', enabled: false, tls },
        ws: { host: '127.0.0.1', enabled: false, tls },
        openwire: { host: '127.0.0.1', enabled: false, tls },
      },
    },
    modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
    logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
  });
  return withPorts(r, { stomp: 'stomp-tls', mqtt: 'mqtt-tls', amqp: 'amqp-tls', sqs: 'sqs-tls', wss: 'ws-tls', openwire: 'openwire-tls' });
}

function stompConnect(b: Ports, pair?: KeyPair, headers: Record<string, string> = {}): Promise<Stompit> {
  return Stompit.connect({ port: b.stomp, ssl: true, headers, tls: pair ? { cert: pair.cert, key: pair.key } : undefined });
}

function mqttConnect(b: Ports, version: 4 | 5, pair?: KeyPair, url = `mqtts://127.0.0.1:${b.mqtt}`): Promise<MqttClient> {
  const c = mqtt.connect(url, {
    protocolVersion: version, reconnectPeriod: 0, connectTimeout: 5000, clientId: `cert-${Math.random().toString(36).slice(2)}`,
    ca: CA, servername: 'localhost', ...(pair ?? {}),
  });
  return new Promise((resolve, reject) => {
    c.once('connect', () => {
      c.on('error', () => undefined);
      resolve(c);
    });
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function amqpConnect(b: Ports, pair: KeyPair): Promise<AmqpClient> {
  return AmqpClient.connect({ port: 0, tlsPort: b.amqp, wsPort: 0 }, { transport: 'tls', extra: { cert: pair.cert, key: pair.key, enable_sasl_external: true } });
}

function sqsClient(b: Ports, pair: KeyPair): SQSClient {
  return new SQSClient({
    region: 'us-east-1',
    endpoint: `https://localhost:${b.sqs}`,
    // no user owns this key: the request is the certificate's user
    credentials: { accessKeyId: 'AKIDCERT', secretAccessKey: 'not-a-user-key' },
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: CA, cert: pair.cert, key: pair.key }) }),
  });
}

describe('security: TLS client certificates as users', function () {
  this.timeout(30_000);
  const certs = new TestCertificates();
  let alice: KeyPair;
  let legacy: KeyPair;
  let mallory: KeyPair;
  let rogue: KeyPair;
  let b: Ports;
  const lines: string[] = [];

  before(async () => {
    alice = certs.client('alice', '/O=Wharf Test/OU=apps/CN=alice');
    legacy = certs.client('legacy', '/O=Wharf Test/CN=legacy-app');
    mallory = certs.client('mallory', '/O=Wharf Test/CN=mallory');
    rogue = certs.client('rogue-alice', '/O=Wharf Test/OU=apps/CN=alice', 'rogue');
    // userFrom cn (the default); legacy-app's DN is mapped to bob, written with spaces and lower-case names as an operator might
    b = await start({ mode: 'optional', ca: tlsFixture('ca.crt'), map: [{ subject: 'cn=legacy-app, o=Wharf Test', user: 'bob' }] }, lines);
  });
  after(async () => {
    await b?.close();
    certs.remove();
  });

  after(() => {
    // the audit log names the certificate of every certificate login, and why a refused one was refused
    const audit = lines.map((l) => JSON.parse(l)).filter((e) => e.audit === true && e.event === 'login');
    assert.ok(audit.some((e) => e.outcome === 'success' && e.user === 'alice' && e.certificate === 'CN=alice,OU=apps,O=Wharf Test'), 'certificate login audited');
    assert.ok(audit.some((e) => e.outcome === 'failure' && e.certificate === 'CN=mallory,O=Wharf Test' && /maps to 'mallory', which is not a user/.test(e.hint)), 'refused certificate audited');
  });

  describe('STOMP over TLS', () => {
    it('a certificate with CN=alice and no login is alice: her ACLs apply', async () => {
      const c = await stompConnect(b, alice);
      try {
        await c.send('/queue/orders.eu', 'by certificate');
        const inbox = await c.subscribe('/queue/orders.eu');
        assert.equal((await inbox.next()).text, 'by certificate');
        await assert.rejects(c.send('/queue/payroll', 'x'), /not authorized to send queue:\/\/payroll/);
      } finally {
        c.client.destroy();
      }
    });

    it('a mapped DN is its user (bob may send to orders.> but not consume)', async () => {
      const c = await stompConnect(b, legacy);
      try {
        await c.send('/queue/orders.bob', 'from bob');
        await assert.rejects(c.subscribe('/queue/orders.bob'), /User 'bob' is not authorized to consume queue:\/\/orders\.bob/);
      } finally {
        c.client.destroy();
      }
    });

    it('a trusted certificate that maps to no user is refused with ERROR', async () => {
      await assert.rejects(stompConnect(b, mallory), (err: Error) => {
        assert.match(err.message, /Authentication failed/);
        return true;
      });
    });

    it('an untrusted certificate (another CA, same names) ends the TLS connection before CONNECTED', async () => {
      await assert.rejects(stompConnect(b, rogue), (err: Error) => {
        assert.doesNotMatch(err.message, /Authentication failed/);
        return true;
      });
    });

    it('login/passcode still work alongside certificates (mode optional, no certificate)', async () => {
      const c = await stompConnect(b, undefined, { login: 'alice', passcode: 'alice-password' });
      await c.send('/queue/orders.pw', 'by password');
      c.client.destroy();
    });
  });

  for (const version of [4, 5] as const) {
    describe(`MQTT ${version === 4 ? '3.1.1' : '5'} over TLS`, () => {
      it('a certificate with CN=alice and no username is alice: her ACLs apply', async () => {
        const c = await mqttConnect(b, version, alice);
        try {
          const granted = await c.subscribeAsync('orders/mqtt', { qos: 1 });
          assert.equal(granted[0]?.qos, 1);
          await c.publishAsync('orders/mqtt', 'by certificate', { qos: 1 });
          // SUBACK 0x80 (3.1.1: "Unspecified error") / 0x87 (5: "Not authorized"), as MQTT.js reports them
          await assert.rejects(c.subscribeAsync('payroll/x', { qos: 1 }), version === 5 ? /Not authorized/ : /Unspecified error/);
        } finally {
          await c.endAsync(true);
        }
      });

      it(`an unmapped certificate gets CONNACK ${version === 5 ? '0x87 Not authorized' : '5 Not authorized'}`, async () => {
        await assert.rejects(mqttConnect(b, version, mallory), (err: Error & { code?: number }) => {
          assert.equal(err.code, version === 5 ? 0x87 : 5);
          return true;
        });
      });

      it('an untrusted certificate ends the TLS connection before CONNACK', async () => {
        await assert.rejects(mqttConnect(b, version, rogue), (err: Error & { code?: unknown }) => {
          assert.notEqual(err.code, version === 5 ? 0x87 : 5);
          return true;
        });
      });
    });
  }

  describe('MQTT 5 over WebSocket TLS (wss)', () => {
    const wss = () => `wss://localhost:${b.wss}/`;
    it('a certificate with CN=alice is alice: her ACLs apply', async () => {
      const c = await mqttConnect(b, 5, alice, wss());
      try {
        await c.subscribeAsync('orders/wss', { qos: 1 });
        await assert.rejects(c.subscribeAsync('payroll/wss', { qos: 1 }), /Not authorized/);
      } finally {
        await c.endAsync(true);
      }
    });

    it('an unmapped certificate gets CONNACK 0x87', async () => {
      await assert.rejects(mqttConnect(b, 5, mallory, wss()), (err: Error & { code?: number }) => err.code === 0x87);
    });
  });

  describe('AMQP 1.0 over TLS, SASL EXTERNAL', () => {
    it('a certificate with CN=alice is alice: her ACLs apply', async () => {
      const c = await amqpConnect(b, alice);
      try {
        const s = await c.sender('orders.amqp');
        assert.equal((await s.send({ body: 'external' })).state, 'accepted');
        await assert.rejects(c.sender('payroll'), (err: Error & { condition?: string }) => {
          assert.equal(err.condition, 'amqp:unauthorized-access');
          return true;
        });
      } finally {
        await c.close();
      }
    });

    it('an unmapped certificate fails SASL (outcome auth)', async () => {
      // rhea reports SASL outcome auth (1) as amqp:unauthorized-access
      await assert.rejects(amqpConnect(b, mallory), /amqp:unauthorized-access.*Failed to authenticate: 1/);
    });

    it('an untrusted certificate ends the TLS connection', async () => {
      await assert.rejects(amqpConnect(b, rogue), /^Error: disconnected/);
    });
  });

  describe('OpenWire over TLS (ActiveMQ client, ssl://)', () => {
    it('a certificate with CN=alice and no userName is alice: her ACLs apply; an unmapped one is a JMSSecurityException', async () => {
      const jms = await JmsClient.connect(`ssl://localhost:${b.openwire}`, undefined, undefined, certs.javaStores('alice', alice));
      try {
        await jms.send('orders.jms', 'by certificate');
        await assert.rejects(jms.send('payroll', 'x'), (err: JmsError) => err.javaClass === 'javax.jms.JMSSecurityException');
      } finally {
        await jms.close();
      }
      await assert.rejects(JmsClient.connect(`ssl://localhost:${b.openwire}`, undefined, undefined, certs.javaStores('mallory', mallory)), (err: JmsError) => {
        assert.equal(err.javaClass, 'javax.jms.JMSSecurityException');
        return true;
      });
    });
  });

  describe('SQS over HTTPS', () => {
    it('an unsigned-by-a-user request with CN=alice is alice: her ACLs apply', async () => {
      const sqs = sqsClient(b, alice);
      try {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'sqs-orders' }));
        await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'https cert' }));
        await assert.rejects(sqs.send(new CreateQueueCommand({ QueueName: 'payroll' })), (err: Error) => {
          assert.equal(err.name, 'AccessDenied');
          return true;
        });
      } finally {
        sqs.destroy();
      }
    });

    it('an unmapped certificate is InvalidClientTokenId', async () => {
      const sqs = sqsClient(b, mallory);
      try {
        await assert.rejects(sqs.send(new CreateQueueCommand({ QueueName: 'sqs-orders' })), (err: Error) => {
          assert.equal(err.name, 'InvalidClientTokenId');
          return true;
        });
      } finally {
        sqs.destroy();
      }
    });
  });
});

describe('security: security.certificates.mode required', function () {
  this.timeout(30_000);
  const certs = new TestCertificates();
  let b: Ports;
  let alice: KeyPair;
  before(async () => {
    alice = certs.client('alice', '/O=Wharf Test/CN=alice');
    // userFrom dn with a pattern: the user is the CN of a certificate under O=Wharf Test
    b = await start({ mode: 'required', ca: tlsFixture('ca.crt'), pattern: '^CN=([^,]+),O=Wharf Test$' });
  });
  after(async () => {
    await b?.close();
    certs.remove();
  });

  it('a client without a certificate is refused in the TLS handshake, even with a valid login', async () => {
    await assert.rejects(stompConnect(b, undefined, { login: 'alice', passcode: 'alice-password' }), (err: Error) => {
      assert.doesNotMatch(err.message, /Authentication failed/);
      return true;
    });
  });

  it('a certificate whose DN matches the pattern is the captured user', async () => {
    const c = await stompConnect(b, alice);
    await c.send('/queue/orders.pattern', 'x');
    c.client.destroy();
  });
});
