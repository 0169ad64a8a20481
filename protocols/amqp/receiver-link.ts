/**
 * Receiver links, attach side and credit (the client sends): the target becomes an engine address (or
 * the anonymous relay, or a dynamic temporary, or a transaction coordinator §4.2), and the broker grants
 * link credit (AMQP 1.0 §2.6.7) as sends complete, so a destination that blocks stops the producer.
 * Settling: §2.6.12 — a delivery the client pre-settled gets no disposition.
 */
import { rheaTerminus, type RDelivery, type RLink, type Typed } from './rhea.js';
import { amqpError, clampSettleMode, symbols, terminus, type AmqpContext, type InLink } from './context.js';
import { linkAllowed, refuse, resolveTerminus } from './links.js';

/** The client sends on this link (our receiver). */
export function onReceiverOpen(ctx: AmqpContext, r: RLink): void {
  const att = r.remote.attach!;
  const denied = linkAllowed(ctx, r);
  if (denied) return refuse(ctx, r, denied, false);
  const tgt = terminus(att.target);
  const src = terminus(att.source);
  r.local.attach.snd_settle_mode = clampSettleMode(att.snd_settle_mode);
  r.local.attach.rcv_settle_mode = 0;
  r.local.attach.max_message_size = ctx.host.limits.maxFrameSize;
  r.max_incoming_message_size = ctx.host.limits.maxFrameSize;
  r.set_source(src && typeof src.address === 'string' ? { address: src.address } : {});
  const link: InLink = { kind: 'in', r, name: r.name, state: 'open', address: null, creditLeft: 0, inflight: 0 };
  try {
    if (tgt?.terminus_type === 'coordinator') {
      link.kind = 'coordinator';
      r.local.attach.target = rheaTerminus.coordinator({ capabilities: ['amqp:local-transactions'] }).described();
    } else if (tgt && tgt.dynamic) {
      const caps = symbols(tgt.capabilities);
      const kind = caps.includes('temporary-topic') || caps.includes('topic') ? 'topic' : 'queue';
      const a = ctx.engine.createTemporary(kind, ctx.conn!);
      link.address = a;
      if (tgt.expiry_policy === 'link-detach') link.tempToDelete = a;
      r.set_target({ address: `temp-${kind}://${a.name}`, dynamic: true, expiry_policy: tgt.expiry_policy ?? undefined, capabilities: [kind === 'queue' ? 'temporary-queue' : 'temporary-topic'] });
    } else if (tgt && typeof tgt.address === 'string' && tgt.address !== '') {
      const a = resolveTerminus(ctx, tgt.address, symbols(tgt.capabilities));
      ctx.engine.authorize(ctx.conn!.principal, 'send', a);
      link.address = a;
      link.unregister = ctx.engine.registerProducer(a, ctx.conn);
      r.set_target({ address: tgt.address, durable: tgt.durable ?? undefined, expiry_policy: tgt.expiry_policy ?? undefined, capabilities: [a.temporary ? `temporary-${a.kind}` : a.kind] });
    } else {
      // anonymous relay: each message says where it goes (`to`)
      r.set_target({});
    }
  } catch (err) {
    return refuse(ctx, r, amqpError(err), false);
  }
  ctx.links.set(r, link);
  grantCredit(ctx, link);
}

export function grantCredit(ctx: AmqpContext, l: InLink): void {
  if (l.state !== 'open' || ctx.tornDown) return;
  const want = ctx.opts.receiverCredit - l.inflight - l.creditLeft;
  if (want <= 0) return;
  if (l.creditLeft > 0 && want < ctx.opts.receiverCredit / 4) return;
  l.creditLeft += want;
  l.r.flow(want);
}

/** Settle an incoming delivery with `state` (no disposition frame if the client pre-settled it). */
export function settleIn(ctx: AmqpContext, l: InLink, d: RDelivery, state: Typed): void {
  if (ctx.tornDown || ctx.closeSent || l.r.session.is_closed()) return;
  d.update(true, d.remote_settled ? undefined : state);
}
