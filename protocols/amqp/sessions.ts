/**
 * AMQP sessions (AMQP 1.0 §2.5; begin §2.7.2, end §2.7.3). rhea runs their state machine; we bound how
 * many a connection may have (channel-max, §2.4.1) and how many links each may attach (handle-max,
 * §2.7.2), and on end settle what the session still carried and forget its links. The per-message steps
 * of a session — transfers in and out, dispositions in — are done by transfer-in.ts and transfer-out.ts in
 * place of rhea's generic ones, on rhea's own bookkeeping.
 */
import { rheaMessage, type RSession } from './rhea.js';
import type { AmqpContext } from './context.js';
import { linkGone } from './links.js';
import { releaseRetained, retain } from './budget.js';
import { applyPendingOutcomes } from './sender-flow.js';
import { installDispositionReader, installTransferWriter } from './transfer-out.js';
import { installDeliveryReader } from './transfer-in.js';

export function onSessionOpen(ctx: AmqpContext, rs: RSession): void {
  installTransferWriter(rs, (b) => ctx.writeOut(b), () => ctx.rheaWritable(), ctx.onDeliveryOutcome);
  installDeliveryReader(rs);
  installDispositionReader(rs, (raw) => rheaMessage.unwrap_outcome(raw));
  const channel = rs.remote.channel ?? 0;
  const count = Object.keys(ctx.rconn.local_channel_map).length;
  if (channel > ctx.opts.maxSessions - 1 || count > ctx.opts.maxSessions) {
    ctx.closeConnection({ condition: 'amqp:resource-limit-exceeded', description: `at most ${ctx.opts.maxSessions} sessions (channel-max ${ctx.opts.maxSessions - 1})` });
    return;
  }
  const over = retain(ctx, rs, rs.remote.begin);
  if (over) {
    ctx.closeConnection(over);
    return;
  }
  rs.local.begin.handle_max = ctx.opts.maxLinks - 1;
}

export function onSessionClose(ctx: AmqpContext, rs: RSession): void {
  applyPendingOutcomes(ctx, rs);
  releaseRetained(ctx, rs);
  for (const l of [...ctx.links.values()]) if (l.r.session === rs) linkGone(ctx, l, false);
}
