/**
 * Access control on the engine's one path: who may do what to which destination (through the security hooks),
 * with the rules every protocol shares — temporary queues belong to their connection (anyone may reply to one),
 * creating a queue needs `create`, a composite send is checked part by part — and the audit log lines of logins
 * and denials (a denial logged once per connection and destination).
 */
import { formatAddress, isWildcard, parseAddress, type Address } from './address.js';
import type { Logger } from './api.js';
import type { Connection } from './connection.js';
import type { EngineState } from './engine-state.js';
import { BrokerError } from './errors.js';
import { ANONYMOUS, SECURITY_KV_PREFIX, type Action, type Credentials, type Principal, type SecurityHooks } from './security.js';
import type { KillCause } from './api.js';
import type { CoreQueue } from './queue.js';

/** Login throttling (per username and address): failures allowed in a window, and the window. */
export const LOGIN_MAX_FAILURES = 10;
export const LOGIN_WINDOW_MS = 60_000;

export class AccessControl {
  /** Denials already in the audit log, for calls without a connection (SQS/SNS requests). */
  private readonly deniedLogged = new Set<string>();

  constructor(private readonly state: EngineState, private readonly security: () => SecurityHooks, private readonly logger: Logger) {}

  loginFailed(c: Credentials): void {
    const hint = this.security().refusalHint?.(c);
    this.logger.warn(
      { audit: true, event: 'login', outcome: 'failure', protocol: c.protocol, user: c.username ?? null, remote: c.remoteAddress, ...(c.certificate && !c.username ? { certificate: c.certificate.subject } : {}), ...(hint ? { hint } : {}) },
      c.username
        ? `login failed: ${c.username} over ${c.protocol} from ${c.remoteAddress ?? '?'}`
        : `login failed: ${c.certificate ? 'certificate' : 'anonymous'} ${c.protocol} client from ${c.remoteAddress ?? '?'} refused; ${hint ?? ''}`.trim(),
    );
  }

  authorize(principal: Principal | undefined, action: Action, address: Address | null, conn?: Connection | null): void {
    const p = principal ?? ANONYMOUS;
    if (this.security().authorize(p, action, address)) return;
    const key = `${action}:${address ? formatAddress(address) : ''}`;
    // logged once per connection and destination (per user and destination for connectionless HTTP requests)
    const seen = conn ? conn.denied : this.deniedLogged;
    const seenKey = conn ? key : `${p.username}\0${key}`;
    const first = !seen.has(seenKey);
    if (first) {
      if (seen.size >= 10_000) seen.clear();
      seen.add(seenKey);
    }
    if (first) {
      this.logger.warn(
        { audit: true, event: 'denied', user: p.username, action, destination: address ? formatAddress(address) : null, connection: conn?.id, protocol: conn?.protocol, remote: conn?.remoteAddress },
        `denied: ${p.username} may not ${action} ${address ? formatAddress(address) : ''}`.trim(),
      );
    }
    throw new BrokerError('unauthorized', `User '${p.username}' is not authorized to ${action} ${address ? formatAddress(address) : ''}`.trim());
  }

  /**
   * A shared subscription to a wildcard filter: one queue serves every member, so it cannot be filtered for one
   * member's rights (the others would lose messages, or this one get what it may not read). Each member must be
   * able to read the whole filter; else the subscribe is refused (audited like any denial).
   */
  checkShared(conn: Connection, address: Address): void {
    if (conn.principal.internal || !isWildcard(address.name) || !this.security().filterAtDelivery?.(conn.principal, address.name)) return;
    const dest = formatAddress(address);
    if (!conn.denied.has(`shared:${dest}`)) {
      conn.denied.add(`shared:${dest}`);
      this.logger.warn(
        { audit: true, event: 'denied', user: conn.principal.username, action: 'consume', destination: dest, shared: true, connection: conn.id, protocol: conn.protocol, remote: conn.remoteAddress },
        `denied: ${conn.principal.username} may not read all of ${dest}, as a shared subscription needs`,
      );
    }
    throw new BrokerError('unauthorized', `User '${conn.principal.username}' is not authorized to consume all of ${dest}: a shared subscription to a wildcard needs read on every topic it matches`);
  }

