/**
 * AMQP 1.0 with the rhea client: connecting (TCP, TLS, WebSocket; SASL ANONYMOUS/PLAIN/EXTERNAL),
 * addresses, settlement modes, anonymous relay, dynamic nodes (request/reply), a durable message across a
 * restart.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { allowAll, type SecurityHooks } from '../../../src/core/security.js';
import { scanMessage } from '../../../protocols/amqp/codec.js';
import { createMessage, queue } from '../../../src/core/api.js';
import { rheaTerminus } from '../../../protocols/amqp/rhea.js';
import { amqpFrame, Client, closeAll, frames, RawAmqp, rhea, startBroker, tlsFixture, until, type TestBroker } from './helpers.js';

describe('AMQP: connections', function () {
  this.timeout(15_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(async () => {
    await b?.close();
  });

  for (const transport of ['tcp', 'tls', 'ws'] as const) {
    it(`sends and receives over ${transport}`, async () => {
      const c = await Client.connect(b, { transport });
      const s = await c.sender(`conn.${transport}`);
      const o = await s.send({ body: `over ${transport}`, durable: true });
      assert.equal(o.state, 'accepted');
      const r = await c.receiver(`conn.${transport}`);
      const m = await r.next();
      assert.equal(m.message.body, `over ${transport}`);
      assert.equal(m.message.durable, true);
      m.delivery.accept();
      await until(() => b.broker.engine.getQueue(`conn.${transport}`)!.depth === 0, 3000, 'acked');
      await c.close();
    });
  }

  it('open: container-id, max-frame-size, channel-max, idle-time-out, capabilities', async () => {
    const c = await Client.connect(b, { containerId: 'my-container', extra: { idle_time_out: 5000, max_frame_size: 4096 } });
    const open = c.conn.remote.open;
    assert.ok(open.container_id.startsWith('wharf-'));
    assert.equal(open.max_frame_size, 1024 * 1024);
    assert.equal(open.channel_max, 255);
    assert.equal(open.idle_time_out, 60_000);
    const caps = [].concat(open.offered_capabilities);
    for (const cap of ['ANONYMOUS-RELAY', 'SHARED-SUBS', 'DELAYED_DELIVERY']) assert.ok(caps.includes(cap as never), cap);
    assert.equal(open.properties.product, 'Wharf');
    // the broker honours our max-frame-size: a 20 KiB message arrives in frames of at most 4 KiB
    const s = await c.sender('conn.frames');
    await s.send({ body: 'x'.repeat(20_000) });
    const r = await c.receiver('conn.frames');
    const m = await r.next();
    assert.equal(m.message.body.length, 20_000);
    const info = b.broker.engine.listConnections().find((x) => x.protocol === 'amqp');
    assert.ok(info);
    await c.close();
  });

  it('SASL PLAIN and ANONYMOUS go through the security hooks; a refused login gets a SASL failure', async () => {
    const engine = b.broker.engine;
    const saved = engine.security;
    const seen: string[] = [];
    const hooks: SecurityHooks = {
      async authenticate(c) {
        seen.push(`${c.protocol}:${c.username ?? '-'}`);
        if (c.username === 'alice' && c.password === 'secret') return { username: 'alice', anonymous: false, groups: [] };
        if (!c.username) return { username: 'anonymous', anonymous: true, groups: [] };
        return null;
      },
      authorize: () => true,
    };
    engine.security = hooks;
    try {
      const ok = await Client.connect(b, { username: 'alice', password: 'secret' });
      const conn = engine.listConnections().find((x) => x.principal.username === 'alice');
      assert.ok(conn, 'alice connected');
      await ok.close();
      const anon = await Client.connect(b, {});
      await anon.close();
      await assert.rejects(Client.connect(b, { username: 'alice', password: 'wrong' }), /refused|disconnected|unauthorized|auth/i);
      assert.ok(seen.includes('amqp:alice'));
    } finally {
      engine.security = saved;
    }
  });

  it('SASL EXTERNAL with a verified TLS client certificate', async () => {
    const engine = b.broker.engine;
    const saved = engine.security;
    let subject: string | undefined;
    engine.security = {
      async authenticate(c) {
        if (c.certificate) subject = c.certificate.subject;
        return { username: c.certificate?.commonName ?? 'anonymous', anonymous: !c.certificate, groups: [] };
      },
      authorize: () => true,
    };
    try {
      const container = rhea.create_container({ id: 'ext-client' });
      const conn = container.connect({
        host: '127.0.0.1',
        port: b.tlsPort,
        transport: 'tls',
        servername: 'localhost',
        ca: readFileSync(tlsFixture('ca.crt')),
        cert: readFileSync(tlsFixture('client.crt')),
        key: readFileSync(tlsFixture('client.key')),
        enable_sasl_external: true,
        reconnect: false,
      });
      await new Promise((resolve, reject) => {
        conn.once('connection_open', resolve);
        conn.once('disconnected', (ctx: { error?: Error }) => reject(ctx.error ?? new Error('disconnected')));
      });
      assert.ok(subject && /CN=/.test(subject), `subject ${subject}`);
      conn.close();
    } finally {
      engine.security = saved;
    }
  });

  it('sole-connection-for-container: a second connection with the same container-id is refused', async () => {
    const opts = { containerId: 'sole-1', extra: { desired_capabilities: ['sole-connection-for-container'] } };
    const a = await Client.connect(b, opts);
    const second = await Client.connect(b, opts).catch((e: Error) => e);
    // the broker answers open, then closes with amqp:invalid-field {invalid-field: container-id}
    if (second instanceof Client) {
      await until(() => second.errors.length > 0 || second.closed, 3000, 'second connection closed');
      assert.equal(second.errors[0]?.condition, 'amqp:invalid-field');
      assert.equal(second.conn.remote.open.properties['amqp:connection-establishment-failed'], true);
    } else assert.match(String(second), /invalid-field/);
    // without the capability, rhea clients sharing a container id are fine
    const x = await Client.connect(b, { containerId: 'shared-id' });
    const y = await Client.connect(b, { containerId: 'shared-id' });
    await closeAll(a, x, y);
  });

  it('WebSocket: a message spanning many frames and WebSocket messages', async () => {
    const c = await Client.connect(b, { transport: 'ws', extra: { max_frame_size: 2048 } });
    const s = await c.sender('ws.big');
    const body = 'w'.repeat(300_000);
    assert.equal((await s.send({ body, durable: true })).state, 'accepted');
    const r = await c.receiver('ws.big');
    assert.equal((await r.next()).message.body, body);
    await c.close();
  });

  it('an administrative kill closes the connection with amqp:connection:forced', async () => {
    const c = await Client.connect(b, { containerId: 'to-be-killed' });
    await c.receiver('kill.q');
    const conn = b.broker.engine.listConnections().find((x) => x.protocol === 'amqp' && x.consumers.size > 0 && x.remoteAddress)!;
    assert.ok(b.broker.engine.killConnection(conn.id, 'maintenance'));
    await until(() => c.errors.length > 0, 3000, 'connection error');
    assert.equal(c.errors[0].condition, 'amqp:connection:forced');
    assert.match(c.errors[0].description, /maintenance/);
  });

  it('a consumer whose queue is deleted is detached with amqp:resource-deleted', async () => {
    const c = await Client.connect(b);
    const r = await c.receiver('gone.q');
    const closed = new Promise<{ condition?: string }>((resolve) => r.link.once('receiver_error', () => resolve(r.link.remote.detach?.error ?? {})));
    await b.broker.engine.deleteQueue('gone.q');
    assert.equal((await closed).condition, 'amqp:resource-deleted');
    await c.close();
  });

  it('pipelined begin, attach and flow with a message already waiting: our attach goes out before the first transfer', async () => {
    // python-qpid-proton writes them back to back; a transfer ahead of our attach made it close with "no such handle: 0"
    for (const durable of [false, true]) {
      const q = `pipelined.${durable ? 'persistent' : 'transient'}`;
      await b.broker.engine.send(createMessage({ body: Buffer.from('waiting'), durable }), queue(q));
      const r = await RawAmqp.open(b.port);
      r.write(
        Buffer.concat([
          amqpFrame(0, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })),
          amqpFrame(0, frames.attach({ name: `pipe-${q}`, handle: 0, role: true, source: rheaTerminus.source({ address: q }).described() as never, target: rheaTerminus.target({}).described() as never })),
          amqpFrame(0, frames.flow({ handle: 0, delivery_count: 0, link_credit: 10, next_incoming_id: 0, incoming_window: 100, next_outgoing_id: 0, outgoing_window: 100 })),
        ]),
      );
      await r.waitFor((f) => String(f.performative?.constructor).startsWith('transfer'), 'transfer').catch((e) => { throw new Error(`${e.message}: ${r.frames.map((f) => String(f.performative?.constructor).slice(0, 30) + JSON.stringify(f.performative?.error ?? '')).join(' | ')}`); });
      const names = r.frames.map((f) => String(f.performative?.constructor).replace(/[^a-z_].*$/s, ''));
      assert.ok(names.indexOf('attach') >= 0 && names.indexOf('attach') < names.indexOf('transfer'), `${durable ? 'persistent' : 'transient'}: ${names.join(',')}`);
      r.destroy();
    }
  });

  it('closes a connection that never opens', async () => {
    const t = await startBroker({ amqp: { connectTimeout: 200 } });
    try {
      const net = await import('node:net');
      const s = net.connect({ port: t.port, host: '127.0.0.1' });
      const closed = new Promise((r) => s.on('close', r));
      s.on('error', () => undefined);
      s.resume();
      s.write(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'));
      await closed;
    } finally {
      await t.close();
    }
  });
});

describe('AMQP: addresses and routing', function () {
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

  it('queue:// and topic:// prefixes, capabilities, and a plain address as a queue', async () => {
    const sub = await c.receiver({ source: { address: 'topic://addr.t1' } });
    const sub2 = await c.receiver({ source: { address: 'addr.t1', capabilities: ['topic'] } });
    const s = await c.sender('topic://addr.t1');
    await s.send({ body: 'to topic' });
    assert.equal((await sub.next()).message.body, 'to topic');
    assert.equal((await sub2.next()).message.body, 'to topic');
    const s2 = await c.sender('addr.q1');
    await s2.send({ body: 'to queue' });
    assert.ok(b.broker.engine.getQueue('addr.q1'), 'a plain address is a queue');
    const s3 = await c.sender({ target: { address: 'addr.q2', capabilities: ['queue'] } });
    await s3.send({ body: 'q2' });
    const r = await c.receiver('queue://addr.q2');
    assert.equal((await r.next()).message.body, 'q2');
  });

  it('amqp.defaultAddressKind: topic makes a plain address a topic', async () => {
    const t = await startBroker({ config: { amqp: { defaultAddressKind: 'topic' } } });
    const x = await Client.connect(t);
    try {
      const sub = await x.receiver('dk.news');
      const s = await x.sender('dk.news');
      await s.send({ body: 'news' });
      assert.equal((await sub.next()).message.body, 'news');
      assert.equal(t.broker.engine.getQueue('dk.news'), undefined);
    } finally {
      await x.close();
      await t.close();
    }
  });

  it('anonymous relay: a null target routes every message by its `to`', async () => {
    const r1 = await c.receiver('relay.a');
    const r2 = await c.receiver('topic://relay.t');
    const s = await c.sender({ target: {} });
    assert.equal((await s.send({ to: 'relay.a', body: 'one' })).state, 'accepted');
    assert.equal((await s.send({ to: 'topic://relay.t', body: 'two' })).state, 'accepted');
    // Qpid JMS style: a plain `to` with x-opt-jms-dest 1 (topic)
    assert.equal((await s.send({ to: 'relay.t', body: 'three', message_annotations: { 'x-opt-jms-dest': rhea.types.wrap_byte(1) } })).state, 'accepted');
    const none = await s.send({ body: 'nowhere' });
    assert.equal(none.state, 'rejected');
    assert.equal(none.error?.condition, 'amqp:not-found');
    assert.equal((await r1.next()).message.body, 'one');
    assert.equal((await r2.next()).message.body, 'two');
    assert.equal((await r2.next()).message.body, 'three');
  });

  it('transfers read together go to the engine together, each with its own outcome: a refused one rejected, the others accepted', async () => {
    const e = b.broker.engine;
    e.security = { ...allowAll, authorize: (_p, action, a) => !(action === 'send' && a?.name === 'batch.secret') };
    try {
      const s = await c.sender({ target: {} });
      // sent in one turn: rhea writes them together and the broker reads them in one go
      const outcomes = await Promise.all([
        s.send({ to: 'batch.q', body: 'one', durable: true }),
        s.send({ to: 'batch.secret', body: 'secret', durable: true }),
        s.send({ to: 'topic://batch.*', body: 'wildcard', durable: true }),
        s.send({ to: 'batch.q', body: 'two', durable: true }),
      ]);
      assert.deepEqual(
        outcomes.map((o) => [o.state, o.error?.condition]),
        [['accepted', undefined], ['rejected', 'amqp:unauthorized-access'], ['rejected', 'amqp:invalid-field'], ['accepted', undefined]],
      );
      assert.equal(e.getQueue('batch.secret'), undefined);
      const r = await c.receiver('batch.q');
      assert.equal((await r.next()).message.body, 'one');
      assert.equal((await r.next()).message.body, 'two');
    } finally {
      e.security = allowAll;
    }
  });

  it('request/reply through a dynamic receiver (temporary queue owned by the connection)', async () => {
    const server = await c.receiver('rpc.requests');
    const client = await Client.connect(b);
    const replies = await client.receiver({ source: { dynamic: true } });
    const replyTo = replies.link.remote.attach.source.address as string;
    assert.match(replyTo, /^temp-queue:\/\//);
    const s = await client.sender('rpc.requests');
    await s.send({ body: 'ping', reply_to: replyTo, correlation_id: 'c-1' });
    const req = await server.next();
    assert.equal(req.message.reply_to, replyTo);
    const anon = await c.sender({ target: {} });
    await anon.send({ to: req.message.reply_to, correlation_id: req.message.correlation_id, body: 'pong' });
    const rep = await replies.next();
    assert.equal(rep.message.body, 'pong');
    assert.equal(rep.message.correlation_id, 'c-1');
    const tempName = replyTo.slice('temp-queue://'.length);
    assert.ok(b.broker.engine.getQueue(tempName));
    await client.close();
    await until(() => !b.broker.engine.getQueue(tempName), 3000, 'temporary queue deleted with its connection');
    // sending to it now fails
    const o = await anon.send({ to: replyTo, body: 'late' });
    assert.equal(o.state, 'rejected');
    assert.equal(o.error?.condition, 'amqp:not-found');
  });

  it('dynamic target: a sender creates a temporary queue (Qpid JMS createTemporaryQueue)', async () => {
    const s = await c.sender({ target: { dynamic: true, capabilities: ['temporary-queue'], expiry_policy: 'link-detach' } });
    const address = s.link.remote.attach.target.address as string;
    assert.match(address, /^temp-queue:\/\//);
    const r = await c.receiver({ source: { address, capabilities: ['temporary-queue'] } });
    await s.send({ body: 'into temp' });
    assert.equal((await r.next()).message.body, 'into temp');
    const name = address.slice('temp-queue://'.length);
    await s.close();
    await until(() => !b.broker.engine.getQueue(name), 3000, 'deleted on link detach (expiry-policy link-detach)');
  });

  it('at-most-once: a pre-settled receiver gets settled transfers and the queue forgets them', async () => {
    const s = await c.sender('amo.q');
    for (let i = 0; i < 3; i++) await s.send({ body: `m${i}` });
    const r = await c.receiver({ source: { address: 'amo.q' }, snd_settle_mode: 1 });
    const got = await r.take(3);
    assert.deepEqual(got.map((g) => g.message.body), ['m0', 'm1', 'm2']);
    assert.ok(got.every((g) => g.delivery.remote_settled), 'transfers arrive settled');
    await until(() => b.broker.engine.getQueue('amo.q')!.depth === 0, 3000, 'queue empty without acks');
  });

  it('a pre-settled sender: messages are routed without dispositions', async () => {
    const r = await c.receiver('presettled.in');
    const link = c.conn.open_sender({ target: { address: 'presettled.in' }, snd_settle_mode: 1 });
    await new Promise((res) => link.once('sendable', res));
    link.send({ body: 'fire and forget' });
    assert.equal((await r.next()).message.body, 'fire and forget');
  });

  it('refuses a link it may not attach: unauthorized, invalid selector, wildcard queue', async () => {
    const engine = b.broker.engine;
    const saved = engine.security;
    engine.security = { authenticate: saved.authenticate, authorize: (_p, action, a) => !(action === 'send' && a?.name === 'secret.q') };
    try {
      await assert.rejects(c.sender('secret.q'), (e: { condition?: string }) => e.condition === 'amqp:unauthorized-access');
      const relay = await c.sender({ target: {} });
      const o = await relay.send({ to: 'secret.q', body: 'x' });
      assert.equal(o.state, 'rejected');
      assert.equal(o.error?.condition, 'amqp:unauthorized-access');
    } finally {
      engine.security = saved;
    }
    await assert.rejects(c.receiver({ source: { address: 'sel.q', filter: rhea.filter.selector("a = 'x' AND") } }), (e: { condition?: string }) => e.condition === 'amqp:invalid-field');
    await assert.rejects(c.receiver('queue://wild.*'), (e: { condition?: string }) => e.condition === 'amqp:invalid-field');
  });

  it('a full destination (reject policy) rejects with amqp:resource-limit-exceeded', async () => {
    const t = await startBroker({ config: { destinations: [{ match: 'full.>', kind: 'queue', maxMessages: 1, limitPolicy: 'reject' }] } });
    const x = await Client.connect(t);
    try {
      const s = await x.sender('full.q');
      assert.equal((await s.send({ body: '1' })).state, 'accepted');
      const o = await s.send({ body: '2' });
      assert.equal(o.state, 'rejected');
      assert.equal(o.error?.condition, 'amqp:resource-limit-exceeded');
      assert.ok(o.error?.description);
    } finally {
      await x.close();
      await t.close();
    }
  });
});

describe('AMQP: durability', function () {
  this.timeout(20_000);

  it('a durable message is accepted after its commit and survives a broker restart; a non-durable one does not', async () => {
    const b = await startBroker();
    try {
      let c = await Client.connect(b);
      const s = await c.sender('dur.q');
      const typed = { body: 'kept', durable: true, message_id: 'm-1', application_properties: { k: 'v', ub: rhea.types.wrap_ubyte(7), sy: rhea.types.wrap_symbol('s') } };
      assert.equal((await s.send(typed)).state, 'accepted');
      assert.equal((await s.send({ body: 'lost', durable: false })).state, 'accepted');
      await c.close();
      await b.restart();
      c = await Client.connect(b);
      const r = await c.receiver('dur.q');
      const m = await r.next();
      assert.equal(m.message.body, 'kept');
      assert.equal(m.message.message_id, 'm-1');
      assert.deepEqual(m.message.application_properties, { k: 'v', ub: 7, sy: 's' });
      // the original section bytes came back from the store: types intact
      const sent = rhea.message.encode(typed) as Buffer;
      const ap = (x: Buffer) => {
        const sc = scanMessage(x).applicationProperties!;
        return x.subarray(sc.start, sc.end);
      };
      assert.deepEqual(ap(m.raw!), ap(sent));
      assert.equal(m.message.durable, true);
      await r.none(300);
      m.delivery.accept();
      await c.close();
    } finally {
      await b.close();
    }
  });
});
