import { deflateSync, inflateSync } from 'node:zlib';
import { Reader, Writer } from './buffers.js';
import { OpenWireError } from './errors.js';
import { modifiedUtf8Length } from './utf8.js';

// ActiveMQ's MarshallingSupport format, used for message properties (Message.marshalledProperties),
// MapMessage and StreamMessage bodies and the WireFormatInfo options. Each value is a type byte
// followed by its Java DataOutput encoding.

const T_NULL = 0;
const T_BOOLEAN = 1;
const T_BYTE = 2;
const T_CHAR = 3;
const T_SHORT = 4;
const T_INT = 5;
const T_LONG = 6;
const T_DOUBLE = 7;
const T_FLOAT = 8;
const T_STRING = 9;
const T_BYTES = 10;
const T_MAP = 11;
const T_LIST = 12;
const T_BIG_STRING = 13;

/** A Java numeric type kept distinct so values round-trip with their exact Java type. */
export type TypedNumber =
  | { type: 'byte' | 'short' | 'int' | 'char' | 'float' | 'double'; value: number }
  | { type: 'long'; value: bigint };

/**
 * A value of the primitive map. Decoding yields: null, boolean, string, Buffer (byte[]),
 * TypedNumber, OwList (java.util.List) or OwMap (java.util.Map). Encoding also accepts a plain
 * number (int if it is a 32-bit integer, else double) and a bigint (long).
 */
export type OwValue = null | boolean | string | Buffer | TypedNumber | OwList | OwMap | number | bigint;
export type OwList = OwValue[];
export type OwMap = Map<string, OwValue>;

export const byte = (value: number): TypedNumber => ({ type: 'byte', value });
export const short = (value: number): TypedNumber => ({ type: 'short', value });
export const int = (value: number): TypedNumber => ({ type: 'int', value });
export const char = (value: number | string): TypedNumber => ({ type: 'char', value: typeof value === 'string' ? value.charCodeAt(0) : value });
export const float = (value: number): TypedNumber => ({ type: 'float', value });
export const double = (value: number): TypedNumber => ({ type: 'double', value });
export const long = (value: bigint | number): TypedNumber => ({ type: 'long', value: BigInt(value) });

export interface BodyLimits {
  /** Maximum nesting of maps/lists inside a value (Java uses 127; hostile input is cut earlier). */
  maxDepth: number;
  /** Maximum size a compressed body may inflate to (Java's default maxInflatedDataSize is 100 MiB). */
  maxInflatedSize: number;
}
export const DEFAULT_BODY_LIMITS: BodyLimits = { maxDepth: 32, maxInflatedSize: 100 * 1024 * 1024 };

// ---------------------------------------------------------------------------------------------

function isTyped(v: object): v is TypedNumber {
  return !Array.isArray(v) && !(v instanceof Map) && !Buffer.isBuffer(v) && 'type' in v && 'value' in v;
}

/** Writes one value with its type byte (Java MarshallingSupport.marshalPrimitive). */
export function writeValue(w: Writer, v: OwValue | undefined, depth = 0): void {
  if (depth > 127) throw new OpenWireError('value nested too deeply');
  if (v === null || v === undefined) {
    w.byte(T_NULL);
  } else if (typeof v === 'boolean') {
    w.byte(T_BOOLEAN);
    w.bool(v);
  } else if (typeof v === 'string') {
    // Java switches to the 32-bit length form from Short.MAX_VALUE/4 chars on, so writeUTF's
    // 65535-byte limit can never be hit.
    if (v.length < 8191) {
      w.byte(T_STRING);
      w.utf(v);
    } else {
      w.byte(T_BIG_STRING);
      const n = modifiedUtf8Length(v);
      w.int(n);
      w.utfBody(v, n);
    }
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
      w.byte(T_INT);
      w.int(v);
    } else {
      w.byte(T_DOUBLE);
      w.double(v);
    }
  } else if (typeof v === 'bigint') {
    w.byte(T_LONG);
    w.long(v);
  } else if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    w.byte(T_BYTES);
    w.int(v.length);
    w.raw(v);
  } else if (v instanceof Map) {
    w.byte(T_MAP);
    writeMapEntries(w, v, depth + 1);
  } else if (Array.isArray(v)) {
    w.byte(T_LIST);
    w.int(v.length);
    for (const el of v) writeValue(w, el, depth + 1);
  } else if (isTyped(v)) {
    switch (v.type) {
      case 'byte':
        w.byte(T_BYTE);
        w.byte(v.value);
        return;
      case 'short':
        w.byte(T_SHORT);
        w.short(v.value);
        return;
      case 'int':
        w.byte(T_INT);
        w.int(v.value);
        return;
      case 'char':
        w.byte(T_CHAR);
        w.short(v.value);
        return;
      case 'float':
        w.byte(T_FLOAT);
        w.float(v.value);
        return;
      case 'double':
        w.byte(T_DOUBLE);
        w.double(v.value);
        return;
      case 'long':
        w.byte(T_LONG);
        w.long(v.value);
        return;
    }
  } else {
    throw new OpenWireError(`not a primitive value: ${Object.prototype.toString.call(v)}`);
  }
}

