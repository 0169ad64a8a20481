/**
 * SNS subscriptions: Subscribe (sqs, http/https, and broker-native `wharf` endpoints), confirmation of HTTP(S)
 * subscriptions by token, Unsubscribe, listing, and subscription attributes (filter policies, raw delivery,
 * delivery and redrive policies). A confirmed subscription is attached to the fan-out at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError, snsError } from '../aws/errors.js';
import { BrokerError, formatAddress, parseAddress, type Address } from '../../src/core/api.js';
import type { Params } from '../aws/params.js';
import { parseDeliveryPolicy, subscriptionDeliveryPolicyDoc } from './delivery-policy.js';
import type { FanOut } from './fan-out.js';
import { FilterPolicyError, parseFilterPolicy, type FilterScope } from './filter-policy.js';
import type { HttpDelivery } from './http-delivery.js';
import { invalid, paginate, stringMap, type SnsContext, type SnsResources, type SubMeta } from './resources.js';

const PROTOCOLS = new Set(['sqs', 'http', 'https', 'wharf']);
const UNSUPPORTED_PROTOCOLS = new Set(['email', 'email-json', 'sms', 'application', 'lambda', 'firehose']);
const TOKEN_TTL_MS = 3 * 24 * 3600 * 1000;
const SETTABLE_SUB = new Set(['DeliveryPolicy', 'FilterPolicy', 'FilterPolicyScope', 'RawMessageDelivery', 'RedrivePolicy', 'SubscriptionRoleArn', 'ReplayPolicy']);

/** Subscription attributes' values when not set. */
const SUB_DEFAULTS: Record<string, string> = { RawMessageDelivery: 'false', FilterPolicyScope: 'MessageAttributes' };

export class Subscriptions {
  constructor(
    private readonly r: SnsResources,
    private readonly fanOut: FanOut,
    private readonly http: HttpDelivery,
  ) {}

