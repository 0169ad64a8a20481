/**
 * Authentication and authorization hooks every adapter goes through. Allow-all by default;
 * the security work plugs real users, TLS client certificates and ACLs in here.
 */
import type { Address } from './address.js';

export interface Credentials {
  protocol: string;
  username?: string;
  password?: string;
  /** Subject of a verified TLS client certificate (SASL EXTERNAL, MQTT over mTLS). */
  certificateSubject?: string;
  remoteAddress?: string;
}

export interface Principal {
  username: string;
  anonymous: boolean;
  groups: string[];
}

export type Action = 'send' | 'consume' | 'browse' | 'create' | 'delete' | 'admin';

export interface SecurityHooks {
  /** Resolve credentials to a principal, or return null to refuse the connection. */
  authenticate(credentials: Credentials): Promise<Principal | null>;
  authorize(principal: Principal, action: Action, destination: Address | null): boolean;
}

export const ANONYMOUS: Principal = Object.freeze({ username: 'anonymous', anonymous: true, groups: [] as string[] }) as Principal;

export const allowAll: SecurityHooks = {
  async authenticate(c) {
    return c.username ? { username: c.username, anonymous: false, groups: [] } : ANONYMOUS;
  },
  authorize() {
    return true;
  },
};
