/**
 * AWS Signature Version 4 verification (Authorization header and presigned query string), as the AWS SDKs,
 * botocore and the aws CLI sign SQS and SNS requests. The secret is looked up by access key id in the broker's
 * configured credentials; the signing key is derived per (secret, date, region, service) and cached.
 */
import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hashHex, hashLatin1, sha256Hex } from './digest.js';
import { AwsError } from './errors.js';

export interface SigV4Options {
  /** accessKeyId → secretAccessKey (configured keys, and the keys of the broker's users). */
  credentials: { get(accessKeyId: string): string | undefined };
  /** Accept unsigned requests and unknown access keys. */
  anonymous: boolean;
  /** Allowed clock difference, seconds. */
  maxClockSkew: number;
  now?: () => number;
}

export interface AuthResult {
  /** The access key id the request was signed with (verified only when `verified`). */
  accessKeyId?: string;
  /** Service and region from the credential scope, when the request was signed. */
  service?: string;
  region?: string;
  verified: boolean;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY_QUERY = new URLSearchParams();

const fail = (code: string, message: string, status: number) => new AwsError(code, message, status);

/** RFC 3986 encoding as SigV4 wants it (unreserved characters only stay as they are). */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

interface ParsedAuth {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  presigned: boolean;
  expires?: number;
}

function parseCredential(cred: string): { accessKeyId: string; date: string; region: string; service: string } | null {
  const parts = cred.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1])) return null;
  return { accessKeyId: parts[0], date: parts[1], region: parts[2], service: parts[3] };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

type Credential = { accessKeyId: string; date: string; region: string; service: string };
// Parsed credential scopes and SignedHeaders lists: the same few strings on every request of a client.
const credentialCache = new Map<string, Credential | null>();
const signedHeadersCache = new Map<string, string[]>();

function cachedCredential(s: string): Credential | null {
  let c = credentialCache.get(s);
  if (c === undefined) {
    c = parseCredential(s);
    if (credentialCache.size >= 1000) credentialCache.clear();
    credentialCache.set(s, c);
  }
  return c;
}

function cachedSignedHeaders(s: string): string[] {
  let h = signedHeadersCache.get(s);
  if (h === undefined) {
    h = s.split(';');
    if (signedHeadersCache.size >= 1000) signedHeadersCache.clear();
    signedHeadersCache.set(s, h);
  }
  return h;
}

function parseAuth(req: IncomingMessage, query: URLSearchParams): ParsedAuth | null {
  const auth = headerValue(req, 'authorization');
  if (auth !== undefined) {
    if (!auth.startsWith(ALGORITHM + ' ')) {
      throw fail('IncompleteSignature', `Unsupported Authorization scheme: only ${ALGORITHM} (Signature Version 4) is accepted.`, 400);
    }
    let credential: string | undefined;
    let signedHeaders: string | undefined;
    let signature: string | undefined;
    for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) continue;
      const k = part.slice(0, eq).trim();
      if (k === 'Credential') credential = part.slice(eq + 1).trim();
      else if (k === 'SignedHeaders') signedHeaders = part.slice(eq + 1).trim();
      else if (k === 'Signature') signature = part.slice(eq + 1).trim();
    }
    const cred = credential ? cachedCredential(credential) : null;
    if (!cred || !signedHeaders || !signature) {
      throw fail('IncompleteSignature', 'Authorization header requires Credential, SignedHeaders and Signature parameters.', 400);
    }
    const amzDate = headerValue(req, 'x-amz-date') ?? '';
    if (!amzDate) throw fail('IncompleteSignature', 'Authorization header requires existence of either a X-Amz-Date or a Date header.', 400);
    return {
      accessKeyId: cred.accessKeyId,
      date: cred.date,
      region: cred.region,
      service: cred.service,
      signedHeaders: cachedSignedHeaders(signedHeaders),
      signature,
      amzDate,
      presigned: false,
    };
  }
  if (query.has('X-Amz-Signature') || query.has('X-Amz-Credential')) {
    if (query.get('X-Amz-Algorithm') !== ALGORITHM) throw fail('IncompleteSignature', `X-Amz-Algorithm must be ${ALGORITHM}.`, 400);
    const cred = parseCredential(query.get('X-Amz-Credential') ?? '');
    const signature = query.get('X-Amz-Signature');
    const amzDate = query.get('X-Amz-Date');
    const signedHeaders = query.get('X-Amz-SignedHeaders');
    if (!cred || !signature || !amzDate || !signedHeaders) {
      throw fail('IncompleteSignature', 'A presigned request requires X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature.', 400);
    }
    const expires = query.has('X-Amz-Expires') ? Number(query.get('X-Amz-Expires')) : undefined;
    if (expires !== undefined && (!Number.isInteger(expires) || expires < 1 || expires > 604800)) {
      throw fail('IncompleteSignature', 'X-Amz-Expires must be between 1 and 604800 seconds.', 400);
    }
    return { ...cred, signedHeaders: signedHeaders.split(';'), signature, amzDate, presigned: true, expires };
  }
  return null;
}

