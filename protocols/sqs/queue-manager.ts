/**
 * SQS queue management: CreateQueue (idempotent for the same attributes), GetQueueUrl, ListQueues, DeleteQueue
 * (a name is blocked for a while after, as in AWS), PurgeQueue (at most one per interval), queue attributes,
 * tags, permissions and ListDeadLetterSourceQueues. A queue's redrive policy becomes its core policy override
 * (`applyPolicy`), so the engine dead-letters by SQS rules.
 */
import type { DestinationPolicy } from '../../src/core/api.js';
import { noQueue, sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
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
  settableDef,
  validateQueueName,
  type QueueMeta,
} from './queue-attributes.js';
import { metaKey, newMeta, queueNameFromArn, type RequestContext, type SqsQueues } from './queues.js';
import type { Receiver } from './receive.js';

const TAG_KEY_MAX = 128;
const TAG_VALUE_MAX = 256;

export class QueueManager {
  /** Queue name → when its last PurgeQueue started (ms). */
  private readonly lastPurge = new Map<string, number>();
  /** Queue name → when it was deleted (ms), for QueueDeletedRecently. */
  private readonly deletedAt = new Map<string, number>();
  private readonly purgeIntervalMs: number;
  private readonly deletedCooldownMs: number;

  constructor(
    private readonly q: SqsQueues,
    private readonly receiver: Receiver,
    opts: { purgeInterval?: number; deletedQueueCooldown?: number },
  ) {
    this.purgeIntervalMs = (opts.purgeInterval ?? 60) * 1000;
    this.deletedCooldownMs = (opts.deletedQueueCooldown ?? 60) * 1000;
  }

  /** At start: every SQS queue's core policy override as its attributes say. */
  async start(): Promise<void> {
    for (const [, meta] of this.q.engine.kvEntries<QueueMeta>('sqs:queue:')) {
      if (this.q.exists(meta.name)) await this.applyPolicy(meta.name);
    }
  }

  sweep(now: number): void {
    for (const [n, t] of this.deletedAt) if (now - t >= this.deletedCooldownMs) this.deletedAt.delete(n);
    for (const [n, t] of this.lastPurge) if (now - t >= this.purgeIntervalMs) this.lastPurge.delete(n);
  }

  readonly onDestinationDeleted = (e: { kind: string; name: string }) => {
    if (e.kind !== 'queue') return;
    const st = this.q.stateOf(e.name);
    if (st) {
      this.receiver.finishWaiters(st);
      this.q.forget(e.name);
    }
    this.lastPurge.delete(e.name);
    if (this.q.engine.kvGet(metaKey(e.name)) !== undefined) {
      this.deletedAt.set(e.name, Date.now());
      this.q.engine.kvDelete(metaKey(e.name)).catch((err) => this.q.logger.warn({ err }, 'sqs: meta delete failed'));
    }
  };

  readonly onDestinationCreated = (e: { kind: string; name: string }) => {
    if (e.kind === 'queue' && this.q.meta(e.name)) {
      queueMicrotask(() => this.applyPolicy(e.name).catch((err) => this.q.logger.warn({ err, queue: e.name }, 'sqs: policy not applied')));
    }
  };

  /**
   * Core policy for an SQS queue: SQS redrive semantics instead of the broker's redelivery policy, as the queue's
   * durable policy override (committed only when it changes).
   */
  async applyPolicy(name: string): Promise<void> {
    if (!this.q.exists(name)) return;
    const meta = this.q.meta(name);
    if (!meta) return;
    const redrive = parseRedrivePolicy(meta.attributes.RedrivePolicy);
    // a queue that is its own dead-letter queue (AWS accepts it): moving a message there is keeping it, so no move
    const target = redrive ? queueNameFromArn(redrive.deadLetterTargetArn) : undefined;
    const dlq = target === name ? undefined : target;
    const override: Partial<DestinationPolicy> = {
      maxRedeliveries: redrive && dlq ? redrive.maxReceiveCount - 1 : -1,
      deadLetterQueue: redrive && dlq ? dlq : '',
      initialRedeliveryDelay: 0,
      expiry: 'drop',
      ackTimeout: 0,
    };
    if (!samePolicy(this.q.engine.policyOverride('queue', name), override)) await this.q.engine.setPolicyOverride('queue', name, override);
    // A DLQ that has its own redrive policy must still dead-letter onwards.
    if (redrive && dlq && this.q.engine.queueInfo(dlq)?.deadLetterQueue && parseRedrivePolicy(this.q.meta(dlq)?.attributes.RedrivePolicy)) {
      await this.q.engine.setDeadLetterQueue(dlq, false);
    }
  }

