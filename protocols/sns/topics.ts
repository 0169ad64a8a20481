/** SNS topics: create (idempotent for the same attributes and tags), delete, list, attributes and tags. */
import type { Params } from '../aws/params.js';
import { snsError } from '../aws/errors.js';
import { effectiveDeliveryPolicyDoc, parseDeliveryPolicy } from './delivery-policy.js';
import { invalid, paginate, stringMap, tagList, type SnsContext, type SnsResources, type SubMeta, type TopicMeta } from './resources.js';
import type { Subscriptions } from './subscriptions.js';

const TOPIC_NAME_RE = /^[A-Za-z0-9_-]{1,256}$/;
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

/** The topic actions an AddPermission statement may name (AWS SNS). */
const TOPIC_ACTIONS = new Set([
  'GetTopicAttributes',
  'SetTopicAttributes',
  'AddPermission',
  'RemovePermission',
  'DeleteTopic',
  'Subscribe',
  'ListSubscriptionsByTopic',
  'Publish',
  'Receive',
]);

type PolicyStatement = Record<string, unknown>;
type PolicyDoc = { Statement?: PolicyStatement[] };

/** A policy document's statements (none if it has no Statement list). */
function statementsOf(policy: PolicyDoc): PolicyStatement[] {
  return Array.isArray(policy.Statement) ? policy.Statement : [];
}

