import type { ConfState, Entry, HardState, Message, NodeId, ProposeResult, Role, Snapshot, SoftState } from './types.js';
import type { ConfChange } from './confchange.js';
import { Raft } from './raft.js';
import type { RaftConfig } from './raft.js';

/**
 * One batch of work for the application. DURABILITY CONTRACT — handle a Ready in this order:
 *
 *  1. Persist, and fsync when `mustSync`:
 *       a. `snapshot` if set (replace the log up to it; restore the state machine from it),
 *       b. `entries` (append; an entry at an index that already exists REPLACES that entry and
 *          everything after it),
 *       c. `hardState` if set.
 *     a–c should be one atomic write (one LMDB transaction). If not atomic, write them in that
 *     order, so a crash never leaves a commit index beyond the durable log.
 *  2. Only then send `messages`. They may promise what was persisted in step 1: a vote answer
 *     promises the vote is durable (else a restart could vote twice in a term), an append
 *     answer promises the entries are durable (else the leader could count a replica that
 *     a crash erased and commit on a minority).
 *  3. Apply `committedEntries` in order (after the snapshot, if any). They are always
 *     covered by what step 1 made durable.
 *  4. Call advance(ready).
 *
 * Only one Ready may be outstanding. Between ready() and advance() the node may keep being
 * ticked and stepped (e.g. while an asynchronous fsync is in flight): advance() only marks
 * as durable what that Ready carried and is still current (the simulation exercises this).
 *
 * Work that need not wait for a write — before ready() or while a Ready's write is in flight:
 *  - takeSendableMessages(): a leader's appends, heartbeats, snapshot chunks and timeoutNow may
 *    leave before its own write of the same entries (Raft dissertation §10.2.1; etcd's
 *    asynchronous storage writes do the same): they promise nothing about the leader's disk,
 *    and the leader counts itself toward commit only for entries that advance() reported
 *    durable. Followers may then make an entry durable — and committed, on a majority — before
 *    the leader's own write of it ends.
 *  - takeDurableCommitted(): committed entries that are durable here, to apply at once (a
 *    leader's commit advances as followers answer, while its next write runs).
 *  - takeCommitted(): on a leader, every committed entry, also those its own write has not made
 *    durable yet (a majority has them); the application's state may then be ahead of its log
 *    after a crash (see the method for what that asks of restart and compaction).
 *
 * Messages may be lost, duplicated, delayed and reordered by the transport: Raft tolerates
 * all of these. Learn membership from conf-change entries in `committedEntries`
 * (decodeConfChange(entry.data).conf) or from `snapshot.meta.conf`.
 */
export interface Ready {
  /** Set when leader or role changed since the previous Ready. Volatile; don't persist. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed since the previous Ready. */
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  /** Term/vote changed or entries to append: must fsync before sending. A commit-only change
   *  need not be synced (commit is recoverable from the leader). */
  readonly mustSync: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lead: NodeId;
  readonly role: Role;
  readonly conf: ConfState;
  /** Leader only: per-member replication state, e.g. "replicate match=12 next=13". */
  readonly progress: ReadonlyMap<NodeId, string>;
}

