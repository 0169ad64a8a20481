/**
 * The SQS service: every SQS action on top of the Engine API, independent of the wire protocol (the JSON and
 * query front ends translate to the JSON-protocol input shapes and back).
 *
 * An SQS queue `orders` is the core queue `orders`. SQS-only metadata (attributes, tags, times) lives in the
 * engine's kv store under `sqs:queue:<name>`. Receiving uses one long-lived engine consumer per queue in
 * explicit-credit mode: a ReceiveMessage adds credit, collects deliveries, and leases them for the visibility
 * timeout; DeleteMessage acks; visibility expiry is the core's lease expiry (delivery count + 1).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BrokerError, type ConnectionHandle, type ConsumerHandle, createMessage, DEFAULT_POLICY, type Delivery, type DestinationPolicy, type EngineApi, formatAddress, type Message, parseAddress, queue as queueAddress, type SendItem } from '../../src/core/api.js';
import {
  ATTRS_ANNOTATION,
  attributesSize,
  attributesToProperties,
  bodyText,
  hasInvalidChars,
  md5OfAttributes,
  messageAttributesOf,
  parseMessageAttributes,
  selectAttributes,
  type MessageAttributes,
} from '../aws/message-attributes.js';
import { md5Hex } from '../aws/digest.js';
import { AwsError, noQueue, sqsError } from '../aws/errors.js';
import { Params, type Input } from '../aws/params.js';
import {
  ALL_NAMES,
  attr,
  checkRedriveAllowPolicyShape,
  checkRedrivePolicyShape,
  isFifoMeta,
  normalizeAttribute,
  parseRedriveAllowPolicy,
  parseRedrivePolicy,
  SETTABLE,
  validateQueueName,
  type QueueMeta,
} from './queue-attributes.js';

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
}

export interface SqsServiceOptions {
  engine: EngineApi;
  region: string;
  accountId: string;
  logger: Logger;
  /** Seconds between two PurgeQueue calls on a queue (AWS: 60); 0 = no limit. */
  purgeInterval?: number;
  /** Seconds after DeleteQueue before a queue of that name can be created again (AWS: 60); 0 = at once. */
  deletedQueueCooldown?: number;
}

/** What an SNS subscription (or anything in-process) hands to `deliver`. */
export interface InboundMessage {
  body: string;
  attributes?: MessageAttributes;
  groupId?: string;
  dedupId?: string;
  senderId?: string;
  traceHeader?: string;
  /** Extra annotations to keep on the core message. */
  annotations?: Record<string, unknown>;
}

interface Receipt {
  delivery: Delivery;
  nonce: string;
  handle: string;
  groupId?: string;
  /** Standard queues: the message's MessageGroupId (its tenant for fair-queue scheduling). */
  tenant?: string;
}

interface Waiter {
  want: number;
  got: Delivery[];
  groups: Set<string>;
  done: boolean;
  flushScheduled: boolean;
  timer?: NodeJS.Timeout;
  finish: () => void;
}

interface DedupEntry {
  expires: number;
  messageId: string;
  seq?: string;
  pending?: Promise<boolean>;
}

/** A message move task; kept in kv `sqs:move:<taskId>` so it is listed, resumed or failed after a restart. */
interface MoveTask {
  id: string;
  handle: string;
  source: string;
  destinationArn?: string;
  maxPerSecond?: number;
  status: 'RUNNING' | 'COMPLETED' | 'CANCELLING' | 'CANCELLED' | 'FAILED';
  moved: number;
  toMove: number;
  failureReason?: string;
  started: number;
}

const DEDUP_WINDOW_MS = 5 * 60 * 1000;
/** Finished message move tasks are listed for 14 days (AWS). */
const MOVE_TASK_RETENTION_MS = 14 * 24 * 3600 * 1000;
const ATTEMPT_WINDOW_MS = 5 * 60 * 1000;
const HOLD_LIMIT = 20_000;
/** Standard queues: most deliveries fetched ahead for receives to come (released after PREFETCH_IDLE_MS without receives). */
const PREFETCH_MAX = 100;
const PREFETCH_IDLE_MS = 1000;
const INFLIGHT_LIMIT_STANDARD = 120_000;
/** Fair queues: a tenant is noisy with more than this share of the in-flight messages and at least FAIR_NOISY_MIN of them (AWS's thresholds). */
const FAIR_NOISY_SHARE = 0.1;
const FAIR_NOISY_MIN = 30;
/** Fair queues: while a tenant is noisy, look this far ahead of the backlog for messages of quiet tenants. */
const FAIR_LOOKAHEAD = 1000;
const INFLIGHT_LIMIT_FIFO = 120_000;
const BATCH_ID_RE = /^[A-Za-z0-9_-]{1,80}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEDUP_ID_RE = /^[\x21-\x7e]{1,128}$/;
const TAG_KEY_MAX = 128;
const TAG_VALUE_MAX = 256;

/** Per-queue adapter state: the engine consumer, open receives, current receipts, FIFO group bookkeeping. */
class QueueState {
  consumer?: ConsumerHandle;
  starting?: Promise<ConsumerHandle>;
  readonly waiters: Waiter[] = [];
  readonly receipts = new Map<number, Receipt>();
  /** Fair queues (standard queues): in-flight messages per MessageGroupId, and the groups with at least FAIR_NOISY_MIN. */
  readonly tenantInflight = new Map<string, number>();
  readonly heavyTenants = new Set<string>();
  fairServeScheduled = false;
  /**
   * Deliveries not yet handed to a client. FIFO: messages of busy groups, in order. Standard: messages fetched
   * ahead of receives (at most `prefetch`), so a receive does not wait for the core's redelivery-mark commit.
   */
  held: Delivery[] = [];
  /** Standard queues: how many deliveries to keep fetched ahead (grows with concurrent receives, 0 when idle). */
  prefetch = 0;
  idleTimer?: NodeJS.Timeout;
  readonly groupInflight = new Map<string, number>();
  readonly dedup = new Map<string, DedupEntry>();
  readonly attempts = new Map<string, { expires: number; handles: string[]; messages: unknown[] }>();
  creditAdded = 0;
  creditRemoved = 0;
  delivered = 0;
  constructor(readonly name: string) {}

  addReceipt(r: Receipt): void {
    this.dropReceipt(r.delivery.id);
    this.receipts.set(r.delivery.id, r);
    if (r.tenant === undefined) return;
    const n = (this.tenantInflight.get(r.tenant) ?? 0) + 1;
    this.tenantInflight.set(r.tenant, n);
    if (n >= FAIR_NOISY_MIN) this.heavyTenants.add(r.tenant);
  }

  dropReceipt(id: number): void {
    const r = this.receipts.get(id);
    if (!r) return;
    this.receipts.delete(id);
    if (r.tenant === undefined) return;
    const n = (this.tenantInflight.get(r.tenant) ?? 1) - 1;
    if (n > 0) this.tenantInflight.set(r.tenant, n);
    else this.tenantInflight.delete(r.tenant);
    if (n < FAIR_NOISY_MIN) this.heavyTenants.delete(r.tenant);
  }

  clearReceipts(): void {
    this.receipts.clear();
    this.tenantInflight.clear();
    this.heavyTenants.clear();
  }

  /**
   * Fair queues, as AWS detects a noisy neighbour by concurrency share: a tenant (MessageGroupId) with more than
   * 10 % of the queue's in-flight messages and at least FAIR_NOISY_MIN of its own. Returns them with their
   * in-flight counts (empty when nobody is noisy, the common case: no work then).
   */
  hasNoisyTenant(): boolean {
    if (this.heavyTenants.size === 0) return false;
    const limit = this.receipts.size * FAIR_NOISY_SHARE;
    for (const t of this.heavyTenants) if ((this.tenantInflight.get(t) ?? 0) > limit) return true;
    return false;
  }

  noisyTenants(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.heavyTenants.size === 0) return out;
    const total = this.receipts.size;
    for (const t of this.heavyTenants) {
      const n = this.tenantInflight.get(t) ?? 0;
      if (n > total * FAIR_NOISY_SHARE) out.set(t, n);
    }
    return out;
  }

  /** Deliveries the core dispatched to the consumer that have not reached onMessage yet (mark commit pending). */
  pendingDispatch(): number {
    const c = this.consumer;
    if (!c) return 0;
    return this.creditAdded - this.creditRemoved - c.credit - this.delivered;
  }
}

export class SqsService {
  readonly engine: EngineApi;
  readonly region: string;
  readonly accountId: string;
  private readonly logger: Logger;
  private readonly states = new Map<string, QueueState>();
  /** Receipts deleted lately (delivery id → nonce; ids are engine-unique), so a repeated delete succeeds. */
  private readonly recentlyDeleted = new Map<number, string>();
  private connection?: ConnectionHandle;
  private seqCounter = 0n;
  private sweepTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly moveTasks = new Map<string, MoveTask>();
  private readonly purgeIntervalMs: number;
  private readonly deletedCooldownMs: number;
  /** Queue name → when its last PurgeQueue started (ms). */
  private readonly lastPurge = new Map<string, number>();
  /** Queue name → when it was deleted (ms), for QueueDeletedRecently. */
  private readonly deletedAt = new Map<string, number>();
  readonly actions: Record<string, (p: Params, ctx: RequestContext) => Promise<Record<string, unknown>>>;

