/**
 * STOMP frame model shared by the codec and the session.
 *
 * Headers are kept as an ordered list of `[name, value]` pairs exactly as they appeared on the wire
 * (after version-dependent unescaping). A header may repeat; per the STOMP 1.1/1.2 specification only
 * the FIRST occurrence is significant, which is what {@link header} returns.
 */

export type StompVersion = '1.0' | '1.1' | '1.2';

export interface StompFrame {
  command: string;
  /** In wire order; repeated headers are kept (the first occurrence wins, see {@link header}). */
  headers: Array<[string, string]>;
  body: Buffer;
}

/** Value of the first `name` header, or `undefined`. Header names are case-sensitive. */
export function header(frame: { readonly headers: ReadonlyArray<readonly [string, string]> }, name: string): string | undefined {
  const hs = frame.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (h[0] === name) return h[1];
  }
  return undefined;
}

/** Every value of `name`, in wire order (rarely needed: only the first one counts). */
export function headerAll(frame: { readonly headers: ReadonlyArray<readonly [string, string]> }, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of frame.headers) if (k === name) out.push(v);
  return out;
}

export type StompErrorCode =
  | 'bad-eol' // CR not followed by LF
  | 'bad-command' // empty or non-printable command line
  | 'bad-header' // header line without ':', empty name, NUL in the header section
  | 'bad-escape' // undefined escape sequence (1.1+)
  | 'bad-utf8' // a header that is not well-formed UTF-8 (1.1+)
  | 'bad-content-length' // not a non-negative decimal integer
  | 'missing-nul' // the byte after a content-length body is not NUL
  | 'line-too-long'
  | 'too-many-headers'
  | 'body-too-large'
  | 'frame-too-large'
  | 'input-overflow' // too much input queued while the decoder was paused
  | 'internal';

/**
 * A malformed or over-limit frame. `message` is short and single-line, suitable for the `message`
 * header of an ERROR frame; `detail` is a longer explanation for the ERROR frame's body.
 */
export class StompProtocolError extends Error {
  constructor(
    readonly code: StompErrorCode,
    message: string,
    readonly detail: string = message,
  ) {
    super(message);
    this.name = 'StompProtocolError';
  }
}

/** STOMP 1.2 "Value Encoding": CONNECT, STOMP and CONNECTED frames are never (un)escaped. */
export function isConnectCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'STOMP' || command === 'CONNECTED';
}
