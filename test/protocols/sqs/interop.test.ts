/**
 * Interop with clients no one here wrote: Debian's `awscli` (/usr/bin/aws, query protocol) and `python3-boto3`
 * (botocore, query protocol), against a broker that verifies SigV4. Needs the Debian packages
 * `awscli python3-boto3`; the tests fail (not skip) when they are missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { awsCliEnv, startSqsBroker, type SqsBroker } from './helpers.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const PYTHON = '/usr/bin/python3';
const CREDS = { accessKeyId: 'AKIDINTEROP', secretAccessKey: 'interop-secret' };

const clientEnv = () => awsCliEnv(CREDS);

describe('interop: Debian awscli and python3-boto3', function () {
  this.timeout(300_000); // a guard: every step starts an aws CLI process (~1 s of CPU each)
  let b: SqsBroker;
  before(async () => {
    if (!existsSync(AWS)) throw new Error(`${AWS} is missing: install the Debian packages 'awscli python3-boto3' (apt-get install -y awscli python3-boto3)`);
    try {
      await run(PYTHON, ['-c', 'import boto3'], { env: clientEnv() });
    } catch {
      throw new Error(`${PYTHON} cannot import boto3: install the Debian package 'python3-boto3' (apt-get install -y awscli python3-boto3)`);
    }
    b = await startSqsBroker({ sqs: { credentials: [CREDS] } });
  });
  after(async () => {
    await b?.close();
  });

  const aws = async (...args: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await run(AWS, ['--endpoint-url', b.endpoint, '--output', 'json', ...args], { env: clientEnv() });
    return stdout.trim() ? JSON.parse(stdout) : {};
  };

  it('aws CLI: create, send, receive, delete; SNS → SQS fan-out', async () => {
    const version = (await run(AWS, ['--version'], { env: clientEnv() })).stdout;
    assert.match(version, /^aws-cli\/2\.9\.\d+ .*debian/, `expected Debian's aws-cli 2.9, got ${version}`);
    const { QueueUrl } = (await aws('sqs', 'create-queue', '--queue-name', 'cli-q', '--attributes', 'VisibilityTimeout=40')) as { QueueUrl: string };
    assert.equal(QueueUrl, `${b.endpoint}/000000000000/cli-q`);
    const sent = (await aws('sqs', 'send-message', '--queue-url', QueueUrl, '--message-body', 'hi from the cli', '--message-attributes', JSON.stringify({ k: { DataType: 'String', StringValue: 'v' }, bin: { DataType: 'Binary', BinaryValue: 'AQID' } }))) as Record<string, string>;
    assert.ok(sent.MessageId);
    assert.equal(sent.MD5OfMessageBody, createHash('md5').update('hi from the cli').digest('hex'));
    const got = (await aws('sqs', 'receive-message', '--queue-url', QueueUrl, '--attribute-names', 'All', '--message-attribute-names', 'All', '--wait-time-seconds', '2')) as {
      Messages: Array<{ Body: string; ReceiptHandle: string; MessageAttributes: Record<string, { StringValue?: string; BinaryValue?: string }>; Attributes: Record<string, string> }>;
    };
    assert.equal(got.Messages.length, 1);
    assert.equal(got.Messages[0].Body, 'hi from the cli');
    assert.equal(got.Messages[0].MessageAttributes.k.StringValue, 'v');
    assert.equal(got.Messages[0].MessageAttributes.bin.BinaryValue, 'AQID');
    assert.equal(got.Messages[0].Attributes.SenderId, CREDS.accessKeyId);
    await aws('sqs', 'delete-message', '--queue-url', QueueUrl, '--receipt-handle', got.Messages[0].ReceiptHandle);
    const attrs = (await aws('sqs', 'get-queue-attributes', '--queue-url', QueueUrl, '--attribute-names', 'All')) as { Attributes: Record<string, string> };
    assert.equal(attrs.Attributes.VisibilityTimeout, '40');
    assert.equal(attrs.Attributes.ApproximateNumberOfMessagesNotVisible, '0');

    const { TopicArn } = (await aws('sns', 'create-topic', '--name', 'cli-topic')) as { TopicArn: string };
    const arn = 'arn:aws:sqs:us-east-1:000000000000:cli-q';
    await aws('sqs', 'create-queue', '--queue-name', 'cli-q2');
    await aws('sns', 'subscribe', '--topic-arn', TopicArn, '--protocol', 'sqs', '--notification-endpoint', arn, '--attributes', 'RawMessageDelivery=true');
    await aws('sns', 'subscribe', '--topic-arn', TopicArn, '--protocol', 'sqs', '--notification-endpoint', 'arn:aws:sqs:us-east-1:000000000000:cli-q2');
    const pub = (await aws('sns', 'publish', '--topic-arn', TopicArn, '--message', 'fan out', '--message-attributes', JSON.stringify({ x: { DataType: 'String', StringValue: 'y' } }))) as { MessageId: string };
    assert.ok(pub.MessageId);
    const raw = (await aws('sqs', 'receive-message', '--queue-url', QueueUrl, '--wait-time-seconds', '3', '--message-attribute-names', 'All')) as { Messages: Array<{ Body: string; MessageAttributes: Record<string, { StringValue: string }> }> };
    assert.equal(raw.Messages[0].Body, 'fan out');
    assert.equal(raw.Messages[0].MessageAttributes.x.StringValue, 'y');
    const env = (await aws('sqs', 'receive-message', '--queue-url', `${b.endpoint}/000000000000/cli-q2`, '--wait-time-seconds', '3')) as { Messages: Array<{ Body: string }> };
    const n = JSON.parse(env.Messages[0].Body);
    assert.equal(n.Type, 'Notification');
    assert.equal(n.Message, 'fan out');
    assert.equal(n.MessageId, pub.MessageId);
    const subs = (await aws('sns', 'list-subscriptions-by-topic', '--topic-arn', TopicArn)) as { Subscriptions: unknown[] };
    assert.equal(subs.Subscriptions.length, 2);
    await aws('sqs', 'delete-queue', '--queue-url', `${b.endpoint}/000000000000/cli-q2`);
    const list = (await aws('sqs', 'list-queues')) as { QueueUrls: string[] };
    assert.deepEqual(list.QueueUrls, [QueueUrl]);
    // a wrong secret is refused
    const bad = await run(AWS, ['--endpoint-url', b.endpoint, 'sqs', 'list-queues'], { env: { ...clientEnv(), AWS_SECRET_ACCESS_KEY: 'wrong' } }).catch((e: { stderr: string }) => e);
    assert.match((bad as { stderr: string }).stderr, /SignatureDoesNotMatch/);
  });

  it('boto3: batches, long polling, FIFO, SNS fan-out with a filter policy', async () => {
    const script = `
import json, sys, boto3
ep = sys.argv[1]
sqs = boto3.client('sqs', endpoint_url=ep, region_name='us-east-1')
sns = boto3.client('sns', endpoint_url=ep, region_name='us-east-1')
out = {}
url = sqs.create_queue(QueueName='py-q')['QueueUrl']
r = sqs.send_message_batch(QueueUrl=url, Entries=[{'Id': str(i), 'MessageBody': 'm%d' % i, 'MessageAttributes': {'i': {'DataType': 'Number', 'StringValue': str(i)}}} for i in range(10)])
out['sent'] = len(r.get('Successful', []))
got = []
while len(got) < 10:
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, MessageAttributeNames=['All']).get('Messages', [])
    if not msgs: break
    got += msgs
    d = sqs.delete_message_batch(QueueUrl=url, Entries=[{'Id': str(k), 'ReceiptHandle': m['ReceiptHandle']} for k, m in enumerate(msgs)])
    assert not d.get('Failed'), d
out['bodies'] = sorted(m['Body'] for m in got)
out['attr'] = got[0]['MessageAttributes']['i']['DataType']
f = sqs.create_queue(QueueName='py.fifo', Attributes={'FifoQueue': 'true', 'ContentBasedDeduplication': 'true'})['QueueUrl']
for body in ['a', 'b', 'a']:
    sqs.send_message(QueueUrl=f, MessageBody=body, MessageGroupId='g')
out['fifo'] = [m['Body'] for m in sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10).get('Messages', [])]
t = sns.create_topic(Name='py-topic')['TopicArn']
qa = sqs.create_queue(QueueName='py-a')['QueueUrl']
qb = sqs.create_queue(QueueName='py-b')['QueueUrl']
arn = lambda u: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['QueueArn'])['Attributes']['QueueArn']
sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn(qa), Attributes={'RawMessageDelivery': 'true'})
sns.subscribe(TopicArn=t, Protocol='sqs', Endpoint=arn(qb), Attributes={'RawMessageDelivery': 'true', 'FilterPolicy': json.dumps({'kind': ['b']})})
for k in ['a', 'b']:
    sns.publish(TopicArn=t, Message='to ' + k, MessageAttributes={'kind': {'DataType': 'String', 'StringValue': k}})
def drain(u, n):
    res = []
    for _ in range(5):
        res += [m['Body'] for m in sqs.receive_message(QueueUrl=u, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])]
        if len(res) >= n: break
    return sorted(res)
out['a'] = drain(qa, 2)
out['b'] = drain(qb, 1)
try:
    sqs.get_queue_url(QueueName='does-not-exist')
except sqs.exceptions.QueueDoesNotExist as e:
    out['error'] = e.response['Error']['Code']
print(json.dumps(out))
`;
    const { stdout } = await run(PYTHON, ['-c', script, b.endpoint], { env: clientEnv() });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(out.sent, 10);
    assert.deepEqual(out.bodies, Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
    assert.equal(out.attr, 'Number');
    assert.deepEqual(out.fifo, ['a', 'b']);
    assert.deepEqual(out.a, ['to a', 'to b']);
    assert.deepEqual(out.b, ['to b']);
    assert.equal(out.error, 'AWS.SimpleQueueService.NonExistentQueue');
  });
});
