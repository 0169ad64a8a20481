/**
 * Peer MQTT brokers for bench/mqtt.ts: Debian's `mosquitto` and ActiveMQ 5.17 (`activemq`, whose MQTT transport also
 * needs `libmqtt-client-java`), each started directly as a child process (never through systemd) on a free
 * 127.0.0.1 port with a generated config in a temporary directory, and killed by its pid at the end.
 *
 * CPU is read from /proc/<pid>/stat (utime + stime of the broker process, all threads), the same way as Wharf's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { procCpuMicros, removeDir, sleep, tempDir } from './lib.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function which(bin: string, extra: string[] = []): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extra]) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export type Workload = 'qos0' | 'qos1';

export interface PeerSpec {
  name: string;
  /** null when it can run here; otherwise why not (e.g. which Debian package is missing). */
  missing(): string | null;
  /** seconds of warm-up before measuring (a JVM needs longer to JIT-compile its hot paths). */
  warmupSeconds(base: number): number;
  /** what "durable" means for its QoS 1 case, for the table. */
  qos1Note: string;
  start(workload: Workload): Promise<PeerBroker>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class PeerBroker {
  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    private readonly logFile: string,
  ) {}

  get pid(): number {
    return this.proc.pid!;
  }

  cpuMicros(): number {
    return procCpuMicros(this.pid);
  }

  logTail(lines = 20): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    live.delete(p);
    removeDir(this.dir);
  }

  /** Resolve once the port accepts TCP connections (and the process is still alive). */
  static async launch(name: string, cmd: string, args: string[], dir: string, port: number, cwd = dir, timeoutMs = 60_000): Promise<PeerBroker> {
    const logFile = path.join(dir, 'broker.log');
    const out = fs.openSync(logFile, 'a');
    const proc = spawn(cmd, args, { cwd, stdio: ['ignore', out, out], detached: false });
    fs.closeSync(out);
    live.add(proc);
    const b = new PeerBroker(name, proc, port, dir, logFile);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const tail = b.logTail();
        await b.stop();
        throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${tail}`);
      }
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return b;
      if (Date.now() > deadline) {
        const tail = b.logTail();
        await b.stop();
        throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s:\n${tail}`);
      }
      await sleep(100);
    }
  }
}

// ------------------------------------------------------------------------------------------ mosquitto

export const mosquitto: PeerSpec = {
  name: 'mosquitto',
  missing: () => (which('mosquitto', ['/usr/sbin']) ? null : 'mosquitto is not installed (apt-get install mosquitto)'),
  warmupSeconds: (base) => base,
  qos1Note: 'in memory (persistence false), no fsync',
  async start() {
    const bin = which('mosquitto', ['/usr/sbin'])!;
    const dir = tempDir('mosquitto');
    const port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        // the default 1000 could drop QoS 1 messages queued for the subscriber beyond its 20 in flight
        'max_queued_messages 100000',
        '',
      ].join('\n'),
    );
    return PeerBroker.launch('mosquitto', bin, ['-c', conf], dir, port);
  },
};

// ------------------------------------------------------------------------------------------ ActiveMQ

export const AMQ_HOME = '/usr/share/activemq';
// ActiveMQ's MQTT transport (activemq-mqtt.jar) needs the FuseSource MQTT codec, which Debian ships in
// libmqtt-client-java; /usr/share/activemq/lib has no link to it, so the generated ACTIVEMQ_BASE/lib gets one.
export const AMQ_EXTRA_JARS = ['mqtt-client', 'hawtdispatch', 'hawtdispatch-transport'];

