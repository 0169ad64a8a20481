/**
 * Receiver links, transfers (client → broker): each message is settled `accepted` once its engine send
 * resolved (a durable message is fsync'd by then) or `rejected` with an AMQP error (AMQP 1.0 §3.4). The
 * non-transactional transfers of one socket read go to the engine together, as one sendMany (ctx.sends).
 * §2.6.7: rhea does not enforce link credit, so a transfer beyond it closes the link
 * (amqp:link:transfer-limit-exceeded). The anonymous relay (a link without a target address) routes each
 * message by its `to`. §4.4.1: a transfer in a transactional-state is sent in that transaction.
 * Transfers on a coordinator link go to transactions.ts.
 */
import { type Address, BrokerError } from '../../src/core/api.js';
import { DecodeError } from './codec.js';
import { addressOf, decodeMessage } from './mapping.js';
import { rheaMessage, type RDelivery, type RLink, type Typed } from './rhea.js';
import { amqpError, HOLD_PENDING, type AmqpContext, type InLink, type Tx } from './context.js';
import { grantCredit, settleIn } from './receiver-link.js';
import { onCoordinator } from './transactions.js';

/** The accepted outcome, encoded the same for every delivery (rhea only reads it). */
const ACCEPTED: Typed = rheaMessage.accepted().described();

export function onTransfer(ctx: AmqpContext, r: RLink, d: RDelivery, raw: Buffer | undefined): void {
  const l = ctx.links.get(r);
  if (!l || l.kind === 'out' || l.state !== 'open') {
    if (!d.remote_settled) d.update(true, rheaMessage.released().described());
    else d.update(true);
    return;
  }
  if (!useCredit(ctx, l)) return;
  const bytes = raw ?? Buffer.alloc(0);
  if (d.format) {
    settleIn(ctx, l, d, rheaMessage.rejected({ error: { condition: 'amqp:not-implemented', description: `message-format ${d.format} is not supported` } }).described());
    grantCredit(ctx, l);
    return;
  }
  if (l.kind === 'coordinator') {
    onCoordinator(ctx, l, d, bytes);
    return;
  }
  let inbound;
  try {
    inbound = decodeMessage(bytes, ctx.mapOpts);
  } catch (err) {
    settleIn(ctx, l, d, rheaMessage.rejected({ error: amqpError(err instanceof DecodeError ? err : new DecodeError(String(err))) }).described());
    grantCredit(ctx, l);
    return;
  }
  let address = l.address;
  if (!address) {
    if (!inbound.to) {
      settleIn(ctx, l, d, rheaMessage.rejected({ error: { condition: 'amqp:not-found', description: "anonymous relay: the message has no 'to' address" } }).described());
      grantCredit(ctx, l);
      return;
    }
    address = addressOf(inbound.to, inbound.toType, ctx.host.defaultKind);
  }
  let txn: Tx | undefined;
  if (d.raw_state !== undefined && d.raw_state !== null) {
    const st = rheaMessage.unwrap_outcome(d.raw_state);
    if (st?.constructor?.composite_type === 'transactional_state') {
      const id = st.txn_id;
      txn = Buffer.isBuffer(id) ? ctx.txns.get(id.toString('hex')) : undefined;
      if (!txn) {
        settleIn(ctx, l, d, rheaMessage.rejected({ error: { condition: 'amqp:transaction:unknown-id', description: 'unknown transaction' } }).described());
        grantCredit(ctx, l);
        return;
      }
    }
  }
  const size = bytes.length;
  l.inflight++;
  ctx.pendingBytes += size;
  if (ctx.pendingBytes > ctx.opts.maxPendingBytes) ctx.hold(HOLD_PENDING);
  const done = (state: Typed, p?: Promise<void>): void => {
    if (p) txn?.ops.delete(p);
    try {
      settleIn(ctx, l, d, state);
    } finally {
      l.inflight--;
      ctx.pendingBytes -= size;
      if (ctx.pendingBytes <= ctx.opts.maxPendingBytes / 2) ctx.release(HOLD_PENDING);
      grantCredit(ctx, l);
    }
  };
  if (txn) {
    const t = txn;
    const p = ctx.engine.send(inbound.message, address, { connection: ctx.conn, transaction: t.tx });
    t.ops.add(p);
    p.then(
      () => done(rheaMessage.transactional_state({ txn_id: t.id, outcome: ACCEPTED }).described(), p),
      (err: unknown) => done(refused(ctx, address, err), p),
    );
    return;
  }
  // started with the other transfers of this socket read as one engine sendMany (connection.ts flushes it)
  ctx.sends.add(inbound.message, address, (err) => done(err === undefined ? ACCEPTED : refused(ctx, address, err)));
}

/** An aborted transfer (transfer-in.ts discarded it): it used a credit, given back like any other's. */
export function onAbortedTransfer(ctx: AmqpContext, r: RLink): void {
  const l = ctx.links.get(r);
  if (!l || l.kind === 'out' || l.state !== 'open') return;
  if (useCredit(ctx, l)) grantCredit(ctx, l);
}

/** Count a transfer against the link credit we granted; one beyond it closes the link (rhea only logs it). */
function useCredit(ctx: AmqpContext, l: InLink): boolean {
  if (--l.creditLeft >= 0) return true;
  l.state = 'closed';
  ctx.links.delete(l.r);
  l.unregister?.();
  l.r.close({ condition: 'amqp:link:transfer-limit-exceeded', description: 'transfer without link credit' });
  return false;
}

/** The rejected outcome of a send the engine refused (or failed). */
function refused(ctx: AmqpContext, address: Address, err: unknown): Typed {
  if (!(err instanceof BrokerError)) ctx.log.warn({ err, address }, 'amqp: send failed');
  return rheaMessage.rejected({ error: amqpError(err) }).described();
}
