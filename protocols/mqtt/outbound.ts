/**
 * Outbound delivery: engine deliveries → PUBLISH. One engine consumer per subscription (handlers/subscribe.ts).
 * QoS = min(subscription QoS, message QoS); QoS ≥ 1 deliveries are acked to the engine on PUBACK / PUBREC
 * (handlers/acks.ts); at most min(maxInflight, client Receive Maximum) are in flight, the rest wait in order.
 * A persistent session's outbound QoS 2 packet id is stored before its PUBLISH is written, so a resend after a
 * broker restart keeps it. v5: the client's Maximum Packet Size and Topic Alias Maximum are honoured.
 */
import type { Delivery, Message } from '../../src/core/api.js';
import { encodeAck, encodePublish, encodePublishProps, publishSize, PUBREL } from './codec.js';
import type { ConnectionContext, HoldSlot, OutboundState, OutEntry, SubEntry } from './context.js';
import { messageQos, messageToProps } from './mapping.js';
import { kvKeys, type SessionState, type SubRecord } from './session.js';
import { mqttMatch } from './topics.js';

/** Credit of a QoS 0 subscription's engine consumer (auto-ack): topped up as PUBLISHes leave. */
export const QOS0_WINDOW = 1000;
const EMPTY = Buffer.alloc(0);

export function createOutboundState(): OutboundState {
  return { hold: [], inflight: new Map(), waiting: [], heldAcks: [], nextPid: 1, maxOut: 1024, clientMaxPacket: Infinity, clientAliasMax: 0, aliases: new Map() };
}

/** The engine delivers a message to one of the connection's subscriptions. */
export function onDelivery(c: ConnectionContext, entry: SubEntry, d: Delivery): void {
  if (c.state !== 'connected') return;
  const m = d.message;
  const t = c.host.topicOf(m);
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic name starting with '$'
  if (entry.wildFirst && t.charCodeAt(0) === 36 /* $ */) {
    settleQos0(c, d);
    return;
  }
  // [MQTT-3.3.5-1] (3.1.1): a message matching several of the client's subscriptions is sent once, by the one with
  // the highest QoS (as mosquitto and RabbitMQ do); MQTT 5 clients get a copy per subscription, each with its
  // Subscription Identifier
  if (c.version !== 5 && c.subEntries.size > 1 && outranked(c, entry, t, m)) {
    settleQos0(c, d);
    return;
  }
  // [MQTT-3.8.4-8]: delivered with the lower of the subscription's and the message's QoS
  const qos = Math.min(entry.sub.qos, messageQos(m));
  if (qos === 0) {
    const send = () => {
      sendPublish(c, entry.sub, m, t, 0, 0, false);
      settleQos0(c, d);
    };
    if (c.outbound.hold.length) c.outbound.hold.push({ ready: true, run: send });
    else send();
    return;
  }
  // [MQTT-3.3.4-9]: no more unacknowledged QoS ≥ 1 PUBLISHes than the client's Receive Maximum
  if (c.outbound.inflight.size >= c.outbound.maxOut) {
    c.outbound.waiting.push({ entry, d });
    return;
  }
  sendQos(c, entry.sub, d, m, t, qos);
}

/**
 * Another non-shared subscription of this connection matches `t`, certainly has its own copy of `m` (its subscription
 * existed before the message was made), and has a higher QoS (or the same and came first) — or `entry` is a shared
 * one, whose group's copy this client then takes without sending it (as mosquitto does): that one sends it. A
 * subscription made while the message was on its way may not have it, and does not count (a duplicate, not a loss);
 * a shared one never outranks, its group's copy may go to another member.
 */
function outranked(c: ConnectionContext, entry: SubEntry, t: string, m: Message): boolean {
  const shared = entry.parsed.group !== undefined;
  let before = true;
  for (const e of c.subEntries.values()) {
    if (e === entry) {
      before = false;
      continue;
    }
    if (e.parsed.group !== undefined || !e.consumer || e.consumer.closed || !(m.timestamp > e.readyAt)) continue;
    if (!shared && (e.sub.qos < entry.sub.qos || (e.sub.qos === entry.sub.qos && !before))) continue;
    if (mqttMatch(e.parsed.filter, t)) return true;
  }
  return false;
}

function settleQos0(c: ConnectionContext, d: Delivery): void {
  const consumer = d.consumer;
  if (consumer.autoAck) {
    if (!c.congested && consumer.credit < QOS0_WINDOW / 2) consumer.addCredit(QOS0_WINDOW - consumer.credit);
    return;
  }
  if (c.congested) c.outbound.heldAcks.push(d);
  else consumer.ack(d.id).catch(() => undefined);
}

