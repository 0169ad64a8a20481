/**
 * AMQP 1.0 message bytes: a section scanner for inbound transfers (offsets of every section, so the bare
 * message can be kept byte for byte) and a small direct encoder for outbound sections. Performatives,
 * SASL and link state stay with rhea; messages never go through rhea's encode/decode, which changes value
 * types on a round trip (a ubyte comes back a uint, a symbol a string...).
 */
import { isUtf8 } from 'node:buffer';
import { type PropertyValue } from '../../src/core/api.js';
import { rheaTypes, type Typed } from './rhea.js';

/** Section descriptors (AMQP 1.0 §3.2). */
export const SECTION = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
} as const;

const SYMBOLIC: Record<string, number> = {
  'amqp:header:list': 0x70,
  'amqp:delivery-annotations:map': 0x71,
  'amqp:message-annotations:map': 0x72,
  'amqp:properties:list': 0x73,
  'amqp:application-properties:map': 0x74,
  'amqp:data:binary': 0x75,
  'amqp:amqp-sequence:list': 0x76,
  'amqp:amqp-value:*': 0x77,
  'amqp:footer:map': 0x78,
};

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** A descriptor at `p`: `0x00` then a ulong or symbol. Returns the numeric code (symbols mapped) and where the value starts. */
export function readDescriptor(buf: Buffer, p: number, symbols: Record<string, number> = SYMBOLIC): { code: number; next: number } {
  if (buf[p] !== 0x00) throw new DecodeError(`expected a described section at byte ${p}`);
  const c = buf[p + 1];
  switch (c) {
    case 0x53:
      need(buf, p + 3);
      return { code: buf[p + 2]!, next: p + 3 };
    case 0x80: {
      need(buf, p + 10);
      const hi = buf.readUInt32BE(p + 2);
      const lo = buf.readUInt32BE(p + 6);
      return { code: hi === 0 ? lo : -1, next: p + 10 };
    }
    case 0x44:
      return { code: 0, next: p + 2 };
    case 0xa3: {
      need(buf, p + 3);
      const len = buf[p + 2]!;
      need(buf, p + 3 + len);
      return { code: symbols[buf.toString('latin1', p + 3, p + 3 + len)] ?? -1, next: p + 3 + len };
    }
    case 0xb3: {
      need(buf, p + 6);
      const len = buf.readUInt32BE(p + 2);
      need(buf, p + 6 + len);
      return { code: symbols[buf.toString('latin1', p + 6, p + 6 + len)] ?? -1, next: p + 6 + len };
    }
    default:
      throw new DecodeError(`unsupported descriptor constructor 0x${(c ?? 0).toString(16)} at byte ${p + 1}`);
  }
}

function need(buf: Buffer, end: number): void {
  if (end > buf.length) throw new DecodeError('truncated message');
}

/** One section: [start, end) in the message bytes, and its decoded value when it was decoded. */
export interface Section {
  code: number;
  start: number;
  end: number;
  value?: Typed;
}

export interface ScannedMessage {
  header?: Section;
  deliveryAnnotations?: Section;
  messageAnnotations?: Section;
  properties?: Section;
  applicationProperties?: Section;
  /** Every body section, in order. */
  body: Section[];
  bodyKind: 'none' | 'data' | 'value' | 'sequence';
  footer?: Section;
  /**
   * Where the body's bytes sit when they are one contiguous run the core body can hold unchanged (one data
   * section, or an amqp-value string/binary/null): [contentStart, contentEnd).
   */
  content?: { start: number; end: number; kind: 'binary' | 'string' | 'null' };
}

/** Reads a variable-width value header (vbin/str) at `q`: content offsets, or null if another type. */
function variable(buf: Buffer, q: number): { start: number; end: number; str: boolean } | null {
  const code = buf[q];
  if (code === 0xa0 || code === 0xa1) {
    need(buf, q + 2);
    const start = q + 2;
    const end = start + buf[q + 1]!;
    need(buf, end);
    return { start, end, str: code === 0xa1 };
  }
  if (code === 0xb0 || code === 0xb1) {
    need(buf, q + 5);
    const start = q + 5;
    const end = start + buf.readUInt32BE(q + 1);
    need(buf, end);
    return { start, end, str: code === 0xb1 };
  }
  return null;
}

