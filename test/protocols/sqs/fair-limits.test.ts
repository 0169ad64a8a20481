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

describe('SQS FIFO DeduplicationScope and FifoThroughputLimit', function () {
  this.timeout(30_000);
  let b: SqsBroker;
  let sqs: SQSClient;
  beforeEach(async () => {
    b = await startSqsBroker();
    sqs = b.sqs;
  });
  afterEach(async () => {
    await b.close();
  });
  const bodies = async (QueueUrl: string) => {
    const out: string[] = [];
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }));
      if (!r.Messages?.length) return out.sort();
      out.push(...r.Messages.map((m) => m.Body!));
    }
  };
  const send = (QueueUrl: string, MessageBody: string, MessageGroupId: string, MessageDeduplicationId: string) =>
    sqs.send(new SendMessageCommand({ QueueUrl, MessageBody, MessageGroupId, MessageDeduplicationId }));

  it('DeduplicationScope messageGroup dedups per group; queue scope across groups', async () => {
    const perGroup = (await sqs.send(new CreateQueueCommand({ QueueName: 'pg.fifo', Attributes: { FifoQueue: 'true', DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' } }))).QueueUrl!;
    const perQueue = (await sqs.send(new CreateQueueCommand({ QueueName: 'pq.fifo', Attributes: { FifoQueue: 'true' } }))).QueueUrl!;
    for (const url of [perGroup, perQueue]) {
      const a = await send(url, 'g1-first', 'g1', 'id-1');
      const dup = await send(url, 'g1-again', 'g1', 'id-1');
      assert.equal(dup.MessageId, a.MessageId, 'a duplicate in the same group gets the first MessageId');
      assert.equal(dup.SequenceNumber, a.SequenceNumber);
      const other = await send(url, 'g2-same-id', 'g2', 'id-1');
      if (url === perGroup) assert.notEqual(other.MessageId, a.MessageId);
      else assert.equal(other.MessageId, a.MessageId);
    }
    assert.deepEqual(await bodies(perGroup), ['g1-first', 'g2-same-id']);
    assert.deepEqual(await bodies(perQueue), ['g1-first']);
    // the scope can be changed when the throughput limit allows it
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: perQueue, Attributes: { DeduplicationScope: 'messageGroup' } }));
    await send(perQueue, 'g3-new', 'g3', 'id-9');
    await send(perQueue, 'g4-new', 'g4', 'id-9');
    assert.deepEqual(await bodies(perQueue), ['g3-new', 'g4-new']);
  });

  it('FifoThroughputLimit takes perQueue | perMessageGroupId, and perMessageGroupId needs DeduplicationScope messageGroup', async () => {
    let e = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'x.fifo', Attributes: { FifoQueue: 'true', FifoThroughputLimit: 'perGroup' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    e = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'x.fifo', Attributes: { FifoQueue: 'true', DeduplicationScope: 'group' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    e = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'x.fifo', Attributes: { FifoQueue: 'true', FifoThroughputLimit: 'perMessageGroupId' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    assert.match(e.message, /DeduplicationScope/);
    e = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'x.fifo', Attributes: { FifoQueue: 'true', FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'queue' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    // FIFO-only attributes on a standard queue
    e = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'std', Attributes: { FifoThroughputLimit: 'perQueue' } })));
    assert.equal(e.name, 'InvalidAttributeName');

    const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'x.fifo', Attributes: { FifoQueue: 'true', FifoThroughputLimit: 'perQueue' } }))).QueueUrl!;
    e = await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { FifoThroughputLimit: 'perMessageGroupId' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'messageGroup' } }));
    // with the per-group limit in effect, going back to queue scope alone is refused
    e = await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { DeduplicationScope: 'queue' } })));
    assert.equal(e.name, 'InvalidAttributeValue');
    const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['FifoThroughputLimit', 'DeduplicationScope'] }))).Attributes!;
    assert.deepEqual(a, { FifoThroughputLimit: 'perMessageGroupId', DeduplicationScope: 'messageGroup' });
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { FifoThroughputLimit: 'perQueue', DeduplicationScope: 'queue' } }));
  });
});

