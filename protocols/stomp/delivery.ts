/**
 * MESSAGE frames and subscription credit.
 *
 * STOMP 1.2 "MESSAGE": carries `subscription`, `message-id`, `destination`, and (1.2, client ack modes)
 * an `ack` header whose value the ACK/NACK names. Each subscription's engine credit is kept at
 * `prefetch − unacknowledged` (ActiveMQ's prefetch), and withdrawn while output is backed up.
 */
import type { Delivery, Message } from '../../src/core/api.js';
import { escapeHeader, escapeModeFor, PreparedMessage } from './codec.js';
import type { StompVersion } from './frame.js';
import { messageHeaderLines } from './mapping.js';
import { render } from './destinations.js';
import type { Pending, StompContext, Sub } from './context.js';

/**
 * The PreparedMessages of the last RING messages delivered, per version: fan-out delivers one message to its
 * subscribers back to back, so a small ring finds it again. (A WeakMap entry per message cost more than the
 * encoding it saved: every new key is an ephemeron the GC has to trace; a redelivery re-encodes instead.)
 */
const RING = 16;
const RING_MAX_BODY = 64 * 1024;
interface Ring {
  keys: Array<Message | undefined>;
  vals: Array<PreparedMessage | undefined>;
  next: number;
}
const newRing = (): Ring => ({ keys: new Array(RING).fill(undefined), vals: new Array(RING).fill(undefined), next: 0 });
const prepared: Record<StompVersion, Ring> = { '1.0': newRing(), '1.1': newRing(), '1.2': newRing() };

function preparedFor(version: StompVersion, m: Message): PreparedMessage {
  const r = prepared[version];
  const keys = r.keys;
  for (let i = 0; i < RING; i++) if (keys[i] === m) return r.vals[i]!;
  const pm = new PreparedMessage(version, messageHeaderLines(m, escapeModeFor('MESSAGE', version)), m.body);
  // the ring must not keep big bodies alive after their messages are gone; copying dominates their cost anyway
  if (m.body.length > RING_MAX_BODY) return pm;
  keys[r.next] = m;
  r.vals[r.next] = pm;
  r.next = (r.next + 1) % RING;
  return pm;
}

export function deliver(ctx: StompContext, sub: Sub, d: Delivery): void {
  if (ctx.outClosed || sub.closed) return;
  const m = d.message;
  const pm = preparedFor(ctx.version, m);
  // the delivery's own header lines, escaped (first occurrence wins: they come before the message's)
  const mode = escapeModeFor('MESSAGE', ctx.version);
  let lines =
    (sub.lead ??= 'subscription:' + escapeHeader(sub.id, mode) + '\nmessage-id:') +
    escapeHeader(m.messageId, mode) +
    '\ndestination:' + escapeHeader(m.destination !== undefined ? render(ctx, m.destination) : sub.destination, mode) + '\n';
  if (sub.ackMode !== 'auto') {
    if (ctx.version === '1.2') lines += 'ack:' + d.id + '\n';
    const p: Pending = { id: d.id, sub, messageId: m.messageId };
    sub.unacked.set(d.id, p);
    // a 1.2 ACK names the delivery by its `ack` header; one naming it by message-id only is looked up in `unacked`
    if (ctx.version !== '1.2') sub.byMessageId.set(m.messageId, d.id);
    ctx.pending.set(d.id, p);
  } else {
    ctx.creditDue.add(sub);
  }
  lines += d.redelivered ? 'redelivered:true\n' : 'redelivered:false\n';
  if (m.replyTo !== undefined) lines += 'reply-to:' + escapeHeader(render(ctx, m.replyTo), mode) + '\n';
  ctx.writeMessage(pm, lines);
}

export function untrack(ctx: StompContext, p: Pending): void {
  ctx.pending.delete(p.id);
  const sub = p.sub;
  sub.unacked.delete(p.id);
  if (sub.byMessageId.size > 0 && sub.byMessageId.get(p.messageId) === p.id) sub.byMessageId.delete(p.messageId);
}

/**
 * The deliveries an ACK/NACK of `target` settles: with ack:client (cumulative) everything its subscription still has
 * unacknowledged up to and including it, in delivery order; otherwise the target alone.
 */
export function covered(target: Pending, cumulative: boolean): Pending[] {
  if (!cumulative) return [target];
  const list: Pending[] = [];
  for (const p of target.sub.unacked.values()) {
    list.push(p);
    if (p === target) break;
  }
  return list;
}

/** Keep a subscription's credit at prefetch − unacknowledged (none while output is backed up). */
export function replenish(ctx: StompContext, sub: Sub): void {
  const c = sub.consumer;
  if (!c || c.closed || ctx.backedUp || ctx.outClosed) return;
  const want = sub.prefetch - sub.unacked.size - c.credit;
  if (want > 0) c.addCredit(want);
}
