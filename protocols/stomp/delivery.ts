/**
 * MESSAGE frames and subscription credit.
 *
 * STOMP 1.2 "MESSAGE": carries `subscription`, `message-id`, `destination`, and (1.2, client ack modes)
 * an `ack` header whose value the ACK/NACK names. Each subscription's engine credit is kept at
 * `prefetch − unacknowledged` (ActiveMQ's prefetch), and withdrawn while output is backed up.
 */
import type { Delivery, Message } from '../../src/core/api.js';
import { PreparedMessage } from './codec.js';
import type { StompVersion } from './frame.js';
import { messageHeaders } from './mapping.js';
import { render } from './destinations.js';
import type { Pending, StompContext, Sub } from './context.js';

/** PreparedMessage per message, per version (fan-out and redelivery encode the message's headers once). */
const prepared: Record<StompVersion, WeakMap<Message, PreparedMessage>> = {
  '1.0': new WeakMap(),
  '1.1': new WeakMap(),
  '1.2': new WeakMap(),
};

export function deliver(ctx: StompContext, sub: Sub, d: Delivery): void {
  if (ctx.outClosed || sub.closed) return;
  const m = d.message;
  const cache = prepared[ctx.version];
  let pm = cache.get(m);
  if (pm === undefined) {
    pm = new PreparedMessage(ctx.version, messageHeaders(m), m.body);
    cache.set(m, pm);
  }
  const lead: Array<[string, string]> = [
    ['subscription', sub.id],
    ['message-id', m.messageId],
    ['destination', m.destination !== undefined ? render(ctx, m.destination) : sub.destination],
  ];
  if (sub.ackMode !== 'auto') {
    if (ctx.version === '1.2') lead.push(['ack', String(d.id)]);
    const p: Pending = { id: d.id, sub, messageId: m.messageId };
    sub.unacked.set(d.id, p);
    sub.byMessageId.set(m.messageId, d.id);
    ctx.pending.set(d.id, p);
  } else {
    ctx.creditDue.add(sub);
  }
  lead.push(['redelivered', d.redelivered ? 'true' : 'false']);
  if (m.replyTo !== undefined) lead.push(['reply-to', render(ctx, m.replyTo)]);
  ctx.write(pm.encode(lead));
}

export function untrack(ctx: StompContext, p: Pending): void {
  ctx.pending.delete(p.id);
  const sub = p.sub;
  sub.unacked.delete(p.id);
  if (sub.byMessageId.get(p.messageId) === p.id) sub.byMessageId.delete(p.messageId);
}

/** Keep a subscription's credit at prefetch − unacknowledged (none while output is backed up). */
export function replenish(ctx: StompContext, sub: Sub): void {
  const c = sub.consumer;
  if (!c || c.closed || ctx.backedUp || ctx.outClosed) return;
  const want = sub.prefetch - sub.unacked.size - c.credit;
  if (want > 0) c.addCredit(want);
}
