// Directed cases for the work RawNode allows before a write is durable (takeSendableMessages,
// takeDurableCommitted, takeCommitted): the orderings the simulation draws at random, here step by step.
import assert from 'node:assert/strict';
import type { ConfState, Entry, Message, NodeId, Ready } from '../../cluster/raft/index.js';
import { MemoryStorage, Prng, RawNode } from '../../cluster/raft/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const CONF: ConfState = { voters: [1, 2, 3], learners: [] };

interface N {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  node: RawNode;
  applied: string[];
}

function start(id: NodeId, storage: MemoryStorage): RawNode {
  return new RawNode({ id, storage, rand: new Prng(id), electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true });
}

function persist(n: N, rd: Ready): void {
  if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
  n.storage.append(rd.entries);
  if (rd.hardState) n.storage.setHardState(rd.hardState);
}

function applyAll(n: N, ents: readonly Entry[]): void {
  for (const e of ents) if (e.type === 'normal' && e.data.byteLength > 0) n.applied.push(`${e.index}:${dec.decode(e.data)}`);
}

/** One Ready done by the contract: persist, (caller sends), apply, advance. */
function cycle(n: N): Message[] {
  if (!n.node.hasReady()) return [];
  const rd = n.node.ready();
  persist(n, rd);
  applyAll(n, rd.committedEntries);
  n.node.advance(rd);
  return [...rd.messages];
}

function deliver(nodes: Map<NodeId, N>, msgs: readonly Message[]): void {
  for (const m of msgs) nodes.get(m.to)?.node.step(m);
}

function stabilize(nodes: Map<NodeId, N>): void {
  for (let i = 0; i < 100; i++) {
    let msgs: Message[] = [];
    for (const n of nodes.values()) msgs = msgs.concat(cycle(n));
    if (msgs.length === 0) return;
    deliver(nodes, msgs);
  }
  assert.fail('did not stabilize');
}

function cluster(): Map<NodeId, N> {
  const nodes = new Map<NodeId, N>();
  for (const id of [1, 2, 3]) {
    const storage = MemoryStorage.bootstrap(CONF);
    nodes.set(id, { id, storage, node: start(id, storage), applied: [] });
  }
  nodes.get(1)!.node.campaign();
  stabilize(nodes);
  assert.equal(nodes.get(1)!.node.raft.role, 'leader');
  return nodes;
}

