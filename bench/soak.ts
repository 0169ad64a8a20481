/**
 * Soak: does the broker's memory stay flat under hours of mixed traffic and connection churn?
 *   npm run bench -- soak [--minutes 5] [--every 20]
 *
 * Starts `wharf start` (the compiled CLI, every listener on 127.0.0.1:0, fsync'd store) and runs at once, with
 * consumers keeping up so the queues stay near empty:
 *  - STOMP: one producer with a receipt per persistent SEND to a queue, one auto-ack consumer;
 *  - STOMP churn: connect, 5 persistent SENDs, DISCONNECT, again and again (drained by another consumer);
 *  - MQTT: a persistent QoS 1 subscriber on `soak/#`; publishers connect, send 50 QoS 1 messages, disconnect;
 *  - SQS: SendMessageBatch (10 × 300 B) with a short pause; 3 receivers doing ReceiveMessage + DeleteMessageBatch.
 * Every `every` seconds it prints the broker's heap, external memory, RSS, store size and queue depths (from its
 * own /metrics) and the message counts so far. A leak shows as RSS and heap minima that keep rising while the
 * depths stay near zero.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { Stompit } from '../test/protocols/stomp/helpers.js';
import { startWharf } from '../test/helpers/wharf-process.js';
import { removeDir, sleep, tempDir } from './lib.js';

export async function run(): Promise<void> {
  const { values: a } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, every: { type: 'string', default: '20' } } });
  const dir = tempDir('soak');
  const { child, ports } = await startWharf(path.join(dir, 'data'));
  child.stderr!.pipe(process.stderr);
  const sample = async () => {
    const t = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
    const metric = (re: string) => Number(t.match(new RegExp(`^${re} (\\S+)`, 'm'))?.[1]);
    const mb = (n: string) => (metric(n) / 1048576).toFixed(1);
    const depth = (q: string) => metric(`wharf_destination_messages\\{[^}]*name="${q}"[^}]*\\}`) || 0;
    return `heap ${mb('wharf_nodejs_heap_size_used_bytes')} MB, external ${mb('wharf_nodejs_external_memory_bytes')} MB, RSS ${mb('wharf_process_resident_memory_bytes')} MB, store ${mb('wharf_store_size_bytes')} MB; depth stomp ${depth('soak.s')} sqs ${depth('soak-sqs')}`;
  };

  let stop = false;
  const counts = { stomp: 0, churn: 0, mqtt: 0, sqs: 0 };
  const loops: Promise<void>[] = [];
  const loop = (body: () => Promise<void>) =>
    loops.push(
      (async () => {
        while (!stop) await body();
      })().catch((err: Error) => {
        if (!stop) console.error(`soak: a load loop failed: ${err.message}`);
      }),
    );

  // stompit leaves Nagle on: each SEND's body would wait ~40 ms for the broker's delayed ACK
  const stompClient = async () => {
    const c = await Stompit.connect({ port: ports.stomp });
    (c.client as unknown as { getTransportSocket(): { setNoDelay(on: boolean): void } }).getTransportSocket().setNoDelay(true);
    return c;
  };
  const stomp = await stompClient();
  const inbox = await stomp.subscribe('/queue/soak.s', { ack: 'auto' });
  const drain = await stompClient();
  const churned = await drain.subscribe('/queue/soak.churn', { ack: 'auto' });
  const forget = setInterval(() => {
    inbox.items.length = 0;
    churned.items.length = 0;
  }, 1000);
  loop(async () => {
    await stomp.send('/queue/soak.s', 'x'.repeat(200), { persistent: 'true' });
    counts.stomp++;
  });
  loop(async () => {
    const c = await stompClient();
    for (let i = 0; i < 5; i++) await c.send('/queue/soak.churn', 'y', { persistent: 'true' });
    await c.disconnect();
    counts.churn++;
  });

  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: 'soak-sub', clean: false, reconnectPeriod: 0 });
  await sub.subscribeAsync('soak/#', { qos: 1 });
  loop(async () => {
    const p = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: `soak-pub-${counts.mqtt % 50}`, reconnectPeriod: 0 });
    for (let i = 0; i < 50; i++) await p.publishAsync(`soak/t${i % 5}`, 'z'.repeat(100), { qos: 1 });
    counts.mqtt += 50;
    await p.endAsync();
  });

  const sqs = new SQSClient({ endpoint: `http://127.0.0.1:${ports.sqs}`, region: 'us-east-1', credentials: { accessKeyId: 'soak', secretAccessKey: 'soak' }, maxAttempts: 1 });
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'soak-sqs' }));
  loop(async () => {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: 'q'.repeat(300) })) }));
    counts.sqs += 10;
    await sleep(4);
  });
  for (let k = 0; k < 3; k++) {
    loop(async () => {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      if (r.Messages?.length) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    });
  }

  console.log(`soak: ${a.minutes} min of STOMP, STOMP churn, MQTT QoS 1 with client churn and SQS; broker pid ${child.pid}`);
  const t0 = Date.now();
  while (Date.now() - t0 < Number(a.minutes) * 60_000) {
    await sleep(Number(a.every) * 1000);
    console.log(`${String(Math.round((Date.now() - t0) / 1000)).padStart(5)} s  ${await sample()}  sent: ${JSON.stringify(counts)}`);
  }
  stop = true;
  clearInterval(forget);
  child.kill('SIGKILL');
  await Promise.race([Promise.allSettled(loops), sleep(3000)]);
  for (const c of [stomp, drain]) c.destroy();
  sub.end(true);
  sqs.destroy();
  removeDir(dir);
  process.exit(0);
}
