/**
 * Server-side STOMP 1.0 / 1.1 / 1.2 frame encoder.
 *
 * - {@link encodeFrame}: one frame to one Buffer, with version-dependent header escaping and a
 *   `content-length` for every frame that has a body.
 * - {@link prepareMessage}: the broker's hot path. Escapes and encodes a message's headers once; each
 *   delivery then only adds its own few headers (`subscription`, `ack`, ...) and copies bytes.
 *
 * STOMP 1.2 "Value Encoding": CONNECT and CONNECTED frames are never escaped; 1.1 escapes `\n` `\c` `\\`,
 * 1.2 also `\r`; 1.0 has no escaping.
 */
import { isConnectCommand, type StompFrame, type StompVersion } from './frame.js';
import type { OutputBuffer } from './output.js';

const NUL = 0x00;

/** 0 = no escaping (1.0, CONNECT/CONNECTED), 1 = 1.1, 2 = 1.2. */
export function escapeModeFor(command: string, version: StompVersion): number {
  if (version === '1.0' || isConnectCommand(command)) return 0;
  return version === '1.1' ? 1 : 2;
}

/**
 * Encode one header name or value.
 * - 1.2: `\` `CR` `LF` `:` are escaped; 1.1: `\` `LF` `:` (1.1 has no escape for CR, which passes raw).
 * - Without escaping (1.0, CONNECT/CONNECTED) CR and LF cannot be represented and would break framing
 *   (header injection): they become spaces.
 * - NUL has no escape in any version and is rejected by many decoders (this one included): it becomes U+FFFD.
 * Fast path: one charCode scan, the string itself is returned when nothing needs changing.
 */
export function escapeHeader(s: string, mode: number): string {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c <= 0x5c && (c === 0x5c || c === 0x3a || c === 0x0a || c === 0x0d || c === 0x00)) return escapeFrom(s, k, mode);
  }
  return s;
}

