/**
 * Concurrent store and dispatch (store.concurrentDispatch, on by default): a persistent send reaches a waiting
 * consumer while its enqueue commit is in flight; the producer's confirmation and every store write about the
 * message (ack, redelivery count, DLQ move) come after that commit; a failed commit withdraws the message.
 *
 * The commit is held open the way the protocol tests hold it: the real LMDB store's commit() is wrapped so that
 * a batch carrying an enqueue waits at a gate before it reaches the store.
 */
import assert from 'node:assert/strict';
import { createMessage } from '../../src/core/message.js';
import { queue } from '../../src/core/address.js';
import type { Command } from '../../src/core/store.js';
import type { EngineOptions } from '../../src/core/engine.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { eventually, Inbox, settle, startEngine, type TestEngine } from '../helpers/engine.js';

const msg = (body: string) => createMessage({ body: Buffer.from(body), durable: true });

/** Holds every batch that carries an enqueue until released; records what reached the store, in order. */
class HeldCommits {
  readonly written: Command[][] = [];
  private held: Array<() => void> = [];
  constructor(readonly store: LmdbStore) {
    const commit = store.commit.bind(store);
    store.commit = async (batch) => {
      if (batch.some((c) => c.t === 'enqueue')) await new Promise<void>((r) => this.held.push(r));
      this.written.push(batch);
      return commit(batch);
    };
  }
  get waiting(): number {
    return this.held.length;
  }
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
  /** Kinds of the commands that reached the store, in order. */
  kinds(): string[] {
    return this.written.flat().map((c) => c.t);
  }
}

