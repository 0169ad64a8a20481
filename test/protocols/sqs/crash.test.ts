/**
 * SQS across SIGKILL of a real `wharf start` process (the AWS SDK v3 as the client): what a receive told the client
 * survives — its visibility timeout too — and what no receive ever returned is not counted as received.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChangeMessageVisibilityCommand, CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { kill9, startWharf } from '../../helpers/wharf-process.js';

const CREDS = { accessKeyId: 'AKIDCRASH', secretAccessKey: 'crash-secret' };


describe('SQS across SIGKILL of `wharf start`', function () {
  this.timeout(120_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let sqs: SQSClient | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-sqs-crash-'));
  });
  afterEach(async () => {
    sqs?.destroy();
    if (child) await kill9(child);
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (port: number) => (sqs = new SQSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: CREDS, maxAttempts: 1 }));
  const receiveAll = async (c: SQSClient, url: string): Promise<Message[]> => {
    const out: Message[] = [];
    for (;;) {
      const r = await c.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, AttributeNames: ['All'], VisibilityTimeout: 300 }));
      if (!r.Messages?.length) return out;
      out.push(...r.Messages);
    }
  };

  it("messages the broker only fetched ahead come back with ApproximateReceiveCount 1; the one a receive returned stays invisible; FIFO dedup ids are remembered", async () => {
    let b = await startWharf(dir);
    child = b.child;
    let c = client(b.ports['sqs']!);
    const { QueueUrl: url } = await c.send(new CreateQueueCommand({ QueueName: 'crash-ra', Attributes: { VisibilityTimeout: '300' } }));
    for (let i = 0; i < 5; i++) await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
    // one receive of one message: the broker fetches the others ahead for the receives to come
    const first = await c.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    assert.equal(first.Messages?.length, 1);
    const receivedBody = first.Messages![0]!.Body!;
    const { QueueUrl: fifo } = await c.send(new CreateQueueCommand({ QueueName: 'crash-dedup.fifo', Attributes: { FifoQueue: 'true' } }));
    const sent = await c.send(new SendMessageCommand({ QueueUrl: fifo, MessageBody: 'once', MessageGroupId: 'g', MessageDeduplicationId: 'd-1' }));
    // that send was confirmed after its commit, which came after the receive's: everything above is on disk
    await kill9(b.child);

    b = await startWharf(dir);
    child = b.child;
    c.destroy();
    c = client(b.ports['sqs']!);
    const at = (u: string) => u.replace(/:\d+\//, `:${b.ports['sqs']}/`);
    const back = await receiveAll(c, at(url!));
    const counts = Object.fromEntries(back.map((m) => [m.Body!, m.Attributes!.ApproximateReceiveCount]));
    const others = ['m0', 'm1', 'm2', 'm3', 'm4'].filter((b) => b !== receivedBody);
    assert.deepEqual(Object.keys(counts).sort(), others, 'every message is back but the one in flight at the kill (its 300 s visibility timeout runs)');
    for (const [body, n] of Object.entries(counts)) assert.equal(n, '1', `${body}: ApproximateReceiveCount`);
    for (const m of back) await c.send(new DeleteMessageCommand({ QueueUrl: at(url!), ReceiptHandle: m.ReceiptHandle! }));

    // the deduplication id is remembered across the restart: the same MessageId, no second copy
    const again = await c.send(new SendMessageCommand({ QueueUrl: at(fifo!), MessageBody: 'once', MessageGroupId: 'g', MessageDeduplicationId: 'd-1' }));
    assert.equal(again.MessageId, sent.MessageId);
    assert.deepEqual((await receiveAll(c, at(fifo!))).map((m) => m.Body), ['once']);
  });

  it('a visibility timeout outlives SIGKILL and a graceful stop: the message stays hidden until it ends, then comes back counted twice; released or deleted ones do not; FIFO keeps its group order instead', async () => {
    let b = await startWharf(dir);
    child = b.child;
    let c = client(b.ports['sqs']!);
    const { QueueUrl: url } = await c.send(new CreateQueueCommand({ QueueName: 'crash-vis' }));
    const { QueueUrl: shortUrl } = await c.send(new CreateQueueCommand({ QueueName: 'crash-vis-short' }));
    const { QueueUrl: changedUrl } = await c.send(new CreateQueueCommand({ QueueName: 'crash-vis-changed' }));
    const receiveOne = async (u: string, visibility: number): Promise<Message> => {
      const r = await c.send(new ReceiveMessageCommand({ QueueUrl: u, MaxNumberOfMessages: 1, VisibilityTimeout: visibility, AttributeNames: ['All'] }));
      assert.equal(r.Messages?.length, 1);
      return r.Messages![0]!;
    };
    // one message a receive at a time (each received before the next is sent: nothing else to fetch ahead)
    await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'hidden' }));
    assert.equal((await receiveOne(url!, 600)).Body, 'hidden');
    await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'deleted' }));
    const deleted = await receiveOne(url!, 600);
    assert.equal(deleted.Body, 'deleted');
    await c.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: deleted.ReceiptHandle! }));
    await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'released' }));
    const released = await receiveOne(url!, 600);
    assert.equal(released.Body, 'released');
    await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: released.ReceiptHandle!, VisibilityTimeout: 0 }));
    await c.send(new SendMessageCommand({ QueueUrl: shortUrl, MessageBody: 'short' }));
    assert.equal((await receiveOne(shortUrl!, 3)).Body, 'short');
    await c.send(new SendMessageCommand({ QueueUrl: changedUrl, MessageBody: 'changed' }));
    const changed = await receiveOne(changedUrl!, 600);
    await c.send(new ChangeMessageVisibilityCommand({ QueueUrl: changedUrl, ReceiptHandle: changed.ReceiptHandle!, VisibilityTimeout: 3 }));
    // FIFO: visible at once after the restart, so its group's later message cannot overtake it
    const { QueueUrl: fifoUrl } = await c.send(new CreateQueueCommand({ QueueName: 'crash-vis.fifo', Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' } }));
    for (const body of ['f1', 'f2']) await c.send(new SendMessageCommand({ QueueUrl: fifoUrl, MessageBody: body, MessageGroupId: 'g' }));
    assert.equal((await receiveOne(fifoUrl!, 600)).Body, 'f1');
    // confirmed after its commit, which came after those of everything above (the store commits in order)
    await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'waiting' }));
    await kill9(b.child);

    b = await startWharf(dir);
    child = b.child;
    c.destroy();
    c = client(b.ports['sqs']!);
    let at = (u: string) => u.replace(/:\d+\//, `:${b.ports['sqs']}/`);
    const back = await receiveAll(c, at(url!));
    const counts = Object.fromEntries(back.map((m) => [m.Body!, m.Attributes!.ApproximateReceiveCount]));
    assert.deepEqual(counts, { released: '2', waiting: '1' }, 'the message whose 600 s visibility timeout runs stays hidden; the released one is visible; the deleted one stays deleted');
    const fifoBack = await receiveAll(c, at(fifoUrl!));
    assert.deepEqual(fifoBack.map((m) => [m.Body, m.Attributes!.ApproximateReceiveCount]), [['f1', '2'], ['f2', '1']]);
    // the short timeouts end: those messages come back, received once before
    for (const u of [shortUrl!, changedUrl!]) {
      let m: Message | undefined;
      while (!m) m = (await c.send(new ReceiveMessageCommand({ QueueUrl: at(u), WaitTimeSeconds: 5, VisibilityTimeout: 600, AttributeNames: ['All'] }))).Messages?.[0];
      assert.equal(m.Attributes!.ApproximateReceiveCount, '2', `${m.Body}: ApproximateReceiveCount`);
    }
    // the received ones are in flight again (600 s): a graceful stop keeps that too
    await c.send(new SendMessageCommand({ QueueUrl: at(url!), MessageBody: 'after-stop' }));
    const exited = once(b.child, 'exit');
    b.child.kill('SIGTERM');
    await exited;
    b = await startWharf(dir);
    child = b.child;
    c.destroy();
    c = client(b.ports['sqs']!);
    at = (u: string) => u.replace(/:\d+\//, `:${b.ports['sqs']}/`);
    assert.deepEqual((await receiveAll(c, at(url!))).map((m) => m.Body), ['after-stop']);
    assert.deepEqual(await receiveAll(c, at(shortUrl!)), []);
    assert.deepEqual(await receiveAll(c, at(changedUrl!)), []);
  });
});