  constructor(opts: SqsServiceOptions) {
    this.engine = opts.engine;
    this.region = opts.region;
    this.accountId = opts.accountId;
    this.logger = opts.logger;
    this.purgeIntervalMs = (opts.purgeInterval ?? 60) * 1000;
    this.deletedCooldownMs = (opts.deletedQueueCooldown ?? 60) * 1000;
    this.actions = {
      CreateQueue: (p, c) => this.createQueue(p, c),
      GetQueueUrl: (p, c) => this.getQueueUrl(p, c),
      ListQueues: (p, c) => this.listQueues(p, c),
      DeleteQueue: (p, c) => this.deleteQueue(p, c),
      GetQueueAttributes: (p, c) => this.getQueueAttributes(p, c),
      SetQueueAttributes: (p, c) => this.setQueueAttributes(p, c),
      PurgeQueue: (p, c) => this.purgeQueue(p, c),
      TagQueue: (p, c) => this.tagQueue(p, c),
      UntagQueue: (p, c) => this.untagQueue(p, c),
      ListQueueTags: (p, c) => this.listQueueTags(p, c),
      SendMessage: (p, c) => this.sendMessage(p, c),
      SendMessageBatch: (p, c) => this.sendMessageBatch(p, c),
      ReceiveMessage: (p, c) => this.receiveMessage(p, c),
      DeleteMessage: (p, c) => this.deleteMessage(p, c),
      DeleteMessageBatch: (p, c) => this.deleteMessageBatch(p, c),
      ChangeMessageVisibility: (p, c) => this.changeMessageVisibility(p, c),
      ChangeMessageVisibilityBatch: (p, c) => this.changeMessageVisibilityBatch(p, c),
      ListDeadLetterSourceQueues: (p, c) => this.listDeadLetterSourceQueues(p, c),
      StartMessageMoveTask: (p, c) => this.startMessageMoveTask(p, c),
      CancelMessageMoveTask: (p, c) => this.cancelMessageMoveTask(p, c),
      ListMessageMoveTasks: (p, c) => this.listMessageMoveTasks(p, c),
      AddPermission: (p, c) => this.addPermission(p, c),
      RemovePermission: (p, c) => this.removePermission(p, c),
    };
  }

  // ============================================================== lifecycle

