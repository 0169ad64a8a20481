/**
 * The admin HTTP module on `listeners.admin` (127.0.0.1:8161 by default, TLS 8162): the REST admin API under
 * `/api/`, the web console at `/` (static files, see static.ts), `/metrics` (Prometheus), `/healthz` and
 * `/readyz`. See docs/admin-api.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AdapterContext, HttpHandler, HttpModule } from '../transport/types.js';
import { buildApi, Reply, STREAMED, type ApiContext } from './api.js';
import { AdminAuth } from './auth.js';
import { DEFAULT_ADMIN_OPTIONS, type AdminModuleOptions } from './options.js';
export type { AdminModuleOptions } from './options.js';
import { ApiError, sendApiError, sendJson, toApiError } from './http-util.js';
import { AdminMetrics } from './metrics.js';
import { Sampler, type RateSample } from './sampler.js';
import { StaticFiles } from './static.js';
import { packageVersion } from '../package-info.js';

export { hashPassword, verifyPassword } from './auth.js';

export interface AdminHandler extends HttpHandler {
  readonly auth: AdminAuth;
  readonly sampler: Sampler;
  readonly metrics: AdminMetrics;
}


export interface AdminOptions {
  /** Sampling interval for rates and the overview chart, ms (default 1000). */
  sampleInterval?: number;
}

