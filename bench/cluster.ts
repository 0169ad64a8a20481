/**
 * Cluster benchmark (issue #16).
 *
 *   npm run bench -- cluster [--seconds 5] [--warmup 1] [--window 100] [--size 1024] [--failovers 3] [--dir TMPDIR]
 *                            [--profile DIR]   (a V8 CPU profile per broker process; use with --failovers 0)
 *
 * 1. Throughput: `wharf start` processes (compiled CLI) on 127.0.0.1 — first a single node, then a three-node
 *    cluster in the same run — each fsync'ing. One STOMP producer sends persistent `size`-byte messages to a queue
 *    on the (leader) node with a receipt each, `window` receipts outstanding; one consumer (client-individual,
 *    prefetch 1000) ACKs each MESSAGE. Reported: messages/s received, SEND → RECEIPT p50/p99, and the CPU time (user +
 *    system, from /proc) each broker process and the client process spent per message over the measuring window —
 *    on a machine shared with other work that is steadier than the rate, and it shows which node the work is on.
 * 2. Failover: with the cluster idle but connected, SIGKILL the leader and measure the time from the kill to the
 *    first RECEIPT for a persistent SEND through a surviving node (the client retries: connect, SEND, wait ≤ 1 s for
 *    the receipt, again). The killed node is restarted between rounds.
 * All processes share this machine's cores: the three cluster nodes and the clients compete for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchMain, formatTable, hostNote, Latencies, removeDir, sleep, tempDir } from './lib.js';
import { header, StompWire } from './stomp-wire.js';
import { freePort } from '../test/helpers/ports.js';
import { repoRoot } from '../test/helpers/paths.js';
import { brokerStarted, envWithoutWharf, wharfCliArgs } from '../test/helpers/wharf-process.js';

// ------------------------------------------------------------------------------------------- processes

/** --profile DIR: every broker process writes a V8 CPU profile there when it stops (SIGTERM). */
let profileDir: string | undefined;

interface Node {
  id: number;
  dir: string;
  stomp: number;
  admin: number;
  raft: number;
  child?: ChildProcess;
}

