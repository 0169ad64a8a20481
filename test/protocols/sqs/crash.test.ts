/**
 * SQS across SIGKILL of a real `wharf start` process (the AWS SDK v3 as the client): what a receive told the client
 * survives, and what no receive ever returned is not counted as received.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { startWharf } from '../../helpers/wharf-process.js';

const CREDS = { accessKeyId: 'AKIDCRASH', secretAccessKey: 'crash-secret' };

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

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

  it("messages the broker only fetched ahead come back with ApproximateReceiveCount 1; the one a receive returned with 2; FIFO dedup ids are remembered", async () => {
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
    assert.deepEqual(Object.keys(counts).sort(), ['m0', 'm1', 'm2', 'm3', 'm4'], 'every message is back (the one in flight at the kill too)');
    for (const [body, n] of Object.entries(counts)) assert.equal(n, body === receivedBody ? '2' : '1', `${body}: ApproximateReceiveCount`);
    for (const m of back) await c.send(new DeleteMessageCommand({ QueueUrl: at(url!), ReceiptHandle: m.ReceiptHandle! }));

    // the deduplication id is remembered across the restart: the same MessageId, no second copy
    const again = await c.send(new SendMessageCommand({ QueueUrl: at(fifo!), MessageBody: 'once', MessageGroupId: 'g', MessageDeduplicationId: 'd-1' }));
    assert.equal(again.MessageId, sent.MessageId);
    assert.deepEqual((await receiveAll(c, at(fifo!))).map((m) => m.Body), ['once']);
  });
});
