/**
 * The Wharf web console: a single-page app over the REST admin API (docs/admin-api.md). Hash routes:
 * #/ overview · #/destinations · #/queue/NAME · #/topic/NAME · #/subscription/NAME · #/subscriptions ·
 * #/connections · #/aws · #/cluster · #/users · #/acl (ui/acl.ts) · #/definitions
 */
import { ApiError, del, enc, get, post, put, setCsrf, whenUnauthorized, type Dest, type Msg, type Page, type Sample, type User } from './api.js';
import { LiveChart } from './chart.js';
import { aclPage } from './acl.js';
import { $, append, bytes, clear, confirmDialog, debounce, duration, h, num, promptDialog, rate, replace, time, toast, type Child } from './dom.js';

const main = $('#main');
const nav = $('#nav');
const who = $('#who');
let user: User | null = null;
let cleanup: Array<() => void> = [];

function onLeave(fn: () => void): void {
  cleanup.push(fn);
}

function leavePage(): void {
  for (const f of cleanup.splice(0)) {
    try {
      f();
    } catch {
      // keep leaving
    }
  }
}

const isAdmin = () => user?.role === 'admin';

/** Run an action; errors become a toast. */
async function act(fn: () => Promise<unknown>, ok?: string): Promise<boolean> {
  try {
    await fn();
    if (ok) toast(ok);
    return true;
  } catch (err) {
    toast(err instanceof Error ? err.message : String(err), 'error');
    return false;
  }
}

/** Repeat `fn` every `ms` while this page is shown (skipped while the tab is hidden). */
function every(ms: number, fn: () => unknown): void {
  const t = setInterval(() => {
    if (!document.hidden) void Promise.resolve(fn()).catch(() => undefined);
  }, ms);
  onLeave(() => clearInterval(t));
}

// ================================================================================================ login

function showLogin(message?: string): void {
  leavePage();
  user = null;
  document.body.classList.add('logged-out');
  clear(who);
  const err = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const username = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, value: 'admin' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', {
    class: 'login card',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const r = await post<{ user: User; csrfToken: string }>('/api/login', { username: username.value, password: password.value });
        setCsrf(r.csrfToken);
        user = r.user;
        start();
      } catch (e2) {
        err.textContent = e2 instanceof Error ? e2.message : String(e2);
        password.select();
      }
    },
  },
    h('h1', null, 'Wharf'),
    h('p', { class: 'muted' }, 'Log in to the broker console'),
    h('label', { for: 'login-user' }, 'User'),
    username,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  );
  replace(main, form);
  document.title = 'Log in · Wharf';
  password.focus();
}

whenUnauthorized(() => {
  if (user) showLogin('Your session has ended. Please log in again.');
});

function start(): void {
  document.body.classList.remove('logged-out');
  replace(who,
    h('span', { class: 'user' }, `${user!.username}`, h('small', null, ` (${user!.role})`)),
    h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out'),
  );
  window.onhashchange = route;
  route();
}

async function logout(): Promise<void> {
  await post('/api/logout').catch(() => undefined);
  setCsrf('');
  showLogin();
}

async function boot(): Promise<void> {
  try {
    const s = await get<{ user: User; csrfToken?: string }>('/api/session');
    setCsrf(s.csrfToken ?? '');
    user = s.user;
    start();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showLogin();
    else replace(main, h('p', { class: 'error' }, `Cannot reach the broker: ${(err as Error).message}`));
  }
}

// ================================================================================================ routing

function route(): void {
  leavePage();
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  const section = parts[0] ?? '';
  for (const a of nav.querySelectorAll('a')) {
    const target = (a.getAttribute('href') ?? '').replace(/^#\/?/, '').split('/')[0];
    const active = target === section || (section === 'queue' && target === 'destinations') || (section === 'topic' && target === 'destinations') || (section === 'subscription' && target === 'subscriptions');
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.classList.remove('nav-open');
  const rest = parts.slice(1).join('/');
  switch (section) {
    case '':
      return void overviewPage();
    case 'destinations':
      return void destinationsPage(params);
    case 'queue':
      return void queuePage('queue', rest);
    case 'subscription':
      return void queuePage('subscription', rest);
    case 'topic':
      return void topicPage(rest);
    case 'subscriptions':
      return void subscriptionsPage();
    case 'connections':
      return void connectionsPage();
    case 'aws':
      return void awsPage();
    case 'cluster':
      return void clusterPage();
    case 'users':
      return void usersPage();
    case 'acl':
      return void aclPage({ admin: isAdmin(), page }).catch((err: Error) => page('Access control', h('p', { class: 'error' }, err.message)));
    case 'definitions':
      return void definitionsPage();
    default:
      page('Not found', h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Back to the overview.')));
  }
}

function page(title: string, ...children: Child[]): void {
  document.title = `${title} · Wharf`;
  replace(main, ...children);
}

const link = (kind: string, name: string, text: Child = name) => h('a', { href: `#/${kind}/${enc(name)}` }, text);

// ================================================================================================ tables

interface Col<T> {
  key: string;
  label: string;
  num?: boolean;
  sortable?: boolean;
  render?: (r: T) => Child;
}

function renderTable<T extends Record<string, unknown>>(cols: Col<T>[], rows: T[], opts: { sort?: string; order?: string; onSort?: (key: string) => void; empty?: string; onRow?: (r: T) => void; label?: string } = {}): HTMLElement {
  const head = h('tr', null, cols.map((c) => {
    const sorted = opts.sort === c.key;
    const th = h('th', { class: c.num ? 'num' : '', scope: 'col', 'aria-sort': sorted ? (opts.order === 'asc' ? 'ascending' : 'descending') : undefined });
    if (c.sortable && opts.onSort) append(th, [h('button', { type: 'button', class: 'sort', onclick: () => opts.onSort!(c.key) }, c.label, sorted ? (opts.order === 'asc' ? ' ▲' : ' ▼') : '')]);
    else th.textContent = c.label;
    return th;
  }));
  const body = h('tbody', null, rows.length === 0
    ? h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, opts.empty ?? 'Nothing here.'))
    : rows.map((r) => {
      const tr = h('tr', null, cols.map((c) => h('td', { class: c.num ? 'num' : '' }, c.render ? c.render(r) : (c.num ? num(r[c.key] as number) : String(r[c.key] ?? '')))));
      if (opts.onRow) {
        tr.classList.add('clickable');
        tr.tabIndex = 0;
        tr.addEventListener('click', (e) => {
          if ((e.target as HTMLElement).closest('button, a')) return;
          opts.onRow!(r);
        });
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') opts.onRow!(r);
        });
      }
      return tr;
    }));
  return h('div', { class: 'table-wrap' }, h('table', { 'aria-label': opts.label }, h('thead', null, head), body));
}

