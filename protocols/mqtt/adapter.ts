/**
 * The MQTT adapter: one per broker, serving the TCP, TLS and WebSocket listeners. It owns what outlives a
 * connection — sessions (persisted in the engine's kv, see session.ts), will timers, session expiry, `$SYS`
 * statistics — and the keep-alive / connect-timeout sweep.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BrokerError, type ConnectionHandle, durableSubscriptionId, type EngineApi, type Message, sharedSubscriptionId, type SubscriptionLimits, topic as topicAddress } from '../../src/core/api.js';
import type { AdapterContext, PeerInfo, StreamAdapter } from '../../src/transport/types.js';
import { MqttConnection } from './connection.js';
import { exportSessions, importSessions, type MqttSessionDefinition, ownsSubscription, parseSessions, type SessionOutcome } from './definitions.js';
import type { MqttHost } from './host.js';
import { deliveryTopic, publishToMessage } from './mapping.js';
import { kvKeys, NEVER, SessionState, type StoredSession, type SubRecord, type WillRecord } from './session.js';
import { MQTT_DEFAULTS, type MqttConfig, type MqttOptions } from './options.js';
import { SysTopics } from './sys.js';
import { MQTT_SHARE_PREFIX, mqttShareGroup, parseFilter, topicToCore, type ParsedFilter } from './topics.js';

export type { MqttConfig, MqttOptions } from './options.js';
export { MQTT_DEFAULTS } from './options.js';

/** setTimeout for delays beyond 24.8 days (chained). */
function longTimeout(ms: number, fn: () => void): { t: NodeJS.Timeout } {
  const h = { t: undefined as unknown as NodeJS.Timeout };
  const MAX = 2 ** 31 - 1;
  const arm = (left: number) => {
    h.t = setTimeout(() => (left > MAX ? arm(left - MAX) : fn()), Math.min(left, MAX));
    h.t.unref();
  };
  arm(ms);
  return h;
}

export class MqttAdapter implements StreamAdapter, MqttHost {
  readonly engine: EngineApi;
  readonly logger: Logger;
  readonly cfg: MqttConfig;
  readonly maxPacketSize: number;
  readonly sessions = new Map<string, SessionState>();
  readonly sys: SysTopics;
  readonly stats = { connects: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, publishesDenied: 0 };
  readonly startedAt = Date.now();
  private readonly conns = new Set<MqttConnection>();
  private readonly wills = new Map<string, { t: NodeJS.Timeout }>();
  private readonly expiryTimers = new Map<SessionState, { t: NodeJS.Timeout }>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly idleTimeout: number;
  private nowCache = Date.now();
  private readonly topicCache = new Map<string, string>();
  private readonly topicBufCache = new Map<string, Buffer>();
  private readonly coreTopicCache = new Map<string, string>();
  private closed = false;

  constructor(ctx: AdapterContext) {
    this.engine = ctx.engine;
    this.logger = ctx.logger;
    this.cfg = { ...MQTT_DEFAULTS, ...((ctx.options as Partial<MqttOptions> | undefined) ?? {}) };
    this.maxPacketSize = this.cfg.maxPacketSize > 0 ? this.cfg.maxPacketSize : ctx.limits.maxFrameSize;
    this.idleTimeout = ctx.limits.idleTimeout;
    this.sys = new SysTopics(this);
    this.recover();
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
  }

