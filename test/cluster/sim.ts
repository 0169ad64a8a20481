// Deterministic simulation of a Raft cluster: seeded network chaos, crashes that lose
// everything not yet persisted, client traffic, compaction, membership changes and
// leadership transfers, with a safety checker run after every step.
import type { ConfState, Entry, HardState, Message, NodeId, Ready } from '../../cluster/raft/index.js';
import { MemoryStorage, Prng, RawNode, decodeConfChange } from '../../cluster/raft/index.js';
import type { ConfChange } from '../../cluster/raft/index.js';

export interface SimOptions {
  readonly seed: number;
  /** Initial voters (ids 1..voters). */
  readonly voters: number;
  /** Start with one learner (id voters+1). */
  readonly learner: boolean;
  /** Spare nodes that membership changes may add (learner, then promote). */
  readonly spares: number;
  /** Allow membership changes during the chaos phase. */
  readonly membership: boolean;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Rounds of chaos (one round = every node ticks once, plus deliveries). */
  readonly rounds: number;
  /** Rounds allowed after healing for an election and a commit on every live voter. */
  readonly livenessRounds: number;
  readonly crashRate: number;
  /** Network weather, drawn per seed. */
  readonly loss: number;
  readonly dup: number;
  readonly maxDelay: number;
  readonly partitionRate: number;
  /** Chance that a message is held back for up to 4 election timeouts (stale-message stress). */
  readonly longDelay: number;
  /** Chance that a node misses a tick in a round (clock drift between nodes). */
  readonly tickSkip: number;
  /** Chance that a Ready's send/apply/advance half is deferred while the node keeps running. */
  readonly splitReady: number;
  /** Chance that a Ready's write itself is deferred (an asynchronous write in flight): the node keeps running, a
   *  crash meanwhile loses what the Ready carried. */
  readonly asyncWrite: number;
  /** Chance, before a Ready and after each step, that a node does the work RawNode allows before persisting: send
   *  takeSendableMessages() (a leader's appends, also of entries not yet written here) and apply
   *  takeDurableCommitted(). */
  readonly early: number;
  /** A leader's early work applies every committed entry (RawNode.takeCommitted), also those two followers
   *  committed while its own write of them is in flight — not only those durable on its disk. */
  readonly leaderAhead: boolean;
  /** Chance that a crash keeps the state machine (a process crash: ReplicatedNode's state store is in the page
   *  cache) instead of losing it (a machine crash: the state is rebuilt from the log). A kept state may be ahead of
   *  the node's log (leaderAhead); the restart then skips replayed entries at or below it. */
  readonly keepState: number;
  /** Proposals per burst (exercises batching and flow control). */
  readonly burst: number;
  /** Test-only protocol violations, to prove the checker notices them. */
  readonly bug?: 'forgetVote' | 'ackRejectedAppend' | 'sendBeforeWrite' | 'compactAheadOfLog';
  /** Collect a readable event trace (slower; used when replaying one seed). */
  readonly trace?: boolean;
}

export function defaultOptions(seed: number): SimOptions {
  // The variant is a pure function of the seed so RAFT_SEED=s alone replays a run.
  const v = seed % 6;
  const w = new Prng(seed ^ 0x5bd1e995);
  return {
    seed,
    voters: v % 2 === 0 ? 3 : 5,
    learner: v === 2 || v === 3,
    spares: v >= 4 ? 2 : 1,
    membership: v >= 2,
    preVote: v !== 1, // one variant without pre-vote / check-quorum: plain Raft must be safe too
    checkQuorum: v !== 1,
    rounds: 300,
    livenessRounds: 400,
    crashRate: [0, 0.002, 0.005, 0.01][w.int(4)] as number,
    loss: [0, 0.02, 0.05, 0.15][w.int(4)] as number,
    dup: [0, 0.03, 0.1][w.int(3)] as number,
    maxDelay: 1 + w.int(5),
    partitionRate: [0.005, 0.02, 0.05][w.int(3)] as number,
    burst: 1 + w.int(6),
    longDelay: [0, 0.005, 0.02][w.int(3)] as number,
    tickSkip: [0, 0.1, 0.3][w.int(3)] as number,
    splitReady: [0, 0.1, 0.3][w.int(3)] as number,
    asyncWrite: [0, 0.2, 0.5][w.int(3)] as number,
    early: [0, 0.5, 1][w.int(3)] as number,
    leaderAhead: w.int(3) !== 0,
    keepState: [0, 0.5, 1][w.int(3)] as number,
  };
}

