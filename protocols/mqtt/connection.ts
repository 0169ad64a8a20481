/**
 * One MQTT network connection (3.1, 3.1.1 or 5.0): its state, the input (framing, parsing, a fast path for the hot
 * packets), the dispatch of each packet to its handler in handlers/, closing, and coalesced output (everything
 * written in one event-loop turn leaves in one write). Inbound PUBLISH flows are in handlers/publish.ts and
 * handlers/acks.ts, outbound delivery in outbound.ts; see adapter.ts for what outlives a connection.
 * Spec clause ids in comments (`[MQTT-3.1.2-4]`) are MQTT 5.0's; an id numbered after 3.1.1 says so.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import * as mqttPacket from 'mqtt-packet';
import type { ConnectionHandle, KillCause, Message } from '../../src/core/api.js';
import type { PeerInfo } from '../../src/transport/types.js';
import { generate, keepUserPropertyOrder, keepWillUserPropertyOrder, publishDuplicateProperty, RC, RC3, type Version } from './codec.js';
import type { CloseOptions, ConnectionContext, ConnectionState, InboundState, OutboundState, SubEntry } from './context.js';
import { FrameError, Framer, splitPackets } from './framer.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './handlers/acks.js';
import { handleAuth } from './handlers/auth.js';
import { handleConnect, refuse } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handlePingreq } from './handlers/ping.js';
import { createInboundState, handlePublish } from './handlers/publish.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import type { MqttHost } from './host.js';
import { createOutboundState, releaseHeld, resetOutbound, sendDirect } from './outbound.js';
import type { SessionState, SubRecord, WillRecord } from './session.js';

/** Unsent output above which QoS 0 flow is held back until the socket drains. */
const HIGH_WATER = 1 << 20;

export class MqttConnection implements ConnectionContext {
  state: ConnectionState = 'new';
  version: Version = 4;
  clientId = '';
  engineConnection: ConnectionHandle | null = null;
  session: SessionState | null = null;
  readonly createdAt = Date.now();
  lastRx = Date.now();
  keepAliveMs = 0;
  connectExpiry = 0;
  will: WillRecord | undefined;
  queued: mqttPacket.Packet[] = [];
  deferredClose: [number, string] | null = null;
  congested = false;
  readonly subEntries = new Map<string, SubEntry>();
  readonly inbound: InboundState;
  readonly outbound: OutboundState = createOutboundState();

  private readonly framer: Framer;
  private readonly parser: mqttPacket.Parser;
  private parsed: mqttPacket.Packet | null = null;
  private parseError: Error | null = null;
  private parsedBytes = 0;
  private readonly isWs: boolean;
  private subChain: Promise<void> = Promise.resolve();
  /** Subscription changes queued or running in `subChain`; input waits behind them (`heldFrames`). */
  private chainPending = 0;
  private readonly heldFrames: Array<[number, Buffer, number]> = [];

  // output
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;

