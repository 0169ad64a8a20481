/**
 * SQS/SNS message attributes: validation as AWS does it, the documented MD5 digests, and the mapping to and
 * from the core message (typed application properties for other protocols, the exact SQS form kept in the
 * `sqs.attrs` annotation so an SQS → SQS round trip is lossless).
 */
import { type Message, type PropertyValue } from '../../src/core/api.js';
import { hashHex } from './digest.js';
import { sqsError, type AwsError } from './errors.js';

export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: Buffer;
}

export type MessageAttributes = Record<string, MessageAttribute>;

export const ATTRS_ANNOTATION = 'sqs.attrs';

/**
 * MD5OfMessageAttributes / MD5OfMessageSystemAttributes as AWS documents it: attributes sorted by name; for each,
 * the 4-byte big-endian length and UTF-8 bytes of the name and of the data type, one transport byte (1 = string,
 * 2 = binary), then the length and bytes of the value. Undefined when there are no attributes.
 */
export function md5OfAttributes(attrs: MessageAttributes | undefined): string | undefined {
  if (!attrs) return undefined;
  const names = Object.keys(attrs);
  if (names.length === 0) return undefined;
  if (names.length > 1) names.sort();
  // one buffer for everything: 4-byte lengths, name, type, transport byte, value
  let size = 0;
  for (const name of names) {
    const a = attrs[name];
    size += 13 + Buffer.byteLength(name) + Buffer.byteLength(a.DataType) + (a.BinaryValue !== undefined ? a.BinaryValue.length : Buffer.byteLength(a.StringValue ?? ''));
  }
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  const putString = (s: string) => {
    const n = buf.write(s, o + 4, 'utf8');
    buf.writeUInt32BE(n, o);
    o += 4 + n;
  };
  for (const name of names) {
    const a = attrs[name];
    putString(name);
    putString(a.DataType);
    if (a.BinaryValue !== undefined) {
      buf[o++] = 2;
      buf.writeUInt32BE(a.BinaryValue.length, o);
      o += 4;
      o += Buffer.from(a.BinaryValue.buffer, a.BinaryValue.byteOffset, a.BinaryValue.length).copy(buf, o);
    } else {
      buf[o++] = 1;
      putString(a.StringValue ?? '');
    }
  }
  return hashHex('md5', buf.subarray(0, o));
}

/** Characters SQS accepts in message bodies and string attribute values. */
const INVALID_CHARS = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Control characters other than tab, LF and CR: the only invalid ones in ASCII text. */
const INVALID_ASCII = /[\x00-\x08\x0B\x0C\x0E-\x1F]/;

/** `utf8Length`: the string's UTF-8 length, when known (equal to its length only when it is all ASCII). */
export function hasInvalidChars(s: string, utf8Length = Buffer.byteLength(s)): boolean {
  // the Unicode-aware test costs about twice the ASCII one on a 1 KiB body
  return utf8Length === s.length ? INVALID_ASCII.test(s) : INVALID_CHARS.test(s);
}

/** AWS takes letters and digits of any script (`attr.1øßä`), not other symbols (`§`). */
const NAME_RE = /^[\p{L}\p{N}_\-.]{1,256}$/u;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Bytes an attribute adds to the message size (name + type + value), as SQS counts it. */
export function attributesSize(attrs: MessageAttributes | undefined): number {
  if (!attrs) return 0;
  let n = 0;
  for (const name in attrs) {
    const a = attrs[name];
    n += Buffer.byteLength(name) + Buffer.byteLength(a.DataType);
    n += a.BinaryValue ? a.BinaryValue.length : Buffer.byteLength(a.StringValue ?? '');
  }
  return n;
}

export interface RawAttribute {
  DataType?: unknown;
  StringValue?: unknown;
  BinaryValue?: unknown;
  StringListValues?: unknown;
  BinaryListValues?: unknown;
}

