/**
 * Interop with an AMQP client no one here wrote: Debian's python3-qpid-proton (Qpid Proton 0.37, the C
 * engine with its Python binding), driven by interop/proton_client.py. These tests fail (not skip) when the
 * package is missing:  apt-get install -y python3-qpid-proton
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { SecurityHooks } from '../../../src/core/security.js';
import { DEBIAN_PYTHON, need, testSource } from '../../helpers/external.js';
import { Client, rhea, startBroker, tlsFixture, until, type TestBroker } from './helpers.js';

const PYTHON = DEBIAN_PYTHON;

const SCRIPT = testSource('protocols', 'amqp', 'interop', 'proton_client.py');

function proton(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, ...args], { timeout: timeoutMs, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      let out: Record<string, unknown> | undefined;
      try {
        out = JSON.parse(stdout.trim().split('\n').pop() || 'null');
      } catch {
        out = undefined;
      }
      if (err && !out) reject(new Error(`proton_client ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(out ?? {});
    });
  });
}

/**
 * `proton` with Proton's own frame trace (PN_TRACE_FRM=1 on stderr): also the ids each disposition from the
 * broker covered, one entry per frame.
 */
function protonTraced(args: string[]): Promise<{ result: Record<string, unknown>; dispositions: Array<{ first: number; last: number; state: string }> }> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, ...args], { timeout: 20_000, env: { ...process.env, PN_TRACE_FRM: '1' }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`proton_client ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`));
      const dispositions = [];
      for (const line of stderr.split('\n')) {
        const m = /<- @disposition\(21\) \[role=true, first=(0x[0-9a-f]+)(?:, last=(0x[0-9a-f]+))?.*?state=@(\w+)/.exec(line);
        if (m) dispositions.push({ first: Number(m[1]), last: Number(m[2] ?? m[1]), state: m[3]! });
      }
      resolve({ result: JSON.parse(stdout.trim().split('\n').pop()!), dispositions });
    });
  });
}

interface PMsg {
  body: unknown;
  durable: boolean;
  priority: number;
  id: unknown;
  correlation_id: unknown;
  subject: string | null;
  reply_to: string | null;
  content_type: string | null;
  properties: Record<string, unknown>;
  annotations: Record<string, unknown>;
  delivery_count: number;
}

