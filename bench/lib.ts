/**
 * What the benchmarks in bench/ share: the broker child process (fork this very file with `--broker-child`, wait
 * for its port, ask it for CPU time and store counters over IPC, stop it), the closed send/ack loop of the STOMP
 * and AMQP benches, latency percentiles, temporary directories, and plain/Markdown tables.
 *
 * The parent never loads the broker: `serveBroker()` imports it only in the child.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerModules } from '../src/app/broker.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Prints `bench <name>: <msg>` and exits 1. */
export function fatal(bench: string, msg: string): never {
  console.error(`bench ${bench}: ${msg}`);
  process.exit(1);
}

// ------------------------------------------------------------------------------------------- files

/** A fresh directory `wharf-bench-<name>-XXXXXX` under `parent` (default: the OS temp dir). */
export function tempDir(name: string, parent?: string): string {
  return fs.mkdtempSync(path.join(parent ?? os.tmpdir(), `wharf-bench-${name}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------- latencies

/** The p-th percentile (0–100) of ascending `sorted`: the sample at floor(p/100 · n); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Latency samples (ms), at most `max` of them kept. */
export class Latencies {
  private readonly samples: number[] = [];
  private sorted: Float64Array | null = null;

  constructor(private readonly max = Infinity) {}

  add(ms: number): void {
    if (this.samples.length >= this.max) return;
    this.samples.push(ms);
    this.sorted = null;
  }

  get count(): number {
    return this.samples.length;
  }

  percentile(p: number): number {
    this.sorted ??= Float64Array.from(this.samples).sort();
    return percentile(this.sorted, p);
  }

  summarize(): { p50: number; p99: number } {
    return { p50: this.percentile(50), p99: this.percentile(99) };
  }
}

// ------------------------------------------------------------------------------------------- CPU

/** This process's user + system CPU time, µs. */
export function ownCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

let clkTck = 0;
/** utime + stime of a process (all its threads) in µs, from /proc/<pid>/stat. */
export function procCpuMicros(pid: number): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may contain spaces: the fields after it start past the last ')'
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), so utime (field 14) is f[11] and stime (field 15) is f[12]
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clkTck;
}

// ------------------------------------------------------------------------------------------- child processes

/** LmdbStore counters (not part of the Store port): write transactions and commit() batches so far. */
export type StoreStats = { transactions: number; batches: number; syncTransactions?: number };

type Request = { cmd: 'cpu' | 'stats' | 'heap' | 'stop' };

/** A server child (Wharf, or another server) as the parent sees it. */
export interface BrokerChild {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** The child's own process.cpuUsage() (user + system, µs), asked over IPC. */
  cpuMicros(): Promise<number>;
  /** The child's utime + stime from /proc/<pid>/stat, µs. */
  procCpuMicros(): number;
  /** Its store counters, asked over IPC (null when it has none). */
  storeStats(): Promise<StoreStats | null>;
  /** Asks it to stop and waits for it to exit (at once if it already has). */
  stop(): Promise<void>;
}

export interface ForkOptions {
  /** Node flags for the child; default this process's. */
  execArgv?: string[];
  /** Write a V8 CPU profile of the child into this directory (created). */
  profileDir?: string;
  env?: NodeJS.ProcessEnv;
  /** For the error when it exits before reporting its port; default 'broker'. */
  what?: string;
}

/** Forks `self` with `args` (e.g. `['--broker-child', dataDir, 'sync']`) and resolves once it reports its port. */
export async function forkBrokerChild(self: string, args: string[], opts: ForkOptions = {}): Promise<BrokerChild> {
  const execArgv = [...(opts.execArgv ?? process.execArgv)];
  if (opts.profileDir) {
    fs.mkdirSync(opts.profileDir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(opts.profileDir)}`);
  }
  const proc = fork(self, args, { execArgv, env: opts.env ?? process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve(m.port));
    proc.once('exit', (code) => reject(new Error(`${opts.what ?? 'broker'} child exited with ${code}`)));
  });
  const ask = <T>(cmd: Request['cmd'], key: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (!(key in m)) return;
        proc.off('message', on);
        resolve(m[key] as T);
      };
      proc.on('message', on);
      proc.send({ cmd } satisfies Request);
    });
  return {
    proc,
    pid: proc.pid!,
    port,
    cpuMicros: () => ask<number>('cpu', 'cpu'),
    procCpuMicros: () => procCpuMicros(proc.pid!),
    storeStats: () => ask<StoreStats | null>('stats', 'stats'),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      if (proc.connected) proc.send({ cmd: 'stop' } satisfies Request);
      await exited;
    },
  };
}

