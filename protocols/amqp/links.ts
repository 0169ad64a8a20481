/**
 * What sender and receiver links share: holding the attach answer back until we know the outcome, refusing
 * an attach (AMQP 1.0 §2.6.3), per-connection link limits (handle-max §2.7.2), address resolution, and
 * detach (§2.6.5, §2.7.6): the peer's detach, and forgetting a link with what it owned (its consumer;
 * a durable subscription when the detach is closing, §3.5.3 terminus expiry; a link-detach temporary).
 */
import { releaseRetained, retain } from './budget.js';
import { type Address, BrokerError, sharedSubscriptionId } from '../../src/core/api.js';
import { addressOf } from './mapping.js';
import type { AmqpError, RLink } from './rhea.js';
import type { AmqpContext, Link, OutLink } from './context.js';
import { applyPendingOutcomes } from './sender-flow.js';

/** Keep rhea from answering the attach until we know the outcome. */
export function holdAttach(ctx: AmqpContext, r: RLink): void {
  if (r.state.open_requests > 0) r.state.open_requests--;
}

export function sendAttach(ctx: AmqpContext, r: RLink): void {
  r.state.open_requests++;
  r.connection._register();
}

/** Answer an attach with a null terminus and detach with the error (AMQP 1.0 §2.6.3). */
export function refuse(ctx: AmqpContext, r: RLink, err: AmqpError, held: boolean): void {
  if (r.is_sender()) r.local.attach.source = null;
  else r.local.attach.target = null;
  if (held) sendAttach(ctx, r);
  r.close(err);
  const l = ctx.links.get(r);
  if (l) {
    l.state = 'closed';
    ctx.links.delete(r);
  }
  ctx.log.debug({ link: r.name, condition: err.condition, description: err.description }, 'amqp: link refused');
}

export function linkAllowed(ctx: AmqpContext, r: RLink): AmqpError | null {
  if (ctx.state !== 'open' || !ctx.conn) return { condition: 'amqp:connection:forced', description: 'connection is closing' };
  if (ctx.links.size >= ctx.opts.maxLinks) return { condition: 'amqp:resource-limit-exceeded', description: `at most ${ctx.opts.maxLinks} links per connection` };
  const h = r.remote.handle ?? 0;
  if (h > ctx.opts.maxLinks - 1) return { condition: 'amqp:resource-limit-exceeded', description: `handle ${h} above handle-max ${ctx.opts.maxLinks - 1}` };
  return retain(ctx, r, r.remote.attach);
}



export function resolveTerminus(ctx: AmqpContext, address: string, caps: string[]): Address {
  let a: Address;
  if (/^(queue|topic|temp-queue|temp-topic):\/\//.test(address)) a = addressOf(address, undefined, ctx.host.defaultKind);
  else if (caps.includes('temporary-queue')) a = { kind: 'queue', name: address, temporary: true };
  else if (caps.includes('temporary-topic')) a = { kind: 'topic', name: address, temporary: true };
  else if (caps.includes('queue')) a = { kind: 'queue', name: address };
  else if (caps.includes('topic')) a = { kind: 'topic', name: address };
  else a = { kind: ctx.host.defaultKind, name: address };
  if (!a.name) throw new BrokerError('invalid', `Invalid address '${address}'`);
  return a;
}

/** The peer detached (or closed) a link. */
export function onPeerDetach(ctx: AmqpContext, r: RLink): void {
  const l = ctx.links.get(r);
  if (!l) return;
  applyPendingOutcomes(ctx, r.session, r);
  const closed = r.remote.detach?.closed === true;
  if (l.state === 'attaching' && !(l.kind === 'out' && l.attachSent)) {
    // our attach was held back: it must still precede our detach
    r.local.attach.source = null;
    sendAttach(ctx, r);
  }
  if (!closed && !r.is_itself_closed()) {
    // answer with closed=false too (rhea would answer closed=true), and let rhea forget the link after
    r.detach();
    // once our detach is written; not if the peer re-attached the same name meanwhile
    setImmediate(() => {
      if (!r.state.local_open && !r.state.remote_open) r.remove();
    });
  }
  linkGone(ctx, l, closed);
}

/** Forget a link: its consumer closes (unsettled deliveries return), a durable subscription goes if `closed`. */
export function linkGone(ctx: AmqpContext, l: Link, closed: boolean): void {
  if (l.state === 'closed') return;
  const wasAttaching = l.state === 'attaching';
  l.state = 'closed';
  ctx.links.delete(l.r);
  releaseRetained(ctx, l.r);
  if (l.kind === 'out') {
    // still attaching: the consumer does not exist yet (setupOutgoing drops it when it arrives), unless our attach
    // already went out and only the credit waits
    if (!wasAttaching || l.attachSent) dropConsumer(ctx, l, closed);
  } else {
    l.unregister?.();
    if (l.kind === 'coordinator') {
      for (const [k, t] of ctx.txns) {
        if (t.coordinator === l) {
          t.tx.rollback();
          ctx.txns.delete(k);
        }
      }
    }
    if (l.tempToDelete && l.tempToDelete.kind === 'queue' && ctx.state !== 'closed') {
      ctx.engine.deleteQueue(l.tempToDelete.name).catch((err) => ctx.log.debug({ err }, 'amqp: temporary queue delete'));
    }
  }
}

export function dropConsumer(ctx: AmqpContext, l: OutLink, closed: boolean): void {
  const c = l.consumer;
  l.consumer = null;
  l.allowance = 0;
  if (c && !c.closed) c.close();
  if (closed && l.durable && ctx.state !== 'closed') {
    const d = l.durable;
    if (d.shared) {
      const id = sharedSubscriptionId(d.shared);
      if (ctx.engine.consumersOf({ kind: 'subscription', name: id }).every((x) => x.closed)) ctx.engine.deleteSubscription(id).catch((err) => ctx.log.debug({ err }, 'amqp: shared subscription delete'));
    } else {
      ctx.engine.unsubscribeDurable(d.clientId, d.name).catch((err) => ctx.log.debug({ err }, 'amqp: unsubscribe'));
    }
  }
  if (l.tempToDelete && l.tempToDelete.kind === 'queue' && ctx.state !== 'closed') {
    ctx.engine.deleteQueue(l.tempToDelete.name).catch((err) => ctx.log.debug({ err }, 'amqp: temporary queue delete'));
  }
}

