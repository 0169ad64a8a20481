/**
 * Admin users, password hashing and sessions.
 *
 * Users come from `admin.users` in the config (read-only) and from users created at runtime through the API
 * (kept in the engine's durable key/value state under `admin:user:`). Passwords are scrypt hashes
 * (`scrypt$N$r$p$salt$hash`). While no users are configured, the built-in `admin`/`admin` works — but only
 * for requests from a loopback address, as RabbitMQ's `guest` does.
 *
 * Console logins get a session: an HttpOnly, SameSite=Strict cookie plus a CSRF token the console sends in
 * `X-CSRF-Token` on every state-changing call. API clients use HTTP basic auth or the session token as a
 * bearer token (no CSRF token needed: browsers never attach those on their own).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hashPassword, isLoopback, USER_KV_PREFIX, verifyPassword, type AccessKey, type EngineApi, type StoredUser as BrokerUser, type UserRecord } from '../core/api.js';

export { hashPassword, isLoopback, verifyPassword };
import { ApiError } from './http-util.js';
import { ADMIN_HASH_PATTERN, type AdminConfig } from './options.js';

/** Failed logins a minute before a user and address pair is locked out for the rest of the minute. */
const PAIR_FAILURES = 20;
/** Failed logins a minute, over all users, before an address is locked out (password spraying). */
const ADDRESS_FAILURES = 100;

export type AdminRole = 'admin' | 'viewer';

export interface AdminUser {
  username: string;
  role: AdminRole;
  /** `config` (admin.users), `runtime` (created through the API), `default` (built-in admin/admin). */
  source: 'config' | 'runtime' | 'default';
}

interface StoredUser {
  username: string;
  role: AdminRole;
  passwordHash: string;
  created: number;
}

export interface Session {
  token: string;
  csrf: string;
  user: AdminUser;
  created: number;
  expires: number;
}

export interface Authenticated {
  user: AdminUser;
  via: 'cookie' | 'bearer' | 'basic';
  session?: Session;
}

export const SESSION_COOKIE = 'wharf_session';
const KV_PREFIX = 'admin:user:';
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MAX_SESSIONS = 10_000;

function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a === b;
}

