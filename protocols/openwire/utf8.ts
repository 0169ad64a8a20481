import { OpenWireError } from './errors.js';

// Java's DataOutput.writeUTF and ActiveMQ's MarshallingSupport.writeUTF8 use "modified UTF-8":
// every UTF-16 code unit is encoded on its own (so surrogate pairs become two 3-byte sequences)
// and U+0000 becomes the two bytes C0 80. Node's 'utf8' encoding differs on both points, so the
// codec carries its own encoder/decoder to stay byte-exact with Java peers.

/** Number of modified-UTF-8 bytes `s` encodes to. */
export function modifiedUtf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x0001 && c <= 0x007f) n += 1;
    else if (c <= 0x07ff) n += 2;
    else n += 3;
  }
  return n;
}

/** True when every code unit is in 0x01..0x7F (tight encoding then writes plain bytes). */
export function isSimpleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x0001 || c > 0x007f) return false;
  }
  return true;
}

export function encodeModifiedUtf8(s: string, out: Buffer, offset: number): number {
  let p = offset;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x0001 && c <= 0x007f) {
      out[p++] = c;
    } else if (c <= 0x07ff) {
      out[p++] = 0xc0 | ((c >> 6) & 0x1f);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      out[p++] = 0xe0 | ((c >> 12) & 0x0f);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p - offset;
}

/** Decodes modified UTF-8 (also accepts standard UTF-8 for BMP characters, as Java does). */
export function decodeModifiedUtf8(buf: Uint8Array, start: number, end: number): string {
  // Fast path: pure ASCII needs no state machine.
  let i = start;
  while (i < end && buf[i]! < 0x80) i++;
  if (i === end) return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
  const units: number[] = [];
  for (let k = start; k < i; k++) units.push(buf[k]!);
  let chunks = '';
  while (i < end) {
    const a = buf[i++]!;
    if (a < 0x80) {
      units.push(a);
    } else if ((a & 0xe0) === 0xc0) {
      if (i >= end) throw new OpenWireError('malformed modified UTF-8: truncated 2-byte sequence');
      const b = buf[i++]!;
      if ((b & 0xc0) !== 0x80) throw new OpenWireError('malformed modified UTF-8: bad continuation byte');
      units.push(((a & 0x1f) << 6) | (b & 0x3f));
    } else if ((a & 0xf0) === 0xe0) {
      if (i + 1 >= end) throw new OpenWireError('malformed modified UTF-8: truncated 3-byte sequence');
      const b = buf[i++]!;
      const c = buf[i++]!;
      if ((b & 0xc0) !== 0x80 || (c & 0xc0) !== 0x80) throw new OpenWireError('malformed modified UTF-8: bad continuation byte');
      units.push(((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f));
    } else {
      throw new OpenWireError('malformed modified UTF-8: invalid lead byte');
    }
    // Flush in slices so String.fromCharCode never gets an argument list too long for the stack.
    if (units.length >= 8192) {
      chunks += String.fromCharCode(...units);
      units.length = 0;
    }
  }
  return chunks + String.fromCharCode(...units);
}
