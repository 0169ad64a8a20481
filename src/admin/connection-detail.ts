/**
 * One connection as the console's connection page shows it, per protocol: its socket (ports, transport, TLS),
 * client or container id, user, and its consumers with prefetch/credit and unacknowledged counts. Destinations
 * are named the way the connection's own protocol names them (MQTT `a/+/c`, STOMP `/queue/x`, AMQP `topic://x`).
 */
import type { Address, ConnectionHandle, ConsumerHandle } from '../core/api.js';

/** A core address in the protocol's own form. */
export function protocolName(protocol: string, a: Address): string {
  switch (protocol) {
    case 'mqtt':
      return a.kind === 'topic' ? a.name.split('.').map((s) => (s === '*' ? '+' : s === '>' ? '#' : s)).join('/') : a.name;
    case 'stomp':
      return `/${a.temporary ? 'temp-' : ''}${a.kind}/${a.name}`;
    case 'amqp':
      return `${a.kind}://${a.name}`;
    case 'openwire':
      return `${a.kind === 'queue' ? 'queue' : 'topic'}://${a.name}`;
    default:
      return a.name;
  }
}

export function endpointFields(c: ConnectionHandle) {
  const e = c.endpoint ?? {};
  return {
    transport: e.transport,
    tls: e.transport === 'tls' || e.transport === 'wss',
    remotePort: e.remotePort,
    localPort: e.localPort,
    containerId: e.containerId,
    protocolVersion: e.version,
  };
}

export function consumerDetail(c: ConnectionHandle, k: ConsumerHandle) {
  const sub = k.queue.role !== 'queue' && k.queue.role !== 'temporary';
  return {
    id: k.id,
    // the queue or subscription (engine name) a console link goes to
    destination: k.queue.name,
    kind: sub ? 'subscription' : 'queue',
    // what the client asked for, in its own protocol's form
    address: protocolName(c.protocol, k.queue.address),
    prefetch: k.prefetch,
    credit: k.credit,
    flow: k.prefetchMode ? 'prefetch' : 'credit',
    unsettled: k.unsettledIds.length,
    delivered: k.delivered,
    exclusive: k.exclusive,
    autoAck: k.autoAck,
  };
}
