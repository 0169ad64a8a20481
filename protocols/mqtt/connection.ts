/**
 * One MQTT network connection (3.1, 3.1.1 or 5.0): packets ⇄ engine calls. See adapter.ts for what outlives it.
 *
 * Inbound PUBLISH: QoS 0 → engine.send (non-durable); QoS 1 → PUBACK once engine.send resolved (the message is
 * committed and fsync'd when it reaches a persistent subscription); QoS 2 → PUBREC once the message *and* the
 * packet id are committed in one store commit, PUBCOMP once the id is deleted again. Acks go out in the order
 * the publishes came in.
 * Outbound: one engine consumer per subscription. QoS = min(subscription QoS, message QoS); QoS ≥ 1 deliveries
 * are acked to the engine on PUBACK / PUBREC; at most min(maxInflight, client Receive Maximum) are in flight,
 * the rest wait in order. A persistent session's outbound QoS 2 packet id is stored before its PUBLISH is written,
 * so a resend after a broker restart keeps it. Output is coalesced: everything written in one event-loop turn leaves in one write.
 */
import type { Duplex } from 'node:stream';
import * as mqttPacket from 'mqtt-packet';
import { BrokerError, type ConnectionHandle, type ConsumerHandle, type Delivery, type Message, type SubscribeOptions, topic as topicAddress } from '../../src/core/api.js';
import type { PeerInfo } from '../../src/transport/types.js';
import type { MqttHost } from './host.js';
import {
  encodeAck,
  encodePublish,
  encodePublishProps,
  keepUserPropertyOrder,
  keepWillUserPropertyOrder,
  generate,
  PINGRESP,
  PUBACK,
  PUBCOMP,
  PUBREC,
  PUBREL,
  publishSize,
  RC,
  RC3,
  type Version,
} from './codec.js';
import { FrameError, Framer, splitPackets } from './framer.js';
import { deliveryTopic, messageQos, messageToProps, publishToMessage } from './mapping.js';
import { kvKeys, NEVER, SessionState, type SubRecord, type WillRecord } from './session.js';
import { checkTopicName, filterToCore, mqttShareGroup, parseFilter, startsWithWildcard, topicToCore, type ParsedFilter } from './topics.js';

interface SubEntry {
  sub: SubRecord;
  parsed: ParsedFilter;
  consumer: ConsumerHandle | null;
  /** Filter starts with a wildcard: topics starting with `$` are not delivered to it. */
  wildFirst: boolean;
}

interface OutEntry {
  pid: number;
  qos: number;
  state: 'publish' | 'pubrel';
  d: Delivery | null;
  key?: string;
}

interface AckSlot {
  buf: Buffer | null;
}

/** Unsent output above which QoS 0 flow is held back until the socket drains. */
const HIGH_WATER = 1 << 20;
const QOS0_WINDOW = 1000;
const EMPTY = Buffer.alloc(0);
/** Outstanding QoS 0 sends before input is paused. */
const MAX_PENDING_SENDS = 2000;

type State = 'new' | 'connecting' | 'connected' | 'closed';

export class MqttConnection {
  state: State = 'new';
  version: Version = 4;
  clientId = '';
  conn: ConnectionHandle | null = null;
  session: SessionState | null = null;
  readonly createdAt = Date.now();
  lastRx = Date.now();
  keepAliveMs = 0;

  private readonly framer: Framer;
  private readonly parser: mqttPacket.Parser;
  private parsed: mqttPacket.Packet | null = null;
  private parseError: Error | null = null;
  private queued: mqttPacket.Packet[] = [];
  private readonly isWs: boolean;

  // output
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private congested = false;
  private heldAcks: Delivery[] = [];

  // outbound flow
  private readonly subEntries = new Map<string, SubEntry>();
  /**
   * Delivery writes queued behind a QoS 2 PUBLISH whose packet id is still being stored: written in order once
   * the slots before them are ready (empty in the common case).
   */
  private outHold: Array<{ ready: boolean; run: () => void }> = [];
  private readonly outInflight = new Map<number, OutEntry>();
  private waiting: Array<{ entry: SubEntry; d: Delivery }> = [];
  private nextPid = 1;
  private maxOut = 1024;
  private clientMaxPacket = Infinity;
  private clientAliasMax = 0;
  private readonly aliasOut = new Map<string, number>();

  // inbound flow
  private readonly aliasIn = new Map<number, string>();
  private inboundPending = 0;
  private pendingSends = 0;
  private inputPaused = false;
  private readonly ackSlots: AckSlot[] = [];
  private ackHead = 0;
  private connectExpiry = 0;
  private subChain: Promise<void> = Promise.resolve();
  private will: WillRecord | undefined;