/** Split an encoded AMQP message into its sections (throws DecodeError on malformed input). */
export function scanMessage(buf: Buffer): ScannedMessage {
  const out: ScannedMessage = { body: [], bodyKind: 'none' };
  let p = 0;
  let reader: InstanceType<typeof rheaTypes.Reader> | null = null;
  const decodeAt = (start: number): { value: Typed; end: number } => {
    reader ??= new rheaTypes.Reader(buf);
    reader.position = start;
    let value: Typed;
    try {
      value = reader.read();
    } catch (err) {
      throw new DecodeError(`malformed section value: ${(err as Error).message}`);
    }
    if (reader.position > buf.length) throw new DecodeError('truncated message');
    return { value, end: reader.position };
  };
  let last = 0;
  while (p < buf.length) {
    const { code, next } = readDescriptor(buf, p);
    if (code < SECTION.header || code > SECTION.footer) throw new DecodeError(`unknown message section descriptor at byte ${p}`);
    // Order is not policed beyond "header first, each annotation/properties section once": rhea, for one,
    // encodes the footer before the body. Outbound, sections always go in the specified order.
    const s: Section = { code, start: p, end: 0 };
    if (code === SECTION.data || code === SECTION.value) {
      const v = variable(buf, next);
      if (v && (code === SECTION.data ? !v.str : true)) {
        s.end = v.end;
        if (out.body.length === 0) out.content = { start: v.start, end: v.end, kind: v.str ? 'string' : 'binary' };
        else out.content = undefined;
      } else if (code === SECTION.value && buf[next] === 0x40) {
        s.end = next + 1;
        if (out.body.length === 0) out.content = { start: s.end, end: s.end, kind: 'null' };
      } else {
        if (code === SECTION.data) throw new DecodeError('a data section must hold binary');
        const r = decodeAt(next);
        s.value = r.value;
        s.end = r.end;
        out.content = undefined;
      }
    } else {
      // header, annotations, properties, footer: flat lists/maps of simple values in practice
      const r = readFlat(buf, next) ?? decodeAt(next);
      s.value = r.value;
      s.end = r.end;
    }
    switch (code) {
      case SECTION.header:
        if (out.header || last > 0) throw new DecodeError('misplaced header section');
        out.header = s;
        break;
      case SECTION.deliveryAnnotations:
        if (out.deliveryAnnotations) throw new DecodeError('repeated delivery-annotations');
        out.deliveryAnnotations = s;
        break;
      case SECTION.messageAnnotations:
        if (out.messageAnnotations) throw new DecodeError('repeated message-annotations');
        out.messageAnnotations = s;
        break;
      case SECTION.properties:
        if (out.properties) throw new DecodeError('repeated properties');
        out.properties = s;
        break;
      case SECTION.applicationProperties:
        if (out.applicationProperties) throw new DecodeError('repeated application-properties');
        out.applicationProperties = s;
        break;
      case SECTION.footer:
        if (out.footer) throw new DecodeError('repeated footer');
        out.footer = s;
        break;
      default: {
        const kind = code === SECTION.data ? 'data' : code === SECTION.sequence ? 'sequence' : 'value';
        if (out.bodyKind !== 'none' && (out.bodyKind !== kind || kind === 'value')) throw new DecodeError('mixed or repeated body sections');
        out.bodyKind = kind;
        if (out.body.length > 0) out.content = undefined;
        out.body.push(s);
      }
    }
    last = code;
    p = s.end;
  }
  return out;
}

// ------------------------------------------------------------------------------------ flat sections, fast

/** The type objects the fast reader hangs on its values (only `typecode` is read downstream). */
const FLAT_TYPES: Array<Typed['type'] | undefined> = [];
function flatType(code: number): Typed['type'] {
  return (FLAT_TYPES[code] ??= { typecode: code, name: `0x${code.toString(16)}` });
}

