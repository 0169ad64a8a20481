/**
 * SQS throughput benchmark.
 *
 *   npm run bench -- sqs [--seconds 5] [--clients 4] [--size 1024] [--sdk-seconds 5] [--no-sdk] [--no-fauxqs] [--nosync] [--profile DIR]
 *   npx tsx bench/sqs.ts ...        (without a build)
 *
 * A real Broker runs in a child process with only the SQS/SNS listener, SigV4 verification against a configured
 * key, and an fsync'd store (unless --nosync). In this process:
 *
 *  1. load generator (undici keep-alive pools, requests signed with SigV4 here, JSON protocol):
 *     `clients` producers loop SendMessageBatch (10 × `size` bytes) for `seconds`; then `clients` consumers loop
 *     ReceiveMessage (10, long poll) + DeleteMessageBatch until everything sent was deleted.
 *  2. the same with `@aws-sdk/client-sqs` (one SQSClient per client), for comparison.
 *  3. the same SDK workload against the npm SQS emulator `fauxqs` (devDependency, pinned; 1.9.2 is the last release
 *     that runs on Node 20), started with its `startFauxqs()` in its own child process (in memory, no auth), so
 *     both servers are measured in the same run with the same client.
 *
 * Reported per phase: messages/s, p50/p99 request latency, and the broker process's CPU time per message.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const self = fileURLToPath(import.meta.url);
const KEY = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const REGION = 'us-east-1';

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { Broker } = await import('../src/broker.js');
  const { parseConfig } = await import('../src/config.js');
  const { silentLogger } = await import('../src/log.js');
  const { sqsHttpModule } = await import('../protocols/sqs/index.js');
  const off = { enabled: false };
  const config = parseConfig({
    dataDir,
    store: { noSync },
    log: { level: 'silent' },
    sqs: { credentials: [KEY] },
    listeners: { sqs: { host: '127.0.0.1', port: 0 }, stomp: off, ws: off, openwire: off, amqp: off, mqtt: off, admin: off },
  });
  const broker = new Broker(config, { protocols: [], http: [sqsHttpModule], logger: silentLogger() });
  await broker.start();
  process.send!({ port: broker.listenerAddresses().sqs!.port });
  process.on('message', async (m: { stop?: boolean; cpu?: boolean }) => {
    if (m.cpu) {
      const u = process.cpuUsage();
      const st = (broker.engine.store as unknown as { stats?: { transactions: number } }).stats;
      if (process.env.BENCH_DEBUG) console.error(`  [broker] LMDB transactions so far: ${st?.transactions}, t=${(performance.now() / 1000).toFixed(2)} s`);
      process.send!({ cpu: u.user + u.system });
      return;
    }
    if (!m.stop) return;
    await broker.stop();
    process.send!({ stopped: true });
    process.disconnect();
    setImmediate(() => process.exit(0));
  });
}

/** fauxqs in a child process of its own, answering the same IPC messages as the broker child. */
async function fauxqsChild(): Promise<void> {
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  process.send!({ port: server.port });
  process.on('message', async (m: { stop?: boolean; cpu?: boolean }) => {
    if (m.cpu) {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
      return;
    }
    if (!m.stop) return;
    await server.stop();
    process.send!({ stopped: true });
    process.disconnect();
    setImmediate(() => process.exit(0));
  });
}

function ask<T>(child: ChildProcess, msg: Record<string, unknown>, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      child.off('message', on);
      resolve(m[key] as T);
    };
    child.on('message', on);
    child.send(msg);
  });
}

// ------------------------------------------------------------------------------------------- SigV4 signing client

const hex = (b: Buffer) => b.toString('hex');
const sha256 = (d: string | Buffer) => createHash('sha256').update(d).digest('hex');
const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();

class SignedClient {
  private readonly pool: Pool;
  private readonly host: string;
  private keyDate = '';
  private key: Buffer = Buffer.alloc(0);

