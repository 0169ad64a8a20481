/**
 * Small HTTP helpers for the admin API: JSON responses and errors (never a stack trace), bounded JSON bodies,
 * and a path router with `:param` segments.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, readBody } from '../transport/http.js';
import { BrokerError } from '../core/api.js';

/** An error the API reports as `{ error: { status, code, message } }`. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string) => new ApiError(400, 'bad-request', message);
export const notFound = (message: string) => new ApiError(404, 'not-found', message);

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body, jsonReplacer);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** bigint as string, Buffer as base64: the API's JSON never throws on odd values. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('base64');
  }
  return value;
}

/** Map anything thrown by a handler onto a JSON error; 500s say nothing about internals. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HttpError) return new ApiError(err.status, err.status === 413 ? 'too-large' : 'bad-request', err.message, err.headers);
  if (err instanceof BrokerError) {
    switch (err.code) {
      case 'not-found':
        return new ApiError(404, 'not-found', err.message);
      case 'invalid':
        return new ApiError(400, 'invalid', err.message);
      case 'unauthorized':
        return new ApiError(403, 'forbidden', err.message);
      case 'unauthenticated':
        return new ApiError(401, 'unauthenticated', err.message);
      case 'limit':
        return new ApiError(409, 'limit', err.message);
      case 'closed':
        return new ApiError(503, 'unavailable', err.message);
      default:
        return new ApiError(409, err.code, err.message);
    }
  }
  return new ApiError(500, 'internal', 'internal server error');
}

export function sendApiError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: { status: err.status, code: err.code, message: err.message } }, err.headers);
}

/** Read a JSON object body (at most `max` bytes). Empty body = `{}`. */
export async function readJson(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const type = String(req.headers['content-type'] ?? '');
  const buf = await readBody(req, max);
  if (buf.length === 0) return {};
  if (type && !/^application\/(.+\+)?json\b/i.test(type)) throw new ApiError(415, 'unsupported-media-type', 'expected a JSON body (Content-Type: application/json)');
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('expected a JSON object');
  return v as Record<string, unknown>;
}

/** A bounded text body (XML uploads); `types` are the Content-Types accepted (415 otherwise; none given is accepted). */
export async function readText(req: IncomingMessage, max: number, types: RegExp, what: string): Promise<string> {
  const type = String(req.headers['content-type'] ?? '');
  const buf = await readBody(req, max);
  if (type && !types.test(type)) throw new ApiError(415, 'unsupported-media-type', `expected ${what}`);
  return buf.toString('utf8');
}

// ------------------------------------------------------------------------------------------------ input

export function optString(o: Record<string, unknown>, key: string, max = 4096): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`${key}: expected a string`);
  if (v.length > max) throw badRequest(`${key}: longer than ${max} characters`);
  return v;
}

export function reqString(o: Record<string, unknown>, key: string, max = 4096): string {
  const v = optString(o, key, max);
  if (v === undefined || v === '') throw badRequest(`${key}: required`);
  return v;
}

export function optInt(o: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badRequest(`${key}: expected an integer between ${min} and ${max}`);
  return v;
}

export function optBool(o: Record<string, unknown>, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${key}: expected true or false`);
  return v;
}

/** Query parameter as an integer within bounds, or the default. */
export function queryInt(q: URLSearchParams, key: string, def: number, min: number, max: number): number {
  const s = q.get(key);
  if (s === null || s === '') return def;
  if (!/^-?\d+$/.test(s)) throw badRequest(`${key}: expected an integer`);
  const n = Number(s);
  if (n < min || n > max) throw badRequest(`${key}: expected an integer between ${min} and ${max}`);
  return n;
}

// ------------------------------------------------------------------------------------------------ router

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

type Handler<C> = (ctx: C) => unknown | Promise<unknown>;

interface Route<C> {
  method: string;
  parts: string[];
  handler: Handler<C>;
  /** Changes state: admin role, and the CSRF token for cookie sessions. */
  mutating: boolean;
}

export class Router<C extends RouteContext> {
  private readonly routes: Route<C>[] = [];

  get(path: string, handler: Handler<C>): this {
    return this.add('GET', path, handler, false);
  }
  post(path: string, handler: Handler<C>): this {
    return this.add('POST', path, handler, true);
  }
  put(path: string, handler: Handler<C>): this {
    return this.add('PUT', path, handler, true);
  }
  delete(path: string, handler: Handler<C>): this {
    return this.add('DELETE', path, handler, true);
  }

  private add(method: string, path: string, handler: Handler<C>, mutating: boolean): this {
    this.routes.push({ method, parts: path.split('/').filter(Boolean), handler, mutating });
    return this;
  }

  /** The route for a method and path, with decoded params; `allowed` lists methods when only the method is wrong. */
  match(method: string, pathname: string): { route: Route<C>; params: Record<string, string> } | { allowed: string[] } | null {
    const segs = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const r of this.routes) {
      if (r.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = r.parts[i];
        if (p.startsWith(':')) {
          try {
            params[p.slice(1)] = decodeURIComponent(segs[i]);
          } catch {
            throw badRequest(`malformed path segment '${segs[i]}'`);
          }
        } else if (p !== segs[i]) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { route: r, params };
      allowed.push(r.method);
    }
    return allowed.length ? { allowed } : null;
  }
}
