/**
 * SNS answers compared with AWS's own (as recorded against AWS in LocalStack's validated snapshot tests), driven by
 * Debian's python3-boto3.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { awsCliEnv, KEY, startSqsBroker, type SqsBroker } from '../sqs/helpers.js';

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

describe('SNS answers as AWS gives them', function () {
  this.timeout(60_000);
  let b: SqsBroker;
  before(async () => {
    b = await startSqsBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('X-Amzn-Trace-Id on Publish reaches the SQS subscriber as AWSTraceHeader (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
TRACE = 'Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1'
def add_trace(request, **kwargs):
    request.headers['X-Amzn-Trace-Id'] = TRACE
sns.meta.events.register('before-send.sns.Publish', add_trace)
u = sqs.create_queue(QueueName='conf-trace')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
t = sns.create_topic(Name='conf-trace')['TopicArn']
sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn)
sns.publish(TopicArn=t, Message='traced via sns')
m = sqs.receive_message(QueueUrl=u, AttributeNames=['AWSTraceHeader'], WaitTimeSeconds=5)['Messages'][0]
out['sns'] = m.get('Attributes', {}).get('AWSTraceHeader')
print(json.dumps(out))
`,
    );
    const trace = 'Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1';
    assert.equal(out.sns, trace);
  });

  it('SNS validation and attributes in AWS words (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
t = sns.create_topic(Name='conf-sns')['TopicArn']
out['name'] = err(sns.create_topic, Name='bad name!')
out['fifo_name'] = err(sns.create_topic, Name='conf-sns.fifo')
out['subject'] = err(sns.publish, TopicArn=t, Message='m', Subject='')
out['endpoint'] = err(sns.publish, TargetArn=t.rsplit(':', 1)[0] + ':endpoint/APNS/app/0f7d5971-aa8b-4bd5-b585-0826e9f93a66', Message='m')
out['token_topic'] = err(sns.confirm_subscription, TopicArn=t + 'x', Token='51b2ff3edb475b7d91550e0ab6edf0c1de2a34e6ebaf6c2262a001bcb7e051c43aa00022ceecce70bd2a67')
out['token_bad'] = err(sns.confirm_subscription, TopicArn=t, Token='randomtoken')
out['token_unknown'] = err(sns.confirm_subscription, TopicArn=t, Token='51b2ff3edb475b7d91550e0ab6edf0c1de2a34e6ebaf6c2262a001bcb7e051c43aa00022ceecce70bd2a67')
out['batch_dot'] = err(sns.publish_batch, TopicArn=t, PublishBatchRequestEntries=[{'Id': 'message.id', 'Message': 'm'}])
out['batch_long'] = err(sns.publish_batch, TopicArn=t, PublishBatchRequestEntries=[{'Id': 'a' * 81, 'Message': 'm'}])
out['batch_many'] = err(sns.publish_batch, TopicArn=t, PublishBatchRequestEntries=[{'Id': 'i%d' % i, 'Message': 'm'} for i in range(11)])
ft = sns.create_topic(Name='conf-sns.fifo', Attributes={'FifoTopic': 'true'})['TopicArn']
out['batch_same_id'] = err(sns.publish_batch, TopicArn=ft, PublishBatchRequestEntries=[{'Id': '1', 'Message': 'm'}, {'Id': '1', 'Message': 'm'}])
out['batch_no_default'] = err(sns.publish_batch, TopicArn=ft, PublishBatchRequestEntries=[{'Id': '1', 'Message': json.dumps({'sqs': 'x'}), 'MessageStructure': 'json'}])
u = sqs.create_queue(QueueName='conf-sns-q')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
out['sub_attr'] = err(sns.subscribe, TopicArn=t, Protocol='sqs', Endpoint=arn, Attributes={'RawMessageDelivery': 'wrongvalue'})
s = sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn, ReturnSubscriptionArn=True, Attributes={'RawMessageDelivery': 'TrUe', 'FilterPolicyScope': 'MessageBody', 'FilterPolicy': ''})['SubscriptionArn']
out['sub_attrs'] = sns.get_subscription_attributes(SubscriptionArn=s)['Attributes']
out['topic_policy'] = json.loads(sns.get_topic_attributes(TopicArn=t)['Attributes']['EffectiveDeliveryPolicy'])
print(json.dumps(out))
`,
    );
    const inv = (m: string) => ['InvalidParameter', m, 400];
    assert.deepEqual(out.name, inv('Invalid parameter: Topic Name'));
    assert.deepEqual(out.fifo_name, inv('Invalid parameter: Topic Name'));
    assert.deepEqual(out.subject, inv('Invalid parameter: Subject'));
    assert.deepEqual(out.endpoint, inv('Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified'));
    assert.deepEqual(out.token_topic, inv('Invalid parameter: Token'));
    assert.deepEqual(out.token_bad, inv('Invalid token'));
    assert.deepEqual(out.token_unknown, inv('Invalid parameter: Token'));
    assert.deepEqual(out.batch_dot, ['InvalidBatchEntryId', 'The Id of a batch entry in the batch request contains an impermissible character: message.id', 400]);
    assert.deepEqual(out.batch_long, ['InvalidBatchEntryId', `The Id of a batch entry in the batch request is too long: ${'a'.repeat(81)}`, 400]);
    assert.deepEqual(out.batch_many, ['TooManyEntriesInBatchRequest', 'The batch request contains more entries than permissible.', 400]);
    assert.deepEqual(out.batch_same_id, ['BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id.', 400]);
    assert.deepEqual(out.batch_no_default, inv('Invalid parameter: Message Structure - No default entry in JSON message body'));
    assert.deepEqual(out.sub_attr, inv('Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [wrongvalue]. Must be true or false.'));
    const subAttrs = out.sub_attrs as Record<string, string>;
    assert.equal(subAttrs.RawMessageDelivery, 'true');
    assert.equal(subAttrs.FilterPolicyScope, undefined, 'no scope without a filter policy');
    assert.deepEqual((out.topic_policy as { http: Record<string, unknown> }).http.defaultRequestPolicy, { headerContentType: 'text/plain; charset=UTF-8' });
  });

  it('SNS to SQS: a FIFO topic\'s group stays off a standard queue; a dead-lettered message carries no attributes of its own (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
ft = sns.create_topic(Name='conf-group.fifo', Attributes={'FifoTopic': 'true', 'ContentBasedDeduplication': 'true'})['TopicArn']
u = sqs.create_queue(QueueName='conf-group-std')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sns.subscribe(TopicArn=ft, Protocol='sqs', Endpoint=arn)
sns.publish(TopicArn=ft, Message='grouped', MessageGroupId='g1')
m = sqs.receive_message(QueueUrl=u, AttributeNames=['All'], WaitTimeSeconds=5)['Messages'][0]
out['group'] = sorted(m['Attributes'].keys())
t = sns.create_topic(Name='conf-dlq')['TopicArn']
dlq = sqs.create_queue(QueueName='conf-dlq')['QueueUrl']
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
gone = sqs.create_queue(QueueName='conf-gone')['QueueUrl']
gone_arn = sqs.get_queue_attributes(QueueUrl=gone, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=gone_arn, Attributes={'RawMessageDelivery': 'true', 'RedrivePolicy': json.dumps({'deadLetterTargetArn': dlq_arn})})
sqs.delete_queue(QueueUrl=gone)
sns.publish(TopicArn=t, Message='undeliverable', MessageAttributes={'a': {'DataType': 'String', 'StringValue': 'v'}})
m = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=['All'], WaitTimeSeconds=5)['Messages'][0]
out['dlq'] = [m['Body'], sorted(m.get('MessageAttributes', {}).keys())]
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.group, ['ApproximateFirstReceiveTimestamp', 'ApproximateReceiveCount', 'SenderId', 'SentTimestamp']);
    assert.deepEqual(out.dlq, ['undeliverable', ['a']]);
  });

  it('idempotent CreateTopic and Subscribe as AWS judges them; DLQ types of FIFO subscriptions; batch size counts attributes (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
t = sns.create_topic(Name='conf-idem', Attributes={'DisplayName': 'Value1'})['TopicArn']
out['same_fifo_false'] = sns.create_topic(Name='conf-idem', Attributes={'FifoTopic': 'false'})['TopicArn'] == t
out['diff'] = err(sns.create_topic, Name='conf-idem', Attributes={'DisplayName': 'Value2'})
s = sns.create_topic(Name='conf-std', Attributes={'FifoTopic': 'false'})['TopicArn']
out['std_attrs'] = sorted(sns.get_topic_attributes(TopicArn=s)['Attributes'].keys())
u = sqs.create_queue(QueueName='conf-idem-q')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
def sub(**attrs):
    return sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn, ReturnSubscriptionArn=True, Attributes=attrs)['SubscriptionArn']
first = sub(RawMessageDelivery='True')
out['idempotent'] = [sub(RawMessageDelivery='true') == first, sub(RawMessageDelivery='true', FilterPolicyScope='MessageAttributes') == first, sub() == first, sub(FilterPolicyScope='MessageAttributes') == first]
out['sub_diff'] = err(sns.subscribe, TopicArn=t, Protocol='sqs', Endpoint=arn, Attributes={'RawMessageDelivery': 'false', 'FilterPolicyScope': 'MessageBody'})
ft = sns.create_topic(Name='conf-ff.fifo', Attributes={'FifoTopic': 'true'})['TopicArn']
fq = sqs.create_queue(QueueName='conf-ff.fifo', Attributes={'FifoQueue': 'true'})['QueueUrl']
fq_arn = sqs.get_queue_attributes(QueueUrl=fq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
std_dlq = sqs.create_queue(QueueName='conf-ff-dlq')['QueueUrl']
std_dlq_arn = sqs.get_queue_attributes(QueueUrl=std_dlq, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
std_sub = sns.subscribe(TopicArn=ft, Protocol='sqs', Endpoint=arn, ReturnSubscriptionArn=True)['SubscriptionArn']
out['std_on_fifo_dlq'] = err(sns.set_subscription_attributes, SubscriptionArn=std_sub, AttributeName='RedrivePolicy', AttributeValue=json.dumps({'deadLetterTargetArn': std_dlq_arn}))
fifo_sub = sns.subscribe(TopicArn=ft, Protocol='sqs', Endpoint=fq_arn, ReturnSubscriptionArn=True)['SubscriptionArn']
out['fifo_dlq'] = err(sns.set_subscription_attributes, SubscriptionArn=fifo_sub, AttributeName='RedrivePolicy', AttributeValue=json.dumps({'deadLetterTargetArn': std_dlq_arn}))
out['bad_json'] = err(sns.set_subscription_attributes, SubscriptionArn=std_sub, AttributeName='RedrivePolicy', AttributeValue='{invalid')
big = 'x' * (262144 - 10)
out['batch_attrs'] = err(sns.publish_batch, TopicArn=t, PublishBatchRequestEntries=[{'Id': '1', 'Message': big, 'MessageAttributes': {'attribute': {'DataType': 'String', 'StringValue': 'a value that tips it over'}}}])
print(json.dumps(out))
`,
    );
    assert.equal(out.same_fifo_false, true);
    assert.deepEqual(out.diff, ['InvalidParameter', 'Invalid parameter: Attributes Reason: Topic already exists with different attributes', 400]);
    assert.ok(!(out.std_attrs as string[]).includes('FifoTopic'), 'a standard topic shows no FifoTopic');
    assert.deepEqual(out.idempotent, [true, true, true, true]);
    assert.deepEqual(out.sub_diff, ['InvalidParameter', 'Invalid parameter: Attributes Reason: Subscription already exists with different attributes', 400]);
    assert.equal(out.std_on_fifo_dlq, null, 'a standard queue on a FIFO topic takes a standard DLQ');
    assert.deepEqual(out.fifo_dlq, ['InvalidParameter', 'Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.', 400]);
    assert.match((out.bad_json as string[])[1], /^Invalid parameter: RedrivePolicy: failed to parse JSON\. /);
    assert.deepEqual(out.batch_attrs, ['BatchRequestTooLong', 'The length of all the messages put together is more than the limit.', 400]);
  });

  it('filter policy errors in AWS words (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
t = sns.create_topic(Name='conf-filter')['TopicArn']
u = sqs.create_queue(QueueName='conf-filter-q')['QueueUrl']
arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
s = sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn, ReturnSubscriptionArn=True)['SubscriptionArn']
def setp(policy):
    return err(sns.set_subscription_attributes, SubscriptionArn=s, AttributeName='FilterPolicy', AttributeValue=json.dumps(policy))
def subp(policy):
    r = err(sns.subscribe, TopicArn=t, Protocol='sqs', Endpoint=arn, Attributes={'FilterPolicy': json.dumps(policy)})
    return r and r[1]
out['nested'] = setp({'object': {'key': [{'prefix': 'auto-'}]}})
out['msgs'] = [subp(p) for p in [
    {'key': [['value']]},
    {'key': [{'suffix': 'value', 'prefix': 'value2'}]},
    {'key': []},
    {'key': {'suffix': 'value'}},
    {'key': [{'numeric': []}]},
    {'key': [{'numeric': ['operator']}]},
    {'key': [{'numeric': [1, '<=']}]},
    {'key': [{'numeric': ['=', '000']}]},
    {'key': [{'numeric': ['<', 100, '>', 10]}]},
    {'key': [{'numeric': ['>', 10, '>', 20]}]},
    {'key': [{'numeric': ['>', 10, 30]}]},
    {'key': [{'numeric': ['>', 0, '<', 10, '>', 20]}]},
    {'key': [{'cidr': 'bad-filter'}]},
    {'key': [{'cidr': 'bad-filter/64'}]},
    {'key': [{'cidr': 'bad-/64filter'}]},
    {'key': [{'anything-but': {'wrong-operator': None}}]},
    {'key': ['value%d' % i for i in range(151)]},
    {'k%d' % i: ['v'] for i in range(6)},
]]
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.nested, ['InvalidParameter', 'Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy', 400]);
    const p = 'Invalid parameter: Attributes Reason: FilterPolicy: ';
    assert.deepEqual(
      out.msgs,
      [
        'Match value must be String, number, true, false, or null',
        'Only one key allowed in match expression',
        'Empty arrays are not allowed',
        '"suffix" must be an object or an array',
        'Invalid member in numeric match: ]',
        'Unrecognized numeric range operator: operator',
        'Invalid member in numeric match: 1',
        'Value of equals must be numeric',
        'Too many elements in numeric expression',
        'Bad numeric range operator: >',
        'Bad value in numeric range: 30',
        'Too many terms in numeric range expression',
        "Malformed CIDR, one '/' required",
        'Nonstandard IP address: bad-filter',
        'Malformed CIDR, mask bits must be an integer',
        'Unsupported anything-but pattern: wrong-operator',
        'Filter policy is too complex',
        'Filter policy can not have more than 5 keys',
      ].map((m) => p + m),
    );
  });

  it('a MessageBody filter policy compares dotted paths both ways (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
def setup(name, policy):
    t = sns.create_topic(Name=name)['TopicArn']
    u = sqs.create_queue(QueueName=name)['QueueUrl']
    arn = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
    sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn, Attributes={'FilterPolicyScope': 'MessageBody', 'FilterPolicy': json.dumps(policy), 'RawMessageDelivery': 'true'})
    return t, u
def delivered(t, u, msgs):
    for m in msgs:
        sns.publish(TopicArn=t, Message=json.dumps(m))
    sns.publish(TopicArn=t, Message=json.dumps({'end': True, 'object': {'nested': 'string.value'}}))
    # the marker matches too; deliveries to a standard queue may come in any order, so wait for it and the two others
    got = []
    for _ in range(10):
        got += [m['Body'] for m in sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, WaitTimeSeconds=2).get('Messages', [])]
        if len(got) >= 3 and any('end' in json.loads(g) for g in got):
            break
    got += [m['Body'] for m in sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])]
    return sorted(g for g in got if 'end' not in json.loads(g))
msgs = [{'object': {'nested': 'string.value'}}, {'object.nested': 'string.value'}, {'object': {'nested': 'test-auto'}}]
out['dotted_policy'] = delivered(*setup('conf-dot1', {'object.nested': ['string.value']}), msgs)
out['nested_policy'] = delivered(*setup('conf-dot2', {'object': {'nested': ['string.value']}}), msgs)
print(json.dumps(out))
`,
    );
    const both = ['{"object": {"nested": "string.value"}}', '{"object.nested": "string.value"}'];
    assert.deepEqual(out.dotted_policy, both);
    assert.deepEqual(out.nested_policy, both);
  });

  it('envelopes as AWS sends them: a FIFO topic\'s unsigned, a standard topic\'s MessageGroupId kept, a non-string MessageStructure entry ignored, the SNS wording of a bad attribute type (boto3)', async () => {
    const out = await boto3(
      b,
      BOTO3_PRELUDE +
        `
def queue(name, **attrs):
    u = sqs.create_queue(QueueName=name, Attributes=attrs)['QueueUrl']
    return u, sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
def one(u):
    m = sqs.receive_message(QueueUrl=u, AttributeNames=['All'], WaitTimeSeconds=5)['Messages'][0]
    sqs.delete_message(QueueUrl=u, ReceiptHandle=m['ReceiptHandle'])
    return m
ft = sns.create_topic(Name='conf-env.fifo', Attributes={'FifoTopic': 'true', 'ContentBasedDeduplication': 'true'})['TopicArn']
fu, farn = queue('conf-env.fifo', FifoQueue='true')
sns.subscribe(TopicArn=ft, Protocol='sqs', Endpoint=farn)
sns.publish(TopicArn=ft, Message='fifo', MessageGroupId='g')
out['fifo_keys'] = sorted(json.loads(one(fu)['Body']).keys())
t = sns.create_topic(Name='conf-env')['TopicArn']
u, arn = queue('conf-env')
sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn)
sns.publish(TopicArn=t, Message='grouped', MessageGroupId='my-group-id-1')
m = one(u)
out['group'] = m['Attributes'].get('MessageGroupId')
out['std_signed'] = 'Signature' in json.loads(m['Body'])
sns.publish(TopicArn=t, MessageStructure='json', Message=json.dumps({'default': 'default field', 'sqs': {'field': 'value'}}))
out['structure'] = json.loads(one(u)['Body'])['Message']
out['type'] = err(sns.publish, TopicArn=t, Message='m', MessageAttributes={'attr1': {'DataType': 'String.', 'StringValue': 'v'}})
out['type2'] = err(sns.publish, TopicArn=t, Message='m', MessageAttributes={'attr1': {'DataType': 'Stringprefixed', 'StringValue': 'v'}})
print(json.dumps(out))
`,
    );
    assert.deepEqual(out.fifo_keys, ['Message', 'MessageId', 'SequenceNumber', 'Timestamp', 'TopicArn', 'Type', 'UnsubscribeURL']);
    assert.equal(out.group, 'my-group-id-1');
    assert.equal(out.std_signed, true);
    assert.equal(out.structure, 'default field');
    const typeErr = ['ParameterValueInvalid', "The message attribute 'attr1' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", 400];
    assert.deepEqual(out.type, typeErr);
    assert.deepEqual(out.type2, typeErr);
  });
});