/** At most this many elements in one list/map on the fast path (rhea's reader bounds the rest). */
const FLAT_MAX = 1024;

/** rhea's representation of a 64-bit value: a number while it is exact enough, the 8 bytes otherwise. */
function long64(buf: Buffer, q: number, signed: boolean): number | Buffer {
  const hi = signed ? buf.readInt32BE(q) : buf.readUInt32BE(q);
  const lo = buf.readUInt32BE(q + 4);
  return hi < 2097153 && hi > -2097153 ? hi * 4294967296 + lo : buf.subarray(q, q + 8);
}

/**
 * One value of a simple (scalar) type at `q`, as rhea's reader would give it; `next` is set to the end.
 * undefined when the type is not one this reader knows, or the bytes run out (rhea's reader then decides).
 */
function readScalar(buf: Buffer, q: number, out: { next: number }): Typed | undefined {
  const n = buf.length;
  if (q >= n) return undefined;
  const code = buf[q]!;
  let value: unknown;
  let end: number;
  switch (code) {
    case 0x40:
      value = null;
      end = q + 1;
      break;
    case 0x41:
      value = true;
      end = q + 1;
      break;
    case 0x42:
      value = false;
      end = q + 1;
      break;
    case 0x43:
    case 0x44:
      value = 0;
      end = q + 1;
      break;
    case 0x50:
    case 0x52:
    case 0x53:
    case 0x56:
      end = q + 2;
      if (end > n) return undefined;
      value = buf[q + 1];
      break;
    case 0x51:
    case 0x54:
    case 0x55:
      end = q + 2;
      if (end > n) return undefined;
      value = buf.readInt8(q + 1);
      break;
    case 0x60:
      end = q + 3;
      if (end > n) return undefined;
      value = buf.readUInt16BE(q + 1);
      break;
    case 0x61:
      end = q + 3;
      if (end > n) return undefined;
      value = buf.readInt16BE(q + 1);
      break;
    case 0x70:
    case 0x73:
      end = q + 5;
      if (end > n) return undefined;
      value = buf.readUInt32BE(q + 1);
      break;
    case 0x71:
      end = q + 5;
      if (end > n) return undefined;
      value = buf.readInt32BE(q + 1);
      break;
    case 0x72:
      end = q + 5;
      if (end > n) return undefined;
      value = buf.readFloatBE(q + 1);
      break;
    case 0x80:
    case 0x81:
      end = q + 9;
      if (end > n) return undefined;
      value = long64(buf, q + 1, code === 0x81);
      break;
    case 0x82:
      end = q + 9;
      if (end > n) return undefined;
      value = buf.readDoubleBE(q + 1);
      break;
    case 0x83: {
      end = q + 9;
      if (end > n) return undefined;
      const ms = long64(buf, q + 1, true);
      if (typeof ms !== 'number') return undefined;
      value = new Date(ms);
      break;
    }
    case 0x98:
      end = q + 17;
      if (end > n) return undefined;
      value = buf.subarray(q + 1, end);
      break;
    case 0xa0:
    case 0xa1:
    case 0xa3: {
      if (q + 2 > n) return undefined;
      end = q + 2 + buf[q + 1]!;
      if (end > n) return undefined;
      if (code === 0xa1 && !isUtf8(buf.subarray(q + 2, end))) return undefined; // rhea's reader throws the decode error
      value = code === 0xa0 ? buf.subarray(q + 2, end) : buf.toString(code === 0xa1 ? 'utf8' : 'ascii', q + 2, end);
      break;
    }
    case 0xb0:
    case 0xb1:
    case 0xb3: {
      if (q + 5 > n) return undefined;
      end = q + 5 + buf.readUInt32BE(q + 1);
      if (end > n) return undefined;
      if (code === 0xb1 && !isUtf8(buf.subarray(q + 5, end))) return undefined;
      value = code === 0xb0 ? buf.subarray(q + 5, end) : buf.toString(code === 0xb1 ? 'utf8' : 'ascii', q + 5, end);
      break;
    }
    default:
      return undefined;
  }
  out.next = end;
  return { type: flatType(code), value };
}

