/**
 * The SQS + SNS HTTP API on `listeners.sqs` (9324, TLS 9325): one HttpModule that dispatches each request to
 * SQS over AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.*`), SQS over the query protocol (`Action=` with an SQS
 * action, optionally `POST /<account>/<queue>`), or SNS over the query protocol (SNS actions). Requests are
 * authenticated with AWS Signature Version 4 against `sqs.credentials` (or accepted in anonymous mode).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HttpError, readBody } from '../../src/transport/http.js';
import type { AdapterContext, HttpHandler, HttpModule } from '../../src/transport/types.js';
import { SnsService, SNS_ACTIONS, SNS_NS, snsQueryInput, snsXml } from '../sns/service.js';
import { AwsError, jsonError, queryError, snsError, sqsError, toAwsError } from '../aws/errors.js';
import { Params } from '../aws/params.js';
import { parseQueryTree } from '../aws/query-params.js';
import { SqsService, queueNameFromUrl, type RequestContext } from './service.js';
import { verifySigV4, type AuthResult, type SigV4Options } from '../aws/sigv4.js';
import { SQS_ACTIONS, SQS_NS, sqsQueryInput, sqsXml } from './wire.js';

export { SqsService } from './service.js';

type Api = 'sqs-json' | 'sqs-query' | 'sns';

/** SNS actions that AWS serves without a signature (the links in confirmation and notification messages). */
/** What the composition root passes the SQS/SNS module (`sqs:` in the configuration, and where it listens). */
export interface SqsModuleOptions {
  region: string;
  accountId: string;
  credentials?: Array<{ accessKeyId: string; secretAccessKey: string }>;
  anonymous?: boolean;
  baseUrl?: string;
  maxClockSkew?: number;
  purgeInterval?: number;
  deletedQueueCooldown?: number;
  /** The `listeners.sqs` address, for links the broker hands out when no baseUrl is set. */
  listener: { host: string; port: number };
}

const UNSIGNED_SNS = new Set(['ConfirmSubscription', 'Unsubscribe']);

export interface SqsHttpHandler extends HttpHandler {
  readonly sqs: SqsService;
  readonly sns: SnsService;
}

