import { BooleanStreamReader, BooleanStreamWriter } from './boolean-stream.js';
import { Reader, Writer } from './buffers.js';
import type { DataStructure, ThrowableInfo } from './commands.js';
import { OpenWireError } from './errors.js';
import { DataType, SCHEMAS, type FieldKind, type StructSchema } from './schema.js';
import { isSimpleAscii, modifiedUtf8Length } from './utf8.js';

/** The negotiated properties that change how commands are marshalled. */
export interface MarshalOptions {
  tightEncoding: boolean;
  cacheEnabled: boolean;
  stackTraceEnabled: boolean;
  /** Negotiated OpenWire version, 9..12 (default 12). */
  version?: number;
}

export const MIN_MARSHAL_VERSION = 9;
export const MAX_MARSHAL_VERSION = 12;

// The v9..v11 layouts are the v12 one minus a few later additions (checked against ActiveMQ's
// openwire/v9..v11 marshallers): the field is simply absent from the wire below its version.
const FIELD_SINCE = new Map<string, number>([
  [`${DataType.CONSUMER_INFO}.clientId`, 10],
  [`${DataType.MESSAGE_ID}.textView`, 10],
  [`${DataType.DURABLE_SUBSCRIPTION_INFO}.noLocal`, 11],
  ...[DataType.ACTIVEMQ_MESSAGE, DataType.ACTIVEMQ_BYTES_MESSAGE, DataType.ACTIVEMQ_MAP_MESSAGE, DataType.ACTIVEMQ_OBJECT_MESSAGE,
    DataType.ACTIVEMQ_STREAM_MESSAGE, DataType.ACTIVEMQ_TEXT_MESSAGE, DataType.ACTIVEMQ_BLOB_MESSAGE].map(
    (t) => [`${t}.jmsxGroupFirstForConsumer`, 10] as [string, number],
  ),
]);
// Structures that do not exist (or have another layout we do not implement) below a version.
const TYPE_SINCE = new Map<number, number>([
  [DataType.BROKER_SUBSCRIPTION_INFO, 12],
  [DataType.NETWORK_BRIDGE_FILTER, 10],
]);

function fieldsFor(s: StructSchema, version: number): ReadonlyArray<readonly [string, FieldKind]> {
  if (version >= MAX_MARSHAL_VERSION) return s.fields;
  if (version < MIN_MARSHAL_VERSION) throw new OpenWireError(`unsupported OpenWire version ${version}`);
  const since = TYPE_SINCE.get(s.type);
  if (since !== undefined && version < since) throw new OpenWireError(`${s.name} does not exist in OpenWire version ${version}`);
  return s.fields.filter(([name]) => (FIELD_SINCE.get(`${s.type}.${name}`) ?? 0) <= version);
}

/** Limits applied while decoding untrusted bytes. */
export interface DecodeLimits {
  /** Maximum nesting of data structures (and of throwable causes). */
  maxDepth: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxDepth: 32 };

// Java keeps at most Short.MAX_VALUE/2 cache slots and evicts so that 100 stay free.
export const DEFAULT_CACHE_SIZE = 16383;
const CACHE_FREE_SPACE = 100;

/**
 * Outgoing cache of data structures (ids, destinations) already sent on this connection. It
 * mirrors OpenWireFormat's marshal cache exactly - same index assignment, same ring eviction -
 * because the peer's unmarshal cache is filled by the indices we send. Keys are a canonical
 * rendering of the structure, which matches Java's equals() for the cached types (all fields).
 * Note Java also caches `null` (a null cached field takes an index too), and so do we.
 */