function sendQos(c: ConnectionContext, sub: SubRecord, d: Delivery, m: Message, t: string, qos: number): void {
  const s = c.session!;
  const out = c.outbound;
  const key = `${d.queue.name}|${m.messageId}`;
  // [MQTT-4.4.0-1]: an unacknowledged PUBLISH is resent with its original packet id
  let pid = d.redelivered ? s.pidByMsg.get(key) : undefined;
  if (pid === undefined || out.inflight.has(pid) || s.pubrel.has(pid)) pid = allocPid(c);
  const e: OutEntry = { pid, qos, state: 'publish', d, key };
  out.inflight.set(pid, e);
  if (s.pidByMsg.size > 4 * 65536) {
    s.pidByMsg.clear();
    for (const [p, o] of s.out2) s.pidByMsg.set(o.key, p); // stored ones must still be found after a restart
  }
  s.pidByMsg.set(key, pid);
  const send = () => {
    if (c.state !== 'connected' || out.inflight.get(pid) !== e) return;
    if (!sendPublish(c, sub, m, t, qos, pid, d.redelivered)) {
      // too large for the client: behave as if delivered ([MQTT-3.1.2-25], MQTT 5 §3.1.2.11.4)
      out.inflight.delete(pid);
      finishOut(c, e);
    }
  };
  const stored = s.out2.get(pid);
  if (qos === 2 && s.persistent && stored?.key !== key) {
    // the packet id must survive a broker restart (resent with the same id, MQTT 4.4), so it is stored before
    // the PUBLISH leaves; later deliveries wait behind it to keep their order
    s.out2.set(pid, { key, queue: d.queue.name });
    const slot = { ready: false, run: send };
    out.hold.push(slot);
    const done = () => {
      slot.ready = true;
      drainHold(c);
    };
    c.host.engine.kvPut(kvKeys.out2(c.clientId, pid), { q: d.queue.name, m: m.messageId }).then(done, (err) => {
      c.host.logger.warn({ err, clientId: c.clientId }, 'mqtt: could not store outbound QoS 2 state');
      done();
    });
    return;
  }
  if (out.hold.length) out.hold.push({ ready: true, run: send });
  else send();
}

/** A slot every later delivery write waits behind, until releaseOutbound runs it. */
export function holdOutbound(c: ConnectionContext): HoldSlot {
  const slot: HoldSlot = { ready: false, run: () => undefined };
  c.outbound.hold.push(slot);
  return slot;
}

export function releaseOutbound(c: ConnectionContext, slot: HoldSlot): void {
  slot.ready = true;
  drainHold(c);
}

function drainHold(c: ConnectionContext): void {
  const h = c.outbound.hold;
  while (h.length && h[0].ready) h.shift()!.run();
}

/** Forget the stored packet id of an outbound QoS 2 message that got PUBREC or is given up on. */
export function dropOut2(c: ConnectionContext, pid: number): void {
  const s = c.session!;
  if (!s.out2.delete(pid)) return;
  c.host.engine.kvDelete(kvKeys.out2(c.clientId, pid)).catch(() => undefined);
}

function allocPid(c: ConnectionContext): number {
  const s = c.session!;
  const out = c.outbound;
  for (let i = 0; i < 65536; i++) {
    const pid = out.nextPid;
    out.nextPid = pid >= 65535 ? 1 : pid + 1;
    if (!out.inflight.has(pid) && !s.pubrel.has(pid) && !s.out2.has(pid)) return pid;
  }
  throw new Error('no free packet identifier');
}

