/**
 * One cluster node: a Raft core (`cluster/raft` RawNode) on a write-ahead Raft log (`storage/raft`), a local LMDB
 * state store (`LmdbStore`) every committed batch is applied to, and the Store port for the engine
 * (`ReplicatedStore`), which only works on the leader.
 *
 * Directory layout: `<dir>/raft/wal/` (Raft log, hard state, snapshot: storage/raft/wal-raft-log.ts; a `raft.mdb` of an
 * earlier version is migrated at start), `<dir>/state/wharf.mdb` (the same
 * tables as a single-node broker, plus the applied index).
 *
 * The Ready loop (durability contract of cluster/raft/node.ts):
 *   1. persist: snapshot + entries + hard state in one write and one fdatasync of the Raft WAL (WalRaftLog.save); a Ready
 *      whose only change is the commit index is not written on its own (commit is recoverable from the leader);
 *      its hard state goes with the next write.
 *   2. send the messages;
 *   3. apply the committed entries in order: each batch an entry carries is `LmdbStore.commitPrepared(ops, index)` —
 *      the batches and the applied index in one state transaction (group commit: all entries of a Ready share one
 *      transaction). Apply is pipelined: the loop does not wait for the state commit before the next Ready.
 *      The leader applies the prepared batches it proposed (kept by index, recognised by the entry's data object);
 *      every other entry is decoded (cluster/batch-codec.ts). Every node applies in windows (APPLY_WINDOW_MS):
 *      nobody waits for an apply, and a window's transaction skips messages enqueued and acked within it. The
 *      leader confirms a proposal to the engine when its entry is committed (`confirm`), before the apply; the
 *      engine's reads of the state (paging, recovery) first put every committed entry into it (`applyNow`).
 *   4. advance.
 * Proposals arriving while a Raft fsync is in flight are batched into the next Ready (one fsync for all), and the
 * proposals of one event turn into one log entry (see propose()). The leader does not hold their appends back for
 * that Ready: before each Ready and while its write is in flight it sends what RawNode.takeSendableMessages hands
 * out (followers write an entry while the leader does; the leader counts itself toward commit only once its own
 * write is durable) and applies what takeCommitted hands out: committed meanwhile — durable on a majority, which
 * two followers' answers make it while the leader's own write of it is still in flight. So the leader's state may
 * be ahead of its own log (after a kill -9 in that window: the state is the page cache's, the log lacks the
 * entries); restart and compaction below allow for that.
 *
 * The state store is not fsync'd (LmdbStore `noSync`): the Raft log is the durable record, and the state is a
 * cache of it that may lag. A process crash (kill -9) loses nothing of it (the writes are in the OS page cache);
 * an OS crash or power loss may lose its latest transactions, or — LMDB without sync gives no ordering between
 * data and meta pages — tear it. So:
 *   - the log is never compacted past what the state store has fsync'd: compaction syncs it first
 *     (`LmdbStore.syncNow`), and the snapshot it writes into the log is a full image anyway;
 *   - on start, the state resumes from its recorded applied index and Raft replays every committed entry after
 *     it from the log;
 *   - a node that ran with unsynced state and finds, on start, that the machine rebooted since (the
 *     `state-unsynced` marker holds the boot id it ran under) cannot trust its state: it deletes it and rebuilds
 *     it from the log's snapshot and entries. A clean stop syncs the state and removes the marker.
 *
 * Restart: Raft starts with `applied = min(state applied index, persisted commit)`; entries at or below the
 * state's applied index are skipped on replay, so every committed entry is applied exactly once. The state may be
 * ahead of the log (a leader killed before its own write of entries it applied): those entries were committed, so
 * every later leader holds them at the same indexes and this node gets them back from it (and skips them).
 *
 * Compaction: every `snapshotEntries` applied entries the node exports its state (`LmdbStore.exportImage`, the
 * whole state in memory — fine for modest stores, a streamed copy is the next step) and replaces the log up to
 * the applied index with it (`WalRaftLog.createSnapshot`) — once that index is committed and durable in this
 * node's log (`compactionLimit`; the state may be ahead of both, see above). A follower that needs compacted entries gets that
 * image from the leader (InstallSnapshot) and restores it (`LmdbStore.importImage`, applied index included);
 * a crash between persisting the snapshot and restoring it is finished at the next start.
 *
 * Not done yet: membership changes are driven through `raw` by hand (no API yet).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command, QueueRecovery, Store, StoredEntry } from '../src/core/store.js';
import { BrokerError } from '../src/core/errors.js';
import { LmdbStore, prepareBatch, type PreparedOp } from '../storage/lmdb/lmdb-store.js';
import { openRaftLog, type WalRaftLog } from '../storage/raft/wal-raft-log.js';
import { bootId, markBoot, markedBoot } from '../storage/boot-id.js';
import { Prng, RawNode, decodeConfChange, type ConfChange, type ConfChangeRecord, type ConfState, type Entry, type HardState, type Message, type NodeId, type Ready, type SoftState, type Status } from './raft/index.js';
import { decodePrepared, encodePrepared, preparedSize } from './batch-codec.js';
import type { Transport } from './transport/transport.js';

export interface ReplicatedNodeOptions {
  id: NodeId;
  /** Initial voters, this node included. Used only to bootstrap a brand-new node (empty Raft log). */
  peers: readonly NodeId[];
  /** Node directory: `raft/` and `state/` go under it. */
  dir: string;
  transport: Transport;
  /** Milliseconds per Raft tick (default 100). */
  tickMs?: number;
  /** Ticks without a leader before campaigning (default 10; randomized in [t, 2t)). */
  electionTick?: number;
  /** Ticks between heartbeats (default 1). */
  heartbeatTick?: number;
  /** Seed for election jitter (default: from the id and the clock). */
  seed?: number;
  /** Raft event log sink. */
  logger?: (line: string) => void;
  /** Benchmarks only: no fsync of the Raft log either (the state store never fsyncs but to compact the log). */
  noSync?: boolean;
  /** Compact the Raft log into a state snapshot once this many entries are applied past the last one
   *  (default 10,000; 0 = never). */
  snapshotEntries?: number;
  /** A brand-new node joining a running cluster: bootstrap with no members and wait for the leader to add it
   *  (`proposeConfChange` addLearner on the leader) instead of bootstrapping `peers` as voters. */
  join?: boolean;
  /** Tests only: while leader, wait this long before each Raft-log write (a slow leader disk), so that two
   *  followers commit entries before the leader's own write of them ends (kill -9 tests of takeCommitted). */
  testLeaderWriteDelayMs?: number;
}