export class MarshalCache {
  private readonly slots: (string | undefined)[];
  private readonly map = new Map<string, number>();
  private next = 0;
  private evict = 0;
  constructor(readonly size = DEFAULT_CACHE_SIZE) {
    if (size <= CACHE_FREE_SPACE || size > 0x7fff) throw new OpenWireError(`unsupported cache size ${size}`);
    this.slots = new Array<string | undefined>(size);
  }
  sweep(): void {
    while (this.map.size > this.size - CACHE_FREE_SPACE) {
      const k = this.slots[this.evict];
      if (k !== undefined) this.map.delete(k);
      this.slots[this.evict] = undefined;
      if (++this.evict >= this.size) this.evict = 0;
    }
  }
  get(key: string): number | undefined {
    return this.map.get(key);
  }
  add(key: string): number {
    const i = this.next;
    if (++this.next >= this.size) this.next = 0;
    if (this.map.size < this.size) {
      this.slots[i] = key;
      this.map.set(key, i);
      return i;
    }
    return -1;
  }
}

/** Incoming cache: index -> structure, filled as the peer sends new cached structures. */
export class UnmarshalCache {
  private readonly slots: (DataStructure | null)[];
  constructor(readonly size = DEFAULT_CACHE_SIZE) {
    this.slots = new Array<DataStructure | null>(size).fill(null);
  }
  set(index: number, v: DataStructure | null): void {
    if (index === -1) return;
    if (index < 0 || index >= this.size) throw new OpenWireError(`cache index ${index} out of range 0..${this.size - 1}`);
    this.slots[index] = v;
  }
  get(index: number): DataStructure | null {
    if (index < 0 || index >= this.size) throw new OpenWireError(`cache index ${index} out of range 0..${this.size - 1}`);
    return this.slots[index]!;
  }
}

export function schemaOf(type: number): StructSchema {
  const s = SCHEMAS.get(type);
  if (!s) throw new OpenWireError(`unknown data structure type ${type}`);
  return s;
}

/** Canonical key of a structure for the marshal cache (equal structures give equal keys). */
export function cacheKey(o: DataStructure | null | undefined): string {
  if (o == null) return 'null';
  const s = schemaOf(o.type);
  const parts: string[] = [String(o.type)];
  const rec = o as unknown as Record<string, unknown>;
  for (const [name, kind] of s.fields) {
    const v = rec[name];
    if (v == null) parts.push('~');
    else if (kind === 'nested' || kind === 'cached') parts.push(`(${cacheKey(v as DataStructure)})`);
    else if (Buffer.isBuffer(v) || v instanceof Uint8Array) parts.push('x' + Buffer.from(v).toString('hex'));
    else if (Array.isArray(v)) parts.push('[' + v.map((e) => cacheKey(e as DataStructure)).join(',') + ']');
    else parts.push(JSON.stringify(typeof v === 'bigint' ? v.toString() : v));
  }
  return parts.join('|');
}

// ---------------------------------------------------------------------------------------------
// Encoding. Java tight encoding makes two passes (booleans first, then data, reading the same
// booleans back); writing both streams in one pass gives identical bytes as long as the order of
// boolean writes is the same, which the per-field routines below keep.

interface Enc {
  opts: MarshalOptions;
  cache: MarshalCache | null;
  bs: BooleanStreamWriter;
  out: Writer;
}

function defaultFor(kind: FieldKind): unknown {
  switch (kind) {
    case 'int':
    case 'byte':
      return 0;
    case 'long':
      return 0n;
    case 'bool':
      return false;
    default:
      return null;
  }
}

function toBigInt(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number);
}

function encodeFields(e: Enc, o: DataStructure): void {
  const s = schemaOf(o.type);
  const rec = o as unknown as Record<string, unknown>;
  for (const [name, kind] of fieldsFor(s, e.opts.version ?? MAX_MARSHAL_VERSION)) {
    let v = rec[name];
    if (v === undefined) v = defaultFor(kind);
    encodeField(e, kind, v, name);
  }
}