/** `20240102T030405Z` → epoch ms, or NaN. */
/** `20150619T100249Z` */
function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m) return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const t = Date.parse(s); // RFC 1123 `Date` header fallback
  return t;
}

// Requests signed in the same second carry the same X-Amz-Date: parse it once.
let lastAmzDate = '';
let lastAmzTime = NaN;
function cachedAmzDate(s: string): number {
  if (s !== lastAmzDate) {
    lastAmzTime = parseAmzDate(s);
    lastAmzDate = s;
  }
  return lastAmzTime;
}

function canonicalQuery(rawQuery: string, presigned: boolean): string {
  if (!rawQuery) return '';
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : safeDecode(part.slice(eq + 1));
    if (presigned && k === 'X-Amz-Signature') continue;
    pairs.push([uriEscape(k), uriEscape(v)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** The canonical path SDKs sign for non-S3 services: normalised, then each character URI-escaped once more. */
function canonicalPaths(rawPath: string): string[] {
  if (rawPath === '/' || rawPath === '') return ROOT_PATHS;
  const segs: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  const normalized = (rawPath.startsWith('/') ? '/' : '') + segs.join('/') + (segs.length > 0 && rawPath.endsWith('/') ? '/' : '');
  const doubled = uriEscape(normalized).replace(/%2F/g, '/');
  const out = [doubled || '/'];
  if (rawPath !== doubled) out.push(rawPath || '/');
  return out;
}

function canonicalHeaders(req: IncomingMessage, signed: string[]): string {
  const raw = req.rawHeaders;
  let out = '';
  for (const name of signed) {
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i];
      if (n.length !== name.length || n.toLowerCase() !== name) continue;
      const v = canonicalValue(raw[i + 1]);
      value = value === undefined ? v : `${value},${v}`;
    }
    out += `${name}:${value ?? ''}\n`;
  }
  return out;
}

const WS_RUN = /\s{2,}|[^\S ]/;

/** A header value as SigV4 canonicalises it: trimmed, runs of whitespace as one space. */
function canonicalValue(v: string): string {
  const t = v.trim();
  return WS_RUN.test(t) ? t.replace(/\s+/g, ' ') : t;
}

const ROOT_PATHS = ['/'];

/**
 * A signing key as HMAC-SHA256 (RFC 2104) uses it: the key XOR ipad and XOR opad, each followed by room for what
 * is hashed with it. HMAC(k, m) = H(opad ‖ H(ipad ‖ m)) in two one-shot hashes: createHmac builds a KeyObject and
 * a stream object per call, which was the largest part of verifying a small request.
 */
interface HmacKey {
  ipad: Buffer;
  /** opad, then 32 bytes for the inner digest. */
  outer: Buffer;
}
const SHA256_BLOCK = 64;
const keyCache = new Map<string, HmacKey>();

function hmacKey(key: Buffer): HmacKey {
  // a SigV4 signing key is a SHA-256 digest: 32 bytes, shorter than the block, so it is used as it is
  const ipad = Buffer.alloc(SHA256_BLOCK, 0x36);
  const outer = Buffer.alloc(SHA256_BLOCK + 32, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i] ^= key[i];
    outer[i] ^= key[i];
  }
  return { ipad, outer };
}

/** HMAC-SHA256(key, data) as lowercase hex. */
function hmacHex(k: HmacKey, data: string): string {
  const inner = hashLatin1('sha256', Buffer.concat([k.ipad, Buffer.from(data, 'utf8')]));
  k.outer.write(inner, SHA256_BLOCK, 'latin1');
  return hashHex('sha256', k.outer);
}

function signingKey(secret: string, date: string, region: string, service: string): HmacKey {
  const cacheKey = `${secret}\n${date}\n${region}\n${service}`;
  let k = keyCache.get(cacheKey);
  if (!k) {
    const kDate = createHmac('sha256', 'AWS4' + secret).update(date).digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kService = createHmac('sha256', kRegion).update(service).digest();
    k = hmacKey(createHmac('sha256', kService).update('aws4_request').digest());
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(cacheKey, k);
  }
  return k;
}

/** `a === b` for two hex signatures, in time that depends only on their length. */
function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}