  handle(stream: Duplex, peer: PeerInfo): void {
    if (this.closed) {
      stream.destroy();
      return;
    }
    const c: MqttConnection = new MqttConnection(this, stream, peer, () => this.conns.delete(c));
    this.conns.add(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.sys.stop();
    for (const c of [...this.conns]) c.shutdown();
    for (const w of this.wills.values()) clearTimeout(w.t);
    for (const t of this.expiryTimers.values()) clearTimeout(t.t);
  }

  now(): number {
    return this.nowCache = Date.now();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  newClientId(): string {
    return `wharf-${randomBytes(9).toString('base64url')}`;
  }

  /** Serialize CONNECT handling per client id (two connects racing for one session). */
  async withClientLock(cid: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.locks.get(cid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(cid, tail);
    try {
      await run;
    } finally {
      if (this.locks.get(cid) === tail) this.locks.delete(cid);
    }
  }

  /** MQTT topic of a delivered message (cached per core destination). */
  topicOf(m: Message): string {
    const d = m.destination ?? '';
    let t = this.topicCache.get(d);
    if (t === undefined) {
      t = deliveryTopic(m);
      if (this.topicCache.size > 10_000) this.topicCache.clear();
      this.topicCache.set(d, t);
    }
    return t;
  }

  /** Core name of an MQTT topic name (cached). */
  coreTopic(t: string): string {
    let c = this.coreTopicCache.get(t);
    if (c === undefined) {
      c = topicToCore(t);
      if (this.coreTopicCache.size > 10_000) this.coreTopicCache.clear();
      this.coreTopicCache.set(t, c);
    }
    return c;
  }

  topicBytes(t: string): Buffer {
    let b = this.topicBufCache.get(t);
    if (!b) {
      b = Buffer.from(t, 'utf8');
      if (this.topicBufCache.size > 10_000) this.topicBufCache.clear();
      this.topicBufCache.set(t, b);
    }
    return b;
  }

  /** The bound of a subscription queue (maxQueuedMessages, drop-oldest) where no destination policy sets a limit. */
  get subscriptionLimits(): SubscriptionLimits | undefined {
    const max = this.cfg.maxQueuedMessages;
    return max > 0 ? { maxMessages: max, limitPolicy: 'drop-oldest' } : undefined;
  }

  // ================================================================ definitions (wired in src/app/definitions-sections.ts)

  /** Persistent sessions with their subscriptions, for the definitions document. */
  exportDefinitions(): MqttSessionDefinition[] {
    return exportSessions(this);
  }

  /** The `mqtt` part of a definitions document, checked (throws an Error naming the bad item). */
  parseDefinitions(value: unknown): MqttSessionDefinition[] {
    return parseSessions(value);
  }

  importDefinitions(defs: MqttSessionDefinition[]): Promise<SessionOutcome[]> {
    return importSessions(this, defs);
  }

  /** Whether an engine subscription is the queue of a session's subscription (the session recreates it). */
  ownsSubscription(id: string): boolean {
    return ownsSubscription(this, id);
  }

  // ================================================================ sessions

  saveSession(s: SessionState): Promise<void> {
    s.stored = true;
    return this.engine.kvPut(kvKeys.session(s.clientId), s.toStored());
  }

  /** The session's connection went away. */
  sessionDisconnected(s: SessionState): void {
    if (!s.persistent) {
      void this.endSession(s);
      return;
    }
    this.scheduleExpiry(s);
  }

  scheduleExpiry(s: SessionState): void {
    this.clearExpiry(s);
    if (s.expiry >= NEVER) return;
    this.expiryTimers.set(
      s,
      longTimeout(s.expiry * 1000, () => {
        this.expiryTimers.delete(s);
        if (s.owner || this.sessions.get(s.clientId) !== s) return;
        this.logger.debug({ clientId: s.clientId }, 'mqtt: session expired');
        // a will still waiting for its delay is sent when the session ends
        const pending = this.wills.get(s.clientId);
        if (pending) {
          clearTimeout(pending.t);
          this.wills.delete(s.clientId);
          const w = this.engine.kvGet<WillRecord>(kvKeys.will(s.clientId));
          if (w) this.publishWill(s.clientId, w);
        }
        void this.endSession(s);
      }),
    );
  }

  clearExpiry(s: SessionState): void {
    const t = this.expiryTimers.get(s);
    if (t) {
      clearTimeout(t.t);
      this.expiryTimers.delete(s);
    }
  }

  /** Remove a session and everything it holds in the engine. Bookkeeping is synchronous; store writes follow. */
  async endSession(s: SessionState): Promise<void> {
    this.clearExpiry(s);
    if (this.sessions.get(s.clientId) === s) this.sessions.delete(s.clientId);
    const ops: Promise<unknown>[] = [];
    // shared subscriptions of clean members too: they hold the group's durable queue like persistent members
    for (const rec of s.subs.values()) ops.push(this.dropDurable(s, rec));
    if (s.stored) {
      s.stored = false;
      ops.push(this.engine.kvDelete(kvKeys.session(s.clientId)));
    }
    for (const [k] of this.engine.kvEntries(kvKeys.in2Prefix(s.clientId))) ops.push(this.engine.kvDelete(k));
    for (const [k] of this.engine.kvEntries(kvKeys.pubrelPrefix(s.clientId))) ops.push(this.engine.kvDelete(k));
    for (const [k] of this.engine.kvEntries(kvKeys.out2Prefix(s.clientId))) ops.push(this.engine.kvDelete(k));
    s.subs.clear();
    s.in2.clear();
    s.pubrel.clear();
    s.out2.clear();
    s.pidByMsg.clear();
    const results = await Promise.allSettled(ops);
    for (const r of results) if (r.status === 'rejected') this.logger.warn({ err: r.reason, clientId: s.clientId }, 'mqtt: error while removing a session');
  }

  /**
   * A session no longer holds a subscription: remove the engine subscription behind it when nothing else needs it
   * (its durable subscription; for a shared one, the group's queue once no member is left).
   */
  async dropDurable(s: SessionState, rec: SubRecord): Promise<void> {
    const parsed = parseFilter(rec.filter, this.cfg) as ParsedFilter;
    if (parsed.group !== undefined) {
      const name = sharedSubscriptionId(mqttShareGroup(parsed.group, parsed.filter));
      this.dropOut2(s, name);
      // the group's one queue lives while any session holds the subscription: a connected clean member or a
      // (possibly offline) persistent one
      for (const other of this.sessions.values()) if (other !== s && other.subs.has(rec.filter)) return;
      // a member whose SUBSCRIBE is still being handled is in its session only once attached, but already consumes
      if (this.engine.consumersOf({ kind: 'subscription', name }).some((c) => !c.closed)) return;
      await this.engine.deleteSubscription(name);
      return;
    }
    if (!rec.durable) return;
    this.dropOut2(s, durableSubscriptionId(s.clientId, rec.filter));
    try {
      await this.engine.unsubscribeDurable(s.clientId, rec.filter);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message, clientId: s.clientId, filter: rec.filter }, 'mqtt: durable subscription not removed');
    }
  }

  /** Forget stored outbound QoS 2 packet ids of messages from a queue the session no longer consumes from. */
  private dropOut2(s: SessionState, queue: string): void {
    for (const [pid, o] of s.out2) {
      if (o.queue !== queue) continue;
      s.out2.delete(pid);
      s.pidByMsg.delete(o.key);
      this.engine.kvDelete(kvKeys.out2(s.clientId, pid)).catch(() => undefined);
    }
  }

  // ================================================================ wills

  /**
   * A will is a publish on behalf of its client: without `write` on its topic it is dropped, not sent (mosquitto 2.0
   * accepts such a CONNECT and checks the ACL when it would send the will). Checked at CONNECT and again when the
   * connection is lost, so rights revoked meanwhile count.
   */
  willAllowed(w: WillRecord, conn: ConnectionHandle): boolean {
    try {
      this.engine.authorize(conn.principal, 'send', topicAddress(topicToCore(w.topic)), conn);
      return true;
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'unauthorized') return false;
      throw err;
    }
  }