/** Key of the replicated kv entry holding a member's conf-change context (its addresses), kept in snapshots. */
export const MEMBER_KEY_PREFIX = 'cluster:member:';

/** A commit reached a node that is not the leader. `leader` is the node this one believes leads (0 = unknown). */
export class NotLeaderError extends BrokerError {
  constructor(readonly nodeId: NodeId, readonly leader: NodeId, why = '') {
    super(
      'unavailable',
      `node ${nodeId} is not the cluster leader${leader ? `; the leader is node ${leader}` : '; no leader is known yet'}${why ? ` (${why})` : ''}`,
    );
    this.name = 'NotLeaderError';
  }
}

/** Who waits for the entry at an index: one part per batch it carries (one for a membership change). */
interface Waiter {
  term: number;
  parts: { resolve: () => void; reject: (err: Error) => void }[];
}

/** An entry carries the proposals of one turn up to about this many bytes; more go into further entries. */
const ENTRY_TARGET_BYTES = 256 * 1024;

/**
 * Every node applies committed entries to its state store in windows of up to this long (or this many bytes): one
 * transaction per window, in which a message whose ack is in the same window is neither written nor deleted
 * (LmdbStore elides the pair) — most messages, when consumers keep up. Nothing waits for an apply: the entries are
 * committed (on a majority's Raft logs; a crash replays them), a follower that becomes leader applies what it holds
 * at once, before its own entries, and the leader's engine reads the state only after `applyNow`.
 */
const APPLY_WINDOW_MS = 100;
const APPLY_MAX_BYTES = 8 * 1024 * 1024;

type NodeState = 'running' | 'stopping' | 'stopped' | 'failed';

/** How an entry's apply went: undefined (applied), why it was skipped, or that per batch it carries. */
type Outcome = Error | undefined | (Error | undefined)[];

