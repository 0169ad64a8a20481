/**
 * What a migration from another broker's definitions turns into: a Wharf definitions document (imported by the
 * same code as `POST /api/definitions`), the configuration-file entries for what Wharf keeps only in its
 * configuration (wildcard policy rules, composites, listeners), and a precise list of what did not map.
 */
import type { AclRule, DestinationPolicy, PolicyRule } from '../../core/api.js';

export interface NotMapped {
  /** The source item, in the source's words (`queue orders: x-expires`, `policy ha-all`, `authorizationEntry queue=">"`). */
  what: string;
  reason: string;
}

/** Entries to add to the configuration file (YAML keys of docs/configuration.md). */
export interface ConfigSuggestion {
  destinations?: PolicyRule[];
  composites?: Array<{ name: string; kind?: 'queue' | 'topic'; targets: Array<{ address: string; selector?: string }> }>;
  security?: { anonymous?: boolean };
  virtualTopics?: { enabled: boolean };
  listeners?: Record<string, { port: number; host?: string }>;
}

export interface MigrationPlan {
  format: 'rabbitmq' | 'activemq';
  /** A Wharf definitions document (`wharf: definitions`, version 1). */
  definitions: {
    wharf: 'definitions';
    version: 1;
    queues: Array<{ name: string; dlq?: boolean }>;
    topics: Array<{ name: string }>;
    policyOverrides: Array<{ kind: 'queue' | 'topic'; name: string; override: Partial<DestinationPolicy> }>;
    brokerUsers: Array<{ username: string; passwordHash: string; groups: string[]; roles: string[] }>;
    /** Access rules, created as runtime ACL rules (as `wharf acl add` does), in force at once. */
    acl: AclRule[];
  };
  /**
   * Plain-text passwords of `definitions.brokerUsers` (ActiveMQ keeps them so), by user name: hashed with scrypt
   * only when the plan is applied (a dry run neither spends the time nor answers them).
   */
  passwords: Map<string, string>;
  config: ConfigSuggestion;
  notMapped: NotMapped[];
}

export function emptyPlan(format: MigrationPlan['format']): MigrationPlan {
  return { format, definitions: { wharf: 'definitions', version: 1, queues: [], topics: [], policyOverrides: [], brokerUsers: [], acl: [] }, passwords: new Map(), config: {}, notMapped: [] };
}

/** A name Wharf can hold as a queue or topic: no wildcards, commas, control characters or `queue://` prefix. */
export function usableName(name: string): string | undefined {
  if (!name || name.length > 1024) return 'empty or longer than 1024 characters';
  if (/[\x00-\x1F\x7F,]/.test(name)) return 'commas and control characters are not allowed in Wharf names';
  if (/(^|\.)(\*|>)(\.|$)/.test(name)) return "'*' and '>' are wildcards in Wharf names";
  if (/^(queue|topic|temp-queue|temp-topic):\/\//.test(name)) return 'a Wharf name has no queue:// or topic:// prefix';
  return undefined;
}

/** Set a policy setting unless the destination's own arguments already did (theirs win, as in both brokers). */
export function setIfAbsent<K extends keyof DestinationPolicy>(o: Partial<DestinationPolicy>, k: K, v: DestinationPolicy[K]): void {
  if (o[k] === undefined) o[k] = v;
}

/** Durations and sizes as both brokers write them: numbers, or ActiveMQ's `64 mb` / `1 gb` strings. */
export function parseSize(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?\s*$/i.exec(v);
  if (!m) return undefined;
  const mult: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };
  return Math.round(Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]);
}
