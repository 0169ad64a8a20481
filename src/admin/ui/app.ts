/**
 * The Wharf web console: a single-page app over the REST admin API (docs/admin-api.md). Hash routes:
 * #/ overview · #/destinations · #/queue/NAME · #/topic/NAME · #/subscription/NAME · #/subscriptions ·
 * #/connections · #/aws · #/cluster · #/users · #/acl (ui/acl.ts) · #/definitions
 */
import { ApiError, del, enc, get, post, put, setCsrf, whenUnauthorized, type Dest, type Page, type Sample, type User } from './api.js';
import { LiveChart } from './chart.js';
import { aclPage } from './acl.js';
import { $, bytes, clear, confirmDialog, duration, h, num, promptDialog, rate, replace, time, toast, type Child } from './dom.js';
// page lifetime, tables and the review's views (modules of their own)
import { act, every, hashParams, isAdmin, leavePage, link, onLeave, page, session } from './page.js';
import { badge, pagedList, renderTable, stats } from './tables.js';
import { sendForm } from './send-form.js';
import { queuePage } from './queue-page.js';
import { fillSparklines, historyCharts } from './history.js';
import { connectionPage } from './connection-page.js';
import { policiesPage } from './policies-page.js';
import { healthStrip } from './health.js';

const main = $('#main');
const nav = $('#nav');
const who = $('#who');
// ================================================================================================ login

function showLogin(message?: string): void {
  leavePage();
  session.user = null;
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
        session.user = r.user;
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
  if (session.user) showLogin('Your session has ended. Please log in again.');
});

function start(): void {
  document.body.classList.remove('logged-out');
  replace(who,
    h('span', { class: 'user' }, `${session.user!.username}`, h('small', null, ` (${session.user!.role})`)),
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
    session.user = s.user;
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
    const active = target === section || (section === 'connection' && target === 'connections') || (section === 'queue' && target === 'destinations') || (section === 'topic' && target === 'destinations') || (section === 'subscription' && target === 'subscriptions');
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
    case 'connection':
      return void connectionPage(rest);
    case 'policies':
      return void policiesPage();
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
  // #/?stuckAfter=N: a shorter (or longer) stuck-consumer threshold than the default minute
  const stuckAfter = Number(hashParams().get('stuckAfter')) || undefined;
  const health = healthStrip(stuckAfter && stuckAfter > 0 ? Math.min(86_400, Math.round(stuckAfter)) : undefined);
  page('Overview',
    h('h1', null, 'Overview'),
    alarmBanner,
    health.el,
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
  // the health strip loads alongside the cards, not after them
  void health.load();
  await Promise.all([loadOverview(), loadBusiest()]).catch((err) => toast((err as Error).message, 'error'));
  // the health markers (scans of every queue) refresh every 3 s, not with each live sample
  every(3000, health.load);
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
    sort: 'name',
    searchLabel: 'Search destinations (orders, orders.*, orders.>, sensors/+/temp)',
    label: 'Destinations',
    empty: 'No destinations yet.',
    refreshMs: 5000,
    inAddress: true,
    controls: [kindSel, create],
    cols: [
      { key: 'name', label: 'Name', sortable: true, clip: true, render: (d) => [link(d.kind, d.name), d.paused ? badge('paused', 'warn') : null, d.dlq ? badge('DLQ', 'bad') : null, d.temporary ? badge('temp') : null] },
      { key: 'kind', label: 'Kind', sortable: true },
      { key: 'depth', label: 'Messages', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.depth)) },
      { key: 'inflight', label: 'In flight', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.inflight)) },
      { key: 'consumers', label: 'Consumers', num: true, sortable: true },
      { key: 'producers', label: 'Producers', num: true, sortable: true },
      { key: 'enqueued', label: 'Enqueued', num: true, sortable: true },
      { key: 'dequeued', label: 'Dequeued', num: true, sortable: true, render: (d) => (d.kind === 'topic' ? '—' : num(d.dequeued)) },
      { key: 'rateIn', label: 'In/s', num: true, sortable: true, render: (d) => rate(d.rateIn) },
      { key: 'rateOut', label: 'Out/s', num: true, sortable: true, render: (d) => rate(d.rateOut) },
      { key: 'spark', label: 'Last 15 min', render: (d) => h('span', { class: 'spark-cell', 'data-spark': d.name, 'data-spark-kind': d.kind }) },
    ],
    onPage: (items) => {
      for (const k of ['queue', 'topic'] as const) void fillSparklines(list.el, k, items.filter((d) => d.kind === k).map((d) => d.name)).catch(() => undefined);
    },
  });
  kindSel.addEventListener('change', () => list.setBase(kindSel.value ? { kind: kindSel.value } : {}));
  page('Destinations', h('h1', null, 'Destinations'), list.el);

  async function createQueue() {
    const name = await promptDialog('New queue', 'Queue name', 'Create');
    if (!name) return;
    if (await act(() => post('/api/queues', { name }), `Queue ${name} created`)) location.hash = `#/queue/${enc(name)}`;
  }
}

