/**
 * Publishes to a known topic are planned synchronously (no promise per subscriber) and the topic's matches are
 * remembered between publishes: both must follow every subscribe and unsubscribe, and a limited subscription must
 * behave as it does on the general path.
 */
import assert from 'node:assert/strict';
import { createMessage, topic } from '../../src/core/api.js';
import { TopicIndex } from '../../src/core/topic-index.js';
import { Inbox, startEngine, type TestEngine } from '../helpers/engine.js';

const msg = (body: string) => createMessage({ body: Buffer.from(body) });

describe('topic routing: the synchronous plan and remembered matches', function () {
  this.timeout(20_000);
  let t: TestEngine | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('TopicIndex.match follows add and remove after a topic was matched once', () => {
    const index = new TopicIndex<string>();
    index.add('a.b', 'exact');
    assert.deepEqual([...index.match('a.b')], ['exact']);
    index.add('a.*', 'star');
    index.add('a.>', 'rest');
    assert.deepEqual(new Set(index.match('a.b')), new Set(['exact', 'star', 'rest']));
    index.remove('a.b', 'exact');
    assert.deepEqual(new Set(index.match('a.b')), new Set(['star', 'rest']));
    assert.deepEqual(new Set(index.match('a')), new Set(['rest']));
    index.remove('a.>', 'rest');
    assert.deepEqual([...index.match('a')], []);
  });

  it('a subscriber added or removed between publishes to a known topic gets exactly what was published while it listened', async () => {
    t = await startEngine();
    const e = t.engine;
    const first = new Inbox();
    const c1 = await e.subscribe({ address: topic('news.sport'), prefetch: 100, onMessage: first.push });
    await e.send(msg('1'), topic('news.sport'));
    const wild = new Inbox();
    const c2 = await e.subscribe({ address: topic('news.>'), prefetch: 100, onMessage: wild.push });
    await e.send(msg('2'), topic('news.sport'));
    await c1.close();
    await e.send(msg('3'), topic('news.sport'));
    await c2.close();
    await e.send(msg('4'), topic('news.sport'));
    await first.waitFor(2);
    await wild.waitFor(2);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(first.bodies(), ['1', '2']);
    assert.deepEqual(wild.bodies(), ['2', '3']);
  });

  it('a selector and no-local are applied on the synchronous path', async () => {
    t = await startEngine();
    const e = t.engine;
    const conn = await e.connect({ protocol: 'test', clientId: 'me' });
    const mine = new Inbox();
    const red = new Inbox();
    await e.subscribe({ address: topic('paint'), connection: conn, noLocal: true, prefetch: 100, onMessage: mine.push });
    await e.subscribe({ address: topic('paint'), selector: "colour = 'red'", prefetch: 100, onMessage: red.push });
    const paint = (body: string, colour: string) => createMessage({ body: Buffer.from(body), properties: { colour } });
    await e.send(paint('warm-up', 'none'), topic('paint')); // makes the topic known: the next sends take the synchronous plan
    await e.send(paint('own', 'red'), topic('paint'), { connection: conn });
    await e.send(paint('blue', 'blue'), topic('paint'));
    await e.send(paint('red', 'red'), topic('paint'));
    await red.waitFor(2);
    await mine.waitFor(3);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(red.bodies(), ['own', 'red']);
    assert.deepEqual(mine.bodies(), ['warm-up', 'blue', 'red']);
  });

  it('a drop-oldest subscription keeps its limit and counts its drops; a block-limited one keeps the order', async () => {
    t = await startEngine({
      policies: [
        { match: 'ring', kind: 'topic', maxMessages: 3, limitPolicy: 'drop-oldest' },
        { match: 'gate', kind: 'topic', maxMessages: 2, limitPolicy: 'block', blockTimeout: 10_000 },
      ],
    });
    const e = t.engine;
    const ring = await e.subscribe({ address: topic('ring'), durable: { name: 'r', clientId: 'ring-client' }, prefetch: 0, onMessage: () => undefined });
    for (let i = 1; i <= 6; i++) await e.send(msg(`${i}`), topic('ring'));
    const [ringSub] = e.durableSubscriptionsOf('ring-client');
    assert.ok(ringSub, 'the ring subscription is listed');
    assert.equal(ringSub.depth, 3);
    assert.equal(ringSub.dropped, 3);
    await ring.close();

    const gate = new Inbox();
    await e.send(msg('warm-up'), topic('gate'));
    const sub = await e.subscribe({ address: topic('gate'), prefetch: 1, onMessage: gate.push });
    const sends = Array.from({ length: 8 }, (_, i) => e.send(msg(`g${i}`), topic('gate')));
    for (let n = 1; n <= 8; n++) {
      const [d] = (await gate.waitFor(n)).slice(-1);
      sub.ack(d.id);
    }
    await Promise.all(sends);
    assert.deepEqual(gate.bodies(), Array.from({ length: 8 }, (_, i) => `g${i}`));
  });
});