  constructor(port: number) {
    this.host = `127.0.0.1:${port}`;
    this.pool = new Pool(`http://${this.host}`, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  private signingKey(date: string): Buffer {
    if (date !== this.keyDate) {
      this.keyDate = date;
      this.key = hmac(hmac(hmac(hmac('AWS4' + KEY.secretAccessKey, date), REGION), 'sqs'), 'aws4_request');
    }
    return this.key;
  }

  async call(action: string, input: unknown): Promise<Record<string, unknown>> {
    const body = JSON.stringify(input);
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    const target = `AmazonSQS.${action}`;
    const ctype = 'application/x-amz-json-1.0';
    const signed = 'content-type;host;x-amz-date;x-amz-target';
    const creq = `POST\n/\n\ncontent-type:${ctype}\nhost:${this.host}\nx-amz-date:${amzDate}\nx-amz-target:${target}\n\n${signed}\n${sha256(body)}`;
    const scope = `${date}/${REGION}/sqs/aws4_request`;
    const sts = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(creq)}`;
    const sig = hex(hmac(this.signingKey(date), sts));
    const res = await this.pool.request({
      path: '/',
      method: 'POST',
      headers: {
        'content-type': ctype,
        'x-amz-date': amzDate,
        'x-amz-target': target,
        authorization: `AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${sig}`,
      },
      body,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${action}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

// ------------------------------------------------------------------------------------------- phases

interface Phase {
  name: string;
  messages: number;
  seconds: number;
  latencies: number[];
  cpuMicros: number;
  /** This process's (the load generator's) CPU time. */
  clientCpuMicros: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

type Caller = { call(action: string, input: Record<string, unknown>): Promise<Record<string, unknown>>; close(): Promise<void> };

async function sendPhase(name: string, clients: Caller[], url: string, body: string, seconds: number, child: ChildProcess): Promise<Phase> {
  const latencies: number[] = [];
  let messages = 0;
  const cpu0 = await ask<number>(child, { cpu: true }, 'cpu');
  const c0 = cpuNow();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    clients.map(async (c, ci) => {
      let n = 0;
      while (performance.now() < end) {
        const Entries = Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: body, MessageAttributes: { n: { DataType: 'Number', StringValue: String(ci * 1e9 + n * 10 + i) } } }));
        const s = performance.now();
        const r = await c.call('SendMessageBatch', { QueueUrl: url, Entries });
        latencies.push(performance.now() - s);
        const failed = (r.Failed as unknown[] | undefined) ?? [];
        if (failed.length) throw new Error(`SendMessageBatch failures: ${JSON.stringify(failed).slice(0, 300)}`);
        messages += ((r.Successful as unknown[] | undefined) ?? []).length;
        n++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await ask<number>(child, { cpu: true }, 'cpu');
  return { name, messages, seconds: elapsed, latencies, cpuMicros: cpu1 - cpu0, clientCpuMicros: cpuNow() - c0 };
}

async function receivePhase(name: string, clients: Caller[], url: string, expected: number, child: ChildProcess, maxSeconds = 120, pipelined = false): Promise<Phase> {
  const latencies: number[] = [];
  const recvLat: number[] = [];
  const delLat: number[] = [];
  let empty = 0;
  let messages = 0;
  const cpu0 = await ask<number>(child, { cpu: true }, 'cpu');
  const c0 = cpuNow();
  const t0 = performance.now();
  const end = t0 + maxSeconds * 1000;
  await Promise.all(
    clients.map(async (c) => {
      let pending: Promise<void> = Promise.resolve();
      while (messages + (pipelined ? 10 : 0) < expected && performance.now() < end) {
        const s = performance.now();
        const r = await c.call('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 120 });
        latencies.push(performance.now() - s);
        recvLat.push(performance.now() - s);
        const msgs = (r.Messages as Array<{ ReceiptHandle: string }> | undefined) ?? [];
        if (msgs.length < 10) empty++;
        if (msgs.length === 0) continue;
        const del = async () => {
          const t = performance.now();
          const d = await c.call('DeleteMessageBatch', { QueueUrl: url, Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) });
          latencies.push(performance.now() - t);
          delLat.push(performance.now() - t);
          const failed = (d.Failed as unknown[] | undefined) ?? [];
          if (failed.length) throw new Error(`DeleteMessageBatch failures: ${JSON.stringify(failed).slice(0, 300)}`);
          messages += msgs.length;
        };
        if (pipelined) {
          // the delete of this batch overlaps the next receive; at most one delete outstanding per consumer
          await pending;
          pending = del();
        } else await del();
      }
      await pending;
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await ask<number>(child, { cpu: true }, 'cpu');
  if (process.env.BENCH_DEBUG && Number.isFinite(expected)) {
    const p = (a: number[]) => pct([...a].sort((x, y) => x - y), 50).toFixed(2);
    console.error(`  ${name}: receive p50 ${p(recvLat)} ms, delete p50 ${p(delLat)} ms, receives with < 10 messages: ${empty} of ${recvLat.length}`);
  }
  if (messages < expected && Number.isFinite(expected)) console.error(`  warning: ${name}: only ${messages} of ${expected} messages received`);
  return { name, messages, seconds: elapsed, latencies, cpuMicros: cpu1 - cpu0, clientCpuMicros: cpuNow() - c0 };
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(p: Phase): string {
  const s = [...p.latencies].sort((a, b) => a - b);
  return `${p.name.padEnd(34)} ${Math.round(p.messages / p.seconds).toString().padStart(8)} ${String(p.messages).padStart(9)} ${pct(s, 50).toFixed(1).padStart(8)} ${pct(s, 99).toFixed(1).padStart(8)} ${(p.cpuMicros / Math.max(1, p.messages)).toFixed(1).padStart(13)} ${((100 * p.cpuMicros) / 1e6 / p.seconds).toFixed(0).padStart(9)}% ${((100 * p.clientCpuMicros) / 1e6 / p.seconds).toFixed(0).padStart(9)}%`;
}

async function sdkClients(port: number, n: number): Promise<Caller[]> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sqs = await import('@aws-sdk/client-sqs');
  const out: Caller[] = [];
  for (let i = 0; i < n; i++) {
    const client = new sqs.SQSClient({ endpoint: `http://127.0.0.1:${port}`, region: REGION, credentials: { ...KEY }, maxAttempts: 1 });
    const commands: Record<string, new (input: never) => unknown> = {
      SendMessageBatch: sqs.SendMessageBatchCommand as never,
      ReceiveMessage: sqs.ReceiveMessageCommand as never,
      DeleteMessageBatch: sqs.DeleteMessageBatchCommand as never,
      CreateQueue: sqs.CreateQueueCommand as never,
    };
    out.push({
      async call(action, input) {
        const C = commands[action]!;
        return (await client.send(new C(input as never) as never)) as unknown as Record<string, unknown>;
      },
      async close() {
        client.destroy();
      },
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------------- main

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      'sdk-seconds': { type: 'string', default: '5' },
      clients: { type: 'string', default: '4' },
      size: { type: 'string', default: '1024' },
      'no-sdk': { type: 'boolean', default: false },
      'no-fauxqs': { type: 'boolean', default: false },
      nosync: { type: 'boolean', default: false },
      profile: { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const dataDir = fs.mkdtempSync(path.join(a.dir ?? os.tmpdir(), 'wharf-bench-sqs-'));
  const execArgv = [...process.execArgv];
  if (a.profile) {
    fs.mkdirSync(a.profile, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(a.profile)}`);
  }
  const child: ChildProcess = fork(self, ['--broker-child', dataDir, a.nosync ? 'nosync' : 'sync'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`broker child exited with ${code}`)));
  });
  const nClients = Number(a.clients);
  const size = Number(a.size);
  const body = 'x'.repeat(size);
  console.log(
    `SQS bench: broker in a child process (${a.nosync ? 'store.noSync: NO fsync' : 'fsync on every commit'}, SigV4 verified), JSON protocol; ` +
      `${nClients} producers × SendMessageBatch(10 × ${size} B), then ${nClients} consumers × ReceiveMessage(10, long poll) + DeleteMessageBatch; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  const phases: Phase[] = [];

  // 1. undici load generator
  const signed = Array.from({ length: nClients }, () => new SignedClient(port));
  const url = ((await signed[0]!.call('CreateQueue', { QueueName: 'bench' })) as { QueueUrl: string }).QueueUrl;
  // warm-up
  await sendPhase('warm-up', signed, url, body, 0.5, child);
  await receivePhase('warm-up', signed, url, Infinity, child, 1.5);
  const sent = await sendPhase('undici: SendMessageBatch', signed, url, body, Number(a.seconds), child);
  phases.push(sent);
  if (process.env.BENCH_SEND_ONLY) {
    child.send({ stop: true });
    await new Promise((r) => child.once('exit', r));
    for (const p of phases) console.log(report(p));
    return;
  }
  phases.push(await receivePhase('undici: Receive + DeleteMessageBatch', signed, url, sent.messages, child));
  // again, with each consumer's DeleteMessageBatch overlapping its next ReceiveMessage
  const sent2 = await sendPhase('undici: SendMessageBatch (again)', signed, url, body, Number(a.seconds), child);
  phases.push(sent2);
  phases.push(await receivePhase('undici: Receive + pipelined Delete', signed, url, sent2.messages, child, 120, true));
  await receivePhase('drain', signed, url, Infinity, child, 1.5);
  await Promise.all(signed.map((c) => c.close()));

  // 2. the AWS SDK
  if (!a['no-sdk']) {
    const sdk = await sdkClients(port, nClients);
    const url2 = ((await sdk[0]!.call('CreateQueue', { QueueName: 'bench-sdk' })) as { QueueUrl: string }).QueueUrl;
    await sendPhase('warm-up', sdk, url2, body, 0.5, child);
    await receivePhase('warm-up', sdk, url2, Infinity, child, 1.5);
    const s2 = await sendPhase('aws-sdk: SendMessageBatch', sdk, url2, body, Number(a['sdk-seconds']), child);
    phases.push(s2);
    phases.push(await receivePhase('aws-sdk: Receive + DeleteMessageBatch', sdk, url2, s2.messages, child));
    await Promise.all(sdk.map((c) => c.close()));
  }
  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));

  // 3. the same SDK workload against fauxqs
  if (!a['no-sdk'] && !a['no-fauxqs']) {
    const fq: ChildProcess = fork(self, ['--fauxqs-child'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      const fqPort = await new Promise<number>((resolve, reject) => {
        fq.once('message', (m: { port: number }) => resolve(m.port));
        fq.once('exit', (code) => reject(new Error(`fauxqs child exited with ${code}`)));
      });
      const sdk = await sdkClients(fqPort, nClients);
      const url3 = ((await sdk[0]!.call('CreateQueue', { QueueName: 'bench-sdk' })) as { QueueUrl: string }).QueueUrl;
      await sendPhase('warm-up', sdk, url3, body, 0.5, fq);
      await receivePhase('warm-up', sdk, url3, Infinity, fq, 1.5);
      const s3 = await sendPhase('fauxqs aws-sdk: SendMessageBatch', sdk, url3, body, Number(a['sdk-seconds']), fq);
      phases.push(s3);
      phases.push(await receivePhase('fauxqs aws-sdk: Receive + Delete', sdk, url3, s3.messages, fq));
      await Promise.all(sdk.map((c) => c.close()));
    } catch (err) {
      console.error(`  fauxqs run failed: ${(err as Error).message}`);
    } finally {
      fq.send({ stop: true });
      await new Promise((r) => (fq.exitCode !== null ? r(undefined) : fq.once('exit', r)));
    }
  }

  console.log(`\n${'phase'.padEnd(34)} ${'msgs/s'.padStart(8)} ${'messages'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'broker µs/msg'.padStart(13)} ${'broker CPU'.padStart(10)} ${'client CPU'.padStart(10)}`);
  for (const p of phases) console.log(report(p));
  console.log('\n(latency is per HTTP request; broker µs/msg is the server process\'s user+system CPU time per message (Wharf, or fauxqs in the fauxqs rows); CPU % of one core)');
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (a.profile) console.log(`\nbroker CPU profile written to ${path.resolve(a.profile)}`);
}

if (process.argv[2] === '--broker-child') {
  await brokerChild(process.argv[3]!, process.argv[4] === 'nosync');
} else if (process.argv[2] === '--fauxqs-child') {
  await fauxqsChild();
} else if (path.resolve(process.argv[1] ?? '') === self) {
  await run(process.argv.slice(2));
}