describe('AMQP interop: python3-qpid-proton', function () {
  this.timeout(60_000);
  let b: TestBroker;
  let url: string;
  before(async () => {
    need(PYTHON, 'python3-qpid-proton');
    const probe = await new Promise<string>((resolve) => execFile(PYTHON, ['-c', 'import proton; print(proton.VERSION)'], (err, out, errOut) => resolve(err ? `missing: ${errOut}` : out)));
    if (probe.startsWith('missing')) throw new Error(`python3-qpid-proton is not installed for ${PYTHON} (apt-get install -y python3-qpid-proton): ${probe}`);
    b = await startBroker();
    url = `amqp://127.0.0.1:${b.port}`;
  });
  after(async () => {
    await b?.close();
  });

  it('proton sends (typed properties, binary and text bodies) → rhea receives', async () => {
    const msgs = [
      { body: 'hello from proton', subject: 'greeting', correlation_id: 'py-c1', content_type: 'text/plain', priority: 7, properties: { n: 5, ub: { ubyte: 200 }, s: 'str', sym: { symbol: 'sy' } } },
      { binary: '00ff10', durable: false },
      { body: { k: 'v', n: [1, 2] } },
    ];
    const res = await proton(['send', url, 'py.in', JSON.stringify(msgs)]);
    assert.deepEqual(res.outcomes, ['accepted', 'accepted', 'accepted']);
    const c = await Client.connect(b);
    const r = await c.receiver('py.in');
    // the non-durable one needs no fsync and may overtake the durable ones sent before it
    const got = await r.take(3);
    const a = got.find((m) => m.message.body === 'hello from proton');
    const bin = got.find((m) => Buffer.isBuffer(m.message.body));
    const map = got.find((m) => m.message.body?.k === 'v');
    assert.equal(a!.message.body, 'hello from proton');
    assert.equal(a!.message.subject, 'greeting');
    assert.equal(a!.message.correlation_id, 'py-c1');
    assert.equal(a!.message.priority, 7);
    assert.equal(a!.message.durable, true);
    assert.deepEqual(a!.message.application_properties, { n: 5, ub: 200, s: 'str', sym: 'sy' });
    assert.deepEqual(bin!.message.body, Buffer.from([0x00, 0xff, 0x10]));
    assert.equal(bin!.message.durable, false);
    assert.deepEqual(map!.message.body, { k: 'v', n: [1, 2] });
    await c.close();
  });

  it('rhea sends → proton receives, with a selector', async () => {
    const c = await Client.connect(b);
    const s = await c.sender('py.out');
    await s.send({ body: 'skip me', application_properties: { color: 'blue' } });
    await s.send({ body: 'for proton', application_properties: { color: 'red', n: 3 }, correlation_id: 'r-1', reply_to: 'topic://py.replies', durable: true, priority: 2 });
    const res = await proton(['receive', url, 'py.out', '1', "color = 'red'"]);
    const [m] = res.messages as PMsg[];
    assert.equal(m!.body, 'for proton');
    assert.deepEqual(m!.properties, { color: 'red', n: 3 });
    assert.equal(m!.correlation_id, 'r-1');
    assert.equal(m!.reply_to, 'topic://py.replies');
    assert.equal(m!.priority, 2);
    assert.equal(m!.durable, true);
    assert.equal(b.broker.engine.getQueue('py.out')!.depth, 1, 'the non-matching one is still there');
    await c.close();
  });

  it('STOMP-less foreign messages reach proton with Qpid JMS annotations', async () => {
    const { createMessage } = await import('../../../src/core/message.js');
    await b.broker.engine.send(createMessage({ bodyType: 'text', body: Buffer.from('core text'), properties: { k: 1 } }), { kind: 'queue', name: 'py.core' });
    const res = await proton(['receive', url, 'py.core', '1']);
    const [m] = res.messages as PMsg[];
    assert.equal(m!.body, 'core text');
    assert.equal(m!.annotations['x-opt-jms-msg-type'], 5);
  });

  it('over TLS with SASL PLAIN', async () => {
    const engine = b.broker.engine;
    const saved = engine.security;
    const seen: string[] = [];
    const hooks: SecurityHooks = {
      async authenticate(c) {
        if (c.username) seen.push(c.username);
        return c.username === 'py' && c.password === 'secret' ? { username: 'py', anonymous: false, groups: [] } : null;
      },
      authorize: () => true,
    };
    engine.security = hooks;
    try {
      const res = await proton(['send', `amqps://py:secret@localhost:${b.tlsPort}`, 'py.tls', JSON.stringify([{ body: 'secure' }])], { PROTON_CA: tlsFixture('ca.crt') });
      assert.deepEqual(res.outcomes, ['accepted']);
      assert.deepEqual(seen.slice(0, 1), ['py']);
      const bad = await proton(['send', `amqps://py:wrong@localhost:${b.tlsPort}`, 'py.tls', JSON.stringify([{ body: 'x' }])], { PROTON_CA: tlsFixture('ca.crt') });
      assert.ok(bad.error, 'wrong password refused');
    } finally {
      engine.security = saved;
    }
    assert.equal(b.broker.engine.getQueue('py.tls')!.depth, 1);
  });

  it('proton transactions: commit publishes, abort discards', async () => {
    const committed = await proton(['txn', url, 'py.txn', 'commit', '3']);
    assert.equal(committed.discharged, 'committed');
    assert.equal(b.broker.engine.getQueue('py.txn')!.depth, 3);
    const aborted = await proton(['txn', url, 'py.txn.abort', 'rollback', '2']);
    assert.equal(aborted.discharged, 'aborted');
    assert.equal(b.broker.engine.getQueue('py.txn.abort')?.depth ?? 0, 0);
  });

  it('proton durable subscription: receives what was published while it was detached, then removed on close', async () => {
    const first = await proton(['durable', url, 'topic://py.news', 'py-client', 'py-sub', '0', 'detach']);
    assert.deepEqual(first.messages, []);
    assert.ok(b.broker.engine.getSubscription('durable:py-client:py-sub'), 'subscription kept after detach');
    const c = await Client.connect(b);
    const s = await c.sender('topic://py.news');
    for (let i = 0; i < 2; i++) await s.send({ body: `news ${i}`, durable: true });
    await c.close();
    const again = await proton(['durable', url, 'topic://py.news', 'py-client', 'py-sub', '2', 'close']);
    assert.deepEqual((again.messages as PMsg[]).map((m) => m.body), ['news 0', 'news 1']);
    await until(() => !b.broker.engine.getSubscription('durable:py-client:py-sub'), 3000, 'removed on close');
  });

  it("proton's helloworld_blocking: a receiver and a sender of one address on one connection share their link name", async () => {
    const res = await proton(['hello', url, 'py.hello']);
    assert.equal(res.sender, res.receiver, 'proton names both links <container>-<address>');
    assert.equal(res.body, 'Hello World!');
  });

  it('an aborted multi-frame transfer is discarded: no message, no disposition for it, the next one accepted', async () => {
    const { result, dispositions } = await protonTraced(['abort', url, 'py.abort']);
    // rhea used to hand the partial bytes on as a message: rejected (decode-error), and that twice
    assert.deepEqual(result.outcomes, [['1', 'accepted']]);
    assert.deepEqual(dispositions, [{ first: 1, last: 1, state: 'accepted' }], 'implicitly settled: the aborted delivery 0 gets no disposition');
    assert.equal(b.broker.engine.getQueue('py.abort')!.depth, 1);
    const res = await proton(['receive', url, 'py.abort', '1']);
    assert.equal((res.messages as PMsg[])[0]!.body, 'whole');
  });

  it('one disposition per delivery for every outcome: rejected ones are not sent twice', async () => {
    const msgs = [{ body: 'no to 1' }, { body: 'routed', to: 'py.relay' }, { body: 'no to 2' }, { body: 'no to 3' }];
    const { result, dispositions } = await protonTraced(['relay', url, JSON.stringify(msgs)]);
    assert.deepEqual([...(result.outcomes as string[])].sort(), ['accepted', 'rejected', 'rejected', 'rejected']);
    const perId = new Map<number, string[]>();
    for (const d of dispositions) for (let id = d.first; id <= d.last; id++) perId.set(id, [...(perId.get(id) ?? []), d.state]);
    assert.deepEqual([...perId.entries()].sort((x, y) => x[0] - y[0]), [[0, ['rejected']], [1, ['accepted']], [2, ['rejected']], [3, ['rejected']]]);
  });

  it('a drain sent with the attach (Proton pipelines both) is answered: what is there, then the credit used up', async () => {
    const empty = await proton(['drain', url, 'py.drain.empty', '5']);
    assert.deepEqual(empty, { messages: [], credit: 0 });
    const sent = await proton(['send', url, 'py.drain', JSON.stringify([{ body: 'd1' }, { body: 'd2' }])]);
    assert.deepEqual(sent.outcomes, ['accepted', 'accepted']);
    const some = await proton(['drain', url, 'py.drain', '5']);
    assert.deepEqual(some, { messages: ['d1', 'd2'], credit: 0 });
    await until(() => b.broker.engine.getQueue('py.drain')!.depth === 0, 3000, 'accepted');
  });

  it('a receiver on a temporary queue that does not exist (any more) is detached with amqp:not-found', async () => {
    const res = await proton(['receive', url, 'temp-queue://temp.never-made', '1']);
    // it was amqp:unauthorized-access, "belongs to another connection", though no connection had it
    assert.match(String(res.error), /amqp:not-found/);
    assert.match(String(res.error), /does not exist/);
  });

  it('released: the next link gets it with delivery-count 0 (not redelivered for JMS) and first-acquirer false', async () => {
    const sent = await proton(['send', url, 'py.release', JSON.stringify([{ body: 'once' }])]);
    assert.deepEqual(sent.outcomes, ['accepted']);
    const res = await proton(['release', url, 'py.release']);
    assert.deepEqual(res.messages, [
      { link: 'first', body: 'once', delivery_count: 0, first_acquirer: true },
      // first-acquirer stayed true: "not acquired by any other link" though the first link had it
      { link: 'second', body: 'once', delivery_count: 0, first_acquirer: false },
    ]);
  });

  it('modified (§3.4.5): its message-annotations are merged into the message for the next delivery, delivery-failed counts, undeliverable-here goes to another link', async () => {
    const res = await proton(['modify', url, 'py.modify']);
    assert.deepEqual(res.messages, [
      { link: 'first', body: 'annotated', delivery_count: 0, first_acquirer: true, annotations: { 'x-opt-origin': 'py', 'x-opt-n': 1 } },
      // delivery-failed: counted; x-opt-n replaced, x-opt-why added, the rest kept
      { link: 'first', body: 'annotated', delivery_count: 1, first_acquirer: false, annotations: { 'x-opt-origin': 'py', 'x-opt-n': 2, 'x-opt-why': 'retry' } },
      // undeliverable-here without delivery-failed: not counted again, and not back to "first" though it had credit
      { link: 'second', body: 'annotated', delivery_count: 1, first_acquirer: false, annotations: { 'x-opt-origin': 'py', 'x-opt-n': 2, 'x-opt-why': 'retry', 'x-opt-hop': 'first' } },
    ]);
  });

  it('proton request/reply through a dynamic reply queue, answered by rhea', async () => {
    const c = await Client.connect(b);
    const service = await c.receiver('py.service');
    const replier = await c.sender({ target: {} });
    service.link.on('message', (ctx: { message: { reply_to: string; correlation_id: string; body: string } }) => {
      void replier.send({ to: ctx.message.reply_to, correlation_id: ctx.message.correlation_id, body: `echo: ${ctx.message.body}` });
    });
    const res = await proton(['request', url, 'py.service', 'ping']);
    assert.match(res.reply_to as string, /^temp-queue:\/\//);
    const reply = res.reply as PMsg;
    assert.equal(reply.body, 'echo: ping');
    assert.equal(reply.correlation_id, 'py-1');
    void rhea;
    await c.close();
  });
});
