/**
 * Connection limits shared by every listener of a broker: a total that leaves file descriptors for the store,
 * the admin listener and log files, and a per-address share so one host cannot take them all (10,000 idle
 * sockets from one address used to lock every other client out). A listener asks `admit` before handing a
 * socket to an adapter; a refused socket is closed at once and counted. The admin listener is `reserved`: it
 * counts towards nothing, so an operator can always get in. Per-user limits need the user, so the engine
 * enforces those when a protocol authenticates.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import { throttled } from './errors.js';

export interface GovernorLimits {
  /** Connections over all listeners; 0 = derived from the process's file-descriptor limit. */
  maxTotal: number;
  /** Connections from one remote address; 0 = half the total. */
  maxPerAddress: number;
}

export type RefusalReason = 'total' | 'per-address' | 'file-descriptors';

/** The soft limit on open files (Linux: /proc/self/limits), or undefined when it cannot be read. */
export function fileDescriptorLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** Descriptors kept back for everything that is not a client connection: the store, listeners, logs, admin. */
export function derivedTotal(fdLimit = fileDescriptorLimit() ?? 1024): number {
  const reserve = Math.max(64, Math.ceil(fdLimit * 0.05));
  return Math.max(16, fdLimit - reserve);
}

export class ConnectionGovernor {
  readonly maxTotal: number;
  readonly maxPerAddress: number;
  private total = 0;
  private readonly byAddress = new Map<string, number>();
  readonly refused: Record<RefusalReason, number> = { total: 0, 'per-address': 0, 'file-descriptors': 0 };
  private readonly warnFull: () => void;
  private readonly warnAddress: () => void;
  private readonly warnFds: () => void;

  constructor(limits: GovernorLimits, log?: Logger) {
    this.maxTotal = limits.maxTotal > 0 ? limits.maxTotal : derivedTotal();
    this.maxPerAddress = limits.maxPerAddress > 0 ? limits.maxPerAddress : Math.max(1, Math.floor(this.maxTotal / 2));
    this.warnFull = throttled(10_000, (n) =>
      log?.warn({ maxTotal: this.maxTotal, refused: n }, `connection limit of ${this.maxTotal} reached: refusing new client connections (limits.maxConnectionsTotal)`),
    );
    this.warnAddress = throttled(10_000, (n) =>
      log?.warn({ maxPerAddress: this.maxPerAddress, refused: n }, `an address reached its limit of ${this.maxPerAddress} connections: refusing more from it (limits.maxConnectionsPerAddress)`),
    );
    this.warnFds = throttled(60_000, (n) =>
      log?.error({ refused: n, fdLimit: fileDescriptorLimit() }, 'out of file descriptors (EMFILE/ENFILE): new connections fail. Raise the limit (ulimit -n, systemd LimitNOFILE) or lower limits.maxConnectionsTotal'),
    );
  }

  get open(): number {
    return this.total;
  }

  /**
   * Take a place for a new connection from `address`, or refuse it (null). `reserved` (admin listener) always gets
   * in and counts for nothing. The returned function gives the place back; calling it twice is harmless.
   */
  admit(address: string, reserved = false): (() => void) | null {
    if (reserved) return () => undefined;
    if (this.total >= this.maxTotal) {
      this.refused.total++;
      this.warnFull();
      return null;
    }
    const n = this.byAddress.get(address) ?? 0;
    if (n >= this.maxPerAddress) {
      this.refused['per-address']++;
      this.warnAddress();
      return null;
    }
    this.total++;
    this.byAddress.set(address, n + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.total--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    };
  }

  /** A listener's accept failed for lack of descriptors: logged once a minute with the fix, counted. */
  outOfDescriptors(): void {
    this.refused['file-descriptors']++;
    this.warnFds();
  }
}

/** Accept errors that mean the process ran out of file descriptors. */
export function isDescriptorExhaustion(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}