export const activemq: PeerSpec = {
  name: 'activemq',
  missing() {
    if (!fs.existsSync(path.join(AMQ_HOME, 'bin/activemq.jar'))) return 'ActiveMQ is not installed (apt-get install activemq libmqtt-client-java)';
    if (!fs.existsSync('/usr/share/java/mqtt-client.jar')) return "ActiveMQ's MQTT transport needs libmqtt-client-java (apt-get install libmqtt-client-java)";
    if (!which('java')) return 'no java on PATH (apt-get install default-jre-headless)';
    return null;
  },
  warmupSeconds: (base) => Math.max(base, Number(process.env.BENCH_JVM_WARMUP ?? 3)),
  qos1Note: 'KahaDB, journal synced periodically (no fsync per message)',
  async start(workload) {
    // QoS 0: non-persistent broker. QoS 1 (persistent subscriber): KahaDB, like the Debian default instance, but
    // with the journal synced periodically rather than on every write (mosquitto does not fsync per message either).
    return launchActiveMQ({
      name: 'activemq',
      persistent: workload === 'qos1',
      persistence: (data) => (workload === 'qos1' ? `<persistenceAdapter><kahaDB directory="${data}/kahadb" journalDiskSyncStrategy="periodic"/></persistenceAdapter>` : ''),
      connector: (port) => `<transportConnector name="mqtt" uri="mqtt://127.0.0.1:${port}"/>`,
      extraJars: AMQ_EXTRA_JARS,
    });
  },
};

export const PEERS: PeerSpec[] = [mosquitto, activemq];

/** The durable KahaDB every persistent bench uses: the journal synced before a send is answered. */
export const kahaDbAlwaysSync = (data: string) => `<persistenceAdapter><kahaDB directory="${data}/kahadb" journalDiskSyncStrategy="always"/></persistenceAdapter>`;

/**
 * ActiveMQ 5.17 from Debian as our child: an instance directory with WARN logging and an activemq.xml holding the
 * given persistence and one transport connector, started the way /usr/bin/activemq does `start` (JVM options from
 * /usr/share/activemq/activemq-options) minus the daemonising, so the JVM's pid is the broker's.
 */
export async function launchActiveMQ(o: { name: string; persistent: boolean; persistence: (data: string) => string; connector: (port: number) => string; extraJars?: string[] }): Promise<PeerBroker> {
  const dir = tempDir(o.name);
  const port = await freePort();
  const conf = path.join(dir, 'conf');
  const data = path.join(dir, 'data');
  const lib = path.join(dir, 'lib');
  for (const d of [conf, data, lib]) fs.mkdirSync(d, { recursive: true });
  for (const j of o.extraJars ?? []) if (fs.existsSync(`/usr/share/java/${j}.jar`)) fs.symlinkSync(`/usr/share/java/${j}.jar`, path.join(lib, `${j}.jar`));
  fs.writeFileSync(path.join(conf, 'log4j.properties'), ['log4j.rootLogger=WARN, console', 'log4j.appender.console=org.apache.log4j.ConsoleAppender', 'log4j.appender.console.layout=org.apache.log4j.PatternLayout', 'log4j.appender.console.layout.ConversionPattern=%d %-5p %c{1} - %m%n', ''].join('\n'));
  fs.writeFileSync(
    path.join(conf, 'activemq.xml'),
    `<beans xmlns="http://www.springframework.org/schema/beans" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="bench" persistent="${o.persistent}" dataDirectory="${data}">
    ${o.persistence(data)}
    <transportConnectors>
      ${o.connector(port)}
    </transportConnectors>
  </broker>
</beans>
`,
  );
  const args = [
    '-Xms512M', '-Xmx512M', '-Dorg.apache.activemq.UseDedicatedTaskRunner=true', '--add-reads=java.xml=java.logging',
    '--add-opens', 'java.base/java.lang=ALL-UNNAMED', '--add-opens', 'java.base/java.util=ALL-UNNAMED', '--add-opens', 'java.base/java.util.concurrent=ALL-UNNAMED',
    `-Dlog4j.configuration=file:${conf}/log4j.properties`, `-Dactivemq.classpath=${conf}`, `-Dactivemq.home=${AMQ_HOME}`, `-Dactivemq.base=${dir}`,
    `-Dactivemq.conf=${conf}`, `-Dactivemq.data=${data}`, '-jar', `${AMQ_HOME}/bin/activemq.jar`, 'start', `xbean:file:${conf}/activemq.xml`,
  ];
  return PeerBroker.launch(o.name, which('java') ?? 'java', args, dir, port);
}