  /**
   * Authorization of a connection's operation: the broker's own calls (no connection) pass; a temporary queue
   * may be consumed only by the connection that created it (no ACL can grant it to another) and written by anyone
   * (replies); a queue that does not exist yet needs `create` too.
   */
  check(conn: Connection | null, action: Action, address: Address): void {
    if (!conn || conn.principal.internal) return;
    if (address.kind === 'queue') {
      const q = this.state.queues.get(address.name);
      if (q?.role === 'temporary' || address.temporary) {
        if (action === 'send' || conn.temporaries.has(`queue:${address.name}`)) return;
        // gone (its connection closed) or never made: say so, as sends to it do, rather than blame an owner
        if (!q) throw new BrokerError('not-found', `Temporary queue '${address.name}' does not exist`);
        // JMS 1.1 §4.4.3: a temporary queue's messages are consumed only by its own connection; ActiveMQ refuses
        // the consumer ("Cannot subscribe to remote temporary destination"), whatever the ACLs grant
        throw new BrokerError('unauthorized', `Temporary queue '${address.name}' belongs to another connection: only the connection that created it may ${action} it`);
      }
      this.authorize(conn.principal, action, address, conn);
      if (!q && !isWildcard(address.name)) this.authorize(conn.principal, 'create', address, conn);
      return;
    }
    if (address.temporary && conn.temporaries.has(`topic:${address.name}`)) return;
    this.authorize(conn.principal, action, address, conn);
  }

  /** A send: the address itself and, for a composite `a,topic://b`, each of its parts. */
  checkSend(conn: Connection | null, address: Address): void {
    if (!conn || conn.principal.internal) return;
    if (!address.name.includes(',')) return this.check(conn, 'send', address);
    for (const part of address.name.split(',').map((x) => x.trim()).filter(Boolean)) this.check(conn, 'send', parseAddress(part, address.kind));
  }

  // ------------------------------------------------------------------------------ revocation

  /** The address each live consumer was authorized to read (the subscribe's): what a change of rights re-checks. */
  readonly consumerAddress = new WeakMap<object, Address>();

  /** Whether a kv key is security state (users, runtime ACL rules). */
  static isSecurityKey(key: string): boolean {
    return key.startsWith(SECURITY_KV_PREFIX);
  }

  /**
   * Users or ACL rules changed: cached decisions are dropped, every live connection's principal follows its user
   * (a removed user's connections end with `unauthorized`), and only the consumers whose user may no longer read
   * their destination are closed (`cause: 'unauthorized'`, so the adapter uses its protocol's error). Wildcard topic
   * subscriptions are re-filtered under the new rules.
   */
  securityChanged(connections: Connection[], kill: (id: string, reason: string, cause: KillCause) => void): void {
    const sec = this.security();
    sec.changed?.();
    for (const conn of connections) {
      if (conn.closed || conn.principal.internal) continue;
      const p = conn.principal;
      if (sec.refreshPrincipal && !sec.refreshPrincipal(p)) {
        this.logger.warn({ audit: true, event: 'revoked', user: p.username, connection: conn.id, protocol: conn.protocol, remote: conn.remoteAddress }, `revoked: user '${p.username}' no longer exists; closing its ${conn.protocol} connection ${conn.id}`);
        this.guarded(() => kill(conn.id, `user '${p.username}' was removed`, 'unauthorized'));
        continue;
      }
      for (const consumer of [...conn.consumers]) {
        const address = this.consumerAddress.get(consumer);
        if (!address || consumer.closed) continue;
        if (this.mayStillRead(conn, address)) {
          if (address.kind === 'topic' && isWildcard(address.name)) {
            const q = consumer.queue as unknown as CoreQueue;
            const filtered = !!sec.filterAtDelivery?.(p, address.name);
            if (!(filtered && q.role === 'shared-subscription')) {
              if (filtered) this.state.subscriptionReaders.set(q, p);
              else this.state.subscriptionReaders.delete(q);
              continue;
            }
            // a shared subscription cannot be filtered for one member (checkShared): that member goes
          } else continue;
        }
        const dest = formatAddress(address);
        this.logger.warn({ audit: true, event: 'revoked', user: p.username, action: 'consume', destination: dest, connection: conn.id, protocol: conn.protocol, remote: conn.remoteAddress }, `revoked: ${p.username} may no longer consume ${dest}; closing its consumer`);
        this.guarded(() => consumer.close({ notify: true, reason: `User '${p.username}' is no longer authorized to consume ${dest}`, cause: 'unauthorized' }));
      }
    }
  }

