/** What the composition root passes the admin module: its own section of the configuration. */
import { PASSWORD_HASH_PATTERN, type AclRule, type PolicyRule, type UserRecord } from '../core/api.js';
import type { DefinitionsRegistry } from './definitions-port.js';

/** The form of a password hash `wharf hash-password` makes: scrypt$N$r$p$salt$hash. */
export const ADMIN_HASH_PATTERN = PASSWORD_HASH_PATTERN;

/** The `admin:` section of the configuration (docs/configuration.md). */
export interface AdminConfig {
  users: Array<{ username: string; passwordHash: string; role: 'admin' | 'viewer' }>;
  defaultUser: boolean;
  sessionTimeout: number;
  metricsAuth: boolean;
  /** Destinations with per-destination series on /metrics (the busiest); /metrics/per-destination has all. */
  metricsTopDestinations: number;
  /** security.users: those with `roles` log into the console too. */
  securityUsers?: UserRecord[];
  /** security.acl: listed next to the runtime rules (`/api/security/acl`). */
  securityAcl?: AclRule[];
}

/** The `admin:` section plus what the console shows of the rest of the configuration. */
export interface AdminModuleOptions extends AdminConfig {
  dataDir: string;
  /** The configured destination policies (shown, and exported with the definitions). */
  destinations: PolicyRule[];
  /** Sections other modules (SQS, SNS) add to the definitions document; absent: engine definitions only. */
  definitions?: DefinitionsRegistry;
}

export const DEFAULT_ADMIN_OPTIONS: AdminModuleOptions = { users: [], defaultUser: true, sessionTimeout: 8 * 3600_000, metricsAuth: false, metricsTopDestinations: 100, dataDir: '', destinations: [] };
