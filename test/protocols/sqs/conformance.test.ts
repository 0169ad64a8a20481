/**
 * Answers compared with AWS's own (as recorded against AWS in LocalStack's validated snapshot tests), driven by
 * Debian's python3-boto3 (query protocol) and the AWS SDK v3 (JSON protocol).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { awsCliEnv, KEY, rejection, startSqsBroker, type SqsBroker } from './helpers.js';
import { rawRequest } from './sigv4-client.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

/** Run a boto3 script (argv[1] is the endpoint); it prints one JSON object last. */
async function boto3(b: SqsBroker, script: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(PYTHON, ['-c', script, b.endpoint], { env: awsCliEnv(KEY) });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

const BOTO3_PRELUDE = `
import json, sys
import boto3
from botocore.exceptions import ClientError
sqs = boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1')
sns = boto3.client('sns', endpoint_url=sys.argv[1], region_name='us-east-1')
out = {}
def err(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return [e.response['Error']['Code'], e.response['Error']['Message'], e.response['ResponseMetadata']['HTTPStatusCode']]
    return None
`;

describe('SQS answers as AWS gives them', function () {
  this.timeout(60_000);
  let b: SqsBroker;
  before(async () => {
    b = await startSqsBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('ReceiveMessage range errors in AWS words (boto3, query protocol)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-range')['QueueUrl']
out['max'] = err(sqs.receive_message, QueueUrl=u, MaxNumberOfMessages=11)
out['wait'] = err(sqs.receive_message, QueueUrl=u, WaitTimeSeconds=21)
out['wait_neg'] = err(sqs.receive_message, QueueUrl=u, WaitTimeSeconds=-1)
out['gone'] = err(sqs.get_queue_attributes, QueueUrl=u + '-nope', AttributeNames=['All'])
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.max, ['InvalidParameterValue', 'Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.', 400]);
    assert.deepEqual(out.wait, ['InvalidParameterValue', 'Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.', 400]);
    assert.deepEqual(out.wait_neg, ['InvalidParameterValue', 'Value -1 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.', 400]);
    // the query protocol's own wording
    assert.deepEqual(out.gone, ['AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist for this wsdl version.', 400]);
  });

  it('JSON protocol: the range errors, the common errors\' __type names, and no empty Failed list (SDK v3)', async () => {
    const { QueueUrl } = await b.sqs.send(new CreateQueueCommand({ QueueName: 'conf-json' }));
    const e = await rejection(b.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 11 })));
    assert.equal(e.name, 'InvalidParameterValue');
    assert.equal(e.message, 'Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.');
    const json = (action: string, input: object) =>
      rawRequest(b.port, { headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` }, body: JSON.stringify(input) });
    const invalid = await json('ReceiveMessage', { QueueUrl, WaitTimeSeconds: 21 });
    assert.equal(invalid.status, 400);
    assert.equal(JSON.parse(invalid.body).__type, 'com.amazonaws.sqs#InvalidParameterValueException');
    assert.equal(invalid.headers['x-amzn-query-error'], 'InvalidParameterValue;Sender');
    const missing = await json('SendMessage', { QueueUrl, MessageBody: '' });
    assert.equal(JSON.parse(missing.body).__type, 'com.amazonaws.sqs#MissingRequiredParameterException');
    assert.equal(missing.headers['x-amzn-query-error'], 'MissingParameter;Sender');
    const gone = await json('GetQueueAttributes', { QueueUrl: `${QueueUrl}-nope` });
    assert.deepEqual(JSON.parse(gone.body), { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'The specified queue does not exist.' });

    const ok = await b.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [{ Id: 'a', MessageBody: 'a' }, { Id: 'b', MessageBody: 'b' }] }));
    assert.equal(ok.Successful!.length, 2);
    assert.equal(ok.Failed, undefined);
    const bad = await b.sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: [{ Id: 'a', MessageBody: 'a', DelaySeconds: 901 }] }));
    assert.equal(bad.Successful, undefined);
    assert.equal(bad.Failed!.length, 1);
  });

  it('X-Amzn-Trace-Id on SendMessage becomes the message\'s AWSTraceHeader (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
TRACE = 'Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1'
def add_trace(request, **kwargs):
    request.headers['X-Amzn-Trace-Id'] = TRACE
sqs.meta.events.register('before-send.sqs.SendMessage', add_trace)
u = sqs.create_queue(QueueName='conf-trace-sqs')['QueueUrl']
sqs.send_message(QueueUrl=u, MessageBody='traced')
m = sqs.receive_message(QueueUrl=u, AttributeNames=['AWSTraceHeader'], WaitTimeSeconds=2)['Messages'][0]
out['sqs'] = m.get('Attributes', {}).get('AWSTraceHeader')
print(json.dumps(out))
`,
    );
    assert.equal(out.sqs, 'Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1');
  });

  it('FIFO: one receive returns the messages of a group together and is filled from one group first; DelaySeconds 0 per message keeps the queue\'s delay (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-order.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
for body, group in [('g1-m1', '1'), ('g2-m1', '2'), ('g1-m2', '1'), ('g1-m3', '1')]:
    sqs.send_message(QueueUrl=u, MessageBody=body, MessageGroupId=group)
got = []
for _ in range(10):
    got += [m['Body'] for m in sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])]
    if len(got) >= 4: break
