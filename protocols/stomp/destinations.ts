/**
 * STOMP destinations ⇄ engine addresses for one connection: `/queue/x` (or plain `x`), `/topic/x`, composites (`a,b`,
 * send only), and this connection's temporary destinations (`/temp-queue/x`, created on first use and
 * rendered back to their local name for the owner; other connections see `/remote-temp-queue/…`).
 */
import { type Address, BrokerError } from '../../src/core/api.js';
import { compositeAddress, kindOf, parseDestination } from './mapping.js';
import type { StompContext } from './context.js';

/** A STOMP destination as an engine address; temp names are created on first use. */
export function resolve(ctx: StompContext, dest: string, forSubscribe: boolean): Address {
  if (dest.includes(',')) {
    if (forSubscribe) throw new BrokerError('invalid', 'Composite destinations can be sent to, not subscribed to');
    return compositeAddress(dest);
  }
  const d = parseDestination(dest, true);
  switch (d.type) {
    case 'queue':
      return { kind: 'queue', name: d.name };
    case 'topic':
      return { kind: 'topic', name: d.name };
    case 'temp-queue':
    case 'temp-topic':
      return temp(ctx, kindOf(d.type), d.name);
    case 'remote-temp-queue':
      return { kind: 'queue', name: d.name, temporary: true };
    case 'remote-temp-topic':
      return { kind: 'topic', name: d.name, temporary: true };
  }
}

export function temp(ctx: StompContext, kind: 'queue' | 'topic', local: string): Address {
  const key = `${kind}:${local}`;
  const found = ctx.temps.get(key);
  if (found) return found;
  if (ctx.temps.size >= ctx.opts.maxTemporaries) throw new BrokerError('limit', `A connection may own at most ${ctx.opts.maxTemporaries} temporary destinations`);
  const a = ctx.engine.createTemporary(kind, ctx.conn!);
  ctx.temps.set(key, a);
  ctx.tempLocal.set(`${kind}:${a.name}`, `/temp-${kind}/${local}`);
  return a;
}

/** reply-to of a SEND as a core address string: temp names become the engine's (global) temporary name. */
export function replyToAddress(ctx: StompContext, dest: string): string {
  let d;
  try {
    d = parseDestination(dest);
  } catch {
    return dest; // not a STOMP destination: kept verbatim
  }
  switch (d.type) {
    case 'queue':
    case 'topic':
      return `${d.type}://${d.name}`;
    case 'temp-queue':
    case 'temp-topic': {
      const a = temp(ctx, kindOf(d.type), d.name);
      return `temp-${a.kind}://${a.name}`;
    }
    case 'remote-temp-queue':
      return `temp-queue://${d.name}`;
    case 'remote-temp-topic':
      return `temp-topic://${d.name}`;
  }
}

/** A core address string as this connection should see it. */
export function render(ctx: StompContext, core: string): string {
  const i = core.indexOf('://');
  if (i < 0) return core;
  const scheme = core.slice(0, i);
  const name = core.slice(i + 3);
  switch (scheme) {
    case 'queue': {
      if (ctx.tempLocal.size) {
        const local = ctx.tempLocal.get(`queue:${name}`);
        if (local) return local;
      }
      return ctx.engine.isTemporaryQueue(name) ? `/remote-temp-queue/${name}` : `/queue/${name}`;
    }
    case 'topic':
      return (ctx.tempLocal.size && ctx.tempLocal.get(`topic:${name}`)) || `/topic/${name}`;
    case 'temp-queue':
      return ctx.tempLocal.get(`queue:${name}`) ?? `/remote-temp-queue/${name}`;
    case 'temp-topic':
      return ctx.tempLocal.get(`topic:${name}`) ?? `/remote-temp-topic/${name}`;
    default:
      return core;
  }
}
