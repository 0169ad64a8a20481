/**
 * Destination policies at runtime: what a policy override may say (checked field by field, so a typo is a clear
 * 400 and not a silently ignored key) and the rows the policy API and the console show — the configured rules,
 * every durable override, and the effective policy of a destination.
 */
import { DEFAULT_POLICY, type DestinationPolicy, type EngineApi, isWildcard } from '../core/api.js';
import { badRequest } from './http-util.js';

type Field = { kind: 'int'; min: number } | { kind: 'number'; min: number } | { kind: 'enum'; values: readonly string[] } | { kind: 'string'; max: number };

/** Every DestinationPolicy key, with its type (docs/configuration.md, destination policies). */
const FIELDS: Record<keyof DestinationPolicy, Field> = {
  maxRedeliveries: { kind: 'int', min: -1 },
  initialRedeliveryDelay: { kind: 'int', min: 0 },
  backoffMultiplier: { kind: 'number', min: 1 },
  maxRedeliveryDelay: { kind: 'int', min: 0 },
  deadLetterQueue: { kind: 'string', max: 1024 },
  expiry: { kind: 'enum', values: ['dlq', 'drop'] },
  defaultTtl: { kind: 'int', min: 0 },
  maxMessages: { kind: 'int', min: 0 },
  maxBytes: { kind: 'int', min: 0 },
  limitPolicy: { kind: 'enum', values: ['block', 'reject', 'drop-oldest'] },
  blockTimeout: { kind: 'int', min: 0 },
  ackTimeout: { kind: 'int', min: 0 },
};

export const POLICY_KEYS = Object.keys(FIELDS) as Array<keyof DestinationPolicy>;

/** A policy override as a request or a definitions document gives it: only known keys, each of its type. */
export function parsePolicyOverride(v: unknown, where: string): Partial<DestinationPolicy> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest(`${where}: expected an object of policy settings`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const f = FIELDS[k as keyof DestinationPolicy];
    if (!f) throw badRequest(`${where}.${k}: not a policy setting (expected one of ${POLICY_KEYS.join(', ')})`);
    switch (f.kind) {
      case 'int':
        if (!Number.isSafeInteger(x) || (x as number) < f.min) throw badRequest(`${where}.${k}: expected an integer ≥ ${f.min}`);
        break;
      case 'number':
        if (typeof x !== 'number' || !Number.isFinite(x) || x < f.min) throw badRequest(`${where}.${k}: expected a number ≥ ${f.min}`);
        break;
      case 'enum':
        if (typeof x !== 'string' || !f.values.includes(x)) throw badRequest(`${where}.${k}: expected one of ${f.values.join(', ')}`);
        break;
      case 'string':
        if (typeof x !== 'string' || x.length > f.max || /[\x00-\x1F\x7F,]/.test(x)) throw badRequest(`${where}.${k}: expected a destination name (no commas or control characters)`);
        break;
    }
    out[k] = x;
  }
  return out as Partial<DestinationPolicy>;
}

/** A destination a policy override is kept for: a queue or topic name (no wildcards: those belong in `destinations:` rules). */
export function parsePolicyTarget(kind: string, name: string): { kind: 'queue' | 'topic'; name: string } {
  if (kind !== 'queue' && kind !== 'topic') throw badRequest(`kind: expected queue or topic, got '${kind}'`);
  if (!name || name.length > 1024 || /[\x00-\x1F\x7F,]/.test(name)) throw badRequest('name: expected 1–1024 characters, no commas or control characters');
  if (isWildcard(name)) throw badRequest('name: a runtime override is for one destination; wildcard rules belong in the configuration file (destinations:)');
  return { kind, name };
}

/** One row of the policy list: the override, the effective policy, and who manages it. */
export function policyRow(engine: EngineApi, kind: 'queue' | 'topic', name: string, managedBy?: string) {
  const override = engine.policyOverride(kind, name);
  return {
    kind,
    name,
    override: override ?? null,
    effective: engine.policyOf(kind, name),
    /** `sqs` when the SQS service keeps this override from the queue's attributes: change those instead. */
    managedBy: managedBy ?? null,
  };
}

export { DEFAULT_POLICY };
