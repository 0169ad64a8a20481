/**
 * A persistent message is delivered only after its "may have been delivered" mark is durable. When that mark's
 * commit fails (a full or failing disk), the delivery waits — and once the store takes writes again it goes out;
 * it must not wait forever. The fault is LmdbStore's own apply-fault hook on the real store.
 */
import assert from 'node:assert/strict';
import { createMessage } from '../../src/core/message.js';
import { queue } from '../../src/core/address.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { Inbox, settle, startEngine, type TestEngine } from '../helpers/engine.js';

describe('core: a failed delivery-mark commit is asked for again', function () {
  this.timeout(20000);
  let t: TestEngine | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('the delivery waiting for a failed mark goes out once the store takes writes again, flagged on a restart after it', async () => {
    t = await startEngine();
    const { engine } = t;
    const store = engine.store as LmdbStore;
    await engine.createQueue('q');
    // stored before anyone listens, so its mark is not carried in its own enqueue commit
    await engine.send(createMessage({ body: Buffer.from('m1'), durable: true }), queue('q'));
    let failedMarks = 0;
    store.injectApplyFault = (op) => op.t === 'mark' && ++failedMarks >= 1;
    const inbox = new Inbox();
    await engine.subscribe({ address: queue('q'), prefetch: 10, onMessage: inbox.push });
    while (failedMarks === 0) await settle();
    await settle(10);
    assert.equal(inbox.items.length, 0, 'not delivered while its mark is not durable');
    store.injectApplyFault = undefined;
    const [d] = await inbox.waitFor(1, 10000);
    assert.equal(d.message.body.toString(), 'm1');
    assert.equal(d.redelivered, false);
    // the mark that let it out is durable: a restart before the ack redelivers it flagged
    const restarted = await t.restart();
    const again = new Inbox();
    await restarted.subscribe({ address: queue('q'), prefetch: 10, onMessage: again.push });
    const [r] = await again.waitFor(1);
    assert.equal(r.redelivered, true);
  });
});
