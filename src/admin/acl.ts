/**
 * Runtime ACL rules (`/api/security/acl`, `wharf acl`, the console's ACL view): one kv entry per rule under
 * `security:acl:<id>`, stored durably through the engine like runtime users. The engine notices the change (a
 * `security:` key) and applies it at once: new operations see the new rules, and consumers that may no longer read
 * their destination are closed with their protocol's error. Rules from the configuration file are listed, not changed.
 */
import { randomBytes } from 'node:crypto';
import { ACL_KV_PREFIX, type AclRule, type EngineApi, type StoredAclRule } from '../core/api.js';
import { badRequest } from './http-util.js';

const PERMISSIONS = ['read', 'write', 'admin'] as const;
const NAME = /^[^\s,]{1,128}$/;

export function listAcl(engine: EngineApi, configured: AclRule[]): { config: AclRule[]; runtime: StoredAclRule[] } {
  const runtime = engine.kvEntries<StoredAclRule>(ACL_KV_PREFIX).map(([, r]) => r).sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  return { config: configured, runtime };
}

/** A rule from a request body: `{ match, kind?, read?, write?, admin? }`, at least one permission granted to someone. */
export function parseAclRule(body: Record<string, unknown>): AclRule {
  const match = body.match;
  if (typeof match !== 'string' || match.length === 0 || match.length > 256) throw badRequest('match: expected a destination name or pattern (orders.>, a.*.c)');
  const parts = match.split('.');
  if (!parts.every((p, i) => p.length > 0 && (p !== '>' || i === parts.length - 1))) throw badRequest('match: empty segments are not allowed; ">" only as the last segment');
  const rule: AclRule = { match };
  if (body.kind !== undefined && body.kind !== null) {
    if (body.kind !== 'queue' && body.kind !== 'topic') throw badRequest('kind: expected queue or topic (or none for both)');
    rule.kind = body.kind;
  }
  for (const p of PERMISSIONS) {
    const v = body[p];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || v.length > 1000 || !v.every((x) => typeof x === 'string' && NAME.test(x))) throw badRequest(`${p}: expected a list of user or group names ("*" = every authenticated user)`);
    if (v.length) rule[p] = [...new Set(v as string[])];
  }
  if (!PERMISSIONS.some((p) => rule[p]?.length)) throw badRequest('a rule must grant read, write or admin to someone');
  for (const k of Object.keys(body)) if (k !== 'match' && k !== 'kind' && !(PERMISSIONS as readonly string[]).includes(k)) throw badRequest(`unknown field '${k}' (expected match, kind, read, write, admin)`);
  return rule;
}

export async function addAclRule(engine: EngineApi, body: Record<string, unknown>, by: string | undefined): Promise<StoredAclRule> {
  const rule = parseAclRule(body);
  let id: string;
  do id = randomBytes(4).toString('hex');
  while (engine.kvGet(ACL_KV_PREFIX + id) !== undefined);
  // Rules list oldest first (by `created`): one created in the same millisecond as the newest (an import adds
  // many) is dated a millisecond later, so the list keeps the order they were added in.
  let newest = 0;
  for (const [, r] of engine.kvEntries<StoredAclRule>(ACL_KV_PREFIX)) newest = Math.max(newest, r.created);
  const stored: StoredAclRule = { id, ...rule, created: Math.max(Date.now(), newest + 1), ...(by ? { by } : {}) };
  await engine.kvPut(ACL_KV_PREFIX + id, stored);
  return stored;
}

export async function removeAclRule(engine: EngineApi, id: string): Promise<boolean> {
  if (engine.kvGet(ACL_KV_PREFIX + id) === undefined) return false;
  await engine.kvDelete(ACL_KV_PREFIX + id);
  return true;
}
