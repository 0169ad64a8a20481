/** SQS with the current AWS SDK (JSON protocol): queue management, messaging, visibility, long polling, batches. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  TagQueueCommand,
  UntagQueueCommand,
  AddPermissionCommand,
  RemovePermissionCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { md5OfAttributes } from '../../../protocols/aws/message-attributes.js';
import { eventually, rejection, sleep, startSqsBroker, type SqsBroker } from './helpers.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('SQS (AWS SDK, JSON protocol)', function () {
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
  const attrs = async (QueueUrl: string, names: string[] = ['All']) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: names as never }))).Attributes ?? {};
  const receive = (QueueUrl: string, extra: Record<string, unknown> = {}) =>
    sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'], ...extra }));

  describe('queues', () => {
    it('CreateQueue returns a URL from the request host; GetQueueUrl finds it; idempotent with equal attributes', async () => {
      const url = await create('orders', { VisibilityTimeout: '40' });
      assert.equal(url, `${b.endpoint}/000000000000/orders`);
      assert.equal((await sqs.send(new GetQueueUrlCommand({ QueueName: 'orders' }))).QueueUrl, url);
      assert.equal(await create('orders', { VisibilityTimeout: '40' }), url);
      assert.equal(await create('orders'), url, 'no attributes given: no conflict');
      const e = await rejection(create('orders', { VisibilityTimeout: '41' }));
      assert.equal(e.name, 'QueueNameExists');
      assert.match(e.message, /different value for attribute VisibilityTimeout/);
    });

    it('FifoQueue and the FIFO-only attributes on the wrong queue type, as AWS answers them', async () => {
      const unknown = await rejection(create('std', { FifoQueue: 'false' }));
      assert.equal(unknown.name, 'InvalidAttributeName');
      assert.equal(unknown.message, 'Unknown Attribute FifoQueue.');
      for (const [k, v] of [['DeduplicationScope', 'queue'], ['FifoThroughputLimit', 'perQueue']]) {
        const e = await rejection(create('std', { [k]: v }));
        assert.equal(e.name, 'InvalidAttributeName');
        assert.equal(e.message, `You can specify the ${k} only when FifoQueue is set to true.`);
      }
      assert.equal((await rejection(create('std', { ContentBasedDeduplication: 'false' }))).message, 'Unknown Attribute ContentBasedDeduplication.');
      const std = await create('std');
      for (const v of ['true', 'false']) {
        const e = await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: std, Attributes: { FifoQueue: v } })));
        assert.equal(e.name, 'InvalidAttributeName');
        assert.equal(e.message, 'Unknown Attribute FifoQueue.');
      }
      const fifo = await create('f.fifo', { FifoQueue: 'true' });
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: fifo, Attributes: { FifoQueue: 'true' } }));
      const e = await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: fifo, Attributes: { FifoQueue: 'false' } })));
      assert.equal(e.name, 'InvalidAttributeValue');
      assert.equal(e.message, 'Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.');
    });

    it('send validation worded as AWS: empty body is MissingParameter; empty attribute; group and deduplication ids; FIFO batches', async () => {
      const url = await create('words');
      let e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '' })));
      assert.equal(e.name, 'MissingParameter');
      assert.equal(e.message, 'The request must contain the parameter MessageBody.');
      e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageAttributes: { ErrorDetails: { DataType: 'String', StringValue: '' } } })));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.equal(e.message, "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.");
      e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'group 123' })));
      assert.equal(e.message, 'Value group 123 for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.');
      const fifo = await create('words.fifo', { FifoQueue: 'true' });
      e = await rejection(sqs.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'group 123' })));
      assert.equal(e.message, 'Value group 123 for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.');
      // a FIFO batch with an entry lacking its group or deduplication id fails as a whole (no per-entry results)
      const batch = (Entries: Array<Record<string, string>>) => sqs.send(new SendMessageBatchCommand({ QueueUrl: fifo, Entries: Entries as never }));
      e = await rejection(batch([{ Id: 'a', MessageBody: 'a', MessageGroupId: 'g', MessageDeduplicationId: 'd1' }, { Id: 'b', MessageBody: 'b', MessageGroupId: 'g' }]));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.equal(e.message, 'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
      e = await rejection(batch([{ Id: 'a', MessageBody: 'a', MessageDeduplicationId: 'd1' }]));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.equal(e.message, 'The request must contain the parameter MessageGroupId.');
      assert.equal((await attrs(fifo, ['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages, '0', 'nothing of a refused batch was sent');
    });

    it('rejects bad names and unknown/invalid attributes', async () => {
      assert.equal((await rejection(create('bad name'))).name, 'InvalidParameterValue');
      assert.equal((await rejection(create('x'.repeat(81)))).name, 'InvalidParameterValue');
      assert.equal((await rejection(create('a.b'))).name, 'InvalidParameterValue');
      assert.equal((await rejection(create('ok', { Bogus: '1' }))).name, 'InvalidAttributeName');
      assert.equal((await rejection(create('ok', { VisibilityTimeout: '43201' }))).name, 'InvalidAttributeValue');
      assert.equal((await rejection(create('ok', { MaximumMessageSize: '1023' }))).name, 'InvalidAttributeValue');
      assert.equal((await rejection(create('ok', { DelaySeconds: 'x' }))).name, 'InvalidAttributeValue');
      assert.equal((await rejection(create('ok.fifo'))).name, 'InvalidParameterValue', 'a .fifo name needs FifoQueue=true');
      assert.equal((await rejection(create('ok', { FifoQueue: 'true' }))).name, 'InvalidParameterValue');
      assert.equal((await rejection(create('ok', { ContentBasedDeduplication: 'true' }))).name, 'InvalidAttributeName', 'FIFO-only attribute');
      const e = await rejection(sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' })));
      assert.equal(e.name, 'QueueDoesNotExist');
      assert.equal(e.Code, 'AWS.SimpleQueueService.NonExistentQueue');
      assert.equal(e.$metadata?.httpStatusCode, 400);
    });

    it('ListQueues with prefix and MaxResults/NextToken pagination', async () => {
      for (const n of ['a1', 'a2', 'a3', 'b1']) await create(n);
      const all = (await sqs.send(new ListQueuesCommand({}))).QueueUrls!;
      assert.deepEqual(all.map((u) => u.split('/').pop()), ['a1', 'a2', 'a3', 'b1']);
      const pre = (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a' }))).QueueUrls!;
      assert.equal(pre.length, 3);
      const p1 = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a', MaxResults: 2 }));
      assert.equal(p1.QueueUrls!.length, 2);
      assert.ok(p1.NextToken);
      const p2 = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'a', MaxResults: 2, NextToken: p1.NextToken }));
      assert.deepEqual(p2.QueueUrls!.map((u) => u.split('/').pop()), ['a3']);
      assert.equal(p2.NextToken, undefined);
      const none = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'zzz' }));
      assert.equal(none.QueueUrls, undefined);
    });

    it('GetQueueAttributes All and single names, SetQueueAttributes, defaults as AWS', async () => {
      const url = await create('attrs');
      const a = await attrs(url);
      assert.equal(a.QueueArn, 'arn:aws:sqs:us-east-1:000000000000:attrs');
      assert.equal(a.VisibilityTimeout, '30');
      assert.equal(a.MaximumMessageSize, '1048576', 'AWS default since 2025: 1 MiB');
      assert.equal(a.MessageRetentionPeriod, '345600');
      assert.equal(a.DelaySeconds, '0');
      assert.equal(a.ReceiveMessageWaitTimeSeconds, '0');
      assert.equal(a.ApproximateNumberOfMessages, '0');
      assert.ok(Math.abs(Number(a.CreatedTimestamp) - Date.now() / 1000) < 10);
      assert.equal(a.FifoQueue, undefined);
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '5', MaximumMessageSize: '1048576' } }));
      const one = await attrs(url, ['VisibilityTimeout']);
      assert.deepEqual(one, { VisibilityTimeout: '5' });
      assert.equal((await attrs(url, ['MaximumMessageSize'])).MaximumMessageSize, '1048576');
      assert.equal((await rejection(attrs(url, ['Nope']))).name, 'InvalidAttributeName');
      assert.equal((await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { FifoQueue: 'true' } })))).name, 'InvalidAttributeName');
    });

    it('counts visible, not visible and delayed messages', async () => {
      const url = await create('counts');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'a' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'b' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'c', DelaySeconds: 60 }));
      await receive(url, { MaxNumberOfMessages: 1 });
      const a = await attrs(url);
      assert.equal(a.ApproximateNumberOfMessages, '1');
      assert.equal(a.ApproximateNumberOfMessagesNotVisible, '1');
      assert.equal(a.ApproximateNumberOfMessagesDelayed, '1');
    });

    it('tags: TagQueue, UntagQueue, ListQueueTags; AddPermission/RemovePermission edit the Policy', async () => {
      const url = await create('tagged');
      await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { team: 'a', env: 'dev' } }));
      assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags, { team: 'a', env: 'dev' });
      await sqs.send(new UntagQueueCommand({ QueueUrl: url, TagKeys: ['env'] }));
      assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags, { team: 'a' });
      const url2 = (await sqs.send(new CreateQueueCommand({ QueueName: 'tagged2', tags: { x: 'y' } }))).QueueUrl!;
      assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url2 }))).Tags, { x: 'y' });
      await sqs.send(new AddPermissionCommand({ QueueUrl: url, Label: 'p1', AWSAccountIds: ['111122223333'], Actions: ['SendMessage'] }));
      const pol = JSON.parse((await attrs(url, ['Policy'])).Policy!);
      assert.equal(pol.Statement[0].Sid, 'p1');
      await sqs.send(new RemovePermissionCommand({ QueueUrl: url, Label: 'p1' }));
      assert.equal((await attrs(url, ['Policy'])).Policy, undefined);
    });

    it('DeleteQueue removes it; operations on it then fail with QueueDoesNotExist', async () => {
      const url = await create('gone');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
      await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
      assert.equal((await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' })))).name, 'QueueDoesNotExist');
      assert.equal((await rejection(receive(url))).name, 'QueueDoesNotExist');
      assert.equal((await sqs.send(new ListQueuesCommand({}))).QueueUrls, undefined);
      // as in AWS, the name is blocked for 60 s (sqs.deletedQueueCooldown; see fair-limits.test.ts)
      assert.equal((await rejection(create('gone'))).name, 'QueueDeletedRecently');
    });

    it('PurgeQueue removes waiting messages', async () => {
      const url = await create('purge');
      for (let i = 0; i < 5; i++) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      assert.equal((await attrs(url)).ApproximateNumberOfMessages, '0');
      assert.equal((await receive(url)).Messages, undefined);
    });

    it('PurgeQueue also deletes messages in flight and forgets FIFO deduplication ids (AWS)', async () => {
      const url = await create('purge-inflight');
      for (let i = 0; i < 4; i++) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
      const got = (await receive(url, { MaxNumberOfMessages: 2, VisibilityTimeout: 30 })).Messages!;
      assert.equal(got.length, 2);
      await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      const a = await attrs(url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
      assert.deepEqual(a, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
      // their receipts still answer a delete with success, as a purged message's do in AWS
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: got[0].ReceiptHandle }));

      const fifo = await create('purge-dedup.fifo', { FifoQueue: 'true' });
      const send = (body: string) => sqs.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: body, MessageGroupId: 'g', MessageDeduplicationId: 'same' }));
      await send('before');
      const held = (await receive(fifo)).Messages!;
      assert.equal(held[0].Body, 'before');
      await sqs.send(new PurgeQueueCommand({ QueueUrl: fifo }));
      await send('after');
      const r = (await receive(fifo)).Messages!;
      assert.deepEqual(r.map((m) => m.Body), ['after'], 'accepted again after the purge, and its group is free');
    });

    it('KMS and SQS-managed server-side encryption at once is refused, as in AWS', async () => {
      const url = await create('sse');
      const e = await rejection(sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { KmsMasterKeyId: 'testKeyId', SqsManagedSseEnabled: 'true' } })));
      assert.equal(e.name, 'InvalidAttributeName');
      assert.equal(e.message, 'You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.');
      await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { KmsMasterKeyId: 'testKeyId', SqsManagedSseEnabled: 'false' } }));
      assert.deepEqual(await attrs(url, ['KmsMasterKeyId', 'SqsManagedSseEnabled']), { KmsMasterKeyId: 'testKeyId', SqsManagedSseEnabled: 'false' });
    });
  });

  describe('messages', () => {
    it('send/receive/delete with message attributes (String, Number, Binary, custom types) and exact MD5s', async () => {
      const url = await create('msgs');
      const MessageAttributes = {
        s: { DataType: 'String', StringValue: 'héllo' },
        n: { DataType: 'Number', StringValue: '12.5' },
        bin: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 255]) },
        custom: { DataType: 'Number.float', StringValue: '3.14' },
        img: { DataType: 'Binary.gif', BinaryValue: Buffer.from('GIF89a') },
      };
      const sent = await sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: 'body ✓', MessageAttributes, MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: 'Root=1-5759e988-bd862e3fe1be46a994272793' } } }),
      );
      assert.equal(sent.MD5OfMessageBody, md5('body ✓'));
      assert.equal(sent.MD5OfMessageAttributes, md5OfAttributes(MessageAttributes as never));
      assert.ok(sent.MD5OfMessageSystemAttributes);
      const r = await receive(url);
      assert.equal(r.Messages!.length, 1);
      const m = r.Messages![0];
      assert.equal(m.MessageId, sent.MessageId);
      assert.equal(m.Body, 'body ✓');
      assert.equal(m.MD5OfBody, md5('body ✓'));
      assert.equal(m.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
      assert.deepEqual(Buffer.from(m.MessageAttributes!.bin.BinaryValue!), Buffer.from([0, 1, 2, 255]));
      assert.equal(m.MessageAttributes!.custom.DataType, 'Number.float');
      assert.equal(m.MessageAttributes!.s.StringValue, 'héllo');
      assert.equal(m.Attributes!.ApproximateReceiveCount, '1');
      assert.equal(m.Attributes!.AWSTraceHeader, 'Root=1-5759e988-bd862e3fe1be46a994272793');
      assert.ok(Number(m.Attributes!.SentTimestamp) <= Date.now());
      assert.ok(m.Attributes!.ApproximateFirstReceiveTimestamp);
      assert.equal(m.Attributes!.SenderId, 'AKIDWHARFTEST');
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle })); // a retried delete succeeds
      assert.equal((await attrs(url)).ApproximateNumberOfMessagesNotVisible, '0');
    });

    it('MD5 of message attributes matches published AWS test vectors', () => {
      assert.equal(md5OfAttributes({ SellerName: { DataType: 'String', StringValue: 'Example Store' } }), 'cd28f3b68aeee4b2eac9c66f2f694b58');
      assert.equal(md5OfAttributes({ timestamp: { DataType: 'Number', StringValue: '1493147359900' } }), '235c5c510d26fb653d073faed50ae77c');
      assert.equal(
        md5OfAttributes({ test_attribute_name_2: { DataType: 'String', StringValue: 'test_attribute_value_2' }, test_attribute_name_1: { DataType: 'String', StringValue: 'test_attribute_value_1' } }),
        'd53f3b558fe951154770f25cb63dbba9',
      );
      assert.equal(md5OfAttributes({ test_attribute_name: { DataType: 'Binary', BinaryValue: Buffer.from('test_attribute_value') } }), '23f6bd27ea87aab7dfeadcc9aebee495');
      assert.equal(md5OfAttributes({}), undefined);
    });

    it('no attributes: no MD5OfMessageAttributes; MessageAttributeNames selects by name and prefix', async () => {
      const url = await create('sel');
      const plain = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'plain' }));
      assert.equal(plain.MD5OfMessageAttributes, undefined);
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: 'attrs',
          MessageAttributes: { 'app.a': { DataType: 'String', StringValue: '1' }, 'app.b': { DataType: 'String', StringValue: '2' }, other: { DataType: 'String', StringValue: '3' } },
        }),
      );
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['app.*'] }));
      const [m1, m2] = r.Messages!;
      assert.equal(m1.MessageAttributes, undefined);
      assert.equal(m1.MD5OfMessageAttributes, undefined);
      assert.deepEqual(Object.keys(m2.MessageAttributes!).sort(), ['app.a', 'app.b']);
      assert.equal(m2.MD5OfMessageAttributes, md5OfAttributes({ 'app.a': { DataType: 'String', StringValue: '1' }, 'app.b': { DataType: 'String', StringValue: '2' } }));
      assert.equal(m2.Attributes, undefined, 'no system attributes asked for');
    });

    it('MessageAttributeNames as AWS reads them: `Hel.*` is the prefix `Hel`, `*` is all, impossible names select nothing', async () => {
      const url = await create('filters', { VisibilityTimeout: '0' });
      const MessageAttributes = {
        'Help.Me': { DataType: 'String', StringValue: 'Me' },
        Hello: { DataType: 'String', StringValue: 'There' },
        General: { DataType: 'String', StringValue: 'Kenobi' },
      };
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'msg', MessageAttributes }));
      const names = async (MessageAttributeNames: string[]) => {
        const m = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5, MessageAttributeNames }))).Messages![0];
        return Object.keys(m.MessageAttributes ?? {}).sort();
      };
      assert.deepEqual(await names(['Hel.*']), ['Hello', 'Help.Me']);
      assert.deepEqual(await names(['*']), ['General', 'Hello', 'Help.Me']);
      assert.deepEqual(await names(['.*']), ['General', 'Hello', 'Help.Me']);
      assert.deepEqual(await names(['Foo', 'Hello']), ['Hello']);
      assert.deepEqual(await names(['AWS.']), []);
      assert.deepEqual(await names(['..foo']), []);
    });

    it('validates bodies, attributes and sizes', async () => {
      const url = await create('val', { MaximumMessageSize: '1024' });
      const send = (input: Record<string, unknown>) => sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', ...input }));
      let e = await rejection(send({ MessageBody: 'x'.repeat(1025) }));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.match(e.message, /shorter than 1024 bytes/);
      e = await rejection(send({ MessageBody: 'a\u0000b' }));
      assert.equal(e.name, 'InvalidMessageContents');
      e = await rejection(send({ MessageAttributes: { 'AWS.x': { DataType: 'String', StringValue: 'v' } } }));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(send({ MessageAttributes: { a: { DataType: 'Strin', StringValue: 'v' } } }));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(send({ MessageAttributes: { a: { DataType: 'Number', StringValue: 'abc' } } }));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(send({ MessageAttributes: { a: { DataType: 'String', StringValue: '' } } }));
      assert.equal(e.name, 'InvalidParameterValue');
      const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, { DataType: 'String', StringValue: 'v' }]));
      e = await rejection(send({ MessageAttributes: eleven }));
      assert.match(e.message, /exceeds the allowed maximum \[10\]/);
      e = await rejection(send({ DelaySeconds: 901 }));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(send({ MessageDeduplicationId: 'x' }));
      assert.equal(e.name, 'InvalidParameterValue', 'dedup id only for FIFO');
      e = await rejection(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 })));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 21 })));
      assert.equal(e.name, 'InvalidParameterValue');
      e = await rejection(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 43201 })));
      assert.equal(e.name, 'InvalidParameterValue');
      // attributes count towards the size
      e = await rejection(send({ MessageBody: 'x'.repeat(1000), MessageAttributes: { abcdefghij: { DataType: 'String', StringValue: 'y'.repeat(20) } } }));
      assert.match(e.message, /shorter than 1024 bytes/);
      await send({ MessageBody: 'x'.repeat(1024) });
    });

    it('a default queue takes a message over 256 KiB (AWS default MaximumMessageSize: 1 MiB)', async () => {
      const url = await create('default-size');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'd'.repeat(300_000) }));
      assert.equal((await rejection(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'd'.repeat(1_048_577) })))).name, 'InvalidParameterValue');
      const r = await receive(url);
      assert.equal(r.Messages![0].Body!.length, 300_000);
    });

    it('a 1 MiB message on a queue that allows it', async () => {
      const url = await create('big', { MaximumMessageSize: '1048576' });
      const body = 'b'.repeat(1048576);
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
      const r = await receive(url);
      assert.equal(r.Messages![0].Body!.length, 1048576);
    });

    it('DelaySeconds per message and per queue', async () => {
      const url = await create('delay', { DelaySeconds: '1' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'queue-delay' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'no-delay', DelaySeconds: 0 }));
      const first = await receive(url);
      assert.deepEqual(first.Messages!.map((m) => m.Body), ['no-delay']);
      const t0 = Date.now();
      const later = await receive(url, { WaitTimeSeconds: 5 });
      assert.deepEqual(later.Messages!.map((m) => m.Body), ['queue-delay']);
      assert.ok(Date.now() - t0 < 2500);
    });

    it('MessageRetentionPeriod: expired messages are dropped', async () => {
      const url = await create('retention', { MessageRetentionPeriod: '60' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'short-lived' }));
      const q = b.broker.engine.getQueue('retention')!;
      assert.equal(q.policy.expiry, 'drop');
      const entry = b.broker.engine.browse({ kind: 'queue', name: 'retention' })[0];
      assert.ok(Math.abs(entry.message.expiration - (Date.now() + 60_000)) < 5000);
    });
  });

  describe('visibility and receipts', () => {
    it('a message reappears after its visibility timeout with ApproximateReceiveCount incremented; an old receipt still deletes it (AWS)', async () => {
      const url = await create('vis');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }));
      const r1 = await receive(url, { VisibilityTimeout: 1 });
      const m1 = r1.Messages![0];
      assert.equal(m1.Attributes!.ApproximateReceiveCount, '1');
      assert.equal((await receive(url)).Messages, undefined, 'invisible meanwhile');
      const r2 = await receive(url, { WaitTimeSeconds: 3, VisibilityTimeout: 30 });
      const m2 = r2.Messages![0];
      assert.equal(m2.MessageId, m1.MessageId);
      assert.equal(m2.Attributes!.ApproximateReceiveCount, '2');
      assert.notEqual(m2.ReceiptHandle, m1.ReceiptHandle);
      assert.equal(m2.Attributes!.ApproximateFirstReceiveTimestamp, m1.Attributes!.ApproximateFirstReceiveTimestamp);
      // AWS: "If you use an old ReceiptHandle, the request will succeed" (and a standard queue deletes the message)
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m1.ReceiptHandle }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m2.ReceiptHandle }));
      const a = await attrs(url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
      assert.deepEqual(a, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    });

    it('standard queue: a receipt whose visibility timeout ended still deletes the message; a late visibility change succeeds (AWS)', async () => {
      const url = await create('late');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'late' }));
      const m = (await receive(url, { VisibilityTimeout: 1 })).Messages![0];
      await eventually(async () => (await attrs(url, ['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages === '1');
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5 }));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      const a = await attrs(url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
      assert.deepEqual(a, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
      assert.equal((await receive(url)).Messages, undefined);
      // a visibility change of a deleted message: AWS's InvalidParameterValue
      const e = await rejection(sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 5 })));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.match(e.message, /Reason: Message does not exist or is not available for visibility timeout change\./);

      // made visible at once (VisibilityTimeout 0), then deleted with that receipt — also in a batch
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
      const two = (await receive(url, { MaxNumberOfMessages: 10, VisibilityTimeout: 0 })).Messages!;
      assert.equal(two.length, 2);
      const del = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: two.map((x, i) => ({ Id: `d${i}`, ReceiptHandle: x.ReceiptHandle })) }));
      assert.equal(del.Successful?.length, 2);
      assert.equal((await receive(url)).Messages, undefined);
    });

    it('FIFO queue: a receipt whose visibility ended is InvalidParameterValue "The receipt handle has expired." (AWS)', async () => {
      const url = await create('late.fifo', { FifoQueue: 'true', ContentBasedDeduplication: 'true' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g' }));
      const m = (await receive(url)).Messages![0];
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      const e = await rejection(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle })));
      assert.equal(e.name, 'InvalidParameterValue');
      assert.equal(e.message, `Value ${m.ReceiptHandle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`);
      assert.equal((await receive(url)).Messages![0].Body, 'x', 'not deleted');
    });

    it('forged, malformed and other-queue receipt handles are ReceiptHandleIsInvalid', async () => {
      const url = await create('rh');
      const other = await create('rh2');
      await sqs.send(new SendMessageCommand({ QueueUrl: other, MessageBody: 'x' }));
      const m = (await receive(other)).Messages![0];
      for (const handle of ['garbage', 'AAAA', m.ReceiptHandle!.slice(0, -2) + 'xx', '']) {
        const e = await rejection(sqs.send(new DeleteMessageCommand({ QueueUrl: other, ReceiptHandle: handle })));
        assert.ok(['ReceiptHandleIsInvalid', 'MissingParameter'].includes(e.name), `${handle}: ${e.name}`);
      }
      const e = await rejection(sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle })));
      assert.equal(e.name, 'ReceiptHandleIsInvalid');
    });

    it('ChangeMessageVisibility extends, and 0 makes the message visible at once', async () => {
      const url = await create('cmv');
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
      const m = (await receive(url, { VisibilityTimeout: 1 })).Messages![0];
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 3 }));
      await sleep(1500);
      assert.equal((await receive(url)).Messages, undefined, 'still invisible after the original 1 s');
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      const again = (await receive(url)).Messages![0];
      assert.equal(again.MessageId, m.MessageId);
      assert.equal(again.Attributes!.ApproximateReceiveCount, '2');
      // AWS (LocalStack's validated test_terminate_visibility_timeout_after_receive): the first receipt still changes
      // the visibility of the message, now that it was received again
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      const third = (await receive(url)).Messages![0];
      assert.equal(third.MessageId, m.MessageId);
      assert.equal(third.Attributes!.ApproximateReceiveCount, '3');
    });

    it('queue VisibilityTimeout is the default for receives', async () => {
      const url = await create('visdef', { VisibilityTimeout: '1' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }));
      await receive(url);
      const r = await receive(url, { WaitTimeSeconds: 3 });
      assert.equal(r.Messages![0].Attributes!.ApproximateReceiveCount, '2');
    });
  });

  describe('long polling', () => {
    it('returns as soon as a message arrives, well before WaitTimeSeconds', async () => {
      const url = await create('lp');
      const t0 = Date.now();
      const p = receive(url, { WaitTimeSeconds: 10 });
      await sleep(200);
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake' }));
      const r = await p;
      assert.equal(r.Messages![0].Body, 'wake');
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    });

    it('never waits when messages are there; returns empty after the wait; honours ReceiveMessageWaitTimeSeconds', async () => {
      const url = await create('lp2', { ReceiveMessageWaitTimeSeconds: '1' });
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'ready' }));
      let t0 = Date.now();
      const r = await receive(url, { WaitTimeSeconds: 20 });
      assert.equal(r.Messages!.length, 1);
      assert.ok(Date.now() - t0 < 1000);
      t0 = Date.now();
      const empty = await receive(url); // queue default: 1 s
      assert.equal(empty.Messages, undefined);
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
    });

    it('many concurrent long polls: each message goes to exactly one receiver', async () => {
      const url = await create('lp3');
      const polls = Array.from({ length: 8 }, () => receive(url, { WaitTimeSeconds: 5, MaxNumberOfMessages: 1 }));
      await sleep(100);
      for (let i = 0; i < 8; i++) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
      const results = await Promise.all(polls);
      const bodies = results.flatMap((r) => (r.Messages ?? []).map((m) => m.Body)).sort();
      assert.deepEqual(bodies, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    });

    it('an aborted long poll does not swallow the next message', async () => {
      const url = await create('lp4');
      const ac = new AbortController();
      const p = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }), { abortSignal: ac.signal }).catch((e) => e);
      await sleep(100);
      ac.abort();
      await p;
      await sleep(100);
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'after-abort' }));
      const r = await receive(url, { WaitTimeSeconds: 2 });
      assert.equal(r.Messages?.[0]?.Body, 'after-abort');
    });
  });

  describe('batches', () => {
    it('SendMessageBatch with partial failures, DeleteMessageBatch, ChangeMessageVisibilityBatch', async () => {
      const url = await create('batch');
      const res = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: [
            { Id: 'ok1', MessageBody: 'one' },
            { Id: 'bad', MessageBody: 'x', DelaySeconds: 1000 },
            { Id: 'ok2', MessageBody: 'two', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } },
            { Id: 'bad2', MessageBody: 'a\u0001' },
          ],
        }),
      );
      assert.deepEqual(res.Successful!.map((s) => s.Id), ['ok1', 'ok2']);
      assert.equal(res.Successful![0].MD5OfMessageBody, md5('one'));
      assert.ok(res.Successful![1].MD5OfMessageAttributes);
      assert.deepEqual(res.Failed!.map((f) => [f.Id, f.Code, f.SenderFault]), [
        ['bad', 'InvalidParameterValue', true],
        ['bad2', 'InvalidMessageContents', true],
      ]);
      const msgs = (await receive(url, { VisibilityTimeout: 30 })).Messages!;
      assert.equal(msgs.length, 2);
      const cv = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: [
            { Id: 'a', ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 60 },
            { Id: 'b', ReceiptHandle: 'nonsense', VisibilityTimeout: 60 },
          ],
        }),
      );
      assert.deepEqual(cv.Successful!.map((s) => s.Id), ['a']);
      assert.equal(cv.Failed![0].Code, 'ReceiptHandleIsInvalid');
      const del = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: [
            { Id: 'x', ReceiptHandle: msgs[0].ReceiptHandle },
            { Id: 'y', ReceiptHandle: msgs[1].ReceiptHandle },
            { Id: 'z', ReceiptHandle: 'bogus' },
          ],
        }),
      );
      assert.deepEqual(del.Successful!.map((s) => s.Id).sort(), ['x', 'y']);
      assert.deepEqual(del.Failed!.map((f) => [f.Id, f.Code]), [['z', 'ReceiptHandleIsInvalid']]);
      assert.equal((await attrs(url)).ApproximateNumberOfMessagesNotVisible, '0');
    });

    it('batch limits: empty, more than 10, duplicate ids, bad ids, total size', async () => {
      const url = await create('blim');
      const send = (Entries: Array<{ Id: string; MessageBody: string }>) => sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries }));
      assert.equal((await rejection(send([]))).name, 'EmptyBatchRequest');
      assert.equal((await rejection(send(Array.from({ length: 11 }, (_, i) => ({ Id: `i${i}`, MessageBody: 'x' }))))).name, 'TooManyEntriesInBatchRequest');
      assert.equal((await rejection(send([{ Id: 'a', MessageBody: 'x' }, { Id: 'a', MessageBody: 'y' }]))).name, 'BatchEntryIdsNotDistinct');
      assert.equal((await rejection(send([{ Id: 'a b', MessageBody: 'x' }]))).name, 'InvalidBatchEntryId');
      // AWS: the batch's total payload may be 1 MiB (not the old 256 KiB)
      const fits = Array.from({ length: 5 }, (_, i) => ({ Id: `f${i}`, MessageBody: 'z'.repeat(200_000) }));
      assert.equal((await send(fits)).Successful?.length, 5);
      const big = Array.from({ length: 6 }, (_, i) => ({ Id: `b${i}`, MessageBody: 'z'.repeat(200_000) }));
      assert.equal((await rejection(send(big))).name, 'BatchRequestTooLong');
      const e = await rejection(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: [] })));
      assert.equal(e.name, 'EmptyBatchRequest');
      assert.equal(e.Code, 'AWS.SimpleQueueService.EmptyBatchRequest');
    });

    it('ReceiveMessage returns up to MaxNumberOfMessages at once', async () => {
      const url = await create('many');
      await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: `body${i}` })) }));
      const r = await receive(url, { MaxNumberOfMessages: 10 });
      assert.equal(r.Messages!.length, 10);
      assert.deepEqual(
        r.Messages!.map((m) => m.Body),
        Array.from({ length: 10 }, (_, i) => `body${i}`),
      );
      const r2 = await receive(url);
      assert.equal(r2.Messages, undefined);
      await eventually(async () => (await attrs(url)).ApproximateNumberOfMessagesNotVisible === '10');
    });
  });
});
