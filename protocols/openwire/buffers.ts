import { OpenWireError } from './errors.js';
import { decodeModifiedUtf8, encodeModifiedUtf8, modifiedUtf8Length } from './utf8.js';

/**
 * Big-endian reader over one frame. Every read checks the remaining bytes first, so a length or
 * count taken from the wire can never make us allocate or read beyond what actually arrived.
 */
export class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start = 0, readonly end = buf.length) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (n < 0) throw new OpenWireError(`negative ${what} length ${n}`);
    if (n > this.end - this.pos) throw new OpenWireError(`truncated: ${what} needs ${n} bytes, ${this.end - this.pos} left`);
  }

  byte(): number {
    this.need(1, 'byte');
    return this.buf.readInt8(this.pos++);
  }
  ubyte(): number {
    this.need(1, 'byte');
    return this.buf[this.pos++]!;
  }
  bool(): boolean {
    return this.ubyte() !== 0;
  }
  short(): number {
    this.need(2, 'short');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  ushort(): number {
    this.need(2, 'short');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  long(): bigint {
    this.need(8, 'long');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  float(): number {
    this.need(4, 'float');
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }
  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A copy, so decoded commands never pin (or alias) the socket's receive buffer. */
  bytes(n: number, what = 'byte array'): Buffer {
    this.need(n, what);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  /** Java readUTF: unsigned 16-bit length, modified UTF-8. */
  utf(): string {
    return this.utfBody(this.ushort());
  }
  utfBody(len: number): string {
    this.need(len, 'string');
    const s = decodeModifiedUtf8(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
  /** Bytes taken one char each (Java's deprecated String(byte[], hibyte=0) constructor). */
  latin1(len: number): string {
    this.need(len, 'string');
    const s = this.buf.toString('latin1', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

/** Growable big-endian writer. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.pos);
    this.buf = nb;
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  bool(v: boolean): void {
    this.byte(v ? 1 : 0);
  }
  short(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
  }
  int(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
  }
  long(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.pos);
    this.pos += 8;
  }
  float(v: number): void {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }
  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Java writeUTF (16-bit length, modified UTF-8; at most 65535 bytes). */
  utf(s: string): void {
    const n = modifiedUtf8Length(s);
    if (n > 0xffff) throw new OpenWireError(`string of ${n} UTF-8 bytes is too long for a 16-bit length`);
    this.short(n);
    this.utfBody(s, n);
  }
  utfBody(s: string, n = modifiedUtf8Length(s)): void {
    this.ensure(n);
    this.pos += encodeModifiedUtf8(s, this.buf, this.pos);
  }
  latin1(s: string): void {
    this.ensure(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