  async createQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = p.str('QueueName');
    validateQueueName(name);
    const requested = p.optStrMap('Attributes') ?? {};
    const tags = p.optStrMap('tags') ?? p.optStrMap('Tags') ?? {};
    const nameFifo = name.endsWith('.fifo');
    if (requested.FifoQueue !== undefined) {
      const f = requested.FifoQueue.toLowerCase();
      if (f !== 'true' && f !== 'false') throw sqsError('InvalidAttributeValue', 'Invalid value for the parameter FifoQueue.');
      // AWS: a standard queue has no FifoQueue attribute at all, not even `false`
      if (f === 'false' && !nameFifo) throw sqsError('InvalidAttributeName', 'Unknown Attribute FifoQueue.');
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

    const existing = this.q.meta(name);
    if (existing && this.q.exists(name)) {
      for (const [k, v] of Object.entries(attributes)) {
        const cur = attr(existing, k) ?? '';
        if (!sameAttributeValue(k, cur, v)) {
          throw sqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute ${k}`);
        }
      }
      return { QueueUrl: this.q.queueUrl(ctx, name) };
    }
    const deleted = this.deletedAt.get(name);
    if (deleted !== undefined && !this.q.exists(name)) {
      if (Date.now() - deleted < this.deletedCooldownMs) {
        throw sqsError('QueueDeletedRecently', `You must wait ${Math.round(this.deletedCooldownMs / 1000)} seconds after deleting a queue before you can create another with the same name.`);
      }
      this.deletedAt.delete(name);
    }
    const now = Math.floor(Date.now() / 1000);
    const meta: QueueMeta = { name, created: now, modified: now, attributes, tags: { ...tags } };
    await this.q.engine.createQueue(name);
    await this.q.putMeta(meta);
    await this.applyPolicy(name);
    return { QueueUrl: this.q.queueUrl(ctx, name) };
  }

  private async checkCrossAttributes(name: string, attributes: Record<string, string>, fifo: boolean, existing?: QueueMeta): Promise<void> {
    if (attributes.KmsMasterKeyId && attributes.SqsManagedSseEnabled === 'true') {
      throw sqsError('InvalidAttributeName', 'You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.');
    }
    // AWS: turning KMS encryption on turns SQS-managed encryption off (and it stays off when the key is removed)
    if (attributes.KmsMasterKeyId && attributes.SqsManagedSseEnabled === undefined) attributes.SqsManagedSseEnabled = 'false';
    if (attributes.RedrivePolicy) {
      const rp = checkRedrivePolicyShape(attributes.RedrivePolicy);
      const dlq = queueNameFromArn(rp.deadLetterTargetArn);
      if (!dlq || !this.q.exists(dlq)) throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.`);
      if (this.q.isFifo(dlq) !== fifo) throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.`);
      const allow = parseRedriveAllowPolicy(this.q.meta(dlq)?.attributes.RedriveAllowPolicy);
      if (allow && (allow.redrivePermission === 'denyAll' || (allow.redrivePermission === 'byQueue' && !(allow.sourceQueueArns ?? []).includes(this.q.queueArn(name))))) {
        throw sqsError('InvalidParameterValue', `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: The dead-letter queue's RedriveAllowPolicy does not allow this queue as a source.`);
      }
      attributes.RedrivePolicy = JSON.stringify(rp);
    }
    if (attributes.RedriveAllowPolicy) attributes.RedriveAllowPolicy = JSON.stringify(checkRedriveAllowPolicyShape(attributes.RedriveAllowPolicy));
    if (fifo && (attributes.FifoThroughputLimit !== undefined || attributes.DeduplicationScope !== undefined)) {
      // AWS: a per-message-group throughput limit (high-throughput FIFO) needs deduplication per message group;
      // checked on the values in effect after this request (also when only one of the two changes)
      const current = existing ?? this.q.meta(name);
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

  async getQueueUrl(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = p.str('QueueName');
    p.optStr('QueueOwnerAWSAccountId');
    if (!name || name.length > 1024 || !this.q.exists(name)) throw noQueue();
    return { QueueUrl: this.q.queueUrl(ctx, name) };
  }

  private allQueueNames(): string[] {
    const names = new Set<string>();
    for (const [, m] of this.q.engine.kvEntries<QueueMeta>('sqs:queue:')) if (this.q.exists(m.name)) names.add(m.name);
    for (const d of this.q.engine.listDestinations()) if (d.kind === 'queue' && !d.temporary) names.add(d.name);
    return [...names].sort();
  }

  async listQueues(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
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
    if (page.length) out.QueueUrls = page.map((n) => this.q.queueUrl(ctx, n));
    if (max !== undefined && names.length > limit) out.NextToken = encodeToken(page[page.length - 1]);
    return out;
  }

  async deleteQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const st = this.q.stateOf(name);
    if (st) this.receiver.finishWaiters(st);
    this.deletedAt.set(name, Date.now());
    this.lastPurge.delete(name);
    await this.q.engine.deleteQueue(name);
    if (this.q.meta(name)) await this.q.engine.kvDelete(metaKey(name));
    const dedupKeys = this.q.engine.kvEntries(`sqs:dedup:${name}\n`).map(([k]) => k);
    await this.q.engine.kvCommit(dedupKeys.map((key) => ({ key })));
    this.q.forget(name);
    return {};
  }

  async purgeQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const now = Date.now();
    const last = this.lastPurge.get(name);
    if (last !== undefined && now - last < this.purgeIntervalMs) {
      throw sqsError('PurgeQueueInProgress', `Only one PurgeQueue operation on ${name} is allowed every ${Math.round(this.purgeIntervalMs / 1000)} seconds.`);
    }
    this.lastPurge.set(name, now);
    this.receiver.quiesce(name);
    // AWS purges the messages in flight too (they do not come back when their visibility ends) and forgets the
    // FIFO deduplication ids (a message sent again after the purge is accepted)
    await this.receiver.dropInflight(name);
    await this.q.engine.purgeQueue(name);
    await this.forgetDedup(name);
    return {};
  }

