/**
 * Authentication and authorization hooks every adapter goes through (engine.connect, send, sendMany, subscribe),
 * and the broker's implementation of them: one user database (configured users plus runtime users kept in the
 * engine's kv under `security:user:`), the anonymous rule, and ActiveMQ-style destination ACLs.
 *
 * Anonymous clients: with no users at all (configured or runtime) they are accepted only from loopback addresses,
 * so the quick start works and a broker reachable from a network is not open; `security.anonymous: true` accepts
 * them from everywhere, `false` nowhere. Any user turns remote and local anonymous access off unless
 * `anonymous: true`.
 *
 * ACL rules (`security.acl`) grant `read` (consume, browse, durable/shared subscribe), `write` (send/publish) and
 * `admin` (auto-create a queue that does not exist, delete, purge) on destinations matching `match` (`*` one
 * segment, `>` the rest), to users and groups (`*` = every authenticated user). A principal may do what any
 * matching rule grants (the union, as ActiveMQ's DefaultAuthorizationMap). No rules = every authenticated
 * principal may do everything.
 */
import { isWildcard, matchTopic, type Address } from './address.js';
import { isLoopback, verifyPassword } from './passwords.js';
import { createHash } from 'node:crypto';

export interface Credentials {
  protocol: string;
  username?: string;
  password?: string;
  /**
   * A TLS client certificate the listener verified against its CA. Used as the identity when the client gives no
   * username (STOMP without login, MQTT without username, AMQP SASL EXTERNAL, OpenWire without userName).
   */
  certificate?: ClientCertificate;
  remoteAddress?: string;
  /** A connection the broker opens for itself (the SQS/SNS services' shared connection); never from a client. */
  internal?: boolean;
}

/** Who a verified TLS client certificate names. */
export interface ClientCertificate {
  /** The subject DN as RFC 4514 / 2253 text, most specific RDN first: `CN=app1,OU=apps,O=Acme\\, Inc.,C=US`. */
  subject: string;
  /** The subject's (first) common name, unescaped. */
  commonName?: string;
}

/**
 * How a certificate's subject becomes a user name (`security.certificates`), after RabbitMQ's
 * `ssl_cert_login_from` (common_name | distinguished_name) and ActiveMQ's certificate login (a DN → user map):
 * `map` first (exact DN), else `pattern` (a regex over the DN: the first capture group, or the whole match, is the
 * name), else the CN (`userFrom: cn`) or the whole DN (`userFrom: dn`). The name must be an existing user.
 */
export interface CertificateLogin {
  userFrom: 'cn' | 'dn';
  pattern?: string;
  map: Array<{ subject: string; user: string }>;
}

export interface Principal {
  username: string;
  anonymous: boolean;
  groups: string[];
  /** Console roles (`admin`, `viewer`) of the user, if any. */
  roles?: string[];
  /** The broker's own connections (SQS/SNS services): they authorize each request themselves. */
  internal?: boolean;
  /** A user of the user database (not a name taken at its word while no users exist): its groups follow the user. */
  known?: boolean;
}

export type Action = 'send' | 'consume' | 'browse' | 'create' | 'delete' | 'admin';

export interface SecurityHooks {
  /** Resolve credentials to a principal, or return null to refuse the connection. */
  authenticate(credentials: Credentials): Promise<Principal | null>;
  authorize(principal: Principal, action: Action, destination: Address | null): boolean;
  /** A SigV4 access key: its secret and the user it belongs to. */
  accessKey?(accessKeyId: string): { secret: string; principal: Principal } | undefined;
  /**
   * Whether a wildcard topic subscription of this principal needs a read check per delivered message (its filter
   * is not wholly covered by one rule granting read). Implementations without ACLs return false.
   */
  filterAtDelivery?(principal: Principal, filter: string): boolean;
  /** The principal of a user by name (a durable subscription's owner after a restart); a removed user has no groups. */
  principalFor?(username: string): Principal;
  /** Why an anonymous client was refused, for the adapter's log line. */
  refusalHint?(credentials: Credentials): string | undefined;
  /** Users or ACL rules changed (a `security:` kv key): forget cached decisions. */
  changed?(): void;
  /**
   * Bring a live connection's principal up to date after a change (its groups follow its user): false when its user
   * is gone, and the connection must end.
   */
  refreshPrincipal?(principal: Principal): boolean;
}

