/**
 * SUBSCRIBE (MQTT 5 §3.8): one engine consumer per subscription, delivering through outbound.ts. `$SYS` filters
 * are served by the adapter's $SYS publisher instead; a shared subscription (`$share/g/f`) consumes from the
 * group's one durable queue.
 */
import type * as mqttPacket from 'mqtt-packet';
import { BrokerError, type SubscribeOptions, topic as topicAddress } from '../../../src/core/api.js';
import { generate, RC } from '../codec.js';
import type { ConnectionContext, SubEntry } from '../context.js';
import { holdOutbound, onDelivery, QOS0_WINDOW, releaseOutbound } from '../outbound.js';
import type { SessionState, SubRecord } from '../session.js';
import { filterToCore, mqttShareGroup, parseFilter, startsWithWildcard, type ParsedFilter } from '../topics.js';

export function handleSubscribe(c: ConnectionContext, p: mqttPacket.ISubscribePacket): void {
  // [MQTT-3.8.3-3] (3.1.1): at least one topic filter (mqtt-packet lets an empty payload through)
  if (!p.subscriptions?.length) return c.protocolClose(RC.protocolError, 'SUBSCRIBE without a topic filter');
  c.chain(() => subscribe(c, p));
}

async function subscribe(c: ConnectionContext, p: mqttPacket.ISubscribePacket): Promise<void> {
  if (c.state !== 'connected') return;
  // The SUBACK goes out before the retained (or stored) messages the new subscriptions bring, as mosquitto does and
  // clients expect (a client that waits for the SUBACK before it looks at messages must not see them first). The
  // engine delivers them while the subscriptions are being made, so every delivery write waits behind this slot.
  const suback = holdOutbound(c);
  try {
    suback.run = await subscriptions(c, p);
  } finally {
    releaseOutbound(c, suback);
  }
}

/** Make the subscriptions of one SUBSCRIBE; the writer of its SUBACK, or a no-op when there is none to send. */
async function subscriptions(c: ConnectionContext, p: mqttPacket.ISubscribePacket): Promise<() => void> {
  const none = () => undefined;
  const cfg = c.host.cfg;
  const v5 = c.version === 5;
  const s = c.session!;
  const subId = p.properties?.subscriptionIdentifier;
  // MQTT 5 §3.8.2.1.2: a Subscription Identifier of 0 is a protocol error
  if (v5 && subId === 0) {
    c.protocolClose(RC.protocolError, 'subscription identifier 0');
    return none;
  }
  const codes: number[] = [];
  let changed = false;
  for (const req of p.subscriptions) {
    const parsed = parseFilter(req.topic, cfg);
    if ('error' in parsed) {
      codes.push(v5 ? RC.topicFilterInvalid : 0x80);
      continue;
    }
    // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error
    if (parsed.group !== undefined && req.nl) {
      if (v5) {
        c.protocolClose(RC.protocolError, 'No Local on a shared subscription');
        return none;
      }
      codes.push(0x80);
      continue;
    }
    const existing = s.subs.get(req.topic);
    if (!existing && cfg.maxSubscriptionsPerClient > 0 && s.subs.size >= cfg.maxSubscriptionsPerClient) {
      codes.push(v5 ? RC.quotaExceeded : 0x80);
      continue;
    }
    // [MQTT-3.8.4-3]: the same filter again replaces the subscription (its options may change)
    const rec: SubRecord = { filter: req.topic, qos: req.qos, nl: !!req.nl, rap: !!req.rap, rh: req.rh ?? 0, durable: existing?.durable ?? s.persistent };
    if (subId !== undefined) rec.subId = subId;
    try {
      await attach(c, rec, false, existing !== undefined);
      s.subs.set(req.topic, rec);
      changed = true;
      codes.push(req.qos);
    } catch (err) {
      const code = err instanceof BrokerError ? err.code : '';
      if (code !== 'unauthorized') c.host.logger.warn({ err, clientId: c.clientId, filter: req.topic }, 'mqtt: subscribe failed');
      codes.push(!v5 ? 0x80 : code === 'unauthorized' ? RC.notAuthorized : code === 'invalid' ? RC.topicFilterInvalid : RC.unspecified);
    }
    if (c.currentState() !== 'connected') return none;
  }
  if (changed && (s.persistent || s.stored)) await c.host.saveSession(s);
  if (c.currentState() !== 'connected') return none;
  // [MQTT-3.8.4-1]: SUBACK, one return code per filter in order
  const suback = generate({ cmd: 'suback', messageId: p.messageId, granted: codes }, c.version);
  return () => {
    if (c.state === 'connected') c.write(suback);
  };
}

