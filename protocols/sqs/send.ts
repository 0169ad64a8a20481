/**
 * Sending to SQS queues: SendMessage(Batch) and in-broker deliveries (SNS subscriptions) become core messages
 * (SQS attributes, sender, FIFO group and sequence number kept as annotations) committed in one store commit
 * per request. FIFO queues deduplicate within 5 minutes; the dedup records commit with their messages (kv
 * `sqs:dedup:<queue>\n<id>`), so a restart still answers a retried send with the first copy's MessageId.
 */
import { createHash, randomUUID } from 'node:crypto';
import { BrokerError, createMessage, type Message, queue as queueAddress, type SendItem } from '../../src/core/api.js';
import { md5Hex } from '../aws/digest.js';
import { AwsError, noQueue, sqsError } from '../aws/errors.js';
import { attributesSize, attributesToProperties, ATTRS_ANNOTATION, hasInvalidChars, md5OfAttributes, parseMessageAttributes, type MessageAttributes } from '../aws/message-attributes.js';
import type { Input, Params } from '../aws/params.js';
import { batchLists, checkBatch } from './batch.js';
import { attr, isFifoMeta, type QueueMeta } from './queue-attributes.js';
import type { DedupEntry } from './queue-state.js';
import type { RequestContext, SqsQueues } from './queues.js';


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

interface Prepared {
  message: Message;
  size: number;
  dedupKey?: string;
  result: Record<string, unknown>;
}

const DEDUP_WINDOW_MS = 5 * 60 * 1000;
/** A SendMessageBatch's bodies and attributes together, whatever the queue's MaximumMessageSize (AWS: 1 MiB). */
const MAX_BATCH_BYTES = 1_048_576;
/** Message group, deduplication and receive attempt ids: 1 to 128 printable ASCII characters. */
export const DEDUP_ID_RE = /^[\x21-\x7e]{1,128}$/;

export class Sender {
  private seqCounter = 0n;

  constructor(private readonly q: SqsQueues) {}

  /** Reload the FIFO dedup records still in their window (at start). */
  loadDedup(): void {
    const now = Date.now();
    for (const [key, v] of this.q.engine.kvEntries<{ e: number; id: string; s?: string }>('sqs:dedup:')) {
      const rest = key.slice('sqs:dedup:'.length);
      const sep = rest.indexOf('\n');
      if (sep < 0 || v.e <= now) {
        this.q.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      this.q.state(rest.slice(0, sep)).dedup.set(rest.slice(sep + 1), { expires: v.e, messageId: v.id, seq: v.s });
    }
  }

  /** Forget expired dedup records (and their kv copies, collected in `deletes`). */
  sweep(now: number, deletes: string[]): void {
    for (const st of this.q.allStates()) {
      for (const [k, d] of st.dedup) {
        if (!d.pending && d.expires <= now) {
          st.dedup.delete(k);
          deletes.push(`sqs:dedup:${st.name}\n${k}`);
        }
      }
    }
  }

  private nextSequenceNumber(): string {
    const floor = BigInt(Date.now()) * 1_000_000n;
    this.seqCounter = this.seqCounter + 1n > floor ? this.seqCounter + 1n : floor;
    return this.seqCounter.toString().padStart(20, '0');
  }

  async sendMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const prepared = this.prepareSend(this.q.meta(name), p, ctx, 'MessageBody');
    const [r] = await this.commitSends(name, [prepared]);
    if (r instanceof AwsError) throw r;
    return r;
  }