/**
 * Validate and normalise message attributes as received on the wire (binary values already decoded to Buffers,
 * or base64 strings). `kind` words the errors ('message' user attributes or 'system' attributes).
 */
export function parseMessageAttributes(
  raw: unknown,
  kind: 'user' | 'system' = 'user',
  err: (msg: string) => AwsError = (m) => sqsError('InvalidParameterValue', m),
  service: 'sqs' | 'sns' = 'sqs',
): MessageAttributes | undefined {
  // SNS words a bad data type its own way, one message for both cases
  const snsType = (name: string) => `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw err(`Message ${kind} attributes must be a map of name to attribute value.`);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  if (kind === 'user' && entries.length > 10) throw err(`Number of message attributes [${entries.length}] exceeds the allowed maximum [10].`);
  // null prototype: a name AWS allows, `__proto__`, must be an entry, not the map's prototype
  const out: MessageAttributes = Object.create(null);
  for (const [name, v] of entries) {
    if (kind === 'system') {
      if (name !== 'AWSTraceHeader') throw err(`Message system attribute name '${name}' is invalid.`);
    } else {
      if (!NAME_RE.test(name)) throw err(`Message (user) attribute name '${name}' is invalid: use 1 to 256 letters, digits, underscores, hyphens and periods.`);
      const lower = name.toLowerCase();
      if (lower.startsWith('aws.') || lower.startsWith('amazon.')) throw err(`Message (user) attribute name '${name}' is reserved for use by Amazon.`);
      if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) throw err(`Message (user) attribute name '${name}' must not start or end with a period or contain consecutive periods.`);
    }
    if (!v || typeof v !== 'object') throw err(`The message ${kind} attribute '${name}' must contain a DataType and a value.`);
    const a = v as RawAttribute;
    if (typeof a.DataType !== 'string' || a.DataType === '') throw err(`The message ${kind} attribute '${name}' must contain a non-empty message attribute type.`);
    const dt = a.DataType;
    if (dt.length > 256) throw err(`The message ${kind} attribute '${name}' has a data type longer than 256 characters.`);
    const dot = dt.indexOf('.');
    const base = dot < 0 ? dt : dt.slice(0, dot);
    if (base !== 'String' && base !== 'Number' && base !== 'Binary') {
      if (service === 'sns') throw err(snsType(name));
      throw err(`The type of message ${kind} attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`);
    }
    if (dt.length > base.length && (dt[base.length] !== '.' || dt.length === base.length + 1 || hasInvalidChars(dt))) {
      if (service === 'sns') throw err(snsType(name));
      throw err(`The type of message ${kind} attribute '${name}' is invalid: a custom type must follow the base type after a period.`);
    }
    if (kind === 'system' && dt !== 'String') throw err(`The message system attribute '${name}' must be of type String.`);
    if (a.StringListValues !== undefined && Array.isArray(a.StringListValues) && a.StringListValues.length > 0) throw err('StringListValues is not implemented (reserved by AWS).');
    if (a.BinaryListValues !== undefined && Array.isArray(a.BinaryListValues) && a.BinaryListValues.length > 0) throw err('BinaryListValues is not implemented (reserved by AWS).');
    if (base === 'Binary') {
      let b: Buffer | undefined;
      if (Buffer.isBuffer(a.BinaryValue)) b = a.BinaryValue;
      else if (a.BinaryValue instanceof Uint8Array) b = Buffer.from(a.BinaryValue);
      else if (typeof a.BinaryValue === 'string') b = Buffer.from(a.BinaryValue, 'base64');
      if (!b || b.length === 0) throw err(`The message ${kind} attribute '${name}' with type 'Binary' must use field 'BinaryValue' with a non-empty value.`);
      out[name] = { DataType: dt, BinaryValue: b };
    } else {
      const s = a.StringValue;
      if (typeof s !== 'string' || s.length === 0) throw err(`Message (${kind}) attribute '${name}' must contain a non-empty value of type '${base}'.`);
      if (hasInvalidChars(s)) throw err(`The message ${kind} attribute '${name}' contains characters outside the allowed set.`);
      if (base === 'Number') {
        if (!NUMBER_RE.test(s.trim())) throw err(`Can't cast the value of message ${kind} attribute '${name}' to a number.`);
        // a value of 38 characters or fewer cannot hold more than 38 digits: no need to count them
        if (s.length > 38) {
          const digits = s.replace(/[eE].*$/, '').replace(/[^0-9]/g, '').replace(/^0+/, '');
          if (digits.length > 38) throw err(`The value of message ${kind} attribute '${name}' has more than 38 digits of precision.`);
        }
      }
      out[name] = { DataType: dt, StringValue: s };
    }
  }
  return out;
}

