/**
 * The overview's health strip: one line of markers an operator reads first — reachable, ready (/readyz checks),
 * resource alarms, dead letters (linked to the DLQs), queues with messages and no consumer, the oldest waiting
 * message, offline subscriptions whose backlog grows, stuck consumers. Green when fine, amber/red when not.
 */
import { enc, get } from './api.js';
import { duration, h, num, replace, type Child } from './dom.js';

interface Health {
  alarms: Array<{ resource: string; detail: string }>;
  deadLetters: { messages: number; queues: number; items: Array<{ name: string; depth: number }> };
  noConsumer: { count: number; items: Array<{ name: string; ready: number }> };
  oldestMessage: { name: string; ageSeconds: number } | null;
  growingSubscriptions: { count: number; items: Array<{ name: string; depth: number; growth: number }> };
  stuckConsumers: { count: number; thresholdSeconds: number; items: Array<{ connection: string; consumer: number; destination: string; unacked: number; stuckSeconds: number }> };
}

type Level = 'ok' | 'warn' | 'bad' | 'neutral';

function marker(key: string, level: Level, label: string, detail: Child, href?: string): HTMLElement {
  // only the label links (the detail holds links of its own)
  return h('li', { class: `marker ${level}`, 'data-health': key, 'data-level': level }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('strong', null, href ? h('a', { href }, label) : label), detail ? h('span', { class: 'marker-detail' }, detail) : null);
}

const names = (items: Array<{ name: string }>, kind = 'queue') => items.map((i, n) => [n ? ', ' : '', h('a', { href: `#/${kind}/${enc(i.name)}` }, i.name)]);

/** `stuckAfter`: seconds without progress before a consumer holding messages counts as stuck (default: the broker's 60). */
export function healthStrip(stuckAfter?: number): { el: HTMLElement; load: () => Promise<void> } {
  const list = h('ul', { class: 'health-strip', 'aria-label': 'Health' });
  const el = h('section', { class: 'card health', id: 'health' }, list);
  const load = async () => {
    let hl: Health;
    let ready: { status: string; checks: Record<string, string> } | null = null;
    try {
      [hl, ready] = await Promise.all([
        get<Health>(`/api/health${stuckAfter ? `?stuckSeconds=${stuckAfter}` : ''}`),
        fetch('/readyz', { cache: 'no-store' }).then((r) => r.json() as Promise<{ status: string; checks: Record<string, string> }>).catch(() => null),
      ]);
    } catch (err) {
      replace(list, marker('reachable', 'bad', 'Unreachable', (err as Error).message));
      return;
    }
    const notOk = ready ? Object.entries(ready.checks).filter(([, v]) => v !== 'ok' && v !== 'standalone') : [];
    const d = hl.deadLetters;
    const oldest = hl.oldestMessage;
    replace(list,
      marker('reachable', 'ok', 'Reachable', ''),
      marker('ready', !ready ? 'warn' : ready.status === 'ready' ? 'ok' : 'bad', ready?.status === 'ready' ? 'Ready' : 'Not ready', ready ? (notOk.length ? notOk.map(([k, v]) => `${k}: ${v}`).join(', ') : Object.keys(ready.checks).join(' · ')) : '/readyz did not answer'),
      marker('alarms', hl.alarms.length ? 'bad' : 'ok', hl.alarms.length ? `${hl.alarms.length} resource alarm${hl.alarms.length > 1 ? 's' : ''}` : 'No alarms', hl.alarms.map((a) => `${a.resource}: ${a.detail}`).join('; ')),
      marker('dead-letters', d.messages ? 'warn' : 'ok', `Dead letters: ${num(d.messages)} in ${num(d.queues)} DLQ${d.queues === 1 ? '' : 's'}`, d.items.length ? names(d.items) : '', d.queues === 1 ? `#/queue/${enc(d.items[0].name)}` : d.queues ? '#/destinations?kind=queue&filter=DLQ.>&sort=depth' : undefined),
      marker('no-consumer', hl.noConsumer.count ? 'warn' : 'ok', `${num(hl.noConsumer.count)} queue${hl.noConsumer.count === 1 ? '' : 's'} with messages and no consumer`, names(hl.noConsumer.items)),
      marker('oldest', oldest && oldest.ageSeconds >= 3600 ? 'warn' : 'neutral', oldest ? `Oldest message: ${duration(oldest.ageSeconds)}` : 'No messages waiting', oldest ? ['in ', h('a', { href: `#/queue/${enc(oldest.name)}` }, oldest.name)] : ''),
      marker('growing-subscriptions', hl.growingSubscriptions.count ? 'warn' : 'ok', `${num(hl.growingSubscriptions.count)} offline subscription${hl.growingSubscriptions.count === 1 ? '' : 's'} growing`, names(hl.growingSubscriptions.items, 'subscription')),
      marker('stuck-consumers', hl.stuckConsumers.count ? 'bad' : 'ok', `${num(hl.stuckConsumers.count)} stuck consumer${hl.stuckConsumers.count === 1 ? '' : 's'}`,
        hl.stuckConsumers.items.map((s, i) => [i ? ', ' : '', h('a', { href: `#/connection/${enc(s.connection)}` }, s.connection), ` (${num(s.unacked)} unacked on ${s.destination}, ${duration(s.stuckSeconds)})`])),
    );
    el.dataset.loaded = 'true';
  };
  return { el, load };
}
