/**
 * "Nothing lost" end to end: the real `wharf start` process takes acknowledged sends over STOMP (RECEIPT),
 * MQTT (PUBACK), AMQP 1.0 (accepted) and SQS (HTTP 200) from real client libraries, is killed with SIGKILL
 * mid-stream, restarted on the same data directory, and every acknowledged message must come back, once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, ReceiveMessageCommand, DeleteMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { kill9, startWharf } from './helpers/wharf-process.js';
import { Stompit } from './protocols/stomp/helpers.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const rhea: any = require('rhea');

const CREDS = { accessKeyId: 'AKIDCRASH', secretAccessKey: 'crash-secret' };
const WINDOW = 20;

interface Ports {
  stomp: number;
  mqtt: number;
  amqp: number;
  sqs: number;
}

/** `wharf start` in a child process, with the four listeners this test drives. */
async function startBroker(dataDir: string): Promise<{ child: ChildProcess; ports: Ports }> {
  const { child, ports: p } = await startWharf(dataDir);
  return { child, ports: { stomp: p.stomp, mqtt: p.mqtt, amqp: p.amqp, sqs: p.sqs } };
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one producer sent and which of those the broker acknowledged. */
class Ledger {
  readonly sent = new Set<string>();
  readonly acked = new Set<string>();
  constructor(readonly name: string) {}
}

/** Keep WINDOW sends outstanding until `stop()` says so; errors after the kill are expected and ignored. */
async function pump(ledger: Ledger, stop: () => boolean, sendOne: (id: string) => Promise<void>): Promise<void> {
  let n = 0;
  const worker = async () => {
    while (!stop()) {
      const id = `${ledger.name}-${n++}`;
      ledger.sent.add(id);
      try {
        await sendOne(id);
        ledger.acked.add(id);
      } catch {
        return; // the broker is gone
      }
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
}

function amqpSender(port: number, address: string) {
  const container = rhea.create_container({ id: `crash-${address}` });
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false });
  conn.on('error', () => undefined);
  conn.on('disconnected', () => {
    for (const [, p] of pending) p.reject(new Error('disconnected'));
    pending.clear();
  });
  const pending = new Map<unknown, { resolve: () => void; reject: (e: Error) => void }>();
  const sender = conn.open_sender({ target: { address } });
  const credit: Array<() => void> = [];
  sender.on('sendable', () => credit.splice(0).forEach((f) => f()));
  sender.on('accepted', (ctx: { delivery: unknown }) => {
    pending.get(ctx.delivery)?.resolve();
    pending.delete(ctx.delivery);
  });
  const settledOther = (ctx: { delivery: unknown }) => {
    pending.get(ctx.delivery)?.reject(new Error('not accepted'));
    pending.delete(ctx.delivery);
  };
  sender.on('rejected', settledOther);
  sender.on('released', settledOther);
  sender.on('modified', settledOther);
  return {
    async send(id: string): Promise<void> {
      while (!sender.sendable()) {
        if (conn.is_closed() || !conn.is_open?.()) {
          if (conn.is_closed()) throw new Error('closed');
        }
        await new Promise<void>((r) => {
          credit.push(r);
          setTimeout(r, 200);
        });
        if (conn.is_closed()) throw new Error('closed');
      }
      await new Promise<void>((resolve, reject) => {
        const d = sender.send({ message_id: id, body: id, durable: true });
        pending.set(d, { resolve, reject });
      });
    },
    close() {
      try {
        conn.close();
      } catch {
        /* already gone */
      }
    },
  };
}

describe('nothing acknowledged is lost when the broker process is killed (SIGKILL), over every protocol', function () {
  this.timeout(120_000);
  let dir: string;
  let child: ChildProcess | undefined;
  const closers: Array<() => void> = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-crash-protocols-'));
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) {
      try {
        c();
      } catch {
        /* closing after the kill */
      }
    }
    if (child) await kill9(child);
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('STOMP receipts, MQTT PUBACKs, AMQP accepted and SQS 200s all survive kill -9 and a restart, each message once', async () => {
    const data = path.join(dir, 'data');
    let b = await startBroker(data);
    child = b.child;
    const sqsEndpoint = (p: Ports) => `http://127.0.0.1:${p.sqs}`;

    // set up: the SQS queue, and an MQTT persistent session whose subscription keeps QoS 1 messages
    let sqs = new SQSClient({ endpoint: sqsEndpoint(b.ports), region: 'us-east-1', credentials: CREDS, maxAttempts: 1 });
    closers.push(() => sqs.destroy());
    const { QueueUrl: queueUrl0 } = await sqs.send(new CreateQueueCommand({ QueueName: 'crash-sqs' }));
    const sub0 = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.ports.mqtt}`, { clientId: 'crash-sub', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    await sub0.subscribeAsync('crash/mqtt', { qos: 1 });
    await sub0.endAsync();

    // load on all four protocols at once
    const ledgers = { stomp: new Ledger('stomp'), mqtt: new Ledger('mqtt'), amqp: new Ledger('amqp'), sqs: new Ledger('sqs') };
    let stopped = false;
    const stop = () => stopped;

    const stomp = await Stompit.connect({ port: b.ports.stomp });
    closers.push(() => stomp.destroy());
    stomp.client.on('error', () => undefined);
    stomp.client.setMaxListeners(WINDOW + 10); // one error listener per outstanding frame
    // stompit leaves Nagle on: each SEND's body would wait ~40 ms for the broker's delayed ACK
    (stomp.client as unknown as { getTransportSocket(): { setNoDelay(on: boolean): void } }).getTransportSocket().setNoDelay(true);
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.ports.mqtt}`, { clientId: 'crash-pub', clean: true, protocolVersion: 4, reconnectPeriod: 0 });
    pub.on('error', () => undefined);
    closers.push(() => pub.end(true));
    const amqp = amqpSender(b.ports.amqp, 'crash.amqp');
    closers.push(() => amqp.close());

    const pumps = Promise.all([
      pump(ledgers.stomp, stop, (id) => stomp.send('/queue/crash.stomp', id, { persistent: 'true', id })),
      pump(ledgers.mqtt, stop, async (id) => {
        if (!pub.connected) throw new Error('disconnected');
        await pub.publishAsync('crash/mqtt', id, { qos: 1 });
      }),
      pump(ledgers.amqp, stop, (id) => amqp.send(id)),
      pump(ledgers.sqs, stop, async (id) => {
        await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl0, MessageBody: id }));
      }),
    ]);
    // wait until every protocol has had sends acknowledged, then a little longer, then kill
    const t0 = Date.now();
    while (Object.values(ledgers).some((l) => l.acked.size < 50) && Date.now() - t0 < 30_000) await sleep(20);
    await sleep(300);
    await kill9(b.child);
    stopped = true;
    pub.end(true);
    amqp.close();
    stomp.destroy();
    await Promise.race([pumps, sleep(15_000)]);
    for (const l of Object.values(ledgers)) assert.ok(l.acked.size >= 50, `${l.name}: ${l.acked.size} sends acknowledged before the kill`);

    // restart on the same data directory and read everything back
    b = await startBroker(data);
    child = b.child;
    const got: Record<keyof typeof ledgers, string[]> = { stomp: [], mqtt: [], amqp: [], sqs: [] };

    const reader = await Stompit.connect({ port: b.ports.stomp });
    closers.push(() => reader.destroy());
    const inboxS = await reader.subscribe('/queue/crash.stomp', { ack: 'auto' });
    const inboxA = await reader.subscribe('/queue/crash.amqp', { ack: 'auto' });
    // The session's queued messages follow the CONNACK at once: the handler is attached before the connection opens,
    // or MQTT.js would PUBACK (and the broker drop) the ones that arrive before connectAsync's promise resumes us.
    const sub = mqtt.connect(`mqtt://127.0.0.1:${b.ports.mqtt}`, { clientId: 'crash-sub', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    closers.push(() => sub.end(true));
    sub.on('message', (_t, payload) => got.mqtt.push(payload.toString()));
    await new Promise<void>((resolve, reject) => {
      sub.once('connect', () => resolve());
      sub.once('error', reject);
    });
    assert.equal(sub.connected, true);
    sqs.destroy();
    sqs = new SQSClient({ endpoint: sqsEndpoint(b.ports), region: 'us-east-1', credentials: CREDS, maxAttempts: 1 });
    const queueUrl = queueUrl0!.replace(/:\d+\//, `:${b.ports.sqs}/`);

    const deadline = Date.now() + 30_000;
    const complete = () => (Object.keys(ledgers) as Array<keyof typeof ledgers>).every((k) => [...ledgers[k].acked].every((id) => got[k].includes(id)));
    while (!complete() && Date.now() < deadline) {
      got.stomp = inboxS.items.map((m) => m.text);
      got.amqp = inboxA.items.map((m) => m.text);
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (r.Messages?.length) {
        for (const m of r.Messages) got.sqs.push(m.Body!);
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: r.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      } else await sleep(20);
    }
    await sleep(300); // anything that would come twice has time to show up
    got.stomp = inboxS.items.map((m) => m.text);
    got.amqp = inboxA.items.map((m) => m.text);

    for (const k of Object.keys(ledgers) as Array<keyof typeof ledgers>) {
      const l = ledgers[k];
      const missing = [...l.acked].filter((id) => !got[k].includes(id));
      assert.deepEqual(missing, [], `${k}: acknowledged before the kill but gone after the restart (${missing.length} of ${l.acked.size})`);
      const phantom = got[k].filter((id) => !l.sent.has(id));
      assert.deepEqual(phantom, [], `${k}: messages nobody sent`);
      assert.equal(new Set(got[k]).size, got[k].length, `${k}: no message delivered twice`);
    }
    console.log(`      ${Object.values(ledgers).map((l) => `${l.name}: ${l.acked.size} acknowledged of ${l.sent.size} sent, ${got[l.name as keyof typeof got].length} back`).join('; ')}`);
  });
});
