/** Minimal XML writing for the AWS query protocol responses (SQS and SNS). */

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#xD;' };

/** Escape text content; `\r` as a character reference so XML parsers do not normalise it away. */
export function esc(s: string): string {
  return /[&<>"'\r]/.test(s) ? s.replace(/[&<>"'\r]/g, (c) => ESC[c]) : s;
}

/** `<name>text</name>`, or nothing when the value is undefined. */
export function el(name: string, value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null) return '';
  return `<${name}>${esc(String(value))}</${name}>`;
}

/** `<name>…children…</name>` from already-rendered XML. */
export function wrap(name: string, inner: string): string {
  return `<${name}>${inner}</${name}>`;
}

/** A whole query-protocol response. */
export function response(action: string, ns: string, result: string | null, requestId: string): string {
  const body = result === null ? '' : result === '' ? `<${action}Result/>` : `<${action}Result>${result}</${action}Result>`;
  return `<?xml version="1.0"?><${action}Response xmlns="${ns}">${body}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
}

/** `detail`: SQS's errors carry an empty `<Detail/>`, SNS's none. */
export function errorResponse(ns: string, type: string, code: string, message: string, requestId: string, detail = true): string {
  return `<?xml version="1.0"?><ErrorResponse xmlns="${ns}"><Error><Type>${type}</Type><Code>${esc(code)}</Code><Message>${esc(message)}</Message>${detail ? '<Detail/>' : ''}</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
