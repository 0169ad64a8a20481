/**
 * The SNS service over the query protocol. An SNS topic `orders` is the core topic `orders`: Publish is an
 * engine send to it, so STOMP/MQTT/AMQP subscribers of the topic get SNS messages and a STOMP/MQTT/AMQP publish
 * reaches the SNS subscriptions. Each confirmed SNS subscription is a core durable subscription
 * (`durable:sns:<id>`) with one consumer here that filters, formats (JSON envelope or raw) and forwards:
 * `sqs` to a broker queue, `http`/`https` by POST with retries per delivery policy and a redrive DLQ,
 * `wharf` (broker-native) to any core queue or topic address.
 *
 * State: `sns:topic:<name>`, `sns:sub:<id>` and the signing key `sns:signing` in the engine's kv store.
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { type Address, BrokerError, type ConnectionHandle, type ConsumerHandle, copyMessage, createMessage, type Delivery, type EngineApi, formatAddress, type Message, parseAddress, topic as topicAddress } from '../../src/core/api.js';
import {
  ATTRS_ANNOTATION,
  attributesSize,
  attributesToProperties,
  bodyText,
  messageAttributesOf,
  parseMessageAttributes,
  type MessageAttributes,
} from '../aws/message-attributes.js';
import { AwsError, snsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { asList, asString, asTree, pairsToMap, type QueryNode, type QueryTree } from '../aws/query-params.js';
import { el, response, wrap } from '../aws/xml.js';
import { FilterPolicyError, matchesFilter, parseFilterPolicy, type FilterScope } from './filter-policy.js';
import { generateSigningMaterial, Signer, stringToSign, type SigningMaterial } from './signing.js';

/** What SNS needs from the SQS side (wired by the combined HTTP module; SNS does not import the SQS service). */
export interface SqsBridge {
  exists(name: string): boolean;
  isFifo(name: string): boolean;
  deliver(
    name: string,
    m: { body: string; attributes?: MessageAttributes; groupId?: string; dedupId?: string; senderId?: string; annotations?: Record<string, unknown> },
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
}

interface TopicMeta {
  name: string;
  created: number;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

interface SubMeta {
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

interface RetryPolicy {
  minDelayTarget: number;
  maxDelayTarget: number;
  numRetries: number;
  numMaxDelayRetries: number;
  numNoDelayRetries: number;
  numMinDelayRetries: number;
  backoffFunction: 'linear' | 'arithmetic' | 'geometric' | 'exponential';
}

const DEFAULT_HTTP_POLICY: RetryPolicy = {
  minDelayTarget: 20,
  maxDelayTarget: 20,
  numRetries: 3,
  numMaxDelayRetries: 0,
  numNoDelayRetries: 0,
  numMinDelayRetries: 0,
  backoffFunction: 'linear',
};

const TOPIC_NAME_RE = /^[A-Za-z0-9_-]{1,256}$/;
const PROTOCOLS = new Set(['sqs', 'http', 'https', 'wharf']);
const UNSUPPORTED_PROTOCOLS = new Set(['email', 'email-json', 'sms', 'application', 'lambda', 'firehose']);
const MAX_MESSAGE = 262144;
const DEDUP_WINDOW_MS = 5 * 60 * 1000;
const TOKEN_TTL_MS = 3 * 24 * 3600 * 1000;
/** Topic-to-topic (wharf) forwarding stops after this many hops, so a subscription loop cannot spin. */
const MAX_HOPS = 8;
const SETTABLE_TOPIC = new Set([
  'DisplayName',
  'Policy',
  'DeliveryPolicy',
  'KmsMasterKeyId',
  'SignatureVersion',
  'TracingConfig',
  'ContentBasedDeduplication',
  'ArchivePolicy',
  'DataProtectionPolicy',
  'FifoThroughputScope',
  'HTTPSuccessFeedbackRoleArn',
  'HTTPSuccessFeedbackSampleRate',
  'HTTPFailureFeedbackRoleArn',
  'SQSSuccessFeedbackRoleArn',
  'SQSSuccessFeedbackSampleRate',
  'SQSFailureFeedbackRoleArn',
]);
const SETTABLE_SUB = new Set(['DeliveryPolicy', 'FilterPolicy', 'FilterPolicyScope', 'RawMessageDelivery', 'RedrivePolicy', 'SubscriptionRoleArn', 'ReplayPolicy']);

const invalid = (msg: string) => snsError('InvalidParameter', `Invalid parameter: ${msg}`);

export class SnsService {
  static readonly CERT_PATH = '/_wharf/sns/SimpleNotificationService.pem';
  readonly actions: Record<string, (p: Params, ctx: SnsContext) => Promise<Record<string, unknown>>>;
  private readonly engine: EngineApi;
  private readonly logger: Logger;
  private readonly region: string;
  private readonly accountId: string;
  private readonly opts: SnsServiceOptions;
  private signer?: Signer;
  private connection?: ConnectionHandle;
  private readonly consumers = new Map<string, ConsumerHandle>();
  private readonly filters = new Map<string, { policy: Record<string, unknown>; scope: FilterScope } | null>();
  private readonly dedup = new Map<string, { expires: number; messageId: string; seq?: string }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private seqCounter = 0n;
  private closed = false;
  private sweepTimer?: NodeJS.Timeout;

  constructor(opts: SnsServiceOptions) {
    this.opts = opts;
    this.engine = opts.engine;
    this.logger = opts.logger;
    this.region = opts.region;
    this.accountId = opts.accountId;
    this.actions = {
      CreateTopic: (p, c) => this.createTopic(p, c),
      DeleteTopic: (p) => this.deleteTopic(p),
      ListTopics: (p) => this.listTopics(p),
      GetTopicAttributes: (p) => this.getTopicAttributes(p),
      SetTopicAttributes: (p) => this.setTopicAttributes(p),
      Subscribe: (p, c) => this.subscribe(p, c),
      ConfirmSubscription: (p, c) => this.confirmSubscription(p, c),
      Unsubscribe: (p, c) => this.unsubscribe(p, c),
      ListSubscriptions: (p) => this.listSubscriptions(p, undefined),
      ListSubscriptionsByTopic: (p) => this.listSubscriptions(p, this.topicFromArn(p.str('TopicArn'))),
      GetSubscriptionAttributes: (p) => this.getSubscriptionAttributes(p),
      SetSubscriptionAttributes: (p) => this.setSubscriptionAttributes(p),
      Publish: (p, c) => this.publish(p, c),
      PublishBatch: (p, c) => this.publishBatch(p, c),
      TagResource: (p) => this.tagResource(p),
      UntagResource: (p) => this.untagResource(p),
      ListTagsForResource: (p) => this.listTagsForResource(p),
    };
  }

