/** Counts clients may create are bounded, each with a clear `limit` error; the broker's own dead-letter queues are not refused. */
import assert from 'node:assert/strict';
import { BrokerError, createMessage, queue, topic } from '../../src/core/api.js';
import { startEngine, type TestEngine } from '../helpers/engine.js';

describe('engine limits: destinations, subscriptions, consumers per connection', function () {
  this.timeout(20_000);
  let t: TestEngine;
  afterEach(() => t?.close());

  const limitError = (what: RegExp) => (err: unknown) => err instanceof BrokerError && err.code === 'limit' && what.test(err.message);

  it('maxDestinations: queues and topics beyond it are refused; a dead-letter queue is still created', async () => {
    t = await startEngine({ maxDestinations: 3 });
    const e = t.engine;
    await e.createQueue('a');
    await e.send(createMessage({ body: Buffer.from('x') }), queue('b'));
    await e.send(createMessage({ body: Buffer.from('x') }), topic('t'));
    await assert.rejects(e.createQueue('c'), limitError(/limits\.maxDestinations/));
    await assert.rejects(e.send(createMessage({ body: Buffer.from('x') }), queue('d')), limitError(/queue 'd'/));
    await assert.rejects(e.send(createMessage({ body: Buffer.from('x') }), topic('u')), limitError(/topic 'u'/));
    // the DLQ of 'b' is the broker's own: created although the limit is reached
    const got: number[] = [];
    const c = await e.subscribe({ address: queue('b'), prefetch: 1, onMessage: (d) => got.push(d.id) });
    await new Promise((r) => setTimeout(r, 50));
    c.nack(got[0], { deadLetter: true });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(e.queueInfo('DLQ.b')?.depth, 1);
  });

  it('maxSubscriptions and maxConsumersPerConnection', async () => {
    t = await startEngine({ maxSubscriptions: 2, maxConsumersPerConnection: 3 });
    const e = t.engine;
    const conn = await e.connect({ protocol: 'test', clientId: 'c1' });
    const noop = () => undefined;
    await e.subscribe({ address: topic('x'), connection: conn, onMessage: noop });
    await e.subscribe({ address: topic('y'), connection: conn, durable: { name: 'keep' }, onMessage: noop });
    await assert.rejects(e.subscribe({ address: topic('z'), connection: conn, onMessage: noop }), limitError(/limits\.maxSubscriptions/));
    await e.subscribe({ address: queue('q1'), connection: conn, onMessage: noop });
    await assert.rejects(e.subscribe({ address: queue('q2'), connection: conn, onMessage: noop }), limitError(/limits\.maxConsumersPerConnection/));
    e.disconnect(conn);
  });
});
