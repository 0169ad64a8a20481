/**
 * HTTP(S) endpoints of SNS subscriptions: notifications POSTed with the delivery policy's retries (then the
 * subscription's redrive DLQ), and the signed SubscriptionConfirmation message a new subscription is sent.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { ConsumerHandle, Delivery, Message } from '../../src/core/api.js';
import { messageAttributesOf } from '../aws/message-attributes.js';
import { deadLetter } from './dead-letter.js';
import { DEFAULT_HTTP_POLICY, notificationContentType, parseDeliveryPolicy, retryDelay, type RetryPolicy } from './delivery-policy.js';
import { CERT_PATH, type SnsResources, type SubMeta } from './resources.js';
import { stringToSign } from './signing.js';

export class HttpDelivery {
  constructor(private readonly r: SnsResources) {}

  private retryPolicy(sub: SubMeta): RetryPolicy {
    if (sub.attributes.DeliveryPolicy) return parseDeliveryPolicy(sub.attributes.DeliveryPolicy, false);
    const t = this.r.topicMeta(sub.topic)?.attributes.DeliveryPolicy;
    if (t) return parseDeliveryPolicy(t, true);
    return DEFAULT_HTTP_POLICY;
  }

  post(url: string, body: string, headers: Record<string, string>): Promise<number> {
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
          timeout: this.r.opts.httpTimeout ?? 15_000,
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

  async deliverHttp(sub: SubMeta, m: Message, payload: string, raw: boolean, d: Delivery, consumer: ConsumerHandle): Promise<void> {
    const pol = this.retryPolicy(sub);
    const headers: Record<string, string> = {
      'content-type': notificationContentType(this.r.topicMeta(sub.topic)?.attributes.DeliveryPolicy, sub.attributes.DeliveryPolicy),
      'x-amz-sns-message-type': 'Notification',
      'x-amz-sns-message-id': m.messageId,
      'x-amz-sns-topic-arn': this.r.topicArn(sub.topic),
      'x-amz-sns-subscription-arn': this.r.subArn(sub),
      ...(raw ? { 'x-amz-sns-rawdelivery': 'true' } : {}),
    };
    let lastError = '';
    for (let attempt = 0; attempt <= pol.numRetries; attempt++) {
      if (attempt > 0) {
        await this.r.sleep(retryDelay(pol, attempt) * 1000);
      }
      if (this.r.closed || consumer.closed) return; // the core redelivers it after a restart
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
    await deadLetter(this.r, sub, payload, raw ? messageAttributesOf(m) : undefined, m.groupId, m.annotations?.['sns.dedup'] as string | undefined, `delivery to ${sub.endpoint} failed after ${pol.numRetries + 1} attempts: ${lastError}`);
    await consumer.ack(d.id);
  }

  sendConfirmation(sub: SubMeta, baseUrl: string): void {
    const msg: Record<string, unknown> = {
      Type: 'SubscriptionConfirmation',
      MessageId: randomUUID(),
      Token: sub.token,
      TopicArn: this.r.topicArn(sub.topic),
      Message: `You have chosen to subscribe to the topic ${this.r.topicArn(sub.topic)}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
      SubscribeURL: `${baseUrl}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(this.r.topicArn(sub.topic))}&Token=${sub.token}`,
      Timestamp: new Date().toISOString(),
    };
    const version = (this.r.topicMeta(sub.topic)?.attributes.SignatureVersion as '1' | '2' | undefined) ?? '1';
    msg.SignatureVersion = version;
    msg.Signature = this.r.signer().sign(stringToSign(msg), version);
    msg.SigningCertURL = `${baseUrl}${CERT_PATH}`;
    const body = JSON.stringify(msg);
    const headers = { 'x-amz-sns-message-type': 'SubscriptionConfirmation', 'x-amz-sns-message-id': msg.MessageId as string, 'x-amz-sns-topic-arn': this.r.topicArn(sub.topic) };
    (async () => {
      for (let attempt = 0; attempt < 4 && !this.r.closed; attempt++) {
        if (attempt) await this.r.sleep(1000 * attempt);
        try {
          const status = await this.post(sub.endpoint, body, headers);
          if (status >= 200 && status < 300) return;
        } catch {
          /* retry */
        }
      }
      this.r.logger.warn({ endpoint: sub.endpoint }, 'sns: subscription confirmation could not be delivered');
    })().catch(() => undefined);
  }
}
