/** A message an SNS subscription could not deliver goes to the subscription's redrive DLQ (an SQS queue), else is dropped with a warning. */
import { randomUUID } from 'node:crypto';
import type { MessageAttributes } from '../aws/message-attributes.js';
import { nonEmpty, type SnsResources, type SubMeta } from './resources.js';

export async function deadLetter(r: SnsResources, sub: SubMeta, payload: string, attrs: MessageAttributes | undefined, groupId: string | undefined, dedupId: string | undefined, reason: string): Promise<void> {
  const rp = sub.attributes.RedrivePolicy ? (JSON.parse(sub.attributes.RedrivePolicy) as { deadLetterTargetArn: string }) : undefined;
  const q = rp ? r.opts.sqs.nameFromArn(rp.deadLetterTargetArn) : undefined;
  if (!q || !r.opts.sqs.exists(q)) {
    r.logger.warn({ sub: r.subArn(sub), reason }, 'sns: message dropped after failed delivery (no redrive policy)');
    return;
  }
  r.logger.info({ sub: r.subArn(sub), reason, dlq: q }, 'sns: message dead-lettered after failed delivery');
  await r.opts.sqs.deliver(q, {
    body: payload,
    // AWS dead-letters the message as it would have been delivered: no attributes of its own (the reason is logged)
    attributes: attrs ? nonEmpty(attrs) : undefined,
    groupId: r.opts.sqs.isFifo(q) ? groupId : undefined,
    dedupId: dedupId ?? (r.opts.sqs.isFifo(q) ? randomUUID() : undefined),
    senderId: r.accountId,
  });
}
