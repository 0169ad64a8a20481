import type {
  ConfState,
  Entry,
  HardState,
  Message,
  MsgApp,
  MsgAppResp,
  MsgHeartbeat,
  MsgSnap,
  MsgSnapResp,
  MsgVote,
  MsgVoteResp,
  NodeId,
  ProposeResult,
  Rand,
  Role,
  Snapshot,
  SoftState,
} from './types.js';
import { NONE, entrySize } from './types.js';
import type { Storage } from './storage.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { ConfChange } from './confchange.js';
import {
  applyConfChange,
  committedIndex,
  confString,
  decodeConfChange,
  encodeConfChange,
  isMember,
  isVoter,
  voteResult,
} from './confchange.js';

export interface RaftConfig {
  readonly id: NodeId;
  /** Durable log as persisted so far (on restart: whatever survived). */
  readonly storage: Storage;
  /** Source of election-timeout jitter. */
  readonly rand: Rand;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [t, 2t)). */
  readonly electionTick: number;
  /** Ticks between leader heartbeats. Must be < electionTick. */
  readonly heartbeatTick: number;
  /** §9.6: campaign with a pre-vote round that doesn't bump terms first. */
  readonly preVote?: boolean;
  /** §6.2: a leader steps down if a quorum hasn't been heard from in an election timeout;
   *  followers that heard from a leader within the timeout refuse to vote (leader lease). */
  readonly checkQuorum?: boolean;
  /** Batching: max bytes of entries per MsgApp (at least one entry is always sent). */
  readonly maxSizePerMsg?: number;
  /** Batching: max entries per MsgApp. */
  readonly maxEntriesPerMsg?: number;
  /** Flow control: max MsgApps in flight per follower in replicate state. */
  readonly maxInflightMsgs?: number;
  /** Flow control: max bytes in flight per follower (0 = unlimited). */
  readonly maxInflightBytes?: number;
  /** InstallSnapshot chunk size. */
  readonly maxSnapshotChunkBytes?: number;
  /** Index the application has already applied (e.g. its state machine is durable); 0 = replay. */
  readonly applied?: number;
  /** Event log sink (interaction tests print it); no logging when absent. */
  readonly logger?: (line: string) => void;
}

interface ConfAt {
  readonly index: number;
  readonly conf: ConfState;
}

interface SnapshotReceive {
  readonly meta: Snapshot['meta'];
  readonly total: number;
  readonly chunks: Uint8Array[];
  bytes: number;
}

