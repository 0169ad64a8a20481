import { OpenWireError } from './errors.js';

/**
 * Tight encoding packs every boolean of a command (null flags, boolean fields, the size class of
 * longs, string forms) into a bit array written up front: LSB first within each byte. The byte
 * count is prefixed as one byte (< 64), 0xC0 + one byte (< 256), or 0x80 + a 16-bit count.
 */
export class BooleanStreamWriter {
  private bytes: number[] = [];
  private bit = 8;

  write(value: boolean): void {
    if (this.bit === 8) {
      this.bytes.push(0);
      this.bit = 0;
    }
    if (value) this.bytes[this.bytes.length - 1]! |= 1 << this.bit;
    this.bit++;
  }

  /** Size of the marshalled stream, count prefix included. */
  marshalledSize(): number {
    const n = this.bytes.length;
    return n + (n < 64 ? 1 : n < 256 ? 2 : 3);
  }

  writeTo(out: Buffer, offset: number): number {
    const n = this.bytes.length;
    let p = offset;
    if (n < 64) {
      out[p++] = n;
    } else if (n < 256) {
      out[p++] = 0xc0;
      out[p++] = n;
    } else {
      if (n > 0x7fff) throw new OpenWireError(`too many booleans for one command (${n} bytes)`);
      out[p++] = 0x80;
      out.writeUInt16BE(n, p);
      p += 2;
    }
    for (let i = 0; i < n; i++) out[p++] = this.bytes[i]!;
    return p - offset;
  }
}

export class BooleanStreamReader {
  private pos = 0;
  private bit = 0;
  constructor(private readonly data: Uint8Array) {}

  read(): boolean {
    if (this.pos >= this.data.length) throw new OpenWireError('boolean stream exhausted (corrupt or truncated command)');
    const v = ((this.data[this.pos]! >> this.bit) & 1) !== 0;
    if (++this.bit === 8) {
      this.bit = 0;
      this.pos++;
    }
    return v;
  }
}
