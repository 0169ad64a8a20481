/** The console's REST client: JSON in and out, the session's CSRF token on every state-changing call. */

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface User {
  username: string;
  role: 'admin' | 'viewer';
  source: string;
}

let csrf = '';
let onUnauthorized: () => void = () => undefined;

export function setCsrf(token: string): void {
  csrf = token;
}

export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-requested-with': 'XMLHttpRequest' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (res.status === 204) return undefined as T;
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const err = new ApiError(res.status, e?.code ?? 'error', e?.message ?? `${res.status} ${res.statusText}`);
    if (res.status === 401 && path !== '/api/login') onUnauthorized();
    throw err;
  }
  return json as T;
}

export const get = <T = unknown>(path: string) => api<T>('GET', path);
export const post = <T = unknown>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const put = <T = unknown>(path: string, body?: unknown) => api<T>('PUT', path, body ?? {});
export const del = <T = unknown>(path: string) => api<T>('DELETE', path);

export const enc = encodeURIComponent;

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export interface Dest {
  kind: 'queue' | 'topic';
  name: string;
  depth: number;
  ready: number;
  inflight: number;
  scheduled: number;
  bytes: number;
  consumers: number;
  producers: number;
  enqueued: number;
  dequeued: number;
  expired: number;
  deadLettered: number;
  dropped: number;
  paused: boolean;
  temporary: boolean;
  dlq: boolean;
  rateIn: number;
  rateOut: number;
}

export interface Msg {
  seq: number;
  state: string;
  messageId: string;
  destination?: string;
  bodyType: string;
  bodySize: number;
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  bodyTruncated: boolean;
  durable: boolean;
  priority: number;
  timestamp: number;
  expiration: number;
  deliveryTime: number;
  deliveryCount: number;
  redelivered: boolean;
  correlationId?: string;
  replyTo?: string;
  type?: string;
  groupId?: string;
  groupSeq?: number;
  contentType?: string;
  contentEncoding?: string;
  userId?: string;
  properties: Record<string, string | number | boolean | null>;
  propertyTypes?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Sample {
  t: number;
  publish: number;
  deliver: number;
  ack: number;
  depth: number;
  connections: number;
  counts?: { connections: number; queues: number; topics: number; subscriptions: number; consumers: number; depth: number };
}
