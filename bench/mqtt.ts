/**
 * MQTT benchmark: `npm run bench -- mqtt` (or `npx tsx bench/mqtt.ts`).
 *
 * The broker runs in a child process (MQTT listener only, durable store: fsync on every commit); the MQTT.js
 * clients run in this process. Broker CPU is the child's utime + stime from /proc/<pid>/stat over the measured
 * interval (all threads).
 *
 * Peers, in the same run and with the same clients and workloads: Debian's `mosquitto` and ActiveMQ 5.17
 * (`activemq` + `libmqtt-client-java`), each started directly (not through systemd) as a child process on a free
 * 127.0.0.1 port with a generated config, its CPU read from /proc/<pid>/stat the same way, and killed by pid at
 * the end (see bench/mqtt-peers.ts). `--peers` (the default) runs every peer whose binaries exist and prints a
 * line for each one that is not installed; `--no-peers` measures Wharf only.
 *
 * (a) QoS 0, one publisher → 1 and → 10 subscribers, 100-byte payloads: delivered msgs/s, broker CPU µs per
 *     delivered message and publish → delivery p50/p99. The publisher keeps at most `window` messages ahead of the
 *     slowest subscriber.
 * (b) QoS 1, one publisher → one subscriber with a persistent session (so every message is committed and
 *     fsync'd before its PUBACK), 100 publishes in flight: msgs/s, publish→PUBACK and end-to-end p50/p99.
 * Both are exported for `npm run bench -- compare`, which runs them as rows of its table (every MQTT.js socket
 * with TCP_NODELAY).
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_WARMUP (1), BENCH_ONLY (qos0-1, qos0-10 or qos1),
 * BENCH_CHILD_NODE_ARGS (extra node flags for the broker child, e.g. `--cpu-prof`), BENCH_JVM_WARMUP (ActiveMQ's
 * warm-up, default 3 s, so that its hot paths are JIT-compiled before measuring), BENCH_PEERS (comma-separated
 * subset of mosquitto,activemq).
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { ACL_NOTE, benchMain, forkBrokerChild, formatTable, Latencies, ownCpuMicros, removeDir, serveBroker, sleep, tempDir, type BrokerChild } from './lib.js';
import { PEERS, type PeerBroker, type PeerSpec, type Workload } from './mqtt-peers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const PAYLOAD = 100;

// ------------------------------------------------------------------------------------------ broker child

async function brokerChild(dataDir: string): Promise<void> {
  const { mqttModule } = await import('../protocols/mqtt/index.js');
  await serveBroker({ listener: 'mqtt', dataDir, noSync: false, logLevel: 'warn', modules: { protocols: [mqttModule] } });
}

/** A broker under test: where to connect and a snapshot of its CPU (µs, from /proc) and store counters. */
export interface MqttTarget {
  readonly port: number;
  stats(): Promise<Snapshot>;
}

export interface Snapshot {
  cpuMicros: number;
  /** fsync'd store transactions (Wharf only) */
  storeTransactions?: number;
}

class PeerTarget implements MqttTarget {
  constructor(readonly broker: PeerBroker) {}
  get port(): number {
    return this.broker.port;
  }
  async stats(): Promise<Snapshot> {
    return { cpuMicros: this.broker.cpuMicros() };
  }
}

/** Wharf in a child process (this file with --broker-child), its store in a temporary directory. */
class WharfTarget implements MqttTarget {
  private constructor(
    readonly child: BrokerChild,
    private readonly dir: string,
  ) {}