async function startNode(n: Node, config: Record<string, unknown>): Promise<void> {
  fs.mkdirSync(n.dir, { recursive: true });
  const file = path.join(n.dir, 'wharf.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=node${n.id}-${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...prof, ...wharfCliArgs(), 'start', '--config', file], { cwd: repoRoot, env: envWithoutWharf(), stdio: ['ignore', 'pipe', 'pipe'] });
  n.child = child;
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  await brokerStarted(child, `node ${n.id}`, () => err);
}

function nodeConfig(n: Node, nodes: Node[] | null): Record<string, unknown> {
  const off = { enabled: false };
  return {
    dataDir: path.join(n.dir, 'data'),
    log: { level: 'info', format: 'json' },
    listeners: { openwire: off, amqp: off, mqtt: off, ws: off, sqs: off, stomp: { host: '127.0.0.1', port: n.stomp }, admin: { host: '127.0.0.1', port: n.admin } },
    ...(nodes
      ? {
          cluster: {
            nodeId: n.id,
            secret: 'bench-cluster-secret-0123456789',
            host: '127.0.0.1',
            port: n.raft,
            peers: nodes.map((p) => ({ id: p.id, host: '127.0.0.1', port: p.raft, listeners: { stomp: p.stomp, admin: p.admin } })),
          },
        }
      : {}),
  };
}

async function kill(n: Node, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const c = n.child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((r) => {
    c.once('exit', () => r());
    c.kill(signal);
  });
}

async function clusterView(n: Node): Promise<{ role: string; serving: boolean; leader: number } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${n.admin}/api/cluster`, { headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, signal: AbortSignal.timeout(1000), redirect: 'manual' });
    return res.status === 200 ? ((await res.json()) as { role: string; serving: boolean; leader: number }) : undefined;
  } catch {
    return undefined;
  }
}

async function leaderOf(nodes: Node[], timeoutMs = 20_000): Promise<Node> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    for (const n of nodes) {
      if (!n.child || n.child.exitCode !== null || n.child.signalCode !== null) continue;
      const v = await clusterView(n);
      if (v?.role === 'leader' && v.serving) return n;
    }
    await sleep(50);
  }
  throw new Error('no serving leader');
}

// ------------------------------------------------------------------------------------------- STOMP client

class Conn extends StompWire {
  closed = false;

  private constructor(socket: net.Socket) {
    super(socket, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static async open(port: number, timeoutMs = 5000): Promise<Conn> {
    const s = net.connect({ port, host: '127.0.0.1' });
    const c = new Conn(s);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => (s.destroy(), reject(new Error('connect timed out'))), timeoutMs);
      s.once('close', () => (clearTimeout(t), reject(new Error('closed'))));
      c.onFrame = (f) => {
        clearTimeout(t);
        if (f.command === 'CONNECTED') resolve();
        else reject(new Error(`expected CONNECTED, got ${f.command}`));
      };
      c.send('CONNECT', [['accept-version', '1.2'], ['host', '/']]);
    });
    return c;
  }
}

/** CPU seconds (user + system) process `pid` has used so far (Linux /proc; 0 where unavailable). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

interface Result {
  msgsPerSec: number;
  receiptsPerSec: number;
  p50: number;
  p99: number;
  /** CPU µs per delivered message over the measuring window: each broker process, then this (client) process. */
  cpuPerMsg: number[];
}

/**
 * Closed loop on one broker port; returns msgs/s delivered and receipt latencies over the measuring window, and
 * the CPU each of `nodes` (and the clients) spent per message meanwhile — on a machine shared with other work the
 * CPU per message is steadier than the rate.
 */
async function throughput(port: number, o: { seconds: number; warmup: number; window: number; size: number }, nodes: Node[]): Promise<Result> {
  const queue = `/queue/bench.cluster.${Date.now()}`;
  const body = Buffer.alloc(o.size, 0x78);
  const consumer = await Conn.open(port);
  const producer = await Conn.open(port);
  await new Promise<void>((resolve) => {
    consumer.onFrame = (f) => f.command === 'RECEIPT' && resolve();
    consumer.send('SUBSCRIBE', [['destination', queue], ['id', '1'], ['ack', 'client-individual'], ['activemq.prefetchSize', '1000'], ['receipt', 'sub']]);
  });
  const sentAt: number[] = [];
  const lat = new Latencies();
  let measuring = false;
  let stopping = false;
  let seq = 0;
  let acked = 0;
  let received = 0;
  let receivedIn = 0;
  let ackedIn = 0;
  const sendOne = () => {
    const n = seq++;
    sentAt[n] = performance.now();
    producer.send('SEND', [['destination', queue], ['persistent', 'true'], ['receipt', String(n)]], body);
  };
  consumer.onFrame = (f) => {
    if (f.command !== 'MESSAGE') return;
    received++;
    if (measuring) receivedIn++;
    consumer.send('ACK', [['id', header(f, 'ack')!]]);
  };
  producer.onFrame = (f) => {
    if (f.command !== 'RECEIPT') throw new Error(`producer: ${f.command} ${f.body.toString()}`);
    acked++;
    if (measuring) {
      ackedIn++;
      lat.add(performance.now() - sentAt[Number(header(f, 'receipt-id'))]!);
    }
    if (!stopping) sendOne();
  };
  for (let i = 0; i < o.window; i++) sendOne();
  await sleep(o.warmup * 1000);
  const cpu0 = [...nodes.map((n) => cpuSeconds(n.child?.pid)), process.cpuUsage()];
  measuring = true;
  const t0 = performance.now();
  await sleep(o.seconds * 1000);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(cpu0[nodes.length] as NodeJS.CpuUsage);
  const cpu = [...nodes.map((n, i) => cpuSeconds(n.child?.pid) - (cpu0[i] as number)), (own.user + own.system) / 1e6];
  stopping = true;
  const deadline = Date.now() + 30_000;
  while ((acked < seq || received < seq) && Date.now() < deadline) await sleep(10);
  consumer.socket.destroy();
  producer.socket.destroy();
  return { msgsPerSec: receivedIn / elapsed, receiptsPerSec: ackedIn / elapsed, ...lat.summarize(), cpuPerMsg: cpu.map((c) => (1e6 * c) / Math.max(1, receivedIn)) };
}

/** Time from now until a persistent SEND through one of `ports` gets its RECEIPT (retrying). */
async function firstConfirmedSend(ports: number[], t0: number): Promise<number> {
  let i = 0;
  for (;;) {
    const port = ports[i++ % ports.length]!;
    try {
      const c = await Conn.open(port, 1000);
      const ok = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 1000);
        c.onFrame = (f) => {
          clearTimeout(t);
          resolve(f.command === 'RECEIPT');
        };
        c.socket.once('close', () => (clearTimeout(t), resolve(false)));
        c.send('SEND', [['destination', '/queue/bench.failover'], ['persistent', 'true'], ['receipt', 'x']], Buffer.from('after the kill'));
      });
      c.socket.destroy();
      if (ok) return performance.now() - t0;
    } catch {
      /* refused or closed: no leader yet */
    }
    await sleep(20);
  }
}

// ------------------------------------------------------------------------------------------- main

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      window: { type: 'string', default: '100' },
      size: { type: 'string', default: '1024' },
      failovers: { type: 'string', default: '3' },
      dir: { type: 'string' },
      profile: { type: 'string' },
    },
  });
  if (a.profile) profileDir = path.resolve(a.profile);
  const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), window: Number(a.window), size: Number(a.size) };
  const dir = tempDir('cluster', a.dir);
  const mk = async (id: number): Promise<Node> => ({ id, dir: path.join(dir, `n${id}`), stomp: await freePort(), admin: await freePort(), raft: await freePort() });
  console.log(
    `Cluster bench: wharf start processes (fsync on every commit — in the cluster the Raft log's, the state store applies unsynced; cluster: default timeouts, 50 ms ticks, election after 0.5–1 s), ` +
      `1 STOMP producer (persistent ${o.size} B, receipt each, window ${o.window}) → 1 consumer (client-individual, prefetch 1000) on the leader; ` +
      `${o.seconds} s after ${o.warmup} s warm-up; all processes on this machine; ${hostNote()}`,
  );
  const rows: string[][] = [];
  const fmt = (r: Result) => [Math.round(r.msgsPerSec).toLocaleString('en'), r.p50.toFixed(1), r.p99.toFixed(1)];
  const us = (r: Result) => r.cpuPerMsg.map((c) => Math.round(c).toString());
  try {
    // single node
    const single = await mk(0);
    await startNode(single, nodeConfig(single, null));
    const r1 = await throughput(single.stomp, o, [single]);
    await kill(single, 'SIGTERM');
    rows.push(['single node', ...fmt(r1), '100%', `${us(r1)[0]} | | | ${us(r1)[1]}`]);

    // three nodes
    const nodes = [await mk(1), await mk(2), await mk(3)];
    await Promise.all(nodes.map((n) => startNode(n, nodeConfig(n, nodes))));
    let lead = await leaderOf(nodes);
    // CPU columns: the leader first, then the followers (the one the forwarded client uses first).
    const follower = nodes.find((n) => n !== lead)!;
    const byRole = [lead, follower, ...nodes.filter((n) => n !== lead && n !== follower)];
    const r3 = await throughput(lead.stomp, o, byRole);
    rows.push(['3-node cluster (client on the leader)', ...fmt(r3), `${Math.round((100 * r3.msgsPerSec) / r1.msgsPerSec)}%`, us(r3).join(' | ')]);
    const rf = await throughput(follower.stomp, o, byRole);
    rows.push(['3-node cluster (client on a follower, forwarded)', ...fmt(rf), `${Math.round((100 * rf.msgsPerSec) / r1.msgsPerSec)}%`, us(rf).join(' | ')]);
    console.log(formatTable(['setup', 'msgs/s', 'receipt p50 ms', 'receipt p99 ms', 'of single', 'CPU µs/msg: leader | follower | follower | clients'], rows, { right: (i) => i > 0 && i < 5 }));

    // failover
    const times: number[] = [];
    for (let i = 0; i < Number(a.failovers); i++) {
      lead = await leaderOf(nodes);
      await sleep(500);
      const survivors = nodes.filter((n) => n !== lead).map((n) => n.stomp);
      const t0 = performance.now();
      await kill(lead);
      const ms = await firstConfirmedSend(survivors, t0);
      times.push(ms);
      console.log(`failover ${i + 1}: leader node ${lead.id} SIGKILLed → first confirmed send through a surviving node after ${Math.round(ms)} ms`);
      await startNode(lead, nodeConfig(lead, nodes));
    }
    if (times.length) {
      const s = [...times].sort((x, y) => x - y);
      console.log(`failover: min ${Math.round(s[0]!)} ms, median ${Math.round(s[Math.floor(s.length / 2)]!)} ms, max ${Math.round(s[s.length - 1]!)} ms over ${s.length} kills`);
    }
    await Promise.all(nodes.map((n) => kill(n, 'SIGTERM')));
  } finally {
    removeDir(dir);
  }
}

await benchMain(import.meta.url, () => run());
