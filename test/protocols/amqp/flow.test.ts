/**
 * AMQP flow and settlement with the rhea client: link credit and drain, every disposition outcome and its
 * effect (released vs modified vs rejected, delivery-count), selector and no-local filters, browsing,
 * broker-issued credit on sending links, and output back-pressure.
 */
import assert from 'node:assert/strict';
import { Client, frames, rhea, sleep, startBroker, until, type TestBroker } from './helpers.js';

describe('AMQP: credit and drain', function () {
  this.timeout(15_000);
  let b: TestBroker;
  let c: Client;
  before(async () => {
    b = await startBroker();
    c = await Client.connect(b);
  });
  after(async () => {
    await c?.close();
    await b?.close();
  });

  it('link credit drives dispatch: no more transfers than credit', async () => {
    const s = await c.sender('credit.q');
    for (let i = 0; i < 5; i++) await s.send({ body: `m${i}` });
    const r = await c.receiver('credit.q', { credit_window: 0, autoaccept: false });
    await r.none(150);
    r.flow(2);
    const got = await r.take(2);
    assert.deepEqual(got.map((g) => g.message.body), ['m0', 'm1']);
    await r.none(150);
    r.flow(1);
    assert.equal((await r.next()).message.body, 'm2');
    await r.none(100);
    const q = b.broker.engine.getQueue('credit.q')!;
    assert.equal(q.readyMessages, 2, 'the rest stays in the queue for other consumers');
  });

  it('drain hands over what is there, then echoes the flow with the credit used up', async () => {
    const s = await c.sender('drain.q');
    for (let i = 0; i < 3; i++) await s.send({ body: `d${i}` });
    const r = await c.receiver('drain.q', { credit_window: 0, autoaccept: false });
    r.flow(10);
    await r.drain();
    assert.equal(r.inbox.items.length, 3);
    assert.equal(r.link.credit, 0, 'credit given up');
    assert.equal(r.link.delivery_count, 10, 'delivery-count advanced by the unused credit');
    // nothing more arrives without new credit
    await s.send({ body: 'later' });
    await sleep(150);
    assert.equal(r.inbox.items.length, 3);
    // drain on an empty queue: echo at once
    const e = await c.receiver('drain.empty', { credit_window: 0, autoaccept: false });
    e.flow(5);
    await e.drain();
    assert.equal(e.inbox.items.length, 0);
    assert.equal(e.link.credit, 0);
  });

  it('flow with echo=true (§2.7.4) is answered with our flow state: a link\'s (sending and receiving links) and the session\'s, never echo=true back', async () => {
    const x = await Client.connect(b);
    try {
      const r = await x.receiver('echo.q', { credit_window: 0, autoaccept: false });
      const s = await x.sender('echo.q');
      const session = r.link.session;
      // rhea writes the flow performatives; every flow the broker sends is recorded as it arrives, in order
      const seen: Array<Record<string, unknown>> = [];
      const onFlow = session.on_flow.bind(session);
      session.on_flow = (frame: { performative: Record<string, unknown> }) => {
        seen.push(frame.performative);
        onFlow(frame);
      };
      const flow = (fields: Record<string, unknown>) =>
        session.output(
          frames.flow({
            next_incoming_id: session.incoming.next_transfer_id,
            incoming_window: session.incoming.window,
            next_outgoing_id: session.outgoing.next_transfer_id,
            outgoing_window: session.outgoing.window,
            ...fields,
          }),
        );
      /** The first flow the broker sent since `from` for this handle (undefined: the session's). */
      const answer = async (from: number, handle: number | undefined, what: string) => {
        const find = () => seen.slice(from).find((p) => p.handle === handle);
        await until(() => find() !== undefined, 3000, what);
        return find()!;
      };
      // our receiving link (the broker's sender): credit 4 with echo, answered with delivery-count and link-credit
      let n = seen.length;
      flow({ handle: r.link.local.handle, delivery_count: r.link.delivery_count, link_credit: 4, echo: true });
      let f = await answer(n, r.link.remote.attach.handle, 'the echo of the receiving link');
      assert.equal(f.link_credit, 4);
      assert.equal(f.delivery_count, 0);
      assert.notEqual(f.echo, true);
      // our sending link (the broker's receiver): the credit the broker granted
      n = seen.length;
      flow({ handle: s.link.local.handle, delivery_count: s.link.delivery_count, link_credit: 0, echo: true });
      f = await answer(n, s.link.remote.attach.handle, 'the echo of the sending link');
      assert.equal(f.link_credit, s.link.credit);
      assert.ok((f.link_credit as number) > 0);
      assert.notEqual(f.echo, true);
      // the session: a flow without a handle and without echo is not answered, the one with echo is, once
      n = seen.length;
      flow({});
      flow({ echo: true });
      f = await answer(n, undefined, 'the echo of the session');
      assert.equal(f.next_incoming_id, session.outgoing.next_transfer_id);
      assert.notEqual(f.echo, true);
      // the link still works on the credit it was given
      await s.send({ body: 'after echo' });
      assert.equal((await r.next()).message.body, 'after echo');
      assert.equal(seen.filter((p) => p.handle === undefined).length, 1, 'one session flow: the answer to the echo');
    } finally {
      await x.close();
    }
  });

  it('the broker grants credit on sending links and counts transfers: exceeding it detaches the link', async () => {
    // a destination that blocks (full, block policy): sends stay pending, so no credit comes back meanwhile
    const t = await startBroker({ amqp: { receiverCredit: 2 }, config: { destinations: [{ match: 'limit.q', kind: 'queue', maxMessages: 1, limitPolicy: 'block', blockTimeout: 2000 }] } });
    const x = await Client.connect(t);
    try {
      const pre = await x.sender('limit.q');
      assert.equal((await pre.send({ body: 'fill' })).state, 'accepted');
      const s = await x.sender('limit.q');
      await s.ready();
      assert.equal(s.link.credit, 2, 'credit issued by the broker');
      // a client that ignores credit (rhea itself would only log it on the receiving side)
      s.link.has_credit = () => true;
      s.link.sendable = () => true;
      const closed = new Promise<{ condition?: string }>((resolve) => s.link.once('sender_error', () => resolve(s.link.remote.detach?.error ?? {})));
      for (let i = 0; i < 6; i++) s.link.send({ body: `x${i}` });
      const err = await closed;
      assert.equal(err.condition, 'amqp:link:transfer-limit-exceeded');
      await sleep(100);
      const q = t.broker.engine.getQueue('limit.q');
      assert.equal(q!.depth, 1, 'nothing beyond the blocked, granted ones was taken');
    } finally {
      await x.close();
      await t.close();
    }
  });

  it('unsettled sends keep their order behind a full `block` queue, also when the accepts that make room come with the next transfer', async () => {
    const t = await startBroker({ config: { destinations: [{ match: 'blk.order', kind: 'queue', maxMessages: 2, limitPolicy: 'block', blockTimeout: 10_000 }] } });
    const x = await Client.connect(t);
    try {
      const r = await x.receiver('blk.order', { autoaccept: false });
      const s = await x.sender('blk.order');
      const outcomes = [s.send({ body: '1' }), s.send({ body: '2' }), s.send({ body: '3' })];
      const [m1, m2] = await r.take(2);
      assert.deepEqual([m1!.message.body, m2!.message.body], ['1', '2']);
      await until(() => t.broker.engine.getQueue('blk.order')!.stats.limitHits === 1, 3000, 'the third send waits for room');
      // in one event-loop turn, so in one write: two accepts make room for two, the third is let in, the fourth follows
      m1!.delivery.accept();
      m2!.delivery.accept();
      s.link.send({ body: '4' });
      const rest = await r.take(2);
      assert.deepEqual(rest.map((m) => m.message.body), ['3', '4']);
      for (const o of await Promise.all(outcomes)) assert.equal(o.state, 'accepted');
    } finally {
      await x.close();
      await t.close();
    }
  });

  it('many consumers with large credit on one session all get messages', async () => {
    const receivers = [];
    for (let i = 0; i < 20; i++) receivers.push(await c.receiver(`many.q${i}`));
    const s = await c.sender({ target: {} });
    for (let i = 0; i < 20; i++) await s.send({ to: `many.q${i}`, body: `to ${i}` });
    for (let i = 0; i < 20; i++) assert.equal((await receivers[i]!.next()).message.body, `to ${i}`);
  });

  it('a full session delivery buffer pauses deliveries until the client settles (no overflow)', async () => {
    const t = await startBroker({ amqp: { sessionOutgoingBuffer: 100 } });
    const x = await Client.connect(t);
    try {
      const s = await x.sender('sessfull.q');
      for (let i = 0; i < 150; i++) await s.send({ body: `f${i}` });
      const r = await x.receiver('sessfull.q', { autoaccept: false });
      await until(() => r.inbox.items.length >= 30, 3000, 'first deliveries');
      await sleep(200);
      assert.ok(r.inbox.items.length <= 100, `${r.inbox.items.length} unsettled deliveries`);
      for (const m of r.inbox.items) m.delivery.accept();
      let settled = r.inbox.items.length;
      while (settled < 150) {
        await until(() => r.inbox.items.length > settled, 3000, 'more after settling');
        for (const m of r.inbox.items.slice(settled)) m.delivery.accept();
        settled = r.inbox.items.length;
      }
      await until(() => t.broker.engine.getQueue('sessfull.q')!.depth === 0, 3000, 'all acked');
    } finally {
      await x.close();
      await t.close();
    }
  });

  it('credit comes back as sends complete: a producer keeps going past its first window', async () => {
    const t = await startBroker({ amqp: { receiverCredit: 4 } });
    const x = await Client.connect(t);
    try {
      const s = await x.sender('window.q');
      const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => s.send({ body: `w${i}`, durable: true })));
      assert.ok(outcomes.every((o) => o.state === 'accepted'));
      assert.equal(t.broker.engine.getQueue('window.q')!.depth, 20);
    } finally {
      await x.close();
      await t.close();
    }
  });
});