export class ReplicatedNode {
  readonly id: NodeId;
  readonly dir: string;
  /** The Raft core; exposed for tests and tools (status, conf changes, transfers). */
  readonly raw: RawNode;
  /** The local state store committed entries are applied to. */
  readonly state: LmdbStore;
  readonly log: WalRaftLog;
  /** The Store port for the engine (leader only). */
  readonly store: ReplicatedStore;
  private readonly transport: Transport;
  private nodeState: NodeState = 'running';
  private failure: Error | undefined;
  private readonly timer: NodeJS.Timeout;
  private scheduled = false;
  private driving: Promise<void> | undefined;
  private soft: SoftState = { lead: 0, role: 'follower' };
  /** Hard state handed out in a commit-only Ready and not written yet. */
  private unsavedHard: HardState | undefined;
  /** Highest index handed to the state store (queued), and applied durably. */
  private appliedQueued: number;
  private appliedDone: number;
  private applyTail: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Map<number, Waiter>();
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  private readonly roleListeners: ((s: SoftState) => void)[] = [];
  private readonly snapshotEntries: number;
  private readonly testLeaderWriteDelayMs: number;
  private compacting: Promise<void> | undefined;
  /** Counters for tests and metrics. */
  readonly stats = { snapshotsCreated: 0, snapshotsInstalled: 0 };

  private constructor(o: ReplicatedNodeOptions, log: WalRaftLog, state: LmdbStore, applied: number) {
    this.id = o.id;
    this.dir = path.resolve(o.dir);
    this.log = log;
    this.state = state;
    this.transport = o.transport;
    this.appliedQueued = applied;
    this.appliedDone = applied;
    this.snapshotEntries = o.snapshotEntries ?? 10_000;
    this.testLeaderWriteDelayMs = o.testLeaderWriteDelayMs ?? 0;
    const hs = log.initialState();
    this.raw = new RawNode({
      id: o.id,
      storage: log,
      rand: new Prng(o.seed ?? (o.id * 7919 + Date.now()) >>> 0),
      electionTick: o.electionTick ?? 10,
      heartbeatTick: o.heartbeatTick ?? 1,
      preVote: true,
      checkQuorum: true,
      applied: Math.max(Math.min(applied, hs.commit), log.firstIndex() - 1),
      logger: o.logger,
    });
    this.store = new ReplicatedStore(this);
    this.transport.onMessage((m) => this.receive(m));
    this.timer = setInterval(() => this.tick(), o.tickMs ?? 100);
    this.timer.unref?.();
  }

  /** Open (or create) the node's log and state store and start ticking. */
  static async start(o: ReplicatedNodeOptions): Promise<ReplicatedNode> {
    if (!o.join && !o.peers.includes(o.id)) throw new Error(`ReplicatedNode ${o.id}: peers must include the node itself`);
    const log = await openRaftLog({ path: path.join(o.dir, 'raft'), noSync: o.noSync });
    let state: LmdbStore | undefined;
    try {
      if (log.isEmpty()) await log.bootstrap(o.join ? { voters: [], learners: [] } : { voters: [...o.peers].sort((a, b) => a - b), learners: [] });
      discardStateTornByReboot(o.dir, o.logger);
      state = new LmdbStore({ path: path.join(o.dir, 'state'), noSync: true });
      await state.open();
      markStateUnsynced(o.dir);
      // Crashed between installing a leader's snapshot in the log and restoring the state from it: finish that.
      const snap = log.snapshot();
      if (snap.meta.index > state.appliedIndex()) await state.importImage(snap.data, snap.meta.index);
      if (state.appliedIndex() > log.lastIndex()) {
        // A leader killed after two followers committed entries it applied and before its own write of them ended.
        o.logger?.(`state store is ahead of the Raft log (applied ${state.appliedIndex()}, log ends at ${log.lastIndex()}): the leader sends the missing committed entries, which are not applied again`);
      }
      return new ReplicatedNode(o, log, state, state.appliedIndex());
    } catch (err) {
      await state?.close().catch(() => undefined);
      await log.close().catch(() => undefined);
      throw err;
    }
  }

  // ---- observation ----

