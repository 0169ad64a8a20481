/** Admin test helpers: a real broker (STOMP + admin on port 0) and a small HTTP client for the REST API. */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Broker } from '../../src/broker.js';
import { parseConfig, type BrokerConfig, type BrokerConfigInput } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { createStompModule } from '../../protocols/stomp/index.js';
import { createAdminHandler, type AdminHandler } from '../../src/admin/index.js';
import type { HttpModule } from '../../src/transport/types.js';
import { sqsHttpModule } from '../../protocols/sqs/index.js';

export { Stompit } from '../protocols/stomp/helpers.js';

export interface AdminBroker {
  broker: Broker;
  config: BrokerConfig;
  dir: string;
  url: string;
  adminPort: number;
  stompPort: number;
  sqsPort: number;
  handler: AdminHandler;
  /** Stop and start a new broker on the same data directory (new ports, url updated). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startAdminBroker(opts: { config?: BrokerConfigInput; sampleInterval?: number; adminHost?: string; sqs?: boolean } = {}): Promise<AdminBroker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-admin-'));
  const off = { enabled: false };
  const config = parseConfig({
    dataDir: path.join(dir, 'data'),
    log: { level: 'silent' },
    ...opts.config,
    listeners: {
      stomp: { host: '127.0.0.1', port: 0 },
      admin: { host: opts.adminHost ?? '127.0.0.1', port: 0 },
      ws: off,
      openwire: off,
      amqp: off,
      mqtt: off,
      sqs: opts.sqs ? { host: '127.0.0.1', port: 0 } : off,
      ...opts.config?.listeners,
    },
  });
  let handler!: AdminHandler;
  const admin: HttpModule = {
    name: 'admin',
    create: (ctx) => (handler = createAdminHandler(ctx, { sampleInterval: opts.sampleInterval ?? 200 })),
  };
  const make = async () => {
    const broker = new Broker(config, { protocols: [createStompModule()], http: opts.sqs ? [sqsHttpModule, admin] : [admin], logger: silentLogger(), shutdownTimeout: 3000 });
    await broker.start();
    return broker;
  };
  const t: AdminBroker = {
    broker: await make(),
    config,
    dir,
    url: '',
    adminPort: 0,
    stompPort: 0,
    sqsPort: 0,
    handler,
    async restart() {
      await t.broker.stop();
      t.broker = await make();
      ports();
    },
    async close() {
      await t.broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const ports = () => {
    const a = t.broker.listenerAddresses();
    t.adminPort = a.admin.port;
    t.url = `http://127.0.0.1:${t.adminPort}`;
    t.stompPort = a.stomp?.port ?? 0;
    t.sqsPort = a.sqs?.port ?? 0;
    t.handler = handler;
  };
  ports();
  return t;
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
