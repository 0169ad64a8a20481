/**
 * SUBSCRIBE / UNSUBSCRIBE: one engine consumer per subscription, in explicit-credit mode (delivery.ts
 * keeps its credit). Both are barriers: later frames wait until the consumer exists or is gone.
 *
 * STOMP 1.2 "SUBSCRIBE": `destination` and `id` are required (1.0: the destination is the id), `ack` is
 * auto, client or client-individual. "UNSUBSCRIBE": `id` is required. ActiveMQ extensions honoured:
 * activemq.prefetchSize, activemq.exclusive, activemq.noLocal, activemq.subscriptionName (durable topic
 * subscriptions, which UNSUBSCRIBE with the name removes); RabbitMQ's prefetch-count and durable topic
 * subscriptions (durable:true, removed by an UNSUBSCRIBE with durable:true).
 */
import { BrokerError, CONVERT_STRING_EXPRESSIONS, type Delivery, type KillCause, sharedSubscriptionId } from '../../../src/core/api.js';
import { header, type StompFrame } from '../frame.js';
import { resolve } from '../destinations.js';
import { deliver, replenish, untrack } from '../delivery.js';
import { type AckMode, clip, FrameError, missing, required, type StompContext, type Sub } from '../context.js';

const ACK_MODES = new Set<AckMode>(['auto', 'client', 'client-individual']);

export function onSubscribe(ctx: StompContext, f: StompFrame): Promise<void> {
  const dest = required(f, 'destination');
  let id = header(f, 'id');
  if (id === undefined) {
    if (ctx.version !== '1.0') throw missing('SUBSCRIBE', 'id');
    id = dest; // STOMP 1.0: the destination identifies the subscription
  }
  if (ctx.subs.has(id)) throw new FrameError('Duplicate subscription id', `This connection already has a subscription with id '${clip(id, 60)}'.`);
  if (ctx.subs.size >= ctx.opts.maxSubscriptions) throw new BrokerError('limit', `A connection may have at most ${ctx.opts.maxSubscriptions} subscriptions`);
  const ackMode = (header(f, 'ack') ?? 'auto') as AckMode;
  if (!ACK_MODES.has(ackMode)) throw new FrameError('Invalid ack mode', `ack must be auto, client or client-individual, got '${clip(ackMode, 40)}'.`);
  let prefetch = ctx.opts.defaultPrefetch;
  // ActiveMQ's activemq.prefetchSize, or RabbitMQ's prefetch-count (where 0 means no limit)
  const pfName = header(f, 'activemq.prefetchSize') !== undefined ? 'activemq.prefetchSize' : 'prefetch-count';
  const pf = header(f, pfName);
  if (pf !== undefined) {
    const n = Number(pf);
    if (!/^\s*\d{1,10}\s*$/.test(pf) || (n < 1 && pfName !== 'prefetch-count')) throw new FrameError(`Invalid ${pfName}`, `${pfName} must be a positive integer, got '${clip(pf, 40)}'.`);
    prefetch = n === 0 ? ctx.opts.maxPrefetch : Math.min(n, ctx.opts.maxPrefetch);
  }
  // as ActiveMQ's STOMP transport: headers arrive as strings, so a selector compares them as numbers or booleans
  // where the other side is one (`n > 3` matches `n:5`)
  const text = header(f, 'selector');
  const selector = !text ? undefined : text.startsWith(CONVERT_STRING_EXPRESSIONS) ? text : CONVERT_STRING_EXPRESSIONS + text;
  const subName = header(f, 'activemq.subscriptionName') ?? header(f, 'activemq.subcriptionName') ?? header(f, 'durable-subscription-name');
  const address = resolve(ctx, dest, true);
  const sub: Sub = { id, destination: dest, ackMode, prefetch, consumer: null, unacked: new Map(), byMessageId: new Map(), closed: false };
  // RabbitMQ's durable topic subscription (durable:true, or its older alias persistent:true, with auto-delete:false):
  // one queue per subscription id × destination, kept while away, shared by whoever subscribes with both
  const group = subName === undefined && address.kind === 'topic' && rabbitDurable(f) ? rabbitGroup(id, dest) : undefined;
  ctx.subs.set(id, sub);
  const receipt = header(f, 'receipt');
  return ctx.engine
    .subscribe({
      address,
      connection: ctx.conn,
      credit: 0,
      selector,
      autoAck: ackMode === 'auto',
      exclusive: header(f, 'activemq.exclusive') === 'true',
      noLocal: header(f, 'activemq.noLocal') === 'true',
      durable: group !== undefined ? { name: id } : subName && address.kind === 'topic' ? { name: subName } : undefined,
      shared: group,
      onMessage: (d) => deliver(ctx, sub, d),
      onClose: (reason, cause) => subscriptionClosed(ctx, sub, reason, cause),
      onLeaseExpired: (d) => leaseExpired(ctx, sub, d),
    })
    .then(
      (c) => {
        if (sub.closed || ctx.tornDown) {
          c.close();
          return;
        }
        sub.consumer = c;
        replenish(ctx, sub);
        if (receipt !== undefined) ctx.receipt(receipt);
      },
      (err: unknown) => {
        if (ctx.subs.get(sub.id) === sub) ctx.subs.delete(sub.id);
        throw err;
      },
    );
}