  // ============================================================== lifecycle

  async start(): Promise<void> {
    let material = this.engine.kvGet<SigningMaterial>('sns:signing');
    if (!material) {
      material = generateSigningMaterial();
      await this.engine.kvPut('sns:signing', material);
    }
    this.signer = new Signer(material);
    this.connection = await this.engine.connect({ protocol: 'sns', remoteAddress: 'internal' });
    for (const [, sub] of this.engine.kvEntries<SubMeta>('sns:sub:')) {
      if (sub.confirmed && this.topicMeta(sub.topic)) await this.attach(sub).catch((err) => this.logger.error({ err, sub: sub.id }, 'sns: cannot resume subscription'));
    }
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const [k, d] of this.dedup) if (d.expires <= now) this.dedup.delete(k);
    }, 10_000);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
    if (this.connection) this.engine.disconnect(this.connection);
  }

  certificatePem(): string {
    return this.signer?.material.certPem ?? '';
  }

  // ============================================================== names

  topicArn(name: string): string {
    return `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
  }

  private topicMeta(name: string): TopicMeta | undefined {
    return this.engine.kvGet<TopicMeta>(`sns:topic:${name}`);
  }

  private subMeta(id: string): SubMeta | undefined {
    return this.engine.kvGet<SubMeta>(`sns:sub:${id}`);
  }

  private subArn(sub: SubMeta): string {
    return `${this.topicArn(sub.topic)}:${sub.id}`;
  }

  /** The topic name of a topic ARN, which must exist (NotFound otherwise). */
  private topicFromArn(arn: string): string {
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+)$/.exec(arn);
    if (!m) throw invalid(`TopicArn Reason: An ARN must have the format "arn:aws:sns:<region>:<account>:<topic>"`);
    if (!this.topicMeta(m[1])) throw snsError('NotFound', 'Topic does not exist');
    return m[1];
  }

  private subFromArn(arn: string): SubMeta {
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+):([0-9a-f-]{36})$/.exec(arn);
    if (!m) throw invalid('SubscriptionArn Reason: An ARN must have the format "arn:aws:sns:<region>:<account>:<topic>:<id>"');
    const sub = this.subMeta(m[2]);
    if (!sub || sub.topic !== m[1]) throw snsError('NotFound', 'Subscription does not exist');
    return sub;
  }

  private isFifoTopic(name: string): boolean {
    return this.topicMeta(name)?.attributes.FifoTopic === 'true';
  }

  private defaultPolicy(name: string): string {
    return JSON.stringify({
      Version: '2008-10-17',
      Id: '__default_policy_ID',
      Statement: [
        {
          Sid: '__default_statement_ID',
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: ['SNS:GetTopicAttributes', 'SNS:SetTopicAttributes', 'SNS:AddPermission', 'SNS:RemovePermission', 'SNS:DeleteTopic', 'SNS:Subscribe', 'SNS:ListSubscriptionsByTopic', 'SNS:Publish'],
          Resource: this.topicArn(name),
          Condition: { StringEquals: { 'AWS:SourceOwner': this.accountId } },
        },
      ],
    });
  }

  // ============================================================== topics

  private checkTopicAttribute(k: string, v: string, fifo: boolean, create: boolean): string {
    if (k === 'FifoTopic') {
      if (!create) throw invalid('AttributeName Reason: FifoTopic can only be set when the topic is created');
      if (!/^(true|false)$/i.test(v)) throw invalid('Attributes Reason: FifoTopic must be true or false');
      return v.toLowerCase();
    }
    if (!SETTABLE_TOPIC.has(k)) throw invalid(`AttributeName Reason: Unknown attribute ${k}`);
    switch (k) {
      case 'DisplayName':
        if (v.length > 100) throw invalid('DisplayName Reason: must be at most 100 characters');
        return v;
      case 'SignatureVersion':
        if (v !== '1' && v !== '2') throw invalid('SignatureVersion Reason: must be 1 or 2');
        return v;
      case 'TracingConfig':
        if (v !== 'PassThrough' && v !== 'Active') throw invalid('TracingConfig Reason: must be PassThrough or Active');
        return v;
      case 'ContentBasedDeduplication':
        if (!fifo) throw invalid('ContentBasedDeduplication Reason: Content based deduplication can only be set for FIFO topics');
        if (!/^(true|false)$/i.test(v)) throw invalid('ContentBasedDeduplication Reason: must be true or false');
        return v.toLowerCase();
      case 'Policy':
      case 'DeliveryPolicy':
      case 'ArchivePolicy':
      case 'DataProtectionPolicy':
        if (v === '') return v;
        try {
          const o = JSON.parse(v);
          if (!o || typeof o !== 'object') throw new Error('not an object');
        } catch {
          throw invalid(`${k} Reason: must be a JSON object`);
        }
        if (k === 'DeliveryPolicy') this.parseDeliveryPolicy(v, true);
        return v;
      default:
        return v;
    }
  }

  private async createTopic(p: Params, _ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = p.str('Name');
    const fifoName = name.endsWith('.fifo');
    const base = fifoName ? name.slice(0, -5) : name;
    if (!TOPIC_NAME_RE.test(base) || name.length > 256) {
      throw invalid('Topic Name Reason: Topic names must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.');
    }
    const requested = stringMap(p, 'Attributes');
    const fifoAttr = requested.FifoTopic?.toLowerCase() === 'true';
    if (fifoAttr !== fifoName) throw invalid(fifoName ? 'Topic Name Reason: FIFO topic names must end with .fifo and set FifoTopic to true' : 'Topic Name Reason: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.');
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) attributes[k] = this.checkTopicAttribute(k, v, fifoName, true);
    const tags = tagList(p, 'Tags');
    const existing = this.topicMeta(name);
    if (existing) {
      for (const [k, v] of Object.entries(attributes)) {
        if ((existing.attributes[k] ?? '') !== v) throw invalid('Attributes Reason: Topic already exists with different attributes');
      }
      for (const [k, v] of Object.entries(tags)) {
        if (existing.tags[k] !== undefined && existing.tags[k] !== v) throw invalid('Tags Reason: Topic already exists with different tags');
      }
      return { TopicArn: this.topicArn(name) };
    }
    checkTags(tags);
    await this.engine.kvPut(`sns:topic:${name}`, { name, created: Date.now(), attributes, tags } satisfies TopicMeta);
    return { TopicArn: this.topicArn(name) };
  }

  private async deleteTopic(p: Params): Promise<Record<string, unknown>> {
    const arn = p.str('TopicArn');
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+)$/.exec(arn);
    if (!m) throw invalid('TopicArn');
    const name = m[1];
    if (!this.topicMeta(name)) return {}; // idempotent, as in AWS
    for (const [, sub] of this.engine.kvEntries<SubMeta>('sns:sub:')) if (sub.topic === name) await this.removeSub(sub);
    await this.engine.kvDelete(`sns:topic:${name}`);
    return {};
  }

  private async listTopics(p: Params): Promise<Record<string, unknown>> {
    const names = this.engine
      .kvEntries<TopicMeta>('sns:topic:')
      .map(([, t]) => t.name)
      .sort();
    const { page, next } = paginate(names, p.optStr('NextToken'), 100, p);
    return { Topics: page.map((n) => ({ TopicArn: this.topicArn(n) })), ...(next ? { NextToken: next } : {}) };
  }

  private async getTopicAttributes(p: Params): Promise<Record<string, unknown>> {
    const name = this.topicFromArn(p.str('TopicArn'));
    const meta = this.topicMeta(name)!;
    const subs = this.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).filter((s) => s.topic === name);
    const fifo = meta.attributes.FifoTopic === 'true';
    const a: Record<string, string> = {
      TopicArn: this.topicArn(name),
      Owner: this.accountId,
      Policy: meta.attributes.Policy || this.defaultPolicy(name),
      DisplayName: meta.attributes.DisplayName ?? '',
      SubscriptionsConfirmed: String(subs.filter((s) => s.confirmed).length),
      SubscriptionsPending: String(subs.filter((s) => !s.confirmed).length),
      SubscriptionsDeleted: '0',
      EffectiveDeliveryPolicy: JSON.stringify(this.effectiveDeliveryPolicyDoc(meta.attributes.DeliveryPolicy)),
    };
    for (const [k, v] of Object.entries(meta.attributes)) if (k !== 'Policy' && v !== '') a[k] = v;
    if (fifo) {
      a.FifoTopic = 'true';
      a.ContentBasedDeduplication = meta.attributes.ContentBasedDeduplication ?? 'false';
    }
    return { Attributes: a };
  }

  private async setTopicAttributes(p: Params): Promise<Record<string, unknown>> {
    const name = this.topicFromArn(p.str('TopicArn'));
    const k = p.str('AttributeName');
    const v = p.optStr('AttributeValue') ?? '';
    const meta = this.topicMeta(name)!;
    const value = this.checkTopicAttribute(k, v, meta.attributes.FifoTopic === 'true', false);
    const attributes = { ...meta.attributes };
    if (value === '') delete attributes[k];
    else attributes[k] = value;
    await this.engine.kvPut(`sns:topic:${name}`, { ...meta, attributes });
    return {};
  }

  // ============================================================== tags

  private resourceTopic(p: Params): string {
    return this.topicFromArn(p.str('ResourceArn'));
  }

  private async tagResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const tags = tagList(p, 'Tags');
    if (Object.keys(tags).length === 0) throw invalid('Tags');
    const meta = this.topicMeta(name)!;
    const merged = { ...meta.tags, ...tags };
    checkTags(merged);
    await this.engine.kvPut(`sns:topic:${name}`, { ...meta, tags: merged });
    return {};
  }

  private async untagResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const keys = p.optStrList('TagKeys');
    if (!keys) throw invalid('TagKeys');
    const meta = this.topicMeta(name)!;
    const tags = { ...meta.tags };
    for (const k of keys) delete tags[k];
    await this.engine.kvPut(`sns:topic:${name}`, { ...meta, tags });
    return {};
  }

  private async listTagsForResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const tags = this.topicMeta(name)!.tags;
    return { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
  }

  // ============================================================== subscriptions

  private checkSubAttribute(sub: Pick<SubMeta, 'protocol' | 'topic'>, k: string, v: string, all: Record<string, string>): string {
    if (!SETTABLE_SUB.has(k)) throw invalid(`AttributeName Reason: Unknown attribute ${k}`);
    switch (k) {
      case 'RawMessageDelivery':
        if (!/^(true|false)$/i.test(v)) throw invalid('RawMessageDelivery: Invalid value [' + v + ']. Must be true or false.');
        if (!['sqs', 'http', 'https', 'wharf', 'firehose'].includes(sub.protocol)) throw invalid(`Attributes Reason: Delivery protocol [${sub.protocol}] does not support raw message delivery.`);
        return v.toLowerCase();
      case 'FilterPolicyScope':
        if (v !== 'MessageAttributes' && v !== 'MessageBody') throw invalid('FilterPolicyScope: Invalid value [' + v + ']. Please use either MessageBody or MessageAttributes');
        if (all.FilterPolicy) this.checkFilter(all.FilterPolicy, v);
        return v;
      case 'FilterPolicy':
        if (v === '') return v;
        this.checkFilter(v, (all.FilterPolicyScope as FilterScope) ?? 'MessageAttributes');
        return v;
      case 'RedrivePolicy': {
        if (v === '') return v;
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(v);
        } catch {
          throw invalid('RedrivePolicy: Redrive policy is not a valid JSON');
        }
        const arn = o?.deadLetterTargetArn;
        if (typeof arn !== 'string') throw invalid('RedrivePolicy: deadLetterTargetArn is missing');
        const q = this.opts.sqs.nameFromArn(arn);
        if (!q || !this.opts.sqs.exists(q)) throw invalid('RedrivePolicy: deadLetterTargetArn is an invalid arn');
        if (this.isFifoTopic(sub.topic) !== this.opts.sqs.isFifo(q)) throw invalid('RedrivePolicy: must use a queue of the same type (FIFO or standard) as the topic');
        return v;
      }
      case 'DeliveryPolicy':
        if (v === '') return v;
        this.parseDeliveryPolicy(v, false);
        return v;
      default:
        return v;
    }
  }

  private checkFilter(text: string, scope: string): void {
    try {
      parseFilterPolicy(text, scope as FilterScope);
    } catch (err) {
      if (err instanceof FilterPolicyError) throw invalid(`FilterPolicy: ${err.message}`);
      throw err;
    }
  }

  private async subscribe(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.topicFromArn(p.str('TopicArn'));
    const protocol = p.str('Protocol').toLowerCase();
    if (UNSUPPORTED_PROTOCOLS.has(protocol)) throw invalid(`Protocol Reason: the ${protocol} protocol is not supported by this broker (supported: sqs, http, https, wharf)`);
    if (!PROTOCOLS.has(protocol)) throw invalid(`Invalid protocol type: ${protocol}`);
    const endpoint = p.optStr('Endpoint');
    if (!endpoint) throw invalid('Endpoint');
    this.checkEndpoint(protocol, endpoint, name);
    const requested = stringMap(p, 'Attributes');
    const returnArn = p.optBool('ReturnSubscriptionArn') ?? false;
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) attributes[k] = this.checkSubAttribute({ protocol, topic: name }, k, v, requested);
    const existing = this.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).find((s) => s.topic === name && s.protocol === protocol && s.endpoint === endpoint);
    if (existing) {
      for (const [k, v] of Object.entries(attributes)) {
        if ((existing.attributes[k] ?? '') !== v) throw invalid('Attributes Reason: Subscription already exists with different attributes');
      }
      if (!existing.confirmed && (protocol === 'http' || protocol === 'https')) this.sendConfirmation(existing, ctx.baseUrl);
      return { SubscriptionArn: existing.confirmed || returnArn ? this.subArn(existing) : 'pending confirmation' };
    }
    const needsConfirm = protocol === 'http' || protocol === 'https';
    const sub: SubMeta = {
      id: randomUUID(),
      topic: name,
      protocol,
      endpoint,
      owner: this.accountId,
      confirmed: !needsConfirm,
      attributes,
      created: Date.now(),
      ...(needsConfirm ? { token: randomBytes(64).toString('hex'), tokenExpires: Date.now() + TOKEN_TTL_MS } : {}),
    };
    await this.engine.kvPut(`sns:sub:${sub.id}`, sub);
    if (sub.confirmed) await this.attach(sub);
    else this.sendConfirmation(sub, ctx.baseUrl);
    return { SubscriptionArn: sub.confirmed || returnArn ? this.subArn(sub) : 'pending confirmation' };
  }

  private checkEndpoint(protocol: string, endpoint: string, topicName: string): void {
    if (protocol === 'sqs') {
      const q = this.opts.sqs.nameFromArn(endpoint);
      if (!q) throw invalid('SQS endpoint ARN');
      // Like AWS, a queue that does not exist (yet) is accepted: deliveries go through once it is created (until
      // then they fail and follow the subscription's redrive policy). Templates often subscribe before creating.
      const fifo = this.opts.sqs.exists(q) ? this.opts.sqs.isFifo(q) : q.endsWith('.fifo');
      if (this.isFifoTopic(topicName) && !fifo) throw invalid('Invalid parameter: Endpoint Reason: FIFO SNS Topics currently only support FIFO SQS Queues as subscription endpoints.');
    } else if (protocol === 'http' || protocol === 'https') {
      let u: URL;
      try {
        u = new URL(endpoint);
      } catch {
        throw invalid(`Endpoint Reason: ${endpoint.slice(0, 200)} is not a valid URL`);
      }
      if (u.protocol !== `${protocol}:`) throw invalid(`Endpoint Reason: an ${protocol} endpoint must start with ${protocol}://`);
    } else if (protocol === 'wharf') {
      if (!/^(queue|topic):\/\/[^\s]+$/.test(endpoint)) throw invalid('Endpoint Reason: a wharf endpoint is a core address like queue://orders or topic://orders.eu');
      if (endpoint === `topic://${topicName}`) throw invalid('Endpoint Reason: a topic cannot deliver to itself');
    }
  }

  private async confirmSubscription(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.topicFromArn(p.str('TopicArn'));
    const token = p.str('Token');
    const auth = p.optStr('AuthenticateOnUnsubscribe');
    const sub = this.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).find((s) => s.topic === name && s.token === token);
    if (!sub) throw invalid('Token');
    if (!sub.confirmed) {
      if ((sub.tokenExpires ?? 0) < Date.now()) throw invalid('Token Reason: the token has expired');
      const next: SubMeta = { ...sub, confirmed: true, authOnUnsubscribe: auth === 'true' && ctx.verified };
      await this.engine.kvPut(`sns:sub:${sub.id}`, next);
      await this.attach(next);
    }
    return { SubscriptionArn: this.subArn(sub) };
  }

  private async unsubscribe(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const sub = this.subFromArn(p.str('SubscriptionArn'));
    if (sub.authOnUnsubscribe && !ctx.verified) throw snsError('AuthorizationError', 'This subscription can only be removed with an authenticated request.');
    await this.removeSub(sub);
    return {};
  }

  private async removeSub(sub: SubMeta): Promise<void> {
    const c = this.consumers.get(sub.id);
    if (c) {
      c.close();
      this.consumers.delete(sub.id);
    }
    this.filters.delete(sub.id);
    await this.engine.unsubscribeDurable('sns', sub.id).catch(() => false);
    await this.engine.kvDelete(`sns:sub:${sub.id}`);
  }

  private async listSubscriptions(p: Params, topicName: string | undefined): Promise<Record<string, unknown>> {
    const subs = this.engine
      .kvEntries<SubMeta>('sns:sub:')
      .map(([, s]) => s)
      .filter((s) => topicName === undefined || s.topic === topicName)
      .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : 1));
    const ids = subs.map((s) => s.id);
    const { page, next } = paginate(ids, p.optStr('NextToken'), 100, p, false);
    const byId = new Map(subs.map((s) => [s.id, s]));
    return {
      Subscriptions: page.map((id) => {
        const s = byId.get(id)!;
        return { SubscriptionArn: s.confirmed ? this.subArn(s) : 'PendingConfirmation', Owner: s.owner, Protocol: s.protocol, Endpoint: s.endpoint, TopicArn: this.topicArn(s.topic) };
      }),
      ...(next ? { NextToken: next } : {}),
    };
  }

  private async getSubscriptionAttributes(p: Params): Promise<Record<string, unknown>> {
    const sub = this.subFromArn(p.str('SubscriptionArn'));
    const a: Record<string, string> = {
      SubscriptionArn: this.subArn(sub),
      TopicArn: this.topicArn(sub.topic),
      Owner: sub.owner,
      Protocol: sub.protocol,
      Endpoint: sub.endpoint,
      ConfirmationWasAuthenticated: String(sub.protocol === 'sqs' || sub.protocol === 'wharf' || !!sub.authOnUnsubscribe),
      PendingConfirmation: String(!sub.confirmed),
      RawMessageDelivery: sub.attributes.RawMessageDelivery ?? 'false',
      SubscriptionPrincipal: `arn:aws:iam::${this.accountId}:root`,
    };
    for (const [k, v] of Object.entries(sub.attributes)) if (v !== '') a[k] = v;
    if (sub.protocol === 'http' || sub.protocol === 'https') a.EffectiveDeliveryPolicy = JSON.stringify(this.effectiveDeliveryPolicyDoc(this.topicMeta(sub.topic)?.attributes.DeliveryPolicy, sub.attributes.DeliveryPolicy));
    if (sub.attributes.FilterPolicy && !a.FilterPolicyScope) a.FilterPolicyScope = 'MessageAttributes';
    return { Attributes: a };
  }

  private async setSubscriptionAttributes(p: Params): Promise<Record<string, unknown>> {
    const sub = this.subFromArn(p.str('SubscriptionArn'));
    const k = p.str('AttributeName');
    const v = p.optStr('AttributeValue') ?? '';
    const value = this.checkSubAttribute(sub, k, v, { ...sub.attributes, [k]: v });
    const attributes = { ...sub.attributes };
    if (value === '') delete attributes[k];
    else attributes[k] = value;
    await this.engine.kvPut(`sns:sub:${sub.id}`, { ...sub, attributes });
    this.filters.delete(sub.id);
    return {};
  }

  // ============================================================== publishing

  private nextSequenceNumber(): string {
    const floor = BigInt(Date.now()) * 1_000_000n;
    this.seqCounter = this.seqCounter + 1n > floor ? this.seqCounter + 1n : floor;
    return this.seqCounter.toString().padStart(20, '0');
  }

  /** Validate one Publish (or batch entry) and build its core message. */
  private preparePublish(name: string, p: Params, ctx: SnsContext): { message: Message; dedupKey?: string } {
    const text = p.optStr('Message');
    if (text === undefined) throw invalid('Message');
    if (text.length === 0) throw invalid('Empty message');
    const subject = p.optStr('Subject');
    if (subject !== undefined && (subject.length === 0 || subject.length > 100 || /[\x00-\x1f\x7f]/.test(subject))) {
      throw invalid('Subject Reason: Subject must be 1 to 100 printable ASCII characters without line breaks.');
    }
    const structure = p.optStr('MessageStructure');
    if (structure !== undefined && structure !== 'json') throw invalid('MessageStructure Reason: must be json');
    if (structure === 'json') {
      let o: unknown;
      try {
        o = JSON.parse(text);
      } catch {
        throw invalid('Message Structure - JSON message body failed to parse');
      }
      if (!o || typeof o !== 'object' || Array.isArray(o) || typeof (o as Record<string, unknown>).default !== 'string') {
        throw invalid('Message Structure - No default entry in JSON message body');
      }
    }
    const attrs = parseMessageAttributes(p.optMap('MessageAttributes'), 'user', (m) => snsError('ParameterValueInvalid', m));
    if (attrs) {
      for (const [k, a] of Object.entries(attrs)) {
        if (a.DataType === 'String.Array') {
          try {
            if (!Array.isArray(JSON.parse(a.StringValue ?? ''))) throw new Error();
          } catch {
            throw snsError('ParameterValueInvalid', `The message attribute '${k}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String. String.Array values must be JSON arrays.`);
          }
        }
      }
    }
    const size = Buffer.byteLength(text) + attributesSize(attrs);
    if (size > MAX_MESSAGE) throw invalid(`Message too long: ${size} bytes (at most ${MAX_MESSAGE})`);
    const fifo = this.isFifoTopic(name);
    const groupId = p.optStr('MessageGroupId');
    let dedupId = p.optStr('MessageDeduplicationId');
    if (groupId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(groupId)) throw invalid('MessageGroupId Reason: must be 1 to 128 printable ASCII characters');
    if (dedupId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(dedupId)) throw invalid('MessageDeduplicationId Reason: must be 1 to 128 printable ASCII characters');
    let dedupKey: string | undefined;
    if (fifo) {
      if (groupId === undefined) throw invalid('The MessageGroupId parameter is required for FIFO topics');
      if (dedupId === undefined) {
        if (this.topicMeta(name)?.attributes.ContentBasedDeduplication !== 'true') {
          throw invalid('The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
        }
        dedupId = createHash('sha256').update(text).digest('hex');
      }
      dedupKey = `${name}\n${dedupId}`;
    } else if (dedupId !== undefined) {
      throw invalid('MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type');
    }
    const annotations: Record<string, unknown> = { 'sns.publisher': ctx.principal };
    if (attrs) annotations[ATTRS_ANNOTATION] = attrs;
    if (subject !== undefined) annotations['sns.subject'] = subject;
    if (structure === 'json') annotations['sns.structure'] = 'json';
    if (groupId !== undefined) annotations['sns.group'] = groupId;
    if (dedupId !== undefined) annotations['sns.dedup'] = dedupId;
    if (fifo) annotations['sns.seq'] = this.nextSequenceNumber();
    const message = createMessage({
      messageId: randomUUID(),
      body: Buffer.from(text, 'utf8'),
      bodyType: 'text',
      properties: attributesToProperties(attrs),
      durable: true,
      groupId: fifo ? groupId : undefined,
      annotations,
    });
    return { message, dedupKey };
  }

  private async publishOne(name: string, prepared: { message: Message; dedupKey?: string }): Promise<{ MessageId: string; SequenceNumber?: string }> {
    const { message, dedupKey } = prepared;
    if (dedupKey) {
      const d = this.dedup.get(dedupKey);
      if (d && d.expires > Date.now()) return { MessageId: d.messageId, ...(d.seq ? { SequenceNumber: d.seq } : {}) };
      const seq = message.annotations?.['sns.seq'] as string | undefined;
      this.dedup.set(dedupKey, { expires: Date.now() + DEDUP_WINDOW_MS, messageId: message.messageId, seq });
      try {
        await this.engine.send(message, topicAddress(name), { connection: this.connection ?? null });
      } catch (err) {
        this.dedup.delete(dedupKey);
        throw err;
      }
      return { MessageId: message.messageId, ...(seq ? { SequenceNumber: seq } : {}) };
    }
    await this.engine.send(message, topicAddress(name), { connection: this.connection ?? null });
    return { MessageId: message.messageId };
  }

  private publishTarget(p: Params): string {
    const arn = p.optStr('TopicArn') ?? p.optStr('TargetArn');
    if (arn === undefined) {
      if (p.has('PhoneNumber')) throw invalid('PhoneNumber Reason: SMS is not supported by this broker');
      throw invalid('TopicArn or TargetArn Reason: no value for required parameter');
    }
    return this.topicFromArn(arn);
  }

  private async publish(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.publishTarget(p);
    const prepared = this.preparePublish(name, p, ctx);
    return this.publishOne(name, prepared);
  }

  private async publishBatch(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.topicFromArn(p.str('TopicArn'));
    const entries = p.optList('PublishBatchRequestEntries');
    if (!entries || entries.length === 0) throw snsError('EmptyBatchRequest', 'The batch request doesn\'t contain any entries');
    if (entries.length > 10) throw snsError('TooManyEntriesInBatchRequest', 'The batch request contains more entries than permissible');
    const ids = new Set<string>();
    let total = 0;
    for (const e of entries) {
      const ep = p.sub(e, 'PublishBatchRequestEntries');
      const id = ep.optStr('Id');
      if (id === undefined || !/^[A-Za-z0-9_-]{1,80}$/.test(id)) throw snsError('InvalidBatchEntryId', 'The Id of a batch entry in a batch request doesn\'t abide by the specification');
      if (ids.has(id)) throw snsError('BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id');
      ids.add(id);
      total += Buffer.byteLength(ep.optStr('Message') ?? '');
    }
    if (total > MAX_MESSAGE) throw snsError('BatchRequestTooLong', `The length of all the messages put together is more than the limit (${MAX_MESSAGE} bytes)`);
    const outcomes = await Promise.all(
      entries.map(async (e) => {
        const ep = p.sub(e, 'PublishBatchRequestEntries');
        try {
          return await this.publishOne(name, this.preparePublish(name, ep, ctx));
        } catch (err) {
          if (err instanceof AwsError) return err;
          if (err instanceof BrokerError) return snsError(err.code === 'limit' ? 'Throttled' : 'InternalError', err.message);
          throw err;
        }
      }),
    );
    const Successful: Record<string, unknown>[] = [];
    const Failed: Record<string, unknown>[] = [];
    outcomes.forEach((o, i) => {
      const id = (entries[i] as Record<string, unknown>).Id as string;
      if (o instanceof AwsError) Failed.push({ Id: id, Code: o.code, Message: o.message, SenderFault: o.fault === 'Sender' });
      else Successful.push({ Id: id, ...o });
    });
    return { Successful, Failed };
  }

  // ============================================================== delivery

  /** Start (or resume) the core durable subscription behind a confirmed SNS subscription. */
  private async attach(sub: SubMeta): Promise<void> {
    if (this.consumers.has(sub.id) || this.closed) return;
    const http = sub.protocol === 'http' || sub.protocol === 'https';
    const consumer = await this.engine.subscribe({
      address: topicAddress(sub.topic),
      connection: this.connection ?? null,
      durable: { name: sub.id, clientId: 'sns' },
      prefetch: http ? 10 : this.isFifoTopic(sub.topic) ? 1 : 64,
      onMessage: (d) => {
        this.deliver(sub.id, d).catch((err) => this.logger.error({ err, sub: sub.id }, 'sns: delivery failed'));
      },
    });
    this.consumers.set(sub.id, consumer);
  }

  private filterOf(sub: SubMeta): { policy: Record<string, unknown>; scope: FilterScope } | null {
    let f = this.filters.get(sub.id);
    if (f === undefined) {
      const text = sub.attributes.FilterPolicy;
      const scope = (sub.attributes.FilterPolicyScope as FilterScope) ?? 'MessageAttributes';
      f = text ? { policy: parseFilterPolicy(text, scope), scope } : null;
      this.filters.set(sub.id, f);
    }
    return f;
  }

  /** The message text for a protocol (MessageStructure=json picks the protocol's entry or `default`). */
  private messageFor(m: Message, protocol: string): string {
    const text = bodyText(m);
    if (m.annotations?.['sns.structure'] !== 'json') return text;
    try {
      const o = JSON.parse(text) as Record<string, unknown>;
      const v = o[protocol] ?? o.default;
      return typeof v === 'string' ? v : JSON.stringify(v);
    } catch {
      return text;
    }
  }

  /** The signed JSON envelope (`Type: Notification`). */
  private envelope(sub: SubMeta, m: Message, text: string, baseUrl: string): Record<string, unknown> {
    const ann = m.annotations ?? {};
    const attrs = messageAttributesOf(m);
    const env: Record<string, unknown> = {
      Type: 'Notification',
      MessageId: m.messageId,
      ...(ann['sns.seq'] !== undefined ? { SequenceNumber: ann['sns.seq'] } : {}),
      TopicArn: this.topicArn(sub.topic),
      ...(ann['sns.subject'] !== undefined ? { Subject: ann['sns.subject'] } : {}),
      Message: text,
      Timestamp: new Date(m.timestamp).toISOString(),
    };
    const version = (this.topicMeta(sub.topic)?.attributes.SignatureVersion as '1' | '2' | undefined) ?? '1';
    env.SignatureVersion = version;
    env.Signature = this.signer!.sign(stringToSign(env), version);
    env.SigningCertURL = `${baseUrl}${SnsService.CERT_PATH}`;
    env.UnsubscribeURL = `${baseUrl}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(this.subArn(sub))}`;
    if (Object.keys(attrs).length) {
      const ma: Record<string, { Type: string; Value: string }> = {};
      for (const [k, a] of Object.entries(attrs)) ma[k] = { Type: a.DataType, Value: a.BinaryValue !== undefined ? Buffer.from(a.BinaryValue).toString('base64') : a.StringValue ?? '' };
      env.MessageAttributes = ma;
    }
    return env;
  }

  private async deliver(subId: string, d: Delivery): Promise<void> {
    const consumer = this.consumers.get(subId);
    const sub = this.subMeta(subId);
    if (!consumer || !sub) return;
    const m = d.message;
    const filter = this.filterOf(sub);
    if (filter && !matchesFilter(filter.policy, filter.scope, messageAttributesOf(m), bodyText(m))) {
      await consumer.ack(d.id).catch(() => undefined);
      return;
    }
    const raw = sub.attributes.RawMessageDelivery === 'true' || (sub.protocol === 'wharf' && sub.attributes.RawMessageDelivery !== 'false');
    const text = this.messageFor(m, sub.protocol);
    const baseUrl = this.opts.baseUrl();
    const payload = raw ? text : JSON.stringify(this.envelope(sub, m, text, baseUrl));
    const ann = m.annotations ?? {};
    const groupId = (ann['sns.group'] as string | undefined) ?? m.groupId;
    const dedupId = ann['sns.dedup'] as string | undefined;
    try {
      if (sub.protocol === 'sqs') {
        const q = this.opts.sqs.nameFromArn(sub.endpoint)!;
        if (!this.opts.sqs.exists(q)) {
          await this.deadLetter(sub, payload, raw ? messageAttributesOf(m) : undefined, groupId, dedupId, `queue ${q} does not exist`);
        } else {
          await this.opts.sqs.deliver(q, {
            body: payload,
            attributes: raw ? nonEmpty(messageAttributesOf(m)) : undefined,
            groupId,
            dedupId: dedupId ?? (this.opts.sqs.isFifo(q) ? m.messageId : undefined),
            senderId: this.accountId,
            annotations: { 'sns.topicArn': this.topicArn(sub.topic), 'sns.messageId': m.messageId },
          });
        }
        await consumer.ack(d.id);
      } else if (sub.protocol === 'wharf') {
        const target: Address = parseAddress(sub.endpoint);
        const hops = Number(ann['sns.hops'] ?? 0);
        if (hops >= MAX_HOPS) {
          this.logger.warn({ sub: this.subArn(sub), hops }, 'sns: message dropped: it went through too many topic-to-topic subscriptions (a loop?)');
          await consumer.ack(d.id);
          return;
        }
        const out = raw
          ? copyMessage(m, { destination: undefined, messageId: m.messageId })
          : createMessage({ body: Buffer.from(payload, 'utf8'), bodyType: 'text', contentType: 'application/json', properties: {}, annotations: { 'sns.topicArn': this.topicArn(sub.topic) } });
        out.destination = undefined;
        out.annotations = { ...(out.annotations ?? {}), 'sns.hops': hops + 1 };
        await this.engine.send(out, target, { connection: this.connection ?? null });
        await consumer.ack(d.id);
      } else {
        await this.deliverHttp(sub, m, payload, raw, d, consumer);
      }
    } catch (err) {
      if (consumer.closed) return;
      // transient failure (queue full, shutting down): let the core redeliver it a little later
      this.logger.warn({ err: (err as Error).message, sub: sub.id }, 'sns: delivery failed, will retry');
      try {
        consumer.nack(d.id, { countFailure: false, delay: 1000 });
      } catch {
        /* already settled */
      }
    }
  }

  private async deadLetter(sub: SubMeta, payload: string, attrs: MessageAttributes | undefined, groupId: string | undefined, dedupId: string | undefined, reason: string): Promise<void> {
    const rp = sub.attributes.RedrivePolicy ? (JSON.parse(sub.attributes.RedrivePolicy) as { deadLetterTargetArn: string }) : undefined;
    const q = rp ? this.opts.sqs.nameFromArn(rp.deadLetterTargetArn) : undefined;
    if (!q || !this.opts.sqs.exists(q)) {
      this.logger.warn({ sub: this.subArn(sub), reason }, 'sns: message dropped after failed delivery (no redrive policy)');
      return;
    }
    await this.opts.sqs.deliver(q, {
      body: payload,
      attributes: nonEmpty({
        ...(attrs ?? {}),
        ErrorCode: { DataType: 'String', StringValue: 'DeliveryFailed' },
        ErrorMessage: { DataType: 'String', StringValue: reason.slice(0, 1000) },
      }),
      groupId,
      dedupId: dedupId ?? (this.opts.sqs.isFifo(q) ? randomUUID() : undefined),
      senderId: this.accountId,
    });
  }

  // ---------------------------------------------------------------------------------------- HTTP(S)

  private parseDeliveryPolicy(text: string, topicLevel: boolean): RetryPolicy {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text);
    } catch {
      throw invalid('DeliveryPolicy: must be JSON');
    }
    const section = (topicLevel ? ((o.http as Record<string, unknown>)?.defaultHealthyRetryPolicy ?? o.healthyRetryPolicy) : o.healthyRetryPolicy) as Record<string, unknown> | undefined;
    const pol: RetryPolicy = { ...DEFAULT_HTTP_POLICY, ...(section ?? {}) } as RetryPolicy;
    const ints: Array<keyof RetryPolicy> = ['minDelayTarget', 'maxDelayTarget', 'numRetries', 'numMaxDelayRetries', 'numNoDelayRetries', 'numMinDelayRetries'];
    for (const k of ints) {
      const v = pol[k] as unknown;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`DeliveryPolicy: ${k} must be a non-negative integer`);
    }
    if (pol.minDelayTarget < 1 || pol.maxDelayTarget < pol.minDelayTarget || pol.maxDelayTarget > 3600) throw invalid('DeliveryPolicy: delay targets must satisfy 1 <= minDelayTarget <= maxDelayTarget <= 3600');
    if (pol.numRetries > 100) throw invalid('DeliveryPolicy: numRetries must be at most 100');
    if (pol.numNoDelayRetries + pol.numMinDelayRetries + pol.numMaxDelayRetries > pol.numRetries) throw invalid('DeliveryPolicy: the phase retries exceed numRetries');
    if (!['linear', 'arithmetic', 'geometric', 'exponential'].includes(pol.backoffFunction)) throw invalid('DeliveryPolicy: backoffFunction must be linear, arithmetic, geometric or exponential');
    return pol;
  }

  private retryPolicy(sub: SubMeta): RetryPolicy {
    if (sub.attributes.DeliveryPolicy) return this.parseDeliveryPolicy(sub.attributes.DeliveryPolicy, false);
    const t = this.topicMeta(sub.topic)?.attributes.DeliveryPolicy;
    if (t) return this.parseDeliveryPolicy(t, true);
    return DEFAULT_HTTP_POLICY;
  }

  private effectiveDeliveryPolicyDoc(topicPolicy?: string, subPolicy?: string): Record<string, unknown> {
    let pol = DEFAULT_HTTP_POLICY;
    try {
      if (subPolicy) pol = this.parseDeliveryPolicy(subPolicy, false);
      else if (topicPolicy) pol = this.parseDeliveryPolicy(topicPolicy, true);
    } catch {
      /* defaults */
    }
    return { http: { defaultHealthyRetryPolicy: pol, disableSubscriptionOverrides: false } };
  }

  /** Delay before retry number `n` (1-based), seconds. */
  static retryDelay(pol: RetryPolicy, n: number): number {
    if (n <= pol.numNoDelayRetries) return 0;
    if (n <= pol.numNoDelayRetries + pol.numMinDelayRetries) return pol.minDelayTarget;
    const backoffSteps = pol.numRetries - pol.numNoDelayRetries - pol.numMinDelayRetries - pol.numMaxDelayRetries;
    const i = n - pol.numNoDelayRetries - pol.numMinDelayRetries; // 1..backoffSteps, then max-delay phase
    if (i > backoffSteps || backoffSteps <= 1) return pol.maxDelayTarget;
    const f = (i - 1) / (backoffSteps - 1);
    const span = pol.maxDelayTarget - pol.minDelayTarget;
    let x: number;
    switch (pol.backoffFunction) {
      case 'arithmetic':
        x = f * f;
        break;
      case 'geometric':
        x = Math.sqrt(f);
        break;
      case 'exponential':
        x = (Math.pow(2, f * 5) - 1) / 31;
        break;
      default:
        x = f;
    }
    return Math.round(pol.minDelayTarget + span * x);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private post(url: string, body: string, headers: Record<string, string>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch (err) {
        reject(err);
        return;
      }
      const mod = u.protocol === 'https:' ? https : http;
      const req = mod.request(
        u,
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=UTF-8', 'user-agent': 'Amazon Simple Notification Service Agent', 'content-length': Buffer.byteLength(body), ...headers },
          timeout: this.opts.httpTimeout ?? 15_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  private async deliverHttp(sub: SubMeta, m: Message, payload: string, raw: boolean, d: Delivery, consumer: ConsumerHandle): Promise<void> {
    const pol = this.retryPolicy(sub);
    const headers: Record<string, string> = {
      'x-amz-sns-message-type': 'Notification',
      'x-amz-sns-message-id': m.messageId,
      'x-amz-sns-topic-arn': this.topicArn(sub.topic),
      'x-amz-sns-subscription-arn': this.subArn(sub),
      ...(raw ? { 'x-amz-sns-rawdelivery': 'true' } : {}),
    };
    let lastError = '';
    for (let attempt = 0; attempt <= pol.numRetries; attempt++) {
      if (attempt > 0) {
        await this.sleep(SnsService.retryDelay(pol, attempt) * 1000);
      }
      if (this.closed || consumer.closed) return; // the core redelivers it after a restart
      try {
        const status = await this.post(sub.endpoint, payload, headers);
        if (status >= 200 && status < 300) {
          await consumer.ack(d.id);
          return;
        }
        lastError = `HTTP ${status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    await this.deadLetter(sub, payload, raw ? messageAttributesOf(m) : undefined, m.groupId, m.annotations?.['sns.dedup'] as string | undefined, `delivery to ${sub.endpoint} failed after ${pol.numRetries + 1} attempts: ${lastError}`);
    await consumer.ack(d.id);
  }

  private sendConfirmation(sub: SubMeta, baseUrl: string): void {
    const msg: Record<string, unknown> = {
      Type: 'SubscriptionConfirmation',
      MessageId: randomUUID(),
      Token: sub.token,
      TopicArn: this.topicArn(sub.topic),
      Message: `You have chosen to subscribe to the topic ${this.topicArn(sub.topic)}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
      SubscribeURL: `${baseUrl}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(this.topicArn(sub.topic))}&Token=${sub.token}`,
      Timestamp: new Date().toISOString(),
    };
    const version = (this.topicMeta(sub.topic)?.attributes.SignatureVersion as '1' | '2' | undefined) ?? '1';
    msg.SignatureVersion = version;
    msg.Signature = this.signer!.sign(stringToSign(msg), version);
    msg.SigningCertURL = `${baseUrl}${SnsService.CERT_PATH}`;
    const body = JSON.stringify(msg);
    const headers = { 'x-amz-sns-message-type': 'SubscriptionConfirmation', 'x-amz-sns-message-id': msg.MessageId as string, 'x-amz-sns-topic-arn': this.topicArn(sub.topic) };
    (async () => {
      for (let attempt = 0; attempt < 4 && !this.closed; attempt++) {
        if (attempt) await this.sleep(1000 * attempt);
        try {
          const status = await this.post(sub.endpoint, body, headers);
          if (status >= 200 && status < 300) return;
        } catch {
          /* retry */
        }
      }
      this.logger.warn({ endpoint: sub.endpoint }, 'sns: subscription confirmation could not be delivered');
    })().catch(() => undefined);
  }
}

// ================================================================================================ helpers

function nonEmpty(a: MessageAttributes | undefined): MessageAttributes | undefined {
  return a && Object.keys(a).length ? a : undefined;
}

function stringMap(p: Params, name: string): Record<string, string> {
  return p.optStrMap(name) ?? {};
}

/** `Tags` as a list of {Key, Value} into a map. */
function tagList(p: Params, name: string): Record<string, string> {
  const list = p.optList(name) ?? [];
  const out: Record<string, string> = {};
  for (const t of list) {
    const tp = p.sub(t, name);
    const k = tp.str('Key');
    out[k] = tp.optStr('Value') ?? '';
  }
  return out;
}

function checkTags(tags: Record<string, string>): void {
  if (Object.keys(tags).length > 50) throw snsError('TagLimitExceeded', 'Could not complete request: tag quota of per resource exceeded');
  for (const [k, v] of Object.entries(tags)) {
    if (k.length < 1 || k.length > 128) throw invalid(`Tags Reason: tag key ${k.slice(0, 140)} must be 1 to 128 characters`);
    if (v.length > 256) throw invalid(`Tags Reason: tag value of ${k} must be at most 256 characters`);
  }
}

function paginate(items: string[], token: string | undefined, size: number, p: Params, sorted = true): { page: string[]; next?: string } {
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
