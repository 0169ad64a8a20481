/**
 * OpenWire (JMS) benchmark with ActiveMQ's own Java client.
 *
 *   npm run bench -- openwire [--seconds 5] [--warmup 2] [--size 100] [--pairs 1x1,8x8] [--no-peer] [--url-options '?tcpNoDelay=true'] [--nosync] [--profile DIR] [--dir TMPDIR]
 *
 * A real Broker with only the OpenWire listener runs in a child process (fsync'd store unless --nosync). A JVM runs
 * test/protocols/openwire/java/JmsBench.java (compiled with javac against Debian's ActiveMQ 5.17 jars, like the
 * tests): P producers, each on its own connection, send PERSISTENT `size`-byte BytesMessages synchronously (the
 * next send after the broker's Response, i.e. once durable) to one queue; C consumers (AUTO_ACKNOWLEDGE, default
 * prefetch 1000) receive. Reported for each PxC: messages/s received, p50/p99 of the synchronous send and of
 * send → receive, and the broker child's CPU per received message (utime + stime from /proc/<pid>/stat over the
 * measured window). In the same run, for each PxC, ActiveMQ 5.17 (Debian's `activemq` package, KahaDB with the journal
 * fsync'd on every write, as its default instance) serves the same JVM client first (`--no-peer` skips it); its CPU
 * per message is the broker JVM's utime + stime.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { javaHarness } from '../test/protocols/openwire/java-harness.js';
import { benchMain, BROKER_OPTIONS, brokerChildEntry, formatTable, hostNote, procCpuMicros, serveBroker, syncNote, withBrokerChild, type ListenerName, type StoreStats } from './lib.js';
import { AMQ_HOME, kahaDbAlwaysSync, launchActiveMQ, type PeerBroker } from './mqtt-peers.js';

const self = fileURLToPath(import.meta.url);

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { createOpenWireModule } = await import('../protocols/openwire/index.js');
  // serveBroker() turns on just the named listener; its type lists the listeners other benches use
  await serveBroker({ listener: 'openwire' as ListenerName, dataDir, noSync, modules: { protocols: [createOpenWireModule()] } });
}

/** What JmsBench printed (RECEIVED, SENT, SECONDS, SEND_P50/P99, E2E_P50/P99 in ms) and the CPU of the measured window. */
export interface OpenWireResult {
  received: number;
  seconds: number;
  values: Record<string, string>;
  cpuMicros: number;
  /** the client JVM's utime + stime over the measured window, µs */
  clientCpuMicros: number;
  /** store transactions and commit batches in the measured window (Wharf) */
  txns?: number;
  batches?: number;
}

export interface OpenWireTarget {
  port: number;
  cpuMicros(): number;
  /** Wharf: its store's transaction and batch counters */
  storeStats?(): Promise<StoreStats | null>;
}

/**
 * One JmsBench run against `target`: P producers and C consumers on one new queue; the broker's CPU (and the
 * JVM's) is sampled when JmsBench prints START and END around its measured window.
 */
export async function runPair(target: OpenWireTarget, producers: number, consumers: number, o: { warmup: number; seconds: number; size: number; query: string }): Promise<OpenWireResult> {
  const java = javaHarness();
  const queue = `bench.openwire.${producers}x${consumers}.${Date.now()}`;
  const args = ['-cp', java.classpath, 'JmsBench', String(target.port), String(producers), String(consumers), String(o.warmup), String(o.seconds), String(o.size), queue, o.query];
  const jvm = spawn('java', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let cpuStart = 0;
  let cpuEnd = 0;
  let clientStart = 0;
  let clientEnd = 0;
  const clientCpu = () => {
    try {
      return procCpuMicros(jvm.pid!);
    } catch {
      return NaN; // gone already
    }
  };
  let stats0: Promise<StoreStats | null> | undefined;
  let stats1: Promise<StoreStats | null> | undefined;
  jvm.stdout.on('data', (d: Buffer) => {
    const before = out;
    out += d.toString();
    if (!before.includes('START\n') && out.includes('START\n')) {
      cpuStart = target.cpuMicros();
      clientStart = clientCpu();
      stats0 = target.storeStats?.();
    }
    if (!before.includes('END\n') && out.includes('END\n')) {
      cpuEnd = target.cpuMicros();
      clientEnd = clientCpu();
      stats1 = target.storeStats?.();
    }
  });
  const code = await new Promise<number | null>((r) => jvm.once('exit', r));
  if (code !== 0 || !cpuEnd) throw new Error(`JmsBench ${producers}x${consumers} failed (exit ${code}):\n${out}`);
  const values: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('\t');
    if (i > 0) values[line.slice(0, i)] = line.slice(i + 1);
  }
  const [s0, s1] = [await stats0, await stats1];
  const store = s0 && s1 ? { txns: s1.transactions - s0.transactions, batches: s1.batches - s0.batches } : {};
  return { received: Number(values['RECEIVED']), seconds: Number(values['SECONDS']), values, cpuMicros: cpuEnd - cpuStart, clientCpuMicros: clientEnd - clientStart, ...store };
}