function encodeField(e: Enc, kind: FieldKind, v: unknown, name: string): void {
  const { bs, out } = e;
  const tight = e.opts.tightEncoding;
  switch (kind) {
    case 'int':
      out.int(v as number);
      return;
    case 'byte':
      out.byte(v as number);
      return;
    case 'bool':
      if (tight) bs.write(Boolean(v));
      else out.bool(Boolean(v));
      return;
    case 'long':
      if (tight) tightLong(e, toBigInt(v));
      else out.long(toBigInt(v));
      return;
    case 'string':
      encodeString(e, v as string | null);
      return;
    case 'nested':
      encodeNested(e, v as DataStructure | null);
      return;
    case 'cached':
      encodeCached(e, v as DataStructure | null);
      return;
    case 'array': {
      const arr = v as DataStructure[] | null;
      if (tight) bs.write(arr != null);
      else out.bool(arr != null);
      if (arr != null) {
        if (arr.length > 0x7fff) throw new OpenWireError(`array field ${name} has too many elements`);
        out.short(arr.length);
        for (const el of arr) encodeNested(e, el);
      }
      return;
    }
    case 'bytes':
    case 'byteseq': {
      const b = v as Uint8Array | null;
      if (tight) bs.write(b != null);
      else out.bool(b != null);
      if (b != null) {
        out.int(b.length);
        out.raw(b);
      }
      return;
    }
    case 'const8': {
      const b = v as Uint8Array | null;
      if (b == null || b.length !== 8) throw new OpenWireError(`field ${name} must be exactly 8 bytes`);
      out.raw(b);
      return;
    }
    case 'throwable':
      encodeThrowable(e, v as ThrowableInfo | null);
      return;
  }
}

function tightLong(e: Enc, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  if (u === 0n) {
    e.bs.write(false);
    e.bs.write(false);
  } else if (u <= 0xffffn) {
    e.bs.write(false);
    e.bs.write(true);
    e.out.short(Number(u));
  } else if (u <= 0xffffffffn) {
    e.bs.write(true);
    e.bs.write(false);
    e.out.int(Number(u) | 0);
  } else {
    e.bs.write(true);
    e.bs.write(true);
    e.out.long(v);
  }
}

function encodeString(e: Enc, s: string | null): void {
  if (!e.opts.tightEncoding) {
    e.out.bool(s != null);
    if (s != null) e.out.utf(s);
    return;
  }
  e.bs.write(s != null);
  if (s == null) return;
  const n = modifiedUtf8Length(s);
  // Java refuses strings of Short.MAX_VALUE or more UTF-8 bytes in tight encoding.
  if (n >= 0x7fff) throw new OpenWireError(`string of ${n} UTF-8 bytes is too long for tight encoding`);
  const ascii = isSimpleAscii(s);
  e.bs.write(ascii);
  if (ascii) {
    e.out.short(s.length);
    e.out.latin1(s);
  } else {
    e.out.utf(s);
  }
}

function encodeNested(e: Enc, o: DataStructure | null): void {
  if (!e.opts.tightEncoding) {
    e.out.bool(o != null);
    if (o == null) return;
    e.out.byte(o.type);
    encodeFields(e, o);
    return;
  }
  e.bs.write(o != null);
  if (o == null) return;
  const s = schemaOf(o.type);
  // "Already marshalled" flag of marshal-aware structures; Java never sends a pre-marshalled form.
  if (s.marshalAware) e.bs.write(false);
  e.out.byte(o.type);
  encodeFields(e, o);
}

function encodeCached(e: Enc, o: DataStructure | null): void {
  const cache = e.cache;
  if (!e.opts.cacheEnabled || !cache) {
    encodeNested(e, o);
    return;
  }
  const key = cacheKey(o);
  const known = cache.get(key);
  if (e.opts.tightEncoding) e.bs.write(known === undefined);
  else e.out.bool(known === undefined);
  if (known !== undefined) {
    e.out.short(known);
    return;
  }
  if (e.opts.tightEncoding) {
    // Java's tight pass 1 adds the structure to the cache only after its nested fields, so any
    // cached structure inside it gets the lower index: reserve the slot, write, then fill it in.
    const at = e.out.pos;
    e.out.short(0);
    encodeNested(e, o);
    const idx = cache.add(key);
    e.out.buf.writeUInt16BE(idx & 0xffff, at);
  } else {
    const idx = cache.add(key);
    e.out.short(idx);
    encodeNested(e, o);
  }
}

