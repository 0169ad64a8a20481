/**
 * The consumers of one OpenWire connection: ConsumerInfo → engine.subscribe (or browse, or an advisory
 * subscription), deliveries → MessageDispatch, MessageAck / MessagePull → settlement and credit.
 *
 * Flow control mirrors ActiveMQ's prefetch: each consumer has explicit engine credit, starting at prefetchSize;
 * a delivery's credit comes back once the client reports it delivered (DELIVERED ack) or settles it, whichever
 * is first — so a CLIENT_ACKNOWLEDGE or transacted consumer can receive beyond its prefetch, as with ActiveMQ.
 * Prefetch 0 gives one credit per MessagePull; a pull that times out is answered with an empty dispatch.
 *
 * Redelivery after `session.recover()` or a transaction rollback is done by the client from its own buffer
 * (ActiveMQ clients do that); the broker sees a REDELIVERED ack (informational) or, past the client's redelivery
 * policy, a POISON ack, which dead-letters the messages.
 */
import type { Logger } from 'pino';
import { isWildcard, matchTopic, parseAddress, type Address, type ConnectionHandle, type ConsumerHandle, type Delivery, type EngineApi, type EngineEvents, type Message } from '../../src/core/api.js';
import type { ConsumerId, ConsumerInfo, Destination, MessageAck, MessageDispatch, MessagePull, Message as OwMessage } from './commands.js';
import type { AckBatcher } from './ack-batcher.js';
import { AdvisoryHub } from './advisories.js';
import { JmsError, INVALID_DESTINATION, JMS_EXCEPTION } from './exceptions.js';
import { messageIdKey, toAddress, toOpenWireMessage } from './mapping.js';
import { DataType } from './schema.js';

export const ACK_DELIVERED = 0;
export const ACK_POISON = 1;
export const ACK_STANDARD = 2;
export const ACK_REDELIVERED = 3;
export const ACK_INDIVIDUAL = 4;
export const ACK_UNMATCHED = 5;
export const ACK_EXPIRED = 6;

/** What consumers need of their connection. */
export interface ConsumerHost {
  readonly engine: EngineApi;
  readonly logger: Logger;
  readonly advisories: AdvisoryHub;
  readonly acks: AckBatcher;
  readonly connection: ConnectionHandle;
  readonly maxPrefetch: number;
  /** Clientid of the connection (durable subscriptions). */
  readonly clientId: string | undefined;
  dispatch(md: MessageDispatch): void;
  /** The broker closed this consumer because its user may no longer read the destination. */
  revoked(consumer: OwConsumer, reason: string): void;
}

interface Dispatched {
  deliveryId: number;
  credited: boolean;
  /** The engine consumer it came from (one of several for a wildcard or composite queue consumer). */
  handle: ConsumerHandle;
}

/** Messages a QueueBrowser gets per event-loop turn. */
const BROWSE_PAGE = 500;

/** The ActiveMQ message of a core message, built once and shared by every delivery of it. */
const converted = new WeakMap<Message, OwMessage>();

export function consumerKey(id: ConsumerId | null): string {
  return id ? `${id.connectionId}:${id.sessionId}:${id.value}` : 'null';
}

export class OwConsumer {
  /**
   * Its engine consumers: one, or for a queue consumer on a wildcard (`orders.>`) or a composite (`a,b`) one per queue
   * it reads, as ActiveMQ's broker consumes from every matching queue (also one created later). Each gets the whole
   * prefetch as credit (the client takes what comes), and a delivery's credit goes back to the consumer that spent it.
   */
  readonly handles: ConsumerHandle[] = [];
  private unwatch: (() => void) | null = null;
  /** Dispatched and not settled, by OpenWire message id, in dispatch order. */
  readonly dispatched = new Map<string, Dispatched>();
  closed = false;
  private pullTimer: NodeJS.Timeout | null = null;
  private unsubscribeAdvisory: (() => void) | null = null;

  constructor(
    private readonly host: ConsumerHost,
    readonly info: ConsumerInfo,
  ) {}

  get key(): string {
    return consumerKey(this.info.consumerId);
  }

