/**
 * What a connection's open sessions and links keep in memory. rhea keeps every session's begin and every link's
 * attach performative, decoded, for as long as the session or link lives, and a decoded value costs ~60 bytes of
 * heap whatever its size on the wire (a frame of one-byte empty lists: 58 MB per MiB). The rhea patch bounds
 * one frame (MAX_FRAME_VALUES); this bounds their sum per connection (`maxRetainedValues`).
 */
import type { AmqpContext } from './context.js';
import type { AmqpError } from './rhea.js';

const retained = new WeakMap<object, number>();

/** Count the decoded values in `v`, stopping once past `limit`. */
export function countValues(v: unknown, limit: number): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length && n <= limit) {
    const x = stack.pop();
    n++;
    if (x === null || typeof x !== 'object' || Buffer.isBuffer(x)) continue;
    if (Array.isArray(x)) for (const e of x) stack.push(e);
    else for (const k of Object.keys(x)) stack.push((x as Record<string, unknown>)[k]);
  }
  return n;
}

/** Charge what `owner` (a session or link) keeps; an error when the connection's budget is spent. */
export function retain(ctx: AmqpContext, owner: object, performative: unknown): AmqpError | null {
  const left = ctx.opts.maxRetainedValues - ctx.retainedValues;
  const n = countValues(performative, left);
  if (n > left) {
    return { condition: 'amqp:resource-limit-exceeded', description: `sessions and links of this connection hold more than ${ctx.opts.maxRetainedValues} decoded values` };
  }
  retained.set(owner, n);
  ctx.retainedValues += n;
  return null;
}

export function releaseRetained(ctx: AmqpContext, owner: object): void {
  const n = retained.get(owner);
  if (n === undefined) return;
  retained.delete(owner);
  ctx.retainedValues -= n;
}
