/** Two-phase (XA) transactions in the engine: prepare is durable, holds its acked messages, and ends after a restart. */
import assert from 'node:assert/strict';
import { createMessage, type Message } from '../../src/core/message.js';
import { queue } from '../../src/core/address.js';
import { BrokerError } from '../../src/core/errors.js';
import { Inbox, settle, startEngine, type TestEngine } from '../helpers/engine.js';

const msg = (body: string, extra: Partial<Message> = {}) => createMessage({ body: Buffer.from(body), ...extra });

describe('core engine: prepared (two-phase) transactions', function () {
  this.timeout(20000);
  let t: TestEngine | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** m1..m6 sent to `name` and delivered to one consumer, on an engine (also in `t`, for afterEach) whose window of 2 pages the tail out after a restart. */
  async function sixDelivered(name: string) {
    const started = (t = await startEngine({ windowSize: 2 }));
    const { engine } = started;
    for (let i = 1; i <= 6; i++) await engine.send(msg(`m${i}`), queue(name));
    const inbox = new Inbox();
    const c = await engine.subscribe({ address: queue(name), prefetch: 10, onMessage: inbox.push });
    await inbox.waitFor(6);
    return { t: started, engine, c, inbox };
  }

  /** A consumer of `src` takes in1; a transaction acks it, sends `out` to `dst` and is prepared as `key`. */
  async function prepareAckOfIn1(engine: TestEngine['engine'], key: string) {
    const inbox = new Inbox();
    const c = await engine.subscribe({ address: queue('src'), prefetch: 1, onMessage: inbox.push });
    const [d1] = await inbox.waitFor(1);
    const tx = engine.beginTransaction();
    tx.ack(c, d1.id);
    await engine.send(msg('out'), queue('dst'), { transaction: tx });
    await tx.prepare(key);
    return { c, tx };
  }

  it('prepare holds the acked message from every consumer and hides the sends; commit after a restart applies exactly them', async () => {
    t = await startEngine();
    const { engine } = t;
    await engine.send(msg('in1'), queue('src'));
    await engine.send(msg('in2'), queue('src'));
    const { c, tx } = await prepareAckOfIn1(engine, 'test:x1');
    assert.equal(tx.state, 'prepared');
    assert.deepEqual(engine.preparedTransactions(), ['test:x1']);
    assert.throws(() => tx.ack(c, 999), (e: BrokerError) => e.code === 'transaction', 'no more work once prepared');
    await assert.rejects(engine.beginTransaction().prepare('test:x1'), (e: BrokerError) => e.code === 'transaction', 'a prepared key is unique');
    c.close(); // a consumer closing does not give back what a prepared transaction acked
    const e2 = await t.restart();
    assert.deepEqual(e2.preparedTransactions(), ['test:x1'], 'the prepared transaction survives the restart');
    assert.equal(e2.getQueue('dst'), undefined, 'prepared sends are not visible');
    const again = new Inbox();
    await e2.subscribe({ address: queue('src'), prefetch: 10, onMessage: again.push });
    await again.waitFor(1);
    await settle();
    assert.deepEqual(again.bodies(), ['in2'], 'the prepared ack keeps in1 from consumers after the restart');
    await e2.preparedTransaction('test:x1')!.commit();
    assert.deepEqual(e2.preparedTransactions(), []);
    assert.equal(e2.getQueue('dst')!.depth, 1, 'the prepared send is enqueued by the commit');
    assert.equal(e2.getQueue('src')!.depth, 1, 'in1 is gone, in2 still unacked');
    const e3 = await t.restart();
    assert.deepEqual(e3.preparedTransactions(), [], 'the record went with the commit');
    assert.equal(e3.getQueue('dst')!.depth, 1);
    assert.deepEqual(e3.browse(queue('src')).map((b) => b.message.body.toString()), ['in2']);
  });

  it('rollback after a restart discards the sends and redelivers the acked message', async () => {
    t = await startEngine();
    const { engine } = t;
    await engine.send(msg('in1'), queue('src'));
    await prepareAckOfIn1(engine, 'test:x2');
    const e2 = await t.restart();
    await e2.preparedTransaction('test:x2')!.rollback();
    assert.deepEqual(e2.preparedTransactions(), []);
    assert.equal(e2.getQueue('dst'), undefined);
    const again = new Inbox();
    await e2.subscribe({ address: queue('src'), prefetch: 10, onMessage: again.push });
    const [r] = await again.waitFor(1);
    assert.deepEqual([r.message.body.toString(), r.redelivered], ['in1', true]);
    const e3 = await t.restart();
    assert.deepEqual(e3.preparedTransactions(), [], 'the rollback is durable');
  });

  it('commit without a restart; a held message that is still paged out after a restart is removed from the store', async () => {
    const { t, engine, c, inbox } = await sixDelivered('deep');
    // in-process: prepare and commit the ack of m1
    const tx1 = engine.beginTransaction();
    tx1.ack(c, inbox.items[0].id);
    await tx1.prepare('test:x3');
    await tx1.commit();
    // m5 acked by a prepared transaction; with a window of 2 it is paged out after the restart
    const tx2 = engine.beginTransaction();
    tx2.ack(c, inbox.items[4].id);
    await tx2.prepare('test:x4');
    const e2 = await t.restart();
    assert.equal(e2.getQueue('deep')!.depth, 5, 'm2..m6, m5 among them until the commit');
    await e2.preparedTransaction('test:x4')!.commit();
    assert.equal(e2.getQueue('deep')!.depth, 4);
    const again = new Inbox();
    const c2 = await e2.subscribe({ address: queue('deep'), prefetch: 1, onMessage: again.push });
    for (let i = 1; i <= 4; i++) {
      const [d] = (await again.waitFor(i)).slice(i - 1);
      await c2.ack(d.id);
    }
    await settle();
    assert.deepEqual(again.bodies(), ['m2', 'm3', 'm4', 'm6']);
    assert.equal(e2.getQueue('deep')!.depth, 0);
  });

  it('a purge keeps what a prepared transaction holds; its rollback then makes it available again', async () => {
    const { t, engine, c, inbox } = await sixDelivered('pq');
    const tx = engine.beginTransaction();
    tx.ack(c, inbox.items[4].id);
    await tx.prepare('test:x5');
    const e2 = await t.restart(); // m5 is paged out after the restart (window of 2)
    await e2.purgeQueue('pq');
    await e2.preparedTransaction('test:x5')!.rollback();
    const again = new Inbox();
    await e2.subscribe({ address: queue('pq'), prefetch: 10, onMessage: again.push });
    const [d] = await again.waitFor(1);
    await settle();
    assert.deepEqual(again.bodies(), ['m5'], 'only the held message survived the purge');
    assert.equal(d.redelivered, true);
  });
});