  get pullMode(): boolean {
    return this.info.prefetchSize === 0;
  }

  async open(): Promise<void> {
    const { info, host } = this;
    if (AdvisoryHub.isAdvisory(info.destination)) {
      const topics = info.destination!.physicalName!.split(',').map((p) => p.trim());
      this.unsubscribeAdvisory = host.advisories.subscribe({ topics, deliver: (m) => this.send(m, 0) });
      return;
    }
    const address = toAddress(info.destination);
    if (info.browser) {
      if (address.kind !== 'queue') throw new JmsError(INVALID_DESTINATION, 'Only queues can be browsed');
      // a QueueBrowser reads the queue: `read` (browse), like a consumer (docs/security.md); the engine's browse
      // takes no connection, so the check is here
      host.engine.authorize(host.connection.principal, 'browse', address, host.connection);
      const selector = info.selector ?? undefined;
      // The whole queue, a page at a time (the engine's browse stops at a limit: a QueueBrowser used to end after
      // 1,000 messages); the first page here, so a bad selector fails the ConsumerInfo.
      let page = host.engine.browse(address, { selector, limit: BROWSE_PAGE });
      let offset = 0;
      // Dispatch after the Response, like ActiveMQ: the client registers the browser when the call returns.
      const next = () => {
        if (this.closed) return;
        for (const b of page) this.send(this.convert(b.message), b.deliveryCount || (b.redelivered ? 1 : 0));
        if (page.length < BROWSE_PAGE) return this.end();
        offset += page.length;
        page = host.engine.browse(address, { selector, limit: BROWSE_PAGE, offset });
        setImmediate(next);
      };
      setImmediate(next);
      return;
    }
    const parts = info.subscriptionName ? null : fanInParts(address); // a durable subscription stays one (engine) subscription
    if (parts) {
      await this.openFanIn(parts);
      return;
    }
    const durable = info.subscriptionName && address.kind === 'topic' ? { name: info.subscriptionName, clientId: host.clientId } : undefined;
    // ActiveMQ's words (TempTopicRegion): the subscription would outlive the topic
    if (durable && address.temporary) throw new JmsError(JMS_EXCEPTION, 'A durable subscription cannot be created for a temporary topic.');
    const handle = await this.subscribePart(address, durable, (reason, cause) => {
      host.logger.debug({ consumer: this.key, reason }, 'openwire: consumer closed by the broker');
      if (cause === 'unauthorized') host.revoked(this, reason);
    });
    this.handles.push(handle);
    if (this.closed) handle.close();
  }

  private subscribePart(address: Address, durable: { name: string; clientId: string | undefined } | undefined, onClose: (reason: string, cause?: string) => void): Promise<ConsumerHandle> {
    const { info, host } = this;
    return host.engine.subscribe({
      address,
      connection: host.connection,
      credit: Math.min(Math.max(info.prefetchSize, 0), host.maxPrefetch),
      selector: info.selector ?? undefined,
      exclusive: info.exclusive,
      priority: info.priority,
      noLocal: info.noLocal,
      durable,
      onMessage: (d) => this.onDelivery(d),
      onClose,
    });
  }

