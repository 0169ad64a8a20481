/**
 * Empty lists and maps in the query protocol. botocore (boto3 1.26, aws CLI 2.9) serializes an empty list or
 * map as the member's name with an empty value — `Entries=`, `AttributeNames=`, `Tags=` — instead of leaving it
 * out. AWS reads those as empty: an empty batch is `EmptyBatchRequest`, no attribute names means no attributes,
 * `create-topic --tags '[]'` creates the topic. (Wharf used to answer "must be a list".)
 */
import assert from 'node:assert/strict';
import { startSqsBroker, type SqsBroker } from './helpers.js';
import { rawRequest, xmlAll, xmlText } from './sigv4-client.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

describe('SQS/SNS query protocol: empty lists and maps as botocore sends them', function () {
  this.timeout(20_000);
  let b: SqsBroker;
  let url: string;
  before(async () => {
    b = await startSqsBroker(); // anonymous: unsigned requests pass
  });
  after(async () => {
    await b?.close();
  });

  const sqs = (params: Record<string, string>) => rawRequest(b.port, { headers: FORM, body: new URLSearchParams({ Version: '2012-11-05', ...params }).toString() });
  const sns = (params: Record<string, string>) => rawRequest(b.port, { headers: FORM, body: new URLSearchParams({ Version: '2010-03-31', ...params }).toString() });

  it('SQS: empty batches are EmptyBatchRequest naming the entry type; empty name lists and maps are empty', async () => {
    let r = await sqs({ Action: 'CreateQueue', QueueName: 'empties', Attribute: '' });
    assert.equal(r.status, 200, r.body);
    url = xmlText(r.body, 'QueueUrl')!;
    for (const [action, entry] of [
      ['SendMessageBatch', 'SendMessageBatchRequestEntry'],
      ['DeleteMessageBatch', 'DeleteMessageBatchRequestEntry'],
      ['ChangeMessageVisibilityBatch', 'ChangeMessageVisibilityBatchRequestEntry'],
    ]) {
      for (const key of ['Entries', entry]) {
        r = await sqs({ Action: action, QueueUrl: url, [key]: '' });
        assert.equal(r.status, 400, `${action} ${key}=`);
        assert.equal(xmlText(r.body, 'Code'), 'AWS.SimpleQueueService.EmptyBatchRequest', `${action} ${key}=: ${r.body}`);
        assert.match(xmlText(r.body, 'Message')!, new RegExp(`at least one ${entry} `));
      }
    }
    r = await sqs({ Action: 'GetQueueAttributes', QueueUrl: url, AttributeNames: '' });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(xmlAll(r.body, 'Attribute'), []);
    r = await sqs({ Action: 'SendMessage', QueueUrl: url, MessageBody: 'x', MessageAttributes: '' });
    assert.equal(r.status, 200, r.body);
    assert.equal(xmlText(r.body, 'MD5OfMessageAttributes'), undefined);
    r = await sqs({ Action: 'ReceiveMessage', QueueUrl: url, AttributeNames: '', MessageAttributeNames: '', MessageSystemAttributeNames: '' });
    assert.equal(r.status, 200, r.body);
    assert.equal(xmlText(r.body, 'Body'), 'x');
    assert.deepEqual(xmlAll(r.body, 'Attribute'), []);
    r = await sqs({ Action: 'UntagQueue', QueueUrl: url, TagKeys: '' });
    assert.equal(r.status, 200, r.body);
  });

  it('SNS: CreateTopic with empty Attributes and Tags, Publish with empty MessageAttributes, an empty PublishBatch', async () => {
    let r = await sns({ Action: 'CreateTopic', Name: 'empties', Attributes: '', Tags: '' });
    assert.equal(r.status, 200, r.body);
    const arn = xmlText(r.body, 'TopicArn')!;
    r = await sns({ Action: 'Publish', TopicArn: arn, Message: 'm', MessageAttributes: '' });
    assert.equal(r.status, 200, r.body);
    r = await sns({ Action: 'UntagResource', ResourceArn: arn, TagKeys: '' });
    assert.equal(r.status, 200, r.body);
    r = await sns({ Action: 'PublishBatch', TopicArn: arn, PublishBatchRequestEntries: '' });
    assert.equal(r.status, 400, r.body);
    assert.equal(xmlText(r.body, 'Code'), 'EmptyBatchRequest');
  });
});