  /** An adapter's close handler that throws must not stop the sweep (nor fail the admin call: the change is committed). */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err }, 'revocation: closing a consumer or connection failed');
    }
  }

  private mayStillRead(conn: Connection, address: Address): boolean {
    const temp = address.temporary || (address.kind === 'queue' && this.state.queues.get(address.name)?.role === 'temporary');
    if (temp && conn.temporaries.has(`${address.kind}:${address.name}`)) return true;
    return this.security().authorize(conn.principal, 'consume', address);
  }

  /** Failed logins per (user, address) in the current window; at LOGIN_MAX_FAILURES further attempts are refused unchecked. */
  private readonly loginThrottle = new Map<string, { start: number; failures: number; throttled: boolean }>();
  private readonly loginCounts = { failures: new Map<string, number>(), throttled: new Map<string, number>() };

  loginStats(): { failures: Record<string, number>; throttled: Record<string, number> } {
    return { failures: Object.fromEntries(this.loginCounts.failures), throttled: Object.fromEntries(this.loginCounts.throttled) };
  }

  /**
   * The security hooks' authenticate behind a throttle: after LOGIN_MAX_FAILURES failed logins of one username from
   * one address within LOGIN_WINDOW_MS, further attempts are refused without checking the password until the window
   * ends (a success ends the window). Anonymous clients have no password to guess and are not throttled.
   */
  async checkLogin(c: Credentials): Promise<Principal | null> {
    if (c.internal || !c.username) return this.counted(c, await this.security().authenticate(c));
    const key = `${c.username}\0${c.remoteAddress ?? ''}`;
    const now = Date.now();
    let t = this.loginThrottle.get(key);
    if (t && now - t.start >= LOGIN_WINDOW_MS) {
      this.loginThrottle.delete(key);
      t = undefined;
    }
    if (t && t.failures >= LOGIN_MAX_FAILURES) {
      this.loginCounts.throttled.set(c.protocol, (this.loginCounts.throttled.get(c.protocol) ?? 0) + 1);
      if (!t.throttled) {
        t.throttled = true;
        this.logger.warn({ audit: true, event: 'login-throttled', protocol: c.protocol, user: c.username, remote: c.remoteAddress }, `login: ${LOGIN_MAX_FAILURES} failed logins of ${c.username} from ${c.remoteAddress ?? '?'} within ${LOGIN_WINDOW_MS / 1000} s; refusing further attempts until the window ends`);
      }
      return this.counted(c, null);
    }
    const principal = await this.security().authenticate(c);
    if (principal) {
      if (t) this.loginThrottle.delete(key);
    } else {
      if (!t) {
        if (this.loginThrottle.size >= 100_000) for (const [k, v] of this.loginThrottle) if (now - v.start >= LOGIN_WINDOW_MS) this.loginThrottle.delete(k);
        if (this.loginThrottle.size >= 100_000) this.loginThrottle.clear();
        t = { start: now, failures: 0, throttled: false };
        this.loginThrottle.set(key, t);
      }
      t.failures++;
    }
    return this.counted(c, principal);
  }

  private counted(c: Credentials, p: Principal | null): Principal | null {
    if (!p) this.loginCounts.failures.set(c.protocol, (this.loginCounts.failures.get(c.protocol) ?? 0) + 1);
    return p;
  }
}
