/**
 * DISCONNECT. STOMP 1.2 "DISCONNECT" / "Connection Lingering": for a graceful close the client asks for a
 * receipt; it is written once everything before the DISCONNECT was processed (engine calls in flight
 * finished), then the connection closes. Later frames are ignored.
 */
import { header, type StompFrame } from '../frame.js';
import { HOLD_CLOSING, type StompContext } from '../context.js';

export function onDisconnect(ctx: StompContext, f: StompFrame): void {
  ctx.state = 'disconnecting';
  ctx.hold(HOLD_CLOSING);
  const receipt = header(f, 'receipt');
  void ctx.whenIdle().then(() => {
    if (ctx.state !== 'disconnecting') return;
    if (receipt !== undefined) ctx.receipt(receipt);
    ctx.endOutput();
  });
}