export function onUnsubscribe(ctx: StompContext, f: StompFrame): Promise<void> | void {
  let id = header(f, 'id');
  const subName = header(f, 'activemq.subscriptionName') ?? header(f, 'activemq.subcriptionName') ?? header(f, 'durable-subscription-name');
  // STOMP 1.0 "UNSUBSCRIBE" names the subscription by `destination` (or the `id` it was made with); a 1.0 client
  // may subscribe with an id and unsubscribe by destination, which then ends every subscription to it (ActiveMQ)
  const dest = id === undefined && ctx.version === '1.0' ? header(f, 'destination') : undefined;
  if (dest !== undefined) id = dest;
  if (id === undefined && subName === undefined) throw missing('UNSUBSCRIBE', 'id');
  const byId = id !== undefined ? ctx.subs.get(id) : undefined;
  const subs = byId ? [byId] : dest !== undefined ? [...ctx.subs.values()].filter((s) => s.destination === dest) : [];
  // RabbitMQ: UNSUBSCRIBE with durable:true deletes the durable subscription (of this id and its destination)
  const rabbitDest = rabbitDurable(f) && id !== undefined ? (byId?.destination ?? header(f, 'destination')) : undefined;
  if (subs.length === 0 && subName === undefined && rabbitDest === undefined) throw new FrameError('No such subscription', `This connection has no subscription with id '${clip(id ?? '', 60)}'.`);
  for (const sub of subs) closeSub(ctx, sub);
  const receipt = header(f, 'receipt');
  if (rabbitDest !== undefined && subName === undefined) {
    return ctx.engine.deleteSubscription(sharedSubscriptionId(rabbitGroup(id!, rabbitDest))).then(() => {
      if (receipt !== undefined) ctx.receipt(receipt);
    });
  }
  if (subName !== undefined) {
    const clientId = ctx.conn!.clientId;
    if (!clientId) throw new FrameError('No client-id', 'Removing a durable subscription needs the client-id header on CONNECT.');
    return ctx.engine.unsubscribeDurable(clientId, subName).then(() => {
      if (receipt !== undefined) ctx.receipt(receipt);
    });
  }
  if (receipt !== undefined) ctx.receipt(receipt);
}

function rabbitDurable(f: StompFrame): boolean {
  // RabbitMQ 3.10 auto-deletes the subscription's queue when its last subscriber leaves unless told otherwise
  return (header(f, 'durable') ?? header(f, 'persistent')) === 'true' && header(f, 'auto-delete') === 'false';
}

/** The engine share group of a RabbitMQ-style durable subscription. */
function rabbitGroup(id: string, destination: string): string {
  return `stomp:${destination}:${id}`;
}

export function closeSub(ctx: StompContext, sub: Sub): void {
  sub.closed = true;
  ctx.subs.delete(sub.id);
  for (const p of sub.unacked.values()) ctx.pending.delete(p.id);
  sub.unacked.clear();
  sub.byMessageId.clear();
  ctx.creditDue.delete(sub);
  sub.consumer?.close();
}

/** The engine closed the consumer (its queue or durable subscription was deleted). */
export function subscriptionClosed(ctx: StompContext, sub: Sub, reason: string, cause?: KillCause): void {
  if (sub.closed) return;
  // its user may no longer read the destination: STOMP can only say so with an ERROR, which ends the connection
  // (STOMP 1.2 "ERROR": the server closes it after sending); the ERROR names the subscription and destination
  if (cause === 'unauthorized') {
    ctx.errorClose(reason, `The subscription ${sub.id} was closed: ${reason}.`, undefined, [['subscription', sub.id]]);
  }
  ctx.log.debug({ session: ctx.conn?.id, subscription: sub.id, reason }, 'stomp: subscription closed by the broker');
  sub.closed = true;
  if (ctx.subs.get(sub.id) === sub) ctx.subs.delete(sub.id);
  for (const p of sub.unacked.values()) ctx.pending.delete(p.id);
  sub.unacked.clear();
  sub.byMessageId.clear();
  ctx.creditDue.delete(sub);
}

export function leaseExpired(ctx: StompContext, sub: Sub, d: Delivery): void {
  const p = sub.unacked.get(d.id);
  if (p) untrack(ctx, p);
  replenish(ctx, sub);
}