export class SafetyViolation extends Error {}

interface Flight {
  at: number;
  m: Message;
}

interface AppState {
  applied: number;
  hash: number;
  conf: ConfState;
}

interface SimNode {
  readonly id: NodeId;
  /** The "disk": survives crashes. Holds exactly what Ready handling persisted. */
  readonly storage: MemoryStorage;
  node: RawNode | undefined;
  app: AppState;
  /** Highest commit this incarnation has shown (commit must never go backwards). */
  lastCommit: number;
  /** Committed indices of this node already cross-checked. */
  checkedCommit: number;
  /** Permanently out (removed from the cluster): kept down so ids are never reused. */
  retired: boolean;
  removedApplied: boolean;
  /** Highest entry index a leader incarnation sent in an append before its Ready (takeSendableMessages). */
  sentUpTo: number;
  /** A Ready handed out and not yet advanced: written (`persisted`) or with its write still in flight. */
  pending: Pending | undefined;
  /** The last crash kept the state machine (keepState): the next start resumes from it. */
  keptApp: boolean;
}

interface Pending {
  readonly rd: Ready;
  /** Term before each of rd.entries as the log had it at ready() (the log may change while the write is in flight). */
  readonly prevTerms: (number | undefined)[];
  persisted: boolean;
  /** bug 'sendBeforeWrite': its messages already left. */
  sent: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
function hashEntry(prev: number, e: Entry): number {
  let h = mix(prev, e.index);
  h = mix(h, e.term);
  h = mix(h, e.type === 'normal' ? 1 : 2);
  for (let i = 0; i < e.data.length; i++) h = mix(h, e.data[i] as number);
  return h;
}
function dataHash(e: Entry): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < e.data.length; i++) h = mix(h, e.data[i] as number);
  return mix(h, e.type === 'normal' ? 1 : 2);
}

export class Sim {
  readonly o: SimOptions;
  readonly rng: Prng;
  readonly nodes = new Map<NodeId, SimNode>();
  private flights: Flight[] = [];
  /** Partition group of each node; messages cross groups only when equal. */
  private group = new Map<NodeId, number>();
  round = 0;
  private loss: number;
  private dup: number;
  private maxDelay: number;
  private crashRate: number;
  private longDelay: number;
  private tickSkip: number;
  private splitReady: number;
  private asyncWrite: number;
  private early: number;
  private proposals = 0;
  readonly traceLines: string[] = [];

  // ---- checker state (history across the whole run)
  private leaderOfTerm = new Map<number, NodeId>();
  /** Every (index, term) ever persisted anywhere: its data and predecessor term (Log Matching). */
  private entryIds = new Map<number, Map<number, { data: number; prevTerm: number | undefined }>>();
  /** Committed entries as first observed: term of the entry, and the observer's term. */
  private committed = new Map<number, { term: number; seenAt: number }>();
  private maxCommitted = 0;
  private aheadCounted = 0;
  /** State-machine hash after applying index i (hash chain = the whole applied prefix). */
  private appliedHash = new Map<number, number>();
  private leaderSeen = new Set<string>();
  stats = { elections: 0, commits: 0, snapshotsSent: 0, restarts: 0, confChanges: 0, transfers: 0, commitsAheadOfLeaderDisk: 0, leaderCrashesWithSentUnwritten: 0, appliedAheadOfLeaderDisk: 0, restartsWithStateAheadOfLog: 0, replaysSkipped: 0 };

  constructor(o: SimOptions) {
    this.o = o;
    this.crashRate = o.crashRate;
    this.loss = o.loss;
    this.dup = o.dup;
    this.maxDelay = o.maxDelay;
    this.longDelay = o.longDelay;
    this.tickSkip = o.tickSkip;
    this.splitReady = o.splitReady;
    this.asyncWrite = o.asyncWrite;
    this.early = o.early;
    this.rng = new Prng(o.seed * 2654435761 + 1);
    const voters: NodeId[] = [];
    for (let i = 1; i <= o.voters; i++) voters.push(i);
    const learners: NodeId[] = o.learner ? [o.voters + 1] : [];
    const conf: ConfState = { voters, learners };
    const total = o.voters + learners.length + o.spares;
    for (let id = 1; id <= total; id++) {
      const member = id <= o.voters + learners.length;
      const storage = member ? MemoryStorage.bootstrap(conf) : new MemoryStorage();
      const n: SimNode = {
        id,
        storage,
        node: undefined,
        app: { applied: 0, hash: 0, conf: member ? conf : { voters: [], learners: [] } },
        lastCommit: 0,
        checkedCommit: 0,
        retired: false,
        removedApplied: false,
        pending: undefined,
        sentUpTo: 0,
        keptApp: false,
      };
      this.nodes.set(id, n);
      this.start(n);
      this.group.set(id, 0);
      if (member) this.everMember.add(id);
    }
  }