export const ANONYMOUS: Principal = Object.freeze({ username: 'anonymous', anonymous: true, groups: ['anonymous'] as string[] }) as Principal;
export const INTERNAL: Principal = Object.freeze({ username: '$internal', anonymous: false, groups: [] as string[], internal: true }) as Principal;

export const allowAll: SecurityHooks = {
  async authenticate(c) {
    if (c.internal) return INTERNAL;
    return c.username ? { username: c.username, anonymous: false, groups: [] } : ANONYMOUS;
  },
  authorize() {
    return true;
  },
};

// ---------------------------------------------------------------------------------------------------- the users

export type ConsoleRole = 'admin' | 'viewer';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** One user of the broker: messaging (groups, ACLs), console (roles), SQS/SNS (access keys). */
export interface UserRecord {
  username: string;
  /** `scrypt$N$r$p$salt$hash` (`wharf hash-password`). */
  passwordHash: string;
  groups?: string[];
  roles?: ConsoleRole[];
  /** SigV4 access keys (the secret has to be kept: SigV4 is an HMAC over it). */
  accessKeys?: AccessKey[];
}

export interface StoredUser extends UserRecord {
  created: number;
}

export interface AclRule {
  match: string;
  kind?: 'queue' | 'topic';
  read?: string[];
  write?: string[];
  admin?: string[];
}

export interface SecurityConfig {
  users: UserRecord[];
  /** undefined: anonymous from loopback while there are no users; true: from everywhere; false: never. */
  anonymous?: boolean;
  acl: AclRule[];
  /** TLS client certificate login; absent = certificates are not an identity (anonymous rules apply). */
  certificates?: CertificateLogin;
}

/** Every kv key under it is security state: the engine tells the hooks when one changes. */
export const SECURITY_KV_PREFIX = 'security:';
export const USER_KV_PREFIX = 'security:user:';
/** Runtime ACL rules (`wharf acl add`, the admin API), one kv entry per rule, added to `security.acl`. */
export const ACL_KV_PREFIX = 'security:acl:';

/** A runtime ACL rule as stored. */
export interface StoredAclRule extends AclRule {
  id: string;
  created: number;
  /** The admin who added it. */
  by?: string;
}

/** Where runtime users live: the engine's kv (bound once the engine exists). */
export interface UserSource {
  kvGet<T = unknown>(key: string): T | undefined;
  kvEntries<T = unknown>(prefix: string): Array<[string, T]>;
}

export type AuditLog = (fields: Record<string, unknown>, msg: string) => void;

export type SecurityMode = 'anonymous-loopback' | 'anonymous' | 'users';

const PERMISSION_BIT = { read: 1, write: 2, admin: 4 } as const;

const PERMISSION: Record<Action, 'read' | 'write' | 'admin'> = {
  send: 'write',
  consume: 'read',
  browse: 'read',
  create: 'admin',
  delete: 'admin',
  admin: 'admin',
};

/** Whether every name `filter` matches is matched by `pattern` (both ActiveMQ wildcards). */
export function patternCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('.');
  const f = filter.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return true;
    if (i >= f.length) return false;
    if (f[i] === '>') return false;
    if (p[i] === '*') continue;
    if (f[i] === '*' || p[i] !== f[i]) return false;
  }
  return p.length === f.length;
}

export class UserSecurity implements SecurityHooks {
  private source: UserSource | null = null;
  /** sha256(user NUL password NUL hash) of recently verified logins: saves an scrypt per reconnect. */
  private readonly verified = new Map<string, number>();

  constructor(private readonly cfg: SecurityConfig, private readonly audit: AuditLog = () => undefined) {}

  bind(source: UserSource): void {
    this.source = source;
    this.changed();
  }

  get config(): SecurityConfig {
    return this.cfg;
  }

  runtimeUsers(): StoredUser[] {
    return this.source ? this.source.kvEntries<StoredUser>(USER_KV_PREFIX).map(([, u]) => u) : [];
  }

  /** A configured user, else a runtime one. */
  user(username: string): (UserRecord & { source: 'config' | 'runtime' }) | undefined {
    const c = this.cfg.users.find((u) => u.username === username);
    if (c) return { ...c, source: 'config' };
    const r = this.source?.kvGet<StoredUser>(USER_KV_PREFIX + username);
    return r ? { ...r, source: 'runtime' } : undefined;
  }

  hasUsers(): boolean {
    return this.cfg.users.length > 0 || this.runtimeUsers().length > 0;
  }

