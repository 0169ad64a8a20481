/**
 * Garbage in: random bytes, mutated valid packets, bad Remaining Length, oversized announcements, wrong fixed
 * header flags and packets before CONNECT, over many connections. Every one must end in a closed connection
 * (or be ignored), never a crash; the broker must stay up and a good client must keep working.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'mqtt-packet';
import { client, collect, endAll, rawClient, rawSocket, readUntilClose, sleep, startBroker, type TestBroker } from './helpers.js';

/** Deterministic PRNG so a failure can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function validPackets(v: 4 | 5): Buffer[] {
  const o = { protocolVersion: v };
  const props = v === 5 ? { properties: { userProperties: { a: 'b' }, contentType: 'x', messageExpiryInterval: 10 } } : {};
  return [
    generate({ cmd: 'publish', topic: 'g/a', payload: Buffer.from('hello'), qos: 1, messageId: 3, dup: false, retain: false, ...props } as never, o),
    generate({ cmd: 'publish', topic: 'g/b', payload: Buffer.from('x'), qos: 2, messageId: 4, dup: false, retain: true } as never, o),
    generate({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'g/#', qos: 1 }] } as never, o),
    generate({ cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['g/#'] } as never, o),
    generate({ cmd: 'pubrel', messageId: 4 } as never, o),
    generate({ cmd: 'puback', messageId: 9 } as never, o),
    generate({ cmd: 'pingreq' } as never, o),
  ];
}

function connect(v: 4 | 5, id: string): Buffer {
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clientId: id, clean: true, keepalive: 5 } as never, { protocolVersion: v });
}

function mutate(buf: Buffer, r: () => number): Buffer {
  const b = Buffer.from(buf);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const k = r();
    const at = Math.floor(r() * b.length);
    if (k < 0.5) b[at] = Math.floor(r() * 256);
    else if (k < 0.7) b[at] ^= 1 << Math.floor(r() * 8);
    else if (k < 0.85) return b.subarray(0, at);
    else return Buffer.concat([b, randomBytes(Math.floor(r() * 20))]);
  }
  return b;
}

describe('MQTT garbage input', function () {
  this.timeout(120_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ mqtt: { maxPacketSize: 256 * 1024, connectTimeout: 1000 } });
  });
  after(async () => {
    await endAll();
    await b.stop();
  });

  async function goodClientWorks(tag: string): Promise<void> {
    const c = await client(b, { protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync(`alive/${tag}`, { qos: 1 });
    await c.publishAsync(`alive/${tag}`, 'ok', { qos: 1 });
    await got.wait(1);
    c.end(true);
  }

  /** Send bytes on a fresh connection; wait for the broker to close it (or a short while). */
  async function shoot(chunks: Buffer[], waitMs = 300): Promise<boolean> {
    const s = await rawSocket(b.port);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    const closed = new Promise<boolean>((r) => {
      s.once('close', () => r(true));
      setTimeout(() => r(false), waitMs);
    });
    for (const c of chunks) if (!s.destroyed) s.write(c);
    const wasClosed = await closed;
    s.destroy();
    return wasClosed;
  }

  it('packets before CONNECT close the connection at once', async () => {
    for (const p of [...validPackets(4), Buffer.from([0x00, 0x00]), Buffer.from([0xf0, 0x00]), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) {
      assert.equal(await shoot([p], 1000), true, `closed after ${p.subarray(0, 4).toString('hex')}`);
    }
    await goodClientWorks('before');
  });

  it('a CONNECT at a protocol level other than 3, 4 or 5 gets CONNACK 0x01 (unacceptable protocol version), then the close', async () => {
    // [MQTT-3.1.2-2]; mosquitto and ActiveMQ answer so, and a client of a newer MQTT reads it to fall back
    for (const [name, level] of [['MQTT', 6], ['MQTT', 0], ['MQTT', 2], ['MQIsdp', 4]] as const) {
      const good = connect(4, `level-${level}`);
      const bad = Buffer.from(good);
      if (name === 'MQIsdp') {
        // a 3.1 name with the 3.1.1 level: the name/level pair is refused the same way (0x01)
        const body = Buffer.concat([Buffer.from([0x00, 0x06]), Buffer.from('MQIsdp'), Buffer.from([level]), good.subarray(2 + 6 + 1)]);
        const s = await rawSocket(b.port);
        s.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
        assert.equal((await readUntilClose(s, 3000)).toString('hex'), '20020001', `${name} level ${level}`);
        continue;
      }
      bad[2 + 2 + 4] = level; // fixed header, name length, 'MQTT', then the level
      const s = await rawSocket(b.port);
      s.write(bad);
      assert.equal((await readUntilClose(s, 3000)).toString('hex'), '20020001', `${name} level ${level}`);
    }
    await goodClientWorks('level');
  });

  it('SUBSCRIBE / UNSUBSCRIBE without a topic filter: v5 DISCONNECT with a protocol error, 3.1.1 closes', async () => {
    for (const [name, bytes5, bytes4] of [
      ['UNSUBSCRIBE', [0xa2, 0x03, 0x00, 0x01, 0x00], [0xa2, 0x02, 0x00, 0x01]],
      ['SUBSCRIBE', [0x82, 0x03, 0x00, 0x01, 0x00], [0x82, 0x02, 0x00, 0x01]],
    ] as const) {
      const c5 = await rawClient(b.port, 5, { clientId: `empty5-${name}` });
      c5.socket.write(Buffer.from(bytes5));
      const d = await c5.waitFor((p) => p.cmd === 'disconnect', 3000, `DISCONNECT after an empty ${name}`);
      assert.ok(d.reasonCode === 0x82 || d.reasonCode === 0x81, `${name}: reason 0x${d.reasonCode.toString(16)}`);
      await c5.waitClose();
      assert.ok(!c5.packets.some((p) => p.cmd === 'unsuback' || p.cmd === 'suback'), `${name}: no ack for an empty payload`);
      const c4 = await rawClient(b.port, 4, { clientId: `empty4-${name}` });
      c4.socket.write(Buffer.from(bytes4));
      await c4.waitClose();
      assert.ok(!c4.packets.some((p) => p.cmd === 'unsuback' || p.cmd === 'suback'), `${name}: no ack for an empty payload (3.1.1)`);
    }
    await goodClientWorks('empty');
  });

  it('a string field that is not well-formed UTF-8, a Packet Identifier 0, a repeated property: v5 DISCONNECT 0x81 / 0x82, 3.1.1 closes', async () => {
    const str = (b: number[]) => [b.length >> 8, b.length & 0xff, ...b];
    const badTopic = [0x61, 0x2f, 0xff, 0xfe]; // a/ then two bytes no UTF-8 sequence starts with
    const surrogate = [0x61, 0xed, 0xa0, 0x80]; // an encoded U+D800 [MQTT-1.5.3-1]
    const cases: Array<[string, (v: 4 | 5) => number[], number]> = [
      ['PUBLISH topic 0xff', (v) => [0x30, 2 + 4 + (v === 5 ? 1 : 0) + 1, ...str(badTopic), ...(v === 5 ? [0] : []), 0x78], 0x81],
      ['PUBLISH topic surrogate', (v) => [0x32, 2 + 4 + 2 + (v === 5 ? 1 : 0), ...str(surrogate), 0, 1, ...(v === 5 ? [0] : [])], 0x81],
      ['SUBSCRIBE filter 0xff', (v) => [0x82, 2 + (v === 5 ? 1 : 0) + 6 + 1, 0, 1, ...(v === 5 ? [0] : []), ...str(badTopic), 1], 0x81],
      ['UNSUBSCRIBE filter 0xff', (v) => [0xa2, 2 + (v === 5 ? 1 : 0) + 6, 0, 1, ...(v === 5 ? [0] : []), ...str(badTopic)], 0x81],
      ['PUBLISH QoS 1 Packet Identifier 0', (v) => [0x32, 3 + 2 + (v === 5 ? 1 : 0), ...str([0x61]), 0, 0, ...(v === 5 ? [0] : [])], 0x82],
      ['SUBSCRIBE Packet Identifier 0', (v) => [0x82, 2 + (v === 5 ? 1 : 0) + 3 + 1, 0, 0, ...(v === 5 ? [0] : []), ...str([0x61]), 1], 0x82],
    ];
    const watcher = await client(b, { protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync(['a', 'a/#'], { qos: 1 });
    for (const [name, bytes, rc] of cases) {
      const c5 = await rawClient(b.port, 5, { clientId: `utf8-5-${name}` });
      c5.socket.write(Buffer.from(bytes(5)));
      const d = await c5.waitFor((p) => p.cmd === 'disconnect', 3000, `DISCONNECT after ${name}`);
      assert.equal(d.reasonCode, rc, name);
      await c5.waitClose();
      assert.ok(!c5.packets.some((p) => p.cmd === 'suback' || p.cmd === 'unsuback' || p.cmd === 'puback'), `${name}: not acknowledged`);
      const c4 = await rawClient(b.port, 4, { clientId: `utf8-4-${name}` });
      c4.socket.write(Buffer.from(bytes(4)));
      await c4.waitClose();
      assert.ok(!c4.packets.some((p) => p.cmd === 'suback' || p.cmd === 'unsuback' || p.cmd === 'puback'), `${name}: not acknowledged (3.1.1)`);
    }
    // a v5 User Property name of bad bytes (decoded by mqtt-packet, not the fast path)
    const c5 = await rawClient(b.port, 5, { clientId: 'utf8-5-userprop' });
    c5.socket.write(Buffer.from([0x30, 3 + 8 + 1, ...str([0x61]), 7, 0x26, 0, 1, 0xff, 0, 1, 0x61, 0x78]));
    assert.equal((await c5.waitFor((p) => p.cmd === 'disconnect', 3000, 'DISCONNECT after a bad User Property')).reasonCode, 0x81);
    // a property other than User Property given twice (Payload Format Indicator) is a Protocol Error [MQTT 5 §2.2.2.2]
    const twice = await rawClient(b.port, 5, { clientId: 'dup-property' });
    twice.socket.write(Buffer.from([0x30, 3 + 5 + 1, ...str([0x61]), 4, 0x01, 0x00, 0x01, 0x00, 0x78]));
    assert.equal((await twice.waitFor((p) => p.cmd === 'disconnect', 3000, 'DISCONNECT after a repeated property')).reasonCode, 0x82);
    // a CONNECT whose Client Identifier is bad bytes is refused: no CONNACK 0, the connection closed
    for (const v of [4, 5] as const) {
      const s = await rawSocket(b.port);
      s.write(Buffer.from([0x10, 10 + (v === 5 ? 1 : 0) + 4, ...str([0x4d, 0x51, 0x54, 0x54]), v, 0x02, 0, 30, ...(v === 5 ? [0] : []), ...str([0xc3, 0x28])]));
      const r = await readUntilClose(s, 3000);
      assert.ok(r.length === 0 || (r[0] === 0x20 && r[3] !== 0), `v${v} CONNECT: ${r.toString('hex')}`);
    }
    // a genuine U+FFFD (encoded EF BF BD) is a valid character, delivered as sent
    const ok = await client(b, { protocolVersion: 5 });
    const inbox = collect(ok);
    await ok.subscribeAsync('utf8/\uFFFD', { qos: 1 });
    await ok.publishAsync('utf8/\uFFFD', 'fine', { qos: 1 });
    await inbox.wait(1);
    ok.end(true);
    assert.deepEqual(got.texts(), [], 'nothing malformed was delivered');
    await goodClientWorks('utf8');
  });

  it('a malformed packet pipelined behind CONNECT: the CONNACK first, then v5 DISCONNECT 0x81 (3.1.1: the close)', async () => {
    const { parser: mkParser } = await import('mqtt-packet');
    for (const v of [4, 5] as const) {
      const s = await rawSocket(b.port);
      s.write(Buffer.concat([connect(v, `pipelined-${v}`), Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61])])); // a PUBLISH at QoS 3, same write
      const got: Array<{ cmd: string; reasonCode?: number; returnCode?: number }> = [];
      const parser = mkParser({ protocolVersion: v });
      parser.on('packet', (p) => got.push(p as never));
      parser.parse(await readUntilClose(s, 3000));
      assert.deepEqual(got.map((p) => p.cmd), v === 5 ? ['connack', 'disconnect'] : ['connack'], `v${v}`);
      assert.equal(v === 5 ? got[0].reasonCode : got[0].returnCode, 0);
      if (v === 5) assert.equal(got[1].reasonCode, 0x81);
    }
    await goodClientWorks('pipelined');
  });

  it('a CONNECT (or another packet) with bytes after its last field is malformed: closed, never CONNACK 0', async () => {
    for (const v of [4, 5] as const) {
      const good = connect(v, `trailing-${v}`);
      assert.ok(good[1] < 0x7d, 'a one-byte Remaining Length to patch');
      const bad = Buffer.concat([good, Buffer.from([0xde, 0xad, 0x01])]);
      bad[1] += 3;
      const s = await rawSocket(b.port);
      s.write(bad);
      const got = await readUntilClose(s, 3000);
      // v5 may answer CONNACK 0x81 (malformed) before closing; success (0) never
      assert.ok(got.length === 0 || (got[0] === 0x20 && got[got.length > 3 ? 3 : 2] !== 0x00), `v${v}: ${got.toString('hex')}`);
    }
    // after CONNECT: a PUBACK carrying extra bytes
    const c4 = await rawClient(b.port, 4, { clientId: 'trailing-puback' });
    c4.socket.write(Buffer.from([0x40, 0x04, 0x00, 0x09, 0xff, 0xff]));
    await c4.waitClose();
    await goodClientWorks('trailing');
  });

  it('bad Remaining Length, oversized announcements and wrong flags close the connection', async () => {
    const cases: Buffer[][] = [
      [Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])], // 5-byte varint
      [Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])], // CONNECT announcing 256 MiB
      [connect(4, 'g1'), Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3])], // PUBLISH announcing 256 MiB
      [connect(5, 'g2'), Buffer.from([0x30, 0x80, 0x80, 0x40])], // 1 MiB > 256 KiB limit
      [connect(4, 'g3'), Buffer.from([0x82, 0x00])], // SUBSCRIBE with wrong flags and no payload
      [connect(4, 'g4'), Buffer.from([0x80, 0x05, 0, 1, 0, 1, 0x61])], // SUBSCRIBE flags 0 instead of 2
      [connect(4, 'g5'), Buffer.from([0x36, 0x04, 0, 1, 0x61, 0])], // PUBLISH QoS 3
      [connect(4, 'g6'), connect(4, 'g6')], // second CONNECT
      [connect(4, 'g7'), Buffer.from([0x30, 0x03, 0, 1, 0x2b])], // PUBLISH to "+"
      [connect(5, 'g8'), Buffer.from([0xf0, 0x02, 0x19, 0x00])], // AUTH without an auth method
      [Buffer.from([0x10, 0x05, 0, 4, 0x4d, 0x51, 0x54])], // truncated CONNECT body
      [Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 9, 2, 0, 10, 0, 0])], // protocol level 9
    ];
    for (const c of cases) assert.equal(await shoot(c, 2000), true, `closed: ${Buffer.concat(c).subarray(0, 16).toString('hex')}`);
    await goodClientWorks('flags');
  });

  it('an unfinished 256 MiB announcement is refused without buffering it', async () => {
    const before = process.memoryUsage().rss;
    const s = await rawSocket(b.port);
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(connect(4, 'huge'));
    s.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]));
    // keep streaming: the broker must have closed long before
    for (let i = 0; i < 20 && !s.destroyed; i++) {
      s.write(Buffer.alloc(1 << 20));
      await sleep(5);
    }
    await closed;
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'no large buffering');
  });

  it('survives 600 connections of random and mutated packets', async () => {
    const r = rng(0xc0ffee);
    const pending: Promise<boolean>[] = [];
    for (let i = 0; i < 600; i++) {
      const v = (i % 2 ? 4 : 5) as 4 | 5;
      const kind = i % 4;
      let chunks: Buffer[];
      if (kind === 0) chunks = [randomBytes(1 + Math.floor(r() * 512))];
      else if (kind === 1) chunks = [mutate(connect(v, `m${i}`), r)];
      else if (kind === 2) chunks = [connect(v, `m${i}`), ...validPackets(v).map((p) => (r() < 0.5 ? mutate(p, r) : p))];
      else chunks = [connect(v, `m${i}`), randomBytes(1 + Math.floor(r() * 256))];
      pending.push(shoot(chunks, 200));
      if (pending.length >= 50) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    await goodClientWorks('fuzz');
    // the broker is still the same process and serving
    assert.ok(b.broker.engine.overview().connections <= 5, 'garbage connections are gone');
  });
});
