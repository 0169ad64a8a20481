/**
 * Settling received SQS messages by receipt handle: DeleteMessage acks, ChangeMessageVisibility extends the lease
 * (0 makes the message visible again at once), and their batch forms. A receipt that is no longer current is treated
 * as AWS does (deleteStale).
 */
import { BrokerError, type ConsumerHandle } from '../../src/core/api.js';
import { AwsError, sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { batchResult, checkBatch } from './batch.js';
import type { RequestContext, SqsQueues } from './queues.js';
import type { QueueState, Receipt } from './queue-state.js';
import { parseReceipt } from './receipt-handle.js';
import type { Receiver } from './receive.js';

export class Settler {
  /** Receipts deleted lately (delivery id → nonce; ids are engine-unique), so a repeated delete succeeds. */
  private readonly recentlyDeleted = new Map<number, string>();

  constructor(
    private readonly q: SqsQueues,
    private readonly receiver: Receiver,
  ) {}

  sweep(): void {
    if (this.recentlyDeleted.size > 50_000) this.recentlyDeleted.clear();
  }

  private async settleOne(name: string, handle: string, op: 'delete' | { visibility: number }): Promise<void> {
    const st = this.q.state(name);
    const parsed = parseReceipt(name, handle);
    let { id } = parsed;
    const { nonce } = parsed;
    let r = st.receipts.get(id);
    if (!r || r.nonce !== nonce) {
      if (op === 'delete') return this.deleteStale(st, handle, id, nonce);
      if (this.recentlyDeleted.get(id) === nonce) throw notChangeable(handle);
      const lapsed = st.lapsed.get(id);
      if (lapsed?.nonce !== nonce || this.q.isFifo(name)) throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
      // AWS, standard queue: a late change succeeds; when the message was received again since, it changes that
      // receive's visibility (checked against AWS by LocalStack's test_terminate_visibility_timeout_after_receive)
      const current = inFlightReceipt(st, lapsed.seq);
      if (!current) return;
      r = current;
      id = current.delivery.id;
    }
    const consumer = st.consumer;
    if (!consumer) throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
    if (op === 'delete') {
      st.dropReceipt(id);
      this.recentlyDeleted.set(id, nonce);
      try {
        const acked = consumer.ack(id);
        this.receiver.groupDone(st, r.groupId, false);
        await acked;
      } catch (err) {
        if (err instanceof BrokerError && err.code === 'not-found') throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
        throw err;
      }
      return;
    }
    if (op.visibility === 0) {
      st.dropReceipt(id);
      st.lapse(r);
      try {
        consumer.nack(id, { countFailure: true, delay: 0, reason: 'visibility timeout changed to 0' });
      } catch {
        throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
      }
      this.receiver.groupDone(st, r.groupId, true);
      return;
    }
    try {
      consumer.extendLease(id, op.visibility * 1000);
    } catch {
      throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
    }
  }

  /**
   * DeleteMessage with a receipt that is no longer current. As AWS (checked against it by LocalStack's test suite): a
   * repeated delete succeeds; on a standard queue a late or old receipt succeeds too and deletes the message (the
   * receipt lapsed: its visibility timeout ended or was set to 0; whether it was received again since or waits in the
   * queue); on a FIFO queue it is InvalidParameterValue "The receipt handle has expired."
   */
  private async deleteStale(st: QueueState, handle: string, id: number, nonce: string): Promise<void> {
    if (this.recentlyDeleted.get(id) === nonce) return;
    if (this.q.isFifo(st.name)) throw sqsError('InvalidParameterValue', `Value ${handle.slice(0, 200)} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`);
    const lapsed = st.lapsed.get(id);
    if (!lapsed || lapsed.nonce !== nonce) return; // forgotten (or never ours to delete): success, "might not be deleted"
    st.lapsed.delete(id);
    this.recentlyDeleted.set(id, nonce);
    const consumer = st.consumer;
    // received again: that receive's delivery is the message
    for (const r of st.receipts.values()) {
      if (r.delivery.seq !== lapsed.seq || !consumer) continue;
      st.dropReceipt(r.delivery.id);
      this.recentlyDeleted.set(r.delivery.id, r.nonce);
      await this.ackQuietly(consumer, r.delivery.id);
      return;
    }
    // fetched ahead for the next receive
    const i = st.held.findIndex((d) => d.seq === lapsed.seq);
    if (i >= 0 && consumer) {
      const [d] = st.held.splice(i, 1);
      await this.ackQuietly(consumer, d.id);
      return;
    }
    // back in the queue (false: gone already, or being handed to a receive this instant)
    await this.q.engine.removeMessage({ kind: 'queue', name: st.name }, lapsed.seq).catch((err) => {
      if (!(err instanceof BrokerError && err.code === 'not-found')) throw err;
    });
  }

  private async ackQuietly(consumer: ConsumerHandle, deliveryId: number): Promise<void> {
    try {
      await consumer.ack(deliveryId);
    } catch (err) {
      if (!(err instanceof BrokerError && err.code === 'not-found')) throw err;
    }
  }

  async deleteMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    await this.settleOne(name, p.str('ReceiptHandle'), 'delete');
    return {};
  }

  async changeMessageVisibility(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const handle = p.str('ReceiptHandle');
    const visibility = p.int('VisibilityTimeout', 0, 43200);
    await this.settleOne(name, handle, { visibility });
    return {};
  }

  /** All deletes of a batch are one engine transaction: one store commit, answered when it is durable. */
  async deleteMessageBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'DeleteMessageBatch');
    const st = this.q.state(name);
    const tx = this.q.engine.beginTransaction(this.q.connection ?? null);
    const outcomes: Array<AwsError | null> = [];
    const groups: Array<string | undefined> = [];
    /** Entries with a lapsed receipt (standard queue): deleted after the transaction, as DeleteMessage does. */
    const stale: Array<[index: number, id: number, nonce: string, handle: string]> = [];
    for (const e of entries) {
      const ep = p.sub(e, 'Entries');
      try {
        const handle = ep.str('ReceiptHandle');
        const { id, nonce } = parseReceipt(name, handle);
        const r = st.receipts.get(id);
        if (!r || r.nonce !== nonce) {
          if (this.recentlyDeleted.get(id) === nonce) {
            outcomes.push(null);
            continue;
          }
          // AWS's batch entry for a FIFO queue's expired receipt
          if (this.q.isFifo(name)) throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
          stale.push([outcomes.length, id, nonce, handle]);
          outcomes.push(null);
          continue;
        }
        if (!st.consumer) throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
        tx.ack(st.consumer, id);
        st.dropReceipt(id);
        this.recentlyDeleted.set(id, nonce);
        groups.push(r.groupId);
        outcomes.push(null);
      } catch (err) {
        if (err instanceof AwsError) outcomes.push(err);
        else if (err instanceof BrokerError && err.code === 'not-found') outcomes.push(sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.'));
        else {
          tx.rollback();
          throw err;
        }
      }
    }
    for (const g of groups) this.receiver.groupDone(st, g, false);
    if (tx.pendingAcks > 0) await tx.commit();
    for (const [i, id, nonce, handle] of stale) {
      try {
        await this.deleteStale(st, handle, id, nonce);
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        outcomes[i] = err;
      }
    }
    return batchResult(entries, outcomes);
  }

  async changeMessageVisibilityBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'ChangeMessageVisibilityBatch');
    return this.batchSettle(p, entries, (ep) => this.settleOne(name, ep.str('ReceiptHandle'), { visibility: ep.int('VisibilityTimeout', 0, 43200) }));
  }

  private async batchSettle(p: Params, entries: unknown[], op: (ep: Params) => Promise<void>): Promise<Record<string, unknown>> {
    const outcomes = await Promise.all(
      entries.map(async (e) => {
        const ep = p.sub(e, 'Entries');
        try {
          await op(ep);
          return null;
        } catch (err) {
          if (err instanceof AwsError) return err;
          throw err;
        }
      }),
    );
    return batchResult(entries, outcomes);
  }
}

/** AWS's answer to a visibility change of a message that was deleted. */
function notChangeable(handle: string): AwsError {
  return sqsError('InvalidParameterValue', `Value ${handle.slice(0, 200)} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`);
}

/** The current receipt of the message at `seq`, if it is in flight. */
function inFlightReceipt(st: QueueState, seq: number): Receipt | undefined {
  for (const r of st.receipts.values()) if (r.delivery.seq === seq) return r;
  return undefined;
}
