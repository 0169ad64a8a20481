import type { ConfState, NodeId } from './types.js';

/**
 * Single-server membership changes (dissertation §4.1, etcd "v1" changes without joint
 * consensus). Consecutive configurations differ by one voter at most, so any majority of
 * the old one overlaps any majority of the new one.
 *
 * Design choice (dissertation, not etcd): a node uses the LATEST configuration in its
 * log, committed or not. Conf-change entries therefore carry the full resulting
 * configuration, so any node can derive its membership from its log alone, and a
 * truncated (overwritten) conf change reverts to the previous one. Safety rules enforced
 * by the leader in raft.ts:
 *   1. at most one uncommitted conf change in the log;
 *   2. no conf change until the leader has committed an entry of its own term
 *      (fixes the single-server change bug reported by Ongaro on raft-dev, 2015).
 */
export type ConfChangeType = 'addVoter' | 'addLearner' | 'promoteLearner' | 'removeNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
  /** Opaque to Raft, kept in the entry: what every member learns with the change (e.g. the new member's addresses). */
  readonly context?: string;
}

/** What a conf-change entry holds: the change and the configuration it results in. */
export interface ConfChangeRecord {
  readonly change: ConfChange;
  readonly conf: ConfState;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// JSON: conf changes are rare and tiny, and a readable encoding helps debugging.
export function encodeConfChange(r: ConfChangeRecord): Uint8Array {
  return enc.encode(JSON.stringify(r));
}

export function decodeConfChange(data: Uint8Array): ConfChangeRecord {
  const v: unknown = JSON.parse(dec.decode(data));
  if (!isRecord(v)) throw new Error('malformed conf change entry');
  return v;
}

function isIdList(x: unknown): x is NodeId[] {
  return Array.isArray(x) && x.every((n) => typeof n === 'number' && Number.isInteger(n) && n > 0);
}
function isRecord(v: unknown): v is ConfChangeRecord {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as { change?: { type?: unknown; node?: unknown }; conf?: { voters?: unknown; learners?: unknown } };
  return (
    typeof o.change === 'object' &&
    typeof o.change.node === 'number' &&
    (o.change.type === 'addVoter' ||
      o.change.type === 'addLearner' ||
      o.change.type === 'promoteLearner' ||
      o.change.type === 'removeNode') &&
    typeof o.conf === 'object' &&
    isIdList(o.conf.voters) &&
    isIdList(o.conf.learners)
  );
}

/** Apply one change to a configuration; throws with a reason when the change is invalid. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  const id = cc.node;
  if (!Number.isInteger(id) || id <= 0) throw new Error(`invalid node id ${id}`);
  switch (cc.type) {
    case 'addVoter':
      if (voters.has(id)) throw new Error(`${id} is already a voter`);
      if (learners.has(id)) throw new Error(`${id} is a learner: promote it instead`);
      voters.add(id);
      break;
    case 'addLearner':
      if (voters.has(id) || learners.has(id)) throw new Error(`${id} is already a member`);
      learners.add(id);
      break;
    case 'promoteLearner':
      if (!learners.has(id)) throw new Error(`${id} is not a learner`);
      learners.delete(id);
      voters.add(id);
      break;
    case 'removeNode':
      if (!voters.has(id) && !learners.has(id)) throw new Error(`${id} is not a member`);
      voters.delete(id);
      learners.delete(id);
      if (voters.size === 0) throw new Error('cannot remove the last voter');
      break;
  }
  return { voters: [...voters].sort((a, b) => a - b), learners: [...learners].sort((a, b) => a - b) };
}

export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id);
}
export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** Highest index replicated on a majority of voters, given each voter's match index. */
export function committedIndex(conf: ConfState, match: (id: NodeId) => number): number {
  const n = conf.voters.length;
  if (n === 0) return 0;
  const ms = conf.voters.map(match).sort((a, b) => b - a);
  return ms[Math.floor(n / 2)] as number;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Tally of an election among the voters of `conf` (non-voters' answers are ignored). */
export function voteResult(conf: ConfState, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const q = Math.floor(conf.voters.length / 2) + 1;
  let yes = 0;
  let no = 0;
  for (const id of conf.voters) {
    const v = votes.get(id);
    if (v === true) yes++;
    else if (v === false) no++;
  }
  if (yes >= q) return 'won';
  if (conf.voters.length - no < q) return 'lost';
  return 'pending';
}

export function confString(c: ConfState): string {
  const l = c.learners.length > 0 ? ` learners=(${c.learners.join(' ')})` : '';
  return `voters=(${c.voters.join(' ')})${l}`;
}
