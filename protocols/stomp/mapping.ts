/**
 * STOMP ⇄ core mapping: destinations, SEND frames → core Message, core Message → MESSAGE headers.
 * The table is in docs/interop.md (## STOMP); ActiveMQ's STOMP conventions are followed where it has one.
 */
import { type Address, type BodyType, BrokerError, createMessage, DEFAULT_PRIORITY, type Message, type PropertyValue } from '../../src/core/api.js';
import type { StompFrame } from './frame.js';
import { escapeHeader } from './encoder.js';

// ------------------------------------------------------------------------------------------- destinations

export type StompDestinationType = 'queue' | 'topic' | 'temp-queue' | 'temp-topic' | 'remote-temp-queue' | 'remote-temp-topic';

export interface StompDestination {
  type: StompDestinationType;
  /** The part after the prefix (for temp-queue/temp-topic: the connection-local name). */
  name: string;
}

const PREFIXES: Array<[string, StompDestinationType]> = [
  ['/queue/', 'queue'],
  ['/topic/', 'topic'],
  ['/temp-queue/', 'temp-queue'],
  ['/temp-topic/', 'temp-topic'],
  ['/remote-temp-queue/', 'remote-temp-queue'],
  ['/remote-temp-topic/', 'remote-temp-topic'],
  // RabbitMQ's names for the same things: a queue by its name, and the topic exchange with a routing key (what
  // RabbitMQ's /topic/ publishes to)
  ['/amq/queue/', 'queue'],
  ['/exchange/amq.topic/', 'topic'],
];

export const MAX_DESTINATION_LENGTH = 1024;

/**
 * Parse one STOMP destination (`/queue/orders`); throws BrokerError('invalid') with a helpful message. With
 * `plainIsQueue`, a name without a leading `/` is the queue of that name, as RabbitMQ 3.10 and ActiveMQ 5.17 take it
 * in SEND and SUBSCRIBE (`orders` = `/queue/orders`); an unknown `/…` prefix stays an error (RabbitMQ), a typo
 * such as `/queues/orders` should not quietly become a queue of its own.
 */
export function parseDestination(dest: string, plainIsQueue = false): StompDestination {
  if (plainIsQueue && dest !== '' && !dest.startsWith('/')) {
    if (dest.length > MAX_DESTINATION_LENGTH) throw new BrokerError('invalid', `Destination name is longer than ${MAX_DESTINATION_LENGTH} characters`);
    return { type: 'queue', name: dest };
  }
  for (const [prefix, type] of PREFIXES) {
    if (dest.startsWith(prefix)) {
      const name = dest.slice(prefix.length);
      if (!name) throw new BrokerError('invalid', `Destination '${dest}' has an empty name`);
      if (name.length > MAX_DESTINATION_LENGTH) throw new BrokerError('invalid', `Destination name is longer than ${MAX_DESTINATION_LENGTH} characters`);
      return { type, name };
    }
  }
  throw new BrokerError(
    'invalid',
    `Unknown destination '${clip(dest)}': use /queue/<name>, /topic/<name>, /temp-queue/<name>, /temp-topic/<name>, /remote-temp-queue/<name>, /remote-temp-topic/<name>, /amq/queue/<name>, /exchange/amq.topic/<name> or a queue's plain <name>`,
  );
}

/** `queue`, `temp-queue`, `remote-temp-queue` → 'queue'; the topic forms → 'topic'. */
export function kindOf(type: StompDestinationType): 'queue' | 'topic' {
  return type.endsWith('queue') ? 'queue' : 'topic';
}

/**
 * A composite destination (`/queue/a,/topic/b`, ActiveMQ style) as the engine's composite address:
 * `{ kind: <first kind>, name: 'queue://a,topic://b' }`. Temporary destinations cannot be part of one.
 * A component without a `/` prefix has the kind of the first component (`/queue/a,b`).
 */
export function compositeAddress(dest: string): Address {
  const parts = dest.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new BrokerError('invalid', `Composite destination '${clip(dest)}' has an empty part`);
  const first = parseDestination(parts[0]!, true);
  if (first.type !== 'queue' && first.type !== 'topic') throw new BrokerError('invalid', 'Temporary destinations cannot be part of a composite destination');
  const names = parts.map((p, i) => {
    if (i === 0) return `${first.type}://${first.name}`;
    if (!p.startsWith('/')) return `${first.type}://${p}`;
    const d = parseDestination(p);
    if (d.type !== 'queue' && d.type !== 'topic') throw new BrokerError('invalid', 'Temporary destinations cannot be part of a composite destination');
    return `${d.type}://${d.name}`;
  });
  return { kind: first.type, name: names.join(',') };
}

// ------------------------------------------------------------------------------------------- SEND → core

/** SEND headers that are frame-level or map onto core fields, so they do not become properties. */
const RESERVED = new Set([
  'destination',
  'receipt',
  'transaction',
  'content-length',
  'content-type',
  'persistent',
  'priority',
  'expires',
  'type',
  'correlation-id',
  'reply-to',
  'message-id',
  'timestamp',
  'redelivered',
  'subscription',
  'ack',
  'amq-msg-type',
  'JMSXGroupID',
  'JMSXGroupSeq',
  'JMSXUserID',
]);

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|ecmascript|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)/i;

/**
 * Body type of a SEND (see docs/interop.md): `amq-msg-type: text|bytes` (ActiveMQ) decides; otherwise a
 * `content-type` decides (textual types and anything with a charset are text, the rest bytes); without a
 * content-type, ActiveMQ's rule: a frame with `content-length` is bytes, one without is text.
 */
