/**
 * AMQP 1.0 throughput/latency benchmark.
 *
 *   npm run bench -- amqp [--seconds 5] [--warmup 1] [--window 100] [--credit 100] [--sizes 100,1024]
 *                         [--nosync] [--profile DIR] [--dir TMPDIR]
 *   npx tsx bench/amqp.ts ...        (without a build)
 *
 * A real Broker runs in a child process (fsync'd store unless --nosync; --profile writes a V8 CPU profile of
 * the broker to DIR). In this process, two rhea connections: a producer sends durable messages to a queue,
 * keeping `window` transfers waiting for their `accepted` (a new transfer per accepted one), and a consumer
 * grants link credit `credit` (topped up as messages arrive) and accepts every message. The rhea clients
 * send pre-encoded messages and coalesce their socket writes per event turn, so the broker is what is
 * measured.
 *
 * Reported per size, over `seconds` after `warmup`: messages/s received by the consumer, accepted/s, and
 * p50/p99 latency of transfer → accepted (durable) and of transfer → delivery (end to end).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Encoder, scanMessage } from '../protocols/amqp/codec.js';

const self = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { Broker } = await import('../src/broker.js');
  const { parseConfig } = await import('../src/config.js');
  const { silentLogger } = await import('../src/log.js');
  const { amqpModule } = await import('../protocols/amqp/index.js');
  const off = { enabled: false };
  const config = parseConfig({
    dataDir,
    store: { noSync },
    log: { level: 'silent' },
    listeners: { amqp: { host: '127.0.0.1', port: 0 }, ws: off, openwire: off, stomp: off, mqtt: off, admin: off, sqs: off },
  });
  const broker = new Broker(config, { protocols: [amqpModule], http: [], logger: silentLogger() });
  await broker.start();
  process.send!({ port: broker.listenerAddresses().amqp!.port });
  process.on('message', async (m: { stop?: boolean; stats?: boolean }) => {
    if (m.stats) {
      const st = (broker.engine.store as unknown as { stats?: { transactions: number; batches: number } }).stats;
      process.send!({ stats: st ?? null });
      return;
    }
    if (!m.stop) return;
    await broker.stop();
    process.send!({ stopped: true });
    process.disconnect();
    setImmediate(() => process.exit(0));
  });
}

// ------------------------------------------------------------------------------------------- clients

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** A rhea client connection whose socket writes are coalesced per event turn. */
function connect(rhea: Any, port: number, id: string): Promise<Any> {
  const container = rhea.create_container({ id });
  container.on('error', (e: Error) => fatal(`client: ${e.message}`));
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false, idle_time_out: 0, tcp_no_delay: true });
  return new Promise((resolve, reject) => {
    conn.once('connection_open', () => {
      const socket = conn.socket;
      socket.setNoDelay(true);
      const write = socket.write.bind(socket);
      let pending: Buffer[] = [];
      socket.write = (b: Buffer) => {
        if (pending.length === 0) {
          setImmediate(() => {
            const out = pending;
            pending = [];
            socket.cork();
            for (const x of out) write(x);
            socket.uncork();
          });
        }
        pending.push(b);
        return true;
      };
      resolve(conn);
    });
    conn.once('disconnected', (ctx: Any) => reject(new Error(`disconnected: ${ctx.error?.message ?? ''}`)));
  });
}

