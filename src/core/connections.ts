/** The open connections: client-id uniqueness (or takeover), and what closing one releases. */
import type { ConnectionInfo, KillCause } from './api.js';
import { Connection } from './connection.js';
import { BrokerError } from './errors.js';
import type { Principal } from './security.js';

export interface ConnectionRegistryHost {
  /** A closed connection's temporary queue goes (not awaited: the connection is gone either way). */
  deleteQueue(name: string): void;
  forgetTopic(name: string): void;
  emit(event: 'connection.opened' | 'connection.closed', c: Connection): void;
  /** Connections one authenticated user may hold; 0 = unlimited. */
  readonly maxPerUser: number;
}

export class ConnectionRegistry {
  private readonly byId = new Map<string, Connection>();
  private readonly clientIds = new Map<string, Connection>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly host: ConnectionRegistryHost) {}

  get size(): number {
    return this.byId.size;
  }

  list(): Connection[] {
    return [...this.byId.values()];
  }

  /** Register an authenticated connection; a second one with a client id in use is refused unless it takes over. */
  open(info: ConnectionInfo, principal: Principal): Connection {
    const max = this.host.maxPerUser;
    if (max > 0 && !principal.anonymous && (this.perUser.get(principal.username) ?? 0) >= max) {
      throw new BrokerError('limit', `User '${principal.username}' already has ${max} connections (limits.maxConnectionsPerUser)`);
    }
    if (info.clientId) {
      const existing = this.clientIds.get(info.clientId);
      if (existing && !existing.closed) {
        if (!info.takeover) throw new BrokerError('client-id-in-use', `Client id '${info.clientId}' is already connected`);
        existing.onKill?.('session taken over by a new connection with the same client id');
        this.close(existing);
      }
    }
    const c = new Connection(info, principal);
    this.byId.set(c.id, c);
    if (info.clientId) this.clientIds.set(info.clientId, c);
    if (!principal.anonymous) this.perUser.set(principal.username, (this.perUser.get(principal.username) ?? 0) + 1);
    this.host.emit('connection.opened', c);
    return c;
  }

  close(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    for (const consumer of [...c.consumers]) consumer.close();
    for (const t of c.temporaries) {
      const [kind, name] = [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)];
      if (kind === 'queue') this.host.deleteQueue(name);
      else this.host.forgetTopic(name);
    }
    this.byId.delete(c.id);
    if (c.clientId && this.clientIds.get(c.clientId) === c) this.clientIds.delete(c.clientId);
    if (!c.principal.anonymous) {
      const left = (this.perUser.get(c.principal.username) ?? 1) - 1;
      if (left <= 0) this.perUser.delete(c.principal.username);
      else this.perUser.set(c.principal.username, left);
    }
    this.host.emit('connection.closed', c);
  }

  kill(id: string, reason: string, cause?: KillCause): boolean {
    const c = this.byId.get(id);
    if (!c) return false;
    c.onKill?.(reason, cause);
    this.close(c);
    return true;
  }
}
