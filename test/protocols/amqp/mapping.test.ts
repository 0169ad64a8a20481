/**
 * AMQP message mapping: every section and body type round-trips through the broker (byte for byte where
 * the spec makes the bare message immutable), typed values keep their types, and messages from other
 * protocols get the Qpid JMS annotations and a faithful encoding.
 */
import assert from 'node:assert/strict';
import { createMessage } from '../../../src/core/message.js';
import { scanMessage } from '../../../protocols/amqp/codec.js';
import { decodeMessage, encodeDelivery } from '../../../protocols/amqp/mapping.js';
import { Client, rhea, startBroker, type Any, type TestBroker } from './helpers.js';

const t = rhea.types;
const M = rhea.message;

/** The bytes of each section except the header (rebuilt per delivery), keyed by descriptor code. */
function sections(raw: Buffer): Map<number, Buffer> {
  const s = scanMessage(raw);
  const out = new Map<number, Buffer>();
  for (const x of [s.deliveryAnnotations, s.messageAnnotations, s.properties, s.applicationProperties, s.footer]) if (x) out.set(x.code, raw.subarray(x.start, x.end));
  if (s.body.length) out.set(0x75, raw.subarray(s.body[0]!.start, s.body[s.body.length - 1]!.end));
  return out;
}

describe('AMQP: message mapping (round trips through the broker)', function () {
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

  async function roundTrip(queue: string, msg: Any): Promise<{ message: Any; raw: Buffer; sent: Buffer }> {
    const s = await c.sender(queue);
    const o = await s.send(msg);
    assert.equal(o.state, 'accepted', JSON.stringify(o.error));
    const r = await c.receiver(queue);
    const got = await r.next();
    return { message: got.message, raw: got.raw!, sent: M.encode(msg) };
  }

  it('every section: header, delivery-annotations, message-annotations, properties, application-properties, footer', async () => {
    const expiry = new Date(Date.now() + 3_600_000);
    const created = new Date(Date.now() - 1000);
    const msg = {
      durable: true,
      priority: 7,
      ttl: 3_600_000,
      delivery_annotations: { 'x-da': 'hop' },
      message_annotations: { 'x-opt-foo': 'bar', 'x-opt-n': 42 },
      message_id: 'id-1',
      user_id: Buffer.from('alice'),
      to: 'map.sections',
      subject: 'the-subject',
      reply_to: 'replies',
      correlation_id: 'corr-1',
      content_type: 'text/plain',
      content_encoding: 'utf-8',
      absolute_expiry_time: expiry,
      creation_time: created,
      group_id: 'g1',
      group_sequence: 3,
      reply_to_group_id: 'rg',
      application_properties: { s: 'str', i: 12, neg: -5, big: 2 ** 40, d: 1.25, yes: true, nil: null },
      footer: { 'x-f': 'foot' },
      body: 'hello sections',
    };
    const { message: m, raw, sent } = await roundTrip('map.sections', msg);
    assert.equal(m.durable, true);
    assert.equal(m.priority, 7);
    assert.equal(m.ttl, 3_600_000);
    assert.deepEqual(m.delivery_annotations, { 'x-da': 'hop' });
    assert.deepEqual(m.message_annotations, { 'x-opt-foo': 'bar', 'x-opt-n': 42 });
    for (const k of ['message_id', 'to', 'subject', 'reply_to', 'correlation_id', 'content_type', 'content_encoding', 'group_id', 'group_sequence', 'reply_to_group_id'] as const) assert.equal(m[k], msg[k], k);
    assert.deepEqual(m.user_id, Buffer.from('alice'));
    assert.equal(m.absolute_expiry_time.getTime(), expiry.getTime());
    assert.equal(m.creation_time.getTime(), created.getTime());
    assert.deepEqual(m.application_properties, msg.application_properties);
    assert.deepEqual(m.footer, { 'x-f': 'foot' });
    assert.equal(m.body, 'hello sections');
    // byte for byte (rhea puts the footer before the body; the broker sends the specified order)
    const a = sections(raw);
    const e = sections(sent);
    for (const [code, bytes] of e) assert.deepEqual(a.get(code), bytes, `section 0x${code.toString(16)}`);
  });

  it('typed values round-trip byte for byte (no re-encoding: a ubyte stays a ubyte)', async () => {
    const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const msg = {
      application_properties: {
        ub: t.wrap_ubyte(200),
        by: t.wrap_byte(-3),
        sh: t.wrap_short(-300),
        us: t.wrap_ushort(60000),
        ui: t.wrap_uint(7),
        lo: t.wrap_long(5),
        ul: t.wrap_ulong(2 ** 40),
        fl: t.wrap_float(1.5),
        ch: t.wrap_char(0x263a),
        sym: t.wrap_symbol('sym'),
        ts: t.wrap_timestamp(1_700_000_000_000),
        uu: t.wrap_uuid(uuid),
        bin: Buffer.from([0, 1, 2]),
      },
      body: t.wrap_map({ k: t.wrap_ubyte(1), l: t.wrap_list([t.wrap_short(2), t.wrap_symbol('x')]), a: t.wrap_array([1, 2, 3], 0x71) }),
    };
    const { raw, sent } = await roundTrip('map.typed', msg);
    const a = sections(raw);
    const e = sections(sent);
    assert.deepEqual(a.get(0x74), e.get(0x74), 'application-properties bytes');
    assert.deepEqual(a.get(0x75), e.get(0x75), 'body bytes');
    // the broker still understands them (selectors, other protocols)
    const decoded = decodeMessage(sent, { defaultKind: 'queue' }).message;
    assert.equal(decoded.properties.ub, 200);
    assert.equal(decoded.properties.ch, '☺');
    assert.equal(decoded.properties.sym, 'sym');
    assert.equal(decoded.properties.uu, '00112233-4455-6677-8899-aabbccddeeff');
    assert.equal(decoded.bodyType, 'map');
    assert.deepEqual(JSON.parse(decoded.body.toString()), { k: 1, l: [2, 'x'], a: [1, 2, 3] });
  });

  const bodies: Array<[string, Any, (m: Any) => void]> = [
    ['data (one section)', { body: M.data_section(Buffer.from([1, 2, 3, 0, 255])) }, (m) => assert.deepEqual(m.body.content, Buffer.from([1, 2, 3, 0, 255]))],
    ['data (several sections)', { body: M.data_sections([Buffer.from('ab'), Buffer.from('cd')]) }, (m) => assert.deepEqual(m.body.content, [Buffer.from('ab'), Buffer.from('cd')])],
    ['amqp-value string', { body: 'héllo' }, (m) => assert.equal(m.body, 'héllo')],
    ['amqp-value binary', { body: Buffer.from('bin') }, (m) => assert.deepEqual(m.body, Buffer.from('bin'))],
    ['amqp-value null', { body: null }, (m) => assert.equal(m.body, null)],
    ['amqp-value map', { body: { a: 1, b: 'two', c: [1, 2] } }, (m) => assert.deepEqual(m.body, { a: 1, b: 'two', c: [1, 2] })],
    ['amqp-value list', { body: [1, 'x', true] }, (m) => assert.deepEqual(m.body, [1, 'x', true])],
    ['amqp-value int', { body: 42 }, (m) => assert.equal(m.body, 42)],
    ['amqp-sequence', { body: M.sequence_section([1, 2, 'three']) }, (m) => assert.deepEqual(m.body.content, [1, 2, 'three'])],
    ['amqp-sequences', { body: M.sequence_sections([[1], ['b']]) }, (m) => assert.deepEqual(m.body.content, [[1], ['b']])],
  ];
  for (const [name, msg, check] of bodies) {
    it(`body: ${name}`, async () => {
      const q = `map.body.${name.replace(/[^a-z]/g, '')}`;
      const { message, raw, sent } = await roundTrip(q, msg);
      check(message);
      assert.deepEqual(sections(raw).get(0x75), sections(sent).get(0x75));
    });
  }

  it('a message the broker changed (dead-lettered) is re-encoded with its new properties, body untouched', async () => {
    const s = await c.sender('map.dlq');
    await s.send({ body: M.data_section(Buffer.from('payload')), application_properties: { ub: t.wrap_ubyte(9) }, message_id: 'dl-1' });
    const r = await c.receiver('map.dlq', { autoaccept: false });
    const m = await r.next();
    m.delivery.reject({ condition: 'x:y', description: 'nope' });
    const d = await c.receiver('DLQ.map.dlq');
    const dm = await d.next();
    assert.deepEqual(dm.message.body.content, Buffer.from('payload'));
    assert.equal(dm.message.message_id, 'dl-1');
    assert.equal(dm.message.application_properties.ub, 9);
    assert.equal(dm.message.application_properties.dlqDeliveryFailureCause, 'nope');
    assert.equal(dm.message.application_properties.originalDestination, 'queue://map.dlq');
  });

  it('messages from other protocols: Qpid JMS annotations, properties, body sections', async () => {
    const engine = b.broker.engine;
    const cases: Array<[string, Partial<Parameters<typeof createMessage>[0]>, number, (m: Any) => void]> = [
      ['text', { bodyType: 'text', body: Buffer.from('plain text') }, 5, (m) => assert.equal(m.body, 'plain text')],
      ['bytes', { bodyType: 'bytes', body: Buffer.from([9, 8, 7]) }, 3, (m) => assert.deepEqual(m.body.content, Buffer.from([9, 8, 7]))],
      ['map', { bodyType: 'map', body: Buffer.from('{"a":1,"b":"x"}') }, 2, (m) => assert.deepEqual(m.body, { a: 1, b: 'x' })],
      ['stream', { bodyType: 'stream', body: Buffer.from('[1,"two"]') }, 4, (m) => assert.deepEqual(m.body.content, [1, 'two'])],
      ['object', { bodyType: 'object', body: Buffer.from([0xac, 0xed]) }, 1, (m) => assert.equal(m.content_type, 'application/x-java-serialized-object')],
      ['empty', { bodyType: 'empty', body: Buffer.alloc(0) }, 0, (m) => assert.equal(m.body, null)],
    ];
    const r = await c.receiver('map.foreign');
    for (const [name, init, msgType, check] of cases) {
      await engine.send(
        createMessage({
          ...init,
          messageId: `ID:foreign-${name}`,
          priority: 6,
          durable: true,
          correlationId: 'corr',
          replyTo: 'topic://replies.t',
          type: 'JMSType-x',
          groupId: 'grp',
          groupSeq: 2,
          userId: 'bob',
          expiration: Date.now() + 60_000,
          properties: { str: 's', int: 7, long: 2n ** 40n, dbl: 2.5, bool: false, nul: null, bin: Buffer.from('b') },
        }),
        { kind: 'queue', name: 'map.foreign' },
      );
      const m = (await r.next()).message;
      assert.equal(m.message_annotations['x-opt-jms-msg-type'], msgType, name);
      assert.equal(m.message_annotations['x-opt-jms-dest'], 0);
      assert.equal(m.message_annotations['x-opt-jms-reply-type'], 1);
      assert.equal(m.message_id, `ID:foreign-${name}`);
      assert.equal(m.to, 'map.foreign');
      assert.equal(m.reply_to, 'topic://replies.t');
      assert.equal(m.correlation_id, 'corr');
      assert.equal(m.subject, 'JMSType-x');
      assert.equal(m.group_id, 'grp');
      assert.equal(m.group_sequence, 2);
      assert.deepEqual(m.user_id, Buffer.from('bob'));
      assert.equal(m.priority, 6);
      assert.equal(m.durable, true);
      assert.ok(m.ttl > 0 && m.absolute_expiry_time instanceof Date);
      assert.equal(m.application_properties.str, 's');
      assert.equal(m.application_properties.int, 7);
      assert.equal(m.application_properties.long, 2 ** 40);
      assert.equal(m.application_properties.dbl, 2.5);
      assert.equal(m.application_properties.bool, false);
      assert.equal(m.application_properties.nul, null);
      assert.deepEqual(m.application_properties.bin, Buffer.from('b'));
      check(m);
    }
  });
});