/** A searchable, sortable, paged list over an API list endpoint. */
function pagedList<T extends Record<string, unknown>>(opts: {
  path: string;
  base?: Record<string, string>;
  cols: Col<T>[];
  sort: string;
  order?: 'asc' | 'desc';
  searchLabel: string;
  limit?: number;
  empty?: string;
  label: string;
  refreshMs?: number;
  controls?: Child;
  initialFilter?: string;
  onRow?: (r: T) => void;
}): { el: HTMLElement; reload: () => Promise<void>; setBase: (b: Record<string, string>) => void } {
  const state = { filter: opts.initialFilter ?? '', sort: opts.sort, order: opts.order ?? (opts.sort === 'name' ? 'asc' : 'desc'), offset: 0, limit: opts.limit ?? 50, base: opts.base ?? {} };
  const tableBox = h('div', { class: 'list-table' });
  const info = h('span', { class: 'muted pager-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => { state.offset = Math.max(0, state.offset - state.limit); void reload(); } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'secondary', onclick: () => { state.offset += state.limit; void reload(); } }, 'Next ›');
  const search = h('input', { type: 'search', placeholder: opts.searchLabel, 'aria-label': opts.searchLabel, value: state.filter });
  let seq = 0;
  const reload = async () => {
    const my = ++seq;
    const p = new URLSearchParams({ ...state.base, sort: state.sort, order: state.order, offset: String(state.offset), limit: String(state.limit) });
    if (state.filter) p.set('filter', state.filter);
    let res: Page<T>;
    try {
      res = await get<Page<T>>(`${opts.path}?${p}`);
    } catch (err) {
      if (my === seq) replace(tableBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    if (my !== seq) return;
    if (res.total > 0 && state.offset >= res.total) {
      state.offset = Math.max(0, Math.floor((res.total - 1) / state.limit) * state.limit);
      return reload();
    }
    replace(tableBox, renderTable(opts.cols, res.items, {
      sort: state.sort,
      order: state.order,
      empty: state.filter ? `Nothing matches “${state.filter}”.` : opts.empty,
      label: opts.label,
      onRow: opts.onRow,
      onSort: (key) => {
        if (state.sort === key) state.order = state.order === 'asc' ? 'desc' : 'asc';
        else {
          state.sort = key;
          state.order = key === 'name' ? 'asc' : 'desc';
        }
        state.offset = 0;
        void reload();
      },
    }));
    info.textContent = res.total === 0 ? '0 items' : `${num(res.offset + 1)}–${num(res.offset + res.items.length)} of ${num(res.total)}`;
    prev.disabled = res.offset === 0;
    next.disabled = res.offset + res.items.length >= res.total;
  };
  search.addEventListener('input', debounce(() => {
    state.filter = search.value.trim();
    state.offset = 0;
    void reload();
  }, 200));
  const el = h('section', { class: 'list' },
    h('div', { class: 'toolbar' }, search, opts.controls),
    tableBox,
    h('div', { class: 'pager' }, prev, info, next),
  );
  void reload();
  if (opts.refreshMs) every(opts.refreshMs, reload);
  return { el, reload, setBase: (b) => { state.base = b; state.offset = 0; void reload(); } };
}

function stats(items: Array<[string, Child]>, label: string): HTMLElement {
  return h('dl', { class: 'stats', 'aria-label': label }, items.map(([k, v]) => h('div', { class: 'stat', 'data-stat': k }, h('dt', null, k), h('dd', null, v))));
}

function badge(text: string, kind = ''): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

// ================================================================================================ overview

interface Overview {
  version: string;
  node: string;
  uptime: number;
  state: string;
  listeners: Record<string, { host: string; port: number }>;
  cluster: { role: string };
  counts: { connections: number; queues: number; topics: number; subscriptions: number; consumers: number; depth: number };
  connectionsByProtocol: Record<string, number>;
  totals: { enqueued: number; delivered: number; bytesIn: number; bytesOut: number };
  rates: Sample;
  memory: { rss: number; heapUsed: number };
  storeBytes: number;
  alarms?: Array<{ resource: string; detail: string; since: number }>;
}

async function overviewPage(): Promise<void> {
  const alarmBanner = h('div', { class: 'alarm-banner', role: 'alert', id: 'alarm-banner', hidden: true });
  const cards = h('div', { class: 'cards', 'aria-label': 'Broker summary' });
  const rateChartEl = h('div', { class: 'chart', id: 'rate-chart', 'aria-label': 'Message rates chart' });
  const depthChartEl = h('div', { class: 'chart', id: 'depth-chart', 'aria-label': 'Queue depth chart' });
  const live = h('p', { class: 'live muted', id: 'live-rates', 'aria-live': 'off' }, 'waiting for data…');
  const busiest = h('div', { class: 'busiest' });
  const info = h('div', { class: 'info' });
  page('Overview',
    h('h1', null, 'Overview'),
    alarmBanner,
    cards,
    h('section', { class: 'charts' }, h('div', { class: 'card' }, rateChartEl, live), h('div', { class: 'card' }, depthChartEl)),
    h('section', { class: 'split' }, h('div', { class: 'card' }, h('h2', null, 'Busiest queues'), busiest), h('div', { class: 'card' }, h('h2', null, 'Broker'), info)),
  );

  const card = (key: string, label: string, value: Child, href?: string) => {
    const inner = [h('span', { class: 'label' }, label), h('span', { class: 'value', 'data-card': key }, value)];
    return href ? h('a', { class: 'card stat-card', href }, inner) : h('div', { class: 'card stat-card' }, inner);
  };
  const renderCards = (o: Overview['counts'], extra: { storeBytes?: number; rss?: number }) => {
    replace(cards,
      card('connections', 'Connections', num(o.connections), '#/connections'),
      card('queues', 'Queues', num(o.queues), '#/destinations?kind=queue'),
      card('topics', 'Topics', num(o.topics), '#/destinations?kind=topic'),
      card('subscriptions', 'Subscriptions', num(o.subscriptions), '#/subscriptions'),
      card('consumers', 'Consumers', num(o.consumers)),
      card('messages', 'Messages', num(o.depth), '#/destinations?sort=depth'),
      extra.storeBytes !== undefined ? card('store', 'Store', bytes(extra.storeBytes)) : null,
      extra.rss !== undefined ? card('memory', 'Memory', bytes(extra.rss)) : null,
    );
  };
  let extra: { storeBytes?: number; rss?: number } = {};

  const loadOverview = async () => {
    const o = await get<Overview>('/api/overview');
    extra = { storeBytes: o.storeBytes, rss: o.memory.rss };
    const alarms = o.alarms ?? [];
    alarmBanner.hidden = alarms.length === 0;
    replace(alarmBanner, ...alarms.map((a) => h('p', null, h('strong', null, `${a.resource} alarm: `), `${a.detail}. Producers wait until it clears; consumers go on.`)));
    renderCards(o.counts, extra);
    replace(info, h('dl', { class: 'kv' },
      h('dt', null, 'Version'), h('dd', null, o.version),
      h('dt', null, 'Node'), h('dd', null, `${o.node} (${o.cluster.role})`),
      h('dt', null, 'Uptime'), h('dd', null, duration(o.uptime)),
      h('dt', null, 'Listeners'), h('dd', null, Object.entries(o.listeners).map(([n, a]) => h('div', null, h('code', null, n), ` ${a.host}:${a.port}`))),
      h('dt', null, 'Protocols'), h('dd', null, Object.entries(o.connectionsByProtocol).map(([p, n]) => `${p} ${n}`).join(', ') || 'no connections'),
      h('dt', null, 'Traffic'), h('dd', null, `${bytes(o.totals.bytesIn)} in, ${bytes(o.totals.bytesOut)} out`),
    ));
    main.dataset.ready = 'overview';
  };
  const loadBusiest = async () => {
    const r = await get<Page<Dest>>('/api/destinations?kind=queue&sort=depth&limit=8');
    replace(busiest, renderTable<Dest & Record<string, unknown>>([
      { key: 'name', label: 'Queue', render: (d) => link('queue', d.name) },
      { key: 'depth', label: 'Messages', num: true },
      { key: 'consumers', label: 'Consumers', num: true },
      { key: 'rateIn', label: 'In/s', num: true, render: (d) => rate(d.rateIn) },
      { key: 'rateOut', label: 'Out/s', num: true, render: (d) => rate(d.rateOut) },
    ], r.items as Array<Dest & Record<string, unknown>>, { empty: 'No queues yet.', label: 'Busiest queues' }));
  };
  let lastBusiest = Date.now();
  let lastOverview = Date.now();
  await Promise.all([loadOverview(), loadBusiest()]).catch((err) => toast((err as Error).message, 'error'));
  // without live samples (event stream down) the panels still refresh
  every(5000, () => Date.now() - lastBusiest >= 5000 && loadBusiest());
  every(10_000, () => Date.now() - lastOverview >= 10_000 && loadOverview());

  const rates = new LiveChart(rateChartEl, 'Messages per second', [
    { label: 'publish', key: 'publish', color: '#2f7de1' },
    { label: 'deliver', key: 'deliver', color: '#16a34a' },
    { label: 'ack', key: 'ack', color: '#d97706' },
  ]);
  const depth = new LiveChart(depthChartEl, 'Messages held', [{ label: 'depth', key: 'depth', color: '#7c3aed' }]);
  onLeave(() => {
    rates.destroy();
    depth.destroy();
  });
  const es = new EventSource('/api/events');
  onLeave(() => es.close());
  let inited = false;
  es.addEventListener('history', (e) => {
    const history = JSON.parse((e as MessageEvent<string>).data) as Sample[];
    if (inited) return;
    inited = true;
    void rates.init(history);
    void depth.init(history);
  });
  es.addEventListener('sample', (e) => {
    const s = JSON.parse((e as MessageEvent<string>).data) as Sample;
    rates.push(s);
    depth.push(s);
    live.textContent = `now: publish ${rate(s.publish)}/s · deliver ${rate(s.deliver)}/s · ack ${rate(s.ack)}/s · ${num(s.depth)} messages held`;
    if (s.counts) renderCards(s.counts, extra);
    // the tables and the broker panel follow the live samples too, at most once a second each, so they never
    // contradict the cards above them
    const now = Date.now();
    if (now - lastBusiest >= 1000) {
      lastBusiest = now;
      void loadBusiest().catch(() => undefined);
    }
    if (now - lastOverview >= 1000) {
      lastOverview = now;
      void loadOverview().catch(() => undefined);
    }
  });
}

// ================================================================================================ destinations

function destinationsPage(params: URLSearchParams): void {
  const kind = params.get('kind') ?? '';
  const kindSel = h('select', { 'aria-label': 'Kind' },
    h('option', { value: '' }, 'Queues and topics'),
    h('option', { value: 'queue' }, 'Queues'),
    h('option', { value: 'topic' }, 'Topics'),
  );
  kindSel.value = kind;
  const create = isAdmin() ? h('button', { type: 'button', class: 'primary', onclick: () => void createQueue() }, 'New queue') : null;
  const list = pagedList<Dest & Record<string, unknown>>({
    path: '/api/destinations',
    base: kind ? { kind } : {},
    sort: params.get('sort') ?? 'name',
    searchLabel: 'Search destinations (text or glob: orders.*)',
    label: 'Destinations',
    empty: 'No destinations yet.',
    refreshMs: 5000,
    initialFilter: params.get('filter') ?? '',
    controls: [kindSel, create],
    cols: [
      { key: 'name', label: 'Name', sortable: true, render: (d) => [link(d.kind, d.name), d.paused ? badge('paused', 'warn') : null, d.dlq ? badge('DLQ', 'bad') : null, d.temporary ? badge('temp') : null] },
      { key: 'kind', label: 'Kind', sortable: true },
      { key: 'depth', label: 'Messages', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.depth)) },
      { key: 'inflight', label: 'In flight', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.inflight)) },
      { key: 'consumers', label: 'Consumers', num: true, sortable: true },
      { key: 'producers', label: 'Producers', num: true, sortable: true },
      { key: 'enqueued', label: 'Enqueued', num: true, sortable: true },
      { key: 'dequeued', label: 'Dequeued', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.dequeued)) },
      { key: 'rateIn', label: 'In/s', num: true, sortable: true, render: (d) => rate(d.rateIn) },
      { key: 'rateOut', label: 'Out/s', num: true, sortable: true, render: (d) => rate(d.rateOut) },
    ],
  });
  kindSel.addEventListener('change', () => list.setBase(kindSel.value ? { kind: kindSel.value } : {}));
  page('Destinations', h('h1', null, 'Destinations'), list.el);

  async function createQueue() {
    const name = await promptDialog('New queue', 'Queue name', 'Create');
    if (!name) return;
    if (await act(() => post('/api/queues', { name }), `Queue ${name} created`)) location.hash = `#/queue/${enc(name)}`;
  }
}