function escapeFrom(s: string, k: number, mode: number): string {
  let out = '';
  let from = 0;
  for (const n = s.length; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c > 0x5c) continue;
    let rep: string | undefined;
    if (c === 0x00) rep = '\uFFFD';
    else if (c === 0x0a) rep = mode === 0 ? ' ' : '\\n';
    else if (c === 0x0d) rep = mode === 0 ? ' ' : mode === 2 ? '\\r' : undefined;
    else if (c === 0x3a) rep = mode === 0 ? undefined : '\\c';
    else if (c === 0x5c) rep = mode === 0 ? undefined : '\\\\';
    if (rep !== undefined) {
      out += s.slice(from, k) + rep;
      from = k + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * Appends `name:value\n` per header to `head`, into `out.head`. Caller-supplied `content-length` headers
 * are dropped (the caller writes the real length), so a stale or forged value can never desynchronise
 * framing; `out.hadLength` tells whether there was one.
 */
function appendHeaders(
  head: string,
  headers: ReadonlyArray<readonly [string, string]>,
  mode: number,
  out: { head: string; hadLength: boolean },
): void {
  let hadLength = false;
  for (let k = 0; k < headers.length; k++) {
    const h = headers[k]!;
    const name = h[0];
    if (name === 'content-length') {
      hadLength = true;
      continue;
    }
    head += escapeHeader(name, mode) + ':' + escapeHeader(h[1], mode) + '\n';
  }
  out.head = head;
  out.hadLength = hadLength;
}

const scratchOut = { head: '', hadLength: false };

function assemble(head: string, body: Buffer): Buffer {
  const hl = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(hl + body.length + 1);
  out.write(head, 0, hl, 'utf8');
  body.copy(out, hl);
  out[hl + body.length] = NUL;
  return out;
}

/**
 * Encode a frame as one Buffer: command, escaped headers, blank line, body, NUL.
 * A frame with a non-empty body always carries a correct `content-length` (bodies may contain NUL);
 * a caller-supplied content-length is replaced by the real length (written last). Header order is
 * otherwise kept.
 */
export function encodeFrame(frame: StompFrame, version: StompVersion): Buffer {
  const mode = escapeModeFor(frame.command, version);
  const body = frame.body;
  appendHeaders(frame.command + '\n', frame.headers, mode, scratchOut);
  let head = scratchOut.head;
  if (body.length > 0 || scratchOut.hadLength) head += 'content-length:' + body.length + '\n';
  head += '\n';
  scratchOut.head = '';
  return assemble(head, body);
}

/**
 * A MESSAGE frame encoded once for many deliveries (fan-out, redelivery): headers are escaped and
 * converted to bytes once; `encode()` then writes the per-delivery headers first (first occurrence wins,
 * so they override same-named headers of the message) and copies the prepared bytes and the body.
 */
export class PreparedMessage {
  /**
   * Header lines, `content-length`, the blank line. Kept as text: written once per delivery into the turn's
   * output (or a frame buffer), so a message delivered once is never encoded into a Buffer of its own.
   */
  private readonly tail: string;

  /**
   * `headers`: the message's headers, or their lines already escaped for this version (`name:value\n` each, no
   * content-length among them: the broker's hot path builds them straight from the message).
   */
  constructor(
    readonly version: StompVersion,
    headers: ReadonlyArray<readonly [string, string]> | string,
    readonly body: Buffer,
  ) {
    let head: string;
    let hadLength = false;
    if (typeof headers === 'string') head = headers;
    else {
      appendHeaders('', headers, escapeModeFor('MESSAGE', version), scratchOut);
      head = scratchOut.head;
      hadLength = scratchOut.hadLength;
      scratchOut.head = '';
    }
    if (body.length > 0 || hadLength) head += 'content-length:' + body.length + '\n';
    this.tail = head + '\n';
  }

  /**
   * The complete MESSAGE frame. `leading` are the delivery's own headers (`subscription`, `ack`,
   * `message-id`, ...), escaped per this message's version; a `content-length` among them is ignored.
   */
  /**
   * The MESSAGE frame into `out`: `lines` are the delivery's own header lines, already escaped with
   * `escapeHeader(…, escapeModeFor('MESSAGE', version))`, each ending in `\n` (no content-length among them).
   */
  writeInto(out: OutputBuffer, lines: string): void {
    out.string('MESSAGE\n' + lines + this.tail);
    if (this.body.length > 0) out.bytes(this.body);
    out.byte(NUL);
  }

  encode(leading?: ReadonlyArray<readonly [string, string]>): Buffer {
    let lines = '';
    if (leading !== undefined && leading.length > 0) {
      const mode = escapeModeFor('MESSAGE', this.version);
      for (let k = 0; k < leading.length; k++) {
        const h = leading[k]!;
        if (h[0] === 'content-length') continue;
        lines += escapeHeader(h[0], mode) + ':' + escapeHeader(h[1], mode) + '\n';
      }
    }
    return this.encodeLines(lines);
  }

  /** The complete MESSAGE frame as one Buffer, with header lines as writeInto takes them. */
  encodeLines(lines: string): Buffer {
    const head = 'MESSAGE\n' + lines + this.tail;
    const hl = Buffer.byteLength(head, 'utf8');
    const body = this.body;
    const out = Buffer.allocUnsafe(hl + body.length + 1);
    out.write(head, 0, hl, 'utf8');
    body.copy(out, hl);
    out[out.length - 1] = NUL;
    return out;
  }
}

/** Shorthand for `new PreparedMessage(version, headers, body)`. */
export function prepareMessage(
  version: StompVersion,
  headers: ReadonlyArray<readonly [string, string]>,
  body: Buffer,
): PreparedMessage {
  return new PreparedMessage(version, headers, body);
}

/** A RECEIPT frame as text (written with OutputBuffer.string; it ends in the NUL). */
export function receiptFrame(id: string, version: StompVersion): string {
  return 'RECEIPT\nreceipt-id:' + escapeHeader(id, escapeModeFor('RECEIPT', version)) + '\n\n\u0000';
}

/** A heart-beat (one EOL). */
export const HEARTBEAT: Buffer = Buffer.from('\n');