  private trace(s: string): void {
    if (this.o.trace) this.traceLines.push(`[${this.round}] ${s}`);
  }
  fail(s: string): never {
    throw new SafetyViolation(`${s} (round ${this.round})`);
  }

  // ------------------------------------------------------------ node lifecycle

  private start(n: SimNode): void {
    const snap = n.storage.snapshot();
    const hs = n.storage.initialState();
    // After a machine crash the state machine is rebuilt from the snapshot, then replayed from the log. After a
    // process crash that kept it, it resumes where it was (ReplicatedNode.start): restored from the log's snapshot
    // only if that is newer; replayed entries at or below its index are skipped (apply()).
    if (!n.keptApp || snap.meta.index > n.app.applied) {
      n.app = snap.meta.index > 0 ? this.decodeSnapshot(n, snap.data, snap.meta.index, snap.meta.conf) : { applied: 0, hash: 0, conf: snap.meta.conf };
    } else if (n.app.applied > n.storage.lastIndex()) {
      this.stats.restartsWithStateAheadOfLog++;
      this.trace(`${n.id} restarts with its state at ${n.app.applied}, ahead of its log (last ${n.storage.lastIndex()})`);
    }
    n.keptApp = false;
    n.node = new RawNode({
      id: n.id,
      storage: n.storage,
      rand: new Prng(this.rng.int(2 ** 31)),
      electionTick: 10,
      heartbeatTick: 2,
      preVote: this.o.preVote,
      checkQuorum: this.o.checkQuorum,
      maxSizePerMsg: 256,
      maxEntriesPerMsg: 4,
      maxInflightMsgs: 4,
      maxInflightBytes: 2048,
      maxSnapshotChunkBytes: 64,
      applied: Math.max(Math.min(n.app.applied, hs.commit), snap.meta.index),
    });
    // A restarted node resumes exactly from its persisted commit (or its snapshot, if later).
    const want = Math.max(hs.commit, snap.meta.index);
    if (n.node.raft.log.committed !== want) this.fail(`node ${n.id} restarted with commit ${n.node.raft.log.committed}, persisted ${want}`);
    n.lastCommit = want;
    n.checkedCommit = Math.min(n.checkedCommit, want);
    n.sentUpTo = 0;
  }

  crash(n: SimNode): void {
    if (!n.node) return;
    this.trace(`crash ${n.id}`);
    if (n.pending && !n.pending.persisted && n.node.raft.role === 'leader' && n.pending.rd.entries.length > 0) {
      // Its own write of entries it may already have sent (takeSendableMessages) is lost.
      const last = n.pending.rd.entries[n.pending.rd.entries.length - 1] as Entry;
      if (this.sentUpTo(n) >= (n.pending.rd.entries[0] as Entry).index) this.stats.leaderCrashesWithSentUnwritten++;
      this.trace(`${n.id} loses its unwritten entries up to ${last.index}`);
    }
    n.pending = undefined;
    n.node = undefined; // everything not persisted is gone
    n.keptApp = this.rng.chance(this.o.keepState); // ...but a process crash keeps the state store
  }

  restart(n: SimNode): void {
    if (n.node || n.retired) return;
    this.trace(`restart ${n.id}`);
    this.stats.restarts++;
    this.start(n);
  }

  // ------------------------------------------------------------ Ready handling