describe('AMQP: dispositions', function () {
  this.timeout(15_000);
  let b: TestBroker;
  let c: Client;
  before(async () => {
    b = await startBroker();
    c = await Client.connect(b);
  });
  after(async () => {
    await c?.close();
    await b?.close();
  });

  async function one(queue: string, body: string) {
    const s = await c.sender(queue);
    await s.send({ body, durable: true });
    return c.receiver(queue, { autoaccept: false });
  }

  it('accepted: the message is gone', async () => {
    const r = await one('disp.acc', 'a');
    const m = await r.next();
    assert.equal(m.message.delivery_count ?? 0, 0);
    assert.equal(m.message.first_acquirer, true);
    m.delivery.accept();
    await until(() => b.broker.engine.getQueue('disp.acc')!.depth === 0, 3000, 'acked');
  });

  it('released: back to the queue, not counted as a failed delivery (delivery-count stays 0), no longer first-acquirer', async () => {
    const r = await one('disp.rel', 'r');
    const m = await r.next();
    assert.equal(m.message.first_acquirer, true);
    m.delivery.release();
    const again = await r.next();
    assert.equal(again.message.body, 'r');
    assert.equal(again.message.delivery_count ?? 0, 0);
    // AMQP 1.0 §3.2.1: first-acquirer false once another acquisition has been (it stayed true before)
    assert.equal(again.message.first_acquirer, false);
    again.delivery.accept();
  });

  it('modified delivery-failed: counted (delivery-count 1, then 2)', async () => {
    const r = await one('disp.mod', 'm');
    const m = await r.next();
    m.delivery.modified({ delivery_failed: true });
    const again = await r.next();
    assert.equal(again.message.delivery_count, 1);
    assert.equal(again.message.first_acquirer, false);
    again.delivery.modified({ delivery_failed: true });
    const third = await r.next();
    assert.equal(third.message.delivery_count, 2);
    third.delivery.accept();
  });

  it('modified undeliverable-here: goes to another consumer, not back to this link', async () => {
    const r1 = await one('disp.here', 'h');
    const m = await r1.next();
    const r2 = await c.receiver('disp.here', { autoaccept: false });
    m.delivery.modified({ undeliverable_here: true });
    const other = await r2.next();
    assert.equal(other.message.body, 'h');
    await r1.none(150);
    other.delivery.accept();
  });

  it('rejected: dead-lettered (DLQ.<queue>) with the reason', async () => {
    const r = await one('disp.rej', 'bad');
    const m = await r.next();
    m.delivery.reject({ condition: 'app:bad-message', description: 'cannot parse' });
    await until(() => !!b.broker.engine.getQueue('DLQ.disp.rej')?.depth, 3000, 'in the DLQ');
    const d = await c.receiver('DLQ.disp.rej');
    const dm = await d.next();
    assert.equal(dm.message.body, 'bad');
    assert.equal(dm.message.application_properties.dlqDeliveryFailureCause, 'cannot parse');
    assert.equal(b.broker.engine.getQueue('disp.rej')!.depth, 0);
  });

  it('expired and rejected messages of a wildcard subscription go to the DLQ of their topic (no crash on DLQ.wc.*)', async () => {
    const r = await c.receiver('topic://wc.*', { credit_window: 0, autoaccept: false });
    const s = await c.sender('topic://wc.a');
    await s.send({ body: 'short-lived', ttl: 50, durable: true });
    await s.send({ body: 'rejected', durable: true });
    await sleep(1300); // the engine's expiry sweep runs every second
    r.flow(5);
    const m = await r.next();
    assert.equal(m.message.body, 'rejected');
    m.delivery.reject({ condition: 'x:y', description: 'no' });
    await r.none(200);
    await until(() => b.broker.engine.getQueue('DLQ.wc.a')?.depth === 2, 3000, 'both in DLQ.wc.a');
    const x = await c.sender('wc.alive');
    assert.equal((await x.send({ body: 'alive' })).state, 'accepted');
  });

  it('detaching with unsettled deliveries returns them flagged redelivered (delivery-count 1 for JMS)', async () => {
    const r = await one('disp.detach', 'u');
    await r.next();
    await r.detach();
    const r2 = await c.receiver('disp.detach', { autoaccept: false });
    const m = await r2.next();
    assert.equal(m.message.delivery_count, 1);
    m.delivery.accept();
  });

  it('a batch of different outcomes settled together keeps each outcome', async () => {
    const s = await c.sender('disp.batch');
    for (let i = 0; i < 4; i++) await s.send({ body: `b${i}` });
    const r = await c.receiver('disp.batch', { autoaccept: false });
    const ms = await r.take(4);
    // all four settled in one tick: the client's rhea batches them into dispositions (patched)
    ms[0]!.delivery.accept();
    ms[1]!.delivery.reject({ condition: 'x:y', description: 'no' });
    ms[2]!.delivery.accept();
    ms[3]!.delivery.release();
    const again = await r.next();
    assert.equal(again.message.body, 'b3', 'only the released one comes back');
    again.delivery.accept();
    await until(() => !!b.broker.engine.getQueue('DLQ.disp.batch')?.depth, 3000, 'rejected one dead-lettered');
    assert.equal(b.broker.engine.getQueue('DLQ.disp.batch')!.depth, 1);
    await r.none(150);
  });
});