/** In a child: report `port` to the parent and answer its requests (see BrokerChild). */
export function serveParent(s: { port: number; stop(): Promise<void>; storeStats?(): StoreStats | null; onCpu?(): void }): void {
  // the V8 heap's and Buffers' high-water marks, sampled: VmHWM (RSS) also counts LMDB's mapped file pages
  const peak = { heap: 0, external: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.heap = Math.max(peak.heap, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    return peak;
  };
  setInterval(sample, 100).unref();
  process.on('message', async (m: Request) => {
    if (m.cmd === 'cpu') {
      const cpu = ownCpuMicros();
      s.onCpu?.();
      process.send!({ cpu });
    } else if (m.cmd === 'stats') {
      process.send!({ stats: s.storeStats?.() ?? null });
    } else if (m.cmd === 'heap') {
      process.send!({ heap: { ...sample() } });
    } else if (m.cmd === 'stop') {
      await s.stop();
      process.send!({ stopped: true });
      process.disconnect();
      // exit normally so --cpu-prof writes its profile
      setImmediate(() => process.exit(0));
    }
  });
  process.send!({ port: s.port });
}

export type ListenerName = 'stomp' | 'amqp' | 'mqtt' | 'sqs';

/** `--acl`: what the benches measure with users and ACLs on (set in the child's environment as WHARF_BENCH_ACL). */
export const ACL_NOTE = 'security: 10 users, 50 ACL rules; the bench clients are anonymous (security.anonymous: true), granted by the last rule, so every send and subscribe scans all 50';

/**
 * 10 users and 50 rules (`security.acl`) whose only grant to the bench's anonymous clients is the last rule
 * (`>` read/write/admin for `anonymous`): every authorization walks the whole list, the worst case.
 */
export async function benchSecurity(): Promise<Record<string, unknown>> {
  const { hashPassword } = await import('../src/core/api.js');
  const hash = await hashPassword('bench-password');
  const users = Array.from({ length: 10 }, (_, i) => ({ username: `user${i}`, passwordHash: hash, groups: [`group${i % 3}`] }));
  const acl: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 49; i++) acl.push({ match: `app${i}.orders.>`, read: [`user${i % 10}`, `group${i % 3}`], write: [`user${(i + 1) % 10}`], admin: ['group0'] });
  acl.push({ match: '>', read: ['anonymous'], write: ['anonymous'], admin: ['anonymous'] });
  return { users, acl, anonymous: true };
}

/**
 * `store.concurrentDispatch` for the Wharf brokers the benches start: on (the default) unless
 * BENCH_WHARF_CONCURRENT_DISPATCH=0, for before/after runs of the same build.
 */
export function benchConcurrentDispatch(): boolean {
  return process.env.BENCH_WHARF_CONCURRENT_DISPATCH !== '0';
}

/**
 * In a child: a Broker with only `listener` (on 127.0.0.1, a free port) and the given modules, its store in
 * `dataDir` (fsync'd unless noSync), served to the parent with serveParent().
 */