  get leader(): NodeId {
    return this.raw.raft.lead;
  }
  get isLeader(): boolean {
    return this.raw.raft.role === 'leader' && this.nodeState === 'running';
  }
  get running(): boolean {
    return this.nodeState === 'running';
  }
  /** Highest log index applied durably to the local state store. */
  get appliedIndex(): number {
    return this.appliedDone;
  }
  status(): Status {
    return this.raw.status();
  }
  /** Called with the new soft state whenever the role or the known leader changes. */
  onRoleChange(listener: (s: SoftState) => void): void {
    this.roleListeners.push(listener);
  }
  /** Resolves once entries up to `index` are applied to the local state store. */
  waitApplied(index: number): Promise<void> {
    if (this.appliedDone >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }
  /** Leader only: hand leadership to voter `to` once it has caught up (rolling restarts, `wharf cluster transfer-leader`). */
  transferLeadership(to: NodeId): void {
    if (this.nodeState !== 'running') throw new Error(`node ${this.id} is stopped`);
    const r = this.raw.transferLeadership(to);
    if (!r.ok) throw this.raw.raft.role === 'leader' ? new BrokerError('invalid', `leadership transfer refused: ${r.reason}`) : new NotLeaderError(this.id, r.lead, r.reason);
    this.schedule();
  }
  /** Leader only: propose a membership change; resolves once it is committed and applied here. */
  proposeConfChange(cc: ConfChange): Promise<void> {
    if (this.nodeState !== 'running') return Promise.reject(this.failure ?? new Error(`node ${this.id} is stopped`));
    const r = this.raw.proposeConfChange(cc);
    if (!r.ok) {
      if (this.raw.raft.role === 'leader') return Promise.reject(new BrokerError('invalid', `membership change refused: ${r.reason}`));
      return Promise.reject(new NotLeaderError(this.id, r.lead, r.reason));
    }
    this.schedule();
    return new Promise<void>((resolve, reject) => this.waiters.set(r.index, { term: r.term, parts: [{ resolve, reject }] }));
  }

  /** Called with every membership change this node applies (in log order). */
  onConfChange(listener: (r: ConfChangeRecord) => void): void {
    this.confListeners.push(listener);
  }
  private readonly confListeners: ((r: ConfChangeRecord) => void)[] = [];

  /** Start an election now (tests, tools). */
  campaign(): void {
    this.raw.campaign();
    this.schedule();
  }

  // ---- inputs ----

  private tick(): void {
    if (this.nodeState !== 'running') return;
    try {
      this.raw.tick();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.schedule();
  }

  private receive(m: Message): void {
    if (this.nodeState !== 'running') return;
    if (m.to !== this.id) return;
    try {
      this.raw.step(m);
    } catch (err) {
      // A storage read failed inside the Raft core: this node cannot go on (never throw into the transport).
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.schedule();
  }

  /**
   * Propose a prepared batch; resolves once committed and applied locally. (ReplicatedStore.commit)
   * The proposals of one event turn share one log entry (up to ENTRY_TARGET_BYTES): one entry to append, send,
   * fsync, apply and compact on every node instead of one per commit — per-entry work was most of a follower's.
   */
  propose(ops: PreparedOp[]): Promise<void> {
    if (this.nodeState !== 'running') return Promise.reject(this.failure ?? new Error(`node ${this.id} is stopped: the store is closed`));
    if (this.raw.raft.role !== 'leader') return Promise.reject(new NotLeaderError(this.id, this.raw.raft.lead));
    return new Promise<void>((resolve, reject) => {
      this.proposals.push({ ops, resolve, reject });
      this.schedule();
    });
  }

  private proposals: { ops: PreparedOp[]; resolve: () => void; reject: (err: Error) => void }[] = [];
  /**
   * The prepared batches of this node's own proposals, by log index, until applied: the leader applies them instead
   * of decoding the entry it encoded. Used only if the committed entry carries the very same data object (the Raft
   * log hands back the entries it was given), so an entry a later leader put at that index is decoded as any other.
   */
  private readonly ownOps = new Map<number, { data: Uint8Array; batches: PreparedOp[][] }>();

  /** Hand the proposals queued this turn to the Raft core at once. */
  private flushProposals(): void {
    const batch = this.proposals;
    if (batch.length === 0) return;
    this.proposals = [];
    let r: ReturnType<RawNode['proposeMany']>;
    if (this.nodeState !== 'running') {
      const err = this.failure ?? new Error(`node ${this.id} is stopped: the store is closed`);
      for (const p of batch) p.reject(err);
      return;
    }
    const groups: (typeof batch)[] = [];
    let group: typeof batch = [];
    let bytes = 0;
    for (const p of batch) {
      const n = preparedSize(p.ops);
      if (group.length > 0 && bytes + n > ENTRY_TARGET_BYTES) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(p);
      bytes += n;
    }
    groups.push(group);
    let datas: Buffer[];
    try {
      datas = groups.map((g) => encodePrepared(g.map((p) => p.ops)));
      r = this.raw.proposeMany(datas);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      for (const p of batch) p.reject(this.failure!);
      return;
    }
    if (!r.ok) {
      for (const p of batch) p.reject(new NotLeaderError(this.id, r.lead, r.reason));
      return;
    }
    const first = r.index - groups.length + 1;
    groups.forEach((g, i) => {
      this.waiters.set(first + i, { term: r.term, parts: g });
      this.ownOps.set(first + i, { data: datas[i]!, batches: g.map((p) => p.ops) });
    });
  }

  // ---- the Ready loop ----

  private schedule(): void {
    if (this.scheduled || this.nodeState !== 'running') return;
    this.scheduled = true;
    // setImmediate: every proposal and message of this event turn goes into the same Ready.
    setImmediate(() => {
      this.scheduled = false;
      this.flushProposals();
      if (this.nodeState !== 'running') return;
      if (!this.driving) this.driving = this.drive().finally(() => (this.driving = undefined));
      else this.leaderWorkBeforePersist();
    });
  }

  /**
   * Leader, before a Ready and while its write is in flight: send the appends (and heartbeats) of the proposals
   * and answers that arrived meanwhile at once — followers write them while this node does (RawNode
   * takeSendableMessages: the leader counts itself toward commit only once its own write is durable) — and apply
   * what committed meanwhile (a follower's answer) and is durable here: its clients are waiting.
   */
  private leaderWorkBeforePersist(): void {
    if (this.raw.raft.role !== 'leader') return;
    for (const m of this.raw.takeSendableMessages()) this.transport.send(m.to, m);
    this.apply(this.raw.takeCommitted());
  }

  private async drive(): Promise<void> {
    try {
      while (this.nodeState === 'running' && this.raw.hasReady()) {
        this.leaderWorkBeforePersist();
        if (!this.raw.hasReady()) break;
        const rd = this.raw.ready();
        await this.persist(rd);
        if (this.nodeState !== 'running') return; // crashed while the fsync was in flight: send nothing more
        for (const m of rd.messages) this.transport.send(m.to, m);
        if (rd.snapshot) await this.restore(rd.snapshot.data, rd.snapshot.meta.index);
        this.apply(rd.committedEntries);
        if (rd.softState) this.roleChanged(rd.softState);
        this.raw.advance(rd);
        this.wakeCompaction();
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async persist(rd: Ready): Promise<void> {
    if (rd.entries.length === 0 && !rd.snapshot && !rd.mustSync) {
      if (rd.hardState) this.unsavedHard = rd.hardState; // commit only: written with the next Ready
      return;
    }
    if (rd.entries.length === 0 && !rd.snapshot && !rd.hardState) return;
    const hardState = rd.hardState ?? this.unsavedHard;
    this.unsavedHard = undefined;
    if (this.testLeaderWriteDelayMs > 0 && this.raw.raft.role === 'leader' && rd.entries.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.testLeaderWriteDelayMs));
    }
    await this.log.save({ snapshot: rd.snapshot, entries: rd.entries, hardState });
  }

  /** Replace the local state with a leader's snapshot (after the applies in flight). */
  private async restore(image: Uint8Array, index: number): Promise<void> {
    this.flushApplies();
    await this.applyTail;
    this.abandonCompaction(); // it may wait for this very loop's next write
    await this.compacting;
    if (index <= this.appliedDone) return;
    await this.state.importImage(image, index);
    this.stats.snapshotsInstalled++;
    this.appliedQueued = index;
    this.applied(index, -1, undefined);
  }

  /** Snapshot the state at its applied index and drop the log up to it. */
  private maybeCompact(): void {
    if (this.snapshotEntries <= 0 || this.compacting || this.nodeState !== 'running') return;
    if (this.appliedDone - (this.log.firstIndex() - 1) < this.snapshotEntries) return;
    this.compacting = (async () => {
      const { index, image } = this.state.exportImage();
      if (index <= this.log.firstIndex() - 1) return;
      // The leader's state may be ahead of its own log write (RawNode.takeCommitted): wait for that write.
      if (!(await this.untilCompactable(index))) return;
      // Entries up to `index` leave the log: the state holding them must be on disk first.
      await this.state.syncNow();
      await this.log.createSnapshot(index, this.confAt(index), image);
      this.stats.snapshotsCreated++;
    })()
      .catch((err: unknown) => this.fail(new Error(`node ${this.id}: log compaction failed: ${(err as Error).message}`, { cause: err })))
      .finally(() => (this.compacting = undefined));
  }

  /**
   * Highest index the log may be compacted at: committed, and durable in this node's log. The leader applies
   * entries two followers committed while its own write of them is in flight (RawNode.takeCommitted), so its state
   * may be ahead of its log; above this limit the log on disk may lack the entry, or (on a node whose log a new
   * leader is rewriting) hold a stale one whose term must not go into a snapshot.
   */
  private compactionLimit(): number {
    const log = this.raw.raft.log;
    return Math.min(log.committed, log.stableLastIndex() ?? -1);
  }

  private compactionWaiters: { index: number; resolve: (ok: boolean) => void }[] = [];

  /** Resolves true once the log may be compacted at `index`, false if the node stops or installs a snapshot first. */
  private untilCompactable(index: number): Promise<boolean> {
    if (index <= this.compactionLimit()) return Promise.resolve(true);
    if (this.nodeState !== 'running') return Promise.resolve(false);
    return new Promise((resolve) => this.compactionWaiters.push({ index, resolve }));
  }

  /** After a write (advance): wake the compaction waiting for it. */
  private wakeCompaction(): void {
    if (this.compactionWaiters.length === 0) return;
    const limit = this.compactionLimit();
    this.compactionWaiters = this.compactionWaiters.filter((w) => (w.index <= limit ? (w.resolve(true), false) : true));
  }

  private abandonCompaction(): void {
    for (const w of this.compactionWaiters.splice(0)) w.resolve(false);
  }

  /** Membership as of log index `index` (from the conf-change index, no log scan). */
  private confAt(index: number): ConfState {
    let conf = this.log.snapshot().meta.conf;
    for (const e of this.log.confEntries()) if (e.index <= index) conf = decodeConfChange(e.data).conf;
    return conf;
  }

  /** Committed entries not yet handed to the state store (a window, APPLY_WINDOW_MS). */
  private deferred: Entry[] = [];
  private deferredBytes = 0;
  private applyTimer: NodeJS.Timeout | undefined;

  private apply(committed: readonly Entry[]): void {
    if (committed.length === 0) return;
    for (const e of committed) {
      this.deferred.push(e);
      this.deferredBytes += e.data.byteLength;
      if (e.type === 'normal') this.confirm(e);
    }
    const wait = this.nodeState === 'running' && this.deferredBytes < APPLY_MAX_BYTES && committed.every((e) => e.type === 'normal');
    if (!wait) {
      this.flushApplies();
    } else if (!this.applyTimer) {
      this.applyTimer = setTimeout(() => {
        this.applyTimer = undefined;
        if (this.nodeState === 'running') this.flushApplies();
      }, APPLY_WINDOW_MS);
      this.applyTimer.unref?.();
    }
  }

  /**
   * A normal entry is committed (on a majority, so every later leader holds it): resolve the proposals it carries
   * now, not after its apply — the state store is a cache of the log, and what the engine reads from it is applied
   * first (`applyNow`). A proposal whose index a new leader filled with another entry is told so.
   */
  private confirm(e: Entry): void {
    const w = this.waiters.get(e.index);
    if (!w) return;
    this.waiters.delete(e.index);
    const replaced = w.term !== e.term ? new NotLeaderError(this.id, this.soft.lead, `the proposal at index ${e.index} was replaced by a new leader`) : undefined;
    for (const part of w.parts) {
      if (replaced) part.reject(replaced);
      else part.resolve();
    }
    if (!replaced) this.confirmedUpTo = e.index;
  }

  /** Highest index whose proposals were confirmed to the engine before their apply: a skip there is fatal (applied()). */
  private confirmedUpTo = 0;

  /**
   * Put every committed entry handed out so far into the state store now, synchronously: the engine's reads
   * (paging, recovery) see everything its commits resolved.
   */
  applyNow(): void {
    if (this.deferred.length === 0 || this.nodeState !== 'running') return;
    this.flushApplies();
    this.state.flushPending();
  }

  /** Hand every deferred committed entry to the state store, in order (one synchronous loop: one transaction). */
  private flushApplies(): void {
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = undefined;
    const entries = this.deferred;
    if (entries.length === 0) return;
    this.deferred = [];
    this.deferredBytes = 0;
    for (const e of entries) {
      if (e.index <= this.appliedQueued) continue; // applied before a restart: replay skips it
      this.appliedQueued = e.index;
      let batch: Command[] = [];
      let batches: PreparedOp[][] | undefined;
      let bad: Error | undefined;
      const own = this.ownOps.get(e.index);
      if (own) this.ownOps.delete(e.index);
      if (own && own.data === e.data) {
        batches = own.batches;
      } else if (e.type === 'normal' && e.data.byteLength > 0) {
        try {
          batches = decodePrepared(e.data);
        } catch (err) {
          bad = new Error(`log entry ${e.index}: ${(err as Error).message}`);
        }
      } else if (e.type === 'confChange') {
        // The change's context (a new member's addresses) goes into the state, so restarts and snapshots keep it.
        const rec = decodeConfChange(e.data);
        const key = `${MEMBER_KEY_PREFIX}${rec.change.node}`;
        if (rec.change.type === 'removeNode') batch = [{ t: 'kv.delete', key }];
        else if (rec.change.context !== undefined) batch = [{ t: 'kv.put', key, value: rec.change.context }];
        for (const l of this.confListeners) l(rec);
      }
      const index = e.index;
      const term = e.term;
      // The batches of one entry are queued in one synchronous loop: they go into the same state transaction.
      const done: Promise<Outcome> =
        batches && batches.length > 0 ? Promise.all(batches.map((ops) => this.state.commitPrepared(ops, index))) : this.state.commitApplied(batch, index);
      this.applyTail = done.then(
        (skipped) => this.applied(index, term, bad ?? skipped),
        (err: unknown) => this.fail(new Error(`node ${this.id}: cannot apply log entry ${index} to the state store: ${(err as Error).message}`, { cause: err })),
      );
    }
  }

  /** Entry `index` is applied; `outcome`: why it (or each of its batches) was skipped, if it was. */
  private applied(index: number, term: number, outcome: Outcome): void {
    this.appliedDone = index;
    if (index <= this.confirmedUpTo && outcome && (!Array.isArray(outcome) || outcome.some((o) => o))) {
      // Confirmed at commit, then not applied: the engine holds what the state does not. Deterministic (every node
      // skips it), so stop this node; the next leader's engine opens from the state.
      const why = Array.isArray(outcome) ? outcome.find((o) => o)! : outcome;
      this.fail(new Error(`node ${this.id}: log entry ${index}, confirmed to the engine, could not be applied: ${why.message}`, { cause: why }));
      return;
    }
    const w = this.waiters.get(index);
    if (w) {
      this.waiters.delete(index);
      w.parts.forEach((part, i) => {
        const err = Array.isArray(outcome) ? outcome[i] : outcome;
        if (w.term !== term) part.reject(new NotLeaderError(this.id, this.soft.lead, `the proposal at index ${index} was replaced by a new leader`));
        else if (err) part.reject(err);
        else part.resolve();
      });
    }
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const aw = this.appliedWaiters[i]!;
      if (aw.index <= index) {
        this.appliedWaiters.splice(i, 1);
        aw.resolve();
      }
    }
    this.maybeCompact();
  }

  private roleChanged(s: SoftState): void {
    const wasLeader = this.soft.role === 'leader';
    this.soft = s;
    if (s.role === 'leader') this.flushApplies(); // the engine about to open here reads the state
    if (wasLeader && s.role !== 'leader') {
      // The engine on this node stops here; what it proposed may or may not commit under the next leader.
      this.rejectWaiters(new NotLeaderError(this.id, s.lead, 'leadership lost; the outcome of this commit is unknown'));
    }
    for (const l of this.roleListeners) l(s);
  }

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters.values()) for (const part of w.parts) part.reject(err);
    this.waiters.clear();
    this.ownOps.clear();
    for (const p of this.proposals.splice(0)) p.reject(err);
  }

  private fail(err: Error): void {
    // A failed LMDB commit carries its cause as a second promise (lmdb-js `commitError`) that rejects later;
    // unobserved, that rejection would end the process. Observe it wherever the error came from.
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
      const ce = (e as { commitError?: Promise<unknown> }).commitError;
      if (ce && typeof ce.then === 'function') ce.then(undefined, () => undefined);
      if (e === (e as { cause?: unknown }).cause) break;
    }
    if (this.nodeState !== 'running') return;
    this.failure = err;
    this.nodeState = 'failed';
    clearInterval(this.timer);
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.rejectWaiters(err);
    this.abandonCompaction();
    void this.transport.close();
    for (const l of this.failureListeners) l(err);
  }

