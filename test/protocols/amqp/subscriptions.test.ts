/**
 * Durable and shared topic subscriptions the Qpid JMS way: link name = subscription name, container-id =
 * client id, terminus durable / expiry-policy never; detach (closed=false) keeps the subscription,
 * detach (closed=true) removes it; capabilities `shared` / `global` share one subscription.
 */
import assert from 'node:assert/strict';
import { Client, rhea, sleep, startBroker, until, type TestBroker } from './helpers.js';

/** A Qpid JMS durable subscriber's receiver options. */
function durableSource(topic: string, extra: Record<string, unknown> = {}) {
  return { source: { address: topic, capabilities: ['topic'], durable: 2, expiry_policy: 'never', ...extra } };
}

describe('AMQP: durable subscriptions', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('keeps receiving while detached (closed=false), across a reconnect and a broker restart', async () => {
    let sub = await Client.connect(b, { containerId: 'jms-client-1' });
    const pub = await Client.connect(b);
    const r = await sub.receiver({ name: 'orders-sub', ...durableSource('dur.orders') });
    const s = await pub.sender('topic://dur.orders');
    await s.send({ body: 'live', durable: true });
    assert.equal((await r.next()).message.body, 'live');
    await r.detach(false);
    assert.ok(b.broker.engine.getSubscription('durable:jms-client-1:orders-sub'), 'kept after detach closed=false');
    for (let i = 0; i < 3; i++) await s.send({ body: `away${i}`, durable: true });
    await sub.close();
    await pub.close();
    await b.restart();
    sub = await Client.connect(b, { containerId: 'jms-client-1' });
    const again = await sub.receiver({ name: 'orders-sub', ...durableSource('dur.orders') });
    const got = await again.take(3);
    assert.deepEqual(got.map((m) => m.message.body), ['away0', 'away1', 'away2']);
    await sub.close();
  });

  it('detach with closed=true removes it; a JMS-style unsubscribe (attach by name, no address) finds it', async () => {
    const c = await Client.connect(b, { containerId: 'jms-client-2' });
    const r = await c.receiver({ name: 'gone-sub', ...durableSource('dur.gone') });
    await r.detach(false);
    assert.ok(b.broker.engine.getSubscription('durable:jms-client-2:gone-sub'));
    // Qpid JMS unsubscribe: attach a receiver with the subscription's link name and no source address ...
    const lookup = await c.receiver({ name: 'gone-sub', source: { capabilities: ['topic'] } });
    assert.equal(lookup.link.remote.attach.source.address, 'topic://dur.gone', 'the broker answers with the subscription it found');
    // ... and close it
    await lookup.detach(true);
    await until(() => !b.broker.engine.getSubscription('durable:jms-client-2:gone-sub'), 3000, 'subscription removed');
    // looking up a subscription that does not exist is refused with amqp:not-found
    await assert.rejects(c.receiver({ name: 'never-was', source: { capabilities: ['topic'] } }), (e: { condition?: string }) => e.condition === 'amqp:not-found');
    // a durable subscriber closed with closed=true also removes it
    const r2 = await c.receiver({ name: 'closed-sub', ...durableSource('dur.closed') });
    await r2.detach(true);
    await until(() => !b.broker.engine.getSubscription('durable:jms-client-2:closed-sub'), 3000, 'removed on close');
    await c.close();
  });

  it('a selector on a durable subscription is kept and echoed', async () => {
    const c = await Client.connect(b, { containerId: 'jms-client-3' });
    const pub = await Client.connect(b);
    const r = await c.receiver({ name: 'sel-sub', ...durableSource('dur.sel', { filter: rhea.filter.selector("k = 'yes'") }) });
    await r.detach(false);
    const s = await pub.sender('topic://dur.sel');
    await s.send({ body: 'no', application_properties: { k: 'no' }, durable: true });
    await s.send({ body: 'yes', application_properties: { k: 'yes' }, durable: true });
    const again = await c.receiver({ name: 'sel-sub', ...durableSource('dur.sel', { filter: rhea.filter.selector("k = 'yes'") }) });
    assert.equal((await again.next()).message.body, 'yes');
    await again.none(150);
    await c.close();
    await pub.close();
  });

  it('a second active consumer on the same (non-shared) durable subscription is refused', async () => {
    const c = await Client.connect(b, { containerId: 'jms-client-4' });
    const c2 = await Client.connect(b, { containerId: 'jms-client-4' });
    await c.receiver({ name: 'excl-sub', ...durableSource('dur.excl') });
    await assert.rejects(c2.receiver({ name: 'excl-sub', ...durableSource('dur.excl') }), (e: { condition?: string }) => e.condition === 'amqp:invalid-field');
    await c.close();
    await c2.close();
  });
});

describe('AMQP: shared subscriptions', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('shared (global) durable subscription spreads messages over its consumers and keeps them while all are gone', async () => {
    const a = await Client.connect(b, { containerId: 'shared-a' });
    const c = await Client.connect(b, { containerId: 'shared-b' });
    const pub = await Client.connect(b);
    const src = durableSource('sh.prices', { capabilities: ['topic', 'shared', 'global'] });
    const r1 = await a.receiver({ name: 'prices|global', ...src });
    const r2 = await c.receiver({ name: 'prices|global2', ...src });
    const s = await pub.sender('topic://sh.prices');
    for (let i = 0; i < 10; i++) await s.send({ body: `p${i}`, durable: true });
    await until(() => r1.inbox.items.length + r2.inbox.items.length === 10, 3000, 'all 10 delivered once');
    assert.ok(r1.inbox.items.length > 0 && r2.inbox.items.length > 0, `spread: ${r1.inbox.items.length}/${r2.inbox.items.length}`);
    const all = [...r1.inbox.items, ...r2.inbox.items].map((m) => m.message.body).sort();
    assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => `p${i}`).sort());
    await r1.detach(false);
    await r2.detach(false);
    await s.send({ body: 'while away', durable: true });
    const back = await a.receiver({ name: 'prices|global', ...src });
    assert.equal((await back.next()).message.body, 'while away');
    // closing the last consumer with closed=true removes the shared subscription
    await back.detach(true);
    await until(() => !b.broker.engine.getSubscription('shared:prices'), 3000, 'shared subscription removed');
    await Promise.all([a.close(), c.close(), pub.close()]);
  });

  it('shared non-durable (volatile) subscription spreads messages and goes with its last consumer', async () => {
    const a = await Client.connect(b, { containerId: 'vol' });
    const pub = await Client.connect(b);
    const src = { source: { address: 'sh.vol', capabilities: ['topic', 'shared'], expiry_policy: 'link-detach' } };
    const r1 = await a.receiver({ name: 'vsub|volatile1', ...src });
    const r2 = await a.receiver({ name: 'vsub|volatile2', ...src });
    const s = await pub.sender('topic://sh.vol');
    for (let i = 0; i < 6; i++) await s.send({ body: `v${i}` });
    await until(() => r1.inbox.items.length + r2.inbox.items.length === 6, 3000, 'all 6 once');
    assert.ok(r1.inbox.items.length > 0 && r2.inbox.items.length > 0);
    await r1.detach(true);
    await r2.detach(true);
    await sleep(50);
    assert.equal(b.broker.engine.listSubscriptions().filter((x) => x.name.includes('vol:vsub')).length, 0);
    await Promise.all([a.close(), pub.close()]);
  });
});
