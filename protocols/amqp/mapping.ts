/**
 * AMQP 1.0 message ⇄ core Message (see the table in docs/interop.md, "AMQP 1.0").
 *
 * Inbound, the sections are scanned (codec.ts) and their exact bytes are kept in `amqp.*` annotations, so
 * an AMQP → AMQP round trip sends the bare message (properties, application-properties, body) and the
 * annotations and footer back byte for byte; only the header is rebuilt per delivery. A message from
 * another protocol, or one the broker changed (DLQ properties, a scheduled copy), is encoded from the
 * core fields, with the Qpid JMS annotations (x-opt-jms-msg-type, x-opt-jms-dest, x-opt-jms-reply-type)
 * so a JMS client sees the right message and destination types.
 */
import { type Address, type BodyType, clampPriority, createMessage, type DestinationKind, type Message, parseAddress, type PropertyValue } from '../../src/core/api.js';
import { DecodeError, elements, Encoder, jsonSafe, mapEntries, readDescriptor, scanMessage, SECTION, toJs, toProperty, type ScannedMessage } from './codec.js';
import { rheaTypes, type Typed } from './rhea.js';

/** Qpid JMS message annotations. */
export const JMS_MSG_TYPE = 'x-opt-jms-msg-type';
export const JMS_DEST = 'x-opt-jms-dest';
export const JMS_REPLY_TYPE = 'x-opt-jms-reply-type';
const DELIVERY_TIME = 'x-opt-delivery-time';
const DELIVERY_DELAY = 'x-opt-delivery-delay';

/** x-opt-jms-msg-type values. */
const MSG_TYPE: Record<BodyType, number> = { empty: 0, object: 1, map: 2, bytes: 3, stream: 4, text: 5 };
const BODY_OF_MSG_TYPE: BodyType[] = ['empty', 'object', 'map', 'bytes', 'stream', 'text'];

/** Annotation keys (namespaced `amqp.`) holding the original sections' bytes. */
const A = {
  da: 'amqp.da',
  ma: 'amqp.ma',
  props: 'amqp.p',
  appProps: 'amqp.ap',
  /** Body sections' bytes before / after the core body's bytes (when the body is one contiguous run). */
  bodyHead: 'amqp.bh',
  bodyTail: 'amqp.bt',
  /** All body sections, when the core body is not a copy of their bytes (maps, lists, several data sections). */
  body: 'amqp.b',
  footer: 'amqp.f',
  /** messageId, number of application properties and expiration at ingest: a change means re-encode. */
  mid: 'amqp.mid',
  np: 'amqp.np',
  exp: 'amqp.exp',
  ttl: 'amqp.ttl',
  priority: 'amqp.pri',
  replyToGroupId: 'amqp.rtg',
} as const;

export interface MappingOptions {
  defaultKind: DestinationKind;
}

export interface Inbound {
  message: Message;
  /** properties.to */
  to?: string;
  /** x-opt-jms-dest (0 queue, 1 topic, 2 temporary queue, 3 temporary topic) */
  toType?: number;
}

