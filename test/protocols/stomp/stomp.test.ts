/**
 * STOMP adapter end to end: a real Broker on port 0, stompit (TCP and TLS) and raw frames.
 */
import assert from 'node:assert/strict';
import { BrokerError } from '../../../src/core/errors.js';
import { allowAll } from '../../../src/core/security.js';
import { hdr, RawClient, sleep, startBroker, Stompit, until, type TestBroker } from './helpers.js';

describe('STOMP adapter (stompit over TCP/TLS, raw frames)', function () {
  this.timeout(20_000);
  let b: TestBroker;
  const clients: Array<Stompit | RawClient> = [];
  const track = <T extends Stompit | RawClient>(c: T): T => {
    clients.push(c);
    return c;
  };
  const stompit = async (headers: Record<string, string> = {}, ssl = false) => track(await Stompit.connect({ port: ssl ? b.tlsPort : b.port, ssl, headers }));
  const raw = async (headers: Record<string, string> = {}, version: '1.0' | '1.1' | '1.2' = '1.2') => track(await RawClient.open(b.port, headers, version));

  beforeEach(async () => {
    b = await startBroker({
      stomp: { connectTimeout: 1000 },
      config: { destinations: [{ match: 'dlq-test', maxRedeliveries: 1 }] },
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await b.close();
  });

  const engine = () => b.broker.engine;

  // ----------------------------------------------------------------------------------------- CONNECT

  describe('CONNECT', () => {
    it('negotiates the highest common version and answers CONNECTED with version, session, server, heart-beat', async () => {
      for (const [accept, want] of [['1.0,1.1,1.2', '1.2'], ['1.1', '1.1'], ['1.0,1.1', '1.1'], ['1.0', '1.0'], ['2.0,1.2', '1.2']] as const) {
        const c = track(await RawClient.connect(b.port));
        c.send('CONNECT', { 'accept-version': accept, host: 'localhost' });
        const f = await c.next();
        assert.equal(f.command, 'CONNECTED');
        assert.equal(hdr(f, 'version'), want, accept);
        assert.match(hdr(f, 'session')!, /^stomp-/);
        assert.match(hdr(f, 'server')!, /^Wharf\/\d+\.\d+\.\d+/);
        assert.equal(hdr(f, 'heart-beat'), '0,0');
      }
    });

    it('treats CONNECT without accept-version as STOMP 1.0 (CONNECTED says version:1.0) and accepts the STOMP command', async () => {
      const c = track(await RawClient.connect(b.port, { version: '1.0' }));
      c.send('CONNECT', { login: '', passcode: '' });
      const f = await c.next();
      assert.equal(f.command, 'CONNECTED');
      assert.equal(hdr(f, 'version'), '1.0');
      assert.ok(hdr(f, 'session'));
      const s = track(await RawClient.connect(b.port));
      s.send('STOMP', { 'accept-version': '1.2', host: '/' });
      assert.equal(hdr(await s.next(), 'version'), '1.2');
    });

    it('refuses an unsupported version with an ERROR listing the supported ones, then closes', async () => {
      const c = track(await RawClient.connect(b.port));
      c.send('CONNECT', { 'accept-version': '2.0,3.1', host: '/' });
      const f = await c.next();
      assert.equal(f.command, 'ERROR');
      assert.equal(hdr(f, 'version'), '1.0,1.1,1.2');
      assert.match(hdr(f, 'message')!, /version/i);
      assert.match(f.body.toString(), /Supported protocol versions are 1\.0 1\.1 1\.2/);
      await c.waitClosed();
    });

    it('passes login/passcode to the engine security hooks; bad credentials get ERROR and a close', async () => {
      const seen: Array<{ username?: string; password?: string; protocol: string }> = [];
      engine().security = {
        async authenticate(c) {
          seen.push({ username: c.username, password: c.password, protocol: c.protocol });
          return c.username === 'alice' && c.password === 'secret' ? { username: 'alice', anonymous: false, groups: [] } : null;
        },
        authorize: (p, action, a) => !(action === 'send' && a?.name === 'forbidden'),
      };
      const ok = await stompit({ login: 'alice', passcode: 'secret' });
      assert.deepEqual(seen[0], { username: 'alice', password: 'secret', protocol: 'stomp' });
      assert.equal(engine().listConnections()[0]!.principal.username, 'alice');
      // authorization failures are ERRORs too
      await assert.rejects(ok.send('/queue/forbidden', 'x'), /not authorized/);

      const c = track(await RawClient.connect(b.port));
      c.send('CONNECT', { 'accept-version': '1.2', host: '/', login: 'alice', passcode: 'wrong' });
      const f = await c.next();
      assert.equal(f.command, 'ERROR');
      assert.match(hdr(f, 'message')!, /Authentication failed/);
      assert.match(f.body.toString(), /unauthenticated/);
      await c.waitClosed();
      engine().security = allowAll;
    });

    it('refuses a second connection with the same client-id', async () => {
      await stompit({ 'client-id': 'dup' });
      await assert.rejects(Stompit.connect({ port: b.port, headers: { 'client-id': 'dup' } }), /already connected/);
    });

    it('closes a connection that sends no CONNECT in time, and one whose first frame is not CONNECT', async () => {
      const idle = track(await RawClient.connect(b.port));
      const f = await idle.next(3000);
      assert.equal(f.command, 'ERROR');
      assert.match(hdr(f, 'message')!, /Connect timeout/);
      await idle.waitClosed();
      const early = track(await RawClient.connect(b.port));
      early.send('SEND', { destination: '/queue/a' }, 'x');
      const e = await early.next();
      assert.equal(e.command, 'ERROR');
      assert.equal(hdr(e, 'message'), 'Not connected');
      await early.waitClosed();
      assert.equal(engine().getQueue('a'), undefined);
    });

    it('works over TLS', async () => {
      const c = await stompit({}, true);
      const inbox = await c.subscribe('/queue/tls');
      await c.send('/queue/tls', 'secure', { persistent: 'true' });
      assert.equal((await inbox.next()).text, 'secure');
      const r = track(await RawClient.connect(b.tlsPort, { tls: true }));
      r.send('CONNECT', { 'accept-version': '1.1', host: '/' });
      assert.equal(hdr(await r.next(), 'version'), '1.1');
    });
  });

  // ----------------------------------------------------------------------------------------- heart-beats

  describe('heart-beats', () => {
    it('negotiates heart-beats and sends them when the client asks', async () => {
      const c = track(await RawClient.connect(b.port));
      let beats = 0;
      c.decoder.onHeartbeat = () => beats++;
      c.send('CONNECT', { 'accept-version': '1.2', host: '/', 'heart-beat': '0,150' });
      const f = await c.next();
      assert.equal(hdr(f, 'heart-beat'), '150,0');
      await sleep(700);
      assert.ok(beats >= 3, `got ${beats} heart-beats in 700 ms`);
    });

    it('raises a too-small client interval to the server minimum', async () => {
      const c = track(await RawClient.connect(b.port));
      c.send('CONNECT', { 'accept-version': '1.2', host: '/', 'heart-beat': '1,1' });
      assert.equal(hdr(await c.next(), 'heart-beat'), '100,100');
    });

    it('disconnects a client that promised heart-beats and went silent; one that sends them stays', async () => {
      const dead = track(await RawClient.connect(b.port));
      dead.send('CONNECT', { 'accept-version': '1.2', host: '/', 'heart-beat': '200,0' });
      assert.equal(hdr(await dead.next(), 'heart-beat'), '0,200');
      const alive = track(await RawClient.connect(b.port));
      alive.send('CONNECT', { 'accept-version': '1.2', host: '/', 'heart-beat': '200,0' });
      await alive.next();
      const beat = setInterval(() => alive.write('\n'), 100);
      const t0 = Date.now();
      try {
        const e = await dead.next(3000);
        assert.equal(e.command, 'ERROR');
        assert.match(hdr(e, 'message')!, /Heart-beat timeout/);
        await dead.waitClosed();
        const took = Date.now() - t0;
        assert.ok(took >= 350 && took < 1500, `closed after ${took} ms`);
        assert.equal(alive.closed, false);
        await sleep(300);
        assert.equal(alive.closed, false);
      } finally {
        clearInterval(beat);
      }
    });

    it('rejects a malformed heart-beat header', async () => {
      const c = track(await RawClient.connect(b.port));
      c.send('CONNECT', { 'accept-version': '1.2', host: '/', 'heart-beat': 'soon' });
      const f = await c.next();
      assert.equal(f.command, 'ERROR');
      assert.match(hdr(f, 'message')!, /heart-beat/);
    });
  });

  // ----------------------------------------------------------------------------------------- SEND and MESSAGE

  describe('SEND → MESSAGE', () => {
    it('maps every header: persistent, priority, expires, type, correlation-id, reply-to, content-type, custom properties', async () => {
      const c = await stompit();
      const expires = Date.now() + 60_000;
      await c.send('/queue/h', '{"a":1}', {
        persistent: 'true',
        priority: '7',
        expires: String(expires),
        type: 'order',
        'correlation-id': 'corr-1',
        'reply-to': '/queue/replies',
        'content-type': 'application/json',
        'x-custom': 'v:1',
        'JMSXGroupID': 'g1',
      });
      // the core message
      const [stored] = engine().browse({ kind: 'queue', name: 'h' });
      const m = stored!.message;
      assert.equal(m.durable, true);
      assert.equal(m.priority, 7);
      assert.equal(m.expiration, expires);
      assert.equal(m.type, 'order');
      assert.equal(m.correlationId, 'corr-1');
      assert.equal(m.replyTo, 'queue://replies');
      assert.equal(m.contentType, 'application/json');
      assert.equal(m.bodyType, 'text');
      assert.equal(m.groupId, 'g1');
      assert.deepEqual(m.properties, { 'x-custom': 'v:1' });
      assert.equal(m.destination, 'queue://h');
      // the MESSAGE frame
      const inbox = await c.subscribe('/queue/h', { ack: 'client-individual' });
      const got = await inbox.next();
      assert.equal(got.text, '{"a":1}');
      const h = got.headers;
      assert.equal(h.destination, '/queue/h');
      assert.equal(h.subscription, inbox.id);
      assert.equal(h['message-id'], m.messageId);
      assert.ok(h.ack);
      assert.equal(h.redelivered, 'false');
      assert.equal(h.persistent, 'true');
      assert.equal(h.priority, '7');
      assert.equal(h.expires, String(expires));
      assert.equal(h.timestamp, String(m.timestamp));
      assert.equal(h.type, 'order');
      assert.equal(h['correlation-id'], 'corr-1');
      assert.equal(h['reply-to'], '/queue/replies');
      assert.equal(h['content-type'], 'application/json');
      assert.equal(String(h['content-length']), '7'); // stompit makes it a number
      assert.equal(h['x-custom'], 'v:1');
      assert.equal(h.JMSXGroupID, 'g1');
      await c.ack(got);
    });

    it('is non-persistent without persistent:true (as ActiveMQ), with priority 4 and no expiry by default', async () => {
      const c = await stompit();
      await c.send('/queue/np', 'x');
      const [s] = engine().browse({ kind: 'queue', name: 'np' });
      assert.equal(s!.message.durable, false);
      assert.equal(s!.message.priority, 4);
      assert.equal(s!.message.expiration, 0);
      const inbox = await c.subscribe('/queue/np');
      const got = await inbox.next();
      assert.equal(got.headers.persistent, 'false');
      assert.equal(got.headers.expires, '0');
    });

    it('chooses text or bytes by amq-msg-type, content-type, then content-length; binary bodies with NULs survive', async () => {
      const r = await raw();
      const bin = Buffer.from([0, 1, 2, 0, 255, 0]);
      r.send('SEND', { destination: '/queue/bt', 'content-type': 'application/octet-stream' }, bin);
      r.send('SEND', { destination: '/queue/bt', 'content-type': 'text/plain;charset=utf-8' }, 'héllo');
      r.send('SEND', { destination: '/queue/bt', 'content-type': 'application/vnd.x+json' }, '{}');
      r.send('SEND', { destination: '/queue/bt', 'amq-msg-type': 'bytes', 'content-type': 'text/plain' }, 'b');
      r.write('SEND\ndestination:/queue/bt\n\nno length\0'); // no content-type, no content-length → text
      r.send('SEND', { destination: '/queue/bt', receipt: 'done' }, 'with length'); // encodeFrame adds content-length → bytes
      assert.equal(hdr(await r.next(), 'receipt-id'), 'done');
      const types = engine().browse({ kind: 'queue', name: 'bt' }).map((x) => x.message.bodyType);
      assert.deepEqual(types, ['bytes', 'text', 'text', 'bytes', 'text', 'bytes']);
      r.send('SUBSCRIBE', { destination: '/queue/bt', id: 's' });
      const m = await r.next();
      assert.deepEqual(m.body, bin);
      assert.equal(hdr(m, 'content-length'), '6');
      assert.equal(hdr(m, 'content-type'), 'application/octet-stream');
      assert.equal((await r.next()).body.toString(), 'héllo');
    });

    it('escapes header values per version and keeps property names and values through a round trip', async () => {
      const r = await raw();
      r.send('SUBSCRIBE', { destination: '/queue/esc', id: '0', receipt: 'r' });
      await r.next();
      r.send('SEND', { destination: '/queue/esc', 'we:ird\nname': 'va\\lue:\r\nx' }, 'b');
      const m = await r.next();
      assert.equal(hdr(m, 'we:ird\nname'), 'va\\lue:\r\nx');
      const r10 = await raw({}, '1.0');
      r10.send('SUBSCRIBE', { destination: '/queue/esc10' });
      r10.send('SEND', { destination: '/queue/esc10', colon: 'a:b' }, 'b');
      const m10 = await r10.next();
      assert.equal(hdr(m10, 'colon'), 'a:b');
      assert.equal(hdr(m10, 'subscription'), '/queue/esc10');
    });

    it('delivers by priority and drops expired messages', async () => {
      const c = await stompit();
      await c.send('/queue/prio', 'low', { priority: '1' });
      await c.send('/queue/prio', 'high', { priority: '9' });
      await c.send('/queue/prio', 'gone', { expires: String(Date.now() - 1000) });
      await c.send('/queue/prio', 'mid');
      const inbox = await c.subscribe('/queue/prio');
      assert.deepEqual((await inbox.take(3)).map((m) => m.text), ['high', 'mid', 'low']);
      await inbox.none();
    });

    it('publishes to topics: every subscriber gets a copy, wildcards match', async () => {
      const a = await stompit();
      const c = await stompit();
      const one = await a.subscribe('/topic/prices.eu');
      const star = await c.subscribe('/topic/prices.*');
      const all = await c.subscribe('/topic/prices.>');
      await a.send('/topic/prices.eu', 'p1');
      await a.send('/topic/prices.us', 'p2');
      assert.equal((await one.next()).text, 'p1');
      assert.deepEqual((await star.take(2)).map((m) => [m.text, m.headers.destination]), [['p1', '/topic/prices.eu'], ['p2', '/topic/prices.us']]);
      assert.equal((await all.take(2)).length, 2);
      await one.none(100);
    });

    it('sends to a composite destination', async () => {
      const c = await stompit();
      const t = await c.subscribe('/topic/comp.t');
      await c.send('/queue/comp.q,/topic/comp.t', 'both');
      assert.equal((await t.next()).text, 'both');
      assert.equal(engine().getQueue('comp.q')?.depth, 1);
    });

    it('flags redelivered messages and keeps unacknowledged ones when a subscriber disconnects', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/rd', { ack: 'client-individual' });
      await c.send('/queue/rd', 'm', { persistent: 'true' });
      assert.equal((await inbox.next()).headers.redelivered, 'false');
      c.destroy();
      const d = await stompit();
      const again = await d.subscribe('/queue/rd', { ack: 'client-individual' });
      const m = await again.next();
      assert.equal(m.text, 'm');
      assert.equal(m.headers.redelivered, 'true');
    });
  });

  // ----------------------------------------------------------------------------------------- ack modes

  describe('SUBSCRIBE ack modes', () => {
    it('auto: messages are consumed as they are delivered', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/auto');
      for (let i = 0; i < 5; i++) await c.send('/queue/auto', `m${i}`, { persistent: 'true' });
      assert.equal((await inbox.take(5)).map((m) => m.text).join(), 'm0,m1,m2,m3,m4');
      assert.equal((await inbox.items[0]!).headers.ack, undefined, 'no ack header in auto mode');
      await until(() => engine().getQueue('auto')!.depth === 0);
      // ACK of an auto message is a protocol error: it has no ack header, so stompit's ACK carries no id (1.2)
      await assert.rejects(c.ack(inbox.items[0]!), /Missing header 'id'/);
    });

    it('client: an ACK is cumulative, everything received before it is acknowledged too', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/cum', { ack: 'client' });
      for (let i = 0; i < 4; i++) await c.send('/queue/cum', `m${i}`, { persistent: 'true' });
      const ms = await inbox.take(4);
      await c.ack(ms[2]!);
      const q = engine().getQueue('cum')!;
      assert.equal(q.depth, 1);
      assert.equal(q.inflightCount, 1);
      c.destroy();
      const d = await stompit();
      const again = await d.subscribe('/queue/cum', { ack: 'client' });
      const left = await again.next();
      assert.equal(left.text, 'm3');
      assert.equal(left.headers.redelivered, 'true');
      await again.none(100);
    });

    it('client-individual: an ACK acknowledges that one message only', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/ind', { ack: 'client-individual' });
      for (let i = 0; i < 3; i++) await c.send('/queue/ind', `m${i}`, { persistent: 'true' });
      const ms = await inbox.take(3);
      await c.ack(ms[1]!);
      c.destroy();
      const d = await stompit();
      const again = await d.subscribe('/queue/ind', { ack: 'client-individual' });
      assert.deepEqual((await again.take(2)).map((m) => m.text), ['m0', 'm2']);
    });

    it('activemq.prefetchSize bounds unacknowledged messages; ACKs let more through', async () => {
      const c = await stompit();
      for (let i = 0; i < 5; i++) await c.send('/queue/pf', `m${i}`);
      const inbox = await c.subscribe('/queue/pf', { ack: 'client-individual', 'activemq.prefetchSize': '2' });
      const first = await inbox.take(2);
      await inbox.none(150);
      await c.ack(first[0]!);
      assert.equal((await inbox.next()).text, 'm2');
      await inbox.none(150);
    });

    it('STOMP 1.1 acks by message-id + subscription, 1.0 by message-id', async () => {
      for (const v of ['1.1', '1.0'] as const) {
        const r = await raw({}, v);
        r.send('SUBSCRIBE', { destination: `/queue/v${v}`, id: 's1', ack: 'client' });
        r.send('SEND', { destination: `/queue/v${v}` }, 'a');
        const m = await r.next();
        assert.equal(hdr(m, 'ack'), undefined);
        const ackHeaders: Record<string, string> = { 'message-id': hdr(m, 'message-id')!, receipt: 'k' };
        if (v === '1.1') ackHeaders.subscription = 's1';
        r.send('ACK', ackHeaders);
        assert.equal(hdr(await r.next(), 'receipt-id'), 'k');
        assert.equal(engine().getQueue(`v${v}`)!.depth, 0);
      }
    });

    it('STOMP 1.0 has no NACK: a NACK naming a delivered message is an ERROR and the message stays unacknowledged (ActiveMQ refuses it too)', async () => {
      const r = await raw({}, '1.0');
      r.send('SUBSCRIBE', { destination: '/queue/v10-nack', ack: 'client' });
      r.send('SEND', { destination: '/queue/v10-nack' }, 'a');
      const m = await r.next();
      r.send('NACK', { 'message-id': hdr(m, 'message-id')!, receipt: 'n' });
      const err = await r.next();
      assert.equal(err.command, 'ERROR');
      assert.equal(hdr(err, 'message'), 'Unknown command');
      assert.match(err.body.toString(), /NACK is not a STOMP 1\.0 command/);
      await r.waitClosed();
      // the connection is gone, so the message comes back as redelivered — not dead-lettered or counted as a NACK
      const again = await raw({}, '1.0');
      again.send('SUBSCRIBE', { destination: '/queue/v10-nack', ack: 'auto' });
      const back = await again.next();
      assert.equal(back.body.toString(), 'a');
      assert.equal(hdr(back, 'redelivered'), 'true');
    });

    it('STOMP 1.2: an ACK or NACK without id (naming the message by message-id) is refused with ERROR, as RabbitMQ and ActiveMQ do', async () => {
      for (const command of ['ACK', 'NACK']) {
        const r = await raw({}, '1.2');
        r.send('SUBSCRIBE', { destination: '/queue/v12-mid', id: 's1', ack: 'client-individual' });
        r.send('SEND', { destination: '/queue/v12-mid' }, 'a');
        const a = await r.next();
        assert.notEqual(hdr(a, 'ack'), undefined);
        r.send(command, { 'message-id': hdr(a, 'message-id')!, subscription: 's1', receipt: 'k1' });
        const err = await r.next();
        assert.equal(err.command, 'ERROR');
        assert.equal(hdr(err, 'message'), "Missing header 'id'");
        assert.equal(hdr(err, 'receipt-id'), 'k1');
        await r.waitClosed();
        // the message was neither acknowledged nor NACKed: it comes back for the next subscriber, id acks it
        const again = await raw({}, '1.2');
        again.send('SUBSCRIBE', { destination: '/queue/v12-mid', id: 's2', ack: 'client-individual' });
        const back = await again.next();
        assert.equal(back.body.toString(), 'a');
        assert.equal(hdr(back, 'redelivered'), 'true');
        again.send('ACK', { id: hdr(back, 'ack')!, receipt: 'k2' });
        assert.equal(hdr(await again.next(), 'receipt-id'), 'k2');
        assert.equal(engine().getQueue('v12-mid')!.depth, 0);
        again.destroy();
      }
    });

    it('NACK redelivers with redelivered:true, then dead-letters per the destination policy', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/dlq-test', { ack: 'client-individual' });
      await c.send('/queue/dlq-test', 'poison', { persistent: 'true' });
      const first = await inbox.next();
      await c.nack(first);
      const second = await inbox.next();
      assert.equal(second.text, 'poison');
      assert.equal(second.headers.redelivered, 'true');
      await c.nack(second); // maxRedeliveries 1 → DLQ
      await inbox.none(150);
      const dlq = await c.subscribe('/queue/DLQ.dlq-test');
      const dead = await dlq.next();
      assert.equal(dead.text, 'poison');
      assert.equal(dead.headers.originalDestination, 'queue://dlq-test');
      assert.match(dead.headers.dlqDeliveryFailureCause!, /NACK/);
    });

    it('UNSUBSCRIBE stops delivery and returns unacknowledged messages', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/uns', { ack: 'client-individual' });
      await c.send('/queue/uns', 'one');
      await inbox.next();
      await c.frame('UNSUBSCRIBE', { id: inbox.id });
      await c.send('/queue/uns', 'two');
      await inbox.none(150);
      const q = engine().getQueue('uns')!;
      assert.equal(q.depth, 2);
      assert.equal(q.consumers.length, 0);
      const again = await c.subscribe('/queue/uns');
      const got = await again.take(2);
      assert.deepEqual(got.map((m) => [m.text, m.headers.redelivered]), [['one', 'true'], ['two', 'false']]);
    });

    it('filters with a JMS selector on queues and topics (headers are string properties)', async () => {
      const c = await stompit();
      const red = await c.subscribe('/queue/sel', { selector: "color = 'red'" });
      const topicBig = await c.subscribe('/topic/sel', { selector: "size IN ('L','XL') AND JMSPriority > 5" });
      for (const [color, size, prio] of [['red', 'L', '9'], ['blue', 'XL', '9'], ['red', 'S', '9'], ['green', 'L', '1']]) {
        await c.send('/queue/sel', `${color}-${size}`, { color, size, priority: prio });
        await c.send('/topic/sel', `${color}-${size}`, { color, size, priority: prio });
      }
      assert.deepEqual((await red.take(2)).map((m) => m.text), ['red-L', 'red-S']);
      await red.none(100);
      assert.deepEqual((await topicBig.take(2)).map((m) => m.text), ['red-L', 'blue-XL']);
      await topicBig.none(100);
      assert.equal(engine().getQueue('sel')!.depth, 2, 'non-matching messages stay in the queue');
      await assert.rejects(c.subscribe('/queue/sel', { selector: 'color = = 1' }), /Invalid selector/);
    });
  });

  // ----------------------------------------------------------------------------------------- durable subscriptions

  describe('durable topic subscriptions (ActiveMQ style)', () => {
    it('receive what was published while disconnected; UNSUBSCRIBE with activemq.subscriptionName removes them', async () => {
      const sub = await stompit({ 'client-id': 'app-1' });
      const inbox = await sub.subscribe('/topic/news', { 'activemq.subscriptionName': 'reader', ack: 'client-individual' });
      const pub = await stompit();
      await pub.send('/topic/news', 'n1', { persistent: 'true' });
      await sub.ack(await inbox.next());
      await sub.disconnect();
      await pub.send('/topic/news', 'n2', { persistent: 'true' });
      await pub.send('/topic/news', 'n3', { persistent: 'true' });
      assert.equal(engine().getSubscription('durable:app-1:reader')?.depth, 2);

      const back = await stompit({ 'client-id': 'app-1' });
      const again = await back.subscribe('/topic/news', { 'activemq.subscriptionName': 'reader', ack: 'client-individual' });
      const got = await again.take(2);
      assert.deepEqual(got.map((m) => m.text), ['n2', 'n3']);
      for (const m of got) await back.ack(m);
      await back.frame('UNSUBSCRIBE', { id: again.id, 'activemq.subscriptionName': 'reader' });
      assert.equal(engine().getSubscription('durable:app-1:reader'), undefined);
      await pub.send('/topic/news', 'n4', { persistent: 'true' });
      assert.equal(engine().listSubscriptions().length, 0);
    });

    it('needs a client-id', async () => {
      const c = await stompit();
      await assert.rejects(c.subscribe('/topic/news', { 'activemq.subscriptionName': 'x' }), /client id/);
    });

    it('one made with a selector before STOMP selectors compared strings as numbers (or by JMS) is kept, with what it collected, when STOMP subscribes again with that selector', async () => {
      const old = await engine().subscribe({ address: { kind: 'topic', name: 'sel.kept' }, durable: { name: 'r', clientId: 'app-2' }, selector: "region = 'eu'", credit: 0, onMessage: () => undefined });
      old.close();
      const pub = await stompit();
      await pub.send('/topic/sel.kept', 'eu-1', { region: 'eu', persistent: 'true' });
      await pub.send('/topic/sel.kept', 'us-1', { region: 'us', persistent: 'true' });
      const back = await stompit({ 'client-id': 'app-2' });
      const inbox = await back.subscribe('/topic/sel.kept', { 'activemq.subscriptionName': 'r', selector: "region = 'eu'" });
      assert.deepEqual((await inbox.take(1)).map((m) => m.text), ['eu-1']);
      assert.equal(engine().getSubscription('durable:app-2:r')?.subscription?.selector, "region = 'eu'");
    });
  });

  // ----------------------------------------------------------------------------------------- transactions

  describe('transactions', () => {
    it('SENDs in a transaction are invisible until COMMIT; ABORT discards them', async () => {
      const c = await stompit();
      const inbox = await c.subscribe('/queue/tx');
      await c.frame('BEGIN', { transaction: 't1' });
      await c.send('/queue/tx', 'a', { transaction: 't1', persistent: 'true' });
      await c.send('/queue/tx', 'b', { transaction: 't1' });
      await inbox.none(100);
      await c.frame('COMMIT', { transaction: 't1' });
      assert.deepEqual((await inbox.take(2)).map((m) => m.text), ['a', 'b']);
      await c.frame('BEGIN', { transaction: 't2' });
      await c.send('/queue/tx', 'c', { transaction: 't2' });
      await c.frame('ABORT', { transaction: 't2' });
      await inbox.none(150);
    });

    it('ACKs in a committed transaction consume; ABORT undoes ACKs: the messages stay delivered and unacknowledged, and ACK again by the same ids', async () => {
      const c = await stompit();
      for (let i = 0; i < 3; i++) await c.send('/queue/txack', `m${i}`, { persistent: 'true' });
      const inbox = await c.subscribe('/queue/txack', { ack: 'client-individual' });
      const ms = await inbox.take(3);
      await c.frame('BEGIN', { transaction: 'a' });
      await c.ack(ms[0]!, { transaction: 'a' });
      await c.ack(ms[1]!, { transaction: 'a' });
      await c.frame('ABORT', { transaction: 'a' });
      await inbox.none(100);
      assert.equal(engine().getQueue('txack')!.inflightCount, 3, 'still delivered to this subscription');
      await c.frame('BEGIN', { transaction: 'b' });
      for (const m of ms) await c.ack(m, { transaction: 'b' });
      assert.equal(engine().getQueue('txack')!.depth, 3, 'acked in an open transaction: still stored');
      await c.frame('COMMIT', { transaction: 'b' });
      assert.equal(engine().getQueue('txack')!.depth, 0);
      await inbox.none(100);
    });

    it('a NACK inside a transaction takes effect at COMMIT; ABORT undoes it (the message stays delivered)', async () => {
      const c = await stompit();
      for (let i = 0; i < 2; i++) await c.send('/queue/txnack', `m${i}`, { persistent: 'true' });
      const inbox = await c.subscribe('/queue/txnack', { ack: 'client-individual' });
      const ms = await inbox.take(2);
      await c.frame('BEGIN', { transaction: 'n1' });
      await c.nack(ms[0]!, { transaction: 'n1' });
      await inbox.none(200); // not redelivered while the transaction is open
      assert.equal(engine().getQueue('txnack')!.inflightCount, 2);
      await c.frame('COMMIT', { transaction: 'n1' });
      const [again] = await inbox.take(1);
      assert.deepEqual([again!.text, again!.headers.redelivered], ['m0', 'true']);
      await c.frame('BEGIN', { transaction: 'n2' });
      await c.nack(ms[1]!, { transaction: 'n2' });
      await c.frame('ABORT', { transaction: 'n2' });
      await inbox.none(200);
      assert.equal(engine().getQueue('txnack')!.inflightCount, 2);
      await c.nack(ms[1]!);
      const [back] = await inbox.take(1);
      assert.deepEqual([back!.text, back!.headers.redelivered], ['m1', 'true']);
    });

    it('client (cumulative) ACKs in a transaction cover, at COMMIT, what preceded each ACKed message', async () => {
      const c = await stompit();
      for (let i = 0; i < 4; i++) await c.send('/queue/txcum2', `m${i}`, { persistent: 'true' });
      const inbox = await c.subscribe('/queue/txcum2', { ack: 'client' });
      const ms = await inbox.take(4);
      await c.frame('BEGIN', { transaction: 'y' });
      await c.ack(ms[1]!, { transaction: 'y' });
      await c.ack(ms[2]!, { transaction: 'y' });
      assert.equal(engine().getQueue('txcum2')!.depth, 4);
      await c.frame('COMMIT', { transaction: 'y' });
      assert.equal(engine().getQueue('txcum2')!.depth, 1, 'm0..m2 consumed, m3 still unacknowledged');
      assert.equal(engine().getQueue('txcum2')!.inflightCount, 1);
    });

    it('client (cumulative) ACK inside a transaction, and transactions roll back when the connection drops', async () => {
      const c = await stompit();
      for (let i = 0; i < 3; i++) await c.send('/queue/txcum', `m${i}`, { persistent: 'true' });
      const inbox = await c.subscribe('/queue/txcum', { ack: 'client' });
      const ms = await inbox.take(3);
      await c.frame('BEGIN', { transaction: 'x' });
      await c.ack(ms[1]!, { transaction: 'x' });
      await c.send('/queue/txcum-out', 'pending', { transaction: 'x' });
      c.destroy();
      await until(() => engine().listConnections().length === 0);
      assert.equal(engine().getQueue('txcum')!.depth, 3);
      assert.equal(engine().getQueue('txcum-out'), undefined);
    });

    it('errors on unknown or duplicate transactions', async () => {
      const c = await stompit();
      await assert.rejects(c.frame('COMMIT', { transaction: 'nope' }), /Unknown transaction/);
      const d = await stompit();
      await d.frame('BEGIN', { transaction: 'x' });
      await assert.rejects(d.frame('BEGIN', { transaction: 'x' }), /already started/);
    });
  });

  // ----------------------------------------------------------------------------------------- receipts, DISCONNECT, ERROR

  describe('receipts, DISCONNECT and ERROR', () => {
    it('SENDs read together go to the engine together, each answered on its own: receipts before a refused one, its ERROR', async () => {
      engine().security = { ...allowAll, authorize: (_p, action, a) => !(action === 'send' && a?.name === 'batch.forbidden') };
      const r = await raw();
      // one TCP write: the broker reads the four SENDs at once and starts them as one engine sendMany
      r.socket.cork();
      r.send('SEND', { destination: '/queue/batch.ok', persistent: 'true', receipt: 'r1' }, '1');
      r.send('SEND', { destination: '/queue/batch.ok', persistent: 'true', receipt: 'r2' }, '2');
      r.send('SEND', { destination: '/queue/batch.forbidden', persistent: 'true', receipt: 'r3' }, '3');
      r.send('SEND', { destination: '/queue/batch.ok', persistent: 'true', receipt: 'r4' }, '4');
      r.socket.uncork();
      const answers = [await r.next(), await r.next(), await r.next()];
      assert.deepEqual(answers.map((f) => [f.command, hdr(f, 'receipt-id')]), [['RECEIPT', 'r1'], ['RECEIPT', 'r2'], ['ERROR', 'r3']]);
      assert.match(hdr(answers[2]!, 'message')!, /not authorized/i);
      await r.waitClosed();
      engine().security = allowAll;
      assert.equal(engine().getQueue('batch.forbidden'), undefined);
      const c = await raw();
      c.send('SUBSCRIBE', { destination: '/queue/batch.ok', id: 's', ack: 'client-individual' });
      const [m1, m2] = [await c.next(), await c.next()];
      assert.deepEqual([m1.body.toString(), m2.body.toString()], ['1', '2']);
    });

    it('answers every frame that carries a receipt', async () => {
      const r = await raw();
      const frames: Array<[string, Record<string, string>]> = [
        ['SUBSCRIBE', { destination: '/queue/rc', id: 's', ack: 'client-individual' }],
        ['BEGIN', { transaction: 't' }],
        ['SEND', { destination: '/queue/rc', persistent: 'true' }],
        ['SEND', { destination: '/queue/rc', transaction: 't' }],
        ['ABORT', { transaction: 't' }],
        ['BEGIN', { transaction: 't2' }],
        ['COMMIT', { transaction: 't2' }],
      ];
      frames.forEach(([cmd, h], i) => r.send(cmd, { ...h, receipt: `r${i}` }, cmd === 'SEND' ? 'body' : ''));
      const got = new Set<string>();
      let msg;
      while (got.size < frames.length || !msg) {
        const f = await r.next();
        if (f.command === 'MESSAGE') msg = f;
        else {
          assert.equal(f.command, 'RECEIPT');
          got.add(hdr(f, 'receipt-id')!);
        }
      }
      r.send('NACK', { id: hdr(msg, 'ack')!, receipt: 'n' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'n');
      const again = await r.next();
      assert.equal(hdr(again, 'redelivered'), 'true');
      r.send('ACK', { id: hdr(again, 'ack')!, receipt: 'a' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'a');
      r.send('UNSUBSCRIBE', { id: 's', receipt: 'u' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'u');
      r.send('DISCONNECT', { receipt: 'bye' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'bye');
      await r.waitClosed();
    });

    it('sends the RECEIPT of a persistent SEND only once it is durable, and DISCONNECT waits for sends in flight', async () => {
      const store = engine().store;
      const commit = store.commit.bind(store);
      let gate: (() => void) | undefined;
      store.commit = async (batch) => {
        if (batch.some((c) => c.t === 'enqueue')) await new Promise<void>((r) => (gate = r));
        return commit(batch);
      };
      try {
        const r = await raw();
        r.send('SEND', { destination: '/queue/dur', persistent: 'true', receipt: 's' }, 'x');
        await until(() => gate !== undefined);
        await sleep(50);
        assert.equal(r.frames.length, 1, 'no RECEIPT before the commit');
        const g = gate!;
        gate = undefined;
        g();
        assert.equal(hdr(await r.next(), 'receipt-id'), 's');
        r.send('SEND', { destination: '/queue/dur', persistent: 'true' }, 'y');
        r.send('DISCONNECT', { receipt: 'd' });
        await until(() => gate !== undefined);
        await sleep(50);
        assert.equal(r.frames.length, 2, 'DISCONNECT receipt waits for the SEND');
        gate!();
        assert.equal(hdr(await r.next(), 'receipt-id'), 'd');
        assert.equal(engine().getQueue('dur')!.depth, 2);
      } finally {
        store.commit = commit;
      }
    });

    it('ERROR frames carry a message header, a body that explains, the receipt-id, and close the connection', async () => {
      const cases: Array<[string, Record<string, string>, RegExp, RegExp]> = [
        ['FOO', {}, /Unknown command/, /not a STOMP client command/],
        ['SEND', {}, /Missing header 'destination'/, /needs the 'destination' header/],
        ['SEND', { destination: '/queues/orders' }, /Unknown destination/, /\/queue\/<name>/],
        ['SEND', { destination: '/topic/a.*' }, /wildcards/, /invalid/],
        ['SEND', { destination: '/queue/p', priority: 'high' }, /priority/, /integer/],
        ['SUBSCRIBE', { destination: '/queue/a', id: 'x', ack: 'sometimes' }, /Invalid ack mode/, /client-individual/],
        ['SUBSCRIBE', { destination: '/queue/a' }, /Missing header 'id'/, /SUBSCRIBE/],
        ['SUBSCRIBE', { destination: '/queue/a.*', id: 'w' }, /Wildcards/, /invalid/],
        ['ACK', { id: '999999' }, /Unexpected ACK/, /no unacknowledged message/],
        ['UNSUBSCRIBE', { id: 'none' }, /No such subscription/, /none/],
        ['SEND', { destination: '/remote-temp-queue/temp.gone' }, /does not exist/, /not-found/],
        ['CONNECT', { 'accept-version': '1.2' }, /Already connected/, /already connected/],
      ];
      for (const [cmd, headers, message, body] of cases) {
        const r = await raw();
        r.send(cmd, { ...headers, receipt: 'rx' }, cmd === 'SEND' ? 'b' : '');
        const f = await r.next();
        assert.equal(f.command, 'ERROR', `${cmd} ${JSON.stringify(headers)}`);
        assert.match(hdr(f, 'message')!, message);
        assert.match(f.body.toString(), body);
        assert.equal(hdr(f, 'receipt-id'), 'rx');
        await r.waitClosed();
      }
    });

    it('bounds frames by limits.maxFrameSize', async () => {
      await b.close();
      b = await startBroker({ config: { limits: { maxFrameSize: 4096 } } });
      const r = await raw();
      r.send('SEND', { destination: '/queue/big' }, Buffer.alloc(3000, 1));
      r.send('SEND', { destination: '/queue/big', receipt: 'ok' }, Buffer.alloc(10, 1));
      assert.equal(hdr(await r.next(), 'receipt-id'), 'ok');
      r.send('SEND', { destination: '/queue/big' }, Buffer.alloc(5000, 1));
      const e = await r.next();
      assert.equal(e.command, 'ERROR');
      assert.match(hdr(e, 'message')!, /too large/);
      await r.waitClosed();
      assert.equal(engine().getQueue('big')!.depth, 2);
    });

    it('reports client-id takeover and admin kills with an ERROR', async () => {
      const r = await raw({ 'client-id': 'k' });
      const conn = engine().listConnections()[0]!;
      engine().killConnection(conn.id, 'closed by administrator');
      const f = await r.next();
      assert.equal(f.command, 'ERROR');
      assert.match(hdr(f, 'message')!, /administrator/);
      await r.waitClosed();
    });

    it('the broker says goodbye on shutdown after finishing sends in flight', async () => {
      const store = engine().store;
      const commit = store.commit.bind(store);
      let gate: (() => void) | undefined;
      store.commit = async (batch) => {
        if (batch.some((c) => c.t === 'enqueue')) await new Promise<void>((r) => (gate = r));
        return commit(batch);
      };
      const r = await raw();
      r.send('SEND', { destination: '/queue/bye', persistent: 'true', receipt: 'last' }, 'x');
      await until(() => gate !== undefined);
      const stopping = b.broker.stop();
      await sleep(50);
      assert.equal(r.frames.length, 1, 'nothing before the send is durable');
      gate!();
      const receipt = await r.next();
      assert.equal(hdr(receipt, 'receipt-id'), 'last');
      const f = await r.next();
      assert.equal(f.command, 'ERROR');
      assert.match(hdr(f, 'message')!, /shutting down/);
      await r.waitClosed();
      await stopping;
      await b.restart();
      assert.equal(engine().getQueue('bye')!.depth, 1);
    });
  });

  // ----------------------------------------------------------------------------------------- temporary destinations

  describe('temporary destinations', () => {
    it('request/reply through a temp queue: reply-to is rewritten to a name other connections can send to', async () => {
      const requester = await stompit();
      const service = await stompit();
      const replies = await requester.subscribe('/temp-queue/replies');
      const requests = await service.subscribe('/queue/service', { ack: 'client-individual' });
      await requester.send('/queue/service', 'ping', { 'reply-to': '/temp-queue/replies', 'correlation-id': 'c1' });
      const req = await requests.next();
      const replyTo = req.headers['reply-to']!;
      assert.match(replyTo, /^\/remote-temp-queue\/temp\./);
      await service.send(replyTo, 'pong', { 'correlation-id': req.headers['correlation-id']! });
      await service.ack(req);
      const reply = await replies.next();
      assert.equal(reply.text, 'pong');
      assert.equal(reply.headers['correlation-id'], 'c1');
      assert.equal(reply.headers.destination, '/temp-queue/replies', 'the owner sees its own name');
      // the same local name on another connection is a different queue
      const other = await stompit();
      await other.send('/temp-queue/replies', 'not for requester');
      await replies.none(150);
      // gone with its connection
      const name = replyTo.slice('/remote-temp-queue/'.length);
      assert.equal(engine().getQueue(name)?.role, 'temporary');
      requester.destroy();
      await until(() => engine().getQueue(name) === undefined);
      await assert.rejects(service.send(replyTo, 'late'), /does not exist/);
    });

    it("only the owner consumes from its temp queue: another connection's SUBSCRIBE to /remote-temp-queue/… is an ERROR (JMS 1.1 §4.4.3, ActiveMQ)", async () => {
      const requester = await stompit();
      const replies = await requester.subscribe('/temp-queue/mine');
      const service = await stompit();
      const requests = await service.subscribe('/queue/service-own');
      await requester.send('/queue/service-own', 'ping', { 'reply-to': '/temp-queue/mine' });
      const replyTo = (await requests.next()).headers['reply-to']!;
      assert.match(replyTo, /^\/remote-temp-queue\/temp\./);
      const intruder = await raw();
      intruder.send('SUBSCRIBE', { destination: replyTo, id: 'steal', receipt: 's' });
      const err = await intruder.next();
      assert.equal(err.command, 'ERROR');
      assert.equal(hdr(err, 'receipt-id'), 's');
      assert.match(hdr(err, 'message')!, /belongs to another connection/);
      await intruder.waitClosed();
      // sending to it is still every connection's right (replies), and the owner gets it
      await service.send(replyTo, 'pong');
      assert.equal((await replies.next()).text, 'pong');
    });

    it('temp topics are scoped to the connection too', async () => {
      const a = await stompit();
      const inbox = await a.subscribe('/temp-topic/events');
      await a.send('/temp-topic/events', 'e1', { 'reply-to': '/temp-topic/events' });
      const m = await inbox.next();
      assert.equal(m.text, 'e1');
      assert.equal(m.headers.destination, '/temp-topic/events');
      assert.equal(m.headers['reply-to'], '/temp-topic/events');
    });
  });

  // ----------------------------------------------------------------------------------------- persistence and flow control

  describe('durability and flow control', () => {
    it('persistent messages survive a broker restart; non-persistent ones do not', async () => {
      const c = await stompit();
      await c.send('/queue/keep', 'p1', { persistent: 'true' });
      await c.send('/queue/keep', 'np', {});
      await c.send('/queue/keep', 'p2', { persistent: 'true', priority: '6', 'x-prop': 'y' });
      c.destroy();
      await b.restart();
      const d = await stompit();
      const inbox = await d.subscribe('/queue/keep', { ack: 'client-individual' });
      const got = await inbox.take(2);
      assert.deepEqual(got.map((m) => m.text).sort(), ['p1', 'p2']);
      const p2 = got.find((m) => m.text === 'p2')!;
      assert.equal(p2.headers.priority, '6');
      assert.equal(p2.headers['x-prop'], 'y');
      assert.equal(p2.headers.persistent, 'true');
      await inbox.none(150);
    });

    it('stops delivering to a client that does not read, and resumes when it does', async () => {
      const body = Buffer.alloc(1024, 0x61);
      const r = await raw();
      r.send('SUBSCRIBE', { destination: '/queue/slow', id: 's', receipt: 'sub' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'sub');
      r.socket.pause();
      const p = await raw();
      const n = 20_000;
      for (let i = 0; i < n; i++) p.send('SEND', { destination: '/queue/slow', ...(i === n - 1 ? { receipt: 'all' } : {}) }, body);
      assert.equal(hdr(await p.next(10_000), 'receipt-id'), 'all');
      await sleep(300);
      const q = engine().getQueue('slow')!;
      assert.ok(q.depth > 5000, `delivered only what fits the socket buffers; ${q.depth} left`);
      r.socket.resume();
      let got = 0;
      while (got < n) {
        const f = await r.next(10_000);
        if (f.command === 'MESSAGE') got++;
      }
      assert.equal(q.depth, 0);
    });

    it('several frames in one TCP write and a frame split across writes', async () => {
      const r = await raw();
      r.write(
        'SUBSCRIBE\nid:1\ndestination:/queue/multi\n\n\0' +
          'SEND\ndestination:/queue/multi\n\none\0\n' +
          'SEND\ndestination:/queue/multi\ncontent-length:3\n\ntwo\0',
      );
      r.write('SEND\ndestination:/queue/mu');
      await sleep(20);
      r.write('lti\n\nthr');
      await sleep(20);
      r.write('ee\0');
      const got = [await r.next(), await r.next(), await r.next()].map((f) => f.body.toString());
      assert.deepEqual(got, ['one', 'two', 'three']);
    });

    it('SENDs without receipts keep their order behind a full `block` queue, also when ACKs that make room arrive with the next SEND', async () => {
      await b.close();
      b = await startBroker({ config: { destinations: [{ match: 'blk.order', maxMessages: 2, limitPolicy: 'block', blockTimeout: 10_000 }] } });
      const r = await raw();
      r.send('SUBSCRIBE', { destination: '/queue/blk.order', id: 's', ack: 'client-individual', receipt: 'sub' });
      assert.equal(hdr(await r.next(), 'receipt-id'), 'sub');
      for (const body of ['1', '2', '3']) r.send('SEND', { destination: '/queue/blk.order' }, body);
      const [m1, m2] = [await r.next(), await r.next()];
      assert.deepEqual([m1.body.toString(), m2.body.toString()], ['1', '2']);
      await until(() => engine().getQueue('blk.order')!.stats.limitHits === 1, 3000, 'the third SEND waits for room');
      // one TCP write: the ACKs make room for two, the third SEND is let in, and the fourth must come after it
      r.socket.cork();
      r.send('ACK', { id: hdr(m1, 'ack')! });
      r.send('ACK', { id: hdr(m2, 'ack')! });
      r.send('SEND', { destination: '/queue/blk.order' }, '4');
      r.socket.uncork();
      const got = [await r.next(), await r.next()].map((f) => f.body.toString());
      assert.deepEqual(got, ['3', '4']);
    });
  });

  it('maps BrokerError codes to ERROR messages (engine refusal from a hook)', async () => {
    engine().security = {
      authenticate: async () => {
        throw new BrokerError('client-id-in-use', 'Client id taken');
      },
      authorize: () => true,
    };
    const r = track(await RawClient.connect(b.port));
    r.send('CONNECT', { 'accept-version': '1.2', host: '/' });
    const f = await r.next();
    assert.equal(hdr(f, 'message'), 'Client id taken');
    assert.match(f.body.toString(), /client-id-in-use/);
    engine().security = allowAll;
  });
});
