/** Admin test helpers: a real broker (STOMP + admin on port 0) and a small HTTP client for the REST API. */
import http from 'node:http';
import type { BrokerConfigInput } from '../../src/app/config.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { createStompModule } from '../../protocols/stomp/index.js';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { amqpModule } from '../../protocols/amqp/index.js';
import { createAdminHandler, type AdminHandler } from '../../src/admin/index.js';
import type { HttpModule } from '../../src/transport/types.js';
import { sqsHttpModule } from '../../src/app/aws-module.js';

export { Stompit } from '../protocols/stomp/helpers.js';

export interface AdminBroker extends RunningBroker {
  /** http://127.0.0.1:<admin port> of the current broker. */
  readonly url: string;
  readonly adminPort: number;
  readonly stompPort: number;
  readonly sqsPort: number;
  /** Only with `protocols: ['mqtt']` / `['amqp']`. */
  readonly mqttPort: number;
  readonly amqpPort: number;
  /** The current broker's admin handler. */
  readonly handler: AdminHandler;
}

export async function startAdminBroker(opts: { config?: BrokerConfigInput; sampleInterval?: number; adminHost?: string; sqs?: boolean; protocols?: Array<'mqtt' | 'amqp'> } = {}): Promise<AdminBroker> {
  const extra = opts.protocols ?? [];
  let handler!: AdminHandler;
  const admin: HttpModule = {
    name: 'admin',
    create: (ctx) => (handler = createAdminHandler(ctx, { sampleInterval: opts.sampleInterval ?? 200 })),
  };
  const r = await runBroker({
    name: 'admin',
    config: {
      ...opts.config,
      listeners: {
        stomp: { host: '127.0.0.1', port: 0 },
        admin: { host: opts.adminHost ?? '127.0.0.1', port: 0 },
        ...(opts.sqs ? { sqs: { host: '127.0.0.1', port: 0 } } : {}),
        ...(extra.includes('mqtt') ? { mqtt: { host: '127.0.0.1', port: 0 } } : {}),
        ...(extra.includes('amqp') ? { amqp: { host: '127.0.0.1', port: 0 } } : {}),
        ...opts.config?.listeners,
      },
    },
    modules: () => ({ protocols: [createStompModule(), ...(extra.includes('mqtt') ? [mqttModule] : []), ...(extra.includes('amqp') ? [amqpModule] : [])], http: opts.sqs ? [sqsHttpModule, admin] : [admin] }),
  });
  const t = withPorts(r, { adminPort: 'admin', stompPort: 'stomp', sqsPort: 'sqs', mqttPort: 'mqtt', amqpPort: 'amqp' });
  return Object.defineProperties(t, {
    url: { get: () => `http://127.0.0.1:${t.adminPort}`, enumerable: true },
    handler: { get: () => handler, enumerable: true },
  }) as AdminBroker;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export type AuthSpec = { user: string; password: string } | { token: string } | { cookie: string; csrf?: string } | null;

export const ADMIN: AuthSpec = { user: 'admin', password: 'admin' };

export function request(
  base: string,
  method: string,
  p: string,
  opts: { body?: unknown; raw?: string | Buffer; auth?: AuthSpec; headers?: Record<string, string>; host?: string } = {},
): Promise<HttpResult> {
  const u = new URL(p, base);
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? ADMIN : opts.auth;
  if (auth && 'user' in auth) headers.authorization = 'Basic ' + Buffer.from(`${auth.user}:${auth.password}`).toString('base64');
  else if (auth && 'token' in auth) headers.authorization = `Bearer ${auth.token}`;
  else if (auth && 'cookie' in auth) {
    headers.cookie = auth.cookie;
    if (auth.csrf) headers['x-csrf-token'] = auth.csrf;
  }
  let payload: Buffer | undefined;
  if (opts.raw !== undefined) payload = Buffer.from(opts.raw);
  else if (opts.body !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.body));
    headers['content-type'] ??= 'application/json';
  }
  if (payload) headers['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: opts.host ?? u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        if (String(res.headers['content-type'] ?? '').includes('json') && text) {
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A client bound to one broker URL. */
export function client(base: string, auth: AuthSpec = ADMIN) {
  const call = (method: string, p: string, body?: unknown, extra: Parameters<typeof request>[3] = {}) => request(base, method, p, { body, auth, ...extra });
  return {
    get: (p: string, extra?: Parameters<typeof request>[3]) => call('GET', p, undefined, extra),
    post: (p: string, body?: unknown, extra?: Parameters<typeof request>[3]) => call('POST', p, body, extra),
    put: (p: string, body?: unknown, extra?: Parameters<typeof request>[3]) => call('PUT', p, body, extra),
    del: (p: string, extra?: Parameters<typeof request>[3]) => call('DELETE', p, undefined, extra),
  };
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
