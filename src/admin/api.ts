/**
 * The REST admin API routes (`/api/...`, JSON). Every operation is a typed one: there is no generic
 * "invoke any operation" or "load from a URL" endpoint. See docs/admin-api.md.
 */
import os from 'node:os';
import { type Address, type ConnectionHandle, DEFAULT_POLICY, type DestinationInfo, type EngineApi, formatAddress, isWildcard, matchTopic, parseAddress, type QueueRef } from '../core/api.js';
import type { BrokerStatus, ConnectionLimits } from '../transport/types.js';
import type { AdminModuleOptions } from './options.js';
import type { AdminAuth, AdminRole, Authenticated } from './auth.js';
import { clearCookie, sessionCookie } from './auth.js';
import { exportDefinitions, importDefinitions } from './definitions.js';
import { parsePolicyOverride, parsePolicyTarget, policyRow } from './policies.js';
import { migrate, parseFormat, planFor } from './migrate/index.js';
import { addAclRule, listAcl, removeAclRule } from './acl.js';
import { ApiError, badRequest, notFound, optBool, optString, queryInt, readJson, readText, reqString, Router, type RouteContext } from './http-util.js';
import { messageFromJson, messageJson } from './messages.js';
import { nameMatcher } from './name-filter.js';
import { consumerDetail, endpointFields } from './connection-detail.js';
import { bulkAction, deadLetterCauses } from './bulk.js';
import { historyRoutes } from './history-routes.js';
import { HealthWatch } from './health.js';
import type { Sampler } from './sampler.js';

export interface AdminServices {
  engine: EngineApi;
  config: AdminModuleOptions;
  limits: ConnectionLimits;
  auth: AdminAuth;
  sampler: Sampler;
  version: string;
  broker?: BrokerStatus;
  startedAt: number;
  /** Largest JSON request body, bytes. */
  maxBody: number;
  /** Live event streams (closed on shutdown). */
  openStream(ctx: ApiContext): void;
}

export interface ApiContext extends RouteContext {
  auth: Authenticated | null;
  /** Whether the request came over TLS (cookies get `Secure`). */
  secure: boolean;
}

/** Returned by a handler that answered the response itself (event stream). */
export const STREAMED = Symbol('streamed');

/** A response with a status other than 200, or headers. */
export class Reply {
  constructor(readonly status: number, readonly body?: unknown, readonly headers: Record<string, string | string[]> = {}) {}
}

const SORT_KEYS = ['name', 'kind', 'depth', 'ready', 'inflight', 'scheduled', 'bytes', 'consumers', 'producers', 'enqueued', 'dequeued', 'expired', 'deadLettered', 'rateIn', 'rateOut'] as const;
type SortKey = (typeof SORT_KEYS)[number];

type Row = Record<string, unknown> & { name: string };