  async sendMessageBatch(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const entries = checkBatch(p, 'SendMessageBatch');
    const meta = this.q.meta(name);
    if (isFifoMeta(meta)) checkFifoEntries(entries, attr(meta, 'ContentBasedDeduplication') === 'true');
    let total = 0;
    const prepared: Array<Prepared | AwsError> = [];
    for (const e of entries) {
      const ep = p.sub(e, 'Entries');
      try {
        const pr = this.prepareSend(meta, ep, ctx, 'MessageBody', true);
        total += pr.size;
        prepared.push(pr);
      } catch (err) {
        if (!(err instanceof AwsError)) throw err;
        const body = ep.input.MessageBody;
        if (typeof body === 'string') total += Buffer.byteLength(body);
        prepared.push(err);
      }
    }
    if (total > MAX_BATCH_BYTES) {
      throw sqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${total} bytes.`);
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
    return batchLists(Successful, Failed);
  }

  /** Validate one message and build its core message (not yet committed). */
  private prepareSend(meta: QueueMeta | undefined, p: Params, ctx: RequestContext, bodyField: string, inBatch = false): Prepared {
    const body = p.optStr(bodyField);
    if (body === undefined) throw p.missing(bodyField);
    // AWS: an empty body is a missing one (the query protocol cannot tell them apart)
    if (body.length === 0) throw p.missing(bodyField);
    // encoded once: its length, its MD5 and the core message's body
    const bytes = Buffer.from(body, 'utf8');
    if (hasInvalidChars(body, bytes.length)) throw sqsError('InvalidMessageContents', 'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF');
    const fifo = isFifoMeta(meta);
    const attrs = parseMessageAttributes(p.optMap('MessageAttributes'));
    const sys = parseMessageAttributes(p.optMap('MessageSystemAttributes'), 'system');
    const size = bytes.length + attributesSize(attrs);
    const maxSize = Number(attr(meta, 'MaximumMessageSize'));
    // AWS words it differently for a batch entry
    if (size > maxSize) throw sqsError('InvalidParameterValue', `One or more parameters ${inBatch ? 'cannot be validated' : 'are invalid'}. Reason: Message must be shorter than ${maxSize} bytes.`);
    const delay = p.optInt('DelaySeconds', 0, 900);
    if (fifo && delay !== undefined && delay > 0) {
      throw sqsError('InvalidParameterValue', `Value ${delay} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.`);
    }
    const groupId = p.optStr('MessageGroupId');
    let dedupId = p.optStr('MessageDeduplicationId');
    if (groupId !== undefined && !DEDUP_ID_RE.test(groupId)) throw p.invalid('MessageGroupId', 'MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.', groupId);
    if (dedupId !== undefined && !DEDUP_ID_RE.test(dedupId)) throw p.invalid('MessageDeduplicationId', 'MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.', dedupId);
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
    // AWS: the AWSTraceHeader system attribute, else the request's X-Amzn-Trace-Id header
    const inbound: InboundMessage = { body, attributes: attrs, groupId, dedupId, senderId: ctx.senderId, traceHeader: sys?.AWSTraceHeader?.StringValue ?? ctx.traceHeader };
    // a FIFO queue takes only DelaySeconds 0 per message, and then its own delay applies (AWS)
    const built = this.buildMessage(meta, inbound, fifo ? undefined : delay, bytes);
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

  /** `bytes`: the body already UTF-8 encoded, if it is. */
  private buildMessage(meta: QueueMeta | undefined, m: InboundMessage, delaySeconds?: number, bytes = Buffer.from(m.body, 'utf8')): { message: Message; md5: string } {
    const fifo = isFifoMeta(meta);
    const now = Date.now();
    const delay = delaySeconds ?? Number(attr(meta, 'DelaySeconds') ?? 0);
    const retention = Number(attr(meta, 'MessageRetentionPeriod') ?? 345600);
    const md5 = md5Hex(bytes);
    const annotations: Record<string, unknown> = m.annotations ? { ...m.annotations, 'sqs.md5': md5 } : { 'sqs.md5': md5 };
    if (m.attributes) annotations[ATTRS_ANNOTATION] = m.attributes;
    if (m.senderId) annotations['sqs.sender'] = m.senderId;
    if (m.traceHeader) annotations['sqs.trace'] = m.traceHeader;
    if (m.groupId !== undefined) annotations['sqs.group'] = m.groupId;
    if (m.dedupId !== undefined) annotations['sqs.dedup'] = m.dedupId;
    if (fifo) annotations['sqs.seq'] = this.nextSequenceNumber();
    const message = createMessage({
      messageId: randomUUID(),
      body: bytes,
      bodyType: 'text',
      properties: attributesToProperties(m.attributes),
      durable: true,
      timestamp: now,
      deliveryTime: delay > 0 ? now + delay * 1000 : 0,
      expiration: meta ? now + retention * 1000 : 0,
      groupId: fifo ? m.groupId : undefined,
      annotations,
    });
    return { message, md5 };
  }

  /**
   * Commit prepared sends to a queue in one store commit (FIFO: duplicates within the 5-minute window are
   * answered with the first copy's MessageId and not enqueued again). One result per entry, in order.
   */
  private async commitSends(name: string, prepared: Prepared[]): Promise<Array<Record<string, unknown> | AwsError>> {
    const st = this.q.state(name);
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
      // under a resource alarm SQS answers 503 at once (the SDKs retry with back-off) instead of holding the request
      outcomes = await this.q.engine.sendMany(items, { connection: this.q.connection ?? null, onAlarm: 'fail' });
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
    if (!this.q.exists(name)) throw new BrokerError('not-found', `Queue '${name}' does not exist`);
    const meta = this.q.meta(name);
    const fifo = isFifoMeta(meta);
    let dedupId = m.dedupId;
    if (fifo && dedupId === undefined) dedupId = createHash('sha256').update(m.body).digest('hex');
    const inbound = { ...m, dedupId: fifo ? dedupId : undefined, groupId: m.groupId };
    const built = this.buildMessage(meta, inbound);
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
}

function dedupKeyOf(meta: QueueMeta | undefined, groupId: string, dedupId: string): string {
  return attr(meta, 'DeduplicationScope') === 'messageGroup' ? `${groupId}\n${dedupId}` : dedupId;
}

function mapSendError(err: unknown): AwsError {
  if (err instanceof BrokerError) {
    if (err.code === 'limit') return sqsError('OverLimit', err.message);
    if (err.code === 'not-found') return noQueue();
    if (err.code === 'unauthorized') return sqsError('AccessDenied', err.message);
    if (err.code === 'unavailable') return sqsError('ServiceUnavailable', err.message);
  }
  throw err;
}

/**
 * AWS fails a whole FIFO SendMessageBatch (InvalidParameterValue, no per-entry results) when an entry lacks its
 * MessageGroupId, or its MessageDeduplicationId on a queue without content-based deduplication.
 */
function checkFifoEntries(entries: unknown[], contentBased: boolean): void {
  for (const e of entries) {
    if (!e || typeof e !== 'object') continue; // the entry's own check words the error
    const { MessageGroupId: group, MessageDeduplicationId: dedup } = e as Input;
    if (group === undefined || group === null) throw sqsError('InvalidParameterValue', 'The request must contain the parameter MessageGroupId.');
    if (!contentBased && (dedup === undefined || dedup === null)) {
      throw sqsError('InvalidParameterValue', 'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
    }
  }
}
