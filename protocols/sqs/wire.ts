/**
 * The two SQS wire protocols around the SqsService: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`) and the
 * query protocol (form-encoded `Action=…`, XML responses), with their error shapes.
 */
import { asList, asString, asTree, pairsToMap, type QueryNode, type QueryTree } from '../aws/query-params.js';
import { el, response, wrap } from '../aws/xml.js';

export const SQS_NS = 'http://queue.amazonaws.com/doc/2012-11-05/';

export const SQS_ACTIONS = new Set([
  'CreateQueue',
  'GetQueueUrl',
  'ListQueues',
  'DeleteQueue',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'PurgeQueue',
  'TagQueue',
  'UntagQueue',
  'ListQueueTags',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
  'ListDeadLetterSourceQueues',
  'StartMessageMoveTask',
  'CancelMessageMoveTask',
  'ListMessageMoveTasks',
  'AddPermission',
  'RemovePermission',
]);

/** Actions whose query response has no `<…Result>` element. */
const NO_RESULT = new Set(['DeleteMessage', 'DeleteQueue', 'SetQueueAttributes', 'PurgeQueue', 'ChangeMessageVisibility', 'TagQueue', 'UntagQueue', 'AddPermission', 'RemovePermission']);

// ------------------------------------------------------------------------------------------------ query → input

const LIST_RENAMES: Record<string, string> = {
  AttributeName: 'AttributeNames',
  MessageAttributeName: 'MessageAttributeNames',
  MessageSystemAttributeName: 'MessageSystemAttributeNames',
  TagKey: 'TagKeys',
  AWSAccountId: 'AWSAccountIds',
  ActionName: 'Actions',
};

const ENTRY_LISTS = ['SendMessageBatchRequestEntry', 'DeleteMessageBatchRequestEntry', 'ChangeMessageVisibilityBatchRequestEntry'];

/**
 * botocore's query serializer sends an empty list or map as the member's own name with an empty value
 * (`Entries=`, `AttributeNames=`, `Tags=`) rather than leaving it out: read those as empty, as AWS does (so an
 * empty batch is `EmptyBatchRequest`, and `--attribute-names` with no names returns no attributes).
 */
const EMPTY_LISTS = new Set(['Entries', ...Object.values(LIST_RENAMES)]);
const EMPTY_MAPS = new Set(['Attributes', 'Tags', 'MessageAttributes', 'MessageSystemAttributes']);

function messageAttributeMap(list: QueryNode[]): Record<string, unknown> {
  // null prototype: an attribute AWS allows to be named `__proto__` is kept, not swallowed by the setter
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(pairsToMap(list, 'Name', 'Value'))) {
    const t = asTree(v);
    out[k] = t ? { DataType: asString(t.DataType), StringValue: asString(t.StringValue), BinaryValue: asString(t.BinaryValue) } : {};
  }
  return out;
}

/** A query-protocol parameter tree in the JSON protocol's input shape. */
export function sqsQueryInput(tree: QueryTree): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(tree)) {
    if (k === 'Action' || k === 'Version') continue;
    if (v === '' && (EMPTY_LISTS.has(k) || EMPTY_MAPS.has(k) || ENTRY_LISTS.includes(k) || Object.hasOwn(LIST_RENAMES, k))) {
      const name = ENTRY_LISTS.includes(k) ? 'Entries' : (LIST_RENAMES[k] ?? k);
      out[name] ??= EMPTY_MAPS.has(k) ? {} : [];
    } else if (Object.hasOwn(LIST_RENAMES, k)) {
      const name = LIST_RENAMES[k];
      const list = asList(v).map((x) => asString(x)).filter((x): x is string => x !== undefined);
      out[name] = [...((out[name] as string[] | undefined) ?? []), ...list];
    } else if (k === 'Attribute') {
      out.Attributes = stringMap(pairsToMap(asList(v), 'Name', 'Value'));
    } else if (k === 'Tag') {
      out.Tags = stringMap(pairsToMap(asList(v), 'Key', 'Value'));
    } else if (k === 'MessageAttribute') {
      out.MessageAttributes = messageAttributeMap(asList(v));
    } else if (k === 'MessageSystemAttribute') {
      out.MessageSystemAttributes = messageAttributeMap(asList(v));
    } else if (ENTRY_LISTS.includes(k)) {
      out.Entries = asList(v).map((e) => {
        const t = asTree(e);
        return t ? sqsQueryInput(t) : {};
      });
    } else if (typeof v === 'string') {
      out[k] = v;
    } else {
      out[k] = v; // unexpected structure: the service's type checks reject it
    }
  }
  return out;
}

function stringMap(m: Record<string, QueryNode>): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(m)) out[k] = typeof v === 'string' ? v : '';
  return out;
}

// ------------------------------------------------------------------------------------------------ output → XML

function scalarFields(o: Record<string, unknown>): string {
  let s = '';
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || typeof v === 'object') continue;
    s += el(k, v as string | number | boolean);
  }
  return s;
}

function renderMessage(m: Record<string, unknown>): string {
  let s = '';
  for (const k of ['MessageId', 'ReceiptHandle', 'MD5OfBody', 'Body']) s += el(k, m[k] as string | undefined);
  const attrs = m.Attributes as Record<string, string> | undefined;
  if (attrs) for (const [k, v] of Object.entries(attrs)) s += `<Attribute>${el('Name', k)}${el('Value', v)}</Attribute>`;
  s += el('MD5OfMessageAttributes', m.MD5OfMessageAttributes as string | undefined);
  const ma = m.MessageAttributes as Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }> | undefined;
  if (ma) {
    for (const [k, v] of Object.entries(ma)) {
      s += `<MessageAttribute>${el('Name', k)}<Value>${el('StringValue', v.StringValue)}${el('BinaryValue', v.BinaryValue)}${el('DataType', v.DataType)}</Value></MessageAttribute>`;
    }
  }
  return wrap('Message', s);
}

export function sqsXml(action: string, out: Record<string, unknown>, requestId: string): string {
  if (NO_RESULT.has(action)) return response(action, SQS_NS, null, requestId);
  let s = '';
  for (const [k, v] of Object.entries(out)) {
    if (v === undefined || v === null) continue;
    switch (k) {
      case 'QueueUrls':
      case 'queueUrls':
        for (const u of v as string[]) s += el('QueueUrl', u);
        break;
      case 'Attributes':
        for (const [n, val] of Object.entries(v as Record<string, string>)) s += `<Attribute>${el('Name', n)}${el('Value', val)}</Attribute>`;
        break;
      case 'Tags':
        for (const [n, val] of Object.entries(v as Record<string, string>)) s += `<Tag>${el('Key', n)}${el('Value', val)}</Tag>`;
        break;
      case 'Messages':
        for (const m of v as Record<string, unknown>[]) s += renderMessage(m);
        break;
      case 'Successful':
        for (const e of v as Record<string, unknown>[]) s += wrap(`${action}ResultEntry`, scalarFields(e));
        break;
      case 'Failed':
        for (const e of v as Record<string, unknown>[]) s += wrap('BatchResultErrorEntry', scalarFields(e));
        break;
      case 'Results':
        for (const e of v as Record<string, unknown>[]) s += wrap('ListMessageMoveTasksResultEntry', scalarFields(e));
        break;
      default:
        if (typeof v !== 'object') s += el(k, v as string | number | boolean);
    }
  }
  return response(action, SQS_NS, s, requestId);
}