  /**
   * A consumer on several queues. Explicit parts must subscribe (their errors fail the ConsumerInfo); a wildcard part
   * reads every queue that matches it now and every one created later, skipping those its user may not read.
   */
  private async openFanIn(parts: Address[]): Promise<void> {
    const { host } = this;
    const patterns = parts.filter((a) => a.kind === 'queue' && isWildcard(a.name)).map((a) => a.name);
    // a user who may read nothing under a pattern is refused (JMSSecurityException), not given a consumer that gets nothing
    for (const name of patterns) host.engine.authorize(host.connection.principal, 'consume', { kind: 'queue', name }, host.connection);
    const attached = new Set<string>();
    const attach = async (a: Address, optional: boolean): Promise<void> => {
      const key = `${a.kind}:${a.name}`;
      if (this.closed || attached.has(key)) return;
      attached.add(key);
      let handle: ConsumerHandle;
      try {
        handle = await this.subscribePart(a, undefined, () => {
          // its queue was deleted (or its right revoked): the other queues go on
          const i = this.handles.indexOf(handle);
          if (i >= 0) this.handles.splice(i, 1);
          attached.delete(key);
        });
      } catch (err) {
        attached.delete(key);
        if (optional) return host.logger.debug({ consumer: this.key, queue: a.name, err }, 'openwire: wildcard consumer skips a queue');
        throw err;
      }
      if (this.closed) return handle.close();
      this.handles.push(handle);
    };
    if (patterns.length > 0) {
      const onCreated = (e: EngineEvents['destination.created']): void => {
        if (e.kind !== 'queue' || !patterns.some((p) => matchTopic(p, e.name)) || host.engine.isTemporaryQueue(e.name)) return;
        void attach({ kind: 'queue', name: e.name }, true);
      };
      this.unwatch = watchCreations(host.engine, onCreated);
    }
    for (const a of parts) if (!(a.kind === 'queue' && isWildcard(a.name))) await attach(a, false);
    for (const d of host.engine.listDestinations()) {
      if (d.kind === 'queue' && d.role === 'queue' && patterns.some((p) => matchTopic(p, d.name))) await attach({ kind: 'queue', name: d.name }, true);
    }
  }

  private convert(m: Message): OwMessage {
    let c = converted.get(m);
    if (!c) {
      c = toOpenWireMessage(m);
      converted.set(m, c);
    }
    return c;
  }

  private onDelivery(d: Delivery): void {
    if (this.closed) return;
    if (this.pullTimer) {
      clearTimeout(this.pullTimer);
      this.pullTimer = null;
    }
    const m = this.convert(d.message);
    this.dispatched.set(messageIdKey(m.messageId), { deliveryId: d.id, credited: false, handle: d.consumer });
    this.send(m, d.deliveryCount || (d.redelivered ? 1 : 0), d.id);
  }

  /**
   * `deliveryId` rides as the MessageId's brokerSequenceId: the client names the last one it handed to the
   * application in the RemoveInfo that closes the consumer (lastDeliveredSequenceId), see close().
   */
  private send(base: OwMessage, redeliveryCounter: number, deliveryId = 0): void {
    const info = this.info;
    let destination: Destination | null = base.destination ?? info.destination;
    // The engine renders temporary destinations as plain ones: give the consumer its own back.
    if (destination && info.destination && destination.physicalName === info.destination.physicalName) destination = info.destination;
    const messageId = base.messageId && deliveryId > 0 ? { ...base.messageId, brokerSequenceId: BigInt(deliveryId) } : base.messageId;
    const message = { ...base, destination, redeliveryCounter, messageId } as OwMessage;
    if (base.groupID != null && deliveryId > 0) message.jmsxGroupFirstForConsumer = this.firstOfGroup(base.groupID, base.groupSequence);
    this.host.dispatch({ type: DataType.MESSAGE_DISPATCH, commandId: 0, responseRequired: false, consumerId: info.consumerId, destination, message, redeliveryCounter });
  }

  /** Message groups this consumer has been given a message of (JMSXGroupFirstForConsumer), until a group closes. */
  private groups: Set<string> | null = null;

  /**
   * JMSXGroupFirstForConsumer: true on the first message of a group this consumer gets — also when the group comes to
   * it from a consumer that closed, and after the group was closed (JMSXGroupSeq -1) — as ActiveMQ's broker sets it.
   */
  private firstOfGroup(groupId: string, groupSeq: number): boolean {
    const groups = (this.groups ??= new Set());
    const first = !groups.has(groupId);
    if (groupSeq === -1) groups.delete(groupId);
    else groups.add(groupId);
    return first;
  }

  /** The empty dispatch that ends a browse or answers a pull that timed out. */
  private end(): void {
    this.host.dispatch({ type: DataType.MESSAGE_DISPATCH, commandId: 0, responseRequired: false, consumerId: this.info.consumerId, destination: this.info.destination, message: null, redeliveryCounter: 0 });
  }

