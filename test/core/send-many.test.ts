/**
 * engine.sendMany, the adapters' batch entry point (one socket read's sends): one commit for the batch, each
 * item refused on its own, order kept when an item waits for room, and nothing answered before it is durable.
 */
import assert from 'node:assert/strict';
import { BrokerError, createMessage, queue, SendBatch, topic, type Message } from '../../src/core/api.js';
import type { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { Inbox, settle, startEngine, type TestEngine } from '../helpers/engine.js';

const msg = (body: string): Message => createMessage({ body: Buffer.from(body), durable: true });
const bodies = (ms: Array<{ message: Message }>) => ms.map((x) => x.message.body.toString());

describe('engine.sendMany', function () {
  this.timeout(20_000);
  let t: TestEngine;
  afterEach(() => t?.close());

  const storeOf = () => t.engine.store as LmdbStore;

  it('sends a batch to existing queues in one store batch, durable when it resolves', async () => {
    t = await startEngine();
    const e = t.engine;
    await e.createQueue('a');
    await e.createQueue('b');
    const before = storeOf().stats.batches;
    const results = await e.sendMany([
      { message: msg('a1'), address: queue('a') },
      { message: msg('b1'), address: queue('b') },
      { message: msg('a2'), address: queue('a') },
    ]);
    assert.deepEqual(results, [undefined, undefined, undefined]);
    assert.equal(storeOf().stats.batches - before, 1, 'one commit for the three sends');
    const e2 = await t.restart();
    const a = new Inbox();
    const b = new Inbox();
    await e2.subscribe({ address: queue('a'), prefetch: 10, onMessage: a.push });
    await e2.subscribe({ address: queue('b'), prefetch: 10, onMessage: b.push });
    await a.waitFor(2);
    await b.waitFor(1);
    assert.deepEqual(a.bodies(), ['a1', 'a2']);
    assert.deepEqual(b.bodies(), ['b1']);
  });

  it('refuses only the items that are refused (rights, a wildcard topic, a full reject queue); the others are sent', async () => {
    t = await startEngine({
      policies: [{ match: 'small', maxMessages: 1, limitPolicy: 'reject' }],
      security: {
        async authenticate() {
          return { username: 'alice', anonymous: false, groups: [] };
        },
        authorize(_p, action, dest) {
          return !(action === 'send' && dest?.name === 'secret');
        },
      },
    });
    const e = t.engine;
    const conn = await e.connect({ protocol: 'test' }, { username: 'alice', password: 'pw' });
    await e.createQueue('ok');
    await e.send(msg('full'), queue('small'));
    const results = await e.sendMany(
      [
        { message: msg('1'), address: queue('ok') },
        { message: msg('denied'), address: queue('secret') },
        { message: msg('2'), address: queue('ok') },
        { message: msg('wild'), address: topic('a.*') },
        { message: msg('over'), address: queue('small') },
        { message: msg('3'), address: queue('new.one') },
      ],
      { connection: conn },
    );
    const codes = results.map((r) => (r instanceof BrokerError ? r.code : r));
    assert.deepEqual(codes, [undefined, 'unauthorized', undefined, 'invalid', 'limit', undefined]);
    assert.equal(e.getQueue('secret'), undefined);
    await t.restart();
    const ok = new Inbox();
    await t.engine.subscribe({ address: queue('ok'), prefetch: 10, onMessage: ok.push });
    await ok.waitFor(2);
    assert.deepEqual(ok.bodies(), ['1', '2']);
    assert.equal(t.engine.queueInfo('new.one')?.depth, 1, 'a send that creates its queue (asynchronous plan) is sent too');
    assert.equal(t.engine.queueInfo('small')?.depth, 1);
  });

  it('commits the sends before one that waits for room, and keeps a producer’s order across batches', async () => {
    t = await startEngine({ policies: [{ match: 'blk', maxMessages: 2, limitPolicy: 'block', blockTimeout: 10_000 }] });
    const e = t.engine;
    await e.createQueue('blk');
    const first = e.sendMany(['1', '2', '3', '4'].map((b) => ({ message: msg(b), address: queue('blk') })));
    const second = e.sendMany(['5', '6'].map((b) => ({ message: msg(b), address: queue('blk') })));
    // '1' and '2' must reach the queue (and a consumer) while '3' waits: their acks are what make the room
    const inbox = new Inbox();
    const c = await e.subscribe({ address: queue('blk'), prefetch: 1, onMessage: inbox.push });
    for (let n = 1; n <= 6; n++) {
      const got = await inbox.waitFor(n);
      await c.ack(got[n - 1]!.id);
    }
    assert.deepEqual(await first, [undefined, undefined, undefined, undefined]);
    assert.deepEqual(await second, [undefined, undefined]);
    assert.deepEqual(inbox.bodies(), ['1', '2', '3', '4', '5', '6']);
  });

  it('answers through SendBatch only after the commit, each with its own outcome', async () => {
    t = await startEngine({ policies: [{ match: 'tiny', maxMessages: 1, limitPolicy: 'reject' }] });
    const e = t.engine;
    await e.createQueue('q');
    await e.createQueue('tiny');
    const batch = new SendBatch(e);
    const outcomes: Array<string | undefined> = [];
    const depthAtAnswer: number[] = [];
    for (const [body, name] of [['x', 'q'], ['y', 'tiny'], ['z', 'tiny']] as const) {
      batch.add(msg(body), queue(name), (err) => {
        outcomes.push(err instanceof BrokerError ? err.code : err === undefined ? 'ok' : String(err));
        depthAtAnswer.push(e.queueInfo('q')?.depth ?? -1);
      });
    }
    assert.equal(batch.size, 3);
    const before = storeOf().stats.batches;
    batch.flush(null);
    assert.equal(batch.size, 0);
    assert.deepEqual(outcomes, [], 'nothing answered before the commit');
    while (outcomes.length < 3) await settle();
    assert.deepEqual(outcomes, ['ok', 'ok', 'limit']);
    assert.equal(storeOf().stats.batches - before, 1);
    assert.deepEqual(depthAtAnswer, [1, 1, 1]);
    await t.restart();
    assert.equal(t.engine.queueInfo('q')?.depth, 1);
    assert.equal(t.engine.queueInfo('tiny')?.depth, 1);
    const tiny = new Inbox();
    await t.engine.subscribe({ address: queue('tiny'), prefetch: 10, onMessage: tiny.push });
    assert.deepEqual(bodies(await tiny.waitFor(1)), ['y']);
  });
});
