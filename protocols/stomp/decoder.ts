/**
 * Server-side STOMP 1.0 / 1.1 / 1.2 frame decoder ({@link StompDecoder}): streaming, push-based, bounded.
 * Bytes go in with `push(chunk)`; complete frames come out through `onFrame`, heart-beat EOLs through
 * `onHeartbeat`, and the first malformed or over-limit input through `onError` (once; the decoder then
 * ignores further input). The encoder is encoder.ts; codec.ts re-exports both.
 *
 * Wire rules implemented (STOMP 1.2 §"Augmented BNF", §"Value Encoding", §"Heart-beating"):
 * - a line ends in LF or CRLF (the CR is stripped; accepted in every version because 1.0/1.1 clients send it);
 * - EOLs between frames are heart-beats;
 * - header name and value are split on the first ':'; names and values are not trimmed;
 * - CONNECT, STOMP and CONNECTED frames are never (un)escaped; in 1.1 and 1.2 other frames use
 *   `\n` `\c` `\\` (and in 1.2 also `\r`); any other escape is an error; 1.0 has no escaping;
 * - the first `content-length` header decides the body: exactly that many bytes then a NUL, otherwise
 *   the body runs to the first NUL.
 */
import { isUtf8 } from 'node:buffer';
import { isConnectCommand, StompProtocolError, type StompErrorCode, type StompFrame, type StompVersion } from './frame.js';

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;
const BACKSLASH = 0x5c;

const KiB = 1024;
const MiB = 1024 * KiB;

const EMPTY = Buffer.alloc(0);
/** A body accumulator up to this size is kept for the next frame; larger ones are released. */
const ACC_KEEP = 64 * KiB;
/** First allocation for a content-length body; it grows as the body arrives. */
const BODY_INITIAL = 64 * KiB;
/** Most separate chunks queued while paused (bounds per-chunk overhead when input arrives in tiny pieces). */
const MAX_PENDING_CHUNKS = 1024;

export interface StompDecoderOptions {
  /** Longest command or header line in bytes, EOL excluded. Default 8 KiB. */
  maxLineLength?: number;
  /** Most header lines per frame. Default 128. */
  maxHeaders?: number;
  /** Largest body in bytes. Default 10 MiB. */
  maxBodySize?: number;
  /** Largest frame (command, header lines with their EOLs, body, NUL). Default maxBodySize + 1 MiB. */
  maxFrameSize?: number;
  /** Version used for header unescaping until the session sets `decoder.version`. Default '1.0'. */
  version?: StompVersion;
  onFrame?: (frame: StompFrame) => void;
  onHeartbeat?: () => void;
  onError?: (err: StompProtocolError) => void;
}

// decoder states
const S_IDLE = 0; // between frames: heart-beat EOLs or the start of a command
const S_IDLE_CR = 1; // saw CR between frames, LF must follow
const S_COMMAND = 2; // reading the command line
const S_HEADERS = 3; // reading header lines
const S_BODY_LENGTH = 4; // reading a content-length body
const S_BODY_NUL = 5; // reading a body up to the first NUL
const S_EXPECT_NUL = 6; // content-length body complete, NUL must follow

/**
 * Streaming STOMP frame decoder.
 *
 * Memory is bounded by the limits: at most one partial line (≤ maxLineLength + 1 bytes), the parsed headers
 * of the current frame, and its body (≤ maxBodySize); a limit is checked before input beyond it is kept.
 * Every chunk is scanned once: no re-scanning of buffered input, no concatenation per push.
 *
 * Bodies are always fresh Buffers (never views of pushed chunks), so stored messages do not pin socket
 * buffers. Pushed chunks are copied where the decoder must keep their bytes, except input queued while
 * paused (or pushed re-entrantly from a callback), which is kept by reference until it is decoded.
 *
 * Set `version` synchronously from `onFrame` when the CONNECT frame is handled: the next frame is decoded
 * with it. To negotiate asynchronously (authentication), call `pause()` in `onFrame` and `resume()` after
 * setting the version; pause the socket too, since input queued while paused is bounded by maxFrameSize.
 *
 * If a callback throws, the decoder stops (further input is ignored) and the exception propagates out of
 * `push()`/`resume()`.
 */
