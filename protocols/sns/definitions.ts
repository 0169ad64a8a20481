/**
 * SNS topics and subscriptions as definitions. Import goes through the service (CreateTopic's checks, and
 * `Subscriptions.restore` for subscriptions), so every imported subscription gets the core durable subscription
 * *and* the fan-out consumer that drains it — never a `durable:sns:<id>` queue that nothing consumes.
 * Confirmation tokens are not exported; ARNs are rewritten to this broker's region and account.
 */
import { rewriteArns } from '../aws/arns.js';
import { AwsError, snsError } from '../aws/errors.js';
import { Params } from '../aws/params.js';
import type { SnsContext, SnsResources, SubMeta, TopicMeta } from './resources.js';
import type { Subscriptions } from './subscriptions.js';
import type { Topics } from './topics.js';

export interface SnsTopicDefinition {
  name: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

export interface SnsSubscriptionDefinition {
  id: string;
  topic: string;
  protocol: string;
  endpoint: string;
  confirmed: boolean;
  attributes: Record<string, string>;
  authOnUnsubscribe?: boolean;
}

export interface SnsDefinitions {
  region: string;
  accountId: string;
  topics: SnsTopicDefinition[];
  subscriptions: SnsSubscriptionDefinition[];
}

export type SnsItemOutcome = { kind: 'topic' | 'subscription'; name: string; outcome: 'created' | 'existing' } | { kind: 'topic' | 'subscription'; name: string; outcome: 'failed'; reason: string };

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function exportSns(r: SnsResources): SnsDefinitions {
  const topics = r.engine
    .kvEntries<TopicMeta>('sns:topic:')
    .map(([, t]) => ({ name: t.name, attributes: { ...t.attributes }, tags: { ...t.tags } }))
    .sort(byName);
  const subscriptions = r.engine
    .kvEntries<SubMeta>('sns:sub:')
    .map(([, s]) => s)
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : a.id < b.id ? -1 : 1))
    .map((s) => ({
      id: s.id,
      topic: s.topic,
      protocol: s.protocol,
      endpoint: s.endpoint,
      confirmed: s.confirmed,
      attributes: { ...s.attributes },
      ...(s.authOnUnsubscribe ? { authOnUnsubscribe: true } : {}),
    }));
  return { region: r.region, accountId: r.accountId, topics, subscriptions };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strMap = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every((x) => typeof x === 'string');

/** The document's `sns` part, checked: a shape error names the item. */
export function parseSnsDefinitions(value: unknown): SnsDefinitions {
  if (!isObj(value)) throw new Error('sns: expected an object');
  const list = (key: string) => {
    const v = value[key] ?? [];
    if (!Array.isArray(v)) throw new Error(`sns.${key}: expected a list`);
    return v;
  };
  const str = (o: Record<string, unknown>, k: string, w: string) => {
    if (typeof o[k] !== 'string' || !o[k]) throw new Error(`${w}.${k}: expected a non-empty string`);
    return o[k] as string;
  };
  const map = (o: Record<string, unknown>, k: string, w: string) => {
    if (o[k] === undefined) return {};
    if (!strMap(o[k])) throw new Error(`${w}.${k}: expected a map of strings`);
    return o[k] as Record<string, string>;
  };
  const topics = list('topics').map((t, i) => {
    const w = `sns.topics[${i}]`;
    if (!isObj(t)) throw new Error(`${w}: expected an object`);
    return { name: str(t, 'name', w), attributes: map(t, 'attributes', w), tags: map(t, 'tags', w) };
  });
  const subscriptions = list('subscriptions').map((s, i) => {
    const w = `sns.subscriptions[${i}]`;
    if (!isObj(s)) throw new Error(`${w}: expected an object`);
    return {
      id: typeof s.id === 'string' ? s.id : '',
      topic: str(s, 'topic', w),
      protocol: str(s, 'protocol', w),
      endpoint: str(s, 'endpoint', w),
      confirmed: s.confirmed !== false,
      attributes: map(s, 'attributes', w),
      authOnUnsubscribe: s.authOnUnsubscribe === true,
    };
  });
  return { region: typeof value.region === 'string' ? value.region : '', accountId: typeof value.accountId === 'string' ? value.accountId : '', topics, subscriptions };
}

export async function importSns(r: SnsResources, topics: Topics, subs: Subscriptions, defs: SnsDefinitions): Promise<SnsItemOutcome[]> {
  const ctx: SnsContext = { baseUrl: r.opts.baseUrl(), principal: r.accountId, verified: true };
  const to = { region: r.region, accountId: r.accountId };
  const rewrite = (m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, rewriteArns(v, defs, to)]));
  const out: SnsItemOutcome[] = [];
  for (const t of defs.topics) {
    if (r.topicMeta(t.name)) {
      out.push({ kind: 'topic', name: t.name, outcome: 'existing' });
      continue;
    }
    try {
      const p = new Params({ Name: t.name, Attributes: rewrite(t.attributes), Tags: Object.entries(t.tags).map(([Key, Value]) => ({ Key, Value })) }, false, (_c, m) => snsError('InvalidParameter', m));
      await topics.createTopic(p, ctx);
      out.push({ kind: 'topic', name: t.name, outcome: 'created' });
    } catch (err) {
      out.push({ kind: 'topic', name: t.name, outcome: 'failed', reason: reasonOf(err) });
    }
  }
  for (const s of defs.subscriptions) {
    const name = `${s.topic} → ${s.protocol}:${s.endpoint}`;
    try {
      const created = await subs.restore({ ...s, endpoint: rewriteArns(s.endpoint, defs, to), attributes: rewrite(s.attributes) });
      out.push({ kind: 'subscription', name, outcome: created ? 'created' : 'existing' });
    } catch (err) {
      out.push({ kind: 'subscription', name, outcome: 'failed', reason: reasonOf(err) });
    }
  }
  return out;
}

function reasonOf(err: unknown): string {
  return err instanceof AwsError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}