/** filter (see name-filter.ts: substring, `*`/`>` segments, MQTT names, globs), sort and page a list. */
function page<T extends Row>(items: T[], q: URLSearchParams, sortKeys: readonly string[], defSort = 'name'): { total: number; offset: number; limit: number; items: T[] } {
  const filter = q.get('filter')?.trim();
  let rows = items;
  if (filter) {
    const match = nameMatcher(filter);
    rows = rows.filter((r) => match(r.name));
  }
  const sort = q.get('sort') ?? defSort;
  if (!sortKeys.includes(sort)) throw badRequest(`sort: expected one of ${sortKeys.join(', ')}`);
  const order = q.get('order') ?? (sort === 'name' || sort === 'kind' ? 'asc' : 'desc');
  if (order !== 'asc' && order !== 'desc') throw badRequest('order: expected asc or desc');
  const dir = order === 'asc' ? 1 : -1;
  rows = rows.slice().sort((a, b) => {
    const x = a[sort], y = b[sort];
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
    return c !== 0 ? c * dir : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  const offset = queryInt(q, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = queryInt(q, 'limit', 50, 1, 1000);
  return { total: rows.length, offset, limit, items: rows.slice(offset, offset + limit) };
}

function validQueueName(name: string): string {
  if (!name || name.length > 1024) throw badRequest('name: expected 1–1024 characters');
  if (/[\x00-\x1F\x7F,]/.test(name) || name.trim() !== name) throw badRequest('name: no commas, control characters or surrounding spaces');
  if (isWildcard(name)) throw badRequest('name: wildcards (* and >) are for subscribing');
  if (/^(queue|topic|temp-queue|temp-topic):\/\//.test(name)) throw badRequest('name: give the plain name, without queue:// or topic://');
  return name;
}

function targetAddress(o: Record<string, unknown>): Address {
  const to = reqString(o, 'to', 1100);
  const a = parseAddress(to, 'queue');
  if (a.temporary) throw badRequest('to: temporary destinations are not allowed');
  if (!a.name) throw badRequest('to: empty name');
  if (isWildcard(a.name)) throw badRequest('to: wildcards are not allowed');
  return a;
}

function seqParam(s: string): number {
  if (!/^\d{1,16}$/.test(s)) throw badRequest(`message id '${s}': expected the message's seq (a positive integer)`);
  return Number(s);
}

/** A queue or subscription an admin route works on: how to name it to the engine, and its state now. */
interface Target {
  ref: QueueRef;
  info: DestinationInfo;
}

export function buildApi(svc: AdminServices): Router<ApiContext> {
  const { engine, config, auth, sampler } = svc;
  const r = new Router<ApiContext>();
  const previewBytes = 256;

  const destRow = (d: DestinationInfo) => {
    const rates = sampler.destinationRates(`${d.kind}:${d.name}`);
    return {
      kind: d.kind,
      name: d.name,
      depth: d.depth,
      ready: d.ready,
      inflight: d.inflight,
      scheduled: d.scheduled,
      bytes: d.bytes,
      consumers: d.consumers,
      producers: d.producers,
      enqueued: d.enqueued,
      dequeued: d.dequeued,
      expired: d.expired,
      deadLettered: d.deadLettered,
      dropped: d.dropped,
      paused: d.paused,
      temporary: d.temporary,
      dlq: d.kind === 'queue' && d.deadLetterQueue,
      rateIn: rates.in,
      rateOut: rates.out,
    };
  };

  const subRow = (d: DestinationInfo) => {
    const rates = sampler.destinationRates(`sub:${d.name}`);
    const type = d.role === 'durable-subscription' ? 'durable' : d.role === 'shared-subscription' ? (d.name.startsWith('shared:') ? 'shared-durable' : 'shared') : 'non-durable';
    return {
      name: d.name,
      type,
      topic: d.subscription?.topicPattern,
      clientId: d.subscription?.clientId,
      subscriptionName: d.subscription?.subscriptionName,
      selector: d.subscription?.selector,
      noLocal: d.subscription?.noLocal ?? false,
      depth: d.depth,
      backlog: d.depth,
      ready: d.ready,
      inflight: d.inflight,
      consumers: d.consumers,
      enqueued: d.enqueued,
      dequeued: d.dequeued,
      expired: d.expired,
      deadLettered: d.deadLettered,
      dropped: d.dropped,
      paused: d.paused,
      rateIn: rates.in,
      rateOut: rates.out,
    };
  };

  const consumerRows = (ref: QueueRef) =>
    engine.consumersOf(ref).map((c) => ({
      id: c.id,
      connection: c.connection?.id,
      protocol: c.connection?.protocol,
      clientId: c.connection?.clientId,
      remoteAddress: c.connection?.remoteAddress,
      prefetch: c.prefetch,
      credit: c.credit,
      unsettled: c.unsettledIds.length,
      delivered: c.delivered,
      exclusive: c.exclusive,
      autoAck: c.autoAck,
    }));

  const connRow = (c: ConnectionHandle) => {
    const rates = sampler.connectionRates(c.id);
    return {
      id: c.id,
      name: c.id,
      protocol: c.protocol,
      clientId: c.clientId,
      user: c.principal.anonymous ? null : c.principal.username,
      remoteAddress: c.remoteAddress,
      connectedAt: c.createdAt,
      consumers: c.consumers.size,
      producers: c.producers,
      messagesIn: c.stats.messagesIn,
      messagesOut: c.stats.messagesOut,
      bytesIn: c.stats.bytesIn,
      bytesOut: c.stats.bytesOut,
      rateIn: rates.in,
      rateOut: rates.out,
      ...endpointFields(c),
    };
  };

  const queueOr404 = (name: string): Target => {
    const info = engine.queueInfo(name);
    if (!info) throw notFound(`queue '${name}' does not exist`);
    return { ref: { kind: 'queue', name }, info };
  };
  const subOr404 = (name: string): Target => {
    const info = engine.subscriptionInfo(name);
    if (!info) throw notFound(`subscription '${name}' does not exist`);
    return { ref: { kind: 'subscription', name }, info };
  };
  const isQueue = (t: Target) => t.ref.kind === 'queue';

  const browse = (t: Target, ctx: ApiContext) => {
    const offset = queryInt(ctx.url.searchParams, 'offset', 0, 0, 10_000_000);
    const limit = queryInt(ctx.url.searchParams, 'limit', 50, 1, 500);
    const selector = ctx.url.searchParams.get('selector') || undefined;
    const address: Address = isQueue(t) ? { kind: 'queue', name: t.ref.name } : { kind: 'topic', name: t.ref.name };
    const items = engine.browse(address, { offset, limit, selector }).map((e) => messageJson(e, previewBytes));
    return { destination: t.ref.name, total: selector ? null : t.info.depth, offset, limit, items };
  };

  const showMessage = (t: Target, ctx: ApiContext) => {
    const seq = seqParam(ctx.params.seq);
    const e = engine.findMessage(t.ref, seq);
    if (!e) throw notFound(`message ${seq} is not in '${t.ref.name}'`);
    const maxBody = queryInt(ctx.url.searchParams, 'maxBody', 1024 * 1024, 0, 64 * 1024 * 1024);
    return messageJson(e, maxBody, true);
  };

  const deleteMessage = async (t: Target, ctx: ApiContext) => {
    const seq = seqParam(ctx.params.seq);
    if (!(await engine.removeMessage(t.ref, seq))) {
      if (engine.findMessage(t.ref, seq)) throw new ApiError(409, 'in-flight', `message ${seq} is delivered to a consumer and not yet acknowledged; it cannot be removed now`);
      throw notFound(`message ${seq} is not in '${t.ref.name}'`);
    }
    return new Reply(204);
  };

  const moveOrCopy = (copy: boolean) => async (t: Target, ctx: ApiContext) => {
    const seq = seqParam(ctx.params.seq);
    const body = await readJson(ctx.req, svc.maxBody);
    const target = targetAddress(body);
    if (!copy && target.kind === 'queue' && target.name === t.ref.name && isQueue(t)) throw badRequest('to: the message is already there');
    const ok = await engine.moveMessage(t.ref.name, seq, target, copy);
    if (!ok) {
      if (engine.findMessage(t.ref, seq)) throw new ApiError(409, 'in-flight', `message ${seq} is delivered to a consumer and not yet acknowledged; it cannot be moved now`);
      throw notFound(`message ${seq} is not in '${t.ref.name}'`);
    }
    return { [copy ? 'copiedTo' : 'movedTo']: formatAddress(target) };
  };

  const purge = async (t: Target) => ({ removed: await engine.purgeQueue(t.ref.name) });

  /** Paused dispatch is remembered across restarts (a durable engine command). */
  const pause = (paused: boolean) => async (t: Target) => {
    await engine.setPaused(t.ref, paused);
    return { name: t.ref.name, paused };
  };

  // ------------------------------------------------------------------------------------------- session

  r.post('/api/login', async (ctx) => {
    const body = await readJson(ctx.req, 64 * 1024);
    const username = reqString(body, 'username', 256);
    const password = optString(body, 'password', 1024) ?? '';
    const user = await auth.verify(username, password, ctx.req.socket.remoteAddress);
    const s = auth.createSession(user);
    return new Reply(200, { user, token: s.token, csrfToken: s.csrf, expiresAt: s.expires }, { 'set-cookie': sessionCookie(s.token, auth.sessionTimeout, ctx.secure) });
  });

  r.post('/api/logout', (ctx) => {
    if (ctx.auth?.session) auth.destroySession(ctx.auth.session.token);
    return new Reply(204, undefined, { 'set-cookie': clearCookie(ctx.secure) });
  });

  r.get('/api/session', (ctx) => ({ user: ctx.auth!.user, via: ctx.auth!.via, csrfToken: ctx.auth!.session?.csrf, expiresAt: ctx.auth!.session?.expires }));

  // ------------------------------------------------------------------------------------------- overview

  const overview = () => {
    const o = engine.overview();
    const byProtocol: Record<string, number> = {};
    for (const c of engine.listConnections()) byProtocol[c.protocol] = (byProtocol[c.protocol] ?? 0) + 1;
    const mem = process.memoryUsage();
    return {
      version: svc.version,
      node: os.hostname(),
      pid: process.pid,
      nodeVersion: process.version,
      startedAt: svc.startedAt,
      uptime: Math.round((Date.now() - svc.startedAt) / 1000),
      state: svc.broker?.state() ?? 'started',
      listeners: svc.broker?.listeners() ?? {},
      cluster: ((cs) => (cs ? { enabled: true, role: cs.role, leader: cs.leader, term: cs.term } : { enabled: false, role: 'standalone' }))(svc.broker?.clusterStatus?.() as { role: string; leader: number; term: number } | undefined),
      counts: { connections: o.connections, queues: o.queues, topics: o.topics, subscriptions: o.subscriptions, consumers: o.consumers, depth: o.depth, scheduledTimers: o.timers },
      connectionsByProtocol: byProtocol,
      totals: { ...o.totals, ...sampler.traffic() },
      rates: sampler.current(),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external },
      storeBytes: o.storeBytes,
      dataDir: config.dataDir,
      /** Raised resource alarms: producers wait while any is listed (docs/operations.md). */
      alarms: engine.alarms(),
    };
  };
  r.get('/api/overview', () => overview());
  r.get('/api/rates', () => ({ intervalSeconds: 1, samples: sampler.history }));
  r.get('/api/events', (ctx) => {
    svc.openStream(ctx);
    return STREAMED;
  });
  historyRoutes(r, sampler);
  const health = new HealthWatch(engine, sampler);
  // ?stuckSeconds=N: how long a consumer holding unacknowledged messages may go without progress (default 60)
  r.get('/api/health', (ctx) => health.report(queryInt(ctx.url.searchParams, 'stuckSeconds', 60, 1, 86_400)));

  // ------------------------------------------------------------------------------------------- destinations

  r.get('/api/destinations', (ctx) => {
    const q = ctx.url.searchParams;
    const kind = q.get('kind');
    if (kind && kind !== 'queue' && kind !== 'topic') throw badRequest('kind: expected queue or topic');
    const temporary = q.get('temporary');
    if (temporary && temporary !== 'true' && temporary !== 'false') throw badRequest('temporary: expected true or false');
    let rows = engine.listDestinations().map(destRow);
    if (kind) rows = rows.filter((d) => d.kind === kind);
    if (temporary) rows = rows.filter((d) => d.temporary === (temporary === 'true'));
    if (q.get('dlq') === 'true') rows = rows.filter((d) => d.dlq);
    return page(rows, q, SORT_KEYS as readonly SortKey[]);
  });

  r.get('/api/queues', (ctx) => page(engine.listDestinations().filter((d) => d.kind === 'queue').map(destRow), ctx.url.searchParams, SORT_KEYS));
  r.get('/api/topics', (ctx) => page(engine.listDestinations().filter((d) => d.kind === 'topic').map(destRow), ctx.url.searchParams, SORT_KEYS));

  r.post('/api/queues', async (ctx) => {
    const body = await readJson(ctx.req, svc.maxBody);
    const name = validQueueName(reqString(body, 'name', 1024));
    const dlq = optBool(body, 'dlq') ?? false;
    const existed = !!engine.queueInfo(name);
    const info = await engine.createQueue(name, dlq ? { dlq: true } : {});
    return new Reply(existed ? 200 : 201, { ...destRow(info), created: !existed });
  });

  r.get('/api/queues/:name', (ctx) => {
    const t = queueOr404(ctx.params.name);
    const policy = engine.policyOf('queue', t.ref.name);
    return { ...destRow(t.info), createdAt: t.info.createdAt, persistent: t.info.persistent, consumerList: consumerRows(t.ref), policy };
  });

  r.delete('/api/queues/:name', async (ctx) => {
    const { info } = queueOr404(ctx.params.name);
    if (ctx.url.searchParams.get('ifEmpty') === 'true' && info.depth > 0) throw new ApiError(409, 'not-empty', `queue '${info.name}' holds ${info.depth} messages`);
    if (ctx.url.searchParams.get('ifUnused') === 'true' && info.consumers > 0) throw new ApiError(409, 'in-use', `queue '${info.name}' has ${info.consumers} consumers`);
    await engine.deleteQueue(info.name);
    return new Reply(204);
  });

  r.post('/api/queues/:name/purge', (ctx) => purge(queueOr404(ctx.params.name)));
  r.post('/api/queues/:name/pause', (ctx) => pause(true)(queueOr404(ctx.params.name)));
  r.post('/api/queues/:name/resume', (ctx) => pause(false)(queueOr404(ctx.params.name)));
  r.get('/api/queues/:name/messages', (ctx) => browse(queueOr404(ctx.params.name), ctx));
  r.get('/api/queues/:name/messages/:seq', (ctx) => showMessage(queueOr404(ctx.params.name), ctx));
  r.delete('/api/queues/:name/messages/:seq', (ctx) => deleteMessage(queueOr404(ctx.params.name), ctx));
  r.post('/api/queues/:name/messages/:seq/move', (ctx) => moveOrCopy(false)(queueOr404(ctx.params.name), ctx));
  r.post('/api/queues/:name/messages/:seq/copy', (ctx) => moveOrCopy(true)(queueOr404(ctx.params.name), ctx));
  r.post('/api/queues/:name/bulk', async (ctx) => bulkAction(engine, queueOr404(ctx.params.name).ref, await readJson(ctx.req, svc.maxBody)));
  r.get('/api/queues/:name/dead-letter-causes', (ctx) => deadLetterCauses(engine, queueOr404(ctx.params.name).ref.name));

  const send = async (address: Address, ctx: ApiContext) => {
    const body = await readJson(ctx.req, svc.maxBody);
    const m = messageFromJson(body, svc.limits.maxFrameSize);
    m.userId ??= ctx.auth?.user.username;
    await engine.send(m, address);
    return new Reply(201, { messageId: m.messageId, destination: formatAddress(address) });
  };
  r.post('/api/queues/:name/messages', (ctx) => send({ kind: 'queue', name: validQueueName(ctx.params.name) }, ctx));

  const retry = async (t: Target, seqs: number[] | undefined, body: Record<string, unknown>) => {
    const target = body.to !== undefined ? targetAddress(body) : undefined;
    const moved = await engine.retryDeadLetters(t.ref.name, { seqs, target });
    return { moved };
  };
  r.post('/api/queues/:name/retry', async (ctx) => {
    const q = queueOr404(ctx.params.name);
    const body = await readJson(ctx.req, svc.maxBody);
    let seqs: number[] | undefined;
    if (body.seqs !== undefined) {
      if (!Array.isArray(body.seqs) || !body.seqs.every((s) => Number.isInteger(s) && s > 0)) throw badRequest('seqs: expected a list of message seqs');
      seqs = body.seqs as number[];
    }
    return retry(q, seqs, body);
  });
  r.post('/api/queues/:name/messages/:seq/retry', async (ctx) => {
    const q = queueOr404(ctx.params.name);
    const seq = seqParam(ctx.params.seq);
    const body = await readJson(ctx.req, svc.maxBody);
    const e = engine.findMessage(q.ref, seq);
    if (!e) throw notFound(`message ${seq} is not in '${q.ref.name}'`);
    if (body.to === undefined && typeof e.message.properties.originalDestination !== 'string') throw badRequest(`message ${seq} has no originalDestination: say where it should go with "to"`);
    const res = await retry(q, [seq], body);
    if (res.moved === 0) throw new ApiError(409, 'in-flight', `message ${seq} is delivered to a consumer and not yet acknowledged`);
    return res;
  });

  // ------------------------------------------------------------------------------------------- topics

  r.get('/api/topics/:name', (ctx) => {
    const name = ctx.params.name;
    const d = engine.listDestinations().find((x) => x.kind === 'topic' && x.name === name);
    if (!d) throw notFound(`topic '${name}' does not exist`);
    const subs = engine.listSubscriptions().filter((s) => s.subscription && matchTopic(s.subscription.topicPattern, name)).map(subRow);
    return { ...destRow(d), subscriptions: subs, policy: engine.policyOf('topic', name) };
  });
  r.post('/api/topics/:name/messages', (ctx) => {
    const name = ctx.params.name;
    if (!name || isWildcard(name) || name.includes(',')) throw badRequest('topic name: no wildcards or commas');
    return send({ kind: 'topic', name }, ctx);
  });

  // ------------------------------------------------------------------------------------------- subscriptions

  const SUB_SORT = ['name', 'type', 'topic', 'clientId', 'depth', 'backlog', 'ready', 'inflight', 'consumers', 'enqueued', 'dequeued', 'rateIn', 'rateOut'];
  r.get('/api/subscriptions', (ctx) => {
    const q = ctx.url.searchParams;
    let rows = engine.listSubscriptions().map(subRow);
    const type = q.get('type');
    if (type) rows = rows.filter((s) => s.type === type);
    const topic = q.get('topic');
    if (topic) rows = rows.filter((s) => s.topic === topic);
    return page(rows, q, SUB_SORT);
  });
  r.get('/api/subscriptions/:name', (ctx) => {
    const t = subOr404(ctx.params.name);
    return { ...subRow(t.info), consumerList: consumerRows(t.ref) };
  });
  r.delete('/api/subscriptions/:name', async (ctx) => {
    const t = subOr404(ctx.params.name);
    await engine.deleteSubscription(t.ref.name);
    return new Reply(204);
  });
  r.post('/api/subscriptions/:name/purge', (ctx) => purge(subOr404(ctx.params.name)));
  r.post('/api/subscriptions/:name/pause', (ctx) => pause(true)(subOr404(ctx.params.name)));
  r.post('/api/subscriptions/:name/resume', (ctx) => pause(false)(subOr404(ctx.params.name)));
  r.get('/api/subscriptions/:name/messages', (ctx) => browse(subOr404(ctx.params.name), ctx));
  r.get('/api/subscriptions/:name/messages/:seq', (ctx) => showMessage(subOr404(ctx.params.name), ctx));
  r.delete('/api/subscriptions/:name/messages/:seq', (ctx) => deleteMessage(subOr404(ctx.params.name), ctx));
  r.post('/api/subscriptions/:name/messages/:seq/move', (ctx) => moveOrCopy(false)(subOr404(ctx.params.name), ctx));
  r.post('/api/subscriptions/:name/messages/:seq/copy', (ctx) => moveOrCopy(true)(subOr404(ctx.params.name), ctx));
  r.post('/api/subscriptions/:name/bulk', async (ctx) => bulkAction(engine, subOr404(ctx.params.name).ref, await readJson(ctx.req, svc.maxBody)));

  // ------------------------------------------------------------------------------------------- connections, consumers, producers

  const CONN_SORT = ['name', 'id', 'protocol', 'clientId', 'user', 'remoteAddress', 'connectedAt', 'consumers', 'producers', 'messagesIn', 'messagesOut', 'bytesIn', 'bytesOut', 'rateIn', 'rateOut'];
  r.get('/api/connections', (ctx) => {
    const q = ctx.url.searchParams;
    // the broker's own connections (SQS/SNS services) are listed only on request (?internal=true)
    const internal = ctx.url.searchParams.get('internal') === 'true';
    ctx.url.searchParams.delete('internal');
    let rows = engine.listConnections().filter((c) => internal || !c.principal.internal).map(connRow);
    const protocol = q.get('protocol');
    if (protocol) rows = rows.filter((c) => c.protocol === protocol);
    const f = q.get('filter')?.toLowerCase();
    if (f) {
      rows = rows.filter((c) => [c.id, c.clientId, c.user, c.remoteAddress].some((v) => v && String(v).toLowerCase().includes(f)));
      q.delete('filter');
    }
    return page(rows, q, CONN_SORT, 'connectedAt');
  });
  r.get('/api/connections/:id', (ctx) => {
    const c = engine.listConnections().find((x) => x.id === ctx.params.id);
    if (!c) throw notFound(`connection '${ctx.params.id}' does not exist`);
    const consumers = [...c.consumers].map((k) => consumerDetail(c, k));
    const unacked = consumers.reduce((n, k) => n + k.unsettled, 0);
    return { ...connRow(c), unacked, internal: !!c.principal.internal, consumerList: consumers, temporaries: [...c.temporaries] };
  });
  r.delete('/api/connections/:id', (ctx) => {
    const c = engine.listConnections().find((x) => x.id === ctx.params.id);
    // the broker's own parts (the SQS and SNS services' engine connections) are not clients: closing one broke delivery
    if (c?.principal.internal) throw new ApiError(409, 'internal', `connection '${ctx.params.id}' is the broker's own (${c.protocol}); it cannot be closed`);
    if (!engine.killConnection(ctx.params.id, `closed by administrator ${ctx.auth?.user.username ?? ''}`.trim())) throw notFound(`connection '${ctx.params.id}' does not exist`);
    return new Reply(204);
  });

  r.get('/api/consumers', (ctx) => {
    const rows: Row[] = [];
    for (const d of engine.listDestinations()) {
      if (d.kind !== 'queue' || !d.consumers) continue;
      for (const c of consumerRows({ kind: 'queue', name: d.name })) rows.push({ ...c, name: String(c.id), destination: d.name, destinationKind: 'queue' });
    }
    for (const s of engine.listSubscriptions()) {
      if (!s.consumers) continue;
      for (const c of consumerRows({ kind: 'subscription', name: s.name })) rows.push({ ...c, name: String(c.id), destination: s.name, destinationKind: 'subscription', topic: s.subscription?.topicPattern });
    }
    return page(rows, ctx.url.searchParams, ['name', 'destination', 'connection', 'delivered', 'unsettled'], 'destination');
  });

  r.get('/api/producers', (ctx) => {
    const dests = engine.listDestinations().filter((d) => d.producers > 0).map((d) => ({ name: d.name, kind: d.kind, producers: d.producers }));
    const connections = engine.listConnections().filter((c) => c.producers > 0).map((c) => ({ connection: c.id, protocol: c.protocol, clientId: c.clientId, producers: c.producers, messagesIn: c.stats.messagesIn }));
    return { destinations: page(dests, ctx.url.searchParams, ['name', 'kind', 'producers']), connections };
  });

  // ------------------------------------------------------------------------------------------- SQS / SNS

  r.get('/api/sqs/queues', (ctx) => {
    const rows = engine.kvEntries<{ name: string; created: number; attributes: Record<string, string>; tags: Record<string, string> }>('sqs:queue:').map(([, m]) => {
      const d = engine.queueInfo(m.name);
      return {
        name: m.name,
        fifo: m.name.endsWith('.fifo'),
        created: m.created,
        attributes: m.attributes,
        tags: m.tags,
        visible: d?.ready ?? 0,
        notVisible: d?.inflight ?? 0,
        delayed: d?.scheduled ?? 0,
        depth: d?.depth ?? 0,
        consumers: d?.consumers ?? 0,
      };
    });
    return page(rows, ctx.url.searchParams, ['name', 'depth', 'visible', 'notVisible', 'delayed', 'created']);
  });
  const snsSubs = () =>
    engine.kvEntries<{ id: string; topic: string; protocol: string; endpoint: string; confirmed: boolean; attributes: Record<string, string>; created: number }>('sns:sub:').map(([, s]) => ({
      id: s.id,
      name: s.id,
      topic: s.topic,
      protocol: s.protocol,
      endpoint: s.endpoint,
      confirmed: s.confirmed,
      rawMessageDelivery: s.attributes?.RawMessageDelivery === 'true',
      filterPolicy: s.attributes?.FilterPolicy,
      created: s.created,
    }));
  r.get('/api/sns/topics', (ctx) => {
    const subs = snsSubs();
    const rows = engine.kvEntries<{ name: string; created: number; attributes: Record<string, string>; tags: Record<string, string> }>('sns:topic:').map(([, t]) => ({
      name: t.name,
      fifo: t.name.endsWith('.fifo'),
      created: t.created,
      attributes: t.attributes,
      tags: t.tags,
      subscriptions: subs.filter((s) => s.topic === t.name).length,
    }));
    return page(rows, ctx.url.searchParams, ['name', 'created', 'subscriptions']);
  });
  r.get('/api/sns/subscriptions', (ctx) => {
    let rows = snsSubs();
    const topic = ctx.url.searchParams.get('topic');
    if (topic) rows = rows.filter((s) => s.topic === topic);
    return page(rows, ctx.url.searchParams, ['name', 'topic', 'protocol', 'endpoint', 'created']);
  });

  // ------------------------------------------------------------------------------------------- cluster, policies, scheduler

  r.get('/api/cluster', () => svc.broker?.clusterStatus?.() ?? ({ enabled: false, role: 'standalone', nodes: [{ id: os.hostname(), self: true, role: 'standalone', state: svc.broker?.state() ?? 'started' }], groups: [] }));
  r.post('/api/cluster/members', async (ctx) => {
    const b = (await readJson(ctx.req, 16 * 1024)) as { id?: unknown; host?: unknown; port?: unknown; clientHost?: unknown; listeners?: unknown };
    const int = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
    if (!int(b.id, Number.MAX_SAFE_INTEGER) || typeof b.host !== 'string' || !b.host || (b.port !== undefined && !int(b.port, 65535))) {
      throw new ApiError(400, 'bad-request', 'expected {"id": <node id>, "host": "<raft host>", "port": <raft port, default 7800>, "clientHost"?: "...", "listeners"?: {"stomp": 61613, ...}}');
    }
    const listeners: Record<string, number> = {};
    if (b.listeners !== undefined) {
      if (typeof b.listeners !== 'object' || b.listeners === null) throw new ApiError(400, 'bad-request', 'listeners: expected {"<listener>": <port>}');
      for (const [k, v] of Object.entries(b.listeners)) {
        if (!int(v, 65535)) throw new ApiError(400, 'bad-request', `listeners.${k}: expected a port`);
        listeners[k] = v as number;
      }
    }
    if (!svc.broker?.addClusterMember) throw new ApiError(409, 'conflict', 'this broker is not a cluster node');
    await svc.broker.addClusterMember({ id: b.id as number, host: b.host, port: (b.port as number | undefined) ?? 7800, clientHost: typeof b.clientHost === 'string' ? b.clientHost : undefined, listeners });
    return new Reply(201, { added: b.id, as: 'learner' });
  });
  r.delete('/api/cluster/members/:id', async (ctx) => {
    const id = Number(ctx.params.id);
    if (!Number.isInteger(id) || id < 1) throw new ApiError(400, 'bad-request', 'expected a node id');
    if (!svc.broker?.removeClusterMember) throw new ApiError(409, 'conflict', 'this broker is not a cluster node');
    await svc.broker.removeClusterMember(id);
    return new Reply(200, { removed: id });
  });
  r.post('/api/cluster/transfer-leader', async (ctx) => {
    const body = await readJson(ctx.req, 4096);
    const to = (body as { to?: unknown }).to;
    if (typeof to !== 'number' || !Number.isInteger(to) || to < 1) throw new ApiError(400, 'bad-request', 'expected {"to": <node id>}');
    if (!svc.broker?.transferLeadership) throw new ApiError(409, 'conflict', 'this broker is not a cluster node');
    svc.broker.transferLeadership(to);
    return new Reply(202, { transferring: to });
  });
  // destination policies: configured rules (read-only here) and durable runtime overrides (engine.setPolicyOverride)
  const managedBy = (kind: 'queue' | 'topic', name: string) => (kind === 'queue' ? config.definitions?.owns('policy', name)?.key : undefined);
  r.get('/api/policies', (ctx) => {
    const overrides = engine.policyOverrides().map((o) => policyRow(engine, o.kind, o.name, managedBy(o.kind, o.name)));
    overrides.sort((a, b) => a.kind.localeCompare(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // items: every destination (and every override of one not created yet), its override and effective policy
    const rows = new Map<string, ReturnType<typeof policyRow>>();
    for (const d of engine.listDestinations()) if (!d.temporary) rows.set(`${d.kind}:${d.name}`, policyRow(engine, d.kind, d.name, managedBy(d.kind, d.name)));
    for (const o of overrides) rows.set(`${o.kind}:${o.name}`, o);
    const q = new URLSearchParams(ctx.url.searchParams);
    if (!q.has('limit')) q.set('limit', '1000');
    return { defaults: DEFAULT_POLICY, rules: config.destinations, overrides, ...page([...rows.values()], q, ['name', 'kind']) };
  });
  r.get('/api/policies/:kind/:name', (ctx) => {
    const t = parsePolicyTarget(ctx.params.kind, ctx.params.name);
    return policyRow(engine, t.kind, t.name, managedBy(t.kind, t.name));
  });
  const notManaged = (kind: 'queue' | 'topic', name: string) => {
    const by = managedBy(kind, name);
    if (by) throw new ApiError(409, 'conflict', `the policy of ${kind} '${name}' is kept by the ${by.toUpperCase()} service from the queue's attributes (RedrivePolicy, VisibilityTimeout…): change those instead`);
  };
  r.put('/api/policies/:kind/:name', async (ctx) => {
    const t = parsePolicyTarget(ctx.params.kind, ctx.params.name);
    const override = parsePolicyOverride(await readJson(ctx.req, 64 * 1024), 'body');
    notManaged(t.kind, t.name);
    await engine.setPolicyOverride(t.kind, t.name, override);
    return policyRow(engine, t.kind, t.name);
  });
  r.delete('/api/policies/:kind/:name', async (ctx) => {
    const t = parsePolicyTarget(ctx.params.kind, ctx.params.name);
    notManaged(t.kind, t.name);
    if (!engine.policyOverride(t.kind, t.name)) throw notFound(`${t.kind} '${t.name}' has no runtime policy override`);
    await engine.setPolicyOverride(t.kind, t.name, null);
    return new Reply(204);
  });
  r.get('/api/scheduled', () => ({ items: engine.listScheduledJobs().map((j) => ({ id: j.id, destination: j.destination, cron: j.cron, delay: j.delay, period: j.period, repeat: j.repeat, next: j.next, messageId: j.message.messageId })) }));
  r.delete('/api/scheduled/:id', async (ctx) => {
    if (!(await engine.cancelScheduledJob(ctx.params.id))) throw notFound(`scheduled job '${ctx.params.id}' does not exist`);
    return new Reply(204);
  });

  // ------------------------------------------------------------------------------------------- users

  r.get('/api/users', () => ({ items: auth.users(), defaultUserActive: auth.defaultUserActive() }));
  r.put('/api/users/:name', async (ctx) => {
    const body = await readJson(ctx.req, 64 * 1024);
    const role = (optString(body, 'role') ?? 'admin') as AdminRole;
    const user = await auth.putUser(ctx.params.name, role, optString(body, 'password', 1024), optString(body, 'passwordHash', 512));
    return new Reply(200, user);
  });
  r.delete('/api/users/:name', async (ctx) => {
    if (!(await auth.deleteUser(ctx.params.name))) throw notFound(`user '${ctx.params.name}' does not exist (or is not a runtime user)`);
    return new Reply(204);
  });

  // ------------------------------------------------------------------------------- broker users (security.users)

  r.get('/api/security/users', () => ({ items: auth.brokerUsers() }));
  r.put('/api/security/users/:name', async (ctx) => {
    const body = await readJson(ctx.req, 64 * 1024);
    const user = await auth.putBrokerUser(ctx.params.name, body as Record<string, unknown>);
    return new Reply(200, user);
  });
  r.delete('/api/security/users/:name', async (ctx) => {
    if (!(await auth.deleteBrokerUser(ctx.params.name))) throw notFound(`user '${ctx.params.name}' does not exist (or is not a runtime user)`);
    return new Reply(204);
  });

  // ------------------------------------------------------------------------- runtime ACL rules (security.acl + these)

  r.get('/api/security/acl', () => listAcl(engine, config.securityAcl ?? []));
  r.post('/api/security/acl', async (ctx) => new Reply(201, await addAclRule(engine, await readJson(ctx.req, 256 * 1024), ctx.auth?.user.username)));
  r.delete('/api/security/acl/:id', async (ctx) => {
    if (!(await removeAclRule(engine, ctx.params.id))) throw notFound(`ACL rule '${ctx.params.id}' does not exist (rules from the configuration file cannot be removed here)`);
    return new Reply(204);
  });

  // ------------------------------------------------------------------------------------------- definitions

  // password hashes leave the broker only for an admin who asks for them (?hashes=true); a viewer never gets them
  r.get('/api/definitions', (ctx) => {
    const secrets = ctx.auth?.user.role === 'admin' && ctx.url.searchParams.get('hashes') === 'true';
    return exportDefinitions(engine, auth, config.destinations, svc.version, config.definitions, { secrets });
  });
  r.post('/api/definitions', async (ctx) => {
    const body = await readJson(ctx.req, Math.max(svc.maxBody, 64 * 1024 * 1024));
    return importDefinitions(engine, auth, body, config.definitions);
  });
  // migration: RabbitMQ definitions JSON or an ActiveMQ activemq.xml (or a Wharf document, as above)
  r.post('/api/definitions/import', async (ctx) => {
    const q = ctx.url.searchParams;
    const format = parseFormat(q.get('format'));
    const max = Math.max(svc.maxBody, 64 * 1024 * 1024);
    if (format === 'wharf') return importDefinitions(engine, auth, await readJson(ctx.req, max), config.definitions);
    const body = format === 'activemq' ? await readText(ctx.req, max, /^(application|text)\/(.+\+)?xml\b|^text\/plain\b/i, 'activemq.xml (Content-Type: application/xml)') : await readText(ctx.req, max, /^application\/(.+\+)?json\b/i, 'RabbitMQ definitions JSON (Content-Type: application/json)');
    const plan = await planFor(format, body, { vhost: q.get('vhost') ?? undefined });
    return migrate(engine, auth, config.definitions, plan, q.get('dryRun') === 'true');
  });

  return r;
}
