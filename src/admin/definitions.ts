/**
 * Definitions export/import (RabbitMQ's "definitions"): everything a user created, as one JSON document —
 * queues (DLQ flag, paused), topics, durable and shared subscriptions (paused), runtime policy overrides, console
 * users, runtime broker users and runtime ACL rules, and the sections other modules register (SQS queues with attributes and tags,
 * SNS topics and subscriptions; see definitions-port.ts). Messages are not part of it.
 *
 * Import creates what is missing and keeps what exists (nothing is deleted or changed). Everything a module owns is
 * recreated by that module, never as a bare engine object: an SNS subscription's `durable:sns:<id>` queue is left
 * out of `subscriptions` and comes back with the SNS section, with the consumer that drains it.
 */
import { type AclRule, durableSubscriptionId, type DestinationPolicy, type EngineApi, parseAddress, type PolicyRule, sharedSubscriptionId, type UserRecord } from '../core/api.js';
import type { AdminAuth, AdminRole } from './auth.js';
import type { DefinitionsRegistry, SectionReport } from './definitions-port.js';
import { ApiError, badRequest } from './http-util.js';
import { ADMIN_HASH_PATTERN } from './options.js';
import { parsePolicyOverride, parsePolicyTarget } from './policies.js';
import { addAclRule, listAcl, parseAclRule } from './acl.js';

export interface Definitions {
  wharf: 'definitions';
  version: 1;
  exportedAt: string;
  brokerVersion: string;
  queues: Array<{ name: string; dlq?: boolean; paused?: boolean }>;
  topics: Array<{ name: string }>;
  subscriptions: Array<{ type: 'durable' | 'shared'; name: string; clientId?: string; topic: string; selector?: string; noLocal?: boolean; paused?: boolean }>;
  /** From the configuration file (`destinations`): shown for reference, not imported. */
  policies: PolicyRule[];
  /** Runtime policy overrides (`PUT /api/policies/{kind}/{name}`), durable. */
  policyOverrides: Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }>;
  /** Console users created at runtime (configuration-file users stay in the file); hashes only on request. */
  users: Array<{ username: string; role: AdminRole; passwordHash?: string }>;
  /** Messaging users created at runtime (`wharf users add`); hashes and access-key secrets only on request. */
  brokerUsers: Array<{ username: string; groups: string[]; roles: string[]; accessKeys: Array<{ accessKeyId: string; secretAccessKey?: string }>; passwordHash?: string }>;
  /** Runtime ACL rules (`wharf acl add`; security.acl stays in the file). */
  acl: AclRule[];
  /** Paused queues and subscriptions that a section recreates (SQS queues, SNS and MQTT subscriptions): paused again after it did. */
  paused: Array<{ kind: 'queue' | 'subscription'; name: string }>;
  /** Registered sections: `sqs`, `sns` (when the SQS/SNS listener runs). */
  [section: string]: unknown;
}

export interface ImportResult {
  created: Record<string, number>;
  existing: Record<string, number>;
  skipped: Array<{ what: string; reason: string }>;
}

export interface ExportOptions {
  /** Include password hashes and access-key secrets (an admin who asked). */
  secrets: boolean;
}

