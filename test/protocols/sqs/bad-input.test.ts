/** Bad input over the SQS/SNS HTTP API: every answer is an AWS error shape (never a 500 or a stack trace); a fuzz run keeps the broker up. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startSqsBroker, type SqsBroker } from './helpers.js';
import { rawRequest, xmlText, type RawResponse } from './sigv4-client.js';

const JSON_H = { 'content-type': 'application/x-amz-json-1.0' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function assertAwsError(r: RawResponse, code: string | RegExp, status?: number): void {
  assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}: ${r.body.slice(0, 300)}`);
  if (status) assert.equal(r.status, status);
  assert.doesNotMatch(r.body, /\bat [\w.<>]+ \(|node:internal|\.ts:\d+/, 'no stack trace');
  let got: string | undefined;
  if (/json/.test(String(r.headers['content-type']))) {
    const j = JSON.parse(r.body);
    assert.equal(typeof j.message, 'string');
    const type = String(j.__type).split('#')[1];
    // AWS's JSON names of the two common errors SQS does not model
    got = ({ InvalidParameterValueException: 'InvalidParameterValue', MissingRequiredParameterException: 'MissingParameter' } as Record<string, string>)[type] ?? type;
    assert.ok(r.headers['x-amzn-query-error'], 'query-compatible error header');
  } else {
    assert.match(r.body, /^<\?xml version="1.0"\?><ErrorResponse/);
    got = xmlText(r.body, 'Code');
  }
  if (typeof code === 'string') assert.equal(got, code, r.body);
  else assert.match(got ?? '', code, r.body);
}

describe('SQS/SNS API bad input', function () {
  this.timeout(60_000);
  let b: SqsBroker;
  let url: string;
  before(async () => {
    b = await startSqsBroker();
    url = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'fuzz' }))).QueueUrl!;
  });
  after(async () => {
    await b.close();
  });
  const json = (target: string, body: string) => rawRequest(b.port, { headers: { ...JSON_H, 'x-amz-target': target }, body });
  const query = (body: string, path = '/') => rawRequest(b.port, { path, headers: FORM, body });

  it('malformed JSON, wrong JSON types and unknown targets', async () => {
    assertAwsError(await json('AmazonSQS.SendMessage', '{"QueueUrl": '), 'SerializationException', 400);
    assertAwsError(await json('AmazonSQS.SendMessage', '[1,2]'), 'SerializationException');
    assertAwsError(await json('AmazonSQS.SendMessage', 'null'), 'SerializationException');
    assertAwsError(await json('AmazonSQS.SendMessage', '\u0000\u00ff garbage'), 'SerializationException');
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: url, MessageBody: 42 })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: 7, MessageBody: 'x' })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.ReceiveMessage', JSON.stringify({ QueueUrl: url, MaxNumberOfMessages: '5' })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.ReceiveMessage', JSON.stringify({ QueueUrl: url, MaxNumberOfMessages: 1.5 })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: url, MessageBody: 'x', MessageAttributes: [] })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: url, MessageBody: 'x', MessageAttributes: { a: 'str' } })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.SendMessageBatch', JSON.stringify({ QueueUrl: url, Entries: 'nope' })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.SendMessageBatch', JSON.stringify({ QueueUrl: url, Entries: [null] })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.CreateQueue', JSON.stringify({ QueueName: 'q', Attributes: { VisibilityTimeout: 5 } })), 'InvalidParameterValue');
    assertAwsError(await json('AmazonSQS.Frobnicate', '{}'), 'InvalidAction');
    assertAwsError(await json('AmazonSNS.Publish', '{}'), 'InvalidAction');
    assertAwsError(await json('AmazonSQS.__proto__', '{}'), 'InvalidAction');
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: 'http://x/000000000000/', MessageBody: 'x' })), /InvalidAddress|QueueDoesNotExist/);
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: '%%%', MessageBody: 'x' })), /InvalidAddress|QueueDoesNotExist/);
  });

  it('bad form bodies, missing or unknown actions, bad parameter trees', async () => {
    assertAwsError(await query(''), 'MissingAction');
    assertAwsError(await query('Action=Nope&Version=2012-11-05'), 'InvalidAction');
    assertAwsError(await query('Action=Nope&Version=2010-03-31'), 'InvalidAction');
    assertAwsError(await query('%%%&&&==='), 'MissingAction');
    assertAwsError(await query(`Action=SendMessage&QueueUrl=${encodeURIComponent(url)}&MessageBody=x&MessageAttribute.99999999.Name=a`), /MalformedQueryString|InvalidParameterValue/);
    assertAwsError(await query(`Action=SendMessage&QueueUrl=${encodeURIComponent(url)}&MessageBody=x&A.B.C.D.E.F.G.H.I.J=1`), 'MalformedQueryString');
    assertAwsError(await query(`Action=SendMessage&QueueUrl=${encodeURIComponent(url)}&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=1e`), 'InvalidParameterValue');
    assertAwsError(await query(`Action=SendMessageBatch&QueueUrl=${encodeURIComponent(url)}&SendMessageBatchRequestEntry.1.MessageBody=a`), "MissingParameter");
    assertAwsError(await query(`Action=ReceiveMessage&QueueUrl=${encodeURIComponent(url)}&MaxNumberOfMessages=-1`), 'InvalidParameterValue');
    assertAwsError(await query(`Action=CreateTopic&Version=2010-03-31`), 'InvalidParameter');
    assertAwsError(await query(`Action=Publish&Version=2010-03-31&TopicArn=garbage&Message=x`), 'InvalidParameter');
    assertAwsError(await query(`Action=Publish&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:000000000000:none&Message=x`), 'NotFound', 404);
    assertAwsError(await query(`Action=__proto__&Version=2010-03-31`), 'InvalidAction');
    await query(`Action=CreateQueue&QueueName=x&__proto__.polluted=1&constructor.prototype.polluted=1&Attribute.1.Name=__proto__&Attribute.1.Value=1`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    const put = await rawRequest(b.port, { method: 'PUT', headers: FORM, body: 'Action=ListQueues' });
    assertAwsError(put, 'InvalidAction');
  });

  it('a form of a million parameters and JSON nested 100,000 deep are refused with 400 before any work', async () => {
    const huge = 'Action=ListQueues' + '&a=1'.repeat(1_000_000);
    assertAwsError(await rawRequest(b.port, { headers: FORM, body: huge }), 'MalformedQueryString', 400);
    const deep = `{"QueueUrl":"${url}","MessageBody":"x","MessageAttributes":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assertAwsError(await json('AmazonSQS.SendMessage', deep), 'SerializationException', 400);
    // still serving
    assertAwsError(await json('AmazonSQS.SendMessage', JSON.stringify({ QueueUrl: url, MessageBody: 42 })), 'InvalidParameterValue');
  });

  it('Number attributes: at most 38 significant digits, however long the value is written', async () => {
    const numbers = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'numbers' }))).QueueUrl!;
    const send = (StringValue: string) =>
      b.sqs.send(new SendMessageCommand({ QueueUrl: numbers, MessageBody: 'n', MessageAttributes: { n: { DataType: 'Number', StringValue } } }));
    const refused = async (StringValue: string, message: RegExp) => {
      const err = await send(StringValue).then(() => undefined, (e: Error & { name: string }) => e);
      assert.ok(err, `${StringValue} accepted`);
      assert.equal(err.name, 'InvalidParameterValue');
      assert.match(err.message, message);
    };
    for (const ok of ['9'.repeat(38), '-' + '9'.repeat(38), '0'.repeat(30) + '1.' + '5'.repeat(20), '1.' + '2'.repeat(37) + 'e-5', '7.5', '+3']) {
      const r = await send(ok);
      assert.ok(r.MessageId, ok);
    }
    await refused('9'.repeat(39), /38 digits of precision/);
    await refused('1.' + '2'.repeat(38), /38 digits of precision/);
    await refused('12abc', /cast the value/);
    await refused('1e', /cast the value/);
    // the values kept are the ones sent
    const got = await b.sqs.send(new ReceiveMessageCommand({ QueueUrl: numbers, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }));
    const values = new Set((got.Messages ?? []).map((m) => m.MessageAttributes?.n?.StringValue));
    assert.ok(values.has('9'.repeat(38)), [...values].join(', '));
  });

  it('names that are Object.prototype members: unknown queue attributes are refused, a message attribute named __proto__ is kept (never a 500)', async () => {
    // queue attributes: AWS knows none of these names
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assertAwsError(await json('AmazonSQS.CreateQueue', `{"QueueName":"proto-q","Attributes":{"${name}":"1"}}`), 'InvalidAttributeName', 400);
      assertAwsError(await query(`Action=CreateQueue&QueueName=proto-q&Attribute.1.Name=${name}&Attribute.1.Value=1`), 'InvalidAttributeName', 400);
      assertAwsError(await query(`Action=SetQueueAttributes&QueueUrl=${encodeURIComponent(url)}&Attribute.1.Name=${name}&Attribute.1.Value=1`), 'InvalidAttributeName', 400);
    }
    // a message attribute name AWS allows ([letters digits _ - .]), over both protocols; JSON.parse keeps the key
    const attr = '{"__proto__":{"DataType":"String","StringValue":"p"},"b":{"DataType":"Number","StringValue":"2"}}';
    const proto = (await b.sqs.send(new CreateQueueCommand({ QueueName: 'proto-attrs' }))).QueueUrl!;
    const sent = await json('AmazonSQS.SendMessage', `{"QueueUrl":"${proto}","MessageBody":"j","MessageAttributes":${attr}}`);
    assert.equal(sent.status, 200, sent.body);
    const q = await query(
      `Action=SendMessage&QueueUrl=${encodeURIComponent(proto)}&MessageBody=q&MessageAttribute.1.Name=__proto__&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=p` +
        '&MessageAttribute.2.Name=b&MessageAttribute.2.Value.DataType=Number&MessageAttribute.2.Value.StringValue=2',
    );
    assert.equal(q.status, 200, q.body);
    assert.equal(xmlText(q.body, 'MD5OfMessageAttributes'), JSON.parse(sent.body).MD5OfMessageAttributes, 'both forms digest the same two attributes');
    const got = await json('AmazonSQS.ReceiveMessage', `{"QueueUrl":"${proto}","MaxNumberOfMessages":10,"MessageAttributeNames":["All"],"WaitTimeSeconds":1}`);
    const msgs = JSON.parse(got.body).Messages as Array<{ Body: string; MessageAttributes: Record<string, { StringValue: string }>; MD5OfMessageAttributes: string }>;
    assert.equal(msgs.length, 2, got.body);
    for (const m of msgs) {
      assert.deepEqual(Object.keys(m.MessageAttributes).sort(), ['__proto__', 'b'], m.Body);
      assert.equal(m.MD5OfMessageAttributes, JSON.parse(sent.body).MD5OfMessageAttributes);
    }
    // an honest AWS SDK client on the same broker
    await b.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'honest', MessageAttributes: { a: { DataType: 'String', StringValue: 'x' } } }));
    const honest = await b.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }));
    assert.ok(honest.Messages?.some((m) => m.Body === 'honest' && m.MessageAttributes?.a?.StringValue === 'x'));
  });

  it('oversized bodies get RequestEntityTooLarge (413) without reading them', async () => {
    const small = await startSqsBroker();
    try {
      const big = Buffer.alloc(11 * 1024 * 1024, 'a');
      const r = await rawRequest(small.port, { headers: { ...JSON_H, 'x-amz-target': 'AmazonSQS.SendMessage' }, body: big }).catch((e: Error) => e);
      if (r instanceof Error) assert.match(r.message, /EPIPE|ECONNRESET|socket hang up/);
      else assertAwsError(r, 'RequestEntityTooLarge', 413);
      const declared = await new Promise<string>((resolve) => {
        const s = net.connect(small.port, '127.0.0.1', () => {
          s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\nAction=`);
        });
        let buf = '';
        s.on('data', (c) => (buf += c));
        s.on('close', () => resolve(buf));
        s.on('error', () => resolve(buf));
      });
      assert.match(declared, /^HTTP\/1.1 413/);
      assert.match(declared, /RequestEntityTooLarge/);
    } finally {
      await small.close();
    }
  });

  it('fuzz: random and mutated requests never produce a 5xx and the broker keeps serving', async () => {
    let seed = 0x5eed;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
    const randStr = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(rnd() * 256))).join('');
    const targets = ['SendMessage', 'SendMessageBatch', 'ReceiveMessage', 'DeleteMessage', 'CreateQueue', 'GetQueueAttributes', 'SetQueueAttributes', 'ChangeMessageVisibilityBatch', 'ListQueues', 'TagQueue', 'PurgeQueue', 'StartMessageMoveTask'];
    const snsActions = ['CreateTopic', 'Publish', 'Subscribe', 'SetSubscriptionAttributes', 'PublishBatch', 'ListTopics', 'GetTopicAttributes'];
    const values: unknown[] = [null, true, 0, -1, 1e308, 'x', '', [], {}, [1, 'a'], { DataType: 'String' }, url, 'A'.repeat(300), { a: { b: { c: [] } } }];
    const keys = ['QueueUrl', 'QueueName', 'MessageBody', 'Entries', 'MessageAttributes', 'Attributes', 'ReceiptHandle', 'MaxNumberOfMessages', 'VisibilityTimeout', 'WaitTimeSeconds', 'Tags', 'AttributeNames', 'Id', 'SourceArn'];
    const valid = JSON.stringify({ QueueUrl: url, MessageBody: 'hello', MessageAttributes: { a: { DataType: 'String', StringValue: 'v' } } });
    let count5xx = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      let r: RawResponse | Error;
      const kind = i % 4;
      if (kind === 0) {
        // structured but wrong JSON
        const o: Record<string, unknown> = {};
        for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) o[pick(keys)] = pick(values);
        if (rnd() < 0.5) o.QueueUrl = url;
        r = await json(`AmazonSQS.${pick(targets)}`, JSON.stringify(o)).catch((e: Error) => e);
      } else if (kind === 1) {
        // mutated valid JSON
        const chars = valid.split('');
        for (let k = 0; k < 1 + Math.floor(rnd() * 5); k++) chars[Math.floor(rnd() * chars.length)] = String.fromCharCode(Math.floor(rnd() * 128));
        r = await json('AmazonSQS.SendMessage', chars.join('')).catch((e: Error) => e);
      } else if (kind === 2) {
        // random form parameters
        const params = new URLSearchParams({ Action: rnd() < 0.5 ? pick(targets) : pick(snsActions), Version: rnd() < 0.5 ? '2012-11-05' : '2010-03-31' });
        for (let k = 0; k < Math.floor(rnd() * 6); k++) params.append(`${pick(['MessageAttribute', 'Attribute', 'Tags.member', 'Attributes.entry', 'Entry', pick(keys)])}.${Math.floor(rnd() * 4)}.${pick(['Name', 'Value', 'key', 'value', 'Id'])}`, randStr(Math.floor(rnd() * 20)));
        if (rnd() < 0.5) params.set('QueueUrl', url);
        if (rnd() < 0.3) params.set('TopicArn', 'arn:aws:sns:us-east-1:000000000000:t' + Math.floor(rnd() * 3));
        r = await query(params.toString(), rnd() < 0.2 ? '/000000000000/fuzz' : '/').catch((e: Error) => e);
      } else {
        // random bytes with random headers
        const headers: Record<string, string> = rnd() < 0.5 ? { ...JSON_H, 'x-amz-target': `AmazonSQS.${pick(targets)}` } : FORM;
        if (rnd() < 0.3) headers.authorization = 'AWS4-HMAC-SHA256 ' + randStr(30).replace(/[^\x20-\x7e]/g, 'x');
        r = await rawRequest(b.port, { headers, body: Buffer.from(randStr(Math.floor(rnd() * 500)), 'latin1') }).catch((e: Error) => e);
      }
      if (r instanceof Error) continue;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status >= 500) {
        count5xx++;
        console.error('5xx:', r.body.slice(0, 300));
      }
      assert.doesNotMatch(r.body, /node:internal|\.ts:\d+:\d+/);
    }
    assert.equal(count5xx, 0, `statuses: ${JSON.stringify([...statuses])}`);
    // still serving
    const s = await b.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'still alive' }));
    assert.ok(s.MessageId);
    const got = await b.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    assert.ok((got.Messages ?? []).length >= 1);
  });
});
