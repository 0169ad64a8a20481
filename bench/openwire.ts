/**
 * OpenWire (JMS) benchmark with ActiveMQ's own Java client.
 *
 *   npm run bench -- openwire [--seconds 5] [--warmup 2] [--size 100] [--pairs 1x1,8x8] [--nosync] [--profile DIR] [--dir TMPDIR]
 *
 * A real Broker with only the OpenWire listener runs in a child process (fsync'd store unless --nosync). A JVM runs
 * test/protocols/openwire/java/JmsBench.java (compiled with javac against Debian's ActiveMQ 5.17 jars, like the
 * tests): P producers, each on its own connection, send PERSISTENT `size`-byte BytesMessages synchronously (the
 * next send after the broker's Response, i.e. once durable) to one queue; C consumers (AUTO_ACKNOWLEDGE, default
 * prefetch 1000) receive. Reported for each PxC: messages/s received, p50/p99 of the synchronous send and of
 * send → receive, and the broker child's CPU per received message (utime + stime from /proc/<pid>/stat over the
 * measured window). An ActiveMQ broker as a peer would need /usr/share/activemq (Debian's `activemq` package).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { javaHarness } from '../test/protocols/openwire/java-harness.js';
import { benchMain, BROKER_OPTIONS, brokerChildEntry, fatal, formatTable, hostNote, serveBroker, syncNote, withBrokerChild, type BrokerChild, type ListenerName } from './lib.js';

const self = fileURLToPath(import.meta.url);

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { createOpenWireModule } = await import('../protocols/openwire/index.js');
  // serveBroker() turns on just the named listener; its type lists the listeners other benches use
  await serveBroker({ listener: 'openwire' as ListenerName, dataDir, noSync, modules: { protocols: [createOpenWireModule()] } });
}

interface Result {
  received: number;
  seconds: number;
  values: Record<string, string>;
  cpuMicros: number;
}

async function runPair(child: BrokerChild, producers: number, consumers: number, o: { warmup: number; seconds: number; size: number }): Promise<Result> {
  const java = javaHarness();
  const queue = `bench.openwire.${producers}x${consumers}.${Date.now()}`;
  const args = ['-cp', java.classpath, 'JmsBench', String(child.port), String(producers), String(consumers), String(o.warmup), String(o.seconds), String(o.size), queue];
  const jvm = spawn('java', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let cpuStart = 0;
  let cpuEnd = 0;
  jvm.stdout.on('data', (d: Buffer) => {
    const before = out;
    out += d.toString();
    if (!before.includes('START\n') && out.includes('START\n')) cpuStart = child.procCpuMicros();
    if (!before.includes('END\n') && out.includes('END\n')) cpuEnd = child.procCpuMicros();
  });
  const code = await new Promise<number | null>((r) => jvm.once('exit', r));
  if (code !== 0 || !cpuEnd) fatal('openwire', `JmsBench ${producers}x${consumers} failed (exit ${code}):\n${out}`);
  const values: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('\t');
    if (i > 0) values[line.slice(0, i)] = line.slice(i + 1);
  }
  return { received: Number(values['RECEIVED']), seconds: Number(values['SECONDS']), values, cpuMicros: cpuEnd - cpuStart };
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: { seconds: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, size: { type: 'string', default: '100' }, pairs: { type: 'string', default: '1x1,8x8' }, ...BROKER_OPTIONS },
  });
  const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), size: Number(a.size) };
  javaHarness(); // compile before the broker starts
  await withBrokerChild(self, 'openwire', a, async (child) => {
    console.log(
      `OpenWire bench: Wharf broker in a child process (${syncNote(a.nosync)}), ActiveMQ 5.17 JMS client in a JVM; PERSISTENT ${o.size}-byte ` +
        `BytesMessages, synchronous sends, AUTO_ACKNOWLEDGE consumers; ${o.seconds} s after ${o.warmup} s warm-up; ${hostNote()}`,
    );
    const rows: string[][] = [];
    for (const pair of a.pairs.split(',')) {
      const [p, c] = pair.split('x').map(Number) as [number, number];
      const r = await runPair(child, p, c, o);
      const v = r.values;
      const ms = (k: string) => (v[k] === undefined ? '-' : Number(v[k]).toFixed(2));
      rows.push([`${p} → ${c}`, (r.received / r.seconds).toFixed(0), `${ms('SEND_P50')} / ${ms('SEND_P99')}`, `${ms('E2E_P50')} / ${ms('E2E_P99')}`, r.received ? (r.cpuMicros / r.received).toFixed(1) : '-']);
    }
    console.log(formatTable(['producers → consumers', 'msgs/s', 'send p50/p99 ms', 'end-to-end p50/p99 ms', 'broker CPU µs/msg'], rows, { right: (i) => i > 0 }));
  });
  console.log(existsSync('/usr/share/activemq') ? 'peer: /usr/share/activemq found, but running it as a peer is not implemented yet' : 'peer: ActiveMQ broker not found (/usr/share/activemq); Wharf only');
}

await benchMain(import.meta.url, () => run(), brokerChildEntry(brokerChild));