  /** Persist, send, apply, advance: the contract in node.ts, done right (unless a test bug is on).
   *  Sometimes the second half is deferred, as an application with asynchronous fsync would:
   *  the node keeps stepping and ticking between ready() and advance(); sometimes the write itself
   *  is (still in flight: a crash loses it). */
  private handleReady(n: SimNode, crashBeforeSend: boolean): void {
    const node = n.node;
    if (!node) return;
    if (n.pending) {
      // A write in flight often outlasts a few steps (time for followers to answer the appends it carries).
      // With leaderAhead, a leader's disk is slower still: two followers often answer (and commit) first.
      const slow = this.o.leaderAhead && node.raft.role === 'leader' ? 0.95 : 0.75;
      if (!n.pending.persisted && this.rng.chance(slow)) return;
      this.finishReady(n, n.pending);
      return;
    }
    if (this.rng.chance(this.early)) this.earlyWork(n);
    if (!node.hasReady()) return;
    const rd = node.ready();
    const prevTerms = rd.entries.map((e) => node.raft.log.term(e.index - 1));
    if (this.rng.chance(this.asyncWrite)) {
      const p: Pending = { rd, prevTerms, persisted: false, sent: false };
      n.pending = p;
      if (this.o.bug === 'sendBeforeWrite') {
        // Answers (votes, appends) leave before the write that they promise.
        for (const m of rd.messages) this.send(m);
        p.sent = true;
      }
      return;
    }
    this.persist(n, rd, prevTerms);
    if (crashBeforeSend) {
      this.crash(n); // durable, but nothing sent or applied
      return;
    }
    const p: Pending = { rd, prevTerms, persisted: true, sent: false };
    if (this.rng.chance(this.splitReady)) {
      n.pending = p;
      return;
    }
    this.finishReady(n, p);
  }