/**
 * A list or map whose elements are all simple values (what a header, properties, annotations and
 * application-properties section holds in practice), read without rhea's generic reader and its
 * composite objects. null when the value is anything else (nested, described, arrays...) or malformed:
 * the caller then uses rhea's reader, which decodes or rejects it as before.
 */
export function readFlat(buf: Buffer, p: number): { value: Typed; end: number } | null {
  const code = buf[p];
  let count: number;
  let q: number;
  let end: number;
  if (code === 0x45) return { value: { type: flatType(0x45), value: [] }, end: p + 1 };
  if (code === 0xc0 || code === 0xc1) {
    if (p + 3 > buf.length) return null;
    end = p + 2 + buf[p + 1]!;
    count = buf[p + 2]!;
    q = p + 3;
  } else if (code === 0xd0 || code === 0xd1) {
    if (p + 9 > buf.length) return null;
    end = p + 5 + buf.readUInt32BE(p + 1);
    count = buf.readUInt32BE(p + 5);
    q = p + 9;
  } else return null;
  if (end > buf.length || count > FLAT_MAX || count > end - q || ((code === 0xc1 || code === 0xd1) && count % 2 !== 0)) return null;
  const items: Typed[] = new Array(count);
  const at = { next: q };
  for (let i = 0; i < count; i++) {
    const v = readScalar(buf, at.next, at);
    if (!v || at.next > end) return null;
    items[i] = v;
  }
  if (at.next !== end) return null;
  return { value: { type: flatType(code), value: items }, end };
}

// ------------------------------------------------------------------------------------ typed → JS

