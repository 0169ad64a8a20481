/**
 * SNS fan-out: each confirmed subscription is a core durable subscription (`durable:sns:<id>`) on its topic with
 * one consumer here that filters (the subscription's filter policy), formats (signed JSON envelope or raw) and
 * forwards: `sqs` into a broker queue, `http`/`https` by POST (HttpDelivery), `wharf` to any core address.
 */
import { type Address, type ConsumerHandle, copyMessage, createMessage, type Delivery, type Message, parseAddress, topic as topicAddress } from '../../src/core/api.js';
import { bodyText, messageAttributesOf } from '../aws/message-attributes.js';
import { deadLetter } from './dead-letter.js';
import { matchesFilter, parseFilterPolicy, type FilterScope } from './filter-policy.js';
import type { HttpDelivery } from './http-delivery.js';
import { CERT_PATH, nonEmpty, type SnsResources, type SubMeta } from './resources.js';
import { stringToSign } from './signing.js';

/** Topic-to-topic (wharf) forwarding stops after this many hops, so a subscription loop cannot spin. */
const MAX_HOPS = 8;

export class FanOut {
  private readonly consumers = new Map<string, ConsumerHandle>();
  private readonly filters = new Map<string, { policy: Record<string, unknown>; scope: FilterScope } | null>();

  constructor(
    private readonly r: SnsResources,
    private readonly http: HttpDelivery,
  ) {}

  /** Stop delivering to a subscription (it is being removed). */
  detach(subId: string): void {
    const c = this.consumers.get(subId);
    if (c) {
      c.close();
      this.consumers.delete(subId);
    }
    this.filters.delete(subId);
  }

  /** The subscription's filter policy changed: parse it again at the next delivery. */
  filterChanged(subId: string): void {
    this.filters.delete(subId);
  }

  close(): void {
    for (const c of this.consumers.values()) c.close();
    this.consumers.clear();
  }

  /** Start (or resume) the core durable subscription behind a confirmed SNS subscription. */
  async attach(sub: SubMeta): Promise<void> {
    if (this.consumers.has(sub.id) || this.r.closed) return;
    const http = sub.protocol === 'http' || sub.protocol === 'https';
    const consumer = await this.r.engine.subscribe({
      address: topicAddress(sub.topic),
      connection: this.r.connection ?? null,
      durable: { name: sub.id, clientId: 'sns' },
      prefetch: http ? 10 : this.r.isFifoTopic(sub.topic) ? 1 : 64,
      onMessage: (d) => {
        this.deliver(sub.id, d).catch((err) => this.r.logger.error({ err, sub: sub.id }, 'sns: delivery failed'));
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
      // AWS takes a protocol's entry only when it is a string; otherwise `default`
      const own = o[protocol];
      const v = typeof own === 'string' ? own : o.default;
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
      TopicArn: this.r.topicArn(sub.topic),
      ...(ann['sns.subject'] !== undefined ? { Subject: ann['sns.subject'] } : {}),
      Message: text,
      Timestamp: new Date(m.timestamp).toISOString(),
    };
    // AWS signs no notification of a FIFO topic (they reach SQS queues only)
    if (!this.r.isFifoTopic(sub.topic)) {
      const version = (this.r.topicMeta(sub.topic)?.attributes.SignatureVersion as '1' | '2' | undefined) ?? '1';
      env.SignatureVersion = version;
      env.Signature = this.r.signer().sign(stringToSign(env), version);
      env.SigningCertURL = `${baseUrl}${CERT_PATH}`;
    }
    env.UnsubscribeURL = `${baseUrl}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(this.r.subArn(sub))}`;
    if (Object.keys(attrs).length) {
      const ma: Record<string, { Type: string; Value: string }> = Object.create(null); // `__proto__` is a name AWS allows
      for (const [k, a] of Object.entries(attrs)) ma[k] = { Type: a.DataType, Value: a.BinaryValue !== undefined ? Buffer.from(a.BinaryValue).toString('base64') : a.StringValue ?? '' };
      env.MessageAttributes = ma;
    }
    return env;
  }

  private async deliver(subId: string, d: Delivery): Promise<void> {
    const consumer = this.consumers.get(subId);
    const sub = this.r.subMeta(subId);
    if (!consumer || !sub) return;
    const m = d.message;
    const filter = this.filterOf(sub);
    if (filter && !matchesFilter(filter.policy, filter.scope, messageAttributesOf(m), bodyText(m))) {
      await consumer.ack(d.id).catch(() => undefined);
      return;
    }
    const raw = sub.attributes.RawMessageDelivery === 'true' || (sub.protocol === 'wharf' && sub.attributes.RawMessageDelivery !== 'false');
    const text = this.messageFor(m, sub.protocol);
    const baseUrl = this.r.opts.baseUrl();
    const payload = raw ? text : JSON.stringify(this.envelope(sub, m, text, baseUrl));
    const ann = m.annotations ?? {};
    const groupId = (ann['sns.group'] as string | undefined) ?? m.groupId;
    const dedupId = ann['sns.dedup'] as string | undefined;
    try {
      if (sub.protocol === 'sqs') {
        const q = this.r.opts.sqs.nameFromArn(sub.endpoint)!;
        if (!this.r.opts.sqs.exists(q)) {
          await deadLetter(this.r, sub, payload, raw ? messageAttributesOf(m) : undefined, groupId, dedupId, `queue ${q} does not exist`);
        } else {
          await this.r.opts.sqs.deliver(q, {
            body: payload,
            attributes: raw ? nonEmpty(messageAttributesOf(m)) : undefined,
            // AWS: a FIFO topic's group reaches FIFO queues only; a standard topic's (fair queues) reaches any queue
            groupId: this.r.opts.sqs.isFifo(q) || !this.r.isFifoTopic(sub.topic) ? groupId : undefined,
            dedupId: dedupId ?? (this.r.opts.sqs.isFifo(q) ? m.messageId : undefined),
            senderId: this.r.accountId,
            traceHeader: ann['sns.trace'] as string | undefined,
            annotations: { 'sns.topicArn': this.r.topicArn(sub.topic), 'sns.messageId': m.messageId },
          });
        }
        await consumer.ack(d.id);
      } else if (sub.protocol === 'wharf') {
        const target: Address = parseAddress(sub.endpoint);
        const hops = Number(ann['sns.hops'] ?? 0);
        if (hops >= MAX_HOPS) {
          this.r.logger.warn({ sub: this.r.subArn(sub), hops }, 'sns: message dropped: it went through too many topic-to-topic subscriptions (a loop?)');
          await consumer.ack(d.id);
          return;
        }
        const out = raw
          ? copyMessage(m, { destination: undefined, messageId: m.messageId })
          : createMessage({ body: Buffer.from(payload, 'utf8'), bodyType: 'text', contentType: 'application/json', properties: {}, annotations: { 'sns.topicArn': this.r.topicArn(sub.topic) } });
        out.destination = undefined;
        out.annotations = { ...(out.annotations ?? {}), 'sns.hops': hops + 1 };
        await this.r.engine.send(out, target, { connection: this.r.connection ?? null });
        await consumer.ack(d.id);
      } else {
        await this.http.deliverHttp(sub, m, payload, raw, d, consumer);
      }
    } catch (err) {
      if (consumer.closed) return;
      // transient failure (queue full, shutting down): let the core redeliver it a little later
      this.r.logger.warn({ err: (err as Error).message, sub: sub.id }, 'sns: delivery failed, will retry');
      try {
        consumer.nack(d.id, { countFailure: false, delay: 1000 });
      } catch {
        /* already settled */
      }
    }
  }
}
