/**
 * A Store batch (`Command[]`) as the data of a Raft log entry. Messages use the LMDB store's message codec
 * (raw body, lossless for every property type); the same message object enqueued several times in one batch
 * (fan-out under a `shared` id) is encoded once. Everything else goes through the same msgpackr setup as kv
 * values (bigints of any size, Buffers).
 *
 * Entry data: msgpack `[1, commands, messages]` where an enqueue carries `m: <index into messages>` instead of
 * its message.
 */
import type { Message } from '../src/core/message.js';
import type { Command } from '../src/core/store.js';
import { decodeMessage, decodeValue, encodeMessage, encodeValue } from '../storage/lmdb/codec.js';

const VERSION = 1;

export function encodeBatch(batch: readonly Command[]): Buffer {
  const msgs: Buffer[] = [];
  const seen = new Map<Message, number>();
  const cmds = batch.map((c) => {
    if (c.t !== 'enqueue') return c;
    const { message, ...rest } = c;
    let i = seen.get(message);
    if (i === undefined) {
      i = msgs.length;
      msgs.push(encodeMessage(message));
      seen.set(message, i);
    }
    return { ...rest, m: i };
  });
  return encodeValue([VERSION, cmds, msgs]);
}

export function decodeBatch(data: Uint8Array): Command[] {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const v = decodeValue(buf) as [number, Record<string, unknown>[], Buffer[]];
  if (!Array.isArray(v) || v[0] !== VERSION || !Array.isArray(v[1]) || !Array.isArray(v[2])) throw new Error('malformed replicated batch');
  const msgs = v[2].map((b) => decodeMessage(b));
  return v[1].map((c) => {
    if (c.t !== 'enqueue') return c as unknown as Command;
    const { m, ...rest } = c;
    const message = msgs[m as number];
    if (!message) throw new Error('malformed replicated batch: message index');
    return { ...rest, message } as unknown as Command;
  });
}
