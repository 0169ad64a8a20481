/**
 * Outgoing packets. The hot ones (PUBLISH, PUBACK/PUBREC/PUBREL/PUBCOMP, PINGRESP) are encoded here directly
 * into one Buffer each; the rest (CONNACK, SUBACK, UNSUBACK, DISCONNECT) go through mqtt-packet's generate.
 */
import * as mqttPacket from 'mqtt-packet';

export type Version = 3 | 4 | 5;

export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;

export const PINGRESP = Buffer.from([0xd0, 0x00]);

/** Reason codes (MQTT 5 §2.4) used by the broker. */
export const RC = {
  success: 0x00,
  grantedQos1: 0x01,
  grantedQos2: 0x02,
  disconnectWithWill: 0x04,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  unsupportedProtocolVersion: 0x84,
  clientIdNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdInUse: 0x91,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
  sharedSubscriptionsNotSupported: 0x9e,
} as const;

/** MQTT 3.1.1 CONNACK return codes. */
export const RC3 = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUserNameOrPassword: 4,
  notAuthorized: 5,
} as const;

export function generate(packet: mqttPacket.Packet, version: Version): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

/** PUBACK / PUBREC / PUBREL / PUBCOMP. */
export function encodeAck(type: number, pid: number, version: Version, reason = 0): Buffer {
  const first = (type << 4) | (type === PUBREL ? 0x02 : 0);
  if (version < 5 || reason === 0) return Buffer.from([first, 2, pid >> 8, pid & 0xff]);
  return Buffer.from([first, 3, pid >> 8, pid & 0xff, reason]);
}

export interface PublishProps {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifier?: number;
  topicAlias?: number;
  userProperties?: UserProperties;
}

/**
 * User Properties: mqtt-packet's form (a record, repeated names as arrays), or the pairs in wire order when the
 * record cannot keep it (a name repeated around another one, integer-like names): MQTT 5 §3.3.2.3.7 wants the
 * order kept when forwarding [MQTT-3.3.2-18].
 */
export type UserProperties = Record<string, string | string[]> | Array<[string, string]>;

/** The pairs of a record in the order it writes them. */
export function userPropertyEntries(up: UserProperties): Array<[string, string]> {
  if (Array.isArray(up)) return up;
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(up)) for (const one of Array.isArray(v) ? v : [v]) out.push([k, one]);
  return out;
}

/**
 * Walk a v5 property block starting at `off` (its Variable Byte Integer length first): the User Properties in wire
 * order and where the block ends, or null when it cannot be walked.
 */
function walkProperties(pkt: Buffer, off: number): { pairs: Array<[string, string]>; end: number; duplicate?: number } | null {
  let len = 0;
  let mul = 1;
  for (let k = 0; ; k++) {
    if (off >= pkt.length || k === 4) return null;
    const b = pkt[off++];
    len += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) break;
  }
  const end = off + len;
  if (end > pkt.length) return null;
  const pairs: Array<[string, string]> = [];
  const str = (): string | null => {
    if (off + 2 > end) return null;
    const n = pkt.readUInt16BE(off);
    if (off + 2 + n > end) return null;
    const s = pkt.toString('utf8', off + 2, off + 2 + n);
    off += 2 + n;
    return s;
  };
  let seen = 0n;
  let duplicate: number | undefined;
  while (off < end) {
    const id = pkt[off++];
    // every property but User Property (and the Subscription Identifier a server repeats) may appear once [MQTT 5 §2.2.2.2]
    if (id !== 0x26 && id !== 0x0b && id < 64) {
      const bit = 1n << BigInt(id);
      if (seen & bit) duplicate ??= id;
      seen |= bit;
    }
    switch (id) {
      case 0x01: // payload format indicator
      case 0x17: // request problem information
      case 0x19: // request response information
        off += 1;
        break;
      case 0x21: // receive maximum
      case 0x22: // topic alias maximum
      case 0x23: // topic alias
        off += 2;
        break;
      case 0x02: // message expiry interval
      case 0x11: // session expiry interval
      case 0x18: // will delay interval
      case 0x27: // maximum packet size
        off += 4;
        break;
      case 0x0b: // subscription identifier
        while (off < end && pkt[off] & 0x80) off++;
        off++;
        break;
      case 0x03: // content type
      case 0x08: // response topic
      case 0x09: // correlation data
      case 0x15: // authentication method
      case 0x16: // authentication data
        if (str() === null) return null;
        break;
      case 0x26: {
        const k = str();
        const v = k === null ? null : str();
        if (k === null || v === null) return null;
        pairs.push([k, v]);
        break;
      }
      default:
        return null;
    }
  }
  return off === end ? { pairs, end, duplicate } : null;
}

