/** Core messages as the admin API shows them, and messages the API is asked to send. */
import { createMessage, type Message, type PropertyValue } from '../core/api.js';
import { badRequest, optBool, optInt, optString } from './http-util.js';

export interface BrowsedEntry {
  seq: number;
  message: Message;
  deliveryCount: number;
  redelivered: boolean;
  state: string;
}

/** Property values in JSON: bigint as string and Buffer as base64, their types named in `propertyTypes`. */
function jsonProperties(p: Record<string, PropertyValue>): { properties: Record<string, string | number | boolean | null>; propertyTypes?: Record<string, string> } {
  const properties: Record<string, string | number | boolean | null> = {};
  let types: Record<string, string> | undefined;
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'bigint') {
      properties[k] = v.toString();
      (types ??= {})[k] = 'long';
    } else if (Buffer.isBuffer(v)) {
      properties[k] = v.toString('base64');
      (types ??= {})[k] = 'bytes';
    } else properties[k] = v;
  }
  return types ? { properties, propertyTypes: types } : { properties };
}

/** Whether bytes read as text a person can look at (valid UTF-8 without odd control characters). */
function looksLikeText(b: Buffer): boolean {
  const s = b.toString('utf8');
  if (s.includes('\uFFFD') && !Buffer.from(s, 'utf8').equals(b)) return false;
  return !/[\x00-\x08\x0E-\x1F\x7F]/.test(s);
}

/** A message with its body cut to `maxBody` bytes (`bodyTruncated`), as UTF-8 text where it is text, else base64. */
export function messageJson(e: BrowsedEntry, maxBody: number, full = false): Record<string, unknown> {
  const m = e.message;
  const slice = m.body.length > maxBody ? m.body.subarray(0, maxBody) : m.body;
  const text = m.bodyType === 'text' || looksLikeText(slice);
  let body: string;
  if (text) {
    body = slice.toString('utf8');
    // a cut in the middle of a multi-byte character leaves a replacement char at the end: drop it
    if (slice.length < m.body.length) body = body.replace(/\uFFFD+$/, '');
  } else body = slice.toString('base64');
  const out: Record<string, unknown> = {
    seq: e.seq,
    state: e.state,
    messageId: m.messageId,
    destination: m.destination,
    bodyType: m.bodyType,
    bodySize: m.body.length,
    body,
    bodyEncoding: text ? 'utf8' : 'base64',
    bodyTruncated: slice.length < m.body.length,
    durable: m.durable,
    priority: m.priority,
    timestamp: m.timestamp,
    expiration: m.expiration,
    deliveryTime: m.deliveryTime,
    deliveryCount: e.deliveryCount,
    redelivered: e.redelivered,
    correlationId: m.correlationId,
    replyTo: m.replyTo,
    type: m.type,
    groupId: m.groupId,
    groupSeq: m.groupSeq,
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    userId: m.userId,
    ...jsonProperties(m.properties),
  };
  if (full && m.annotations) out.annotations = m.annotations;
  return out;
}

/**
 * A message from an API request body:
 * `{ body, bodyEncoding?: utf8|base64, properties?, durable?, priority?, ttl?, delay?, correlationId?, replyTo?, type?, contentType?, groupId? }`.
 */
export function messageFromJson(o: Record<string, unknown>, maxBytes: number): Message {
  const known = new Set(['body', 'bodyEncoding', 'properties', 'durable', 'priority', 'ttl', 'delay', 'correlationId', 'replyTo', 'type', 'contentType', 'groupId', 'messageId']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw badRequest(`${k}: unknown field (expected: ${[...known].join(', ')})`);
  const bodyStr = o.body === undefined ? '' : o.body;
  if (typeof bodyStr !== 'string') throw badRequest('body: expected a string');
  const enc = optString(o, 'bodyEncoding') ?? 'utf8';
  if (enc !== 'utf8' && enc !== 'base64') throw badRequest('bodyEncoding: expected utf8 or base64');
  if (enc === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(bodyStr)) throw badRequest('body: not valid base64');
  const body = Buffer.from(bodyStr, enc);
  if (body.length > maxBytes) throw badRequest(`body: larger than ${maxBytes} bytes`);
  const properties: Record<string, PropertyValue> = {};
  if (o.properties !== undefined && o.properties !== null) {
    if (typeof o.properties !== 'object' || Array.isArray(o.properties)) throw badRequest('properties: expected an object of name: string | number | boolean');
    for (const [k, v] of Object.entries(o.properties as Record<string, unknown>)) {
      if (!/^[A-Za-z_$][A-Za-z0-9_$.-]{0,255}$/.test(k)) throw badRequest(`properties.${k}: invalid property name`);
      if (typeof v === 'string' || typeof v === 'boolean' || v === null) properties[k] = v;
      else if (typeof v === 'number' && Number.isFinite(v)) properties[k] = v;
      else throw badRequest(`properties.${k}: expected a string, number, boolean or null`);
    }
  }
  const ttl = optInt(o, 'ttl', 0, 10 * 365 * 86400_000) ?? 0;
  const delay = optInt(o, 'delay', 0, 10 * 365 * 86400_000) ?? 0;
  const now = Date.now();
  const replyTo = optString(o, 'replyTo', 1024);
  if (replyTo !== undefined && !/^(queue|topic):\/\/./.test(replyTo)) throw badRequest('replyTo: expected queue://name or topic://name');
  return createMessage({
    messageId: optString(o, 'messageId', 256) || undefined,
    body,
    bodyType: body.length === 0 ? 'empty' : enc === 'utf8' ? 'text' : 'bytes',
    properties,
    durable: optBool(o, 'durable') ?? true,
    priority: optInt(o, 'priority', 0, 9) ?? 4,
    timestamp: now,
    expiration: ttl ? now + ttl : 0,
    deliveryTime: delay ? now + delay : 0,
    correlationId: optString(o, 'correlationId', 1024),
    replyTo,
    type: optString(o, 'type', 256),
    contentType: optString(o, 'contentType', 256) ?? (enc === 'utf8' && body.length ? 'text/plain' : undefined),
    groupId: optString(o, 'groupId', 1024),
  });
}