  constructor(
    readonly host: MqttHost,
    readonly stream: Duplex,
    readonly peer: PeerInfo,
    /** Tells the adapter the connection is gone. */
    private readonly onClosed: () => void,
  ) {
    this.inbound = createInboundState(this);
    this.isWs = peer.transport === 'ws' || peer.transport === 'wss';
    this.framer = new Framer(host.maxPacketSize);
    this.parser = mqttPacket.parser();
    this.parser.on('packet', (p) => {
      this.parsed = p;
      // mqtt-packet stops reading once its fields are read: what it left of the packet is trailing garbage
      this.parsedBytes = (this.parser as unknown as { _pos: number })._pos;
    });
    this.parser.on('error', (e: Error) => (this.parseError = e));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.host.logger.debug({ err: err.message, remote: peer.remoteAddress }, 'mqtt: stream error'));
    stream.on('end', () => this.close({ normal: false, reason: 'connection closed by the client' }));
    stream.on('close', () => this.close({ normal: false, reason: 'connection closed' }));
  }

  currentState(): ConnectionState {
    return this.state;
  }

  // ================================================================ input

  private onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.deferredClose) return;
    this.lastRx = this.host.now();
    try {
      this.framer.push(chunk, this.onFrame);
    } catch (err) {
      if (err instanceof FrameError) {
        this.malformed(err.kind === 'too-large' ? RC.packetTooLarge : RC.malformed, err.message);
      } else {
        this.host.logger.warn({ err }, 'mqtt: error handling input');
        this.protocolClose(RC.implementationSpecific, 'internal error');
      }
    }
  }

  private readonly onFrame = (first: number, pkt: Buffer, hl: number): boolean => {
    if (this.state === 'closed' || this.deferredClose) return false;
    if (this.chainPending > 0) {
      // a SUBSCRIBE/UNSUBSCRIBE (or a session's restore) is still being applied: what follows waits for it, so
      // packets take effect in arrival order — a PUBLISH pipelined behind a SUBSCRIBE reaches that subscription
      this.heldFrames.push([first, Buffer.from(pkt), hl]);
      this.stream.pause();
      return true;
    }
    return this.handleFrame(first, pkt, hl);
  };

  /** Packets held behind a subscription change, in order, once it is applied. */
  private releaseHeld(): void {
    while (this.heldFrames.length && this.chainPending === 0 && this.state !== 'closed') {
      const [first, pkt, hl] = this.heldFrames.shift()!;
      if (!this.handleFrame(first, pkt, hl)) break;
    }
    if (this.heldFrames.length === 0 && this.chainPending === 0 && this.state !== 'closed' && !this.inbound.paused) this.stream.resume();
  }

  private handleFrame(first: number, pkt: Buffer, hl: number): boolean {
    this.host.stats.bytesIn += pkt.length;
    if (this.state === 'connected' && this.fastPath(first, pkt, hl)) return this.currentState() !== 'closed';
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
      if (this.state === 'new' && first >> 4 === 1 && unsupportedLevel(pkt, hl)) {
        // [MQTT-3.1.2-2]: a CONNECT of a protocol level we do not speak gets CONNACK 0x01 (the 3.1.1 form, the
        // one every version's client reads) before the close, as mosquitto and ActiveMQ answer it
        refuse(this, RC.unsupportedProtocolVersion, RC3.unacceptableProtocolVersion);
        return false;
      }
      this.malformed(RC.malformed, `malformed packet: ${e?.message ?? 'incomplete'}`);
      return false;
    }
    if (p.cmd !== 'publish' && this.parsedBytes !== pkt.length - hl) {
      // a malformed packet (MQTT 5 §1.2, §4.13; 3.1.1 §4.8): its Remaining Length announced more than its fields hold
      this.malformed(RC.malformed, `malformed ${p.cmd.toUpperCase()}: ${pkt.length - hl - this.parsedBytes} bytes after its last field`);
      return false;
    }
    const violation = wireViolation(p, pkt);
    if (violation) {
      this.malformed(violation[0], violation[1]);
      return false;
    }
    if (p.cmd === 'publish' && this.version === 5) {
      const dup = publishDuplicateProperty(pkt, hl);
      if (dup !== undefined) {
        // as mosquitto: the connection ends (v5: with the reason, [MQTT-4.13.1-1])
        this.malformed(RC.protocolError, `PUBLISH carries property 0x${dup.toString(16).padStart(2, '0')} more than once`);
        return false;
      }
      keepUserPropertyOrder(p, pkt, hl);
    }
    else if (p.cmd === 'connect' && p.protocolVersion === 5) keepWillUserPropertyOrder(p, pkt, hl);
    if (this.state === 'connecting') {
      this.queued.push(p);
      return true;
    }
    this.dispatch(p);
    return this.currentState() !== 'closed';
  }

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
        if (!isUtf8(pkt.subarray(off, off + tlen))) {
          this.protocolClose(RC.malformed, 'PUBLISH topic name is not well-formed UTF-8');
          return true;
        }
        const topic = pkt.toString('utf8', off, off + tlen);
        off += tlen;
        let messageId: number | undefined;
        if (qos > 0) {
          if (off + 2 > pkt.length) return false;
          messageId = pkt.readUInt16BE(off);
          off += 2;
          if (messageId === 0) {
            this.protocolClose(RC.protocolError, 'PUBLISH at QoS > 0 with Packet Identifier 0');
            return true;
          }
        }
        if (this.version === 5) {
          if (off >= pkt.length || pkt[off] !== 0) return false;
          off += 1;
        }
        handlePublish(this, { cmd: 'publish', topic, payload: pkt.subarray(off), qos: qos as 0 | 1 | 2, dup: (first & 8) !== 0, retain: (first & 1) !== 0, messageId, length: rl });
        return true;
      }
      case 4:
      case 5:
      case 6:
      case 7: {
        if (rl !== 2 || (first & 0x0f) !== (type === 6 ? 2 : 0)) return false;
        const pid = pkt.readUInt16BE(hl);
        if (type === 4) handlePuback(this, pid);
        else if (type === 5) handlePubrec(this, pid, 0);
        else if (type === 6) handlePubrel(this, pid);
        else handlePubcomp(this, pid);
        return true;
      }
      case 12:
        if (first !== 0xc0 || rl !== 0) return false;
        handlePingreq(this);
        return true;
      default:
        return false;
    }
  }

  dispatch(p: mqttPacket.Packet): void {
    if (this.state === 'new') {
      // [MQTT-3.1.0-1]: the first packet is CONNECT
      if (p.cmd !== 'connect') return this.protocolClose(RC.protocolError, `first packet must be CONNECT, got ${p.cmd}`);
      handleConnect(this, p).catch((err) => {
        this.host.logger.warn({ err }, 'mqtt: CONNECT failed');
        refuse(this, RC.unspecified, RC3.serverUnavailable);
      });
      return;
    }
    switch (p.cmd) {
      case 'publish':
        return handlePublish(this, p);
      case 'puback':
        return handlePuback(this, p.messageId ?? 0);
      case 'pubrec':
        return handlePubrec(this, p.messageId ?? 0, p.reasonCode ?? 0);
      case 'pubrel':
        return handlePubrel(this, p.messageId ?? 0);
      case 'pubcomp':
        return handlePubcomp(this, p.messageId ?? 0);
      case 'subscribe':
        return handleSubscribe(this, p);
      case 'unsubscribe':
        return handleUnsubscribe(this, p);
      case 'pingreq':
        return handlePingreq(this);
      case 'disconnect':
        return handleDisconnect(this, p);
      case 'auth':
        return handleAuth(this);
      case 'connect':
        // [MQTT-3.1.0-2]: a second CONNECT is a protocol error
        return this.protocolClose(RC.protocolError, 'second CONNECT on a connection');
      default:
        return this.protocolClose(RC.protocolError, `unexpected ${p.cmd} from a client`);
    }
  }

  chain(fn: () => Promise<void>): void {
    this.chainPending++;
    this.subChain = this.subChain
      .then(fn)
      .catch((err) => {
        this.host.logger.warn({ err, clientId: this.clientId }, 'mqtt: subscription handling failed');
        this.protocolClose(RC.implementationSpecific, 'internal error');
      })
      .finally(() => {
        this.chainPending--;
        if (this.chainPending === 0) this.releaseHeld();
      });
  }

  /** A retained or $SYS message written directly (not through an engine queue). */
  sendDirect(sub: SubRecord, m: Message, topic: string): void {
    sendDirect(this, sub, m, topic);
  }

  // ================================================================ close

  kill(reason: string, cause?: KillCause): void {
    if (this.state === 'closed') return;
    // a revoked right says which
    this.sendDisconnect(cause === 'unauthorized' ? RC.notAuthorized : /taken over/.test(reason) ? RC.sessionTakenOver : RC.administrativeAction, reason);
    this.close({ normal: false, reason });
  }

  /** A malformed packet: closes now, or — pipelined behind a CONNECT still being handled — right after its CONNACK. */
  private malformed(rc: number, message: string): void {
    if (this.state === 'connecting') {
      this.deferredClose ??= [rc, message];
      return;
    }
    this.protocolClose(rc, message);
  }

  /** Protocol violation: v5 gets DISCONNECT with the reason first (once connected), then the connection closes. */
  protocolClose(rc: number, message: string): void {
    if (this.state === 'closed') return;
    this.host.logger.debug({ clientId: this.clientId, remote: this.peer.remoteAddress, reason: message, rc }, 'mqtt: closing connection');
    this.sendDisconnect(rc, message);
    this.close({ normal: false, reason: message });
  }

  /** Keep-alive expired (called by the adapter's sweep: nothing received for 1.5 × Keep Alive, [MQTT-3.1.2-22]). */
  keepAliveExpired(): void {
    this.protocolClose(RC.keepAliveTimeout, 'keep-alive timeout');
  }

  /** Broker shutdown: v5 clients are told why; sessions and wills stay stored (wills fire at the next start). */
  shutdown(): void {
    if (this.state === 'closed') return;
    const reason = 'broker shutting down';
    this.sendDisconnect(RC.serverShuttingDown, reason);
    this.close({ normal: true, reason, shutdown: true });
  }

  /**
   * v5, once connected: a DISCONNECT with `rc` and `reason` as its Reason String (MQTT 5 §3.14.2.2.3 — paho-mqtt 1.6
   * also hands a server DISCONNECT's reason code to on_disconnect only when the packet has properties, and reports a
   * lost connection otherwise). The Reason String is left out where it would exceed the client's Maximum Packet Size
   * ([MQTT-3.14.2-3]).
   */
  private sendDisconnect(rc: number, reason: string): void {
    if (this.version !== 5 || this.state !== 'connected') return;
    const props = Buffer.byteLength(reason) + 16 <= this.outbound.clientMaxPacket ? { properties: { reasonString: reason } } : {};
    this.write(generate({ cmd: 'disconnect', reasonCode: rc, ...props }, 5));
  }

  close(o: CloseOptions): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected' || this.state === 'connecting';
    this.state = 'closed';
    this.onClosed();
    this.host.sys.remove(this);
    if (this.engineConnection) this.host.engine.disconnect(this.engineConnection);
    resetOutbound(this);
    const s = this.session;
    if (s && s.owner === this && !o.shutdown) {
      s.owner = null;
      this.host.sessionDisconnected(s);
    } else if (s && s.owner === this) s.owner = null;
    if (this.will && wasConnected && !o.shutdown && !o.noSession) {
      // [MQTT-3.1.2-8]: the will is published once the connection is gone and its delay has passed or the
      // session ends; a normal DISCONNECT deleted it ([MQTT-3.14.4-3])
      if (o.normal) this.host.dropWill(this.clientId);
      else if (this.engineConnection && !this.host.willAllowed(this.will, this.engineConnection)) this.host.dropWill(this.clientId);
      else {
        const delay = s && s.persistent ? Math.min(this.will.properties?.willDelayInterval ?? 0, s.expiry) : 0;
        this.host.scheduleWill(this.clientId, this.will, delay);
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
    this.host.stats.bytesOut += buf.length;
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
    releaseHeld(this);
  };
}

