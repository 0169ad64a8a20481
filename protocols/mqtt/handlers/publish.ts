/**
 * Inbound PUBLISH (MQTT 5 §3.3, §4.3): QoS 0 → engine.send (non-durable); QoS 1 → PUBACK once engine.send
 * resolved (the message is committed and fsync'd when it reaches a persistent subscription); QoS 2 → PUBREC once
 * the message *and* the packet id are committed in one store commit, PUBCOMP once the id is deleted again
 * (handlers/acks.ts). Acks go out in the order the publishes came in. Input is paused while too many QoS ≥ 1
 * publishes (our Receive Maximum) or QoS 0 sends are outstanding.
 */
import type * as mqttPacket from 'mqtt-packet';
import { BrokerError, topic as topicAddress } from '../../../src/core/api.js';
import { encodeAck, PUBACK, PUBREC, RC } from '../codec.js';
import type { AckSlot, ConnectionContext, InboundState } from '../context.js';
import { publishToMessage } from '../mapping.js';
import { kvKeys } from '../session.js';
import { checkTopicName } from '../topics.js';

/** Outstanding QoS 0 sends before input is paused. */
const MAX_PENDING_SENDS = 2000;

export function createInboundState(c: ConnectionContext): InboundState {
  return { aliases: new Map(), pending: 0, pendingSends: 0, paused: false, ackSlots: [], ackHead: 0, sendDone: () => qos0Done(c) };
}

export function handlePublish(c: ConnectionContext, p: mqttPacket.IPublishPacket): void {
  const cfg = c.host.cfg;
  const v5 = c.version === 5;
  const s = c.session!;
  const inb = c.inbound;
  let topic = p.topic;
  const props = p.properties;
  if (v5 && props) {
    if (props.topicAlias !== undefined) {
      const a = props.topicAlias;
      // [MQTT-3.3.2-8] / [MQTT-3.3.2-9]: alias 0 and aliases above our Topic Alias Maximum are invalid
      if (a === 0 || a > cfg.topicAliasMaximum) return c.protocolClose(RC.topicAliasInvalid, `topic alias ${a} out of range`);
      if (topic) inb.aliases.set(a, topic);
      else {
        const t = inb.aliases.get(a);
        if (t === undefined) return c.protocolClose(RC.protocolError, `unknown topic alias ${a}`);
        topic = t;
      }
    }
    // [MQTT-3.3.4-6]: a PUBLISH from a client carries no Subscription Identifier
    if (props.subscriptionIdentifier !== undefined) return c.protocolClose(RC.protocolError, 'PUBLISH from a client must not carry a subscription identifier');
  }
  // MQTT 5 §3.3.2.1: a zero-length Topic Name without a Topic Alias is a Protocol Error (0x82, as mosquitto answers),
  // not an invalid topic name (0x90)
  if (v5 && topic === '') return c.protocolClose(RC.protocolError, 'PUBLISH with an empty topic name and no topic alias');
  const qos = p.qos;
  const pid = p.messageId ?? 0;
  if (qos === 2 && s.in2.has(pid)) {
    // retransmission of a QoS 2 publish we already have: PUBREC again, do not publish twice (MQTT 5 §4.3.3)
    ackSlot(c).buf = encodeAck(PUBREC, pid, c.version);
    flushAcks(c);
    return;
  }
  if (qos > 0) {
    // [MQTT-3.3.4-7]: the client must not exceed our Receive Maximum
    if (v5 && inb.pending >= cfg.receiveMaximum) return c.protocolClose(RC.receiveMaximumExceeded, 'Receive Maximum exceeded');
    inb.pending++;
    if (inb.pending >= cfg.receiveMaximum) pauseInput(c);
  }
  // [MQTT-3.3.2-2]: no wildcards in a topic name (and within the configured limits)
  const bad = checkTopicName(topic, cfg);
  if (bad) {
    if (!v5 || bad === 'malformed' || qos === 0) return c.protocolClose(RC.topicNameInvalid, `invalid topic name '${topic.slice(0, 200)}'`);
    return ackNow(c, qos, pid, RC.topicNameInvalid);
  }
  if (topic.startsWith('$SYS')) {
    // read-only: v5 gets "not authorized", 3.1.1 a positive ack (it has no negative one) and the message is dropped
    if (qos > 0) ackNow(c, qos, pid, v5 ? RC.notAuthorized : 0);
    return;
  }
  c.host.stats.messagesIn++;
  const m = publishToMessage(p as Parameters<typeof publishToMessage>[0], c.host.now());
  const address = topicAddress(c.host.coreTopic(topic));
  const engine = c.host.engine;
  if (qos === 0) {
    inb.pendingSends++;
    if (inb.pendingSends >= MAX_PENDING_SENDS) pauseInput(c);
    engine.send(m, address, { connection: c.engineConnection, retain: p.retain }).then(inb.sendDone, (err) => {
      inb.sendDone();
      if (err instanceof BrokerError && err.code === 'unauthorized') c.host.stats.publishesDenied++;
      c.host.logger.debug({ err: (err as Error).message, clientId: c.clientId, topic }, 'mqtt: QoS 0 publish dropped');
    });
    return;
  }
  const slot = ackSlot(c);
  let kv: Array<{ key: string; value?: unknown }> | undefined;
  if (qos === 2) {
    // the packet id is committed with the message: a retransmission after a restart is still recognised
    s.in2.add(pid);
    if (s.persistent) kv = [{ key: kvKeys.in2(c.clientId, pid), value: 1 }];
  }
  engine.send(m, address, { connection: c.engineConnection, retain: p.retain, kv }).then(
    () => {
      slot.buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, c.version);
      if (qos === 1) inboundDone(c);
      flushAcks(c);
    },
    (err: unknown) => {
      if (qos === 2) s.in2.delete(pid);
      const rc = reasonFor(err);
      if (err instanceof BrokerError && err.code === 'unauthorized') {
        c.host.stats.publishesDenied++;
        if (!v5) {
          // 3.1.1 has no negative acknowledgement: the message is dropped silently (counted, and the engine's audit log names it)
          slot.buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, c.version);
          if (qos === 1) inboundDone(c);
          flushAcks(c);
          return;
        }
      }
      if (!v5) {
        c.host.logger.info({ err: (err as Error).message, clientId: c.clientId, topic }, 'mqtt: publish refused; closing the 3.1.1 connection (it has no negative acknowledgement)');
        c.protocolClose(rc, (err as Error).message);
        return;
      }
      slot.buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, 5, rc);
      inboundDone(c);
      flushAcks(c);
    },
  );
}

