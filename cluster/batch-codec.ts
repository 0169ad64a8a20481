/**
 * Store batches (`Command[]`) as the data of a Raft log entry.
 *
 * Version 2 (written now): one or more batches — all the commits the leader's engine made in one event turn — each
 * as the state store prepares it (`prepareBatch`: validated, every message already encoded exactly as the store
 * keeps it), so a node applying the entry neither decodes a message nor encodes one again: the entry's bytes go
 * into LMDB as they are. The leader, which prepared the batches, applies its own entries from the prepared ops it
 * still holds and decodes nothing. Entry data: msgpack `[2, batches, shared]`, a batch being a list of op tuples
 * (below); a shared (fanned-out) message appears once in `shared` and its ops carry its index. The batches of an
 * entry are applied in order, each whole or not at all (LmdbStore.commitPrepared with the entry's index).
 *
 * Version 1 (still read, from logs written before): msgpack `[1, commands, messages]` with messages in the LMDB
 * store's message codec and an enqueue carrying `m: <index into messages>` instead of its message. Everything else
 * goes through the same msgpackr setup as kv values (bigints of any size, Buffers).
 */
import type { Message } from '../src/core/message.js';
import type { Command } from '../src/core/store.js';
import { decodeMessage, decodeValue, encodeMessage, encodeValue } from '../storage/lmdb/codec.js';
import { prepareBatch, type PreparedOp } from '../storage/lmdb/lmdb-store.js';

const VERSION_COMMANDS = 1;
const VERSION_PREPARED = 2;

// Op tuples: [code, ...fields].
const ENQUEUE = 0; //      [0, queue, seq, size, value]  or  [0, queue, seq, size, value, shared, index into `shared`]
const ACK = 1; //          [1, queue, seq]
const UPDATE = 2; //       [2, queue, seq, deliveryCount]  or  [2, queue, seq, deliveryCount, deliveryTime]
const MARK = 3; //         [3, queue, seq]
const QUEUE_PUT = 4; //    [4, queue, meta]
const QUEUE_DELETE = 5; // [5, queue]
const PURGE = 6; //        [6, queue]
const KV_PUT = 7; //       [7, key, value]
const KV_DELETE = 8; //    [8, key]

/** Entry data for prepared batches (version 2). */
export function encodePrepared(batches: readonly (readonly PreparedOp[])[]): Buffer {
  const st: SharedTable = { shared: undefined, seen: undefined };
  const out = batches.map((ops) => encodeOps(ops, st));
  return encodeValue([VERSION_PREPARED, out, st.shared ?? []]);
}

/** Bytes a prepared batch adds to an entry, roughly (what it carries in buffers, plus some per op). */
export function preparedSize(ops: readonly PreparedOp[]): number {
  let n = 0;
  for (const op of ops) {
    n += 24;
    if (op.t === 'enqueue') n += op.value.length + (op.sharedMessage?.length ?? 0);
    else if (op.t === 'kv.put') n += op.value.length;
    else if (op.t === 'queue.put') n += op.meta.length;
  }
  return n;
}

interface SharedTable {
  shared: Buffer[] | undefined;
  seen: Map<Buffer, number> | undefined;
}

function encodeOps(ops: readonly PreparedOp[], st: SharedTable): unknown[] {
  const out: unknown[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    switch (op.t) {
      case 'enqueue':
        if (op.shared !== undefined && op.sharedMessage !== undefined) {
          const shared = (st.shared ??= []);
          const seen = (st.seen ??= new Map());
          let k = seen.get(op.sharedMessage);
          if (k === undefined) {
            k = shared.length;
            shared.push(op.sharedMessage);
            seen.set(op.sharedMessage, k);
          }
          out[i] = [ENQUEUE, op.queue, op.seq, op.size, op.value, op.shared, k];
        } else {
          out[i] = [ENQUEUE, op.queue, op.seq, op.size, op.value];
        }
        break;
      case 'ack':
        out[i] = [ACK, op.queue, op.seq];
        break;
      case 'update':
        out[i] = op.deliveryTime === undefined ? [UPDATE, op.queue, op.seq, op.deliveryCount] : [UPDATE, op.queue, op.seq, op.deliveryCount, op.deliveryTime];
        break;
      case 'mark':
        out[i] = [MARK, op.queue, op.seq];
        break;
      case 'queue.put':
        out[i] = [QUEUE_PUT, op.queue, op.meta];
        break;
      case 'queue.delete':
        out[i] = [QUEUE_DELETE, op.queue];
        break;
      case 'purge':
        out[i] = [PURGE, op.queue];
        break;
      case 'kv.put':
        out[i] = [KV_PUT, op.key, op.value];
        break;
      case 'kv.delete':
        out[i] = [KV_DELETE, op.key];
        break;
    }
  }
  return out;
}