function fatal(msg: string): never {
  console.error(`bench amqp: ${msg}`);
  process.exit(1);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  size: number;
  msgsPerSec: number;
  acceptedPerSec: number;
  acceptP50: number;
  acceptP99: number;
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

/** A durable message with a data body of `size` bytes whose first 4 bytes carry the sequence number. */
function template(size: number): { bytes: Buffer; seqAt: number } {
  const e = new Encoder(size + 32);
  e.descriptor(0x70);
  const m = e.begin(false);
  e.bool(true);
  e.end(m, 1);
  e.descriptor(0x75);
  const head = e.pos;
  e.binary(Buffer.alloc(size, 0x78));
  const bytes = Buffer.from(e.toBuffer());
  return { bytes, seqAt: head + (size < 256 ? 2 : 5) };
}

async function runSize(rhea: Any, port: number, size: number, o: { seconds: number; warmup: number; window: number; credit: number }, child: ChildProcess): Promise<Result> {
  const queue = `bench.${size}.${Date.now()}`;
  const { bytes, seqAt } = template(Math.max(4, size));
  const consumerConn = await connect(rhea, port, `bench-consumer-${size}`);
  const producerConn = await connect(rhea, port, `bench-producer-${size}`);

  const sentAt: number[] = [];
  const acceptLat: number[] = [];
  const e2eLat: number[] = [];
  let measuring = false;
  let stopping = false;
  let received = 0;
  let acceptedInWindow = 0;
  let receivedInWindow = 0;
  let seq = 0;
  let outstanding = 0;

  const receiver = consumerConn.open_receiver({ source: { address: queue }, credit_window: 0, autoaccept: false, raw_messages: true });
  await new Promise<void>((resolve) => receiver.once('receiver_open', () => resolve()));
  receiver.add_credit(o.credit);
  let unflowed = 0;
  receiver.on('message', (ctx: Any) => {
    const raw: Buffer = ctx.raw;
    const s = scanMessage(raw);
    const c = s.content!;
    const n = raw.readUInt32BE(c.start);
    received++;
    if (measuring) {
      receivedInWindow++;
      e2eLat.push(performance.now() - sentAt[n]!);
    }
    ctx.delivery.accept();
    if (++unflowed >= o.credit / 4) {
      receiver.add_credit(unflowed);
      unflowed = 0;
    }
  });

  const sender = producerConn.open_sender({ target: { address: queue } });
  await new Promise<void>((resolve) => sender.once('sendable', () => resolve()));
  const tags = new Map<Any, number>();
  const sendOne = () => {
    const n = seq++;
    const b = Buffer.from(bytes);
    b.writeUInt32BE(n, seqAt);
    sentAt[n] = performance.now();
    outstanding++;
    const d = sender.send(b, Buffer.from(n.toString(36)), 0);
    tags.set(d, n);
  };
  sender.on('accepted', (ctx: Any) => {
    const n = tags.get(ctx.delivery)!;
    tags.delete(ctx.delivery);
    outstanding--;
    if (measuring) {
      acceptedInWindow++;
      acceptLat.push(performance.now() - sentAt[n]!);
    }
    if (!stopping) sendOne();
  });
  sender.on('rejected', (ctx: Any) => fatal(`rejected: ${JSON.stringify(ctx.delivery.remote_state?.error)}`));
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
  const deadline = Date.now() + 30_000;
  while ((outstanding > 0 || received < seq) && Date.now() < deadline) await sleep(10);
  if (received < seq) fatal(`only ${received} of ${seq} messages arrived`);
  consumerConn.close();
  producerConn.close();

  const a = Float64Array.from(acceptLat).sort();
  const e = Float64Array.from(e2eLat).sort();
  return {
    size,
    msgsPerSec: receivedInWindow / elapsed,
    acceptedPerSec: acceptedInWindow / elapsed,
    acceptP50: percentile(a, 50),
    acceptP99: percentile(a, 99),
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
      credit: { type: 'string', default: '100' },
      sizes: { type: 'string', default: '100,1024' },
      nosync: { type: 'boolean', default: false },
      profile: { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const rhea = require('rhea');
  const dataDir = fs.mkdtempSync(path.join(a.dir ?? os.tmpdir(), 'wharf-bench-amqp-'));
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
  const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), window: Number(a.window), credit: Number(a.credit) };
  console.log(
    `AMQP bench: broker in a child process (${a.nosync ? 'store.noSync: NO fsync' : 'fsync on every commit'}), 1 producer (durable, ` +
      `window ${o.window} waiting for accepted) → 1 consumer (link credit ${o.credit}, accepts each); ${o.seconds} s after ${o.warmup} s warm-up; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  const results: Result[] = [];
  for (const size of a.sizes.split(',').map(Number)) results.push(await runSize(rhea, port, size, o, child));
  const f1 = (x: number) => x.toFixed(1).padStart(7);
  console.log('\n  size   msgs/s  accepted/s  accepted p50/p99 ms   send→deliver p50/p99 ms   LMDB txn/s  commits/txn');
  for (const r of results) {
    console.log(`${String(r.size).padStart(6)} ${Math.round(r.msgsPerSec).toString().padStart(8)} ${Math.round(r.acceptedPerSec).toString().padStart(11)}   ${f1(r.acceptP50)} /${f1(r.acceptP99)}      ${f1(r.e2eP50)} /${f1(r.e2eP99)}      ${Math.round(r.txnsPerSec).toString().padStart(8)}  ${r.batchesPerTxn.toFixed(1).padStart(11)}`);
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