describe('raft: work before a write is durable (RawNode.takeSendableMessages / takeDurableCommitted)', () => {
  it("a leader's append leaves before its own write; one follower's answer does not commit it, two do; a leader crash that loses its write loses no committed entry", () => {
    const nodes = cluster();
    const [l, f2, f3] = [nodes.get(1)!, nodes.get(2)!, nodes.get(3)!];
    const p = l.node.propose(enc.encode('x'));
    assert.ok(p.ok);
    const early = l.node.takeSendableMessages();
    assert.deepEqual(early.map((m) => `${m.type}->${m.to}`).sort(), ['app->2', 'app->3']);
    const rd = l.node.ready(); // the leader's write of x: in flight from here on (never finished below)
    assert.deepEqual(rd.entries.map((e) => e.index), [p.index]);
    assert.equal(rd.messages.length, 0, 'the appends already left');

    deliver(nodes, early.filter((m) => m.to === 2));
    deliver(nodes, cycle(f2));
    assert.ok(l.node.raft.log.committed < p.index, 'leader (write in flight) + one follower is no quorum');
    assert.deepEqual(l.node.takeDurableCommitted(), []);

    deliver(nodes, early.filter((m) => m.to === 3));
    deliver(nodes, cycle(f3));
    assert.equal(l.node.raft.log.committed, p.index, 'two followers are a quorum without the leader');
    assert.deepEqual(l.node.takeDurableCommitted(), [], 'x is committed but not on the leader disk: not for early apply');

    // The leader dies before its write ends: its disk lacks x.
    assert.ok(l.storage.lastIndex() < p.index);
    l.node = start(1, l.storage);
    f2.node.campaign();
    stabilize(nodes);
    assert.equal(f2.node.raft.role, 'leader');
    assert.equal(f2.node.raft.log.term(p.index), p.term, 'the committed entry survives in the new leader');
    const q = f2.node.propose(enc.encode('y'));
    assert.ok(q.ok);
    stabilize(nodes);
    for (const n of [f2, f3]) assert.deepEqual(n.applied.slice(-2), [`${p.index}:x`, `${q.index}:y`]);
    assert.deepEqual(l.applied.slice(-1), [`${q.index}:y`], 'the restarted node has x again and applies what follows');
    assert.equal(l.storage.term(p.index), p.term);
  });

  it('a new leader sends nothing early until advance() confirmed its term and vote written', () => {
    const nodes = new Map<NodeId, N>();
    for (const id of [1, 2, 3]) {
      const storage = MemoryStorage.bootstrap(CONF);
      nodes.set(id, { id, storage, node: start(id, storage), applied: [] });
    }
    const c = nodes.get(1)!;
    c.node.campaign();
    // Pre-vote round, done by the contract.
    deliver(nodes, cycle(c));
    for (const id of [2, 3]) deliver(nodes, cycle(nodes.get(id)!));
    assert.equal(c.node.raft.role, 'candidate');
    // The vote round: the candidate's term and self-vote are written, its requests sent, advance() not called yet.
    const rd = c.node.ready();
    assert.ok(rd.hardState && rd.hardState.vote === 1);
    persist(c, rd);
    deliver(nodes, rd.messages);
    for (const id of [2, 3]) deliver(nodes, cycle(nodes.get(id)!));
    assert.equal(c.node.raft.role, 'leader');
    assert.deepEqual(c.node.takeSendableMessages(), [], 'term/vote not confirmed durable: its appends wait for the next Ready');
    c.node.advance(rd);
    assert.deepEqual(c.node.takeSendableMessages().map((m) => m.type), ['app', 'app']);
  });

  it('committed entries are handed out once, in order: nothing early while the outstanding Ready still has committed entries', () => {
    const nodes = cluster();
    const l = nodes.get(1)!;
    const a = l.node.propose(enc.encode('a'));
    assert.ok(a.ok);
    // Replicate a everywhere, but leave the leader's Ready that carries its commit outstanding.
    deliver(nodes, cycle(l));
    for (const id of [2, 3]) deliver(nodes, cycle(nodes.get(id)!));
    assert.equal(l.node.raft.log.committed, a.index);
    const b = l.node.propose(enc.encode('b'));
    assert.ok(b.ok);
    const rd = l.node.ready();
    assert.deepEqual(rd.committedEntries.map((e) => e.index), [a.index]);
    persist(l, rd);
    for (const m of rd.messages) nodes.get(m.to)?.node.step(m);
    for (const id of [2, 3]) deliver(nodes, cycle(nodes.get(id)!));
    // b is durable on the leader and committed now, but a (in the outstanding Ready) comes first.
    assert.equal(l.node.raft.log.committed, b.index);
    assert.deepEqual(l.node.takeDurableCommitted(), []);
    applyAll(l, rd.committedEntries);
    l.node.advance(rd);
    const early = l.node.takeDurableCommitted();
    assert.deepEqual(early.map((e) => e.index), [b.index]);
    applyAll(l, early);
    assert.ok(!l.node.ready().committedEntries.some((e) => e.index <= b.index), 'no later Ready carries them again');
    assert.deepEqual(l.applied.slice(-2), [`${a.index}:a`, `${b.index}:b`]);
  });

  it('takeCommitted: a leader applies what two followers committed while its own write is in flight; a follower only what its disk has', () => {
    const nodes = cluster();
    const [l, f2, f3] = [nodes.get(1)!, nodes.get(2)!, nodes.get(3)!];
    const p = l.node.propose(enc.encode('x'));
    assert.ok(p.ok);
    const early = l.node.takeSendableMessages();
    const rd = l.node.ready(); // the leader's write of x: in flight
    deliver(nodes, early.filter((m) => m.to === 2));
    deliver(nodes, cycle(f2));
    assert.deepEqual(l.node.takeCommitted(), [], 'leader (write in flight) + one follower: not committed, not handed out');
    deliver(nodes, early.filter((m) => m.to === 3));
    deliver(nodes, cycle(f3));
    assert.ok(l.storage.lastIndex() < p.index, 'not on the leader disk');
    const ahead = l.node.takeCommitted();
    assert.deepEqual(ahead.map((e) => e.index), [p.index], 'committed by two followers: the leader may apply it now');
    applyAll(l, ahead);
    assert.deepEqual(l.node.takeCommitted(), [], 'handed out once');
    // Its write ends; no Ready hands x out again.
    persist(l, rd);
    l.node.advance(rd);
    stabilize(nodes);
    assert.deepEqual(l.applied.filter((a) => a === `${p.index}:x`), [`${p.index}:x`]);

    // A follower that knows a commit beyond its own disk gets only what its disk has.
    const q = l.node.propose(enc.encode('y'));
    assert.ok(q.ok);
    deliver(nodes, cycle(l)); // appends of y (the leader's write done)
    const f2rd = f2.node.ready(); // f2's write of y: in flight
    assert.deepEqual(f2rd.committedEntries, [], 'nothing for f2 to apply first (the check below is about its disk)');
    deliver(nodes, cycle(f3));
    deliver(nodes, cycle(l)); // the commit of y reaches f2 (heartbeat/append with commit)
    l.node.tick();
    deliver(nodes, cycle(l));
    assert.ok(f2.node.raft.log.committed >= q.index, 'f2 knows y is committed');
    assert.deepEqual(f2.node.takeCommitted(), [], 'but y is not on its disk: a follower does not apply it early');
    persist(f2, f2rd);
    applyAll(f2, f2rd.committedEntries);
    f2.node.advance(f2rd);
    stabilize(nodes);
    assert.deepEqual(f2.applied.slice(-1), [`${q.index}:y`]);
  });
});
