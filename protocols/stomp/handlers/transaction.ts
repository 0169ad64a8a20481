/**
 * BEGIN / COMMIT / ABORT: one engine transaction per transaction id on this connection.
 *
 * STOMP 1.2 "BEGIN": `transaction` is required and unique among the connection's active transactions.
 * "COMMIT" (a barrier: later frames wait for the commit) and "ABORT" end it. "DISCONNECT"/connection loss
 * aborts whatever is still active (connection.ts teardown). The ACKs and NACKs of a transaction are settled at
 * COMMIT (handlers/ack.ts); an ABORT leaves their messages delivered and unacknowledged.
 */
import { BrokerError } from '../../../src/core/api.js';
import type { ConsumerHandle } from '../../../src/core/api.js';
import { header, type StompFrame } from '../frame.js';
import { covered, replenish, untrack } from '../delivery.js';
import { clip, FrameError, required, type StompContext, type Sub, type Tx } from '../context.js';

export function getTx(ctx: StompContext, id: string): Tx {
  const t = ctx.txs.get(id);
  if (!t) throw new FrameError('Unknown transaction', `Transaction '${clip(id, 60)}' was not started with BEGIN on this connection (or is already committed or aborted).`);
  return t;
}

export function onBegin(ctx: StompContext, f: StompFrame): void {
  const id = required(f, 'transaction');
  if (ctx.txs.has(id)) throw new FrameError('Transaction already started', `Transaction '${clip(id, 60)}' is already active on this connection.`);
  if (ctx.txs.size >= ctx.opts.maxTransactions) throw new BrokerError('limit', `A connection may have at most ${ctx.opts.maxTransactions} open transactions`);
  ctx.txs.set(id, { tx: ctx.engine.beginTransaction(ctx.conn), messages: 0, bytes: 0, settles: [] });
  const receipt = header(f, 'receipt');
  if (receipt !== undefined) ctx.receipt(receipt);
}

export function onCommit(ctx: StompContext, f: StompFrame): Promise<void> {
  const id = required(f, 'transaction');
  const t = getTx(ctx, id);
  ctx.txs.delete(id);
  const nacks = settle(ctx, t);
  const receipt = header(f, 'receipt');
  return t.tx.commit().then(
    () => {
      applyNacks(nacks);
      if (receipt !== undefined) ctx.receipt(receipt);
    },
    (err: unknown) => {
      applyNacks(nacks); // the failed commit returned the ACKed ones; the NACKed ones go back too
      throw err;
    },
  );
}

/**
 * The transaction's ACKs join its engine transaction; returns its NACKs, for after the commit. A delivery settled
 * another way since (ACKed outside the transaction, or by a later cumulative ACK, its lease expired, its
 * subscription closed) is no longer pending and is skipped.
 */
function settle(ctx: StompContext, t: Tx): Array<{ consumer: ConsumerHandle; id: number }> {
  const nacks: Array<{ consumer: ConsumerHandle; id: number }> = [];
  const subs = new Set<Sub>();
  for (const { target, cumulative, positive } of t.settles.splice(0)) {
    const sub = target.sub;
    const consumer = sub.consumer;
    if (ctx.pending.get(target.id) !== target || !consumer || consumer.closed) continue;
    for (const p of covered(target, cumulative)) {
      untrack(ctx, p);
      if (positive) t.tx.ack(consumer, p.id);
      else nacks.push({ consumer, id: p.id });
    }
    subs.add(sub);
  }
  for (const sub of subs) replenish(ctx, sub);
  return nacks;
}

function applyNacks(nacks: Array<{ consumer: ConsumerHandle; id: number }>): void {
  for (const { consumer, id } of nacks) {
    if (consumer.closed) continue; // closing the consumer already released it
    try {
      consumer.nack(id, { countFailure: true, reason: 'NACK from STOMP client' });
    } catch {
      // already settled another way (lease expired): nothing left to do
    }
  }
}

export function onAbort(ctx: StompContext, f: StompFrame): void {
  const id = required(f, 'transaction');
  const t = getTx(ctx, id);
  ctx.txs.delete(id);
  // the sends are discarded; the messages ACKed or NACKed in it stay delivered and unacknowledged
  t.settles.length = 0;
  void t.tx.rollback();
  const receipt = header(f, 'receipt');
  if (receipt !== undefined) ctx.receipt(receipt);
}