function qos0Done(c: ConnectionContext): void {
  const inb = c.inbound;
  inb.pendingSends--;
  if (inb.paused && inb.pendingSends < MAX_PENDING_SENDS / 2) maybeResumeInput(c);
}

function ackSlot(c: ConnectionContext): AckSlot {
  const slot: AckSlot = { buf: null };
  c.inbound.ackSlots.push(slot);
  return slot;
}

/** Negative or immediate ack, kept in order with pending ones. */
function ackNow(c: ConnectionContext, qos: number, pid: number, rc: number): void {
  ackSlot(c).buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, c.version, rc);
  if (qos === 1 || rc >= 0x80) inboundDone(c);
  flushAcks(c);
}

/** Write the acks that are ready, in the order of their PUBLISHes. */
function flushAcks(c: ConnectionContext): void {
  const inb = c.inbound;
  const slots = inb.ackSlots;
  while (inb.ackHead < slots.length && slots[inb.ackHead].buf) {
    c.write(slots[inb.ackHead].buf!);
    inb.ackHead++;
  }
  if (inb.ackHead > 1024 && inb.ackHead * 2 > slots.length) {
    slots.splice(0, inb.ackHead);
    inb.ackHead = 0;
  } else if (inb.ackHead === slots.length) {
    slots.length = 0;
    inb.ackHead = 0;
  }
}

/** A QoS ≥ 1 PUBLISH is completely acknowledged (PUBACK, PUBCOMP, or a negative ack). */
export function inboundDone(c: ConnectionContext): void {
  const inb = c.inbound;
  if (inb.pending > 0) inb.pending--;
  if (inb.paused) maybeResumeInput(c);
}

function pauseInput(c: ConnectionContext): void {
  if (c.inbound.paused) return;
  c.inbound.paused = true;
  c.stream.pause();
}

function maybeResumeInput(c: ConnectionContext): void {
  const inb = c.inbound;
  if (!inb.paused || c.state === 'closed') return;
  if (inb.pending >= c.host.cfg.receiveMaximum || inb.pendingSends >= MAX_PENDING_SENDS / 2) return;
  inb.paused = false;
  if (c.state === 'connected') c.stream.resume();
}

function reasonFor(err: unknown): number {
  const code = err instanceof BrokerError ? err.code : '';
  switch (code) {
    case 'unauthorized':
      return RC.notAuthorized;
    case 'limit':
    case 'unavailable': // the store cannot take writes now (disk full): 0x97, the client may retry later
      return RC.quotaExceeded;
    case 'invalid':
      return RC.topicNameInvalid;
    case 'closed':
      return RC.serverUnavailable;
    default:
      return RC.unspecified;
  }
}
