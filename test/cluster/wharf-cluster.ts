/**
 * Three (or more) `wharf start` processes forming a cluster on 127.0.0.1, every Raft link through a FaultProxy:
 * node i reaches node j's Raft port through proxy (i→j), so a partition is a set of proxies switched to `drop`.
 * Client listeners (STOMP, MQTT, AMQP, OpenWire, WebSocket, SQS, admin) are on fixed free ports, so followers know where to forward.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { tlsFixture } from '../helpers/broker.js';
import { freePort } from '../helpers/ports.js';
import { brokerStarted, envWithoutWharf, wharfCliArgs } from '../helpers/wharf-process.js';
import { FaultProxy } from './fault-proxy.js';

export const CLIENT_LISTENERS = ['stomp', 'stomp-tls', 'mqtt', 'amqp', 'openwire', 'ws', 'sqs', 'admin'] as const;
export type ClientListener = (typeof CLIENT_LISTENERS)[number];

/** Run the `wharf` command; resolves with stdout, rejects with stderr. */
export function wharfCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...wharfCliArgs(), ...args], { cwd: repoRoot, env: envWithoutWharf(), encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`wharf ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ClusterStatusView {
  nodeId: number;
  role: string;
  leader: number;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  serving: boolean;
  failed?: string;
  diskAlarm?: string;
  members: { id: number; lag?: number; lastContactMs?: number }[];
}

export interface NodeInfo {
  id: number;
  dir: string;
  raftPort: number;
  ports: Record<ClientListener, number>;
  child?: ChildProcess;
  stopped?: boolean;
  /** Started with cluster.join: true (added by `wharf cluster add`). */
  join?: boolean;
  /** Data directory (default `<dir>/data`). */
  dataDir?: string;
  /** Top-level config sections for this node only (e.g. `resources`). */
  config?: Record<string, unknown>;
  /** Environment variables for this node's process (test hooks such as WHARF_TEST_LEADER_WRITE_DELAY_MS). */
  env?: Record<string, string>;
}

export class WharfCluster {
  readonly nodes: NodeInfo[] = [];
  /** proxies.get(`${from}>${to}`) */
  readonly proxies = new Map<string, FaultProxy>();
  private readonly logs: fs.WriteStream[] = [];

  private constructor(readonly root: string, readonly extra: Record<string, unknown>) {}

  static async create(root: string, size = 3, extra: Record<string, unknown> = {}): Promise<WharfCluster> {
    const c = new WharfCluster(root, extra);
    for (let id = 1; id <= size; id++) {
      const ports = {} as Record<ClientListener, number>;
      for (const l of CLIENT_LISTENERS) ports[l] = await freePort();
      c.nodes.push({ id, dir: path.join(root, `n${id}`), raftPort: await freePort(), ports });
    }
    for (const a of c.nodes)
      for (const b of c.nodes) if (a !== b) c.proxies.set(`${a.id}>${b.id}`, await FaultProxy.listen({ host: '127.0.0.1', port: b.raftPort }));
    for (const n of c.nodes) fs.mkdirSync(n.dir, { recursive: true });
    return c;
  }

  /** A new node (not started): its ports, the proxies between it and every node; `join` = start with an empty membership. */
  async addNode(id: number, join = true): Promise<NodeInfo> {
    const ports = {} as Record<ClientListener, number>;
    for (const l of CLIENT_LISTENERS) ports[l] = await freePort();
    const n: NodeInfo = { id, dir: path.join(this.root, `n${id}`), raftPort: await freePort(), ports, join };
    for (const o of this.nodes) {
      this.proxies.set(`${id}>${o.id}`, await FaultProxy.listen({ host: '127.0.0.1', port: o.raftPort }));
      this.proxies.set(`${o.id}>${id}`, await FaultProxy.listen({ host: '127.0.0.1', port: n.raftPort }));
    }
    this.nodes.push(n);
    fs.mkdirSync(n.dir, { recursive: true });
    return n;
  }

  /** Kill node `id` and forget it (it was removed from the membership). */
  async retire(id: number): Promise<void> {
    await this.kill(id);
    this.nodes.splice(this.nodes.indexOf(this.node(id)), 1);
    for (const [k, p] of this.proxies) {
      if (k.startsWith(`${id}>`) || k.endsWith(`>${id}`)) {
        await p.close();
        this.proxies.delete(k);
      }
    }
  }

  node(id: number): NodeInfo {
    return this.nodes.find((n) => n.id === id)!;
  }

  /** The configuration of node `id`: its peers' Raft ports are the proxies it dials them through. */
  configOf(id: number): Record<string, unknown> {
    const self = this.node(id);
    const listeners: Record<string, unknown> = {};
    for (const l of CLIENT_LISTENERS) if (!l.endsWith('-tls')) listeners[l] = { host: '127.0.0.1', port: self.ports[l] };
    // STOMP over TLS too: a follower forwards the encrypted bytes, the leader terminates TLS.
    listeners.stomp = { host: '127.0.0.1', port: self.ports.stomp, tls: { port: self.ports['stomp-tls'], cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } };
    return {
      dataDir: self.dataDir ?? path.join(self.dir, 'data'),
      log: { level: 'info', format: 'json' },
      listeners,
      cluster: {
        nodeId: id,
        secret: 'cluster-test-secret-0123456789',
        host: '127.0.0.1',
        port: self.raftPort,
        peers: this.nodes.map((n) => ({
          id: n.id,
          host: '127.0.0.1',
          port: n.id === id ? n.raftPort : this.proxies.get(`${id}>${n.id}`)!.port,
          listeners: n.ports,
        })),
        ...(self.join ? { join: true } : {}),
        ...this.extra,
      },
      ...(self.config ?? {}),
    };
  }

  /** Start node `id` (again); resolves once its listeners are bound. */
  async start(id: number): Promise<void> {
    const n = this.node(id);
    const file = path.join(n.dir, 'wharf.json');
    fs.writeFileSync(file, JSON.stringify(this.configOf(id), null, 2));
    const child = spawn(process.execPath, [...wharfCliArgs(), 'start', '--config', file], { cwd: repoRoot, env: { ...envWithoutWharf(), ...n.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    n.child = child;
    n.stopped = false;
    const log = fs.createWriteStream(path.join(n.dir, 'wharf.log'), { flags: 'a' });
    this.logs.push(log);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      log.write(c);
    });
    child.stdout!.on('data', (c: Buffer) => log.write(c));
    await brokerStarted(child, `node ${id}`, () => stderr);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.start(n.id)));
  }

  alive(id: number): boolean {
    const c = this.node(id).child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.node(id).child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  }

  pause(id: number): void {
    this.node(id).child?.kill('SIGSTOP');
    this.node(id).stopped = true;
  }

  resume(id: number): void {
    this.node(id).child?.kill('SIGCONT');
    this.node(id).stopped = false;
  }

  /** Cut every Raft link between `a` and the nodes in `others` (both directions). */
  partition(a: number, others: number[]): void {
    for (const b of others) {
      this.proxies.get(`${a}>${b}`)!.setMode('drop');
      this.proxies.get(`${b}>${a}`)!.setMode('drop');
    }
  }

  /** Delay every Raft message to and from node `a` by `ms` (0 = no delay). */
  delay(a: number, ms: number): void {
    for (const [k, p] of this.proxies) if (k.startsWith(`${a}>`) || k.endsWith(`>${a}`)) p.setDelay(ms);
  }

  heal(): void {
    for (const p of this.proxies.values()) p.setMode('pass');
  }

  async status(id: number, timeoutMs = 1000): Promise<ClusterStatusView | undefined> {
    if (!this.alive(id) || this.node(id).stopped) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${this.node(id).ports.admin}/api/cluster`, {
        headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      if (res.status !== 200) return undefined;
      return (await res.json()) as ClusterStatusView;
    } catch {
      return undefined;
    }
  }

  /** Wait for one node that leads and serves (optionally not `except`) and that the other reachable nodes follow. */
  async leader(timeoutMs = 20_000, except?: number): Promise<number> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const all = await Promise.all(this.nodes.map((n) => this.status(n.id)));
      const leaders = all.filter((s) => s && s.role === 'leader' && s.serving && s.nodeId !== except);
      if (leaders.length === 1) return leaders[0]!.nodeId;
      await sleep(100);
    }
    throw new Error(`no serving leader within ${timeoutMs} ms`);
  }

  async transferLeader(from: number, to: number): Promise<void> {
    const res = await fetch(`http://127.0.0.1:${this.node(from).ports.admin}/api/cluster/transfer-leader`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to }),
    });
    if (res.status !== 202) throw new Error(`transfer-leader: HTTP ${res.status} ${await res.text()}`);
  }

  private async adminCall(method: string, pathname: string, body?: unknown): Promise<Response> {
    // Leader-only calls: ask whoever leads now (retrying across a leadership change).
    let last = '';
    for (let i = 0; i < 20; i++) {
      const lead = await this.leader();
      const res = await fetch(`http://127.0.0.1:${this.node(lead).ports.admin}${pathname}`, {
        method,
        headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.ok) return res;
      last = `HTTP ${res.status} ${await res.text()}`;
      await sleep(200);
    }
    throw new Error(`${method} ${pathname}: ${last}`);
  }

  /** `wharf cluster add` over the API; resolves once the leader reports node `n` as a voter. */
  async addMember(n: NodeInfo): Promise<void> {
    await this.adminCall('POST', '/api/cluster/members', { id: n.id, host: '127.0.0.1', port: n.raftPort, listeners: n.ports });
    const t0 = Date.now();
    for (;;) {
      const s = await this.status(await this.leader());
      if (s?.members.some((m) => m.id === n.id && (m as { role?: string }).role !== 'learner')) return;
      if (Date.now() - t0 > 30_000) throw new Error(`node ${n.id} did not become a voter`);
      await sleep(100);
    }
  }

  async removeMember(id: number): Promise<void> {
    await this.adminCall('DELETE', `/api/cluster/members/${id}`);
  }

  async close(): Promise<void> {
    for (const n of this.nodes) if (n.stopped) this.resume(n.id);
    await Promise.all(this.nodes.map((n) => this.kill(n.id)));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    for (const l of this.logs) l.end();
  }
}