export async function serveBroker(o: {
  listener: ListenerName;
  dataDir: string;
  noSync: boolean;
  modules: Pick<BrokerModules, 'protocols' | 'http'>;
  /** more top-level config, e.g. `{ sqs: { credentials } }` */
  config?: Record<string, unknown>;
  /** default 'silent' */
  logLevel?: 'silent' | 'warn';
  /** called when the parent asks for CPU time, with the store counters */
  onCpu?: (stats: StoreStats | null) => void;
}): Promise<void> {
  const { Broker } = await import('../src/app/broker.js');
  const { parseConfig } = await import('../src/app/config.js');
  const { createLogger, silentLogger } = await import('../src/app/log.js');
  const level = o.logLevel ?? 'silent';
  const off = { enabled: false };
  const config = parseConfig({
    dataDir: o.dataDir,
    // WHARF_BENCH_JOURNAL=1: the store with its journal (one flush per commit; store.journal), for before/after pairs.
    store: { noSync: o.noSync, concurrentDispatch: benchConcurrentDispatch(), journal: process.env.WHARF_BENCH_JOURNAL === '1' },
    log: { level },
    ...o.config,
    listeners: { openwire: off, amqp: off, stomp: off, admin: off, sqs: off, ws: off, mqtt: off, [o.listener]: { host: '127.0.0.1', port: 0 } },
  });
  if (process.env.WHARF_BENCH_ACL) Object.assign(config, { security: parseConfig({ security: await benchSecurity() }).security });
  const broker = new Broker(config, { protocols: [], http: [], ...o.modules, logger: level === 'silent' ? silentLogger() : createLogger({ level }) });
  await broker.start();
  const storeStats = () => (broker.engine.store as unknown as { stats?: StoreStats }).stats ?? null;
  serveParent({
    port: broker.listenerAddresses()[o.listener]!.port,
    stop: () => broker.stop(),
    storeStats,
    onCpu: o.onCpu && (() => o.onCpu!(storeStats())),
  });
}

/**
 * A bench module's entry: as a forked child (`process.argv[2]` names one of `children`) run that child with the
 * arguments after the flag; when started directly (`node dist/bench/x.js`, `npx tsx bench/x.ts`), run the bench.
 * Imported by bench/run.js, it does nothing (run.js calls `run()`).
 */
export async function benchMain(moduleUrl: string, run: () => Promise<void>, children: Record<string, (args: string[]) => Promise<void>> = {}): Promise<void> {
  const flag = process.argv[2] ?? '';
  try {
    if (Object.hasOwn(children, flag)) await children[flag]!(process.argv.slice(3));
    else if (path.resolve(process.argv[1] ?? '') === fileURLToPath(moduleUrl)) await run();
  } catch (err) {
    console.error(err);
    process.exit(1);
  }
}

/** The `--broker-child` entry for benchMain(): `fn(dataDir, noSync)` with what withBrokerChild() passes. */
export function brokerChildEntry(fn: (dataDir: string, noSync: boolean) => Promise<void>): Record<string, (args: string[]) => Promise<void>> {
  return { '--broker-child': (args) => fn(args[0]!, args[1] === 'nosync') };
}

/**
 * Runs `body` with the broker child (`self --broker-child <dataDir> sync|nosync`, its store in a fresh directory
 * under `a.dir`, a CPU profile into `a.profile`); then stops it (if `body` has not), removes the directory and says
 * where the profile is.
 */
export async function withBrokerChild(self: string, name: string, a: BrokerArgs, body: (child: BrokerChild) => Promise<void>): Promise<void> {
  const dataDir = tempDir(name, a.dir);
  if (a.acl) {
    process.env.WHARF_BENCH_ACL = '1';
    console.log(ACL_NOTE);
  }
  try {
    const child = await forkBrokerChild(self, ['--broker-child', dataDir, a.nosync ? 'nosync' : 'sync'], { profileDir: a.profile });
    try {
      await body(child);
    } finally {
      await child.stop();
    }
  } finally {
    removeDir(dataDir);
  }
  if (a.profile) console.log(`\nbroker CPU profile written to ${path.resolve(a.profile)}`);
}

