/**
 * MQTT benchmark: `npm run bench -- mqtt` (or `npx tsx bench/mqtt.ts`).
 *
 * The broker runs in a child process (MQTT listener only, durable store: fsync on every commit); the MQTT.js
 * clients run in this process. Broker CPU is the child's process.cpuUsage() over the measured interval,
 * fetched over IPC.
 *
 * (a) QoS 0, one publisher → 1 and → 10 subscribers, 100-byte payloads: delivered msgs/s and broker CPU µs per
 *     delivered message. The publisher keeps at most `window` messages ahead of the slowest subscriber.
 * (b) QoS 1, one publisher → one subscriber with a persistent session (so every message is committed and
 *     fsync'd before its PUBACK), 100 publishes in flight: msgs/s, publish→PUBACK and end-to-end p50/p99.
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_WARMUP (1), BENCH_ONLY (qos0-1, qos0-10 or qos1),
 * BENCH_CHILD_NODE_ARGS (extra node flags for the broker child, e.g. `--cpu-prof`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const PAYLOAD = 100;

// ------------------------------------------------------------------------------------------ broker child

async function brokerChild(): Promise<void> {
  const { Broker } = await import('../src/broker.js');
  const { parseConfig } = await import('../src/config.js');
  const { createLogger } = await import('../src/log.js');
  const { mqttModule } = await import('../protocols/mqtt/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-bench-mqtt-'));
  const off = { enabled: false };
  const cfg = parseConfig({
    dataDir: dir,
    log: { level: 'warn' },
    listeners: { openwire: off, amqp: off, stomp: off, admin: off, sqs: off, ws: off, mqtt: { host: '127.0.0.1', port: 0 } },
  });
  const broker = new Broker(cfg, { protocols: [mqttModule], http: [], logger: createLogger({ level: 'warn' }) });
  await broker.start();
  const store = (broker as unknown as { store: { stats: { transactions: number; batches: number } } }).store;
  process.on('message', async (m: { cmd: string }) => {
    if (m.cmd === 'stats') process.send!({ cpu: process.cpuUsage(), store: { ...store.stats }, delivered: broker.engine.totals.delivered });
    if (m.cmd === 'stop') {
      await broker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  });
  process.send!({ port: broker.listenerAddresses().mqtt.port });
}

interface ChildStats {
  cpu: NodeJS.CpuUsage;
  store: { transactions: number; batches: number };
  delivered: number;
}

class Child {
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<Child> {
    const self = fileURLToPath(import.meta.url);
    const execArgv = [...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), ...(process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const proc = fork(self, [], { env: { ...process.env, WHARF_BENCH_CHILD: '1' }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('message', (m: { port: number }) => resolve(m.port));
      proc.once('exit', (code) => reject(new Error(`broker child exited with ${code}`)));
    });
    return new Child(proc, port);
  }

  stats(): Promise<ChildStats> {
    return new Promise((resolve) => {
      this.proc.once('message', (m: ChildStats) => resolve(m));
      this.proc.send({ cmd: 'stats' });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.send({ cmd: 'stop' });
    await exited;
  }
}

// ------------------------------------------------------------------------------------------ helpers

function connect(port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 4, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const cpuMicros = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => b.user - a.user + (b.system - a.system);

// ------------------------------------------------------------------------------------------ (a) QoS 0 fan-out

export interface FanoutResult {
  subscribers: number;
  deliveredPerSec: number;
  publishedPerSec: number;
  brokerCpuMicrosPerMsg: number;
  brokerCpuPercent: number;
}

async function qos0Fanout(child: Child, subscribers: number, window = 5000): Promise<FanoutResult> {
  const topic = `bench/qos0/${subscribers}`;
  const subs: MqttClient[] = [];
  const counts: number[] = [];
  for (let i = 0; i < subscribers; i++) {
    const c = await connect(child.port);
    const idx = i;
    counts.push(0);
    c.on('message', () => {
      counts[idx]++;
      if (waiting && minCount() >= sent - window / 2) {
        const w = waiting;
        waiting = null;
        w();
      }
    });
    await c.subscribeAsync(topic, { qos: 0 });
    subs.push(c);
  }
  const pub = await connect(child.port);
  const payload = Buffer.alloc(PAYLOAD, 0x61);
  let sent = 0;
  let waiting: (() => void) | null = null;
  const minCount = () => {
    let m = Infinity;
    for (const c of counts) if (c < m) m = c;
    return m;
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      while (sent - minCount() < window && running) {
        for (let k = 0; k < 100; k++) pub.publish(topic, payload, { qos: 0 });
        sent += 100;
        // let the socket flush between bursts
        if (sent % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
      if (!running) break;
      await new Promise<void>((r) => {
        waiting = r;
        setTimeout(() => {
          if (waiting === r) {
            waiting = null;
            r();
          }
        }, 50);
      });
    }
  })();
  await sleep(WARMUP * 1000);
  const s0 = await child.stats();
  const d0 = counts.reduce((a, b) => a + b, 0);
  const p0 = sent;
  const t0 = process.hrtime.bigint();
  await sleep(SECONDS * 1000);
  const s1 = await child.stats();
  const d1 = counts.reduce((a, b) => a + b, 0);
  const p1 = sent;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await loop;
  for (const c of [...subs, pub]) c.end(true);
  const delivered = d1 - d0;
  const cpu = cpuMicros(s0.cpu, s1.cpu);
  return {
    subscribers,
    deliveredPerSec: Math.round(delivered / secs),
    publishedPerSec: Math.round((p1 - p0) / secs),
    brokerCpuMicrosPerMsg: Number((cpu / Math.max(1, delivered)).toFixed(2)),
    brokerCpuPercent: Math.round((cpu / 1e6 / secs) * 100),
  };
}

// ------------------------------------------------------------------------------------------ (b) QoS 1 durable

export interface Qos1Result {
  msgsPerSec: number;
  inFlight: number;
  pubackP50ms: number;
  pubackP99ms: number;
  e2eP50ms: number;
  e2eP99ms: number;
  storeTransactionsPerSec: number;
  brokerCpuMicrosPerMsg: number;
}

async function qos1Durable(child: Child, inFlight = 100): Promise<Qos1Result> {
  const topic = 'bench/qos1';
  const sub = await connect(child.port, { clientId: 'bench-qos1-sub', clean: false });
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(child.port, { clientId: 'bench-qos1-pub' });
  let received = 0;
  let measuring = false;
  const e2e: number[] = [];
  const puback: number[] = [];
  sub.on('message', (_t, payload: Buffer) => {
    received++;
    if (measuring) e2e.push(Number(process.hrtime.bigint() - payload.readBigUInt64BE(0)) / 1e6);
  });
  let running = true;
  let acked = 0;
  const payload = () => {
    const b = Buffer.alloc(PAYLOAD, 0x62);
    b.writeBigUInt64BE(process.hrtime.bigint(), 0);
    return b;
  };
  const one = (): void => {
    if (!running) return;
    const p = payload();
    const start = p.readBigUInt64BE(0);
    pub.publish(topic, p, { qos: 1 }, (err) => {
      if (err) return;
      acked++;
      if (measuring) puback.push(Number(process.hrtime.bigint() - start) / 1e6);
      one();
    });
  };
  for (let i = 0; i < inFlight; i++) one();
  await sleep(WARMUP * 1000);
  const s0 = await child.stats();
  const r0 = received;
  measuring = true;
  const t0 = process.hrtime.bigint();
  await sleep(SECONDS * 1000);
  measuring = false;
  const s1 = await child.stats();
  const r1 = received;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await sleep(200);
  pub.end(true);
  sub.end(true);
  e2e.sort((a, b) => a - b);
  puback.sort((a, b) => a - b);
  const delivered = r1 - r0;
  void acked;
  return {
    msgsPerSec: Math.round(delivered / secs),
    inFlight,
    pubackP50ms: Number(pct(puback, 50).toFixed(2)),
    pubackP99ms: Number(pct(puback, 99).toFixed(2)),
    e2eP50ms: Number(pct(e2e, 50).toFixed(2)),
    e2eP99ms: Number(pct(e2e, 99).toFixed(2)),
    storeTransactionsPerSec: Math.round((s1.store.transactions - s0.store.transactions) / secs),
    brokerCpuMicrosPerMsg: Number((cpuMicros(s0.cpu, s1.cpu) / Math.max(1, delivered)).toFixed(2)),
  };
}

// ------------------------------------------------------------------------------------------ entry

export async function run(): Promise<void> {
  console.log(`MQTT benchmark: broker in a child process, MQTT.js clients here; ${SECONDS} s per case after ${WARMUP} s warm-up; ${os.cpus().length} cores`);
  const results: Record<string, unknown> = {};
  const only = process.env.BENCH_ONLY;
  for (const n of [1, 10]) {
    if (only && only !== `qos0-${n}`) continue;
    const child = await Child.start();
    try {
      const r = await qos0Fanout(child, n);
      results[`qos0_1to${n}`] = r;
      console.log(`(a) QoS 0, 1 → ${n}: ${r.deliveredPerSec.toLocaleString('en')} delivered msgs/s (${r.publishedPerSec.toLocaleString('en')} published/s), broker CPU ${r.brokerCpuMicrosPerMsg} µs per delivered message (${r.brokerCpuPercent}% of a core)`);
    } finally {
      await child.stop();
    }
  }
  if (only && only !== 'qos1') return;
  const child = await Child.start();
  try {
    const r = await qos1Durable(child);
    results.qos1_durable = r;
    console.log(
      `(b) QoS 1, 1 → 1, ${r.inFlight} in flight, persistent subscriber (fsync before every PUBACK): ${r.msgsPerSec.toLocaleString('en')} msgs/s; ` +
        `publish→PUBACK p50 ${r.pubackP50ms} ms p99 ${r.pubackP99ms} ms; end-to-end p50 ${r.e2eP50ms} ms p99 ${r.e2eP99ms} ms; ` +
        `${r.storeTransactionsPerSec.toLocaleString('en')} fsync'd store transactions/s; broker CPU ${r.brokerCpuMicrosPerMsg} µs/msg`,
    );
  } finally {
    await child.stop();
  }
  console.log(JSON.stringify(results));
}

if (process.env.WHARF_BENCH_CHILD === '1') {
  brokerChild().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
