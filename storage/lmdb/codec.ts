/**
 * Binary encodings used by the LMDB store.
 *
 * A message is `[u32 LE header length][msgpack header][raw body bytes]`: the header (every `Message`
 * field except `body`) goes through msgpackr, the body is copied in as is — never re-encoded.
 *
 * A queue entry value starts with a fixed 18-byte prefix that recovery and `update` read or patch
 * without decoding the message:
 *
 * ```
 *  0  u8   kind             1 = message inline, 2 = reference to a shared message
 *  1  u8   format version   (1)
 *  2  u32  deliveryCount
 *  6  f64  deliveryTime     the entry's delivery time (overrides the message header's)
 * 14  u32  size             messageSize(message), for recovery byte counts
 * 18  ...  inline: the encoded message;  shared: the shared id, UTF-8
 * ```
 *
 * A queue record value is `[u8 flags][f64 lastSeq][f64 mark][f64 count][f64 bytes][f64 sharedCount][msgpack meta]`
 * (flags bit 0: meta was put): the per-transaction counter updates never decode the meta.
 */
import { Packr } from 'msgpackr';
import type { Message, PropertyValue } from '../../src/core/message.js';

/**
 * msgpackr configured for plain data: maps decode as plain objects (no record extension, so no shared
 * structures to persist), bigints of any size round-trip as bigint (64-bit ones as msgpack int64, larger
 * ones through msgpackr's bigint extension), Buffers round-trip as Buffers.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, useBigIntExtension: true });

/** Encode any msgpack-able value (kv values, queue meta). Returns a copy, safe to keep. */
export function encodeValue(value: unknown): Buffer {
  // pack() returns a view of packr's reusable buffer: copy it out.
  return Buffer.from(packr.pack(value));
}

/** Decode a value written by `encodeValue`. Binary values inside are views of `buf` (which must not be reused by the caller). */
export function decodeValue(buf: Buffer): unknown {
  return fixBuffers(packr.unpack(buf));
}

/** msgpackr returns `bin` as a view of its input; make sure they are Node Buffers (not plain Uint8Arrays). */
function fixBuffers(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = fixBuffers(v[i]);
    return v;
  }
  if (Object.getPrototypeOf(v) === Object.prototype) {
    const o = v as Record<string, unknown>;
    for (const k in o) o[k] = fixBuffers(o[k]);
  }
  return v;
}

// --- message header -------------------------------------------------------------------------------

const HEADER_VERSION = 1;

/** Message fields with a fixed position in the header (after the version). Any other field is kept in a trailing map. */
const KNOWN_FIELDS = new Set([
  'messageId', 'body', 'bodyType', 'properties', 'durable', 'priority', 'expiration', 'deliveryTime', 'timestamp',
  'correlationId', 'replyTo', 'type', 'groupId', 'groupSeq', 'contentType', 'contentEncoding', 'userId', 'destination', 'annotations',
]);
const H_EXTRA = 19;

/**
 * Positional header: [version, messageId, bodyType, properties, durable, priority, expiration, deliveryTime,
 * timestamp, correlationId, replyTo, type, groupId, groupSeq, contentType, contentEncoding, userId,
 * destination, annotations, extra]. `extra` holds fields this codec does not know yet (added to `Message`
 * later), so they round-trip too.
 */
