/**
 * What every part of the SQS service shares: the engine and its connection, the queues' SQS metadata (kv
 * `sqs:queue:<name>`) and per-queue adapter state, and the names, URLs and ARNs of queues.
 */
import type { Logger } from 'pino';
import type { ConnectionHandle, EngineApi, Principal } from '../../src/core/api.js';
import { noQueue, sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { isFifoMeta, type QueueMeta } from './queue-attributes.js';
import { QueueState } from './queue-state.js';

export interface RequestContext {
  /** `http://host:port` as the client addressed the broker (queue URLs are built from it). */
  baseUrl: string;
  /** Access key id (or account id when anonymous): the SenderId of sent messages. */
  senderId: string;
  /** Query protocol: numbers and booleans arrive as strings. */
  lenient: boolean;
  /** Queue name from the request path (query protocol `POST /<account>/<queue>`). */
  pathQueue?: string;
  /** Aborted when the client goes away (ends long polls early). */
  signal?: AbortSignal;
  /** The broker user behind the request (undefined: not checked, e.g. SQS used without the endpoint). */
  user?: Principal;
  /** The request's X-Ray trace header (`X-Amzn-Trace-Id`). */
  traceHeader?: string;
}

export class SqsQueues {
  /** The adapter's engine connection (sends, consumers, transactions), from `SqsService.start`. */
  connection?: ConnectionHandle;
  /** Set by `SqsService.close`: long-running work (move tasks) stops. */
  closed = false;
  private readonly states = new Map<string, QueueState>();

  constructor(
    readonly engine: EngineApi,
    readonly region: string,
    readonly accountId: string,
    readonly logger: Logger,
  ) {}

  queueUrl(ctx: RequestContext, name: string): string {
    return `${ctx.baseUrl}/${this.accountId}/${name}`;
  }

  queueArn(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  meta(name: string): QueueMeta | undefined {
    return this.engine.kvGet<QueueMeta>(metaKey(name));
  }


  async putMeta(meta: QueueMeta): Promise<void> {
    await this.engine.kvPut(metaKey(meta.name), meta);
  }

  /** The queue's adapter state, made on first use. */
  state(name: string): QueueState {
    let st = this.states.get(name);
    if (!st) this.states.set(name, (st = new QueueState(name)));
    return st;
  }


  /** The queue's adapter state, if it has one. */
  stateOf(name: string): QueueState | undefined {
    return this.states.get(name);
  }

  allStates(): IterableIterator<QueueState> {
    return this.states.values();
  }

  /** Drop a deleted queue's adapter state. */
  forget(name: string): void {
    this.states.delete(name);
  }

  exists(name: string): boolean {
    return this.engine.queueExists(name);
  }

  isFifo(name: string): boolean {
    return isFifoMeta(this.meta(name));
  }

  /** The queue a request addresses (QueueUrl, or the request path), which must exist. */
  resolveQueue(p: Params, ctx: RequestContext): string {
    const url = p.optStr('QueueUrl');
    let name: string | undefined;
    if (url !== undefined) name = queueNameFromUrl(url);
    else if (ctx.pathQueue) name = ctx.pathQueue;
    else throw p.missing('QueueUrl');
    if (!name) throw sqsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`);
    if (!this.exists(name)) throw noQueue();
    return name;
  }
}

/** Queue name from an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`), or undefined. */
export function queueNameFromArn(arn: string): string | undefined {
  const m = /^arn:aws[\w-]*:sqs:[^:]*:[^:]*:([^:]+)$/.exec(arn);
  return m ? m[1] : undefined;
}

export function metaKey(name: string): string {
  return `sqs:queue:${name}`;
}

export function newMeta(name: string): QueueMeta {
  const now = Math.floor(Date.now() / 1000);
  return { name, created: now, modified: now, attributes: name.endsWith('.fifo') ? { FifoQueue: 'true' } : {}, tags: {} };
}

// A client sends the same few queue URLs on every request (twice read per request: the ACL check and the action).
const urlNames = new Map<string, string | undefined>();

/** The queue name in a queue URL (`http://host/<account>/<name>`, a path, or a bare name). */
export function queueNameFromUrl(url: string): string | undefined {
  if (urlNames.has(url)) return urlNames.get(url);
  const name = parseQueueUrl(url);
  if (urlNames.size >= 1000) urlNames.clear();
  urlNames.set(url, name);
  return name;
}

function parseQueueUrl(url: string): string | undefined {
  let path = url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    try {
      path = new URL(url).pathname;
    } catch {
      return undefined;
    }
  }
  const segs = path.split('/').filter(Boolean);
  const last = segs[segs.length - 1];
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return undefined;
  }
}
