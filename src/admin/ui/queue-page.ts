/**
 * A queue's or subscription's page: statistics, history charts, consumers, the send form, and its messages —
 * refreshed with the statistics, selectable for bulk move/copy/delete/retry (count shown first), filterable by a
 * JMS selector, grouped by cause on a DLQ, and one message's detail in a panel beside the list that takes focus.
 */
import { ApiError, del, enc, get, post, type Dest, type Msg, type Page } from './api.js';
import { bytes, clear, confirmDialog, h, num, rate, replace, time, toast, type Child } from './dom.js';
import { historyCharts } from './history.js';
import { act, every, hashParams, isAdmin, leavePage, link, onLeave, page, setHashParams } from './page.js';
import { pickDestination } from './pick-destination.js';
import { sendForm } from './send-form.js';
import { badge, renderTable, stats } from './tables.js';

interface QueueDetail extends Dest {
  createdAt: number;
  persistent: boolean;
  consumerList: Array<{ id: number; connection?: string; protocol?: string; clientId?: string; remoteAddress?: string; prefetch: number; credit: number; unsettled: number; delivered: number }>;
  policy?: Record<string, unknown>;
  // subscriptions
  type?: string;
  topic?: string;
  clientId?: string;
  selector?: string;
}

interface BulkResult {
  matched: number;
  inflight: number;
  done: number;
  capped: boolean;
}

interface CauseGroup {
  cause: string;
  count: number;
  sources: Record<string, number>;
  oldest: number;
  newest: number;
}

type BulkAction = 'move' | 'copy' | 'delete' | 'retry';
const PAST: Record<BulkAction, string> = { move: 'Moved', copy: 'Copied', delete: 'Deleted', retry: 'Retried' };