/** Core application properties for other protocols' consumers. */
export function attributesToProperties(attrs: MessageAttributes | undefined): Record<string, PropertyValue> {
  const props: Record<string, PropertyValue> = Object.create(null);
  if (!attrs) return props;
  for (const [name, a] of Object.entries(attrs)) {
    if (a.BinaryValue !== undefined) props[name] = a.BinaryValue;
    else if (a.DataType.startsWith('Number')) {
      const n = Number(a.StringValue);
      props[name] = Number.isFinite(n) && (Number.isSafeInteger(n) || !/^[+-]?\d+$/.test(a.StringValue!.trim())) ? n : a.StringValue!;
    } else props[name] = a.StringValue ?? '';
  }
  return props;
}

/** The SQS attributes of a core message: the exact ones an SQS/SNS producer sent, else derived from its properties. */
export function messageAttributesOf(m: Message): MessageAttributes {
  const kept = m.annotations?.[ATTRS_ANNOTATION] as MessageAttributes | undefined;
  if (kept) return kept;
  // sent over SQS (or SNS) without attributes: the properties the core adds on the way (a dead-letter move's
  // cause and origin) are no attributes of the message
  if (m.annotations?.['sqs.md5'] !== undefined) return {};
  const out: MessageAttributes = Object.create(null);
  for (const [name, v] of Object.entries(m.properties)) {
    if (v === null || v === undefined || !NAME_RE.test(name)) continue;
    if (typeof v === 'string') out[name] = { DataType: 'String', StringValue: v };
    else if (typeof v === 'number' || typeof v === 'bigint') out[name] = { DataType: 'Number', StringValue: String(v) };
    else if (typeof v === 'boolean') out[name] = { DataType: 'String', StringValue: String(v) };
    else if (Buffer.isBuffer(v)) {
      if (v.length > 0) out[name] = { DataType: 'Binary', BinaryValue: v };
    }
  }
  return out;
}

/**
 * Select attributes by the names a ReceiveMessage asked for: exact names, `All` / `.*`, and prefixes `foo.*`.
 */
export function selectAttributes(attrs: MessageAttributes, names: string[] | undefined): MessageAttributes | undefined {
  if (!names || names.length === 0) return undefined;
  const all = names.some((n) => n === 'All' || n === '.*' || n === '*');
  const out: MessageAttributes = Object.create(null);
  let any = false;
  for (const [name, a] of Object.entries(attrs)) {
    // AWS: `bar.*` selects every name that starts with `bar` (`Hel.*` gives `Hello` and `Help.Me`)
    if (all || names.some((n) => n === name || (n.endsWith('.*') && name.startsWith(n.slice(0, -2))))) {
      out[name] = a;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** A message body as text: UTF-8 when it decodes cleanly, else base64. */
const utf8 = new TextDecoder('utf-8', { fatal: true });
export function bodyText(m: Message): string {
  if (m.bodyType === 'text' || m.body.length === 0) return m.body.toString('utf8');
  try {
    return utf8.decode(m.body);
  } catch {
    return m.body.toString('base64');
  }
}
