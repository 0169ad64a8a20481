/**
 * The one HTTP endpoint that serves the SQS and SNS APIs on `listeners.sqs` (9324, TLS 9325). It dispatches each
 * request to SQS over AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.*`), SQS over the query protocol (`Action=` with an
 * SQS action, optionally `POST /<account>/<queue>`), or SNS over the query protocol (SNS actions); checks AWS
 * Signature Version 4 against the configured credentials (or accepts anonymous requests); and answers errors in
 * the shape of the API and protocol the request used.
 *
 * It knows the two APIs only through `AwsApi` (below): protocols/sqs and protocols/sns each describe theirs
 * (protocols never import each other), and the composition root (src/app/aws-module.ts) hands both in.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { HttpError, readBody, requestCertificate } from '../../src/transport/http.js';
import type { HttpHandler } from '../../src/transport/types.js';
import type { Action, ClientCertificate, Principal } from '../../src/core/api.js';
import type { BaseUrls } from './base-url.js';
import { AwsError, jsonError, queryError, snsError, sqsError, toAwsError } from './errors.js';
import type { Input, Params } from './params.js';
import { parseQueryTree, type QueryTree } from './query-params.js';
import { verifySigV4, type AuthResult, type SigV4Options } from './sigv4.js';

/** One action of an API: the request's parameters (in the JSON protocol's input shape) in, its output shape out. */
export type AwsAction<C> = (p: Params, ctx: C) => Promise<Record<string, unknown>>;

/**
 * Puts security.acl in front of the actions `needs` names: a request made as a broker user passes `authorize` (which
 * throws the API's own 403) before the action runs; anonymous requests were admitted by the endpoint already.
 */
export function guardActions<C extends { user?: Principal }>(
  actions: Record<string, AwsAction<C>>,
  needs: Record<string, Action>,
  authorize: (action: string, need: Action, p: Params, ctx: C) => void,
): void {
  for (const [action, fn] of Object.entries(actions)) {
    const need = needs[action];
    if (!need) continue;
    actions[action] = (p, c) => {
      if (c.user) authorize(action, need, p, c);
      return fn(p, c);
    };
  }
}

/** What the endpoint knows about a request when it hands it to an API, which makes its own action context of it. */
export interface AwsRequest {
  /** `http(s)://host:port` as the client addressed the broker. */
  readonly baseUrl: string;
  readonly auth: AuthResult;
  /** The access key id the request was signed with, else the account id. */
  readonly principal: string;
  /** The broker user behind the request (its access key, or anonymous); undefined for unsigned SNS links. */
  readonly user?: Principal;
  /** AWS JSON 1.0, or the query protocol (where numbers and booleans arrive as strings). */
  readonly protocol: 'json' | 'query';
  /** The URL path (no query string). */
  readonly path: string;
  /** Aborted when the client goes away; created on first use (an AbortSignal per request is not free). */
  readonly signal: AbortSignal;
  /** The X-Ray trace header (`X-Amzn-Trace-Id`) the request came with: sent messages keep it as AWSTraceHeader. */
  readonly traceHeader?: string;
}