/**
 * Verify a request's signature. Returns who signed it; throws an AwsError (InvalidClientTokenId,
 * SignatureDoesNotMatch — a bad signature, or one outside the clock skew —, IncompleteSignature, MissingAuthenticationToken,
 * RequestExpired — a presigned URL past its X-Amz-Expires) otherwise.
 */
export function verifySigV4(req: IncomingMessage, body: Buffer, opts: SigV4Options): AuthResult {
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  const rawPath = qi < 0 ? url : url.slice(0, qi);
  const rawQuery = qi < 0 ? '' : url.slice(qi + 1);
  const query = rawQuery ? new URLSearchParams(rawQuery) : EMPTY_QUERY;
  const auth = parseAuth(req, query);
  if (!auth) {
    if (opts.anonymous) return { verified: false };
    throw fail('MissingAuthenticationToken', 'Request is missing Authentication Token', 403);
  }
  const secret = opts.credentials.get(auth.accessKeyId);
  if (secret === undefined) {
    if (opts.anonymous) return { accessKeyId: auth.accessKeyId, verified: false, service: auth.service, region: auth.region };
    throw fail('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  }
  const now = (opts.now ?? Date.now)();
  const t = cachedAmzDate(auth.amzDate);
  if (Number.isNaN(t)) throw fail('IncompleteSignature', `Invalid X-Amz-Date '${auth.amzDate}'.`, 400);
  if (auth.amzDate.slice(0, 8) !== auth.date) {
    throw fail('SignatureDoesNotMatch', `Credential should be scoped to a valid date: '${auth.date}' does not match X-Amz-Date '${auth.amzDate}'.`, 403);
  }
  const skew = opts.maxClockSkew * 1000;
  if (auth.presigned) {
    const expires = (auth.expires ?? 900) * 1000;
    if (now > t + expires) throw fail('RequestExpired', `Request has expired (signed ${auth.amzDate}, valid for ${expires / 1000} s).`, 400);
    if (t - now > skew) throw fail('RequestExpired', `Signature not yet current: ${auth.amzDate} is later than the broker's time plus ${opts.maxClockSkew} s.`, 400);
  } else if (Math.abs(now - t) > skew) {
    // what SQS and SNS answer (and the SDKs' clock-skew correction knows): 403 SignatureDoesNotMatch with this text,
    // not the RequestExpired of the generic error list
    const span = `${opts.maxClockSkew % 60 === 0 ? `${opts.maxClockSkew / 60} min.` : `${opts.maxClockSkew} s`}`;
    if (t < now) throw fail('SignatureDoesNotMatch', `Signature expired: ${auth.amzDate} is now earlier than ${amzDate(now - skew)} (${amzDate(now)} - ${span})`, 403);
    throw fail('SignatureDoesNotMatch', `Signature not yet current: ${auth.amzDate} is still later than ${amzDate(now + skew)} (${amzDate(now)} + ${span})`, 403);
  }
  if (!auth.signedHeaders.includes('host')) throw fail('SignatureDoesNotMatch', "The 'host' header must be signed.", 403);

  const declaredHash = headerValue(req, 'x-amz-content-sha256');
  const bodyHash = body.length === 0 ? EMPTY_SHA256 : sha256Hex(body);
  if (declaredHash && declaredHash !== 'UNSIGNED-PAYLOAD' && !declaredHash.startsWith('STREAMING-') && declaredHash !== bodyHash) {
    throw fail('SignatureDoesNotMatch', 'The provided x-amz-content-sha256 header does not match what was computed.', 403);
  }
  const payloadHashes = declaredHash ? [declaredHash] : auth.presigned ? [bodyHash, 'UNSIGNED-PAYLOAD'] : [bodyHash];
  const headers = canonicalHeaders(req, auth.signedHeaders);
  const cq = canonicalQuery(rawQuery, auth.presigned);
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const key = signingKey(secret, auth.date, auth.region, auth.service);
  // SigV4 signatures are lowercase hex; an uppercase one is the same signature
  const given = auth.signature.toLowerCase();
  const signedList = auth.signedHeaders.join(';');
  for (const path of canonicalPaths(rawPath)) {
    for (const ph of payloadHashes) {
      const creq = `${req.method ?? 'GET'}\n${path}\n${cq}\n${headers}\n${signedList}\n${ph}`;
      const sts = `${ALGORITHM}\n${auth.amzDate}\n${scope}\n${sha256Hex(creq)}`;
      if (sameHex(given, hmacHex(key, sts))) {
        return { accessKeyId: auth.accessKeyId, service: auth.service, region: auth.region, verified: true };
      }
    }
  }
  throw fail(
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    403,
  );
}