// ================================================================================================ queue / subscription page

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

async function queuePage(kind: 'queue' | 'subscription', name: string): Promise<void> {
  const base = kind === 'queue' ? `/api/queues/${enc(name)}` : `/api/subscriptions/${enc(name)}`;
  const title = h('h1', null, kind === 'queue' ? 'Queue ' : 'Subscription ', h('span', { class: 'name' }, name));
  const badges = h('span', { class: 'badges' });
  const actions = h('div', { class: 'actions' });
  const statBox = h('div');
  const consumersBox = h('div');
  const messagesBox = h('div');
  const detailBox = h('div', { class: 'detail', id: 'message-detail' });
  const sendBox = kind === 'queue' && isAdmin() ? sendForm({ kind: 'queue', name }, () => void Promise.all([loadStats(), loadMessages()])) : null;
  page(`${kind === 'queue' ? 'Queue' : 'Subscription'} ${name}`,
    h('p', { class: 'crumbs' }, h('a', { href: kind === 'queue' ? '#/destinations' : '#/subscriptions' }, kind === 'queue' ? 'Destinations' : 'Subscriptions'), ' / '),
    h('header', { class: 'page-head' }, title, badges, actions),
    statBox,
    h('section', { class: 'split' },
      h('div', { class: 'card' }, h('h2', null, 'Messages'), messagesBox, detailBox),
      h('div', { class: 'side' }, sendBox ? h('div', { class: 'card' }, h('h2', null, 'Send a message'), sendBox) : null, h('div', { class: 'card' }, h('h2', null, 'Consumers'), consumersBox)),
    ),
  );

  let q: QueueDetail | undefined;
  let offset = 0;
  const limit = 25;

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
    const isDlq = q.dlq || /^DLQ\./.test(name);
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
      { key: 'connection', label: 'Connection', render: (c) => (c.connection ? h('a', { href: `#/connections?filter=${enc(String(c.connection))}` }, String(c.connection)) : 'internal') },
      { key: 'clientId', label: 'Client id' },
      { key: 'prefetch', label: 'Prefetch', num: true },
      { key: 'unsettled', label: 'Unacked', num: true },
      { key: 'delivered', label: 'Delivered', num: true },
    ], q.consumerList as unknown as Array<Record<string, unknown>>, { empty: 'No consumers.', label: 'Consumers' }));
  };

  const loadMessages = async () => {
    let res: Page<Msg> & { total: number | null };
    try {
      res = await get<Page<Msg> & { total: number | null }>(`${base}/messages?offset=${offset}&limit=${limit}`);
    } catch (err) {
      replace(messagesBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    const total = res.total ?? res.items.length;
    const table = renderTable<Msg & Record<string, unknown>>([
      { key: 'seq', label: '#', num: true },
      { key: 'messageId', label: 'Message id', render: (m) => h('code', null, m.messageId) },
      { key: 'state', label: 'State', render: (m) => (m.state === 'ready' ? 'ready' : badge(m.state, m.state === 'inflight' ? 'warn' : '')) },
      { key: 'timestamp', label: 'Time', render: (m) => time(m.timestamp) },
      { key: 'priority', label: 'Pri', num: true },
      { key: 'bodySize', label: 'Size', num: true, render: (m) => bytes(m.bodySize) },
      { key: 'body', label: 'Body', render: (m) => h('span', { class: 'preview' }, m.bodyEncoding === 'utf8' ? m.body.slice(0, 80) : `base64: ${m.body.slice(0, 40)}`) },
    ], res.items as Array<Msg & Record<string, unknown>>, { empty: 'No messages.', label: 'Messages', onRow: (m) => void showMessage(m.seq) });
    replace(messagesBox,
      table,
      h('div', { class: 'pager' },
        h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - limit); void loadMessages(); } }, '‹ Previous'),
        h('span', { class: 'muted pager-info' }, total === 0 ? '0 messages' : `${num(offset + 1)}–${num(offset + res.items.length)} of ${num(total)}`),
        h('button', { type: 'button', class: 'secondary', disabled: offset + res.items.length >= total, onclick: () => { offset += limit; void loadMessages(); } }, 'Next ›'),
        h('button', { type: 'button', class: 'secondary', onclick: () => void loadMessages() }, 'Refresh'),
      ),
    );
  };

  const showMessage = async (seq: number) => {
    let m: Msg;
    try {
      m = await get<Msg>(`${base}/messages/${seq}`);
    } catch (err) {
      replace(detailBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    const headers: Array<[string, unknown]> = [
      ['Message id', m.messageId], ['Seq', m.seq], ['State', m.state], ['Destination', m.destination], ['Timestamp', time(m.timestamp)],
      ['Priority', m.priority], ['Persistent', m.durable ? 'yes' : 'no'], ['Deliveries', m.deliveryCount], ['Redelivered', m.redelivered ? 'yes' : 'no'],
      ['Expires', m.expiration ? time(m.expiration) : 'never'], ['Deliver at', m.deliveryTime ? time(m.deliveryTime) : ''],
      ['Correlation id', m.correlationId], ['Reply to', m.replyTo], ['Type', m.type], ['Group', m.groupId], ['Content type', m.contentType], ['User', m.userId], ['Body type', m.bodyType],
    ];
    const props = Object.entries(m.properties);
    const isDlq = typeof m.properties.originalDestination === 'string';
    replace(detailBox,
      h('div', { class: 'detail-head' },
        h('h3', null, `Message #${m.seq}`),
        h('button', { type: 'button', class: 'link', 'aria-label': 'Close message', onclick: () => clear(detailBox) }, '✕'),
      ),
      isAdmin() ? h('div', { class: 'actions' },
        isDlq ? h('button', { type: 'button', class: 'primary', onclick: () => retryOne(m) }, 'Retry') : null,
        h('button', { type: 'button', class: 'secondary', onclick: () => moveOrCopy(m, 'move') }, 'Move…'),
        h('button', { type: 'button', class: 'secondary', onclick: () => moveOrCopy(m, 'copy') }, 'Copy…'),
        h('button', { type: 'button', class: 'danger', onclick: () => deleteMessage(m) }, 'Delete'),
      ) : null,
      h('h4', null, 'Headers'),
      h('dl', { class: 'kv', 'aria-label': 'Headers' }, headers.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, String(v))])),
      h('h4', null, `Properties (${props.length})`),
      props.length
        ? h('table', { class: 'props', 'aria-label': 'Properties' }, h('tbody', null, props.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v === null ? 'null' : String(v)), h('td', { class: 'muted' }, m.propertyTypes?.[k] ?? typeof v)))))
        : h('p', { class: 'muted' }, 'No properties.'),
      h('h4', null, `Body (${bytes(m.bodySize)}${m.bodyEncoding === 'base64' ? ', base64' : ''})`),
      h('pre', { class: 'body', 'aria-label': 'Body' }, m.body),
    );
  };

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
      clear(detailBox);
      await Promise.all([loadStats(), loadMessages()]);
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
    clear(detailBox);
    await Promise.all([loadStats(), loadMessages()]);
  }
  async function retryOne(m: Msg) {
    const ok = await act(() => post(`${base}/messages/${m.seq}/retry`), `Message sent back to ${String(m.properties.originalDestination).replace(/^queue:\/\//, '')}`);
    if (ok) {
      clear(detailBox);
      await Promise.all([loadStats(), loadMessages()]);
    }
  }
  async function moveOrCopy(m: Msg, what: 'move' | 'copy') {
    const to = await promptDialog(`${what === 'move' ? 'Move' : 'Copy'} message #${m.seq}`, 'To (queue name, or topic://name)', what === 'move' ? 'Move' : 'Copy');
    if (!to) return;
    const ok = await act(() => post(`${base}/messages/${m.seq}/${what}`, { to }), `Message ${what === 'move' ? 'moved' : 'copied'} to ${to}`);
    if (ok && what === 'move') clear(detailBox);
    await Promise.all([loadStats(), loadMessages()]);
  }
  async function deleteMessage(m: Msg) {
    if (!(await confirmDialog(`Delete message #${m.seq}?`, 'The message will be removed from the queue. This cannot be undone.', 'Delete'))) return;
    if (await act(() => del(`${base}/messages/${m.seq}`), 'Message deleted')) {
      clear(detailBox);
      await Promise.all([loadStats(), loadMessages()]);
    }
  }

  await loadStats();
  if (!q) return;
  await loadMessages();
  every(3000, loadStats);
}

