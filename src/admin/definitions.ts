/**
 * Definitions export/import: destinations, durable subscriptions, policies, admin users and runtime ACL rules as one
 * JSON document (RabbitMQ's "definitions"). Messages are not part of it.
 */
import { type AclRule, durableSubscriptionId, type EngineApi, parseAddress, type PolicyRule, sharedSubscriptionId } from '../core/api.js';
import { addAclRule, listAcl, parseAclRule } from './acl.js';
import type { AdminAuth, AdminRole } from './auth.js';
import { badRequest } from './http-util.js';

export interface Definitions {
  wharf: 'definitions';
  version: 1;
  exportedAt: string;
  brokerVersion: string;
  queues: Array<{ name: string; dlq?: boolean }>;
  topics: Array<{ name: string }>;
  subscriptions: Array<{ type: 'durable' | 'shared'; name: string; clientId?: string; topic: string; selector?: string; noLocal?: boolean }>;
  /** From the configuration file (`destinations`); read-only at runtime. */
  policies: PolicyRule[];
  /** Users created at runtime (configuration-file users stay in the file). */
  users: Array<{ username: string; role: AdminRole; passwordHash: string }>;
  /** Runtime ACL rules (`wharf acl add`; security.acl stays in the file). */
  acl: AclRule[];
}

export interface ImportResult {
  created: { queues: number; topics: number; subscriptions: number; users: number; acl: number };
  existing: { queues: number; topics: number; subscriptions: number; users: number; acl: number };
  skipped: Array<{ what: string; reason: string }>;
}

export function exportDefinitions(engine: EngineApi, auth: AdminAuth, policies: PolicyRule[], brokerVersion: string): Definitions {
  const queues: Definitions['queues'] = [];
  const topics: Definitions['topics'] = [];
  for (const d of engine.listDestinations()) {
    if (d.temporary) continue;
    if (d.kind === 'queue') {
      queues.push(d.deadLetterQueue ? { name: d.name, dlq: true } : { name: d.name });
    } else topics.push({ name: d.name });
  }
  const subscriptions: Definitions['subscriptions'] = [];
  for (const s of engine.listSubscriptions()) {
    const sub = s.subscription;
    if (!sub) continue;
    if (s.role === 'durable-subscription' && sub.clientId && sub.subscriptionName) {
      subscriptions.push(clean({ type: 'durable' as const, name: sub.subscriptionName, clientId: sub.clientId, topic: sub.topicPattern, selector: sub.selector, noLocal: sub.noLocal }));
    } else if (s.role === 'shared-subscription' && s.persistent && sub.subscriptionName) {
      subscriptions.push(clean({ type: 'shared' as const, name: sub.subscriptionName, topic: sub.topicPattern, selector: sub.selector }));
    }
  }
  queues.sort((a, b) => a.name.localeCompare(b.name));
  topics.sort((a, b) => a.name.localeCompare(b.name));
  return {
    wharf: 'definitions',
    version: 1,
    exportedAt: new Date().toISOString(),
    brokerVersion,
    queues,
    topics,
    subscriptions,
    policies,
    users: auth.exportUsers(),
    acl: listAcl(engine, []).runtime.map(({ id: _id, created: _c, by: _by, ...rule }) => rule),
  };
}

function clean<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function list(doc: Record<string, unknown>, key: string): Record<string, unknown>[] {
  const v = doc[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw badRequest(`${key}: expected a list`);
  v.forEach((x, i) => {
    if (!isObj(x)) throw badRequest(`${key}[${i}]: expected an object`);
  });
  return v as Record<string, unknown>[];
}

function str(o: Record<string, unknown>, key: string, where: string, required = true): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw badRequest(`${where}.${key}: expected a non-empty string`);
  return v;
}

