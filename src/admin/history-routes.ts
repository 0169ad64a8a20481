/** REST routes of the per-destination history (history.ts): one destination's charts, and sparklines for a list page. */
import type { Sampler } from './sampler.js';
import { BYTES_PER_DESTINATION, TIERS } from './history.js';
import { badRequest, type RouteContext, type Router } from './http-util.js';

const KINDS: Record<string, string> = { queue: 'queue', topic: 'topic', subscription: 'sub' };

function range(q: URLSearchParams): '1h' | '24h' | '15m' {
  const r = q.get('range') ?? '1h';
  if (r !== '1h' && r !== '24h' && r !== '15m') throw badRequest('range: expected 15m, 1h or 24h');
  return r;
}

export function historyRoutes<C extends RouteContext>(r: Router<C>, sampler: Sampler): void {
  const h = sampler.destinations;
  r.get('/api/history', () => ({
    tiers: TIERS,
    bytesPerDestination: BYTES_PER_DESTINATION,
    maxDestinations: h.maxDestinations,
    tracked: h.tracked,
    bytes: h.bytes,
  }));
  // sparklines: ?kind=queue&names=a,b,c (up to 100), the last 15 minutes of depth and in
  r.get('/api/history/sparklines', (ctx) => {
    const q = ctx.url.searchParams;
    const prefix = KINDS[q.get('kind') ?? 'queue'];
    if (!prefix) throw badRequest('kind: expected queue, topic or subscription');
    const names = (q.get('names') ?? '').split(',').filter(Boolean);
    if (names.length > 100) throw badRequest('names: at most 100');
    const rg = range(q);
    const items: Record<string, { depth: number[]; in: number[] }> = {};
    for (const n of names) {
      const s = h.read(`${prefix}:${n}`, rg === '1h' ? '1h' : rg === '24h' ? '24h' : '15m');
      if (s) items[n] = { depth: s.series.depth, in: s.series.in };
    }
    return { range: rg, items };
  });
  r.get('/api/history/:kind/:name', (ctx) => {
    const prefix = KINDS[ctx.params.kind];
    if (!prefix) throw badRequest('kind: expected queue, topic or subscription');
    const rg = range(ctx.url.searchParams);
    const s = h.read(`${prefix}:${ctx.params.name}`, rg);
    // a destination without traffic since start has no buffer: an empty answer, not an error
    return s ? { name: ctx.params.name, kind: ctx.params.kind, range: rg, tracked: true, ...s } : { name: ctx.params.name, kind: ctx.params.kind, range: rg, tracked: false, step: rg === '24h' ? 300 : 10, t: [], series: { depth: [], in: [], out: [], redelivered: [] } };
  });
}
