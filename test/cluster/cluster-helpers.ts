/** A cluster of ReplicatedNodes in one process, on an in-process network, with temp LMDB dirs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeId } from '../../cluster/raft/index.js';
import { ReplicatedNode, type ReplicatedNodeOptions } from '../../cluster/replicated-store.js';
import { LocalNetwork } from '../../cluster/transport/local.js';
import type { Store } from '../../src/core/store.js';

/** Short ticks, but an election timeout (0.5–1 s) above fsync latency on a loaded CI machine: a follower answers only after its fsync. */
export const FAST: Partial<ReplicatedNodeOptions> = { tickMs: 10, electionTick: 50, heartbeatTick: 5 };

export function tempRoot(prefix = 'wharf-cluster-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export class TestCluster {
  readonly net = new LocalNetwork();
  readonly nodes = new Map<NodeId, ReplicatedNode>();

  constructor(
    readonly root: string,
    readonly ids: readonly NodeId[] = [1, 2, 3],
    readonly opts: Partial<ReplicatedNodeOptions> = FAST,
  ) {}

  dir(id: NodeId): string {
    return path.join(this.root, `n${id}`);
  }

  async start(id: NodeId): Promise<ReplicatedNode> {
    const n = await ReplicatedNode.start({ ...this.opts, id, peers: this.ids, dir: this.dir(id), transport: this.net.endpoint(id), seed: id });
    this.nodes.set(id, n);
    return n;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  node(id: NodeId): ReplicatedNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`node ${id} is not running`);
    return n;
  }

  running(): ReplicatedNode[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  /** The one running leader (waits for an election). */
  async leader(timeoutMs = 10_000): Promise<ReplicatedNode> {
    let found: ReplicatedNode | undefined;
    await until(
      () => {
        const ls = this.running().filter((n) => n.isLeader);
        found = ls.length === 1 ? ls[0] : undefined;
        return found !== undefined;
      },
      'a leader',
      timeoutMs,
    );
    return found!;
  }

  /** Wait until every running node applied everything the leader applied. */
  async settle(timeoutMs = 10_000): Promise<void> {
    const l = await this.leader(timeoutMs);
    const target = l.status().commit;
    await until(() => this.running().every((n) => n.appliedIndex >= target), `all nodes to apply up to ${target}`, timeoutMs);
  }

  async crash(id: NodeId): Promise<void> {
    await this.node(id).crash();
    this.nodes.delete(id);
  }

  async stop(id: NodeId): Promise<void> {
    await this.node(id).stop();
    this.nodes.delete(id);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    this.nodes.clear();
  }
}

/** Everything a Store holds, in a comparable form (queues with their entries, kv). */
export function dump(store: { recovery(): Awaited<ReturnType<Store['open']>>; readEntries: Store['readEntries'] }): unknown {
  const rec = store.recovery();
  const queues = rec.queues
    .map((q) => ({ ...q, entries: store.readEntries(q.name, 0, 1_000_000).map((e) => ({ seq: e.seq, dc: e.deliveryCount, id: e.message.messageId, body: e.message.body.toString('hex'), dt: e.message.deliveryTime })) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const kv = [...rec.kv.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { queues, kv };
}