/** Validate the whole document first, then apply it; an invalid document changes nothing. */
export async function importDefinitions(engine: EngineApi, auth: AdminAuth, doc: Record<string, unknown>): Promise<ImportResult> {
  if (doc.wharf !== 'definitions') throw badRequest('not a Wharf definitions document (expected "wharf": "definitions")');
  if (doc.version !== 1) throw badRequest(`version: expected 1, got ${JSON.stringify(doc.version)}`);
  const queues = list(doc, 'queues').map((q, i) => ({ name: str(q, 'name', `queues[${i}]`)!, dlq: q.dlq === true }));
  const topics = list(doc, 'topics').map((t, i) => ({ name: str(t, 'name', `topics[${i}]`)! }));
  const subs = list(doc, 'subscriptions').map((s, i) => {
    const w = `subscriptions[${i}]`;
    const type = s.type;
    if (type !== 'durable' && type !== 'shared') throw badRequest(`${w}.type: expected durable or shared`);
    return {
      type,
      name: str(s, 'name', w)!,
      clientId: type === 'durable' ? str(s, 'clientId', w) : undefined,
      topic: str(s, 'topic', w)!,
      selector: str(s, 'selector', w, false),
      noLocal: s.noLocal === true,
    };
  });
  const users = list(doc, 'users').map((u, i) => {
    const w = `users[${i}]`;
    const role = u.role ?? 'admin';
    if (role !== 'admin' && role !== 'viewer') throw badRequest(`${w}.role: expected admin or viewer`);
    // an export without ?hashes=true carries users without their hash: they are reported, not created
    return { username: str(u, 'username', w)!, role: role as AdminRole, passwordHash: str(u, 'passwordHash', w, false) };
  });
  const acl = list(doc, 'acl').map((r, i) => {
    try {
      return parseAclRule(r);
    } catch (err) {
      throw badRequest(`acl[${i}]: ${(err as Error).message}`);
    }
  });
  for (const [i, q] of queues.entries()) {
    if (q.name.includes(',') || parseAddress(q.name).name !== q.name) throw badRequest(`queues[${i}].name: invalid queue name '${q.name}'`);
  }

  const result: ImportResult = { created: { queues: 0, topics: 0, subscriptions: 0, users: 0, acl: 0 }, existing: { queues: 0, topics: 0, subscriptions: 0, users: 0, acl: 0 }, skipped: [] };
  for (const q of queues) {
    if (engine.queueInfo(q.name)) {
      result.existing.queues++;
      continue;
    }
    await engine.createQueue(q.name, q.dlq ? { dlq: true } : {});
    result.created.queues++;
  }
  const knownTopics = new Set(engine.listDestinations().filter((d) => d.kind === 'topic').map((d) => d.name));
  for (const t of topics) {
    if (knownTopics.has(t.name)) {
      result.existing.topics++;
      continue;
    }
    // Topics exist by use: a subscription that comes and goes registers the name.
    const c = await engine.subscribe({ address: { kind: 'topic', name: t.name }, credit: 0, onMessage: () => undefined });
    c.close();
    result.created.topics++;
  }
  for (const s of subs) {
    const id = s.type === 'durable' ? durableSubscriptionId(s.clientId!, s.name) : sharedSubscriptionId(s.name);
    if (engine.subscriptionInfo(id)) {
      result.existing.subscriptions++;
      continue;
    }
    const c = await engine.subscribe({
      address: { kind: 'topic', name: s.topic },
      credit: 0,
      durable: { name: s.name, clientId: s.clientId },
      shared: s.type === 'shared' ? s.name : undefined,
      selector: s.selector,
      noLocal: s.noLocal || undefined,
      onMessage: () => undefined,
    });
    c.close();
    result.created.subscriptions++;
  }
  if (Array.isArray(doc.policies) && doc.policies.length) result.skipped.push({ what: 'policies', reason: 'destination policies come from the configuration file (destinations:)' });
  const existingUsers = new Set(auth.users().filter((u) => u.source !== 'default').map((u) => u.username));
  for (const u of users) {
    if (existingUsers.has(u.username)) {
      result.existing.users++;
      continue;
    }
    if (!u.passwordHash) {
      result.skipped.push({ what: `users.${u.username}`, reason: 'no passwordHash in the document (export with ?hashes=true / wharf export --hashes as an admin)' });
      continue;
    }
    await auth.putUser(u.username, u.role, undefined, u.passwordHash);
    result.created.users++;
  }
  // a rule equal to one in force (same match, kind and grants) is not added twice
  const key = (r: AclRule) => JSON.stringify([r.match, r.kind ?? '', ...(['read', 'write', 'admin'] as const).map((p) => [...(r[p] ?? [])].sort())]);
  const known = new Set(listAcl(engine, []).runtime.map(key));
  for (const r of acl) {
    if (known.has(key(r))) {
      result.existing.acl++;
      continue;
    }
    await addAclRule(engine, r as unknown as Record<string, unknown>, undefined);
    known.add(key(r));
    result.created.acl++;
  }
  return result;
}
