/**
 * BEGIN / COMMIT / ABORT: one engine transaction per transaction id on this connection.
 *
 * STOMP 1.2 "BEGIN": `transaction` is required and unique among the connection's active transactions.
 * "COMMIT" (a barrier: later frames wait for the commit) and "ABORT" end it. "DISCONNECT"/connection loss
 * aborts whatever is still active (connection.ts teardown).
 */
import { BrokerError } from '../../../src/core/api.js';
import { header, type StompFrame } from '../frame.js';
import { clip, FrameError, required, type StompContext, type Tx } from '../context.js';

export function getTx(ctx: StompContext, id: string): Tx {
  const t = ctx.txs.get(id);
  if (!t) throw new FrameError('Unknown transaction', `Transaction '${clip(id, 60)}' was not started with BEGIN on this connection (or is already committed or aborted).`);
  return t;
}

export function onBegin(ctx: StompContext, f: StompFrame): void {
  const id = required(f, 'transaction');
  if (ctx.txs.has(id)) throw new FrameError('Transaction already started', `Transaction '${clip(id, 60)}' is already active on this connection.`);
  if (ctx.txs.size >= ctx.opts.maxTransactions) throw new BrokerError('limit', `A connection may have at most ${ctx.opts.maxTransactions} open transactions`);
  ctx.txs.set(id, { tx: ctx.engine.beginTransaction(ctx.conn), messages: 0, bytes: 0, nacks: [] });
  const receipt = header(f, 'receipt');
  if (receipt !== undefined) ctx.receipt(receipt);
}

export function onCommit(ctx: StompContext, f: StompFrame): Promise<void> {
  const id = required(f, 'transaction');
  const t = getTx(ctx, id);
  ctx.txs.delete(id);
  const receipt = header(f, 'receipt');
  return t.tx.commit().then(
    () => {
      applyNacks(ctx, t);
      if (receipt !== undefined) ctx.receipt(receipt);
    },
    (err: unknown) => {
      applyNacks(ctx, t);
      throw err;
    },
  );
}

/** A transaction ended: its NACKed messages go back (an abort would have returned them anyway). */
export function applyNacks(ctx: StompContext, t: Tx): void {
  for (const { consumer, id } of t.nacks.splice(0)) {
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
  t.tx.rollback();
  applyNacks(ctx, t);
  const receipt = header(f, 'receipt');
  if (receipt !== undefined) ctx.receipt(receipt);
}
