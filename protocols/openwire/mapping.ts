/**
 * OpenWire (JMS) ⇄ core mapping: destinations, ActiveMQ*Message → core Message, core Message → the
 * ActiveMQ message a consumer gets. The table is in README.md (this folder).
 *
 * What the core has no field for is kept in `openwire.*` annotations so JMS → JMS is lossless: the Java type
 * of each property the core cannot tell apart (`openwire.ptypes`), the exact MapMessage / StreamMessage
 * encoding (`openwire.body`), a null TextMessage (`openwire.nullText`).
 */
import { createHash } from 'node:crypto';
import { type Address, type BodyType, BrokerError, createMessage, type Message, type PropertyValue } from '../../src/core/api.js';
import type { Destination, Message as OwMessage, MessageId, ProducerId } from './commands.js';
import { OpenWireError } from './errors.js';
import {
  decodeBytesBody,
  decodeMapBody,
  decodePrimitiveMap,
  decodeStreamBody,
  decodeTextBody,
  encodeMapBody,
  encodePrimitiveMap,
  encodeStreamBody,
  encodeTextBody,
  inflateContent,
  type OwList,
  type OwMap,
  type OwValue,
  type TypedNumber,
} from './properties.js';
import { DataType } from './schema.js';

export const OBJECT_CONTENT_TYPE = 'application/x-java-serialized-object';
/** ActiveMQ's prefix of advisory topics; consumers on them are served by the adapter (advisories.ts). */
export const ADVISORY_PREFIX = 'ActiveMQ.Advisory.';

const A_PTYPES = 'openwire.ptypes';
/** The JMS String property that carries the core `contentType` both ways (ActiveMQ's name for STOMP's header). */
const CONTENT_TYPE_PROPERTY = 'content-type';
const A_BODY = 'openwire.body';
const A_NULL_TEXT = 'openwire.nullText';
/**
 * The Java types of MapMessage / StreamMessage entries (by key or index) that the JSON body cannot tell: `bytes`
 * (base64 in the JSON), byte, short, long, float, an integral double, char. So other protocols with such types
 * (AMQP) get them, and get them back; read and written by the AMQP adapter too.
 */
const A_ENTRY_TYPES = 'openwire.etypes';
/** The producer disabled JMSTimestamp (MessageProducer.setDisableMessageTimestamp): the core keeps a time, JMS sees 0. */
const A_NO_TIMESTAMP = 'openwire.noTimestamp';

// ------------------------------------------------------------------------------------------- destinations

export function isTemporary(d: Destination): boolean {
  return d.type === DataType.ACTIVEMQ_TEMP_QUEUE || d.type === DataType.ACTIVEMQ_TEMP_TOPIC;
}

export function isTopic(d: Destination): boolean {
  return d.type === DataType.ACTIVEMQ_TOPIC || d.type === DataType.ACTIVEMQ_TEMP_TOPIC;
}

/**
 * The core address of a JMS destination. Names are dot-separated already; a composite `a,b` (components
 * optionally `queue://x` / `topic://x`, as ActiveMQ writes them) becomes the engine's composite form.
 */
