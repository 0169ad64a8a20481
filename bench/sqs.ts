/**
 * SQS throughput benchmark.
 *
 *   npm run bench -- sqs [--seconds 5] [--clients 4] [--size 1024] [--sdk-seconds 5] [--no-sdk] [--no-fauxqs] [--sdk-only] [--nosync] [--profile DIR]
 *   npm run bench -- sqs --per-request 2000 [--size 1024] [--no-fauxqs] [--nosync] [--profile DIR]
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
 * --per-request N: what one request costs the server, without concurrency: one SDK client does N GetQueueUrl, then N
 * SendMessageBatch (10 × `size` B), then N ReceiveMessage(10) + DeleteMessageBatch, one at a time, against Wharf and
 * then fauxqs; server and client CPU µs per request (the client's work is the same for both servers).
 *
 * BENCH_SEND_ONLY=1 stops each workload after its first send phase (for profiles of the send path).
 *
 * Reported per phase: messages/s, p50/p99 request latency, and the broker process's CPU time per message.
 */
import { createHash, createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { BROKER_OPTIONS, benchMain, brokerChildEntry, forkBrokerChild, formatTable, hostNote, Latencies, ownCpuMicros, serveBroker, serveParent, syncNote, withBrokerChild, type BrokerChild } from './lib.js';

const self = fileURLToPath(import.meta.url);
const KEY = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const REGION = 'us-east-1';

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { sqsHttpModule } = await import('../src/app/aws-module.js');
  await serveBroker({
    listener: 'sqs',
    dataDir,
    noSync,
    config: { sqs: { credentials: [KEY] } },
    modules: { http: [sqsHttpModule] },
    onCpu: (st) => {
      if (process.env.BENCH_DEBUG) console.error(`  [broker] LMDB so far: ${JSON.stringify(st)}, t=${(performance.now() / 1000).toFixed(2)} s`);
    },
  });
}

/** fauxqs in a child process of its own, answering the same IPC requests as the broker child. */
async function fauxqsChild(): Promise<void> {
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  serveParent({ port: server.port, stop: () => server.stop() });
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
  latencies: Latencies;
  cpuMicros: number;
  /** This process's (the load generator's) CPU time. */
  clientCpuMicros: number;
}

type Caller = { call(action: string, input: Record<string, unknown>): Promise<Record<string, unknown>>; close(): Promise<void> };

/** Times `work` (which counts into `ph` and stops by `ph.end`, `seconds` after the start), and the CPU of both processes. */
async function measured(name: string, child: BrokerChild, seconds: number, work: (ph: { messages: number; latencies: Latencies; end: number }) => Promise<void>): Promise<Phase> {
  const ph = { messages: 0, latencies: new Latencies(), end: 0 };
  const cpu0 = await child.cpuMicros();
  const c0 = ownCpuMicros();
  const t0 = performance.now();
  ph.end = t0 + seconds * 1000;
  await work(ph);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await child.cpuMicros();
  return { name, messages: ph.messages, seconds: elapsed, latencies: ph.latencies, cpuMicros: cpu1 - cpu0, clientCpuMicros: ownCpuMicros() - c0 };
}

async function sendPhase(name: string, clients: Caller[], url: string, body: string, seconds: number, child: BrokerChild): Promise<Phase> {
  return measured(name, child, seconds, async (ph) => {
    await Promise.all(
      clients.map(async (c, ci) => {
        let n = 0;
        while (performance.now() < ph.end) {
          const Entries = Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: body, MessageAttributes: { n: { DataType: 'Number', StringValue: String(ci * 1e9 + n * 10 + i) } } }));
          const s = performance.now();
          const r = await c.call('SendMessageBatch', { QueueUrl: url, Entries });
          ph.latencies.add(performance.now() - s);
          const failed = (r.Failed as unknown[] | undefined) ?? [];
          if (failed.length) throw new Error(`SendMessageBatch failures: ${JSON.stringify(failed).slice(0, 300)}`);
          ph.messages += ((r.Successful as unknown[] | undefined) ?? []).length;
          n++;
        }
      }),
    );
  });
}

