/**
 * Settling received SQS messages by receipt handle: DeleteMessage acks, ChangeMessageVisibility extends the lease
 * (0 makes the message visible again at once), and their batch forms. A repeated delete of the same receipt
 * succeeds, as in AWS.
 */
import { BrokerError } from '../../src/core/api.js';
import { AwsError, sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { batchResult, checkBatch } from './batch.js';
import type { RequestContext, SqsQueues } from './queues.js';
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
    const { id, nonce } = parseReceipt(name, handle);
    const r = st.receipts.get(id);
    if (!r || r.nonce !== nonce) {
      if (op === 'delete') {
        if (this.recentlyDeleted.get(id) === nonce) return; // a retried delete of the same receipt succeeds, as in AWS
        throw sqsError('ReceiptHandleIsInvalid', `The receipt handle has expired: the message was received again or its visibility timeout ended.`);
      }
      throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
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
          throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired: the message was received again or its visibility timeout ended.');
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