/** A CONNECT naming MQTT (or 3.1's MQIsdp) at a protocol level other than 3, 4 or 5, which mqtt-packet refuses to parse. */
function unsupportedLevel(pkt: Buffer, hl: number): boolean {
  if (pkt.length < hl + 2) return false;
  const nameLen = pkt.readUInt16BE(hl);
  const levelAt = hl + 2 + nameLen;
  if (levelAt >= pkt.length) return false;
  const name = pkt.toString('latin1', hl + 2, levelAt);
  const level = pkt[levelAt];
  return (name === 'MQTT' || name === 'MQIsdp') && level !== 3 && level !== 4 && level !== 5;
}

const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/**
 * What mqtt-packet lets through but MQTT calls a Malformed Packet or a Protocol Error: a UTF-8 string field that is
 * not well-formed UTF-8 (incl. encoded surrogates) [MQTT-1.5.3-1] — mqtt-packet decodes it lossily into U+FFFD, so
 * a U+FFFD in a field of a packet whose bytes hold no encoded U+FFFD came from bad bytes — and a Packet Identifier
 * of 0 on SUBSCRIBE, UNSUBSCRIBE or a QoS > 0 PUBLISH [MQTT-2.3.1-1], and a Will QoS of 3. mosquitto closes the
 * connection for all of them.
 */