  /**
   * A new prefetch (ConsumerControl). The consumer's credit becomes what the new prefetch leaves after the deliveries
   * whose credit has not come back yet; a switch to or from 0 switches pull mode too.
   */
  setPrefetch(prefetch: number): void {
    this.info.prefetchSize = Math.min(Math.max(prefetch, 0), this.host.maxPrefetch);
    if (this.handles.length === 0 || this.closed) return;
    if (this.pullMode) {
      for (const h of this.handles) h.setCredit(0); // from now on one credit per MessagePull
      return;
    }
    if (this.pullTimer) {
      clearTimeout(this.pullTimer);
      this.pullTimer = null;
    }
    for (const h of this.handles) {
      let outstanding = 0;
      for (const d of this.dispatched.values()) if (!d.credited && d.handle === h) outstanding++;
      h.setCredit(Math.max(0, this.info.prefetchSize - outstanding));
    }
  }

  pull(p: MessagePull): void {
    const hs = this.handles;
    if (hs.length === 0 || this.closed || !this.pullMode) return;
    for (const h of hs) if (h.credit === 0) h.addCredit(1);
    const timeout = Number(p.timeout);
    if (timeout === 0) return; // receive(): wait as long as it takes
    if (this.pullTimer) clearTimeout(this.pullTimer);
    this.pullTimer = setTimeout(() => {
      this.pullTimer = null;
      if (this.closed) return;
      let left = 0;
      for (const h of this.handles) left += h.drain();
      if (left > 0) this.end();
    }, timeout > 0 ? timeout : 10);
  }

  /** The dispatched entries an ack covers: from its firstMessageId (or the oldest) through its lastMessageId. */
  private range(ack: MessageAck, fromOldest: boolean): Array<[string, Dispatched]> {
    const last = messageIdKey(ack.lastMessageId);
    if (!this.dispatched.has(last)) return [];
    const first = ack.firstMessageId ? messageIdKey(ack.firstMessageId) : undefined;
    const startAtFirst = !fromOldest && first !== undefined && this.dispatched.has(first);
    const out: Array<[string, Dispatched]> = [];
    let on = !startAtFirst;
    for (const e of this.dispatched) {
      if (!on && e[0] === first) on = true;
      if (on) out.push(e);
      if (e[0] === last) break;
    }
    return out;
  }

  private credit(entries: Array<[string, Dispatched]>): void {
    const back = this.closed || this.pullMode ? undefined : new Map<ConsumerHandle, number>();
    for (const [, d] of entries) {
      if (d.credited) continue;
      d.credited = true;
      back?.set(d.handle, (back.get(d.handle) ?? 0) + 1);
    }
    if (back) for (const [h, n] of back) h.addCredit(n);
  }

  /**
   * Settle what an ack covers. In a transaction (`tx` given) standard and individual acks are only noted:
   * the returned entries are acknowledged by the transaction at commit.
   */
  async ack(ack: MessageAck, tx: TxAcks | null): Promise<void> {
    if (this.handles.length === 0 && this.dispatched.size === 0) return; // advisory or browser consumer
    switch (ack.ackType) {
      case ACK_DELIVERED:
        this.credit(this.range(ack, true));
        return;
      case ACK_REDELIVERED:
        return; // the client redelivers from its own buffer
      case ACK_STANDARD:
      case ACK_INDIVIDUAL:
      case ACK_UNMATCHED: {
        const entries = ack.ackType === ACK_INDIVIDUAL ? this.single(ack) : this.range(ack, true);
        if (entries.length === 0) return;
        this.credit(entries);
        if (tx) {
          tx.add(this, entries.map(([k]) => k));
          return;
        }
        for (const [k] of entries) this.dispatched.delete(k);
        const settle = ack.ackType === ACK_INDIVIDUAL ? () => entries[0]![1].handle.ack(entries[0]![1].deliveryId) : () => ackUpTo(entries);
        // nobody waits for this ack: the engine call is held so its commit shares the next one (ack-batcher.ts)
        if (!ack.responseRequired) this.host.acks.defer(settle);
        else await settle();
        return;
      }
      case ACK_POISON:
      case ACK_EXPIRED: {
        const entries = this.range(ack, false);
        this.credit(entries);
        const reason = ack.ackType === ACK_EXPIRED ? 'expired' : (ack.poisonCause?.message ?? 'poison ack');
        for (const [k, d] of entries) {
          this.dispatched.delete(k);
          if (d.handle.owns(d.deliveryId)) d.handle.nack(d.deliveryId, { deadLetter: true, countFailure: true, reason });
        }
        return;
      }
      default:
        return;
    }
  }

