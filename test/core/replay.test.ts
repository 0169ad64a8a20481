/**
 * State = f(committed commands): the engine's durable state, rebuilt from the store on a restart, is exactly
 * what it was live. A mixed workload over real clients (STOMP, MQTT, AMQP, SQS and SNS through the AWS SDK)
 * touches every kind of durable state; the test compares what the engine says before and after reopening
 * the same store. Raft replication relies on this: a follower applying the same commands ends in the same state.
 */
import assert from 'node:assert/strict';
import { SNSClient, CreateTopicCommand, PublishCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import rhea from 'rhea';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import type { EngineApi } from '../../src/core/api.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { Stompit } from '../protocols/stomp/helpers.js';

const local = { host: '127.0.0.1', port: 0 };

/** Everything durable the engine reports, without counters that are statistics of this run only. */
function durableState(engine: EngineApi) {
  const dest = (d: ReturnType<EngineApi['listDestinations']>[number]) => ({
    kind: d.kind, name: d.name, role: d.role, depth: d.depth, ready: d.ready, scheduled: d.scheduled, bytes: d.bytes,
    paused: d.paused, deadLetterQueue: d.deadLetterQueue, persistent: d.persistent, subscription: d.subscription,
  });
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return {
    // topics are a routing registry, not durable state: they come back as clients use them
    queues: engine.listDestinations().filter((d) => d.kind === 'queue' && !d.temporary).map(dest).sort(byName),
    subscriptions: engine.listSubscriptions().filter((s) => s.persistent).map(dest).sort(byName),
    retained: engine.retainedMessages().map((m) => ({ destination: m.destination, body: m.body.toString('base64'), properties: m.properties })),
    kv: engine.kvEntries('').sort(([a], [b]) => a.localeCompare(b)),
    policies: engine.policyOverrides().sort((a, b) => `${a.kind}:${a.name}`.localeCompare(`${b.kind}:${b.name}`)),
    jobs: engine.listScheduledJobs().map((j) => ({ id: j.id, destination: j.destination, cron: j.cron, next: j.next })).sort((a, b) => a.id.localeCompare(b.id)),
  };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('engine replay: state = f(committed commands)', function () {
  this.timeout(60_000);
  let b: RunningBroker & { stompPort: number; mqttPort: number; amqpPort: number; sqsPort: number };

  before(async () => {
    const r = await runBroker({
      name: 'replay',
      config: {
        listeners: { stomp: local, mqtt: local, amqp: local, sqs: local },
        destinations: [{ match: 'orders.>', kind: 'queue', maxRedeliveries: 0 }],
      },
      modules: () => ({ protocols: defaultProtocols, http: defaultHttp.filter((m) => m.name === 'sqs') }),
    });
    b = withPorts(r, { stompPort: 'stomp', mqttPort: 'mqtt', amqpPort: 'amqp', sqsPort: 'sqs' });
  });
  after(() => b?.close());

  it('a mixed workload over every protocol reads back identically after the store is reopened', async () => {
    const engine = () => b.broker.engine;

    // STOMP: queues, a durable topic subscription with a backlog, a scheduled (cron) job, a DLQ move
    const stomp = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'replay-stomp' } });
    const durable = await stomp.subscribe('/topic/news.eu', { 'activemq.subscriptionName': 'keep', ack: 'client-individual' });
    durable.unsubscribe(); // detaches; the durable subscription stays
    for (let i = 0; i < 5; i++) await stomp.send('/queue/orders.eu', `order ${i}`, { persistent: 'true', priority: String(i % 10) });
    await stomp.send('/topic/news.eu', 'headline', { persistent: 'true' });
    await stomp.send('/queue/cron.target', 'tick', { persistent: 'true', AMQ_SCHEDULED_CRON: '0 0 1 1 *' });
    await stomp.send('/queue/later', 'in an hour', { persistent: 'true', AMQ_SCHEDULED_DELAY: '3600000' });
    const failing = await stomp.subscribe('/queue/orders.eu', { ack: 'client-individual' });
    const first = await failing.next();
    await stomp.nack(first); // maxRedeliveries 0: straight to DLQ.orders.eu
    failing.unsubscribe();
    await stomp.disconnect();
    await until(() => (engine().queueInfo('DLQ.orders.eu')?.depth ?? 0) === 1, 'the DLQ move');

    // MQTT: a retained message, a persistent session with a subscription and a QoS 1 backlog, a $share group
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'replay-mqtt', clean: false, protocolVersion: 4 });
    await sub.subscribeAsync(['sensors/+/temp', '$share/g1/sensors/#'], { qos: 1 });
    await sub.endAsync();
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { protocolVersion: 5 });
    await pub.publishAsync('sensors/kitchen/temp', '21.5', { qos: 1, retain: true });
    await pub.publishAsync('sensors/hall/temp', '19.0', { qos: 1 });
    await pub.endAsync();

    // AMQP: a durable message to a queue
    await new Promise<void>((resolve, reject) => {
      const c = rhea.create_container({ id: 'replay-amqp' });
      const conn = c.connect({ host: '127.0.0.1', port: b.amqpPort, reconnect: false });
      const sender = conn.open_sender('amqp.in');
      sender.once('sendable', () => sender.send({ body: 'over amqp', durable: true }));
      sender.once('accepted', () => {
        conn.close();
        resolve();
      });
      conn.once('error', reject);
      conn.once('connection_error', reject);
    });

    // SQS: a FIFO queue with content-based dedup (the dedup record commits with the message), a redrive policy
    const aws = { region: 'us-east-1', endpoint: `http://127.0.0.1:${b.sqsPort}`, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } };
    const sqs = new SQSClient(aws);
    await sqs.send(new CreateQueueCommand({ QueueName: 'jobs-dlq.fifo', Attributes: { FifoQueue: 'true' } }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({
      QueueName: 'jobs.fifo',
      Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:jobs-dlq.fifo', maxReceiveCount: 3 }) },
    }));
    for (const body of ['a', 'b', 'a']) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: 'g' }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 0 }));

    // SNS: a topic fanning out to an SQS queue
    const sns = new SNSClient(aws);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: 'alerts' }));
    const target = await sqs.send(new CreateQueueCommand({ QueueName: 'alerts-inbox' }));
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: 'arn:aws:sqs:us-east-1:000000000000:alerts-inbox' }));
    await sns.send(new PublishCommand({ TopicArn, Message: 'disk full' }));
    await until(async () => (engine().queueInfo('alerts-inbox')?.depth ?? 0) === 1, 'the SNS fan-out');
    void target;
    sqs.destroy();
    sns.destroy();

    // runtime policy override and a paused queue (operator actions)
    await engine().setPolicyOverride('queue', 'orders.eu', { maxMessages: 1000, limitPolicy: 'reject' });
    await engine().setPaused({ kind: 'queue', name: 'amqp.in' }, true);

    // everything settled: nothing in flight, nothing still committing
    await until(() => engine().listDestinations().every((d) => d.inflight === 0), 'no deliveries in flight', 15_000);
    const before = durableState(engine());
    assert.ok(before.queues.length >= 7, `queues: ${before.queues.map((q) => q.name).join(', ')}`);
    assert.ok(before.subscriptions.some((s) => s.role === 'durable-subscription' && s.depth === 1), 'the STOMP durable subscription holds the headline');
    assert.ok(before.kv.some(([k]) => k.startsWith('sqs:dedup:jobs.fifo')), 'FIFO dedup records are in the engine kv');
    assert.equal(before.retained.length, 1);
    assert.equal(before.jobs.length, 1);
    assert.ok(before.queues.find((q) => q.name === 'DLQ.orders.eu')?.deadLetterQueue, 'the DLQ is marked');
    assert.ok(before.policies.some((p) => p.name === 'orders.eu'), 'the runtime policy override');
    assert.ok(before.policies.some((p) => p.name === 'jobs.fifo'), 'the SQS redrive policy is a durable override');

    await b.restart();
    const after = durableState(b.broker.engine);
    assert.deepEqual(after, before);
    // and the effects hold, not just the records
    assert.equal(b.broker.engine.policyOf('queue', 'orders.eu').maxMessages, 1000);
    assert.equal(b.broker.engine.queueInfo('amqp.in')?.paused, true);
  });
});