/**
 * The Raft protocol as a deterministic state machine (no I/O, no clocks, no randomness
 * except the injected Rand). Driven by RawNode (node.ts), which packages its output into
 * Ready batches. Read node.ts for the durability contract.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  /** Messages produced since the last Ready. */
  msgs: Message[] = [];

  /** Leader only: replication state of every other member. */
  readonly prs = new Map<NodeId, Progress>();
  /** Candidate / pre-candidate: answers received (true = granted). */
  private readonly votes = new Map<NodeId, boolean>();
  /** Membership history: configs[0] is the base (snapshot or committed), later ones come from
   *  conf-change entries in the log, ascending. The last one is in effect. */
  private configs: ConfAt[];
  leadTransferee: NodeId = NONE;
  private snapRecv: SnapshotReceive | undefined;

  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private readonly rand: Rand;
  readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxEntriesPerMsg: number;
  private readonly maxInflight: number;
  private readonly maxInflightBytes: number;
  private readonly chunkBytes: number;
  private readonly logger: ((line: string) => void) | undefined;

  constructor(c: RaftConfig) {
    if (c.id === NONE) throw new Error('node id 0 is reserved');
    if (c.heartbeatTick <= 0 || c.electionTick <= c.heartbeatTick) {
      throw new Error('need 0 < heartbeatTick < electionTick');
    }
    this.id = c.id;
    this.rand = c.rand;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.preVote = c.preVote ?? false;
    this.checkQuorum = c.checkQuorum ?? false;
    this.maxSizePerMsg = c.maxSizePerMsg ?? 64 * 1024;
    this.maxEntriesPerMsg = c.maxEntriesPerMsg ?? 256;
    this.maxInflight = c.maxInflightMsgs ?? 16;
    this.maxInflightBytes = c.maxInflightBytes ?? 0;
    this.chunkBytes = c.maxSnapshotChunkBytes ?? 256 * 1024;
    this.logger = c.logger;

    this.log = new RaftLog(c.storage, c.applied ?? 0);
    const hs = c.storage.initialState();
    if (hs.commit > this.log.lastIndex()) {
      throw new Error(`persisted commit ${hs.commit} beyond persisted last index ${this.log.lastIndex()}`);
    }
    this.log.commitTo(hs.commit);
    if (this.log.applied > this.log.committed) throw new Error('applied beyond commit');
    this.term = hs.term;
    this.vote = hs.vote;

    // Membership = latest conf in the log, on top of the snapshot's.
    const snap = c.storage.snapshot();
    this.configs = [{ index: snap.meta.index, conf: snap.meta.conf }];
    for (const e of this.log.allEntries()) {
      if (e.type === 'confChange') this.configs.push({ index: e.index, conf: decodeConfChange(e.data).conf });
    }
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- accessors

  conf(): ConfState {
    return (this.configs[this.configs.length - 1] as ConfAt).conf;
  }
  /** Index of the conf-change entry the current membership comes from (or the snapshot index). */
  confIndex(): number {
    return (this.configs[this.configs.length - 1] as ConfAt).index;
  }
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }
  /** A node may campaign if it is a voter and isn't in the middle of installing a snapshot. */
  promotable(): boolean {
    return isVoter(this.conf(), this.id) && this.log.unstable.snapshot === undefined;
  }
  /** Highest index durable on this node (its vote in the leader's commit quorum). */
  private stableLast(): number {
    return this.log.unstable.offset - 1;
  }

  private info(s: string): void {
    this.logger?.(`INFO ${this.id} ${s}`);
  }

  // ---------------------------------------------------------------- role transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // Jitter in [electionTimeout, 2*electionTimeout) makes split votes unlikely (§3.4).
    this.randomizedElectionTimeout = this.electionTimeout + this.rand.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.votes.clear();
    this.prs.clear();
  }

  becomeFollower(term: number, lead: NodeId): void {
    const was = this.role;
    const wasTerm = this.term;
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    if (was !== 'follower' || wasTerm !== term) this.info(`became follower at term ${term}`);
  }

  private becomePreCandidate(): void {
    // Term and vote are untouched: a pre-vote round that fails leaves no trace (§9.6).
    this.votes.clear();
    this.prs.clear();
    this.lead = NONE;
    this.role = 'preCandidate';
    this.info(`became pre-candidate at term ${this.term}`);
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.info(`became candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.syncProgress();
    this.info(`became leader at term ${this.term}`);
    // An entry of the new term: committing it commits all earlier entries (§5.4.2),
    // and it unlocks conf changes (rule 2 in confchange.ts).
    this.appendEntries([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    this.bcastAppend();
  }

  /** Leader: one Progress per member other than itself (members come and go with conf changes). */
  private syncProgress(): void {
    const conf = this.conf();
    for (const id of [...this.prs.keys()]) if (!isMember(conf, id)) this.prs.delete(id);
    for (const id of [...conf.voters, ...conf.learners]) {
      if (id === this.id) continue;
      const learner = conf.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) {
        pr.isLearner = learner;
        continue;
      }
      const fresh = new Progress(this.log.lastIndex() + 1, this.maxInflight, this.maxInflightBytes, learner);
      // A member added mid-term gets a full timeout before it counts against check-quorum.
      fresh.recentActive = true;
      this.prs.set(id, fresh);
    }
    if (this.leadTransferee !== NONE && !isVoter(conf, this.leadTransferee)) this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- membership tracking

  /** Entries were written to the log starting at ents[0].index (overwriting anything there):
   *  forget conf changes that were overwritten, pick up new ones. */
  private trackAppended(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const from = (ents[0] as Entry).index;
    const before = this.conf();
    while (this.configs.length > 1 && (this.configs[this.configs.length - 1] as ConfAt).index >= from) this.configs.pop();
    for (const e of ents) {
      if (e.type === 'confChange') this.configs.push({ index: e.index, conf: decodeConfChange(e.data).conf });
    }
    if (this.conf() !== before) this.onConfChanged();
  }

  private onConfChanged(): void {
    this.info(`switched to configuration ${confString(this.conf())}`);
    if (this.role === 'leader') {
      this.syncProgress();
    } else if ((this.role === 'candidate' || this.role === 'preCandidate') && !isVoter(this.conf(), this.id)) {
      this.becomeFollower(this.term, NONE);
    }
  }

  /** Drop membership history that can no longer be truncated away (at or below commit). */
  compactConfigs(): void {
    while (this.configs.length > 1 && (this.configs[1] as ConfAt).index <= this.log.committed) this.configs.shift();
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.info(`stepped down to follower since quorum is not active`);
        this.becomeFollower(this.term, NONE);
        return;
      }
      // A transfer that didn't finish within an election timeout is abandoned (§3.10).
      if (this.leadTransferee !== NONE) {
        this.info(`abandoned leadership transfer to ${this.leadTransferee}`);
        this.leadTransferee = NONE;
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Check-quorum round: did a quorum of voters talk to us since the last round? Resets the marks. */
  private quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.conf().voters) {
      if (id === this.id) active.set(id, true);
      else active.set(id, this.prs.get(id)?.recentActive ?? false);
    }
    for (const pr of this.prs.values()) pr.recentActive = false;
    return voteResult(this.conf(), active) === 'won';
  }

  // ---------------------------------------------------------------- elections

  /** Start an election (pre-vote first if enabled, unless forced by a leadership transfer). */
  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    this.info(`is starting a new election at term ${this.term}`);
    if (this.preVote && !transfer) this.campaign('preVote', false);
    else this.campaign('vote', transfer);
  }

  private campaign(kind: 'vote' | 'preVote', transfer: boolean): void {
    let voteTerm: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1; // the term we would campaign in; not adopted yet
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.conf(), this.votes) === 'won') {
      // Single voter: won outright.
      if (kind === 'preVote') this.campaign('vote', transfer);
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const to of this.conf().voters) {
      if (to === this.id) continue;
      this.msgs.push({ type: kind, from: this.id, to, term: voteTerm, index, logTerm, transfer });
    }
  }

  private handleVoteRequest(m: MsgVote): void {
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    // We may grant if we already voted for this candidate (retransmission), or we have not
    // voted and know no leader in this term, or it's a pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'preVote' && m.term > this.term);
    const upToDate = this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      this.info(`[logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] cast ${m.type} for ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`);
      // A pre-vote answer carries the candidate's future term so it isn't dropped as stale.
      this.msgs.push({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        // The vote must be durable before this answer leaves (HardState in the same Ready).
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.info(`[logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] rejected ${m.type} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`);
      this.msgs.push({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private handleVoteResponse(m: MsgVoteResp): void {
    const mine = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    if (m.type !== mine) return;
    this.votes.set(m.from, !m.reject);
    const r = voteResult(this.conf(), this.votes);
    if (r === 'won') {
      if (this.role === 'preCandidate') this.campaign('vote', false);
      else this.becomeLeader();
    } else if (r === 'lost') {
      // A pre-vote loss keeps our term; a real loss stays at the new term.
      this.becomeFollower(this.term, NONE);
    }
  }

  // ---------------------------------------------------------------- message dispatch

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease (§6.2/§9.6 with check-quorum): a follower that heard from a leader
        // within the minimum election timeout doesn't let anyone disrupt it. A leader
        // itself relies on check-quorum for the same guarantee.
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) {
          this.info(`[logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] ignored ${m.type} from ${m.from} at term ${this.term}: lease is not expired`);
          return;
        }
      }
      if (m.type === 'preVote') {
        // Never adopt a term from a pre-vote: that's the whole point of pre-voting.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A grant for the term we'd campaign in; counted below, the term comes with the real campaign.
      } else {
        const lead = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : NONE;
        this.becomeFollower(m.term, lead);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap')) {
        // A stale leader whose term we passed (possible with pre-vote/check-quorum, because
        // we may have a higher term it never learned). Tell it, so it steps down.
        this.msgs.push({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'preVote') {
        // Answer so the pre-candidate learns our term and stops its round.
        this.msgs.push({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapChunk(m);
        break;
      case 'timeoutNow':
        this.info(`received timeoutNow from ${m.from}, campaigning at once`);
        this.hup(true);
        break;
      default:
        break; // responses meant for a role we no longer have
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // A leader exists in our term: we lost.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case 'voteResp':
      case 'preVoteResp':
        this.handleVoteResponse(m);
        break;
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return; // not (or no longer) a member
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        break;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        // Retransmit a chunk that went unacknowledged for a whole heartbeat interval.
        if (pr.state === 'snapshot') {
          if (pr.snapshotIdle > 0) this.sendSnapChunk(m.from, pr);
        }
        else if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
        break;
      case 'snapResp':
        pr.recentActive = true;
        this.handleSnapResponse(m, pr);
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- replication (leader)

  private refuse(reason: string): ProposeResult {
    return { ok: false, reason, lead: this.lead };
  }

  propose(data: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return this.refuse('not leader');
    if (this.leadTransferee !== NONE) return this.refuse('leadership transfer in progress');
    const e = this.appendEntries([{ term: 0, index: 0, type: 'normal', data }]);
    this.bcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  /** Several commands at once, at consecutive indexes: one MsgApp per follower for all of them (not one each).
   *  The result names the last one's index. */
  proposeMany(data: readonly Uint8Array[]): ProposeResult {
    if (this.role !== 'leader') return this.refuse('not leader');
    if (this.leadTransferee !== NONE) return this.refuse('leadership transfer in progress');
    if (data.length === 0) return this.refuse('nothing to propose');
    const e = this.appendEntries(data.map((d) => ({ term: 0, index: 0, type: 'normal' as const, data: d })));
    this.bcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== 'leader') return this.refuse('not leader');
    if (this.leadTransferee !== NONE) return this.refuse('leadership transfer in progress');
    if (this.confIndex() > this.log.committed) return this.refuse('a conf change is already pending');
    if (this.log.term(this.log.committed) !== this.term) {
      return this.refuse('leader has not yet committed an entry in its term');
    }
    let conf: ConfState;
    try {
      conf = applyConfChange(this.conf(), cc);
    } catch (err) {
      return this.refuse((err as Error).message);
    }
    const e = this.appendEntries([{ term: 0, index: 0, type: 'confChange', data: encodeConfChange({ change: cc, conf }) }]);
    this.bcastAppend();
    return { ok: true, index: e.index, term: e.term };
  }

  /** Leader appends to its own log; returns the last appended entry. Counted toward commit
   *  only once durable (advance()). */
  private appendEntries(proto: readonly Entry[]): Entry {
    let index = this.log.lastIndex();
    const ents = proto.map((e) => ({ ...e, term: this.term, index: ++index }));
    this.log.append(ents);
    this.trackAppended(ents);
    return ents[ents.length - 1] as Entry;
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) this.maybeSendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    for (const [id, pr] of this.prs) {
      if (pr.state === 'snapshot') pr.snapshotIdle++;
      // Never tell a follower a commit index beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.msgs.push({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit });
    }
  }

  /** Send the next batch to `to` if flow control allows; returns whether something was sent.
   *  `sendIfEmpty`: also send an entry-less MsgApp (to probe, or to carry a new commit index). */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents =
      prevTerm === undefined ? undefined : this.log.slice(pr.next, pr.next + this.maxEntriesPerMsg, this.maxSizePerMsg);
    if (prevTerm === undefined || ents === undefined) {
      // The entries the follower needs are compacted away.
      return this.startSnapshot(to, pr);
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    this.msgs.push({
      type: 'app',
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  private handleAppendResponse(m: MsgAppResp, pr: Progress): void {
    if (m.reject) {
      // Fast backtracking: the follower told us the last (index, term) that may match;
      // skip every entry of ours above it with a larger term too.
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
      if (pr.state === 'probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'snapshot') {
        // The follower installed the snapshot (or already had its entries). If our log
        // still reaches back to its match, stream; otherwise it needs a newer snapshot.
        if (pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
        else pr.becomeProbe();
      } else {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.bcastAppend();
        this.maybeStepDownAfterRemoval();
        if (this.role !== 'leader') return;
      } else if (wasPaused) {
        this.maybeSendAppend(m.from, true);
      }
      // Pipelining: keep the window full.
      while (this.maybeSendAppend(m.from, false)) {
        /* send until paused or caught up */
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  /** Commit the highest index a majority of voters holds, if it's from the current term (§5.4.2). */
  maybeCommit(): boolean {
    if (this.role !== 'leader') return false;
    const mci = committedIndex(this.conf(), (id) =>
      id === this.id ? this.stableLast() : (this.prs.get(id)?.match ?? 0),
    );
    return this.log.maybeCommit(mci, this.term);
  }

  /** §4.2.2: a leader that is not in the configuration steps down once that config commits. */
  private maybeStepDownAfterRemoval(): void {
    if (this.role === 'leader' && !isVoter(this.conf(), this.id) && this.confIndex() <= this.log.committed) {
      this.info(`stepping down: removed from the configuration at index ${this.confIndex()}`);
      this.becomeFollower(this.term, NONE);
    }
  }

  /** Called by RawNode.advance once our own entries are durable: they now count toward commit. */
  onStable(): void {
    if (this.role === 'leader' && this.maybeCommit()) {
      this.bcastAppend();
      this.maybeStepDownAfterRemoval();
    }
  }

  // ---------------------------------------------------------------- replication (follower)

  private handleAppend(m: MsgApp): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit is known to match; tell the leader where to continue.
      this.respondApp(m.from, this.log.committed);
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const ci = this.log.findConflict(m.entries);
      const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries) as number;
      if (ci !== 0) this.trackAppended(m.entries.slice(ci - m.index - 1));
      // Sent only after the appended entries are durable (same Ready).
      this.respondApp(m.from, lastNew);
      return;
    }
    // Mismatch: answer with our best guess of where the logs may agree (see findConflictByTerm).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.info(`rejected app [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}, hint ${hint.term}/${hint.index}`);
    this.msgs.push({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }

  private respondApp(to: NodeId, index: number): void {
    this.msgs.push({ type: 'appResp', from: this.id, to, term: this.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  private handleHeartbeat(m: MsgHeartbeat): void {
    this.log.commitTo(m.commit);
    this.msgs.push({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term });
  }

  // ---------------------------------------------------------------- snapshots

  private startSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) throw new Error(`no snapshot to send to ${to} but its entries are compacted`);
    this.info(`sending snapshot [index: ${snap.meta.index}, term: ${snap.meta.term}, bytes: ${snap.data.byteLength}] to ${to} (${pr.toString()})`);
    pr.becomeSnapshot(snap);
    this.sendSnapChunk(to, pr);
    return true;
  }

  /** Send the chunk starting at the follower's acknowledged offset (stop-and-wait per
   *  chunk; a lost chunk or ack is retried on the next heartbeat response). */
  private sendSnapChunk(to: NodeId, pr: Progress): void {
    const snap = pr.pendingSnapshot;
    if (!snap) return;
    const total = snap.data.byteLength;
    const offset = Math.min(pr.snapshotOffset, total);
    const data = snap.data.subarray(offset, Math.min(total, offset + this.chunkBytes));
    const done = offset + data.byteLength >= total;
    pr.snapshotIdle = 0;
    this.msgs.push({ type: 'snap', from: this.id, to, term: this.term, meta: snap.meta, offset, data, total, done });
  }

  private handleSnapResponse(m: MsgSnapResp, pr: Progress): void {
    const snap = pr.pendingSnapshot;
    if (pr.state !== 'snapshot' || !snap || snap.meta.index !== m.index) return;
    if (m.offset > pr.snapshotOffset) {
      pr.snapshotOffset = m.offset;
      if (m.offset < snap.data.byteLength) this.sendSnapChunk(m.from, pr);
    } else if (m.offset < pr.snapshotOffset) {
      // The follower lost its partial image (restart) or saw a gap: resume from what it has.
      // Each answer triggers at most one chunk, so stale answers can't multiply traffic.
      pr.snapshotOffset = m.offset;
      this.sendSnapChunk(m.from, pr);
    }
  }

  private handleSnapChunk(m: MsgSnap): void {
    if (m.meta.index <= this.log.committed) {
      // We already have all of it; let the leader resume log replication from our commit.
      this.snapRecv = undefined;
      this.respondApp(m.from, this.log.committed);
      return;
    }
    let r = this.snapRecv;
    if (m.offset === 0) {
      r = { meta: m.meta, total: m.total, chunks: [], bytes: 0 };
      this.snapRecv = r;
    } else if (!r || r.meta.index !== m.meta.index || r.meta.term !== m.meta.term || r.bytes !== m.offset) {
      // Out of order, duplicate, or for another image: tell the leader what we hold.
      const have = r && r.meta.index === m.meta.index && r.meta.term === m.meta.term ? r.bytes : 0;
      this.msgs.push({ type: 'snapResp', from: this.id, to: m.from, term: this.term, index: m.meta.index, offset: have });
      return;
    }
    r.chunks.push(m.data.slice());
    r.bytes += m.data.byteLength;
    if (!m.done) {
      this.msgs.push({ type: 'snapResp', from: this.id, to: m.from, term: this.term, index: m.meta.index, offset: r.bytes });
      return;
    }
    this.snapRecv = undefined;
    if (r.bytes !== r.total) throw new Error(`snapshot ${r.meta.index}: got ${r.bytes} bytes, expected ${r.total}`);
    const data = new Uint8Array(r.total);
    let off = 0;
    for (const c of r.chunks) {
      data.set(c, off);
      off += c.byteLength;
    }
    this.restore({ meta: r.meta, data });
    // Sent after the snapshot is durable (same Ready).
    this.respondApp(m.from, this.log.committed);
  }

  /** Install a snapshot from the leader unless our log already has its last entry. */
  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // Our log contains the snapshot's last entry, hence (Log Matching) everything before it.
      this.info(`fast-forwarded commit to snapshot [index: ${s.meta.index}, term: ${s.meta.term}]`);
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.info(`restored snapshot [index: ${s.meta.index}, term: ${s.meta.term}]`);
    const before = this.conf();
    this.log.restore(s);
    this.configs = [{ index: s.meta.index, conf: s.meta.conf }];
    if (this.conf() !== before) this.onConfChanged();
    return true;
  }

  // ---------------------------------------------------------------- leadership transfer

  transferLeadership(to: NodeId): ProposeResult {
    if (this.role !== 'leader') return this.refuse('not leader');
    if (to === this.id) return this.refuse('already leader');
    if (!isVoter(this.conf(), to)) return this.refuse(`${to} is not a voter`);
    const pr = this.prs.get(to);
    if (!pr) return this.refuse(`${to} has no progress`);
    this.info(`starting leadership transfer to ${to}`);
    this.leadTransferee = to;
    // The transfer must finish within one election timeout (checked in tickHeartbeat).
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
    return { ok: true, index: this.log.lastIndex(), term: this.term };
  }

  private sendTimeoutNow(to: NodeId): void {
    this.info(`sending timeoutNow to ${to}`);
    this.msgs.push({ type: 'timeoutNow', from: this.id, to, term: this.term });
  }
}