/** A property that a v5 PUBLISH carries more than once (a Protocol Error), or undefined. */
export function publishDuplicateProperty(pkt: Buffer, hl: number): number | undefined {
  const qos = (pkt[0] >> 1) & 3;
  let off = hl;
  if (off + 2 > pkt.length) return undefined;
  off += 2 + pkt.readUInt16BE(off);
  if (qos > 0) off += 2;
  return walkProperties(pkt, off)?.duplicate;
}

/**
 * The User Properties of a v5 PUBLISH (`pkt` whole, `hl` its fixed header length) in wire order, or null when the
 * property block cannot be walked (the packet was already accepted by mqtt-packet; this only re-reads the order).
 */
export function publishUserProperties(pkt: Buffer, hl: number): Array<[string, string]> | null {
  const qos = (pkt[0] >> 1) & 3;
  let off = hl;
  if (off + 2 > pkt.length) return null;
  off += 2 + pkt.readUInt16BE(off);
  if (qos > 0) off += 2;
  return walkProperties(pkt, off)?.pairs ?? null;
}

/** The User Properties of a v5 CONNECT's will, in wire order (null: no will, not v5, or not walkable). */
export function willUserProperties(pkt: Buffer, hl: number): Array<[string, string]> | null {
  let off = hl;
  if (off + 2 > pkt.length) return null;
  off += 2 + pkt.readUInt16BE(off); // protocol name
  if (off + 4 > pkt.length) return null;
  const level = pkt[off];
  const flags = pkt[off + 1];
  if (level !== 5 || (flags & 0x04) === 0) return null;
  const connectProps = walkProperties(pkt, off + 4);
  if (!connectProps) return null;
  off = connectProps.end;
  if (off + 2 > pkt.length) return null;
  off += 2 + pkt.readUInt16BE(off); // client identifier
  return walkProperties(pkt, off)?.pairs ?? null;
}

/** Whether mqtt-packet's record of User Properties lists the same pairs in the same order as `wire`. */
function sameOrder(up: Record<string, string | string[]>, wire: Array<[string, string]>): boolean {
  const rec = userPropertyEntries(up);
  return rec.length === wire.length && rec.every(([k, v], i) => wire[i][0] === k && wire[i][1] === v);
}

/**
 * Replace a parsed v5 PUBLISH's User Properties by the wire-order pairs when mqtt-packet's record lost the order.
 */
export function keepUserPropertyOrder(p: { properties?: { userProperties?: unknown } }, pkt: Buffer, hl: number): void {
  const up = p.properties?.userProperties as Record<string, string | string[]> | undefined;
  if (!up || Object.keys(up).length < 2) return;
  const wire = publishUserProperties(pkt, hl);
  if (wire && !sameOrder(up, wire)) p.properties!.userProperties = wire;
}

/** The same for the will of a v5 CONNECT: its User Properties are forwarded with the will message. */
export function keepWillUserPropertyOrder(p: { will?: { properties?: { userProperties?: unknown } } }, pkt: Buffer, hl: number): void {
  const up = p.will?.properties?.userProperties as Record<string, string | string[]> | undefined;
  if (!up || Object.keys(up).length < 2) return;
  const wire = willUserProperties(pkt, hl);
  if (wire && !sameOrder(up, wire)) p.will!.properties!.userProperties = wire;
}

