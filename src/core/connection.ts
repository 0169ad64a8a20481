/** A client connection as the engine sees it: identity, what it owns, and counters. */
import type { Consumer } from './consumer.js';
import type { Principal } from './security.js';
import type { ConnectionInfo } from './api.js';

export type { ConnectionInfo } from './api.js';

/** A destination a connection sent to lately: un-counts its producer when released (see senders.ts). */
export interface RecentSend {
  release: () => void;
  /** Sent since the last sweep. */
  touched: boolean;
}
export type RecentSendsOf = { queue: Map<string, RecentSend>; topic: Map<string, RecentSend> };

export class Connection {
  private static nextId = 1;
  readonly id: string;
  readonly protocol: string;
  readonly clientId?: string;
  readonly remoteAddress?: string;
  readonly principal: Principal;
  readonly createdAt = Date.now();
  readonly consumers = new Set<Consumer>();
  /** Temporary destinations owned by this connection: `queue:name` / `topic:name`. */
  readonly temporaries = new Set<string>();
  producers = 0;
  /** Has registered a producer itself (AMQP sender link, OpenWire producer): its sends are not counted as recent senders. */
  explicitProducers = false;
  /** Destinations this connection sent to lately (protocols without producer objects; see senders.ts). */
  recentSends?: RecentSendsOf;
  closed = false;
  readonly stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  readonly onKill?: ConnectionInfo['onKill'];
  readonly endpoint?: ConnectionInfo['endpoint'];
  /** `action:address` denials already logged (the audit log names each once per connection). */
  readonly denied = new Set<string>();

  constructor(info: ConnectionInfo, principal: Principal) {
    this.id = `${info.protocol}-${(Connection.nextId++).toString(36)}`;
    this.protocol = info.protocol;
    this.clientId = info.clientId;
    this.remoteAddress = info.remoteAddress;
    this.principal = principal;
    this.onKill = info.onKill;
    this.endpoint = info.endpoint;
  }
}