describe('AMQP: filters and browsing', function () {
  this.timeout(15_000);
  let b: TestBroker;
  let c: Client;
  before(async () => {
    b = await startBroker();
    c = await Client.connect(b);
  });
  after(async () => {
    await c?.close();
    await b?.close();
  });

  it('apache.org:selector-filter:string on a queue and a topic; the filter is echoed in the attach', async () => {
    const r = await c.receiver({ source: { address: 'sel.q', filter: rhea.filter.selector("color = 'red' AND n > 1") } });
    const echoed = r.link.remote.attach.source.filter;
    assert.ok(echoed && Object.keys(echoed).length === 1, 'selector in force is echoed');
    const t = await c.receiver({ source: { address: 'topic://sel.t', filter: rhea.filter.selector("color = 'red'") } });
    const s = await c.sender('sel.q');
    const st = await c.sender('topic://sel.t');
    for (const [color, n] of [['red', 1], ['blue', 5], ['red', 5]] as const) {
      await s.send({ body: `${color}${n}`, application_properties: { color, n } });
      await st.send({ body: `${color}${n}`, application_properties: { color, n } });
    }
    assert.equal((await r.next()).message.body, 'red5');
    await r.none(150);
    assert.equal((await t.next()).message.body, 'red1');
    assert.equal((await t.next()).message.body, 'red5');
    await t.none(100);
    assert.equal(b.broker.engine.getQueue('sel.q')!.depth, 3 - 1 + 0 - 0 - 0 + 0, 'non-matching stay in the queue');
  });

  it('apache.org:no-local-filter:list: no copies of our own publications', async () => {
    const noLocal = { 'no-local': rhea.types.wrap_described([], 0x468c00000003) };
    const r = await c.receiver({ source: { address: 'topic://nl.t', filter: noLocal } });
    const other = await Client.connect(b);
    try {
      const mine = await c.sender('topic://nl.t');
      const theirs = await other.sender('topic://nl.t');
      await mine.send({ body: 'mine' });
      await theirs.send({ body: 'theirs' });
      assert.equal((await r.next()).message.body, 'theirs');
      await r.none(150);
    } finally {
      await other.close();
    }
  });

  it('distribution-mode copy browses without consuming; drain ends the browse', async () => {
    const s = await c.sender('browse.q');
    for (let i = 0; i < 5; i++) await s.send({ body: `p${i}`, application_properties: { i } });
    const br = await c.receiver({ source: { address: 'browse.q', distribution_mode: 'copy' }, credit_window: 0, autoaccept: false });
    assert.equal(br.link.remote.attach.source.distribution_mode, 'copy');
    br.flow(3);
    const first = await br.take(3);
    assert.deepEqual(first.map((m) => m.message.body), ['p0', 'p1', 'p2']);
    br.flow(10);
    await br.drain();
    assert.deepEqual(br.inbox.items.map((m) => m.message.body), ['p0', 'p1', 'p2', 'p3', 'p4']);
    assert.equal(b.broker.engine.getQueue('browse.q')!.depth, 5, 'nothing consumed');
    // with a selector
    const sel = await c.receiver({ source: { address: 'browse.q', distribution_mode: 'copy', filter: rhea.filter.selector('i >= 3') }, credit_window: 0 });
    sel.flow(10);
    await sel.drain();
    assert.deepEqual(sel.inbox.items.map((m) => m.message.body), ['p3', 'p4']);
  });
});