export function bodyTypeOf(amqMsgType: string | undefined, contentType: string | undefined, hasContentLength: boolean): BodyType {
  if (amqMsgType === 'text') return 'text';
  if (amqMsgType === 'bytes') return 'bytes';
  if (contentType !== undefined && contentType !== '') {
    return TEXT_TYPES.test(contentType) || /;\s*charset=/i.test(contentType) ? 'text' : 'bytes';
  }
  return hasContentLength ? 'bytes' : 'text';
}

export interface SendContext {
  /** Resolve a reply-to STOMP destination to a core address string (temp names → the global name). */
  replyTo(dest: string): string;
  now: number;
}

/** Build the core message of a SEND frame. Header values are strings; the first occurrence of a header wins. */
export function sendToMessage(frame: StompFrame, ctx: SendContext): Message {
  const properties: Record<string, PropertyValue> = {};
  let persistent = false;
  let priority = DEFAULT_PRIORITY;
  let expiration = 0;
  let type: string | undefined;
  let correlationId: string | undefined;
  let replyTo: string | undefined;
  let contentType: string | undefined;
  let amqMsgType: string | undefined;
  let groupId: string | undefined;
  let groupSeq: number | undefined;
  let hasContentLength = false;
  const seen = frame.headers.length > 8 ? new Set<string>() : null;
  const hs = frame.headers;
  for (let i = 0; i < hs.length; i++) {
    const [k, v] = hs[i]!;
    if (seen) {
      if (seen.has(k)) continue;
      seen.add(k);
    } else if (firstIndex(hs, k) !== i) continue;
    if (!RESERVED.has(k)) {
      properties[k] = v;
      continue;
    }
    switch (k) {
      case 'persistent':
        persistent = v === 'true';
        break;
      case 'priority':
        priority = Math.max(0, Math.min(9, parseIntStrict(v, 'priority', -Infinity, Infinity))); // clamped, as JMS
        break;
      case 'expires': {
        const n = parseIntStrict(v, 'expires', -Infinity, Infinity);
        expiration = n > 0 ? Math.min(n, Number.MAX_SAFE_INTEGER) : 0;
        break;
      }
      case 'type':
        type = v;
        break;
      case 'correlation-id':
        correlationId = v;
        break;
      case 'reply-to':
        if (v !== '') replyTo = ctx.replyTo(v);
        break;
      case 'content-type':
        contentType = v;
        break;
      case 'content-length':
        hasContentLength = true;
        break;
      case 'amq-msg-type':
        amqMsgType = v;
        break;
      case 'JMSXGroupID':
        groupId = v;
        break;
      case 'JMSXGroupSeq':
        groupSeq = parseIntStrict(v, 'JMSXGroupSeq', -1, 2 ** 31 - 1);
        break;
      default:
        break; // frame-level headers
    }
  }
  return createMessage({
    body: frame.body,
    bodyType: bodyTypeOf(amqMsgType, contentType, hasContentLength),
    properties,
    durable: persistent,
    priority,
    expiration,
    timestamp: ctx.now,
    correlationId,
    replyTo,
    type,
    groupId,
    groupSeq,
    contentType,
  });
}

function firstIndex(hs: ReadonlyArray<readonly [string, string]>, name: string): number {
  for (let i = 0; i < hs.length; i++) if (hs[i]![0] === name) return i;
  return -1;
}

function parseIntStrict(v: string, name: string, min: number, max: number): number {
  const s = v.trim();
  if (!/^[+-]?\d{1,20}$/.test(s)) throw new BrokerError('invalid', `Header '${name}' must be an integer, got '${clip(v)}'`);
  const n = Number(s);
  if (n < min || n > max) throw new BrokerError('invalid', `Header '${name}' must be between ${min} and ${max}, got ${s}`);
  return n;
}

// ------------------------------------------------------------------------------------------- core → MESSAGE

/**
 * The MESSAGE header lines that depend only on the message (not on the delivery or the receiving connection):
 * `name:value\n` each, escaped with `mode`, built once per message and version (see PreparedMessage). Properties
 * become headers as strings. The numbers and names of the fixed headers need no escaping.
 */
export function messageHeaderLines(m: Message, mode: number): string {
  let s = 'expires:' + m.expiration + '\npriority:' + m.priority + '\ntimestamp:' + m.timestamp + (m.durable ? '\npersistent:true\n' : '\npersistent:false\n');
  if (m.correlationId !== undefined) s += 'correlation-id:' + escapeHeader(m.correlationId, mode) + '\n';
  if (m.type !== undefined) s += 'type:' + escapeHeader(m.type, mode) + '\n';
  if (m.contentType !== undefined) s += 'content-type:' + escapeHeader(m.contentType, mode) + '\n';
  if (m.groupId !== undefined) s += 'JMSXGroupID:' + escapeHeader(m.groupId, mode) + '\n';
  if (m.groupSeq !== undefined) s += 'JMSXGroupSeq:' + escapeHeader(String(m.groupSeq), mode) + '\n';
  if (m.userId !== undefined) s += 'JMSXUserID:' + escapeHeader(m.userId, mode) + '\n';
  const props = m.properties;
  for (const k in props) {
    if (RESERVED.has(k) || k === '') continue;
    const v = propertyString(props[k]);
    if (v !== undefined) s += escapeHeader(k, mode) + ':' + escapeHeader(v, mode) + '\n';
  }
  return s;
}

function propertyString(v: PropertyValue | undefined): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(v);
    default:
      return undefined; // null and binary property values have no STOMP form
  }
}

function clip(s: string, n = 100): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