  async start(): Promise<void> {
    this.connection = await this.engine.connect({ protocol: 'sqs', remoteAddress: 'http' });
    for (const [, meta] of this.engine.kvEntries<QueueMeta>('sqs:queue:')) {
      if (this.exists(meta.name)) await this.applyPolicy(meta.name);
    }
    const now = Date.now();
    for (const [key, v] of this.engine.kvEntries<{ e: number; id: string; s?: string }>('sqs:dedup:')) {
      const rest = key.slice('sqs:dedup:'.length);
      const sep = rest.indexOf('\n');
      if (sep < 0 || v.e <= now) {
        this.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      this.state(rest.slice(0, sep)).dedup.set(rest.slice(sep + 1), { expires: v.e, messageId: v.id, seq: v.s });
    }
    this.engine.on('destination.deleted', this.onDestinationDeleted);
    this.engine.on('destination.created', this.onDestinationCreated);
    this.loadMoveTasks();
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.engine.off('destination.deleted', this.onDestinationDeleted);
    this.engine.off('destination.created', this.onDestinationCreated);
    for (const st of this.states.values()) {
      for (const w of [...st.waiters]) w.finish();
      if (st.idleTimer) clearTimeout(st.idleTimer);
    }
    // running move tasks stop here and resume at the next start (their state is in kv)
    if (this.connection) this.engine.disconnect(this.connection);
  }

  private readonly onDestinationDeleted = (e: { kind: string; name: string }) => {
    if (e.kind !== 'queue') return;
    const st = this.states.get(e.name);
    if (st) {
      for (const w of [...st.waiters]) w.finish();
      this.states.delete(e.name);
    }
    this.lastPurge.delete(e.name);
    if (this.engine.kvGet(metaKey(e.name)) !== undefined) {
      this.deletedAt.set(e.name, Date.now());
      this.engine.kvDelete(metaKey(e.name)).catch((err) => this.logger.warn({ err }, 'sqs: meta delete failed'));
    }
  };

  private readonly onDestinationCreated = (e: { kind: string; name: string }) => {
    if (e.kind === 'queue' && this.meta(e.name)) {
      queueMicrotask(() => this.applyPolicy(e.name).catch((err) => this.logger.warn({ err, queue: e.name }, 'sqs: policy not applied')));
    }
  };

  private sweep(): void {
    const now = Date.now();
    const deletes: string[] = [];
    for (const st of this.states.values()) {
      for (const [k, d] of st.dedup) {
        if (!d.pending && d.expires <= now) {
          st.dedup.delete(k);
          deletes.push(`sqs:dedup:${st.name}\n${k}`);
        }
      }
      for (const [k, a] of st.attempts) if (a.expires <= now) st.attempts.delete(k);
    }
    if (this.recentlyDeleted.size > 50_000) this.recentlyDeleted.clear();
    for (const [n, t] of this.deletedAt) if (now - t >= this.deletedCooldownMs) this.deletedAt.delete(n);
    for (const [n, t] of this.lastPurge) if (now - t >= this.purgeIntervalMs) this.lastPurge.delete(n);
    for (const [h, t] of this.moveTasks) {
      if (t.status !== 'RUNNING' && t.status !== 'CANCELLING' && now - t.started > MOVE_TASK_RETENTION_MS) {
        this.moveTasks.delete(h);
        deletes.push(`sqs:move:${t.id}`);
      }
    }
    if (deletes.length) this.engine.kvCommit(deletes.map((key) => ({ key }))).catch(() => undefined);
  }

  // ============================================================== names, URLs, ARNs

  queueUrl(ctx: RequestContext, name: string): string {
    return `${ctx.baseUrl}/${this.accountId}/${name}`;
  }

  queueArn(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  /** Queue name from an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`), or undefined. */
  static nameFromArn(arn: string): string | undefined {
    const m = /^arn:aws[\w-]*:sqs:[^:]*:[^:]*:([^:]+)$/.exec(arn);
    return m ? m[1] : undefined;
  }

  private meta(name: string): QueueMeta | undefined {
    return this.engine.kvGet<QueueMeta>(metaKey(name));
  }

  private state(name: string): QueueState {
    let st = this.states.get(name);
    if (!st) this.states.set(name, (st = new QueueState(name)));
    return st;
  }

  exists(name: string): boolean {
    return this.engine.queueInfo(name) !== undefined;
  }

  isFifo(name: string): boolean {
    return isFifoMeta(this.meta(name));
  }

  /** The queue a request addresses (QueueUrl, or the request path), which must exist. */
  private resolveQueue(p: Params, ctx: RequestContext): string {
    const url = p.optStr('QueueUrl');
    let name: string | undefined;
    if (url !== undefined) name = queueNameFromUrl(url);
    else if (ctx.pathQueue) name = ctx.pathQueue;
    else throw p.missing('QueueUrl');
    if (!name) throw sqsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`);
    if (!this.exists(name)) throw noQueue();
    return name;
  }

  /**
   * Core policy for an SQS queue: SQS redrive semantics instead of the broker's redelivery policy, as the queue's
   * durable policy override (committed only when it changes).
   */
  async applyPolicy(name: string): Promise<void> {
    if (!this.exists(name)) return;
    const meta = this.meta(name);
    if (!meta) return;
    const redrive = parseRedrivePolicy(meta.attributes.RedrivePolicy);
    const dlq = redrive ? SqsService.nameFromArn(redrive.deadLetterTargetArn) : undefined;
    const override: Partial<DestinationPolicy> = {
      maxRedeliveries: redrive && dlq ? redrive.maxReceiveCount - 1 : -1,
      deadLetterQueue: redrive && dlq ? dlq : '',
      initialRedeliveryDelay: 0,
      expiry: 'drop',
      ackTimeout: 0,
    };
    if (!samePolicy(this.engine.policyOverride('queue', name), override)) await this.engine.setPolicyOverride('queue', name, override);
    // A DLQ that has its own redrive policy must still dead-letter onwards.
    if (redrive && dlq && this.engine.queueInfo(dlq)?.deadLetterQueue && parseRedrivePolicy(this.meta(dlq)?.attributes.RedrivePolicy)) {
      await this.engine.setDeadLetterQueue(dlq, false);
    }
  }

  private async putMeta(meta: QueueMeta): Promise<void> {
    await this.engine.kvPut(metaKey(meta.name), meta);
  }

  // ============================================================== queue actions

  private async createQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = p.str('QueueName');
    validateQueueName(name);
    const requested = p.optStrMap('Attributes') ?? {};
    const tags = p.optStrMap('tags') ?? p.optStrMap('Tags') ?? {};
    const nameFifo = name.endsWith('.fifo');
    if (requested.FifoQueue !== undefined) {
      const f = requested.FifoQueue.toLowerCase();
      if (f !== 'true' && f !== 'false') throw sqsError('InvalidAttributeValue', 'Invalid value for the parameter FifoQueue.');
      if ((f === 'true') !== nameFifo) {
        throw sqsError('InvalidParameterValue', nameFifo ? 'The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix. FifoQueue must be true.' : 'The name of a FIFO queue must end with the .fifo suffix.');
      }
    } else if (nameFifo) {
      throw sqsError('InvalidParameterValue', 'The name of a FIFO queue can only end with .fifo when the FifoQueue attribute is true.');
    }
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) attributes[k] = normalizeAttribute(k, v, nameFifo);
    if (nameFifo) attributes.FifoQueue = 'true';
    this.checkTags(tags);
    await this.checkCrossAttributes(name, attributes, nameFifo, newMeta(name));

    const existing = this.meta(name);
    if (existing && this.exists(name)) {
      for (const [k, v] of Object.entries(attributes)) {
        const cur = attr(existing, k) ?? '';
        if (!sameAttributeValue(k, cur, v)) {
          throw sqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute ${k}`);
        }
      }
      return { QueueUrl: this.queueUrl(ctx, name) };
    }
    const deleted = this.deletedAt.get(name);
    if (deleted !== undefined && !this.exists(name)) {
      if (Date.now() - deleted < this.deletedCooldownMs) {
        throw sqsError('QueueDeletedRecently', `You must wait ${Math.round(this.deletedCooldownMs / 1000)} seconds after deleting a queue before you can create another with the same name.`);
      }
      this.deletedAt.delete(name);
    }
    const now = Math.floor(Date.now() / 1000);
    const meta: QueueMeta = { name, created: now, modified: now, attributes, tags: { ...tags } };
    await this.engine.createQueue(name);
    await this.putMeta(meta);
    await this.applyPolicy(name);
    return { QueueUrl: this.queueUrl(ctx, name) };
  }

  private async checkCrossAttributes(name: string, attributes: Record<string, string>, fifo: boolean, existing?: QueueMeta): Promise<void> {
    if (attributes.RedrivePolicy) {
      const rp = checkRedrivePolicyShape(attributes.RedrivePolicy);
      const dlq = SqsService.nameFromArn(rp.deadLetterTargetArn);
      if (!dlq || !this.exists(dlq)) throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`);
      if (dlq === name) throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: A queue cannot be its own dead-letter queue.`);
      if (this.isFifo(dlq) !== fifo) throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.`);
      const allow = parseRedriveAllowPolicy(this.meta(dlq)?.attributes.RedriveAllowPolicy);
      if (allow && (allow.redrivePermission === 'denyAll' || (allow.redrivePermission === 'byQueue' && !(allow.sourceQueueArns ?? []).includes(this.queueArn(name))))) {
        throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: The dead-letter queue's RedriveAllowPolicy does not allow this queue as a source.`);
      }
      attributes.RedrivePolicy = JSON.stringify(rp);
    }
    if (attributes.RedriveAllowPolicy) attributes.RedriveAllowPolicy = JSON.stringify(checkRedriveAllowPolicyShape(attributes.RedriveAllowPolicy));
    if (fifo && (attributes.FifoThroughputLimit !== undefined || attributes.DeduplicationScope !== undefined)) {
      // AWS: a per-message-group throughput limit (high-throughput FIFO) needs deduplication per message group;
      // checked on the values in effect after this request (also when only one of the two changes)
      const current = existing ?? this.meta(name);
      const limit = attributes.FifoThroughputLimit || attr(current, 'FifoThroughputLimit');
      const scope = attributes.DeduplicationScope || attr(current, 'DeduplicationScope');
      if (limit === 'perMessageGroupId' && scope !== 'messageGroup') {
        const which = attributes.FifoThroughputLimit === 'perMessageGroupId' ? 'FifoThroughputLimit' : 'DeduplicationScope';
        throw sqsError('InvalidAttributeValue', `Invalid value for the parameter ${which}. Reason: FifoThroughputLimit perMessageGroupId is only valid with DeduplicationScope messageGroup.`);
      }
    }
  }

  private checkTags(tags: Record<string, string>, existing: Record<string, string> = {}): void {
    const keys = new Set([...Object.keys(existing), ...Object.keys(tags)]);
    if (keys.size > 50) throw sqsError('InvalidParameterValue', 'Too many tags added for queue. A queue can have at most 50 tags.');
    for (const [k, v] of Object.entries(tags)) {
      if (k.length < 1 || k.length > TAG_KEY_MAX) throw sqsError('InvalidParameterValue', `Tag key '${k.slice(0, 140)}' must be 1 to ${TAG_KEY_MAX} characters.`);
      if (k.toLowerCase().startsWith('aws:')) throw sqsError('InvalidParameterValue', `Tag key '${k}' uses the reserved prefix aws:.`);
      if (v.length > TAG_VALUE_MAX) throw sqsError('InvalidParameterValue', `Tag value for '${k}' must be at most ${TAG_VALUE_MAX} characters.`);
    }
  }

  private async getQueueUrl(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = p.str('QueueName');
    p.optStr('QueueOwnerAWSAccountId');
    if (!name || name.length > 1024 || !this.exists(name)) throw noQueue();
    return { QueueUrl: this.queueUrl(ctx, name) };
  }

  private allQueueNames(): string[] {
    const names = new Set<string>();
    for (const [, m] of this.engine.kvEntries<QueueMeta>('sqs:queue:')) if (this.exists(m.name)) names.add(m.name);
    for (const d of this.engine.listDestinations()) if (d.kind === 'queue' && !d.temporary) names.add(d.name);
    return [...names].sort();
  }

  private async listQueues(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const prefix = p.optStr('QueueNamePrefix') ?? '';
    if (prefix.length > 80) throw p.invalid('QueueNamePrefix', 'must be at most 80 characters.', prefix);
    const max = p.optInt('MaxResults', 1, 1000);
    const token = p.optStr('NextToken');
    if (token !== undefined && max === undefined) throw p.invalid('NextToken', 'MaxResults is required with NextToken.');
    let names = this.allQueueNames().filter((n) => n.startsWith(prefix));
    if (token) {
      const after = decodeToken(token, p);
      names = names.filter((n) => n > after);
    }
    const limit = max ?? 1000;
    const page = names.slice(0, limit);
    const out: Record<string, unknown> = {};
    if (page.length) out.QueueUrls = page.map((n) => this.queueUrl(ctx, n));
    if (max !== undefined && names.length > limit) out.NextToken = encodeToken(page[page.length - 1]);
    return out;
  }

  private async deleteQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const st = this.states.get(name);
    if (st) for (const w of [...st.waiters]) w.finish();
    this.deletedAt.set(name, Date.now());
    this.lastPurge.delete(name);
    await this.engine.deleteQueue(name);
    if (this.meta(name)) await this.engine.kvDelete(metaKey(name));
    const dedupKeys = this.engine.kvEntries(`sqs:dedup:${name}\n`).map(([k]) => k);
    await this.engine.kvCommit(dedupKeys.map((key) => ({ key })));
    this.states.delete(name);
    return {};
  }

  private async purgeQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const now = Date.now();
    const last = this.lastPurge.get(name);
    if (last !== undefined && now - last < this.purgeIntervalMs) {
      throw sqsError('PurgeQueueInProgress', `Only one PurgeQueue operation on ${name} is allowed every ${Math.round(this.purgeIntervalMs / 1000)} seconds.`);
    }
    this.lastPurge.set(name, now);
    this.quiesce(name);
    await this.engine.purgeQueue(name);
    return {};
  }

  private approximateCounts(name: string): { visible: number; notVisible: number; delayed: number } {
    const q = this.engine.queueInfo(name);
    if (!q) return { visible: 0, notVisible: 0, delayed: 0 };
    const held = this.states.get(name)?.held.length ?? 0;
    return { visible: q.ready + held, notVisible: Math.max(0, q.inflight - held), delayed: q.scheduled };
  }

  private async getQueueAttributes(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const names = p.optStrList('AttributeNames') ?? [];
    for (const n of names) if (n !== 'All' && !ALL_NAMES.has(n)) throw sqsError('InvalidAttributeName', `Unknown Attribute ${n}.`);
    if (names.length === 0) return {};
    const all = names.includes('All');
    const want = (n: string) => all || names.includes(n);
    const meta = this.meta(name);
    const fifo = isFifoMeta(meta) || (!meta && name.endsWith('.fifo'));
    const out: Record<string, string> = {};
    const counts = this.approximateCounts(name);
    const created = meta?.created ?? Math.floor(this.engine.queueInfo(name)!.createdAt / 1000);
    if (want('QueueArn')) out.QueueArn = this.queueArn(name);
    if (want('ApproximateNumberOfMessages')) out.ApproximateNumberOfMessages = String(counts.visible);
    if (want('ApproximateNumberOfMessagesNotVisible')) out.ApproximateNumberOfMessagesNotVisible = String(counts.notVisible);
    if (want('ApproximateNumberOfMessagesDelayed')) out.ApproximateNumberOfMessagesDelayed = String(counts.delayed);
    if (want('CreatedTimestamp')) out.CreatedTimestamp = String(created);
    if (want('LastModifiedTimestamp')) out.LastModifiedTimestamp = String(meta?.modified ?? created);
    for (const k of Object.keys(SETTABLE)) {
      if (!want(k)) continue;
      if (k === 'KmsDataKeyReusePeriodSeconds' && !meta?.attributes.KmsMasterKeyId) continue;
      const v = meta ? attr(meta, k) : k === 'FifoQueue' ? (fifo ? 'true' : undefined) : attr(undefined, k);
      if (v !== undefined && v !== '') out[k] = v;
    }
    return { Attributes: out };
  }

  private async setQueueAttributes(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const requested = p.optStrMap('Attributes');
    if (!requested) throw p.missing('Attributes');
    const meta = this.meta(name) ?? newMeta(name);
    const fifo = isFifoMeta(meta);
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) {
      if (SETTABLE[k]?.createOnly) {
        if (k === 'FifoQueue' && v.toLowerCase() === String(fifo)) continue;
        throw sqsError('InvalidAttributeName', `Attribute ${k} can only be set when the queue is created.`);
      }
      attributes[k] = normalizeAttribute(k, v, fifo);
    }
    await this.checkCrossAttributes(name, attributes, fifo, meta);
    const next: QueueMeta = { ...meta, attributes: { ...meta.attributes }, modified: Math.floor(Date.now() / 1000) };
    for (const [k, v] of Object.entries(attributes)) {
      if (v === '') delete next.attributes[k];
      else next.attributes[k] = v;
    }
    await this.putMeta(next);
    await this.applyPolicy(name);
    return {};
  }

  private async tagQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const tags = p.optStrMap('Tags');
    if (!tags) throw p.missing('Tags');
    const meta = this.meta(name) ?? newMeta(name);
    this.checkTags(tags, meta.tags);
    await this.putMeta({ ...meta, tags: { ...meta.tags, ...tags } });
    await this.applyPolicy(name);
    return {};
  }

  private async untagQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const keys = p.optStrList('TagKeys');
    if (!keys) throw p.missing('TagKeys');
    const meta = this.meta(name) ?? newMeta(name);
    const tags = { ...meta.tags };
    for (const k of keys) delete tags[k];
    await this.putMeta({ ...meta, tags });
    return {};
  }

  private async listQueueTags(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const tags = this.meta(name)?.tags ?? {};
    return Object.keys(tags).length ? { Tags: { ...tags } } : {};
  }

  private async listDeadLetterSourceQueues(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const max = p.optInt('MaxResults', 1, 1000);
    const token = p.optStr('NextToken');
    let sources = this.engine
      .kvEntries<QueueMeta>('sqs:queue:')
      .map(([, m]) => m)
      .filter((m) => this.exists(m.name) && SqsService.nameFromArn(parseRedrivePolicy(m.attributes.RedrivePolicy)?.deadLetterTargetArn ?? '') === name)
      .map((m) => m.name)
      .sort();
    if (token) {
      const after = decodeToken(token, p);
      sources = sources.filter((n) => n > after);
    }
    const limit = max ?? 1000;
    const page = sources.slice(0, limit);
    const out: Record<string, unknown> = { queueUrls: page.map((n) => this.queueUrl(ctx, n)) };
    if (max !== undefined && sources.length > limit) out.NextToken = encodeToken(page[page.length - 1]);
    return out;
  }

  private async addPermission(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const label = p.str('Label');
    const accounts = p.optStrList('AWSAccountIds');
    const actions = p.optStrList('Actions');
    if (!accounts || accounts.length === 0) throw p.missing('AWSAccountIds');
    if (!actions || actions.length === 0) throw p.missing('Actions');
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(label)) throw p.invalid('Label', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.', label);
    const meta = this.meta(name) ?? newMeta(name);
    const policy = parsePolicy(meta.attributes.Policy, this.queueArn(name));
    if (policy.Statement.some((s) => s.Sid === label)) throw p.invalid('Label', `Already exists.`, label);
    policy.Statement.push({
      Sid: label,
      Effect: 'Allow',
      Principal: { AWS: accounts.map((a) => `arn:aws:iam::${a}:root`) },
      Action: actions.map((a) => `SQS:${a}`),
      Resource: this.queueArn(name),
    });
    await this.putMeta({ ...meta, attributes: { ...meta.attributes, Policy: JSON.stringify(policy) }, modified: Math.floor(Date.now() / 1000) });
    return {};
  }

  private async removePermission(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const label = p.str('Label');
    const meta = this.meta(name) ?? newMeta(name);
    const policy = parsePolicy(meta.attributes.Policy, this.queueArn(name));
    const before = policy.Statement.length;
    policy.Statement = policy.Statement.filter((s) => s.Sid !== label);
    if (policy.Statement.length === before) throw p.invalid('Label', `Value ${label} for parameter Label is invalid. Reason: can't find label.`);
    const attributes = { ...meta.attributes };
    if (policy.Statement.length) attributes.Policy = JSON.stringify(policy);
    else delete attributes.Policy;
    await this.putMeta({ ...meta, attributes, modified: Math.floor(Date.now() / 1000) });
    return {};
  }

  // ============================================================== sending

  private nextSequenceNumber(): string {
    const floor = BigInt(Date.now()) * 1_000_000n;
    this.seqCounter = this.seqCounter + 1n > floor ? this.seqCounter + 1n : floor;
    return this.seqCounter.toString().padStart(20, '0');
  }

  private async sendMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const prepared = this.prepareSend(name, p, ctx, 'MessageBody');
    const [r] = await this.commitSends(name, [prepared]);
    if (r instanceof AwsError) throw r;
    return r;
  }

  private async sendMessageBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'SendMessageBatch');
    const meta = this.meta(name);
    const maxSize = Number(attr(meta, 'MaximumMessageSize'));
    let total = 0;
    const prepared: Array<Prepared | AwsError> = [];
    for (const e of entries) {
      const ep = p.sub(e, 'Entries');
      try {
        const pr = this.prepareSend(name, ep, ctx, 'MessageBody');
        total += pr.size;
        prepared.push(pr);
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        const body = ep.input.MessageBody;
        if (typeof body === 'string') total += Buffer.byteLength(body);
        prepared.push(err);
      }
    }
    if (total > Math.max(maxSize, 262144)) {
      throw sqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${Math.max(maxSize, 262144)} bytes. You have sent ${total} bytes.`);
    }
    const toSend = prepared.filter((x): x is Prepared => !(x instanceof AwsError));
    const results = await this.commitSends(name, toSend);
    const Successful: Record<string, unknown>[] = [];
    const Failed: Record<string, unknown>[] = [];
    let j = 0;
    for (let i = 0; i < entries.length; i++) {
      const id = (entries[i] as Input).Id as string;
      const x = prepared[i];
      const r = x instanceof AwsError ? x : results[j++];
      if (r instanceof AwsError) Failed.push({ Id: id, SenderFault: r.fault === 'Sender', Code: r.queryCode, Message: r.message });
      else Successful.push({ Id: id, MessageId: r.MessageId, ...r });
    }
    return { Successful, Failed };
  }

  /** Validate one message and build its core message (not yet committed). */
  private prepareSend(name: string, p: Params, ctx: RequestContext, bodyField: string): Prepared {
    const body = p.optStr(bodyField);
    if (body === undefined) throw p.missing(bodyField);
    if (body.length === 0) throw sqsError('InvalidParameterValue', 'The request must contain non-empty message body.');
    if (hasInvalidChars(body)) throw sqsError('InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF');
    const meta = this.meta(name);
    const fifo = isFifoMeta(meta);
    const attrs = parseMessageAttributes(p.optMap('MessageAttributes'));
    const sys = parseMessageAttributes(p.optMap('MessageSystemAttributes'), 'system');
    const size = Buffer.byteLength(body) + attributesSize(attrs);
    const maxSize = Number(attr(meta, 'MaximumMessageSize'));
    if (size > maxSize) throw sqsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${maxSize} bytes.`);
    const delay = p.optInt('DelaySeconds', 0, 900);
    if (fifo && delay !== undefined && delay > 0) {
      throw sqsError('InvalidParameterValue', `Value ${delay} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`);
    }
    const groupId = p.optStr('MessageGroupId');
    let dedupId = p.optStr('MessageDeduplicationId');
    if (groupId !== undefined && !DEDUP_ID_RE.test(groupId)) throw p.invalid('MessageGroupId', 'must be 1 to 128 printable ASCII characters.', groupId);
    if (dedupId !== undefined && !DEDUP_ID_RE.test(dedupId)) throw p.invalid('MessageDeduplicationId', 'must be 1 to 128 printable ASCII characters.', dedupId);
    if (fifo) {
      if (groupId === undefined) throw p.missing('MessageGroupId');
      if (dedupId === undefined) {
        if (attr(meta, 'ContentBasedDeduplication') !== 'true') {
          throw sqsError('InvalidParameterValue', 'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
        }
        dedupId = createHash('sha256').update(body).digest('hex');
      }
    } else if (dedupId !== undefined) {
      throw sqsError('InvalidParameterValue', `Value ${dedupId} for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.`);
    }
    const inbound: InboundMessage = { body, attributes: attrs, groupId, dedupId, senderId: ctx.senderId, traceHeader: sys?.AWSTraceHeader?.StringValue };
    const built = this.buildMessage(name, meta, inbound, delay);
    return {
      message: built.message,
      size,
      dedupKey: fifo ? dedupKeyOf(meta, groupId!, dedupId!) : undefined,
      result: {
        MD5OfMessageBody: built.md5,
        MD5OfMessageAttributes: md5OfAttributes(attrs),
        MD5OfMessageSystemAttributes: md5OfAttributes(sys),
        MessageId: built.message.messageId,
      },
    };
  }

  private buildMessage(name: string, meta: QueueMeta | undefined, m: InboundMessage, delaySeconds?: number): { message: Message; md5: string } {
    const fifo = isFifoMeta(meta);
    const now = Date.now();
    const delay = delaySeconds ?? Number(attr(meta, 'DelaySeconds') ?? 0);
    const retention = Number(attr(meta, 'MessageRetentionPeriod') ?? 345600);
    const md5 = md5Hex(m.body);
    const annotations: Record<string, unknown> = { ...(m.annotations ?? {}), 'sqs.md5': md5 };
    if (m.attributes) annotations[ATTRS_ANNOTATION] = m.attributes;
    if (m.senderId) annotations['sqs.sender'] = m.senderId;
    if (m.traceHeader) annotations['sqs.trace'] = m.traceHeader;
    if (m.groupId !== undefined) annotations['sqs.group'] = m.groupId;
    if (m.dedupId !== undefined) annotations['sqs.dedup'] = m.dedupId;
    if (fifo) annotations['sqs.seq'] = this.nextSequenceNumber();
    const message = createMessage({
      messageId: randomUUID(),
      body: Buffer.from(m.body, 'utf8'),
      bodyType: 'text',
      properties: attributesToProperties(m.attributes),
      durable: true,
      timestamp: now,
      deliveryTime: delay > 0 ? now + delay * 1000 : 0,
      expiration: meta ? now + retention * 1000 : 0,
      groupId: fifo ? m.groupId : undefined,
      annotations,
    });
    void name;
    return { message, md5 };
  }

  /**
   * Commit prepared sends to a queue in one store commit (FIFO: duplicates within the 5-minute window are
   * answered with the first copy's MessageId and not enqueued again). One result per entry, in order.
   */
  private async commitSends(name: string, prepared: Prepared[]): Promise<Array<Record<string, unknown> | AwsError>> {
    const st = this.state(name);
    const results: Array<Record<string, unknown> | AwsError | undefined> = new Array(prepared.length);
    const items: SendItem[] = [];
    const itemIndex: number[] = [];
    const newDedup = new Map<number, { key: string; entry: DedupEntry; ok: (v: boolean) => void }>();
    const address = queueAddress(name);
    // FIFO dedup: first wait for other requests that are committing one of our ids (never while holding our own),
    // then claim ours in one synchronous pass, so concurrent batches cannot wait on each other.
    for (;;) {
      const waits = prepared.map((pr) => (pr.dedupKey !== undefined ? st.dedup.get(pr.dedupKey)?.pending : undefined)).filter((x) => x !== undefined);
      if (waits.length === 0) break;
      await Promise.all(waits);
    }
    const now = Date.now();
    const claimed = new Map<string, DedupEntry>();
    for (let i = 0; i < prepared.length; i++) {
      const pr = prepared[i];
      if (pr.dedupKey === undefined) continue;
      const d = claimed.get(pr.dedupKey) ?? st.dedup.get(pr.dedupKey);
      if (d && d.expires > now) {
        results[i] = { ...pr.result, MessageId: d.messageId, ...(d.seq ? { SequenceNumber: d.seq } : {}) };
        continue;
      }
      const seq = pr.message.annotations?.['sqs.seq'] as string | undefined;
      let ok!: (v: boolean) => void;
      const entry: DedupEntry = { expires: now + DEDUP_WINDOW_MS, messageId: pr.message.messageId, seq, pending: new Promise<boolean>((r) => (ok = r)) };
      st.dedup.set(pr.dedupKey, entry);
      claimed.set(pr.dedupKey, entry);
      newDedup.set(i, { key: pr.dedupKey, entry, ok });
    }
    const settleDedup = (i: number, success: boolean) => {
      const n = newDedup.get(i);
      if (!n) return;
      newDedup.delete(i);
      if (success) n.entry.pending = undefined;
      else if (st.dedup.get(n.key) === n.entry) st.dedup.delete(n.key);
      n.ok(success);
    };
    for (let i = 0; i < prepared.length; i++) {
      if (results[i] !== undefined) continue;
      const n = newDedup.get(i);
      // the dedup record commits with its message, so a restart knows every id a client was answered for
      const kv = n ? [{ key: `sqs:dedup:${name}\n${n.key}`, value: { e: n.entry.expires, id: n.entry.messageId, s: n.entry.seq } }] : undefined;
      items.push({ message: prepared[i].message, address, kv });
      itemIndex.push(i);
    }
    let outcomes: Array<Error | undefined>;
    try {
      outcomes = await this.engine.sendMany(items, { connection: this.connection ?? null });
    } catch (err) {
      for (const k of [...newDedup.keys()]) settleDedup(k, false);
      throw err;
    }
    let fatal: unknown;
    for (let j = 0; j < itemIndex.length; j++) {
      const i = itemIndex[j];
      const pr = prepared[i];
      const err = outcomes[j];
      settleDedup(i, !err);
      if (err) {
        try {
          results[i] = err instanceof AwsError ? err : mapSendError(err);
        } catch (e) {
          fatal ??= e;
        }
        continue;
      }
      const seq = pr.message.annotations?.['sqs.seq'] as string | undefined;
      results[i] = seq ? { ...pr.result, SequenceNumber: seq } : pr.result;
    }
    if (fatal) throw fatal;
    return results.map((r) => r ?? sqsError('InternalFailure', 'message not sent'));
  }

  /** Enqueue a message from inside the broker (SNS subscription delivery). Resolves when durable. */
  async deliver(name: string, m: InboundMessage): Promise<{ messageId: string }> {
    if (!this.exists(name)) throw new BrokerError('not-found', `Queue '${name}' does not exist`);
    const meta = this.meta(name);
    const fifo = isFifoMeta(meta);
    let dedupId = m.dedupId;
    if (fifo && dedupId === undefined) dedupId = createHash('sha256').update(m.body).digest('hex');
    const inbound = { ...m, dedupId: fifo ? dedupId : undefined, groupId: m.groupId };
    const built = this.buildMessage(name, meta, inbound);
    const pr: Prepared = {
      message: built.message,
      size: Buffer.byteLength(m.body),
      dedupKey: fifo && m.groupId !== undefined ? dedupKeyOf(meta, m.groupId, dedupId!) : undefined,
      result: { MessageId: built.message.messageId },
    };
    const [r] = await this.commitSends(name, [pr]);
    if (r instanceof AwsError) throw r;
    return { messageId: r.MessageId as string };
  }

  // ============================================================== receiving

  private async ensureConsumer(st: QueueState): Promise<ConsumerHandle> {
    if (st.consumer && !st.consumer.closed) return st.consumer;
    st.starting ??= (async () => {
      const c = await this.engine.subscribe({
        address: queueAddress(st.name),
        connection: this.connection ?? null,
        credit: 0,
        onMessage: (d) => this.onDelivery(st, d),
        onLeaseExpired: (d) => this.onLeaseExpired(st, d),
        onClose: () => this.onConsumerClosed(st),
      });
      st.consumer = c;
      st.creditAdded = st.creditRemoved = st.delivered = 0;
      return c;
    })().finally(() => {
      st.starting = undefined;
    });
    return st.starting;
  }

  private onConsumerClosed(st: QueueState): void {
    for (const w of [...st.waiters]) {
      w.got.length = 0;
      w.finish();
    }
    st.clearReceipts();
    st.held = [];
    st.groupInflight.clear();
    st.consumer = undefined;
    st.prefetch = 0;
  }

  private addCredit(st: QueueState, n: number): void {
    if (n <= 0 || !st.consumer) return;
    st.creditAdded += n;
    st.consumer.addCredit(n);
  }

  private takeBackCredit(st: QueueState, n: number): void {
    const c = st.consumer;
    if (!c || n <= 0) return;
    const k = Math.min(n, c.credit);
    if (k <= 0) return;
    st.creditRemoved += k;
    c.setCredit(c.credit - k);
  }

  private groupBusy(st: QueueState, gid: string, except?: Waiter): boolean {
    if ((st.groupInflight.get(gid) ?? 0) > 0) return true;
    for (const w of st.waiters) if (w !== except && !w.done && w.groups.has(gid)) return true;
    return false;
  }

  private onDelivery(st: QueueState, d: Delivery): void {
    st.delivered++;
    const fifo = this.isFifo(st.name);
    const gid = fifo ? d.message.groupId : undefined;
    let w: Waiter | undefined;
    if (gid !== undefined) {
      w = st.waiters.find((x) => !x.done && x.groups.has(gid) && x.got.length < x.want);
      if (!w) {
        const blocked = this.groupBusy(st, gid) || st.held.some((h) => h.message.groupId === gid);
        if (blocked) {
          st.held.push(d);
          // look further for messages of free groups on behalf of open receives
          this.adjustCredit(st);
          return;
        }
        w = st.waiters.find((x) => !x.done && x.got.length < x.want);
      }
    } else if (!fifo && st.hasNoisyTenant()) {
      // fair queue with a noisy tenant: collect what this dispatch round brings, then serve quiet tenants first
      st.held.push(d);
      this.scheduleFairServe(st);
      return;
    } else {
      w = st.waiters.find((x) => !x.done && x.got.length < x.want);
    }
    if (!w) {
      if (gid === undefined && !fifo && st.held.length < st.prefetch) {
        st.held.push(d); // fetched ahead for the next receive
        return;
      }
      // nobody is waiting any more (the receive ended while the mark commit was pending): give it back
      this.release(st, d);
      this.adjustCredit(st);
      return;
    }
    this.take(st, w, d);
  }

  /**
   * Keep the consumer's outstanding credit at what open receives still want plus the prefetch room (standard
   * queues), counting deliveries already dispatched but not yet arrived.
   */
  private adjustCredit(st: QueueState): void {
    const c = st.consumer;
    if (!c || c.closed) return;
    let want = 0;
    for (const w of st.waiters) if (!w.done) want += w.want - w.got.length;
    const fifo = this.isFifo(st.name);
    if (fifo && st.held.length >= HOLD_LIMIT) want = 0;
    const room = fifo ? 0 : Math.max(0, st.prefetch - st.held.length);
    const desired = want + room;
    const outstanding = c.credit + Math.max(0, st.pendingDispatch());
    // Open receives are always covered at once; the read-ahead is topped up only once half of it is used, so the
    // core dispatches in larger rounds (one redelivery-mark commit per round instead of one per receive).
    if (desired > outstanding && (outstanding < want || desired - outstanding >= st.prefetch / 2)) this.addCredit(st, desired - outstanding);
    else if (desired < outstanding) this.takeBackCredit(st, outstanding - desired);
  }

  /** Give back everything fetched ahead (before operations that must see every waiting message: purge, move tasks). */
  private quiesce(name: string): void {
    const st = this.states.get(name);
    if (!st) return;
    st.prefetch = 0;
    if (this.isFifo(name)) this.releaseHeld(st, (d) => !this.groupBusy(st, d.message.groupId ?? ''));
    else this.releaseHeld(st, () => true);
    this.adjustCredit(st);
  }

  /** A receive came: grow the prefetch with concurrency; release what was fetched ahead once receives stop. */
  private noteReceive(st: QueueState, want: number): void {
    if (this.isFifo(st.name)) return;
    const open = st.waiters.filter((w) => !w.done).length + 1;
    if (st.hasNoisyTenant()) st.prefetch = FAIR_LOOKAHEAD; // look past the noisy backlog for quiet tenants
    else st.prefetch = Math.min(PREFETCH_MAX, Math.max(st.prefetch > PREFETCH_MAX ? 0 : st.prefetch, want * Math.max(4, open)));
    if (st.idleTimer) st.idleTimer.refresh();
    else {
      st.idleTimer = setTimeout(() => {
        st.idleTimer = undefined;
        st.prefetch = 0;
        this.releaseHeld(st, () => true);
        this.adjustCredit(st);
      }, PREFETCH_IDLE_MS);
      st.idleTimer.unref();
    }
  }

  /** A FIFO group gets one more message in flight (counted from the moment a receive takes it). */
  private groupTaken(st: QueueState, w: Waiter, gid: string): void {
    w.groups.add(gid);
    st.groupInflight.set(gid, (st.groupInflight.get(gid) ?? 0) + 1);
  }

  private take(st: QueueState, w: Waiter, d: Delivery): void {
    w.got.push(d);
    const gid = this.isFifo(st.name) ? d.message.groupId : undefined;
    if (gid !== undefined) this.groupTaken(st, w, gid);
    if (w.got.length >= w.want) {
      w.finish();
      return;
    }
    if (!w.flushScheduled) {
      w.flushScheduled = true;
      setImmediate(() => {
        if (!w.done) w.finish();
      });
    }
  }

  /** Give a delivery the client never saw back to the queue (not counted as a receive). */
  private release(st: QueueState, d: Delivery): void {
    try {
      st.consumer?.extendLease(d.id, 0);
    } catch {
      /* already settled */
    }
  }

  private releaseHeld(st: QueueState, which: (d: Delivery) => boolean): void {
    if (!st.held.length) return;
    const keep: Delivery[] = [];
    const out: Delivery[] = [];
    for (const d of st.held) (which(d) ? out : keep).push(d);
    st.held = keep;
    for (const d of out) this.release(st, d);
  }

  /** A group's in-flight count dropped: free it when zero, serve or release its held messages. */
  private groupDone(st: QueueState, gid: string | undefined, expired: boolean): void {
    if (gid === undefined) return;
    const n = (st.groupInflight.get(gid) ?? 1) - 1;
    if (n > 0) st.groupInflight.set(gid, n);
    else st.groupInflight.delete(gid);
    if (expired) {
      // an earlier message of the group went back to the queue: later ones must queue up behind it again
      this.releaseHeld(st, (h) => h.message.groupId === gid);
      return;
    }
    if (n > 0 || !st.held.some((h) => h.message.groupId === gid)) return;
    const w = st.waiters.find((x) => !x.done && x.got.length < x.want && !this.groupBusy(st, gid, x));
    if (w) this.serveHeld(st, w);
    else this.releaseHeld(st, (h) => h.message.groupId === gid);
  }

  /** Fair queues: after a dispatch round, hand what arrived to the open receives, quiet tenants first. */
  private scheduleFairServe(st: QueueState): void {
    if (st.fairServeScheduled) return;
    st.fairServeScheduled = true;
    setImmediate(() => {
      st.fairServeScheduled = false;
      if (this.states.get(st.name) !== st) return;
      for (const w of [...st.waiters]) {
        if (w.done || w.got.length >= w.want) continue;
        this.serveHeld(st, w);
        if (w.got.length >= w.want) w.finish();
        else if (w.got.length > 0 && !w.flushScheduled) {
          w.flushScheduled = true;
          setImmediate(() => {
            if (!w.done) w.finish();
          });
        }
      }
      this.adjustCredit(st);
    });
  }

  /** Hand held FIFO messages whose group is free (or already this receive's) to a receive. */
  private serveHeld(st: QueueState, w: Waiter): void {
    if (!st.held.length) return;
    if (!this.isFifo(st.name)) {
      const n = Math.min(w.want - w.got.length, st.held.length);
      if (n <= 0) return;
      const noisy = st.noisyTenants();
      if (noisy.size === 0) {
        w.got.push(...st.held.splice(0, n));
        return;
      }
      w.got.push(...pickFair(st.held, n, noisy));
      return;
    }
    const keep: Delivery[] = [];
    const blocked = new Set<string>();
    for (const d of st.held) {
      const gid = d.message.groupId!;
      if (w.got.length < w.want && !blocked.has(gid) && (w.groups.has(gid) || !this.groupBusy(st, gid, w))) {
        w.got.push(d);
        this.groupTaken(st, w, gid);
      } else {
        blocked.add(gid);
        keep.push(d);
      }
    }
    st.held = keep;
    if (w.got.length > 0 && !w.flushScheduled) {
      w.flushScheduled = true;
      setImmediate(() => {
        if (!w.done) w.finish();
      });
    }
  }

  private onLeaseExpired(st: QueueState, d: Delivery): void {
    const r = st.receipts.get(d.id);
    if (!r) return;
    st.dropReceipt(d.id);
    this.groupDone(st, r.groupId, true);
  }

  /**
   * A receipt handle: queue, delivery id and a random UUID nonce (unguessable, new for every receive). It is valid
   * while the adapter holds a receipt with that nonce for that delivery (the message is in flight for this receive).
   */
  private makeReceipt(st: QueueState, d: Delivery): Receipt {
    const nonce = randomUUID();
    const handle = Buffer.from(`${st.name}\n${d.id}\n${nonce}`, 'utf8').toString('base64url');
    const fifo = this.isFifo(st.name);
    return { delivery: d, nonce, handle, groupId: fifo ? d.message.groupId : undefined, tenant: fifo ? undefined : tenantOf(d) };
  }

  /** Decode a receipt handle of this queue: the delivery id and nonce, or ReceiptHandleIsInvalid. */
  private parseReceipt(name: string, handle: string): { id: number; nonce: string } {
    const invalid = () => sqsError('ReceiptHandleIsInvalid', `The input receipt handle "${handle.slice(0, 200)}" is not a valid receipt handle.`);
    if (!handle || handle.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(handle)) throw invalid();
    const parts = Buffer.from(handle, 'base64url').toString('utf8').split('\n');
    if (parts.length !== 3 || parts[0] !== name || !/^\d{1,15}$/.test(parts[1]) || !UUID_RE.test(parts[2])) throw invalid();
    return { id: Number(parts[1]), nonce: parts[2] };
  }

  private async receiveMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const meta = this.meta(name);
    const fifo = isFifoMeta(meta);
    const max = p.optInt('MaxNumberOfMessages', 1, 10) ?? 1;
    const visibility = p.optInt('VisibilityTimeout', 0, 43200) ?? Number(attr(meta, 'VisibilityTimeout'));
    const wait = p.optInt('WaitTimeSeconds', 0, 20) ?? Number(attr(meta, 'ReceiveMessageWaitTimeSeconds'));
    const sysNames = [...(p.optStrList('AttributeNames') ?? []), ...(p.optStrList('MessageSystemAttributeNames') ?? [])];
    const attrNames = p.optStrList('MessageAttributeNames');
    for (const n of attrNames ?? []) {
      if (n !== 'All' && n !== '.*' && !/^[A-Za-z0-9_\-.]{1,256}(\.\*)?$/.test(n.replace(/\.\*$/, '')) ) throw p.invalid('MessageAttributeNames', `invalid attribute name ${n}.`);
    }
    const attemptId = p.optStr('ReceiveRequestAttemptId');
    if (attemptId !== undefined && !DEDUP_ID_RE.test(attemptId)) throw p.invalid('ReceiveRequestAttemptId', 'must be 1 to 128 printable ASCII characters.', attemptId);
    const st = this.state(name);
    if (fifo && attemptId !== undefined) {
      const prev = st.attempts.get(attemptId);
      if (prev && prev.expires > Date.now()) {
        const still = prev.handles.every((h) => {
          try {
            const { id, nonce } = this.parseReceipt(name, h);
            return st.receipts.get(id)?.nonce === nonce;
          } catch {
            return false;
          }
        });
        if (still) {
          for (const h of prev.handles) {
            const { id } = this.parseReceipt(name, h);
            if (visibility > 0) st.consumer?.extendLease(id, visibility * 1000);
          }
          return prev.messages.length ? { Messages: prev.messages } : {};
        }
      }
    }
    if (st.receipts.size >= (fifo ? INFLIGHT_LIMIT_FIFO : INFLIGHT_LIMIT_STANDARD)) {
      throw sqsError('OverLimit', `Too many messages in flight for queue ${name} (at most ${fifo ? INFLIGHT_LIMIT_FIFO : INFLIGHT_LIMIT_STANDARD}).`);
    }
    const consumer = await this.ensureConsumer(st);
    const got = await this.collect(st, consumer, max, wait, ctx.signal);
    const messages: Record<string, unknown>[] = [];
    const handles: string[] = [];
    const now = Date.now();
    for (const d of got) {
      const r = this.makeReceipt(st, d);
      st.addReceipt(r);
      const ann = (d.message.annotations ??= {});
      if (ann['sqs.firstReceive'] === undefined) ann['sqs.firstReceive'] = now;
      handles.push(r.handle);
      messages.push(this.renderMessage(name, d, r.handle, sysNames, attrNames));
    }
    // leases start now; a visibility timeout of 0 makes them visible again at once (still counted as received)
    for (const d of got) {
      if (visibility > 0) {
        try {
          consumer.extendLease(d.id, visibility * 1000);
        } catch {
          /* settled meanwhile */
        }
      }
    }
    if (visibility === 0) {
      for (const d of got) {
        const r = st.receipts.get(d.id);
        st.dropReceipt(d.id);
        try {
          consumer.nack(d.id, { countFailure: true, delay: 0, reason: 'visibility timeout 0' });
        } catch {
          /* settled */
        }
        this.groupDone(st, r?.groupId, true);
      }
    }
    if (fifo && attemptId !== undefined) st.attempts.set(attemptId, { expires: now + ATTEMPT_WINDOW_MS, handles, messages });
    return messages.length ? { Messages: messages } : {};
  }

  /** Wait for up to `max` deliveries: return as soon as some arrived (or `wait` seconds passed). */
  private collect(st: QueueState, consumer: ConsumerHandle, max: number, wait: number, signal?: AbortSignal): Promise<Delivery[]> {
    return new Promise<Delivery[]>((resolve) => {
      const w: Waiter = {
        want: max,
        got: [],
        groups: new Set(),
        done: false,
        flushScheduled: false,
        finish: () => {
          if (w.done) return;
          w.done = true;
          if (w.timer) clearTimeout(w.timer);
          const i = st.waiters.indexOf(w);
          if (i >= 0) st.waiters.splice(i, 1);
          signal?.removeEventListener('abort', onAbort);
          if (aborted) {
            const fifo = this.isFifo(st.name);
            for (const d of w.got) {
              this.release(st, d);
              if (fifo) this.groupDone(st, d.message.groupId, true);
            }
            this.adjustCredit(st);
            resolve([]);
            return;
          }
          this.adjustCredit(st);
          resolve(w.got);
        },
      };
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        w.finish();
      };
      signal?.addEventListener('abort', onAbort);
      this.noteReceive(st, max);
      st.waiters.push(w);
      this.serveHeld(st, w);
      if (w.got.length >= w.want) {
        w.finish();
        return;
      }
      if (w.got.length > 0 && !w.flushScheduled) {
        w.flushScheduled = true;
        setImmediate(() => {
          if (!w.done) w.finish();
        });
      }
      this.adjustCredit(st);
      if (wait > 0) {
        w.timer = setTimeout(() => w.finish(), wait * 1000);
      } else {
        // short poll: dispatch runs on a microtask; deliveries waiting for their mark commit come a little later
        let rounds = 0;
        const check = () => {
          if (w.done) return;
          if (w.got.length > 0) return; // flush already scheduled
          if (st.pendingDispatch() > 0 && rounds++ < 200) {
            w.timer = setTimeout(check, 5);
            return;
          }
          w.finish();
        };
        setImmediate(check);
      }
    });
  }

  private renderMessage(name: string, d: Delivery, handle: string, sysNames: string[], attrNames: string[] | undefined): Record<string, unknown> {
    const m = d.message;
    const ann = m.annotations ?? {};
    const body = bodyText(m);
    const out: Record<string, unknown> = {
      MessageId: m.messageId,
      ReceiptHandle: handle,
      MD5OfBody: (ann['sqs.md5'] as string | undefined) ?? md5Hex(body),
      Body: body,
    };
    if (sysNames.length) {
      const all = sysNames.includes('All');
      const want = (n: string) => all || sysNames.includes(n);
      const a: Record<string, string> = {};
      if (want('SenderId')) a.SenderId = (ann['sqs.sender'] as string | undefined) ?? m.userId ?? this.accountId;
      if (want('SentTimestamp')) a.SentTimestamp = String(m.timestamp);
      if (want('ApproximateReceiveCount')) a.ApproximateReceiveCount = String(d.deliveryCount + 1);
      if (want('ApproximateFirstReceiveTimestamp')) a.ApproximateFirstReceiveTimestamp = String(ann['sqs.firstReceive'] ?? Date.now());
      if (want('SequenceNumber') && ann['sqs.seq'] !== undefined) a.SequenceNumber = String(ann['sqs.seq']);
      if (want('MessageDeduplicationId') && ann['sqs.dedup'] !== undefined) a.MessageDeduplicationId = String(ann['sqs.dedup']);
      if (want('MessageGroupId')) {
        const g = (ann['sqs.group'] as string | undefined) ?? m.groupId;
        if (g !== undefined) a.MessageGroupId = g;
      }
      if (want('AWSTraceHeader') && ann['sqs.trace'] !== undefined) a.AWSTraceHeader = String(ann['sqs.trace']);
      if (want('DeadLetterQueueSourceArn') && typeof m.properties.originalDestination === 'string') {
        const src = parseAddress(m.properties.originalDestination);
        if (src.kind === 'queue' && src.name !== name) a.DeadLetterQueueSourceArn = this.queueArn(src.name);
      }
      if (Object.keys(a).length) out.Attributes = a;
    }
    const selected = selectAttributes(messageAttributesOf(m), attrNames);
    if (selected) {
      out.MD5OfMessageAttributes = md5OfAttributes(selected);
      const ma: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(selected)) {
        ma[k] = v.BinaryValue !== undefined ? { DataType: v.DataType, BinaryValue: Buffer.from(v.BinaryValue).toString('base64') } : { DataType: v.DataType, StringValue: v.StringValue };
      }
      out.MessageAttributes = ma;
    }
    return out;
  }

  // ============================================================== settling

  private async settleOne(name: string, handle: string, op: 'delete' | { visibility: number }): Promise<void> {
    const st = this.state(name);
    const { id, nonce } = this.parseReceipt(name, handle);
    const r = st.receipts.get(id);
    if (!r || r.nonce !== nonce) {
      if (op === 'delete') {
        if (this.recentlyDeleted.get(id) === nonce) return; // a retried delete of the same receipt succeeds, as in AWS
        throw sqsError('ReceiptHandleIsInvalid', `The receipt handle has expired: the message was received again or its visibility timeout ended.`);
      }
      throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    const consumer = st.consumer;
    if (!consumer) throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
    if (op === 'delete') {
      st.dropReceipt(id);
      this.recentlyDeleted.set(id, nonce);
      try {
        const acked = consumer.ack(id);
        this.groupDone(st, r.groupId, false);
        await acked;
      } catch (err) {
        if (err instanceof BrokerError && err.code === 'not-found') throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
        throw err;
      }
      return;
    }
    if (op.visibility === 0) {
      st.dropReceipt(id);
      try {
        consumer.nack(id, { countFailure: true, delay: 0, reason: 'visibility timeout changed to 0' });
      } catch {
        throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
      }
      this.groupDone(st, r.groupId, true);
      return;
    }
    try {
      consumer.extendLease(id, op.visibility * 1000);
    } catch {
      throw sqsError('MessageNotInflight', 'The message referred to is not in flight.');
    }
  }

  private async deleteMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    await this.settleOne(name, p.str('ReceiptHandle'), 'delete');
    return {};
  }

  private async changeMessageVisibility(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const handle = p.str('ReceiptHandle');
    const visibility = p.int('VisibilityTimeout', 0, 43200);
    await this.settleOne(name, handle, { visibility });
    return {};
  }

  /** All deletes of a batch are one engine transaction: one store commit, answered when it is durable. */
  private async deleteMessageBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'DeleteMessageBatch');
    const st = this.state(name);
    const tx = this.engine.beginTransaction(this.connection ?? null);
    const outcomes: Array<AwsError | null> = [];
    const groups: Array<string | undefined> = [];
    for (const e of entries) {
      const ep = p.sub(e, 'Entries');
      try {
        const handle = ep.str('ReceiptHandle');
        const { id, nonce } = this.parseReceipt(name, handle);
        const r = st.receipts.get(id);
        if (!r || r.nonce !== nonce) {
          if (this.recentlyDeleted.get(id) === nonce) {
            outcomes.push(null);
            continue;
          }
          throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired: the message was received again or its visibility timeout ended.');
        }
        if (!st.consumer) throw sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.');
        tx.ack(st.consumer, id);
        st.dropReceipt(id);
        this.recentlyDeleted.set(id, nonce);
        groups.push(r.groupId);
        outcomes.push(null);
      } catch (err) {
        if (err instanceof AwsError) outcomes.push(err);
        else if (err instanceof BrokerError && err.code === 'not-found') outcomes.push(sqsError('ReceiptHandleIsInvalid', 'The receipt handle has expired.'));
        else {
          tx.rollback();
          throw err;
        }
      }
    }
    for (const g of groups) this.groupDone(st, g, false);
    if (tx.pendingAcks > 0) await tx.commit();
    return batchResult(entries, outcomes);
  }

  private async changeMessageVisibilityBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'ChangeMessageVisibilityBatch');
    return this.batchSettle(p, entries, (ep) => this.settleOne(name, ep.str('ReceiptHandle'), { visibility: ep.int('VisibilityTimeout', 0, 43200) }));
  }

  private async batchSettle(p: Params, entries: unknown[], op: (ep: Params) => Promise<void>): Promise<Record<string, unknown>> {
    const outcomes = await Promise.all(
      entries.map(async (e) => {
        const ep = p.sub(e, 'Entries');
        try {
          await op(ep);
          return null;
        } catch (err) {
          if (err instanceof AwsError) return err;
          throw err;
        }
      }),
    );
    return batchResult(entries, outcomes);
  }

  // ============================================================== DLQ redrive (message move tasks)

  private async startMessageMoveTask(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const sourceArn = p.str('SourceArn');
    const source = SqsService.nameFromArn(sourceArn);
    if (!source || !this.exists(source)) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the SourceArn parameter doesn\'t exist.');
    const destinationArn = p.optStr('DestinationArn');
    const dest = destinationArn !== undefined ? SqsService.nameFromArn(destinationArn) : undefined;
    if (destinationArn !== undefined && (!dest || !this.exists(dest))) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the DestinationArn parameter doesn\'t exist.');
    const maxPerSecond = p.optInt('MaxNumberOfMessagesPerSecond', 1, 500);
    const isDlq = this.engine
      .kvEntries<QueueMeta>('sqs:queue:')
      .some(([, m]) => SqsService.nameFromArn(parseRedrivePolicy(m.attributes.RedrivePolicy)?.deadLetterTargetArn ?? '') === source);
    if (!isDlq && !this.engine.queueInfo(source)?.deadLetterQueue) {
      throw sqsError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
    }
    for (const t of this.moveTasks.values()) {
      if (t.source === source && t.status === 'RUNNING') throw sqsError('UnsupportedOperation', 'There is already a task running. Only one active task is allowed for a source queue ARN at a given time.');
    }
    const id = randomUUID();
    const handle = Buffer.from(JSON.stringify({ taskId: id, sourceArn })).toString('base64');
    const task: MoveTask = { id, handle, source, destinationArn, maxPerSecond, status: 'RUNNING', moved: 0, toMove: this.engine.queueInfo(source)!.ready, started: Date.now() };
    this.moveTasks.set(handle, task);
    await this.saveMoveTask(task);
    this.launchMoveTask(task, dest);
    return { TaskHandle: handle };
  }

  private launchMoveTask(task: MoveTask, dest: string | undefined): void {
    this.runMoveTask(task, dest).catch((err) => {
      if (this.closed) return; // stopped by shutdown: resumes at the next start
      task.status = 'FAILED';
      task.failureReason = (err as Error).message;
      this.saveMoveTask(task).catch(() => undefined);
    });
  }

  private async saveMoveTask(task: MoveTask): Promise<void> {
    await this.engine.kvPut(`sqs:move:${task.id}`, task);
  }

  /**
   * After a restart: finished tasks are listed as before (for 14 days, as in AWS); a task that was RUNNING goes
   * on where it stopped (its moved count was saved after every chunk) unless its source or destination queue is
   * gone, then it is FAILED; one that was being cancelled is CANCELLED.
   */
  private loadMoveTasks(): void {
    const now = Date.now();
    for (const [key, t] of this.engine.kvEntries<MoveTask>('sqs:move:')) {
      if (!t || typeof t.handle !== 'string' || typeof t.source !== 'string') {
        this.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      if (now - t.started > MOVE_TASK_RETENTION_MS) {
        this.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      const task: MoveTask = { ...t };
      this.moveTasks.set(task.handle, task);
      if (task.status === 'CANCELLING') {
        task.status = 'CANCELLED';
        this.saveMoveTask(task).catch(() => undefined);
      } else if (task.status === 'RUNNING') {
        const dest = task.destinationArn !== undefined ? SqsService.nameFromArn(task.destinationArn) : undefined;
        const missing = !this.exists(task.source) ? 'source' : task.destinationArn !== undefined && (!dest || !this.exists(dest)) ? 'destination' : undefined;
        if (missing) {
          task.status = 'FAILED';
          task.failureReason = `The ${missing} queue of the task no longer exists (found at broker restart).`;
          this.saveMoveTask(task).catch(() => undefined);
        } else {
          this.logger.info({ source: task.source, moved: task.moved }, 'sqs: resuming message move task after restart');
          this.launchMoveTask(task, dest);
        }
      }
    }
  }

  private async runMoveTask(task: MoveTask, dest: string | undefined): Promise<void> {
    // the rate limit counts from where this run started (a resumed task does not get a burst for the downtime)
    const started = Date.now();
    const movedAtStart = task.moved;
    for (;;) {
      if (this.closed) return;
      if (task.status === 'CANCELLING') {
        task.status = 'CANCELLED';
        await this.saveMoveTask(task);
        return;
      }
      this.quiesce(task.source);
      const batch = this.engine
        .browse(queueAddress(task.source), { limit: 100 })
        .filter((b) => b.state !== 'inflight')
        .map((b) => b.seq);
      if (batch.length === 0) break;
      let chunk = batch;
      if (task.maxPerSecond) {
        const allowed = Math.floor(((Date.now() - started) / 1000 + 1) * task.maxPerSecond) - (task.moved - movedAtStart);
        if (allowed <= 0) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        chunk = batch.slice(0, allowed);
      }
      const moved = await this.engine.retryDeadLetters(task.source, { seqs: chunk, target: dest ? queueAddress(dest) : undefined });
      if (moved === 0) break; // the rest has no known source to go back to
      task.moved += moved;
      if (!this.closed) await this.saveMoveTask(task);
    }
    if (this.closed) return;
    task.status = 'COMPLETED';
    await this.saveMoveTask(task);
  }

  private async cancelMessageMoveTask(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const handle = p.str('TaskHandle');
    const t = this.moveTasks.get(handle);
    if (!t) throw sqsError('ResourceNotFoundException', 'The specified task handle does not exist.');
    if (t.status !== 'RUNNING') throw sqsError('UnsupportedOperation', 'Only a task with status RUNNING can be cancelled.');
    t.status = 'CANCELLING';
    await this.saveMoveTask(t);
    return { ApproximateNumberOfMessagesMoved: t.moved };
  }

  private async listMessageMoveTasks(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const sourceArn = p.str('SourceArn');
    const max = p.optInt('MaxResults', 1, 10) ?? 1;
    const source = SqsService.nameFromArn(sourceArn);
    if (!source || !this.exists(source)) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the SourceArn parameter doesn\'t exist.');
    const tasks = [...this.moveTasks.values()].filter((t) => t.source === source).sort((a, b) => b.started - a.started).slice(0, max);
    return {
      Results: tasks.map((t) => ({
        ...(t.status === 'RUNNING' ? { TaskHandle: t.handle } : {}),
        Status: t.status,
        SourceArn: sourceArn,
        ...(t.destinationArn ? { DestinationArn: t.destinationArn } : {}),
        ...(t.maxPerSecond ? { MaxNumberOfMessagesPerSecond: t.maxPerSecond } : {}),
        ApproximateNumberOfMessagesMoved: t.moved,
        ApproximateNumberOfMessagesToMove: t.toMove,
        ...(t.failureReason ? { FailureReason: t.failureReason } : {}),
        StartedTimestamp: t.started,
      })),
    };
  }
}