export class Topics {
  constructor(
    private readonly r: SnsResources,
    private readonly subs: Subscriptions,
  ) {}

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
          Resource: this.r.topicArn(name),
          Condition: { StringEquals: { 'AWS:SourceOwner': this.r.accountId } },
        },
      ],
    });
  }

  private checkTopicAttribute(k: string, v: string, fifo: boolean, create: boolean): string {
    if (k === 'FifoTopic') {
      if (!create) throw invalid('AttributeName');
      if (!/^(true|false)$/i.test(v)) throw invalid('Attributes Reason: FifoTopic must be true or false');
      return v.toLowerCase();
    }
    if (!SETTABLE_TOPIC.has(k)) throw invalid(create ? `AttributeName Reason: Unknown attribute ${k}` : 'AttributeName');
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
        if (k === 'DeliveryPolicy') parseDeliveryPolicy(v, true);
        return v;
      default:
        return v;
    }
  }

  async createTopic(p: Params, _ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = p.str('Name');
    const fifoName = name.endsWith('.fifo');
    const base = fifoName ? name.slice(0, -5) : name;
    if (!TOPIC_NAME_RE.test(base) || name.length > 256) {
      throw invalid('Topic Name'); // AWS gives no reason
    }
    const requested = stringMap(p, 'Attributes');
    const fifoAttr = requested.FifoTopic?.toLowerCase() === 'true';
    if (fifoAttr !== fifoName) throw invalid('Topic Name');
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) attributes[k] = this.checkTopicAttribute(k, v, fifoName, true);
    // FifoTopic=false is what a standard topic is: nothing to keep or to compare
    if (attributes.FifoTopic?.toLowerCase() === 'false') delete attributes.FifoTopic;
    const tags = tagList(p, 'Tags');
    const existing = this.r.topicMeta(name);
    if (existing) {
      for (const [k, v] of Object.entries(attributes)) {
        if ((existing.attributes[k] ?? '') !== v) throw invalid('Attributes Reason: Topic already exists with different attributes');
      }
      for (const [k, v] of Object.entries(tags)) {
        // AWS: the same tags or some of them is the same topic; a tag it does not have is a different one
        if (existing.tags[k] !== v) throw invalid('Tags Reason: Topic already exists with different tags');
      }
      return { TopicArn: this.r.topicArn(name) };
    }
    checkTags(tags);
    await this.r.engine.kvPut(`sns:topic:${name}`, { name, created: Date.now(), attributes, tags } satisfies TopicMeta);
    return { TopicArn: this.r.topicArn(name) };
  }

  async deleteTopic(p: Params): Promise<Record<string, unknown>> {
    const arn = p.str('TopicArn');
    const m = /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+)$/.exec(arn);
    if (!m) throw invalid('TopicArn');
    const name = m[1];
    if (!this.r.topicMeta(name)) return {}; // idempotent, as in AWS
    for (const [, sub] of this.r.engine.kvEntries<SubMeta>('sns:sub:')) if (sub.topic === name) await this.subs.removeSub(sub);
    await this.r.engine.kvDelete(`sns:topic:${name}`);
    return {};
  }

  async listTopics(p: Params): Promise<Record<string, unknown>> {
    const names = this.r.engine
      .kvEntries<TopicMeta>('sns:topic:')
      .map(([, t]) => t.name)
      .sort();
    const { page, next } = paginate(names, p.optStr('NextToken'), 100, p);
    return { Topics: page.map((n) => ({ TopicArn: this.r.topicArn(n) })), ...(next ? { NextToken: next } : {}) };
  }

  async getTopicAttributes(p: Params): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const meta = this.r.topicMeta(name)!;
    const subs = this.r.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).filter((s) => s.topic === name);
    const fifo = meta.attributes.FifoTopic === 'true';
    const a: Record<string, string> = {
      TopicArn: this.r.topicArn(name),
      Owner: this.r.accountId,
      Policy: meta.attributes.Policy || this.defaultPolicy(name),
      DisplayName: meta.attributes.DisplayName ?? '',
      SubscriptionsConfirmed: String(subs.filter((s) => s.confirmed).length),
      SubscriptionsPending: String(subs.filter((s) => !s.confirmed).length),
      SubscriptionsDeleted: '0',
      EffectiveDeliveryPolicy: JSON.stringify(effectiveDeliveryPolicyDoc(meta.attributes.DeliveryPolicy)),
    };
    // AWS shows FifoTopic on FIFO topics only (a standard topic created with FifoTopic=false has none)
    for (const [k, v] of Object.entries(meta.attributes)) if (k !== 'Policy' && k !== 'FifoTopic' && v !== '') a[k] = v;
    if (fifo) {
      a.FifoTopic = 'true';
      a.ContentBasedDeduplication = meta.attributes.ContentBasedDeduplication ?? 'false';
    }
    return { Attributes: a };
  }

  async setTopicAttributes(p: Params): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const k = p.str('AttributeName');
    const v = p.optStr('AttributeValue') ?? '';
    const meta = this.r.topicMeta(name)!;
    const value = this.checkTopicAttribute(k, v, meta.attributes.FifoTopic === 'true', false);
    const attributes = { ...meta.attributes };
    if (value === '') delete attributes[k];
    else attributes[k] = value;
    await this.r.engine.kvPut(`sns:topic:${name}`, { ...meta, attributes });
    return {};
  }

  // ============================================================== permissions (statements in the topic's Policy, as AWS keeps them)

  /** AddPermission: a statement `Label` letting the accounts do the actions (stored in Policy; security.acl decides). */
  async addPermission(p: Params): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const label = p.str('Label');
    const accounts = p.optStrList('AWSAccountId') ?? [];
    const actions = p.optStrList('ActionName') ?? [];
    if (accounts.length === 0) throw p.missing('AWSAccountId');
    if (actions.length === 0) throw p.missing('ActionName');
    if (!actions.every((a) => TOPIC_ACTIONS.has(a))) throw invalid('Policy statement action out of service scope!');
    const meta = this.r.topicMeta(name)!;
    const policy = JSON.parse(meta.attributes.Policy || this.defaultPolicy(name)) as PolicyDoc;
    const statements = statementsOf(policy);
    if (statements.some((st) => st.Sid === label)) throw invalid('Statement already exists');
    const principals = accounts.map((a) => (/^\d{12}$/.test(a) ? `arn:aws:iam::${a}:root` : a));
    const named = actions.map((a) => `SNS:${a}`);
    statements.push({
      Sid: label,
      Effect: 'Allow',
      Principal: { AWS: principals.length === 1 ? principals[0] : principals },
      Action: named.length === 1 ? named[0] : named,
      Resource: this.r.topicArn(name),
    });
    await this.putStatements(name, meta, policy, statements);
    return {};
  }

  /** RemovePermission: drop the statement `Label` (none by that label: nothing to do). */
  async removePermission(p: Params): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const label = p.str('Label');
    const meta = this.r.topicMeta(name)!;
    if (!meta.attributes.Policy) return {};
    const policy = JSON.parse(meta.attributes.Policy) as PolicyDoc;
    const statements = statementsOf(policy);
    const rest = statements.filter((st) => st.Sid !== label);
    if (rest.length === statements.length) return {};
    await this.putStatements(name, meta, policy, rest);
    return {};
  }

  /** Store the topic's Policy with `statements` as its Statement list. */
  private async putStatements(name: string, meta: TopicMeta, policy: PolicyDoc, statements: PolicyStatement[]): Promise<void> {
    await this.r.engine.kvPut(`sns:topic:${name}`, { ...meta, attributes: { ...meta.attributes, Policy: JSON.stringify({ ...policy, Statement: statements }) } });
  }

  // ============================================================== tags

  private resourceTopic(p: Params): string {
    return this.r.topicFromArn(p.str('ResourceArn'));
  }

  async tagResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const tags = tagList(p, 'Tags');
    if (Object.keys(tags).length === 0) throw invalid('Tags');
    const meta = this.r.topicMeta(name)!;
    const merged = { ...meta.tags, ...tags };
    checkTags(merged);
    await this.r.engine.kvPut(`sns:topic:${name}`, { ...meta, tags: merged });
    return {};
  }

  async untagResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const keys = p.optStrList('TagKeys');
    if (!keys) throw invalid('TagKeys');
    const meta = this.r.topicMeta(name)!;
    const tags = { ...meta.tags };
    for (const k of keys) delete tags[k];
    await this.r.engine.kvPut(`sns:topic:${name}`, { ...meta, tags });
    return {};
  }

  async listTagsForResource(p: Params): Promise<Record<string, unknown>> {
    const name = this.resourceTopic(p);
    const tags = this.r.topicMeta(name)!.tags;
    return { Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
  }
}

function checkTags(tags: Record<string, string>): void {
  if (Object.keys(tags).length > 50) throw snsError('TagLimitExceeded', 'Could not complete request: tag quota of per resource exceeded');
  for (const [k, v] of Object.entries(tags)) {
    if (k.length < 1 || k.length > 128) throw invalid(`Tags Reason: tag key ${k.slice(0, 140)} must be 1 to 128 characters`);
    if (v.length > 256) throw invalid(`Tags Reason: tag value of ${k} must be at most 256 characters`);
  }
}