export class StompDecoder {
  version: StompVersion;
  onFrame: (frame: StompFrame) => void;
  onHeartbeat: () => void;
  onError: (err: StompProtocolError) => void;

  readonly maxLineLength: number;
  readonly maxHeaders: number;
  readonly maxBodySize: number;
  readonly maxFrameSize: number;

  private state = S_IDLE;
  private failed = false;
  private stopped = false;
  private _error: StompProtocolError | undefined;

  // partial line (only used when a line spans chunks)
  private line: Buffer = EMPTY;
  private lineLen = 0;

  // current frame
  private frameBytes = 0;
  private command = '';
  private headers: Array<[string, string]> = [];
  private unescapeMode = 0; // 0 none, 1 STOMP 1.1, 2 STOMP 1.2
  private contentLength = -1;
  private body: Buffer = EMPTY; // content-length body being filled
  private bodyLen = 0;
  private acc: Buffer = EMPTY; // body without content-length that spans chunks
  private accLen = 0;

  // re-entrancy and pause
  private running = false;
  private inCallback = false;
  private paused = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options: StompDecoderOptions = {}) {
    this.maxLineLength = positive(options.maxLineLength, 8 * KiB, 'maxLineLength');
    this.maxHeaders = nonNegative(options.maxHeaders, 128, 'maxHeaders');
    this.maxBodySize = nonNegative(options.maxBodySize, 10 * MiB, 'maxBodySize');
    this.maxFrameSize = positive(options.maxFrameSize, this.maxBodySize + MiB, 'maxFrameSize');
    this.version = options.version ?? '1.0';
    this.onFrame = options.onFrame ?? noop;
    this.onHeartbeat = options.onHeartbeat ?? noop;
    this.onError = options.onError ?? noop;
  }

  /** The error reported through onError, once the decoder has failed. */
  get error(): StompProtocolError | undefined {
    return this._error;
  }

  /** True after a protocol error (or a throwing callback): further input is ignored. */
  get closed(): boolean {
    return this.failed || this.stopped;
  }

  /** True when no partial frame is buffered (the connection may close cleanly here). */
  get idle(): boolean {
    return this.state === S_IDLE && this.pendingBytes === 0;
  }

  /** Bytes of input currently held: partial line, partial body, and input queued while paused. */
  get bufferedBytes(): number {
    return this.lineLen + this.bodyLen + this.accLen + this.pendingBytes;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stop emitting after the current frame/heart-beat; later input is queued (up to maxFrameSize bytes). */
  pause(): void {
    this.paused = true;
  }

  /** Continue decoding, starting with queued input. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.running) this.drive(undefined);
  }

  push(chunk: Buffer): void {
    if (this.failed || this.stopped || chunk.length === 0) return;
    if (this.running || this.paused) {
      // re-entrant push from a callback, or paused: keep order by queueing
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.paused && (this.pendingBytes > this.maxFrameSize || this.pending.length > MAX_PENDING_CHUNKS)) {
        this.fail(
          'input-overflow',
          'too much input while paused',
          `more than ${this.maxFrameSize} bytes or ${MAX_PENDING_CHUNKS} chunks arrived while frame processing was paused`,
        );
      }
      return;
    }
    this.drive(chunk);
  }

  private drive(first: Buffer | undefined): void {
    this.running = true;
    try {
      if (first !== undefined) this.process(first);
      while (!this.paused && !this.failed && !this.stopped && this.pending.length > 0) {
        const c = this.pending.shift()!;
        this.pendingBytes -= c.length;
        this.process(c);
      }
    } finally {
      this.running = false;
    }
  }

  private process(chunk: Buffer): void {
    try {
      this.run(chunk);
    } catch (err) {
      if (this.inCallback) {
        this.inCallback = false;
        this.stopped = true;
        this.release();
        throw err;
      }
      const msg = err instanceof Error ? err.message : String(err);
      this.fail('internal', 'internal decoder error', `internal decoder error: ${msg}`);
    }
  }

  private run(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.paused) {
        const rest = chunk.subarray(i);
        this.pending.unshift(rest);
        this.pendingBytes += rest.length;
        return;
      }
      switch (this.state) {
        case S_IDLE: {
          const b = chunk[i]!;
          if (b === LF) {
            i++;
            this.emitHeartbeat();
          } else if (b === CR) {
            i++;
            this.state = S_IDLE_CR;
          } else if (b < 0x21 || b > 0x7e) {
            this.failBadCommandOctet(b, 0);
            return;
          } else {
            this.state = S_COMMAND;
            this.frameBytes = 0;
          }
          break;
        }
        case S_IDLE_CR: {
          if (chunk[i] !== LF) {
            this.fail('bad-eol', 'CR not followed by LF', 'a CR between frames must be followed by LF (heart-beat EOL)');
            return;
          }
          i++;
          this.state = S_IDLE;
          this.emitHeartbeat();
          break;
        }
        case S_COMMAND:
        case S_HEADERS: {
          i = this.readLine(chunk, i);
          if (i < 0) return;
          break;
        }
        case S_BODY_LENGTH: {
          const take = Math.min(this.contentLength - this.bodyLen, n - i);
          if (this.bodyLen + take > this.body.length) this.growBody(this.bodyLen + take);
          chunk.copy(this.body, this.bodyLen, i, i + take);
          this.bodyLen += take;
          i += take;
          if (this.bodyLen === this.contentLength) this.state = S_EXPECT_NUL;
          break;
        }
        case S_EXPECT_NUL: {
          if (chunk[i] !== NUL) {
            this.fail(
              'missing-nul',
              'frame not terminated by NUL',
              `the ${this.contentLength} body bytes given by content-length of the ${this.command} frame must be followed by a NUL octet`,
            );
            return;
          }
          i++;
          const body = this.body;
          this.body = EMPTY;
          this.bodyLen = 0;
          this.finishFrame(body);
          break;
        }
        case S_BODY_NUL: {
          const j = chunk.indexOf(NUL, i);
          const end = j < 0 ? n : j;
          const len = this.accLen + (end - i);
          const allowance = this.maxFrameSize - this.frameBytes;
          const bodyOver = len > this.maxBodySize;
          const frameOver = len + (j < 0 ? 0 : 1) > allowance;
          if (bodyOver || frameOver) {
            // the earlier offending byte decides, as when reading byte by byte
            if (bodyOver && (!frameOver || this.maxBodySize + 1 <= allowance + 1)) {
              this.fail('body-too-large', 'body too large', `the ${this.command} frame body exceeds ${this.maxBodySize} bytes`);
            } else this.failFrameTooLarge();
            return;
          }
          if (j < 0) {
            this.appendBody(chunk, i, n);
            return;
          }
          let body: Buffer;
          if (len === 0) body = EMPTY;
          else {
            body = Buffer.allocUnsafe(len);
            this.acc.copy(body, 0, 0, this.accLen);
            chunk.copy(body, this.accLen, i, j);
          }
          this.accLen = 0;
          if (this.acc.length > ACC_KEEP) this.acc = EMPTY;
          i = j + 1;
          this.frameBytes += len + 1;
          this.finishFrame(body);
          break;
        }
      }
    }
  }

  /**
   * Reads one line from chunk[i..]; returns the new offset, or -1 after a failure.
   *
   * Errors are reported as a byte-at-a-time reader would see them, so that any chunking of the same input
   * gives the same error: the earliest of "the line can no longer fit maxLineLength" (its byte max + 2;
   * max + 1 bytes may still end in the CR of a CRLF), "the frame exceeds maxFrameSize", and "a NUL in the
   * line" wins. A NUL cannot be part of a command or header line, so a frame that ends inside its headers
   * is reported at once instead of waiting for an LF that may never come.
   */
  private readLine(chunk: Buffer, i: number): number {
    const n = chunk.length;
    const max = this.maxLineLength;
    const j = chunk.indexOf(LF, i);
    const end = j < 0 ? n : j;
    const len = this.lineLen + (end - i); // bytes of the line so far, LF excluded
    let lineOver: boolean;
    let raw: number; // bytes the frame grows by
    if (j < 0) {
      lineOver = len > max + 1;
      raw = len;
    } else {
      const lastIsCR = end > i ? chunk[end - 1] === CR : this.lineLen > 0 && this.line[this.lineLen - 1] === CR;
      lineOver = len - (lastIsCR ? 1 : 0) > max;
      raw = len + 1;
    }
    const allowance = this.maxFrameSize - this.frameBytes;
    const frameOver = raw > allowance;
    if (lineOver || frameOver || j < 0) {
      // position (1-based, in this line) of the first offending byte
      const pLimit = Math.min(lineOver ? max + 2 : Infinity, frameOver ? allowance + 1 : Infinity);
      const z = chunk.indexOf(NUL, i);
      const pNul = z >= 0 && z < end ? this.lineLen + (z - i) + 1 : Infinity;
      if (pNul < pLimit) {
        if (this.state === S_COMMAND) this.failBadCommandOctet(NUL, pNul - 1);
        else if (this.headers.length >= this.maxHeaders) this.failTooManyHeaders();
        else this.failNulInHeaders();
        return -1;
      }
      if (pLimit !== Infinity) {
        if (lineOver && max + 2 <= allowance + 1) this.failLineTooLong();
        else this.failFrameTooLarge();
        return -1;
      }
      // j < 0, within limits: keep the partial line (at most max + 1 bytes)
      this.appendLine(chunk, i, n);
      return n;
    }
    let buf: Buffer;
    let s: number;
    let e: number;
    if (this.lineLen === 0) {
      buf = chunk;
      s = i;
      e = j;
    } else {
      this.appendLine(chunk, i, j);
      buf = this.line;
      s = 0;
      e = this.lineLen;
    }
    this.lineLen = 0;
    if (e > s && buf[e - 1] === CR) e--;
    this.frameBytes += raw;
    const ok = this.state === S_COMMAND ? this.commandLine(buf, s, e) : this.headerLine(buf, s, e);
    return ok ? j + 1 : -1;
  }

  private growBody(need: number): void {
    const cap = Math.min(this.contentLength, Math.max(need, this.body.length * 2));
    const grown = Buffer.allocUnsafe(cap);
    this.body.copy(grown, 0, 0, this.bodyLen);
    this.body = grown;
  }

  private appendBody(chunk: Buffer, s: number, e: number): void {
    const need = this.accLen + (e - s);
    if (need > this.acc.length) {
      let cap = Math.max(4096, this.acc.length * 2);
      while (cap < need) cap *= 2;
      cap = Math.max(Math.min(cap, this.maxBodySize), need);
      const grown = Buffer.allocUnsafe(cap);
      this.acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    chunk.copy(this.acc, this.accLen, s, e);
    this.accLen = need;
  }

  private appendLine(chunk: Buffer, s: number, e: number): void {
    const need = this.lineLen + (e - s);
    if (need > this.line.length) {
      let cap = Math.max(256, this.line.length * 2);
      while (cap < need) cap *= 2;
      cap = Math.min(cap, this.maxLineLength + 2);
      const grown = Buffer.allocUnsafe(Math.max(cap, need));
      this.line.copy(grown, 0, 0, this.lineLen);
      this.line = grown;
    }
    chunk.copy(this.line, this.lineLen, s, e);
    this.lineLen = need;
  }

  private commandLine(buf: Buffer, s: number, e: number): boolean {
    if (s === e) {
      // unreachable from S_IDLE (an empty line there is a heart-beat), kept for safety
      this.fail('bad-command', 'empty command', 'a frame must start with a command line');
      return false;
    }
    for (let k = s; k < e; k++) {
      const b = buf[k]!;
      if (b < 0x21 || b > 0x7e) {
        this.failBadCommandOctet(b, k - s);
        return false;
      }
    }
    this.command = knownName(COMMANDS, buf, s, e) ?? buf.toString('latin1', s, e);
    this.headers = [];
    this.contentLength = -1;
    this.unescapeMode = this.version === '1.0' || isConnectCommand(this.command) ? 0 : this.version === '1.1' ? 1 : 2;
    this.state = S_HEADERS;
    return true;
  }

  private headerLine(buf: Buffer, s: number, e: number): boolean {
    if (s === e) return this.endOfHeaders();
    if (this.headers.length >= this.maxHeaders) {
      this.failTooManyHeaders();
      return false;
    }
    let colon = -1;
    let ascii = true;
    let escaped = false;
    for (let k = s; k < e; k++) {
      const b = buf[k]!;
      if (b === COLON) {
        if (colon < 0) colon = k;
      } else if (b === BACKSLASH) escaped = true;
      else if (b >= 0x80) ascii = false;
      else if (b === NUL) {
        this.failNulInHeaders();
        return false;
      }
    }
    if (colon < 0) {
      this.fail('bad-header', 'header without colon', `a header line of the ${this.command} frame has no ':'`);
      return false;
    }
    if (colon === s) {
      this.fail('bad-header', 'empty header name', `a header line of the ${this.command} frame has an empty name`);
      return false;
    }
    let name: string;
    let value: string;
    const known = ascii ? knownName(HEADER_NAMES, buf, s, colon) : undefined;
    if (known !== undefined) {
      // a name every frame of its kind carries is a constant: only the value becomes a string
      name = known;
      value = (buf as unknown as Latin1Slicer).latin1Slice(colon + 1, e);
    } else if (ascii) {
      // one string per line, then slices: cheaper than two Buffer decodes
      const line = buf.toString('latin1', s, e);
      name = line.slice(0, colon - s);
      value = line.slice(colon - s + 1);
    } else {
      // STOMP 1.1 and 1.2 headers are UTF-8: bad bytes would become U+FFFD and silently name another destination
      // or selector (ActiveMQ and RabbitMQ decode them lossily); CONNECT and 1.0 frames predate that rule
      if (this.unescapeMode !== 0 && !isUtf8(buf.subarray(s, e))) {
        this.fail('bad-utf8', 'invalid UTF-8 in header', `a header of the ${this.command} frame is not well-formed UTF-8, as STOMP ${this.version} requires`);
        return false;
      }
      name = buf.toString('utf8', s, colon);
      value = buf.toString('utf8', colon + 1, e);
    }
    if (escaped && this.unescapeMode !== 0) {
      const n = unescape(name, this.unescapeMode);
      const v = n === null ? null : unescape(value, this.unescapeMode);
      if (n === null || v === null) {
        this.fail(
          'bad-escape',
          'undefined escape sequence',
          `a header of the ${this.command} frame uses an escape sequence STOMP ${this.version} does not define ` +
            `(allowed: \\n \\c \\\\${this.unescapeMode === 2 ? ' \\r' : ''})`,
        );
        return false;
      }
      name = n;
      value = v;
    }
    this.headers.push([name, value]);
    if (this.contentLength < 0 && name === 'content-length') {
      const len = parseLength(value);
      if (len < 0) {
        this.fail(
          'bad-content-length',
          'invalid content-length',
          `content-length of the ${this.command} frame must be a non-negative decimal integer, got ${JSON.stringify(value.slice(0, 40))}`,
        );
        return false;
      }
      if (len > this.maxBodySize) {
        this.fail('body-too-large', 'body too large', `content-length ${value.trim()} exceeds the limit of ${this.maxBodySize} bytes`);
        return false;
      }
      this.contentLength = len;
    }
    return true;
  }

  private endOfHeaders(): boolean {
    const cl = this.contentLength;
    if (cl < 0) {
      this.state = S_BODY_NUL;
      return true;
    }
    if (this.frameBytes + cl + 1 > this.maxFrameSize) {
      this.failFrameTooLarge();
      return false;
    }
    this.frameBytes += cl + 1;
    this.bodyLen = 0;
    if (cl === 0) {
      this.body = EMPTY;
      this.state = S_EXPECT_NUL;
    } else {
      // Grown as bytes arrive (doubling, ending at exactly cl): a peer announcing a large body and then
      // sending nothing does not make us hold it. Fully overwritten before it is handed out.
      this.body = Buffer.allocUnsafe(Math.min(cl, BODY_INITIAL));
      this.state = S_BODY_LENGTH;
    }
    return true;
  }

  private finishFrame(body: Buffer): void {
    const frame: StompFrame = { command: this.command, headers: this.headers, body };
    this.headers = [];
    this.command = '';
    this.contentLength = -1;
    this.state = S_IDLE;
    this.inCallback = true;
    this.onFrame(frame);
    this.inCallback = false;
  }

  private emitHeartbeat(): void {
    this.inCallback = true;
    this.onHeartbeat();
    this.inCallback = false;
  }

  private failBadCommandOctet(b: number, offset: number): void {
    this.fail(
      'bad-command',
      'invalid command',
      `a command must be printable ASCII without spaces; found octet 0x${b.toString(16).padStart(2, '0')} at offset ${offset} of the command line`,
    );
  }

  private failTooManyHeaders(): void {
    this.fail('too-many-headers', 'too many headers', `the ${this.command} frame has more than ${this.maxHeaders} headers`);
  }

  private failNulInHeaders(): void {
    this.fail(
      'bad-header',
      'NUL in frame headers',
      `the ${this.command} frame has a NUL octet in its headers (is the blank line after the headers missing?)`,
    );
  }

  private failLineTooLong(): void {
    const what = this.state === S_COMMAND ? 'command line' : `header line of the ${this.command} frame`;
    this.fail('line-too-long', 'line too long', `a ${what} exceeds ${this.maxLineLength} bytes`);
  }

  private failFrameTooLarge(): void {
    this.fail('frame-too-large', 'frame too large', `the ${this.command || 'incoming'} frame exceeds ${this.maxFrameSize} bytes`);
  }

  private fail(code: StompErrorCode, message: string, detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.release();
    const err = new StompProtocolError(code, message, detail);
    this._error = err;
    this.inCallback = true;
    this.onError(err);
    this.inCallback = false;
  }

  private release(): void {
    this.line = EMPTY;
    this.lineLen = 0;
    this.body = EMPTY;
    this.bodyLen = 0;
    this.acc = EMPTY;
    this.accLen = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.headers = [];
  }
}

function noop(): void {}

/** Buffer's own latin1 decoder, without `toString`'s argument handling (it is on Buffer.prototype in every Node). */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

/** Known names by their length in bytes, each with its bytes: compared in place, no string is made for them. */
type NameTable = Array<Array<[string, Uint8Array]> | undefined>;

function nameTable(names: string[]): NameTable {
  const t: NameTable = [];
  for (const nm of names) (t[nm.length] ??= []).push([nm, Buffer.from(nm, 'latin1')]);
  return t;
}

/** The client commands. */
const COMMANDS = nameTable(['SEND', 'ACK', 'NACK', 'SUBSCRIBE', 'UNSUBSCRIBE', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT', 'CONNECT', 'STOMP']);

/** The headers of the frames that come once per message (SEND, ACK, NACK) and a few more. */
const HEADER_NAMES = nameTable([
  'destination', 'content-length', 'content-type', 'receipt', 'persistent', 'transaction', 'priority', 'expires',
  'reply-to', 'correlation-id', 'type', 'id', 'subscription', 'message-id', 'ack',
]);

/** `b[s..e)` as one of the table's names (the same string each time), or undefined. */
function knownName(table: NameTable, b: Buffer, s: number, e: number): string | undefined {
  const candidates = table[e - s];
  if (candidates === undefined) return undefined;
  outer: for (const [name, bytes] of candidates) {
    for (let k = 0; k < bytes.length; k++) if (b[s + k] !== bytes[k]) continue outer;
    return name;
  }
  return undefined;
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
}

function nonNegative(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer`);
  return v;
}

/** Decimal, optionally surrounded by spaces/tabs (some 1.0 clients write `content-length: 5`); -1 if invalid. */
function parseLength(s: string): number {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  if (a === b) return -1;
  let v = 0;
  for (let k = a; k < b; k++) {
    const c = s.charCodeAt(k) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
    if (v > Number.MAX_SAFE_INTEGER / 10) return Number.MAX_SAFE_INTEGER; // over any limit
  }
  return v;
}

/** Undo STOMP header escaping; mode 1 = 1.1 (\n \c \\), 2 = 1.2 (also \r). null on an undefined escape. */
function unescape(s: string, mode: number): string | null {
  let k = s.indexOf('\\');
  if (k < 0) return s;
  let out = s.slice(0, k);
  const n = s.length;
  while (k < n) {
    const c = s.charCodeAt(k);
    if (c !== BACKSLASH) {
      const next = s.indexOf('\\', k);
      const end = next < 0 ? n : next;
      out += s.slice(k, end);
      k = end;
      continue;
    }
    if (k + 1 >= n) return null;
    const e = s.charCodeAt(k + 1);
    if (e === 0x6e /* n */) out += '\n';
    else if (e === 0x63 /* c */) out += ':';
    else if (e === BACKSLASH) out += '\\';
    else if (e === 0x72 /* r */ && mode === 2) out += '\r';
    else return null;
    k += 2;
  }
  return out;
}
