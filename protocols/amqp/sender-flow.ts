/**
 * Sender links, flow side (broker → client): link credit, drain, transfers, browsing and the client's
 * dispositions.
 *
 * AMQP 1.0 §2.6.7 flow control: the client's link credit drives an engine consumer in explicit credit
 * mode; `allowance` (what the engine may still hand us) stays ≤ the link credit, ≤ maxConsumerCredit, ≤ the
 * room in rhea's session buffer, and 0 while the socket is backed up. §2.7.4 flow with drain: hand over what
 * is ready, then advance the delivery-count by the credit left and echo a flow with drain set.
 * §2.6.12 transferring a message, §3.4 delivery state: accepted acks, released returns without counting a
 * failure, modified (delivery-failed / undeliverable-here) returns counting one, rejected dead-letters;
 * §4.4.2 transactional acquisition: an outcome inside a transactional-state joins that transaction.
 */
import type { Delivery } from '../../src/core/api.js';
import { encodeDelivery, mergedAnnotations } from './mapping.js';
import { rheaMessage, type RDelivery, type RLink, type RSession, type Typed } from './rhea.js';
import { SESSION_MARGIN, type AmqpContext, type OutDeliveryTag, type OutLink, type Tx } from './context.js';

export function onSenderFlow(ctx: AmqpContext, r: RLink): void {
  const l = ctx.links.get(r);
  if (!l || l.kind !== 'out') return;
  l.credit = Math.max(0, r.credit + r.delivery_count - l.deliveryCount);
  const drain = r._draining === true;
  if (l.state !== 'open') return; // applied once attached
  if (l.browser) {
    browseMore(ctx, l);
    if (drain) finishDrain(ctx, l);
    return;
  }
  l.draining = false;
  syncCredit(ctx, l);
  if (drain && l.consumer && !l.consumer.closed) {
    l.draining = true;
    const left = l.consumer.drain();
    l.allowance -= left;
    maybeFinishDrain(ctx, l);
  }
}

/** Give the engine what it may hand us: min(link credit, cap, session room), none while backed up. */
export function syncCredit(ctx: AmqpContext, l: OutLink): void {
  const c = l.consumer;
  if (!c || c.closed || l.state !== 'open' || l.browser) return;
  const full = l.r.session.outgoing.available() < SESSION_MARGIN;
  const target = ctx.backedUp || ctx.closeSent || l.draining || full ? 0 : Math.min(l.credit, ctx.opts.maxConsumerCredit);
  const delta = target - l.allowance;
  if (delta > 0) {
    l.allowance += delta;
    c.addCredit(delta);
  } else if (delta < 0) {
    const cut = Math.min(-delta, Math.max(0, c.credit));
    if (cut > 0) {
      l.allowance -= cut;
      c.setCredit(c.credit - cut);
    }
  }
}

export function refreshAllCredit(ctx: AmqpContext): void {
  for (const l of ctx.links.values()) {
    if (l.kind !== 'out') continue;
    if (l.browser) {
      if (l.state === 'open' && l.credit > 0 && !ctx.backedUp && !ctx.closeSent) browseMore(ctx, l);
    } else syncCredit(ctx, l);
  }
}

export function scheduleCreditRefresh(ctx: AmqpContext): void {
  if (ctx.creditRefreshScheduled) return;
  ctx.creditRefreshScheduled = true;
  setImmediate(() => {
    ctx.creditRefreshScheduled = false;
    refreshAllCredit(ctx);
  });
}

export function deliver(ctx: AmqpContext, l: OutLink, d: Delivery): void {
  l.allowance--;
  if (l.state !== 'open' || ctx.tornDown) {
    giveBack(ctx, d);
    return;
  }
  if (!l.presettled && (ctx.backedUp || ctx.turnBytes + ctx.stream.writableLength > ctx.opts.writeHighWater)) {
    // the engine handed over more than the socket takes now (a whole dispatch round): give it back
    if (!ctx.backedUp) ctx.backpressure();
    giveBack(ctx, d);
    return;
  }
  if (l.r.session.outgoing.available() < 2) {
    // rhea's session buffer of unsettled deliveries is full (it frees in order): wait for settlements
    giveBack(ctx, d);
    syncCredit(ctx, l);
    return;
  }
  let rd: RDelivery;
  try {
    const payload = encodeDelivery(d.message, d, ctx.mapOpts);
    ctx.turnBytes += payload.length;
    rd = l.r.send(payload, Buffer.from(d.id.toString(36)), 0);
  } catch (err) {
    ctx.log.error({ err, link: l.name }, 'amqp: delivery failed');
    giveBack(ctx, d);
    return;
  }
  l.deliveryCount++;
  l.credit--;
  if (!l.presettled) rd.wharf = { id: d.id, consumer: d.consumer, done: false, message: d.message } satisfies OutDeliveryTag;
  if (l.draining) maybeFinishDrain(ctx, l);
  else if (l.allowance < Math.min(l.credit, ctx.opts.maxConsumerCredit) / 2) syncCredit(ctx, l);
}

export function giveBack(ctx: AmqpContext, d: Delivery): void {
  if (d.consumer.closed || d.consumer.autoAck) return;
  try {
    d.consumer.nack(d.id, { countFailure: false, redelivered: false });
  } catch {
    // already back
  }
}

