/**
 * A local transaction: sends are buffered and acks are taken off the books; commit makes all of them
 * durable in one store commit (atomic), rollback discards the sends and redelivers what was acked.
 */
import type { Address } from './address.js';
import type { Connection } from './connection.js';
import type { Consumer } from './consumer.js';
import type { ConsumerHandle } from './api.js';
import { mergePlans, type SendPlan } from './plan.js';
import { BrokerError } from './errors.js';
import type { Message } from './message.js';
import type { CoreQueue, Entry } from './queue.js';
import type { Command } from './store.js';

/** What a transaction needs of the engine that runs it. */
export interface TransactionHost {
  planSend(message: Message, address: Address, retain: boolean, conn: Connection | null): Promise<SendPlan>;
  executePlan(plan: SendPlan, extra: Command[]): Promise<void>;
  takeDelivery(consumer: Consumer<CoreQueue>, deliveryId: number): { queue: CoreQueue; entry: Entry };
}

export class Transaction {
  private static nextId = 1;
  readonly id = Transaction.nextId++;
  private sends: Array<{ message: Message; address: Address; retain: boolean }> = [];
  private acks: Array<{ queue: CoreQueue; entry: Entry }> = [];
  state: 'active' | 'committed' | 'rolled-back' = 'active';

  constructor(private readonly engine: TransactionHost, readonly connection: Connection | null) {}

  get pendingSends(): number {
    return this.sends.length;
  }
  get pendingAcks(): number {
    return this.acks.length;
  }

  private check(): void {
    if (this.state !== 'active') throw new BrokerError('transaction', `Transaction ${this.id} is already ${this.state}`);
  }

  addSend(message: Message, address: Address, retain: boolean): void {
    this.check();
    this.sends.push({ message, address, retain });
  }

  /** Acknowledge within the transaction: the delivery leaves the consumer now, the queue at commit. */
  ack(consumer: ConsumerHandle, deliveryId: number): void {
    this.check();
    // only the engine makes consumers: every handle is one of its Consumers
    this.acks.push(this.engine.takeDelivery(consumer as Consumer<CoreQueue>, deliveryId));
  }

  async commit(): Promise<void> {
    this.check();
    this.state = 'committed';
    const sends = this.sends;
    const acks = this.acks;
    this.sends = [];
    this.acks = [];
    const plans: SendPlan[] = [];
    try {
      for (const s of sends) plans.push(await this.engine.planSend(s.message, s.address, s.retain, this.connection));
    } catch (err) {
      for (const p of plans) for (const r of p.release) r();
      for (const a of acks) a.queue.returnEntry(a.entry, null, { countFailure: true, reason: 'transaction failed' });
      throw err;
    }
    const ackCmds: Command[] = acks.flatMap((a) => a.queue.ackCommands(a.entry));
    const merged: SendPlan = mergePlans(plans);
    try {
      await this.engine.executePlan(merged, ackCmds);
    } catch (err) {
      for (const a of acks) a.queue.returnEntry(a.entry, null, { countFailure: false });
      throw err;
    }
    for (const a of acks) a.queue.applyAck(a.entry, null);
  }

  rollback(): void {
    if (this.state !== 'active') return;
    this.state = 'rolled-back';
    this.sends = [];
    for (const a of this.acks) a.queue.returnEntry(a.entry, null, { countFailure: true, reason: 'transaction rolled back' });
    this.acks = [];
  }
}