describe('AMQP: mapping units', () => {
  it('JMS annotations in: x-opt-jms-dest / reply-type / msg-type, x-opt-delivery-time, ttl', () => {
    const now = 1_000_000;
    const raw = M.encode({
      ttl: 5000,
      message_annotations: { 'x-opt-jms-msg-type': t.wrap_byte(5), 'x-opt-jms-reply-type': t.wrap_byte(3), 'x-opt-delivery-time': t.wrap_timestamp(now + 9000) },
      reply_to: 'temp.x.1',
      body: M.data_section(Buffer.from('txt')),
    });
    const { message } = decodeMessage(raw, { defaultKind: 'queue' }, now);
    assert.equal(message.replyTo, 'temp-topic://temp.x.1');
    assert.equal(message.bodyType, 'text');
    assert.equal(message.deliveryTime, now + 9000);
    assert.equal(message.expiration, now + 5000);
    assert.equal(message.durable, false, 'AMQP default: not durable');
  });

  it('a redelivery header: delivery-count and first-acquirer', () => {
    const m = decodeMessage(M.encode({ body: 'x' }), { defaultKind: 'queue' }).message;
    const h = scanMessage(encodeDelivery(m, { deliveryCount: 2, redelivered: true }, { defaultKind: 'queue' })).header!;
    const f = h.value!.value as Array<{ value: unknown }>;
    assert.equal(f[3]!.value, false);
    assert.equal(f[4]!.value, 2);
    const h2 = scanMessage(encodeDelivery(m, { deliveryCount: 0, redelivered: true }, { defaultKind: 'queue' })).header!;
    assert.equal((h2.value!.value as Array<{ value: unknown }>)[4]!.value, 1, 'redelivered without a counted failure still shows 1');
  });

  it('malformed message bytes are a DecodeError', () => {
    for (const bad of [Buffer.from([0x00, 0x53, 0x77, 0xa1, 0x10, 0x41]), Buffer.from([0x01, 0x02]), Buffer.from([0x00, 0x53, 0x99, 0x40]), Buffer.from([0x00, 0x53, 0x75, 0xa1, 0x01, 0x41])]) {
      assert.throws(() => decodeMessage(bad, { defaultKind: 'queue' }), (e: Error) => e.name === 'DecodeError', bad.toString('hex'));
    }
  });
});
