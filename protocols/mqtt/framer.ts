/**
 * The guard in front of the mqtt-packet parser: splits the byte stream into whole MQTT packets by reading the
 * fixed header and the Remaining Length varint itself, so that
 * - a packet announcing more than the maximum packet size is refused as soon as its header arrives, before
 *   any of its body is buffered (mqtt-packet alone buffers up to the 256 MiB the protocol allows);
 * - a malformed Remaining Length (a fifth continuation byte) is refused;
 * - the first packet of a connection must be CONNECT (anything else closes it at the first byte);
 * - the parser is handed exactly one packet per call, so a mis-sized field can never read into the next
 *   packet's bytes.
 * A large packet that arrives in many chunks is assembled into one buffer of its announced size (no
 * quadratic re-concatenation).
 */

export type FrameErrorKind = 'malformed' | 'too-large' | 'not-connect';

export class FrameError extends Error {
  constructor(readonly kind: FrameErrorKind, message: string, readonly size?: number) {
    super(message);
  }
}

export class Framer {
  /** Bytes of an incomplete header (or of a small incomplete packet). */
  private rest: Buffer | null = null;
  /** A large packet being assembled: its buffer and how much is filled. */
  private partial: Buffer | null = null;
  private filled = 0;
  expectConnect = true;

  constructor(public maxPacketSize: number) {}

  /**
   * Feed bytes; calls `onPacket` for every whole packet (first byte, and the packet including its header).
   * `onPacket` returns false to stop (the connection is closing). Throws FrameError on a violation.
   */
  push(chunk: Buffer, onPacket: (first: number, packet: Buffer, headerLength: number) => boolean): void {
    if (this.partial) {
      const want = this.partial.length - this.filled;
      const n = Math.min(want, chunk.length);
      chunk.copy(this.partial, this.filled, 0, n);
      this.filled += n;
      if (this.filled < this.partial.length) return;
      const pkt = this.partial;
      this.partial = null;
      this.filled = 0;
      const hl = headerLength(pkt);
      if (!onPacket(pkt[0], pkt, hl)) return;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return;
    }
    let data = chunk;
    if (this.rest) {
      data = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let off = 0;
    const len = data.length;
    while (off < len) {
      const first = data[off];
      if (this.expectConnect && first >> 4 !== 1) throw new FrameError('not-connect', `first packet must be CONNECT, got packet type ${first >> 4}`);
      // Remaining Length: 1–4 bytes, 7 bits each
      let value = 0;
      let mul = 1;
      let i = off + 1;
      let done = false;
      for (let k = 0; k < 4 && i < len; k++, i++) {
        const b = data[i];
        value += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          done = true;
          i++;
          break;
        }
        if (k === 3) throw new FrameError('malformed', 'malformed Remaining Length (more than 4 bytes)');
      }
      if (!done) {
        this.rest = Buffer.from(data.subarray(off));
        return;
      }
      const hl = i - off;
      const total = hl + value;
      if (total > this.maxPacketSize) throw new FrameError('too-large', `packet of ${total} bytes exceeds the maximum packet size of ${this.maxPacketSize}`, total);
      if (this.expectConnect) this.expectConnect = false;
      if (len - off >= total) {
        const pkt = data.subarray(off, off + total);
        off += total;
        if (!onPacket(first, pkt, hl)) return;
        continue;
      }
      // incomplete
      const have = len - off;
      if (total > 64 * 1024) {
        this.partial = Buffer.allocUnsafe(total);
        data.copy(this.partial, 0, off, len);
        this.filled = have;
      } else {
        this.rest = Buffer.from(data.subarray(off));
      }
      return;
    }
  }

  /** Bytes held waiting for the rest of a packet. */
  get buffered(): number {
    return (this.rest?.length ?? 0) + this.filled;
  }
}

function headerLength(pkt: Buffer): number {
  let i = 1;
  while (i < 5 && pkt[i] & 0x80) i++;
  return i + 1;
}

/**
 * Split well-formed outgoing bytes (whole MQTT packets, as the connection writes them) into one buffer per
 * packet (views, no copy). On WebSocket each goes in its own message: MQTT-6.0.0-2 allows several packets per
 * frame, but the Eclipse Paho C client (1.3.x) leaves the second and later packets of a frame unread until
 * more bytes arrive on the socket (a SUBACK behind a retained PUBLISH waited for the next PINGRESP), and
 * mosquitto sends one packet per frame.
 */
export function splitPackets(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    let i = off + 1;
    let value = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++];
      value += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0 || i - off > 4) break;
    }
    const end = Math.min(buf.length, i + value);
    out.push(buf.subarray(off, end));
    off = end;
  }
  return out;
}
