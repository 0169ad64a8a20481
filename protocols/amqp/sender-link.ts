/**
 * Sender links, attach side (the client receives): the source a client asks for becomes an engine
 * consumer. AMQP 1.0 §3.5.3 source: `dynamic` creates a temporary queue/topic, `distribution-mode copy`
 * browses a queue, a durable source (terminus-durable > 0 or expiry-policy never) on a topic is a durable
 * subscription named by the link name (Qpid JMS: `name|…`), the `shared`/`global` capabilities make it a
 * shared one, and a source without an address resumes or removes a durable subscription by name.
 * Filters (§3.5.1): the Apache/Qpid JMS selector and no-local filters; what is in force is echoed back.
 */
import { type Address, BrokerError, durableSubscriptionId, sharedSubscriptionId, type Delivery, type DestinationKind, type KillCause } from '../../src/core/api.js';
import { rheaTypes, type RLink, type RTerminus, type Typed } from './rhea.js';
import { amqpError, clampSettleMode, symbols, terminus, type AmqpContext, type OutLink } from './context.js';
import { dropConsumer, holdAttach, linkAllowed, refuse, resolveTerminus, sendAttach } from './links.js';
import { deliver, onSenderFlow } from './sender-flow.js';

/** Filter descriptors (Apache/Qpid JMS conventions). */
const SELECTOR_FILTER = 0x0000468c00000004;
const NO_LOCAL_FILTER = 0x0000468c00000003;
const SELECTOR_SYMBOLS = new Set(['apache.org:selector-filter:string', 'apache.org:jms-selector-filter:string']);
const NO_LOCAL_SYMBOLS = new Set(['apache.org:no-local-filter:list', 'apache.org:jms-no-local-filter:list']);

const OUTCOMES = ['amqp:accepted:list', 'amqp:rejected:list', 'amqp:released:list', 'amqp:modified:list'];

/** The client receives on this link (our sender). The attach is answered once the consumer exists. */
export function onSenderOpen(ctx: AmqpContext, r: RLink): void {
  const denied = linkAllowed(ctx, r);
  if (denied) return refuse(ctx, r, denied, false);
  holdAttach(ctx, r);
  const att = r.remote.attach!;
  const presettled = att.snd_settle_mode === 1;
  const link: OutLink = { kind: 'out', r, name: r.name, state: 'attaching', consumer: null, presettled, credit: 0, deliveryCount: 0, allowance: 0, draining: false };
  ctx.links.set(r, link);
  // our drain echo (rhea's only fires while credit is left)
  (r as unknown as { _get_drain: () => boolean })._get_drain = function (this: RLink & { _wharf_drain?: boolean }) {
    if (!this._wharf_drain) return false;
    this._wharf_drain = false;
    this.delivery_count += this.credit;
    this.credit = 0;
    return true;
  };
  r.local.attach.snd_settle_mode = clampSettleMode(att.snd_settle_mode);
  r.local.attach.rcv_settle_mode = 0;
  const tgt = terminus(att.target);
  r.set_target(tgt && typeof tgt.address === 'string' ? { address: tgt.address } : {});
  setupOutgoing(ctx, link, terminus(att.source)).then(
    (source) => {
      if (link.state === 'closed') {
        dropConsumer(ctx, link, false);
        return;
      }
      try {
        r.set_source(source);
      } catch (err) {
        // a source rhea cannot encode (garbage from the peer echoed back): refuse the link, never throw out of here
        dropConsumer(ctx, link, false);
        refuse(ctx, r, { condition: 'amqp:invalid-field', description: `bad source: ${(err as Error).message}` }, true);
        return;
      }
      sendAttach(ctx, r);
      link.attachSent = true;
      // rhea writes a session's transfers before its links' attach frames in one output pass, so credit (and with
      // it deliveries) may only follow once our attach is on the wire: a client that pipelines begin, attach and
      // flow would otherwise get a transfer for a handle it does not know yet ("no such handle"). The flow that
      // came before is applied now as a whole, drain included (Qpid Proton's receiver.drain(n) right after
      // create_receiver pipelines attach and flow: its drain used to be forgotten, never echoed)
      setImmediate(() => {
        if (link.state !== 'attaching') return;
        link.state = 'open';
        onSenderFlow(ctx, r);
      });
    },
    (err: unknown) => {
      if (link.state === 'closed') return;
      refuse(ctx, r, amqpError(err), true);
    },
  );
}

