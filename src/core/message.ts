/**
 * The one canonical message every protocol maps to and from (see docs/interop.md).
 * Delivery state (deliveryCount, redelivered) lives on the queue entry, not here,
 * because one message fanned out to several subscriptions is delivered independently to each.
 */

/** Application property values. Integers that do not fit a double travel as bigint. */
export type PropertyValue = string | number | boolean | bigint | null | Buffer;

export type BodyType = 'bytes' | 'text' | 'map' | 'object' | 'stream' | 'empty';

export interface Message {
  /** Broker-unique message id (producers may supply their own, e.g. JMS `ID:...`). */
  messageId: string;
  body: Buffer;
  bodyType: BodyType;
  properties: Record<string, PropertyValue>;
  durable: boolean;
  /** 0–9, 4 is the JMS default. */
  priority: number;
  /** Absolute epoch ms after which the message is expired; 0 = never. */
  expiration: number;
  /** Absolute epoch ms before which the message must not be delivered; 0 = now. */
  deliveryTime: number;
  /** Epoch ms when the broker (or producer) stamped the message. */
  timestamp: number;
  correlationId?: string;
  /** Core address string, e.g. `queue://replies` or `topic://a.b`. */
  replyTo?: string;
  type?: string;
  groupId?: string;
  groupSeq?: number;
  contentType?: string;
  contentEncoding?: string;
  userId?: string;
  /** Where the producer sent it (`queue://orders`, `topic://a.b`), stamped by the engine on send. */
  destination?: string;
  /** Protocol-specific extras, namespaced by protocol (`stomp.*`, `amqp.*`, `mqtt.*`, `sqs.*`) so a same-protocol round trip is lossless. */
  annotations?: Record<string, unknown>;
}

export const DEFAULT_PRIORITY = 4;

let counter = 0;
const prefix = `ID:wharf-${process.pid.toString(36)}-${Date.now().toString(36)}-`;

/** Cheap unique ids: a per-process prefix and a counter (a UUID per message costs more than the rest of a send). */
export function newMessageId(): string {
  counter++;
  return prefix + counter.toString(36);
}

export interface MessageInit extends Partial<Message> {
  body?: Buffer;
}

/** Fill in defaults for a message a protocol adapter is building. */
export function createMessage(init: MessageInit): Message {
  return {
    messageId: init.messageId ?? newMessageId(),
    body: init.body ?? Buffer.alloc(0),
    bodyType: init.bodyType ?? 'bytes',
    properties: init.properties ?? {},
    durable: init.durable ?? true,
    priority: clampPriority(init.priority ?? DEFAULT_PRIORITY),
    expiration: init.expiration ?? 0,
    deliveryTime: init.deliveryTime ?? 0,
    timestamp: init.timestamp ?? Date.now(),
    correlationId: init.correlationId,
    replyTo: init.replyTo,
    type: init.type,
    groupId: init.groupId,
    groupSeq: init.groupSeq,
    contentType: init.contentType,
    contentEncoding: init.contentEncoding,
    userId: init.userId,
    destination: init.destination,
    annotations: init.annotations,
  };
}

export function clampPriority(p: number): number {
  if (!Number.isFinite(p)) return DEFAULT_PRIORITY;
  return Math.max(0, Math.min(9, Math.trunc(p)));
}

/** Approximate in-memory/on-disk size used for limits and paging decisions. */
export function messageSize(m: Message): number {
  let size = m.body.length + 64;
  for (const k in m.properties) {
    const v = m.properties[k];
    size += k.length + (typeof v === 'string' ? v.length : v instanceof Buffer ? v.length : 8);
  }
  return size;
}

/** A copy that can be changed (properties, headers) without touching the original, sharing the body bytes. */
export function copyMessage(m: Message, changes: Partial<Message> = {}): Message {
  return { ...m, properties: { ...m.properties }, annotations: m.annotations ? { ...m.annotations } : undefined, ...changes };
}