  private checkSubAttribute(sub: Pick<SubMeta, 'protocol' | 'topic' | 'endpoint'>, k: string, v: string, all: Record<string, string>): string {
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
        } catch (err) {
          throw invalid(`RedrivePolicy: failed to parse JSON. ${(err as Error).message}`);
        }
        const arn = o?.deadLetterTargetArn;
        if (typeof arn !== 'string') throw invalid('RedrivePolicy: deadLetterTargetArn is missing');
        const q = this.r.opts.sqs.nameFromArn(arn);
        if (!q || !this.r.opts.sqs.exists(q)) throw invalid('RedrivePolicy: deadLetterTargetArn is an invalid arn');
        // AWS: a FIFO subscription (a FIFO queue on a FIFO topic) needs a FIFO DLQ; a standard queue on a FIFO topic a standard one
        const endpointQueue = sub.protocol === 'sqs' ? this.r.opts.sqs.nameFromArn(sub.endpoint) : undefined;
        const fifoSub = this.r.isFifoTopic(sub.topic) && (endpointQueue === undefined || this.r.opts.sqs.isFifo(endpointQueue));
        if (fifoSub && !this.r.opts.sqs.isFifo(q)) throw invalid('RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.');
        if (!fifoSub && this.r.opts.sqs.isFifo(q)) throw invalid('RedrivePolicy: must use a queue of the same type (FIFO or standard) as the subscription');
        return v;
      }
      case 'DeliveryPolicy':
        if (v === '') return v;
        parseDeliveryPolicy(v, false);
        return v;
      default:
        return v;
    }
  }

  private checkFilter(text: string, scope: string): void {
    try {
      parseFilterPolicy(text, scope as FilterScope);
    } catch (err) {
      if (err instanceof FilterPolicyError) throw invalid(err.unprefixed ? err.message : `FilterPolicy: ${err.message}`);
      throw err;
    }
  }

  async subscribe(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const protocol = p.str('Protocol').toLowerCase();
    if (UNSUPPORTED_PROTOCOLS.has(protocol)) throw invalid(`Protocol Reason: the ${protocol} protocol is not supported by this broker (supported: sqs, http, https, wharf)`);
    if (!PROTOCOLS.has(protocol)) throw invalid(`Amazon SNS does not support this protocol string: ${protocol}`);
    const endpoint = p.optStr('Endpoint');
    if (!endpoint) throw invalid('Endpoint');
    this.checkEndpoint(protocol, endpoint, name);
    this.checkTargetWrite(protocol, endpoint, ctx);
    const requested = stringMap(p, 'Attributes');
    const returnArn = p.optBool('ReturnSubscriptionArn') ?? false;
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(requested)) attributes[k] = subscribeAttribute(() => this.checkSubAttribute({ protocol, topic: name, endpoint }, k, v, requested));
    const existing = this.r.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).find((s) => s.topic === name && s.protocol === protocol && s.endpoint === endpoint);
    if (existing) {
      // compared with the values in effect: asking for a default (FilterPolicyScope MessageAttributes) is no difference
      for (const [k, v] of Object.entries(attributes)) {
        if ((existing.attributes[k] ?? SUB_DEFAULTS[k] ?? '') !== (v === '' ? (SUB_DEFAULTS[k] ?? '') : v)) throw invalid('Attributes Reason: Subscription already exists with different attributes');
      }
      if (!existing.confirmed && (protocol === 'http' || protocol === 'https')) this.http.sendConfirmation(existing, ctx.baseUrl);
      return { SubscriptionArn: existing.confirmed || returnArn ? this.r.subArn(existing) : 'pending confirmation' };
    }
    const needsConfirm = protocol === 'http' || protocol === 'https';
    const sub: SubMeta = {
      id: randomUUID(),
      topic: name,
      protocol,
      endpoint,
      owner: this.r.accountId,
      confirmed: !needsConfirm,
      attributes,
      created: Date.now(),
      ...(needsConfirm ? { token: randomBytes(64).toString('hex'), tokenExpires: Date.now() + TOKEN_TTL_MS } : {}),
    };
    await this.r.engine.kvPut(`sns:sub:${sub.id}`, sub);
    if (sub.confirmed) await this.fanOut.attach(sub);
    else this.http.sendConfirmation(sub, ctx.baseUrl);
    return { SubscriptionArn: sub.confirmed || returnArn ? this.r.subArn(sub) : 'pending confirmation' };
  }

  /**
   * Recreate an exported subscription (definitions import) with its id, so its ARN stays the same, through the
   * same checks as Subscribe. A confirmed one is attached to the fan-out at once; an HTTP(S) one that was still
   * pending gets a new token and a new confirmation request. Returns false when it already exists.
   */
  async restore(def: { id: string; topic: string; protocol: string; endpoint: string; confirmed: boolean; attributes: Record<string, string>; authOnUnsubscribe?: boolean }): Promise<boolean> {
    if (!this.r.topicMeta(def.topic)) throw snsError('NotFound', `Topic ${def.topic} does not exist`);
    const protocol = def.protocol.toLowerCase();
    if (UNSUPPORTED_PROTOCOLS.has(protocol)) throw invalid(`Protocol Reason: the ${protocol} protocol is not supported by this broker (supported: sqs, http, https, wharf)`);
    if (!PROTOCOLS.has(protocol)) throw invalid(`Amazon SNS does not support this protocol string: ${protocol}`);
    this.checkEndpoint(protocol, def.endpoint, def.topic);
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(def.attributes)) attributes[k] = this.checkSubAttribute({ protocol, topic: def.topic, endpoint: def.endpoint }, k, v, def.attributes);
    const same = this.r.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).find((s) => s.id === def.id || (s.topic === def.topic && s.protocol === protocol && s.endpoint === def.endpoint));
    if (same) return false;
    const needsConfirm = (protocol === 'http' || protocol === 'https') && !def.confirmed;
    const sub: SubMeta = {
      id: /^[0-9a-f-]{36}$/.test(def.id) ? def.id : randomUUID(),
      topic: def.topic,
      protocol,
      endpoint: def.endpoint,
      owner: this.r.accountId,
      confirmed: !needsConfirm,
      attributes,
      created: Date.now(),
      ...(def.authOnUnsubscribe ? { authOnUnsubscribe: true } : {}),
      ...(needsConfirm ? { token: randomBytes(64).toString('hex'), tokenExpires: Date.now() + TOKEN_TTL_MS } : {}),
    };
    await this.r.engine.kvPut(`sns:sub:${sub.id}`, sub);
    if (sub.confirmed) await this.fanOut.attach(sub);
    else this.http.sendConfirmation(sub, this.r.opts.baseUrl());
    return true;
  }

  /**
   * An sqs or wharf endpoint makes the broker send the topic's messages into that queue/topic for the subscriber:
   * the caller must be allowed to write there itself (else Subscribe would be a way around the target's ACL).
   * SNS's own 403 error code is AuthorizationError.
   */
  private checkTargetWrite(protocol: string, endpoint: string, ctx: SnsContext): void {
    if (protocol !== 'sqs' && protocol !== 'wharf') return;
    const target: Address = protocol === 'sqs' ? { kind: 'queue', name: this.r.opts.sqs.nameFromArn(endpoint)! } : parseAddress(endpoint);
    try {
      this.r.engine.authorize(ctx.user, 'send', target);
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'unauthorized') throw snsError('AuthorizationError', `User '${ctx.user?.username ?? 'anonymous'}' is not authorized to perform: SNS:Subscribe with endpoint ${endpoint.slice(0, 300)}: sending to ${formatAddress(target)} is not allowed`);
      throw err;
    }
  }

  private checkEndpoint(protocol: string, endpoint: string, topicName: string): void {
    if (protocol === 'sqs') {
      const q = this.r.opts.sqs.nameFromArn(endpoint);
      if (!q) throw invalid('SQS endpoint ARN');
      // Like AWS, a queue that does not exist (yet) is accepted: deliveries go through once it is created (until
      // then they fail and follow the subscription's redrive policy). Templates often subscribe before creating.
      const fifo = this.r.opts.sqs.exists(q) ? this.r.opts.sqs.isFifo(q) : q.endsWith('.fifo');
      // AWS: a FIFO topic delivers to standard queues too (since 2023-09), a standard topic never to a FIFO queue
      if (!this.r.isFifoTopic(topicName) && fifo) throw invalid('Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics');
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

  async confirmSubscription(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const token = p.str('Token');
    let name: string;
    try {
      name = this.r.topicFromArn(p.str('TopicArn'));
    } catch (err) {
      // AWS: a token for a topic that does not exist is an invalid token, not a missing topic
      if (err instanceof AwsError && err.code === 'NotFound') throw invalid('Token');
      throw err;
    }
    // AWS tells a string that cannot be a token (its tokens are long hex strings) from an unknown token
    if (!/^[0-9a-f]{64,}$/i.test(token)) throw snsError('InvalidParameter', 'Invalid token');
    const auth = p.optStr('AuthenticateOnUnsubscribe');
    const sub = this.r.engine.kvEntries<SubMeta>('sns:sub:').map(([, s]) => s).find((s) => s.topic === name && s.token === token);
    if (!sub) throw invalid('Token');
    if (!sub.confirmed) {
      if ((sub.tokenExpires ?? 0) < Date.now()) throw invalid('Token Reason: the token has expired');
      const next: SubMeta = { ...sub, confirmed: true, authOnUnsubscribe: auth === 'true' && ctx.verified };
      await this.r.engine.kvPut(`sns:sub:${sub.id}`, next);
      await this.fanOut.attach(next);
    }
    return { SubscriptionArn: this.r.subArn(sub) };
  }

  async unsubscribe(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    // AWS: Unsubscribe is idempotent — a subscription that is gone (or never was) answers success
    const sub = this.r.findSub(p.str('SubscriptionArn'));
    if (!sub) return {};
    if (sub.authOnUnsubscribe && !ctx.verified) throw snsError('AuthorizationError', 'This subscription can only be removed with an authenticated request.');
    await this.removeSub(sub);
    return {};
  }

  async removeSub(sub: SubMeta): Promise<void> {
    this.fanOut.detach(sub.id);
    await this.r.engine.unsubscribeDurable('sns', sub.id).catch(() => false);
    await this.r.engine.kvDelete(`sns:sub:${sub.id}`);
  }

  async listSubscriptions(p: Params, topicName: string | undefined): Promise<Record<string, unknown>> {
    const subs = this.r.engine
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
        return { SubscriptionArn: s.confirmed ? this.r.subArn(s) : 'PendingConfirmation', Owner: s.owner, Protocol: s.protocol, Endpoint: s.endpoint, TopicArn: this.r.topicArn(s.topic) };
      }),
      ...(next ? { NextToken: next } : {}),
    };
  }

  async getSubscriptionAttributes(p: Params): Promise<Record<string, unknown>> {
    const sub = this.r.subFromArn(p.str('SubscriptionArn'));
    const a: Record<string, string> = {
      SubscriptionArn: this.r.subArn(sub),
      TopicArn: this.r.topicArn(sub.topic),
      Owner: sub.owner,
      Protocol: sub.protocol,
      Endpoint: sub.endpoint,
      ConfirmationWasAuthenticated: String(sub.protocol === 'sqs' || sub.protocol === 'wharf' || !!sub.authOnUnsubscribe),
      PendingConfirmation: String(!sub.confirmed),
      RawMessageDelivery: sub.attributes.RawMessageDelivery ?? 'false',
      SubscriptionPrincipal: `arn:aws:iam::${this.r.accountId}:root`,
    };
    for (const [k, v] of Object.entries(sub.attributes)) if (v !== '') a[k] = v;
    // AWS shows the scope only with a filter policy
    if (!sub.attributes.FilterPolicy) delete a.FilterPolicyScope;
    if (sub.protocol === 'http' || sub.protocol === 'https') a.EffectiveDeliveryPolicy = JSON.stringify(subscriptionDeliveryPolicyDoc(this.r.topicMeta(sub.topic)?.attributes.DeliveryPolicy, sub.attributes.DeliveryPolicy));
    if (sub.attributes.FilterPolicy && !a.FilterPolicyScope) a.FilterPolicyScope = 'MessageAttributes';
    return { Attributes: a };
  }

  async setSubscriptionAttributes(p: Params): Promise<Record<string, unknown>> {
    const sub = this.r.subFromArn(p.str('SubscriptionArn'));
    const k = p.str('AttributeName');
    const v = p.optStr('AttributeValue') ?? '';
    if (!SETTABLE_SUB.has(k)) throw invalid('AttributeName'); // AWS's words for SetSubscriptionAttributes
    const value = this.checkSubAttribute(sub, k, v, { ...sub.attributes, [k]: v });
    const attributes = { ...sub.attributes };
    if (value === '') delete attributes[k];
    else attributes[k] = value;
    await this.r.engine.kvPut(`sns:sub:${sub.id}`, { ...sub, attributes });
    this.fanOut.filterChanged(sub.id);
    return {};
  }
}

/** Subscribe words a bad attribute as about its Attributes parameter (SetSubscriptionAttributes does not). */
function subscribeAttribute(check: () => string): string {
  try {
    return check();
  } catch (err) {
    const prefix = 'Invalid parameter: ';
    if (err instanceof AwsError && err.code === 'InvalidParameter' && err.message.startsWith(prefix) && !err.message.startsWith(`${prefix}Attributes Reason:`)) {
      throw snsError('InvalidParameter', `${prefix}Attributes Reason: ${err.message.slice(prefix.length)}`);
    }
    throw err;
  }
}