export function toAddress(d: Destination | null): Address {
  const name = d?.physicalName;
  if (!d || !name) throw new BrokerError('invalid', 'A destination is required');
  const kind = isTopic(d) ? 'topic' : 'queue';
  if (isTemporary(d)) return { kind, name, temporary: true };
  if (!name.includes(',')) return { kind, name };
  const parts = name.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new BrokerError('invalid', `Composite destination '${name}' has an empty part`);
  return { kind, name: parts.map((p) => (/^(queue|topic):\/\//.test(p) ? p : `${kind}://${p}`)).join(',') };
}

/** The core's address string (`queue://x`, `temp-topic://x`) of a JMS destination (replyTo). */
export function toAddressString(d: Destination): string {
  const prefix = { [DataType.ACTIVEMQ_QUEUE]: 'queue', [DataType.ACTIVEMQ_TOPIC]: 'topic', [DataType.ACTIVEMQ_TEMP_QUEUE]: 'temp-queue', [DataType.ACTIVEMQ_TEMP_TOPIC]: 'temp-topic' }[d.type];
  return `${prefix}://${d.physicalName ?? ''}`;
}

/** A core address string back as a JMS destination (`x` alone is a queue). */
export function fromAddressString(s: string): Destination {
  const m = /^(queue|topic|temp-queue|temp-topic):\/\/(.*)$/s.exec(s);
  const [kind, name] = m ? [m[1]!, m[2]!] : ['queue', s];
  const type = { queue: DataType.ACTIVEMQ_QUEUE, topic: DataType.ACTIVEMQ_TOPIC, 'temp-queue': DataType.ACTIVEMQ_TEMP_QUEUE, 'temp-topic': DataType.ACTIVEMQ_TEMP_TOPIC }[kind]!;
  return { type, physicalName: name } as Destination;
}

export function fromAddress(a: Address): Destination {
  return { type: a.kind === 'topic' ? (a.temporary ? DataType.ACTIVEMQ_TEMP_TOPIC : DataType.ACTIVEMQ_TOPIC) : a.temporary ? DataType.ACTIVEMQ_TEMP_QUEUE : DataType.ACTIVEMQ_QUEUE, physicalName: a.name } as Destination;
}

// ------------------------------------------------------------------------------------------- message ids

/** Java's ProducerId.toString(). */
export function producerKey(p: ProducerId | null): string {
  return p ? `${p.connectionId}:${p.sessionId}:${p.value}` : 'null';
}

/** Java's MessageId.toString() without the textView: what acks are matched by. */
export function messageIdKey(id: MessageId | null): string {
  return id ? `${producerKey(id.producerId)}:${id.producerSequenceId}` : '';
}

/** The JMSMessageID string of a producer's MessageId (its textView when it has one). */
export function messageIdString(id: MessageId | null): string | undefined {
  if (!id) return undefined;
  if (id.textView) return id.textView.startsWith('ID:') ? id.textView : `ID:${id.textView}`;
  return messageIdKey(id);
}

const BROKER_PRODUCER = 'ID:wharf-broker';

/**
 * The MessageId a consumer gets for a core message id: a JMS id (`ID:<connection>:<session>:<producer>:<seq>`)
 * parses back into its parts; any other id gets a synthetic producer and a sequence hashed from the id (stable
 * across restarts and redeliveries, so the client's duplicate audit sees one message), with the id as textView.
 */
export function toMessageId(id: string): MessageId {
  const m = /^(ID:.*):(\d{1,18}):(\d{1,18}):(\d{1,18})$/.exec(id);
  if (m) {
    const producerId: ProducerId = { type: DataType.PRODUCER_ID, connectionId: m[1]!, sessionId: BigInt(m[2]!), value: BigInt(m[3]!) };
    return { type: DataType.MESSAGE_ID, textView: null, producerId, producerSequenceId: BigInt(m[4]!), brokerSequenceId: 0n };
  }
  const h = createHash('sha1').update(id).digest();
  const seq = h.readBigUInt64BE(0) & 0x1f_ffff_ffff_ffffn;
  const producerId: ProducerId = { type: DataType.PRODUCER_ID, connectionId: BROKER_PRODUCER, sessionId: 0n, value: 0n };
  return { type: DataType.MESSAGE_ID, textView: id, producerId, producerSequenceId: seq, brokerSequenceId: 0n };
}

// ------------------------------------------------------------------------------------------- properties

type JavaType = 'byte' | 'short' | 'int' | 'long' | 'float' | 'double' | 'char' | 'json';

/** One property value as the core keeps it, and its Java type when the default inference would not give it back. */
function propertyIn(v: OwValue): [PropertyValue, JavaType | undefined] {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return [v, undefined];
  if (Buffer.isBuffer(v)) return [v, undefined];
  if (typeof v === 'number') return [v, undefined];
  if (typeof v === 'bigint') return [Number.isSafeInteger(Number(v)) ? Number(v) : v, 'long'];
  if (v instanceof Map || Array.isArray(v)) return [JSON.stringify(toJson(v)), 'json'];
  const t = v as TypedNumber;
  switch (t.type) {
    case 'int':
      return [t.value, undefined];
    case 'double':
      return [t.value, Number.isInteger(t.value) ? 'double' : undefined];
    case 'long': {
      const n = Number(t.value);
      return [Number.isSafeInteger(n) ? n : t.value, n >= -0x80000000 && n <= 0x7fffffff ? 'long' : undefined];
    }
    case 'char':
      return [String.fromCharCode(t.value), 'char'];
    default:
      return [t.value, t.type];
  }
}

/** The default Java type of a core property value: int for 32-bit integers, long for other integers, double. */
function propertyOut(v: PropertyValue, t: JavaType | undefined): OwValue {
  if (t && v !== null) {
    switch (t) {
      case 'char':
        if (typeof v === 'string' && v.length === 1) return { type: 'char', value: v.charCodeAt(0) };
        break;
      case 'json':
        if (typeof v === 'string') {
          try {
            return fromJson(JSON.parse(v));
          } catch {
            return v;
          }
        }
        break;
      case 'long':
        if (typeof v === 'number' && Number.isInteger(v)) return { type: 'long', value: BigInt(v) };
        break;
      default:
        if (typeof v === 'number') return { type: t, value: v } as TypedNumber;
    }
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v >= -0x80000000 && v <= 0x7fffffff ? { type: 'int', value: v } : { type: 'long', value: BigInt(v) };
    return { type: 'double', value: v };
  }
  if (typeof v === 'bigint') return { type: 'long', value: BigInt.asIntN(64, v) };
  return v;
}

// ------------------------------------------------------------------------------------------- JSON bodies

/** A map/stream value as JSON (how other protocols see MapMessage/StreamMessage bodies): bytes as base64, 64-bit integers beyond 2^53 as strings. */
function toJson(v: OwValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(o, k, { value: toJson(x), enumerable: true, writable: true, configurable: true });
    return o;
  }
  if (Array.isArray(v)) return v.map(toJson);
  const t = v as TypedNumber;
  if (t.type === 'char') return String.fromCharCode(t.value);
  return toJson(t.value as number | bigint);
}

/** JSON (a body from another protocol) as map/stream values: 32-bit integers int, other integers long, other numbers double. */
function fromJson(v: unknown, depth = 0): OwValue {
  if (depth > 32) throw new OpenWireError('JSON body nested too deeply');
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return propertyOut(v, undefined);
  if (Array.isArray(v)) return v.map((x) => fromJson(x, depth + 1));
  if (typeof v === 'object') {
    const m: OwMap = new Map();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) m.set(k, fromJson(x, depth + 1));
    return m;
  }
  return String(v);
}

/** The Java types of a map's / list's entries the JSON loses (`openwire.etypes`). */
function entryTypes(entries: Iterable<[string, OwValue]>): Record<string, string> | undefined {
  let types: Record<string, string> | undefined;
  for (const [k, v] of entries) {
    const t = Buffer.isBuffer(v) ? 'bytes' : v instanceof Map || Array.isArray(v) ? undefined : propertyIn(v)[1];
    if (t) (types ??= {})[k] = t;
  }
  return types;
}

/** A JSON map/list body as MapMessage / StreamMessage values, with the entry types `openwire.etypes` names. */
function fromJsonTyped(js: object, m: Message): OwValue {
  const a = m.annotations?.[A_ENTRY_TYPES];
  const types = a !== null && typeof a === 'object' ? (a as Record<string, unknown>) : {};
  const one = (k: string, x: unknown): OwValue => {
    const t = types[k];
    if (t === 'bytes' && typeof x === 'string') return Buffer.from(x, 'base64');
    if ((t === 'byte' || t === 'short' || t === 'long' || t === 'float' || t === 'double' || t === 'char') && (typeof x === 'number' || typeof x === 'string')) return propertyOut(x, t);
    return fromJson(x, 1);
  };
  if (Array.isArray(js)) return js.map((x, i) => one(String(i), x));
  const out: OwMap = new Map();
  for (const [k, x] of Object.entries(js)) out.set(k, one(k, x));
  return out;
}

// ------------------------------------------------------------------------------------------- JMS → core

export interface InboundContext {
  now: number;
  /** The authenticated user (JMSXUserID), when the broker stamps one. */
  userId?: string;
}

/** Build the core message of a message a JMS producer sent (compressed bodies are inflated here). */
export function toCoreMessage(m: OwMessage, ctx: InboundContext): Message {
  const annotations: Record<string, unknown> = {};
  const properties: Record<string, PropertyValue> = {};
  if (m.marshalledProperties && m.marshalledProperties.length > 0) {
    const props = decodePrimitiveMap(m.marshalledProperties);
    const ptypes: Record<string, JavaType> = {};
    let typed = false;
    if (props) {
      for (const [k, v] of props) {
        const [value, t] = propertyIn(v);
        properties[k] = value;
        if (t) {
          ptypes[k] = t;
          typed = true;
        }
      }
    }
    if (typed) annotations[A_PTYPES] = ptypes;
  }
  // ActiveMQ's convention (its STOMP bridge): the content type is the String property `content-type`
  const ctProp = properties[CONTENT_TYPE_PROPERTY];
  if (typeof ctProp === 'string' && m.type !== DataType.ACTIVEMQ_OBJECT_MESSAGE) delete properties[CONTENT_TYPE_PROPERTY];
  let body: Buffer;
  let bodyType: BodyType;
  let contentType: string | undefined;
  switch (m.type) {
    case DataType.ACTIVEMQ_TEXT_MESSAGE: {
      const text = decodeTextBody(m.content, m.compressed);
      if (text === null) annotations[A_NULL_TEXT] = true;
      body = Buffer.from(text ?? '', 'utf8');
      bodyType = 'text';
      break;
    }
    case DataType.ACTIVEMQ_BYTES_MESSAGE:
      body = decodeBytesBody(m.content, m.compressed);
      bodyType = 'bytes';
      break;
    case DataType.ACTIVEMQ_MAP_MESSAGE: {
      const raw = m.content ? (m.compressed ? inflateContent(m.content) : m.content) : null;
      const map = decodeMapBody(raw, false);
      body = Buffer.from(JSON.stringify(toJson(map)));
      const types = entryTypes(map);
      if (types) annotations[A_ENTRY_TYPES] = types;
      if (raw) annotations[A_BODY] = raw;
      bodyType = 'map';
      break;
    }
    case DataType.ACTIVEMQ_STREAM_MESSAGE: {
      const raw = m.content ? (m.compressed ? inflateContent(m.content) : m.content) : null;
      const list = decodeStreamBody(raw, false);
      body = Buffer.from(JSON.stringify(toJson(list)));
      const types = entryTypes(list.map((v, i) => [String(i), v]));
      if (types) annotations[A_ENTRY_TYPES] = types;
      if (raw) annotations[A_BODY] = raw;
      bodyType = 'stream';
      break;
    }
    case DataType.ACTIVEMQ_OBJECT_MESSAGE:
      // The serialized object passes through: never deserialized here.
      body = m.content ? (m.compressed ? inflateContent(m.content) : Buffer.from(m.content)) : Buffer.alloc(0);
      bodyType = 'object';
      contentType = OBJECT_CONTENT_TYPE;
      break;
    case DataType.ACTIVEMQ_BLOB_MESSAGE:
      throw new BrokerError('invalid', 'BlobMessage is not supported');
    default:
      body = m.content ? (m.compressed ? inflateContent(m.content) : Buffer.from(m.content)) : Buffer.alloc(0);
      bodyType = body.length > 0 ? 'bytes' : 'empty';
      break;
  }
  if (typeof ctProp === 'string' && m.type !== DataType.ACTIVEMQ_OBJECT_MESSAGE) contentType = ctProp;
  const expiration = Number(m.expiration);
  if (m.timestamp <= 0n) annotations[A_NO_TIMESTAMP] = true;
  return createMessage({
    messageId: messageIdString(m.messageId),
    body,
    bodyType,
    properties,
    durable: m.persistent,
    priority: m.priority,
    expiration: expiration > 0 ? expiration : 0,
    timestamp: m.timestamp > 0n ? Number(m.timestamp) : ctx.now,
    correlationId: m.correlationId ?? undefined,
    replyTo: m.replyTo ? toAddressString(m.replyTo) : undefined,
    type: m.jmsType ?? undefined,
    groupId: m.groupID ?? undefined,
    groupSeq: m.groupID != null || m.groupSequence !== 0 ? m.groupSequence : undefined,
    contentType,
    userId: ctx.userId ?? m.userID ?? undefined,
    annotations: Object.keys(annotations).length > 0 ? annotations : undefined,
  });
}

// ------------------------------------------------------------------------------------------- core → JMS

function annotationBuffer(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The OpenWire type and content of a core message's body. */
function bodyOut(m: Message): { type: OwMessage['type']; content: Buffer | null } {
  const keep = annotationBuffer(m.annotations?.[A_BODY]);
  switch (m.bodyType) {
    case 'text':
      return { type: DataType.ACTIVEMQ_TEXT_MESSAGE, content: encodeTextBody(m.annotations?.[A_NULL_TEXT] === true ? null : m.body.toString('utf8')) };
    case 'map': {
      if (keep) return { type: DataType.ACTIVEMQ_MAP_MESSAGE, content: keep };
      const js = parseJson(m.body);
      if (js && typeof js === 'object' && !Array.isArray(js)) return { type: DataType.ACTIVEMQ_MAP_MESSAGE, content: encodeMapBody(fromJsonTyped(js, m) as OwMap) };
      break;
    }
    case 'stream': {
      if (keep) return { type: DataType.ACTIVEMQ_STREAM_MESSAGE, content: keep };
      const js = parseJson(m.body);
      if (Array.isArray(js)) return { type: DataType.ACTIVEMQ_STREAM_MESSAGE, content: encodeStreamBody(fromJsonTyped(js, m) as OwList) };
      break;
    }
    case 'object':
      // createObjectMessage() without an object has no content; the client reads that as getObject() == null
      // (a serialized null is never zero bytes)
      return { type: DataType.ACTIVEMQ_OBJECT_MESSAGE, content: m.body.length > 0 ? m.body : null };
    case 'empty':
      return { type: DataType.ACTIVEMQ_MESSAGE, content: null };
    default:
      break;
  }
  return { type: DataType.ACTIVEMQ_BYTES_MESSAGE, content: m.body };
}

/**
 * The ActiveMQ message for a core message, without what depends on the delivery (redeliveryCounter,
 * destination of the dispatch): built once per message and connection, then copied per delivery.
 */
export function toOpenWireMessage(m: Message): OwMessage {
  const { type, content } = bodyOut(m);
  const ptypes = (m.annotations?.[A_PTYPES] ?? {}) as Record<string, JavaType>;
  let props: OwMap | null = null;
  for (const k in m.properties) {
    if (k === '') continue;
    props ??= new Map();
    props.set(k, propertyOut(m.properties[k]!, ptypes[k]));
  }
  // a STOMP/AMQP/MQTT 5 content type reaches JMS as ActiveMQ's STOMP bridge shows it (ObjectMessage's own aside)
  if (m.contentType !== undefined && m.contentType !== OBJECT_CONTENT_TYPE && !Object.prototype.hasOwnProperty.call(m.properties, CONTENT_TYPE_PROPERTY)) {
    (props ??= new Map()).set(CONTENT_TYPE_PROPERTY, m.contentType);
  }
  const messageId = toMessageId(m.messageId);
  return {
    type,
    commandId: 0,
    responseRequired: false,
    producerId: messageId.producerId,
    destination: m.destination ? fromAddressString(m.destination) : null,
    transactionId: null,
    // a dead-lettered message names where it came from, as ActiveMQ's ActiveMQMessage.getOriginalDestination() does
    originalDestination: typeof m.properties.originalDestination === 'string' ? fromAddressString(m.properties.originalDestination) : null,
    messageId,
    originalTransactionId: null,
    groupID: m.groupId ?? null,
    groupSequence: m.groupSeq ?? 0,
    correlationId: m.correlationId ?? null,
    persistent: m.durable,
    expiration: BigInt(Math.trunc(m.expiration)),
    priority: m.priority,
    replyTo: m.replyTo ? fromAddressString(m.replyTo) : null,
    timestamp: m.annotations?.[A_NO_TIMESTAMP] === true ? 0n : BigInt(Math.trunc(m.timestamp)),
    jmsType: m.type ?? null,
    content,
    marshalledProperties: props ? encodePrimitiveMap(props) : null,
    dataStructure: null,
    targetConsumerId: null,
    compressed: false,
    redeliveryCounter: 0,
    brokerPath: null,
    arrival: 0n,
    userID: m.userId ?? null,
    recievedByDFBridge: false,
    droppable: false,
    cluster: null,
    brokerInTime: 0n,
    brokerOutTime: 0n,
    jmsxGroupFirstForConsumer: false,
  } as OwMessage;
}