  private async forgetDedup(name: string): Promise<void> {
    const st = this.q.stateOf(name);
    if (!st) return;
    const deletes: Array<{ key: string }> = [];
    for (const [k, d] of st.dedup) {
      if (d.pending) continue; // a send committing right now is after the purge
      st.dedup.delete(k);
      deletes.push({ key: `sqs:dedup:${name}\n${k}` });
    }
    if (deletes.length) await this.q.engine.kvCommit(deletes);
  }

  private approximateCounts(name: string): { visible: number; notVisible: number; delayed: number } {
    const q = this.q.engine.queueInfo(name);
    if (!q) return { visible: 0, notVisible: 0, delayed: 0 };
    const held = this.q.stateOf(name)?.held.length ?? 0;
    return { visible: q.ready + held, notVisible: Math.max(0, q.inflight - held), delayed: q.scheduled };
  }

  async getQueueAttributes(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const names = p.optStrList('AttributeNames') ?? [];
    for (const n of names) if (n !== 'All' && !ALL_NAMES.has(n)) throw sqsError('InvalidAttributeName', `Unknown Attribute ${n}.`);
    if (names.length === 0) return {};
    const all = names.includes('All');
    const want = (n: string) => all || names.includes(n);
    const meta = this.q.meta(name);
    const fifo = isFifoMeta(meta) || (!meta && name.endsWith('.fifo'));
    const out: Record<string, string> = {};
    const counts = this.approximateCounts(name);
    const created = meta?.created ?? Math.floor(this.q.engine.queueInfo(name)!.createdAt / 1000);
    if (want('QueueArn')) out.QueueArn = this.q.queueArn(name);
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
    // AWS leaves the map out when none of the names has a value (a Policy asked for after the last RemovePermission)
    return Object.keys(out).length ? { Attributes: out } : {};
  }

