/**
 * A local transaction: sends are buffered and acks are taken off the books; commit makes all of them
 * durable in one store commit (atomic), rollback discards the sends and redelivers what was acked.
 */
import type { Address } from './address.js';
import type { Connection } from './connection.js';
import type { Consumer } from './consumer.js';
import { mergePlans, type Engine, type SendPlan } from './engine.js';
import { BrokerError } from './errors.js';
import type { Message } from './message.js';
import type { CoreQueue, Entry } from './queue.js';
import type { Command } from './store.js';

export class Transaction {
  private static nextId = 1;
  readonly id = Transaction.nextId++;
  private sends: Array<{ message: Message; address: Address; retain: boolean }> = [];
  private acks: Array<{ queue: CoreQueue; entry: Entry }> = [];
  state: 'active' | 'committed' | 'rolled-back' = 'active';

  constructor(private readonly engine: Engine, readonly connection: Connection | null) {}

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
  ack(consumer: Consumer, deliveryId: number): void {
    this.check();
    this.acks.push(this.engine.takeDelivery(consumer, deliveryId));
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
