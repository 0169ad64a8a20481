/** The SQS/SNS API over TLS (listeners.sqs.tls, 9325 by default): the SDK over HTTPS gets https queue URLs. */
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { tlsFixture } from '../stomp/helpers.js';
import { KEY, startSqsBroker, type SqsBroker } from './helpers.js';

describe('SQS/SNS over TLS', function () {
  this.timeout(20_000);
  let b: SqsBroker;
  before(async () => {
    b = await startSqsBroker({ tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } });
  });
  after(async () => {
    await b.close();
  });

  it('serves the same API on the TLS port', async () => {
    assert.ok(b.tlsPort);
    const agent = new https.Agent({ ca: readFileSync(tlsFixture('ca.crt')), keepAlive: true });
    const endpoint = `https://localhost:${b.tlsPort}`;
    const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: { ...KEY }, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: agent }) });
    const sns = new SNSClient({ endpoint, region: 'us-east-1', credentials: { ...KEY }, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: agent }) });
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'secure' }));
      assert.equal(QueueUrl, `${endpoint}/000000000000/secure`);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'over tls' }));
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
      assert.equal(r.Messages?.[0]?.Body, 'over tls');
      const t = await sns.send(new CreateTopicCommand({ Name: 'secure-topic' }));
      assert.ok(t.TopicArn);
    } finally {
      sqs.destroy();
      sns.destroy();
      agent.destroy();
    }
  });
});
