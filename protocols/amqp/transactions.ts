/**
 * Local transactions (AMQP 1.0 §4): the coordinator link's declare (§4.5.1, answered with `declared` and
 * a txn-id) and discharge (§4.5.2: commit, or roll back when `fail` is set). A discharge waits for the
 * transactional sends still on their way into the transaction, and first applies the transactional
 * dispositions that arrived before it. A failed commit is rejected with amqp:transaction:rollback (§4.5.8).
 */
import { elements, scanMessage, toJs, toProperty } from './codec.js';
import { rheaMessage, type RDelivery, type Typed } from './rhea.js';
import { amqpError, type AmqpContext, type InLink } from './context.js';
import { grantCredit, settleIn } from './receiver-link.js';
import { applyPendingOutcomes } from './sender-flow.js';

export function onCoordinator(ctx: AmqpContext, l: InLink, d: RDelivery, bytes: Buffer): void {
  let body: Typed | undefined;
  try {
    const s = scanMessage(bytes);
    body = s.bodyKind === 'value' ? s.body[0]?.value : undefined;
  } catch {
    body = undefined;
  }
  const code = body?.descriptor ? descriptorCode(body.descriptor) : -1;
  const reject = (condition: string, description: string) => {
    settleIn(ctx, l, d, rheaMessage.rejected({ error: { condition, description } }).described());
    grantCredit(ctx, l);
  };
  if (code === 0x31) {
    if (ctx.txns.size >= ctx.opts.maxTransactions) return reject('amqp:resource-limit-exceeded', `at most ${ctx.opts.maxTransactions} open transactions per connection`);
    const id = Buffer.alloc(4);
    id.writeUInt32BE(ctx.nextTxnId++ >>> 0);
    ctx.txns.set(id.toString('hex'), { id, tx: ctx.engine.beginTransaction(ctx.conn), ops: new Set(), coordinator: l });
    settleIn(ctx, l, d, rheaMessage.declared({ txn_id: id }).described());
    grantCredit(ctx, l);
    return;
  }
  if (code !== 0x32) return reject('amqp:decode-error', 'expected declare or discharge');
  // transactional dispositions that arrived before this discharge must be in the transaction
  for (const rs of Object.values(ctx.rconn.local_channel_map)) applyPendingOutcomes(ctx, rs);
  const f = elements(body);
  const idv = toProperty(f[0]);
  const fail = toJs(f[1]) === true;
  const key = Buffer.isBuffer(idv) ? idv.toString('hex') : '';
  const t = ctx.txns.get(key);
  if (!t) return reject('amqp:transaction:unknown-id', 'unknown transaction');
  ctx.txns.delete(key);
  l.inflight++;
  Promise.allSettled([...t.ops])
    .then(async () => {
      if (fail) t.tx.rollback();
      else await t.tx.commit();
    })
    .then(
      () => settleIn(ctx, l, d, rheaMessage.accepted().described()),
      (err: unknown) => {
        const e = amqpError(err);
        settleIn(ctx, l, d, rheaMessage.rejected({ error: { condition: 'amqp:transaction:rollback', description: e.description } }).described());
      },
    )
    .finally(() => {
      l.inflight--;
      grantCredit(ctx, l);
    });
}

/** declare (0x31) or discharge (0x32), by code or by symbol. */
function descriptorCode(d: Typed): number {
  const v = d.value;
  if (typeof v === 'number') return v;
  if (v === 'amqp:declare:list') return 0x31;
  if (v === 'amqp:discharge:list') return 0x32;
  return -1;
}
