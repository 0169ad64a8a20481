/**
 * SNS Publish and PublishBatch: a publish is an engine send to the core topic of the same name (so subscribers of
 * any protocol get it); SNS details (subject, structure, publisher, FIFO group and sequence) ride as annotations.
 * FIFO topics deduplicate within 5 minutes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { BrokerError, createMessage, type Message, topic as topicAddress } from '../../src/core/api.js';
import { AwsError, snsError } from '../aws/errors.js';
import { attributesSize, attributesToProperties, ATTRS_ANNOTATION, parseMessageAttributes } from '../aws/message-attributes.js';
import type { Params } from '../aws/params.js';
import { invalid, type SnsContext, type SnsResources } from './resources.js';

const MAX_MESSAGE = 262144;
const DEDUP_WINDOW_MS = 5 * 60 * 1000;

export class Publisher {
  private readonly dedup = new Map<string, { expires: number; messageId: string; seq?: string }>();
  private seqCounter = 0n;

  constructor(private readonly r: SnsResources) {}

  /** Forget expired dedup records. */
  sweep(now: number): void {
    for (const [k, d] of this.dedup) if (d.expires <= now) this.dedup.delete(k);
  }

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
      throw invalid('Subject');
    }
    const structure = p.optStr('MessageStructure');
    if (structure !== undefined && structure !== 'json') throw invalid('MessageStructure Reason: must be json');
    if (structure === 'json') checkJsonStructure(text);
    const attrs = parseMessageAttributes(p.optMap('MessageAttributes'), 'user', (m) => snsError('ParameterValueInvalid', m), 'sns');
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
    if (size > MAX_MESSAGE) throw invalid('Message too long');
    const fifo = this.r.isFifoTopic(name);
    const groupId = p.optStr('MessageGroupId');
    let dedupId = p.optStr('MessageDeduplicationId');
    if (groupId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(groupId)) throw invalid('MessageGroupId Reason: must be 1 to 128 printable ASCII characters');
    if (dedupId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(dedupId)) throw invalid('MessageDeduplicationId Reason: must be 1 to 128 printable ASCII characters');
    let dedupKey: string | undefined;
    if (fifo) {
      if (groupId === undefined) throw invalid('The MessageGroupId parameter is required for FIFO topics');
      if (dedupId === undefined) {
        if (this.r.topicMeta(name)?.attributes.ContentBasedDeduplication !== 'true') {
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
    if (ctx.traceHeader !== undefined) annotations['sns.trace'] = ctx.traceHeader;
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
        await this.r.engine.send(message, topicAddress(name), { connection: this.r.connection ?? null });
      } catch (err) {
        this.dedup.delete(dedupKey);
        throw err;
      }
      return { MessageId: message.messageId, ...(seq ? { SequenceNumber: seq } : {}) };
    }
    await this.r.engine.send(message, topicAddress(name), { connection: this.r.connection ?? null });
    return { MessageId: message.messageId };
  }

  private publishTarget(p: Params): string {
    const arn = p.optStr('TopicArn') ?? p.optStr('TargetArn');
    if (arn === undefined) {
      if (p.has('PhoneNumber')) throw invalid('PhoneNumber Reason: SMS is not supported by this broker');
      throw invalid('TopicArn or TargetArn Reason: no value for required parameter');
    }
    // a platform endpoint (mobile push) ARN: there are none here, and AWS words it so
    if (p.optStr('TopicArn') === undefined && /^arn:aws[\w-]*:sns:[^:]*:[^:]*:endpoint\//.test(arn)) throw invalid('TargetArn Reason: No endpoint found for the target arn specified');
    return this.r.topicFromArn(arn);
  }

  async publish(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.publishTarget(p);
    const prepared = this.preparePublish(name, p, ctx);
    return this.publishOne(name, prepared);
  }

  async publishBatch(p: Params, ctx: SnsContext): Promise<Record<string, unknown>> {
    const name = this.r.topicFromArn(p.str('TopicArn'));
    const entries = p.optList('PublishBatchRequestEntries');
    if (!entries || entries.length === 0) throw snsError('EmptyBatchRequest', 'The batch request doesn\'t contain any entries');
    if (entries.length > 10) throw snsError('TooManyEntriesInBatchRequest', 'The batch request contains more entries than permissible.');
    const ids = new Set<string>();
    const fifo = this.r.isFifoTopic(name);
    const contentBased = this.r.topicMeta(name)?.attributes.ContentBasedDeduplication === 'true';
    // AWS checks every entry's Id first, then each entry's message structure, then the FIFO parameters
    const eps = entries.map((e) => p.sub(e, 'PublishBatchRequestEntries'));
    for (const ep of eps) {
      const id = ep.optStr('Id') ?? '';
      if (id.length > 80) throw snsError('InvalidBatchEntryId', `The Id of a batch entry in the batch request is too long: ${id}`);
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) throw snsError('InvalidBatchEntryId', `The Id of a batch entry in the batch request contains an impermissible character: ${id}`);
      if (ids.has(id)) throw snsError('BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id.');
      ids.add(id);
    }
    let total = 0;
    for (const ep of eps) {
      // AWS counts the attributes too (names, types and values)
      total += Buffer.byteLength(ep.optStr('Message') ?? '') + rawAttributesSize(ep.optMap('MessageAttributes'));
      const text = ep.optStr('Message');
      if (ep.optStr('MessageStructure') === 'json' && text) checkJsonStructure(text);
      // AWS fails the whole batch (not the entry) for these
      if (fifo && !ep.has('MessageGroupId')) throw invalid('The MessageGroupId parameter is required for FIFO topics');
      if (fifo && !contentBased && !ep.has('MessageDeduplicationId')) {
        throw invalid('The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
      }
    }
    if (total > MAX_MESSAGE) throw snsError('BatchRequestTooLong', 'The length of all the messages put together is more than the limit.');
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
}

/** MessageStructure=json: the message must be a JSON object with a string `default` (AWS's words otherwise). */
function checkJsonStructure(text: string): void {
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

/** Bytes of message attributes as sent (not yet checked): names, data types and values. */
function rawAttributesSize(raw: Record<string, unknown> | undefined): number {
  let n = 0;
  for (const [name, v] of Object.entries(raw ?? {})) {
    n += Buffer.byteLength(name);
    if (!v || typeof v !== 'object') continue;
    const a = v as { DataType?: unknown; StringValue?: unknown; BinaryValue?: unknown };
    if (typeof a.DataType === 'string') n += Buffer.byteLength(a.DataType);
    if (typeof a.StringValue === 'string') n += Buffer.byteLength(a.StringValue);
    else if (a.BinaryValue instanceof Uint8Array) n += a.BinaryValue.length;
    else if (typeof a.BinaryValue === 'string') n += Buffer.from(a.BinaryValue, 'base64').length;
  }
  return n;
}
