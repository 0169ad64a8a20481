/**
 * Composite destinations and virtual topics configured in the broker's config, driven end to end by STOMP clients.
 */
import assert from 'node:assert/strict';
import { startBroker, Stompit, type TestBroker } from './helpers.js';

describe('STOMP: configured composite destinations and virtual topics', function () {
  this.timeout(20_000);
  let b: TestBroker;
  const clients: Stompit[] = [];
  const stompit = async () => {
    const c = await Stompit.connect({ port: b.port });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    b = await startBroker({
      config: {
        composites: [
          { name: 'orders.all', targets: [{ address: 'queue://orders.eu', selector: "region = 'eu'" }, { address: 'topic://orders.audit' }] },
          { name: 'fanout.keep', kind: 'topic', forwardOnly: false, targets: [{ address: 'queue://fanout.copy' }] },
        ],
      },
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await b.close();
  });

  it('a SEND to a configured composite queue reaches each target its selector admits; forward-only keeps no copy', async () => {
    const c = await stompit();
    const audit = await c.subscribe('/topic/orders.audit');
    for (const region of ['eu', 'us', 'eu']) await c.send('/queue/orders.all', `order ${region}`, { region, persistent: 'true' });
    const seen = await audit.take(3);
    assert.deepEqual(seen.map((m) => m.text), ['order eu', 'order us', 'order eu']);
    const eu = await c.subscribe('/queue/orders.eu');
    const got = await eu.take(2);
    assert.deepEqual(got.map((m) => [m.text, m.headers.region]), [['order eu', 'eu'], ['order eu', 'eu']]);
    await eu.none(150);
    assert.equal(b.broker.engine.getQueue('orders.all'), undefined);
  });

  it('a composite topic with forwardOnly: false delivers to its own subscribers and to its targets', async () => {
    const c = await stompit();
    const own = await c.subscribe('/topic/fanout.keep');
    await c.send('/topic/fanout.keep', 'hello', { persistent: 'true' });
    assert.equal((await own.next()).text, 'hello');
    const copy = await c.subscribe('/queue/fanout.copy');
    assert.equal((await copy.next()).text, 'hello');
  });

  it('virtual topics: each Consumer.<group>.VirtualTopic.<x> queue gets every publish, load-balanced within the group', async () => {
    const a1 = await stompit();
    const a2 = await stompit();
    const bc = await stompit();
    const qa1 = await a1.subscribe('/queue/Consumer.A.VirtualTopic.Orders', { 'activemq.prefetchSize': '1', ack: 'auto' });
    const qa2 = await a2.subscribe('/queue/Consumer.A.VirtualTopic.Orders', { 'activemq.prefetchSize': '1', ack: 'auto' });
    const qb = await bc.subscribe('/queue/Consumer.B.VirtualTopic.Orders');
    const p = await stompit();
    for (let i = 0; i < 6; i++) await p.send('/topic/VirtualTopic.Orders', `o${i}`, { persistent: 'true' });
    const bGot = await qb.take(6);
    assert.deepEqual(bGot.map((m) => m.text), ['o0', 'o1', 'o2', 'o3', 'o4', 'o5']);
    const deadline = Date.now() + 5000;
    while (qa1.items.length + qa2.items.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const aGot = [...qa1.items, ...qa2.items].map((m) => m.text).sort();
    assert.deepEqual(aGot, ['o0', 'o1', 'o2', 'o3', 'o4', 'o5'], 'group A together got each message once');
    assert.ok(qa1.items.length > 0 && qa2.items.length > 0, `both A consumers took a share (${qa1.items.length}/${qa2.items.length})`);
  });
});