  mode(): SecurityMode {
    if (this.cfg.anonymous === true) return 'anonymous';
    if (this.cfg.anonymous === false || this.hasUsers()) return 'users';
    return 'anonymous-loopback';
  }

  principalOf(u: UserRecord): Principal {
    return { username: u.username, anonymous: false, groups: [...(u.groups ?? [])], roles: [...(u.roles ?? [])], known: true };
  }

  /** Runtime ACL rules, oldest first. */
  runtimeAcl(): StoredAclRule[] {
    if (!this.source) return [];
    return this.source.kvEntries<StoredAclRule>(ACL_KV_PREFIX).map(([, r]) => r).sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  private ruleCache: AclRule[] | undefined;

  /** The rules in force: `security.acl`, then the runtime ones. */
  rules(): AclRule[] {
    return (this.ruleCache ??= [...this.cfg.acl, ...this.runtimeAcl()]);
  }

  changed(): void {
    this.ruleCache = undefined;
    this.decisions = new WeakMap();
  }

  refreshPrincipal(p: Principal): boolean {
    if (!p.known || p.internal) return true;
    const u = this.user(p.username);
    if (!u) return false;
    p.groups = [...(u.groups ?? [])];
    p.roles = [...(u.roles ?? [])];
    return true;
  }

  principalFor(username: string): Principal {
    const u = this.user(username);
    return u ? this.principalOf(u) : { username, anonymous: false, groups: [] };
  }

  /** The user name a certificate maps to (`security.certificates`), or undefined. */
  certificateUser(cert: ClientCertificate): string | undefined {
    const cfg = this.cfg.certificates;
    if (!cfg) return undefined;
    const mapped = cfg.map.find((m) => sameDn(m.subject, cert.subject));
    if (mapped) return mapped.user;
    if (cfg.pattern !== undefined) {
      this.certPattern ??= new RegExp(cfg.pattern);
      const m = this.certPattern.exec(cert.subject);
      return m ? (m[1] ?? m[0]) || undefined : undefined;
    }
    return cfg.userFrom === 'dn' ? cert.subject : cert.commonName;
  }

  private certPattern: RegExp | undefined;

  async authenticate(c: Credentials): Promise<Principal | null> {
    if (c.internal) return INTERNAL;
    // a certificate is the identity of a client that names no user (RabbitMQ's ssl_cert_login): it must map to an
    // existing user; an unmapped certificate is refused, never taken for an anonymous client
    if (!c.username && c.certificate && this.cfg.certificates) {
      const name = this.certificateUser(c.certificate);
      const u = name === undefined ? undefined : this.user(name);
      return u ? this.principalOf(u) : null;
    }
    if (c.username) {
      const u = this.user(c.username);
      if (!u) {
        // no users at all: the name is taken as given (as before users existed), where anonymous clients may connect
        if (!this.hasUsers() && this.anonymousAllowed(c)) return { username: c.username, anonymous: false, groups: [] };
        return null;
      }
      if (c.password === undefined) return null;
      const key = createHash('sha256').update(`${u.username}\0${c.password}\0${u.passwordHash}`).digest('base64');
      const until = this.verified.get(key);
      if (!(until && until > Date.now())) {
        if (!(await verifyPassword(c.password, u.passwordHash))) return null;
        if (this.verified.size > 1000) this.verified.clear();
        this.verified.set(key, Date.now() + 60_000);
      }
      return this.principalOf(u);
    }
    return this.anonymousAllowed(c) ? ANONYMOUS : null;
  }

  private anonymousAllowed(c: Credentials): boolean {
    switch (this.mode()) {
      case 'anonymous':
        return true;
      case 'anonymous-loopback':
        return isLoopback(c.remoteAddress);
      default:
        return false;
    }
  }

  refusalHint(c: Credentials): string | undefined {
    if (c.username) return undefined;
    if (c.certificate && this.cfg.certificates) {
      const name = this.certificateUser(c.certificate);
      return name === undefined
        ? `the client certificate '${c.certificate.subject}' maps to no user name (security.certificates)`
        : `the client certificate '${c.certificate.subject}' maps to '${name}', which is not a user`;
    }
    if (this.mode() === 'anonymous-loopback') {
      return 'anonymous clients are accepted only from loopback addresses while no users are configured; add users (security.users, or `wharf users add`) and connect with a username and password, or set security.anonymous: true';
    }
    return 'anonymous access is off (users are configured): connect with a username and password, or set security.anonymous: true';
  }

  accessKey(accessKeyId: string): { secret: string; principal: Principal } | undefined {
    for (const u of this.cfg.users) {
      const k = u.accessKeys?.find((a) => a.accessKeyId === accessKeyId);
      if (k) return { secret: k.secretAccessKey, principal: this.principalOf(u) };
    }
    for (const u of this.runtimeUsers()) {
      const k = u.accessKeys?.find((a) => a.accessKeyId === accessKeyId);
      if (k) return { secret: k.secretAccessKey, principal: this.principalOf(u) };
    }
    return undefined;
  }

  private names(p: Principal): string[] {
    return p.anonymous ? ['anonymous', ...p.groups] : [p.username, ...p.groups, '*'];
  }

  private grants(rule: AclRule, perm: 'read' | 'write' | 'admin', names: string[]): boolean {
    const list = rule[perm];
    return !!list && list.some((n) => names.includes(n));
  }

  /**
   * Decisions by principal (one object per connection) and permission + destination: a publish checks its topic on
   * every message, and walking 50 rules each time cost MQTT QoS 0 ~20 % more broker CPU. Any change of users or
   * rules (`changed()`, called by the engine when a `security:` kv key changes) drops every cached decision.
   */
  private decisions = new WeakMap<Principal, { queue: Map<string, number>; topic: Map<string, number> }>();

  authorize(principal: Principal, action: Action, address: Address | null): boolean {
    if (principal.internal) return true;
    if (this.rules().length === 0) return true;
    if (!address) return false;
    let cache = this.decisions.get(principal);
    if (!cache) this.decisions.set(principal, (cache = { queue: new Map(), topic: new Map() }));
    // per name a bit mask: bit p = permission p decided, bit p+3 = allowed (no key string built per message)
    const byName = cache[address.kind];
    const bit = PERMISSION_BIT[PERMISSION[action]];
    const flags = byName.get(address.name) ?? 0;
    if (flags & bit) return (flags & (bit << 3)) !== 0;
    const allowed = this.decide(principal, action, address);
    if (byName.size >= 4096) byName.clear();
    byName.set(address.name, flags | bit | (allowed ? bit << 3 : 0));
    return allowed;
  }

  private decide(principal: Principal, action: Action, address: Address): boolean {
    const perm = PERMISSION[action];
    const names = this.names(principal);
    const wildcard = address.kind === 'topic' && perm === 'read' && isWildcard(address.name);
    for (const rule of this.rules()) {
      if (rule.kind && rule.kind !== address.kind) continue;
      if (!this.grants(rule, perm, names)) continue;
      // a wildcard subscription is allowed when the user may read something under it; what is delivered is
      // filtered per message (filterAtDelivery) unless one rule covers the whole filter
      if (wildcard ? patternCovers(rule.match, address.name) || overlaps(rule.match, address.name) : matchTopic(rule.match, address.name)) return true;
    }
    return false;
  }

  filterAtDelivery(principal: Principal, filter: string): boolean {
    if (principal.internal || this.rules().length === 0) return false;
    const names = this.names(principal);
    return !this.rules().some((r) => r.kind !== 'queue' && this.grants(r, 'read', names) && patternCovers(r.match, filter));
  }

  /** For the audit log: a denial. */
  logDenied(principal: Principal, action: Action, address: Address | null, extra: Record<string, unknown> = {}): void {
    this.audit({ audit: true, event: 'denied', user: principal.username, action, destination: address ? `${address.kind}://${address.name}` : null, ...extra }, `denied: ${principal.username} may not ${action} ${address ? `${address.kind}://${address.name}` : ''}`.trim());
  }
}

/** Whether some name could match both patterns (segment by segment, `>` matching the rest). */
export function overlaps(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i++) {
    if (i >= x.length || i >= y.length) return x.length === y.length || x[i] === '>' || y[i] === '>';
    if (x[i] === '>' || y[i] === '>') return true;
    if (x[i] === '*' || y[i] === '*' || x[i] === y[i]) continue;
    return false;
  }
}

/** Two DNs as the same text, ignoring spaces after separators and the case of attribute names (`cn=a, o=b`). */
export function sameDn(a: string, b: string): boolean {
  const norm = (dn: string) => dn.replace(/(^|[^\\])([,+])\s+/g, '$1$2').replace(/(^|[,+])\s*([A-Za-z0-9.]+)\s*=/g, (_m, sep: string, k: string) => `${sep}${k.toUpperCase()}=`);
  return norm(a) === norm(b);
}
