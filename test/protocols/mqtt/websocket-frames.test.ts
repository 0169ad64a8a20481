/**
 * On WebSocket every MQTT packet leaves in its own WebSocket message. MQTT-6.0.0-2 allows several per frame, but
 * the Eclipse Paho C client 1.3.x leaves the later packets of a frame unread until more bytes arrive (a SUBACK
 * behind a retained PUBLISH waited ~10 s for the next PINGRESP; interop-more.test.ts).
 */
import assert from 'node:assert/strict';
import { generate } from 'mqtt-packet';
import WebSocket from 'ws';
import { splitPackets } from '../../../protocols/mqtt/framer.js';
import { client, endAll, startBroker, until, type TestBroker } from './helpers.js';

/** Remaining Length + header = the packet's size, read from its first bytes. */
function packetSize(b: Buffer): number {
  let i = 1;
  let value = 0;
  let mul = 1;
  for (;;) {
    const x = b[i++];
    value += (x & 0x7f) * mul;
    mul *= 128;
    if ((x & 0x80) === 0) break;
  }
  return i + value;
}

describe('MQTT over WebSocket: one packet per message', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker();
  });
  after(async () => {
    await endAll();
    await b.stop();
  });

  it('splitPackets cuts a byte run into whole packets (views)', () => {
    const a = generate({ cmd: 'publish', topic: 'x', payload: Buffer.alloc(300, 1), qos: 1, messageId: 7, dup: false, retain: false }, { protocolVersion: 4 });
    const s = generate({ cmd: 'suback', messageId: 1, granted: [1] }, { protocolVersion: 4 });
    const p = Buffer.from([0xd0, 0]);
    const parts = splitPackets(Buffer.concat([a, s, p]));
    assert.deepEqual(parts.map((x) => x.length), [a.length, s.length, 2]);
    assert.deepEqual(parts[0], a);
  });

  it('a retained PUBLISH and the SUBACK of one SUBSCRIBE, and a burst of QoS 0 messages, arrive in separate WebSocket messages', async () => {
    const pub = await client(b, { protocolVersion: 4 });
    await pub.publishAsync('wsf/ret', 'kept', { qos: 1, retain: true });
    const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt');
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'wsf', clean: true, keepalive: 30 }, { protocolVersion: 4 }));
    await until(() => frames.length >= 1, 5000, 'CONNACK');
    ws.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wsf/#', qos: 1 }] }, { protocolVersion: 4 }));
    await until(() => frames.length >= 3, 5000, 'SUBACK and the retained PUBLISH');
    for (let i = 0; i < 20; i++) pub.publish('wsf/burst', `m${i}`, { qos: 0 });
    await until(() => frames.length >= 23, 5000, '20 QoS 0 messages');
    ws.close();
    for (const f of frames) assert.equal(packetSize(f), f.length, `one whole packet per message (first byte 0x${f[0].toString(16)})`);
    assert.deepEqual(frames.slice(1, 3).map((f) => f[0] >> 4).sort(), [3, 9], 'PUBLISH and SUBACK');
  });

  it('a packet in a text WebSocket message closes the connection with 1003 (MQTT-6.0.0-1), binary ones are served', async () => {
    const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'wstext', clean: true, keepalive: 30 }, { protocolVersion: 4 });
    const open = async (): Promise<{ ws: WebSocket; frames: Buffer[]; closed: Promise<number> }> => {
      const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt');
      const frames: Buffer[] = [];
      ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)));
      const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
      await new Promise((r, j) => {
        ws.once('open', r);
        ws.once('error', j);
      });
      return { ws, frames, closed };
    };
    const text = await open();
    text.ws.send(connect.toString('latin1')); // a string is sent as a text message
    assert.equal(await text.closed, 1003);
    assert.equal(text.frames.length, 0, 'no CONNACK for a text message');

    const bin = await open();
    bin.ws.send(connect);
    await until(() => bin.frames.length >= 1, 5000, 'CONNACK');
    assert.equal(bin.frames[0]![0], 0x20);
    bin.ws.close();
  });
});
