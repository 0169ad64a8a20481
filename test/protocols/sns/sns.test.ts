/** SNS with the AWS SDK (query protocol): topics, subscriptions, fan-out to SQS with filters and raw delivery, HTTP endpoints. */
import assert from 'node:assert/strict';
import { createVerify, X509Certificate } from 'node:crypto';
import http from 'node:http';
import {
  AddPermissionCommand,
  ConfirmSubscriptionCommand,
  CreateTopicCommand,
  DeleteTopicCommand,
  GetSubscriptionAttributesCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListSubscriptionsCommand,
  ListTagsForResourceCommand,
  ListTopicsCommand,
  PublishBatchCommand,
  PublishCommand,
  RemovePermissionCommand,
  SetSubscriptionAttributesCommand,
  SetTopicAttributesCommand,
  SubscribeCommand,
  TagResourceCommand,
  UnsubscribeCommand,
  UntagResourceCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { queue } from '../../../src/core/address.js';
import { eventually, rejection, sleep, startSqsBroker, type SqsBroker } from '../sqs/helpers.js';
import { get } from '../sqs/sigv4-client.js';

const SIGNED_KEYS: Record<string, string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
};

/** Verify an SNS message signature the way AWS documents it, with the certificate from SigningCertURL. */
async function verifySignature(port: number, msg: Record<string, string>): Promise<boolean> {
  const certUrl = new URL(msg.SigningCertURL);
  const pem = (await get(port, certUrl.pathname)).body;
  new X509Certificate(pem); // parses
  let s = '';
  for (const k of SIGNED_KEYS[msg.Type]) if (msg[k] !== undefined) s += `${k}\n${msg[k]}\n`;
  return createVerify(msg.SignatureVersion === '2' ? 'RSA-SHA256' : 'RSA-SHA1').update(s, 'utf8').verify(pem, msg.Signature, 'base64');
}

