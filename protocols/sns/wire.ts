/**
 * SNS over the AWS query protocol: the parameter tree in the SnsService's input shape, its outputs as XML, and
 * the SNS side of the shared SQS/SNS endpoint (protocols/aws/endpoint.ts), which routes requests to it.
 */
import { asList, asString, asTree, pairsToMap, type QueryNode, type QueryTree } from '../aws/query-params.js';
import { el, response, wrap } from '../aws/xml.js';

export const SNS_NS = 'http://sns.amazonaws.com/doc/2010-03-31/';

export const SNS_ACTIONS = new Set([
  'CreateTopic',
  'DeleteTopic',
  'ListTopics',
  'GetTopicAttributes',
  'SetTopicAttributes',
  'Subscribe',
  'ConfirmSubscription',
  'Unsubscribe',
  'ListSubscriptions',
  'ListSubscriptionsByTopic',
  'GetSubscriptionAttributes',
  'SetSubscriptionAttributes',
  'Publish',
  'PublishBatch',
  'TagResource',
  'UntagResource',
  'ListTagsForResource',
  'AddPermission',
  'RemovePermission',
]);

function snsAttributeMap(list: QueryNode[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pairsToMap(list, 'Name', 'Value'))) {
    const t = asTree(v);
    out[k] = t ? { DataType: asString(t.DataType), StringValue: asString(t.StringValue), BinaryValue: asString(t.BinaryValue) } : {};
  }
  return out;
}

/** An SNS query-protocol parameter tree in the service's input shape. */
export function snsQueryInput(tree: QueryTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree)) {
    if (k === 'Action' || k === 'Version') continue;
    const t = asTree(v);
    if (v === '' && (k === 'Attributes' || k === 'MessageAttributes')) {
      // botocore sends an empty map or list as `Name=` (aws sns create-topic --tags '[]'): read it as empty, as AWS does
      out[k] = {};
    } else if (v === '' && (k === 'Tags' || k === 'TagKeys' || k === 'PublishBatchRequestEntries')) {
      out[k] = [];
    } else if (k === 'Attributes' && t) {
      const m = pairsToMap(asList(t.entry), 'key', 'value');
      out.Attributes = Object.fromEntries(Object.entries(m).map(([a, b]) => [a, typeof b === 'string' ? b : '']));
    } else if (k === 'MessageAttributes' && t) {
      out.MessageAttributes = snsAttributeMap(asList(t.entry));
    } else if (k === 'Tags' && t) {
      out.Tags = asList(t.member).map((x) => {
        const xt = asTree(x);
        return xt ? { Key: asString(xt.Key), Value: asString(xt.Value) } : {};
      });
    } else if ((k === 'AWSAccountId' || k === 'ActionName') && t) {
      out[k] = asList(t.member).map((x) => asString(x)).filter((x) => x !== undefined);
    } else if (k === 'TagKeys' && t) {
      out.TagKeys = asList(t.member).map((x) => asString(x)).filter((x) => x !== undefined);
    } else if (k === 'PublishBatchRequestEntries' && t) {
      out.PublishBatchRequestEntries = asList(t.member).map((x) => {
        const xt = asTree(x);
        return xt ? snsQueryInput(xt) : {};
      });
    } else {
      out[k] = v;
    }
  }
  return out;
}

function entries(attrs: Record<string, string>): string {
  let s = '';
  for (const [k, v] of Object.entries(attrs)) s += `<entry>${el('key', k)}${el('value', v)}</entry>`;
  return s;
}

function fields(o: Record<string, unknown>): string {
  let s = '';
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && typeof v !== 'object') s += el(k, v as string | number | boolean);
  return s;
}

const NO_RESULT = new Set(['DeleteTopic', 'SetTopicAttributes', 'Unsubscribe', 'SetSubscriptionAttributes', 'AddPermission', 'RemovePermission']);

/** Render an SNS action's output as its query-protocol XML response. */
export function snsXml(action: string, out: Record<string, unknown>, requestId: string): string {
  if (NO_RESULT.has(action)) return response(action, SNS_NS, null, requestId);
  let s = '';
  for (const [k, v] of Object.entries(out)) {
    if (v === undefined || v === null) continue;
    if (k === 'Attributes') s += wrap('Attributes', entries(v as Record<string, string>));
    else if (k === 'Topics' || k === 'Subscriptions' || k === 'Tags' || k === 'Successful' || k === 'Failed') {
      s += wrap(k, (v as Record<string, unknown>[]).map((x) => wrap('member', fields(x))).join(''));
    } else if (typeof v !== 'object') s += el(k, v as string | number | boolean);
  }
  return response(action, SNS_NS, s, requestId);
}