  private readonly failureListeners: ((err: Error) => void)[] = [];
  /** Called once if the node stops by itself (a disk write failed, a log entry could not be applied). */
  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** The failure that stopped this node, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  // ---- shutdown ----

  /** Graceful stop: finish the Ready in progress and the applies in flight, then close everything. */
  async stop(): Promise<void> {
    if (this.nodeState === 'stopped' || this.nodeState === 'stopping') return;
    const failed = this.nodeState === 'failed';
    this.nodeState = 'stopping';
    clearInterval(this.timer);
    await this.transport.close();
    await this.driving;
    if (failed) clearTimeout(this.applyTimer);
    else this.flushApplies();
    await this.applyTail;
    this.abandonCompaction();
    await this.compacting;
    if (!failed) this.rejectWaiters(new Error(`node ${this.id}: stopped (store closed)`));
    if (!failed) {
      // Synced: the next start may trust the state even after a reboot. If the sync fails, the marker stays.
      await this.state.syncNow().then(
        () => fs.rmSync(unsyncedMarker(this.dir), { force: true }),
        () => undefined,
      );
    }
    await this.state.close();
    await this.log.close();
    this.nodeState = 'stopped';
  }

  /**
   * Tests: stop as if the process died — no further message sent, nothing further written once the writes
   * already handed to LMDB finish (a real crash may or may not have kept those: LMDB commits are atomic either
   * way). Pending commits are rejected.
   */
  async crash(): Promise<void> {
    if (this.nodeState === 'stopped' || this.nodeState === 'stopping') return;
    this.nodeState = 'stopping';
    clearInterval(this.timer);
    await this.transport.close();
    this.rejectWaiters(new Error(`node ${this.id}: crashed`));
    await this.driving;
    clearTimeout(this.applyTimer); // deferred entries were never handed to the store: a crash loses them (the log has them)
    await this.applyTail;
    this.abandonCompaction();
    await this.compacting;
    await this.state.close();
    await this.log.close();
    this.nodeState = 'stopped';
  }
}

