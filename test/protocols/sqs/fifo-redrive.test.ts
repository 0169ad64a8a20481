/** SQS FIFO queues (ordering, one in-flight batch per group, dedup) and dead-letter redrive with move tasks. */
import assert from 'node:assert/strict';
import {
  CancelMessageMoveTaskCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  StartMessageMoveTaskCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { eventually, rejection, sleep, startSqsBroker, type SqsBroker } from './helpers.js';

describe('SQS FIFO queues and dead-letter redrive', function () {
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

  const create = async (QueueName: string, Attributes?: Record<string, string>) => (await sqs.send(new CreateQueueCommand({ QueueName, Attributes }))).QueueUrl!;
  const receive = (QueueUrl: string, extra: Record<string, unknown> = {}) =>
    sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'], ...extra }));
  const count = async (QueueUrl: string, name = 'ApproximateNumberOfMessages') =>
    Number(((await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: [name as never] }))).Attributes as Record<string, string>)[name]);

  describe('FIFO', () => {
    it('needs MessageGroupId and a dedup id (or ContentBasedDeduplication); rejects per-message delay', async () => {
      const url = await create('jobs.fifo', { FifoQueue: 'true' });
      const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes!;
      assert.equal(attrs.FifoQueue, 'true');
      assert.equal(attrs.ContentBasedDeduplication, 'false');
      assert.equal(attrs.DeduplicationScope, 'queue');
      assert.equal(attrs.FifoThroughputLimit, 'perQueue');
      let e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageDeduplicationId: 'd' })));
      assert.equal(e.name, 'MissingParameter');
      e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g' })));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'd', DelaySeconds: 5 })));
      assert.equal(e.name, 'InvalidParameterValue');
    });

    it('keeps order within a group and dedups within the window, even after the first copy was deleted', async () => {
      const url = await create('order.fifo', { FifoQueue: 'true' });
      const seqs: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}`, MessageGroupId: 'g1', MessageDeduplicationId: `d${i}` }));
        assert.ok(r.SequenceNumber);
        seqs.push(r.SequenceNumber!);
      }
      assert.deepEqual([...seqs].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), seqs, 'sequence numbers increase');
      const dup = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'other body', MessageGroupId: 'g1', MessageDeduplicationId: 'd0' }));
      const r = await receive(url);
      assert.deepEqual(r.Messages!.map((m) => m.Body), ['m0', 'm1', 'm2', 'm3', 'm4']);
      assert.equal(dup.MessageId, r.Messages![0].MessageId, 'a duplicate gets the first copy\'s id');
      assert.equal(r.Messages![0].Attributes!.MessageGroupId, 'g1');
      assert.equal(r.Messages![0].Attributes!.MessageDeduplicationId, 'd0');
      assert.equal(r.Messages![0].Attributes!.SequenceNumber, seqs[0]);
      for (const m of r.Messages!) await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'm0 again', MessageGroupId: 'g1', MessageDeduplicationId: 'd0' }));
      assert.equal((await receive(url)).Messages, undefined, 'still deduplicated after delete');
    });

    it('ContentBasedDeduplication uses the body; DeduplicationScope messageGroup scopes ids per group', async () => {
      const cbd = await create('cbd.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      await sqs.send(new SendMessageCommand({ QueueUrl: cbd, MessageBody: 'same', MessageGroupId: 'g' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: cbd, MessageBody: 'same', MessageGroupId: 'g' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: cbd, MessageBody: 'different', MessageGroupId: 'g' }));
      assert.deepEqual((await receive(cbd)).Messages!.map((m) => m.Body), ['same', 'different']);

      const scoped = await create('scoped.fifo', { FifoQueue: 'true', DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' });
      await sqs.send(new SendMessageCommand({ QueueUrl: scoped, MessageBody: 'a', MessageGroupId: 'g1', MessageDeduplicationId: 'same' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: scoped, MessageBody: 'b', MessageGroupId: 'g2', MessageDeduplicationId: 'same' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: scoped, MessageBody: 'c', MessageGroupId: 'g1', MessageDeduplicationId: 'same' }));
      const bodies = (await receive(scoped)).Messages!.map((m) => m.Body).sort();
      assert.deepEqual(bodies, ['a', 'b']);
      // batch: duplicates inside one batch
      const batch = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: cbd,
          Entries: [
            { Id: '1', MessageBody: 'x1', MessageGroupId: 'g' },
            { Id: '2', MessageBody: 'x1', MessageGroupId: 'g' },
          ],
        }),
      );
      assert.equal(batch.Successful!.length, 2);
      assert.equal(batch.Successful![0].MessageId, batch.Successful![1].MessageId);
    });

    it('one in-flight batch per group: a group is blocked until its messages are deleted or visible again', async () => {
      const url = await create('groups.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      const send = (g: string, body: string) => sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: g }));
      await send('A', 'a1');
      await send('A', 'a2');
      await send('B', 'b1');
      await send('A', 'a3');
      await send('B', 'b2');
      const first = await receive(url, { MaxNumberOfMessages: 1 });
      assert.deepEqual(first.Messages!.map((m) => m.Body), ['a1']);
      // A is in flight: the next receive only gets B's messages, in order
      const second = await receive(url);
      assert.deepEqual(second.Messages!.map((m) => m.Body), ['b1', 'b2']);
      const third = await receive(url);
      assert.equal(third.Messages, undefined, 'both groups busy');
      assert.equal(await count(url), 2, 'a2 and a3 count as visible');
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages![0].ReceiptHandle }));
      const fourth = await receive(url);
      assert.deepEqual(fourth.Messages!.map((m) => m.Body), ['a2', 'a3']);
    });

    it('a group whose message becomes visible again is redelivered in order', async () => {
      const url = await create('redeliver.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      for (const body of ['x1', 'x2', 'x3']) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: 'X' }));
      const r1 = await receive(url, { MaxNumberOfMessages: 1, VisibilityTimeout: 1 });
      assert.deepEqual(r1.Messages!.map((m) => m.Body), ['x1']);
      assert.equal((await receive(url)).Messages, undefined);
      const r2 = await receive(url, { WaitTimeSeconds: 4 });
      assert.deepEqual(r2.Messages!.map((m) => m.Body), ['x1', 'x2', 'x3']);
      assert.equal(r2.Messages![0].Attributes!.ApproximateReceiveCount, '2');
    });

    it('ReceiveRequestAttemptId returns the same messages and receipts on a retried receive', async () => {
      const url = await create('attempt.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'once', MessageGroupId: 'g' }));
      const a = await receive(url, { ReceiveRequestAttemptId: 'attempt-1' });
      const again = await receive(url, { ReceiveRequestAttemptId: 'attempt-1' });
      assert.equal(again.Messages![0].ReceiptHandle, a.Messages![0].ReceiptHandle);
      assert.equal((await receive(url, { ReceiveRequestAttemptId: 'attempt-2' })).Messages, undefined);
    });
  });

  describe('dead-letter queues', () => {
    it('RedrivePolicy moves a message to the DLQ after maxReceiveCount receives; ListDeadLetterSourceQueues; move back with StartMessageMoveTask', async () => {
      const dlq = await create('orders-dlq');
      const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
      const src = await create('orders', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) });
      const rp = JSON.parse((await sqs.send(new GetQueueAttributesCommand({ QueueUrl: src, AttributeNames: ['RedrivePolicy'] }))).Attributes!.RedrivePolicy!);
      assert.deepEqual(rp, { deadLetterTargetArn: dlqArn, maxReceiveCount: 2 });
      await sqs.send(new SendMessageCommand({ QueueUrl: src, MessageBody: 'poison', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } }));
      const r1 = await receive(src, { VisibilityTimeout: 1 });
      assert.equal(r1.Messages![0].Attributes!.ApproximateReceiveCount, '1');
      const r2 = await receive(src, { VisibilityTimeout: 1, WaitTimeSeconds: 3 });
      assert.equal(r2.Messages![0].Attributes!.ApproximateReceiveCount, '2');
      await eventually(async () => (await count(dlq)) === 1, 5000, 'the message in the DLQ');
      assert.equal((await receive(src, { WaitTimeSeconds: 1 })).Messages, undefined);
      const sources = await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq }));
      assert.deepEqual(sources.queueUrls, [src]);

      const inDlq = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'], VisibilityTimeout: 0 }))).Messages![0];
      assert.equal(inDlq.Body, 'poison');
      assert.equal(inDlq.MessageAttributes!.k.StringValue, 'v', 'SQS attributes survive the DLQ move');
      assert.equal(inDlq.Attributes!.DeadLetterQueueSourceArn, 'arn:aws:sqs:us-east-1:000000000000:orders');

      const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
      assert.ok(TaskHandle);
      await eventually(async () => {
        const t = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }));
        return t.Results![0].Status === 'COMPLETED' && t.Results![0];
      });
      const t = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results![0];
      assert.equal(t.ApproximateNumberOfMessagesMoved, 1);
      const back = await receive(src, { WaitTimeSeconds: 2 });
      assert.equal(back.Messages![0].Body, 'poison');
      assert.equal(back.Messages![0].Attributes!.ApproximateReceiveCount, '1', 'receive count starts over');
      assert.equal(await count(dlq), 0);
    });

    it('validates redrive policies and RedriveAllowPolicy; move tasks need a DLQ source; cancel', async () => {
      const dlq = await create('dlq2');
      const arn = 'arn:aws:sqs:us-east-1:000000000000:dlq2';
      let e = await rejection(create('src2', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:nope', maxReceiveCount: 1 }) }));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(create('src2', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 0 }) }));
      assert.equal(e.name, 'InvalidAttributeValue');
      e = await rejection(create('src2', { RedrivePolicy: '{not json' }));
      assert.equal(e.name, 'InvalidAttributeValue');
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: dlq, Attributes: { RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'denyAll' }) } }));
      e = await rejection(create('src2', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 1 }) }));
      assert.match(e.message, /RedriveAllowPolicy/);
      await sqs.send(
        new SetQueueAttributesCommand({ QueueUrl: dlq, Attributes: { RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: ['arn:aws:sqs:us-east-1:000000000000:src2'] }) } }),
      );
      await create('src2', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 1 }) });
      const fifoDlq = await create('f.fifo', { FifoQueue: 'true' });
      void fifoDlq;
      e = await rejection(create('src3', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:f.fifo', maxReceiveCount: 1 }) }));
      assert.match(e.message, /same type/);
      e = await rejection(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: 'arn:aws:sqs:us-east-1:000000000000:src2' })));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: 'arn:aws:sqs:us-east-1:000000000000:missing' })));
      assert.equal(e.name, 'ResourceNotFoundException');
      // a slow task can be cancelled
      for (let i = 0; i < 20; i++) await sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: `d${i}` }));
      const { TaskHandle } = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn, DestinationArn: 'arn:aws:sqs:us-east-1:000000000000:src2', MaxNumberOfMessagesPerSecond: 2 }));
      e = await rejection(sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn })));
      assert.equal(e.name, 'UnsupportedOperation');
      await sleep(300);
      await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle }));
      await eventually(async () => (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn }))).Results![0].Status === 'CANCELLED');
      assert.ok((await count(dlq)) > 10, 'most messages stayed');
    });
  });
});
