/** More JMS scenarios on ActiveMQ's client: crash durability of a real `wharf start`, expiry, groups, exclusive consumers, large messages. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startWharf } from '../../helpers/wharf-process.js';
import { javaHarness } from './java-harness.js';
import { jms, jmsReady, startOpenWireBroker, type OpenWireBroker } from './adapter-helpers.js';

const MiB = 1024 * 1024;

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

describe('openwire adapter: more JMS scenarios', function () {
  this.timeout(180_000);
  let b: OpenWireBroker | undefined;

  before(() => {
    javaHarness();
  });
  afterEach(async () => {
    await b?.close();
    b = undefined;
  });

  it('a persistent message survives SIGKILL of `wharf start`; a non-persistent one does not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-openwire-kill-'));
    let w = await startWharf(dir);
    try {
      assert.ok(w.ports['openwire'], 'the openwire listener is on by default');
      // send-persistent: one PERSISTENT and one NON_PERSISTENT message; the sync send returns once it is durable
      await jms(w.ports['openwire']!, 'send-persistent', 'x.sigkill');
      await kill(w.child, 'SIGKILL');
      w = await startWharf(dir);
      // recv-persistent: exactly the persistent one comes back
      await jms(w.ports['openwire']!, 'recv-persistent', 'x.sigkill');
    } finally {
      await kill(w.child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('XA: prepared through the XAResource, kill -9, recover() lists the Xid and commit delivers exactly the prepared send and ack; rollback, read-only and one-phase', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-openwire-xa-'));
    let w = await startWharf(dir);
    let prepare: ChildProcess | undefined;
    try {
      // xa-prepare prints PREPARED once prepare() returned (durable) and then waits: the broker dies under it
      const run = await jmsReady(w.ports['openwire']!, 'xa-prepare', 'x.xa', 60_000, 'PREPARED');
      prepare = run.child;
      await kill(w.child, 'SIGKILL');
      await kill(run.child, 'SIGKILL');
      w = await startWharf(dir);
      await jms(w.ports['openwire']!, 'xa-recover', 'x.xa');
    } finally {
      if (prepare) await kill(prepare, 'SIGKILL');
      await kill(w.child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('XA errors carry the XAException error code ActiveMQ decides on (XAER_NOTA, XAER_PROTO); TMJOIN joins an ended branch', async () => {
    b = await startOpenWireBroker();
    await jms(b.port, 'xa-errors');
  });

  it('failover:(tcp://…) reconnects after a broker restart and the producer and consumer go on', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    b = await startOpenWireBroker({ config: { listeners: { openwire: { host: '127.0.0.1', port } } } });
    const run = await jmsReady(port, 'failover', 'x.failover');
    await b.restart();
    assert.equal(b.port, port, 'the broker is back on the same port');
    await run.done;
  });

  it('failover: a MessageListener busy in onMessage across the restart gets its prefetch back through ConsumerControl and receives on', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    b = await startOpenWireBroker({ config: { listeners: { openwire: { host: '127.0.0.1', port } } } });
    const run = await jmsReady(port, 'failover-listener', 'x.failover.listener', 120_000);
    await b.restart();
    assert.equal(b.port, port, 'the broker is back on the same port');
    await run.done;
  });

  it('expiration: a message past its JMSExpiration is not delivered, a persistent one goes to DLQ.<queue>, a non-persistent one is dropped', async () => {
    b = await startOpenWireBroker();
    const { values } = await jms(b.port, 'expire');
    // expiry 'dlq' dead-letters durable messages only; the expired non-persistent one is dropped (as ActiveMQ does)
    assert.equal(values['DLQ'], '[short]');
  });

  it('PERSISTENT and NON_PERSISTENT messages mixed reach a later consumer in priority order, FIFO within a priority', async () => {
    b = await startOpenWireBroker();
    // the persistent ones wait for their redelivery mark; the non-persistent ones once overtook them (N,N,P,P)
    await jms(b.port, 'mixed-order');
  });

  it('message groups: a JMSXGroupID sticks to one consumer, in order, and moves when that consumer closes', async () => {
    b = await startOpenWireBroker();
    const { values } = await jms(b.port, 'groups');
    // new groups are spread round-robin: both consumers own some
    assert.match(values['OWNERS']!, /\[a\]/);
    assert.match(values['OWNERS']!, /\[b\]/);
  });

  it('exclusive consumers from the destination option ?consumer.exclusive=true (prefetchSize and priority options accepted)', async () => {
    b = await startOpenWireBroker();
    await jms(b.port, 'exclusive-option');
  });

  it('async sends with a producer window: ProducerAcks let 10,000 through; a full `block` queue parks the producer in its window', async () => {
    b = await startOpenWireBroker({ config: { destinations: [{ match: 'pw.limited.>', maxMessages: 20, limitPolicy: 'block', blockTimeout: 60_000 }] } });
    const { values } = await jms(b.port, 'producer-window', '', 120_000);
    // the producer stopped on its window, not on a broker error: it had sent more than the queue holds
    assert.ok(Number(values['BLOCKED_AFTER']) >= 20, `blocked after ${values['BLOCKED_AFTER']} sends`);
  });

  it('consumer and producer advisories on request: ConsumerInfo/ProducerInfo, RemoveInfo, consumerCount/producerCount, replay to a late subscriber', async () => {
    b = await startOpenWireBroker();
    await jms(b.port, 'advisories');
  });

  it('a 1 MiB persistent BytesMessage', async () => {
    b = await startOpenWireBroker();
    await jms(b.port, 'large', String(MiB));
  });

  it('a 64 MiB persistent BytesMessage with limits.maxFrameSize 100 MiB', async () => {
    b = await startOpenWireBroker({ config: { limits: { maxFrameSize: 100 * MiB } } });
    const { values } = await jms(b.port, 'large', String(64 * MiB), 150_000);
    console.log(`      64 MiB: send ${values['SEND_MS']} ms, receive ${values['RECV_MS']} ms`);
  });
});