out['order'] = got
w = sqs.create_queue(QueueName='conf-fill.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
for body, group in [('g1-m1', '1'), ('g2-m1', '2'), ('g2-m2', '2'), ('g3-m1', '3'), ('g1-m2', '1')]:
    sqs.send_message(QueueUrl=w, MessageBody=body, MessageGroupId=group)
out['fill'] = [m['Body'] for m in sqs.receive_message(QueueUrl=w, MaxNumberOfMessages=3, WaitTimeSeconds=1).get('Messages', [])]
out['rest'] = [m['Body'] for m in sqs.receive_message(QueueUrl=w, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])]
d = sqs.create_queue(QueueName='conf-delay.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true', 'DelaySeconds': '900'})['QueueUrl']
sqs.send_message(QueueUrl=d, MessageBody='later', MessageGroupId='g', DelaySeconds=0)
out['delayed'] = sqs.get_queue_attributes(QueueUrl=d, AttributeNames=['ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessages'])['Attributes']
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.order, ['g1-m1', 'g1-m2', 'g1-m3', 'g2-m1']);
    // AWS fills a receive from one group first (LocalStack's validated test_fifo_receive_message_with_zero_visibility_timeout)
    assert.deepEqual(out.fill, ['g1-m1', 'g1-m2', 'g2-m1']);
    assert.deepEqual(out.rest, ['g3-m1'], 'g2 is in flight; g3 is free');
    assert.deepEqual(out.delayed, { ApproximateNumberOfMessagesDelayed: '1', ApproximateNumberOfMessages: '0' });
  });

  it('a dead-lettered message keeps its receive count and gains no attributes (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
dlq = sqs.create_queue(QueueName='conf-dlq-count')['QueueUrl']
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
u = sqs.create_queue(QueueName='conf-dlq-src', Attributes={'RedrivePolicy': json.dumps({'deadLetterTargetArn': dlq_arn, 'maxReceiveCount': 1})})['QueueUrl']
sqs.send_message(QueueUrl=u, MessageBody='plain')
sqs.send_message(QueueUrl=u, MessageBody='with attribute', MessageAttributes={'MyAttribute': {'DataType': 'String', 'StringValue': 'foobar'}})
for _ in range(6):
    sqs.receive_message(QueueUrl=u, VisibilityTimeout=0, MaxNumberOfMessages=10, WaitTimeSeconds=1)
got = {}
for _ in range(10):
    for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=['ApproximateReceiveCount'], MessageAttributeNames=['All']).get('Messages', []):
        got[m['Body']] = [m['Attributes']['ApproximateReceiveCount'], sorted(m.get('MessageAttributes', {}).keys())]
    if len(got) >= 2: break
