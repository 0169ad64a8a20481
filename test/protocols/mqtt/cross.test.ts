/** MQTT ⇄ STOMP and MQTT ⇄ engine: one topic namespace (`a/b` ⇄ `a.b` ⇄ `/topic/a.b`), payload bytes untouched. */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { createMessage } from '../../../src/core/message.js';
import type { Message } from '../../../src/core/message.js';
import { mqttModule } from '../../../protocols/mqtt/index.js';
import { stompModule } from '../../../protocols/stomp/index.js';
import { client, collect, endAll, rawSocket, startBroker, until, type TestBroker } from './helpers.js';

/** A minimal STOMP 1.2 client on raw frames. */
async function stomp(port: number) {
  const s: net.Socket = await rawSocket(port);
  let buf = Buffer.alloc(0);
  const frames: Array<{ command: string; headers: Record<string, string>; body: Buffer }> = [];
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      while (buf.length && (buf[0] === 10 || buf[0] === 13)) buf = buf.subarray(1);
      const end = buf.indexOf('\n\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString().split('\n');
      const headers: Record<string, string> = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0 && !(l.slice(0, i) in headers)) headers[l.slice(0, i)] = l.slice(i + 1);
      }
      const start = end + 2;
      let stop: number;
      if (headers['content-length'] !== undefined) stop = start + Number(headers['content-length']);
      else stop = buf.indexOf(0, start);
      if (stop < 0 || buf.length < stop + 1) return;
      frames.push({ command: head[0], headers, body: buf.subarray(start, stop) });
      buf = buf.subarray(stop + 1);
    }
  });
  const send = (command: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)) => {
    const h = Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join('');
    s.write(Buffer.concat([Buffer.from(`${command}\n${h}\n`), body, Buffer.from([0])]));
  };
  send('CONNECT', { 'accept-version': '1.2', host: 'localhost' });
  await until(() => frames.some((f) => f.command === 'CONNECTED'), 5000, 'STOMP CONNECTED');
  return { frames, send, close: () => s.destroy() };
}

describe('MQTT cross-protocol', function () {
  this.timeout(15_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({}, [mqttModule, stompModule]);
  });
  after(async () => {
    await endAll();
    await b.stop();
  });

  it('MQTT → STOMP and STOMP → MQTT on the same topic', async () => {
    const stompPort = b.broker.listenerAddresses().stomp.port;
    const st = await stomp(stompPort);
    st.send('SUBSCRIBE', { id: '1', destination: '/topic/cross.a.b', ack: 'auto', receipt: 'r1' });
    await until(() => st.frames.some((f) => f.command === 'RECEIPT'));
    const m = await client(b, { protocolVersion: 5 });
    const payload = Buffer.from([1, 2, 3, 0, 255]);
    await m.publishAsync('cross/a/b', payload, { qos: 1, properties: { userProperties: { colour: 'red' }, contentType: 'application/x-bin' } });
    await until(() => st.frames.some((f) => f.command === 'MESSAGE'));
    const msg = st.frames.find((f) => f.command === 'MESSAGE')!;
    assert.deepEqual(msg.body, payload);
    assert.equal(msg.headers.colour, 'red');
    assert.equal(msg.headers.persistent, 'true', 'QoS 1 is a persistent message');

    const got = collect(m);
    await m.subscribeAsync('cross/back/#', { qos: 1 });
    st.send('SEND', { destination: '/topic/cross.back.x', persistent: 'true', 'content-type': 'text/plain', flavour: 'mint' }, Buffer.from('from stomp'));
    const [r] = await got.wait(1);
    assert.equal(r.topic, 'cross/back/x');
    assert.equal(r.payload.toString(), 'from stomp');
    assert.equal(r.packet.qos, 1, 'persistent STOMP message arrives at QoS 1');
    assert.equal(r.packet.properties?.userProperties?.flavour, 'mint');
    assert.equal(r.packet.properties?.contentType, 'text/plain');
    st.close();
  });

  it('MQTT ⇄ engine: an engine topic subscriber and sender share the namespace', async () => {
    const seen: Message[] = [];
    const cons = await b.broker.engine.subscribe({ address: { kind: 'topic', name: 'eng.*' }, prefetch: 10, autoAck: true, onMessage: (d) => seen.push(d.message) });
    const m = await client(b, { protocolVersion: 4 });
    await m.publishAsync('eng/one', 'q0', { qos: 0 });
    await m.publishAsync('eng/two', 'q1', { qos: 1 });
    await until(() => seen.length === 2);
    assert.deepEqual(seen.map((x) => [x.destination, x.body.toString(), x.durable]), [
      ['topic://eng.one', 'q0', false],
      ['topic://eng.two', 'q1', true],
    ]);
    cons.close();
    const got = collect(m);
    await m.subscribeAsync('eng/#', { qos: 1 });
    await b.broker.engine.send(createMessage({ body: Buffer.from('from engine'), durable: false }), { kind: 'topic', name: 'eng.three' });
    const [r] = await got.wait(1);
    assert.equal(r.topic, 'eng/three');
    assert.equal(r.packet.qos, 0, 'non-persistent message arrives at QoS 0');
  });
});