async function receivePhase(name: string, clients: Caller[], url: string, expected: number, child: BrokerChild, maxSeconds = 120, pipelined = false): Promise<Phase> {
  const recvLat = new Latencies();
  const delLat = new Latencies();
  let empty = 0;
  const phase = await measured(name, child, maxSeconds, async (ph) => {
    await Promise.all(
      clients.map(async (c) => {
        let pending: Promise<void> = Promise.resolve();
        while (ph.messages + (pipelined ? 10 : 0) < expected && performance.now() < ph.end) {
          const s = performance.now();
          const r = await c.call('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 120 });
          ph.latencies.add(performance.now() - s);
          recvLat.add(performance.now() - s);
          const msgs = (r.Messages as Array<{ ReceiptHandle: string }> | undefined) ?? [];
          if (msgs.length < 10) empty++;
          if (msgs.length === 0) continue;
          const del = async () => {
            const t = performance.now();
            const d = await c.call('DeleteMessageBatch', { QueueUrl: url, Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) });
            ph.latencies.add(performance.now() - t);
            delLat.add(performance.now() - t);
            const failed = (d.Failed as unknown[] | undefined) ?? [];
            if (failed.length) throw new Error(`DeleteMessageBatch failures: ${JSON.stringify(failed).slice(0, 300)}`);
            ph.messages += msgs.length;
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
  });
  if (process.env.BENCH_DEBUG && Number.isFinite(expected)) {
    const p = (l: Latencies) => l.percentile(50).toFixed(2);
    console.error(`  ${name}: receive p50 ${p(recvLat)} ms, delete p50 ${p(delLat)} ms, receives with < 10 messages: ${empty} of ${recvLat.count}`);
  }
  if (phase.messages < expected && Number.isFinite(expected)) console.error(`  warning: ${name}: only ${phase.messages} of ${expected} messages received`);
  return phase;
}

/** The phases as a table: per HTTP request latency; broker and client CPU as % of one core. */
function report(phases: Phase[]): string {
  return formatTable(
    ['phase', 'msgs/s', 'messages', 'p50 ms', 'p99 ms', 'broker µs/msg', 'broker CPU', 'client CPU'],
    phases.map((p) => {
      const { p50, p99 } = p.latencies.summarize();
      return [
        p.name,
        Math.round(p.messages / p.seconds).toString(),
        String(p.messages),
        p50.toFixed(1),
        p99.toFixed(1),
        (p.cpuMicros / Math.max(1, p.messages)).toFixed(1),
        `${((100 * p.cpuMicros) / 1e6 / p.seconds).toFixed(0)}%`,
        `${((100 * p.clientCpuMicros) / 1e6 / p.seconds).toFixed(0)}%`,
      ];
    }),
  );
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
      GetQueueUrl: sqs.GetQueueUrlCommand as never,
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

/** The SDK workload against `server` (Wharf or fauxqs): queue `bench-sdk`, a warm-up, then a send and a receive phase (into `out`). */
async function sdkPhases(server: BrokerChild, nClients: number, body: string, seconds: number, names: [send: string, receive: string], out: Phase[]): Promise<void> {
  const sdk = await sdkClients(server.port, nClients);
  const url = ((await sdk[0]!.call('CreateQueue', { QueueName: 'bench-sdk' })) as { QueueUrl: string }).QueueUrl;
  await sendPhase('warm-up', sdk, url, body, 0.5, server);
  await receivePhase('warm-up', sdk, url, Infinity, server, 1.5);
  const sent = await sendPhase(names[0], sdk, url, body, seconds, server);
  out.push(sent);
  if (!process.env.BENCH_SEND_ONLY) out.push(await receivePhase(names[1], sdk, url, sent.messages, server));
  await Promise.all(sdk.map((c) => c.close()));
}

/** Wharf's own SigV4-signing undici client: send, receive + delete, then the same with pipelined deletes. 'stop' with BENCH_SEND_ONLY after the first send. */
async function undiciPhases(child: BrokerChild, nClients: number, body: string, seconds: number, phases: Phase[]): Promise<'stop' | void> {
  const signed = Array.from({ length: nClients }, () => new SignedClient(child.port));
  try {
    const url = ((await signed[0]!.call('CreateQueue', { QueueName: 'bench' })) as { QueueUrl: string }).QueueUrl;
    await sendPhase('warm-up', signed, url, body, 0.5, child);
    await receivePhase('warm-up', signed, url, Infinity, child, 1.5);
    const sent = await sendPhase('undici: SendMessageBatch', signed, url, body, seconds, child);
    phases.push(sent);
    if (process.env.BENCH_SEND_ONLY) return 'stop';
    phases.push(await receivePhase('undici: Receive + DeleteMessageBatch', signed, url, sent.messages, child));
    // again, with each consumer's DeleteMessageBatch overlapping its next ReceiveMessage
    const sent2 = await sendPhase('undici: SendMessageBatch (again)', signed, url, body, seconds, child);
    phases.push(sent2);
    phases.push(await receivePhase('undici: Receive + pipelined Delete', signed, url, sent2.messages, child, 120, true));
    await receivePhase('drain', signed, url, Infinity, child, 1.5);
  } finally {
    await Promise.all(signed.map((c) => c.close()));
  }
}

/** One SDK phase as `npm run bench -- compare` shows it: msgs/s, per-request p50/p99 ms, server and client CPU µs per message. */
export interface SdkFigures {
  msgsPerSec: number;
  p50: number;
  p99: number;
  brokerUs: number;
  clientUs: number;
}

const figures = (p: Phase): SdkFigures => {
  const { p50, p99 } = p.latencies.summarize();
  const n = Math.max(1, p.messages);
  return { msgsPerSec: p.messages / p.seconds, p50, p99, brokerUs: p.cpuMicros / n, clientUs: p.clientCpuMicros / n };
};

/**
 * The AWS SDK workload (`clients` producers × SendMessageBatch(10 × `size` B), then `clients` consumers × Receive +
 * DeleteMessageBatch) against Wharf (fsync'd store, SigV4 verified) and then fauxqs, for `npm run bench -- compare`'s
 * table. A server that cannot be run is missing from the answer (and said why on stderr).
 */
export async function sdkComparison(o: { clients: number; size: number; seconds: number }): Promise<Record<'wharf' | 'fauxqs', { send: SdkFigures; receive?: SdkFigures } | undefined>> {
  const body = 'x'.repeat(o.size);
  const run = async (server: BrokerChild, label: string) => {
    const phases: Phase[] = [];
    await sdkPhases(server, o.clients, body, o.seconds, [`${label} send`, `${label} receive`], phases);
    return { send: figures(phases[0]!), receive: phases[1] && figures(phases[1]) };
  };
  let wharf: { send: SdkFigures; receive?: SdkFigures } | undefined;
  let fauxqs: typeof wharf;
  try {
    await withBrokerChild(self, 'sqs', { nosync: false }, async (child) => {
      wharf = await run(child, 'wharf');
    });
  } catch (err) {
    console.error(`  sqs (wharf) failed: ${(err as Error).message}`);
  }
  let fq: BrokerChild | undefined;
  try {
    fq = await forkBrokerChild(self, ['--fauxqs-child'], { what: 'fauxqs' });
    fauxqs = await run(fq, 'fauxqs');
  } catch (err) {
    console.error(`  sqs (fauxqs) failed: ${(err as Error).message}`);
  } finally {
    await fq?.stop();
  }
  return { wharf, fauxqs };
}

/** `--per-request`: one SDK client, one request at a time; server and client CPU per request of each kind. */
async function perRequestRows(server: BrokerChild, label: string, n: number, body: string): Promise<string[][]> {
  const [c] = await sdkClients(server.port, 1);
  const url = ((await c!.call('CreateQueue', { QueueName: 'bench-per-request' })) as { QueueUrl: string }).QueueUrl;
  const entries = (k: number) => Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MessageBody: body, MessageAttributes: { n: { DataType: 'Number', StringValue: String(k * 10 + i) } } }));
  const rows: string[][] = [];
  const time = async (what: string, one: (k: number) => Promise<void>) => {
    for (let k = 0; k < Math.min(200, n); k++) await one(k); // warm-up
    const cpu0 = await server.cpuMicros();
    const c0 = ownCpuMicros();
    const t0 = performance.now();
    for (let k = 0; k < n; k++) await one(k);
    const ms = (performance.now() - t0) / n;
    const server1 = await server.cpuMicros();
    rows.push([`${label}: ${what}`, ((server1 - cpu0) / n).toFixed(0), ((ownCpuMicros() - c0) / n).toFixed(0), ms.toFixed(2)]);
  };
  await time('GetQueueUrl', async () => {
    await c!.call('GetQueueUrl', { QueueName: 'bench-per-request' });
  });
  await time('SendMessageBatch', async (k) => {
    await c!.call('SendMessageBatch', { QueueUrl: url, Entries: entries(k) });
  });
  await c!.call('SendMessageBatch', { QueueUrl: url, Entries: entries(0) }); // for the warm-up's receives
  await time('ReceiveMessage + DeleteMessageBatch', async () => {
    const r = await c!.call('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 120 });
    const msgs = (r.Messages as Array<{ ReceiptHandle: string }> | undefined) ?? [];
    if (msgs.length) await c!.call('DeleteMessageBatch', { QueueUrl: url, Entries: msgs.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })) });
  });
  await c!.close();
  return rows;
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
      'sdk-only': { type: 'boolean', default: false },
      'per-request': { type: 'string' },
      ...BROKER_OPTIONS,
    },
  });
  if (a['per-request']) {
    const n = Number(a['per-request']);
    const body = 'x'.repeat(Number(a.size));
    const rows: string[][] = [];
    await withBrokerChild(self, 'sqs', a, async (child) => {
      rows.push(...(await perRequestRows(child, 'wharf', n, body)));
    });
    if (!a['no-fauxqs']) {
      const fq = await forkBrokerChild(self, ['--fauxqs-child'], { what: 'fauxqs' });
      try {
        rows.push(...(await perRequestRows(fq, 'fauxqs', n, body)));
      } finally {
        await fq.stop();
      }
    }
    console.log(`SQS per request: one AWS SDK client, ${n} requests of each kind one at a time (SendMessageBatch: 10 × ${a.size} B; Wharf ${syncNote(a.nosync)}); ${hostNote()}\n`);
    console.log(formatTable(['request', 'server µs', 'client µs', 'ms each'], rows));
    return;
  }
  await withBrokerChild(self, 'sqs', a, async (child) => {
    const nClients = Number(a.clients);
    const size = Number(a.size);
    const body = 'x'.repeat(size);
    console.log(
      `SQS bench: broker in a child process (${syncNote(a.nosync)}, SigV4 verified), JSON protocol; ` +
        `${nClients} producers × SendMessageBatch(10 × ${size} B), then ${nClients} consumers × ReceiveMessage(10, long poll) + DeleteMessageBatch; ${hostNote()}`,
    );
    const phases: Phase[] = [];

    // 1. undici load generator (--sdk-only: only the AWS SDK phases, Wharf's and fauxqs's)
    if (!a['sdk-only'] && (await undiciPhases(child, nClients, body, Number(a.seconds), phases)) === 'stop') {
      await child.stop();
      console.log(report(phases));
      return;
    }

    // 2. the AWS SDK
    if (!a['no-sdk']) await sdkPhases(child, nClients, body, Number(a['sdk-seconds']), ['aws-sdk: SendMessageBatch', 'aws-sdk: Receive + DeleteMessageBatch'], phases);
    await child.stop();

    // 3. the same SDK workload against fauxqs
    if (!a['no-sdk'] && !a['no-fauxqs']) {
      let fq: BrokerChild | undefined;
      try {
        fq = await forkBrokerChild(self, ['--fauxqs-child'], { what: 'fauxqs' });
        await sdkPhases(fq, nClients, body, Number(a['sdk-seconds']), ['fauxqs aws-sdk: SendMessageBatch', 'fauxqs aws-sdk: Receive + Delete'], phases);
      } catch (err) {
        console.error(`  fauxqs run failed: ${(err as Error).message}`);
      } finally {
        await fq?.stop();
      }
    }

    console.log('\n' + report(phases));
    console.log('\n(latency is per HTTP request; broker µs/msg is the server process\'s user+system CPU time per message (Wharf, or fauxqs in the fauxqs rows); CPU % of one core)');
  });
}

await benchMain(import.meta.url, () => run(), { ...brokerChildEntry(brokerChild), '--fauxqs-child': () => fauxqsChild() });
