/**
 * Resource alarms: past a limit (here the bytes of stored messages), producers on every protocol are held by
 * their protocol's own flow control — a STOMP receipt and an MQTT PUBACK that come later — while consumers keep
 * draining; /metrics, /api/overview and the log say why; the alarm clears by itself and the held sends finish.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { Stompit } from '../protocols/stomp/helpers.js';

const local = { host: '127.0.0.1', port: 0 };

function getJson(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false, headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('resource alarms', function () {
  this.timeout(60_000);
  let b: RunningBroker & { stompPort: number; mqttPort: number; adminPort: number; sqsPort: number };

  before(async () => {
    const r = await runBroker({
      name: 'alarms',
      config: {
        listeners: { stomp: local, mqtt: local, admin: local, sqs: local },
        // 288 KiB of stored messages is the limit, checked every 50 ms: four 64 KiB messages (with their headers)
        // stay under it, so a check between the 4th and 5th send cannot hold the 5th (it did at 256 KiB on a slow run)
        resources: { maxStoreBytes: 288 * 1024, checkInterval: 50, minFreeDisk: 1, memoryHighWater: 0 },
      },
      modules: () => ({ protocols: defaultProtocols.filter((p) => p.name === 'stomp' || p.name === 'mqtt'), http: defaultHttp }),
    });
    b = withPorts(r, { stompPort: 'stomp', mqttPort: 'mqtt', adminPort: 'admin', sqsPort: 'sqs' });
  });
  after(() => b?.close());

  it('over the store limit producers wait (STOMP receipt, MQTT PUBACK), consumers drain, and it clears by itself', async () => {
    const engine = b.broker.engine;
    const producer = await Stompit.connect({ port: b.stompPort });
    const body = 'x'.repeat(64 * 1024);
    // 5 × 64 KiB = 320 KiB stored: over the limit
    for (let i = 0; i < 5; i++) await producer.send('/queue/alarm.work', body, { persistent: 'true' });
    await until(() => engine.alarms().some((a) => a.resource === 'store'), 'the store alarm');

    // the next STOMP send is held: its receipt does not come while the alarm is raised
    let stompDone = false;
    const held = producer.send('/queue/alarm.work', 'after the alarm', { persistent: 'true' }).then(() => (stompDone = true));
    // MQTT 5 QoS 1: the PUBACK is held too
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { protocolVersion: 5, clientId: 'alarm-pub' });
    let mqttDone = false;
    const mqttHeld = pub.publishAsync('alarm/topic', 'held', { qos: 1 }).then(() => (mqttDone = true));
    // SQS answers at once with a retryable 503 ServiceUnavailable (the SDKs back off and retry)
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${b.sqsPort}`, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'alarm-sqs' }));
    const refused = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'refused' })).then(
      () => null,
      (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
    );
    assert.ok(refused, 'SendMessage is refused during the alarm');
    assert.equal(refused.name, 'ServiceUnavailable');
    assert.equal(refused.$metadata?.httpStatusCode, 503);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(stompDone, false, 'the STOMP receipt waits for the alarm to clear');
    assert.equal(mqttDone, false, 'the MQTT PUBACK waits for the alarm to clear');

    // the operator sees why
    const metrics = (await getJson(b.adminPort, '/metrics')).body;
    assert.match(metrics, /^wharf_resource_alarm\{resource="store"\} 1$/m);
    const overview = JSON.parse((await getJson(b.adminPort, '/api/overview')).body) as { alarms: Array<{ resource: string; detail: string }> };
    assert.equal(overview.alarms[0]?.resource, 'store');
    assert.match(overview.alarms[0]!.detail, /maxStoreBytes/);

    // a consumer drains (acks are not held), the alarm clears, the held sends complete
    const consumer = await Stompit.connect({ port: b.stompPort });
    const inbox = await consumer.subscribe('/queue/alarm.work', { ack: 'client-individual' });
    for (let i = 0; i < 5; i++) await consumer.ack(await inbox.next(5000));
    await until(() => engine.alarms().length === 0, 'the alarm clears');
    await Promise.all([held, mqttHeld]);
    assert.equal(stompDone, true);
    assert.equal(mqttDone, true);
    assert.equal((await inbox.next(5000)).text, 'after the alarm');
    assert.match((await getJson(b.adminPort, '/metrics')).body, /^wharf_resource_alarm\{resource="store"\} 0$/m);
    assert.ok((await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'accepted' }))).MessageId, 'SQS accepts again');
    sqs.destroy();
    await pub.endAsync();
    producer.destroy();
    consumer.destroy();
  });
});
