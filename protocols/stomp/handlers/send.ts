/**
 * SEND: frames after it are not held back by it. A transactional SEND goes to its transaction at once; the
 * others of one socket read are started together as one engine sendMany (ctx.sends, flushed by the
 * connection at the end of the read and before any other frame), each answered on its own.
 *
 * STOMP 1.2 "SEND": `destination` is required; with `transaction` the message is buffered in that
 * transaction until COMMIT. STOMP 1.2 "RECEIPT": the receipt is written once engine.send resolved, so a
 * persistent message's receipt means it is durable. Too many SENDs (or bytes) in flight pause reading.
 */
import { header, type StompFrame } from '../frame.js';
import { sendToMessage } from '../mapping.js';
import { resolve } from '../destinations.js';
import { clip, FrameError, HOLD_SENDS, required, type StompContext } from '../context.js';
import { getTx } from './transaction.js';

export function onSend(ctx: StompContext, f: StompFrame): void {
  const conn = ctx.conn!;
  const dest = required(f, 'destination');
  const address = resolve(ctx, dest, false);
  const m = sendToMessage(f, ctx.sendCtx);
  const receipt = header(f, 'receipt');
  const txId = header(f, 'transaction');
  const size = f.body.length;
  if (txId !== undefined) {
    const t = getTx(ctx, txId);
    t.messages++;
    t.bytes += m.body.length;
    if (t.messages > ctx.opts.maxTransactionMessages || t.bytes > Math.max(ctx.opts.maxTransactionBytes, 2 * ctx.host.limits.maxFrameSize)) {
      throw new FrameError('Transaction too large', `Transaction '${clip(txId, 60)}' exceeds ${ctx.opts.maxTransactionMessages} messages or ${ctx.opts.maxTransactionBytes} bytes; commit it in smaller parts.`);
    }
    started(ctx, size);
    ctx.engine.send(m, address, { connection: conn, transaction: t.tx }).then(
      () => sent(ctx, f, size, receipt, undefined),
      (err: unknown) => sent(ctx, f, size, receipt, err as Error),
    );
    return;
  }
  started(ctx, size);
  ctx.sends.add(m, address, (err) => sent(ctx, f, size, receipt, err));
}

function started(ctx: StompContext, size: number): void {
  ctx.pendingSends++;
  ctx.pendingBytes += size;
  ctx.ops++;
  if (ctx.pendingSends >= ctx.opts.maxPendingSends || ctx.pendingBytes >= ctx.opts.maxPendingBytes) ctx.hold(HOLD_SENDS);
}

/** STOMP 1.2 "RECEIPT" once the send is done (durable, if persistent); an ERROR frame if it was refused. */
function sent(ctx: StompContext, f: StompFrame, size: number, receipt: string | undefined, err: Error | undefined): void {
  sendDone(ctx, size);
  if (err !== undefined) ctx.fail(err, f);
  else if (receipt !== undefined) ctx.receipt(receipt);
}

export function sendDone(ctx: StompContext, size: number): void {
  ctx.pendingSends--;
  ctx.pendingBytes -= size;
  if (ctx.holds & HOLD_SENDS && ctx.pendingSends < ctx.opts.maxPendingSends / 2 && ctx.pendingBytes < ctx.opts.maxPendingBytes / 2) ctx.release(HOLD_SENDS);
  ctx.opDone();
}