// ================================================================================================ topic page

async function topicPage(name: string): Promise<void> {
  const statBox = h('div');
  const subsBox = h('div');
  const historyBox = h('div', { class: 'card history' });
  page(`Topic ${name}`,
    h('p', { class: 'crumbs' }, h('a', { href: '#/destinations?kind=topic' }, 'Destinations'), ' / '),
    h('header', { class: 'page-head' }, h('h1', null, 'Topic ', h('span', { class: 'name' }, name))),
    statBox,
    historyBox,
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
  const charts = historyCharts(historyBox, 'topic', name);
  onLeave(() => charts.destroy());
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
      { key: 'spark', label: 'Last 15 min', render: (s) => h('span', { class: 'spark-cell', 'data-spark': s.name, 'data-spark-kind': 'subscription' }) },
    ],
    inAddress: true,
    onPage: (items) => void fillSparklines(list.el, 'subscription', items.map((s) => s.name)).catch(() => undefined),
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

/** A time of today as HH:MM:SS, another day's with its date. */
function shortTime(ms: number): string {
  const full = time(ms);
  return new Date(ms).toDateString() === new Date().toDateString() ? full.slice(11) : full;
}

function connectionsPage(): void {
  const list = pagedList<ConnRow>({
    path: '/api/connections',
    sort: 'connectedAt',
    searchLabel: 'Search by id, client id, user or address',
    label: 'Connections',
    empty: 'No client connections.',
    refreshMs: 3000,
    inAddress: true,
    cols: [
      { key: 'id', label: 'Id', sortable: true, render: (c) => link('connection', c.id) },
      { key: 'protocol', label: 'Protocol', sortable: true, render: (c) => [String(c.protocol), c.protocolVersion ? h('small', { class: 'muted' }, ` ${String(c.protocolVersion)}`) : null, c.tls ? badge('TLS', 'ok') : null] },
      // AMQP names its container even when it is not the client id
      { key: 'clientId', label: 'Client / container id', sortable: true, clip: true, render: (c) => String(c.clientId ?? c.containerId ?? '') },
      { key: 'user', label: 'User', sortable: true },
      { key: 'remoteAddress', label: 'Address → broker port', sortable: true, clip: true, render: (c) => `${c.remoteAddress ?? ''}${c.remotePort ? `:${String(c.remotePort)}` : ''}${c.localPort ? ` → ${String(c.localPort)}` : ''}` },
      // today's connections by time only: the full date pushed the counters off the card
      { key: 'connectedAt', label: 'Connected', sortable: true, render: (c) => shortTime(c.connectedAt) },
      { key: 'consumers', label: 'Consumers', num: true, sortable: true },
      { key: 'producers', label: 'Producers', num: true, sortable: true },
      { key: 'messagesIn', label: 'In / out', num: true, sortable: true, render: (c) => `${num(c.messagesIn as number)} / ${num(c.messagesOut as number)}` },
      { key: 'rateIn', label: 'Rate in / out', num: true, sortable: true, render: (c) => `${rate(c.rateIn as number)} / ${rate(c.rateOut as number)}` },
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
        const wasDefault = session.user?.source === 'default';
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
  file.addEventListener('change', () => clear(result));
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
      // the result shown belongs to one file and one attempt: a failed import must not leave an earlier success beside it
      clear(result);
      const f = file.files?.[0];
      const fail = (text: string) => replace(result, h('p', { class: 'error', role: 'alert' }, text));
      if (!f) return fail('Choose a definitions file first.');
      let doc: unknown;
      try {
        doc = JSON.parse(await f.text());
      } catch {
        return fail(`${f.name} is not JSON: nothing was imported.`);
      }
      if (!(await confirmDialog('Import definitions?', `Destinations, subscriptions and users from ${f.name} that do not exist yet will be created. Nothing is deleted.`, 'Import', false))) return;
      try {
        const r = await post<{ created: Record<string, number>; existing: Record<string, number>; skipped: Array<{ what: string; reason: string }> }>('/api/definitions', doc);
        replace(result, h('p', { class: 'ok' }, `${f.name} imported. Created: ${Object.entries(r.created).map(([k, v]) => `${v} ${k}`).join(', ')}. Already there: ${Object.entries(r.existing).map(([k, v]) => `${v} ${k}`).join(', ')}.`), r.skipped.map((s) => h('p', { class: 'muted' }, `Skipped ${s.what}: ${s.reason}`)));
        toast('Definitions imported');
      } catch (err) {
        fail(`${f.name} was not imported: ${(err as Error).message}`);
      }
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
