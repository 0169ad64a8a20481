/** Raw signed HTTP requests for tests, signed by the AWS SDK's own signer (@smithy/signature-v4). */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  private readonly h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(d: string | Uint8Array): void {
    this.h.update(d);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function signer(creds: { accessKeyId: string; secretAccessKey: string }, service = 'sqs', region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({ service, region, credentials: creds, sha256: Sha256 as never });
}

export interface RawRequest {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Send a request as-is (no signature). */
export function rawRequest(port: number, r: RawRequest): Promise<RawResponse> {
  const qs = r.query ? '?' + new URLSearchParams(r.query).toString().replace(/\+/g, '%20') : '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: r.method ?? 'POST', path: (r.path ?? '/') + qs, headers: r.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (r.body !== undefined) req.end(r.body);
    else req.end();
  });
}

/** Sign with SigV4 (headers) and send. `mutate` may change the signed request before it is sent. */
export async function signedRequest(
  port: number,
  creds: { accessKeyId: string; secretAccessKey: string },
  r: RawRequest & { service?: string; signingDate?: Date },
  mutate?: (req: { headers: Record<string, string>; body?: string | Buffer }) => void,
): Promise<RawResponse> {
  const body = r.body ?? '';
  const req = {
    method: r.method ?? 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: r.path ?? '/',
    query: r.query ?? {},
    headers: { host: `127.0.0.1:${port}`, ...(r.headers ?? {}) } as Record<string, string>,
    body,
  };
  const signed = (await signer(creds, r.service ?? 'sqs').sign(req as never, { signingDate: r.signingDate })) as unknown as { headers: Record<string, string> };
  const headers = { ...signed.headers };
  const out = { headers, body: body as string | Buffer };
  mutate?.(out);
  return rawRequest(port, { method: req.method, path: req.path, query: r.query, headers: out.headers, body: out.body });
}

/** A presigned URL path+query (SigV4 in the query string). */
export async function presignedPath(port: number, creds: { accessKeyId: string; secretAccessKey: string }, query: Record<string, string>, expiresIn = 300, signingDate?: Date): Promise<string> {
  const req = { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port, path: '/', query, headers: { host: `127.0.0.1:${port}` } };
  const p = await signer(creds).presign(req as never, { expiresIn, signingDate });
  const qs = Object.entries(p.query as Record<string, string>)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${p.path}?${qs}`;
}

export function get(port: number, pathAndQuery: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathAndQuery, headers: { host: `127.0.0.1:${port}` }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject);
  });
}

/** The text of the first `<tag>` in an XML document. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? m[1] : undefined;
}

export function xmlAll(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);
}