  scheduleWill(cid: string, w: WillRecord, delaySec: number): void {
    this.cancelWill(cid);
    if (delaySec <= 0) {
      this.publishWill(cid, w);
      return;
    }
    this.wills.set(
      cid,
      longTimeout(delaySec * 1000, () => {
        this.wills.delete(cid);
        this.publishWill(cid, w);
      }),
    );
  }

  /** A new connection for the client id: a will still waiting for its delay is not sent. */
  cancelWill(cid: string): void {
    const t = this.wills.get(cid);
    if (t) {
      clearTimeout(t.t);
      this.wills.delete(cid);
    }
  }

  dropWill(cid: string): void {
    this.cancelWill(cid);
    if (this.engine.kvGet(kvKeys.will(cid)) !== undefined) this.engine.kvDelete(kvKeys.will(cid)).catch(() => undefined);
  }

  publishWill(cid: string, w: WillRecord): void {
    if (this.closed) return;
    const m = publishToMessage({ qos: w.qos, retain: w.retain, payload: Buffer.from(w.payload), properties: w.properties }, this.now());
    this.stats.messagesIn++;
    this.engine
      .send(m, topicAddress(topicToCore(w.topic)), { retain: w.retain, kv: [{ key: kvKeys.will(cid) }] })
      .then(() => this.logger.debug({ clientId: cid, topic: w.topic }, 'mqtt: will published'))
      .catch((err) => this.logger.warn({ err, clientId: cid, topic: w.topic }, 'mqtt: could not publish a will'));
  }

