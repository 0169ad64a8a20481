/**
 * AMQP local transactions: a coordinator link (target `amqp:coordinator`), declare / discharge, and
 * transactional sends and acknowledgements (transactional-state), as Qpid JMS uses them. rhea has no client
 * side for this either, so the test drives the coordinator by hand.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Encoder } from '../../../protocols/amqp/codec.js';
import { Client, sleep, startBroker, until, type Any, type Sender, type TestBroker } from './helpers.js';

const require = createRequire(import.meta.url);
const message = require('rhea/lib/message.js');
const terminus = require('rhea/lib/terminus.js');

class TxClient {
  private constructor(readonly c: Client, readonly coordinator: Any) {}

  static async open(c: Client): Promise<TxClient> {
    const link = c.conn.open_sender({ name: `txn-${Date.now()}` });
    link.local.attach.target = terminus.coordinator({ capabilities: ['amqp:local-transactions'] }).described();
    await new Promise<void>((resolve, reject) => {
      link.once('sender_open', () => resolve());
      link.once('sender_error', () => reject(new Error('coordinator refused')));
    });
    assert.equal(link.remote.attach.target?.terminus_type, 'coordinator');
    return new TxClient(c, link);
  }

  private tags = 0;

  /** An amqp-value section holding a described control list (declare 0x31 / discharge 0x32). */
  private async control(code: number, fields: (e: Encoder) => number): Promise<Any> {
    const e = new Encoder();
    e.descriptor(0x77).descriptor(code);
    const mark = e.begin(false);
    e.end(mark, fields(e));
    return this.sendControl(e.toBuffer());
  }

  private async sendControl(body: Buffer): Promise<Any> {
    const end = Date.now() + 3000;
    while (!this.coordinator.sendable()) {
      if (Date.now() > end) throw new Error('no credit on the coordinator');
      await sleep(2);
    }
    const d = this.coordinator.send(body, Buffer.from(`c${++this.tags}`), 0);
    return new Promise((resolve) => {
      const on = (ctx: Any) => {
        if (ctx.delivery !== d) return;
        for (const ev of ['declared', 'accepted', 'rejected']) this.coordinator.off(ev, on);
        resolve(ctx.delivery.remote_state);
      };
      for (const ev of ['declared', 'accepted', 'rejected']) this.coordinator.on(ev, on);
    });
  }

  async declare(): Promise<Buffer> {
    const st = await this.control(0x31, () => 0);
    assert.ok(Buffer.isBuffer(st.txn_id), `declared: ${JSON.stringify(st)}`);
    return st.txn_id as Buffer;
  }

  /** Resolves with the outcome state: accepted, or rejected with an error. */
  discharge(txnId: Buffer, fail: boolean): Promise<Any> {
    return this.control(0x32, (e) => {
      e.binary(txnId).bool(fail);
      return 2;
    });
  }
}

/** Send within a transaction: the transfer carries transactional-state(txn-id). */
function sendInTx(s: Sender, txnId: Buffer, msg: Any): Promise<Any> {
  const link = s.link;
  const d = link.send(msg);
  const ssn = link.session;
  if (!ssn.__txPatched) {
    ssn.__txPatched = true;
    ssn.__txFor = new Map<number, Buffer>();
    const orig = ssn.output.bind(ssn);
    ssn.output = (frame: Any, payload: Any) => {
      const id = frame.value?.[1]?.value;
      if (frame.constructor?.toString?.().startsWith('transfer') && ssn.__txFor.has(id)) {
        frame.value[7] = message.transactional_state({ txn_id: ssn.__txFor.get(id) }).described();
        ssn.__txFor.delete(id);
      }
      return orig(frame, payload);
    };
  }
  ssn.__txFor.set(d.id, txnId);
  return new Promise((resolve) => {
    const on = (ctx: Any) => {
      if (ctx.delivery !== d) return;
      link.off('transactional_state', on);
      link.off('rejected', on);
      resolve(ctx.delivery.remote_state);
    };
    link.on('transactional_state', on);
    link.on('rejected', on);
  });
}

/**
 * Acknowledge within a transaction: disposition with transactional-state(txn-id, accepted). rhea writes a
 * session's outgoing transfers before its dispositions in the same turn, so let the disposition go out
 * before a discharge is sent.
 */
async function ackInTx(delivery: Any, txnId: Buffer): Promise<void> {
  delivery.update(true, message.transactional_state({ txn_id: txnId, outcome: message.accepted().described() }).described());
  await sleep(10);
}