  static async start(): Promise<WharfTarget> {
    const self = fileURLToPath(import.meta.url);
    const execArgv = [...(self.endsWith('.ts') ? ['--import', 'tsx'] : []), ...(process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const dir = tempDir('mqtt');
    try {
      return new WharfTarget(await forkBrokerChild(self, ['--broker-child', dir], { execArgv }), dir);
    } catch (err) {
      removeDir(dir);
      throw err;
    }
  }

  get port(): number {
    return this.child.port;
  }

  async stats(): Promise<Snapshot> {
    const s = await this.child.storeStats();
    // the same measure as the peers': utime + stime of the broker process from /proc/<pid>/stat
    return { cpuMicros: this.child.procCpuMicros(), storeTransactions: s?.transactions };
  }

  async stop(): Promise<void> {
    await this.child.stop();
    removeDir(this.dir);
  }
}

// ------------------------------------------------------------------------------------------ helpers

function connect(port: number, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 4, ...opts });
    // MQTT.js leaves Nagle on: with QoS 1 PUBACKs and small publishes it would hold segments back
    (c.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** How long a workload warms up and measures (s); the standalone bench takes them from BENCH_WARMUP/BENCH_SECONDS. */
export interface Window {
  warmup: number;
  seconds: number;
}

// ------------------------------------------------------------------------------------------ (a) QoS 0 fan-out

export interface FanoutResult {
  subscribers: number;
  deliveredPerSec: number;
  publishedPerSec: number;
  brokerCpuMicrosPerMsg: number;
  brokerCpuPercent: number;
  /** this process's CPU (publisher and subscribers) per delivered message */
  clientCpuMicrosPerMsg: number;
  /** publish → delivery, ms, over the delivered messages of the measured window */
  e2eP50ms: number;
  e2eP99ms: number;
}

/**
 * One publisher → `subscribers` at QoS 0; the publisher keeps at most `window` messages ahead of the slowest
 * subscriber. Each burst of 100 publishes carries its send time (performance.now(), the first 8 bytes).
 */
export async function qos0Fanout(child: MqttTarget, subscribers: number, w: Window = { warmup: WARMUP, seconds: SECONDS }, window = 5000): Promise<FanoutResult> {
  const topic = `bench/qos0/${subscribers}/${process.pid}-${Date.now()}`;
  let measuring = false;
  const e2e = new Latencies(5_000_000);
  const subs: MqttClient[] = [];
  const counts: number[] = [];
  for (let i = 0; i < subscribers; i++) {
    const c = await connect(child.port);
    const idx = i;
    counts.push(0);
    c.on('message', (_t, payload: Buffer) => {
      counts[idx]++;
      if (measuring) e2e.add(performance.now() - payload.readDoubleBE(0));
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
        const payload = Buffer.alloc(PAYLOAD, 0x61);
        payload.writeDoubleBE(performance.now(), 0);
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
  await sleep(w.warmup * 1000);
  const s0 = await child.stats();
  const u0 = ownCpuMicros();
  const d0 = counts.reduce((a, b) => a + b, 0);
  const p0 = sent;
  const t0 = process.hrtime.bigint();
  measuring = true;
  await sleep(w.seconds * 1000);
  measuring = false;
  const s1 = await child.stats();
  const u1 = ownCpuMicros();
  const d1 = counts.reduce((a, b) => a + b, 0);
  const p1 = sent;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await loop;
  for (const c of [...subs, pub]) c.end(true);
  const delivered = d1 - d0;
  const cpu = s1.cpuMicros - s0.cpuMicros;
  return {
    subscribers,
    deliveredPerSec: Math.round(delivered / secs),
    publishedPerSec: Math.round((p1 - p0) / secs),
    brokerCpuMicrosPerMsg: Number((cpu / Math.max(1, delivered)).toFixed(2)),
    brokerCpuPercent: Math.round((cpu / 1e6 / secs) * 100),
    clientCpuMicrosPerMsg: Number(((u1 - u0) / Math.max(1, delivered)).toFixed(2)),
    e2eP50ms: Number(e2e.percentile(50).toFixed(2)),
    e2eP99ms: Number(e2e.percentile(99).toFixed(2)),
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
  /** this process's CPU (publisher and subscriber) per delivered message */
  clientCpuMicrosPerMsg: number;
}

/**
 * One publisher → one subscriber with a persistent session (clean session off), QoS 1, `inFlight` publishes
 * outstanding. The session's client id and topic are new each call, and the session is ended afterwards (a clean
 * reconnect), so repeated runs against one broker neither see nor keep each other's messages.
 */
export async function qos1Durable(child: MqttTarget, w: Window = { warmup: WARMUP, seconds: SECONDS }, inFlight = 100): Promise<Qos1Result> {
  const run = `${process.pid}-${Date.now()}`;
  const topic = `bench/qos1/${run}`;
  const subId = `bench-qos1-sub-${run}`;
  const sub = await connect(child.port, { clientId: subId, clean: false });
  await sub.subscribeAsync(topic, { qos: 1 });
  const pub = await connect(child.port, { clientId: `bench-qos1-pub-${run}` });
  let received = 0;
  let measuring = false;
  const e2e = new Latencies();
  const puback = new Latencies();
  sub.on('message', (_t, payload: Buffer) => {
    received++;
    if (measuring) e2e.add(Number(process.hrtime.bigint() - payload.readBigUInt64BE(0)) / 1e6);
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
      if (measuring) puback.add(Number(process.hrtime.bigint() - start) / 1e6);
      one();
    });
  };
  for (let i = 0; i < inFlight; i++) one();
  await sleep(w.warmup * 1000);
  const s0 = await child.stats();
  const u0 = ownCpuMicros();
  const r0 = received;
  measuring = true;
  const t0 = process.hrtime.bigint();
  await sleep(w.seconds * 1000);
  measuring = false;
  const s1 = await child.stats();
  const u1 = ownCpuMicros();
  const r1 = received;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await sleep(200);
  pub.end(true);
  sub.end(true);
  // a clean-session connect with the same client id discards the persistent session and what it still holds
  const cleanup = await connect(child.port, { clientId: subId, clean: true });
  await cleanup.endAsync();
  const delivered = r1 - r0;
  void acked;
  return {
    msgsPerSec: Math.round(delivered / secs),
    inFlight,
    pubackP50ms: Number(puback.percentile(50).toFixed(2)),
    pubackP99ms: Number(puback.percentile(99).toFixed(2)),
    e2eP50ms: Number(e2e.percentile(50).toFixed(2)),
    e2eP99ms: Number(e2e.percentile(99).toFixed(2)),
    storeTransactionsPerSec: s1.storeTransactions === undefined ? NaN : Math.round((s1.storeTransactions - (s0.storeTransactions ?? 0)) / secs),
    brokerCpuMicrosPerMsg: Number(((s1.cpuMicros - s0.cpuMicros) / Math.max(1, delivered)).toFixed(2)),
    clientCpuMicrosPerMsg: Number(((u1 - u0) / Math.max(1, delivered)).toFixed(2)),
  };
}

// ------------------------------------------------------------------------------------------ entry

interface Contender {
  name: string;
  warmup: number;
  qos1Note: string;
  start(workload: Workload): Promise<{ target: MqttTarget; stop(): Promise<void>; pid: number }>;
}

const wharf: Contender = {
  name: 'wharf',
  warmup: WARMUP,
  qos1Note: 'LMDB, fsync before every PUBACK',
  async start() {
    const w = await WharfTarget.start();
    return { target: w, stop: () => w.stop(), pid: w.child.pid };
  },
};

function peerContender(p: PeerSpec): Contender {
  return {
    name: p.name,
    warmup: p.warmupSeconds(WARMUP),
    qos1Note: p.qos1Note,
    async start(workload) {
      const b = await p.start(workload);
      return { target: new PeerTarget(b), stop: () => b.stop(), pid: b.pid };
    },
  };
}

interface Row {
  broker: string;
  case: string;
  delivered: number;
  cpu: number;
  pubackP50?: number;
  pubackP99?: number;
  e2eP50?: number;
  e2eP99?: number;
  note: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

function table(rows: Row[]): string {
  return formatTable(
    ['broker', 'case', 'delivered msgs/s', 'broker µs CPU/delivered msg', 'PUBACK p50/p99 ms', 'end-to-end p50/p99 ms', 'notes'],
    rows.map((r) => [
      r.broker,
      r.case,
      r.delivered.toLocaleString('en'),
      r.cpu.toFixed(2),
      r.pubackP50 === undefined ? '' : `${r.pubackP50} / ${r.pubackP99}`,
      r.e2eP50 === undefined ? '' : `${r.e2eP50} / ${r.e2eP99}`,
      r.note,
    ]),
    { markdown: true, right: (i) => i >= 2 && i <= 5 },
  );
}

export async function run(): Promise<void> {
  const argv = process.argv.slice(2);
  const withPeers = !argv.includes('--no-peers'); // `--peers` is the default
  if (argv.includes('--acl')) {
    process.env.WHARF_BENCH_ACL = '1';
    console.log(ACL_NOTE);
  }
  console.log(`MQTT benchmark: broker in a child process, MQTT.js clients here; ${SECONDS} s per case after ${WARMUP} s warm-up; ${os.cpus().length} cores`);
  const contenders: Contender[] = [wharf];
  if (withPeers) {
    const wanted = process.env.BENCH_PEERS?.split(',').map((s) => s.trim());
    for (const p of PEERS) {
      if (wanted && !wanted.includes(p.name)) continue;
      const why = p.missing();
      if (why) console.log(`peer ${p.name}: not run — ${why}`);
      else contenders.push(peerContender(p));
    }
  } else console.log('peers: off (--no-peers)');
  const jvm = contenders.find((c) => c.name === 'activemq');
  if (jvm) console.log(`activemq: ${jvm.warmup} s warm-up (JIT), non-persistent broker for QoS 0`);

  const cases: { id: string; label: string; workload: Workload; subs?: number }[] = [
    { id: 'qos0-1', label: 'QoS 0, 1 → 1', workload: 'qos0', subs: 1 },
    { id: 'qos0-10', label: 'QoS 0, 1 → 10', workload: 'qos0', subs: 10 },
    { id: 'qos1', label: 'QoS 1, 1 → 1, 100 in flight', workload: 'qos1' },
  ];
  const only = process.env.BENCH_ONLY;
  const rows: Row[] = [];
  const results: Record<string, Record<string, unknown>> = {};
  for (const c of cases) {
    if (only && only !== c.id) continue;
    for (const k of contenders) {
      let h: Awaited<ReturnType<Contender['start']>>;
      try {
        h = await k.start(c.workload);
      } catch (err) {
        console.log(`${k.name} ${c.label}: could not start: ${(err as Error).message}`);
        continue;
      }
      try {
        const limit = (k.warmup + SECONDS + 30) * 1000;
        if (c.workload === 'qos0') {
          const r = await withTimeout(qos0Fanout(h.target, c.subs!, { warmup: k.warmup, seconds: SECONDS }), limit, `${k.name} ${c.label}`);
          (results[k.name] ??= {})[`qos0_1to${c.subs}`] = r;
          rows.push({ broker: k.name, case: c.label, delivered: r.deliveredPerSec, cpu: r.brokerCpuMicrosPerMsg, e2eP50: r.e2eP50ms, e2eP99: r.e2eP99ms, note: `${r.publishedPerSec.toLocaleString('en')} published/s, broker ${r.brokerCpuPercent}% of a core` });
          console.log(`${k.name} (a) ${c.label}: ${r.deliveredPerSec.toLocaleString('en')} delivered msgs/s (${r.publishedPerSec.toLocaleString('en')} published/s), broker CPU ${r.brokerCpuMicrosPerMsg} µs per delivered message (${r.brokerCpuPercent}% of a core)`);
        } else {
          const r = await withTimeout(qos1Durable(h.target, { warmup: k.warmup, seconds: SECONDS }), limit, `${k.name} ${c.label}`);
          (results[k.name] ??= {}).qos1_durable = r;
          const fsyncs = Number.isNaN(r.storeTransactionsPerSec) ? '' : `; ${r.storeTransactionsPerSec.toLocaleString('en')} fsync'd store transactions/s`;
          rows.push({ broker: k.name, case: c.label, delivered: r.msgsPerSec, cpu: r.brokerCpuMicrosPerMsg, pubackP50: r.pubackP50ms, pubackP99: r.pubackP99ms, e2eP50: r.e2eP50ms, e2eP99: r.e2eP99ms, note: k.qos1Note + fsyncs });
          console.log(
            `${k.name} (b) ${c.label}, persistent subscriber (${k.qos1Note}): ${r.msgsPerSec.toLocaleString('en')} msgs/s; ` +
              `publish→PUBACK p50 ${r.pubackP50ms} ms p99 ${r.pubackP99ms} ms; end-to-end p50 ${r.e2eP50ms} ms p99 ${r.e2eP99ms} ms${fsyncs}; broker CPU ${r.brokerCpuMicrosPerMsg} µs/msg`,
          );
        }
      } catch (err) {
        console.log(`${k.name} ${c.label}: failed: ${(err as Error).message}`);
      } finally {
        await h.stop();
      }
    }
  }

  console.log('');
  console.log(table(rows));
  console.log('');
  const get = (broker: string, cs: string) => rows.find((r) => r.broker === broker && r.case === cs);
  for (const n of [1, 10]) {
    const cs = `QoS 0, 1 → ${n}`;
    const w = get('wharf', cs);
    if (!w) continue;
    const m = get('mosquitto', cs);
    const a = get('activemq', cs);
    const thr = m ? `${w.delivered >= m.delivered ? 'met' : 'NOT met'} (${w.delivered.toLocaleString('en')} vs mosquitto ${m.delivered.toLocaleString('en')} delivered msgs/s)` : 'not checked (no mosquitto result)';
    const cpu = a ? `${w.cpu < a.cpu ? 'met' : 'NOT met'} (${w.cpu.toFixed(2)} vs ActiveMQ ${a.cpu.toFixed(2)} µs/msg)` : 'not checked (no ActiveMQ result)';
    console.log(`target (a) ${cs}: throughput ≥ mosquitto: ${thr}; CPU/msg < ActiveMQ: ${cpu}`);
  }
  const w1 = get('wharf', 'QoS 1, 1 → 1, 100 in flight');
  if (w1) {
    const ahead = ['mosquitto', 'activemq']
      .map((b) => get(b, w1.case))
      .filter((r): r is Row => !!r)
      .map((r) => `${w1.delivered > r.delivered ? 'ahead of' : 'NOT ahead of'} ${r.broker} (${r.delivered.toLocaleString('en')})`);
    console.log(`target (b) QoS 1: ≥ 23,000 msgs/s with fsync before every PUBACK: ${w1.delivered >= 23_000 ? 'met' : 'NOT met'} (${w1.delivered.toLocaleString('en')} msgs/s)${ahead.length ? '; ' + ahead.join(', ') : ''}`);
  }
  console.log(JSON.stringify(results));
}

await benchMain(import.meta.url, run, { '--broker-child': (args) => brokerChild(args[0]!) });
