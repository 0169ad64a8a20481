/**
 * Side by side: Wharf and peer brokers under the same scenarios, the same third-party clients, one table.
 *
 *   npm run bench -- compare [--quick] [--install] [--brokers wharf,activemq,rabbitmq,mosquitto] [--scenarios a,b,…]
 *                            [--seconds 8] [--warmup 2] [--runs 2] [--backlog N] [--idle N] [--markdown] [--others]
 *
 * Brokers (one at a time, each on its own free 127.0.0.1 ports, killed by pid at the end); a broker that does not
 * speak a scenario's protocol gets `n/a` in its row:
 * - wharf: `--broker-child` of this file, every commit fsync'd (`store.noSync` false), STOMP, AMQP, MQTT and OpenWire
 *   listeners; `store.concurrentDispatch` on unless BENCH_WHARF_CONCURRENT_DISPATCH=0 (dispatch after the commit).
 *   MQTT QoS 1 to a persistent session: committed and fsync'd before the PUBACK.
 * - activemq: Debian's ActiveMQ 5.17 (`/usr/share/activemq`), KahaDB with `journalDiskSyncStrategy="always"` (fsync
 *   per journal write, the durable default); STOMP, OpenWire and MQTT (the MQTT transport needs
 *   `libmqtt-client-java`; QoS 1 to a durable subscription is a persistent message, journal-synced before the
 *   PUBACK); no AMQP (Debian's build ships no AMQP transport).
 * - rabbitmq: Debian's rabbitmq-server 3.10 with rabbitmq_stomp, rabbitmq_amqp1_0 and rabbitmq_mqtt; durable queues,
 *   publisher confirms (STOMP receipts, AMQP `accepted` and MQTT QoS 1 PUBACKs are sent after the message is fsync'd
 *   by the queue; a clean-session-off MQTT client gets a durable queue); no OpenWire.
 * - mosquitto: Debian's mosquitto 2, `persistence false`: MQTT only, QoS 1 kept in RAM (no fsync), so its QoS 1 row
 *   is not a durable one.
 * `--install` apt-get installs what is missing (activemq, libmqtt-client-java, rabbitmq-server, mosquitto; for the
 * OpenWire rows ActiveMQ's JMS client jars and javac); without it a missing peer is skipped with the reason, and
 * without the JMS client the OpenWire rows are n/a.
 *
 * Scenarios (clients: stompit 1.0.0, rhea 3.0.5, MQTT.js 5 and ActiveMQ 5.17's JMS client; every socket with
 * TCP_NODELAY):
 * - `stomp-100-1x1`, `stomp-1k-1x1`, `stomp-100-4x4`, `stomp-1k-4x4`: persistent SEND with a receipt each, up to
 *   100 receipts outstanding per producer, consumers `ack:client-individual` (prefetch 1000) ACK every MESSAGE.
 * - `amqp-100-1x1`, `amqp-1k-1x1`, `amqp-100-4x4`, `amqp-1k-4x4`: durable transfers, 100 unsettled per sender
 *   waiting for `accepted`; receivers with credit window 100 accept each message.
 * - `stomp-rate`, `amqp-rate`: one producer at a fixed 500 msgs/s (100 B), one consumer; end-to-end p50/p99.
 * - `openwire-100-1x1`, `openwire-1k-1x1`, `openwire-100-4x4`, `openwire-1k-4x4`: bench/openwire.ts's JmsBench in a
 *   JVM — PERSISTENT BytesMessages sent synchronously (one outstanding per producer: the next send after the
 *   broker's Response, i.e. once durable), AUTO_ACKNOWLEDGE consumers with prefetch 1000. Client CPU is the JVM's.
 * - `mqtt-qos0-1x1`, `mqtt-qos0-1x10`: bench/mqtt.ts's QoS 0 fan-out, one publisher → 1 or 10 subscribers, 100 B,
 *   the publisher at most 5,000 messages ahead of the slowest subscriber; msgs/s counts deliveries.
 * - `mqtt-qos1-1x1`: bench/mqtt.ts's QoS 1 run, one publisher (100 PUBLISHes awaiting their PUBACK) → one subscriber
 *   with a persistent session (clean session off), 100 B.
 * - `stomp-1m-1x1`: 1 MiB persistent messages, 4 receipts outstanding.
 * - `mqtt-idle`: `--idle N` (default 10,000) idle MQTT 3.1.1 connections; the table shows connects/s in the msgs/s
 *   column and the broker's RSS growth per connection (KiB) in the µs/msg column (mosquitto is a broker here too).
 * - `stomp-backlog`: `--backlog N` (default 1,000,000) persistent 100 B messages filled with nobody consuming,
 *   then drained; prints fill and drain rates, the broker's peak RSS and (Wharf) its peak V8 heap (msgs/s in the table = drain rate).
 * - `sqs-1k-4x4`: the AWS SDK v3 (`@aws-sdk/client-sqs`), 4 producers × SendMessageBatch(10 × 1 KiB), then 4
 *   consumers × ReceiveMessage(10) + DeleteMessageBatch (bench/sqs.ts), against Wharf (fsync'd, SigV4 verified)
 *   and fauxqs (npm, in memory, no auth): two rows each, `-send` and `-receive`; p50/p99 there are per HTTP request.
 * `--others` afterwards runs what is not a row: the sqs bench's phases with Wharf's own signing client (and the SDK
 * phases again when `sqs-1k-4x4` was left out), printed as its own table. (`npm run bench -- mqtt` and
 * `-- openwire` still run on their own, with their extra columns: PUBACK latency, store transactions.)
 *
 * Reported per scenario and broker: delivered msgs/s, p50/p99 (send → delivery, ms), broker CPU µs per message
 * (utime + stime of the broker's processes from /proc, all threads), client CPU µs per message (this process; for
 * the OpenWire rows the client JVM), and the Wharf/peer ratio of msgs/s (for rate runs: of p50). The median of
 * `runs` runs is shown.
 */
