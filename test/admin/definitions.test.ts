/**
 * Definitions round trip (issue 13, defect 3): everything a user created — SQS queues with attributes and tags,
 * SNS topics and subscriptions, a STOMP durable subscription, a policy override, a paused queue, console and
 * broker users — exported from one broker and imported into a fresh one (own temp dir) comes back equal, and
 * behaves: SNS delivers into SQS through the filter, FIFO deduplicates, redrive dead-letters, HTTP endpoints get
 * notifications, and no `durable:sns:<id>` queue is left without its consumer.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { CreateTopicCommand, PublishCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ListQueueTagsCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { client, request, startAdminBroker, Stompit, type AdminBroker } from './helpers.js';
import { runBroker, withPorts } from '../helpers/broker.js';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { createAdminHandler } from '../../src/admin/index.js';
import { eventually, KEY } from '../protocols/sqs/helpers.js';
import { get } from '../protocols/sqs/sigv4-client.js';

const ACCOUNT = '000000000000';
const sqsArn = (name: string) => `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`;

function clients(b: AdminBroker) {
  const endpoint = `http://127.0.0.1:${b.sqsPort}`;
  return {
    sqs: new SQSClient({ endpoint, region: 'us-east-1', credentials: { ...KEY }, maxAttempts: 1 }),
    sns: new SNSClient({ endpoint, region: 'us-east-1', credentials: { ...KEY }, maxAttempts: 1 }),
    url: (q: string) => `${endpoint}/${ACCOUNT}/${q}`,
  };
}

/** A broker with STOMP, SQS/SNS and the admin API; anonymous clients allowed though users exist. */
const start = () => startAdminBroker({ sqs: true, config: { security: { anonymous: true } } });