export class AdminAuth {
  private readonly sessions = new Map<string, Session>();
  /** Recently verified basic-auth credentials (sha256 of user NUL password → user, expiry): saves an scrypt per CLI call. */
  private readonly verified = new Map<string, { username: string; expires: number }>();
  /** Failed logins per remote address in the current minute. */
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly engine: EngineApi, private readonly cfg: AdminConfig) {}

  get sessionTimeout(): number {
    return this.cfg.sessionTimeout;
  }

  private runtimeUsers(): StoredUser[] {
    return this.engine.kvEntries<StoredUser>(KV_PREFIX).map(([, u]) => u);
  }

  /** Whether admin/admin is accepted (from loopback): no configured users and no runtime admin. */
  defaultUserActive(): boolean {
    const brokerAdmin = (u: UserRecord) => (u.roles ?? []).includes('admin');
    return (
      this.cfg.defaultUser &&
      this.cfg.users.length === 0 &&
      !this.runtimeUsers().some((u) => u.role === 'admin') &&
      !(this.cfg.securityUsers ?? []).some(brokerAdmin) &&
      !this.engine.kvEntries<BrokerUser>(USER_KV_PREFIX).some(([, u]) => brokerAdmin(u))
    );
  }

  users(): AdminUser[] {
    const out: AdminUser[] = this.cfg.users.map((u) => ({ username: u.username, role: u.role, source: 'config' as const }));
    for (const u of this.runtimeUsers()) if (!out.some((x) => x.username === u.username)) out.push({ username: u.username, role: u.role, source: 'runtime' });
    if (this.defaultUserActive() && !out.some((x) => x.username === 'admin')) out.push({ username: 'admin', role: 'admin', source: 'default' });
    return out;
  }

  /** Runtime users with their hashes, for definitions export. */
  exportUsers(): Array<{ username: string; role: AdminRole; passwordHash: string }> {
    return this.runtimeUsers().map((u) => ({ username: u.username, role: u.role, passwordHash: u.passwordHash }));
  }

  async putUser(username: string, role: AdminRole, password?: string, passwordHash?: string): Promise<AdminUser> {
    if (!USERNAME.test(username)) throw new ApiError(400, 'bad-request', 'username: expected 1–64 letters, digits, . _ @ -');
    if (this.cfg.users.some((u) => u.username === username)) throw new ApiError(409, 'conflict', `user '${username}' is defined in the configuration file and cannot be changed here`);
    if (role !== 'admin' && role !== 'viewer') throw new ApiError(400, 'bad-request', 'role: expected admin or viewer');
    let hash = passwordHash;
    if (hash !== undefined && !ADMIN_HASH_PATTERN.test(hash)) throw new ApiError(400, 'bad-request', 'passwordHash: expected scrypt$N$r$p$salt$hash');
    if (hash === undefined) {
      if (!password || password.length < 8) throw new ApiError(400, 'bad-request', 'password: at least 8 characters');
      hash = await hashPassword(password);
    }
    await this.engine.kvPut(KV_PREFIX + username, { username, role, passwordHash: hash, created: Date.now() } satisfies StoredUser);
    this.verified.clear();
    this.dropSessionsOf(username);
    return { username, role, source: 'runtime' };
  }

  async deleteUser(username: string): Promise<boolean> {
    if (this.cfg.users.some((u) => u.username === username)) throw new ApiError(409, 'conflict', `user '${username}' is defined in the configuration file and cannot be deleted here`);
    if (this.engine.kvGet(KV_PREFIX + username) === undefined) return false;
    await this.engine.kvDelete(KV_PREFIX + username);
    this.verified.clear();
    this.dropSessionsOf(username);
    return true;
  }

  private dropSessionsOf(username: string): void {
    for (const [t, s] of this.sessions) if (s.user.username === username && s.user.source !== 'default') this.sessions.delete(t);
  }

  /**
   * Check a username and password from `remote`; throws 401/429 ApiErrors with a reason a person can act on.
   * Failures lock out the user and address pair that failed (20 a minute), so an attacker guessing one user's
   * password does not lock the other users behind the same address out; an address that fails for many users
   * (password spraying) is locked as a whole at 100 a minute.
   */
  async verify(username: string, password: string, remote: string | undefined): Promise<AdminUser> {
    const address = remote ?? '?';
    const pair = `${address}\0${username}`;
    const now = Date.now();
    const live = (f: { count: number; since: number } | undefined) => (f && now - f.since < 60_000 ? f : undefined);
    if ((live(this.failures.get(pair))?.count ?? 0) >= PAIR_FAILURES) throw new ApiError(429, 'too-many-attempts', `too many failed logins for '${username}' from this address; try again in a minute`);
    if ((live(this.failures.get(address))?.count ?? 0) >= ADDRESS_FAILURES) throw new ApiError(429, 'too-many-attempts', 'too many failed logins from this address; try again in a minute');
    const user = await this.check(username, password, remote);
    if (!user) {
      for (const key of [pair, address]) {
        const f = live(this.failures.get(key));
        if (f) f.count++;
        else this.failures.set(key, { count: 1, since: now });
      }
      if (this.failures.size > 10_000) this.failures.clear();
      if (username === 'admin' && password === 'admin' && this.defaultUserActive() && !isLoopback(remote)) {
        throw new ApiError(401, 'unauthenticated', 'the default admin/admin user only works from localhost; configure admin.users to log in remotely');
      }
      throw new ApiError(401, 'unauthenticated', 'bad username or password');
    }
    return user;
  }

  /** A broker user (security.users or runtime) with a console role: its hash and role. */
  private brokerUser(username: string): { hash: string; user: AdminUser } | undefined {
    const conf = this.cfg.securityUsers?.find((u) => u.username === username);
    const rt = conf ? undefined : this.engine.kvGet<BrokerUser>(USER_KV_PREFIX + username);
    const u: UserRecord | undefined = conf ?? rt;
    const roles = u?.roles ?? [];
    if (!u || roles.length === 0) return undefined;
    return { hash: u.passwordHash, user: { username, role: roles.includes('admin') ? 'admin' : 'viewer', source: conf ? 'config' : 'runtime' } };
  }

  /** Runtime broker users (security.users are listed as config), without hashes or secrets. */
  brokerUsers(): Array<{ username: string; groups: string[]; roles: string[]; accessKeys: string[]; source: 'config' | 'runtime' }> {
    const show = (u: UserRecord, source: 'config' | 'runtime') => ({ username: u.username, groups: u.groups ?? [], roles: u.roles ?? [], accessKeys: (u.accessKeys ?? []).map((k) => k.accessKeyId), source });
    return [...(this.cfg.securityUsers ?? []).map((u) => show(u, 'config')), ...this.engine.kvEntries<BrokerUser>(USER_KV_PREFIX).map(([, u]) => show(u, 'runtime'))];
  }

  /** Runtime broker users with their hashes and access-key secrets, for a definitions export an admin asked for. */
  exportBrokerUsers(): UserRecord[] {
    return this.engine.kvEntries<BrokerUser>(USER_KV_PREFIX).map(([, u]) => ({ username: u.username, passwordHash: u.passwordHash, groups: [...(u.groups ?? [])], roles: [...(u.roles ?? [])], accessKeys: (u.accessKeys ?? []).map((k) => ({ ...k })) }));
  }

  /** Create or change a runtime broker user (messaging, console roles, SQS access keys); unchanged fields are kept. */
  async putBrokerUser(username: string, body: Record<string, unknown>): Promise<ReturnType<AdminAuth['brokerUsers']>[number]> {
    if (!USERNAME.test(username)) throw new ApiError(400, 'bad-request', 'username: expected 1–64 letters, digits, . _ @ -');
    if (this.cfg.securityUsers?.some((u) => u.username === username)) throw new ApiError(409, 'conflict', `user '${username}' is defined in the configuration file and cannot be changed here`);
    const old = this.engine.kvGet<BrokerUser>(USER_KV_PREFIX + username);
    const list = (k: string, ok: (v: string) => boolean = () => true): string[] | undefined => {
      const v = body[k];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 128 && ok(x))) throw new ApiError(400, 'bad-request', `${k}: expected a list of names`);
      return v as string[];
    };
    const groups = list('groups') ?? old?.groups ?? [];
    const roles = (list('roles', (r) => r === 'admin' || r === 'viewer') ?? old?.roles ?? []) as Array<'admin' | 'viewer'>;
    let accessKeys: AccessKey[] = old?.accessKeys ?? [];
    if (body.accessKeys !== undefined) {
      const ks = body.accessKeys;
      if (!Array.isArray(ks) || !ks.every((k) => k && typeof k.accessKeyId === 'string' && k.accessKeyId && typeof k.secretAccessKey === 'string' && k.secretAccessKey.length >= 8)) {
        throw new ApiError(400, 'bad-request', 'accessKeys: expected a list of { accessKeyId, secretAccessKey } (secret at least 8 characters)');
      }
      accessKeys = ks.map((k) => ({ accessKeyId: String(k.accessKeyId), secretAccessKey: String(k.secretAccessKey) }));
    }
    let hash = typeof body.passwordHash === 'string' ? body.passwordHash : undefined;
    if (hash !== undefined && !ADMIN_HASH_PATTERN.test(hash)) throw new ApiError(400, 'bad-request', 'passwordHash: expected scrypt$N$r$p$salt$hash');
    if (hash === undefined && body.password !== undefined) {
      if (typeof body.password !== 'string' || body.password.length < 8 || body.password.length > 1024) throw new ApiError(400, 'bad-request', 'password: at least 8 characters');
      hash = await hashPassword(body.password);
    }
    hash ??= old?.passwordHash;
    if (!hash) throw new ApiError(400, 'bad-request', 'password: required for a new user (at least 8 characters)');
    const rec: BrokerUser = { username, passwordHash: hash, groups, roles, accessKeys, created: old?.created ?? Date.now() };
    await this.engine.kvPut(USER_KV_PREFIX + username, rec);
    this.verified.clear();
    this.dropSessionsOf(username);
    // the engine notices the change (a security: kv key): live connections take the new groups, and only consumers
    // of destinations the user may no longer read are closed, each with its protocol's error
    return { username, groups, roles, accessKeys: accessKeys.map((k) => k.accessKeyId), source: 'runtime' };
  }

  async deleteBrokerUser(username: string): Promise<boolean> {
    if (this.cfg.securityUsers?.some((u) => u.username === username)) throw new ApiError(409, 'conflict', `user '${username}' is defined in the configuration file and cannot be deleted here`);
    if (this.engine.kvGet(USER_KV_PREFIX + username) === undefined) return false;
    await this.engine.kvDelete(USER_KV_PREFIX + username);
    this.verified.clear();
    // the engine ends the removed user's messaging connections with each protocol's "not authorized" error
    this.dropSessionsOf(username);
    return true;
  }

  private async check(username: string, password: string, remote: string | undefined): Promise<AdminUser | null> {
    const conf = this.cfg.users.find((u) => u.username === username);
    let hash: string | undefined;
    let user: AdminUser | undefined;
    const broker = conf ? undefined : this.brokerUser(username);
    if (conf) {
      hash = conf.passwordHash;
      user = { username, role: conf.role, source: 'config' };
    } else if (broker) {
      ({ hash, user } = broker);
    } else {
      const rt = this.engine.kvGet<StoredUser>(KV_PREFIX + username);
      if (rt) {
        hash = rt.passwordHash;
        user = { username, role: rt.role, source: 'runtime' };
      }
    }
    if (!hash || !user) {
      if (username === 'admin' && this.defaultUserActive() && isLoopback(remote) && safeEqual(password, 'admin')) return { username: 'admin', role: 'admin', source: 'default' };
      return null;
    }
    const cacheKey = createHash('sha256').update(`${username}\0${password}\0${hash}`).digest('base64');
    const cached = this.verified.get(cacheKey);
    if (cached && cached.expires > Date.now()) return user;
    if (!(await verifyPassword(password, hash))) return null;
    if (this.verified.size > 1000) this.verified.clear();
    this.verified.set(cacheKey, { username, expires: Date.now() + 60_000 });
    return user;
  }

  createSession(user: AdminUser): Session {
    const now = Date.now();
    if (this.sessions.size >= MAX_SESSIONS) this.sweep(now);
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const s: Session = { token: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), user, created: now, expires: now + this.cfg.sessionTimeout };
    this.sessions.set(s.token, s);
    return s;
  }

  destroySession(token: string): void {
    this.sessions.delete(token);
  }

  private sweep(now: number): void {
    for (const [t, s] of this.sessions) if (s.expires <= now) this.sessions.delete(t);
  }

  private session(token: string): Session | undefined {
    const s = this.sessions.get(token);
    if (!s) return undefined;
    const now = Date.now();
    // a session of the built-in admin/admin ends when that user turns off (a real admin user exists now)
    if (s.expires <= now || (s.user.source === 'default' && !this.defaultUserActive())) {
      this.sessions.delete(token);
      return undefined;
    }
    s.expires = now + this.cfg.sessionTimeout; // sliding
    return s;
  }

  /** Who is calling: bearer token, basic auth, or session cookie (in that order); null when nothing was presented. */
  async authenticate(req: IncomingMessage): Promise<Authenticated | null> {
    const h = req.headers.authorization;
    if (h) {
      const [scheme, value = ''] = h.split(/\s+/, 2);
      if (/^bearer$/i.test(scheme)) {
        const s = this.session(value);
        if (!s) throw new ApiError(401, 'unauthenticated', 'invalid or expired token', { 'www-authenticate': 'Bearer' });
        return { user: s.user, via: 'bearer', session: s };
      }
      if (/^basic$/i.test(scheme)) {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        if (i < 0) throw new ApiError(401, 'unauthenticated', 'malformed basic credentials', { 'www-authenticate': 'Basic realm="wharf"' });
        try {
          const user = await this.verify(decoded.slice(0, i), decoded.slice(i + 1), req.socket.remoteAddress);
          return { user, via: 'basic' };
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) throw new ApiError(401, err.code, err.message, { 'www-authenticate': 'Basic realm="wharf"' });
          throw err;
        }
      }
      throw new ApiError(401, 'unauthenticated', `unsupported authorization scheme '${scheme}' (use Basic or Bearer)`);
    }
    const token = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (token) {
      const s = this.session(token);
      if (s) return { user: s.user, via: 'cookie', session: s };
    }
    return null;
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure ? '; Secure' : ''}`;
}

export function clearCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