/** The send form for a queue or topic. */
function sendForm(dest: { kind: 'queue' | 'topic'; name: string }, after: () => void): HTMLElement {
  const body = h('textarea', { id: 'send-body', rows: 5, 'aria-label': 'Body', placeholder: 'Message body' });
  const props = h('textarea', { id: 'send-props', rows: 3, 'aria-label': 'Properties', placeholder: 'name=value, one per line' });
  const priority = h('input', { id: 'send-priority', type: 'number', min: 0, max: 9, value: 4, 'aria-label': 'Priority' });
  const ttl = h('input', { id: 'send-ttl', type: 'number', min: 0, placeholder: 'none', 'aria-label': 'Time to live (ms)' });
  const persistent = h('input', { id: 'send-persistent', type: 'checkbox', checked: true });
  const correlation = h('input', { id: 'send-correlation', 'aria-label': 'Correlation id' });
  const err = h('p', { class: 'error', role: 'alert' });
  return h('form', {
    class: 'send-form',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      err.textContent = '';
      const properties: Record<string, string | number | boolean> = {};
      for (const line of props.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const i = line.indexOf('=');
        if (i <= 0) {
          err.textContent = `Property “${line}”: expected name=value`;
          return;
        }
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        properties[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      }
      const msg: Record<string, unknown> = { body: body.value, properties, priority: Number(priority.value || 4), durable: persistent.checked };
      if (ttl.value) msg.ttl = Number(ttl.value);
      if (correlation.value) msg.correlationId = correlation.value;
      try {
        const r = await post<{ messageId: string }>(`/api/${dest.kind === 'queue' ? 'queues' : 'topics'}/${enc(dest.name)}/messages`, msg);
        toast(`Sent ${r.messageId}`);
        body.value = '';
        after();
      } catch (e2) {
        err.textContent = (e2 as Error).message;
      }
    },
  },
    h('label', { for: 'send-body' }, 'Body'), body,
    h('label', { for: 'send-props' }, 'Properties'), props,
    h('div', { class: 'row' },
      h('label', null, 'Priority', priority),
      h('label', null, 'TTL (ms)', ttl),
      h('label', { class: 'check' }, persistent, ' Persistent'),
    ),
    h('label', null, 'Correlation id', correlation),
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
  );
}

