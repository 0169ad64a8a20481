/** JMS (ActiveMQ's client) ⇄ AMQP 1.0 (rhea), MQTT (MQTT.js) and SQS (@aws-sdk/client-sqs) on one broker. */
import assert from 'node:assert/strict';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { createAmqpModule } from '../../../protocols/amqp/index.js';
import { mqttModule } from '../../../protocols/mqtt/index.js';
import { createOpenWireModule } from '../../../protocols/openwire/index.js';
import { sqsHttpModule } from '../../../src/app/aws-module.js';
import { runBroker, withPorts, type RunningBroker } from '../../helpers/broker.js';
import { Client, rhea } from '../amqp/helpers.js';
import { javaHarness } from './java-harness.js';
import { jms, jmsReady } from './adapter-helpers.js';
import { DEBIAN_PYTHON, run, testSource } from '../../helpers/external.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Multi = RunningBroker & { readonly openwire: number; readonly amqp: number; readonly mqtt: number; readonly sqs: number };

describe('openwire adapter: cross-protocol with AMQP, MQTT and SQS', function () {
  this.timeout(120_000);
  let b: Multi;
  let amqp: Client;
  let sqs: SQSClient;
  const mqttClients: mqtt.MqttClient[] = [];

  before(async () => {
    javaHarness();
    const on = { host: '127.0.0.1', port: 0 };
    const r = await runBroker({
      name: 'openwire-cross',
      config: { listeners: { openwire: on, amqp: on, mqtt: on, sqs: on } },
      modules: () => ({ protocols: [createOpenWireModule(), createAmqpModule(), mqttModule], http: [sqsHttpModule] }),
    });
    b = withPorts(r, { openwire: 'openwire', amqp: 'amqp', mqtt: 'mqtt', sqs: 'sqs' });
    amqp = await Client.connectTo(b.amqp);
    sqs = new SQSClient({ endpoint: `http://127.0.0.1:${b.sqs}`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDWHARFTEST', secretAccessKey: 'wharf-test-secret' }, maxAttempts: 1 });
  });
  after(async () => {
    await Promise.all(mqttClients.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
    sqs?.destroy();
    await amqp?.close();
    await b?.close();
  });

  async function mqttClient(): Promise<mqtt.MqttClient> {
    const c = mqtt.connect(`mqtt://127.0.0.1:${b.mqtt}`, { reconnectPeriod: 0, protocolVersion: 4 });
    mqttClients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
    });
    return c;
  }

  it('JMS BytesMessage → AMQP: a data section, properties as application-properties', async () => {
    const rx = await amqp.receiver('x.jms2amqp.bytes');
    await jms(b.openwire, 'send', 'bytes:queue:x.jms2amqp.bytes');
    const { message } = await rx.inbox.next(5000);
    assert.equal(message.body?.typecode, 0x75, `a data section, got ${JSON.stringify(message.body)}`);
    assert.deepEqual(Buffer.from(message.body.content), Buffer.from([0, 1, 2, 0xfe, 0xff]));
    assert.equal(message.application_properties?.color, 'blue');
    assert.equal(message.application_properties?.n, 7);
    assert.equal(message.correlation_id, 'jms-corr');
    assert.equal(message.durable, true);
  });

  it('JMS byte/short/long/float/double properties reach a Qpid Proton consumer with those AMQP types', async () => {
    // a JMS consumer over AMQP (Qpid JMS) reads them back typed: an int for a double 4.0 would be a
    // MessageFormatException in getDoubleProperty (JMS 1.1 §3.5.4), a long 3 read as an int loses its type
    await jms(b.openwire, 'send', 'typed:queue:x.jms2amqp.typed');
    const script = testSource('protocols', 'amqp', 'interop', 'proton_client.py');
    const { stdout } = await run(DEBIAN_PYTHON, [script, 'receive', `amqp://127.0.0.1:${b.amqp}`, 'x.jms2amqp.typed', '1'], 20_000);
    const [m] = (JSON.parse(stdout.trim().split('\n').pop()!) as { messages: Array<{ body: string; properties: Record<string, unknown>; property_types: Record<string, string> }> }).messages;
    assert.equal(m!.body, 'typed');
    assert.deepEqual(m!.property_types, { pByte: 'byte', pShort: 'short', pLong: 'int', pFloat: 'float32', pDouble: 'float', pBool: 'bool', color: 'str', n: 'int32' });
    assert.deepEqual(m!.properties, { pByte: 1, pShort: 2, pLong: 3, pFloat: 1.5, pDouble: 4, pBool: true, color: 'blue', n: 7 });
  });

  it('Qpid Proton byte/short/long/float/char/double properties reach a JMS consumer as Byte/Short/Long/Float/Character/Double', async () => {
    const script = testSource('protocols', 'amqp', 'interop', 'proton_client.py');
    const props = { pByte: { byte: 1 }, pShort: { short: 2 }, pLong: { long: 3 }, pFloat: { float: 1.5 }, pChar: { char: 'x' }, pDouble: { double: 4.0 }, n: 7 };
    await run(DEBIAN_PYTHON, [script, 'send', `amqp://127.0.0.1:${b.amqp}`, 'x.amqp2jms.typed', JSON.stringify([{ body: 'typed', properties: props }])], 20_000);
    const { values } = await jms(b.openwire, 'recv', 'queue:x.amqp2jms.typed');
    assert.equal(values['TEXT'], 'typed');
    // ActiveMQ's and Qpid JMS's AMQP mapping; n, a Python int, is an AMQP long
    assert.equal(values['PROPS'], '{n=7(Long), pByte=1(Byte), pChar=x(Character), pDouble=4.0(Double), pFloat=1.5(Float), pLong=3(Long), pShort=2(Short)}');
  });

  it('AMQP data section → JMS BytesMessage', async () => {
    const tx = await amqp.sender('x.amqp2jms.bytes');
    const out = await tx.send({ body: rhea.message.data_section(Buffer.from([9, 8, 0, 255])), application_properties: { color: 'green' }, durable: true, correlation_id: 'amqp-corr' });
    assert.equal(out.state, 'accepted');
    const { values } = await jms(b.openwire, 'recv', 'queue:x.amqp2jms.bytes');
    assert.equal(values['CLASS'], 'ActiveMQBytesMessage');
    assert.equal(values['BYTES'], '090800ff');
    assert.match(values['PROPS']!, /color=green\(String\)/);
    assert.equal(values['PERSISTENT'], 'true');
    assert.equal(values['CORR'], 'amqp-corr');
  });

  it('JMS MapMessage → AMQP: an amqp-value map', async () => {
    const rx = await amqp.receiver('x.jms2amqp.map');
    await jms(b.openwire, 'send', 'map:queue:x.jms2amqp.map');
    const { message } = await rx.inbox.next(5000);
    const body = message.body;
    assert.equal(typeof body, 'object', `an amqp-value map, got ${JSON.stringify(body)}`);
    assert.ok(body.typecode === undefined, `not a data section: ${JSON.stringify(body)}`);
    assert.equal(body.s, 'str ☃');
    assert.equal(body.i, 42);
    assert.equal(Number(body.l), 2 ** 40);
    assert.equal(body.d, 2.5);
    assert.equal(body.b, true);
    // a bytes entry is base64 in the core's JSON map body; annotation openwire.binaryEntries makes it binary again
    assert.ok(Buffer.isBuffer(body.raw), `binary, got ${JSON.stringify(body.raw)}`);
    assert.deepEqual(body.raw, Buffer.from([1, 2, 3]));
    assert.equal(message.application_properties?.color, 'blue');
  });

  it('MQTT publish → JMS topic subscriber: a BytesMessage', async () => {
    const sub = await jmsReady(b.openwire, 'recv', 'topic:x.mqtt2jms');
    const c = await mqttClient();
    await c.publishAsync('x/mqtt2jms', Buffer.from('from mqtt'), { qos: 1 });
    const { values } = await sub.done;
    assert.equal(values['CLASS'], 'ActiveMQBytesMessage');
    assert.equal(values['BYTES'], Buffer.from('from mqtt').toString('hex'));
  });

  it('JMS → MQTT subscriber: TextMessage and BytesMessage payloads', async () => {
    const c = await mqttClient();
    const got: Array<{ topic: string; payload: Buffer }> = [];
    c.on('message', (topic, payload) => got.push({ topic, payload }));
    await c.subscribeAsync('x/jms2mqtt/#', { qos: 1 });
    await jms(b.openwire, 'send', 'text:topic:x.jms2mqtt.text');
    await jms(b.openwire, 'send', 'bytes:topic:x.jms2mqtt.bytes');
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 2, `two MQTT messages, got ${got.length}`);
    assert.equal(got[0]!.topic, 'x/jms2mqtt/text');
    assert.equal(got[0]!.payload.toString('utf8'), 'from jms ☃');
    assert.equal(got[1]!.topic, 'x/jms2mqtt/bytes');
    assert.deepEqual(got[1]!.payload, Buffer.from([0, 1, 2, 0xfe, 0xff]));
  });

  it('SQS SendMessage → JMS TextMessage (message attributes as properties)', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'x-sqs2jms' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'from sqs ☃', MessageAttributes: { color: { DataType: 'String', StringValue: 'green' } } }));
    const { values } = await jms(b.openwire, 'recv', 'queue:x-sqs2jms');
    assert.equal(values['CLASS'], 'ActiveMQTextMessage');
    assert.equal(values['TEXT'], 'from sqs ☃');
    assert.match(values['PROPS']!, /color=green\(String\)/);
  });

  it('JMS TextMessage → SQS ReceiveMessage', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'x-jms2sqs' }));
    await jms(b.openwire, 'send', 'text:queue:x-jms2sqs');
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 5, MessageAttributeNames: ['All'] }));
    assert.equal(r.Messages?.length, 1);
    const m = r.Messages![0]!;
    assert.equal(m.Body, 'from jms ☃');
    assert.equal(m.MessageAttributes?.['color']?.StringValue, 'blue');
  });
});