  async setQueueAttributes(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const requested = p.optStrMap('Attributes');
    if (!requested) throw p.missing('Attributes');
    const meta = this.q.meta(name) ?? newMeta(name);
    const fifo = isFifoMeta(meta);
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) {
      if (k === 'FifoQueue') {
        // AWS: unknown on a standard queue; on a FIFO queue `true` is a no-op and `false` is refused
        if (!fifo) throw sqsError('InvalidAttributeName', 'Unknown Attribute FifoQueue.');
        if (v.toLowerCase() === 'true') continue;
        throw sqsError('InvalidAttributeValue', 'Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.');
      }
      if (settableDef(k)?.createOnly) throw sqsError('InvalidAttributeName', `Attribute ${k} can only be set when the queue is created.`);
      attributes[k] = normalizeAttribute(k, v, fifo);
    }
    await this.checkCrossAttributes(name, attributes, fifo, meta);
    const next: QueueMeta = { ...meta, attributes: { ...meta.attributes }, modified: Math.floor(Date.now() / 1000) };
    for (const [k, v] of Object.entries(attributes)) {
      if (v === '') delete next.attributes[k];
      else next.attributes[k] = v;
    }
    await this.q.putMeta(next);
    await this.applyPolicy(name);
    return {};
  }

  async tagQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const tags = p.optStrMap('Tags');
    if (!tags) throw p.missing('Tags');
    const meta = this.q.meta(name) ?? newMeta(name);
    this.checkTags(tags, meta.tags);
    await this.q.putMeta({ ...meta, tags: { ...meta.tags, ...tags } });
    await this.applyPolicy(name);
    return {};
  }

  async untagQueue(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const keys = p.optStrList('TagKeys');
    if (!keys) throw p.missing('TagKeys');
    const meta = this.q.meta(name) ?? newMeta(name);
    const tags = { ...meta.tags };
    for (const k of keys) delete tags[k];
    await this.q.putMeta({ ...meta, tags });
    return {};
  }

  async listQueueTags(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const tags = this.q.meta(name)?.tags ?? {};
    return Object.keys(tags).length ? { Tags: { ...tags } } : {};
  }

  async listDeadLetterSourceQueues(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const max = p.optInt('MaxResults', 1, 1000);
    const token = p.optStr('NextToken');
    let sources = this.q.engine
      .kvEntries<QueueMeta>('sqs:queue:')
      .map(([, m]) => m)
      .filter((m) => this.q.exists(m.name) && queueNameFromArn(parseRedrivePolicy(m.attributes.RedrivePolicy)?.deadLetterTargetArn ?? '') === name)
      .map((m) => m.name)
      .sort();
    if (token) {
      const after = decodeToken(token, p);
      sources = sources.filter((n) => n > after);
    }
    const limit = max ?? 1000;
    const page = sources.slice(0, limit);
    const out: Record<string, unknown> = { queueUrls: page.map((n) => this.q.queueUrl(ctx, n)) };
    if (max !== undefined && sources.length > limit) out.NextToken = encodeToken(page[page.length - 1]);
    return out;
  }

  async addPermission(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const label = p.str('Label');
    const accounts = p.optStrList('AWSAccountIds');
    const actions = p.optStrList('Actions');
    if (!accounts || accounts.length === 0) throw p.missing('AWSAccountIds');
    if (!actions || actions.length === 0) throw p.missing('Actions');
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(label)) throw p.invalid('Label', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.', label);
    const meta = this.q.meta(name) ?? newMeta(name);
    const policy = parsePolicy(meta.attributes.Policy, this.q.queueArn(name));
    if (policy.Statement.some((s) => s.Sid === label)) throw p.invalid('Label', `Already exists.`, label);
    // as AWS writes it: a single principal or action is a string, several a list
    const principals = accounts.map((a) => `arn:aws:iam::${a}:root`);
    const granted = actions.map((a) => `SQS:${a}`);
    policy.Statement.push({
      Sid: label,
      Effect: 'Allow',
      Principal: { AWS: principals.length === 1 ? principals[0] : principals },
      Action: granted.length === 1 ? granted[0] : granted,
      Resource: this.q.queueArn(name),
    });
    await this.q.putMeta({ ...meta, attributes: { ...meta.attributes, Policy: JSON.stringify(policy) }, modified: Math.floor(Date.now() / 1000) });
    return {};
  }

  async removePermission(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const label = p.str('Label');
    const meta = this.q.meta(name) ?? newMeta(name);
    const policy = parsePolicy(meta.attributes.Policy, this.q.queueArn(name));
    const before = policy.Statement.length;
    policy.Statement = policy.Statement.filter((s) => s.Sid !== label);
    if (policy.Statement.length === before) throw p.invalid('Label', "can't find label.", label);
    const attributes = { ...meta.attributes };
    if (policy.Statement.length) attributes.Policy = JSON.stringify(policy);
    else delete attributes.Policy;
    await this.q.putMeta({ ...meta, attributes, modified: Math.floor(Date.now() / 1000) });
    return {};
  }
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
  // the policy document AddPermission starts, as AWS writes it
  return { Version: '2008-10-17', Id: `${arn}/SQSDefaultPolicy`, Statement: [] };
}

function samePolicy(a: Partial<DestinationPolicy> | undefined, b: Partial<DestinationPolicy>): boolean {
  if (!a) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof DestinationPolicy>;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}