/** The prepared batches of an entry's data (either version); throws on malformed data. */
export function decodePrepared(data: Uint8Array): PreparedOp[][] {
  const buf = asBuffer(data);
  const v = decodeValue(buf) as unknown[];
  if (!Array.isArray(v)) throw new Error('malformed replicated batch');
  if (v[0] === VERSION_COMMANDS) return [prepareBatch(commandsOf(v))];
  if (v[0] !== VERSION_PREPARED || !Array.isArray(v[1]) || !Array.isArray(v[2])) throw new Error('malformed replicated batch');
  const shared = v[2] as unknown[];
  return (v[1] as unknown[]).map((b) => {
    if (!Array.isArray(b)) throw new Error('malformed replicated batch: batch');
    return decodeOps(b, shared);
  });
}

function decodeOps(ops: unknown[], shared: unknown[]): PreparedOp[] {
  return ops.map((t): PreparedOp => {
    if (!Array.isArray(t)) throw new Error('malformed replicated batch: op');
    switch (t[0]) {
      case ENQUEUE: {
        const op: PreparedOp = { t: 'enqueue', queue: str(t[1]), seq: num(t[2]), size: num(t[3]), value: bin(t[4]) };
        if (t.length > 5) {
          const m = shared[num(t[6])];
          if (!Buffer.isBuffer(m)) throw new Error('malformed replicated batch: shared message index');
          op.shared = str(t[5]);
          op.sharedMessage = m;
        }
        return op;
      }
      case ACK:
        return { t: 'ack', queue: str(t[1]), seq: num(t[2]) };
      case UPDATE:
        return { t: 'update', queue: str(t[1]), seq: num(t[2]), deliveryCount: num(t[3]), deliveryTime: t.length > 4 ? num(t[4]) : undefined };
      case MARK:
        return { t: 'mark', queue: str(t[1]), seq: num(t[2]) };
      case QUEUE_PUT:
        return { t: 'queue.put', queue: str(t[1]), meta: bin(t[2]) };
      case QUEUE_DELETE:
        return { t: 'queue.delete', queue: str(t[1]) };
      case PURGE:
        return { t: 'purge', queue: str(t[1]) };
      case KV_PUT:
        return { t: 'kv.put', key: str(t[1]), value: bin(t[2]) };
      case KV_DELETE:
        return { t: 'kv.delete', key: str(t[1]) };
      default:
        throw new Error(`malformed replicated batch: op ${String(t[0])}`);
    }
  });
}

function str(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new Error('malformed replicated batch: name');
  return v;
}
function num(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error('malformed replicated batch: number');
  return v;
}
function bin(v: unknown): Buffer {
  if (!Buffer.isBuffer(v)) throw new Error('malformed replicated batch: bytes');
  return v;
}
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

// ---- version 1 ----

/** Entry data for a batch of commands (version 1: what nodes wrote before version 2; tests). */
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
  return encodeValue([VERSION_COMMANDS, cmds, msgs]);
}

/** The commands of a version-1 entry. */
export function decodeBatch(data: Uint8Array): Command[] {
  const v = decodeValue(asBuffer(data)) as unknown[];
  if (!Array.isArray(v) || v[0] !== VERSION_COMMANDS) throw new Error('malformed replicated batch');
  return commandsOf(v);
}

function commandsOf(v: unknown[]): Command[] {
  if (!Array.isArray(v[1]) || !Array.isArray(v[2])) throw new Error('malformed replicated batch');
  const msgs = (v[2] as Buffer[]).map((b) => decodeMessage(b));
  return (v[1] as Record<string, unknown>[]).map((c) => {
    if (c.t !== 'enqueue') return c as unknown as Command;
    const { m, ...rest } = c;
    const message = msgs[m as number];
    if (!message) throw new Error('malformed replicated batch: message index');
    return { ...rest, message } as unknown as Command;
  });
}
