/**
 * ACK / NACK.
 *
 * STOMP 1.2 "ACK": names the message by the MESSAGE's `ack` header (`id`, REQUIRED: one naming it by `message-id`
 * only is refused with ERROR, as RabbitMQ 3.10 and ActiveMQ 5.17 do); 1.0/1.1 by `message-id` (and 1.1
 * `subscription`). "SUBSCRIBE ack Header": with ack:client an ACK is cumulative (everything that
 * subscription received up to the message), with client-individual it covers that message only.
 * "NACK": the message was not consumed (here: back to the queue, counted as a failed delivery).
 * With `transaction`, both are settled at COMMIT (the ACKs in the engine transaction, the NACKs once it committed);
 * ABORT undoes them: the messages stay delivered and unacknowledged, so the client can settle them again by the
 * same ids (RabbitMQ 3.10 and ActiveMQ 5.17 do the same; redelivering them instead left a 1.2 client's ack ids dead).
 */
import { header, type StompFrame } from '../frame.js';
import { covered, replenish, untrack } from '../delivery.js';
import { clip, FrameError, missing, type Pending, type StompContext, type Sub } from '../context.js';
import { getTx } from './transaction.js';

export function findPending(ctx: StompContext, f: StompFrame): Pending {
  const ackId = header(f, 'id');
  if (ackId !== undefined && /^\d{1,15}$/.test(ackId)) {
    const p = ctx.pending.get(Number(ackId));
    if (p) return p;
  }
  if (ctx.version === '1.2') {
    if (ackId === undefined) {
      const hint = header(f, 'message-id') !== undefined ? " (STOMP 1.2 names the message by the 'ack' header of its MESSAGE, not by message-id)" : '';
      throw new FrameError(`Missing header 'id'`, `The ${f.command} frame needs the 'id' header${hint}.`);
    }
    throw unexpected(f, `ack id '${clip(ackId, 60)}'`);
  }
  const messageId = header(f, 'message-id');
  const subId = header(f, 'subscription');
  if (messageId !== undefined) {
    if (subId !== undefined) {
      const sub = ctx.subs.get(subId);
      const p = sub && byMessageId(sub, messageId);
      if (p) return p;
    } else {
      for (const sub of ctx.subs.values()) {
        const p = byMessageId(sub, messageId);
        if (p) return p;
      }
    }
  }
  if (ackId === undefined && messageId === undefined) throw missing(f.command, 'message-id');
  throw unexpected(f, ackId !== undefined ? `ack id '${clip(ackId, 60)}'` : `message-id '${clip(messageId!, 80)}'${subId !== undefined ? ` on subscription '${clip(subId, 60)}'` : ''}`);
}

function unexpected(f: StompFrame, what: string): FrameError {
  return new FrameError(
    `Unexpected ${f.command}`,
    `There is no unacknowledged message with ${what} on this connection: it was already acknowledged, its subscription uses ack:auto or was closed, or its lease expired.`,
  );
}

/** The latest unacknowledged delivery of `messageId` on `sub` (STOMP 1.0/1.1; 1.2 keeps no such index). */
function byMessageId(sub: Sub, messageId: string): Pending | undefined {
  const id = sub.byMessageId.get(messageId);
  return id === undefined ? undefined : sub.unacked.get(id);
}

export function onAck(ctx: StompContext, f: StompFrame, positive: boolean): void {
  const target = findPending(ctx, f);
  const sub = target.sub;
  const consumer = sub.consumer!;
  const txId = header(f, 'transaction');
  const t = txId !== undefined ? getTx(ctx, txId) : undefined;
  if (t) {
    // a cumulative one is expanded at COMMIT: what precedes the target then is what preceded it now, less what was
    // settled since (and one list per ACK would grow with the square of the messages ACKed one by one)
    t.settles.push({ target, cumulative: sub.ackMode === 'client', positive });
    const receipt = header(f, 'receipt');
    if (receipt !== undefined) ctx.receipt(receipt);
    return;
  }
  const list = covered(target, sub.ackMode === 'client');
  let waits: Promise<void>[] | null = null;
  for (const p of list) {
    untrack(ctx, p);
    if (!positive) consumer.nack(p.id, { countFailure: true, reason: 'NACK from STOMP client' });
    else (waits ??= []).push(consumer.ack(p.id));
  }
  replenish(ctx, sub);
  const receipt = header(f, 'receipt');
  if (waits === null) {
    if (receipt !== undefined) ctx.receipt(receipt);
    return;
  }
  const done: Promise<unknown> = waits.length === 1 ? waits[0]! : Promise.all(waits);
  // The acks of one read share their queue's commit promise: without a receipt to write, one wait for it
  // (an error, the first ACK's frame in the ERROR; DISCONNECT's wait for in-flight work) serves them all.
  if (receipt === undefined && done === ctx.lastAckWait) return;
  ctx.lastAckWait = done;
  ctx.ops++;
  done.then(
    () => {
      ctx.opDone();
      if (receipt !== undefined) ctx.receipt(receipt);
    },
    (err: unknown) => {
      ctx.opDone();
      ctx.fail(err, f);
    },
  );
}