/** An AWS API as the endpoint serves it: its actions, its query-protocol wire format, its lifecycle. */
export interface AwsApi<C> {
  /** The query protocol's `Version=` value (routes a request to this API). */
  readonly version: string;
  /** The XML namespace of responses and error responses. */
  readonly namespace: string;
  readonly actions: Record<string, AwsAction<C>>;
  /** The API's action names (routes a request without Version or routing parameters). */
  readonly actionNames: ReadonlySet<string>;
  /** Parameters only this API's requests carry (routes a request without Version). */
  readonly routingParams: readonly string[];
  /** Actions served without a signature when the request carries none (the links in SNS messages). */
  readonly unsignedActions?: ReadonlySet<string>;
  /** A document served on GET at a fixed path (the SNS signing certificate). */
  readonly document?: { path: string; contentType: string; body(): string };
  /** A query-protocol parameter tree in the actions' input shape. */
  queryInput(tree: QueryTree): Input;
  /** Typed access to an action's input, with the API's parameter errors. */
  params(input: Input, lenient: boolean): Params;
  context(req: AwsRequest): C;
  /** An action's output as its query-protocol XML response. */
  xml(action: string, out: Record<string, unknown>, requestId: string): string;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** SQS also speaks AWS JSON 1.0. */
export interface AwsJsonApi<C> extends AwsApi<C> {
  /** `X-Amz-Target` is `<targetPrefix><Action>`. */
  readonly targetPrefix: string;
  /** Error `__type` is `<shapePrefix>#<code>`. */
  readonly shapePrefix: string;
}

export interface AwsEndpointOptions<Q, N> {
  /** SQS: JSON and query protocol, path-addressed queues; the API of a request that names neither. */
  sqs: AwsJsonApi<Q>;
  /** SNS: query protocol. */
  sns: AwsApi<N>;
  auth: SigV4Options;
  /** The principal of unsigned and anonymous requests. */
  accountId: string;
  /**
   * The broker user behind a request's signature (or anonymous); null refuses the request. Default: every request
   * is anonymous and accepted.
   */
  userOf?: (auth: AuthResult, remoteAddress: string | undefined, certificate?: ClientCertificate) => Promise<Principal | null>;
  /** Largest request body, bytes. */
  maxBody: number;
  baseUrls: BaseUrls;
  logger: Logger;
}

type Api = 'sqs-json' | 'sqs-query' | 'sns';

export function createAwsEndpoint<Q, N>(opts: AwsEndpointOptions<Q, N>): HttpHandler {
  const { sqs, sns, auth, accountId, maxBody, baseUrls, logger } = opts;
  /** Who sent a request; throws the AWS error a refused client sees. */
  const userOf = async (authed: AuthResult, req: IncomingMessage): Promise<Principal | undefined> => {
    if (!opts.userOf) return undefined;
    // over HTTPS, a verified client certificate is the identity of an unsigned request
    const u = await opts.userOf(authed, req.socket.remoteAddress, requestCertificate(req.socket));
    if (u) return u;
    if (authed.accessKeyId) throw new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    throw new AwsError('MissingAuthenticationToken', 'Request is missing Authentication Token (anonymous requests are not accepted from this address; see docs/security.md).', 403);
  };
  const ready = Promise.all([sqs.start(), sns.start()]).catch((err) => {
    logger.error({ err }, 'sqs/sns: start failed');
    throw err;
  });
  ready.catch(() => undefined); // requests see the failure; it must not be an unhandled rejection meanwhile
  let closed = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let api: Api = req.headers['x-amz-target'] ? 'sqs-json' : 'sqs-query';
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const baseUrl = baseUrls.forRequest(req);
    try {
      await ready;
      if (closed) throw sqsError('ServiceUnavailable', 'The broker is shutting down.');
      for (const doc of [sqs.document, sns.document]) {
        if (doc && req.method === 'GET' && path === doc.path) {
          res.writeHead(200, { 'content-type': doc.contentType });
          res.end(doc.body());
          return;
        }
      }
      if (req.method !== 'POST' && req.method !== 'GET') throw sqsError('InvalidAction', `Method ${req.method} is not supported.`);
      let body: Buffer;
      try {
        body = await readBody(req, maxBody);
      } catch (err) {
        if (err instanceof HttpError && err.status === 413) {
          const e = new AwsError('RequestEntityTooLarge', `Request body larger than ${maxBody} bytes.`, 413);
          throw Object.assign(e, { closeConnection: true });
        }
        // the client went away or sent a broken body: nothing useful to answer, nothing to log loudly
        throw Object.assign(new AwsError('IncompleteBody', `The request body could not be read: ${(err as Error).message}.`, 400), { closeConnection: true });
      }
      const request = (authed: AuthResult, protocol: 'json' | 'query', user?: Principal): AwsRequest =>
        new EndpointRequest(baseUrl, authed, authed.accessKeyId ?? accountId, user, protocol, path, res, traceHeaderOf(req));
      const target = req.headers['x-amz-target'];
      if (typeof target === 'string' && target) {
        // ------------------------------------------------------------------ SQS JSON
        api = 'sqs-json';
        const authed = verifySigV4(req, body, auth);
        if (!target.startsWith(sqs.targetPrefix)) throw sqsError('InvalidAction', `The action or operation requested is invalid: ${target.slice(0, 100)}.`);
        const action = target.slice(sqs.targetPrefix.length);
        const fn = Object.hasOwn(sqs.actions, action) ? sqs.actions[action] : undefined;
        if (!fn) throw sqsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
        let input: unknown;
        try {
          input = body.length ? JSON.parse(body.toString('utf8')) : {};
        } catch {
          throw sqsError('SerializationException', 'The request body is not valid JSON.');
        }
        if (!input || typeof input !== 'object' || Array.isArray(input)) throw sqsError('SerializationException', 'The request body must be a JSON object.');
        if (jsonDepth(input, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw sqsError('SerializationException', `The request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
        const out = await fn(sqs.params(input as Input, false), sqs.context(request(authed, 'json', await userOf(authed, req))));
        const text = JSON.stringify(out);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      // -------------------------------------------------------------------- query protocols (SQS, SNS)
      const params = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
      const ctype = String(req.headers['content-type'] ?? '');
      if (body.length && req.method === 'POST' && !/json/i.test(ctype)) {
        // counted before parsing: a 10 MB form of a million parameters kept the event loop busy for seconds (unsigned)
        if (countParams(body) + countParams(url) > MAX_QUERY_PARAMS) throw new AwsError('MalformedQueryString', `More than ${MAX_QUERY_PARAMS} query parameters.`, 400);
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
      }
      const action = params.get('Action');
      api = chooseApi(action, params, path);
      if (!action) {
        // AWS answers a bare request to a queue's URL (a GET of it, say) so, whatever the request's content type
        if (api !== 'sns' && path.split('/').filter(Boolean).length >= 2) {
          sendXml(res, 404, '<?xml version="1.0"?><UnknownOperationException/>', requestId);
          return;
        }
        throw new AwsError('MissingAction', 'The request must contain the parameter Action.', 400);
      }
      const queryApi: AwsApi<Q> | AwsApi<N> = api === 'sns' ? sns : sqs;
      let authed: AuthResult;
      let user: Principal | undefined;
      if (queryApi.unsignedActions?.has(action) && !req.headers.authorization && !params.has('X-Amz-Signature')) authed = { verified: false };
      else {
        authed = verifySigV4(req, body, auth);
        user = await userOf(authed, req);
      }
      const tree = parseQueryTree(params, (m) => (api === 'sns' ? snsError('InvalidParameter', m) : sqsError('MalformedQueryString', m)));
      if (api === 'sns') {
        const fn = Object.hasOwn(sns.actions, action) ? sns.actions[action] : undefined;
        if (!fn) throw snsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
        const out = await fn(sns.params(sns.queryInput(tree), true), sns.context(request(authed, 'query', user)));
        sendXml(res, 200, sns.xml(action, out, requestId), requestId);
        return;
      }
      const fn = Object.hasOwn(sqs.actions, action) ? sqs.actions[action] : undefined;
      // AWS: a queue's URL takes the actions on that queue, not CreateQueue or ListQueues
      const queuePath = path.split('/').filter(Boolean).length >= 2;
      if (!fn || (queuePath && (action === 'CreateQueue' || action === 'ListQueues'))) throw sqsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
      const out = await fn(sqs.params(sqs.queryInput(tree), true), sqs.context(request(authed, 'query', user)));
      sendXml(res, 200, sqs.xml(action, out, requestId), requestId);
    } catch (err) {
      const service = api === 'sns' ? 'sns' : 'sqs';
      const e = toAwsError(err, service);
      if (!(err instanceof AwsError)) {
        if (e.status >= 500) logger.error({ err, requestId }, `${service}: request failed`);
        else logger.debug({ err: (err as Error)?.message, requestId }, `${service}: request rejected`);
      }
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const close = (err as { closeConnection?: boolean }).closeConnection === true;
      if (api === 'sqs-json') {
        const r = jsonError(e, sqs.shapePrefix);
        res.writeHead(r.status, { ...r.headers, 'x-amzn-requestid': requestId, ...(close ? { connection: 'close' } : {}) });
        res.end(r.body);
      } else {
        sendXml(res, e.status, api === 'sns' ? queryError(sns.namespace, e, requestId, false) : queryError(sqs.namespace, e, requestId), requestId, close);
      }
    }
  }

  /** Which API a query-protocol request is for: its Version, else parameters only one API has, else its action. */
  function chooseApi(action: string | null, params: URLSearchParams, path: string): Api {
    const version = params.get('Version');
    if (version === sns.version) return 'sns';
    if (version === sqs.version) return 'sqs-query';
    if (sns.routingParams.some((k) => params.has(k))) return 'sns';
    // a path `/<account>/<queue>` addresses an SQS queue
    if (sqs.routingParams.some((k) => params.has(k)) || path.split('/').filter(Boolean).length >= 2) return 'sqs-query';
    if (action && sns.actionNames.has(action) && !sqs.actionNames.has(action)) return 'sns';
    return 'sqs-query';
  }

  return {
    handle,
    async close() {
      closed = true;
      await ready.catch(() => undefined);
      // SNS first: its subscriptions deliver into SQS queues
      await sns.close();
      await sqs.close();
    },
  };
}

/**
 * A request as the APIs see it. A class, so that `signal` is a getter on the prototype: an object literal with a
 * getter is defined through V8's slow runtime path on every request (~1 % of a SendMessageBatch's CPU).
 */
class EndpointRequest implements AwsRequest {
  private abort?: AbortSignal;

  constructor(
    readonly baseUrl: string,
    readonly auth: AuthResult,
    readonly principal: string,
    readonly user: Principal | undefined,
    readonly protocol: 'json' | 'query',
    readonly path: string,
    private readonly res: ServerResponse,
    readonly traceHeader: string | undefined,
  ) {}

  get signal(): AbortSignal {
    return (this.abort ??= abortSignal(this.res));
  }
}

function traceHeaderOf(req: IncomingMessage): string | undefined {
  const h = req.headers['x-amzn-trace-id'];
  return typeof h === 'string' && h.length > 0 && h.length <= 1024 ? h : undefined;
}

function sendXml(res: ServerResponse, status: number, xml: string, requestId: string, close = false): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'x-amzn-requestid': requestId,
    'content-length': Buffer.byteLength(xml),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(xml);
}

function abortSignal(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  if (res.destroyed || !res.socket || res.socket.destroyed) ac.abort();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** The most query-protocol parameters a request may carry (the largest SQS/SNS batch needs a few hundred). */
const MAX_QUERY_PARAMS = 5_000;
/** The deepest JSON an SQS request may nest (its shapes are a few levels deep). */
const MAX_JSON_DEPTH = 64;

/** Parameters in a form body or URL: one more than its `&` separators (an upper bound, cheap to take). */
function countParams(s: Buffer | string): number {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  let n = 1;
  for (let i = b.indexOf(0x26); i >= 0; i = b.indexOf(0x26, i + 1)) n++;
  return n;
}

/**
 * How deep `v` nests, stopping once past `limit` (so the recursion is at most `limit` + 1 deep): a plain walk,
 * with no stack of its own to allocate on every request.
 */
function jsonDepth(v: unknown, limit: number, d = 1): number {
  if (v === null || typeof v !== 'object') return 0;
  if (d > limit) return d;
  let max = d;
  if (Array.isArray(v)) {
    for (const c of v) {
      if (c !== null && typeof c === 'object') {
        const n = jsonDepth(c, limit, d + 1);
        if (n > max && (max = n) > limit) return max;
      }
    }
  } else {
    for (const k in v) {
      const c = (v as Record<string, unknown>)[k];
      if (c !== null && typeof c === 'object') {
        const n = jsonDepth(c, limit, d + 1);
        if (n > max && (max = n) > limit) return max;
      }
    }
  }
  return max;
}
