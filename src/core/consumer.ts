/**
 * A consumer attached to one CoreQueue (a queue, or the queue behind a topic subscription).
 * Credit: in prefetch mode the engine keeps at most `prefetch` deliveries unsettled (credit comes back
 * on each settlement, as JMS prefetch / MQTT receive-maximum); in explicit mode only `addCredit` gives
 * credit (AMQP link credit, SQS receive).
 */
import type { ConnectionHandle, Delivery, KillCause, NackOptions, QueueView } from './api.js';
import type { Entry } from './entry.js';
import type { DeliverySelector } from './selector.js';
import { BrokerError } from './errors.js';

/** What a consumer asks of the queue it reads (CoreQueue implements it). */
export interface ConsumerQueue extends QueueView {
  scheduleDispatch(): void;
  dispatch(): void;
  ack(deliveryId: number): Promise<void>;
  nack(deliveryId: number, opts?: NackOptions): void;
  extendLease(deliveryId: number, ms: number): void;
  markHandedOut(deliveryIds: readonly number[]): void;
  removeConsumer(c: Consumer, countFailures?: boolean): void;
}

export interface ConsumerHost<Q extends ConsumerQueue> {
  nextDeliveryId(): number;
  consumerClosed(c: Consumer<Q>): void;
}

export interface ConsumerInit<Q extends ConsumerQueue> {
  queue: Q;
  connection: ConnectionHandle | null;
  prefetch?: number;
  credit?: number;
  selector?: DeliverySelector;
  exclusive?: boolean;
  /** Higher first: a queue offers each message to its highest-priority consumers with room (ActiveMQ consumer.priority). */
  priority?: number;
  autoAck?: boolean;
  ackTimeout?: number;
  /** SubscribeOptions.readAhead: dispatches write no redelivery mark; `handedOut` does. */
  readAhead?: boolean;
  /** SubscribeOptions.durableLeases: extendLease also stores the lease's end as the entry's delivery time. */
  durableLeases?: boolean;
  onMessage: (d: Delivery) => void;
  onClose?: (reason: string, cause?: KillCause) => void;
  onLeaseExpired?: (d: Delivery) => void;
  /** The queue exists only for this consumer (non-durable topic subscription): deleted with it. */
  ownsQueue?: boolean;
}

export class Consumer<Q extends ConsumerQueue = ConsumerQueue> {
  private static nextId = 1;
  readonly id = Consumer.nextId++;
  readonly queue: Q;
  readonly connection: ConnectionHandle | null;
  credit: number;
  readonly prefetchMode: boolean;
  readonly prefetch: number;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly autoAck: boolean;
  readonly ackTimeout: number;
  readonly readAhead: boolean;
  readonly durableLeases: boolean;
  readonly ownsQueue: boolean;
  closed = false;
  private readonly selector?: DeliverySelector;
  private readonly onMessage: (d: Delivery) => void;
  private readonly onClose?: (reason: string, cause?: KillCause) => void;
  readonly onLeaseExpired?: (d: Delivery) => void;
  private readonly unsettled = new Set<number>();
  /** Unsettled deliveries the client has actually been handed (not still waiting on their mark commit). */
  private readonly seen = new Set<number>();
  private refused?: Set<number>;
  delivered = 0;

  constructor(readonly engine: ConsumerHost<Q>, init: ConsumerInit<Q>) {
    this.queue = init.queue;
    this.connection = init.connection;
    this.prefetchMode = init.prefetch !== undefined && init.prefetch > 0;
    this.prefetch = init.prefetch ?? 0;
    this.credit = this.prefetchMode ? this.prefetch : init.credit ?? 0;
    this.selector = init.selector;
    this.exclusive = init.exclusive ?? false;
    this.priority = init.priority ?? 0;
    this.autoAck = init.autoAck ?? false;
    this.ackTimeout = init.ackTimeout ?? 0;
    this.readAhead = init.readAhead ?? false;
    this.durableLeases = init.durableLeases ?? false;
    this.onMessage = init.onMessage;
    this.onClose = init.onClose;
    this.onLeaseExpired = init.onLeaseExpired;
    this.ownsQueue = init.ownsQueue ?? false;
  }

  /** Whether this consumer may take the entry (selector, undeliverable-here). */
  accepts(e: Entry): boolean {
    if (this.refused?.has(e.seq)) return false;
    return this.selector ? this.selector(e) : true;
  }

  refuse(seq: number): void {
    (this.refused ??= new Set()).add(seq);
  }

  deliver(d: Delivery): void {
    this.delivered++;
    if (this.unsettled.has(d.id)) this.seen.add(d.id);
    this.onMessage(d);
  }

  track(id: number): void {
    this.unsettled.add(id);
  }
  untrack(id: number): void {
    this.unsettled.delete(id);
    this.seen.delete(id);
  }

  /** Unsettled delivery ids, oldest first. */
  get unsettledIds(): number[] {
    return [...this.unsettled];
  }

  addCredit(n: number): void {
    if (this.closed) return;
    this.credit += n;
    this.queue.scheduleDispatch();
  }

  setCredit(n: number): void {
    if (this.closed) return;
    this.credit = n;
    if (n > 0) this.queue.scheduleDispatch();
  }

  /** Deliver what is available within the current credit now, then give up the rest (AMQP drain). Returns the credit given up. */
  drain(): number {
    this.queue.dispatch();
    const left = Math.max(0, this.credit);
    this.credit = 0;
    return left;
  }

  ack(deliveryId: number): Promise<void> {
    try {
      this.checkOwn(deliveryId);
    } catch (err) {
      return Promise.reject(err);
    }
    // the queue's own promise: the acks of one tick share it (CoreQueue.commitAck), so an adapter can wait once
    return this.queue.ack(deliveryId);
  }

  /** Cumulative ack (STOMP `client`, MQTT-style): every unsettled delivery up to and including `deliveryId`. */
  async ackUpTo(deliveryId: number): Promise<void> {
    this.checkOwn(deliveryId);
    const ids = this.unsettledIds.filter((id) => id <= deliveryId && this.seen.has(id));
    await Promise.all(ids.map((id) => this.queue.ack(id)));
  }

  nack(deliveryId: number, opts?: NackOptions): void {
    this.checkOwn(deliveryId);
    this.queue.nack(deliveryId, opts);
  }

  extendLease(deliveryId: number, ms: number): void {
    this.checkOwn(deliveryId);
    this.queue.extendLease(deliveryId, ms);
  }

  handedOut(deliveryIds: readonly number[]): void {
    const mine = deliveryIds.filter((id) => this.unsettled.has(id));
    if (mine.length) this.queue.markHandedOut(mine);
  }

  owns(deliveryId: number): boolean {
    return this.unsettled.has(deliveryId);
  }

  private checkOwn(deliveryId: number): void {
    if (!this.unsettled.has(deliveryId)) {
      throw new BrokerError('not-found', `Delivery ${deliveryId} is not unsettled on this consumer (already settled, or its lease expired)`);
    }
  }

  /**
   * Detach. Unsettled deliveries go back to the queue flagged redelivered; `countFailures` also counts
   * them as failed attempts (JMS session recover / rollback semantics).
   */
  close(opts: { countFailures?: boolean; reason?: string; notify?: boolean; cause?: KillCause } = {}): void {
    if (this.closed) return;
    this.closed = true;
    this.credit = 0;
    this.queue.removeConsumer(this, opts.countFailures ?? false);
    this.engine.consumerClosed(this);
    if (opts.notify) this.onClose?.(opts.reason ?? 'closed', opts.cause);
  }
}
