/**
 * STOMP throughput/latency benchmark.
 *
 *   npm run bench -- stomp [--seconds 5] [--warmup 1] [--window 100] [--sizes 100,1024] [--prefetch 1000]
 *                          [--nosync] [--profile DIR] [--dir TMPDIR]
 *   npx tsx bench/stomp.ts ...        (without a build)
 *
 * A real Broker runs in a child process (fsync'd store unless --nosync; --profile writes a V8 CPU profile of
 * the broker to DIR). In this process, one producer connection SENDs persistent messages to a queue with a
 * receipt each, keeping `window` receipts outstanding (a new SEND per RECEIPT), and one consumer connection
 * subscribes with ack:client-individual and ACKs every MESSAGE. Both clients use the broker's own codec and
 * coalesce their writes per event turn.
 *
 * Reported per size, over `seconds` after `warmup`: messages/s received by the consumer, receipts/s, and
 * p50/p99 latency of SEND → RECEIPT (durable) and of SEND → MESSAGE (end to end).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeFrame, StompDecoder } from '../protocols/stomp/codec.js';
import type { StompFrame } from '../protocols/stomp/frame.js';

const self = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { Broker } = await import('../src/broker.js');
  const { parseConfig } = await import('../src/config.js');
  const { silentLogger } = await import('../src/log.js');
  const { stompModule } = await import('../protocols/stomp/index.js');
  const off = { enabled: false };
  const config = parseConfig({
    dataDir,
    store: { noSync },
    log: { level: 'silent' },
    listeners: { stomp: { host: '127.0.0.1', port: 0 }, ws: off, openwire: off, amqp: off, mqtt: off, admin: off, sqs: off },
  });
  const broker = new Broker(config, { protocols: [stompModule], http: [], logger: silentLogger() });
  await broker.start();
  process.send!({ port: broker.listenerAddresses().stomp!.port });
  process.on('message', async (m: { stop?: boolean; stats?: boolean }) => {
    if (m.stats) {
      // LmdbStore counters (not part of the Store port): write transactions and commit() batches so far
      const st = (broker.engine.store as unknown as { stats?: { transactions: number; batches: number } }).stats;
      process.send!({ stats: st ?? null });
      return;
    }
    if (!m.stop) return;
    await broker.stop();
    process.send!({ stopped: true });
    process.disconnect();
    // exit normally so --cpu-prof writes its profile
    setImmediate(() => process.exit(0));
  });
}

// ------------------------------------------------------------------------------------------- clients

class Conn {
  private readonly dec: StompDecoder;
  private corked = false;
  onFrame: (f: StompFrame) => void = () => undefined;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    this.dec = new StompDecoder({ version: '1.2', maxBodySize: 64 << 20, onFrame: (f) => this.onFrame(f), onError: (e) => fatal(`client decoder: ${e.detail}`) });
    socket.on('data', (c: Buffer) => this.dec.push(c));
    socket.on('error', (e) => fatal(`socket: ${e.message}`));
  }

  static async open(port: number): Promise<Conn> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    const c = new Conn(s);
    const connected = new Promise<void>((resolve) => {
      c.onFrame = (f) => {
        if (f.command !== 'CONNECTED') fatal(`expected CONNECTED, got ${f.command} ${f.body.toString()}`);
        resolve();
      };
    });
    c.send('CONNECT', [['accept-version', '1.2'], ['host', '/']]);
    await connected;
    return c;
  }

  send(command: string, headers: Array<[string, string]>, body?: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encodeFrame({ command, headers, body: body ?? EMPTY }, '1.2'));
  }
}

const EMPTY = Buffer.alloc(0);

function fatal(msg: string): never {
  console.error(`bench stomp: ${msg}`);
  process.exit(1);
}

function header(f: StompFrame, name: string): string | undefined {
  for (const [k, v] of f.headers) if (k === name) return v;
  return undefined;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  size: number;
  msgsPerSec: number;
  receiptsPerSec: number;
  receiptP50: number;
  receiptP99: number;
  e2eP50: number;
  e2eP99: number;
  received: number;
  txnsPerSec: number;
  batchesPerTxn: number;
}

type StoreStats = { transactions: number; batches: number } | null;

function storeStats(child: ChildProcess): Promise<StoreStats> {
  return new Promise((resolve) => {
    const on = (m: { stats?: StoreStats }) => {
      if (!('stats' in m)) return;
      child.off('message', on);
      resolve(m.stats ?? null);
    };
    child.on('message', on);
    child.send({ stats: true });
  });
}

async function runSize(port: number, size: number, o: { seconds: number; warmup: number; window: number; prefetch: number }, child: ChildProcess): Promise<Result> {
  const queue = `/queue/bench.${size}.${Date.now()}`;
  const body = Buffer.alloc(size, 0x78);
  const consumer = await Conn.open(port);
  const producer = await Conn.open(port);

  const sentAt: number[] = [];
  const receiptLat: number[] = [];
  const e2eLat: number[] = [];
  let measuring = false;
  let stopping = false;
  let received = 0;
  let receiptsInWindow = 0;
  let receivedInWindow = 0;
  let seq = 0;
  let outstanding = 0;

  await new Promise<void>((resolve) => {
    consumer.onFrame = (f) => {
      if (f.command === 'RECEIPT') return resolve();
      fatal(`consumer: unexpected ${f.command} ${header(f, 'message') ?? ''}`);
    };
    consumer.send('SUBSCRIBE', [['destination', queue], ['id', '1'], ['ack', 'client-individual'], ['activemq.prefetchSize', String(o.prefetch)], ['receipt', 'sub']]);
  });
  consumer.onFrame = (f) => {
    if (f.command !== 'MESSAGE') fatal(`consumer: unexpected ${f.command} ${header(f, 'message') ?? ''} ${f.body.toString()}`);
    const n = Number(header(f, 'n'));
    received++;
    if (measuring) {
      receivedInWindow++;
      e2eLat.push(performance.now() - sentAt[n]!);
    }
    consumer.send('ACK', [['id', header(f, 'ack')!]]);
  };

  const sendOne = () => {
    const n = seq++;
    sentAt[n] = performance.now();
    outstanding++;
    producer.send('SEND', [['destination', queue], ['persistent', 'true'], ['receipt', String(n)], ['n', String(n)]], body);
  };
  producer.onFrame = (f) => {
    if (f.command !== 'RECEIPT') fatal(`producer: unexpected ${f.command} ${header(f, 'message') ?? ''} ${f.body.toString()}`);
    outstanding--;
    if (measuring) {
      receiptsInWindow++;
      receiptLat.push(performance.now() - sentAt[Number(header(f, 'receipt-id'))]!);
    }
    if (!stopping) sendOne();
  };
  for (let i = 0; i < o.window; i++) sendOne();

  await sleep(o.warmup * 1000);
  const s0 = await storeStats(child);
  measuring = true;
  const t0 = performance.now();
  await sleep(o.seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const s1 = await storeStats(child);
  stopping = true;
  // drain: every sent message must arrive
  const deadline = Date.now() + 30_000;
  while ((outstanding > 0 || received < seq) && Date.now() < deadline) await sleep(10);
  if (received < seq) fatal(`only ${received} of ${seq} messages arrived`);
  consumer.socket.destroy();
  producer.socket.destroy();

  const r = Float64Array.from(receiptLat).sort();
  const e = Float64Array.from(e2eLat).sort();
  return {
    size,
    msgsPerSec: receivedInWindow / elapsed,
    receiptsPerSec: receiptsInWindow / elapsed,
    receiptP50: percentile(r, 50),
    receiptP99: percentile(r, 99),
    e2eP50: percentile(e, 50),
    e2eP99: percentile(e, 99),
    received,
    txnsPerSec: s0 && s1 ? (s1.transactions - s0.transactions) / elapsed : NaN,
    batchesPerTxn: s0 && s1 ? (s1.batches - s0.batches) / Math.max(1, s1.transactions - s0.transactions) : NaN,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------- main

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      window: { type: 'string', default: '100' },
      sizes: { type: 'string', default: '100,1024' },
      prefetch: { type: 'string', default: '1000' },
      nosync: { type: 'boolean', default: false },
      profile: { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const dataDir = fs.mkdtempSync(path.join(a.dir ?? os.tmpdir(), 'wharf-bench-stomp-'));
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
  const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), window: Number(a.window), prefetch: Number(a.prefetch) };
  console.log(
    `STOMP bench: broker in a child process (${a.nosync ? 'store.noSync: NO fsync' : 'fsync on every commit'}), 1 producer (persistent SEND, ` +
      `receipt each, window ${o.window}) → 1 consumer (client-individual, prefetch ${o.prefetch}); ${o.seconds} s after ${o.warmup} s warm-up; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  const results: Result[] = [];
  for (const size of a.sizes.split(',').map(Number)) results.push(await runSize(port, size, o, child));
  const f1 = (x: number) => x.toFixed(1).padStart(7);
  console.log('\n  size   msgs/s  receipts/s   receipt p50/p99 ms   send→deliver p50/p99 ms   LMDB txn/s  commits/txn');
  for (const r of results) {
    console.log(`${String(r.size).padStart(6)} ${Math.round(r.msgsPerSec).toString().padStart(8)} ${Math.round(r.receiptsPerSec).toString().padStart(11)}   ${f1(r.receiptP50)} /${f1(r.receiptP99)}     ${f1(r.e2eP50)} /${f1(r.e2eP99)}      ${Math.round(r.txnsPerSec).toString().padStart(8)}  ${r.batchesPerTxn.toFixed(1).padStart(11)}`);
  }
  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (a.profile) console.log(`\nbroker CPU profile written to ${path.resolve(a.profile)}`);
}

if (process.argv[2] === '--broker-child') {
  await brokerChild(process.argv[3]!, process.argv[4] === 'nosync');
} else if (path.resolve(process.argv[1] ?? '') === self) {
  await run(process.argv.slice(2));
}