interface Prepared {
  message: Message;
  size: number;
  dedupKey?: string;
  result: Record<string, unknown>;
}

/** The tenant of a message on a fair (standard) queue: its MessageGroupId; none = a tenant of its own. */
function tenantOf(d: Delivery): string | undefined {
  const g = d.message.annotations?.['sqs.group'];
  return typeof g === 'string' ? g : undefined;
}

/**
 * Take `n` deliveries out of `held` (oldest first) for a fair queue: messages of quiet tenants first; then those
 * of noisy tenants, the tenant with the fewest in-flight messages first (as AWS does).
 */
function pickFair(held: Delivery[], n: number, noisy: Map<string, number>): Delivery[] {
  const out: Delivery[] = [];
  const rest: Delivery[] = [];
  for (const d of held) {
    const t = tenantOf(d);
    if (out.length < n && (t === undefined || !noisy.has(t))) out.push(d);
    else rest.push(d);
  }
  if (out.length < n && rest.length) {
    const order = [...noisy.entries()].sort((a, b) => a[1] - b[1]).map(([t]) => t);
    const taken = new Set<Delivery>();
    for (const t of order) {
      for (const d of rest) {
        if (out.length >= n) break;
        if (tenantOf(d) === t) {
          out.push(d);
          taken.add(d);
        }
      }
      if (out.length >= n) break;
    }
    held.length = 0;
    for (const d of rest) if (!taken.has(d)) held.push(d);
    return out;
  }
  held.length = 0;
  held.push(...rest);
  return out;
}