describe('definitions: export and import everything a user created', function () {
  this.timeout(60_000);
  const open: AdminBroker[] = [];
  const stomps: Stompit[] = [];
  let hook: http.Server;
  let hookPort: number;
  const received: Array<{ type: string; path: string; body: Record<string, string> }> = [];

  before(async () => {
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ type: String(req.headers['x-amz-sns-message-type']), path: req.url ?? '', body: JSON.parse(body) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookPort = (hook.address() as { port: number }).port;
  });
  after(async () => {
    hook.closeAllConnections();
    await new Promise<void>((r) => hook.close(() => r()));
  });
  afterEach(async () => {
    for (const s of stomps.splice(0)) await s.disconnect().catch(() => undefined);
    for (const b of open.splice(0)) await b.close();
  });

  it('round-trips SQS, SNS, durable subscriptions, policies, paused state and users into a fresh broker, which then behaves the same', async () => {
    const a = await start();
    open.push(a);
    const api = client(a.url);
    const aws = clients(a);

    // SQS: a FIFO queue with a redrive policy to a FIFO DLQ that allows it, tags; a standard queue
    await aws.sqs.send(new CreateQueueCommand({ QueueName: 'orders-dlq.fifo', Attributes: { FifoQueue: 'true', RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [sqsArn('orders.fifo')] }) } }));
    await aws.sqs.send(
      new CreateQueueCommand({
        QueueName: 'orders.fifo',
        Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true', VisibilityTimeout: '20', DelaySeconds: '0', MessageRetentionPeriod: '86400', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: sqsArn('orders-dlq.fifo'), maxReceiveCount: 2 }) },
        tags: { team: 'billing', env: 'test' },
      }),
    );
    await aws.sqs.send(new CreateQueueCommand({ QueueName: 'events', Attributes: { MessageRetentionPeriod: '3600', ReceiveMessageWaitTimeSeconds: '1' }, tags: { team: 'web' } }));

    // SNS: a topic with attributes and tags; an SQS subscription with a filter policy and raw delivery; an HTTP one
    const topicArn = (await aws.sns.send(new CreateTopicCommand({ Name: 'news', Attributes: { DisplayName: 'News' }, Tags: [{ Key: 'team', Value: 'web' }] }))).TopicArn!;
    await aws.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: sqsArn('events'), Attributes: { FilterPolicy: JSON.stringify({ region: ['eu'] }), RawMessageDelivery: 'true' } }));
    await aws.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'http', Endpoint: `http://127.0.0.1:${hookPort}/hook`, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: sqsArn('events') }) } }));
    // a broker-native endpoint: any core queue
    await aws.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'wharf', Endpoint: 'queue://news.audit', Attributes: { RawMessageDelivery: 'true' } }));
    const conf = await eventually(() => received.find((r) => r.type === 'SubscriptionConfirmation' && r.path === '/hook'), 5000, 'the confirmation request');
    // one that its endpoint never confirms
    await aws.sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'http', Endpoint: `http://127.0.0.1:${hookPort}/pending` }));
    const u = new URL(conf!.body.SubscribeURL);
    assert.equal((await get(a.sqsPort, u.pathname + u.search)).status, 200);

    // a STOMP durable subscription with a selector
    const sub = await Stompit.connect({ port: a.stompPort, headers: { 'client-id': 'app-1' } });
    await sub.subscribe('/topic/prices', { 'activemq.subscriptionName': 'reader', selector: "region = 'eu'", ack: 'client-individual' });
    await sub.disconnect();

    // a queue with a runtime policy override, paused; a console user; a broker user with an access key
    assert.equal((await api.post('/api/queues', { name: 'work' })).status, 201);
    assert.equal((await api.put('/api/policies/queue/work', { maxRedeliveries: 2, deadLetterQueue: 'work.dead', limitPolicy: 'reject', maxMessages: 1000 })).status, 200);
    assert.equal((await api.post('/api/queues/work/pause')).status, 200);
    assert.equal((await api.post('/api/queues/orders-dlq.fifo/pause')).status, 200, 'an SQS queue paused from the console');
    assert.equal((await api.put('/api/users/watcher', { password: 'watcher-password', role: 'viewer' })).status, 200);
    const alice = await api.put('/api/security/users/alice', { password: 'alice-password', groups: ['apps'], accessKeys: [{ accessKeyId: 'AKIDALICE', secretAccessKey: 'alice-secret-key' }] });
    assert.equal(alice.status, 200, alice.text);

    const ex = await api.get('/api/definitions?hashes=true');
    assert.equal(ex.status, 200);
    const doc = ex.json;
    // what the document says, in the words of the services
    assert.deepEqual(doc.sqs.queues.map((q: { name: string }) => q.name), ['events', 'orders-dlq.fifo', 'orders.fifo']);
    const fifo = doc.sqs.queues.find((q: { name: string }) => q.name === 'orders.fifo');
    assert.equal(fifo.attributes.ContentBasedDeduplication, 'true');
    assert.deepEqual(JSON.parse(fifo.attributes.RedrivePolicy), { deadLetterTargetArn: sqsArn('orders-dlq.fifo'), maxReceiveCount: 2 });
    assert.deepEqual(fifo.tags, { team: 'billing', env: 'test' });
    assert.deepEqual(doc.sns.topics, [{ name: 'news', attributes: { DisplayName: 'News' }, tags: { team: 'web' } }]);
    assert.deepEqual(doc.sns.subscriptions.map((x: { protocol: string; confirmed: boolean }) => `${x.protocol}:${x.confirmed}`).sort(), ['http:false', 'http:true', 'sqs:true', 'wharf:true']);
    assert.ok(!JSON.stringify(doc.sns).includes('token'), 'confirmation tokens stay in the broker');
    const hookSub = doc.sns.subscriptions.find((x: { endpoint: string }) => x.endpoint.endsWith('/hook'));
    assert.deepEqual(JSON.parse(hookSub.attributes.RedrivePolicy), { deadLetterTargetArn: sqsArn('events') }, "the subscription's redrive policy");
    assert.ok(!doc.subscriptions.some((s: { clientId?: string }) => s.clientId === 'sns'), 'the queues behind SNS subscriptions are not listed as bare durable subscriptions');
    assert.ok(!doc.queues.some((q: { name: string }) => q.name === 'events'), 'SQS queues come from the sqs section only');
    // a STOMP selector is kept with the prefix that makes it compare string headers with numbers (as ActiveMQ shows it)
    assert.deepEqual(doc.subscriptions, [{ type: 'durable', name: 'reader', clientId: 'app-1', topic: 'prices', selector: "convert_string_expressions:region = 'eu'" }]);
    assert.deepEqual(doc.policyOverrides, [{ kind: 'queue', name: 'work', override: { maxRedeliveries: 2, deadLetterQueue: 'work.dead', limitPolicy: 'reject', maxMessages: 1000 } }]);
    assert.deepEqual(doc.queues, [{ name: 'work', paused: true }]);
    assert.deepEqual(doc.paused, [{ kind: 'queue', name: 'orders-dlq.fifo' }], 'paused state of what the SQS section recreates');
    assert.equal(doc.brokerUsers[0].accessKeys[0].secretAccessKey, 'alice-secret-key');
    const noSecrets = (await api.get('/api/definitions')).json;
    assert.ok(!JSON.stringify(noSecrets).includes('scrypt$') && !JSON.stringify(noSecrets).includes('alice-secret-key'), 'hashes and secrets only on request');

    // ------------------------------------------------------------------ a fresh broker in its own directory
    const b = await start();
    open.push(b);
    assert.notEqual(b.dir, a.dir);
    const api2 = client(b.url);
    received.length = 0;
    const imp = await api2.post('/api/definitions', doc);
    assert.equal(imp.status, 200, imp.text);
    assert.deepEqual(imp.json.skipped, []);
    assert.deepEqual(imp.json.created, { queues: 1, topics: 2, subscriptions: 1, policyOverrides: 1, users: 1, brokerUsers: 1, acl: 0, sqsQueues: 3, snsTopics: 1, snsSubscriptions: 4 });

    const round = (await api2.get('/api/definitions?hashes=true')).json;
    const strip = (d: Record<string, unknown>) => ({ ...d, exportedAt: undefined });
    assert.deepEqual(strip(round), strip(doc), 'the second broker exports the same document');
    const again = await api2.post('/api/definitions', doc);
    assert.ok(Object.values(again.json.created).every((n) => n === 0), `a second import creates nothing: ${JSON.stringify(again.json.created)}`);

    // the pending one asks its endpoint again, from the new broker
    const again2 = await eventually(() => received.find((r) => r.type === 'SubscriptionConfirmation' && r.path === '/pending'), 5000, 'a new confirmation request');
    assert.equal(again2!.body.TopicArn, topicArn);
    // no subscription queue without its consumer
    const snsSubs = b.broker.engine.listSubscriptions().filter((s) => s.name.startsWith('durable:sns:'));
    assert.equal(snsSubs.length, 3);
    for (const s of snsSubs) assert.equal(s.consumers, 1, `${s.name} has its fan-out consumer`);

    // SNS → SQS through the filter policy, raw; and to the HTTP endpoint
    const aws2 = clients(b);
    received.length = 0;
    await aws2.sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'for-us', MessageAttributes: { region: { DataType: 'String', StringValue: 'us' } } }));
    await aws2.sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'for-eu', MessageAttributes: { region: { DataType: 'String', StringValue: 'eu' } } }));
    const got = await aws2.sqs.send(new ReceiveMessageCommand({ QueueUrl: aws2.url('events'), MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
    assert.deepEqual(got.Messages?.map((m) => m.Body), ['for-eu'], 'only the message the filter policy lets through, raw');
    await eventually(() => received.filter((r) => r.type === 'Notification').length === 2, 5000, 'both notifications at the HTTP endpoint');
    assert.deepEqual(received.filter((r) => r.type === 'Notification').map((r) => r.body.Message).sort(), ['for-eu', 'for-us']);
    await eventually(() => b.broker.engine.queueInfo('news.audit')?.depth === 2, 5000, 'both messages in the broker-native endpoint queue');
    assert.deepEqual((await aws2.sqs.send(new ListQueueTagsCommand({ QueueUrl: aws2.url('orders.fifo') }))).Tags, { team: 'billing', env: 'test' });

    // FIFO content-based deduplication, then redrive after maxReceiveCount receives
    const orders = aws2.url('orders.fifo');
    await aws2.sqs.send(new SendMessageCommand({ QueueUrl: orders, MessageBody: 'order-1', MessageGroupId: 'g' }));
    await aws2.sqs.send(new SendMessageCommand({ QueueUrl: orders, MessageBody: 'order-1', MessageGroupId: 'g' }));
    const r1 = await aws2.sqs.send(new ReceiveMessageCommand({ QueueUrl: orders, MaxNumberOfMessages: 10, VisibilityTimeout: 1 }));
    assert.deepEqual(r1.Messages?.map((m) => m.Body), ['order-1'], 'the duplicate was dropped');
    const r2 = await aws2.sqs.send(new ReceiveMessageCommand({ QueueUrl: orders, MaxNumberOfMessages: 10, VisibilityTimeout: 1, WaitTimeSeconds: 3 }));
    assert.deepEqual(r2.Messages?.map((m) => m.Body), ['order-1']);
    await eventually(async () => {
      const at = await aws2.sqs.send(new GetQueueAttributesCommand({ QueueUrl: aws2.url('orders-dlq.fifo'), AttributeNames: ['ApproximateNumberOfMessages'] }));
      return at.Attributes?.ApproximateNumberOfMessages === '1';
    }, 8000, 'the message in the DLQ after two receives');

    // the STOMP durable subscription collects what matches its selector while its client is away
    const pub = await Stompit.connect({ port: b.stompPort });
    stomps.push(pub);
    await pub.send('/topic/prices', 'p-us', { region: 'us', persistent: 'true' });
    await pub.send('/topic/prices', 'p-eu', { region: 'eu', persistent: 'true' });
    const back = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'app-1' } });
    stomps.push(back);
    const inbox = await back.subscribe('/topic/prices', { 'activemq.subscriptionName': 'reader', selector: "region = 'eu'", ack: 'auto' });
    assert.equal((await inbox.next()).text, 'p-eu');
    await inbox.none(200);

    // the policy override, the paused queue and the users
    const pol = (await api2.get('/api/policies/queue/work')).json;
    assert.deepEqual(pol.override, { maxRedeliveries: 2, deadLetterQueue: 'work.dead', limitPolicy: 'reject', maxMessages: 1000 });
    assert.equal(pol.effective.maxRedeliveries, 2);
    assert.equal((await api2.get('/api/queues/work')).json.paused, true);
    assert.equal((await api2.get('/api/queues/orders-dlq.fifo')).json.paused, true);
    assert.equal((await request(b.url, 'GET', '/api/overview', { auth: { user: 'watcher', password: 'watcher-password' } })).status, 200);
    const aliceSqs = new SQSClient({ endpoint: `http://127.0.0.1:${b.sqsPort}`, region: 'us-east-1', credentials: { accessKeyId: 'AKIDALICE', secretAccessKey: 'alice-secret-key' }, maxAttempts: 1 });
    assert.ok((await aliceSqs.send(new GetQueueAttributesCommand({ QueueUrl: aws2.url('events'), AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn, "alice's access key works on the new broker");
  });

  it('imports a standard SQS queue exported with FifoQueue=false (stored by older brokers; CreateQueue refuses it now, as AWS does)', async () => {
    const b = await start();
    open.push(b);
    const r = await client(b.url).post('/api/definitions', { wharf: 'definitions', version: 1, sqs: { queues: [{ name: 'legacy', attributes: { FifoQueue: 'false', VisibilityTimeout: '40' } }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created.sqsQueues, 1, r.text);
  });

  it('never imports the queue of an SNS subscription on its own (documents from before the fix), and says what it skipped', async () => {
    const b = await startAdminBroker();
    open.push(b);
    const api = client(b.url);
    const orphan = { type: 'durable', name: '7b0c58de-3f7e-4a53-9d3f-2a8d2f4ad0a1', clientId: 'sns', topic: 'news' };
    const r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, subscriptions: [orphan], sqs: { queues: [{ name: 'q1' }] }, sns: { topics: [{ name: 'news' }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created.subscriptions, 0);
    assert.equal(b.broker.engine.listSubscriptions().length, 0, 'no durable:sns:<id> queue that nothing consumes');
    const what = r.json.skipped.map((s: { what: string }) => s.what).sort();
    assert.deepEqual(what, ['sns', 'sqs', `subscriptions.durable:sns:${orphan.name}`]);
    assert.match(r.json.skipped.find((s: { what: string }) => s.what === 'sqs').reason, /SQS\/SNS listener is not running/);
  });

  it('refuses a malformed sqs or sns part before changing anything; reports what a service refused', async () => {
    const b = await start();
    open.push(b);
    const api = client(b.url);
    let r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ name: 'early' }], sqs: { queues: [{ name: 'x', attributes: { VisibilityTimeout: 30 } }] } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /sqs\.queues\[0\]\.attributes/);
    r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ name: 'early' }], sns: { subscriptions: [{ topic: 'news', protocol: 'sqs' }] } });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /sns\.subscriptions\[0\]\.endpoint/);
    r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ name: 'early' }], policyOverrides: [{ kind: 'queue', name: 'early', override: { maxRedelivery: 1 } }] });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /policyOverrides\[0\]\.override\.maxRedelivery: not a policy setting/);
    r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ name: 'early' }], policyOverrides: [{ kind: 'queue', name: 'a.*', override: {} }] });
    assert.match(r.json.error.message, /policyOverrides\[0\]\.name: a runtime override is for one destination/);
    r = await api.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ name: 'early' }], users: [{ username: 'u1', role: 'viewer', passwordHash: 'md5$abc' }] });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /users\[0\]\.passwordHash: expected scrypt/);
    assert.equal(b.broker.engine.queueInfo('early'), undefined, 'nothing applied');
    // items the services refuse are reported with the service's own reason; the rest is imported
    r = await api.post('/api/definitions', {
      wharf: 'definitions',
      version: 1,
      sqs: { queues: [{ name: 'bad name!' }, { name: 'fine' }, { name: 'src', attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: sqsArn('missing'), maxReceiveCount: 1 }) } }] },
      sns: { topics: [{ name: 'news' }], subscriptions: [{ topic: 'news', protocol: 'email', endpoint: 'a@example.com' }, { topic: 'nope', protocol: 'sqs', endpoint: sqsArn('fine') }] },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created.sqsQueues, 2);
    assert.equal(r.json.created.snsTopics, 1);
    assert.equal(r.json.created.snsSubscriptions, 0);
    const reasons = Object.fromEntries(r.json.skipped.map((s: { what: string; reason: string }) => [s.what, s.reason]));
    assert.match(reasons['sqs.queues.bad name!'], /InvalidParameterValue/);
    assert.match(reasons['sqs.queues.src.RedrivePolicy'], /created without its RedrivePolicy: .*Dead letter target does not exist/);
    assert.match(reasons['sns.subscriptions.news → email:a@example.com'], /not supported/);
    assert.match(reasons['sns.subscriptions.nope → sqs:' + sqsArn('fine')], /NotFound/);
  });

  it('MQTT persistent sessions come back as sessions: resumed by their client (session present), ended by a clean start', async () => {
    const start = () =>
      runBroker({
        name: 'defs-mqtt',
        config: { listeners: { mqtt: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } },
        modules: () => ({ protocols: [mqttModule], http: [{ name: 'admin', create: (ctx) => createAdminHandler(ctx) }] }),
      }).then((r) => withPorts(r, { mqttPort: 'mqtt', adminPort: 'admin' }));
    const connect = (port: number, clientId: string, clean: boolean) =>
      new Promise<mqtt.MqttClient & { present?: boolean }>((resolve, reject) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean, protocolVersion: 4, reconnectPeriod: 0 }) as mqtt.MqttClient & { present?: boolean };
        c.once('connect', (ack) => ((c.present = ack.sessionPresent), resolve(c)));
        c.once('error', reject);
      });
    const end = (c: mqtt.MqttClient) => new Promise<void>((r) => c.end(false, {}, () => r()));

    const a = await start();
    const b = await start();
    try {
      const s1 = await connect(a.mqttPort, 'sensor-1', false);
      await s1.subscribeAsync('plant/+/temp', { qos: 1 });
      await end(s1);
      const doc = (await client(`http://127.0.0.1:${a.adminPort}`).get('/api/definitions')).json;
      assert.deepEqual(doc.mqtt.sessions, [{ clientId: 'sensor-1', expiry: 4294967295, subscriptions: [{ filter: 'plant/+/temp', qos: 1, nl: false, rap: false, rh: 0, durable: true }] }]);
      assert.deepEqual(doc.subscriptions, [], 'the session\'s durable subscription comes back with its session, not on its own');

      const api2 = client(`http://127.0.0.1:${b.adminPort}`);
      const imp = await api2.post('/api/definitions', doc);
      assert.equal(imp.status, 200, imp.text);
      assert.equal(imp.json.created.mqttSessions, 1);
      assert.deepEqual(imp.json.skipped, []);
      const round = (await api2.get('/api/definitions')).json;
      assert.deepEqual(round.mqtt, doc.mqtt);

      // a message published while the client is away waits in its session, which the client resumes
      const pub = await connect(b.mqttPort, 'pub-1', true);
      await pub.publishAsync('plant/a/temp', '21.5', { qos: 1 });
      await end(pub);
      const back = await connect(b.mqttPort, 'sensor-1', false);
      assert.equal(back.present, true, 'CONNACK session present');
      const got = await new Promise<string>((resolve) => back.once('message', (t, m) => resolve(`${t}=${m.toString()}`)));
      assert.equal(got, 'plant/a/temp=21.5');
      await end(back);
      // a clean start ends the imported session with its durable subscription: nothing is left collecting messages
      const clean = await connect(b.mqttPort, 'sensor-1', true);
      await end(clean);
      assert.equal(b.broker.engine.listSubscriptions().length, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