function wireViolation(p: mqttPacket.Packet, pkt: Buffer): [number, string] | null {
  const pidZero = (p.cmd === 'subscribe' || p.cmd === 'unsubscribe' || (p.cmd === 'publish' && p.qos > 0)) && p.messageId === 0;
  if (pidZero) return [RC.protocolError, `${p.cmd.toUpperCase()} with Packet Identifier 0`];
  // [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14]): a Will QoS of 3 is malformed; mqtt-packet lets it through
  if (p.cmd === 'connect' && p.will && (p.will.qos ?? 0) > 2) return [RC.malformed, 'CONNECT with Will QoS 3'];
  const strings: unknown[] = [];
  const props = (p as { properties?: Record<string, unknown> }).properties;
  switch (p.cmd) {
    case 'publish':
      strings.push(p.topic);
      break;
    case 'subscribe':
      for (const s of p.subscriptions) strings.push(s.topic);
      break;
    case 'unsubscribe':
      strings.push(...p.unsubscriptions);
      break;
    case 'connect':
      strings.push(p.clientId, p.username, p.will?.topic);
      collectPropertyStrings(p.will?.properties as Record<string, unknown> | undefined, strings);
      break;
  }
  collectPropertyStrings(props, strings);
  if (!strings.some((s) => typeof s === 'string' && s.includes('\uFFFD'))) return null;
  if (pkt.includes(REPLACEMENT)) return null; // a genuine U+FFFD may be among them: give the benefit of the doubt
  return [RC.malformed, `${p.cmd.toUpperCase()} has a string field that is not well-formed UTF-8`];
}

function collectPropertyStrings(props: Record<string, unknown> | undefined, out: unknown[]): void {
  if (!props) return;
  for (const k of ['contentType', 'responseTopic', 'reasonString', 'authenticationMethod']) out.push(props[k]);
  const up = props.userProperties as Record<string, string | string[]> | undefined;
  if (up) for (const [k, v] of Object.entries(up)) out.push(k, ...(Array.isArray(v) ? v : [v]));
}
