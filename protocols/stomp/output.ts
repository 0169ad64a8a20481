/**
 * A connection's outgoing frames of one event turn, written into shared buffers and handed to the socket as one
 * write per buffer at the end of the turn. Each frame written to a corked stream instead cost a Writable request
 * (its object, its callback, an entry in the writev array); a window of receipts and MESSAGEs is dozens a turn.
 * Buffers are never reused once taken: the socket may still be writing them.
 */
const CHUNK = 16 * 1024;

export class OutputBuffer {
  private buf: Buffer | null = null;
  private len = 0;
  private full: Buffer[] = [];
  private fullBytes = 0;

  /** Bytes written and not taken yet. */
  get pending(): number {
    return this.fullBytes + this.len;
  }

  /** Room for at least `n` more bytes at `this.len`. */
  private room(n: number): Buffer {
    const b = this.buf;
    if (b !== null && b.length - this.len >= n) return b;
    if (b !== null && this.len > 0) {
      this.full.push(b.subarray(0, this.len));
      this.fullBytes += this.len;
    }
    this.len = 0;
    return (this.buf = Buffer.allocUnsafeSlow(Math.max(CHUNK, n)));
  }

  /** A string as UTF-8 (it may contain NUL). */
  string(s: string): void {
    const b = this.room(s.length * 3);
    // Buffer's own encoder: `write` spends more on its argument handling than on a frame's header bytes
    this.len += (b as unknown as Utf8Writer).utf8Write(s, this.len, b.length - this.len);
  }

  bytes(src: Buffer): void {
    const b = this.room(src.length);
    src.copy(b, this.len);
    this.len += src.length;
  }

  byte(x: number): void {
    const b = this.room(1);
    b[this.len++] = x;
  }

  /** Everything written since the last take, in order (empty when nothing was). */
  take(): Buffer[] {
    const out = this.full;
    if (this.len > 0) {
      out.push(this.buf!.subarray(0, this.len));
      // the rest of the buffer stays for the next turn: only the part handed out is the socket's
      this.buf = this.buf!.length - this.len >= 1024 ? this.buf!.subarray(this.len) : null;
      this.len = 0;
    }
    this.full = [];
    this.fullBytes = 0;
    return out;
  }
}

/** On Buffer.prototype in every Node (what `buf.write(s, offset)` calls after checking its arguments). */
interface Utf8Writer {
  utf8Write(s: string, offset: number, length: number): number;
}