function writeMapEntries(w: Writer, m: OwMap | Record<string, OwValue>, depth: number): void {
  const entries = m instanceof Map ? [...m.entries()] : Object.entries(m);
  w.int(entries.length);
  for (const [k, v] of entries) {
    w.utf(k);
    writeValue(w, v, depth);
  }
}

/** Reads one typed value (Java MarshallingSupport.unmarshalPrimitive). */
export function readValue(r: Reader, limits: BodyLimits = DEFAULT_BODY_LIMITS, depth = 0): OwValue {
  const t = r.byte();
  switch (t) {
    case T_NULL:
      return null;
    case T_BOOLEAN:
      return r.bool();
    case T_BYTE:
      return { type: 'byte', value: r.byte() };
    case T_CHAR:
      return { type: 'char', value: r.ushort() };
    case T_SHORT:
      return { type: 'short', value: r.short() };
    case T_INT:
      return { type: 'int', value: r.int() };
    case T_LONG:
      return { type: 'long', value: r.long() };
    case T_FLOAT:
      return { type: 'float', value: r.float() };
    case T_DOUBLE:
      return { type: 'double', value: r.double() };
    case T_STRING:
      return r.utf();
    case T_BIG_STRING: {
      const n = r.int();
      return r.utfBody(n);
    }
    case T_BYTES:
      return r.bytes(r.int());
    case T_MAP: {
      const m = readMapEntries(r, limits, depth + 1);
      return m;
    }
    case T_LIST: {
      if (depth + 1 > limits.maxDepth) throw new OpenWireError(`values nested deeper than ${limits.maxDepth}`);
      const n = r.int();
      // Every element takes at least its type byte.
      r.need(n, 'list');
      const out: OwList = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, limits, depth + 1));
      return out;
    }
    default:
      throw new OpenWireError(`unknown primitive type ${t}`);
  }
}

function readMapEntries(r: Reader, limits: BodyLimits, depth: number): OwMap | null {
  if (depth > limits.maxDepth) throw new OpenWireError(`values nested deeper than ${limits.maxDepth}`);
  const n = r.int();
  if (n < 0) return null;
  // Each entry takes at least a 2-byte key length and a type byte.
  r.need(n * 3, 'map');
  const m: OwMap = new Map();
  for (let i = 0; i < n; i++) {
    const k = r.utf();
    m.set(k, readValue(r, limits, depth));
  }
  return m;
}

/** Encodes a primitive map (message properties, MapMessage body, WireFormatInfo options). null encodes as size -1. */
export function encodePrimitiveMap(m: OwMap | Record<string, OwValue> | null): Buffer {
  const w = new Writer();
  if (m == null) w.int(-1);
  else writeMapEntries(w, m, 0);
  return Buffer.from(w.result());
}

export function decodePrimitiveMap(buf: Buffer, limits: BodyLimits = DEFAULT_BODY_LIMITS): OwMap | null {
  const r = new Reader(buf);
  return readMapEntries(r, limits, 0);
}

// ---------------------------------------------------------------------------------------------
// Message bodies as ActiveMQ stores them in Message.content.

