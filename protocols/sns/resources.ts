/**
 * What every part of the SNS service shares: the engine and its connection, the signing key, the topics and
 * subscriptions as kept in the engine's kv store (`sns:topic:<name>`, `sns:sub:<id>`), their ARNs, and the
 * timers of pending retries (cleared at close).
 */
import type { Logger } from 'pino';
import type { ConnectionHandle, EngineApi, Principal } from '../../src/core/api.js';
import { AwsError, snsError } from '../aws/errors.js';
import type { MessageAttributes } from '../aws/message-attributes.js';
import type { Params } from '../aws/params.js';
import { generateSigningMaterial, Signer, type SigningMaterial } from './signing.js';

/** Where the broker serves the certificate that verifies SNS message signatures (SigningCertURL). */
export const CERT_PATH = '/_wharf/sns/SimpleNotificationService.pem';

/** What SNS needs from the SQS side (wired by the combined HTTP module; SNS does not import the SQS service). */
export interface SqsBridge {
  exists(name: string): boolean;
  isFifo(name: string): boolean;
  deliver(
    name: string,
    m: { body: string; attributes?: MessageAttributes; groupId?: string; dedupId?: string; senderId?: string; traceHeader?: string; annotations?: Record<string, unknown> },
  ): Promise<{ messageId: string }>;
  nameFromArn(arn: string): string | undefined;
}

export interface SnsServiceOptions {
  engine: EngineApi;
  region: string;
  accountId: string;
  logger: Logger;
  /** Base URL for links in messages when no request names one. */
  baseUrl: () => string;
  sqs: SqsBridge;
  /** HTTP delivery timeout, ms (default 15 s). */
  httpTimeout?: number;
}

export interface SnsContext {
  baseUrl: string;
  principal: string;
  verified: boolean;
  /** The broker user behind the request's access key (security.users[].accessKeys), for security.acl. */
  user?: Principal;
  /** The request's X-Ray trace header (`X-Amzn-Trace-Id`): SQS subscribers get it as AWSTraceHeader. */
  traceHeader?: string;
}

export interface TopicMeta {
  name: string;
  created: number;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

export interface SubMeta {
  id: string;
  topic: string;
  protocol: string;
  endpoint: string;
  owner: string;
  confirmed: boolean;
  token?: string;
  tokenExpires?: number;
  authOnUnsubscribe?: boolean;
  attributes: Record<string, string>;
  created: number;
}

export const invalid = (msg: string) => snsError('InvalidParameter', `Invalid parameter: ${msg}`);

export class SnsResources {
  readonly engine: EngineApi;
  readonly logger: Logger;
  readonly region: string;
  readonly accountId: string;
  private signerCache?: Signer;
  connection?: ConnectionHandle;
  closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly opts: SnsServiceOptions) {
    this.engine = opts.engine;
    this.logger = opts.logger;
    this.region = opts.region;
    this.accountId = opts.accountId;
  }

  /**
   * The key that signs SNS messages, from kv `sns:signing`; made on first use when there is none (an RSA key takes
   * a CPU-busy ~0.1–0.5 s to generate: not at start, where every broker without SNS subscriptions paid for it). The
   * new key is stored at once; its messages are signed when delivered, so a crash before that commit only means the
   * next start makes another key for the deliveries still to come.
   */
  signer(): Signer {
    if (this.signerCache) return this.signerCache;
    let material = this.engine.kvGet<SigningMaterial>('sns:signing');
    if (!material) {
      material = generateSigningMaterial();
      this.engine.kvPut('sns:signing', material).catch((err: unknown) => this.logger.error({ err }, 'sns: the signing key could not be stored'));
    }
    return (this.signerCache = new Signer(material));
  }

  /** A delay that `clearTimers` (at close) cancels: pending retries must not keep the process alive. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  topicArn(name: string): string {
    return `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
  }

  topicMeta(name: string): TopicMeta | undefined {
    return this.engine.kvGet<TopicMeta>(`sns:topic:${name}`);
  }

  subMeta(id: string): SubMeta | undefined {
    return this.engine.kvGet<SubMeta>(`sns:sub:${id}`);
  }

  subArn(sub: SubMeta): string {
    return `${this.topicArn(sub.topic)}:${sub.id}`;
  }

  /** The topic name of a topic ARN, which must exist (NotFound otherwise). */
  topicFromArn(arn: string): string {
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+)$/.exec(arn);
    if (!m) throw invalid(`TopicArn Reason: ${arnShape(arn, 'arn:aws:sns:<region>:<account>:<topic>')}`);
    if (!this.topicMeta(m[1])) throw snsError('NotFound', 'Topic does not exist');
    return m[1];
  }

  /** The subscription a well-formed ARN names, or undefined if there is none (throws InvalidParameter if malformed). */
  findSub(arn: string): SubMeta | undefined {
    try {
      return this.subFromArn(arn);
    } catch (err) {
      if (err instanceof AwsError && err.code === 'NotFound') return undefined;
      throw err;
    }
  }

  subFromArn(arn: string): SubMeta {
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+):([0-9a-f-]{36})$/.exec(arn);
    if (!m) throw invalid(`SubscriptionArn Reason: ${arnShape(arn, 'arn:aws:sns:<region>:<account>:<topic>:<id>')}`);
    const sub = this.subMeta(m[2]);
    if (!sub || sub.topic !== m[1]) throw snsError('NotFound', 'Subscription does not exist');
    return sub;
  }

  isFifoTopic(name: string): boolean {
    return this.topicMeta(name)?.attributes.FifoTopic === 'true';
  }
}

/** Why an ARN is malformed, in AWS's words when it is too short ("An ARN must have at least 6 elements, not 1"). */
function arnShape(arn: string, format: string): string {
  const n = arn.split(':').length;
  return n < 6 ? `An ARN must have at least 6 elements, not ${n}` : `An ARN must have the format "${format}"`;
}

export function nonEmpty(a: MessageAttributes | undefined): MessageAttributes | undefined {
  return a && Object.keys(a).length ? a : undefined;
}

export function stringMap(p: Params, name: string): Record<string, string> {
  return p.optStrMap(name) ?? {};
}

/** `Tags` as a list of {Key, Value} into a map. */
export function tagList(p: Params, name: string): Record<string, string> {
  const list = p.optList(name) ?? [];
  const out: Record<string, string> = {};
  for (const t of list) {
    const tp = p.sub(t, name);
    const k = tp.str('Key');
    if (Object.hasOwn(out, k)) throw invalid('Duplicated keys are not allowed.');
    out[k] = tp.optStr('Value') ?? '';
  }
  return out;
}

export function paginate(items: string[], token: string | undefined, size: number, p: Params, sorted = true): { page: string[]; next?: string } {
  let start = 0;
  if (token) {
    let after: string | undefined;
    try {
      after = (JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { after?: string }).after;
    } catch {
      after = undefined;
    }
    if (typeof after !== 'string') throw p.invalid('NextToken', 'Invalid NextToken value.', token);
    const idx = items.indexOf(after);
    start = idx >= 0 ? idx + 1 : sorted ? items.findIndex((x) => x > after!) : items.length;
    if (start < 0) start = items.length;
  }
  const page = items.slice(start, start + size);
  const next = start + size < items.length ? Buffer.from(JSON.stringify({ after: page[page.length - 1] })).toString('base64') : undefined;
  return { page, next };
}