out['dlq'] = got
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.dlq, { plain: ['2', []], 'with attribute': ['2', ['MyAttribute']] });
  });

  it('a batch entry over MaximumMessageSize and RemovePermission of an unknown label, as AWS words them (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-small', Attributes={'MaximumMessageSize': '1024'})['QueueUrl']
r = sqs.send_message_batch(QueueUrl=u, Entries=[{'Id': 'ok', 'MessageBody': 'a'}, {'Id': 'big', 'MessageBody': 'a' * 1025}])
out['failed'] = [[f['Id'], f['Code'], f['Message']] for f in r['Failed']]
out['label'] = err(sqs.remove_permission, QueueUrl=u, Label='nope')
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.failed, [['big', 'InvalidParameterValue', 'One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes.']]);
    assert.deepEqual(out.label, ['InvalidParameterValue', "Value nope for parameter Label is invalid. Reason: can't find label.", 400]);
  });

  it('KMS encryption turns SQS-managed encryption off; attribute names in any script; an old receipt changes the visibility of the message received again (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-sse')['QueueUrl']
want = ['KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds', 'SqsManagedSseEnabled']
out['before'] = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=want)['Attributes']
sqs.set_queue_attributes(QueueUrl=u, Attributes={'KmsMasterKeyId': 'testKeyId', 'KmsDataKeyReusePeriodSeconds': '6000'})
out['kms'] = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=want)['Attributes']
sqs.set_queue_attributes(QueueUrl=u, Attributes={'KmsMasterKeyId': '', 'KmsDataKeyReusePeriodSeconds': '300'})
out['after'] = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=want)['Attributes']
r = sqs.send_message(QueueUrl=u, MessageBody='test', MessageAttributes={'attr.1øßä': {'DataType': 'String', 'StringValue': 'Valida'}})
out['unicode_name'] = 'MessageId' in r
out['symbol_name'] = err(sqs.send_message, QueueUrl=u, MessageBody='test', MessageAttributes={'Invalid-§-attr': {'DataType': 'String', 'StringValue': 'v'}})
v = sqs.create_queue(QueueName='conf-old-receipt')['QueueUrl']
sqs.send_message(QueueUrl=v, MessageBody='test')
first = sqs.receive_message(QueueUrl=v, WaitTimeSeconds=2, VisibilityTimeout=0)['Messages'][0]['ReceiptHandle']
out['second'] = len(sqs.receive_message(QueueUrl=v, VisibilityTimeout=300, WaitTimeSeconds=2).get('Messages', []))
sqs.change_message_visibility(QueueUrl=v, ReceiptHandle=first, VisibilityTimeout=0)
out['third'] = len(sqs.receive_message(QueueUrl=v, WaitTimeSeconds=2).get('Messages', []))
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.before, { SqsManagedSseEnabled: 'true' });
    assert.deepEqual(out.kms, { KmsMasterKeyId: 'testKeyId', KmsDataKeyReusePeriodSeconds: '6000', SqsManagedSseEnabled: 'false' });
    assert.deepEqual(out.after, { SqsManagedSseEnabled: 'false' });
    assert.equal(out.unicode_name, true);
    assert.equal((out.symbol_name as string[])[0], 'InvalidParameterValue');
    assert.equal(out.second, 1);
    assert.equal(out.third, 1, 'the first receipt made the message visible again');
  });

  it('query protocol XML as AWS writes it: an empty result element, CreateQueue/ListQueues refused on a queue URL, a bare request to a queue URL, SNS errors without Detail', async () => {
    const { QueueUrl } = await b.sqs.send(new CreateQueueCommand({ QueueName: 'conf-xml' }));
    const form = (path: string, body: string) => rawRequest(b.port, { path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const queuePath = new URL(QueueUrl!).pathname;
    const empty = await form(queuePath, 'Action=ReceiveMessage&Version=2012-11-05');
    assert.equal(empty.status, 200);
    assert.match(empty.body, /<ReceiveMessageResult\/>/);
    for (const action of ['CreateQueue&QueueName=other', 'ListQueues']) {
      const r = await form(queuePath, `Action=${action}&Version=2012-11-05`);
      assert.equal(r.status, 400);
      assert.match(r.body, /<Code>InvalidAction<\/Code><Message>The action (CreateQueue|ListQueues) is not valid for this endpoint\.<\/Message><Detail\/>/);
    }
    const bare = await rawRequest(b.port, { method: 'GET', path: queuePath });
    assert.equal(bare.status, 404);
    assert.match(bare.body, /<UnknownOperationException\/>/);
    const sns = await form('/', 'Action=GetTopicAttributes&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:000000000000:nope');
    assert.equal(sns.status, 404);
    assert.match(sns.body, /<Code>NotFound<\/Code><Message>Topic does not exist<\/Message><\/Error>/);
  });

  it('a queue may be its own dead-letter queue (AWS accepts it); its messages are kept, and an empty RedrivePolicy removes it (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-self-dlq')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sqs.set_queue_attributes(QueueUrl=u, Attributes={'RedrivePolicy': json.dumps({'deadLetterTargetArn': arn, 'maxReceiveCount': '1'})})
out['policy'] = json.loads(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['RedrivePolicy'])['Attributes']['RedrivePolicy'])
sqs.send_message(QueueUrl=u, MessageBody='kept')
counts = []
for _ in range(3):
    m = sqs.receive_message(QueueUrl=u, VisibilityTimeout=0, WaitTimeSeconds=2, AttributeNames=['ApproximateReceiveCount']).get('Messages', [])
    counts.append(len(m))
out['received'] = counts
sqs.set_queue_attributes(QueueUrl=u, Attributes={'RedrivePolicy': ''})
out['after'] = 'RedrivePolicy' in sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['All'])['Attributes']
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.policy, { deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:conf-self-dlq', maxReceiveCount: 1 });
    assert.deepEqual(out.received, [1, 1, 1]);
    assert.equal(out.after, false);
  });

  it('AddPermission writes the policy as AWS does; GetQueueAttributes leaves Attributes out when none has a value (boto3, SDK v3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
u = sqs.create_queue(QueueName='conf-perm')['QueueUrl']
sqs.add_permission(QueueUrl=u, Label='crossaccountpermission', AWSAccountIds=['668614515564', '000000000000'], Actions=['ReceiveMessage'])
sqs.add_permission(QueueUrl=u, Label='crossaccountpermission2', AWSAccountIds=['000000000000'], Actions=['ReceiveMessage', 'SendMessage'])
out['policy'] = json.loads(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['Policy'])['Attributes']['Policy'])
print(json.dumps(out))
`,
    );
    const arn = 'arn:aws:sqs:us-east-1:000000000000:conf-perm';
    assert.deepEqual(out.policy, {
      Version: '2008-10-17',
      Id: `${arn}/SQSDefaultPolicy`,
      Statement: [
        { Sid: 'crossaccountpermission', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::668614515564:root', 'arn:aws:iam::000000000000:root'] }, Action: 'SQS:ReceiveMessage', Resource: arn },
        { Sid: 'crossaccountpermission2', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: ['SQS:ReceiveMessage', 'SQS:SendMessage'], Resource: arn },
      ],
    });
    const { QueueUrl } = await b.sqs.send(new CreateQueueCommand({ QueueName: 'conf-no-policy' }));
    const none = await b.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['Policy'] }));
    assert.equal(none.Attributes, undefined);
  });
});

