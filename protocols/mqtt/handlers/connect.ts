/**
 * CONNECT (MQTT 3.1.1 / 5 §3.1) → CONNACK (§3.2): validation, client id, session (clean start, takeover,
 * expiry), will, the v5 limits of both sides, then the packets received meanwhile.
 */
import type * as mqttPacket from 'mqtt-packet';
import { BrokerError, type ConnectionHandle } from '../../../src/core/api.js';
import { generate, RC, RC3, type Version } from '../codec.js';
import type { ConnectionContext } from '../context.js';
import { resendPubrels } from '../outbound.js';
import { kvKeys, NEVER, SessionState, type WillRecord } from '../session.js';
import { checkTopicName } from '../topics.js';
import { restoreSubscriptions } from './subscribe.js';

export async function handleConnect(c: ConnectionContext, p: mqttPacket.IConnectPacket): Promise<void> {
  const host = c.host;
  const cfg = host.cfg;
  c.state = 'connecting';
  c.stream.pause();
  const v = (p.protocolVersion ?? 4) as Version;
  c.version = v;
  // [MQTT-3.1.2-2]: an unsupported protocol name / level is refused (0x84, 3.1.1: 0x01)
  if ((v === 3 && p.protocolId !== 'MQIsdp') || (v !== 3 && p.protocolId !== 'MQTT')) return refuse(c, RC.unsupportedProtocolVersion, RC3.unacceptableProtocolVersion);
  const props = p.properties ?? {};
  // [MQTT-4.12.0-1]: enhanced authentication is not supported
  if (v === 5 && props.authenticationMethod) return refuse(c, RC.badAuthenticationMethod, RC3.notAuthorized);
  // MQTT 5 §3.1.2.11.3 / §3.1.2.11.4: Receive Maximum 0 and Maximum Packet Size 0 are protocol errors
  if (v === 5 && (props.receiveMaximum === 0 || props.maximumPacketSize === 0)) return refuse(c, RC.protocolError, RC3.serverUnavailable);
  let cid = p.clientId ?? '';
  let assigned = false;
  if (!cid) {
    // [MQTT-3.1.3-6]: an empty client id gets one assigned (v5 returns it [MQTT-3.1.3-7]); 3.1.1 requires
    // clean session for it, else 0x02 Identifier rejected [MQTT-3.1.3-8]
    if (v === 5 || (v === 4 && p.clean)) {
      cid = host.newClientId();
      assigned = true;
    } else return refuse(c, RC.clientIdNotValid, RC3.identifierRejected);
  }
  if (Buffer.byteLength(cid) > cfg.maxClientIdLength) return refuse(c, RC.clientIdNotValid, RC3.identifierRejected);
  const requestedExpiry = v === 5 ? props.sessionExpiryInterval ?? 0 : p.clean ? 0 : NEVER;
  const expiry = Math.min(requestedExpiry, cfg.maxSessionExpiry);
  c.connectExpiry = expiry;
  let ka = p.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  // MQTT 5 §3.2.2.3.14: the server may impose its own Keep Alive (Server Keep Alive in CONNACK)
  if (v === 5 && cfg.maxKeepAlive > 0 && (ka === 0 || ka > cfg.maxKeepAlive)) {
    ka = cfg.maxKeepAlive;
    serverKeepAlive = ka;
  }
  c.keepAliveMs = ka * 1000;
  const out = c.outbound;
  if (v === 5) {
    out.maxOut = Math.min(cfg.maxInflight, props.receiveMaximum ?? 65535);
    out.clientMaxPacket = props.maximumPacketSize ?? Infinity;
    out.clientAliasMax = cfg.outboundTopicAliases ? (props.topicAliasMaximum ?? 0) : 0;
  } else out.maxOut = cfg.maxInflight;
  let will: WillRecord | undefined;
  if (p.will) {
    if (checkTopicName(p.will.topic, cfg) !== null) return refuse(c, RC.topicNameInvalid, RC3.serverUnavailable);
    const wp = p.will.properties;
    will = {
      topic: p.will.topic,
      payload: Buffer.isBuffer(p.will.payload) ? Buffer.from(p.will.payload) : Buffer.from(p.will.payload ?? ''),
      qos: p.will.qos ?? 0,
      retain: !!p.will.retain,
      sessionExpiry: expiry,
    };
    if (v === 5 && wp) will.properties = { ...wp, correlationData: wp.correlationData ? Buffer.from(wp.correlationData) : undefined };
  }
  c.clientId = cid;
  await host.withClientLock(cid, async () => {
    let conn: ConnectionHandle;
    try {
      conn = await host.engine.connect(
        { protocol: 'mqtt', clientId: cid, remoteAddress: c.peer.remoteAddress, takeover: true, onKill: (reason, cause) => c.kill(reason, cause),
          endpoint: { transport: c.peer.transport, remotePort: c.peer.remotePort, localPort: c.peer.localPort, version: v === 5 ? '5.0' : v === 4 ? '3.1.1' : '3.1' } },
        { username: p.username, password: p.password?.toString('utf8'), certificate: c.peer.clientIdentity },
      );
    } catch (err) {
      const code = err instanceof BrokerError ? err.code : '';
      // bad credentials, or an anonymous client where anonymous access is off (docs/security.md)
      if (code === 'unauthenticated' && p.username === undefined) return refuse(c, RC.notAuthorized, RC3.notAuthorized);
      if (code === 'unauthenticated') return refuse(c, RC.badUserNameOrPassword, RC3.badUserNameOrPassword);
      if (code === 'unauthorized') return refuse(c, RC.notAuthorized, RC3.notAuthorized);
      // a connection limit (limits.maxConnectionsPerUser): MQTT 5 Quota exceeded; 3.1.1 has only Server unavailable
      if (code === 'limit') return refuse(c, RC.quotaExceeded, RC3.serverUnavailable);
      host.logger.warn({ err, clientId: cid }, 'mqtt: connect refused');
      return refuse(c, RC.serverUnavailable, RC3.serverUnavailable);
    }
    if (c.currentState() === 'closed') {
      host.engine.disconnect(conn);
      return;
    }
    c.engineConnection = conn;
    // a will to a topic the user may not publish to is dropped; the connection goes on (as mosquitto does)
    if (will && !host.willAllowed(will, conn)) will = undefined;
    // a will still waiting for its delay is not sent once the client is back (MQTT 5 §3.1.3.2.2)
    host.cancelWill(cid);
    let s = host.sessions.get(cid);
    // [MQTT-3.1.4-3] (3.1.1: [MQTT-3.1.4-2]): a connection already using the client id is closed
    if (s && s.owner && s.owner !== c) s.owner.close({ normal: false, reason: 'session taken over' });
    s = host.sessions.get(cid);
    // [MQTT-3.1.2-4]: Clean Start discards an existing session
    if (s && p.clean) {
      await host.endSession(s);
      s = undefined;
    }
    let present = false;
    if (s) {
      // [MQTT-3.1.2-5]: otherwise an existing session is resumed ...
      present = true;
      host.clearExpiry(s);
      s.expiry = expiry;
    } else {
      // ... [MQTT-3.1.2-6]: or a new one created
      s = new SessionState(cid, expiry);
      host.sessions.set(cid, s);
    }
    s.owner = c;
    c.session = s;
    const writes: Promise<unknown>[] = [];
    if (s.persistent || s.stored) writes.push(host.saveSession(s));
    // the will is stored so that a broker crash still publishes it
    if (will) writes.push(host.engine.kvPut(kvKeys.will(cid), will));
    else if (host.engine.kvGet(kvKeys.will(cid)) !== undefined) writes.push(host.engine.kvDelete(kvKeys.will(cid)));
    await Promise.all(writes);
    if (c.currentState() === 'closed') return;
    c.will = will;
    if (v === 5) {
      const cp: NonNullable<mqttPacket.IConnackPacket['properties']> = {
        receiveMaximum: cfg.receiveMaximum,
        maximumPacketSize: host.maxPacketSize,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
      };
      if (cfg.topicAliasMaximum > 0) cp.topicAliasMaximum = cfg.topicAliasMaximum;
      if (assigned) cp.assignedClientIdentifier = cid;
      if (serverKeepAlive !== undefined) cp.serverKeepAlive = serverKeepAlive;
      if (expiry !== requestedExpiry) cp.sessionExpiryInterval = expiry;
      c.write(generate({ cmd: 'connack', sessionPresent: present, reasonCode: 0, properties: cp }, 5));
    } else {
      c.write(generate({ cmd: 'connack', sessionPresent: present, returnCode: 0 }, v));
    }
    c.state = 'connected';
    host.stats.connects++;
    resendPubrels(c, s);
    const session = s;
    c.chain(() => restoreSubscriptions(c, session));
  });
  if (c.currentState() !== 'connected') return;
  const queued = c.queued;
  c.queued = [];
  for (const q of queued) {
    if (c.currentState() !== 'connected') return;
    c.dispatch(q);
  }
  if (c.deferredClose && c.currentState() === 'connected') return c.protocolClose(...c.deferredClose);
  if (c.currentState() === 'connected' && !c.inbound.paused) c.stream.resume();
}

/** CONNACK with a failure code, then close ([MQTT-3.2.2-7], 3.1.1: [MQTT-3.2.2-5]). */
export function refuse(c: ConnectionContext, rc5: number, rc3: number): void {
  if (c.state === 'closed') return;
  if (c.version === 5) c.write(generate({ cmd: 'connack', sessionPresent: false, reasonCode: rc5 }, 5));
  else c.write(generate({ cmd: 'connack', sessionPresent: false, returnCode: rc3 }, c.version));
  c.close({ normal: false, reason: `connect refused (${rc5.toString(16)})`, noSession: true });
}