/** Message types a leader may send before its own write of what they carry (takeSendableMessages). */
const SENDABLE_BEFORE_PERSIST = new Set<string>(['app', 'heartbeat', 'snap', 'timeoutNow']);

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The application-facing handle: input methods plus the Ready/advance loop (etcd's RawNode). */
export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | undefined;
  /** Term and vote as last persisted (at start: as storage holds them; then what advance() confirmed). */
  private durableTerm: number;
  private durableVote: NodeId;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevHard = this.raft.hardState();
    this.prevSoft = this.raft.softState();
    this.durableTerm = this.prevHard.term;
    this.durableVote = this.prevHard.vote;
  }

  /** Advance logical time by one tick (the caller decides how long a tick is). */
  tick(): void {
    this.raft.tick();
  }
  /** Feed a message received from a peer. */
  step(m: Message): void {
    this.raft.step(m);
  }
  /** Leader only: append a command. The result says where it will be if it commits. */
  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data);
  }
  /** Leader only: append several commands at consecutive indexes ending at the result's index. */
  proposeMany(data: readonly Uint8Array[]): ProposeResult {
    return this.raft.proposeMany(data);
  }
  /** Leader only: one membership change at a time. */
  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(cc);
  }
  /** Leader only: hand leadership to a voter once it has caught up. */
  transferLeadership(to: NodeId): ProposeResult {
    return this.raft.transferLeadership(to);
  }
  /** Start an election now (tests, tools); same as an election timeout firing. */
  campaign(): void {
    this.raft.hup(false);
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = r.softState();
    return (
      r.msgs.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommittedEntries() ||
      !sameHard(r.hardState(), this.prevHard) ||
      soft.lead !== this.prevSoft.lead ||
      soft.role !== this.prevSoft.role
    );
  }

  ready(): Ready {
    if (this.outstanding) throw new Error('ready() called again before advance()');
    const r = this.raft;
    const hard = r.hardState();
    const soft = r.softState();
    const entries = r.log.unstable.entries.slice();
    const rd: Ready = {
      softState: soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role ? soft : undefined,
      hardState: sameHard(hard, this.prevHard) ? undefined : hard,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      mustSync: entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) r.log.applyingTo(lastCommitted.index);
    r.msgs = [];
    this.prevHard = hard;
    this.prevSoft = soft;
    this.outstanding = rd;
    return rd;
  }

  /** The application has done everything the Ready asked (see the contract above). */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new Error('advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    const r = this.raft;
    if (rd.hardState) {
      this.durableTerm = rd.hardState.term;
      this.durableVote = rd.hardState.vote;
    }
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > r.log.applied) {
        r.log.applied = rd.snapshot.meta.index;
        if (r.log.applying < r.log.applied) r.log.applying = r.log.applied;
      }
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied && lastApplied.index > r.log.applied) r.log.appliedTo(lastApplied.index);
    // Entries taken early while this Ready was outstanding follow its own: applied as well now.
    if (r.log.applying > r.log.applied) r.log.appliedTo(r.log.applying);
    r.compactConfigs();
    if (last) r.onStable();
  }

  /**
   * The messages that may leave now, before anything more is persisted (see the contract above): a leader's
   * appends, heartbeats, snapshot chunks and timeoutNow, once its term and vote are durable — otherwise a restart
   * could forget the vote and a second leader be elected in the same term. Taken out of the next Ready; every
   * other message (vote and append answers: they promise a write) stays there, to go after its persistence.
   */
  takeSendableMessages(): Message[] {
    const r = this.raft;
    if (r.role !== 'leader' || r.term !== this.durableTerm || r.vote !== this.durableVote || r.msgs.length === 0) return [];
    const now: Message[] = [];
    const later: Message[] = [];
    for (const m of r.msgs) (SENDABLE_BEFORE_PERSIST.has(m.type) ? now : later).push(m);
    r.msgs = later;
    return now;
  }

  /**
   * Committed entries that are durable on this node and were not handed out yet, to apply now, in order; no
   * later Ready carries them. Nothing while the outstanding Ready still has committed entries to apply (they
   * come first) or a snapshot to install. Stops before a membership change: those come in a Ready, in order
   * with the role change they may cause.
   */
  takeDurableCommitted(): Entry[] {
    const stable = this.raft.log.stableLastIndex();
    return stable === undefined ? [] : this.takeCommittedUpTo(stable);
  }

  /**
   * As takeDurableCommitted(), but a leader also gets committed entries its own write has not made durable yet:
   * committed means durable on a majority, so two followers' answers commit an entry while the leader's write of
   * it is in flight, and no later leader can lack it (Leader Completeness). The application's state may then be
   * ahead of this node's log after a crash; it must (a) on restart skip replayed entries at or below its state's
   * index, and (b) never compact the log at an index above min(committed, stableLastIndex()) — below that the log
   * on disk holds exactly the committed entries. On a node that is not leader this is takeDurableCommitted().
   */
  takeCommitted(): Entry[] {
    const log = this.raft.log;
    if (this.raft.role !== 'leader') return this.takeDurableCommitted();
    if (log.unstable.snapshot) return [];
    return this.takeCommittedUpTo(log.committed);
  }

  private takeCommittedUpTo(limit: number): Entry[] {
    const log = this.raft.log;
    if (this.outstanding && (this.outstanding.committedEntries.length > 0 || this.outstanding.snapshot)) return [];
    const hi = Math.min(log.committed, limit);
    const lo = Math.max(log.applying + 1, log.firstIndex());
    if (hi < lo) return [];
    let ents = log.slice(lo, hi + 1, Number.MAX_SAFE_INTEGER) ?? [];
    const conf = ents.findIndex((e) => e.type !== 'normal');
    if (conf >= 0) ents = ents.slice(0, conf);
    const last = ents[ents.length - 1];
    if (!last) return [];
    log.applyingTo(last.index);
    // Handed out now and applied in order after anything handed out before: as good as applied.
    if (!this.outstanding) log.appliedTo(last.index);
    return ents;
  }

  /** A Ready was handed out and not yet advanced (the application is mid-way through it). */
  get hasOutstandingReady(): boolean {
    return this.outstanding !== undefined;
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, string>();
    for (const [id, pr] of r.prs) progress.set(id, pr.toString());
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      lead: r.lead,
      role: r.role,
      conf: r.conf(),
      progress,
    };
  }
}