import { fork, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JAVA_JARS, javaHarness } from '../test/protocols/openwire/java-harness.js';
import { sdkComparison } from './sqs.js';
import { benchConcurrentDispatch, benchMain, formatTable, hostNote, Latencies, ownCpuMicros, procCpuMicros, removeDir, serveParent, sleep, tempDir } from './lib.js';
import { qos0Fanout, qos1Durable } from './mqtt.js';
import { AMQ_EXTRA_JARS, AMQ_HOME, freePort, kahaDbAlwaysSync, launchActiveMQ, mosquitto, PeerBroker } from './mqtt-peers.js';
import { runPair } from './openwire.js';

const self = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

// ------------------------------------------------------------------------------------------- brokers

interface Target {
  name: string;
  pid: number;
  stomp?: number;
  amqp?: number;
  mqtt?: number;
  openwire?: number;
  /** what durable means there */
  note: string;
  /** the broker's peak V8 heap and peak Buffer (external) memory so far, MB (Wharf only: the peers' heaps are a JVM's or an Erlang VM's) */
  peakHeapMb?(): Promise<{ heap: number; external: number }>;
  stop(): Promise<void>;
}

interface BrokerSpec {
  name: string;
  missing(): string | null;
  /** apt packages --install adds */
  packages: string[];
  start(): Promise<Target>;
  warmup(base: number): number;
}

/** In the Wharf child: a Broker with STOMP, AMQP, MQTT and OpenWire listeners, fsync'd store. */
async function wharfChild(dataDir: string): Promise<void> {
  const { Broker } = await import('../src/app/broker.js');
  const { parseConfig } = await import('../src/app/config.js');
  const { silentLogger } = await import('../src/app/log.js');
  const { stompModule } = await import('../protocols/stomp/index.js');
  const { amqpModule } = await import('../protocols/amqp/index.js');
  const { mqttModule } = await import('../protocols/mqtt/index.js');
  const { createOpenWireModule } = await import('../protocols/openwire/index.js');
  const off = { enabled: false };
  const on = { host: '127.0.0.1', port: 0 };
  const config = parseConfig({
    dataDir,
    store: { noSync: false, concurrentDispatch: benchConcurrentDispatch(), journal: process.env.WHARF_BENCH_JOURNAL === '1' }, // WHARF_BENCH_JOURNAL=1: with the store journal
    log: { level: 'silent' },
    listeners: { openwire: on, amqp: on, stomp: on, admin: off, sqs: off, ws: off, mqtt: on },
    // the idle-connections scenario opens 10,000 from 127.0.0.1 (the defaults allow 10,000 per listener and half
    // the file-descriptor limit per address)
    limits: { maxConnections: 0, maxConnectionsPerAddress: 15_000 },
  });
  const broker = new Broker(config, { protocols: [stompModule, amqpModule, mqttModule, createOpenWireModule()], http: [], logger: silentLogger() });
  await broker.start();
  const a = broker.listenerAddresses();
  process.send!({ ports: { stomp: a.stomp!.port, amqp: a.amqp!.port, mqtt: a.mqtt!.port, openwire: a.openwire!.port } } satisfies { ports: WharfPorts });
  serveParent({ port: a.stomp!.port, stop: () => broker.stop() });
}

type WharfPorts = { stomp: number; amqp: number; mqtt: number; openwire: number };