function inflate(buf: Buffer, limits: BodyLimits): Buffer {
  try {
    return inflateSync(buf, { maxOutputLength: limits.maxInflatedSize });
  } catch (err) {
    throw new OpenWireError(`cannot inflate compressed body: ${(err as Error).message}`);
  }
}

/** zlib-wrapped deflate, as java.util.zip.DeflaterOutputStream writes it. */
export function deflateContent(buf: Uint8Array): Buffer {
  return deflateSync(buf);
}
/** Inverse of deflateContent (bounded by limits.maxInflatedSize). */
export function inflateContent(buf: Buffer, limits: BodyLimits = DEFAULT_BODY_LIMITS): Buffer {
  return inflate(buf, limits);
}

/** TextMessage: 32-bit length (-1 for null) + modified UTF-8; the whole thing deflated when compressed. */
export function encodeTextBody(text: string | null, compress = false): Buffer {
  const w = new Writer();
  if (text == null) {
    w.int(-1);
  } else {
    const n = modifiedUtf8Length(text);
    w.int(n);
    w.utfBody(text, n);
  }
  const raw = Buffer.from(w.result());
  return compress ? deflateContent(raw) : raw;
}

export function decodeTextBody(content: Buffer | null, compressed: boolean, limits: BodyLimits = DEFAULT_BODY_LIMITS): string | null {
  if (content == null) return null;
  const r = new Reader(compressed ? inflate(content, limits) : content);
  const n = r.int();
  if (n < 0) return null;
  return r.utfBody(n);
}

/** BytesMessage: raw bytes; when compressed, the uncompressed length (32-bit) then a zlib stream. */
export function encodeBytesBody(data: Uint8Array, compress = false): Buffer {
  if (!compress) return Buffer.from(data);
  const z = deflateSync(data);
  const out = Buffer.allocUnsafe(4 + z.length);
  out.writeInt32BE(data.length, 0);
  z.copy(out, 4);
  return out;
}

export function decodeBytesBody(content: Buffer | null, compressed: boolean, limits: BodyLimits = DEFAULT_BODY_LIMITS): Buffer {
  if (content == null || content.length === 0) return Buffer.alloc(0);
  if (!compressed) return content;
  if (content.length < 4) throw new OpenWireError('compressed bytes body shorter than its length prefix');
  const n = content.readInt32BE(0);
  if (n < 0 || n > limits.maxInflatedSize) throw new OpenWireError(`compressed bytes body declares ${n} bytes`);
  // ActiveMQBytesMessage.doCompress deflates the whole backing array of its output buffer (ByteSequence.data,
  // not just offset..length), so the stream inflates to the body followed by up to a buffer's worth of
  // garbage; Java's reader stops after the declared length, and so do we.
  const bound = Math.min(limits.maxInflatedSize, 2 * n + 65536);
  const out = inflate(content.subarray(4), { ...limits, maxInflatedSize: bound + 1 });
  if (out.length < n) throw new OpenWireError(`inflated ${out.length} bytes, expected ${n}`);
  return out.length === n ? out : out.subarray(0, n);
}

/** MapMessage: a primitive map, deflated when compressed. */
export function encodeMapBody(m: OwMap | Record<string, OwValue>, compress = false): Buffer {
  const raw = encodePrimitiveMap(m);
  return compress ? deflateContent(raw) : raw;
}

export function decodeMapBody(content: Buffer | null, compressed: boolean, limits: BodyLimits = DEFAULT_BODY_LIMITS): OwMap {
  if (content == null) return new Map();
  return decodePrimitiveMap(compressed ? inflate(content, limits) : content, limits) ?? new Map();
}

/** StreamMessage: typed values back to back until the end (no count), deflated when compressed. */
export function encodeStreamBody(values: OwValue[], compress = false): Buffer {
  const w = new Writer();
  for (const v of values) writeValue(w, v);
  const raw = Buffer.from(w.result());
  return compress ? deflateContent(raw) : raw;
}

export function decodeStreamBody(content: Buffer | null, compressed: boolean, limits: BodyLimits = DEFAULT_BODY_LIMITS): OwValue[] {
  if (content == null) return [];
  const r = new Reader(compressed ? inflate(content, limits) : content);
  const out: OwValue[] = [];
  while (r.remaining > 0) out.push(readValue(r, limits, 0));
  return out;
}
