/**
 * Bulk message actions on a queue or subscription: the messages named by seq, or matched by a JMS selector, are
 * moved, copied, deleted or retried (DLQ → where they came from). `dryRun` answers the count first, so the console
 * can show "Delete 120 messages?" before anything happens. Messages a consumer holds (in flight) are never touched:
 * they are counted and reported as skipped. And the dead-letter causes of a DLQ, grouped, for its page.
 */
import { type Address, type BrowsedMessage, type EngineApi, formatAddress, isWildcard, parseAddress, type QueueRef } from '../core/api.js';
import { badRequest } from './http-util.js';

/** The most messages one bulk call touches (a selector over a larger queue acts on the first ones, and says so). */
export const BULK_MAX = 10_000;

const ACTIONS = ['move', 'copy', 'delete', 'retry'] as const;
type Action = (typeof ACTIONS)[number];

export interface BulkResult {
  action: Action;
  matched: number;
  /** Held by a consumer right now: left alone. */
  inflight: number;
  done: number;
  dryRun: boolean;
  /** More than BULK_MAX matched: only the first BULK_MAX were considered. */
  capped: boolean;
  to?: string;
}

function parseTarget(to: unknown): Address {
  if (typeof to !== 'string' || !to.trim()) throw badRequest('to: expected a destination name');
  const a = parseAddress(to.trim(), 'queue');
  if (a.temporary || !a.name || isWildcard(a.name)) throw badRequest('to: a queue name, or topic://name (no wildcards, no temporary destinations)');
  return a;
}

export async function bulkAction(engine: EngineApi, ref: QueueRef, body: Record<string, unknown>): Promise<BulkResult> {
  const action = body.action as Action;
  if (!ACTIONS.includes(action)) throw badRequest(`action: expected one of ${ACTIONS.join(', ')}`);
  const dryRun = body.dryRun === true;
  const seqs = body.seqs;
  const selector = typeof body.selector === 'string' ? body.selector.trim() : undefined;
  if (seqs !== undefined && (!Array.isArray(seqs) || seqs.length > BULK_MAX || !seqs.every((s) => Number.isInteger(s) && s > 0))) throw badRequest(`seqs: expected up to ${BULK_MAX} message seqs`);
  if (seqs === undefined && selector === undefined && body.all !== true) throw badRequest('say which messages: seqs, a selector, or all: true');
  const target = action === 'move' || action === 'copy' ? parseTarget(body.to) : body.to !== undefined ? parseTarget(body.to) : undefined;
  if (action === 'move' && target && target.kind === 'queue' && target.name === ref.name && ref.kind === 'queue') throw badRequest('to: the messages are already there');
  if (action === 'retry' && ref.kind !== 'queue') throw badRequest('retry: only for dead-letter queues');

  let entries: BrowsedMessage[];
  const address: Address = { kind: ref.kind === 'queue' ? 'queue' : 'topic', name: ref.name };
  if (Array.isArray(seqs)) {
    entries = [];
    for (const s of seqs as number[]) {
      const e = engine.findMessage(ref, s);
      if (e) entries.push(e);
    }
  } else {
    // the engine checks the selector's syntax (a bad one is a 400 with the position)
    entries = engine.browse(address, { limit: BULK_MAX + 1, selector: selector || undefined });
  }
  const capped = entries.length > BULK_MAX;
  if (capped) entries = entries.slice(0, BULK_MAX);
  const ready = entries.filter((e) => e.state !== 'inflight');
  const result: BulkResult = { action, matched: entries.length, inflight: entries.length - ready.length, done: 0, dryRun, capped, to: target ? formatAddress(target) : undefined };
  if (dryRun) return result;

  if (action === 'retry') {
    result.done = await engine.retryDeadLetters(ref.name, { seqs: ready.map((e) => e.seq), target });
    return result;
  }
  for (const e of ready) {
    let ok: boolean;
    if (action === 'delete') ok = await engine.removeMessage(ref, e.seq);
    else ok = await engine.moveMessage(ref.name, e.seq, target!, action === 'copy');
    if (ok) result.done++;
  }
  return result;
}

export interface CauseGroup {
  cause: string;
  count: number;
  /** Where they came from (`originalDestination`), with counts. */
  sources: Record<string, number>;
  oldest: number;
  newest: number;
}

/** When a message was dead-lettered (its send time for messages dead-lettered before the broker recorded it). */
export function deadLetteredAt(m: { timestamp: number; properties: Record<string, unknown> }): number {
  return typeof m.properties.dlqDeadLetteredAt === 'number' ? m.properties.dlqDeadLetteredAt : m.timestamp;
}

/** A DLQ's messages grouped by `dlqDeliveryFailureCause` (the first BULK_MAX messages). */
export function deadLetterCauses(engine: EngineApi, name: string): { scanned: number; capped: boolean; causes: CauseGroup[] } {
  const entries = engine.browse({ kind: 'queue', name }, { limit: BULK_MAX + 1 });
  const capped = entries.length > BULK_MAX;
  const groups = new Map<string, CauseGroup>();
  for (const e of entries.slice(0, BULK_MAX)) {
    const p = e.message.properties;
    const cause = typeof p.dlqDeliveryFailureCause === 'string' ? p.dlqDeliveryFailureCause : '(no cause recorded)';
    let g = groups.get(cause);
    if (!g) groups.set(cause, (g = { cause, count: 0, sources: {}, oldest: Infinity, newest: 0 }));
    g.count++;
    const src = typeof p.originalDestination === 'string' ? p.originalDestination : '(unknown)';
    g.sources[src] = (g.sources[src] ?? 0) + 1;
    const at = deadLetteredAt(e.message);
    g.oldest = Math.min(g.oldest, at);
    g.newest = Math.max(g.newest, at);
  }
  return { scanned: Math.min(entries.length, BULK_MAX), capped, causes: [...groups.values()].sort((a, b) => b.count - a.count || a.cause.localeCompare(b.cause)) };
}