const wharf: BrokerSpec = {
  name: 'wharf',
  missing: () => null,
  packages: [],
  warmup: (b) => b,
  async start() {
    const dataDir = tempDir('compare-wharf');
    const execArgv = [...process.execArgv];
    // BENCH_WHARF_PROFILE=DIR: a V8 CPU profile of the Wharf broker per start
    const profileDir = process.env.BENCH_WHARF_PROFILE;
    if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`);
    const proc = fork(self, ['--wharf-child', dataDir], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // a failing scenario exits this process: the broker child goes with it
    process.on('exit', () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      removeDir(dataDir);
    });
    const p = await new Promise<WharfPorts>((resolve, reject) => {
      proc.on('message', (m: { ports?: WharfPorts }) => m.ports && resolve(m.ports));
      proc.once('exit', (code) => reject(new Error(`wharf child exited with ${code}`)));
    });
    return {
      name: 'wharf',
      pid: proc.pid!,
      stomp: p.stomp,
      amqp: p.amqp,
      mqtt: p.mqtt,
      openwire: p.openwire,
      note: 'LMDB, every commit fsync’d before the receipt/accepted/PUBACK/Response',
      peakHeapMb: () =>
        new Promise<{ heap: number; external: number }>((resolve) => {
          const on = (m: { heap?: { heap: number; external: number } }) => {
            if (m.heap === undefined) return;
            proc.off('message', on);
            resolve({ heap: m.heap.heap / (1024 * 1024), external: m.heap.external / (1024 * 1024) });
          };
          proc.on('message', on);
          proc.send({ cmd: 'heap' });
        }),
      async stop() {
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise((r) => proc.once('exit', r));
          proc.send({ cmd: 'stop' });
          await exited;
        }
        removeDir(dataDir);
      },
    };
  },
};

/** ActiveMQ's MQTT transport needs the FuseSource MQTT codec (Debian: libmqtt-client-java); without it, no MQTT rows. */
const amqMqttMissing = () => (fs.existsSync('/usr/share/java/mqtt-client.jar') ? null : 'libmqtt-client-java is not installed');

const activemq: BrokerSpec = {
  name: 'activemq',
  packages: ['activemq', 'libmqtt-client-java'],
  missing: () => (fs.existsSync(path.join(AMQ_HOME, 'bin/activemq.jar')) && which('java') ? null : 'ActiveMQ is not installed (apt-get install activemq)'),
  warmup: (b) => Math.max(b, 3),
  async start() {
    const [openwire, mqtt] = [await freePort(), await freePort()];
    const noMqtt = amqMqttMissing();
    // KahaDB journal synced on every write ("always", the default): a receipt, a Response to a persistent send or a
    // PUBACK for a QoS 1 message to a durable (clean session off) subscription means the message is on disk
    const b = await launchActiveMQ({
      name: 'activemq',
      persistent: true,
      persistence: kahaDbAlwaysSync,
      connector: (port) =>
        [
          `<transportConnector name="stomp" uri="stomp+nio://127.0.0.1:${port}?transport.tcpNoDelay=true"/>`,
          `<transportConnector name="openwire" uri="tcp://127.0.0.1:${openwire}?transport.tcpNoDelay=true"/>`,
          noMqtt ? '' : `<transportConnector name="mqtt" uri="mqtt+nio://127.0.0.1:${mqtt}?transport.tcpNoDelay=true"/>`,
        ].join('\n      '),
      extraJars: AMQ_EXTRA_JARS,
    });
    // the JVM listens on STOMP first: give the other connectors their moment
    for (const port of noMqtt ? [openwire] : [openwire, mqtt]) await waitForPort(port, 30_000);
    const note = `KahaDB, journalDiskSyncStrategy=always (MQTT QoS 1 to a durable subscription too)${noMqtt ? `; no MQTT: ${noMqtt}` : ''}`;
    return { name: 'activemq', pid: b.pid, stomp: b.port, openwire, mqtt: noMqtt ? undefined : mqtt, note, stop: () => b.stop() };
  },
};

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms / 1000} s`);
    await sleep(100);
  }
}