function row(broker: string, p: number, c: number, r: OpenWireResult): string[] {
  const v = r.values;
  const ms = (k: string) => (v[k] === undefined ? '-' : Number(v[k]).toFixed(2));
  const count = c > 0 ? r.received : Number(v['SENT']);
  return [
    broker,
    `${p} → ${c}`,
    (r.received / r.seconds).toFixed(0),
    (Number(v['SENT']) / r.seconds).toFixed(0),
    `${ms('SEND_P50')} / ${ms('SEND_P99')}`,
    `${ms('E2E_P50')} / ${ms('E2E_P99')}`,
    count ? (r.cpuMicros / count).toFixed(1) : '-',
    r.txns ? `${(r.txns / r.seconds).toFixed(0)} / ${(r.batches! / r.txns).toFixed(1)}` : '-',
  ];
}

// ------------------------------------------------------------------------------------------ ActiveMQ peer

function activemqMissing(): string | null {
  if (!existsSync(path.join(AMQ_HOME, 'bin/activemq.jar'))) return 'ActiveMQ is not installed (apt-get install activemq)';
  return null;
}

/**
 * ActiveMQ 5.17 from Debian with one OpenWire connector and KahaDB as the Debian default instance has it:
 * journalDiskSyncStrategy "always" (the journal is fsync'd before a synchronous send is answered).
 */
async function startActiveMQ(): Promise<PeerBroker> {
  return launchActiveMQ({
    name: 'activemq',
    persistent: true,
    // the memory limit keeps producer flow control out of the way of the measured sends
    persistence: (data) => `${kahaDbAlwaysSync(data)}\n    <systemUsage><systemUsage><memoryUsage><memoryUsage limit="256 mb"/></memoryUsage></systemUsage></systemUsage>`,
    connector: (port) => `<transportConnector name="openwire" uri="tcp://127.0.0.1:${port}"/>`,
  });
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      size: { type: 'string', default: '100' },
      pairs: { type: 'string', default: '1x1,8x8' },
      peer: { type: 'boolean', default: true },
      /** client URL options, e.g. `?tcpNoDelay=true` (ActiveMQ's client leaves Nagle on by default) */
      'url-options': { type: 'string', default: '' },
      ...BROKER_OPTIONS,
    },
    allowNegative: true,
  });
  const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), size: Number(a.size), query: a['url-options'] };
  const pairs = a.pairs.split(',').map((pair) => pair.split('x').map(Number) as [number, number]);
  javaHarness(); // compile before the brokers start
  console.log(
    `OpenWire bench: ActiveMQ 5.17 JMS client in a JVM (URL options: ${o.query || 'none'}); PERSISTENT ${o.size}-byte BytesMessages, synchronous sends ` +
      `(each producer on its own connection), AUTO_ACKNOWLEDGE consumers (own connections, prefetch 1000); ${o.seconds} s after ${o.warmup} s warm-up; ` +
      `Wharf in a child process (${syncNote(a.nosync)}); ${hostNote()}. The machine is shared: figures are noisy, compare rows of one run.`,
  );
  const rows: string[][] = [];
  const missing = activemqMissing();
  for (const [p, c] of pairs) {
    // one broker at a time, peer and Wharf alternating per pair so both see the same moment of a noisy machine
    if (a.peer && !missing) {
      const amq = await startActiveMQ();
      try {
        rows.push(row('ActiveMQ 5.17 (KahaDB, journal sync always)', p, c, await runPair({ port: amq.port, cpuMicros: () => amq.cpuMicros() }, p, c, o)));
      } finally {
        await amq.stop();
      }
    }
    await withBrokerChild(self, 'openwire', a, async (child) => {
      rows.push(row('Wharf', p, c, await runPair({ port: child.port, cpuMicros: () => child.procCpuMicros(), storeStats: () => child.storeStats() }, p, c, o)));
    });
  }
  console.log(formatTable(['broker', 'producers → consumers', 'msgs/s', 'sent/s', 'send p50/p99 ms', 'end-to-end p50/p99 ms', 'broker CPU µs/msg', 'store txn/s / commits per txn'], rows, { right: (i) => i > 1 }));
  if (missing && a.peer) console.log(`peer: ${missing}; Wharf only`);
}

await benchMain(import.meta.url, () => run(), brokerChildEntry(brokerChild));
