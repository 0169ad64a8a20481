/**
 * A local transaction: sends are buffered and acks are taken off the books; commit makes all of them
 * durable in one store commit (atomic), rollback discards the sends and redelivers what was acked.
 *
 * Two-phase (XA): `prepare(key)` makes the transaction durable as a key/value record (`txn.prepared:<key>`: its
 * sends, and its acks as queue + seq) and parks the acked entries in their queues (out of dispatch) until it
 * ends. Commit then enqueues the sends, removes the acked entries and deletes the record in one store commit;
 * rollback deletes the record and returns the entries. After a restart the engine rebuilds each prepared
 * transaction from its record (`recoverPrepared`), parking the entries again before its queues page them in.
 */
import { formatAddress, parseAddress, type Address } from './address.js';
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
  commit(batch: Command[]): Promise<void>;
  /** Mirror committed key/value changes in the engine's state (`value` undefined: deleted). */
  applyKv(changes: Array<{ key: string; value?: unknown }>): void;
  /** The engine's registry of prepared transactions: `live` true once prepared, false once ended. */
  trackPrepared(t: Transaction, live: boolean): void;
  isPrepared(key: string): boolean;
}

export const PREPARED_PREFIX = 'txn.prepared:';

/** The durable record of a prepared transaction (a kv value). */
export interface PreparedRecord {
  sends: Array<{ message: Message; address: string; retain: boolean }>;
  /** Acked entries: storage queue name and seq. */
  acks: Array<{ queue: string; seq: number }>;
}

export class Transaction {
  private static nextId = 1;
  readonly id = Transaction.nextId++;
  private sends: Array<{ message: Message; address: Address; retain: boolean }> = [];
  private acks: Array<{ queue: CoreQueue; entry: Entry }> = [];
  /** Prepared: the acked entries, parked in their queues by seq. */
  private locked: Array<{ queue: CoreQueue; seq: number }> = [];
  /** Prepared: its key (the record is `PREPARED_PREFIX + key`). */
  preparedKey: string | null = null;
  state: 'active' | 'prepared' | 'committed' | 'rolled-back' = 'active';

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

  /**
   * Phase one: durable record, acked entries parked. Afterwards no more sends or acks; commit or rollback end
   * it, from this handle or (another connection, after a restart) the engine's `preparedTransaction(key)`.
   */
  async prepare(key: string): Promise<void> {
    this.check();
    if (this.engine.isPrepared(key)) throw new BrokerError('transaction', `A transaction ${key} is already prepared`);
    this.state = 'prepared';
    await enqueuesStored(this.acks);
    const record: PreparedRecord = {
      sends: this.sends.map((x) => ({ message: x.message, address: formatAddress(x.address), retain: x.retain })),
      // entries of non-persistent messages are not in the store: nothing of them to recover
      acks: this.acks.filter((a) => a.entry.persisted && !a.entry.withdrawn).map((a) => ({ queue: a.queue.storageName, seq: a.entry.seq })),
    };
    try {
      await this.engine.commit([{ t: 'kv.put', key: PREPARED_PREFIX + key, value: record }]);
    } catch (err) {
      this.state = 'active';
      throw err;
    }
    this.engine.applyKv([{ key: PREPARED_PREFIX + key, value: record }]);
    this.preparedKey = key;
    this.engine.trackPrepared(this, true);
    for (const a of this.acks) a.queue.lockEntry(a.entry);
    this.locked = this.acks.map((a) => ({ queue: a.queue, seq: a.entry.seq }));
    this.acks = [];
  }

  /** A transaction rebuilt from its record after a restart (the engine has parked its entries already). */
  static recovered(engine: TransactionHost, key: string, record: PreparedRecord, queueOf: (storageName: string) => CoreQueue | undefined): Transaction {
    const t = new Transaction(engine, null);
    t.state = 'prepared';
    t.preparedKey = key;
    t.sends = record.sends.map((x) => ({ message: x.message, address: parseAddress(x.address), retain: x.retain }));
    for (const a of record.acks) {
      const queue = queueOf(a.queue);
      if (queue) t.locked.push({ queue, seq: a.seq });
    }
    return t;
  }

  async commit(): Promise<void> {
    if (this.state === 'prepared') return this.commitPrepared();
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
    await enqueuesStored(acks);
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

  /** Phase two, commit: sends, removal of the parked entries and deletion of the record in one store commit. */
  private async commitPrepared(): Promise<void> {
    const key = PREPARED_PREFIX + this.preparedKey;
    this.state = 'committed';
    const plans: SendPlan[] = [];
    try {
      for (const s of this.sends) plans.push(await this.engine.planSend(s.message, s.address, s.retain, this.connection));
    } catch (err) {
      for (const p of plans) for (const r of p.release) r();
      this.state = 'prepared'; // still prepared: the coordinator may retry the commit or roll back
      throw err;
    }
    const ackCmds = this.locked.flatMap((l) => l.queue.lockedAckCommands(l.seq));
    try {
      await this.engine.executePlan(mergePlans(plans), [...ackCmds, { t: 'kv.delete', key }]);
    } catch (err) {
      this.state = 'prepared';
      throw err;
    }
    this.engine.applyKv([{ key }]);
    for (const l of this.locked) l.queue.settleLocked(l.seq, true);
    this.locked = [];
    this.sends = [];
    this.engine.trackPrepared(this, false);
  }

  /** Discard the sends, redeliver what was acked; a prepared transaction's record is deleted (durably) first. */
  rollback(): Promise<void> {
    if (this.state === 'prepared') return this.rollbackPrepared();
    if (this.state !== 'active') return Promise.resolve();
    this.state = 'rolled-back';
    this.sends = [];
    for (const a of this.acks) a.queue.returnEntry(a.entry, null, { countFailure: true, reason: 'transaction rolled back' });
    this.acks = [];
    return Promise.resolve();
  }

  private async rollbackPrepared(): Promise<void> {
    const key = PREPARED_PREFIX + this.preparedKey;
    this.state = 'rolled-back';
    try {
      await this.engine.commit([{ t: 'kv.delete', key }]);
    } catch (err) {
      this.state = 'prepared';
      throw err;
    }
    this.engine.applyKv([{ key }]);
    this.sends = [];
    for (const l of this.locked) l.queue.settleLocked(l.seq, false);
    this.locked = [];
    this.engine.trackPrepared(this, false);
  }
}

/**
 * Wait until the enqueues of the acked entries that were dispatched before their commit resolved are durable (or
 * withdrawn), so a transaction's acks are written after them (see Entry.committing).
 */
async function enqueuesStored(acks: Array<{ entry: Entry }>): Promise<void> {
  const pending = acks.flatMap((a) => (a.entry.committing ? [a.entry.committing] : []));
  if (pending.length) await Promise.all(pending);
}