/**
 * The Store port on a replicated node. The engine runs only on the leader: `open()` and `commit()` on a
 * follower reject with a NotLeaderError naming the leader. Reads are local (the leader's state store is
 * up to date with everything its commits resolved).
 *
 * `close()` only detaches the engine (commits reject afterwards, in-flight ones finish); the node keeps
 * replicating until `ReplicatedNode.stop()`.
 */
export class ReplicatedStore implements Store {
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(readonly node: ReplicatedNode) {}

  /**
   * Leader only: wait until everything committed before this node became leader is applied here (a no-op
   * barrier entry of this term), then return the state as `LmdbStore.open()` would.
   */
  async open(): Promise<{ queues: QueueRecovery[]; kv: Map<string, unknown> }> {
    if (this.closed) throw new Error(`ReplicatedStore(node ${this.node.id}): store is closed`);
    await this.commit([]);
    this.node.applyNow();
    return this.node.state.recovery();
  }

  commit(batch: Command[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`ReplicatedStore(node ${this.node.id}): commit on a closed store`));
    let ops: PreparedOp[];
    try {
      ops = prepareBatch(batch);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const p = this.node.propose(ops);
    this.inflight.add(p);
    const forget = () => this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  readEntries(queue: string, afterSeq: number, limit: number): StoredEntry[] {
    this.node.applyNow();
    return this.node.state.readEntries(queue, afterSeq, limit);
  }

  readSeqs(queue: string, afterSeq: number, limit: number): number[] {
    this.node.applyNow();
    return this.node.state.readSeqs(queue, afterSeq, limit);
  }

  size(): number {
    return this.node.state.size();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
  }
}

// ---- the state store's unsynced marker ----

/** Present while a node runs with state writes that may not be on disk; holds the boot id they were made under. */
function unsyncedMarker(dir: string): string {
  return path.join(dir, 'state-unsynced');
}

function markStateUnsynced(dir: string): void {
  markBoot(unsyncedMarker(dir));
}

/**
 * The machine went down (OS crash, power loss) while this node's state store had unsynced writes: the state may
 * have lost transactions or be torn. Delete it; start() rebuilds it from the Raft log (snapshot image + entries),
 * which was fsync'd before anything was answered. A process crash (same boot id) keeps the state: its writes
 * reached the page cache.
 */
function discardStateTornByReboot(dir: string, logger?: (line: string) => void): void {
  const ranUnder = markedBoot(unsyncedMarker(dir));
  if (ranUnder === undefined) return; // clean stop, or a brand-new node
  const now = bootId();
  if (now !== undefined && ranUnder === now) return;
  logger?.(`state store at ${path.join(dir, 'state')} had unsynced writes when the machine went down (boot ${ranUnder}, now ${now ?? 'unknown'}): rebuilding it from the Raft log`);
  fs.rmSync(path.join(dir, 'state'), { recursive: true, force: true });
}
