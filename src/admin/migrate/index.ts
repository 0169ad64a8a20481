/**
 * `POST /api/definitions/import?format=wharf|rabbitmq|activemq`: a Wharf definitions document, RabbitMQ
 * definitions JSON or an ActiveMQ activemq.xml. The two foreign formats are turned into a migration plan
 * (rabbitmq.ts, activemq.ts) whose definitions part is imported exactly as a Wharf document is; the answer adds
 * what did not map and the configuration-file entries for what Wharf keeps only there. `dryRun=true` answers
 * the plan without applying anything.
 */
import { type EngineApi, hashPassword } from '../../core/api.js';
import type { AdminAuth } from '../auth.js';
import type { DefinitionsRegistry } from '../definitions-port.js';
import { importDefinitions, type ImportResult } from '../definitions.js';
import { badRequest } from '../http-util.js';
import { planActivemq } from './activemq.js';
import type { ConfigSuggestion, MigrationPlan, NotMapped } from './plan.js';
import { planRabbitmq } from './rabbitmq.js';

export const FORMATS = ['wharf', 'rabbitmq', 'activemq'] as const;
export type ImportFormat = (typeof FORMATS)[number];

export function parseFormat(v: string | null): ImportFormat {
  const f = v ?? 'wharf';
  if (!(FORMATS as readonly string[]).includes(f)) throw badRequest(`format: expected one of ${FORMATS.join(', ')}, got '${f}'`);
  return f as ImportFormat;
}

export interface MigrationResult extends Partial<ImportResult> {
  format: ImportFormat;
  dryRun: boolean;
  /** What the source had that Wharf did not take over, and why. */
  notMapped: NotMapped[];
  /** Entries for the configuration file (Wharf keeps wildcard policies, composites and listeners there). */
  config: ConfigSuggestion;
  /** The Wharf definitions the source turned into (dry run only). */
  definitions?: MigrationPlan['definitions'];
}

export async function planFor(format: 'rabbitmq' | 'activemq', body: string, opts: { vhost?: string }): Promise<MigrationPlan> {
  if (format === 'activemq') return planActivemq(body);
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw badRequest(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw badRequest('expected a JSON object (RabbitMQ definitions)');
  return planRabbitmq(doc as Record<string, unknown>, opts.vhost);
}

export async function migrate(engine: EngineApi, auth: AdminAuth, registry: DefinitionsRegistry | undefined, plan: MigrationPlan, dryRun: boolean): Promise<MigrationResult> {
  const base = { format: plan.format, dryRun, notMapped: plan.notMapped, config: plan.config };
  if (dryRun) return { ...base, definitions: plan.definitions };
  const existing = new Set(auth.brokerUsers().map((u) => u.username));
  const brokerUsers = await Promise.all(
    plan.definitions.brokerUsers.map(async (u) => {
      // an existing user is kept as it is: no need to spend an scrypt on it
      const { passwordHash: _placeholder, ...rest } = u;
      const pw = plan.passwords.get(u.username);
      return pw !== undefined && !existing.has(u.username) ? { ...rest, passwordHash: await hashPassword(pw) } : rest;
    }),
  );
  const result = await importDefinitions(engine, auth, { ...plan.definitions, brokerUsers } as unknown as Record<string, unknown>, registry);
  return { ...result, ...base };
}