/** A resumed session's subscriptions are attached again (after CONNACK, in the subscription chain). */
export async function restoreSubscriptions(c: ConnectionContext, session: SessionState): Promise<void> {
  for (const rec of [...session.subs.values()]) {
    if (c.currentState() !== 'connected') return;
    try {
      await attach(c, rec, true);
    } catch (err) {
      c.host.logger.warn({ err, clientId: c.clientId, filter: rec.filter }, 'mqtt: could not restore a subscription');
    }
  }
}

/** Attach (or update) the engine consumer of one subscription. */
async function attach(c: ConnectionContext, rec: SubRecord, restoring: boolean, existed = false): Promise<void> {
  const parsed = parseFilter(rec.filter, c.host.cfg) as ParsedFilter;
  const old = c.subEntries.get(rec.filter);
  const entry: SubEntry = { sub: rec, parsed, consumer: null, wildFirst: startsWithWildcard(parsed.filter), readyAt: Infinity };
  // Retain Handling: [MQTT-3.3.1-9] 0 sends retained messages, [MQTT-3.3.1-10] 1 only for a new subscription,
  // [MQTT-3.3.1-11] 2 never; a shared subscription gets none
  if (parsed.filter.startsWith('$SYS')) {
    c.subEntries.set(rec.filter, entry);
    c.host.sys.subscribe(c, rec, !restoring && rec.rh !== 2 && !(rec.rh === 1 && existed));
    return;
  }
  const pattern = filterToCore(parsed.filter);
  const sendRetained = !restoring && parsed.group === undefined && (rec.rh === 0 || (rec.rh === 1 && !existed));
  if (old?.consumer && !old.consumer.closed && old.sub.nl === rec.nl && (old.sub.qos === 0) === (rec.qos === 0) && old.sub.durable === rec.durable) {
    // same subscription again: replace its options without interrupting the flow ([MQTT-3.8.4-3]: no message
    // lost), re-send retained
    old.sub = rec;
    if (sendRetained) for (const m of c.host.engine.retainedMessages(pattern)) c.sendDirect(rec, m, c.host.topicOf(m));
    return;
  }
  if (old?.consumer) old.consumer.close();
  c.subEntries.set(rec.filter, entry);
  const o: SubscribeOptions = {
    address: topicAddress(pattern),
    connection: c.engineConnection,
    // [MQTT-3.8.3-3]: No Local, messages published by this connection are not delivered to it
    noLocal: rec.nl || undefined,
    retained: sendRetained,
    limits: c.host.subscriptionLimits,
    onMessage: (d) => onDelivery(c, entry, d),
    onClose: (reason, cause) => {
      entry.consumer = null;
      // MQTT cannot end one subscription from the server: v5 DISCONNECT 0x87 Not authorized, 3.1.1 a plain close
      if (cause === 'unauthorized') c.kill(reason, 'unauthorized');
    },
  };
  if (parsed.group !== undefined) {
    // every member, clean or persistent, consumes from the group's one durable queue: one copy per group
    // (MQTT 5 §4.8.2), kept while only offline persistent members are left; the adapter removes it with the last member
    o.shared = mqttShareGroup(parsed.group, parsed.filter);
    o.durable = { name: rec.filter, clientId: c.clientId };
  } else if (rec.durable) o.durable = { name: rec.filter, clientId: c.clientId };
  if (rec.qos === 0) {
    o.autoAck = true;
    o.credit = QOS0_WINDOW;
  } else o.prefetch = c.outbound.maxOut;
  const consumer = await c.host.engine.subscribe(o);
  if (c.currentState() === 'closed' || c.subEntries.get(rec.filter) !== entry) {
    consumer.close();
    return;
  }
  entry.consumer = consumer;
  // a resumed or re-made durable subscription keeps its queue, which holds what was published before
  entry.readyAt = restoring ? 0 : existed && rec.durable && old?.sub.durable ? old.readyAt : Date.now();
}