describe('SNS (AWS SDK, query protocol)', function () {
  this.timeout(30_000);
  let b: SqsBroker;
  let sns: SNSClient;
  let sqs: SQSClient;
  beforeEach(async () => {
    b = await startSqsBroker();
    sns = b.sns;
    sqs = b.sqs;
  });
  afterEach(async () => {
    await b.close();
  });

  const topic = async (Name: string, Attributes?: Record<string, string>, Tags?: Array<{ Key: string; Value: string }>) =>
    (await sns.send(new CreateTopicCommand({ Name, Attributes, Tags }))).TopicArn!;
  const makeQueue = async (QueueName: string, Attributes?: Record<string, string>) => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName, Attributes }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    return { url, arn };
  };
  const drain = async (url: string, n: number, wait = 3) => {
    const msgs: Array<{ Body?: string; MessageAttributes?: Record<string, { StringValue?: string; DataType?: string }> }> = [];
    const deadline = Date.now() + wait * 1000 + 2000;
    while (msgs.length < n && Date.now() < deadline) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
      msgs.push(...((r.Messages ?? []) as typeof msgs));
    }
    return msgs;
  };

  it('topics: create (idempotent), list, attributes, tags, delete', async () => {
    const arn = await topic('orders', { DisplayName: 'Orders' });
    assert.equal(arn, 'arn:aws:sns:us-east-1:000000000000:orders');
    assert.equal(await topic('orders', { DisplayName: 'Orders' }), arn);
    assert.equal((await rejection(topic('orders', { DisplayName: 'Other' }))).name, 'InvalidParameterException');
    assert.equal((await rejection(topic('bad name'))).name, 'InvalidParameterException');
    assert.equal((await rejection(topic('f.fifo'))).name, 'InvalidParameterException');
    const fifo = await topic('f.fifo', { FifoTopic: 'true', ContentBasedDeduplication: 'true' });
    const list = await sns.send(new ListTopicsCommand({}));
    assert.deepEqual(list.Topics!.map((t) => t.TopicArn).sort(), [fifo, arn].sort());
    const a = (await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes!;
    assert.equal(a.DisplayName, 'Orders');
    assert.equal(a.TopicArn, arn);
    assert.equal(a.SubscriptionsConfirmed, '0');
    assert.ok(JSON.parse(a.Policy).Statement);
    await sns.send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'DisplayName', AttributeValue: 'New' }));
    assert.equal((await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes!.DisplayName, 'New');
    assert.equal((await sns.send(new GetTopicAttributesCommand({ TopicArn: fifo }))).Attributes!.FifoTopic, 'true');
    // AWS: CreateTopic of an existing topic with a tag it does not have is refused; with its own tags (or some) it is the topic
    const tagged = await topic('tagged', undefined, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
    assert.equal(await topic('tagged', undefined, [{ Key: 'a', Value: '1' }]), tagged);
    assert.equal(await topic('tagged', undefined, []), tagged);
    for (const tags of [[{ Key: 'c', Value: '3' }], [{ Key: 'a', Value: 'other' }]]) {
      const dup = await rejection(topic('tagged', undefined, tags));
      assert.equal(dup.name, 'InvalidParameterException');
      assert.equal(dup.message, 'Invalid parameter: Tags Reason: Topic already exists with different tags');
    }
    await sns.send(new TagResourceCommand({ ResourceArn: arn, Tags: [{ Key: 'team', Value: 'x' }, { Key: 'env', Value: 'y' }] }));
    await sns.send(new UntagResourceCommand({ ResourceArn: arn, TagKeys: ['env'] }));
    assert.deepEqual((await sns.send(new ListTagsForResourceCommand({ ResourceArn: arn }))).Tags, [{ Key: 'team', Value: 'x' }]);
    await sns.send(new DeleteTopicCommand({ TopicArn: arn }));
    const e = await rejection(sns.send(new GetTopicAttributesCommand({ TopicArn: arn })));
    assert.equal(e.name, 'NotFoundException');
    assert.equal(e.$metadata?.httpStatusCode, 404);
  });

  it('fans out to two SQS queues: signed JSON envelope on one, raw delivery with a filter policy on the other', async () => {
    const arn = await topic('orders');
    const all = await makeQueue('all-orders');
    const eu = await makeQueue('eu-orders');
    const s1 = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: all.arn, ReturnSubscriptionArn: true }));
    assert.match(s1.SubscriptionArn!, /^arn:aws:sns:us-east-1:000000000000:orders:[0-9a-f-]{36}$/);
    await sns.send(
      new SubscribeCommand({
        TopicArn: arn,
        Protocol: 'sqs',
        Endpoint: eu.arn,
        Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ region: ['eu'], amount: [{ numeric: ['>', 100] }] }) },
      }),
    );
    const pub = async (Message: string, region: string, amount: number, Subject?: string) =>
      sns.send(
        new PublishCommand({
          TopicArn: arn,
          Message,
          Subject,
          MessageAttributes: { region: { DataType: 'String', StringValue: region }, amount: { DataType: 'Number', StringValue: String(amount) } },
        }),
      );
    const p1 = await pub('order-1', 'eu', 500, 'New order');
    await pub('order-2', 'us', 500);
    await pub('order-3', 'eu', 50);
    await pub('order-4', 'eu', 101);

    const got = await drain(all.url, 4);
    assert.equal(got.length, 4);
    const envs = got.map((m) => JSON.parse(m.Body!));
    const e1 = envs.find((e) => e.Message === 'order-1')!;
    assert.equal(e1.Type, 'Notification');
    assert.equal(e1.MessageId, p1.MessageId);
    assert.equal(e1.TopicArn, arn);
    assert.equal(e1.Subject, 'New order');
    assert.deepEqual(e1.MessageAttributes.region, { Type: 'String', Value: 'eu' });
    assert.deepEqual(e1.MessageAttributes.amount, { Type: 'Number', Value: '500' });
    assert.ok(e1.UnsubscribeURL.includes('Action=Unsubscribe'));
    assert.ok(await verifySignature(b.port, e1), 'envelope signature verifies with the served certificate');
    assert.ok(!(await verifySignature(b.port, { ...e1, Message: 'tampered' })));

    const raw = await drain(eu.url, 2);
    assert.deepEqual(raw.map((m) => m.Body).sort(), ['order-1', 'order-4']);
    assert.equal(raw[0].MessageAttributes!.region.StringValue, 'eu');
    assert.equal(raw[0].MessageAttributes!.amount.DataType, 'Number');
    await sleep(300);
    assert.equal((await drain(eu.url, 1, 0)).length, 0, 'filtered messages do not arrive');
  });

  it('errors worded as AWS words them (malformed ARNs, unknown protocol and attributes, too long)', async () => {
    const arn = await topic('words');
    const q = await makeQueue('words-q');
    const message = async (p: Promise<unknown>) => {
      const e = await rejection(p);
      assert.equal(e.name, 'InvalidParameterException');
      return e.message;
    };
    assert.equal(await message(sns.send(new GetTopicAttributesCommand({ TopicArn: 'garbage' }))), 'Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1');
    assert.equal(await message(sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:random', Message: 'x' }))), 'Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 5');
    assert.equal(await message(sns.send(new UnsubscribeCommand({ SubscriptionArn: 'randomstring' }))), 'Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1');
    assert.equal(await message(sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'test-protocol', Endpoint: 'x' }))), 'Invalid parameter: Amazon SNS does not support this protocol string: test-protocol');
    assert.equal(await message(sns.send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'FifoTopic', AttributeValue: 'false' }))), 'Invalid parameter: AttributeName');
    const { SubscriptionArn } = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn }));
    assert.equal(await message(sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'Fake', AttributeValue: 'x' }))), 'Invalid parameter: AttributeName');
    assert.equal(await message(sns.send(new PublishCommand({ TopicArn: arn, Message: 'x'.repeat(262_145) }))), 'Invalid parameter: Message too long');
    const e = await rejection(sns.send(new PublishBatchCommand({ TopicArn: arn, PublishBatchRequestEntries: [0, 1].map((i) => ({ Id: `m${i}`, Message: 'x'.repeat(150_000) })) })));
    assert.equal(e.name, 'BatchRequestTooLongException');
    assert.equal(e.message, 'The length of all the messages put together is more than the limit.');
  });

  it('AddPermission / RemovePermission keep statements in the topic Policy, as AWS does', async () => {
    const arn = await topic('perm');
    const policy = async () => JSON.parse((await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes!.Policy!);
    await sns.send(new AddPermissionCommand({ TopicArn: arn, Label: 'test', AWSAccountId: ['111122223333'], ActionName: ['Publish'] }));
    await sns.send(new AddPermissionCommand({ TopicArn: arn, Label: 'two', AWSAccountId: ['111122223333', '444455556666'], ActionName: ['Publish', 'Subscribe'] }));
    const statements = (await policy()).Statement;
    assert.equal(statements[0].Sid, '__default_statement_ID');
    assert.deepEqual(statements[1], { Sid: 'test', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'SNS:Publish', Resource: arn });
    assert.deepEqual(statements[2].Action, ['SNS:Publish', 'SNS:Subscribe']);
    assert.deepEqual(statements[2].Principal.AWS, ['arn:aws:iam::111122223333:root', 'arn:aws:iam::444455556666:root']);
    let e = await rejection(sns.send(new AddPermissionCommand({ TopicArn: arn, Label: 'test', AWSAccountId: ['111122223333'], ActionName: ['Publish'] })));
    assert.equal(e.name, 'InvalidParameterException');
    assert.equal(e.message, 'Invalid parameter: Statement already exists');
    e = await rejection(sns.send(new AddPermissionCommand({ TopicArn: arn, Label: 'bad', AWSAccountId: ['111122223333'], ActionName: ['SendMessage'] })));
    assert.equal(e.message, 'Invalid parameter: Policy statement action out of service scope!');
    e = await rejection(sns.send(new AddPermissionCommand({ TopicArn: `${arn}-gone`, Label: 'x', AWSAccountId: ['111122223333'], ActionName: ['Publish'] })));
    assert.equal(e.name, 'NotFoundException');
    await sns.send(new RemovePermissionCommand({ TopicArn: arn, Label: 'test' }));
    await sns.send(new RemovePermissionCommand({ TopicArn: arn, Label: 'two' }));
    assert.deepEqual((await policy()).Statement.map((x: { Sid: string }) => x.Sid), ['__default_statement_ID']);
    assert.equal((await rejection(sns.send(new RemovePermissionCommand({ TopicArn: `${arn}-gone`, Label: 'x' })))).name, 'NotFoundException');
  });

  it('subscriptions: list, attributes, invalid filter policies, unsubscribe', async () => {
    const arn = await topic('subs');
    const q = await makeQueue('subs-q');
    const { SubscriptionArn } = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn }));
    const again = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn }));
    assert.equal(again.SubscriptionArn, SubscriptionArn, 'subscribing twice returns the same subscription');
    const list = await sns.send(new ListSubscriptionsCommand({}));
    assert.deepEqual(list.Subscriptions!.map((s) => [s.Protocol, s.Endpoint, s.TopicArn]), [['sqs', q.arn, arn]]);
    assert.equal((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn }))).Subscriptions!.length, 1);
    const a = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn }))).Attributes!;
    assert.equal(a.Protocol, 'sqs');
    assert.equal(a.PendingConfirmation, 'false');
    assert.equal(a.RawMessageDelivery, 'false');
    for (const bad of ['{"a": "x"}', '{"a": [{"numeric": [">", "x"]}]}', '{"a": [{"bogus": 1}]}', 'not json', '{"a": []}', '{"a": [{"anything-but": [null]}]}']) {
      const e = await rejection(sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'FilterPolicy', AttributeValue: bad })));
      assert.equal(e.name, 'InvalidParameterException', bad);
      assert.match(e.message, /FilterPolicy/);
    }
    const e = await rejection(sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { FilterPolicy: '{"x": 1}' } })));
    assert.equal(e.name, 'InvalidParameterException');
    assert.equal((await rejection(sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'email', Endpoint: 'a@b.c' })))).name, 'InvalidParameterException');
    assert.equal((await rejection(sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: 'not-an-arn' })))).name, 'InvalidParameterException');
    await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'FilterPolicyScope', AttributeValue: 'MessageBody' }));
    await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'FilterPolicy', AttributeValue: '{"order": {"kind": ["book"]}}' }));
    await sns.send(new PublishCommand({ TopicArn: arn, Message: JSON.stringify({ order: { kind: 'book', id: 1 } }) }));
    await sns.send(new PublishCommand({ TopicArn: arn, Message: JSON.stringify({ order: { kind: 'car', id: 2 } }) }));
    const got = await drain(q.url, 1);
    assert.equal(got.length, 1);
    assert.equal(JSON.parse(JSON.parse(got[0].Body!).Message).order.id, 1);
    await sns.send(new UnsubscribeCommand({ SubscriptionArn }));
    assert.equal((await sns.send(new ListSubscriptionsCommand({}))).Subscriptions!.length, 0);
    // AWS: Unsubscribe is idempotent (a second call succeeds); GetSubscriptionAttributes of it is NotFound
    await sns.send(new UnsubscribeCommand({ SubscriptionArn }));
    const gone = await rejection(sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn })));
    assert.equal(gone.name, 'NotFoundException');
    assert.equal(gone.message, 'Subscription does not exist');
    await sns.send(new PublishCommand({ TopicArn: arn, Message: JSON.stringify({ order: { kind: 'book' } }) }));
    await sleep(200);
    assert.equal((await drain(q.url, 1, 0)).length, 0);
    assert.equal(b.broker.engine.getSubscription(`durable:sns:${SubscriptionArn!.split(':').pop()}`), undefined, 'core subscription removed');
  });

  it('MessageStructure=json picks the per-protocol message; PublishBatch with partial failures', async () => {
    const arn = await topic('structured');
    const q = await makeQueue('structured-q');
    await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new PublishCommand({ TopicArn: arn, MessageStructure: 'json', Message: JSON.stringify({ default: 'dflt', sqs: 'for sqs', http: 'for http' }) }));
    assert.equal((await rejection(sns.send(new PublishCommand({ TopicArn: arn, MessageStructure: 'json', Message: '{"sqs": "x"}' })))).name, 'InvalidParameterException');
    const batch = await sns.send(
      new PublishBatchCommand({
        TopicArn: arn,
        PublishBatchRequestEntries: [
          { Id: 'a', Message: 'b1' },
          { Id: 'b', Message: 'b2', Subject: 'x'.repeat(101) },
          { Id: 'c', Message: 'b3', MessageAttributes: { n: { DataType: 'Number', StringValue: '7' } } },
        ],
      }),
    );
    assert.deepEqual(batch.Successful!.map((s) => s.Id), ['a', 'c']);
    assert.equal(batch.Failed![0].Id, 'b');
    assert.equal(batch.Failed![0].Code, 'InvalidParameter');
    assert.equal(batch.Failed![0].SenderFault, true);
    const got = await drain(q.url, 3);
    assert.deepEqual(got.map((m) => m.Body).sort(), ['b1', 'b3', 'for sqs']);
    const e = await rejection(sns.send(new PublishBatchCommand({ TopicArn: arn, PublishBatchRequestEntries: [{ Id: 'a', Message: 'x' }, { Id: 'a', Message: 'y' }] })));
    assert.equal(e.name, 'BatchEntryIdsNotDistinctException');
  });

  it('FIFO topic to a FIFO queue keeps group order and deduplicates; a standard queue may subscribe too (AWS since 2023-09)', async () => {
    const arn = await topic('events.fifo', { FifoTopic: 'true' });
    const q = await makeQueue('events.fifo', { FifoQueue: 'true' });
    await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    const std = await makeQueue('std');
    await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: std.arn, Attributes: { RawMessageDelivery: 'true' } }));
    // the other way round is refused, in AWS's words
    const plain = await topic('plain');
    const e = await rejection(sns.send(new SubscribeCommand({ TopicArn: plain, Protocol: 'sqs', Endpoint: q.arn })));
    assert.equal(e.name, 'InvalidParameterException');
    assert.equal(e.message, 'Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics');
    assert.equal((await rejection(sns.send(new PublishCommand({ TopicArn: arn, Message: 'x', MessageDeduplicationId: 'd' })))).name, 'InvalidParameterException');
    const seqs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await sns.send(new PublishCommand({ TopicArn: arn, Message: `e${i}`, MessageGroupId: 'g', MessageDeduplicationId: `d${i}` }));
      seqs.push(r.SequenceNumber!);
    }
    const dup = await sns.send(new PublishCommand({ TopicArn: arn, Message: 'dup', MessageGroupId: 'g', MessageDeduplicationId: 'd0' }));
    assert.equal(dup.SequenceNumber, seqs[0]);
    // one in-flight batch per group: wait until all five are in the queue, then take them in one receive
    await eventually(async () => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages === '5');
    const got = await drain(q.url, 5);
    assert.deepEqual(got.map((m) => m.Body), ['e0', 'e1', 'e2', 'e3', 'e4']);
    const onStandard = await drain(std.url, 5);
    assert.deepEqual(onStandard.map((m) => m.Body).sort(), ['e0', 'e1', 'e2', 'e3', 'e4'], 'the standard queue got each message once');
  });

  it('PublishBatch fails as a whole, as AWS does, for a FIFO entry without group or deduplication id and a JSON structure without default', async () => {
    const fifo = await topic('batch.fifo', { FifoTopic: 'true' });
    let e = await rejection(sns.send(new PublishBatchCommand({ TopicArn: fifo, PublishBatchRequestEntries: [{ Id: '1', Message: 'no group' }] })));
    assert.equal(e.message, 'Invalid parameter: The MessageGroupId parameter is required for FIFO topics');
    e = await rejection(sns.send(new PublishBatchCommand({ TopicArn: fifo, PublishBatchRequestEntries: [{ Id: '1', Message: 'no dedup', MessageGroupId: 'g' }] })));
    assert.equal(e.message, 'Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
    const std = await topic('batch-std');
    e = await rejection(sns.send(new PublishBatchCommand({ TopicArn: std, PublishBatchRequestEntries: [{ Id: '1', Message: JSON.stringify({ sqs: 'x' }), MessageStructure: 'json' }] })));
    assert.equal(e.name, 'InvalidParameterException');
    assert.equal(e.message, 'Invalid parameter: Message Structure - No default entry in JSON message body');
    // tags: a key twice in one request is refused
    e = await rejection(sns.send(new TagResourceCommand({ ResourceArn: std, Tags: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] })));
    assert.equal(e.message, 'Invalid parameter: Duplicated keys are not allowed.');
  });

  it('an SQS subscription to a queue that does not exist yet is accepted, and delivers once the queue exists', async () => {
    const arn = await topic('early');
    const queueArn = 'arn:aws:sqs:us-east-1:000000000000:late-queue';
    const { SubscriptionArn } = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: queueArn, Attributes: { RawMessageDelivery: 'true' } }));
    assert.match(SubscriptionArn!, /^arn:aws:sns:us-east-1:\d+:early:/);
    const q = await makeQueue('late-queue');
    assert.equal(q.arn.split(':').pop(), 'late-queue');
    await sns.send(new PublishCommand({ TopicArn: arn, Message: 'after the queue came' }));
    const got = await drain(q.url, 1);
    assert.deepEqual(got.map((m) => m.Body), ['after the queue came']);
  });

  it('a broker-native (wharf) subscription delivers into any core queue, raw by default', async () => {
    const arn = await topic('native');
    await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'wharf', Endpoint: 'queue://native.inbox' }));
    assert.equal((await rejection(sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'wharf', Endpoint: 'nowhere' })))).name, 'InvalidParameterException');
    await sns.send(new PublishCommand({ TopicArn: arn, Message: 'to the core', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } }));
    const m = await eventually(() => b.broker.engine.browse(queue('native.inbox'))[0], 3000, 'message in native.inbox');
    assert.equal(m.message.body.toString(), 'to the core');
    assert.equal(m.message.properties.k, 'v');
  });

  it('topic-to-topic (wharf) loops stop after a bounded number of hops', async () => {
    const a = await topic('loop-a');
    await topic('loop-b');
    await sns.send(new SubscribeCommand({ TopicArn: a, Protocol: 'wharf', Endpoint: 'topic://loop-b' }));
    await sns.send(new SubscribeCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:loop-b', Protocol: 'wharf', Endpoint: 'topic://loop-a' }));
    assert.equal((await rejection(sns.send(new SubscribeCommand({ TopicArn: a, Protocol: 'wharf', Endpoint: 'topic://loop-a' })))).name, 'InvalidParameterException');
    const q = await makeQueue('loop-q');
    await sns.send(new SubscribeCommand({ TopicArn: a, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
    await sns.send(new PublishCommand({ TopicArn: a, Message: 'round and round' }));
    await sleep(1000);
    const count = async () => Number((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages);
    const n = await count();
    assert.ok(n >= 1 && n <= 10, `copies: ${n}`);
    await sleep(300);
    assert.equal(await count(), n, 'no more copies: the loop stopped');
  });

  describe('HTTP endpoints', () => {
    let server: http.Server;
    let port: number;
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    let failFirst = 0;
    beforeEach(async () => {
      received.length = 0;
      failFirst = 0;
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          received.push({ headers: req.headers, body });
          if (req.headers['x-amz-sns-message-type'] === 'Notification' && failFirst > 0) {
            failFirst--;
            res.writeHead(500).end();
            return;
          }
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as { port: number }).port;
    });
    afterEach(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });

    it('confirms the subscription through SubscribeURL, then delivers signed notifications with retries', async () => {
      const arn = await topic('web', { DeliveryPolicy: JSON.stringify({ http: { defaultHealthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 1, numRetries: 3 } } }) });
      const sub = await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/hook` }));
      assert.equal(sub.SubscriptionArn, 'pending confirmation');
      const conf = await eventually(() => received.find((r) => r.headers['x-amz-sns-message-type'] === 'SubscriptionConfirmation'), 5000, 'confirmation');
      const msg = JSON.parse(conf!.body);
      assert.equal(msg.Type, 'SubscriptionConfirmation');
      assert.equal(msg.TopicArn, arn);
      assert.ok(await verifySignature(b.port, msg), 'confirmation signature');
      assert.equal((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn }))).Subscriptions![0].SubscriptionArn, 'PendingConfirmation');
      await sns.send(new PublishCommand({ TopicArn: arn, Message: 'before confirmation' }));
      // confirm as a subscriber does: GET the SubscribeURL (no AWS signature)
      const u = new URL(msg.SubscribeURL);
      const confirmed = await get(b.port, u.pathname + u.search);
      assert.equal(confirmed.status, 200, confirmed.body);
      assert.match(confirmed.body, /<SubscriptionArn>arn:aws:sns:us-east-1:000000000000:web:/);
      failFirst = 2;
      const t0 = Date.now();
      const pub = await sns.send(new PublishCommand({ TopicArn: arn, Message: 'hello web', Subject: 'hi' }));
      const ok = await eventually(() => received.filter((r) => r.headers['x-amz-sns-message-type'] === 'Notification'), 8000).then(async (list) => {
        await eventually(() => received.filter((r) => r.headers['x-amz-sns-message-type'] === 'Notification').length >= 3, 8000, 'three attempts');
        return list;
      });
      void ok;
      const notes = received.filter((r) => r.headers['x-amz-sns-message-type'] === 'Notification');
      assert.equal(notes.length, 3, 'two failures then success');
      assert.ok(Date.now() - t0 >= 1900, 'retries waited minDelayTarget');
      const n = JSON.parse(notes[2].body);
      assert.equal(n.Message, 'hello web');
      assert.equal(n.MessageId, pub.MessageId);
      assert.equal(notes[2].headers['x-amz-sns-message-id'], pub.MessageId);
      assert.equal(notes[2].headers['x-amz-sns-topic-arn'], arn);
      assert.ok(await verifySignature(b.port, n));
      assert.ok(!notes.some((r) => r.body.includes('before confirmation')), 'nothing delivered before confirmation');
      const a = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: notes[2].headers['x-amz-sns-subscription-arn'] as string }))).Attributes!;
      assert.equal(a.PendingConfirmation, 'false');
      // a subscription's effective policy in AWS's subscription-level shape, the topic's retries inherited
      const eff = JSON.parse(a.EffectiveDeliveryPolicy);
      assert.equal(eff.healthyRetryPolicy.numRetries, 3);
      assert.deepEqual(eff.requestPolicy, { headerContentType: 'text/plain; charset=UTF-8' });
      assert.equal(eff.guaranteed, false);
      assert.equal(notes[2].headers['content-type'], 'text/plain; charset=UTF-8');
      // the UnsubscribeURL in the notification works without a signature, as with AWS
      const un = new URL(n.UnsubscribeURL);
      assert.equal((await get(b.port, un.pathname + un.search)).status, 200);
      assert.equal((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn }))).Subscriptions!.length, 0);
    });

    it('after the retries, a failing endpoint\'s messages go to the subscription\'s redrive DLQ; ConfirmSubscription action', async () => {
      const arn = await topic('web2');
      const dlq = await makeQueue('web2-dlq');
      await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/hook` }));
      const conf = JSON.parse((await eventually(() => received.find((r) => r.headers['x-amz-sns-message-type'] === 'SubscriptionConfirmation'), 5000))!.body);
      const { SubscriptionArn } = await sns.send(new ConfirmSubscriptionCommand({ TopicArn: arn, Token: conf.Token }));
      assert.equal((await rejection(sns.send(new ConfirmSubscriptionCommand({ TopicArn: arn, Token: 'bogus' })))).name, 'InvalidParameterException');
      await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'DeliveryPolicy', AttributeValue: JSON.stringify({ healthyRetryPolicy: { minDelayTarget: 1, maxDelayTarget: 1, numRetries: 1 } }) }));
      await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'RedrivePolicy', AttributeValue: JSON.stringify({ deadLetterTargetArn: dlq.arn }) }));
      await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'RawMessageDelivery', AttributeValue: 'true' }));
      failFirst = 100;
      await sns.send(new PublishCommand({ TopicArn: arn, Message: 'undeliverable' }));
      const got = await drain(dlq.url, 1, 6);
      assert.equal(got.length, 1);
      assert.equal(got[0].Body, 'undeliverable');
      // AWS dead-letters the message as it would have been delivered, with no attributes of its own
      assert.equal(got[0].MessageAttributes?.ErrorCode, undefined);
      assert.equal(received.filter((r) => r.headers['x-amz-sns-message-type'] === 'Notification').length, 2);
      assert.equal(received.find((r) => r.headers['x-amz-sns-message-type'] === 'Notification')!.headers['x-amz-sns-rawdelivery'], 'true');
    });

    it('notifications carry the Content-Type of the subscription\'s requestPolicy, else of the topic\'s defaultRequestPolicy (AWS)', async () => {
      const arn = await topic('web3', { DeliveryPolicy: JSON.stringify({ http: { defaultRequestPolicy: { headerContentType: 'application/json' } } }) });
      assert.deepEqual(JSON.parse((await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes!.EffectiveDeliveryPolicy!).http.defaultRequestPolicy, { headerContentType: 'application/json' });
      await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/hook` }));
      const conf = await eventually(() => received.find((r) => r.headers['x-amz-sns-message-type'] === 'SubscriptionConfirmation'), 5000);
      assert.equal(conf!.headers['content-type'], 'text/plain; charset=UTF-8');
      const { SubscriptionArn } = await sns.send(new ConfirmSubscriptionCommand({ TopicArn: arn, Token: JSON.parse(conf!.body).Token }));
      await sns.send(new PublishCommand({ TopicArn: arn, Message: 'json typed' }));
      const first = await eventually(() => received.find((r) => r.body.includes('json typed')), 5000);
      assert.equal(first!.headers['content-type'], 'application/json');
      await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn, AttributeName: 'DeliveryPolicy', AttributeValue: JSON.stringify({ requestPolicy: { headerContentType: 'text/csv' } }) }));
      const eff = JSON.parse((await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn }))).Attributes!.EffectiveDeliveryPolicy!);
      assert.deepEqual(eff.requestPolicy, { headerContentType: 'text/csv' });
      await sns.send(new PublishCommand({ TopicArn: arn, Message: 'csv typed' }));
      const second = await eventually(() => received.find((r) => r.body.includes('csv typed')), 5000);
      assert.equal(second!.headers['content-type'], 'text/csv');
    });
  });
});