const plural = (n: number, one: string) => `${num(n)} ${one}${n === 1 ? '' : 's'}`;
const shortDest = (d: unknown) => (typeof d === 'string' ? d.replace(/^queue:\/\//, '') : '');
const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function queuePage(kind: 'queue' | 'subscription', name: string): Promise<void> {
  const base = kind === 'queue' ? `/api/queues/${enc(name)}` : `/api/subscriptions/${enc(name)}`;
  const title = h('h1', null, kind === 'queue' ? 'Queue ' : 'Subscription ', h('span', { class: 'name' }, name));
  const badges = h('span', { class: 'badges' });
  const actions = h('div', { class: 'actions' });
  const statBox = h('div');
  const consumersBox = h('div');
  const messagesBox = h('div');
  const causesBox = h('div', { class: 'causes' });
  const bulkBar = h('div', { class: 'bulk-bar', role: 'toolbar', 'aria-label': 'Bulk actions' });
  const selectorInput = h('input', { type: 'search', class: 'selector', placeholder: "JMS selector, e.g. region = 'eu' AND JMSPriority > 4", 'aria-label': 'Selector' });
  const selectorErr = h('p', { class: 'error', role: 'alert' });
  const detailBox = h('aside', { class: 'drawer', id: 'message-detail', 'aria-label': 'Message detail' });
  const historyBox = h('div', { class: 'card history' });
  const sendBox = kind === 'queue' && isAdmin() ? sendForm({ kind: 'queue', name }, () => void refresh()) : null;
  page(`${kind === 'queue' ? 'Queue' : 'Subscription'} ${name}`,
    h('p', { class: 'crumbs' }, h('a', { href: kind === 'queue' ? '#/destinations' : '#/subscriptions' }, kind === 'queue' ? 'Destinations' : 'Subscriptions'), ' / '),
    h('header', { class: 'page-head' }, title, badges, actions),
    statBox,
    historyBox,
    h('section', null,
      h('div', { class: 'card' },
        h('h2', null, 'Messages'),
        causesBox,
        h('form', {
          class: 'toolbar',
          onsubmit: (e: Event) => {
            e.preventDefault();
            filterBy(selectorInput.value.trim());
          },
        }, selectorInput, h('button', { type: 'submit', class: 'secondary' }, 'Filter')),
        selectorErr,
        isAdmin() ? bulkBar : null,
        messagesBox,
      ),
    ),
    h('section', { class: 'split queue-lower' }, h('div', { class: 'card' }, h('h2', null, 'Consumers'), consumersBox), sendBox ? h('div', { class: 'card' }, h('h2', null, 'Send a message'), sendBox) : null),
    detailBox,
  );

  let q: QueueDetail | undefined;
  let offset = 0;
  let selector = hashParams().get('selector') ?? '';
  selectorInput.value = selector;
  const limit = 25;
  const selected = new Set<string>();
  let isDlq = /^DLQ\./.test(name);

  const charts = historyCharts(historyBox, kind === 'queue' ? 'queue' : 'subscription', name);
  onLeave(() => charts.destroy());

  const loadStats = async () => {
    try {
      q = await get<QueueDetail>(base);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        leavePage();
        page('Not found', h('h1', null, `${kind === 'queue' ? 'Queue' : 'Subscription'} ${name}`), h('p', { class: 'error' }, err.message), h('a', { href: '#/destinations' }, 'All destinations'));
      }
      return;
    }
    isDlq = q.dlq || /^DLQ\./.test(name);
    replace(badges, q.paused ? badge('paused', 'warn') : null, isDlq ? badge('DLQ', 'bad') : null, q.temporary ? badge('temporary') : null, q.type ? badge(q.type) : null);
    const items: Array<[string, Child]> = [
      ['Messages', num(q.depth)],
      ['Ready', num(q.ready)],
      ['In flight', num(q.inflight)],
      ['Scheduled', num(q.scheduled)],
      ['Consumers', num(q.consumers)],
      ['Enqueued', num(q.enqueued)],
      ['Dequeued', num(q.dequeued)],
      ['Expired', num(q.expired)],
      ['Dead-lettered', num(q.deadLettered)],
      // limit drops (drop-oldest, MQTT maxQueuedMessages) and purges
      ['Dropped', num(q.dropped ?? 0)],
      ['In/s', rate(q.rateIn)],
      ['Out/s', rate(q.rateOut)],
      ['Size', bytes(q.bytes)],
    ];
    if (kind === 'queue') items.splice(5, 0, ['Producers', num(q.producers)]);
    if (q.topic) items.unshift(['Topic', link('topic', q.topic)]);
    replace(statBox, stats(items, 'Statistics'));
    if (isAdmin()) {
      replace(actions,
        h('button', { type: 'button', class: 'secondary', onclick: togglePause }, q.paused ? 'Resume' : 'Pause'),
        isDlq && kind === 'queue' ? h('button', { type: 'button', class: 'primary', onclick: retryAll }, 'Retry all') : null,
        h('button', { type: 'button', class: 'danger', onclick: purge }, 'Purge'),
        h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete'),
      );
    }
    replace(consumersBox, renderTable<Record<string, unknown>>([
      { key: 'id', label: 'Id' },
      { key: 'connection', label: 'Connection', render: (c) => (c.connection ? h('a', { href: `#/connection/${enc(String(c.connection))}` }, String(c.connection)) : 'internal') },
      { key: 'clientId', label: 'Client id', clip: true },
      { key: 'prefetch', label: 'Prefetch', num: true },
      { key: 'unsettled', label: 'Unacked', num: true },
      { key: 'delivered', label: 'Delivered', num: true },
    ], q.consumerList as unknown as Array<Record<string, unknown>>, { empty: 'No consumers.', label: 'Consumers' }));
  };

  const loadCauses = async () => {
    if (!isDlq || kind !== 'queue') return replace(causesBox);
    const r = await get<{ scanned: number; capped: boolean; causes: CauseGroup[] }>(`${base}/dead-letter-causes`);
    if (r.causes.length === 0) return replace(causesBox);
    replace(causesBox,
      h('h3', null, 'Dead letters by cause'),
      renderTable<CauseGroup & Record<string, unknown>>([
        { key: 'cause', label: 'Cause', clip: true },
        { key: 'count', label: 'Messages', num: true },
        { key: 'sources', label: 'From', clip: true, render: (g) => Object.entries(g.sources).map(([s, n]) => `${shortDest(s)} (${num(n)})`).join(', ') },
        { key: 'newest', label: 'Latest sent', render: (g) => time(g.newest) },
        { key: 'pick', label: '', render: (g) => h('button', { type: 'button', class: 'secondary small', 'aria-label': `Show cause ${g.cause}`, onclick: () => filterBy(`dlqDeliveryFailureCause = ${quote(g.cause)}`) }, 'Show') },
      ], r.causes as Array<CauseGroup & Record<string, unknown>>, { label: 'Dead letters by cause' }),
      r.capped ? h('p', { class: 'muted' }, `Grouped over the first ${num(r.scanned)} messages.`) : null,
    );
  };

  function filterBy(sel: string) {
    selectorInput.value = sel;
    selector = sel;
    // kept in the address, like a list's search: Back and reload come back to the same messages
    setHashParams(new URLSearchParams(sel ? { selector: sel } : {}));
    offset = 0;
    selected.clear();
    void loadMessages();
  }

  const renderBulkBar = () => {
    const n = selected.size;
    const scope = n ? `${plural(n, 'selected message')}` : selector ? 'every message matching the selector' : '';
    const btn = (action: BulkAction, label: string, cls = 'secondary') => h('button', { type: 'button', class: `${cls} small`, disabled: !scope, onclick: () => void bulk(action) }, label);
    replace(bulkBar,
      h('span', { class: 'muted', 'data-selected': n }, scope ? `Act on ${scope}:` : 'Select messages (or filter by a selector) to move, copy, delete or retry them together.'),
      scope ? [btn('move', 'Move…'), btn('copy', 'Copy…'), isDlq && kind === 'queue' ? btn('retry', 'Retry', 'primary') : null, btn('delete', 'Delete', 'danger')] : null,
      n ? h('button', { type: 'button', class: 'link small', onclick: () => { selected.clear(); renderBulkBar(); void loadMessages(); } }, 'Clear selection') : null,
    );
  };

  const loadMessages = async () => {
    let res: Page<Msg> & { total: number | null };
    try {
      const sel = selector ? `&selector=${enc(selector)}` : '';
      res = await get<Page<Msg> & { total: number | null }>(`${base}/messages?offset=${offset}&limit=${limit}${sel}`);
      selectorErr.textContent = '';
    } catch (err) {
      if (selector && err instanceof ApiError && err.status === 400) selectorErr.textContent = `Selector: ${err.message}`;
      else replace(messagesBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    const total = res.total ?? res.items.length + offset + (res.items.length === limit ? 1 : 0);
    const dlqCols = isDlq ? [
      { key: 'cause', label: 'Cause', clip: true, render: (m: Msg) => String(m.properties.dlqDeliveryFailureCause ?? '') },
      { key: 'source', label: 'From', clip: true, render: (m: Msg) => shortDest(m.properties.originalDestination) },
      { key: 'deadLettered', label: 'Dead-lettered', render: (m: Msg) => (typeof m.properties.dlqDeadLetteredAt === 'number' ? time(m.properties.dlqDeadLetteredAt) : '') },
    ] : [];
    const table = renderTable<Msg & Record<string, unknown>>([
      { key: 'seq', label: '#', num: true },
      { key: 'messageId', label: 'Message id', clip: true, render: (m) => h('code', null, m.messageId) },
      { key: 'state', label: 'State', render: (m) => (m.state === 'ready' ? 'ready' : badge(m.state, m.state === 'inflight' ? 'warn' : '')) },
      ...dlqCols,
      { key: 'timestamp', label: isDlq ? 'Sent' : 'Time', render: (m) => time(m.timestamp) },
      { key: 'priority', label: 'Pri', num: true },
      { key: 'bodySize', label: 'Size', num: true, render: (m) => bytes(m.bodySize) },
      { key: 'body', label: 'Body', clip: true, render: (m) => (m.bodyEncoding === 'utf8' ? m.body.slice(0, 200) : `base64: ${m.body.slice(0, 60)}`) },
    ], res.items as Array<Msg & Record<string, unknown>>, {
      empty: selector ? 'No messages match the selector.' : 'No messages.',
      label: 'Messages',
      onRow: (m) => void showMessage(m.seq),
      rowKey: (m) => String(m.seq),
      select: isAdmin() ? { key: (m) => String(m.seq), selected, onChange: renderBulkBar, label: (m) => `message #${m.seq}` } : undefined,
    });
    const more = res.total === null ? res.items.length === limit : offset + res.items.length < total;
    replace(messagesBox,
      table,
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); void loadMessages(); } }, '‹ Previous'),
        h('span', { class: 'muted pager-info', 'data-total': res.total ?? '' }, res.items.length === 0 && offset === 0 ? '0 messages' : res.total === null ? `${num(offset + 1)}–${num(offset + res.items.length)} matching` : `${num(offset + 1)}–${num(offset + res.items.length)} of ${num(total)}`),
        h('button', { type: 'button', class: 'secondary', disabled: !more, onclick: () => { offset += limit; void loadMessages(); } }, 'Next ›'),
      ),
    );
    renderBulkBar();
  };

  /** Statistics, the list and (on a DLQ) the causes together, so they never disagree for long. */
  const refresh = () => Promise.all([loadStats(), loadMessages(), loadCauses().catch(() => undefined)]);

  // the row to focus when the detail closes (found by seq: the list may have been re-rendered meanwhile)
  let returnSeq: number | null = null;
  const closeDetail = () => {
    const wasOpen = detailBox.classList.contains('open');
    clear(detailBox);
    detailBox.classList.remove('open');
    if (wasOpen && returnSeq !== null) messagesBox.querySelector<HTMLElement>(`tr[data-key="${returnSeq}"]`)?.focus();
  };
  detailBox.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDetail();
  });

  const showMessage = async (seq: number) => {
    returnSeq = seq;
    let m: Msg;
    try {
      m = await get<Msg>(`${base}/messages/${seq}`);
    } catch (err) {
      // e.g. acknowledged meanwhile: say so where the detail would have been
      replace(detailBox,
        h('div', { class: 'detail-head' }, h('h3', { tabindex: -1 }, `Message #${seq}`), h('button', { type: 'button', class: 'link', 'aria-label': 'Close message', onclick: closeDetail }, '✕')),
        h('p', { class: 'error', role: 'alert' }, (err as Error).message));
      detailBox.classList.add('open');
      detailBox.querySelector<HTMLElement>('h3')?.focus();
      return;
    }
    const headers: Array<[string, unknown]> = [
      ['Message id', m.messageId], ['Seq', m.seq], ['State', m.state], ['Destination', m.destination], ['Timestamp', time(m.timestamp)],
      ['Priority', m.priority], ['Persistent', m.durable ? 'yes' : 'no'], ['Deliveries', m.deliveryCount], ['Redelivered', m.redelivered ? 'yes' : 'no'],
      ['Expires', m.expiration ? time(m.expiration) : 'never'], ['Deliver at', m.deliveryTime ? time(m.deliveryTime) : ''],
      ['Correlation id', m.correlationId], ['Reply to', m.replyTo], ['Type', m.type], ['Group', m.groupId], ['Content type', m.contentType], ['User', m.userId], ['Body type', m.bodyType],
    ];
    const props = Object.entries(m.properties);
    const dead = typeof m.properties.originalDestination === 'string';
    // a message a consumer holds cannot be removed or moved (the API answers 409): don't offer it
    const inflight = m.state === 'inflight';
    const heading = h('h3', { tabindex: -1 }, `Message #${m.seq}`);
    replace(detailBox,
      h('div', { class: 'detail-head' },
        heading,
        h('button', { type: 'button', class: 'link', 'aria-label': 'Close message', onclick: closeDetail }, '✕'),
      ),
      isAdmin() ? h('div', { class: 'actions' },
        dead && !inflight ? h('button', { type: 'button', class: 'primary', onclick: () => retryOne(m) }, 'Retry') : null,
        inflight ? null : h('button', { type: 'button', class: 'secondary', onclick: () => moveOrCopy(m, 'move') }, 'Move…'),
        h('button', { type: 'button', class: 'secondary', onclick: () => moveOrCopy(m, 'copy') }, 'Copy…'),
        inflight ? null : h('button', { type: 'button', class: 'danger', onclick: () => deleteMessage(m) }, 'Delete'),
      ) : null,
      inflight ? h('p', { class: 'notice' }, 'A consumer holds this message (delivered, not yet acknowledged): it can be moved or deleted once it is acknowledged or back in the queue.') : null,
      h('h4', null, 'Headers'),
      h('dl', { class: 'kv', 'aria-label': 'Headers' }, headers.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))])),
      h('h4', null, `Properties (${props.length})`),
      props.length
        ? h('table', { class: 'props', 'aria-label': 'Properties' }, h('tbody', null, props.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v === null ? 'null' : String(v)), h('td', { class: 'muted type' }, m.propertyTypes?.[k] ?? typeof v)))))
        : h('p', { class: 'muted' }, 'No properties.'),
      h('h4', null, `Body (${bytes(m.bodySize)}${m.bodyEncoding === 'base64' ? ', base64' : ''})`),
      h('pre', { class: 'body', 'aria-label': 'Body' }, m.body),
    );
    detailBox.classList.add('open');
    heading.focus();
  };

  async function bulk(action: BulkAction) {
    const what = selected.size ? { seqs: [...selected].map(Number) } : { selector };
    let to: string | undefined;
    if (action === 'move' || action === 'copy') {
      const t = await pickDestination(`${action === 'move' ? 'Move' : 'Copy'} ${selected.size ? plural(selected.size, 'message') : 'the matching messages'}`, action === 'move' ? 'Move' : 'Copy');
      if (!t) return;
      to = t;
    }
    // the count first: what the action would touch, and what a consumer holds (left alone)
    let preview: BulkResult;
    try {
      preview = await post<BulkResult>(`${base}/bulk`, { action, ...what, to, dryRun: true });
    } catch (err) {
      return toast((err as Error).message, 'error');
    }
    const n = preview.matched - preview.inflight;
    const verb = { move: `Move to ${to}`, copy: `Copy to ${to}`, delete: 'Delete', retry: 'Retry' }[action];
    const text = `${verb}: ${plural(n, 'message')}${preview.inflight ? ` (${plural(preview.inflight, 'message')} held by consumers are left alone)` : ''}${preview.capped ? '. Only the first 10,000 matches are acted on.' : '.'}${action === 'delete' ? ' This cannot be undone.' : ''}`;
    if (n === 0) return toast(preview.inflight ? `All ${plural(preview.inflight, 'matching message')} are held by consumers right now` : 'No messages match', 'error');
    if (!(await confirmDialog(`${action === 'delete' ? 'Delete' : action === 'retry' ? 'Retry' : action === 'move' ? 'Move' : 'Copy'} ${plural(n, 'message')}?`, text, action === 'delete' ? 'Delete' : verb, action === 'delete'))) return;
    const ok = await act(async () => {
      const r = await post<BulkResult>(`${base}/bulk`, { action, ...what, to });
      toast(`${PAST[action]} ${plural(r.done, 'message')}`);
    });
    if (ok) {
      selected.clear();
      closeDetail();
      await refresh();
    }
  }

  async function togglePause() {
    if (!q) return;
    await act(() => post(`${base}/${q!.paused ? 'resume' : 'pause'}`), q.paused ? 'Dispatch resumed' : 'Dispatch paused');
    await loadStats();
  }
  async function purge() {
    if (!(await confirmDialog(`Purge ${name}?`, `All ${num(q?.depth ?? 0)} messages that are not being delivered right now will be deleted. This cannot be undone.`, 'Purge'))) return;
    const ok = await act(async () => {
      const r = await post<{ removed: number }>(`${base}/purge`);
      toast(`Purged ${num(r.removed)} messages`);
    });
    if (ok) {
      closeDetail();
      await refresh();
    }
  }
  async function remove() {
    if (!(await confirmDialog(`Delete ${name}?`, `The ${kind} and its ${num(q?.depth ?? 0)} messages will be deleted and its consumers disconnected. This cannot be undone.`, 'Delete'))) return;
    if (await act(() => del(base), `Deleted ${name}`)) location.hash = kind === 'queue' ? '#/destinations' : '#/subscriptions';
  }
  async function retryAll() {
    if (!(await confirmDialog(`Retry all messages in ${name}?`, 'Every dead-lettered message that is not in flight goes back to the destination it came from.', 'Retry all', false))) return;
    await act(async () => {
      const r = await post<{ moved: number }>(`${base}/retry`);
      toast(`Retried ${num(r.moved)} messages`);
    });
    closeDetail();
    await refresh();
  }
  async function retryOne(m: Msg) {
    const ok = await act(() => post(`${base}/messages/${m.seq}/retry`), `Message sent back to ${shortDest(m.properties.originalDestination)}`);
    if (ok) {
      closeDetail();
      await refresh();
    }
  }
  async function moveOrCopy(m: Msg, what: 'move' | 'copy') {
    const to = await pickDestination(`${what === 'move' ? 'Move' : 'Copy'} message #${m.seq}`, what === 'move' ? 'Move' : 'Copy');
    if (!to) return;
    const ok = await act(() => post(`${base}/messages/${m.seq}/${what}`, { to }), `Message ${what === 'move' ? 'moved' : 'copied'} to ${to}`);
    if (ok && what === 'move') closeDetail();
    await refresh();
  }
  async function deleteMessage(m: Msg) {
    if (!(await confirmDialog(`Delete message #${m.seq}?`, 'The message will be removed from the queue. This cannot be undone.', 'Delete'))) return;
    if (await act(() => del(`${base}/messages/${m.seq}`), 'Message deleted')) {
      closeDetail();
      await refresh();
    }
  }

  await loadStats();
  if (!q) return;
  await Promise.all([loadMessages(), loadCauses().catch(() => undefined)]);
  // the list follows the queue: a message list that stayed at "0 messages" beside a depth of 60 was a defect
  every(3000, () => Promise.all([loadStats(), loadMessages()]));
  // grouping causes reads up to 10,000 messages: less often (and at once after an action, through refresh())
  every(15_000, () => loadCauses());
}