function encodeThrowable(e: Enc, t: ThrowableInfo | null | undefined, depth = 0): void {
  const tight = e.opts.tightEncoding;
  if (tight) e.bs.write(t != null);
  else e.out.bool(t != null);
  if (t == null) return;
  if (depth > 64) throw new OpenWireError('throwable cause chain too deep');
  encodeString(e, t.className ?? null);
  encodeString(e, t.message ?? null);
  if (!e.opts.stackTraceEnabled) return;
  const trace = t.stackTrace ?? [];
  if (trace.length > 0x7fff) throw new OpenWireError('stack trace too long');
  e.out.short(trace.length);
  for (const el of trace) {
    encodeString(e, el.className ?? null);
    encodeString(e, el.methodName ?? null);
    encodeString(e, el.fileName ?? null);
    e.out.int(el.lineNumber ?? 0);
  }
  encodeThrowable(e, t.cause ?? null, depth + 1);
}

/**
 * Marshals one command (or null) to its frame payload: type byte, [boolean stream,] fields.
 * The 4-byte size prefix is added by the caller (see wire-format.ts).
 */
export function marshalPayload(o: DataStructure | null, opts: MarshalOptions, cache: MarshalCache | null): Buffer {
  if (o == null) return Buffer.from([0]);
  schemaOf(o.type);
  if (opts.cacheEnabled && cache) cache.sweep();
  const e: Enc = { opts, cache, bs: new BooleanStreamWriter(), out: new Writer() };
  encodeFields(e, o);
  const body = e.out.result();
  if (!opts.tightEncoding) {
    const frame = Buffer.allocUnsafe(1 + body.length);
    frame[0] = o.type;
    body.copy(frame, 1);
    return frame;
  }
  const frame = Buffer.allocUnsafe(1 + e.bs.marshalledSize() + body.length);
  frame[0] = o.type;
  const n = e.bs.writeTo(frame, 1);
  body.copy(frame, 1 + n);
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface Dec {
  opts: MarshalOptions;
  cache: UnmarshalCache | null;
  r: Reader;
  limits: DecodeLimits;
}

function decodeFields(d: Dec, type: number, bs: BooleanStreamReader | null, depth: number): DataStructure {
  const s = schemaOf(type);
  const o: Record<string, unknown> = { type };
  const version = d.opts.version ?? MAX_MARSHAL_VERSION;
  for (const [name, kind] of fieldsFor(s, version)) o[name] = decodeField(d, kind, bs, depth);
  // Fields newer than the negotiated version read as their defaults, so shapes stay uniform.
  if (version < MAX_MARSHAL_VERSION) for (const [name, kind] of s.fields) if (!(name in o)) o[name] = defaultFor(kind);
  return o as unknown as DataStructure;
}

function rbool(d: Dec, bs: BooleanStreamReader | null): boolean {
  return bs ? bs.read() : d.r.bool();
}

function decodeField(d: Dec, kind: FieldKind, bs: BooleanStreamReader | null, depth: number): unknown {
  const r = d.r;
  switch (kind) {
    case 'int':
      return r.int();
    case 'byte':
      return r.byte();
    case 'bool':
      return rbool(d, bs);
    case 'long':
      return bs ? tightReadLong(r, bs) : r.long();
    case 'string':
      return decodeString(d, bs);
    case 'nested':
      return decodeNested(d, bs, depth);
    case 'cached':
      return decodeCached(d, bs, depth);
    case 'array': {
      if (!rbool(d, bs)) return null;
      const n = r.short();
      if (n < 0) throw new OpenWireError(`negative array length ${n}`);
      const arr: (DataStructure | null)[] = [];
      for (let i = 0; i < n; i++) arr.push(decodeNested(d, bs, depth));
      return arr;
    }
    case 'bytes':
    case 'byteseq': {
      if (!rbool(d, bs)) return null;
      return r.bytes(r.int());
    }
    case 'const8':
      return r.bytes(8, 'magic');
    case 'throwable':
      return decodeThrowable(d, bs, depth);
  }
}

function tightReadLong(r: Reader, bs: BooleanStreamReader): bigint {
  if (bs.read()) {
    if (bs.read()) return r.long();
    return BigInt(r.int() >>> 0);
  }
  if (bs.read()) return BigInt(r.ushort());
  return 0n;
}

function decodeString(d: Dec, bs: BooleanStreamReader | null): string | null {
  if (!rbool(d, bs)) return null;
  if (bs && bs.read()) {
    const n = d.r.short();
    if (n < 0) throw new OpenWireError(`negative string length ${n}`);
    return d.r.latin1(n);
  }
  return d.r.utf();
}

function decodeNested(d: Dec, bs: BooleanStreamReader | null, depth: number): DataStructure | null {
  if (!rbool(d, bs)) return null;
  if (depth >= d.limits.maxDepth) throw new OpenWireError(`data structures nested deeper than ${d.limits.maxDepth}`);
  const type = d.r.ubyte();
  const s = schemaOf(type);
  if (bs && s.marshalAware && bs.read()) {
    // A pre-marshalled nested structure: size, type and its own boolean stream follow.
    d.r.int();
    d.r.byte();
    const bs2 = readBooleanStream(d.r);
    return decodeFields(d, type, bs2, depth + 1);
  }
  return decodeFields(d, type, bs, depth + 1);
}

function decodeCached(d: Dec, bs: BooleanStreamReader | null, depth: number): DataStructure | null {
  if (!d.opts.cacheEnabled) return decodeNested(d, bs, depth);
  if (!d.cache) throw new OpenWireError('cache enabled without an unmarshal cache');
  if (rbool(d, bs)) {
    const index = d.r.short();
    const v = decodeNested(d, bs, depth);
    d.cache.set(index, v);
    return v;
  }
  return d.cache.get(d.r.short());
}

function decodeThrowable(d: Dec, bs: BooleanStreamReader | null, depth: number): ThrowableInfo | null {
  if (!rbool(d, bs)) return null;
  if (depth >= d.limits.maxDepth) throw new OpenWireError(`throwable causes nested deeper than ${d.limits.maxDepth}`);
  const t: ThrowableInfo = { className: decodeString(d, bs), message: decodeString(d, bs) };
  if (!d.opts.stackTraceEnabled) return t;
  const n = d.r.short();
  if (n < 0) throw new OpenWireError(`negative stack trace length ${n}`);
  // Each element carries at least its 4-byte line number: bound the count before looping.
  if (n * 4 > d.r.remaining) throw new OpenWireError(`truncated: stack trace of ${n} elements`);
  t.stackTrace = [];
  for (let i = 0; i < n; i++) {
    const className = decodeString(d, bs);
    const methodName = decodeString(d, bs);
    const fileName = decodeString(d, bs);
    t.stackTrace.push({ className, methodName, fileName, lineNumber: d.r.int() });
  }
  t.cause = decodeThrowable(d, bs, depth + 1);
  return t;
}

function readBooleanStream(r: Reader): BooleanStreamReader {
  let n = r.ubyte();
  if (n === 0xc0) n = r.ubyte();
  else if (n === 0x80) n = r.short();
  if (n < 0) throw new OpenWireError(`negative boolean stream length ${n}`);
  return new BooleanStreamReader(r.bytes(n, 'boolean stream'));
}

/** Unmarshals one frame payload (type byte onward, no size prefix). Returns null for a NULL frame. */
export function unmarshalPayload(
  payload: Buffer,
  opts: MarshalOptions,
  cache: UnmarshalCache | null,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): DataStructure | null {
  const r = new Reader(payload);
  const type = r.ubyte();
  if (type === 0) return null;
  schemaOf(type);
  const d: Dec = { opts, cache, r, limits };
  const bs = opts.tightEncoding ? readBooleanStream(r) : null;
  return decodeFields(d, type, bs, 0);
}