// ------------------------------------------------------------------------------------------- options and notes

/** The broker options shared by the stomp, amqp and sqs benches (for node:util parseArgs), see withBrokerChild(). */
export const BROKER_OPTIONS = {
  nosync: { type: 'boolean', default: false },
  acl: { type: 'boolean', default: false },
  profile: { type: 'string' },
  dir: { type: 'string' },
} as const;

/** The options of the closed-loop benches (stomp, amqp), with BROKER_OPTIONS. */
export const LOOP_OPTIONS = {
  seconds: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '1' },
  window: { type: 'string', default: '100' },
  sizes: { type: 'string', default: '100,1024' },
  ...BROKER_OPTIONS,
} as const;

export interface BrokerArgs {
  nosync: boolean;
  acl?: boolean;
  profile?: string;
  dir?: string;
}

/** What the store does about fsync, for a bench's first line. */
export function syncNote(noSync: boolean): string {
  return noSync ? 'store.noSync: NO fsync' : 'fsync on every commit';
}

/** `node vX, N CPUs`, for a bench's first line. */
export function hostNote(): string {
  return `node ${process.version}, ${os.cpus().length} CPUs`;
}

// ------------------------------------------------------------------------------------------- closed loop

export interface LoopResult {
  size: number;
  /** messages received by the consumer per second */
  msgsPerSec: number;
  /** acknowledgements (receipts, accepted outcomes) received by the producer per second */
  acksPerSec: number;
  /** send → ack (durable) */
  ack: { p50: number; p99: number };
  /** send → delivery to the consumer (end to end) */
  e2e: { p50: number; p99: number };
  received: number;
  txnsPerSec: number;
  batchesPerTxn: number;
  /** share of the transactions committed on the main thread (the store's idle path), 0–1 */
  syncShare: number;
  /** broker CPU (utime + stime of its process, all threads) per delivered message over the window, µs */
  brokerCpuPerMsg: number;
  /** this (client) process's CPU per delivered message, µs */
  clientCpuPerMsg: number;
}

/**
 * One producer keeping `window` sends outstanding (a new send per ack) and one consumer; the protocol code calls
 * acked(n) / delivered(n) with the number n that `transmit(n)` put in the message.
 */
export class ClosedLoop {
  private readonly sentAt: number[] = [];
  private readonly ackLat = new Latencies();
  private readonly e2eLat = new Latencies();
  private measuring = false;
  private stopping = false;
  private seq = 0;
  private outstanding = 0;
  private received = 0;
  private ackedInWindow = 0;
  private receivedInWindow = 0;

  constructor(
    private readonly bench: string,
    private readonly transmit: (n: number) => void,
  ) {}

  private send(): void {
    const n = this.seq++;
    this.sentAt[n] = performance.now();
    this.outstanding++;
    this.transmit(n);
  }

  acked(n: number): void {
    this.outstanding--;
    if (this.measuring) {
      this.ackedInWindow++;
      this.ackLat.add(performance.now() - this.sentAt[n]!);
    }
    if (!this.stopping) this.send();
  }

  delivered(n: number): void {
    this.received++;
    if (this.measuring) {
      this.receivedInWindow++;
      this.e2eLat.add(performance.now() - this.sentAt[n]!);
    }
  }