export function maybeFinishDrain(ctx: AmqpContext, l: OutLink): void {
  if (l.draining && l.allowance <= 0) {
    l.draining = false;
    finishDrain(ctx, l);
  }
}

/** The credit left is used up: advance the delivery-count and echo a flow with drain set. */
export function finishDrain(ctx: AmqpContext, l: OutLink): void {
  l.deliveryCount += l.credit;
  l.credit = 0;
  (l.r as RLink & { _wharf_drain?: boolean })._wharf_drain = true;
  l.r.issue_flow = true;
  l.r.connection._register();
}

export function browseMore(ctx: AmqpContext, l: OutLink): void {
  const b = l.browser!;
  while (l.credit > 0 && l.r.session.outgoing.available() >= SESSION_MARGIN && !ctx.backedUp && ctx.turnBytes + ctx.stream.writableLength <= ctx.opts.writeHighWater) {
    const items = ctx.engine.browse(b.address, { limit: Math.min(l.credit, 100), offset: b.offset, selector: b.selector });
    if (items.length === 0) return;
    for (const it of items) {
      b.offset++;
      try {
        const payload = encodeDelivery(it.message, it, ctx.mapOpts);
        ctx.turnBytes += payload.length;
        l.r.send(payload, Buffer.from(`b${b.offset.toString(36)}`), 0);
      } catch (err) {
        ctx.log.error({ err, link: l.name }, 'amqp: browse delivery failed');
        return;
      }
      l.deliveryCount++;
      l.credit--;
    }
  }
}

/**
 * rhea applies dispositions for our deliveries in its deferred processing; a detach (or end, or socket
 * close) in the same read would otherwise overtake them and return already-accepted messages.
 */
export function applyPendingOutcomes(ctx: AmqpContext, rs: RSession, only?: RLink): void {
  const updated = (rs as unknown as { outgoing?: { updated?: RDelivery[] } }).outgoing?.updated;
  if (!updated) return;
  for (const d of updated) if ((!only || d.link === only) && (d.remote_state || d.remote_settled)) onOutcome(ctx, d, 'settled');
}

/** The message's annotations merged with those of a modified outcome (§3.4.5), for its next delivery. */
function modifiedAnnotations(ctx: AmqpContext, w: OutDeliveryTag, state: object | undefined): Record<string, unknown> | undefined {
  const fields = (state as { value?: unknown } | undefined)?.value;
  const added = Array.isArray(fields) ? (fields[2] as Typed | undefined) : undefined;
  if (!added) return undefined;
  try {
    return mergedAnnotations(w.message, added, ctx.mapOpts);
  } catch (err) {
    ctx.log.debug({ err: (err as Error).message }, 'amqp: modified message-annotations not merged');
    return undefined;
  }
}

/** A disposition from the client for one of our deliveries. */
export function onOutcome(ctx: AmqpContext, rd: RDelivery, kind: 'accepted' | 'released' | 'rejected' | 'modified' | 'transactional_state' | 'settled'): void {
  const w = rd.wharf as OutDeliveryTag | undefined;
  if (!w || w.done) return;
  const st = rd.remote_state;
  let outcome: string = kind;
  let state = st;
  if (kind === 'settled') outcome = st?.constructor?.composite_type ?? 'accepted';
  if (outcome === 'received') return; // not terminal
  let txn: Tx | undefined;
  if (outcome === 'transactional_state') {
    const id = st?.txn_id;
    txn = Buffer.isBuffer(id) ? ctx.txns.get(id.toString('hex')) : undefined;
    state = rheaMessage.unwrap_outcome(st?.outcome);
    outcome = state?.constructor?.composite_type ?? 'accepted';
    if (!txn) {
      w.done = true;
      ctx.closeConnection({ condition: 'amqp:transaction:unknown-id', description: 'disposition in an unknown transaction' });
      return;
    }
  }
  w.done = true;
  const c = w.consumer;
  if (!c.closed) {
    try {
      switch (outcome) {
        case 'accepted':
          if (txn) txn.tx.ack(c, w.id);
          else c.ack(w.id).catch((err) => ctx.log.debug({ err }, 'amqp: ack'));
          break;
        case 'released':
          c.nack(w.id, { countFailure: false, redelivered: false, acquired: true });
          break;
        case 'modified': {
          const failed = state?.delivery_failed === true;
          const notHere = state?.undeliverable_here === true;
          const annotations = modifiedAnnotations(ctx, w, state);
          c.nack(w.id, { countFailure: failed, notHere, redelivered: failed ? undefined : false, acquired: true, reason: failed ? 'modified (delivery-failed) by consumer' : undefined, annotations });
          break;
        }
        case 'rejected': {
          const e = state?.error as { description?: string; condition?: string } | undefined;
          c.nack(w.id, { deadLetter: true, reason: e?.description || e?.condition || 'rejected by consumer' });
          break;
        }
        default:
          c.ack(w.id).catch((err) => ctx.log.debug({ err }, 'amqp: ack'));
      }
    } catch (err) {
      ctx.log.debug({ err: (err as Error).message }, 'amqp: settlement of a delivery that is no longer unsettled');
    }
  }
  if (!rd.remote_settled) rd.update(true);
  scheduleCreditRefresh(ctx);
}