/** Create what the source asks for; returns the source to answer with. */
export async function setupOutgoing(ctx: AmqpContext, link: OutLink, src: RTerminus | null): Promise<Record<string, unknown>> {
  const conn = ctx.conn!;
  const caps = symbols(src?.capabilities);
  const { selector, noLocal, filterEcho } = parseFilters(src?.filter);
  // echo only well-typed fields: rhea's encoder throws on, say, a numeric expiry-policy (AMQP 1.0 §3.5.3: a symbol)
  const base = {
    durable: typeof src?.durable === 'number' ? src.durable : undefined,
    expiry_policy: typeof src?.expiry_policy === 'string' ? src.expiry_policy : undefined,
    timeout: typeof src?.timeout === 'number' ? src.timeout : undefined,
    outcomes: OUTCOMES,
  };
  const onMessage = (d: Delivery) => deliver(ctx, link, d);
  const onClose = (reason: string, cause?: KillCause) => consumerClosed(ctx, link, reason, cause);
  const common = { connection: conn, credit: 0, selector, noLocal, autoAck: link.presettled, onMessage, onClose };
  if (src?.dynamic) {
    const kind: 'queue' | 'topic' = caps.includes('temporary-topic') || caps.includes('topic') ? 'topic' : 'queue';
    const a = ctx.engine.createTemporary(kind, conn);
    if (src.expiry_policy === 'link-detach') link.tempToDelete = a;
    link.consumer = await ctx.engine.subscribe({ ...common, address: a });
    return { ...base, address: `temp-${kind}://${a.name}`, dynamic: true, capabilities: [`temporary-${kind}`], filter: filterEcho };
  }
  const subName = link.name.split('|')[0]!;
  const shared = caps.includes('shared');
  const global = caps.includes('global');
  const group = shared ? (global || !ctx.containerId ? subName : `${ctx.containerId}:${subName}`) : undefined;
  if (!src || typeof src.address !== 'string' || src.address === '') {
    // Qpid JMS unsubscribe / resume by name: find the durable subscription this link name stands for
    const q = ctx.engine.subscriptionInfo(shared ? sharedSubscriptionId(group!) : durableSubscriptionId(ctx.containerId, subName));
    const sub = q?.subscription;
    if (!q || !sub || (q.role !== 'durable-subscription' && !(q.role === 'shared-subscription' && q.persistent))) {
      throw new BrokerError('not-found', `No durable subscription '${subName}' for client '${ctx.containerId}'`);
    }
    const address: Address = { kind: 'topic', name: sub.topicPattern };
    link.durable = { clientId: ctx.containerId, name: subName, shared: shared ? group : undefined };
    link.consumer = await ctx.engine.subscribe({ ...common, selector: sub.selector, noLocal: sub.noLocal, address, durable: { name: subName, clientId: ctx.containerId }, shared: group });
    const echo = sub.selector ? { 'jms-selector': rheaTypes.wrap_described(sub.selector, SELECTOR_FILTER) } : undefined;
    return { ...base, address: renderTopic(sub.topicPattern, ctx.host.defaultKind), durable: 2, expiry_policy: 'never', capabilities: ['topic', ...(shared ? ['shared'] : []), ...(global ? ['global'] : [])], filter: echo };
  }
  const address = resolveTerminus(ctx, src.address, caps);
  if (src.distribution_mode === 'copy') {
    if (address.kind !== 'queue') throw new BrokerError('invalid', 'Browsing (distribution-mode copy) is for queues');
    ctx.engine.authorize(conn.principal, 'browse', address);
    if (selector) ctx.engine.browse(address, { selector, limit: 0 }); // validates the selector
    link.browser = { address, selector, offset: 0 };
    link.presettled = true;
    link.r.local.attach.snd_settle_mode = 1;
    return { ...base, address: src.address, distribution_mode: 'copy', capabilities: caps.filter((c) => c === 'queue' || c === 'temporary-queue'), filter: filterEcho };
  }
  const durable = address.kind === 'topic' && ((src.durable ?? 0) > 0 || src.expiry_policy === 'never');
  if (address.kind === 'topic' && durable) {
    if (!shared && !ctx.containerId) throw new BrokerError('invalid', 'A durable subscription needs a container-id');
    link.durable = { clientId: ctx.containerId, name: subName, shared: group };
    link.consumer = await ctx.engine.subscribe({ ...common, address, durable: { name: subName, clientId: ctx.containerId }, shared: group });
  } else if (address.kind === 'topic' && shared) {
    link.consumer = await ctx.engine.subscribe({ ...common, address, shared: group });
  } else {
    link.consumer = await ctx.engine.subscribe({ ...common, address });
  }
  const kindCaps = caps.filter((c) => c === 'queue' || c === 'topic' || c === 'temporary-queue' || c === 'temporary-topic' || c === 'shared' || c === 'global');
  return { ...base, address: src.address, capabilities: kindCaps.length ? kindCaps : [address.kind], filter: filterEcho };
}

/** The engine closed the consumer (queue deleted, subscription removed): detach with an error. */
export function consumerClosed(ctx: AmqpContext, l: OutLink, reason: string, cause?: KillCause): void {
  if (l.state === 'closed') return;
  l.consumer = null;
  l.state = 'closed';
  ctx.links.delete(l.r);
  // a revoked right detaches only this link (AMQP 1.0 §2.8.15 amqp:unauthorized-access); the connection stays
  if (!l.r.is_itself_closed()) l.r.close({ condition: cause === 'unauthorized' ? 'amqp:unauthorized-access' : 'amqp:resource-deleted', description: reason });
}

/** The selector and no-local filters of a source, and what to echo back (the filters in force). */
function parseFilters(filter: Record<string, unknown> | null | undefined): { selector?: string; noLocal: boolean; filterEcho?: Record<string, Typed> } {
  if (!filter || typeof filter !== 'object') return { noLocal: false };
  let selector: string | undefined;
  let noLocal = false;
  const echo: Record<string, Typed> = {};
  for (const [key, raw] of Object.entries(filter)) {
    const t = raw as Typed | null;
    const d = t && typeof t === 'object' ? t.descriptor : undefined;
    const dv = d?.value;
    if (dv === SELECTOR_FILTER || (typeof dv === 'string' && SELECTOR_SYMBOLS.has(dv))) {
      const s = t?.value;
      if (typeof s === 'string' && s.trim()) {
        selector = s;
        echo[key] = rheaTypes.wrap_described(s, SELECTOR_FILTER);
      }
    } else if (dv === NO_LOCAL_FILTER || (typeof dv === 'string' && NO_LOCAL_SYMBOLS.has(dv))) {
      noLocal = true;
      echo[key] = rheaTypes.described(rheaTypes.wrap_ulong(NO_LOCAL_FILTER), rheaTypes.wrap_list([]));
    }
  }
  return { selector, noLocal, filterEcho: Object.keys(echo).length ? echo : undefined };
}

function renderTopic(pattern: string, defaultKind: DestinationKind): string {
  return defaultKind === 'topic' ? pattern : `topic://${pattern}`;
}
