/**
 * MQTT 5 §3.3.2.3.7 [MQTT-3.3.2-18]: the server keeps the order of User Properties when it forwards a message.
 * mqtt-packet decodes them into a record (repeated names grouped, integer-like names sorted first), so the
 * adapter re-reads the wire order when the record would change it. Found by paho-python (interop-more.test.ts).
 */
import assert from 'node:assert/strict';
import { publishUserProperties, willUserProperties } from '../../../protocols/mqtt/codec.js';
import { endAll, rawClient, startBroker, until, type RawClient, type TestBroker } from './helpers.js';

const str = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};
const pair = (k: string, v: string) => Buffer.concat([Buffer.from([0x26]), str(k), str(v)]);

/** A v5 PUBLISH (QoS 1, packet id 1) with the given user properties in this order, plus a content type. */
function publish(topic: string, payload: string, pairs: Array<[string, string]>): Buffer {
  const props = Buffer.concat([Buffer.from([0x03]), str('text/plain'), ...pairs.map(([k, v]) => pair(k, v))]);
  const body = Buffer.concat([str(topic), Buffer.from([0, 1, props.length]), props, Buffer.from(payload)]);
  assert.ok(body.length < 128 && props.length < 128);
  return Buffer.concat([Buffer.from([0x32, body.length]), body]);
}

/** A v5 CONNECT (clean start, keep-alive 30, a connect property) whose will carries these user properties in order. */
function connectWithWill(clientId: string, topic: string, payload: string, pairs: Array<[string, string]>): Buffer {
  const connectProps = Buffer.from([0x11, 0, 0, 0, 0]); // session expiry 0
  const willProps = Buffer.concat([Buffer.from([0x18, 0, 0, 0, 0]), Buffer.from([0x03]), str('text/plain'), ...pairs.map(([k, v]) => pair(k, v))]);
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([5, 0x02 | 0x04 | 0x08, 0, 30]), // level 5; clean start, will flag, will QoS 1
    Buffer.from([connectProps.length]),
    connectProps,
    str(clientId),
    Buffer.from([willProps.length]),
    willProps,
    str(topic),
    str(payload),
  ]);
  assert.ok(body.length < 128 && willProps.length < 128);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Every byte the broker sends to a raw client (its own parser would regroup the properties). */
function capture(rc: RawClient): () => Buffer {
  const chunks: Buffer[] = [];
  rc.socket.on('data', (d: Buffer) => chunks.push(d));
  return () => Buffer.concat(chunks);
}

const ORDER: Array<[string, string]> = [
  ['a', '1'],
  ['b', 'two'],
  ['a', '3'],
  ['2', 'x'],
  ['1', 'y'],
  ['ünï', 'cödé ✓'],
];
const wire = Buffer.concat(ORDER.map(([k, v]) => pair(k, v)));

describe('MQTT 5 user property order', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(async () => {
    await endAll();
    await b.stop();
  });

  it('publishUserProperties reads the pairs of a PUBLISH in wire order', () => {
    assert.deepEqual(publishUserProperties(publish('t/x', 'p', ORDER), 2), ORDER);
    assert.deepEqual(publishUserProperties(publish('t/x', 'p', []), 2), []);
  });

  it('willUserProperties reads the pairs of a v5 CONNECT will in wire order', () => {
    assert.deepEqual(willUserProperties(connectWithWill('w', 't/w', 'bye', ORDER), 2), ORDER);
  });

  it("a will's user properties reach the subscriber in the order the CONNECT sent them", async () => {
    const sub = await rawClient(b.port, 5, { clientId: 'upo-will-sub' });
    const bytes = capture(sub);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'upo/will', qos: 1 }] });
    await sub.waitFor((p) => p.cmd === 'suback');
    const dying = await rawClient(b.port, 5);
    dying.socket.write(connectWithWill('upo-will', 'upo/will', 'gone', ORDER));
    await dying.waitFor((p) => p.cmd === 'connack');
    dying.socket.destroy(); // abnormal end: the will is published
    const got = await sub.waitFor((p) => p.cmd === 'publish', 5000, 'the will');
    assert.equal(got.payload.toString(), 'gone');
    assert.ok(bytes().includes(wire), 'will user properties in order on the wire');
    sub.destroy();
  });

  it('interleaved repeated names and integer-like names reach a live subscriber in the order they were sent', async () => {
    const sub = await rawClient(b.port, 5, { clientId: 'upo-sub' });
    const bytes = capture(sub);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'upo/live', qos: 1 }] });
    await sub.waitFor((p) => p.cmd === 'suback');
    const pub = await rawClient(b.port, 5, { clientId: 'upo-pub' });
    pub.socket.write(publish('upo/live', 'hello', ORDER));
    await pub.waitFor((p) => p.cmd === 'puback');
    await until(() => bytes().includes(wire), 5000, 'user properties in order on the wire');
    const got = await sub.waitFor((p) => p.cmd === 'publish');
    assert.equal(got.payload.toString(), 'hello');
    assert.equal(got.properties.contentType, 'text/plain');
    pub.destroy();
    sub.destroy();
  });

  it('the order survives a persistent session queue and a broker restart', async () => {
    const sub = await rawClient(b.port, 5, { clientId: 'upo-persist', clean: true, properties: { sessionExpiryInterval: 300 } });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'upo/persist', qos: 1 }] });
    await sub.waitFor((p) => p.cmd === 'suback');
    sub.send({ cmd: 'disconnect' });
    await sub.waitClose();
    const pub = await rawClient(b.port, 5, { clientId: 'upo-pub2' });
    pub.socket.write(publish('upo/persist', 'stored', ORDER));
    await pub.waitFor((p) => p.cmd === 'puback');
    pub.destroy();
    await b.restart();
    const back = await rawClient(b.port, 5);
    const bytes = capture(back);
    back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'upo-persist', clean: false, keepalive: 30, properties: { sessionExpiryInterval: 300 } });
    const got = await back.waitFor((p) => p.cmd === 'publish');
    assert.equal(got.payload.toString(), 'stored');
    assert.ok(bytes().includes(wire), 'user properties in order after the restart');
    back.destroy();
  });
});