export function exportDefinitions(engine: EngineApi, auth: AdminAuth, policies: PolicyRule[], brokerVersion: string, registry: DefinitionsRegistry | undefined, opts: ExportOptions): Definitions {
  const owned = (kind: 'queue' | 'subscription' | 'policy', name: string) => registry?.owns(kind, name) !== undefined;
  const queues: Definitions['queues'] = [];
  const topics: Definitions['topics'] = [];
  const paused: Definitions['paused'] = [];
  for (const d of engine.listDestinations()) {
    if (d.temporary) continue;
    if (d.kind === 'queue') {
      if (owned('queue', d.name)) {
        if (d.paused) paused.push({ kind: 'queue', name: d.name });
        continue;
      }
      queues.push(clean({ name: d.name, dlq: d.deadLetterQueue || undefined, paused: d.paused || undefined }));
    } else topics.push({ name: d.name });
  }
  const subscriptions: Definitions['subscriptions'] = [];
  for (const s of engine.listSubscriptions()) {
    const sub = s.subscription;
    if (!sub) continue;
    if (owned('subscription', s.name)) {
      if (s.paused) paused.push({ kind: 'subscription', name: s.name });
      continue;
    }
    const isPaused = s.paused || undefined;
    if (s.role === 'durable-subscription' && sub.clientId && sub.subscriptionName) {
      subscriptions.push(clean({ type: 'durable' as const, name: sub.subscriptionName, clientId: sub.clientId, topic: sub.topicPattern, selector: sub.selector, noLocal: sub.noLocal || undefined, paused: isPaused }));
    } else if (s.role === 'shared-subscription' && s.persistent && sub.subscriptionName) {
      subscriptions.push(clean({ type: 'shared' as const, name: sub.subscriptionName, topic: sub.topicPattern, selector: sub.selector, paused: isPaused }));
    }
  }
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  queues.sort(byName);
  topics.sort(byName);
  subscriptions.sort((a, b) => (a.clientId ?? '').localeCompare(b.clientId ?? '') || byName(a, b));
  const policyOverrides = engine
    .policyOverrides()
    .filter((p) => !(p.kind === 'queue' && owned('policy', p.name)))
    .map((p) => ({ kind: p.kind, name: p.name, override: { ...p.override } }))
    .sort((a, b) => a.kind.localeCompare(b.kind) || byName(a, b));
  const users = auth.exportUsers().map((u) => (opts.secrets ? u : { username: u.username, role: u.role }));
  const brokerUsers = auth.exportBrokerUsers().map((u) => brokerUserOut(u, opts.secrets));
  const doc: Definitions = {
    wharf: 'definitions',
    version: 1,
    exportedAt: new Date().toISOString(),
    brokerVersion,
    queues,
    topics,
    subscriptions,
    policies,
    policyOverrides,
    users,
    brokerUsers,
    acl: listAcl(engine, []).runtime.map(({ id: _id, created: _c, by: _by, ...rule }) => rule),
    paused: paused.sort((a, b) => a.kind.localeCompare(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
  for (const s of registry?.sections ?? []) doc[s.key] = s.export();
  return doc;
}

function brokerUserOut(u: UserRecord, secrets: boolean): Definitions['brokerUsers'][number] {
  const accessKeys = (u.accessKeys ?? []).map((k) => (secrets ? { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey } : { accessKeyId: k.accessKeyId }));
  const base = { username: u.username, groups: u.groups ?? [], roles: u.roles ?? [], accessKeys };
  return secrets ? { ...base, passwordHash: u.passwordHash } : base;
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

/** A user's passwordHash, if the document carries it: it must be one Wharf can check (scrypt$N$r$p$salt$hash). */
function hashOf(u: Record<string, unknown>, where: string): string | undefined {
  const h = str(u, 'passwordHash', where, false);
  if (h !== undefined && !ADMIN_HASH_PATTERN.test(h)) throw badRequest(`${where}.passwordHash: expected scrypt$N$r$p$salt$hash (wharf hash-password)`);
  return h;
}

function strList(o: Record<string, unknown>, key: string, where: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x)) throw badRequest(`${where}.${key}: expected a list of names`);
  return v as string[];
}

const ENGINE_KEYS = new Set(['wharf', 'version', 'exportedAt', 'brokerVersion', 'queues', 'topics', 'subscriptions', 'policies', 'policyOverrides', 'users', 'brokerUsers', 'acl', 'paused']);

/** Counters every import answers with, zero or not (sections add theirs: sqsQueues, snsTopics, snsSubscriptions). */
const BASE_KINDS = ['queues', 'topics', 'subscriptions', 'policyOverrides', 'users', 'brokerUsers', 'acl'];

/** Collects an import's counters and skipped items. */
export class ImportReport implements SectionReport {
  readonly result: ImportResult;

  constructor(sectionKinds: readonly string[] = []) {
    const kinds = [...BASE_KINDS, ...sectionKinds];
    this.result = { created: Object.fromEntries(kinds.map((k) => [k, 0])), existing: Object.fromEntries(kinds.map((k) => [k, 0])), skipped: [] };
  }

  created(kind: string): void {
    this.result.created[kind] = (this.result.created[kind] ?? 0) + 1;
    this.result.existing[kind] ??= 0;
  }

  existing(kind: string): void {
    this.result.existing[kind] = (this.result.existing[kind] ?? 0) + 1;
    this.result.created[kind] ??= 0;
  }

  skipped(what: string, reason: string): void {
    this.result.skipped.push({ what, reason });
  }
}

/** Validate the whole document first, then apply it; an invalid document changes nothing. */
export async function importDefinitions(engine: EngineApi, auth: AdminAuth, doc: Record<string, unknown>, registry?: DefinitionsRegistry): Promise<ImportResult> {
  if (doc.wharf !== 'definitions') throw badRequest('not a Wharf definitions document (expected "wharf": "definitions")');
  if (doc.version !== 1) throw badRequest(`version: expected 1, got ${JSON.stringify(doc.version)}`);
  const queues = list(doc, 'queues').map((q, i) => ({ name: str(q, 'name', `queues[${i}]`)!, dlq: q.dlq === true, paused: q.paused === true }));
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
      paused: s.paused === true,
    };
  });
  const overrides = list(doc, 'policyOverrides').map((p, i) => {
    const w = `policyOverrides[${i}]`;
    let t: ReturnType<typeof parsePolicyTarget>;
    try {
      t = parsePolicyTarget(String(p.kind ?? ''), str(p, 'name', w)!);
    } catch (err) {
      throw badRequest(`${w}.${(err as Error).message}`);
    }
    return { ...t, override: parsePolicyOverride(p.override, `${w}.override`) };
  });
  const users = list(doc, 'users').map((u, i) => {
    const w = `users[${i}]`;
    const role = u.role ?? 'admin';
    if (role !== 'admin' && role !== 'viewer') throw badRequest(`${w}.role: expected admin or viewer`);
    // an export without ?hashes=true carries users without their hash: they are reported, not created
    return { username: str(u, 'username', w)!, role: role as AdminRole, passwordHash: hashOf(u, w) };
  });
  const brokerUsers = list(doc, 'brokerUsers').map((u, i) => {
    const w = `brokerUsers[${i}]`;
    const keys = u.accessKeys === undefined ? [] : u.accessKeys;
    if (!Array.isArray(keys) || !keys.every((k) => isObj(k) && typeof k.accessKeyId === 'string' && k.accessKeyId)) throw badRequest(`${w}.accessKeys: expected a list of { accessKeyId, secretAccessKey }`);
    return {
      username: str(u, 'username', w)!,
      passwordHash: hashOf(u, w),
      groups: strList(u, 'groups', w),
      roles: strList(u, 'roles', w),
      accessKeys: (keys as Array<Record<string, unknown>>).map((k) => ({ accessKeyId: String(k.accessKeyId), secretAccessKey: typeof k.secretAccessKey === 'string' ? k.secretAccessKey : undefined })),
    };
  });
  const pausedOwned = list(doc, 'paused').map((p, i) => {
    const kind = p.kind;
    if (kind !== 'queue' && kind !== 'subscription') throw badRequest(`paused[${i}].kind: expected queue or subscription`);
    return { kind: kind as 'queue' | 'subscription', name: str(p, 'name', `paused[${i}]`)! };
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
  // the sections check their own parts before anything is applied
  const sections: Array<{ key: string; apply: () => Promise<void> }> = [];
  const report = new ImportReport(registry?.sections.flatMap((s) => s.kinds) ?? []);
  const importStarted = Date.now();
  for (const s of registry?.sections ?? []) {
    if (doc[s.key] === undefined) continue;
    let parsed: unknown;
    try {
      parsed = s.parse(doc[s.key]);
    } catch (err) {
      throw badRequest((err as Error).message);
    }
    sections.push({ key: s.key, apply: () => s.import(parsed, report) });
  }
  for (const key of Object.keys(doc)) {
    if (!ENGINE_KEYS.has(key) && !sections.some((s) => s.key === key)) {
      report.skipped(key, key === 'sqs' || key === 'sns' ? 'the SQS/SNS listener is not running on this broker (listeners.sqs)' : 'not a part of the definitions this broker knows');
    }
  }

  await inBatches(uniqueBy(overrides, (p) => `${p.kind}:${p.name}`), async (p) => {
    const cur = engine.policyOverride(p.kind, p.name);
    if (cur) {
      report.existing('policyOverrides');
      if (JSON.stringify(cur) !== JSON.stringify(p.override)) report.skipped(`policyOverrides.${p.kind}:${p.name}`, 'this broker already has a different override for it (kept)');
      return;
    }
    await engine.setPolicyOverride(p.kind, p.name, p.override);
    report.created('policyOverrides');
  });
  await inBatches(uniqueBy(queues, (q) => q.name), async (q) => {
    if (engine.queueInfo(q.name)) {
      report.existing('queues');
      return;
    }
    await engine.createQueue(q.name, q.dlq ? { dlq: true } : {});
    if (q.paused) await engine.setPaused({ kind: 'queue', name: q.name }, true);
    report.created('queues');
  });
  const knownTopics = new Set(engine.listDestinations().filter((d) => d.kind === 'topic').map((d) => d.name));
  for (const t of topics) {
    if (knownTopics.has(t.name)) {
      report.existing('topics');
      continue;
    }
    // Topics exist by use: a subscription that comes and goes registers the name.
    const c = await engine.subscribe({ address: { kind: 'topic', name: t.name }, credit: 0, onMessage: () => undefined });
    c.close();
    report.created('topics');
  }
  for (const s of subs) {
    const id = s.type === 'durable' ? durableSubscriptionId(s.clientId!, s.name) : sharedSubscriptionId(s.name);
    // a subscription a module keeps for itself (an SNS subscription's queue) comes back with that module's
    // section; made here it would collect every message with nothing to consume it
    const owner = registry?.owns('subscription', id);
    if (owner || (s.type === 'durable' && s.clientId === 'sns')) {
      report.skipped(`subscriptions.${id}`, owner ? `kept by the ${owner.key} service: recreated from its own section` : 'the queue of an SNS subscription: recreated from the sns section (with the consumer that drains it), never on its own');
      continue;
    }
    if (engine.subscriptionInfo(id)) {
      report.existing('subscriptions');
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
    if (s.paused) await engine.setPaused({ kind: 'subscription', name: id }, true);
    report.created('subscriptions');
  }
  for (const s of sections) await s.apply();
  // what the sections recreated, paused as it was (only when it was just created: an existing one is kept as it is)
  for (const p of pausedOwned) {
    const info = p.kind === 'queue' ? engine.queueInfo(p.name) : engine.subscriptionInfo(p.name);
    if (!info) report.skipped(`paused.${p.kind}:${p.name}`, `the ${p.kind} was not recreated`);
    else if (!info.paused && info.createdAt >= importStarted) await engine.setPaused({ kind: p.kind, name: p.name }, true);
  }
  if (Array.isArray(doc.policies) && doc.policies.length) report.skipped('policies', 'configured rules come from the configuration file (destinations:); runtime overrides are imported from policyOverrides');

  const existingUsers = new Set(auth.users().filter((u) => u.source !== 'default').map((u) => u.username));
  for (const u of users) {
    if (existingUsers.has(u.username)) {
      report.existing('users');
      continue;
    }
    if (!u.passwordHash) {
      report.skipped(`users.${u.username}`, 'no passwordHash in the document (export with ?hashes=true / wharf export --hashes as an admin)');
      continue;
    }
    await auth.putUser(u.username, u.role, undefined, u.passwordHash);
    report.created('users');
  }
  const existingBrokerUsers = new Set(auth.brokerUsers().map((u) => u.username));
  for (const u of brokerUsers) {
    if (existingBrokerUsers.has(u.username)) {
      report.existing('brokerUsers');
      continue;
    }
    if (!u.passwordHash) {
      report.skipped(`brokerUsers.${u.username}`, 'no passwordHash in the document (export with ?hashes=true / wharf export --hashes as an admin)');
      continue;
    }
    const keys = u.accessKeys.filter((k) => k.secretAccessKey);
    for (const k of u.accessKeys) if (!k.secretAccessKey) report.skipped(`brokerUsers.${u.username}.accessKeys.${k.accessKeyId}`, 'no secretAccessKey in the document: the key was left out');
    try {
      await auth.putBrokerUser(u.username, { passwordHash: u.passwordHash, groups: u.groups, roles: u.roles, accessKeys: keys });
      report.created('brokerUsers');
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      report.skipped(`brokerUsers.${u.username}`, err.message);
    }
  }
  // a rule equal to one in force (same match, kind and grants) is not added twice
  const aclKey = (r: AclRule) => JSON.stringify([r.match, r.kind ?? '', ...(['read', 'write', 'admin'] as const).map((p) => [...(r[p] ?? [])].sort())]);
  const knownAcl = new Set(listAcl(engine, []).runtime.map(aclKey));
  for (const r of acl) {
    if (knownAcl.has(aclKey(r))) {
      report.existing('acl');
      continue;
    }
    await addAclRule(engine, r as unknown as Record<string, unknown>, undefined);
    knownAcl.add(aclKey(r));
    report.created('acl');
  }
  return report.result;
}

/** The first item of each key (a document naming a queue twice creates it once). */
function uniqueBy<T>(items: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => !seen.has(key(t)) && (seen.add(key(t)), true));
}

/**
 * Run `fn` over the items, up to 256 at a time: the engine commits what one event-loop turn asks for with one
 * fsync (group commit), so 10,000 queues are not 10,000 fsyncs one after another.
 */
async function inBatches<T>(items: T[], fn: (t: T) => Promise<void>, size = 256): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}
