/**
 * What a user does with Debian's `awscli` (2.9.19, SQS and SNS over the query protocol) and `python3-boto3`
 * (1.26.27 / botocore 1.29) against Wharf: every call is the real client (one `aws` process per call, as in a
 * shell script), driven by the small scripts in py/ that print one JSON object of what each call printed and
 * its exit code; the assertions are here. MD5OfMessageBody / MD5OfMessageAttributes are recomputed in Python
 * (py/sqs_md5.py, independent of Wharf) because botocore 1.29 does not check them itself.
 *
 * The four scenarios run at once, each against a broker of its own, in `before` (the CLI spends ~0.4 s per
 * call starting Python); each `it` asserts on one of them. Needs the Debian packages `awscli python3-boto3`;
 * the tests fail (not skip) when they are missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../helpers/paths.js';
import { awsCliEnv, startSqsBroker, type SqsBroker } from './helpers.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
/** Debian's python3 (where python3-boto3 installs), not whatever python3 is first on PATH. */
const PYTHON = '/usr/bin/python3';
const PY_DIR = path.join(repoRoot, 'test', 'protocols', 'sqs', 'py');
const CREDS = { accessKeyId: 'AKIDCLIUSER', secretAccessKey: 'cli-user-secret' };
const ACCOUNT = '000000000000';
const SQS_ARN = `arn:aws:sqs:us-east-1:${ACCOUNT}:`;
const SNS_ARN = `arn:aws:sns:us-east-1:${ACCOUNT}:`;

const clientEnv = () => awsCliEnv(CREDS, { PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: PY_DIR });

/* eslint-disable @typescript-eslint/no-explicit-any -- JSON printed by the clients, checked field by field */
type Json = any;
interface Step {
  rc: number;
  out: Json;
  err: string;
}
type Results = Record<string, Json>;

interface Scenario {
  broker?: SqsBroker;
  result?: Promise<Results>;
}

