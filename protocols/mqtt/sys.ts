/**
 * `$SYS/broker/...` statistics, read-only. Served by the adapter itself, not through engine topics, so a `#`
 * subscription never sees them (MQTT 4.7.2) and no client can publish into them. Values are sent (QoS 0,
 * RETAIN set) when a client subscribes and then every `mqtt.sysInterval` seconds.
 */
import { createMessage } from '../../src/core/api.js';
import type { DirectReceiver, MqttHost, SysFeed } from './host.js';
import type { SubRecord } from './session.js';
import { mqttMatch } from './topics.js';

export class SysTopics implements SysFeed {
  private readonly subs = new Map<DirectReceiver, Map<string, SubRecord>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly host: MqttHost) {
    const every = host.cfg.sysInterval;
    if (every > 0) {
      this.timer = setInterval(() => this.publishAll(), every * 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  values(): Array<[string, string]> {
    const a = this.host;
    const o = a.engine.overview();
    let subscriptions = 0;
    for (const s of a.sessions.values()) subscriptions += s.subs.size;
    const uptime = Math.floor((Date.now() - a.startedAt) / 1000);
    return [
      ['$SYS/broker/version', 'wharf 0.1.0'],
      ['$SYS/broker/uptime', `${uptime} seconds`],
      ['$SYS/broker/clients/connected', String(a.connectionCount)],
      ['$SYS/broker/clients/total', String(a.sessions.size)],
      ['$SYS/broker/clients/all-protocols', String(o.connections)],
      ['$SYS/broker/messages/received', String(a.stats.messagesIn)],
      ['$SYS/broker/messages/sent', String(a.stats.messagesOut)],
      ['$SYS/broker/bytes/received', String(a.stats.bytesIn)],
      ['$SYS/broker/bytes/sent', String(a.stats.bytesOut)],
      ['$SYS/broker/subscriptions/count', String(subscriptions)],
      ['$SYS/broker/retained messages/count', String(a.engine.retainedMessages('>').length)],
      ['$SYS/broker/store/messages/count', String(o.depth)],
      ['$SYS/broker/store/bytes', String(o.storeBytes)],
    ];
  }

  subscribe(c: DirectReceiver, rec: SubRecord, sendNow: boolean): void {
    let m = this.subs.get(c);
    if (!m) this.subs.set(c, (m = new Map()));
    m.set(rec.filter, rec);
    if (sendNow) this.send(c, rec, this.values());
  }

  unsubscribe(c: DirectReceiver, filter: string): void {
    this.subs.get(c)?.delete(filter);
  }

  remove(c: DirectReceiver): void {
    this.subs.delete(c);
  }

  private send(c: DirectReceiver, rec: SubRecord, values: Array<[string, string]>): void {
    const filter = rec.filter.startsWith('$share/') ? rec.filter.slice(rec.filter.indexOf('/', 7) + 1) : rec.filter;
    for (const [t, v] of values) {
      if (!mqttMatch(filter, t)) continue;
      c.sendDirect({ ...rec, qos: 0 }, createMessage({ body: Buffer.from(v), durable: false, bodyType: 'text' }), t);
    }
  }

  private publishAll(): void {
    if (this.subs.size === 0) return;
    const values = this.values();
    for (const [c, m] of this.subs) for (const rec of m.values()) this.send(c, rec, values);
  }
}
