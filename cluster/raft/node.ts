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

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The application-facing handle: input methods plus the Ready/advance loop (etcd's RawNode). */
export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevHard = this.raft.hardState();
    this.prevSoft = this.raft.softState();
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
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > r.log.applied) r.log.applied = rd.snapshot.meta.index;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied && lastApplied.index > r.log.applied) r.log.appliedTo(lastApplied.index);
    r.compactConfigs();
    if (last) r.onStable();
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