  // ================================================================ recovery, sweep

  private recover(): void {
    for (const [k, v] of this.engine.kvEntries<StoredSession>('mqtt:session:')) {
      const cid = k.slice('mqtt:session:'.length);
      const s = new SessionState(cid, v.expiry);
      s.stored = true;
      for (const rec of v.subs ?? []) s.subs.set(rec.filter, rec);
      this.sessions.set(cid, s);
    }
    for (const [k] of this.engine.kvEntries('mqtt:in2:')) {
      const [cid, pid] = splitKey(k, 'mqtt:in2:');
      this.sessions.get(cid)?.in2.add(pid);
    }
    for (const [k] of this.engine.kvEntries('mqtt:pubrel:')) {
      const [cid, pid] = splitKey(k, 'mqtt:pubrel:');
      this.sessions.get(cid)?.pubrel.add(pid);
    }
    // outbound QoS 2 PUBLISHes in flight when the broker stopped: their redelivery reuses the packet id
    for (const [k, v] of this.engine.kvEntries<{ q: string; m: string }>('mqtt:out2:')) {
      const [cid, pid] = splitKey(k, 'mqtt:out2:');
      const s = this.sessions.get(cid);
      if (!s || !v || typeof v.q !== 'string') continue;
      const key = `${v.q}|${v.m}`;
      s.out2.set(pid, { key, queue: v.q });
      s.pidByMsg.set(key, pid);
    }
    const durableNames = new Set<string>();
    for (const s of [...this.sessions.values()]) {
      if (!s.persistent) {
        void this.endSession(s);
        continue;
      }
      for (const rec of s.subs.values()) {
        if (!rec.durable) continue;
        const parsed = parseFilter(rec.filter, this.cfg) as ParsedFilter;
        durableNames.add(parsed.group !== undefined ? sharedSubscriptionId(mqttShareGroup(parsed.group, parsed.filter)) : durableSubscriptionId(s.clientId, rec.filter));
      }
      this.scheduleExpiry(s);
    }
    // shared durable subscriptions of MQTT sessions that no longer exist
    for (const d of this.engine.listSubscriptions()) {
      if (d.name.startsWith(sharedSubscriptionId(MQTT_SHARE_PREFIX)) && !durableNames.has(d.name)) {
        this.engine.deleteSubscription(d.name).catch((err) => this.logger.warn({ err }, 'mqtt: could not remove an orphaned shared subscription'));
      }
    }
    // wills of connections that were open when the broker stopped
    for (const [k, w] of this.engine.kvEntries<WillRecord>('mqtt:will:')) {
      const cid = k.slice('mqtt:will:'.length);
      const s = this.sessions.get(cid);
      const delay = s && s.persistent ? Math.min(w.properties?.willDelayInterval ?? 0, s.expiry) : 0;
      this.scheduleWill(cid, w, delay);
    }
    if (this.sessions.size) this.logger.info({ sessions: this.sessions.size }, 'mqtt: persistent sessions recovered');
  }

  private sweep(): void {
    const now = this.now();
    for (const c of this.conns) {
      if (c.state === 'new' || c.state === 'connecting') {
        if (now - c.createdAt > this.cfg.connectTimeout) c.protocolClose(0x87, 'no CONNECT in time');
        continue;
      }
      if (c.state !== 'connected') continue;
      if (c.keepAliveMs > 0 && now - c.lastRx > c.keepAliveMs * 1.5) c.keepAliveExpired();
      else if (this.idleTimeout > 0 && now - c.lastRx > this.idleTimeout) c.protocolClose(0x8d, 'idle timeout');
    }
  }

  connections(): Iterable<MqttConnection> {
    return this.conns;
  }
}

function splitKey(k: string, prefix: string): [string, number] {
  const rest = k.slice(prefix.length);
  const i = rest.lastIndexOf(':');
  return [rest.slice(0, i), Number(rest.slice(i + 1))];
}