export function createSqsHandler(ctx: AdapterContext): SqsHttpHandler {
  const { engine, logger } = ctx;
  const cfg = (ctx.options as SqsModuleOptions | undefined) ?? { region: 'us-east-1', accountId: '000000000000', listener: { host: '127.0.0.1', port: 9324 } };
  const credentials = new Map<string, string>((cfg.credentials ?? []).map((c) => [c.accessKeyId, c.secretAccessKey]));
  const auth: SigV4Options = {
    credentials,
    anonymous: cfg.anonymous ?? credentials.size === 0,
    maxClockSkew: cfg.maxClockSkew ?? 900,
  };
  const maxBody = ctx.limits.maxFrameSize;
  const sqs = new SqsService({ engine, region: cfg.region, accountId: cfg.accountId, logger, purgeInterval: cfg.purgeInterval, deletedQueueCooldown: cfg.deletedQueueCooldown });
  let learnedBase: string | undefined;
  const listener = cfg.listener;
  const fallbackBase = () =>
    cfg.baseUrl?.replace(/\/+$/, '') ?? learnedBase ?? `http://${listener.host === '0.0.0.0' || listener.host === '::' ? '127.0.0.1' : listener.host}:${listener.port}`;
  const sns = new SnsService({
    engine,
    region: cfg.region,
    accountId: cfg.accountId,
    logger,
    baseUrl: fallbackBase,
    sqs: {
      exists: (name) => sqs.exists(name),
      isFifo: (name) => sqs.isFifo(name),
      deliver: (name, m) => sqs.deliver(name, m),
      nameFromArn: (arn) => SqsService.nameFromArn(arn),
    },
  });
  const ready = Promise.all([sqs.start(), sns.start()]).catch((err) => {
    logger.error({ err }, 'sqs/sns: start failed');
    throw err;
  });
  ready.catch(() => undefined); // requests see the failure; it must not be an unhandled rejection meanwhile
  let closed = false;
  let lastHost: string | undefined;
  let lastEncrypted = false;
  let lastBase = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let api: Api = req.headers['x-amz-target'] ? 'sqs-json' : 'sqs-query';
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const encrypted = !!(req.socket as TLSSocket).encrypted;
    const host = req.headers.host;
    let baseUrl: string;
    if (host !== undefined && host === lastHost && encrypted === lastEncrypted) baseUrl = lastBase;
    else if (host && /^[A-Za-z0-9.\-:[\]]+$/.test(host)) {
      baseUrl = `${encrypted ? 'https' : 'http'}://${host}`;
      if (!cfg.baseUrl && !learnedBase) learnedBase = baseUrl;
      // the same client sends the same Host header on every request: remember the last good one
      lastHost = host;
      lastEncrypted = encrypted;
      lastBase = baseUrl;
    } else baseUrl = fallbackBase();
    try {
      await ready;
      if (closed) throw sqsError('ServiceUnavailable', 'The broker is shutting down.');
      if (req.method === 'GET' && path === SnsService.CERT_PATH) {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' });
        res.end(sns.certificatePem());
        return;
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
      let signal: AbortSignal | undefined;
      const lazySignal = () => (signal ??= abortSignal(res));
      const target = req.headers['x-amz-target'];
      if (typeof target === 'string' && target) {
        // ------------------------------------------------------------------ SQS JSON
        api = 'sqs-json';
        const authed = verifySigV4(req, body, auth);
        if (!target.startsWith('AmazonSQS.')) throw sqsError('InvalidAction', `The action or operation requested is invalid: ${target.slice(0, 100)}.`);
        const action = target.slice('AmazonSQS.'.length);
        const fn = Object.hasOwn(sqs.actions, action) ? sqs.actions[action] : undefined;
        if (!fn) throw sqsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
        let input: unknown;
        try {
          input = body.length ? JSON.parse(body.toString('utf8')) : {};
        } catch {
          throw sqsError('SerializationException', 'The request body is not valid JSON.');
        }
        if (!input || typeof input !== 'object' || Array.isArray(input)) throw sqsError('SerializationException', 'The request body must be a JSON object.');
        const out = await fn(new Params(input as Record<string, unknown>, false), requestContext(authed, baseUrl, false, undefined, lazySignal));
        const text = JSON.stringify(out);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      // -------------------------------------------------------------------- query protocols (SQS, SNS)
      const params = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
      const ctype = String(req.headers['content-type'] ?? '');
      if (body.length && req.method === 'POST' && !/json/i.test(ctype)) {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
      }
      const action = params.get('Action');
      api = chooseApi(action, params, path);
      const ns = api === 'sns' ? SNS_NS : SQS_NS;
      void ns;
      if (!action) throw new AwsError('MissingAction', 'The request must contain the parameter Action.', 400);
      let authed: AuthResult;
      if (api === 'sns' && UNSIGNED_SNS.has(action) && !req.headers.authorization && !params.has('X-Amz-Signature')) authed = { verified: false };
      else authed = verifySigV4(req, body, auth);
      const mkErr = api === 'sns' ? snsError : sqsError;
      const tree = parseQueryTree(params, (m) => mkErr(api === 'sns' ? 'InvalidParameter' : 'MalformedQueryString', m));
      if (api === 'sns') {
        const fn = Object.hasOwn(sns.actions, action) ? sns.actions[action] : undefined;
        if (!fn) throw snsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
        const input = snsQueryInput(tree);
        const p = new Params(input, true, (code, m) => snsError(code === 'MissingParameter' ? 'InvalidParameter' : 'InvalidParameter', code === 'MissingParameter' ? `Invalid parameter: ${m.replace(/^The request must contain the parameter (\w+)\.$/, '$1')}` : m));
        const out = await fn(p, { baseUrl, principal: authed.accessKeyId ?? cfg.accountId, verified: authed.verified });
        sendXml(res, 200, snsXml(action, out, requestId), requestId);
        return;
      }
      const fn = Object.hasOwn(sqs.actions, action) ? sqs.actions[action] : undefined;
      if (!fn) throw sqsError('InvalidAction', `The action ${action.slice(0, 100)} is not valid for this endpoint.`);
      const segs = path.split('/').filter(Boolean);
      const pathQueue = segs.length >= 2 ? queueNameFromUrl(path) : undefined;
      const input = sqsQueryInput(tree);
      const out = await fn(new Params(input, true), requestContext(authed, baseUrl, true, pathQueue, lazySignal));
      sendXml(res, 200, sqsXml(action, out, requestId), requestId);
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
        const r = jsonError(e, 'com.amazonaws.sqs');
        res.writeHead(r.status, { ...r.headers, 'x-amzn-requestid': requestId, ...(close ? { connection: 'close' } : {}) });
        res.end(r.body);
      } else {
        sendXml(res, e.status, queryError(api === 'sns' ? SNS_NS : SQS_NS, e, requestId), requestId, close);
      }
    }
  }

  function requestContext(a: AuthResult, baseUrl: string, lenient: boolean, pathQueue: string | undefined, signal: () => AbortSignal): RequestContext {
    return {
      baseUrl,
      senderId: a.accessKeyId ?? cfg.accountId,
      lenient,
      pathQueue,
      // created on first use (only receives wait): an AbortSignal per request is not free
      get signal() {
        return signal();
      },
    };
  }

  return {
    sqs,
    sns,
    handle,
    async close() {
      closed = true;
      await ready.catch(() => undefined);
      await sns.close();
      await sqs.close();
    },
  };
}

function chooseApi(action: string | null, params: URLSearchParams, path: string): Api {
  const version = params.get('Version');
  if (version === '2010-03-31') return 'sns';
  if (version === '2012-11-05') return 'sqs-query';
  if (params.has('TopicArn') || params.has('SubscriptionArn') || params.has('TargetArn')) return 'sns';
  if (params.has('QueueUrl') || path.split('/').filter(Boolean).length >= 2) return 'sqs-query';
  if (action && SNS_ACTIONS.has(action) && !SQS_ACTIONS.has(action)) return 'sns';
  return 'sqs-query';
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

/** The SQS + SNS API module, served on `listeners.sqs`. */
export const sqsHttpModule: HttpModule = {
  name: 'sqs',
  listener: 'sqs',
  create: (ctx) => createSqsHandler(ctx),
};

export default sqsHttpModule;
