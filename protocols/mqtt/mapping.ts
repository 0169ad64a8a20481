/**
 * MQTT PUBLISH ⇄ core Message (the MQTT rows of docs/interop.md).
 *
 * - payload ⇄ body, bytes untouched; Payload Format Indicator 1 ⇄ bodyType `text`
 * - QoS 0 ⇄ durable=false, QoS 1/2 ⇄ durable=true (QoS 2 kept as annotation `mqtt.qos`); a message from another
 *   protocol is QoS 1 when durable, else QoS 0 (then the subscription's QoS caps it)
 * - Message Expiry Interval ⇄ expiration (absolute); outgoing: the seconds left
 * - Content Type ⇄ contentType; Response Topic ⇄ replyTo (`topic://a.b`); Correlation Data ⇄ correlationId
 *   (UTF-8; non-UTF-8 bytes kept in annotation `mqtt.correlationData`)
 * - User Properties ⇄ properties (strings; repeated names kept whole in annotation `mqtt.userProperties`, as
 *   ordered pairs when a record would change their order)
 * - the RETAIN flag of the publish ⇄ annotation `mqtt.retain` (for Retain As Published)
 */
import { createMessage, formatAddress, type Message, parseAddress, type PropertyValue } from '../../src/core/api.js';
import type { PublishProps, UserProperties } from './codec.js';
import { coreToTopic, topicToCore } from './topics.js';

export interface InboundPublish {
  qos: number;
  retain: boolean;
  payload: Buffer;
  properties?: {
    payloadFormatIndicator?: boolean;
    messageExpiryInterval?: number;
    contentType?: string;
    responseTopic?: string;
    correlationData?: Buffer;
    userProperties?: UserProperties;
  };
}

/** A payload that is a small view into a large socket chunk is copied, so a queued message does not pin the chunk. */
function ownBytes(b: Buffer): Buffer {
  if (b.length === 0) return b;
  if (b.buffer.byteLength > b.length * 2 + 4096) return Buffer.from(b);
  return b;
}

export function publishToMessage(p: InboundPublish, now: number): Message {
  const props = p.properties;
  const annotations: Record<string, unknown> = {};
  let hasAnn = false;
  if (p.qos === 2) {
    annotations['mqtt.qos'] = 2;
    hasAnn = true;
  }
  if (p.retain) {
    annotations['mqtt.retain'] = true;
    hasAnn = true;
  }
  const m = createMessage({
    body: ownBytes(p.payload),
    bodyType: props?.payloadFormatIndicator ? 'text' : 'bytes',
    durable: p.qos > 0,
    timestamp: now,
  });
  if (props) {
    if (props.messageExpiryInterval) m.expiration = now + props.messageExpiryInterval * 1000;
    if (props.contentType !== undefined) m.contentType = props.contentType;
    if (props.responseTopic !== undefined) m.replyTo = formatAddress({ kind: 'topic', name: topicToCore(props.responseTopic) });
    if (props.correlationData !== undefined) {
      const cd = props.correlationData;
      const s = cd.toString('utf8');
      m.correlationId = s;
      if (!Buffer.from(s, 'utf8').equals(cd)) {
        annotations['mqtt.correlationData'] = Buffer.from(cd);
        hasAnn = true;
      }
    }
    const up = props.userProperties;
    if (Array.isArray(up)) {
      // wire order that a record cannot keep: first value per name in properties, the pairs in the annotation
      for (const [k, v] of up) if (!(k in m.properties)) m.properties[k] = v;
      annotations['mqtt.userProperties'] = up.map(([k, v]) => [k, v]);
      hasAnn = true;
    } else if (up) {
      let repeated = false;
      for (const k of Object.keys(up)) {
        const v = up[k];
        if (Array.isArray(v)) {
          repeated = true;
          m.properties[k] = v[0];
        } else m.properties[k] = v;
      }
      if (repeated) {
        annotations['mqtt.userProperties'] = { ...up };
        hasAnn = true;
      }
    }
  }
  if (hasAnn) m.annotations = annotations;
  return m;
}

/** The QoS a message was published with (for the subscription downgrade). */
export function messageQos(m: Message): number {
  const q = m.annotations?.['mqtt.qos'];
  if (typeof q === 'number') return q;
  return m.durable ? 1 : 0;
}

function propertyString(v: PropertyValue): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return String(v);
}

/** v5 PUBLISH properties for a delivery (without subscription identifier and topic alias). */
export function messageToProps(m: Message, now: number): PublishProps {
  const p: PublishProps = {};
  if (m.bodyType === 'text') p.payloadFormatIndicator = true;
  if (m.expiration > 0) p.messageExpiryInterval = Math.max(1, Math.ceil((m.expiration - now) / 1000));
  if (m.contentType !== undefined) p.contentType = m.contentType;
  if (m.replyTo !== undefined) {
    const a = parseAddress(m.replyTo, 'topic');
    p.responseTopic = a.kind === 'topic' && !a.temporary ? coreToTopic(a.name) : m.replyTo;
  }
  const cd = m.annotations?.['mqtt.correlationData'];
  if (Buffer.isBuffer(cd)) p.correlationData = cd;
  else if (cd instanceof Uint8Array) p.correlationData = Buffer.from(cd);
  else if (m.correlationId !== undefined) p.correlationData = Buffer.from(m.correlationId, 'utf8');
  const keys = Object.keys(m.properties);
  const whole = m.annotations?.['mqtt.userProperties'] as UserProperties | undefined;
  if (Array.isArray(whole)) {
    // ordered pairs, then properties another protocol added
    const up: Array<[string, string]> = whole.map(([k, v]) => [k, v]);
    const names = new Set(up.map(([k]) => k));
    for (const k of keys) {
      if (names.has(k)) continue;
      const s = propertyString(m.properties[k]);
      if (s !== undefined) up.push([k, s]);
    }
    if (up.length) p.userProperties = up;
  } else if (keys.length || whole) {
    const up: Record<string, string | string[]> = whole ? { ...whole } : {};
    for (const k of keys) {
      if (whole && k in whole) continue;
      const s = propertyString(m.properties[k]);
      if (s !== undefined) up[k] = s;
    }
    if (Object.keys(up).length) p.userProperties = up;
  }
  return p;
}

/** The MQTT topic name a delivered message is published under. */
export function deliveryTopic(m: Message): string {
  const d = m.destination;
  if (!d) return '';
  const a = parseAddress(d, 'topic');
  return coreToTopic(a.name);
}