const rabbitmq: BrokerSpec = {
  name: 'rabbitmq',
  packages: ['rabbitmq-server'],
  missing: () => (fs.existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? null : 'RabbitMQ is not installed (apt-get install rabbitmq-server)'),
  warmup: (b) => Math.max(b, 2),
  async start() {
    const dir = tempDir('compare-rabbitmq');
    const [amqp091, stomp, amqp, dist, mqtt] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_stomp,rabbitmq_amqp1_0,rabbitmq_mqtt].\n');
    fs.writeFileSync(
      path.join(dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.default = 127.0.0.1:${amqp091}`,
        `stomp.listeners.tcp.1 = 127.0.0.1:${stomp}`,
        'stomp.tcp_listen_options.nodelay = true',
        'tcp_listen_options.nodelay = true',
        'loopback_users = none',
        'stomp.default_user = guest',
        'stomp.default_pass = guest',
        // MQTT: anonymous clients as guest; a clean-session-off client gets a durable queue, QoS 1 publishes are
        // persistent and PUBACKed after the publisher confirm
        `mqtt.listeners.tcp.default = 127.0.0.1:${mqtt}`,
        'mqtt.tcp_listen_options.nodelay = true',
        'mqtt.allow_anonymous = true',
        'mqtt.default_user = guest',
        'mqtt.default_pass = guest',
        // AMQP 1.0 rides on the AMQP 0-9-1 port (protocol header negotiation) in 3.10
        '',
      ].join('\n'),
    );
    const env = {
      ...process.env,
      RABBITMQ_BASE: dir,
      RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(dir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
      RABBITMQ_NODENAME: `bench${process.pid}@localhost`,
      RABBITMQ_DIST_PORT: String(dist),
      RABBITMQ_PID_FILE: path.join(dir, 'pid'),
      HOME: dir,
    };
    Object.assign(process.env, { RABBITMQ_NODENAME: env.RABBITMQ_NODENAME });
    void amqp;
    const b = await launchWithEnv('rabbitmq', '/usr/lib/rabbitmq/bin/rabbitmq-server', [], dir, stomp, env);
    await sleep(2000);
    await waitForPort(mqtt, 30_000);
    return { name: 'rabbitmq', pid: b.pid, stomp, amqp: amqp091, mqtt, note: 'durable queues; receipts/accepted/PUBACK after confirm (fsync by the queue)', stop: () => b.stop() };
  },
};

async function launchWithEnv(name: string, cmd: string, args: string[], dir: string, port: number, env: NodeJS.ProcessEnv): Promise<PeerBroker> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await PeerBroker.launch(name, cmd, args, dir, port, dir, 120_000);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, bin))) return path.join(dir, bin);
  }
  return null;
}

const mosquittoBroker: BrokerSpec = {
  name: 'mosquitto',
  packages: ['mosquitto'],
  missing: () => mosquitto.missing(),
  warmup: (b) => b,
  async start() {
    const b = await mosquitto.start('qos0');
    return { name: 'mosquitto', pid: b.pid, mqtt: b.port, note: 'in memory (persistence false): QoS 1 kept in RAM only, no fsync; MQTT only', stop: () => b.stop() };
  },
};

const BROKERS: BrokerSpec[] = [wharf, activemq, rabbitmq, mosquittoBroker];

// ------------------------------------------------------------------------------------------- measuring

interface Result {
  msgsPerSec: number;
  p50: number;
  p99: number;
  brokerUs: number;
  clientUs: number;
}

/** What a scenario drives: start producing (closed loop or fixed rate), count deliveries with their latency. */
class Meter {
  readonly lat = new Latencies(2_000_000);
  delivered = 0;
  measuring = false;
  record(sentAt: number): void {
    if (!this.measuring) return;
    this.delivered++;
    this.lat.add(performance.now() - sentAt);
  }
}

/**
 * `pid` and every process below it: RabbitMQ's pid is its start script, the Erlang VM its child. The broker's CPU
 * and memory are summed over them (a process that exits during the window takes its time with it; none does here).
 */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      const l = children.get(ppid);
      if (l) l.push(Number(d));
      else children.set(ppid, [Number(d)]);
    } catch {
      /* gone */
    }
  }
  const tree: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    tree.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return tree;
}

/** Sum of `f` over the process tree of `pid`, skipping processes gone meanwhile. */
function treeSum(pid: number, f: (pid: number) => number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      total += f(p);
    } catch {
      /* gone */
    }
  }
  return total;
}

/** CPU (µs) of the broker's process tree. */
const treeCpuMicros = (pid: number) => treeSum(pid, procCpuMicros);

async function measure(t: Target, o: Opts, meter: Meter): Promise<Result> {
  await sleep(o.warmup * 1000);
  const c0 = treeCpuMicros(t.pid);
  const u0 = ownCpuMicros();
  const t0 = performance.now();
  meter.measuring = true;
  await sleep(o.seconds * 1000);
  meter.measuring = false;
  const el = (performance.now() - t0) / 1000;
  const n = Math.max(1, meter.delivered);
  return {
    msgsPerSec: meter.delivered / el,
    p50: meter.lat.percentile(50),
    p99: meter.lat.percentile(99),
    brokerUs: (treeCpuMicros(t.pid) - c0) / n,
    clientUs: (ownCpuMicros() - u0) / n,
  };
}

interface Opts {
  seconds: number;
  warmup: number;
}

const noDelayConnect = (opts: Any, cb: () => void) => {
  const s = net.connect(opts, cb);
  s.setNoDelay(true);
  return s;
};

// ------------------------------------------------------------------------------------------- STOMP (stompit)

function stompConnect(port: number): Promise<Any> {
  const stompit = require('stompit');
  return new Promise((resolve, reject) => {
    stompit.connect({ host: '127.0.0.1', port, connect: noDelayConnect, connectHeaders: { host: '/', login: 'guest', passcode: 'guest', 'heart-beat': '0,0', 'accept-version': '1.2' } }, (err: Error | null, client: Any) =>
      err ? reject(err) : resolve(client),
    );
  });
}

async function stompScenario(t: Target, o: Opts, size: number, pairs: number, rate: number | null, window = 100): Promise<Result> {
  const queue = `/queue/bench.${size}.${pairs}.${Date.now()}`;
  const body = Buffer.alloc(size, 0x78);
  const meter = new Meter();
  const clients: Any[] = [];
  let stopping = false;
  const errors = (c: Any) => c.on('error', (e: Error) => !stopping && fail(`stomp client: ${e.message}`));
  for (let i = 0; i < pairs; i++) {
    const c = await stompConnect(t.stomp!);
    errors(c);
    clients.push(c);
    const subscribed = new Promise<void>((resolve) => {
      c.subscribe({ destination: queue, ack: 'client-individual', 'activemq.prefetchSize': '1000', 'prefetch-count': '1000' }, (err: Error | null, msg: Any) => {
        if (err) return stopping || fail(`stomp subscribe: ${err.message}`);
        const sentAt = Number(msg.headers.sent);
        msg.on('data', () => undefined);
        msg.on('end', () => {
          meter.record(sentAt);
          c.ack(msg);
        });
      });
      // stompit sends SUBSCRIBE at once; give the broker a moment to attach the consumer
      setTimeout(resolve, 200);
    });
    await subscribed;
  }
  const producers: Any[] = [];
  for (let i = 0; i < pairs; i++) {
    const c = await stompConnect(t.stomp!);
    errors(c);
    clients.push(c);
    producers.push(c);
  }
  const sendOne = (c: Any, onReceipt: () => void) => {
    const f = c.send({ destination: queue, persistent: 'true', 'content-length': String(size), sent: String(performance.now()) }, { onReceipt });
    f.write(body);
    f.end();
  };
  let timer: NodeJS.Timeout | undefined;
  if (rate === null) {
    for (const c of producers) {
      const loop = () => !stopping && sendOne(c, loop);
      for (let i = 0; i < window; i++) loop();
    }
  } else {
    const start = performance.now();
    let sent = 0;
    timer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      while (sent < due && !stopping) {
        sent++;
        sendOne(producers[0], () => undefined);
      }
    }, 1);
  }
  const r = await measure(t, o, meter);
  stopping = true;
  if (timer) clearInterval(timer);
  await sleep(300);
  for (const c of clients) c.destroy();
  return r;
}

// ------------------------------------------------------------------------------------------- AMQP 1.0 (rhea)

function amqpConnect(port: number): Promise<Any> {
  const rhea = require('rhea');
  const container = rhea.create_container();
  container.on('error', (e: Error) => fail(`amqp client: ${e.message}`));
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false, idle_time_out: 0, tcp_no_delay: true, username: 'guest', password: 'guest' });
  return new Promise((resolve, reject) => {
    conn.once('connection_open', () => resolve(conn));
    conn.once('disconnected', (ctx: Any) => reject(new Error(`disconnected: ${ctx.error?.message ?? ''}`)));
  });
}

async function amqpScenario(t: Target, o: Opts, size: number, pairs: number, rate: number | null): Promise<Result> {
  const queue = `bench.${size}.${pairs}.${Date.now()}`;
  // RabbitMQ 3.10's AMQP 1.0 plugin: /queue/<name> declares (durable) and uses that queue
  const address = t.name === 'rabbitmq' ? `/queue/${queue}` : queue;
  const body = Buffer.alloc(size, 0x78);
  const meter = new Meter();
  const conns: Any[] = [];
  let stopping = false;
  for (let i = 0; i < pairs; i++) {
    const c = await amqpConnect(t.amqp!);
    conns.push(c);
    const r = c.open_receiver({ source: { address, durable: 2 }, credit_window: 100, autoaccept: true });
    r.on('message', (ctx: Any) => meter.record(Number(ctx.message.application_properties?.sent)));
    await new Promise((res) => r.once('receiver_open', res));
  }
  const senders: Any[] = [];
  for (let i = 0; i < pairs; i++) {
    const c = await amqpConnect(t.amqp!);
    conns.push(c);
    const s = c.open_sender({ target: { address, durable: 2 } });
    await new Promise((res) => s.once('sendable', res));
    senders.push(s);
  }
  const sendOne = (s: Any) => s.send({ durable: true, body: rheaBinary(body), application_properties: { sent: performance.now() } });
  let timer: NodeJS.Timeout | undefined;
  if (rate === null) {
    for (const s of senders) {
      let unsettled = 0;
      const pump = () => {
        while (!stopping && unsettled < 100 && s.sendable()) {
          unsettled++;
          sendOne(s);
        }
      };
      s.on('accepted', () => {
        unsettled--;
        pump();
      });
      s.on('sendable', pump);
      s.on('rejected', (ctx: Any) => fail(`amqp rejected: ${JSON.stringify(ctx.delivery.remote_state?.error)}`));
      pump();
    }
  } else {
    const start = performance.now();
    let sent = 0;
    timer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      while (sent < due && !stopping && senders[0].sendable()) {
        sent++;
        sendOne(senders[0]);
      }
    }, 1);
  }
  const r = await measure(t, o, meter);
  stopping = true;
  if (timer) clearInterval(timer);
  await sleep(300);
  for (const c of conns) c.close();
  return r;
}

/**
 * Backlog: one stompit producer fills a queue with `count` persistent 100 B messages (receipts, window 100) while
 * nobody consumes, then one consumer drains it. msgs/s is the drain rate; p50/p99 are of nothing (0); the broker's
 * peak RSS (VmHWM from /proc) and, for Wharf, its sampled peak V8 heap say what the backlog cost in memory.
 */
async function backlogScenario(t: Target, count: number): Promise<Result & { fillPerSec: number; rssMb: number; heapMb: number; externalMb: number }> {
  const queue = `/queue/backlog.${Date.now()}`;
  const body = Buffer.alloc(100, 0x78);
  const producer = await stompConnect(t.stomp!);
  producer.on('error', (e: Error) => fail(`stomp producer: ${e.message}`));
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let sent = 0;
    let acked = 0;
    const one = () => {
      if (sent >= count) return;
      sent++;
      const f = producer.send({ destination: queue, persistent: 'true', 'content-length': '100' }, { onReceipt: () => (++acked === count ? resolve() : one()) });
      f.write(body);
      f.end();
    };
    for (let i = 0; i < 100; i++) one();
  });
  const fillPerSec = count / ((performance.now() - t0) / 1000);
  producer.destroy();
  const c0 = treeCpuMicros(t.pid);
  const t1 = performance.now();
  const consumer = await stompConnect(t.stomp!);
  let stopping = false;
  consumer.on('error', (e: Error) => stopping || fail(`stomp consumer: ${e.message}`));
  await new Promise<void>((resolve) => {
    let got = 0;
    consumer.subscribe({ destination: queue, ack: 'client-individual', 'activemq.prefetchSize': '1000', 'prefetch-count': '1000' }, (err: Error | null, msg: Any) => {
      if (err) return stopping || fail(`stomp subscribe: ${err.message}`);
      msg.on('data', () => undefined);
      msg.on('end', () => {
        consumer.ack(msg);
        if (++got === count) resolve();
      });
    });
  });
  const el = (performance.now() - t1) / 1000;
  stopping = true;
  const brokerUs = (treeCpuMicros(t.pid) - c0) / count;
  consumer.destroy();
  const mem = t.peakHeapMb ? await t.peakHeapMb() : { heap: NaN, external: NaN };
  return { msgsPerSec: count / el, p50: 0, p99: 0, brokerUs, clientUs: NaN, fillPerSec, rssMb: peakRssMb(t.pid), heapMb: mem.heap, externalMb: mem.external };
}

/**
 * Idle MQTT connections: `IDLE_CONNECTIONS` raw MQTT 3.1.1 CONNECTs (clean session, keep-alive 0, 200 at a time),
 * each waiting for its CONNACK; the broker's RSS (VmRSS) is read before and 2 s after. Reported in the table as
 * connections/s (msgs/s column) and KiB of broker RSS per connection (µs/msg column).
 */
async function idleMqtt(t: Target, n: number): Promise<Result> {
  const rss0 = rssKb(t.pid);
  const sockets: net.Socket[] = [];
  const t0 = performance.now();
  const open = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const id = Buffer.from(`idle-${process.pid}-${i}`);
      const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 0, 0, id.length]), id]);
      const s = net.connect({ host: '127.0.0.1', port: t.mqtt!, noDelay: true }, () => s.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
      s.once('data', (d: Buffer) => (d[0] === 0x20 && d[3] === 0 ? resolve() : reject(new Error(`CONNACK ${d.toString('hex')}`))));
      s.once('error', reject);
      s.on('close', () => undefined);
      sockets.push(s);
    });
  for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, k) => open(i + k)));
  const el = (performance.now() - t0) / 1000;
  await sleep(2000);
  const rss1 = rssKb(t.pid);
  for (const s of sockets) s.destroy();
  console.log(`    mqtt-idle (${n}): broker RSS ${(rss0 / 1024).toFixed(0)} → ${(rss1 / 1024).toFixed(0)} MB, ${((rss1 - rss0) / n).toFixed(1)} KiB per connection, ${Math.round(n / el)} connects/s`);
  return { msgsPerSec: n / el, p50: NaN, p99: NaN, brokerUs: (rss1 - rss0) / n, clientUs: NaN };
}

/** A /proc/<pid>/status field in kB (0 when absent, e.g. for a zombie). */
function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** RSS of the broker's process tree, kB. */
const rssKb = (pid: number) => treeSum(pid, (p) => statusKb(p, 'VmRSS'));

/** Peak RSS of the broker, MB: the sum of its processes' peaks (for one-process brokers, that process's peak). */
const peakRssMb = (pid: number) => treeSum(pid, (p) => statusKb(p, 'VmHWM')) / 1024;

// ------------------------------------------------------------------------------------------- MQTT (MQTT.js), OpenWire (JMS)

/** bench/mqtt.ts's workloads against `t`, its CPU read the same way as the other rows'. */
async function mqttScenario(t: Target, o: Opts, workload: { qos: 0; subscribers: number } | { qos: 1 }): Promise<Result> {
  const target = { port: t.mqtt!, stats: async () => ({ cpuMicros: treeCpuMicros(t.pid) }) };
  if (workload.qos === 0) {
    const r = await qos0Fanout(target, workload.subscribers, o);
    return { msgsPerSec: r.deliveredPerSec, p50: r.e2eP50ms, p99: r.e2eP99ms, brokerUs: r.brokerCpuMicrosPerMsg, clientUs: r.clientCpuMicrosPerMsg };
  }
  const r = await qos1Durable(target, o);
  return { msgsPerSec: r.msgsPerSec, p50: r.e2eP50ms, p99: r.e2eP99ms, brokerUs: r.brokerCpuMicrosPerMsg, clientUs: r.clientCpuMicrosPerMsg };
}

/** bench/openwire.ts's JmsBench (ActiveMQ's JMS client in a JVM) against `t`; client CPU is the JVM's. */
async function openwireScenario(t: Target, o: Opts, size: number, pairs: number): Promise<Result> {
  const r = await runPair({ port: t.openwire!, cpuMicros: () => treeCpuMicros(t.pid) }, pairs, pairs, { ...o, size, query: '?tcpNoDelay=true' });
  const n = Math.max(1, r.received);
  return { msgsPerSec: r.received / r.seconds, p50: Number(r.values['E2E_P50'] ?? NaN), p99: Number(r.values['E2E_P99'] ?? NaN), brokerUs: r.cpuMicros / n, clientUs: r.clientCpuMicros / n };
}

function rheaBinary(b: Buffer): Any {
  return require('rhea').message.data_section(b);
}

// ------------------------------------------------------------------------------------------- scenarios

interface Scenario {
  name: string;
  protocol: 'stomp' | 'amqp' | 'mqtt' | 'openwire';
  rate: boolean;
  run(t: Target, o: Opts): Promise<Result>;
}

const SCENARIOS: Scenario[] = [];
for (const [p, fn] of [['stomp', stompScenario], ['amqp', amqpScenario]] as const) {
  for (const [label, size] of [['100', 100], ['1k', 1024]] as const) {
    for (const pairs of [1, 4]) SCENARIOS.push({ name: `${p}-${label}-${pairs}x${pairs}`, protocol: p, rate: false, run: (t, o) => fn(t, o, size, pairs, null) });
  }
  SCENARIOS.push({ name: `${p}-rate`, protocol: p, rate: true, run: (t, o) => fn(t, o, 100, 1, 500) });
}
for (const [label, size] of [['100', 100], ['1k', 1024]] as const) {
  for (const pairs of [1, 4]) SCENARIOS.push({ name: `openwire-${label}-${pairs}x${pairs}`, protocol: 'openwire', rate: false, run: (t, o) => openwireScenario(t, o, size, pairs) });
}
for (const subscribers of [1, 10]) SCENARIOS.push({ name: `mqtt-qos0-1x${subscribers}`, protocol: 'mqtt', rate: false, run: (t, o) => mqttScenario(t, o, { qos: 0, subscribers }) });
SCENARIOS.push({ name: 'mqtt-qos1-1x1', protocol: 'mqtt', rate: false, run: (t, o) => mqttScenario(t, o, { qos: 1 }) });
/** reports RSS per connection (KiB) where the other rows have CPU per message */
const IDLE_SCENARIO = 'mqtt-idle';
SCENARIOS.push({ name: IDLE_SCENARIO, protocol: 'mqtt', rate: false, run: (t) => idleMqtt(t, IDLE_CONNECTIONS) });
// 1 MiB messages: 4 outstanding per producer (a window of 100 would keep 100 MiB in flight)
SCENARIOS.push({ name: 'stomp-1m-1x1', protocol: 'stomp', rate: false, run: (t, o) => stompScenario(t, o, 1 << 20, 1, null, 4) });
SCENARIOS.push({
  name: 'stomp-backlog',
  protocol: 'stomp',
  rate: false,
  async run(t) {
    const r = await backlogScenario(t, BACKLOG_COUNT);
    console.log(`    stomp-backlog (${BACKLOG_COUNT} × 100 B): fill ${Math.round(r.fillPerSec)} msgs/s, drain ${Math.round(r.msgsPerSec)} msgs/s, broker peak RSS ${r.rssMb.toFixed(0)} MB${Number.isNaN(r.heapMb) ? '' : `, peak V8 heap ${r.heapMb.toFixed(0)} MB (Buffers ${r.externalMb.toFixed(0)} MB)`}`);
    return r;
  },
});
/** The AWS SDK rows (`-send`, `-receive`): Wharf and fauxqs, run by bench/sqs.ts rather than per broker here. */
const SQS_SCENARIO = 'sqs-1k-4x4';
const QUICK = ['stomp-100-1x1', 'amqp-100-1x1', 'stomp-rate', 'amqp-rate'];
/** messages of the backlog scenario: `--backlog N` (default 1,000,000; 100,000 with --quick) */
let BACKLOG_COUNT = 1_000_000;
/** connections of the mqtt-idle scenario: `--idle N` (default 10,000; 2,000 with --quick) */
let IDLE_CONNECTIONS = 10_000;

function fail(msg: string): never {
  console.error(`bench compare: ${msg}`);
  process.exit(1);
}

function install(pkgs: string[]): void {
  if (!pkgs.length) return;
  console.log(`apt-get install ${pkgs.join(' ')} …`);
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) console.log(`apt-get install failed (${r.status}); the missing peers are skipped`);
  // Debian starts the installed services; the bench runs its own instances
  for (const svc of ['activemq', 'rabbitmq-server']) spawnSync('service', [svc, 'stop'], { stdio: 'ignore' });
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      install: { type: 'boolean', default: false },
      brokers: { type: 'string', default: 'wharf,activemq,rabbitmq,mosquitto' },
      scenarios: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      runs: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      others: { type: 'boolean', default: false },
      backlog: { type: 'string' },
      idle: { type: 'string' },
    },
  });
  IDLE_CONNECTIONS = Number(a.idle ?? (a.quick ? 2_000 : 10_000));
  BACKLOG_COUNT = Number(a.backlog ?? (a.quick ? 100_000 : 1_000_000));
  const o: Opts = { seconds: Number(a.seconds ?? (a.quick ? 4 : 8)), warmup: Number(a.warmup ?? (a.quick ? 1 : 2)) };
  const runs = Number(a.runs ?? (a.quick ? 1 : 2));
  const wanted = (a.scenarios?.split(',') ?? (a.quick ? QUICK : [...SCENARIOS.map((s) => s.name), SQS_SCENARIO])).map((s) => s.trim());
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.name));
  const withSqs = wanted.includes(SQS_SCENARIO);
  const brokers = a.brokers.split(',').map((n) => BROKERS.find((b) => b.name === n.trim()) ?? fail(`unknown broker ${n}`));
  const withOpenWire = scenarios.some((s) => s.protocol === 'openwire');
  if (a.install) {
    const pkgs = brokers.flatMap((b) => (b.missing() || (b === activemq && amqMqttMissing()) ? b.packages : []));
    // the OpenWire rows' client: ActiveMQ's JMS client jars and javac (test/protocols/openwire/java-harness.ts)
    if (withOpenWire) pkgs.push(...JAVA_JARS.filter(([jar]) => !fs.existsSync(path.join('/usr/share/java', jar))).map(([, pkg]) => pkg), ...(which('javac') ? [] : ['default-jdk-headless']));
    install([...new Set(pkgs)]);
  }
  /** protocols whose client cannot run here, and why: their rows are n/a for every broker */
  const noClient = new Map<Scenario['protocol'], string>();
  if (withOpenWire) {
    try {
      javaHarness(); // compiles JmsBench before any broker starts
    } catch (err) {
      noClient.set('openwire', (err as Error).message);
      console.log(`  openwire rows: n/a — ${(err as Error).message}`);
    }
  }

  console.log(
    `compare: ${[...scenarios.map((s) => s.name), ...(withSqs ? [SQS_SCENARIO] : [])].join(', ')}; ${o.seconds} s after ${o.warmup} s warm-up, median of ${runs}; ` +
      `clients stompit 1.0.0 / rhea 3.0.5 / MQTT.js 5 / ActiveMQ 5.17 JMS (in a JVM) with TCP_NODELAY; ${hostNote()}; ${loadNote()}`,
  );
  const results = new Map<string, Map<string, Result | string>>(); // scenario → broker → result or why not
  for (const s of scenarios) results.set(s.name, new Map());
  for (const b of scenarios.length ? brokers : []) {
    const why = b.missing();
    if (why) {
      console.log(`  ${b.name}: skipped — ${why}`);
      for (const s of scenarios) results.get(s.name)!.set(b.name, 'n/a');
      continue;
    }
    const target = await b.start();
    console.log(`  ${b.name} (pid ${target.pid}): ${target.note}`);
    try {
      for (const s of scenarios) {
        if (!target[s.protocol] || noClient.has(s.protocol)) {
          results.get(s.name)!.set(b.name, 'n/a');
          continue;
        }
        const rs: Result[] = [];
        const long = s.name === 'stomp-backlog';
        for (let i = 0; i < (long ? 1 : runs); i++) {
          try {
            rs.push(await withTimeout(s.run(target, { ...o, warmup: b.warmup(o.warmup) }), long ? 3_600_000 : (o.seconds + o.warmup + 30) * 1000));
          } catch (err) {
            console.log(`    ${s.name}: ${(err as Error).message}`);
          }
        }
        const r = median(rs, s.rate ? (x) => -x.p50 : (x) => x.msgsPerSec);
        results.get(s.name)!.set(b.name, r ?? 'failed');
        // mqtt-idle printed its own line (connects/s, RSS per connection): its Result has no latency or CPU figures
        if (r && s.name !== IDLE_SCENARIO) console.log(`    ${s.name}: ${Math.round(r.msgsPerSec)} msgs/s, p50/p99 ${r.p50.toFixed(2)}/${r.p99.toFixed(2)} ms, broker ${r.brokerUs.toFixed(1)} µs/msg, client ${r.clientUs.toFixed(1)} µs/msg`);
      }
    } finally {
      await target.stop();
    }
  }
  const names = brokers.map((b) => b.name);
  const shown: TableRow[] = [...scenarios];
  if (withSqs) {
    // its own load generator and servers (Wharf, fauxqs): bench/sqs.ts
    console.log(`  ${SQS_SCENARIO}: AWS SDK v3, Wharf then fauxqs …`);
    const r = await sdkComparison({ clients: 4, size: 1024, seconds: o.seconds });
    for (const phase of ['send', 'receive'] as const) {
      const name = `${SQS_SCENARIO}-${phase}`;
      const byB = new Map<string, Result | string>();
      for (const server of ['wharf', 'fauxqs'] as const) {
        const f = r[server]?.[phase];
        byB.set(server, f ?? 'failed');
        if (f) console.log(`    ${name} ${server}: ${Math.round(f.msgsPerSec)} msgs/s, request p50/p99 ${f.p50.toFixed(2)}/${f.p99.toFixed(2)} ms, server ${f.brokerUs.toFixed(1)} µs/msg, client ${f.clientUs.toFixed(1)} µs/msg`);
      }
      results.set(name, byB);
      shown.push({ name, protocol: 'sqs', rate: false });
    }
    if (!names.includes('wharf')) names.unshift('wharf');
    names.push('fauxqs');
  }
  console.log('\n' + table(shown, names, results, a.markdown));
  if (a.others) {
    // what is not a row: the sqs bench's phases with Wharf's own signing client (the SDK rows are in the table
    // already unless left out with --scenarios)
    const args = withSqs ? ['--clients', '4', '--no-sdk'] : ['--clients', '4'];
    console.log(`\n== npm run bench -- sqs ${args.join(' ')} (compares with fauxqs itself)`);
    spawnSync(process.execPath, [path.join(path.dirname(self), 'run.js'), 'sqs', ...args], { stdio: 'inherit' });
  }
}

function median(rs: Result[], key: (r: Result) => number): Result | undefined {
  if (!rs.length) return undefined;
  return [...rs].sort((x, y) => key(x) - key(y))[Math.floor((rs.length - 1) / 2)];
}

/** A scenario as the table shows it (the SQS rows are not run per broker here). */
type TableRow = { name: string; protocol: Scenario['protocol'] | 'sqs'; rate: boolean };

function table(scenarios: TableRow[], names: string[], results: Map<string, Map<string, Result | string>>, markdown: boolean): string {
  const head = ['scenario', 'broker', 'msgs/s', 'p50/p99 ms', 'broker µs/msg', 'client µs/msg', 'wharf/peer'];
  const rows: string[][] = [];
  for (const s of scenarios) {
    const byB = results.get(s.name)!;
    const w = byB.get('wharf');
    for (const n of names) {
      const r = byB.get(n);
      if (r === undefined) continue;
      if (typeof r === 'string') {
        rows.push([s.name, n, r, '', '', '', '']);
        continue;
      }
      let ratio = '';
      if (n !== 'wharf' && w && typeof w !== 'string') ratio = s.rate ? `p50 ×${(w.p50 / r.p50).toPrecision(2)}` : `×${(w.msgsPerSec / r.msgsPerSec).toFixed(2)}`;
      const num = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '');
      const lat = Number.isFinite(r.p50) && r.p50 > 0 ? `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}` : '';
      rows.push([s.name, n, String(Math.round(r.msgsPerSec)), lat, num(r.brokerUs, 1) + (s.name === IDLE_SCENARIO ? ' KiB/conn' : ''), num(r.clientUs, 1), ratio]);
    }
  }
  return formatTable(head, rows, { right: (i) => i > 1, markdown });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, j) => setTimeout(() => j(new Error(`timed out after ${ms / 1000} s`)), ms).unref())]);
}

function loadNote(): string {
  try {
    return `load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
  } catch {
    return '';
  }
}

await benchMain(import.meta.url, () => run(), { '--wharf-child': (args) => wharfChild(args[0]!) });