describe('AMQP: transactions', function () {
  this.timeout(15_000);
  let b: TestBroker;
  let c: Client;
  let tx: TxClient;
  before(async () => {
    b = await startBroker();
    c = await Client.connect(b);
    tx = await TxClient.open(c);
  });
  after(async () => {
    await c?.close();
    await b?.close();
  });

  it('transactional sends are invisible until commit, then all appear', async () => {
    const s = await c.sender('tx.commit');
    const id = await tx.declare();
    for (let i = 0; i < 3; i++) {
      const st = await sendInTx(s, id, { body: `t${i}`, durable: true });
      assert.equal(st.constructor.composite_type, 'transactional_state');
      assert.equal(message.unwrap_outcome(st.outcome).constructor.composite_type, 'accepted');
    }
    await sleep(50);
    assert.equal(b.broker.engine.getQueue('tx.commit')?.depth ?? 0, 0, 'nothing before commit');
    const out = await tx.discharge(id, false);
    assert.equal(out.constructor.composite_type, 'accepted');
    assert.equal(b.broker.engine.getQueue('tx.commit')!.depth, 3);
    const r = await c.receiver('tx.commit');
    assert.deepEqual((await r.take(3)).map((m) => m.message.body), ['t0', 't1', 't2']);
  });

  it('rollback discards transactional sends', async () => {
    const s = await c.sender('tx.rollback');
    const id = await tx.declare();
    await sendInTx(s, id, { body: 'never' });
    const out = await tx.discharge(id, true);
    assert.equal(out.constructor.composite_type, 'accepted');
    assert.equal(b.broker.engine.getQueue('tx.rollback')?.depth ?? 0, 0);
  });

  it('transactional acknowledgements: commit removes, rollback redelivers (counted)', async () => {
    const s = await c.sender('tx.ack');
    for (let i = 0; i < 2; i++) await s.send({ body: `a${i}`, durable: true });
    const r = await c.receiver('tx.ack', { autoaccept: false });
    const [m0, m1] = await r.take(2);
    const id = await tx.declare();
    await ackInTx(m0!.delivery, id);
    await ackInTx(m1!.delivery, id);
    await tx.discharge(id, true);
    const again = await r.take(2);
    assert.deepEqual(again.map((m) => m.message.body).sort(), ['a0', 'a1']);
    assert.ok(again.every((m) => m.message.delivery_count === 1), 'rolled-back acks count as a failed delivery');
    const id2 = await tx.declare();
    for (const m of again) await ackInTx(m.delivery, id2);
    await sleep(50);
    assert.equal(b.broker.engine.getQueue('tx.ack')!.depth, 2, 'still there until commit');
    await tx.discharge(id2, false);
    await until(() => b.broker.engine.getQueue('tx.ack')!.depth === 0, 3000, 'acked at commit');
  });

  it('sends and acks in one transaction commit atomically', async () => {
    const s = await c.sender('tx.in');
    await s.send({ body: 'request', durable: true });
    const r = await c.receiver('tx.in', { autoaccept: false });
    const m = await r.next();
    const out = await c.sender('tx.out');
    const id = await tx.declare();
    await ackInTx(m.delivery, id);
    await sendInTx(out, id, { body: 'reply', durable: true });
    await tx.discharge(id, false);
    assert.equal(b.broker.engine.getQueue('tx.in')!.depth, 0);
    assert.equal(b.broker.engine.getQueue('tx.out')!.depth, 1);
  });

  it('unknown transaction ids are refused', async () => {
    const out = await tx.discharge(Buffer.from([9, 9, 9, 9]), false);
    assert.equal(out.constructor.composite_type, 'rejected');
    assert.equal(out.error.condition, 'amqp:transaction:unknown-id');
    const s = await c.sender('tx.unknown');
    const st = await sendInTx(s, Buffer.from([8, 8]), { body: 'x' });
    assert.equal(st.constructor.composite_type, 'rejected');
    assert.equal(st.error.condition, 'amqp:transaction:unknown-id');
  });

  it('closing the coordinator link rolls its open transactions back', async () => {
    const x = await Client.connect(b);
    const t2 = await TxClient.open(x);
    const s = await x.sender('tx.closed');
    const id = await t2.declare();
    await sendInTx(s, id, { body: 'gone' });
    await new Promise<void>((resolve) => {
      t2.coordinator.once('sender_close', () => resolve());
      t2.coordinator.close();
    });
    await sleep(50);
    assert.equal(b.broker.engine.getQueue('tx.closed')?.depth ?? 0, 0);
    await x.close();
  });
});