function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

function writeVarint(buf: Buffer, off: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[off++] = b;
  } while (n > 0);
  return off;
}

/** Encoded v5 PUBLISH properties (without the length prefix). */
export function encodePublishProps(p: PublishProps): Buffer {
  const parts: Buffer[] = [];
  const str = (id: number, s: string) => {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.allocUnsafe(3);
    h[0] = id;
    h.writeUInt16BE(b.length, 1);
    parts.push(h, b);
  };
  if (p.payloadFormatIndicator) parts.push(Buffer.from([0x01, 1]));
  if (p.messageExpiryInterval !== undefined) {
    const b = Buffer.allocUnsafe(5);
    b[0] = 0x02;
    b.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.trunc(p.messageExpiryInterval))), 1);
    parts.push(b);
  }
  if (p.contentType !== undefined) str(0x03, p.contentType);
  if (p.responseTopic !== undefined) str(0x08, p.responseTopic);
  if (p.correlationData !== undefined) {
    const h = Buffer.allocUnsafe(3);
    h[0] = 0x09;
    h.writeUInt16BE(p.correlationData.length, 1);
    parts.push(h, p.correlationData);
  }
  if (p.subscriptionIdentifier !== undefined) {
    const b = Buffer.allocUnsafe(1 + varintSize(p.subscriptionIdentifier));
    b[0] = 0x0b;
    writeVarint(b, 1, p.subscriptionIdentifier);
    parts.push(b);
  }
  if (p.topicAlias !== undefined) {
    const b = Buffer.allocUnsafe(3);
    b[0] = 0x23;
    b.writeUInt16BE(p.topicAlias, 1);
    parts.push(b);
  }
  if (p.userProperties) {
    for (const [k, one] of userPropertyEntries(p.userProperties)) {
      const kb = Buffer.from(k, 'utf8');
      const vb = Buffer.from(one, 'utf8');
      const b = Buffer.allocUnsafe(5 + kb.length + vb.length);
      b[0] = 0x26;
      b.writeUInt16BE(kb.length, 1);
      kb.copy(b, 3);
      b.writeUInt16BE(vb.length, 3 + kb.length);
      vb.copy(b, 5 + kb.length);
      parts.push(b);
    }
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Size a PUBLISH would have on the wire. */
export function publishSize(topicBytes: number, payloadLength: number, qos: number, props: Buffer | null): number {
  const rl = 2 + topicBytes + (qos > 0 ? 2 : 0) + (props ? varintSize(props.length) + props.length : 0) + payloadLength;
  return 1 + varintSize(rl) + rl;
}

/**
 * One PUBLISH packet. `props` is null for v3/v4 and the encoded property block (possibly empty) for v5.
 * Returns the header (fixed header, topic, packet id, properties) and the payload separately so the payload
 * bytes are written as they are, never copied.
 */
export function encodePublish(topic: Buffer, payload: Buffer, qos: number, pid: number, dup: boolean, retain: boolean, props: Buffer | null): Buffer[] {
  const rl = 2 + topic.length + (qos > 0 ? 2 : 0) + (props ? varintSize(props.length) + props.length : 0) + payload.length;
  const hlen = 1 + varintSize(rl) + 2 + topic.length + (qos > 0 ? 2 : 0) + (props ? varintSize(props.length) + props.length : 0);
  const h = Buffer.allocUnsafe(hlen);
  h[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let off = writeVarint(h, 1, rl);
  h.writeUInt16BE(topic.length, off);
  off += 2;
  topic.copy(h, off);
  off += topic.length;
  if (qos > 0) {
    h.writeUInt16BE(pid, off);
    off += 2;
  }
  if (props) {
    off = writeVarint(h, off, props.length);
    props.copy(h, off);
  }
  return payload.length ? [h, payload] : [h];
}