describe('AMQP: output back-pressure', function () {
  this.timeout(30_000);

  it('a consumer that does not read gets a bounded amount in flight, however much credit it gave', async () => {
    const b = await startBroker({ amqp: { maxConsumerCredit: 1_000_000, writeHighWater: 256 * 1024, sessionOutgoingBuffer: 1_000_000 } });
    const producer = await Client.connect(b);
    const consumer = await Client.connect(b);
    try {
      const s = await producer.sender('slow.q');
      const body = Buffer.alloc(4096, 7);
      for (let k = 0; k < 8; k++) await Promise.all(Array.from({ length: 500 }, () => s.send({ body: rhea.message.data_section(body) }, 20_000)));
      const r = await consumer.receiver('slow.q', { credit_window: 0 });
      consumer.conn.socket.pause(); // stop reading: TCP fills up, the broker's output must stop too
      r.flow(100_000);
      await sleep(1500);
      const q = b.broker.engine.getQueue('slow.q')!;
      // 4000 × 4 KiB = 16 MiB of messages; with back-pressure only what fits the socket buffers + high-water went out
      assert.ok(q.inflightCount < 2000, `in flight ${q.inflightCount} of 4000`);
      consumer.conn.socket.resume();
      await until(() => r.inbox.items.length === 4000, 20_000, 'all delivered once reading resumes');
    } finally {
      await producer.close();
      await consumer.close();
      await b.close();
    }
  });
});
