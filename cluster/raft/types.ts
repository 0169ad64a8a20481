// Core data types of the Raft state machine. Everything here is plain data so the
// storage and transport layers can encode it however they like (msgpack, LMDB rows...).

/** A node id. 0 is reserved to mean "nobody" (no vote, no known leader). */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'normal' | 'confChange';

/** One log entry. `data` is opaque to Raft for normal entries; conf-change entries
 *  carry an encoded ConfChangeRecord (see confchange.ts). */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Cluster membership. Voters count for elections and commit; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers (0 = no snapshot). */
  readonly index: number;
  /** Term of the entry at `index`. */
  readonly term: number;
  /** Membership as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** Application state machine image, opaque to Raft. */
  readonly data: Uint8Array;
}

/** The state that must be durable before any message produced together with it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state worth reporting to the application (who leads, what am I). */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

interface MsgBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** AppendEntries. `index`/`logTerm` identify the entry preceding `entries`. */
export interface MsgApp extends MsgBase {
  readonly type: 'app';
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/** Answer to MsgApp (and to a completed snapshot). On success `index` is the
 *  follower's last index known to match the leader. On reject, `index` echoes the
 *  rejected MsgApp's index and (`hintIndex`, `hintTerm`) is the follower's best guess
 *  of the last (index, term) that could match, for fast backtracking. */
export interface MsgAppResp extends MsgBase {
  readonly type: 'appResp';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

export interface MsgHeartbeat extends MsgBase {
  readonly type: 'heartbeat';
  /** min(leader commit, follower match): never beyond what the follower is known to hold. */
  readonly commit: number;
}

export interface MsgHeartbeatResp extends MsgBase {
  readonly type: 'heartbeatResp';
}

/** RequestVote / PreVote. A pre-vote carries term+1 without the sender having bumped its term. */
export interface MsgVote extends MsgBase {
  readonly type: 'vote' | 'preVote';
  readonly index: number;
  readonly logTerm: number;
  /** Set when the election was triggered by leadership transfer: overrides the leader lease. */
  readonly transfer: boolean;
}

export interface MsgVoteResp extends MsgBase {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

/** One chunk of an InstallSnapshot transfer. */
export interface MsgSnap extends MsgBase {
  readonly type: 'snap';
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` in the whole snapshot image. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** Total size of the image, so the receiver can validate. */
  readonly total: number;
  readonly done: boolean;
}

/** Chunk acknowledgement: the receiver holds bytes [0, offset) of the snapshot at `index`. */
export interface MsgSnapResp extends MsgBase {
  readonly type: 'snapResp';
  readonly index: number;
  readonly offset: number;
}

/** Leadership transfer: "start an election now, skipping pre-vote and the lease". */
export interface MsgTimeoutNow extends MsgBase {
  readonly type: 'timeoutNow';
}

export type Message =
  | MsgApp
  | MsgAppResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgVote
  | MsgVoteResp
  | MsgSnap
  | MsgSnapResp
  | MsgTimeoutNow;

export type MessageType = Message['type'];

/** Deterministic randomness source, injected so runs are reproducible. */
export interface Rand {
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** Outcome of propose / proposeConfChange / transferLeadership. On success, where the entry
 *  will be if it commits (it may still be lost if leadership changes: watch committed entries
 *  for that index and term). On failure, `lead` is the leader this node knows of (0 = none),
 *  so the caller can redirect the client. */
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: string; readonly lead: NodeId };

export function entrySize(e: Entry): number {
  // Rough wire size: data plus a fixed header; used for batching/flow control only.
  return e.data.byteLength + 16;
}
