/**
 * One connection, per protocol: who (client or container id, user, address and ports, TLS, protocol version),
 * what it does (consumers with prefetch or credit and unacknowledged counts, producers, traffic) — destinations
 * in the client's own naming (MQTT `a/+/c`, STOMP `/queue/x`, AMQP `queue://x`).
 */
import { ApiError, del, enc, get } from './api.js';
import { bytes, confirmDialog, h, num, rate, replace, time } from './dom.js';
import { act, every, isAdmin, page } from './page.js';
import { badge, renderTable, stats } from './tables.js';

interface ConsumerRow extends Record<string, unknown> {
  id: number;
  destination: string;
  kind: 'queue' | 'subscription';
  address: string;
  prefetch: number;
  credit: number;
  flow: 'prefetch' | 'credit';
  unsettled: number;
  delivered: number;
  exclusive: boolean;
}

interface ConnDetail {
  id: string;
  protocol: string;
  protocolVersion?: string;
  clientId?: string;
  containerId?: string;
  user?: string | null;
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
  transport?: string;
  tls: boolean;
  connectedAt: number;
  consumers: number;
  producers: number;
  unacked: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  rateIn: number;
  rateOut: number;
  consumerList: ConsumerRow[];
  temporaries: string[];
}

export async function connectionPage(id: string): Promise<void> {
  const head = h('header', { class: 'page-head' }, h('h1', null, 'Connection ', h('span', { class: 'name' }, id)));
  const statBox = h('div');
  const who = h('div', { class: 'card' });
  const consumers = h('div', { class: 'card' });
  page(`Connection ${id}`, h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'Connections'), ' / '), head, statBox, h('section', { class: 'split' }, consumers, who));
  const load = async () => {
    let c: ConnDetail;
    try {
      c = await get<ConnDetail>(`/api/connections/${enc(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) replace(statBox, h('p', { class: 'notice' }, `Connection ${id} is closed.`), h('a', { href: '#/connections' }, 'All connections'));
      return;
    }
    replace(head, h('h1', null, 'Connection ', h('span', { class: 'name' }, id)), badge(`${c.protocol}${c.protocolVersion ? ` ${c.protocolVersion}` : ''}`), c.tls ? badge('TLS', 'ok') : null,
      isAdmin() ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: () => void close(c) }, 'Close connection')) : null);
    replace(statBox, stats([
      ['Consumers', num(c.consumers)],
      ['Unacked', num(c.unacked)],
      ['Producers', num(c.producers)],
      ['Messages in', num(c.messagesIn)],
      ['Messages out', num(c.messagesOut)],
      ['In/s', rate(c.rateIn)],
      ['Out/s', rate(c.rateOut)],
      ['Bytes in', bytes(c.bytesIn)],
      ['Bytes out', bytes(c.bytesOut)],
    ], 'Statistics'));
    const idLabel = c.protocol === 'amqp' ? 'Container id' : c.protocol === 'mqtt' ? 'Client identifier' : 'Client id';
    replace(who, h('h2', null, 'Client'), h('dl', { class: 'kv', 'aria-label': 'Client' },
      h('dt', null, idLabel), h('dd', null, (c.protocol === 'amqp' ? c.containerId : c.clientId) ?? '—'),
      c.protocol === 'amqp' && c.clientId ? [h('dt', null, 'Client id'), h('dd', null, c.clientId)] : null,
      h('dt', null, 'User'), h('dd', null, c.user ?? 'anonymous'),
      h('dt', null, 'Remote address'), h('dd', null, `${c.remoteAddress ?? '?'}${c.remotePort ? `:${c.remotePort}` : ''}`),
      h('dt', null, 'Broker port'), h('dd', null, c.localPort ? String(c.localPort) : '—'),
      h('dt', null, 'Transport'), h('dd', null, `${c.transport ?? '?'}${c.tls ? ' (TLS)' : ''}`),
      h('dt', null, 'Connected'), h('dd', null, time(c.connectedAt)),
      c.temporaries.length ? [h('dt', null, 'Temporary destinations'), h('dd', null, c.temporaries.join(', '))] : null,
    ));
    replace(consumers, h('h2', null, 'Consumers'), renderTable<ConsumerRow>([
      { key: 'id', label: 'Id', num: true },
      { key: 'address', label: c.protocol === 'mqtt' ? 'Topic filter' : 'Destination', render: (k) => h('a', { href: `#/${k.kind}/${enc(k.destination)}`, title: k.destination }, k.address) },
      { key: 'flow', label: 'Flow', render: (k) => (k.flow === 'credit' ? `credit ${num(k.credit)}` : `prefetch ${num(k.prefetch)}`) },
      { key: 'unsettled', label: 'Unacked', num: true },
      { key: 'delivered', label: 'Delivered', num: true },
      { key: 'exclusive', label: 'Exclusive', render: (k) => (k.exclusive ? 'yes' : '') },
    ], c.consumerList, { empty: 'No consumers.', label: 'Consumers' }));
    (document.getElementById('main') as HTMLElement).dataset.ready = 'connection';
  };
  const close = async (c: ConnDetail) => {
    if (!(await confirmDialog(`Close connection ${c.id}?`, `The ${c.protocol} client will be disconnected; unacknowledged messages go back to their queues.`, 'Close connection'))) return;
    if (await act(() => del(`/api/connections/${enc(c.id)}`), `Closed ${c.id}`)) location.hash = '#/connections';
  };
  await load();
  every(3000, load);
}