function bigFrom(b: Buffer, signed: boolean): bigint {
  return signed ? b.readBigInt64BE(0) : b.readBigUInt64BE(0);
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A list's or map's elements (rhea keeps them as an array of Typed). */
export function elements(t: Typed | undefined): Typed[] {
  if (!t || !Array.isArray(t.value)) return [];
  return t.value as Typed[];
}

/** A simple typed value as a core property value; undefined for compound values (not allowed in application-properties). */
export function toProperty(t: Typed | undefined): PropertyValue | undefined {
  if (!t || !t.type) return undefined;
  const code = t.type.typecode;
  const v = t.value;
  switch (code) {
    case 0x40:
      return null;
    case 0x41:
      return true;
    case 0x42:
      return false;
    case 0x56:
      return v !== 0;
    case 0x80:
    case 0x53:
    case 0x44:
      return Buffer.isBuffer(v) ? bigFrom(v, false) : (v as number);
    case 0x81:
    case 0x55:
      return Buffer.isBuffer(v) ? bigFrom(v, true) : (v as number);
    case 0x83: {
      const ms = v instanceof Date ? v.getTime() : Number(v);
      return Number.isFinite(ms) ? ms : 0;
    }
    case 0x73:
      try {
        return String.fromCodePoint(v as number);
      } catch {
        return null;
      }
    case 0x98:
      return Buffer.isBuffer(v) && v.length === 16 ? uuidString(v) : null;
    case 0xa0:
    case 0xb0:
      return Buffer.isBuffer(v) ? v : null;
    case 0xa1:
    case 0xb1:
    case 0xa3:
    case 0xb3:
      return v as string;
    case 0x74:
    case 0x84:
    case 0x94:
      return Buffer.isBuffer(v) ? v : null;
    default:
      if (typeof v === 'number' || typeof v === 'boolean') return v;
      return undefined;
  }
}

/** Any typed value as plain JS (maps → objects, lists/arrays → arrays, described → their value). */
export function toJs(t: Typed | undefined, depth = 0): unknown {
  if (!t || !t.type) return null;
  if (depth > 32) return null;
  const code = t.type.typecode;
  if (code === 0xc1 || code === 0xd1) {
    const els = elements(t);
    const o: Record<string, unknown> = {};
    for (let i = 0; i + 1 < els.length; i += 2) {
      const k = toJs(els[i], depth + 1);
      Object.defineProperty(o, typeof k === 'string' ? k : JSON.stringify(jsonSafe(k)), { value: toJs(els[i + 1], depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  if (code === 0x45 || code === 0xc0 || code === 0xd0 || code === 0xe0 || code === 0xf0) {
    const els = Array.isArray(t.value) ? (t.value as unknown[]) : [];
    if (code === 0xe0 || code === 0xf0) return els.map((x) => (x && typeof x === 'object' && 'type' in (x as object) ? toJs(x as Typed, depth + 1) : x));
    return els.map((x) => toJs(x as Typed, depth + 1));
  }
  const p = toProperty(t);
  return p === undefined ? null : p;
}

/** JSON-friendly: Buffers as base64 strings, bigints as strings. */
export function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null, (_k, x) => (typeof x === 'bigint' ? x.toString() : x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data) ? Buffer.from((x as { data: number[] }).data).toString('base64') : x)));
}

/** A map section's entries with symbol/string keys. */
export function mapEntries(t: Typed | undefined): Array<[string, Typed]> {
  const els = elements(t);
  const out: Array<[string, Typed]> = [];
  for (let i = 0; i + 1 < els.length; i += 2) {
    const k = els[i]!;
    if (typeof k.value === 'string') out.push([k.value, els[i + 1]!]);
  }
  return out;
}

// ------------------------------------------------------------------------------------ encoder

/** A growing buffer writing AMQP 1.0 encoded values directly (no intermediate Typed objects). */
export class Encoder {
  buf: Buffer;
  pos = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  toBuffer(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  raw(b: Buffer): this {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
    return this;
  }

  private u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  private u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  null(): this {
    this.u8(0x40);
    return this;
  }

  bool(v: boolean): this {
    this.u8(v ? 0x41 : 0x42);
    return this;
  }

  ubyte(v: number): this {
    this.u8(0x50);
    this.u8(v & 0xff);
    return this;
  }

  byte(v: number): this {
    this.ensure(2);
    this.buf[this.pos++] = 0x51;
    this.buf.writeInt8(v, this.pos++);
    return this;
  }

  uint(v: number): this {
    if (v === 0) this.u8(0x43);
    else if (v < 256) {
      this.u8(0x52);
      this.u8(v);
    } else {
      this.u8(0x70);
      this.u32(v);
    }
    return this;
  }

  ulong(v: number | bigint): this {
    if (typeof v === 'number' && v === 0) this.u8(0x44);
    else if (typeof v === 'number' && v > 0 && v < 256) {
      this.u8(0x53);
      this.u8(v);
    } else {
      this.ensure(9);
      this.buf[this.pos++] = 0x80;
      this.buf.writeBigUInt64BE(BigInt(v), this.pos);
      this.pos += 8;
    }
    return this;
  }

  int(v: number): this {
    this.ensure(5);
    if (v >= -128 && v <= 127) {
      this.buf[this.pos++] = 0x54;
      this.buf.writeInt8(v, this.pos++);
    } else {
      this.buf[this.pos++] = 0x71;
      this.buf.writeInt32BE(v, this.pos);
      this.pos += 4;
    }
    return this;
  }

  long(v: number | bigint): this {
    this.ensure(9);
    if (typeof v === 'number' && v >= -128 && v <= 127) {
      this.buf[this.pos++] = 0x55;
      this.buf.writeInt8(v, this.pos++);
    } else {
      this.buf[this.pos++] = 0x81;
      this.buf.writeBigInt64BE(BigInt(v), this.pos);
      this.pos += 8;
    }
    return this;
  }

  short(v: number): this {
    this.ensure(3);
    this.buf[this.pos++] = 0x61;
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  float(v: number): this {
    this.ensure(5);
    this.buf[this.pos++] = 0x72;
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
    return this;
  }

  char(codePoint: number): this {
    this.ensure(5);
    this.buf[this.pos++] = 0x73;
    this.buf.writeUInt32BE(codePoint, this.pos);
    this.pos += 4;
    return this;
  }

  double(v: number): this {
    this.ensure(9);
    this.buf[this.pos++] = 0x82;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
    return this;
  }

  timestamp(ms: number): this {
    this.ensure(9);
    this.buf[this.pos++] = 0x83;
    this.buf.writeBigInt64BE(BigInt(Math.trunc(ms)), this.pos);
    this.pos += 8;
    return this;
  }

  private variable(code8: number, code32: number, b: Buffer | string, encoding: BufferEncoding): this {
    const len = typeof b === 'string' ? Buffer.byteLength(b, encoding) : b.length;
    this.ensure(5 + len);
    if (len < 256) {
      this.buf[this.pos++] = code8;
      this.buf[this.pos++] = len;
    } else {
      this.buf[this.pos++] = code32;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
    if (typeof b === 'string') this.buf.write(b, this.pos, len, encoding);
    else b.copy(this.buf, this.pos);
    this.pos += len;
    return this;
  }

  binary(b: Buffer): this {
    return this.variable(0xa0, 0xb0, b, 'binary');
  }

  string(s: string): this {
    return this.variable(0xa1, 0xb1, s, 'utf8');
  }

  symbol(s: string): this {
    return this.variable(0xa3, 0xb3, s, 'latin1');
  }

  /** `0x00 0x53 code`: a small-ulong descriptor. */
  descriptor(code: number): this {
    this.ensure(3);
    this.buf[this.pos++] = 0x00;
    this.buf[this.pos++] = 0x53;
    this.buf[this.pos++] = code;
    return this;
  }

  /** Start a list32/map32; returns the mark for `end`. */
  begin(map: boolean): number {
    this.ensure(9);
    this.buf[this.pos++] = map ? 0xd1 : 0xd0;
    const mark = this.pos;
    this.pos += 8;
    return mark;
  }

  /** Close a list/map begun at `mark` holding `count` elements (a map counts keys and values). */
  end(mark: number, count: number): this {
    this.buf.writeUInt32BE(this.pos - mark - 4, mark);
    this.buf.writeUInt32BE(count, mark + 4);
    return this;
  }

  /** A core property value with the narrowest faithful AMQP type. */
  property(v: PropertyValue | undefined): this {
    if (v === null || v === undefined) return this.null();
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'boolean':
        return this.bool(v);
      case 'bigint':
        return v >= -(2n ** 63n) && v < 2n ** 63n ? this.long(v) : this.ulong(v);
      case 'number':
        if (Number.isInteger(v)) {
          if (v >= -2147483648 && v <= 2147483647) return this.int(v);
          if (Number.isSafeInteger(v)) return this.long(v);
        }
        return this.double(v);
      default:
        if (Buffer.isBuffer(v)) return this.binary(v);
        return this.string(String(v));
    }
  }

  /**
   * A core property value with the Java type a JMS producer gave it (byte, short, long, float, double, char — what
   * the core's numbers and strings cannot tell apart), so a JMS consumer over AMQP reads it back with that type.
   */
  javaTypedProperty(v: PropertyValue | undefined, javaType: unknown): this {
    if (typeof v === 'number') {
      const int = Number.isInteger(v);
      switch (javaType) {
        case 'byte':
          if (int && v >= -128 && v <= 127) return this.byte(v);
          break;
        case 'short':
          if (int && v >= -32768 && v <= 32767) return this.short(v);
          break;
        case 'long':
          if (Number.isSafeInteger(v)) return this.long(v);
          break;
        case 'float':
          return this.float(v);
        case 'double':
          return this.double(v);
      }
    } else if (javaType === 'char' && typeof v === 'string' && v.length === 1) return this.char(v.charCodeAt(0));
    return this.property(v);
  }

  /** Plain JS (from JSON: objects, arrays, strings, numbers, booleans, null) as AMQP values. */
  value(v: unknown, depth = 0): this {
    if (depth > 32) return this.null();
    if (Array.isArray(v)) {
      const mark = this.begin(false);
      for (const x of v) this.value(x, depth + 1);
      return this.end(mark, v.length);
    }
    if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      const mark = this.begin(true);
      for (const [k, x] of entries) {
        this.string(k);
        this.value(x, depth + 1);
      }
      return this.end(mark, entries.length * 2);
    }
    return this.property(v as PropertyValue);
  }
}