describe('core: concurrent store and dispatch', function () {
  this.timeout(20000);
  let t: TestEngine;
  let heldNow: HeldCommits | undefined;
  const open = async (opts: Partial<EngineOptions> = {}) => {
    t = await startEngine(opts);
    heldNow = new HeldCommits(t.engine.store as LmdbStore);
    return { engine: t.engine, held: heldNow };
  };
  afterEach(async () => {
    heldNow?.release();
    await t?.close();
  });

  it('a waiting consumer receives a persistent send before its commit resolves; the producer only after', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    let confirmed = false;
    const sent = engine.send(msg('early'), queue('q')).then(() => (confirmed = true));
    await inbox.waitFor(1);
    assert.equal(held.waiting, 1, 'the enqueue commit is still held');
    assert.equal(confirmed, false, 'the producer is not confirmed before the commit');
    assert.equal(inbox.items[0].redelivered, false);
    held.release();
    await sent;
    assert.equal(confirmed, true);
  });

  it('an ack given before the enqueue commit is written after it, so a restart finds the message gone', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const inbox = new Inbox();
    const c = await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const sent = engine.send(msg('acked-early'), queue('q'));
    const [d] = await inbox.waitFor(1);
    const acked = c.ack(d.id);
    await settle();
    assert.ok(!held.kinds().includes('ack'), 'no ack reaches the store while its enqueue is held');
    held.release();
    await Promise.all([sent, acked]);
    const kinds = held.kinds();
    assert.ok(kinds.indexOf('enqueue') >= 0 && kinds.indexOf('enqueue') < kinds.indexOf('ack'), `enqueue before ack in the store: ${kinds.join(',')}`);
    assert.equal(engine.getQueue('q')!.depth, 0);
    const restarted = await t.restart();
    assert.equal(restarted.getQueue('q')!.depth, 0, 'the acked message does not come back');
  });

  it('a nack to the DLQ before the enqueue commit moves it only once the enqueue is durable', async () => {
    const { engine, held } = await open({ policies: [{ match: 'q', maxRedeliveries: 0 }] });
    await engine.createQueue('q');
    const inbox = new Inbox();
    const c = await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const sent = engine.send(msg('poison'), queue('q'));
    const [d] = await inbox.waitFor(1);
    c.nack(d.id);
    await settle();
    assert.deepEqual(held.kinds().filter((k) => k === 'ack' || k === 'update'), [], 'nothing about it is written before its enqueue');
    held.release();
    await sent;
    await eventually(() => {
      held.release(); // the move to the DLQ carries an enqueue too
      assert.equal(engine.getQueue('DLQ.q')?.depth, 1);
    });
    const restarted = await t.restart();
    assert.equal(restarted.getQueue('q')!.depth, 0);
    assert.equal(restarted.getQueue('DLQ.q')!.depth, 1);
  });

  it('a failed enqueue commit withdraws the message: delivered → its ack is a no-op and it is not redelivered', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const inbox = new Inbox();
    const c = await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const before = engine.totals.enqueued;
    const sent = engine.send(msg('doomed'), queue('q'));
    const [d] = await inbox.waitFor(1);
    (held.store as LmdbStore).injectApplyFault = (op) => op.t === 'enqueue';
    held.release();
    await assert.rejects(sent, 'the producer gets the error');
    (held.store as LmdbStore).injectApplyFault = undefined;
    await c.ack(d.id);
    const q = engine.getQueue('q')!;
    assert.equal(q.depth, 0);
    assert.equal(q.stats.enqueued, 0, 'not counted as enqueued');
    assert.equal(q.stats.dequeued, 0, 'nor as consumed');
    assert.equal(engine.totals.enqueued, before);
    // a second one sent afterwards is delivered and nothing else
    const ok = engine.send(msg('next'), queue('q'));
    await eventually(() => held.waiting === 1);
    held.release();
    await ok;
    await inbox.waitFor(2);
    assert.deepEqual(inbox.bodies(), ['doomed', 'next']);
    const restarted = await t.restart();
    assert.equal(restarted.getQueue('q')!.depth, 1, 'only the confirmed message is stored');
  });

  it('a failed enqueue commit withdraws the message: not yet delivered → removed, never delivered', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const sent = engine.send(msg('doomed'), queue('q'));
    await settle();
    assert.equal(engine.getQueue('q')!.depth, 1, 'applied while its commit is held');
    (held.store as LmdbStore).injectApplyFault = (op) => op.t === 'enqueue';
    held.release();
    await assert.rejects(sent);
    (held.store as LmdbStore).injectApplyFault = undefined;
    const q = engine.getQueue('q')!;
    assert.equal(q.depth, 0);
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle(10);
    assert.equal(inbox.items.length, 0);
  });

  it('a purge while the enqueue commit is in flight removes the message from the store once it lands', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const sent = engine.send(msg('purged-early'), queue('q'));
    await eventually(() => held.waiting === 1);
    assert.equal(engine.getQueue('q')!.depth, 1);
    assert.equal(await engine.purgeQueue('q'), 1);
    held.release();
    await sent;
    await eventually(() => held.kinds().includes('ack'));
    const restarted = await t.restart();
    assert.equal(restarted.getQueue('q')!.depth, 0, 'the purged message does not come back');
  });

  it('store.concurrentDispatch off: the consumer gets the message only after its commit', async () => {
    const { engine, held } = await open({ concurrentDispatch: false });
    await engine.createQueue('q');
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const sent = engine.send(msg('late'), queue('q'));
    await eventually(() => held.waiting === 1);
    await settle(10);
    assert.equal(inbox.items.length, 0, 'nothing dispatched while the commit is held');
    assert.equal(engine.getQueue('q')!.depth, 0);
    held.release();
    await sent;
    await inbox.waitFor(1);
  });

  it('transactional sends are dispatched only after the transaction commits', async () => {
    const { engine, held } = await open();
    await engine.createQueue('q');
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const tx = engine.beginTransaction();
    await engine.send(msg('tx'), queue('q'), { transaction: tx });
    const committed = tx.commit();
    await eventually(() => held.waiting === 1);
    await settle(10);
    assert.equal(inbox.items.length, 0);
    held.release();
    await committed;
    await inbox.waitFor(1);
  });

  it('keeps FIFO when a later send could go early while an earlier one waits to be applied', async () => {
    // the earlier send is transactional (applied after its commit); the later plain send must not overtake it
    const { engine, held } = await open();
    await engine.createQueue('q');
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    await settle();
    const tx = engine.beginTransaction();
    await engine.send(msg('first'), queue('q'), { transaction: tx });
    const committed = tx.commit();
    await eventually(() => held.waiting === 1);
    const sent = engine.send(msg('second'), queue('q'));
    await eventually(() => held.waiting === 2);
    await settle(10);
    assert.equal(inbox.items.length, 0, 'the second waits behind the first');
    held.release();
    await Promise.all([committed, sent]);
    await inbox.waitFor(2);
    assert.deepEqual(inbox.bodies(), ['first', 'second']);
  });
});