  constructor(
    private readonly adapter: MqttHost,
    private readonly stream: Duplex,
    readonly peer: PeerInfo,
    /** Tells the adapter the connection is gone. */
    private readonly onClosed: () => void,
  ) {
    this.isWs = peer.transport === 'ws' || peer.transport === 'wss';
    this.framer = new Framer(adapter.maxPacketSize);
    this.parser = mqttPacket.parser();
    this.parser.on('packet', (p) => (this.parsed = p));
    this.parser.on('error', (e: Error) => (this.parseError = e));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.adapter.logger.debug({ err: err.message, remote: peer.remoteAddress }, 'mqtt: stream error'));
    stream.on('end', () => this.close({ normal: false, reason: 'connection closed by the client' }));
    stream.on('close', () => this.close({ normal: false, reason: 'connection closed' }));
  }

  /** The current state (a call, so TypeScript does not narrow it across awaits and callbacks). */
  private now(): State {
    return this.state;
  }

  // ================================================================ input

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastRx = this.adapter.now();
    try {
      this.framer.push(chunk, this.onFrame);
    } catch (err) {
      if (err instanceof FrameError) {
        this.protocolClose(err.kind === 'too-large' ? RC.packetTooLarge : RC.malformed, err.message);
      } else {
        this.adapter.logger.warn({ err }, 'mqtt: error handling input');
        this.protocolClose(RC.implementationSpecific, 'internal error');
      }
    }
  }

  private readonly onFrame = (first: number, pkt: Buffer, hl: number): boolean => {
    if (this.state === 'closed') return false;
    this.adapter.stats.bytesIn += pkt.length;
    if (this.state === 'connected' && this.fastPath(first, pkt, hl)) return this.now() !== 'closed';
    try {
      this.parser.parse(pkt);
    } catch (err) {
      this.parseError = err as Error;
    }
    const p = this.parsed;
    this.parsed = null;
    if (this.parseError || !p) {
      const e = this.parseError;
      this.parseError = null;
      this.protocolClose(RC.malformed, `malformed packet: ${e?.message ?? 'incomplete'}`);
      return false;
    }
    if (p.cmd === 'publish' && this.version === 5) keepUserPropertyOrder(p, pkt, hl);
    else if (p.cmd === 'connect' && p.protocolVersion === 5) keepWillUserPropertyOrder(p, pkt, hl);
    if (this.state === 'connecting') {
      this.queued.push(p);
      return true;
    }
    this.onPacket(p);
    return this.now() !== 'closed';
  };

  /**
   * The hot packets decoded here without mqtt-packet (whose parser costs several times more per packet):
   * PUBLISH without v5 properties, 2-byte PUBACK/PUBREC/PUBREL/PUBCOMP, PINGREQ. Anything unusual (bad flags,
   * short fields, properties) returns false and goes through mqtt-packet, which produces the error.
   */
  private fastPath(first: number, pkt: Buffer, hl: number): boolean {
    const type = first >> 4;
    const rl = pkt.length - hl;
    switch (type) {
      case 3: {
        const qos = (first >> 1) & 3;
        if (qos === 3 || rl < 2) return false;
        let off = hl;
        const tlen = pkt.readUInt16BE(off);
        off += 2;
        if (off + tlen > pkt.length) return false;
        const topic = pkt.toString('utf8', off, off + tlen);
        off += tlen;
        let messageId: number | undefined;
        if (qos > 0) {
          if (off + 2 > pkt.length) return false;
          messageId = pkt.readUInt16BE(off);
          off += 2;
        }
        if (this.version === 5) {
          if (off >= pkt.length || pkt[off] !== 0) return false;
          off += 1;
        }
        this.handlePublish({ cmd: 'publish', topic, payload: pkt.subarray(off), qos: qos as 0 | 1 | 2, dup: (first & 8) !== 0, retain: (first & 1) !== 0, messageId, length: rl });
        return true;
      }
      case 4:
      case 5:
      case 6:
      case 7: {
        if (rl !== 2 || (first & 0x0f) !== (type === 6 ? 2 : 0)) return false;
        const pid = pkt.readUInt16BE(hl);
        if (type === 4) this.onPuback(pid);
        else if (type === 5) this.onPubrec(pid, 0);
        else if (type === 6) this.onPubrel(pid);
        else this.onPubcomp(pid);
        return true;
      }
      case 12:
        if (first !== 0xc0 || rl !== 0) return false;
        this.write(PINGRESP);
        return true;
      default:
        return false;
    }
  }

  private onPacket(p: mqttPacket.Packet): void {
    if (this.state === 'new') {
      if (p.cmd !== 'connect') return this.protocolClose(RC.protocolError, `first packet must be CONNECT, got ${p.cmd}`);
      this.handleConnect(p).catch((err) => {
        this.adapter.logger.warn({ err }, 'mqtt: CONNECT failed');
        this.refuse(RC.unspecified, RC3.serverUnavailable);
      });
      return;
    }
    switch (p.cmd) {
      case 'publish':
        return this.handlePublish(p);
      case 'puback':
        return this.onPuback(p.messageId ?? 0);
      case 'pubrec':
        return this.onPubrec(p.messageId ?? 0, p.reasonCode ?? 0);
      case 'pubrel':
        return this.onPubrel(p.messageId ?? 0);
      case 'pubcomp':
        return this.onPubcomp(p.messageId ?? 0);
      case 'subscribe':
        // [MQTT-3.8.3-3]: at least one topic filter (mqtt-packet lets an empty payload through)
        if (!p.subscriptions?.length) return this.protocolClose(RC.protocolError, 'SUBSCRIBE without a topic filter');
        this.chain(() => this.handleSubscribe(p));
        return;
      case 'unsubscribe':
        // [MQTT-3.10.3-2]: at least one topic filter
        if (!p.unsubscriptions?.length) return this.protocolClose(RC.protocolError, 'UNSUBSCRIBE without a topic filter');
        this.chain(() => this.handleUnsubscribe(p));
        return;
      case 'pingreq':
        return this.write(PINGRESP);
      case 'disconnect':
        return this.handleDisconnect(p);
      case 'auth':
        return this.protocolClose(RC.badAuthenticationMethod, 'enhanced authentication is not configured');
      case 'connect':
        return this.protocolClose(RC.protocolError, 'second CONNECT on a connection');
      default:
        return this.protocolClose(RC.protocolError, `unexpected ${p.cmd} from a client`);
    }
  }

  private chain(fn: () => Promise<void>): void {
    this.subChain = this.subChain.then(fn).catch((err) => {
      this.adapter.logger.warn({ err, clientId: this.clientId }, 'mqtt: subscription handling failed');
      this.protocolClose(RC.implementationSpecific, 'internal error');
    });
  }

  // ================================================================ CONNECT

  private async handleConnect(p: mqttPacket.IConnectPacket): Promise<void> {
    const cfg = this.adapter.cfg;
    this.state = 'connecting';
    this.stream.pause();
    const v = (p.protocolVersion ?? 4) as Version;
    this.version = v;
    if ((v === 3 && p.protocolId !== 'MQIsdp') || (v !== 3 && p.protocolId !== 'MQTT')) return this.refuse(RC.unsupportedProtocolVersion, RC3.unacceptableProtocolVersion);
    const props = p.properties ?? {};
    if (v === 5 && props.authenticationMethod) return this.refuse(RC.badAuthenticationMethod, RC3.notAuthorized);
    if (v === 5 && (props.receiveMaximum === 0 || props.maximumPacketSize === 0)) return this.refuse(RC.protocolError, RC3.serverUnavailable);
    let cid = p.clientId ?? '';
    let assigned = false;
    if (!cid) {
      if (v === 5 || (v === 4 && p.clean)) {
        cid = this.adapter.newClientId();
        assigned = true;
      } else return this.refuse(RC.clientIdNotValid, RC3.identifierRejected);
    }
    if (Buffer.byteLength(cid) > cfg.maxClientIdLength) return this.refuse(RC.clientIdNotValid, RC3.identifierRejected);
    const requestedExpiry = v === 5 ? props.sessionExpiryInterval ?? 0 : p.clean ? 0 : NEVER;
    const expiry = Math.min(requestedExpiry, cfg.maxSessionExpiry);
    this.connectExpiry = expiry;
    let ka = p.keepalive ?? 0;
    let serverKeepAlive: number | undefined;
    if (v === 5 && cfg.maxKeepAlive > 0 && (ka === 0 || ka > cfg.maxKeepAlive)) {
      ka = cfg.maxKeepAlive;
      serverKeepAlive = ka;
    }
    this.keepAliveMs = ka * 1000;
    if (v === 5) {
      this.maxOut = Math.min(cfg.maxInflight, props.receiveMaximum ?? 65535);
      this.clientMaxPacket = props.maximumPacketSize ?? Infinity;
      this.clientAliasMax = props.topicAliasMaximum ?? 0;
    } else this.maxOut = cfg.maxInflight;
    let will: WillRecord | undefined;
    if (p.will) {
      if (checkTopicName(p.will.topic, cfg) !== null) return this.refuse(RC.topicNameInvalid, RC3.serverUnavailable);
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
    this.clientId = cid;
    await this.adapter.withClientLock(cid, async () => {
      let conn: ConnectionHandle;
      try {
        conn = await this.adapter.engine.connect(
          { protocol: 'mqtt', clientId: cid, remoteAddress: this.peer.remoteAddress, takeover: true, onKill: (reason) => this.kill(reason) },
          { username: p.username, password: p.password?.toString('utf8'), certificateSubject: certSubject(this.peer) },
        );
      } catch (err) {
        const code = err instanceof BrokerError ? err.code : '';
        if (code === 'unauthenticated') return this.refuse(RC.badUserNameOrPassword, RC3.badUserNameOrPassword);
        if (code === 'unauthorized') return this.refuse(RC.notAuthorized, RC3.notAuthorized);
        this.adapter.logger.warn({ err, clientId: cid }, 'mqtt: connect refused');
        return this.refuse(RC.serverUnavailable, RC3.serverUnavailable);
      }
      if (this.state === 'closed') {
        this.adapter.engine.disconnect(conn);
        return;
      }
      this.conn = conn;
      this.adapter.cancelWill(cid);
      let s = this.adapter.sessions.get(cid);
      if (s && s.owner && s.owner !== this) s.owner.close({ normal: false, reason: 'session taken over' });
      s = this.adapter.sessions.get(cid);
      if (s && p.clean) {
        await this.adapter.endSession(s);
        s = undefined;
      }
      let present = false;
      if (s) {
        present = true;
        this.adapter.clearExpiry(s);
        s.expiry = expiry;
      } else {
        s = new SessionState(cid, expiry);
        this.adapter.sessions.set(cid, s);
      }
      s.owner = this;
      this.session = s;
      const writes: Promise<unknown>[] = [];
      if (s.persistent || s.stored) writes.push(this.adapter.saveSession(s));
      if (will) writes.push(this.adapter.engine.kvPut(kvKeys.will(cid), will));
      else if (this.adapter.engine.kvGet(kvKeys.will(cid)) !== undefined) writes.push(this.adapter.engine.kvDelete(kvKeys.will(cid)));
      await Promise.all(writes);
      if (this.now() === 'closed') return;
      this.will = will;
      if (v === 5) {
        const cp: NonNullable<mqttPacket.IConnackPacket['properties']> = {
          receiveMaximum: cfg.receiveMaximum,
          maximumPacketSize: this.adapter.maxPacketSize,
          retainAvailable: true,
          wildcardSubscriptionAvailable: true,
          subscriptionIdentifiersAvailable: true,
          sharedSubscriptionAvailable: true,
        };
        if (cfg.topicAliasMaximum > 0) cp.topicAliasMaximum = cfg.topicAliasMaximum;
        if (assigned) cp.assignedClientIdentifier = cid;
        if (serverKeepAlive !== undefined) cp.serverKeepAlive = serverKeepAlive;
        if (expiry !== requestedExpiry) cp.sessionExpiryInterval = expiry;
        this.write(generate({ cmd: 'connack', sessionPresent: present, reasonCode: 0, properties: cp }, 5));
      } else {
        this.write(generate({ cmd: 'connack', sessionPresent: present, returnCode: 0 }, v));
      }
      this.state = 'connected';
      this.adapter.stats.connects++;
      // resend PUBREL for outbound QoS 2 the client already has
      for (const pid of s.pubrel) {
        this.outInflight.set(pid, { pid, qos: 2, state: 'pubrel', d: null });
        this.write(encodeAck(PUBREL, pid, v));
      }
      const session = s;
      this.chain(async () => {
        for (const rec of [...session.subs.values()]) {
          if (this.state !== 'connected') return;
          try {
            await this.attach(rec, true);
          } catch (err) {
            this.adapter.logger.warn({ err, clientId: cid, filter: rec.filter }, 'mqtt: could not restore a subscription');
          }
        }
      });
    });
    if (this.now() !== 'connected') return;
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) {
      if (this.now() !== 'connected') return;
      this.onPacket(q);
    }
    if (this.now() === 'connected' && !this.inputPaused) this.stream.resume();
  }

  /** CONNACK with a failure code, then close. */
  private refuse(rc5: number, rc3: number): void {
    if (this.state === 'closed') return;
    if (this.version === 5) this.write(generate({ cmd: 'connack', sessionPresent: false, reasonCode: rc5 }, 5));
    else this.write(generate({ cmd: 'connack', sessionPresent: false, returnCode: rc3 }, this.version));
    this.close({ normal: false, reason: `connect refused (${rc5.toString(16)})`, noSession: true });
  }

  // ================================================================ inbound PUBLISH

  private handlePublish(p: mqttPacket.IPublishPacket): void {
    const cfg = this.adapter.cfg;
    const v5 = this.version === 5;
    const s = this.session!;
    let topic = p.topic;
    const props = p.properties;
    if (v5 && props) {
      if (props.topicAlias !== undefined) {
        const a = props.topicAlias;
        if (a === 0 || a > cfg.topicAliasMaximum) return this.protocolClose(RC.topicAliasInvalid, `topic alias ${a} out of range`);
        if (topic) this.aliasIn.set(a, topic);
        else {
          const t = this.aliasIn.get(a);
          if (t === undefined) return this.protocolClose(RC.protocolError, `unknown topic alias ${a}`);
          topic = t;
        }
      }
      if (props.subscriptionIdentifier !== undefined) return this.protocolClose(RC.protocolError, 'PUBLISH from a client must not carry a subscription identifier');
    }
    const qos = p.qos;
    const pid = p.messageId ?? 0;
    if (qos === 2 && s.in2.has(pid)) {
      // retransmission of a QoS 2 publish we already have: PUBREC again, do not publish twice
      this.ackSlot().buf = encodeAck(PUBREC, pid, this.version);
      this.flushAcks();
      return;
    }
    if (qos > 0) {
      if (v5 && this.inboundPending >= cfg.receiveMaximum) return this.protocolClose(RC.receiveMaximumExceeded, 'Receive Maximum exceeded');
      this.inboundPending++;
      if (this.inboundPending >= cfg.receiveMaximum) this.pauseInput();
    }
    const bad = checkTopicName(topic, cfg);
    if (bad) {
      if (!v5 || bad === 'malformed' || qos === 0) return this.protocolClose(RC.topicNameInvalid, `invalid topic name '${topic.slice(0, 200)}'`);
      return this.ackNow(qos, pid, RC.topicNameInvalid);
    }
    if (topic.startsWith('$SYS')) {
      // read-only: v5 gets "not authorized", 3.1.1 a positive ack (it has no negative one) and the message is dropped
      if (qos > 0) this.ackNow(qos, pid, v5 ? RC.notAuthorized : 0);
      return;
    }
    this.adapter.stats.messagesIn++;
    const m = publishToMessage(p as Parameters<typeof publishToMessage>[0], this.adapter.now());
    const address = topicAddress(this.adapter.coreTopic(topic));
    const engine = this.adapter.engine;
    if (qos === 0) {
      this.pendingSends++;
      if (this.pendingSends >= MAX_PENDING_SENDS) this.pauseInput();
      engine.send(m, address, { connection: this.conn, retain: p.retain }).then(this.qos0Done, (err) => {
        this.qos0Done();
        this.adapter.logger.debug({ err: (err as Error).message, clientId: this.clientId, topic }, 'mqtt: QoS 0 publish dropped');
      });
      return;
    }
    const slot = this.ackSlot();
    let kv: Array<{ key: string; value?: unknown }> | undefined;
    if (qos === 2) {
      s.in2.add(pid);
      if (s.persistent) kv = [{ key: kvKeys.in2(this.clientId, pid), value: 1 }];
    }
    engine.send(m, address, { connection: this.conn, retain: p.retain, kv }).then(
      () => {
        slot.buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, this.version);
        if (qos === 1) this.inboundDone();
        this.flushAcks();
      },
      (err: unknown) => {
        if (qos === 2) s.in2.delete(pid);
        const rc = reasonFor(err);
        if (!v5) {
          this.adapter.logger.info({ err: (err as Error).message, clientId: this.clientId, topic }, 'mqtt: publish refused; closing the 3.1.1 connection (it has no negative acknowledgement)');
          this.protocolClose(rc, (err as Error).message);
          return;
        }
        slot.buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, 5, rc);
        this.inboundDone();
        this.flushAcks();
      },
    );
  }

  private readonly qos0Done = (): void => {
    this.pendingSends--;
    if (this.inputPaused && this.pendingSends < MAX_PENDING_SENDS / 2) this.maybeResumeInput();
  };

  private ackSlot(): AckSlot {
    const slot: AckSlot = { buf: null };
    this.ackSlots.push(slot);
    return slot;
  }

  /** Negative or immediate ack, kept in order with pending ones. */
  private ackNow(qos: number, pid: number, rc: number): void {
    this.ackSlot().buf = encodeAck(qos === 1 ? PUBACK : PUBREC, pid, this.version, rc);
    if (qos === 1 || rc >= 0x80) this.inboundDone();
    this.flushAcks();
  }

  private flushAcks(): void {
    const slots = this.ackSlots;
    while (this.ackHead < slots.length && slots[this.ackHead].buf) {
      this.write(slots[this.ackHead].buf!);
      this.ackHead++;
    }
    if (this.ackHead > 1024 && this.ackHead * 2 > slots.length) {
      slots.splice(0, this.ackHead);
      this.ackHead = 0;
    } else if (this.ackHead === slots.length) {
      slots.length = 0;
      this.ackHead = 0;
    }
  }

  private inboundDone(): void {
    if (this.inboundPending > 0) this.inboundPending--;
    if (this.inputPaused) this.maybeResumeInput();
  }

  private pauseInput(): void {
    if (this.inputPaused) return;
    this.inputPaused = true;
    this.stream.pause();
  }

  private maybeResumeInput(): void {
    if (!this.inputPaused || this.state === 'closed') return;
    if (this.inboundPending >= this.adapter.cfg.receiveMaximum || this.pendingSends >= MAX_PENDING_SENDS / 2) return;
    this.inputPaused = false;
    if (this.state === 'connected') this.stream.resume();
  }

  private onPubrel(pid: number): void {
    const s = this.session!;
    if (!s.in2.has(pid)) {
      this.write(encodeAck(PUBCOMP, pid, this.version, this.version === 5 ? RC.packetIdNotFound : 0));
      return;
    }
    s.in2.delete(pid);
    const finish = () => {
      this.write(encodeAck(PUBCOMP, pid, this.version));
      this.inboundDone();
    };
    if (s.persistent) {
      this.adapter.engine.kvDelete(kvKeys.in2(this.clientId, pid)).then(finish, (err) => {
        this.adapter.logger.warn({ err, clientId: this.clientId }, 'mqtt: could not delete QoS 2 state');
        finish();
      });
    } else finish();
  }

  // ================================================================ outbound

  private onDelivery(entry: SubEntry, d: Delivery): void {
    if (this.state !== 'connected') return;
    const m = d.message;
    const t = this.adapter.topicOf(m);
    if (entry.wildFirst && t.charCodeAt(0) === 36 /* $ */) {
      this.settleQos0(d);
      return;
    }
    const qos = Math.min(entry.sub.qos, messageQos(m));
    if (qos === 0) {
      const send = () => {
        this.sendPublish(entry.sub, m, t, 0, 0, false);
        this.settleQos0(d);
      };
      if (this.outHold.length) this.outHold.push({ ready: true, run: send });
      else send();
      return;
    }
    if (this.outInflight.size >= this.maxOut) {
      this.waiting.push({ entry, d });
      return;
    }
    this.sendQos(entry.sub, d, m, t, qos);
  }

  private settleQos0(d: Delivery): void {
    const c = d.consumer;
    if (c.autoAck) {
      if (!this.congested && c.credit < QOS0_WINDOW / 2) c.addCredit(QOS0_WINDOW - c.credit);
      return;
    }
    if (this.congested) this.heldAcks.push(d);
    else c.ack(d.id).catch(() => undefined);
  }

  private sendQos(sub: SubRecord, d: Delivery, m: Message, t: string, qos: number): void {
    const s = this.session!;
    const key = `${d.queue.name}|${m.messageId}`;
    let pid = d.redelivered ? s.pidByMsg.get(key) : undefined;
    if (pid === undefined || this.outInflight.has(pid) || s.pubrel.has(pid)) pid = this.allocPid();
    const e: OutEntry = { pid, qos, state: 'publish', d, key };
    this.outInflight.set(pid, e);
    if (s.pidByMsg.size > 4 * 65536) {
      s.pidByMsg.clear();
      for (const [p, o] of s.out2) s.pidByMsg.set(o.key, p); // stored ones must still be found after a restart
    }
    s.pidByMsg.set(key, pid);
    const send = () => {
      if (this.state !== 'connected' || this.outInflight.get(pid) !== e) return;
      if (!this.sendPublish(sub, m, t, qos, pid, d.redelivered)) {
        // too large for the client: behave as if delivered (MQTT 5 §3.1.2.11.4)
        this.outInflight.delete(pid);
        this.finishOut(e);
      }
    };
    const stored = s.out2.get(pid);
    if (qos === 2 && s.persistent && stored?.key !== key) {
      // the packet id must survive a broker restart (resent with the same id, MQTT 4.4), so it is stored before
      // the PUBLISH leaves; later deliveries wait behind it to keep their order
      s.out2.set(pid, { key, queue: d.queue.name });
      const slot = { ready: false, run: send };
      this.outHold.push(slot);
      const done = () => {
        slot.ready = true;
        this.drainHold();
      };
      this.adapter.engine.kvPut(kvKeys.out2(this.clientId, pid), { q: d.queue.name, m: m.messageId }).then(done, (err) => {
        this.adapter.logger.warn({ err, clientId: this.clientId }, 'mqtt: could not store outbound QoS 2 state');
        done();
      });
      return;
    }
    if (this.outHold.length) this.outHold.push({ ready: true, run: send });
    else send();
  }

  private drainHold(): void {
    const h = this.outHold;
    while (h.length && h[0].ready) h.shift()!.run();
  }

  /** Forget the stored packet id of an outbound QoS 2 message that got PUBREC or is given up on. */
  private dropOut2(pid: number): void {
    const s = this.session!;
    if (!s.out2.delete(pid)) return;
    this.adapter.engine.kvDelete(kvKeys.out2(this.clientId, pid)).catch(() => undefined);
  }

  private allocPid(): number {
    const s = this.session!;
    for (let i = 0; i < 65536; i++) {
      const pid = this.nextPid;
      this.nextPid = pid >= 65535 ? 1 : pid + 1;
      if (!this.outInflight.has(pid) && !s.pubrel.has(pid) && !s.out2.has(pid)) return pid;
    }
    throw new Error('no free packet identifier');
  }

  /** Write one PUBLISH; false when it exceeds the client's Maximum Packet Size (not sent). */
  private sendPublish(sub: SubRecord | null, m: Message, t: string, qos: number, pid: number, dup: boolean, forceRetain = false): boolean {
    const retain = forceRetain || m.annotations?.['core.retained'] === true || (!!sub?.rap && m.annotations?.['mqtt.retain'] === true);
    let topicBuf = this.adapter.topicBytes(t);
    let props: Buffer | null = null;
    if (this.version === 5) {
      const pp = messageToProps(m, this.adapter.now());
      if (sub?.subId) pp.subscriptionIdentifier = sub.subId;
      props = encodePublishProps(pp);
      if (publishSize(topicBuf.length, m.body.length, qos, props) > this.clientMaxPacket) return false;
      if (this.clientAliasMax > 0) {
        const a = this.aliasOut.get(t);
        if (a !== undefined) {
          pp.topicAlias = a;
          topicBuf = EMPTY;
          props = encodePublishProps(pp);
        } else if (this.aliasOut.size < this.clientAliasMax) {
          const n = this.aliasOut.size + 1;
          this.aliasOut.set(t, n);
          pp.topicAlias = n;
          props = encodePublishProps(pp);
        }
      }
    }
    const parts = encodePublish(topicBuf, m.body, qos, pid, dup, retain, props);
    for (const b of parts) this.write(b);
    this.adapter.stats.messagesOut++;
    return true;
  }

  /** A retained or $SYS message written directly (not through an engine queue). */
  sendDirect(sub: SubRecord, m: Message, t: string): void {
    if (this.state !== 'connected') return;
    const qos = Math.min(sub.qos, messageQos(m));
    if (qos === 0) {
      this.sendPublish(sub, m, t, 0, 0, false, true);
      return;
    }
    if (this.outInflight.size >= this.maxOut) return;
    const pid = this.allocPid();
    this.outInflight.set(pid, { pid, qos, state: 'publish', d: null });
    if (!this.sendPublish(sub, m, t, qos, pid, false, true)) this.outInflight.delete(pid);
  }

  private onPuback(pid: number): void {
    const e = this.outInflight.get(pid);
    if (!e || e.qos !== 1) return;
    this.outInflight.delete(pid);
    this.finishOut(e);
  }

  private finishOut(e: OutEntry): void {
    if (e.key) this.session?.pidByMsg.delete(e.key);
    if (e.key && this.session?.out2.get(e.pid)?.key === e.key) this.dropOut2(e.pid);
    const d = e.d;
    e.d = null;
    if (d) d.consumer.ack(d.id).catch(() => undefined);
    this.pump();
  }

  private onPubrec(pid: number, reason: number): void {
    const e = this.outInflight.get(pid);
    if (!e || e.qos !== 2) {
      this.write(encodeAck(PUBREL, pid, this.version, this.version === 5 ? RC.packetIdNotFound : 0));
      return;
    }
    if (e.state === 'pubrel') {
      this.write(encodeAck(PUBREL, pid, this.version));
      return;
    }
    if (reason >= 0x80) {
      this.outInflight.delete(pid);
      this.finishOut(e);
      return;
    }
    const s = this.session!;
    e.state = 'pubrel';
    s.pubrel.add(pid);
    if (e.key) s.pidByMsg.delete(e.key);
    const d = e.d;
    e.d = null;
    const ops: Promise<unknown>[] = [];
    if (d) ops.push(d.consumer.ack(d.id).catch(() => undefined));
    if (s.persistent) ops.push(this.adapter.engine.kvPut(kvKeys.pubrel(this.clientId, pid), 1));
    // issued in the same event-loop turn as the PUBREL state, so (group commit) in the same store transaction
    this.dropOut2(pid);
    if (!ops.length) this.write(encodeAck(PUBREL, pid, this.version));
    else
      Promise.all(ops).then(
        () => this.write(encodeAck(PUBREL, pid, this.version)),
        (err) => this.adapter.logger.warn({ err, clientId: this.clientId }, 'mqtt: could not store PUBREL state'),
      );
  }

  private onPubcomp(pid: number): void {
    const e = this.outInflight.get(pid);
    if (!e || e.state !== 'pubrel') return;
    this.outInflight.delete(pid);
    const s = this.session!;
    s.pubrel.delete(pid);
    if (s.persistent) this.adapter.engine.kvDelete(kvKeys.pubrel(this.clientId, pid)).catch(() => undefined);
    this.dropOut2(pid); // in case a crash kept the stored id next to the PUBREL state (nothing else can hold the id now)
    this.pump();
  }

  private pump(): void {
    while (this.waiting.length && this.outInflight.size < this.maxOut && this.state === 'connected') {
      const { entry, d } = this.waiting.shift()!;
      if (!d.consumer.owns(d.id) || d.consumer.closed) continue; // returned to its queue meanwhile
      const m = d.message;
      this.sendQos(entry.sub, d, m, this.adapter.topicOf(m), Math.min(entry.sub.qos, messageQos(m)));
    }
  }

  // ================================================================ SUBSCRIBE / UNSUBSCRIBE

  private async handleSubscribe(p: mqttPacket.ISubscribePacket): Promise<void> {
    if (this.state !== 'connected') return;
    const cfg = this.adapter.cfg;
    const v5 = this.version === 5;
    const s = this.session!;
    const subId = p.properties?.subscriptionIdentifier;
    if (v5 && subId === 0) return this.protocolClose(RC.protocolError, 'subscription identifier 0');
    const codes: number[] = [];
    let changed = false;
    for (const req of p.subscriptions) {
      const parsed = parseFilter(req.topic, cfg);
      if ('error' in parsed) {
        codes.push(v5 ? RC.topicFilterInvalid : 0x80);
        continue;
      }
      if (parsed.group !== undefined && req.nl) {
        if (v5) return this.protocolClose(RC.protocolError, 'No Local on a shared subscription');
        codes.push(0x80);
        continue;
      }
      const existing = s.subs.get(req.topic);
      if (!existing && cfg.maxSubscriptionsPerClient > 0 && s.subs.size >= cfg.maxSubscriptionsPerClient) {
        codes.push(v5 ? RC.quotaExceeded : 0x80);
        continue;
      }
      const rec: SubRecord = { filter: req.topic, qos: req.qos, nl: !!req.nl, rap: !!req.rap, rh: req.rh ?? 0, durable: existing?.durable ?? s.persistent };
      if (subId !== undefined) rec.subId = subId;
      try {
        await this.attach(rec, false, existing !== undefined);
        s.subs.set(req.topic, rec);
        changed = true;
        codes.push(req.qos);
      } catch (err) {
        const code = err instanceof BrokerError ? err.code : '';
        if (code !== 'unauthorized') this.adapter.logger.warn({ err, clientId: this.clientId, filter: req.topic }, 'mqtt: subscribe failed');
        codes.push(!v5 ? 0x80 : code === 'unauthorized' ? RC.notAuthorized : code === 'invalid' ? RC.topicFilterInvalid : RC.unspecified);
      }
      if (this.state !== 'connected') return;
    }
    if (changed && (s.persistent || s.stored)) await this.adapter.saveSession(s);
    if (this.state !== 'connected') return;
    this.write(generate({ cmd: 'suback', messageId: p.messageId, granted: codes }, this.version));
  }

  /** Attach (or update) the engine consumer of one subscription. */
  private async attach(rec: SubRecord, restoring: boolean, existed = false): Promise<void> {
    const parsed = parseFilter(rec.filter, this.adapter.cfg) as ParsedFilter;
    const old = this.subEntries.get(rec.filter);
    const entry: SubEntry = { sub: rec, parsed, consumer: null, wildFirst: startsWithWildcard(parsed.filter) };
    if (parsed.filter.startsWith('$SYS')) {
      this.subEntries.set(rec.filter, entry);
      this.adapter.sys.subscribe(this, rec, !restoring && rec.rh !== 2 && !(rec.rh === 1 && existed));
      return;
    }
    const pattern = filterToCore(parsed.filter);
    const sendRetained = !restoring && parsed.group === undefined && (rec.rh === 0 || (rec.rh === 1 && !existed));
    if (old?.consumer && !old.consumer.closed && old.sub.nl === rec.nl && (old.sub.qos === 0) === (rec.qos === 0) && old.sub.durable === rec.durable) {
      // same subscription again: replace its options without interrupting the flow, re-send retained
      old.sub = rec;
      if (sendRetained) for (const m of this.adapter.engine.retainedMessages(pattern)) this.sendDirect(rec, m, this.adapter.topicOf(m));
      return;
    }
    if (old?.consumer) old.consumer.close();
    this.subEntries.set(rec.filter, entry);
    const o: SubscribeOptions = {
      address: topicAddress(pattern),
      connection: this.conn,
      noLocal: rec.nl || undefined,
      retained: sendRetained,
      limits: this.adapter.subscriptionLimits,
      onMessage: (d) => this.onDelivery(entry, d),
      onClose: () => {
        entry.consumer = null;
      },
    };
    if (parsed.group !== undefined) {
      // every member, clean or persistent, consumes from the group's one durable queue: one copy per group
      // (MQTT 5 §4.8.2), kept while only offline persistent members are left; the adapter removes it with the last member
      o.shared = mqttShareGroup(parsed.group, parsed.filter);
      o.durable = { name: rec.filter, clientId: this.clientId };
    } else if (rec.durable) o.durable = { name: rec.filter, clientId: this.clientId };
    if (rec.qos === 0) {
      o.autoAck = true;
      o.credit = QOS0_WINDOW;
    } else o.prefetch = this.maxOut;
    const consumer = await this.adapter.engine.subscribe(o);
    if (this.state === 'closed' || this.subEntries.get(rec.filter) !== entry) {
      consumer.close();
      return;
    }
    entry.consumer = consumer;
  }

  private async handleUnsubscribe(p: mqttPacket.IUnsubscribePacket): Promise<void> {
    if (this.state !== 'connected') return;
    const s = this.session!;
    const codes: number[] = [];
    let changed = false;
    for (const f of p.unsubscriptions) {
      const rec = s.subs.get(f);
      const entry = this.subEntries.get(f);
      this.subEntries.delete(f);
      if (!rec) {
        codes.push(RC.noSubscriptionExisted);
        continue;
      }
      s.subs.delete(f);
      changed = true;
      if (entry?.parsed.filter.startsWith('$SYS')) this.adapter.sys.unsubscribe(this, f);
      entry?.consumer?.close();
      await this.adapter.dropDurable(s, rec);
      codes.push(0);
    }
    if (changed && (s.persistent || s.stored)) await this.adapter.saveSession(s);
    if (this.state !== 'connected') return;
    if (this.version === 5) this.write(generate({ cmd: 'unsuback', messageId: p.messageId, granted: codes }, 5));
    else this.write(generate({ cmd: 'unsuback', messageId: p.messageId, granted: [] }, this.version));
  }

  // ================================================================ DISCONNECT, close

  private handleDisconnect(p: mqttPacket.IDisconnectPacket): void {
    const s = this.session!;
    if (this.version === 5) {
      const se = p.properties?.sessionExpiryInterval;
      if (se !== undefined) {
        if (this.connectExpiry === 0 && se > 0) return this.protocolClose(RC.protocolError, 'Session Expiry Interval set on DISCONNECT after 0 on CONNECT');
        s.expiry = Math.min(se, this.adapter.cfg.maxSessionExpiry);
        if (s.persistent) this.adapter.saveSession(s).catch(() => undefined);
      }
    }
    const withWill = this.version === 5 && p.reasonCode === RC.disconnectWithWill;
    this.close({ normal: !withWill, reason: 'client sent DISCONNECT' });
  }

  /** The engine wants this connection gone (session takeover, admin). */
  private kill(reason: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      const rc = /taken over/.test(reason) ? RC.sessionTakenOver : RC.administrativeAction;
      this.write(generate({ cmd: 'disconnect', reasonCode: rc }, 5));
    }
    this.close({ normal: false, reason });
  }

  /** Protocol violation: v5 gets DISCONNECT with the reason first (once connected), then the connection closes. */
  protocolClose(rc: number, message: string): void {
    if (this.state === 'closed') return;
    this.adapter.logger.debug({ clientId: this.clientId, remote: this.peer.remoteAddress, reason: message, rc }, 'mqtt: closing connection');
    if (this.version === 5 && this.state === 'connected') this.write(generate({ cmd: 'disconnect', reasonCode: rc }, 5));
    this.close({ normal: false, reason: message });
  }

  /** Keep-alive expired (called by the adapter's sweep). */
  keepAliveExpired(): void {
    this.protocolClose(RC.keepAliveTimeout, 'keep-alive timeout');
  }

  /** Broker shutdown: v5 clients are told why; sessions and wills stay stored (wills fire at the next start). */
  shutdown(): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') this.write(generate({ cmd: 'disconnect', reasonCode: RC.serverShuttingDown }, 5));
    this.close({ normal: true, reason: 'broker shutting down', shutdown: true });
  }

  close(o: { normal: boolean; reason: string; noSession?: boolean; shutdown?: boolean }): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected' || this.state === 'connecting';
    this.state = 'closed';
    this.onClosed();
    this.adapter.sys.remove(this);
    if (this.conn) this.adapter.engine.disconnect(this.conn);
    for (const e of this.subEntries.values()) e.consumer = null;
    this.waiting = [];
    this.heldAcks = [];
    this.outHold = [];
    const s = this.session;
    if (s && s.owner === this && !o.shutdown) {
      s.owner = null;
      this.adapter.sessionDisconnected(s);
    } else if (s && s.owner === this) s.owner = null;
    if (this.will && wasConnected && !o.shutdown && !o.noSession) {
      if (o.normal) this.adapter.dropWill(this.clientId);
      else {
        const delay = s && s.persistent ? Math.min(this.will.properties?.willDelayInterval ?? 0, s.expiry) : 0;
        this.adapter.scheduleWill(this.clientId, this.will, delay);
      }
    }
    this.will = undefined;
    this.flushNow();
    if (!this.stream.destroyed) {
      this.stream.end();
      setTimeout(() => this.stream.destroy(), 2000).unref();
    }
  }

  // ================================================================ output

  write(buf: Buffer): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    this.adapter.stats.bytesOut += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.flushNow();
  };

  private flushNow(): void {
    const chunks = this.out;
    if (!chunks.length) return;
    this.out = [];
    this.outBytes = 0;
    const st = this.stream;
    if (st.destroyed || st.writableEnded) return;
    if (this.isWs) {
      // one MQTT packet per WebSocket message (see splitPackets); corked, the transport frames them in one TCP write
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      st.cork();
      for (const pkt of splitPackets(all)) st.write(pkt);
      st.uncork();
    }
    else {
      st.cork();
      for (const c of chunks) st.write(c);
      st.uncork();
    }
    if (!this.congested && st.writableLength > HIGH_WATER) {
      this.congested = true;
      st.once('drain', this.onDrain);
    }
  }

  private readonly onDrain = (): void => {
    this.congested = false;
    if (this.state !== 'connected') return;
    const held = this.heldAcks;
    this.heldAcks = [];
    for (const d of held) d.consumer.ack(d.id).catch(() => undefined);
    for (const e of this.subEntries.values()) {
      const c = e.consumer;
      if (c && c.autoAck && !c.closed && c.credit < QOS0_WINDOW / 2) c.addCredit(QOS0_WINDOW - c.credit);
    }
  };
}

function certSubject(peer: PeerInfo): string | undefined {
  const cn = peer.clientCertificate?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

function reasonFor(err: unknown): number {
  const code = err instanceof BrokerError ? err.code : '';
  switch (code) {
    case 'unauthorized':
      return RC.notAuthorized;
    case 'limit':
      return RC.quotaExceeded;
    case 'invalid':
      return RC.topicNameInvalid;
    case 'closed':
      return RC.serverUnavailable;
    default:
      return RC.unspecified;
  }
}
