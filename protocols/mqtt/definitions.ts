/**
 * MQTT persistent sessions as definitions: a session (client id, expiry interval, subscriptions with their MQTT
 * options) is what makes its engine durable subscriptions (`durable:<clientId>:<filter>`, `shared:mqtt:…`) mean
 * something. Exported and imported together, so an imported subscription expires with its session and is removed
 * by a clean start, as one the client made — never a durable queue no session owns.
 */
import { durableSubscriptionId, sharedSubscriptionId, topic as topicAddress } from '../../src/core/api.js';
import type { MqttHost } from './host.js';
import { NEVER, SessionState, type SubRecord } from './session.js';
import { filterToCore, MQTT_SHARE_PREFIX, mqttShareGroup, parseFilter, type ParsedFilter } from './topics.js';

export interface MqttSessionDefinition {
  clientId: string;
  /** Session expiry interval, seconds (4294967295 = never). */
  expiry: number;
  subscriptions: SubRecord[];
}

/** What this needs of the adapter (host.ts, so the adapter can use it without an import cycle). */
export type SessionHost = Pick<MqttHost, 'engine' | 'cfg' | 'sessions' | 'subscriptionLimits' | 'saveSession'> & { scheduleExpiry(s: SessionState): void };

export type SessionOutcome = { name: string; outcome: 'created' | 'existing' } | { name: string; outcome: 'failed'; reason: string };

export function exportSessions(a: SessionHost): MqttSessionDefinition[] {
  return [...a.sessions.values()]
    .filter((s) => s.persistent)
    .map((s) => ({ clientId: s.clientId, expiry: s.expiry, subscriptions: [...s.subs.values()].map((r) => ({ ...r })) }))
    .sort((x, y) => (x.clientId < y.clientId ? -1 : x.clientId > y.clientId ? 1 : 0));
}

/** Whether an engine subscription id is the queue of an MQTT session's subscription (or of an MQTT share group). */
export function ownsSubscription(a: SessionHost, id: string): boolean {
  if (id.startsWith(sharedSubscriptionId(MQTT_SHARE_PREFIX))) return true;
  const prefix = durableSubscriptionId('', '');
  if (!id.startsWith(prefix.slice(0, -1))) return false;
  // durable:<clientId>:<filter>, either of which may hold ':'
  for (let i = id.indexOf(':', prefix.length - 1); i >= 0; i = id.indexOf(':', i + 1)) {
    const s = a.sessions.get(id.slice(prefix.length - 1, i));
    if (s?.persistent && s.subs.get(id.slice(i + 1))?.durable) return true;
  }
  return false;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The document's `mqtt` part, checked: a shape error names the item. */
export function parseSessions(value: unknown): MqttSessionDefinition[] {
  if (!isObj(value)) throw new Error('mqtt: expected an object');
  const list = value.sessions ?? [];
  if (!Array.isArray(list)) throw new Error('mqtt.sessions: expected a list');
  return list.map((x, i) => {
    const w = `mqtt.sessions[${i}]`;
    if (!isObj(x) || typeof x.clientId !== 'string' || !x.clientId) throw new Error(`${w}.clientId: expected a non-empty string`);
    if (!Number.isInteger(x.expiry) || (x.expiry as number) < 1 || (x.expiry as number) > NEVER) throw new Error(`${w}.expiry: expected seconds, 1–${NEVER}`);
    const subs = x.subscriptions ?? [];
    if (!Array.isArray(subs)) throw new Error(`${w}.subscriptions: expected a list`);
    const subscriptions = subs.map((r, j) => {
      const ws = `${w}.subscriptions[${j}]`;
      if (!isObj(r) || typeof r.filter !== 'string' || !r.filter) throw new Error(`${ws}.filter: expected a non-empty string`);
      if (r.qos !== 0 && r.qos !== 1 && r.qos !== 2) throw new Error(`${ws}.qos: expected 0, 1 or 2`);
      const rh = r.rh ?? 0;
      if (rh !== 0 && rh !== 1 && rh !== 2) throw new Error(`${ws}.rh: expected 0, 1 or 2`);
      if (r.subId !== undefined && (!Number.isInteger(r.subId) || (r.subId as number) < 1)) throw new Error(`${ws}.subId: expected a positive integer`);
      return { filter: r.filter, qos: r.qos, nl: r.nl === true, rap: r.rap === true, rh, ...(r.subId !== undefined ? { subId: r.subId as number } : {}), durable: r.durable !== false } satisfies SubRecord;
    });
    return { clientId: x.clientId, expiry: x.expiry as number, subscriptions };
  });
}

/**
 * Recreate the sessions that do not exist: their durable subscriptions first (as a SUBSCRIBE of a persistent
 * session makes them), then the stored session, whose expiry starts now (its client is not connected).
 */
export async function importSessions(a: SessionHost, defs: MqttSessionDefinition[]): Promise<SessionOutcome[]> {
  const out: SessionOutcome[] = [];
  for (const d of defs) {
    if (a.sessions.has(d.clientId)) {
      out.push({ name: d.clientId, outcome: 'existing' });
      continue;
    }
    const bad = d.subscriptions.map((r) => ({ r, p: parseFilter(r.filter, a.cfg) })).find((x) => 'error' in x.p);
    if (bad) {
      out.push({ name: d.clientId, outcome: 'failed', reason: `filter ${JSON.stringify(bad.r.filter)}: ${(bad.p as { error: string }).error}` });
      continue;
    }
    try {
      const s = new SessionState(d.clientId, d.expiry);
      for (const rec of d.subscriptions) {
        s.subs.set(rec.filter, rec);
        const parsed = parseFilter(rec.filter, a.cfg) as ParsedFilter;
        if (parsed.filter.startsWith('$SYS') || (!rec.durable && parsed.group === undefined)) continue;
        const c = await a.engine.subscribe({
          address: topicAddress(filterToCore(parsed.filter)),
          durable: { name: rec.filter, clientId: d.clientId },
          shared: parsed.group !== undefined ? mqttShareGroup(parsed.group, parsed.filter) : undefined,
          noLocal: rec.nl || undefined,
          limits: a.subscriptionLimits,
          credit: 0,
          onMessage: () => undefined,
        });
        c.close();
      }
      a.sessions.set(d.clientId, s);
      await a.saveSession(s);
      a.scheduleExpiry(s);
      out.push({ name: d.clientId, outcome: 'created' });
    } catch (err) {
      out.push({ name: d.clientId, outcome: 'failed', reason: (err as Error).message });
    }
  }
  return out;
}