function headerOf(m: Message): unknown[] {
  const h: unknown[] = [
    HEADER_VERSION,
    m.messageId,
    m.bodyType,
    m.properties,
    m.durable,
    m.priority,
    m.expiration,
    m.deliveryTime,
    m.timestamp,
    m.correlationId,
    m.replyTo,
    m.type,
    m.groupId,
    m.groupSeq,
    m.contentType,
    m.contentEncoding,
    m.userId,
    m.destination,
    m.annotations,
  ];
  let extra: Record<string, unknown> | undefined;
  for (const k in m) {
    if (KNOWN_FIELDS.has(k)) continue;
    const v = (m as unknown as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    (extra ??= {})[k] = v;
  }
  if (extra) h.push(extra);
  // Absent optional fields at the end cost nothing.
  let n = h.length;
  while (n > 9 && h[n - 1] === undefined) n--;
  h.length = n;
  return h;
}

/** Size of the fixed prefix of an entry value. */
export const ENTRY_PREFIX = 18;
export const KIND_INLINE = 1;
export const KIND_SHARED = 2;
const ENTRY_VERSION = 1;

/** Bytes of `encodeMessage(m)` placed at `offset` in a new buffer of `offset + length` bytes. */
function encodeMessageAt(m: Message, offset: number): Buffer {
  if (!Buffer.isBuffer(m.body) && !((m.body as unknown) instanceof Uint8Array)) {
    throw new TypeError(`message ${String(m.messageId)}: body must be a Buffer`);
  }
  const header = packr.pack(headerOf(m)); // view of packr's buffer: copied below before the next pack
  const out = Buffer.allocUnsafe(offset + 4 + header.length + m.body.length);
  out.writeUInt32LE(header.length, offset);
  out.set(header, offset + 4);
  out.set(m.body, offset + 4 + header.length);
  return out;
}

/** `[u32 header length][msgpack header][raw body]`. */
export function encodeMessage(m: Message): Buffer {
  return encodeMessageAt(m, 0);
}

/**
 * Decode a message from `buf` starting at `offset` (the rest of `buf` is the message).
 * The body and any Buffer property are views of `buf`: pass a buffer you own (lmdb-js `get`/`getRange`
 * on a `binary` DB return fresh copies).
 */
export function decodeMessage(buf: Buffer, offset = 0): Message {
  const hlen = buf.readUInt32LE(offset);
  const hstart = offset + 4;
  const h = packr.unpack(buf.subarray(hstart, hstart + hlen)) as unknown[];
  if (!Array.isArray(h) || h[0] !== HEADER_VERSION) throw new Error(`unsupported message header format ${String(Array.isArray(h) ? h[0] : typeof h)}`);
  const properties = h[3] as Record<string, PropertyValue>;
  for (const k in properties) {
    const v: unknown = properties[k];
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) properties[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  // Same shape as createMessage(): every optional key present, undefined when absent.
  const m: Message = {
    messageId: h[1] as string,
    body: buf.subarray(hstart + hlen),
    bodyType: h[2] as Message['bodyType'],
    properties,
    durable: h[4] as boolean,
    priority: h[5] as number,
    expiration: h[6] as number,
    deliveryTime: h[7] as number,
    timestamp: h[8] as number,
    correlationId: h[9] as string | undefined,
    replyTo: h[10] as string | undefined,
    type: h[11] as string | undefined,
    groupId: h[12] as string | undefined,
    groupSeq: h[13] as number | undefined,
    contentType: h[14] as string | undefined,
    contentEncoding: h[15] as string | undefined,
    userId: h[16] as string | undefined,
    destination: h[17] as string | undefined,
    annotations: h[18] === undefined ? undefined : (fixBuffers(h[18]) as Record<string, unknown>),
  };
  const extra = h[H_EXTRA] as Record<string, unknown> | undefined;
  if (extra) {
    for (const k in extra) if (!KNOWN_FIELDS.has(k)) (m as unknown as Record<string, unknown>)[k] = fixBuffers(extra[k]);
  }
  return m;
}

// --- queue entries --------------------------------------------------------------------------------

function writePrefix(out: Buffer, kind: number, deliveryCount: number, deliveryTime: number, size: number): void {
  out[0] = kind;
  out[1] = ENTRY_VERSION;
  out.writeUInt32LE(deliveryCount >>> 0, 2);
  out.writeDoubleLE(deliveryTime, 6);
  out.writeUInt32LE(Math.min(size, 0xffffffff) >>> 0, 14);
}

/** An entry holding its message inline. */
export function encodeInlineEntry(m: Message, deliveryCount: number, size: number): Buffer {
  const out = encodeMessageAt(m, ENTRY_PREFIX);
  writePrefix(out, KIND_INLINE, deliveryCount, m.deliveryTime, size);
  return out;
}

/** An entry referencing the message stored under `sharedId`. */
export function encodeSharedEntry(sharedId: string, deliveryCount: number, deliveryTime: number, size: number): Buffer {
  const idLen = Buffer.byteLength(sharedId);
  const out = Buffer.allocUnsafe(ENTRY_PREFIX + idLen);
  writePrefix(out, KIND_SHARED, deliveryCount, deliveryTime, size);
  out.write(sharedId, ENTRY_PREFIX, 'utf8');
  return out;
}

export function entryKind(v: Buffer): number {
  return v[0]!;
}
export function entryDeliveryCount(v: Buffer): number {
  return v.readUInt32LE(2);
}
export function entryDeliveryTime(v: Buffer): number {
  return v.readDoubleLE(6);
}
export function entrySize(v: Buffer): number {
  return v.readUInt32LE(14);
}
export function entrySharedId(v: Buffer): string {
  return v.toString('utf8', ENTRY_PREFIX);
}

/** A copy of entry value `v` with new delivery state (the message bytes are copied, not decoded). */
export function withDeliveryState(v: Buffer, deliveryCount: number, deliveryTime: number | undefined): Buffer {
  const out = Buffer.from(v);
  out.writeUInt32LE(deliveryCount >>> 0, 2);
  if (deliveryTime !== undefined) out.writeDoubleLE(deliveryTime, 6);
  return out;
}

// --- queue records --------------------------------------------------------------------------------

/** `[u8 flags][f64 lastSeq][f64 mark][f64 count][f64 bytes][f64 sharedCount][msgpack meta]`. */
export const QUEUE_PREFIX = 41;
const QF_HAS_META = 1;

export interface QueueRecord {
  hasMeta: boolean;
  /** Highest seq ever enqueued. */
  lastSeq: number;
  mark: number;
  /** Number of entries, maintained in the same transactions that add and remove them. */
  count: number;
  /** Sum of the entries' messageSize. */
  bytes: number;
  /** How many of the entries reference a shared message (0: purge can delete by key without reading values). */
  sharedCount: number;
  /** Encoded meta (msgpack), empty when none. */
  meta: Buffer;
}

export function newQueueRecord(): QueueRecord {
  return { hasMeta: false, lastSeq: 0, mark: 0, count: 0, bytes: 0, sharedCount: 0, meta: Buffer.alloc(0) };
}

export function encodeQueueRecord(r: QueueRecord): Buffer {
  const out = Buffer.allocUnsafe(QUEUE_PREFIX + r.meta.length);
  out[0] = r.hasMeta ? QF_HAS_META : 0;
  out.writeDoubleLE(r.lastSeq, 1);
  out.writeDoubleLE(r.mark, 9);
  out.writeDoubleLE(r.count, 17);
  out.writeDoubleLE(r.bytes, 25);
  out.writeDoubleLE(r.sharedCount, 33);
  out.set(r.meta, QUEUE_PREFIX);
  return out;
}

/** The meta is a view of `v`. */
export function decodeQueueRecord(v: Buffer): QueueRecord {
  return {
    hasMeta: (v[0]! & QF_HAS_META) !== 0,
    lastSeq: v.readDoubleLE(1),
    mark: v.readDoubleLE(9),
    count: v.readDoubleLE(17),
    bytes: v.readDoubleLE(25),
    sharedCount: v.readDoubleLE(33),
    meta: v.subarray(QUEUE_PREFIX),
  };
}
