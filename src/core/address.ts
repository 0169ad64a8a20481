/** Core destinations: queues and topics live in separate namespaces, as in ActiveMQ. */
export type DestinationKind = 'queue' | 'topic';

export interface Address {
  kind: DestinationKind;
  /** Dot-separated name, e.g. `orders.eu.new`. Topic names may contain wildcards `*` and `>` when subscribing. */
  name: string;
  /** Owned by a connection and deleted with it. */
  temporary?: boolean;
}

export function queue(name: string): Address {
  return { kind: 'queue', name };
}

export function topic(name: string): Address {
  return { kind: 'topic', name };
}

/** `queue://orders` / `topic://a.b` — the form used for replyTo and in DLQ properties. */
export function formatAddress(a: Address): string {
  return `${a.kind}://${a.name}`;
}

export function parseAddress(s: string, defaultKind: DestinationKind = 'queue'): Address {
  const m = /^(queue|topic|temp-queue|temp-topic):\/\/(.*)$/.exec(s);
  if (!m) return { kind: defaultKind, name: s };
  const kind = m[1].endsWith('queue') ? 'queue' : 'topic';
  return m[1].startsWith('temp') ? { kind, name: m[2], temporary: true } : { kind, name: m[2] };
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.kind === b.kind && a.name === b.name;
}

export function isWildcard(name: string): boolean {
  return name === '>' || name === '*' || name.includes('.*') || name.includes('*.') || name.endsWith('.>');
}

/** ActiveMQ-style topic matching: `*` is one segment, `>` the rest (one or more segments). */
export function matchTopic(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  const p = pattern.split('.');
  const n = name.split('.');
  for (let i = 0; i < p.length; i++) {
    // `>` matches the rest, including nothing, so MQTT's `a/#` (⇄ `a.>`) also matches `a`.
    if (p[i] === '>') return true;
    if (i >= n.length) return false;
    if (p[i] !== '*' && p[i] !== n[i]) return false;
  }
  return p.length === n.length;
}
