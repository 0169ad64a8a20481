/** The TCP transport: a 3-node replicated cluster on 127.0.0.1, authentication, reconnects, bounded queues. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Message, NodeId } from '../../cluster/raft/index.js';
import { ReplicatedNode } from '../../cluster/replicated-store.js';
import { FrameReader, TcpTransport, type TcpTransportOptions } from '../../cluster/transport/tcp.js';
import { tlsFixture } from '../helpers/broker.js';
import type { Command } from '../../src/core/store.js';
import { plainMessage } from '../storage/store-suite.js';
import { FAST, dump, tempRoot, until } from './cluster-helpers.js';

const SECRET = 'test-cluster-secret-0123456789';
const enq = (queue: string, seq: number): Command => ({ t: 'enqueue', queue, seq, message: plainMessage(seq) });

describe('cluster TCP transport', function () {
  this.timeout(60_000);
  let cleanup: (() => Promise<void>)[] = [];
  let roots: string[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
    cleanup = [];
    roots = [];
  });

  async function transports(ids: NodeId[], secret = SECRET, tls?: TcpTransportOptions['tls']): Promise<Map<NodeId, TcpTransport>> {
    const ts = new Map<NodeId, TcpTransport>();
    for (const id of ids) {
      const t = await TcpTransport.listen({ id, secret, reconnectMinMs: 10, reconnectMaxMs: 200, tls });
      cleanup.push(() => t.close());
      ts.set(id, t);
    }
    for (const [id, t] of ts) for (const [pid, p] of ts) if (pid !== id) t.setPeer(pid, { host: '127.0.0.1', port: p.port });
    return ts;
  }

  async function leaderOf(nodes: () => ReplicatedNode[]): Promise<ReplicatedNode> {
    let l: ReplicatedNode | undefined;
    await until(() => {
      const ls = nodes().filter((n) => n.isLeader);
      l = ls.length === 1 ? ls[0] : undefined;
      return l !== undefined;
    }, 'a leader');
    return l!;
  }

  it('frames a byte stream cut anywhere: every frame whole and in order, an oversized one refused', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const check = (big: boolean, maxCut: number) => {
      const frames: Buffer[] = [];
      for (let i = 0; i < 100; i++) frames.push(Buffer.alloc(rnd(5) === 0 ? 0 : big && rnd(3) === 0 ? 70_000 + rnd(50_000) : rnd(300), i & 255));
      const stream = Buffer.concat(frames.flatMap((f) => [Buffer.from([(f.length >>> 24) & 255, (f.length >>> 16) & 255, (f.length >>> 8) & 255, f.length & 255]), f]));
      const r = new FrameReader(1 << 20);
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + rnd(maxCut);
        for (const f of r.push(stream.subarray(at, at + n))) got.push(Buffer.from(f));
        at += n;
      }
      assert.equal(got.length, frames.length, `cuts up to ${maxCut} bytes`);
      got.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i}, cuts up to ${maxCut} bytes`));
    };
    for (const maxCut of [1, 3, 7, 1000]) check(false, maxCut);
    for (const maxCut of [1000, 65_536, 300_000]) check(true, maxCut);
    const r = new FrameReader(100);
    assert.throws(() => r.push(Buffer.from([0, 0, 0, 101, 1, 2])), /exceeds the limit/);
  });

  it('replicates a 3-node cluster over TCP; a restarted follower reconnects and catches up', async () => {
    const root = tempRoot();
    roots.push(root);
    const ids = [1, 2, 3];
    const ts = await transports(ids);
    const nodes = new Map<NodeId, ReplicatedNode>();
    const start = async (id: NodeId, t: TcpTransport) => {
      const n = await ReplicatedNode.start({ ...FAST, id, peers: ids, dir: path.join(root, `n${id}`), transport: t, seed: id });
      nodes.set(id, n);
      cleanup.push(() => n.stop());
    };
    for (const id of ids) await start(id, ts.get(id)!);
    const running = () => [...nodes.values()].filter((n) => n.running);
    const leader = await leaderOf(running);
    await leader.store.open();
    await Promise.all(Array.from({ length: 50 }, (_, i) => leader.store.commit([enq('q', i + 1)])));
    const settle = async () => {
      const target = leader.status().commit;
      await until(() => running().every((n) => n.appliedIndex >= target), 'followers to apply');
    };
    await settle();
    for (const n of running()) assert.deepEqual(dump(n.state), dump(leader.state), `node ${n.id}`);

    // Stop a follower (its port closes), commit more, restart it on the same port with a new transport.
    const f = running().find((n) => n !== leader)!;
    const port = ts.get(f.id)!.port;
    await f.stop();
    for (let i = 51; i <= 60; i++) await leader.store.commit([enq('q', i)]);
    const t2 = await TcpTransport.listen({ id: f.id, secret: SECRET, port, reconnectMinMs: 10, reconnectMaxMs: 200 });
    cleanup.push(() => t2.close());
    for (const [pid, p] of ts) if (pid !== f.id) t2.setPeer(pid, { host: '127.0.0.1', port: p.port });
    await start(f.id, t2);
    await settle();
    assert.deepEqual(dump(nodes.get(f.id)!.state), dump(leader.state));
    assert.equal(nodes.get(f.id)!.store.readSeqs('q', 0, 100).length, 60);
  });

  it('replicates over TLS (each node verifies the peer it dials against the CA); a plain-TCP dialer gets nothing through', async () => {
    const root = tempRoot();
    roots.push(root);
    const ids = [1, 2, 3];
    const tlsOpts = { cert: fs.readFileSync(tlsFixture('server.crt')), key: fs.readFileSync(tlsFixture('server.key')), ca: fs.readFileSync(tlsFixture('ca.crt')) };
    const ts = await transports(ids, SECRET, tlsOpts);
    const nodes: ReplicatedNode[] = [];
    for (const id of ids) {
      const n = await ReplicatedNode.start({ ...FAST, id, peers: ids, dir: path.join(root, `n${id}`), transport: ts.get(id)!, seed: id });
      nodes.push(n);
      cleanup.push(() => n.stop());
    }
    const leader = await leaderOf(() => nodes);
    await leader.store.open();
    await Promise.all(Array.from({ length: 20 }, (_, i) => leader.store.commit([enq('q', i + 1)])));
    const target = leader.status().commit;
    await until(() => nodes.every((n) => n.appliedIndex >= target), 'followers to apply');
    for (const n of nodes) assert.equal(n.store.readSeqs('q', 0, 100).length, 20, `node ${n.id}`);

    // A node without TLS, with the right secret, cannot talk to them.
    const plain = await TcpTransport.listen({ id: 4, secret: SECRET, reconnectMinMs: 10, reconnectMaxMs: 50 });
    cleanup.push(() => plain.close());
    const t1 = ts.get(1)!;
    plain.setPeer(1, { host: '127.0.0.1', port: t1.port });
    for (let i = 0; i < 5; i++) plain.send(1, { type: 'heartbeat', from: 4, to: 1, term: 99, commit: 0 });
    await new Promise((r) => setTimeout(r, 300));
    // Had node 1 taken the term-99 heartbeat, it would have moved to term 99.
    assert.ok(nodes.every((n) => n.status().term < 99), 'no message of the plain dialer was taken');
  });

  it('refuses a stranger without the secret, and garbage, delivering nothing', async () => {
    const ts = await transports([1]);
    const t1 = ts.get(1)!;
    const got: Message[] = [];
    t1.onMessage((m) => got.push(m));
    const stranger = await TcpTransport.listen({ id: 2, secret: 'not-the-cluster-secret!!', reconnectMinMs: 10, reconnectMaxMs: 50 });
    cleanup.push(() => stranger.close());
    stranger.setPeer(1, { host: '127.0.0.1', port: t1.port });
    stranger.send(1, { type: 'vote', from: 2, to: 1, term: 99, index: 100, logTerm: 99, transfer: true });
    await until(() => t1.stats.rejectedConnections >= 2, 'the stranger to be refused (twice: it retries)', 5000);
    assert.deepEqual(got, []);
    await stranger.close();
    await new Promise((r) => setTimeout(r, 20));

    const s = net.connect({ host: '127.0.0.1', port: t1.port });
    await new Promise((r) => s.once('connect', r));
    s.resume();
    const rejected = t1.stats.rejectedConnections;
    s.write(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5, 0xff, 0xff, 0xff, 0xff]));
    await until(() => s.destroyed, 'the garbage connection to be closed', 5000);
    assert.equal(t1.stats.rejectedConnections, rejected + 1);
    assert.deepEqual(got, []);

    // A peer with the secret gets through, but cannot speak for another node.
    const friend = await TcpTransport.listen({ id: 2, secret: SECRET });
    cleanup.push(() => friend.close());
    friend.setPeer(1, { host: '127.0.0.1', port: t1.port });
    friend.send(1, { type: 'heartbeatResp', from: 3, to: 1, term: 1 });
    friend.send(1, { type: 'heartbeatResp', from: 2, to: 1, term: 1 });
    await until(() => got.length === 1, 'the genuine message', 5000);
    assert.equal((got[0] as Message).from, 2);
  });

  it('bounds the send queue of an unreachable peer and drops the excess', async () => {
    const ts = await transports([1]);
    const t1 = ts.get(1)!;
    const unused = net.createServer();
    await new Promise<void>((r) => unused.listen(0, '127.0.0.1', () => r()));
    const port = (unused.address() as net.AddressInfo).port;
    await new Promise((r) => unused.close(r));
    const t = await TcpTransport.listen({ id: 5, secret: SECRET, maxQueueFrames: 100, reconnectMinMs: 10, reconnectMaxMs: 50 });
    cleanup.push(() => t.close());
    t.setPeer(1, { host: '127.0.0.1', port });
    for (let i = 0; i < 1000; i++) t.send(1, { type: 'heartbeat', from: 5, to: 1, term: 1, commit: i });
    assert.ok(t.queued(1) <= 100);
    assert.ok(t.stats.dropped >= 900);
    // Pointing the peer at a live node: the queue drains there after a reconnect.
    const got: Message[] = [];
    t1.onMessage((m) => got.push(m));
    t.setPeer(1, { host: '127.0.0.1', port: t1.port });
    await until(() => got.length === 100, 'the queued messages to arrive');
  });
});