/** Bytes as a Buffer (msgpack may hand annotations back as Uint8Array after a restart). */
function buf(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

function num(t: Typed | undefined): number | undefined {
  const v = toProperty(t);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

function str(t: Typed | undefined): string | undefined {
  const v = toProperty(t);
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

/** A message-id / correlation-id (string, ulong, uuid, binary) as a core string. */
function messageIdOf(t: Typed | undefined): string | undefined {
  if (!t || !t.type) return undefined;
  const code = t.type.typecode;
  if (code === 0xa0 || code === 0xb0) return Buffer.isBuffer(t.value) ? t.value.toString('hex') : undefined;
  return str(t);
}

/** The core address of an AMQP address string, given a Qpid JMS destination type byte (or none). */
export function addressOf(s: string, jmsType: number | undefined, defaultKind: DestinationKind): Address {
  if (/^(queue|topic|temp-queue|temp-topic):\/\//.test(s)) return parseAddress(s);
  switch (jmsType) {
    case 0:
      return { kind: 'queue', name: s };
    case 1:
      return { kind: 'topic', name: s };
    case 2:
      return { kind: 'queue', name: s, temporary: true };
    case 3:
      return { kind: 'topic', name: s, temporary: true };
    default:
      return { kind: defaultKind, name: s };
  }
}

function coreAddressString(a: Address): string {
  return `${a.temporary ? 'temp-' : ''}${a.kind}://${a.name}`;
}

/** A core address string (`queue://x`, `temp-topic://y`) as an AMQP address: bare for the default kind. */
export function renderAddress(core: string, defaultKind: DestinationKind): { address: string; jmsType: number } {
  const m = /^(queue|topic|temp-queue|temp-topic):\/\/(.*)$/s.exec(core);
  if (!m) return { address: core, jmsType: defaultKind === 'queue' ? 0 : 1 };
  const scheme = m[1]!;
  const jmsType = scheme === 'queue' ? 0 : scheme === 'topic' ? 1 : scheme === 'temp-queue' ? 2 : 3;
  return { address: scheme === defaultKind ? m[2]! : core, jmsType };
}

function isTextType(ct: string | undefined): boolean {
  if (!ct) return false;
  const t = ct.toLowerCase();
  return t.startsWith('text/') || /charset=/.test(t) || /^application\/(json|xml|javascript)\b/.test(t) || /\+(json|xml)\b/.test(t);
}

/** Decode an inbound transfer's bytes into a core message (throws DecodeError). */
export function decodeMessage(raw: Buffer, opts: MappingOptions, now = Date.now()): Inbound {
  // Own the bytes: `raw` may be a slice of a large socket chunk that must not stay alive with the message.
  const b = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length ? raw : Buffer.from(raw);
  const s: ScannedMessage = scanMessage(b);
  const annotations: Record<string, unknown> = {};
  const slice = (x?: { start: number; end: number }) => (x ? b.subarray(x.start, x.end) : undefined);

  // header
  let durable = false;
  let priority = 4;
  let ttl: number | undefined;
  if (s.header) {
    const f = elements(s.header.value);
    durable = toProperty(f[0]) === true;
    const p = num(f[1]);
    if (p !== undefined) {
      priority = p;
      if (p > 9) annotations[A.priority] = p;
    }
    ttl = num(f[2]);
    if (ttl !== undefined) annotations[A.ttl] = ttl;
  }

  // annotations
  let msgType: number | undefined;
  let toType: number | undefined;
  let replyType: number | undefined;
  let deliveryTime = 0;
  if (s.deliveryAnnotations) annotations[A.da] = slice(s.deliveryAnnotations);
  if (s.messageAnnotations) {
    annotations[A.ma] = slice(s.messageAnnotations);
    for (const [k, v] of mapEntries(s.messageAnnotations.value)) {
      if (k === JMS_MSG_TYPE) msgType = num(v);
      else if (k === JMS_DEST) toType = num(v);
      else if (k === JMS_REPLY_TYPE) replyType = num(v);
      else if (k === DELIVERY_TIME) deliveryTime = num(v) ?? 0;
      else if (k === DELIVERY_DELAY) {
        const d = num(v) ?? 0;
        if (d > 0) deliveryTime = now + d;
      }
    }
  }

  // properties
  let messageId: string | undefined;
  let userId: string | undefined;
  let to: string | undefined;
  let type: string | undefined;
  let replyTo: string | undefined;
  let correlationId: string | undefined;
  let contentType: string | undefined;
  let contentEncoding: string | undefined;
  let expiration = 0;
  let timestamp = now;
  let groupId: string | undefined;
  let groupSeq: number | undefined;
  if (s.properties) {
    annotations[A.props] = slice(s.properties);
    const f = elements(s.properties.value);
    messageId = messageIdOf(f[0]);
    userId = str(f[1]);
    to = str(f[2]);
    type = str(f[3]);
    const rt = str(f[4]);
    if (rt) replyTo = coreAddressString(addressOf(rt, replyType, opts.defaultKind));
    correlationId = messageIdOf(f[5]);
    contentType = str(f[6]);
    contentEncoding = str(f[7]);
    expiration = num(f[8]) ?? 0;
    const ct = num(f[9]);
    if (ct) timestamp = ct;
    groupId = str(f[10]);
    groupSeq = num(f[11]);
    const rtg = str(f[12]);
    if (rtg !== undefined) annotations[A.replyToGroupId] = rtg;
  }
  if (!expiration && ttl !== undefined && ttl > 0) expiration = now + ttl;

  const properties: Record<string, PropertyValue> = {};
  let np = 0;
  if (s.applicationProperties) {
    annotations[A.appProps] = slice(s.applicationProperties);
    let javaTypes: Record<string, string> | undefined;
    for (const [k, v] of mapEntries(s.applicationProperties.value)) {
      const pv = toProperty(v);
      if (pv === undefined) throw new DecodeError(`application property '${k}' is not a simple type`);
      const jt = javaTypeOf(v, pv);
      if (jt) (javaTypes ??= {})[k] = jt;
      if (!Object.prototype.hasOwnProperty.call(properties, k)) np++;
      // a plain assignment except for the one key that would set the prototype instead
      if (k === '__proto__') Object.defineProperty(properties, k, { value: pv, enumerable: true, writable: true, configurable: true });
      else properties[k] = pv;
    }
    if (javaTypes) annotations[OPENWIRE_PTYPES] = javaTypes;
  }
  annotations[A.np] = np;

  // body
  let body: Buffer = Buffer.alloc(0);
  let bodyType: BodyType = 'empty';
  const firstBody = s.body[0];
  const lastBody = s.body[s.body.length - 1];
  if (s.content && firstBody && lastBody) {
    body = b.subarray(s.content.start, s.content.end);
    annotations[A.bodyHead] = b.subarray(firstBody.start, s.content.start);
    if (lastBody.end > s.content.end) annotations[A.bodyTail] = b.subarray(s.content.end, lastBody.end);
    if (s.content.kind === 'string') bodyType = 'text';
    else if (s.content.kind === 'null') bodyType = msgType === MSG_TYPE.text ? 'text' : 'empty';
    else if (s.bodyKind === 'data') {
      bodyType = msgType !== undefined && msgType >= 0 && msgType <= 5 && msgType !== MSG_TYPE.empty ? BODY_OF_MSG_TYPE[msgType]! : isTextType(contentType) ? 'text' : 'bytes';
      if (bodyType === 'map' || bodyType === 'stream') bodyType = 'bytes';
    } else bodyType = 'bytes'; // amqp-value binary
  } else if (firstBody && lastBody) {
    annotations[A.body] = b.subarray(firstBody.start, lastBody.end);
    if (s.bodyKind === 'data') {
      body = Buffer.concat(s.body.map((x) => variableContent(b, x)));
      bodyType = isTextType(contentType) ? 'text' : 'bytes';
    } else if (s.bodyKind === 'sequence') {
      const items: unknown[] = [];
      for (const x of s.body) items.push(...(toJs(x.value) as unknown[]));
      body = Buffer.from(JSON.stringify(jsonSafe(items)));
      bodyType = 'stream';
    } else {
      const v = firstBody.value;
      const code = v?.type.typecode ?? 0x40;
      const js = toJs(v);
      if (code === 0xc1 || code === 0xd1) {
        body = Buffer.from(JSON.stringify(jsonSafe(js)));
        bodyType = 'map';
        noteEntryTypes(annotations, mapEntries(v));
      } else if (code === 0x45 || code === 0xc0 || code === 0xd0 || code === 0xe0 || code === 0xf0) {
        body = Buffer.from(JSON.stringify(jsonSafe(js)));
        bodyType = 'stream';
        if (code !== 0xe0 && code !== 0xf0) noteEntryTypes(annotations, elements(v).map((x, i) => [String(i), x]));
      } else {
        body = Buffer.from(typeof js === 'string' ? js : JSON.stringify(jsonSafe(js)));
        bodyType = 'text';
      }
    }
  }
  if (s.footer) annotations[A.footer] = slice(s.footer);

  const message = createMessage({
    messageId,
    body,
    bodyType,
    properties,
    durable,
    priority: clampPriority(priority),
    expiration,
    deliveryTime,
    timestamp,
    correlationId,
    replyTo,
    type,
    groupId,
    groupSeq,
    contentType,
    contentEncoding,
    userId,
    annotations,
  });
  annotations[A.mid] = message.messageId;
  annotations[A.exp] = message.expiration;
  return { message, to, toType };
}

function variableContent(b: Buffer, s: { start: number; end: number }): Buffer {
  // a data section: descriptor then vbin8/vbin32; the content is the tail of the section
  let q = s.start + 1;
  const c = b[q]!;
  q += c === 0x53 ? 2 : c === 0x80 ? 9 : c === 0xa3 ? 2 + b[q + 1]! : 5 + b.readUInt32BE(q + 1);
  return b.subarray(q + (b[q] === 0xa0 ? 2 : 5), s.end);
}

// ------------------------------------------------------------------------------------ outbound

/**
 * The last few encoded deliveries, by message object: a fan-out (or a prompt redelivery) of the same message
 * copies everything after the header from here instead of encoding it again. A ring rather than a WeakMap
 * entry per message, which the collector handles as an ephemeron per message.
 */
const RING = 16;
const ringMessage: Array<Message | undefined> = new Array(RING).fill(undefined);
const ringPayload: Buffer[] = new Array(RING).fill(Buffer.alloc(0));
const ringRestStart: number[] = new Array(RING).fill(0);
let ringNext = 0;
/** Payloads larger than this are not kept in the ring (they would pin a large buffer). */
const RING_MAX_BYTES = 64 * 1024;

export interface DeliveryInfo {
  deliveryCount: number;
  redelivered: boolean;
  /** Released (or modified) by a link before: AMQP first-acquirer false, though delivery-count stays 0. */
  acquiredBefore?: boolean;
}

/** The transfer payload of a delivery: a fresh header, then the rest of the message (encoded once per fan-out). */
export function encodeDelivery(m: Message, d: DeliveryInfo, opts: MappingOptions): Buffer {
  const i = ringMessage.indexOf(m);
  const cached = i >= 0 ? ringPayload[i]!.subarray(ringRestStart[i]!) : undefined;
  const e = new Encoder(32 + (cached ? cached.length : restSizeHint(m)));
  e.descriptor(SECTION.header);
  const mark = e.begin(false);
  e.bool(m.durable);
  const ann = m.annotations;
  const origPriority = ann?.[A.priority];
  e.ubyte(typeof origPriority === 'number' && clampPriority(origPriority) === m.priority ? origPriority : m.priority);
  const ttl = headerTtl(m);
  if (ttl !== undefined) e.uint(ttl);
  else e.null();
  e.bool(d.deliveryCount === 0 && !d.redelivered && !d.acquiredBefore);
  // JMS reads JMSRedelivered as delivery-count > 0: a redelivery that counted no failure still shows 1
  e.uint(d.deliveryCount > 0 ? d.deliveryCount : d.redelivered ? 1 : 0);
  e.end(mark, 5);
  if (cached) {
    e.raw(cached);
    return e.toBuffer();
  }
  const restStart = e.pos;
  encodeRestInto(e, m, opts);
  const payload = e.toBuffer();
  if (payload.length <= RING_MAX_BYTES) {
    ringMessage[ringNext] = m;
    ringPayload[ringNext] = payload;
    ringRestStart[ringNext] = restStart;
    ringNext = (ringNext + 1) % RING;
  }
  return payload;
}

/** About what the sections after the header take: the kept sections' bytes and the body, plus room for the rest. */
function restSizeHint(m: Message): number {
  const ann = m.annotations;
  let n = 192 + m.body.length;
  if (ann) for (const k of [A.da, A.ma, A.props, A.appProps, A.bodyHead, A.bodyTail, A.body, A.footer]) n += buf(ann[k])?.length ?? 0;
  return n;
}

function headerTtl(m: Message): number | undefined {
  const ann = m.annotations;
  const orig = ann?.[A.ttl];
  if (typeof orig === 'number' && ann?.[A.exp] === m.expiration) return orig >>> 0;
  if (m.expiration > 0) return Math.max(1, Math.min(0xffffffff, m.expiration - m.timestamp));
  return undefined;
}

/** delivery-annotations … footer. */
export function encodeRest(m: Message, opts: MappingOptions): Buffer {
  const e = new Encoder(restSizeHint(m));
  encodeRestInto(e, m, opts);
  return e.toBuffer();
}

function encodeRestInto(e: Encoder, m: Message, opts: MappingOptions): void {
  const ann = m.annotations ?? {};
  const da = buf(ann[A.da]);
  if (da) e.raw(da);
  const origMa = buf(ann[A.ma]);
  const fromAmqp = ann[A.np] !== undefined;
  if (origMa) e.raw(origMa);
  else if (!fromAmqp) encodeJmsAnnotations(e, m, opts);
  // properties: the original bytes unless the broker changed what they carry
  const props = buf(ann[A.props]);
  const propsUnchanged = ann[A.mid] === m.messageId && ann[A.exp] === m.expiration;
  if (props && propsUnchanged) e.raw(props);
  else if (!(fromAmqp && !props && propsUnchanged)) encodeProperties(e, m, opts);
  const ap = buf(ann[A.appProps]);
  if (ap && ann[A.np] === Object.keys(m.properties).length) e.raw(ap);
  else encodeApplicationProperties(e, m.properties, ann[OPENWIRE_PTYPES]);
  const rawBody = buf(ann[A.body]);
  const head = buf(ann[A.bodyHead]);
  if (rawBody) e.raw(rawBody);
  else if (head) {
    e.raw(head);
    e.raw(m.body);
    const tail = buf(ann[A.bodyTail]);
    if (tail) e.raw(tail);
  } else encodeBody(e, m);
  const footer = buf(ann[A.footer]);
  if (footer) e.raw(footer);
}

/** A merged message-annotations section larger than this is not kept (a client could grow a message at each modified). */
const MAX_MERGED_ANNOTATIONS = 64 * 1024;

/**
 * AMQP 1.0 §3.4.5 modified: its message-annotations are "combined with the existing message-annotations" of the
 * message for its next delivery. Returns the annotation to set on the message (the section's new bytes): the
 * message's own entries, exactly as they were, each one the outcome names replaced by the outcome's value, then the
 * outcome's new ones. A message from another protocol starts from the JMS annotations it is sent with. undefined:
 * nothing to merge, or the result would be over MAX_MERGED_ANNOTATIONS.
 */
export function mergedAnnotations(m: Message, added: Typed | undefined, opts: MappingOptions): Record<string, unknown> | undefined {
  const add = elements(added);
  if (add.length < 2 || !added || (added.type.typecode !== 0xc1 && added.type.typecode !== 0xd1)) return undefined;
  const ann = m.annotations ?? {};
  let section = buf(ann[A.ma]);
  if (!section && ann[A.np] === undefined) {
    const e = new Encoder(64);
    encodeJmsAnnotations(e, m, opts);
    section = e.toBuffer();
  }
  const entries: Array<[string, Buffer, Buffer]> = section ? sectionEntries(section) : [];
  for (let i = 0; i + 1 < add.length; i += 2) {
    const k = add[i]!;
    const id = keyId(k);
    const v = encodeTyped(add[i + 1]!);
    const at = entries.findIndex(([x]) => x === id);
    if (at >= 0) entries[at]![2] = v;
    else entries.push([id, encodeTyped(k), v]);
  }
  const e = new Encoder(64);
  e.descriptor(SECTION.messageAnnotations);
  const mark = e.begin(true);
  for (const [, k, v] of entries) e.raw(k).raw(v);
  e.end(mark, entries.length * 2);
  const out = e.toBuffer();
  return out.length > MAX_MERGED_ANNOTATIONS ? undefined : { [A.ma]: Buffer.from(out) };
}

/** A message-annotations section's entries: key identity, key bytes and value bytes, as they are encoded. */
function sectionEntries(section: Buffer): Array<[string, Buffer, Buffer]> {
  const { next } = readDescriptor(section, 0);
  const code = section[next];
  let p: number;
  let count: number;
  if (code === 0xc1) {
    count = section[next + 2]!;
    p = next + 3;
  } else if (code === 0xd1) {
    count = section.readUInt32BE(next + 5);
    p = next + 9;
  } else return [];
  const reader = new rheaTypes.Reader(section);
  reader.position = p;
  const out: Array<[string, Buffer, Buffer]> = [];
  for (let i = 0; i + 1 < count; i += 2) {
    const k0 = reader.position;
    const k = reader.read();
    const v0 = reader.position;
    reader.read();
    out.push([keyId(k), section.subarray(k0, v0), section.subarray(v0, reader.position)]);
  }
  return out;
}

/** Annotation keys are symbols (or ulongs, reserved): one symbol key is the same key whatever its width. */
function keyId(k: Typed): string {
  return typeof k.value === 'string' ? `s:${k.value}` : `${k.type.typecode}:${JSON.stringify(jsonSafe(toJs(k)))}`;
}

function encodeTyped(t: Typed): Buffer {
  const w = new rheaTypes.Writer();
  w.write(t);
  return w.toBuffer();
}

function encodeJmsAnnotations(e: Encoder, m: Message, opts: MappingOptions): void {
  e.descriptor(SECTION.messageAnnotations);
  const mark = e.begin(true);
  let n = 0;
  e.symbol(JMS_MSG_TYPE).byte(MSG_TYPE[bodyTypeOut(m)]);
  n += 2;
  if (m.destination) {
    e.symbol(JMS_DEST).byte(renderAddress(m.destination, opts.defaultKind).jmsType);
    n += 2;
  }
  if (m.replyTo) {
    e.symbol(JMS_REPLY_TYPE).byte(renderAddress(m.replyTo, opts.defaultKind).jmsType);
    n += 2;
  }
  if (m.deliveryTime > 0) {
    e.symbol(DELIVERY_TIME).timestamp(m.deliveryTime);
    n += 2;
  }
  e.end(mark, n);
}

/** The body type as it will be encoded (map/stream bodies that are not JSON go out as bytes). */
function bodyTypeOut(m: Message): BodyType {
  if (m.bodyType === 'map' || m.bodyType === 'stream') {
    const v = parseJson(m.body);
    if (m.bodyType === 'map' ? v && typeof v === 'object' && !Array.isArray(v) : Array.isArray(v)) return m.bodyType;
    return 'bytes';
  }
  if (m.bodyType === 'empty' && m.body.length > 0) return 'bytes';
  return m.bodyType;
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
}

function encodeProperties(e: Encoder, m: Message, opts: MappingOptions): void {
  const fields: Array<((e: Encoder) => void) | null> = [
    m.messageId ? (x) => x.string(m.messageId) : null,
    m.userId ? (x) => x.binary(Buffer.from(m.userId!, 'utf8')) : null,
    m.destination ? (x) => x.string(renderAddress(m.destination!, opts.defaultKind).address) : null,
    m.type !== undefined ? (x) => x.string(m.type!) : null,
    m.replyTo ? (x) => x.string(renderAddress(m.replyTo!, opts.defaultKind).address) : null,
    m.correlationId !== undefined ? (x) => x.string(m.correlationId!) : null,
    m.contentType ? (x) => x.symbol(m.contentType!) : m.bodyType === 'object' ? (x) => x.symbol('application/x-java-serialized-object') : null,
    m.contentEncoding ? (x) => x.symbol(m.contentEncoding!) : null,
    m.expiration > 0 ? (x) => x.timestamp(m.expiration) : null,
    m.timestamp > 0 ? (x) => x.timestamp(m.timestamp) : null,
    m.groupId !== undefined ? (x) => x.string(m.groupId!) : null,
    m.groupSeq !== undefined && m.groupSeq >= 0 && m.groupSeq <= 0xffffffff ? (x) => x.uint(m.groupSeq!) : null,
    typeof m.annotations?.[A.replyToGroupId] === 'string' ? (x) => x.string(m.annotations![A.replyToGroupId] as string) : null,
  ];
  let n = fields.length;
  while (n > 0 && fields[n - 1] === null) n--;
  e.descriptor(SECTION.properties);
  const mark = e.begin(false);
  for (let i = 0; i < n; i++) {
    const f = fields[i];
    if (f) f(e);
    else e.null();
  }
  e.end(mark, n);
}

/**
 * The Java types of a JMS producer's properties, kept by the OpenWire adapter (protocols/openwire/mapping.ts): a
 * Qpid JMS consumer must get a long as a long, a double 3.0 as a double (JMS forbids reading an int as a double).
 */
const OPENWIRE_PTYPES = 'openwire.ptypes';

/**
 * The Java types of the entries of a map/stream body that its JSON cannot tell (`bytes` for binary, which the JSON
 * holds as base64; byte, short, long, float, an integral double, char), by key or index, shared with the OpenWire
 * adapter as for properties: a JMS MapMessage's byte[] or float is an AMQP binary or float for an AMQP consumer, an
 * AMQP map's binary or double 4.0 a byte[] or Double for a JMS consumer; STOMP/MQTT/SQS read the JSON.
 */
const ENTRY_TYPES = 'openwire.etypes';

function noteEntryTypes(annotations: Record<string, unknown>, entries: Array<[string, Typed]>): void {
  let types: Record<string, string> | undefined;
  for (const [k, t] of entries) {
    const pv = toProperty(t);
    if (pv === undefined) continue;
    const jt = Buffer.isBuffer(pv) ? 'bytes' : javaTypeOf(t, pv);
    if (jt) (types ??= {})[k] = jt;
  }
  if (types) annotations[ENTRY_TYPES] = types;
}

/** A map/list body from JSON, the entries named in `openwire.etypes` with their types. */
function encodeTypedEntries(e: Encoder, js: unknown, types: unknown): void {
  const t = types !== null && typeof types === 'object' ? (types as Record<string, unknown>) : undefined;
  if (!t || js === null || typeof js !== 'object') {
    e.value(js);
    return;
  }
  const one = (k: string, x: unknown) => {
    if (t[k] === 'bytes' && typeof x === 'string') e.property(Buffer.from(x, 'base64'));
    else if (t[k] !== undefined && (typeof x === 'number' || typeof x === 'string')) e.javaTypedProperty(x, t[k]);
    else e.value(x, 1);
  };
  if (Array.isArray(js)) {
    const mark = e.begin(false);
    js.forEach((x, i) => one(String(i), x));
    e.end(mark, js.length);
    return;
  }
  const entries = Object.entries(js as Record<string, unknown>);
  const mark = e.begin(true);
  for (const [k, x] of entries) {
    e.string(k);
    one(k, x);
  }
  e.end(mark, entries.length * 2);
}

/**
 * The JMS type of an application property whose AMQP type the core's value does not carry (a byte, short, long,
 * float or char, a double with an integral value): a JMS consumer reads a Qpid producer's float with
 * getFloatProperty, which a double would refuse.
 */
function javaTypeOf(t: Typed, v: PropertyValue): string | undefined {
  switch (t.type?.typecode) {
    case 0x51:
      return 'byte';
    case 0x61:
      return 'short';
    case 0x55:
    case 0x81:
      return typeof v === 'number' ? 'long' : undefined;
    case 0x72:
      return 'float';
    case 0x82:
      return typeof v === 'number' && Number.isInteger(v) ? 'double' : undefined;
    case 0x73:
      return 'char';
    default:
      return undefined;
  }
}

function encodeApplicationProperties(e: Encoder, props: Record<string, PropertyValue>, javaTypes?: unknown): void {
  const keys = Object.keys(props);
  if (keys.length === 0) return;
  e.descriptor(SECTION.applicationProperties);
  const mark = e.begin(true);
  const types = javaTypes !== null && typeof javaTypes === 'object' ? (javaTypes as Record<string, unknown>) : undefined;
  for (const k of keys) {
    e.string(k);
    if (types?.[k] !== undefined) e.javaTypedProperty(props[k], types[k]);
    else e.property(props[k]);
  }
  e.end(mark, keys.length * 2);
}

function encodeBody(e: Encoder, m: Message): void {
  switch (bodyTypeOut(m)) {
    case 'text':
      e.descriptor(SECTION.value).string(m.body.toString('utf8'));
      return;
    case 'map':
      encodeTypedEntries(e.descriptor(SECTION.value), parseJson(m.body), m.annotations?.[ENTRY_TYPES]);
      return;
    case 'stream':
      encodeTypedEntries(e.descriptor(SECTION.sequence), parseJson(m.body), m.annotations?.[ENTRY_TYPES]);
      return;
    case 'empty':
      e.descriptor(SECTION.value).null();
      return;
    default:
      e.descriptor(SECTION.data).binary(m.body);
  }
}