/** Write one PUBLISH; false when it exceeds the client's Maximum Packet Size (not sent). */
function sendPublish(c: ConnectionContext, sub: SubRecord | null, m: Message, t: string, qos: number, pid: number, dup: boolean, forceRetain = false): boolean {
  // [MQTT-3.3.1-12] / [MQTT-3.3.1-13]: RETAIN as published only with Retain As Published; retained messages sent
  // because of a subscription keep it set
  const retain = forceRetain || m.annotations?.['core.retained'] === true || (!!sub?.rap && m.annotations?.['mqtt.retain'] === true);
  let topicBuf = c.host.topicBytes(t);
  let props: Buffer | null = null;
  if (c.version === 5) {
    const pp = messageToProps(m, c.host.now());
    if (sub?.subId) pp.subscriptionIdentifier = sub.subId;
    props = encodePublishProps(pp);
    // [MQTT-3.1.2-24]: never more than the client's Maximum Packet Size
    if (publishSize(topicBuf.length, m.body.length, qos, props) > c.outbound.clientMaxPacket) return false;
    // [MQTT-3.1.2-26] / [MQTT-3.1.2-27]: topic aliases only up to the client's Topic Alias Maximum, none when it is 0
    const out = c.outbound;
    if (out.clientAliasMax > 0) {
      const a = out.aliases.get(t);
      if (a !== undefined) {
        pp.topicAlias = a;
        topicBuf = EMPTY;
        props = encodePublishProps(pp);
      } else if (out.aliases.size < out.clientAliasMax) {
        const n = out.aliases.size + 1;
        out.aliases.set(t, n);
        pp.topicAlias = n;
        props = encodePublishProps(pp);
      }
    }
  }
  const parts = encodePublish(topicBuf, m.body, qos, pid, dup, retain, props);
  for (const b of parts) c.write(b);
  c.host.stats.messagesOut++;
  return true;
}

/** A retained or $SYS message written directly (not through an engine queue). */
export function sendDirect(c: ConnectionContext, sub: SubRecord, m: Message, t: string): void {
  if (c.outbound.hold.length) c.outbound.hold.push({ ready: true, run: () => writeDirect(c, sub, m, t) });
  else writeDirect(c, sub, m, t);
}

function writeDirect(c: ConnectionContext, sub: SubRecord, m: Message, t: string): void {
  if (c.state !== 'connected') return;
  const qos = Math.min(sub.qos, messageQos(m));
  if (qos === 0) {
    sendPublish(c, sub, m, t, 0, 0, false, true);
    return;
  }
  const out = c.outbound;
  if (out.inflight.size >= out.maxOut) return;
  const pid = allocPid(c);
  out.inflight.set(pid, { pid, qos, state: 'publish', d: null });
  if (!sendPublish(c, sub, m, t, qos, pid, false, true)) out.inflight.delete(pid);
}

/** An outbound QoS ≥ 1 PUBLISH is done (PUBACK, failed PUBREC, or not sendable): ack it to the engine, send the next. */
export function finishOut(c: ConnectionContext, e: OutEntry): void {
  if (e.key) c.session?.pidByMsg.delete(e.key);
  if (e.key && c.session?.out2.get(e.pid)?.key === e.key) dropOut2(c, e.pid);
  const d = e.d;
  e.d = null;
  if (d) d.consumer.ack(d.id).catch(() => undefined);
  pump(c);
}

/** Send waiting deliveries while the in-flight window has room. */
export function pump(c: ConnectionContext): void {
  const out = c.outbound;
  while (out.waiting.length && out.inflight.size < out.maxOut && c.state === 'connected') {
    const { entry, d } = out.waiting.shift()!;
    if (!d.consumer.owns(d.id) || d.consumer.closed) continue; // returned to its queue meanwhile
    const m = d.message;
    sendQos(c, entry.sub, d, m, c.host.topicOf(m), Math.min(entry.sub.qos, messageQos(m)));
  }
}

/** [MQTT-4.4.0-1]: a resumed session resends PUBREL for the outbound QoS 2 messages the client already has. */
export function resendPubrels(c: ConnectionContext, s: SessionState): void {
  for (const pid of s.pubrel) {
    c.outbound.inflight.set(pid, { pid, qos: 2, state: 'pubrel', d: null });
    c.write(encodeAck(PUBREL, pid, c.version));
  }
}

/** The socket drained: the engine acks and QoS 0 credit held back while it was congested go out. */
export function releaseHeld(c: ConnectionContext): void {
  const held = c.outbound.heldAcks;
  c.outbound.heldAcks = [];
  for (const d of held) d.consumer.ack(d.id).catch(() => undefined);
  for (const e of c.subEntries.values()) {
    const consumer = e.consumer;
    if (consumer && consumer.autoAck && !consumer.closed && consumer.credit < QOS0_WINDOW / 2) consumer.addCredit(QOS0_WINDOW - consumer.credit);
  }
}

/** The connection closed: nothing more is delivered (the engine returns unacked deliveries to their queues). */
export function resetOutbound(c: ConnectionContext): void {
  for (const e of c.subEntries.values()) e.consumer = null;
  c.outbound.waiting = [];
  c.outbound.heldAcks = [];
  c.outbound.hold = [];
}