function metaKey(name: string): string {
  return `sqs:queue:${name}`;
}

function newMeta(name: string): QueueMeta {
  const now = Math.floor(Date.now() / 1000);
  return { name, created: now, modified: now, attributes: name.endsWith('.fifo') ? { FifoQueue: 'true' } : {}, tags: {} };
}

function dedupKeyOf(meta: QueueMeta | undefined, groupId: string, dedupId: string): string {
  return attr(meta, 'DeduplicationScope') === 'messageGroup' ? `${groupId}\n${dedupId}` : dedupId;
}

function sameAttributeValue(name: string, a: string, b: string): boolean {
  if (a === b) return true;
  if (name === 'RedrivePolicy' || name === 'RedriveAllowPolicy' || name === 'Policy') {
    try {
      return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
    } catch {
      return false;
    }
  }
  return false;
}

/** The queue name in a queue URL (`http://host/<account>/<name>`, a path, or a bare name). */
export function queueNameFromUrl(url: string): string | undefined {
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

/** A settle batch's answer: the entries whose outcome is null succeeded, the others failed with that error. */
function batchResult(entries: unknown[], outcomes: Array<AwsError | null>): Record<string, unknown> {
  const Successful: Record<string, unknown>[] = [];
  const Failed: Record<string, unknown>[] = [];
  outcomes.forEach((o, i) => {
    const id = (entries[i] as Input).Id as string;
    if (o) Failed.push({ Id: id, SenderFault: o.fault === 'Sender', Code: o.queryCode, Message: o.message });
    else Successful.push({ Id: id });
  });
  return { Successful, Failed };
}

function checkBatch(p: Params, action: 'SendMessageBatch' | 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch'): unknown[] {
  const entries = p.optList('Entries');
  if (!entries || entries.length === 0) throw sqsError('EmptyBatchRequest', `There should be at least one ${action}RequestEntry in the request.`);
  if (entries.length > 10) throw sqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are 10. You have sent ${entries.length}.`);
  const ids = new Set<string>();
  for (const e of entries) {
    const ep = p.sub(e, 'Entries');
    const id = ep.str('Id');
    if (!BATCH_ID_RE.test(id)) throw sqsError('InvalidBatchEntryId', `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.`);
    if (ids.has(id)) throw sqsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    ids.add(id);
  }
  return entries;
}

function encodeToken(last: string): string {
  return Buffer.from(JSON.stringify({ after: last })).toString('base64');
}

function decodeToken(token: string, p: Params): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    /* fall through */
  }
  throw p.invalid('NextToken', 'Invalid NextToken value.', token);
}

function mapSendError(err: unknown): AwsError {
  if (err instanceof BrokerError) {
    if (err.code === 'limit') return sqsError('OverLimit', err.message);
    if (err.code === 'not-found') return noQueue();
    if (err.code === 'unauthorized') return sqsError('AccessDenied', err.message);
  }
  throw err;
}

interface PolicyDoc {
  Version: string;
  Id?: string;
  Statement: Array<Record<string, unknown> & { Sid?: string }>;
}

function parsePolicy(s: string | undefined, arn: string): PolicyDoc {
  if (s) {
    try {
      const v = JSON.parse(s) as PolicyDoc;
      if (Array.isArray(v.Statement)) return v;
      if (v.Statement && typeof v.Statement === 'object') return { ...v, Statement: [v.Statement as Record<string, unknown>] };
    } catch {
      /* replace */
    }
  }
  return { Version: '2012-10-17', Id: `${arn}/SQSDefaultPolicy`, Statement: [] };
}

export { formatAddress };

function samePolicy(a: Partial<DestinationPolicy> | undefined, b: Partial<DestinationPolicy>): boolean {
  if (!a) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof DestinationPolicy>;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}