  private finishReady(n: SimNode, p: Pending): void {
    const node = n.node as RawNode;
    const rd = p.rd;
    if (!p.persisted) this.persist(n, rd, p.prevTerms);
    n.pending = undefined;
    if (!p.sent) for (const m of rd.messages) this.send(m);
    if (rd.snapshot) {
      n.app = this.decodeSnapshot(n, rd.snapshot.data, rd.snapshot.meta.index, rd.snapshot.meta.conf);
      this.trace(`${n.id} installed snapshot ${rd.snapshot.meta.index}`);
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    node.advance(rd);
    this.check();
  }

  /** What RawNode lets a node do before (and while) a Ready's write: send a leader's appends and heartbeats, apply
   *  committed entries that are durable here. Both promises are checked against the "disk". */
  private earlyWork(n: SimNode): void {
    const node = n.node;
    if (!node) return;
    const hs = n.storage.initialState();
    for (const m of node.takeSendableMessages()) {
      if (m.type !== 'app' && m.type !== 'heartbeat' && m.type !== 'snap' && m.type !== 'timeoutNow') this.fail(`node ${n.id} sent ${m.type} before its write`);
      // A leader's term and self-vote must be on disk before it speaks for that term (else a restart could vote again).
      if (hs.term !== m.term || hs.vote !== n.id) this.fail(`node ${n.id} sent ${m.type} at term ${m.term} with term ${hs.term} vote ${hs.vote} on disk`);
      if (m.type === 'app' && m.entries.length > 0) {
        const last = (m.entries[m.entries.length - 1] as Entry).index;
        n.sentUpTo = Math.max(n.sentUpTo, last);
      }
      this.send(m);
    }
    const ahead = this.o.leaderAhead && node.raft.role === 'leader';
    const ents = ahead ? node.takeCommitted() : node.takeDurableCommitted();
    const snapIndex = n.storage.snapshot().meta.index;
    for (const e of ents) {
      if (e.index > snapIndex && (e.index > n.storage.lastIndex() || n.storage.term(e.index) !== e.term)) {
        // Allowed only on a leader, for an entry committed (durable on a majority) — the checker's State Machine
        // Safety and Leader Completeness then hold it to that.
        if (!ahead) this.fail(`node ${n.id} was handed entry ${e.index}/${e.term} to apply early, which is not on its disk`);
        if (e.index > node.raft.log.committed) this.fail(`leader ${n.id} was handed entry ${e.index} to apply, beyond its commit ${node.raft.log.committed}`);
        this.stats.appliedAheadOfLeaderDisk++;
      }
      this.apply(n, e);
    }
    if (ents.length > 0) this.trace(`${n.id} applied ${ents[0]!.index}..${ents[ents.length - 1]!.index} early`);
    this.check();
  }

  private sentUpTo(n: SimNode): number {
    return n.sentUpTo;
  }

  private persist(n: SimNode, rd: Ready, prevTerms: readonly (number | undefined)[]): void {
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) {
      let hs: HardState = rd.hardState;
      if (this.o.bug === 'forgetVote') hs = { ...hs, vote: 0 };
      n.storage.setHardState(hs);
    }
    // Log Matching, checked on everything that reaches a disk.
    rd.entries.forEach((e, k) => {
      const prevTerm = prevTerms[k];
      let byTerm = this.entryIds.get(e.index);
      if (!byTerm) this.entryIds.set(e.index, (byTerm = new Map()));
      const seen = byTerm.get(e.term);
      const d = dataHash(e);
      if (!seen) byTerm.set(e.term, { data: d, prevTerm });
      else {
        if (seen.data !== d) this.fail(`Log Matching: two different entries at index ${e.index} term ${e.term}`);
        if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
          this.fail(`Log Matching: entry ${e.index}/${e.term} preceded by terms ${seen.prevTerm} and ${prevTerm}`);
        }
      }
    });
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index <= n.app.applied) {
      // Replayed after a restart that kept a state ahead of the log: skipped, as ReplicatedNode does. It must be
      // the very entry the state holds at that index.
      const before = e.index === 1 ? 0 : this.appliedHash.get(e.index - 1);
      const after = this.appliedHash.get(e.index);
      if (before !== undefined && after !== undefined && hashEntry(before, e) !== after) {
        this.fail(`State Machine Safety: node ${n.id} skipped replayed entry ${e.index}/${e.term}, which differs from the one its state applied`);
      }
      this.stats.replaysSkipped++;
      return;
    }
    if (e.index !== n.app.applied + 1) this.fail(`node ${n.id} applied ${e.index} after ${n.app.applied}`);
    const h = hashEntry(n.app.hash, e);
    const prev = this.appliedHash.get(e.index);
    if (prev === undefined) this.appliedHash.set(e.index, h);
    else if (prev !== h) this.fail(`State Machine Safety: node ${n.id} applied a different entry (or prefix) at index ${e.index}`);
    n.app.hash = h;
    n.app.applied = e.index;
    if (e.type === 'confChange') {
      const r = decodeConfChange(e.data);
      n.app.conf = r.conf;
      if (r.change.type === 'removeNode' && r.change.node === n.id) n.removedApplied = true;
    }
  }

  private encodeSnapshot(n: SimNode): Uint8Array {
    // Pad so the image spans several chunks.
    const pad = '.'.repeat(this.rng.int(200));
    return enc.encode(`${n.app.applied}:${n.app.hash}:${pad}`);
  }
  private decodeSnapshot(n: SimNode, data: Uint8Array, index: number, conf: ConfState): AppState {
    const [i, h] = dec.decode(data).split(':');
    const applied = Number(i);
    const hash = Number(h);
    if (applied !== index) this.fail(`node ${n.id}: snapshot image is at ${applied} but meta says ${index}`);
    const want = this.appliedHash.get(index);
    if (want !== undefined && want !== hash) this.fail(`State Machine Safety: node ${n.id} restored a snapshot at ${index} that differs from what was applied`);
    return { applied, hash, conf };
  }

  // ------------------------------------------------------------ network

  private send(m: Message): void {
    if (this.o.bug === 'ackRejectedAppend' && m.type === 'appResp' && m.reject && m.index > 0) {
      // A follower that claims to match the leader where its log actually differs: the leader
      // counts it toward a majority it doesn't have. (Only where the follower has entries at
      // that index, so no internal assertion fires first: the checker must notice.)
      const last = this.nodes.get(m.from)?.node?.raft.log.lastIndex() ?? 0;
      if (last >= m.index) m = { ...m, reject: false };
    }
    if (m.type === 'snap' && m.offset === 0) this.stats.snapshotsSent++;
    if (this.rng.chance(this.loss)) return;
    const copies = this.rng.chance(this.dup) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      const delay = this.rng.chance(this.longDelay) ? this.rng.int(40) : this.rng.int(this.maxDelay + 1);
      this.flights.push({ at: this.round + delay, m });
    }
  }

  private connected(a: NodeId, b: NodeId): boolean {
    return this.group.get(a) === this.group.get(b);
  }

  private deliver(f: Flight): void {
    const n = this.nodes.get(f.m.to);
    if (!n || !n.node || !this.connected(f.m.from, f.m.to)) return;
    if (this.o.bug === 'forgetVote' && f.m.type === 'vote') {
      // Restart right before each vote request, from a disk that never kept the vote.
      this.crash(n);
      this.restart(n);
    }
    (n.node as RawNode).step(f.m);
    this.afterStep(n);
  }

  private afterStep(n: SimNode): void {
    this.check();
    // A write may be in flight (n.pending): the node keeps sending and applying what it may meanwhile.
    if (this.rng.chance(this.early)) this.earlyWork(n);
    // Usually handle the Ready at once; sometimes leave state unpersisted for a while,
    // so a crash can catch it.
    if (this.rng.chance(0.7)) this.handleReady(n, this.rng.chance(this.crashRate));
  }

  // ------------------------------------------------------------ chaos

  private live(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.node) out.push(n);
    return out;
  }
  leaders(): SimNode[] {
    return this.live().filter((n) => n.node?.raft.role === 'leader');
  }

  private chaos(): void {
    const r = this.rng;
    if (r.chance(this.o.partitionRate)) {
      // Random partition: every node into one of two or three groups.
      const k = 2 + r.int(2);
      for (const id of this.nodes.keys()) this.group.set(id, r.int(k));
      this.trace(`partition ${[...this.group].map(([a, g]) => `${a}:${g}`).join(' ')}`);
    } else if (r.chance(0.04)) {
      for (const id of this.nodes.keys()) this.group.set(id, 0);
      this.trace('heal');
    }
    for (const n of this.nodes.values()) {
      if (n.retired) continue;
      // The case the early appends open up: a leader dies with entries sent but its own write of them lost.
      const unwritten = n.pending && !n.pending.persisted && n.node?.raft.role === 'leader' && this.sentUpTo(n) >= (n.pending.rd.entries[0]?.index ?? Infinity);
      // ...and the case takeCommitted opens up: a leader dies with its state ahead of its own log.
      const stateAhead = n.node?.raft.role === 'leader' && n.app.applied > n.storage.lastIndex();
      if (n.node && r.chance(stateAhead ? this.crashRate * 50 : unwritten ? this.crashRate * 20 : this.crashRate)) this.crash(n);
      else if (!n.node && r.chance(0.05)) this.restart(n);
    }
    const leaders = this.leaders();
    if (leaders.length > 0 && r.chance(0.3)) {
      const l = r.pick(leaders).node as RawNode;
      const k = 1 + r.int(this.o.burst);
      if (k > 1 && (this.proposals & 1) === 1) {
        // A burst as one proposeMany (what ReplicatedNode does with one event turn's proposals).
        const data = Array.from({ length: k }, () => enc.encode(`p${this.o.seed}-${++this.proposals}`));
        const res = l.proposeMany(data);
        if (res.ok) this.trace(`${l.raft.id} proposed ${res.index - k + 1}..${res.index}/${res.term}`);
      } else {
        for (let j = 0; j < k; j++) {
          const res = l.propose(enc.encode(`p${this.o.seed}-${++this.proposals}`));
          if (res.ok) this.trace(`${l.raft.id} proposed ${res.index}/${res.term}`);
        }
      }
    }
    if (leaders.length > 0 && r.chance(0.02)) {
      const l = r.pick(leaders);
      const t = r.pick(l.node?.raft.conf().voters ?? []);
      if (t !== l.id && l.node?.transferLeadership(t).ok) {
        this.stats.transfers++;
        this.trace(`${l.id} transfers leadership to ${t}`);
      }
    }
    if (this.o.membership && leaders.length > 0 && r.chance(0.03)) this.confChange(r.pick(leaders));
    if (r.chance(0.03)) {
      const live = this.live();
      if (live.length > 0) this.compact(r.pick(live));
    }
  }

  private confChange(l: SimNode): void {
    const raft = (l.node as RawNode).raft;
    const conf = raft.conf();
    const r = this.rng;
    let cc: ConfChange | undefined;
    const choice = r.int(3);
    const members = new Set([...conf.voters, ...conf.learners]);
    // Ids are never reused (as in etcd): only nodes that were never members or candidates for it.
    const spare = [...this.nodes.values()].find((n) => !this.everMember.has(n.id) && !this.addProposed.has(n.id) && !members.has(n.id));
    if (choice === 0 && spare) cc = { type: conf.voters.length < 5 && r.chance(0.3) ? 'addVoter' : 'addLearner', node: spare.id };
    else if (choice === 1 && conf.learners.length > 0 && conf.voters.length < 5) cc = { type: 'promoteLearner', node: r.pick(conf.learners) };
    else if (choice === 2 && conf.voters.length > 3) cc = { type: 'removeNode', node: r.pick(conf.voters) };
    else if (choice === 2 && conf.learners.length > 0 && r.chance(0.3)) cc = { type: 'removeNode', node: r.pick(conf.learners) };
    if (!cc) return;
    const res = raft.proposeConfChange(cc);
    if (res.ok) {
      if (cc.type === 'addLearner' || cc.type === 'addVoter') this.addProposed.add(cc.node);
      this.stats.confChanges++;
      this.trace(`${l.id} proposed conf change ${cc.type} ${cc.node} at ${res.index}`);
    }
  }

  /** The application snapshots its state machine at its applied index and compacts the log. */
  private compact(n: SimNode): void {
    const snapIndex = n.storage.snapshot().meta.index;
    const node = n.node;
    if (!node) return;
    // At the state's index (the image is the state), once that is committed and durable in this node's log
    // (ReplicatedNode.compactionLimit: a leader's state may be ahead of its own write); and the Ready for it must
    // have been handled. Test bug 'compactAheadOfLog': the log's end instead, whatever the state holds.
    const limit = Math.min(node.raft.log.committed, node.raft.log.stableLastIndex() ?? -1);
    const at = this.o.bug === 'compactAheadOfLog' ? Math.min(n.app.applied, n.storage.lastIndex()) : n.app.applied;
    if (this.o.bug !== 'compactAheadOfLog' && at > limit) return;
    if (at <= snapIndex + 2 || node.hasOutstandingReady) return;
    n.storage.createSnapshot(at, n.app.conf, this.encodeSnapshot(n));
    this.trace(`${n.id} compacted to ${at}`);
  }

  /** A node that applied its own removal is shut down for good (ids are never reused). */
  private retireRemoved(): void {
    for (const n of this.nodes.values()) {
      if (n.retired || !n.node || !n.removedApplied) continue;
      this.trace(`retire ${n.id}`);
      n.retired = true;
      n.node = undefined;
    }
  }
  private everMember = new Set<NodeId>();
  private addProposed = new Set<NodeId>();

  // ------------------------------------------------------------ rounds

  private roundStep(): void {
    this.round++;
    // Ticks and due deliveries, interleaved in random order.
    const due: Flight[] = [];
    const later: Flight[] = [];
    for (const f of this.flights) (f.at <= this.round ? due : later).push(f);
    this.flights = later;
    type Act = { tick: SimNode } | { f: Flight };
    const acts: Act[] = [];
    for (const n of this.nodes.values()) if (n.node) acts.push({ tick: n });
    for (const f of due) acts.push({ f });
    for (let i = acts.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = acts[i] as Act;
      acts[i] = acts[j] as Act;
      acts[j] = t;
    }
    for (const a of acts) {
      if ('tick' in a) {
        if (!a.tick.node || this.rng.chance(this.tickSkip)) continue;
        a.tick.node.tick();
        this.afterStep(a.tick);
      } else {
        this.deliver(a.f);
      }
    }
    // Most nodes get their Ready handled by the end of a round; a few stay behind.
    for (const n of this.nodes.values()) if (this.rng.chance(0.8)) this.handleReady(n, false);
    for (const n of this.nodes.values()) {
      const c = n.app.conf;
      if (c.voters.includes(n.id) || c.learners.includes(n.id)) this.everMember.add(n.id);
    }
    this.retireRemoved();
  }

  /** Chaos phase, then heal everything and require progress. */
  run(): void {
    for (let i = 0; i < this.o.rounds; i++) {
      this.chaos();
      this.roundStep();
    }
    this.heal();
    this.liveness();
  }

  private heal(): void {
    this.trace('heal all; restart all');
    for (const id of this.nodes.keys()) this.group.set(id, 0);
    for (const n of this.nodes.values()) this.restart(n);
    this.loss = 0;
    this.dup = 0;
    this.maxDelay = 1;
    this.crashRate = 0;
    this.longDelay = 0;
    this.tickSkip = 0;
    this.splitReady = 0;
    this.asyncWrite = 0;
  }

  private liveness(): void {
    let marker: { index: number; term: number } | undefined;
    for (let i = 0; i < this.o.livenessRounds; i++) {
      this.roundStep();
      for (const n of this.nodes.values()) this.handleReady(n, false);
      const leaders = this.leaders();
      if (marker === undefined || !this.stillValid(marker)) {
        marker = undefined;
        const l = leaders.find((x) => x.node?.raft.log.term(x.node.raft.log.committed) === x.node?.raft.term);
        if (l) {
          const res = (l.node as RawNode).propose(enc.encode(`live${this.o.seed}`));
          if (res.ok) marker = { index: res.index, term: res.term };
        }
        continue;
      }
      // Done when every live voter of the current configuration has applied the marker.
      const l = leaders[0];
      if (!l) continue;
      const voters = (l.node as RawNode).raft.conf().voters;
      if (voters.every((id) => (this.nodes.get(id)?.app.applied ?? 0) >= marker!.index)) return;
    }
    const st = [...this.nodes.values()].map((n) => {
      const s = n.node?.status();
      return s ? `${n.id}:${s.role} t${s.term} lead${s.lead} commit${s.commit} applied${n.app.applied} last${s.lastIndex} ${s.conf.voters.join(',')}|${s.conf.learners.join(',')}` : `${n.id}:${n.retired ? 'retired' : 'down'}`;
    });
    this.fail(`Liveness: no new proposal committed on all voters within ${this.o.livenessRounds} rounds after healing; ${st.join('; ')}`);
  }

  private stillValid(marker: { index: number; term: number }): boolean {
    const t = this.appliedHash.has(marker.index);
    if (t) return true;
    // Still in some leader's log at that term?
    return this.leaders().some((l) => l.node?.raft.log.term(marker.index) === marker.term);
  }

  // ------------------------------------------------------------ the checker

  check(): void {
    for (const n of this.nodes.values()) {
      const node = n.node;
      if (!node) continue;
      const raft = node.raft;
      const log = raft.log;
      // Election Safety: at most one leader per term, over the whole history.
      if (raft.role === 'leader') {
        const other = this.leaderOfTerm.get(raft.term);
        if (other === undefined) this.leaderOfTerm.set(raft.term, n.id);
        else if (other !== n.id) this.fail(`Election Safety: ${other} and ${n.id} both leaders of term ${raft.term}`);
        const key = `${n.id}@${raft.term}`;
        if (!this.leaderSeen.has(key)) {
          this.leaderSeen.add(key);
          this.stats.elections++;
          this.trace(`${n.id} leader at term ${raft.term}`);
          this.checkLeaderCompleteness(n);
        }
      }
      // Followers committed entries the leader has not written yet (they had its appends before its write ended).
      if (raft.role === 'leader' && log.committed > n.storage.lastIndex() && log.committed > this.aheadCounted) {
        this.aheadCounted = log.committed;
        this.stats.commitsAheadOfLeaderDisk++;
      }
      // Commit index never goes backwards within an incarnation.
      if (log.committed < n.lastCommit) this.fail(`node ${n.id} commit went back from ${n.lastCommit} to ${log.committed}`);
      n.lastCommit = log.committed;
      if (log.applied > log.committed) this.fail(`node ${n.id} applied ${log.applied} > commit ${log.committed}`);
      // Newly committed entries: every node must agree on what is committed where.
      for (let i = n.checkedCommit + 1; i <= log.committed; i++) {
        const t = log.term(i);
        if (t === undefined) continue; // compacted here
        const c = this.committed.get(i);
        if (c === undefined) {
          this.committed.set(i, { term: t, seenAt: raft.term });
          this.stats.commits++;
          if (i > this.maxCommitted) this.maxCommitted = i;
          // Leader Completeness, forward direction: any current leader of a later term has it.
          for (const l of this.nodes.values()) {
            const lr = l.node?.raft;
            if (!lr || lr.role !== 'leader' || lr.term <= raft.term) continue;
            const lt = lr.log.term(i);
            if (lt !== undefined && lt !== t) this.fail(`Leader Completeness: leader ${l.id} (term ${lr.term}) has ${i}/${lt}, committed ${i}/${t}`);
            if (lr.log.lastIndex() < i) this.fail(`Leader Completeness: leader ${l.id} (term ${lr.term}) lacks committed entry ${i}`);
          }
        } else if (c.term !== t) {
          this.fail(`State Machine Safety: node ${n.id} committed ${i}/${t} but ${i}/${c.term} was committed before`);
        }
      }
      if (log.committed > n.checkedCommit) n.checkedCommit = log.committed;
    }
  }

  /** A new leader must hold every entry committed in an earlier term. */
  private checkLeaderCompleteness(n: SimNode): void {
    const raft = (n.node as RawNode).raft;
    const log = raft.log;
    const first = log.firstIndex();
    for (const [i, c] of this.committed) {
      if (c.seenAt >= raft.term) continue;
      if (i < first - 1) continue; // inside its snapshot
      const t = log.term(i);
      if (t !== c.term) this.fail(`Leader Completeness: new leader ${n.id} of term ${raft.term} has ${t ?? 'nothing'} at committed index ${i} (term ${c.term})`);
    }
  }
}

/** Run one seed; returns a failure message or undefined. */
export function runSeed(o: SimOptions): { error: string | undefined; sim: Sim } {
  const sim = new Sim(o);
  try {
    sim.run();
    return { error: undefined, sim };
  } catch (e) {
    const err = e as Error;
    return { error: err instanceof SafetyViolation ? err.message : `${err.message}\n${err.stack ?? ''}`, sim };
  }
}
