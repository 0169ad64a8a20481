/**
 * SQS fair queues (MessageGroupId on standard queues), FIFO DeduplicationScope / FifoThroughputLimit rules,
 * the PurgeQueue and QueueDeletedRecently 60-second rules, and message move tasks across a restart.
 */
import assert from 'node:assert/strict';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { eventually, rejection, sleep, startSqsBroker, type SqsBroker } from './helpers.js';

describe('SQS fair queues', function () {
  this.timeout(60_000);
  let b: SqsBroker;
  let sqs: SQSClient;
  beforeEach(async () => {
    b = await startSqsBroker();
    sqs = b.sqs;
  });
  afterEach(async () => {
    await b.close();
  });

  const sendGroup = async (QueueUrl: string, group: string | undefined, n: number, prefix = group ?? 'none') => {
    for (let i = 0; i < n; i += 10) {
      const Entries = Array.from({ length: Math.min(10, n - i) }, (_, k) => ({ Id: `e${k}`, MessageBody: `${prefix}-${i + k}`, ...(group ? { MessageGroupId: group } : {}) }));
      const r = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries }));
      assert.equal(r.Failed?.length ?? 0, 0);
    }
  };

  it('a quiet tenant is not starved behind a noisy tenant with 1,000 messages in the backlog', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'tenants' }))).QueueUrl!;
    await sendGroup(url, 'noisy', 1000);
    // slow consumers: the noisy tenant piles up in-flight messages (received, not deleted yet)
    const order: string[] = [];
    const receive = async () => {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 120, MessageSystemAttributeNames: ['MessageGroupId'] }));
      for (const m of r.Messages ?? []) order.push(m.Body!);
      return r.Messages ?? [];
    };
    for (let i = 0; i < 3; i++) await receive();
    await sendGroup(url, 'quiet', 5); // behind 970 waiting noisy messages
    for (let i = 0; i < 8 && order.filter((b) => b.startsWith('quiet')).length < 5; i++) await receive();
    const quiet = order.map((b, i) => [b, i] as const).filter(([b]) => b.startsWith('quiet'));
    assert.equal(quiet.length, 5, `quiet messages not received early: got ${quiet.length} within ${order.length} messages`);
    assert.ok(quiet.every(([, i]) => i < 110), `quiet messages at positions ${quiet.map(([, i]) => i).join(',')}`);
    // the noisy tenant is not dropped or throttled: when nothing else waits it gets served as usual
    for (;;) {
      const got = await receive();
      if (got.length === 0) break;
    }
    assert.equal(order.length, 1005);
    assert.equal(new Set(order).size, 1005);
  });

  it('without a noisy tenant, order is the usual (oldest first); messages without a group are tenants of their own', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'calm' }))).QueueUrl!;
    await sendGroup(url, 'a', 10);
    await sendGroup(url, undefined, 5);
    await sendGroup(url, 'b', 5);
    const bodies: string[] = [];
    for (let i = 0; i < 5 && bodies.length < 20; i++) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }));
      for (const m of r.Messages ?? []) bodies.push(m.Body!);
    }
    assert.deepEqual(bodies, [...Array.from({ length: 10 }, (_, i) => `a-${i}`), ...Array.from({ length: 5 }, (_, i) => `none-${i}`), ...Array.from({ length: 5 }, (_, i) => `b-${i}`)]);
  });

  it('a noisy tenant that deletes its messages stops being noisy', async () => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'recovering' }))).QueueUrl!;
    await sendGroup(url, 'noisy', 100);
    const handles: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }));
      for (const m of r.Messages ?? []) handles.push(m.ReceiptHandle!);
    }
    assert.equal(handles.length, 40);
    for (let i = 0; i < handles.length; i += 10) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: handles.slice(i, i + 10).map((ReceiptHandle, k) => ({ Id: `d${k}`, ReceiptHandle })) }));
    }
    await sendGroup(url, 'quiet', 2);
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }));
    // nobody is in flight any more: oldest first again
    assert.deepEqual(r.Messages!.map((m) => m.Body), Array.from({ length: 10 }, (_, i) => `noisy-${40 + i}`));
  });
});
