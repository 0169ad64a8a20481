/** STOMP ⇄ AMQP on the same queues and topics: body, content-type, properties, priority, correlation-id, reply-to. */
import assert from 'node:assert/strict';
import { stompModule } from '../../../protocols/stomp/index.js';
import { Stompit } from '../stomp/helpers.js';
import { Client, rhea, startBroker, type TestBroker } from './helpers.js';

describe('AMQP ⇄ STOMP', function () {
  this.timeout(15_000);
  let b: TestBroker;
  let amqp: Client;
  let stomp: Stompit;
  before(async () => {
    b = await startBroker({ protocols: [stompModule] });
    amqp = await Client.connect(b);
    stomp = await Stompit.connect({ port: b.stompPort });
  });
  after(async () => {
    await stomp?.disconnect();
    await amqp?.close();
    await b?.close();
  });

  it('STOMP SEND → AMQP receiver: text body, content-type, properties, priority, correlation-id, reply-to, persistence', async () => {
    const r = await amqp.receiver('x.s2a');
    await stomp.send('/queue/x.s2a', '{"hello":"amqp"}', {
      'content-type': 'application/json',
      priority: '8',
      'correlation-id': 'corr-42',
      'reply-to': '/queue/x.replies',
      persistent: 'true',
      type: 'order',
      colour: 'blue',
    });
    const m = (await r.next()).message;
    assert.equal(m.body, '{"hello":"amqp"}', 'text bodies arrive as an amqp-value string');
    assert.equal(m.content_type, 'application/json');
    assert.equal(m.priority, 8);
    assert.equal(m.correlation_id, 'corr-42');
    assert.equal(m.reply_to, 'x.replies', 'a queue reply-to is a plain address');
    assert.equal(m.message_annotations['x-opt-jms-reply-type'], 0);
    assert.equal(m.message_annotations['x-opt-jms-msg-type'], 5, 'TextMessage for JMS clients');
    assert.equal(m.message_annotations['x-opt-jms-dest'], 0);
    assert.equal(m.durable, true);
    assert.equal(m.subject, 'order');
    assert.equal(m.application_properties.colour, 'blue');
    assert.equal(m.to, 'x.s2a');
  });

  it('STOMP SEND → AMQP receiver that settles it modified with message-annotations: the next delivery has them next to the Qpid JMS ones', async () => {
    const r = await amqp.receiver('x.s2a.mod', { autoaccept: false, credit_window: 0 });
    await stomp.send('/queue/x.s2a.mod', 'from stomp', { persistent: 'true' });
    r.flow(1);
    const first = await r.next();
    assert.equal(first.message.message_annotations['x-opt-jms-msg-type'], 5);
    first.delivery.modified({ delivery_failed: true, message_annotations: { 'x-opt-tried-by': 'amqp', 'x-opt-jms-dest': 0 } });
    r.flow(1);
    const again = await r.next();
    assert.deepEqual(again.message.message_annotations, { 'x-opt-jms-msg-type': 5, 'x-opt-jms-dest': 0, 'x-opt-tried-by': 'amqp' });
    assert.equal(again.message.delivery_count, 1);
    assert.equal(again.message.body, 'from stomp');
    again.delivery.accept();
  });

  it('STOMP binary SEND (content-length) → AMQP data section', async () => {
    const r = await amqp.receiver('x.s2a.bin');
    const bytes = Buffer.from([0, 1, 2, 0xff, 0]);
    await stomp.send('/queue/x.s2a.bin', bytes, { 'content-length': String(bytes.length), 'content-type': 'application/octet-stream' });
    const m = (await r.next()).message;
    assert.deepEqual(m.body.content, bytes);
    assert.equal(m.message_annotations['x-opt-jms-msg-type'], 3);
  });

  it('AMQP → STOMP subscriber: body, content-type, properties, priority, correlation-id, reply-to, topic', async () => {
    const inbox = await stomp.subscribe('/topic/x.a2s');
    const s = await amqp.sender('topic://x.a2s');
    await s.send({
      body: 'from amqp',
      content_type: 'text/plain',
      priority: 9,
      correlation_id: 'c-7',
      reply_to: 'topic://x.answers',
      durable: true,
      subject: 'kind',
      application_properties: { flavour: 'mint', n: 3, ok: true },
    });
    const m = await inbox.next();
    assert.equal(m.text, 'from amqp');
    assert.equal(m.headers['content-type'], 'text/plain');
    assert.equal(m.headers.priority, '9');
    assert.equal(m.headers['correlation-id'], 'c-7');
    assert.equal(m.headers['reply-to'], '/topic/x.answers');
    assert.equal(m.headers.persistent, 'true');
    assert.equal(m.headers.type, 'kind');
    assert.equal(m.headers.flavour, 'mint');
    assert.equal(m.headers.n, '3');
    assert.equal(m.headers.ok, 'true');
    assert.equal(m.headers.destination, '/topic/x.a2s');
  });

  it('AMQP data section → STOMP bytes unchanged; a plain reply-to becomes /queue/…', async () => {
    const inbox = await stomp.subscribe('/queue/x.a2s.bin');
    const s = await amqp.sender('x.a2s.bin');
    const bytes = Buffer.from([9, 0, 8, 0, 7]);
    await s.send({ body: rhea.message.data_section(bytes), reply_to: 'x.back' });
    const m = await inbox.next();
    assert.deepEqual(m.body, bytes);
    assert.equal(m.headers['reply-to'], '/queue/x.back');
  });

  it('request/reply across protocols: AMQP dynamic reply queue answered by a STOMP client', async () => {
    const requests = await stomp.subscribe('/queue/x.rpc');
    const replies = await amqp.receiver({ source: { dynamic: true } });
    const address = replies.link.remote.attach.source.address as string;
    const s = await amqp.sender('x.rpc');
    await s.send({ body: 'question', reply_to: address, correlation_id: 'q-1' });
    const req = await requests.next();
    assert.match(req.headers['reply-to']!, /^\/remote-temp-queue\//);
    await stomp.send(req.headers['reply-to']!, 'answer', { 'correlation-id': req.headers['correlation-id']! });
    const rep = (await replies.next()).message;
    assert.equal(rep.body, 'answer');
    assert.equal(rep.correlation_id, 'q-1');
  });
});
