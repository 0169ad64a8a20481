/** SigV4 verification (header and presigned), anonymous mode, and the SQS query protocol with raw requests. */
import assert from 'node:assert/strict';
import { CreateQueueCommand, ListQueuesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { KEY, rejection, startSqsBroker, type SqsBroker } from './helpers.js';
import { get, presignedPath, rawRequest, signedRequest, xmlAll, xmlText } from './sigv4-client.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

describe('SQS SigV4 authentication', function () {
  this.timeout(20_000);
  let b: SqsBroker;
  before(async () => {
    b = await startSqsBroker({ sqs: { credentials: [KEY] } });
  });
  after(async () => {
    await b.close();
  });

  it('accepts the configured key (header signature)', async () => {
    await b.sqs.send(new CreateQueueCommand({ QueueName: 'authed' }));
    const r = await b.sqs.send(new ListQueuesCommand({}));
    assert.equal(r.QueueUrls!.length, 1);
  });

  it('rejects a wrong secret (SignatureDoesNotMatch), an unknown key (InvalidClientTokenId), no signature (MissingAuthenticationToken)', async () => {
    let e = await rejection(b.client({ accessKeyId: KEY.accessKeyId, secretAccessKey: 'wrong' }).send(new ListQueuesCommand({})));
    assert.equal(e.name, 'SignatureDoesNotMatch');
    assert.equal(e.$metadata?.httpStatusCode, 403);
    e = await rejection(b.client({ accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' }).send(new ListQueuesCommand({})));
    assert.equal(e.name, 'InvalidClientTokenId');
    const unsigned = await rawRequest(b.port, { headers: FORM, body: form({ Action: 'ListQueues', Version: '2012-11-05' }) });
    assert.equal(unsigned.status, 403);
    assert.equal(xmlText(unsigned.body, 'Code'), 'MissingAuthenticationToken');
    const unsignedJson = await rawRequest(b.port, { headers: { 'x-amz-target': 'AmazonSQS.ListQueues', 'content-type': 'application/x-amz-json-1.0' }, body: '{}' });
    assert.equal(unsignedJson.status, 403);
    assert.equal(JSON.parse(unsignedJson.body).__type, 'com.amazonaws.sqs#MissingAuthenticationToken');
  });

  it('rejects a body changed after signing and a skewed clock', async () => {
    const body = form({ Action: 'CreateQueue', QueueName: 'tamper', Version: '2012-11-05' });
    const ok = await signedRequest(b.port, KEY, { headers: FORM, body });
    assert.equal(ok.status, 200, ok.body);
    const tampered = await signedRequest(b.port, KEY, { headers: FORM, body }, (r) => {
      r.body = form({ Action: 'CreateQueue', QueueName: 'evil', Version: '2012-11-05' });
      r.headers['content-length'] = String(Buffer.byteLength(r.body));
    });
    assert.equal(tampered.status, 403);
    assert.equal(xmlText(tampered.body, 'Code'), 'SignatureDoesNotMatch');
    // as SQS answers a stale signature: 403 SignatureDoesNotMatch "Signature expired: … is now earlier than …"
    const old = await signedRequest(b.port, KEY, { headers: FORM, body, signingDate: new Date(Date.now() - 20 * 60_000) });
    assert.equal(old.status, 403);
    assert.equal(xmlText(old.body, 'Code'), 'SignatureDoesNotMatch');
    assert.match(xmlText(old.body, 'Message') ?? '', /^Signature expired: /);
  });

  it('accepts presigned query-string URLs until they expire', async () => {
    const path = await presignedPath(b.port, KEY, { Action: 'ListQueues', Version: '2012-11-05' }, 60);
    const r = await get(b.port, path);
    assert.equal(r.status, 200, r.body);
    assert.ok(xmlAll(r.body, 'QueueUrl').length >= 1);
    const bad = await get(b.port, path.replace('ListQueues', 'ListQueuez'));
    assert.equal(bad.status, 403);
    assert.equal(xmlText(bad.body, 'Code'), 'SignatureDoesNotMatch');
    const expired = await presignedPath(b.port, KEY, { Action: 'ListQueues', Version: '2012-11-05' }, 60, new Date(Date.now() - 5 * 60_000));
    const e = await get(b.port, expired);
    assert.equal(e.status, 400);
    assert.equal(xmlText(e.body, 'Code'), 'RequestExpired');
  });

  it('anonymous mode with keys configured: unknown keys and unsigned requests pass, bad signatures with a known key do not', async () => {
    const anon = await startSqsBroker({ sqs: { credentials: [KEY], anonymous: true } });
    try {
      await anon.client({ accessKeyId: 'whoever', secretAccessKey: 'x' }).send(new CreateQueueCommand({ QueueName: 'anon' }));
      const unsigned = await rawRequest(anon.port, { headers: FORM, body: form({ Action: 'ListQueues', Version: '2012-11-05' }) });
      assert.equal(unsigned.status, 200);
      const e = await rejection(anon.client({ accessKeyId: KEY.accessKeyId, secretAccessKey: 'wrong' }).send(new ListQueuesCommand({})));
      assert.equal(e.name, 'SignatureDoesNotMatch');
    } finally {
      await anon.close();
    }
  });
});

describe('SQS query protocol (raw form requests, XML responses)', function () {
  this.timeout(20_000);
  let b: SqsBroker;
  before(async () => {
    b = await startSqsBroker();
  });
  after(async () => {
    await b.close();
  });
  const q = (params: Record<string, string>, path = '/') => signedRequest(b.port, KEY, { path, headers: FORM, body: form({ Version: '2012-11-05', ...params }) });

  it('CreateQueue, SendMessage with attributes, ReceiveMessage as XML, path-style queue URLs, DeleteMessage', async () => {
    const c = await q({ Action: 'CreateQueue', QueueName: 'xml', 'Attribute.1.Name': 'VisibilityTimeout', 'Attribute.1.Value': '45', 'Tag.1.Key': 't', 'Tag.1.Value': 'v' });
    assert.equal(c.status, 200, c.body);
    assert.match(c.headers['content-type'] ?? '', /xml/);
    const url = xmlText(c.body, 'QueueUrl')!;
    assert.equal(url, `http://127.0.0.1:${b.port}/000000000000/xml`);
    assert.match(c.body, /^<\?xml version="1.0"\?><CreateQueueResponse xmlns="http:\/\/queue.amazonaws.com\/doc\/2012-11-05\/"><CreateQueueResult>/);
    assert.ok(xmlText(c.body, 'RequestId'));
    const s = await q({
      Action: 'SendMessage',
      QueueUrl: url,
      MessageBody: 'a <b> & "c"\r\n',
      'MessageAttribute.1.Name': 'color',
      'MessageAttribute.1.Value.DataType': 'String',
      'MessageAttribute.1.Value.StringValue': 'blue',
      'MessageAttribute.2.Name': 'raw',
      'MessageAttribute.2.Value.DataType': 'Binary',
      'MessageAttribute.2.Value.BinaryValue': Buffer.from([1, 2, 3]).toString('base64'),
    });
    assert.equal(s.status, 200, s.body);
    assert.ok(xmlText(s.body, 'MD5OfMessageAttributes'));
    // path-style: POST /<account>/<queue> without QueueUrl
    const r = await q({ Action: 'ReceiveMessage', 'AttributeName.1': 'All', 'MessageAttributeName.1': 'All', MaxNumberOfMessages: '5' }, '/000000000000/xml');
    assert.equal(r.status, 200, r.body);
    assert.equal(xmlText(r.body, 'Body'), 'a &lt;b&gt; &amp; &quot;c&quot;&#xD;\n');
    assert.deepEqual(xmlAll(r.body, 'Name').slice(0, 1), ['SenderId']);
    assert.match(r.body, /<MessageAttribute><Name>color<\/Name><Value><StringValue>blue<\/StringValue><DataType>String<\/DataType><\/Value><\/MessageAttribute>/);
    assert.match(r.body, /<BinaryValue>AQID<\/BinaryValue>/);
    const handle = xmlText(r.body, 'ReceiptHandle')!;
    const d = await q({ Action: 'DeleteMessage', QueueUrl: url, ReceiptHandle: handle });
    assert.equal(d.status, 200, d.body);
    assert.match(d.body, /<DeleteMessageResponse[^>]*><ResponseMetadata>/);
    const ga = await q({ Action: 'GetQueueAttributes', QueueUrl: url, 'AttributeName.1': 'VisibilityTimeout' });
    assert.match(ga.body, /<Attribute><Name>VisibilityTimeout<\/Name><Value>45<\/Value><\/Attribute>/);
    const tags = await q({ Action: 'ListQueueTags', QueueUrl: url });
    assert.match(tags.body, /<Tag><Key>t<\/Key><Value>v<\/Value><\/Tag>/);
  });

  it('batch entries and errors in query shape', async () => {
    const url = xmlText((await q({ Action: 'CreateQueue', QueueName: 'xmlbatch' })).body, 'QueueUrl')!;
    const r = await q({
      Action: 'SendMessageBatch',
      QueueUrl: url,
      'SendMessageBatchRequestEntry.1.Id': 'one',
      'SendMessageBatchRequestEntry.1.MessageBody': 'b1',
      'SendMessageBatchRequestEntry.2.Id': 'two',
      'SendMessageBatchRequestEntry.2.MessageBody': 'b2',
      'SendMessageBatchRequestEntry.2.DelaySeconds': '9999',
    });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /<SendMessageBatchResultEntry><Id>one<\/Id><MessageId>[^<]+<\/MessageId><MD5OfMessageBody>[0-9a-f]{32}<\/MD5OfMessageBody><\/SendMessageBatchResultEntry>/);
    assert.match(r.body, /<BatchResultErrorEntry><Id>two<\/Id><SenderFault>true<\/SenderFault><Code>InvalidParameterValue<\/Code>/);
    const missing = await q({ Action: 'SendMessage', QueueUrl: `http://127.0.0.1:${b.port}/000000000000/nope`, MessageBody: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(xmlText(missing.body, 'Code'), 'AWS.SimpleQueueService.NonExistentQueue');
    assert.equal(xmlText(missing.body, 'Type'), 'Sender');
    const unknown = await q({ Action: 'Frobnicate' });
    assert.equal(unknown.status, 400);
    assert.equal(xmlText(unknown.body, 'Code'), 'InvalidAction');
    const noBody = await q({ Action: 'SendMessage', QueueUrl: url });
    assert.equal(xmlText(noBody.body, 'Code'), 'MissingParameter');
    const badInt = await q({ Action: 'ReceiveMessage', QueueUrl: url, MaxNumberOfMessages: 'ten' });
    assert.equal(xmlText(badInt.body, 'Code'), 'InvalidParameterValue');
  });

  it('a GET with query parameters works too (old SDKs)', async () => {
    const path = await presignedPath(b.port, KEY, { Action: 'GetQueueUrl', QueueName: 'xml', Version: '2012-11-05' });
    const r = await get(b.port, path);
    assert.equal(r.status, 200, r.body);
    assert.equal(xmlText(r.body, 'QueueUrl'), `http://127.0.0.1:${b.port}/000000000000/xml`);
  });

  it('the SDK talks to the same queues (JSON) that the query protocol created', async () => {
    const s = await b.sqs.send(new SendMessageCommand({ QueueUrl: `http://127.0.0.1:${b.port}/000000000000/xmlbatch`, MessageBody: 'from json' }));
    assert.ok(s.MessageId);
  });
});