  /** Starts `window` sends, measures for `seconds` after `warmup`, then stops sending and waits for every message. */
  async run(child: BrokerChild, size: number, o: { seconds: number; warmup: number; window: number }): Promise<LoopResult> {
    for (let i = 0; i < o.window; i++) this.send();
    await sleep(o.warmup * 1000);
    const s0 = await child.storeStats();
    this.measuring = true;
    const c0 = child.procCpuMicros();
    const o0 = ownCpuMicros();
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    this.measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const brokerCpu = child.procCpuMicros() - c0;
    const clientCpu = ownCpuMicros() - o0;
    const s1 = await child.storeStats();
    this.stopping = true;
    // drain: every sent message must arrive
    const deadline = Date.now() + 30_000;
    while ((this.outstanding > 0 || this.received < this.seq) && Date.now() < deadline) await sleep(10);
    if (this.received < this.seq) fatal(this.bench, `only ${this.received} of ${this.seq} messages arrived`);
    return {
      size,
      msgsPerSec: this.receivedInWindow / elapsed,
      acksPerSec: this.ackedInWindow / elapsed,
      ack: this.ackLat.summarize(),
      e2e: this.e2eLat.summarize(),
      received: this.received,
      txnsPerSec: s0 && s1 ? (s1.transactions - s0.transactions) / elapsed : NaN,
      batchesPerTxn: s0 && s1 ? (s1.batches - s0.batches) / Math.max(1, s1.transactions - s0.transactions) : NaN,
      syncShare: s0 && s1 && s1.syncTransactions !== undefined ? (s1.syncTransactions - (s0.syncTransactions ?? 0)) / Math.max(1, s1.transactions - s0.transactions) : NaN,
      brokerCpuPerMsg: brokerCpu / Math.max(1, this.receivedInWindow),
      clientCpuPerMsg: clientCpu / Math.max(1, this.receivedInWindow),
    };
  }
}

/**
 * Runs `runSize` for each of the comma-separated `sizes`, then prints the table of results; `ack` names the
 * acknowledgement in the column heads (`receipts/s` and `receipt`, `accepted/s` and `accepted`).
 */
export async function runSizes(sizes: string, ack: { perSec: string; latency: string }, runSize: (size: number) => Promise<LoopResult>): Promise<void> {
  const results: LoopResult[] = [];
  for (const size of sizes.split(',').map(Number)) results.push(await runSize(size));
  const f1 = (x: number) => x.toFixed(1);
  const table = formatTable(
    ['size', 'msgs/s', ack.perSec, `${ack.latency} p50/p99 ms`, 'send→deliver p50/p99 ms', 'LMDB txn/s', 'commits/txn', 'idle txn %', 'broker µs/msg', 'client µs/msg'],
    results.map((r) => [
      String(r.size),
      Math.round(r.msgsPerSec).toString(),
      Math.round(r.acksPerSec).toString(),
      `${f1(r.ack.p50)} / ${f1(r.ack.p99)}`,
      `${f1(r.e2e.p50)} / ${f1(r.e2e.p99)}`,
      Math.round(r.txnsPerSec).toString(),
      r.batchesPerTxn.toFixed(1),
      Number.isNaN(r.syncShare) ? '-' : (100 * r.syncShare).toFixed(0),
      f1(r.brokerCpuPerMsg),
      f1(r.clientCpuPerMsg),
    ]),
    { right: () => true },
  );
  console.log('\n' + table);
}

// ------------------------------------------------------------------------------------------- tables

/**
 * Columns as wide as their widest cell. `right` says which columns are right-aligned (default: all but the
 * first). Plain: two spaces between columns; `markdown`: a GitHub table (`---:` under right-aligned columns).
 */
export function formatTable(head: string[], rows: string[][], o: { right?: (i: number) => boolean; markdown?: boolean } = {}): string {
  const right = o.right ?? ((i: number) => i > 0);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cells = (r: string[]) => w.map((n, i) => (right(i) ? (r[i] ?? '').padStart(n) : (r[i] ?? '').padEnd(n)));
  if (!o.markdown) return [head, ...rows].map((r) => cells(r).join('  ').trimEnd()).join('\n');
  const line = (r: string[]) => '| ' + cells(r).join(' | ') + ' |';
  const rule = '|' + w.map((n, i) => (right(i) ? '-'.repeat(n + 1) + ':' : '-'.repeat(n + 2))).join('|') + '|';
  return [line(head), rule, ...rows.map(line)].join('\n');
}
