/** SQS/SNS ⇄ STOMP on the same core queues and topics, and SQS/SNS state across a broker restart. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, PublishCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { Stompit } from '../stomp/helpers.js';
import { startSqsBroker, type SqsBroker } from './helpers.js';

async function receiveOne(sqs: SQSClient, QueueUrl: string, wait = 3) {
  const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: wait, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
  return r.Messages?.[0];
}

describe('SQS/SNS ⇄ STOMP and restarts', function () {
  this.timeout(30_000);
  let b: SqsBroker;
  let stomp: Stompit;
  beforeEach(async () => {
    b = await startSqsBroker({ stomp: true });
    stomp = await Stompit.connect({ port: b.stompPort! });
  });
  afterEach(async () => {
    stomp.client.destroy();
    await b.close();
  });

  it('an SQS SendMessage is consumed by a STOMP subscriber of /queue/<name>, attributes as headers', async () => {
    const QueueUrl = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'shared' }))).QueueUrl!;
    const inbox = await stomp.subscribe('/queue/shared');
    await b.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'from sqs', MessageAttributes: { color: { DataType: 'String', StringValue: 'red' } } }));
    const m = await inbox.next();
    assert.equal(m.text, 'from sqs');
    assert.equal(m.headers.color, 'red');
  });

  it('a STOMP SEND to /queue/<name> is received over SQS with its headers as message attributes', async () => {
    const QueueUrl = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'fromstomp' }))).QueueUrl!;
    await stomp.send('/queue/fromstomp', 'hello from stomp', { flavour: 'mint' });
    const m = await receiveOne(b.sqs, QueueUrl);
    assert.ok(m, 'received');
    assert.equal(m.Body, 'hello from stomp');
    assert.equal(m.MessageAttributes?.flavour?.StringValue, 'mint');
    assert.equal(m.Attributes!.ApproximateReceiveCount, '1');
  });

  it('messages an SQS receiver fetched ahead go back to the queue for other consumers once it stops receiving', async () => {
    const QueueUrl = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'mixed' }))).QueueUrl!;
    for (let i = 0; i < 5; i++) await b.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: `m${i}` }));
    const first = await receiveOne(b.sqs, QueueUrl, 0);
    assert.ok(first);
    const attrs = (await b.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes!;
    assert.equal(attrs.ApproximateNumberOfMessages, '4', 'prefetched messages still count as visible');
    assert.equal(attrs.ApproximateNumberOfMessagesNotVisible, '1');
    const inbox = await stomp.subscribe('/queue/mixed');
    const got = await inbox.take(4, 4000);
    assert.deepEqual(got.map((m) => m.text).sort(), ['m0', 'm1', 'm2', 'm3', 'm4'].filter((x) => x !== first.Body));
  });

  it('a STOMP publish to /topic/<name> reaches the SNS subscriptions; an SNS Publish reaches STOMP topic subscribers', async () => {
    const TopicArn = (await b.sns.send(new CreateTopicCommand({ Name: 'news' }))).TopicArn!;
    const QueueUrl = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'news-q' }))).QueueUrl!;
    await b.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: 'arn:aws:sqs:us-east-1:000000000000:news-q' }));
    const inbox = await stomp.subscribe('/topic/news');
    await stomp.send('/topic/news', 'stomp says hi', { kind: 'greeting' });
    const viaSns = await receiveOne(b.sqs, QueueUrl);
    const env = JSON.parse(viaSns!.Body!);
    assert.equal(env.Type, 'Notification');
    assert.equal(env.Message, 'stomp says hi');
    assert.equal(env.TopicArn, TopicArn);
    assert.deepEqual(env.MessageAttributes.kind, { Type: 'String', Value: 'greeting' });
    assert.equal((await inbox.next()).text, 'stomp says hi');
    await b.sns.send(new PublishCommand({ TopicArn, Message: 'sns says hi', MessageAttributes: { n: { DataType: 'Number', StringValue: '3' } } }));
    const m = await inbox.next();
    assert.equal(m.text, 'sns says hi');
    assert.equal(m.headers.n, '3');
  });
});

describe('SQS/SNS state across a restart', function () {
  this.timeout(30_000);

  it('queue attributes, messages (with receive counts), SNS topics and subscriptions survive', async () => {
    let b = await startSqsBroker({ keepData: true });
    const dir = b.dataDir;
    try {
      const QueueUrl = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'durable', Attributes: { VisibilityTimeout: '1', MaximumMessageSize: '2048' } }))).QueueUrl!;
      await b.sqs.send(new CreateQueueCommand({ QueueName: 'fanout' }));
      const TopicArn = (await b.sns.send(new CreateTopicCommand({ Name: 'persist' }))).TopicArn!;
      await b.sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: 'arn:aws:sqs:us-east-1:000000000000:fanout', Attributes: { RawMessageDelivery: 'true' } }));
      await b.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'kept', MessageAttributes: { a: { DataType: 'Number.int', StringValue: '7' } } }));
      await b.sqs.send(new ReceiveMessageCommand({ QueueUrl })); // received once, not deleted
      await b.close();
      b = await startSqsBroker({ dataDir: dir, keepData: true });
      const url2 = `${b.endpoint}/000000000000/durable`;
      const a = (await b.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url2, AttributeNames: ['All'] }))).Attributes!;
      assert.equal(a.VisibilityTimeout, '1');
      assert.equal(a.MaximumMessageSize, '2048');
      const m = await receiveOne(b.sqs, url2);
      assert.equal(m?.Body, 'kept');
      assert.equal(m?.MessageAttributes?.a?.DataType, 'Number.int');
      assert.ok(Number(m!.Attributes!.ApproximateReceiveCount) >= 1);
      await b.sns.send(new PublishCommand({ TopicArn, Message: 'after restart' }));
      const f = await receiveOne(b.sqs, `${b.endpoint}/000000000000/fanout`);
      assert.equal(f?.Body, 'after restart');
    } finally {
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