describe('SQS PurgeQueue and DeleteQueue 60-second rules', function () {
  this.timeout(30_000);

  it('one PurgeQueue per queue per interval (PurgeQueueInProgress); re-creating a deleted queue too soon (QueueDeletedRecently)', async () => {
    const b = await startSqsBroker({ sqs: { purgeInterval: 1, deletedQueueCooldown: 1 } });
    try {
      const sqs = b.sqs;
      const url = (await sqs.send(new CreateQueueCommand({ QueueName: 'p' }))).QueueUrl!;
      const other = (await sqs.send(new CreateQueueCommand({ QueueName: 'p2' }))).QueueUrl!;
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      const e = await rejection(sqs.send(new PurgeQueueCommand({ QueueUrl: url })));
      assert.equal(e.name, 'PurgeQueueInProgress');
      assert.equal(e.$metadata?.httpStatusCode, 403);
      assert.match(e.message, /Only one PurgeQueue operation on p is allowed every 1 seconds/);
      await sqs.send(new PurgeQueueCommand({ QueueUrl: other })); // per queue
      await sleep(1100);
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));

      await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      const d = await rejection(sqs.send(new CreateQueueCommand({ QueueName: 'p' })));
      assert.equal(d.name, 'QueueDeletedRecently');
      assert.equal(d.$metadata?.httpStatusCode, 400);
      await sleep(1100);
      const again = (await sqs.send(new CreateQueueCommand({ QueueName: 'p' }))).QueueUrl!;
      const a = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: again, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!;
      assert.equal(a.ApproximateNumberOfMessages, '0');
      // a fresh queue may be purged at once
      await sqs.send(new PurgeQueueCommand({ QueueUrl: again }));
    } finally {
      await b.close();
    }
  });

  it('defaults to 60 s as in AWS; 0 turns both rules off', async () => {
    let b = await startSqsBroker();
    try {
      const url = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'q' }))).QueueUrl!;
      await b.sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      assert.match((await rejection(b.sqs.send(new PurgeQueueCommand({ QueueUrl: url })))).message, /every 60 seconds/);
    } finally {
      await b.close();
    }
    b = await startSqsBroker({ sqs: { purgeInterval: 0, deletedQueueCooldown: 0 } });
    try {
      const url = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'q' }))).QueueUrl!;
      await b.sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      await b.sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      await b.sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      await b.sqs.send(new CreateQueueCommand({ QueueName: 'q' }));
    } finally {
      await b.close();
    }
  });
});

describe('SQS message move tasks across a restart', function () {
  this.timeout(30_000);

  it('a running task resumes after a restart; finished tasks are still listed', async () => {
    let b = await startSqsBroker({ keepData: true });
    const dir = b.dataDir;
    try {
      const arn = (n: string) => `arn:aws:sqs:us-east-1:000000000000:${n}`;
      const create = async (QueueName: string, Attributes?: Record<string, string>) => (await b.sqs.send(new CreateQueueCommand({ QueueName, Attributes }))).QueueUrl!;
      const dlq = await create('slow-dlq');
      const done = await create('done-dlq');
      await create('target');
      await create('src', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('slow-dlq'), maxReceiveCount: 3 }) });
      await create('src2', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('done-dlq'), maxReceiveCount: 3 }) });
      for (let i = 0; i < 30; i += 10) {
        await b.sqs.send(new SendMessageBatchCommand({ QueueUrl: dlq, Entries: Array.from({ length: 10 }, (_, k) => ({ Id: `m${k}`, MessageBody: `m${i + k}` })) }));
      }
      await b.sqs.send(new SendMessageBatchCommand({ QueueUrl: done, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
      const finished = await b.sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn('done-dlq'), DestinationArn: arn('target') }));
      assert.ok(finished.TaskHandle);
      await eventually(async () => (await b.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn('done-dlq') }))).Results![0].Status === 'COMPLETED');
      await b.sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn('slow-dlq'), DestinationArn: arn('target'), MaxNumberOfMessagesPerSecond: 10 }));
      await sleep(600);
      const before = (await b.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn('slow-dlq') }))).Results![0];
      assert.equal(before.Status, 'RUNNING');
      assert.ok(before.ApproximateNumberOfMessagesMoved! < 30);
      await b.close();

      b = await startSqsBroker({ dataDir: dir, keepData: true });
      const listed = (await b.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn('done-dlq') }))).Results!;
      assert.equal(listed.length, 1);
      assert.equal(listed[0].Status, 'COMPLETED');
      assert.equal(listed[0].ApproximateNumberOfMessagesMoved, 2);
      assert.equal(listed[0].DestinationArn, arn('target'));
      const resumed = (await b.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn('slow-dlq') }))).Results![0];
      assert.equal(resumed.Status, 'RUNNING');
      assert.equal(resumed.MaxNumberOfMessagesPerSecond, 10);
      assert.equal(resumed.ApproximateNumberOfMessagesToMove, 30);
      assert.ok(resumed.ApproximateNumberOfMessagesMoved! >= before.ApproximateNumberOfMessagesMoved!);
      const t = await eventually(
        async () => {
          const r = (await b.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn('slow-dlq') }))).Results![0];
          return r.Status === 'COMPLETED' ? r : undefined;
        },
        10_000,
        'the resumed task to complete',
      );
      assert.equal(t!.ApproximateNumberOfMessagesMoved, 30);
      const target = `${b.endpoint}/000000000000/target`;
      const n = (await b.sqs.send(new GetQueueAttributesCommand({ QueueUrl: target, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes!.ApproximateNumberOfMessages;
      assert.equal(n, '32');
    } finally {
      await b.close();
      (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
    }
  });
});