  private single(ack: MessageAck): Array<[string, Dispatched]> {
    const k = messageIdKey(ack.lastMessageId);
    const d = this.dispatched.get(k);
    return d ? [[k, d]] : [];
  }

  /** Still-dispatched entries (a transaction's acks at commit), with their engine consumer; removes them. */
  take(keys: string[]): Array<[ConsumerHandle, number]> {
    const out: Array<[ConsumerHandle, number]> = [];
    for (const k of keys) {
      const d = this.dispatched.get(k);
      if (!d) continue;
      this.dispatched.delete(k);
      if (d.handle.owns(d.deliveryId)) out.push([d.handle, d.deliveryId]);
    }
    return out;
  }

  /**
   * `lastDelivered`: the RemoveInfo's lastDeliveredSequenceId, the last delivery the client handed to the application.
   * What it prefetched after that nobody saw: back to the queue not flagged redelivered and not counted, as
   * ActiveMQ's broker does, so the next consumer gets JMSRedelivered false and JMSXDeliveryCount 1 for it.
   */
  close(lastDelivered?: bigint): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pullTimer) clearTimeout(this.pullTimer);
    this.unsubscribeAdvisory?.();
    this.unwatch?.();
    if (lastDelivered !== undefined) {
      for (const d of this.dispatched.values()) {
        if (BigInt(d.deliveryId) > lastDelivered && d.handle.owns(d.deliveryId)) d.handle.nack(d.deliveryId, { countFailure: false, redelivered: false, reason: 'never delivered to the application' });
      }
    }
    for (const h of this.handles) h.close();
    this.dispatched.clear();
  }
}

/** One engine listener per engine for every wildcard consumer's watch (not one each: EventEmitter warns past 10). */
const creationWatchers = new WeakMap<EngineApi, Set<(e: EngineEvents['destination.created']) => void>>();

function watchCreations(engine: EngineApi, cb: (e: EngineEvents['destination.created']) => void): () => void {
  let set = creationWatchers.get(engine);
  if (!set) {
    const watchers = (set = new Set());
    creationWatchers.set(engine, watchers);
    engine.on('destination.created', (e) => {
      for (const w of watchers) w(e);
    });
  }
  set.add(cb);
  return () => set.delete(cb);
}

/** A cumulative ack over entries from one or (fan-in) several engine consumers: each acks up to its own last one. */
async function ackUpTo(entries: Array<[string, Dispatched]>): Promise<void> {
  const last = new Map<ConsumerHandle, number>();
  for (const [, d] of entries) last.set(d.handle, Math.max(last.get(d.handle) ?? 0, d.deliveryId));
  await Promise.all([...last].map(([h, id]) => h.ackUpTo(id)));
}

/**
 * The parts a consumer reads when it is more than one destination: a queue wildcard (`orders.>`), or a composite
 * (`queue://a,topic://b` as toAddress writes it, whose parts may be wildcards too). null for one queue or topic.
 */
function fanInParts(address: Address): Address[] | null {
  if (address.temporary) return null;
  if (address.name.includes(',')) return address.name.split(',').map((p) => parseAddress(p.trim(), address.kind));
  return address.kind === 'queue' && isWildcard(address.name) ? [address] : null; // topic wildcards are the engine's
}

/** The acks a local transaction has collected, per consumer, applied at commit. */
export class TxAcks {
  readonly acks: Array<{ consumer: OwConsumer; keys: string[] }> = [];
  add(consumer: OwConsumer, keys: string[]): void {
    this.acks.push({ consumer, keys });
  }
}