// ================================================================================================ topic page

async function topicPage(name: string): Promise<void> {
  const statBox = h('div');
  const subsBox = h('div');
  page(`Topic ${name}`,
    h('p', { class: 'crumbs' }, h('a', { href: '#/destinations?kind=topic' }, 'Destinations'), ' / '),
    h('header', { class: 'page-head' }, h('h1', null, 'Topic ', h('span', { class: 'name' }, name))),
    statBox,
    h('section', { class: 'split' },
      h('div', { class: 'card' }, h('h2', null, 'Subscriptions'), subsBox),
      isAdmin() ? h('div', { class: 'card' }, h('h2', null, 'Publish a message'), sendForm({ kind: 'topic', name }, () => void load())) : null,
    ),
  );
  type TopicDetail = Dest & { subscriptions: Array<Record<string, unknown>> };
  const load = async () => {
    let t: TopicDetail;
    try {
      t = await get<TopicDetail>(`/api/topics/${enc(name)}`);
    } catch (err) {
      replace(statBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    replace(statBox, stats([['Published', num(t.enqueued)], ['In/s', rate(t.rateIn)], ['Consumers', num(t.consumers)], ['Producers', num(t.producers)], ['Subscriptions', num(t.subscriptions.length)]], 'Statistics'));
    replace(subsBox, renderTable<Record<string, unknown>>([
      { key: 'name', label: 'Subscription', render: (s) => link('subscription', String(s.name)) },
      { key: 'type', label: 'Type' },
      { key: 'topic', label: 'Pattern' },
      { key: 'clientId', label: 'Client id' },
      { key: 'backlog', label: 'Backlog', num: true },
      { key: 'consumers', label: 'Consumers', num: true },
    ], t.subscriptions, { empty: 'No subscriptions.', label: 'Subscriptions' }));
  };
  await load();
  every(3000, load);
}

// ================================================================================================ lists

function subscriptionsPage(): void {
  const list = pagedList<Record<string, unknown> & { name: string }>({
    path: '/api/subscriptions',
    sort: 'name',
    searchLabel: 'Search subscriptions',
    label: 'Subscriptions',
    empty: 'No topic subscriptions.',
    refreshMs: 5000,
    cols: [
      { key: 'name', label: 'Name', sortable: true, render: (s) => link('subscription', s.name) },
      { key: 'type', label: 'Type', sortable: true },
      { key: 'topic', label: 'Topic', sortable: true },
      { key: 'clientId', label: 'Client id', sortable: true },
      { key: 'selector', label: 'Selector' },
      { key: 'backlog', label: 'Backlog', num: true, sortable: true },
      { key: 'inflight', label: 'In flight', num: true, sortable: true },
      { key: 'consumers', label: 'Consumers', num: true, sortable: true },
      { key: 'rateIn', label: 'In/s', num: true, sortable: true, render: (s) => rate(s.rateIn as number) },
    ],
  });
  page('Subscriptions', h('h1', null, 'Subscriptions'), list.el);
}

interface ConnRow extends Record<string, unknown> {
  id: string;
  name: string;
  protocol: string;
  clientId?: string;
  user?: string;
  remoteAddress?: string;
  connectedAt: number;
}

function connectionsPage(): void {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const list = pagedList<ConnRow>({
    path: '/api/connections',
    sort: 'connectedAt',
    searchLabel: 'Search by id, client id, user or address',
    label: 'Connections',
    empty: 'No client connections.',
    refreshMs: 3000,
    initialFilter: params.get('filter') ?? '',
    cols: [
      { key: 'id', label: 'Id', sortable: true },
      { key: 'protocol', label: 'Protocol', sortable: true },
      { key: 'clientId', label: 'Client id', sortable: true },
      { key: 'user', label: 'User', sortable: true },
      { key: 'remoteAddress', label: 'Address', sortable: true },
      { key: 'connectedAt', label: 'Connected', sortable: true, render: (c) => time(c.connectedAt) },
      { key: 'consumers', label: 'Consumers', num: true, sortable: true },
      { key: 'producers', label: 'Producers', num: true, sortable: true },
      { key: 'messagesIn', label: 'In', num: true, sortable: true },
      { key: 'messagesOut', label: 'Out', num: true, sortable: true },
      { key: 'rateIn', label: 'In/s', num: true, sortable: true, render: (c) => rate(c.rateIn as number) },
      { key: 'rateOut', label: 'Out/s', num: true, sortable: true, render: (c) => rate(c.rateOut as number) },
      ...(isAdmin() ? [{ key: 'close', label: '', render: (c: ConnRow) => h('button', { type: 'button', class: 'danger small', 'aria-label': `Close ${c.id}`, onclick: () => void closeConn(c) }, 'Close') }] : []),
    ],
  });
  page('Connections', h('h1', null, 'Connections'), list.el);

  async function closeConn(c: ConnRow) {
    if (!(await confirmDialog(`Close connection ${c.id}?`, `The ${c.protocol} client${c.clientId ? ` “${c.clientId}”` : ''} at ${c.remoteAddress ?? '?'} will be disconnected; unacknowledged messages go back to their queues.`, 'Close connection'))) return;
    if (await act(() => del(`/api/connections/${enc(c.id)}`), `Closed ${c.id}`)) await list.reload();
  }
}

function awsPage(): void {
  const queues = pagedList<Record<string, unknown> & { name: string }>({
    path: '/api/sqs/queues',
    sort: 'name',
    searchLabel: 'Search SQS queues',
    label: 'SQS queues',
    empty: 'No SQS queues.',
    refreshMs: 5000,
    cols: [
      { key: 'name', label: 'Queue', sortable: true, render: (q) => link('queue', q.name) },
      { key: 'fifo', label: 'FIFO', render: (q) => (q.fifo ? 'yes' : '') },
      { key: 'visible', label: 'Visible', num: true, sortable: true },
      { key: 'notVisible', label: 'Not visible', num: true, sortable: true },
      { key: 'delayed', label: 'Delayed', num: true, sortable: true },
      { key: 'created', label: 'Created', sortable: true, render: (q) => time(Number(q.created) * 1000) },
    ],
  });
  const topics = pagedList<Record<string, unknown> & { name: string }>({
    path: '/api/sns/topics',
    sort: 'name',
    searchLabel: 'Search SNS topics',
    label: 'SNS topics',
    empty: 'No SNS topics.',
    cols: [
      { key: 'name', label: 'Topic', sortable: true },
      { key: 'fifo', label: 'FIFO', render: (t) => (t.fifo ? 'yes' : '') },
      { key: 'subscriptions', label: 'Subscriptions', num: true, sortable: true },
    ],
  });
  const subs = pagedList<Record<string, unknown> & { name: string }>({
    path: '/api/sns/subscriptions',
    sort: 'topic',
    order: 'asc',
    searchLabel: 'Search SNS subscriptions',
    label: 'SNS subscriptions',
    empty: 'No SNS subscriptions.',
    cols: [
      { key: 'topic', label: 'Topic', sortable: true },
      { key: 'protocol', label: 'Protocol', sortable: true },
      { key: 'endpoint', label: 'Endpoint', sortable: true },
      { key: 'confirmed', label: 'Confirmed', render: (s) => (s.confirmed ? 'yes' : badge('pending', 'warn')) },
      { key: 'rawMessageDelivery', label: 'Raw', render: (s) => (s.rawMessageDelivery ? 'yes' : '') },
      { key: 'filterPolicy', label: 'Filter policy', render: (s) => (s.filterPolicy ? h('code', null, String(s.filterPolicy)) : '') },
    ],
  });
  page('SQS / SNS', h('h1', null, 'SQS / SNS'), h('h2', null, 'SQS queues'), queues.el, h('h2', null, 'SNS topics'), topics.el, h('h2', null, 'SNS subscriptions'), subs.el);
}

async function clusterPage(): Promise<void> {
  const c = await get<{ enabled: boolean; role: string; nodes: Array<Record<string, unknown>> }>('/api/cluster');
  page('Cluster',
    h('h1', null, 'Cluster'),
    h('p', null, c.enabled ? `Role: ${c.role}` : 'This broker runs standalone (no cluster configured).'),
    renderTable<Record<string, unknown>>([{ key: 'id', label: 'Node' }, { key: 'role', label: 'Role' }, { key: 'state', label: 'State' }, { key: 'self', label: 'This node', render: (n) => (n.self ? 'yes' : '') }], c.nodes, { label: 'Nodes' }),
  );
}

// ================================================================================================ users, definitions

async function usersPage(): Promise<void> {
  const box = h('div');
  const load = async () => {
    const r = await get<{ items: User[]; defaultUserActive: boolean }>('/api/users');
    replace(box,
      r.defaultUserActive ? h('p', { class: 'notice' }, 'The built-in admin/admin user is active (it only works from this machine). Create an admin user, or configure admin.users, to turn it off.') : null,
      renderTable<User & Record<string, unknown>>([
        { key: 'username', label: 'User' },
        { key: 'role', label: 'Role' },
        { key: 'source', label: 'Defined in', render: (u) => (u.source === 'config' ? 'configuration file' : u.source === 'default' ? 'built-in' : 'console / API') },
        ...(isAdmin() ? [{ key: 'x', label: '', render: (u: User) => (u.source === 'runtime' ? h('button', { type: 'button', class: 'danger small', onclick: () => void remove(u.username) }, 'Delete') : '') }] : []),
      ], r.items as Array<User & Record<string, unknown>>, { label: 'Users' }),
    );
  };
  const remove = async (name: string) => {
    if (!(await confirmDialog(`Delete user ${name}?`, 'They will be logged out and can no longer log in.', 'Delete'))) return;
    if (await act(() => del(`/api/users/${enc(name)}`), `Deleted ${name}`)) await load();
  };
  const username = h('input', { id: 'new-user', required: true, autocomplete: 'off' });
  const password = h('input', { id: 'new-password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const role = h('select', { id: 'new-role' }, h('option', { value: 'admin' }, 'admin'), h('option', { value: 'viewer' }, 'viewer'));
  const form = isAdmin()
    ? h('form', {
      class: 'card inline-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const name = username.value;
        const wasDefault = user?.source === 'default';
        if (await act(() => put(`/api/users/${enc(name)}`, { password: password.value, role: role.value }), `Saved ${name}`)) {
          username.value = '';
          password.value = '';
          // the first real admin turns the built-in admin/admin off, and its session with it
          if (wasDefault && role.value === 'admin') return showLogin(`The built-in admin/admin is off now that ${name} exists: log in as ${name}.`);
          await load().catch(() => undefined);
        }
      },
    }, h('h2', null, 'Add or change a user'), h('label', { for: 'new-user' }, 'User'), username, h('label', { for: 'new-password' }, 'Password (8+ characters)'), password, h('label', { for: 'new-role' }, 'Role'), role, h('button', { type: 'submit', class: 'primary' }, 'Save user'))
    : null;
  page('Users', h('h1', null, 'Users'), box, form);
  await load();
}

function definitionsPage(): void {
  const result = h('div', { role: 'status' });
  const file = h('input', { type: 'file', accept: 'application/json,.json', 'aria-label': 'Definitions file' });
  const exportBtn = h('button', {
    type: 'button',
    class: 'primary',
    onclick: async () => {
      await act(async () => {
        const doc = await get('/api/definitions');
        const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' }));
        const a = h('a', { href: url, download: `wharf-definitions-${new Date().toISOString().slice(0, 10)}.json` });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
      }, 'Definitions exported');
    },
  }, 'Export definitions');
  const importBtn = h('button', {
    type: 'button',
    class: 'secondary',
    disabled: !isAdmin(),
    onclick: async () => {
      const f = file.files?.[0];
      if (!f) return toast('Choose a definitions file first', 'error');
      let doc: unknown;
      try {
        doc = JSON.parse(await f.text());
      } catch {
        return toast(`${f.name} is not JSON`, 'error');
      }
      if (!(await confirmDialog('Import definitions?', `Destinations, subscriptions and users from ${f.name} that do not exist yet will be created. Nothing is deleted.`, 'Import', false))) return;
      await act(async () => {
        const r = await post<{ created: Record<string, number>; existing: Record<string, number>; skipped: Array<{ what: string; reason: string }> }>('/api/definitions', doc);
        replace(result, h('p', null, `Created: ${Object.entries(r.created).map(([k, v]) => `${v} ${k}`).join(', ')}. Already there: ${Object.entries(r.existing).map(([k, v]) => `${v} ${k}`).join(', ')}.`), r.skipped.map((s) => h('p', { class: 'muted' }, `Skipped ${s.what}: ${s.reason}`)));
      }, 'Definitions imported');
    },
  }, 'Import');
  page('Definitions',
    h('h1', null, 'Definitions'),
    h('p', null, 'Destinations, durable subscriptions, policies and console users as one JSON document — to copy a setup to another broker or keep it in version control. Messages are not included.'),
    h('div', { class: 'card' }, h('h2', null, 'Export'), exportBtn),
    h('div', { class: 'card' }, h('h2', null, 'Import'), file, importBtn, result),
  );
}

// ================================================================================================ start

$('#nav-toggle').addEventListener('click', () => document.body.classList.toggle('nav-open'));
void boot();
watchReachability();

/**
 * Is the broker there? /healthz every 2 s; two misses in a row (or a request that cannot reach it) show a banner
 * saying so and since when — the figures on the page are from then — until it answers again.
 */
function watchReachability(): void {
  const banner = h('div', { class: 'unreachable-banner', id: 'unreachable', role: 'alert', hidden: true });
  document.body.insertBefore(banner, document.body.firstChild);
  let misses = 0;
  let lastContact = Date.now();
  const check = async () => {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 1500);
    try {
      const r = await fetch('/healthz', { cache: 'no-store', signal: ctl.signal });
      if (!r.ok) throw new Error(String(r.status));
      misses = 0;
      lastContact = Date.now();
      if (!banner.hidden) {
        banner.hidden = true;
        toast('The broker is reachable again');
      }
    } catch {
      misses++;
      if (misses >= 2) {
        replace(banner, h('strong', null, 'Broker unreachable. '), `No answer since ${new Date(lastContact).toLocaleTimeString()}; what this page shows is from then. Retrying every 2 s.`);
        banner.hidden = false;
      }
    } finally {
      clearTimeout(t);
    }
  };
  setInterval(() => void check(), 2000);
}