export function createAdminHandler(ctx: AdapterContext, opts: AdminOptions = {}): AdminHandler {
  const { engine, logger } = ctx;
  const config = (ctx.options as AdminModuleOptions | undefined) ?? DEFAULT_ADMIN_OPTIONS;
  const startedAt = ctx.broker?.startedAt ?? Date.now();
  const version = packageVersion();
  const auth = new AdminAuth(engine, config);
  const sampler = new Sampler(engine, opts.sampleInterval ?? 1000);
  const metrics = new AdminMetrics(engine, sampler, version, startedAt, config.metricsTopDestinations, () => ctx.broker?.connectionRefusals?.() ?? {});
  const files = new StaticFiles();
  const streams = new Set<ServerResponse>();
  // JSON bodies: a message body of maxFrameSize as base64, plus room for headers and properties
  const maxBody = Math.ceil(ctx.limits.maxFrameSize * 1.37) + 256 * 1024;
  let closed = false;

  // One overview count per sample, shared by every live stream.
  let countsFor = -1;
  let counts: ReturnType<typeof engine.overview> | undefined;
  const sampleEvent = (s: RateSample) => {
    if (countsFor !== s.t || !counts) {
      counts = engine.overview();
      countsFor = s.t;
    }
    const { connections, queues, topics, subscriptions, consumers, depth } = counts;
    return `event: sample\ndata: ${JSON.stringify({ ...s, counts: { connections, queues, topics, subscriptions, consumers, depth } })}\n\n`;
  };

  const openStream = (c: ApiContext) => {
    const { req, res } = c;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
    res.write(`retry: 3000\n\nevent: history\ndata: ${JSON.stringify(sampler.history)}\n\n`);
    streams.add(res);
    const unsubscribe = sampler.subscribe((s) => res.write(sampleEvent(s)));
    const done = () => {
      unsubscribe();
      streams.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  };

  const api = buildApi({ engine, config, limits: ctx.limits, auth, sampler, version, broker: ctx.broker, startedAt, maxBody, openStream });

  sampler.start();
  metrics.start();

  const readiness = () => {
    const state = ctx.broker?.state() ?? 'started';
    let storeOk = true;
    try {
      engine.storeSize();
    } catch {
      storeOk = false;
    }
    const clusterReady = ctx.broker?.clusterReady?.();
    const cluster = clusterReady === undefined ? 'standalone' : clusterReady ? 'ok' : 'not serving';
    const checks = { store: storeOk ? 'ok' : 'unavailable', listeners: state === 'started' ? 'ok' : state, cluster };
    return { ready: storeOk && state === 'started' && clusterReady !== false, checks };
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = req.method ?? 'GET';
    const m = api.match(method, url.pathname);
    if (!m) throw new ApiError(404, 'not-found', `no API endpoint ${url.pathname}`);
    if ('allowed' in m) throw new ApiError(405, 'method-not-allowed', `${method} is not allowed on ${url.pathname}`, { allow: [...new Set(m.allowed.flatMap((x) => (x === 'GET' ? ['GET', 'HEAD'] : [x])))].join(', ') });
    const { route, params } = m;
    const isLogin = url.pathname === '/api/login';
    const who = isLogin ? null : await auth.authenticate(req);
    if (!isLogin && !who) throw new ApiError(401, 'unauthenticated', 'log in first (POST /api/login), or use basic auth or a bearer token');
    if (who && route.mutating) {
      if (who.via === 'cookie') {
        const origin = req.headers.origin;
        if (origin && origin !== 'null') {
          let host = '';
          try {
            host = new URL(origin).host;
          } catch {
            host = '';
          }
          if (host !== req.headers.host) throw new ApiError(403, 'csrf', 'cross-origin request refused');
        }
        if (req.headers['x-csrf-token'] !== who.session?.csrf) throw new ApiError(403, 'csrf', 'missing or wrong X-CSRF-Token header (reload the console)');
      }
      if (who.user.role !== 'admin' && url.pathname !== '/api/logout') throw new ApiError(403, 'forbidden', `user '${who.user.username}' has the viewer role and may not change anything`);
    }
    const c: ApiContext = { req, res, url, params, auth: who, secure: (req.socket as TLSSocket).encrypted === true };
    const out = await route.handler(c);
    if (route.mutating && !isLogin) logger.info({ audit: true, event: url.pathname.startsWith('/api/security/users') || url.pathname.startsWith('/api/users') ? 'user-change' : url.pathname.startsWith('/api/security/acl') ? 'acl-change' : url.pathname.startsWith('/api/policies/') ? 'policy-change' : 'admin-action', user: who?.user.username, method, path: url.pathname, remote: req.socket.remoteAddress }, `admin: ${method} ${url.pathname}`);
    if (out === STREAMED) return;
    if (out instanceof Reply) {
      if (out.status === 204) {
        res.writeHead(204, { 'cache-control': 'no-store', ...out.headers });
        res.end();
      } else sendJson(res, out.status, out.body, out.headers);
      return;
    }
    sendJson(res, 200, out);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '/';
    let url: URL;
    try {
      url = new URL(raw.startsWith('/') ? `http://admin${raw}` : `http://admin/${raw}`);
    } catch {
      sendApiError(res, new ApiError(400, 'bad-request', 'malformed request URL'));
      return;
    }
    const p = url.pathname;
    try {
      if (closed) throw new ApiError(503, 'unavailable', 'broker is shutting down');
      if ((p === '/healthz' || p === '/readyz') && req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'method-not-allowed', 'GET only', { allow: 'GET, HEAD' });
      if (p === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (p === '/readyz') {
        const r = readiness();
        return sendJson(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks });
      }
      if (p === '/metrics' || p === '/metrics/per-destination') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'method-not-allowed', 'GET only', { allow: 'GET, HEAD' });
        if (config.metricsAuth && !(await auth.authenticate(req))) throw new ApiError(401, 'unauthenticated', 'metrics need a login (admin.metricsAuth)', { 'www-authenticate': 'Basic realm="wharf"' });
        if (p === '/metrics/per-destination') {
          res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
          if (req.method !== 'HEAD') await metrics.writeAll(res);
          res.end();
          return;
        }
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      if (p.startsWith('/api/') || p === '/api') return await handleApi(req, res, url);
      if ((req.method === 'GET' || req.method === 'HEAD') && files.serve(req, res, p)) return;
      throw new ApiError(404, 'not-found', `nothing at ${p}`);
    } catch (err) {
      let e = toApiError(err);
      if (e.status >= 500 && !(err instanceof ApiError)) logger.error({ err, path: p }, 'admin request failed');
      if (e.status === 401 && !e.headers['www-authenticate'] && !fromScript(req)) e = new ApiError(401, e.code, e.message, { ...e.headers, 'www-authenticate': 'Basic realm="wharf"' });
      sendApiError(res, e);
    }
  };

  return {
    auth,
    sampler,
    metrics,
    handle,
    async close() {
      closed = true;
      sampler.stop();
      metrics.stop();
      for (const s of streams) s.end();
      streams.clear();
    },
  };
}

/**
 * A request made by a page's script (the console's fetch and EventSource): RFC 9110 wants a challenge on every 401,
 * but a Basic challenge on such a request makes the browser pop up its own login dialog over the console's form, so
 * those get the 401 without it (as Spring Security does for X-Requested-With). curl, scripts and a browser that
 * navigates to /api/… get `WWW-Authenticate: Basic`.
 */
function fromScript(req: IncomingMessage): boolean {
  if (req.headers['x-requested-with']) return true;
  const mode = req.headers['sec-fetch-mode'];
  return mode !== undefined && mode !== 'navigate';
}

/** Served on `listeners.admin` (see src/modules.ts). */
export const adminModule: HttpModule = {
  name: 'admin',
  create: (ctx) => createAdminHandler(ctx),
};