async function runScenario(sc: Scenario, script: string): Promise<Results> {
  sc.broker = await startSqsBroker({ sqs: { credentials: [CREDS] } });
  const { stdout, stderr } = await run(PYTHON, [path.join(PY_DIR, script), sc.broker.endpoint], {
    env: clientEnv(),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 420_000, // a guard, not a measure: ~50 s on a quiet 2-core machine, four scripts of aws CLI processes at once
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  let r: Results;
  try {
    r = JSON.parse(last) as Results;
  } catch {
    throw new Error(`${script} printed no JSON:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
  }
  if (r.exception) throw new Error(`${script} stopped:\n${r.exception}\n(steps so far: ${Object.keys(r).join(', ')})`);
  return r;
}

/** The output of a step that must have succeeded (exit code 0). */
function ok(r: Results, name: string): Json {
  const s = r[name] as Step | undefined;
  assert.ok(s, `step ${name} did not run`);
  assert.equal(s.rc, 0, `${name} failed (exit ${s.rc}): ${s.err}`);
  return s.out;
}

/**
 * A step that must have failed the way the CLI reports a service error: exit code 254 and its one-line
 * message naming the error code and operation, no traceback (a response the CLI cannot parse gives 255).
 */
function fails(r: Results, name: string, code: string, operation: string, message?: RegExp): void {
  const s = r[name] as Step | undefined;
  assert.ok(s, `step ${name} did not run`);
  assert.equal(s.rc, 254, `${name}: expected exit 254, got ${s.rc}: ${s.err || JSON.stringify(s.out)}`);
  assert.match(s.err, new RegExp(`^An error occurred \\(${code.replace(/\./g, '\\.')}\\) when calling the ${operation} operation: .+`), name);
  assert.doesNotMatch(s.err, /Traceback|Exception/, name);
  if (message) assert.match(s.err, message, name);
}

describe('interop: aws CLI and boto3, what users do', function () {
  this.timeout(480_000);
  const scenarios: Record<'sqs' | 'fifo' | 'sns' | 'boto3', Scenario> = { sqs: {}, fifo: {}, sns: {}, boto3: {} };
  const files = { sqs: 'cli_sqs.py', fifo: 'cli_fifo_dlq.py', sns: 'cli_sns.py', boto3: 'boto3_flows.py' } as const;

  before(async () => {
    if (!existsSync(AWS)) throw new Error(`${AWS} is missing: install the Debian packages 'awscli python3-boto3' (apt-get install -y awscli python3-boto3)`);
    const version = (await run(AWS, ['--version'], { env: clientEnv() })).stdout;
    assert.match(version, /^aws-cli\/2\.\d+\.\d+ .*debian/, `expected Debian's aws-cli 2, got ${version}`);
    try {
      await run(PYTHON, ['-c', 'import boto3'], { env: clientEnv() });
    } catch {
      throw new Error(`${PYTHON} cannot import boto3: install the Debian package 'python3-boto3' (apt-get install -y awscli python3-boto3)`);
    }
    for (const k of Object.keys(files) as Array<keyof typeof files>) {
      const sc = scenarios[k];
      sc.result = runScenario(sc, files[k]);
      sc.result.catch(() => undefined); // awaited (and reported) by the scenario's test
    }
  });
  after(async () => {
    await Promise.all(Object.values(scenarios).map((sc) => sc.result?.catch(() => undefined)));
    await Promise.all(Object.values(scenarios).map((sc) => sc.broker?.close()));
  });

  it('aws sqs: queue attributes, send/receive with attributes and delay, visibility, batches, purge, tags, errors', async () => {
    const r = await scenarios.sqs.result!;
    const ep = scenarios.sqs.broker!.endpoint;
    const url = `${ep}/${ACCOUNT}/cli-std`;
    assert.equal(ok(r, 'create').QueueUrl, url);
    assert.equal(ok(r, 'create-again').QueueUrl, url, 'CreateQueue with the same attributes returns the queue');
    fails(r, 'create-conflict', 'QueueAlreadyExists', 'CreateQueue', /VisibilityTimeout/);
    assert.equal(ok(r, 'get-url').QueueUrl, url);
    assert.deepEqual(ok(r, 'list-prefix').QueueUrls, [url, `${ep}/${ACCOUNT}/cli-std-dlq`]);
    const all = [url, `${ep}/${ACCOUNT}/cli-std-dlq`, `${ep}/${ACCOUNT}/other-q`];
    assert.deepEqual([...ok(r, 'list-all').QueueUrls].sort(), [...all].sort());
    assert.deepEqual([...ok(r, 'list-paged').QueueUrls].sort(), [...all].sort(), 'the CLI follows NextToken');
    const maxItems = ok(r, 'list-max-items');
    assert.equal(maxItems.QueueUrls.length, 2);
    assert.ok(maxItems.NextToken, '--max-items leaves a NextToken');

    const created = ok(r, 'attrs-created').Attributes;
    assert.equal(created.QueueArn, `${SQS_ARN}cli-std`);
    assert.equal(created.VisibilityTimeout, '30');
    assert.equal(created.DelaySeconds, '0');
    assert.equal(created.ReceiveMessageWaitTimeSeconds, '1');
    assert.deepEqual(JSON.parse(created.RedrivePolicy), { deadLetterTargetArn: `${SQS_ARN}cli-std-dlq`, maxReceiveCount: 5 });
    for (const k of ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']) assert.equal(created[k], '0', k);
    for (const k of ['CreatedTimestamp', 'LastModifiedTimestamp']) assert.match(created[k], /^\d{10}$/, k);
    assert.equal(created.MaximumMessageSize, '1048576');
    assert.equal(created.MessageRetentionPeriod, '345600');

    // send: ids and MD5s (recomputed in Python); the per-message delay is counted as delayed
    const sent = ok(r, 'send');
    assert.match(sent.MessageId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(r['md5-send'], [true, true]);
    const batch = ok(r, 'send-batch');
    assert.deepEqual(batch.Successful.map((e: Json) => e.Id), ['b1', 'b2', 'b3']);
    assert.equal(batch.Failed, undefined);
    assert.ok(batch.Successful[1].MD5OfMessageAttributes && !batch.Successful[0].MD5OfMessageAttributes);
    assert.deepEqual(ok(r, 'attrs-sent').Attributes, { ApproximateNumberOfMessages: '4', ApproximateNumberOfMessagesNotVisible: '0', ApproximateNumberOfMessagesDelayed: '0' });
    const delayedQ = ok(r, 'attrs-delayed').Attributes;
    assert.equal(delayedQ.ApproximateNumberOfMessagesDelayed, '1');
    assert.equal(delayedQ.ApproximateNumberOfMessages, '0');
    assert.ok(r['too-early-after'] < 15, `the early receive came ${r['too-early-after']} s after the send: too late to tell`);
    assert.deepEqual(ok(r, 'receive-too-early'), {}, 'a delayed message is not received before its delay');
    assert.equal(ok(r, 'receive-delayed').Messages[0].Body, 'delayed');
    assert.ok(r['delayed-after'] >= 14.5, `the delayed message came after ${r['delayed-after']} s`);

    // receive: everything asked for comes back as sent, MD5s match
    const msgs = r.received as Json[];
    assert.deepEqual(msgs.map((m) => m.Body).sort(), ['batch one', 'batch three', 'batch two', 'first ☃']);
    assert.deepEqual(r['md5-received'], [true, true, true, true]);
    const first = msgs.find((m) => m.Body === 'first ☃');
    assert.deepEqual(first.MessageAttributes, {
      color: { DataType: 'String', StringValue: 'blue' },
      count: { DataType: 'Number', StringValue: '42' },
      blob: { DataType: 'Binary', BinaryValue: 'AAEC/w==' },
      custom: { DataType: 'String.utf8', StringValue: 'grüße' },
    });
    assert.equal(first.MessageId, sent.MessageId);
    assert.equal(first.Attributes.SenderId, CREDS.accessKeyId);
    assert.equal(first.Attributes.ApproximateReceiveCount, '1');
    for (const k of ['SentTimestamp', 'ApproximateFirstReceiveTimestamp']) assert.match(first.Attributes[k], /^\d{13}$/, k);
    assert.deepEqual(msgs.find((m) => m.Body === 'batch two').MessageAttributes, { n: { DataType: 'Number', StringValue: '-1.5' } });
    const inFlight = ok(r, 'attrs-received').Attributes;
    assert.equal(inFlight.ApproximateNumberOfMessages, '0');
    assert.equal(inFlight.ApproximateNumberOfMessagesNotVisible, '4');

    // visibility: 0 makes a message visible again (received again with count 2); a bad handle fails its entry only
    assert.deepEqual(ok(r, 'change-vis'), {});
    const cvb = ok(r, 'change-vis-batch');
    assert.deepEqual(cvb.Successful.map((e: Json) => e.Id).sort(), ['keep', 'ok']);
    assert.equal(cvb.Failed.length, 1);
    assert.equal(cvb.Failed[0].Id, 'bad');
    assert.equal(cvb.Failed[0].Code, 'ReceiptHandleIsInvalid');
    assert.equal(cvb.Failed[0].SenderFault, true);
    const again = ok(r, 'receive-again').Messages as Json[];
    assert.deepEqual(again.map((m) => [m.Body, m.Attributes.ApproximateReceiveCount]).sort(), [['batch one', '2'], ['batch two', '2']]);
    const db = ok(r, 'delete-batch');
    assert.deepEqual(db.Successful.map((e: Json) => e.Id), ['d0', 'd1', 'd2']);
    assert.deepEqual(db.Failed.map((e: Json) => [e.Id, e.Code, e.SenderFault]), [['bad', 'ReceiptHandleIsInvalid', true]]);
    const afterDelete = ok(r, 'attrs-deleted').Attributes;
    assert.equal(afterDelete.ApproximateNumberOfMessages, '0');
    assert.equal(afterDelete.ApproximateNumberOfMessagesNotVisible, '1', '"batch three" is still invisible (120 s)');
    assert.deepEqual(ok(r, 'delete-again'), {}, 'deleting with an already used handle succeeds, as in AWS');

    // set-queue-attributes, and the new MaximumMessageSize applies
    assert.deepEqual(ok(r, 'attrs-set').Attributes, {
      VisibilityTimeout: '45',
      DelaySeconds: '1',
      MaximumMessageSize: '2048',
      RedrivePolicy: created.RedrivePolicy,
    });
    fails(r, 'too-big', 'InvalidParameterValue', 'SendMessage', /2048/);

    // purge
    assert.equal(ok(r, 'attrs-before-purge').Attributes.ApproximateNumberOfMessages, '5');
    assert.deepEqual(ok(r, 'purge'), {});
    assert.equal(ok(r, 'attrs-purged').Attributes.ApproximateNumberOfMessages, '0');
    assert.deepEqual(ok(r, 'receive-purged'), {});

    // tags
    assert.deepEqual(ok(r, 'tags').Tags, { team: 'core', env: 'test', cost: '7' });
    assert.deepEqual(ok(r, 'tags-after').Tags, { team: 'core' });
    assert.deepEqual(ok(r, 'dl-sources').queueUrls, [url]);

    // errors: the CLI's own one-line message and exit code 254
    fails(r, 'err-get-url', 'AWS.SimpleQueueService.NonExistentQueue', 'GetQueueUrl', /The specified queue does not exist/);
    fails(r, 'err-send-missing', 'AWS.SimpleQueueService.NonExistentQueue', 'SendMessage');
    fails(r, 'err-bad-handle', 'ReceiptHandleIsInvalid', 'DeleteMessage', /"garbage"/);
    fails(r, 'err-bad-vis-handle', 'ReceiptHandleIsInvalid', 'ChangeMessageVisibility');
    fails(r, 'err-max-messages', 'InvalidParameterValue', 'ReceiveMessage', /MaxNumberOfMessages/);
    fails(r, 'err-delay', 'InvalidParameterValue', 'SendMessage', /DelaySeconds/);
    fails(r, 'err-attr-value', 'InvalidAttributeValue', 'CreateQueue', /VisibilityTimeout/);
    fails(r, 'err-queue-name', 'InvalidParameterValue', 'CreateQueue', /QueueName/);
    fails(r, 'err-empty-batch', 'AWS.SimpleQueueService.EmptyBatchRequest', 'SendMessageBatch', /SendMessageBatchRequestEntry/);
    fails(r, 'err-empty-delete-batch', 'AWS.SimpleQueueService.EmptyBatchRequest', 'DeleteMessageBatch', /DeleteMessageBatchRequestEntry/);
    assert.deepEqual(ok(r, 'attrs-none'), {}, '--attribute-names [] returns no attributes');
    fails(r, 'err-batch-ids', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 'SendMessageBatch');

    assert.deepEqual(ok(r, 'delete'), {});
    fails(r, 'err-after-delete', 'AWS.SimpleQueueService.NonExistentQueue', 'GetQueueAttributes');
    assert.deepEqual(ok(r, 'list-after-delete').QueueUrls, [`${ep}/${ACCOUNT}/cli-std-delay`, `${ep}/${ACCOUNT}/cli-std-dlq`]);
  });

  it('aws sqs: FIFO order per group and deduplication; redrive to the DLQ after maxReceiveCount receives', async () => {
    const r = await scenarios.fifo.result!;
    const ep = scenarios.fifo.broker!.endpoint;
    assert.deepEqual(ok(r, 'fifo-attrs').Attributes, { FifoQueue: 'true', ContentBasedDeduplication: 'false' });
    const s1 = ok(r, 'fifo-1');
    const dup = ok(r, 'fifo-dup');
    assert.equal(dup.MessageId, s1.MessageId, 'a duplicate dedup id returns the first message id');
    assert.equal(dup.SequenceNumber, s1.SequenceNumber);
    const fb = ok(r, 'fifo-batch').Successful as Json[];
    assert.equal(fb.length, 4);
    assert.equal(fb.find((e) => e.Id === 'dup').MessageId, ok(r, 'fifo-2').MessageId);
    const seqs = [s1, ok(r, 'fifo-2'), ...fb.filter((e) => e.Id !== 'dup')].map((x) => BigInt(x.SequenceNumber));
    assert.deepEqual([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), seqs, 'sequence numbers increase');
    fails(r, 'fifo-no-group', 'MissingParameter', 'SendMessage', /MessageGroupId/);
    fails(r, 'fifo-no-dedup', 'InvalidParameterValue', 'SendMessage', /ContentBasedDeduplication/);

    const got = ok(r, 'fifo-receive').Messages as Json[];
    const group = (g: string) => got.filter((m) => m.Attributes.MessageGroupId === g).map((m) => m.Body);
    assert.deepEqual(group('g1'), ['g1-a', 'g1-b', 'g1-c'], 'order within group g1');
    assert.deepEqual(group('g2'), ['g2-a', 'g2-b'], 'order within group g2 (the duplicate is not there)');
    assert.equal(got.length, 5);
    assert.deepEqual(r['fifo-md5'], [true, true, true, true, true]);
    const a = got.find((m) => m.Body === 'g1-a');
    assert.equal(a.Attributes.MessageDeduplicationId, 'd1');
    assert.equal(a.Attributes.SequenceNumber, s1.SequenceNumber);
    assert.deepEqual(ok(r, 'fifo-receive-inflight'), {}, 'nothing more while the groups are in flight');
    assert.equal(ok(r, 'fifo-delete').Successful.length, 5);
    assert.deepEqual(ok(r, 'fifo-attrs-after').Attributes, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    assert.equal(ok(r, 'fifo-cbd-2').MessageId, ok(r, 'fifo-cbd-1').MessageId, 'content-based dedup');
    assert.deepEqual(ok(r, 'fifo-cbd-receive').Messages.map((m: Json) => m.Body), ['same body']);
    fails(r, 'fifo-standard-attr', 'InvalidParameterValue', 'CreateQueue', /\.fifo/);

    // redrive
    assert.deepEqual(r['src-receive-counts'], ['1', '2']);
    const dead = ok(r, 'dlq-receive').Messages as Json[];
    assert.equal(dead.length, 1);
    assert.equal(dead[0].Body, 'poison');
    assert.equal(dead[0].MessageId, ok(r, 'src-send').MessageId);
    assert.equal(dead[0].Attributes.DeadLetterQueueSourceArn, `${SQS_ARN}cli-work`);
    assert.deepEqual(ok(r, 'src-receive-after'), {});
    const src = ok(r, 'src-attrs-after').Attributes;
    assert.equal(src.ApproximateNumberOfMessages, '0');
    assert.equal(src.ApproximateNumberOfMessagesNotVisible, '0');
    assert.deepEqual(ok(r, 'dl-sources').queueUrls, [`${ep}/${ACCOUNT}/cli-work`]);
    assert.deepEqual(ok(r, 'dl-sources-none'), {});
    fails(r, 'bad-redrive', 'InvalidParameterValue', 'SetQueueAttributes', /does not exist/);
    assert.deepEqual(ok(r, 'remove-redrive'), {});
    assert.deepEqual(ok(r, 'dl-sources-removed'), {}, 'an empty RedrivePolicy removes the policy');
    ok(r, 'dlq-delete');
  });

  it('aws sns: topics, SQS subscriptions (raw, envelope, filter policy), publish, FIFO topic, tags, errors', async () => {
    const r = await scenarios.sns.result!;
    const topic = `${SNS_ARN}cli-events`;
    const fifo = `${SNS_ARN}cli-events.fifo`;
    assert.equal(ok(r, 'create-topic').TopicArn, topic);
    assert.equal(ok(r, 'create-topic-again').TopicArn, topic, 'CreateTopic is idempotent');
    assert.equal(ok(r, 'create-topic-empty').TopicArn, `${SNS_ARN}cli-plain`, "--attributes '{}' --tags '[]' are accepted");
    assert.deepEqual(ok(r, 'list-topics').Topics.map((t: Json) => t.TopicArn).sort(), [topic, fifo, `${SNS_ARN}cli-plain`].sort());
    const ta = ok(r, 'topic-attrs').Attributes;
    assert.equal(ta.TopicArn, topic);
    assert.equal(ta.DisplayName, 'Events');
    assert.equal(ta.Owner, ACCOUNT);
    assert.ok(JSON.parse(ta.Policy).Statement.length > 0);
    assert.equal(ok(r, 'topic-attrs-after').Attributes.DisplayName, 'Renamed');
    const fa = ok(r, 'fifo-topic-attrs').Attributes;
    assert.equal(fa.FifoTopic, 'true');
    assert.equal(fa.ContentBasedDeduplication, 'true');
    assert.equal(ok(r, 'topic-attrs-subscribed').Attributes.SubscriptionsConfirmed, '3');

    // subscriptions
    const rawArn = ok(r, 'sub-raw').SubscriptionArn as string;
    const envArn = ok(r, 'sub-env').SubscriptionArn as string;
    const filtArn = ok(r, 'sub-filtered').SubscriptionArn as string;
    for (const a of [rawArn, envArn, filtArn]) assert.match(a, new RegExp(`^${topic}:[0-9a-f-]{36}$`));
    fails(r, 'sub-bad-filter', 'InvalidParameter', 'Subscribe', /FilterPolicy/);
    assert.equal(ok(r, 'list-subs').Subscriptions.length, 4);
    const byTopic = ok(r, 'list-subs-topic').Subscriptions as Json[];
    assert.deepEqual(byTopic.map((s) => s.Endpoint).sort(), [`${SQS_ARN}cli-env`, `${SQS_ARN}cli-filtered`, `${SQS_ARN}cli-raw`]);
    for (const s of byTopic) {
      assert.equal(s.Protocol, 'sqs');
      assert.equal(s.TopicArn, topic);
      assert.equal(s.Owner, ACCOUNT);
    }
    const sa = ok(r, 'sub-attrs').Attributes;
    assert.equal(sa.RawMessageDelivery, 'true');
    assert.equal(sa.PendingConfirmation, 'false');
    assert.equal(sa.Endpoint, `${SQS_ARN}cli-filtered`);
    assert.deepEqual(JSON.parse(sa.FilterPolicy), { kind: ['order', 'refund'], n: [{ numeric: ['>', 2] }] });
    assert.equal(sa.FilterPolicyScope, 'MessageAttributes');
    assert.deepEqual(JSON.parse(ok(r, 'sub-attrs-after').Attributes.FilterPolicy), { kind: ['order'], n: [{ numeric: ['>', 2] }] });

    // publish
    const pub = ok(r, 'publish');
    assert.match(pub.MessageId, /^[0-9a-f-]{36}$/);
    fails(r, 'publish-bad-structure', 'InvalidParameter', 'Publish', /default/);
    fails(r, 'publish-fifo-no-group', 'InvalidParameter', 'Publish', /MessageGroupId/);
    const f1 = ok(r, 'publish-fifo-1');
    assert.ok(f1.SequenceNumber);
    assert.equal(ok(r, 'publish-fifo-dup').MessageId, f1.MessageId, 'FIFO topic content-based dedup');
    assert.deepEqual(r.md5.length > 0 && r.md5.every((x: boolean) => x), true, 'MD5s of delivered messages');

    // raw delivery: the message itself, SNS attributes as SQS attributes (Binary kept)
    const raw = r['raw-got'] as Json[];
    assert.deepEqual(raw.map((m) => m.Body).sort(), ['for queues', 'order placed', 'refund made']);
    assert.deepEqual(raw.find((m) => m.Body === 'order placed').MessageAttributes, {
      kind: { DataType: 'String', StringValue: 'order' },
      n: { DataType: 'Number', StringValue: '3' },
      bin: { DataType: 'Binary', BinaryValue: 'AQID' },
    });
    // not raw: the JSON envelope, with Subject and attributes as {Type, Value}; --message-structure json picks "sqs"
    const env = (r['env-got'] as Json[]).map((m) => JSON.parse(m.Body));
    assert.deepEqual(env.map((n) => n.Message).sort(), ['for queues', 'order placed', 'refund made']);
    const n = env.find((x) => x.Message === 'order placed');
    assert.equal(n.Type, 'Notification');
    assert.equal(n.MessageId, pub.MessageId);
    assert.equal(n.TopicArn, topic);
    assert.equal(n.Subject, 'New order');
    assert.equal(n.SignatureVersion, '1');
    assert.ok(n.Signature && n.SigningCertURL && n.UnsubscribeURL && n.Timestamp);
    assert.deepEqual(n.MessageAttributes, { kind: { Type: 'String', Value: 'order' }, n: { Type: 'Number', Value: '3' }, bin: { Type: 'Binary', Value: 'AQID' } });
    assert.equal(env.find((x) => x.Message === 'for queues').Subject, undefined);
    // the filter policy lets only kind=order, n>2 through
    assert.deepEqual((r['filtered-got'] as Json[]).map((m) => m.Body), ['order placed']);
    // FIFO topic → FIFO queue: order, group, one copy
    const fq = r['fifo-got'] as Json[];
    assert.deepEqual(fq.map((m) => m.Body), ['step 1', 'step 2']);
    assert.equal(fq[0].Attributes.MessageGroupId, 'run-1');

    // unsubscribe
    assert.deepEqual(ok(r, 'unsubscribe'), {});
    assert.deepEqual(ok(r, 'list-subs-after').Subscriptions.map((s: Json) => s.SubscriptionArn).sort(), [envArn, filtArn].sort());
    assert.deepEqual((r['env-late'] as Json[]).map((m) => JSON.parse(m.Body).Message), ['late']);
    assert.deepEqual(ok(r, 'raw-late'), {}, 'nothing reaches the unsubscribed queue');

    // tags
    assert.deepEqual(ok(r, 'tags').Tags, [{ Key: 'team', Value: 'core' }, { Key: 'env', Value: 'test' }, { Key: 'cost', Value: '7' }]);
    assert.deepEqual(ok(r, 'tags-after').Tags, [{ Key: 'team', Value: 'core' }, { Key: 'env', Value: 'test' }]);

    // delete and errors
    assert.deepEqual(ok(r, 'delete-topic'), {});
    assert.deepEqual(ok(r, 'list-topics-after').Topics.map((t: Json) => t.TopicArn).sort(), [fifo, `${SNS_ARN}cli-plain`].sort());
    fails(r, 'err-topic-gone', 'NotFound', 'GetTopicAttributes');
    fails(r, 'err-publish-gone', 'NotFound', 'Publish');
    fails(r, 'err-sub-gone', 'NotFound', 'GetSubscriptionAttributes');
    fails(r, 'err-bad-protocol', 'InvalidParameter', 'Subscribe');
    assert.match(ok(r, 'fifo-to-standard').SubscriptionArn, /^arn:aws:sns:us-east-1:000000000000:cli-events\.fifo:/);
    fails(r, 'err-standard-to-fifo', 'InvalidParameter', 'Subscribe', /FIFO SQS Queues can not be subscribed to standard SNS topics/);
  });

  it('boto3: resource and client APIs for SQS and SNS; every MD5 checks out', async () => {
    const r = await scenarios.boto3.result!;
    const ep = scenarios.boto3.broker!.endpoint;
    assert.equal(r.versions[0].split('.')[0], '1');
    const url = `${ep}/${ACCOUNT}/py-res`;
    assert.equal(r.url, url);
    assert.equal(r.by_name, url);
    assert.deepEqual(r.filtered, [url, `${ep}/${ACCOUNT}/py-res-dlq`]);
    assert.deepEqual(r.send_messages, [9, 0]);
    assert.equal(r.visible, '10');
    assert.equal(r.received, 10);
    assert.deepEqual(r.hello_attrs, { s: 'ß and ☃', n: '12.50', b: [0, 255, 16] });
    assert.deepEqual(r.hello_types, { s: 'String', n: 'Number', b: 'Binary' });
    assert.deepEqual(r.hello_system, ['ApproximateFirstReceiveTimestamp', 'ApproximateReceiveCount', 'SenderId', 'SentTimestamp']);
    assert.equal(r.in_flight, '10');
    assert.deepEqual(r.again, [['entry 0', '2']]);
    assert.deepEqual(r.delete_messages, [8, 0]);
    assert.deepEqual(r.after_delete, ['0', '0']);
    assert.deepEqual(r.dlq_sources, [url]);
    assert.deepEqual(r.set_attributes, ['25', '3600']);
    assert.equal(r.purged, '0');
    assert.deepEqual(r.tags, { b: '2' });
    assert.deepEqual(r.pages, [2, 2, 1], 'the list_queues paginator follows NextToken');
    assert.equal(r.empty_poll[0], false);
    assert.ok(r.empty_poll[1] >= 0.9, `an empty long poll waited ${r.empty_poll[1]} s`);
    assert.equal(r.fifo_seq, true);
    assert.deepEqual(r.fifo, { g0: ['f0', 'f2', 'f4'], g1: ['f1', 'f3', 'f5'] });
    assert.deepEqual(r.create_tags, { 'made-by': 'boto3' });
    assert.equal(r.escaped, true, 'bodies and attributes with <&>"\' \\r ]]> and non-BMP characters come back unchanged');
    assert.equal(r.permission, 'p1');
    assert.deepEqual(r.errors, {
      get_queue_url: ['AWS.SimpleQueueService.NonExistentQueue', 400, 'QueueDoesNotExist'],
      bad_handle: ['ReceiptHandleIsInvalid', 404, 'ReceiptHandleIsInvalid'],
      bad_attr: ['InvalidAttributeValue', 400, 'ClientError'],
      unknown_attr: ['InvalidAttributeName', 400, 'InvalidAttributeName'],
      empty_batch: ['AWS.SimpleQueueService.EmptyBatchRequest', 400, 'EmptyBatchRequest'],
      bad_chars: ['InvalidMessageContents', 400, 'InvalidMessageContents'],
      too_many: ['AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 400, 'TooManyEntriesInBatchRequest'],
    });
    assert.equal(r.modeled_exception, 'QueueDoesNotExist');

    assert.deepEqual(r.sub_attrs, { Protocol: 'sqs', Endpoint: `${SQS_ARN}py-inbox`, RawMessageDelivery: 'false', PendingConfirmation: 'false' });
    assert.deepEqual(r.raw_filter, { lang: [{ prefix: 'en' }], n: [{ numeric: ['>=', 1] }] });
    assert.equal(r.topic_subs, true);
    assert.deepEqual(r.topic_attrs, { DisplayName: 'News', SubscriptionsConfirmed: '2' });
    assert.deepEqual(r.envelopes, [
      ['Notification', 'bonjour', null, true, ['lang', 'n']],
      ['Notification', 'hello subscribers', 'Hi', true, ['lang', 'n', 'raw']],
    ]);
    assert.deepEqual(r.envelope_id, [r.publish_id]);
    assert.deepEqual(r.raw, [['hello subscribers', { lang: 'en-GB', n: '2', raw: [1, 2] }]]);
    assert.equal(r.subs_after_unsubscribe, 1);
    assert.deepEqual(r.topic_tags, [{ Key: 'k', Value: 'v' }]);
    assert.deepEqual(r.topics, [`${SNS_ARN}py-news`]);
    assert.deepEqual(r.topics_after_delete, []);
    assert.deepEqual(r.sns_errors, { publish_gone: ['NotFound', 404, 'NotFoundException'], bad_filter: ['InvalidParameter', 400, 'InvalidParameterException'] });
    assert.equal(r.sns_modeled_exception, 'NotFoundException');
    assert.deepEqual(r.queue_deleted, ['AWS.SimpleQueueService.NonExistentQueue', 400, 'QueueDoesNotExist']);
    assert.ok(r.md5.length >= 25, `only ${r.md5.length} MD5 checks ran`);
    assert.deepEqual(
      r.md5.map((x: boolean, i: number) => (x ? null : i)).filter((x: number | null) => x !== null),
      [],
      'MD5OfBody / MD5OfMessageAttributes that do not match',
    );
  });
});
