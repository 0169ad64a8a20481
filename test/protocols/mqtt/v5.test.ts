import assert from 'node:assert/strict';
import { generate } from 'mqtt-packet';
import { client, collect, endAll, rawClient, rawSocket, readUntilClose, sleep, startBroker, until, type TestBroker } from './helpers.js';
import { connack } from './helpers.js';

describe('MQTT 5 features', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ mqtt: { maxPacketSize: 64 * 1024, topicAliasMaximum: 5, outboundTopicAliases: true, maxKeepAlive: 30, maxSubscriptionsPerClient: 3, receiveMaximum: 50 } });
  });
  after(async () => {
    await endAll();
    await b.stop();
  });
  afterEach(endAll);

  it('CONNACK: assigned client id, server keep-alive, limits', async () => {
    const c = await client(b, { protocolVersion: 5, clientId: '', keepalive: 0 });
    const p = connack(c).properties!;
    assert.match(p.assignedClientIdentifier ?? '', /^wharf-/);
    assert.equal(p.serverKeepAlive, 30);
    assert.equal(p.maximumPacketSize, 64 * 1024);
    assert.equal(p.topicAliasMaximum, 5);
    assert.equal(p.receiveMaximum, 50);
    assert.equal(p.sharedSubscriptionAvailable, true);
    assert.equal(p.subscriptionIdentifiersAvailable, true);
  });

  it('3.1.1: an empty client id with clean session gets one; without clean session it is refused (rc 2)', async () => {
    const ok = await rawSocket(b.port);
    const r: Buffer[] = [];
    ok.on('data', (d) => r.push(d));
    ok.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: '', clean: true, keepalive: 10 }, { protocolVersion: 4 }));
    await until(() => Buffer.concat(r).length >= 4);
    assert.deepEqual([...Buffer.concat(r)], [0x20, 2, 0, 0]);
    ok.destroy();
    const s = await rawSocket(b.port);
    const closed = readUntilClose(s);
    // CONNECT 3.1.1, empty client id, clean session 0 (mqtt-packet refuses to generate it)
    s.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0, 0, 10, 0, 0]));
    const got = await closed;
    assert.deepEqual([...got], [0x20, 2, 0, 2]);
  });

  it('properties round-trip: user properties, content type, response topic, correlation data, payload format, expiry', async () => {
    const sub = await client(b, { protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('props/t', { qos: 1 });
    const pub = await client(b, { protocolVersion: 5 });
    const corr = Buffer.from([0xff, 0x00, 0xfe]);
    await pub.publishAsync('props/t', 'hello', {
      qos: 1,
      properties: {
        userProperties: { a: '1', multi: ['x', 'y'] },
        contentType: 'text/plain',
        responseTopic: 'replies/here',
        correlationData: corr,
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
      },
    });
    const [m] = await got.wait(1);
    const p = m.packet.properties!;
    assert.deepEqual({ ...p.userProperties }, { a: '1', multi: ['x', 'y'] });
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'replies/here');
    assert.deepEqual(p.correlationData, corr);
    assert.equal(p.payloadFormatIndicator, true);
    assert.ok(p.messageExpiryInterval! <= 60 && p.messageExpiryInterval! >= 59);
    // and in the core message
    const msgs: unknown[] = [];
    const cons = await b.broker.engine.subscribe({ address: { kind: 'topic', name: 'props.core' }, onMessage: (d) => msgs.push(d.message), autoAck: true, prefetch: 10 });
    await pub.publishAsync('props/core', 'x', { qos: 1, properties: { userProperties: { k: 'v' }, contentType: 'a/b', responseTopic: 'r/t', correlationData: Buffer.from('c1') } });
    await until(() => msgs.length === 1);
    const cm = msgs[0] as { properties: Record<string, unknown>; contentType: string; replyTo: string; correlationId: string; durable: boolean };
    assert.equal(cm.properties.k, 'v');
    assert.equal(cm.contentType, 'a/b');
    assert.equal(cm.replyTo, 'topic://r.t');
    assert.equal(cm.correlationId, 'c1');
    assert.equal(cm.durable, true);
    cons.close();
  });

  it('topic aliases both ways', async () => {
    const sub = await client(b, { protocolVersion: 5, properties: { topicAliasMaximum: 10 } });
    const raw: Array<{ topic: string; alias?: number }> = [];
    (sub as unknown as { on(e: 'packetreceive', f: (p: { cmd: string; topic: string; properties?: { topicAlias?: number } }) => void): void }).on('packetreceive', (p) => {
      if (p.cmd === 'publish') raw.push({ topic: p.topic, alias: p.properties?.topicAlias });
    });
    const got = collect(sub);
    await sub.subscribeAsync('alias/#', { qos: 1 });
    const pub = await client(b, { protocolVersion: 5, autoAssignTopicAlias: true } as never);
    const sent: Array<{ topic: string; alias?: number }> = [];
    (pub as unknown as { on(e: 'packetsend', f: (p: { cmd: string; topic: string; properties?: { topicAlias?: number } }) => void): void }).on('packetsend', (p) => {
      if (p.cmd === 'publish') sent.push({ topic: p.topic, alias: p.properties?.topicAlias });
    });
    for (let i = 0; i < 3; i++) await pub.publishAsync('alias/long/topic/name', `a${i}`, { qos: 1 });
    // explicit alias: set, then use with an empty topic
    await pub.publishAsync('alias/explicit', 'e1', { qos: 1, properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'e2', { qos: 1, properties: { topicAlias: 3 } });
    await got.wait(5);
    assert.deepEqual(got.items.map((i) => i.topic), ['alias/long/topic/name', 'alias/long/topic/name', 'alias/long/topic/name', 'alias/explicit', 'alias/explicit']);
    assert.ok(sent.some((x) => x.topic === '' && x.alias), 'the publisher used an alias towards the broker');
    // the broker used aliases towards the subscriber: the first use carries the topic, later ones an empty topic
    assert.equal(raw[0].topic, 'alias/long/topic/name');
    assert.ok(raw[0].alias);
    assert.equal(raw[1].topic, '');
    assert.equal(raw[1].alias, raw[0].alias);
    // an alias over the maximum is a protocol error: DISCONNECT 0x94; an unknown alias 0x82
    const bad = await rawClient(b.port, 5, { clientId: 'badalias' });
    bad.send({ cmd: 'publish', topic: 'alias/x', payload: 'y', qos: 0, properties: { topicAlias: 6 } });
    assert.equal((await bad.waitFor((p) => p.cmd === 'disconnect')).reasonCode, 0x94);
    await bad.waitClose();
    const bad2 = await rawClient(b.port, 5, { clientId: 'badalias2' });
    bad2.send({ cmd: 'publish', topic: '', payload: 'y', qos: 0, properties: { topicAlias: 2 } });
    assert.equal((await bad2.waitFor((p) => p.cmd === 'disconnect')).reasonCode, 0x82);
  });

  it('subscription identifiers and no-local', async () => {
    const c = await client(b, { protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync('sid/a/#', { qos: 1, properties: { subscriptionIdentifier: 42 } });
    await c.subscribeAsync('nl/t', { qos: 1, nl: true });
    await c.publishAsync('sid/a/b', 'sid', { qos: 1 });
    await c.publishAsync('nl/t', 'mine', { qos: 1 });
    const other = await client(b, { protocolVersion: 5 });
    await other.publishAsync('nl/t', 'theirs', { qos: 1 });
    await got.wait(2);
    await sleep(200);
    assert.deepEqual(got.texts(), ['sid', 'theirs']);
    assert.equal(got.items[0].packet.properties?.subscriptionIdentifier, 42);
  });

  it('retain handling and retain-as-published', async () => {
    const pub = await client(b, { protocolVersion: 5 });
    await pub.publishAsync('rh/t', 'kept', { qos: 1, retain: true });
    const c = await client(b, { protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync('rh/t', { qos: 1, rh: 2 });
    await sleep(150);
    assert.deepEqual(got.texts(), [], 'rh=2: no retained messages');
    await c.unsubscribeAsync('rh/t');
    await c.subscribeAsync('rh/t', { qos: 1, rh: 1, rap: true });
    await got.wait(1);
    await c.subscribeAsync('rh/t', { qos: 1, rh: 1, rap: true });
    await sleep(150);
    assert.equal(got.items.length, 1, 'rh=1: not re-sent for an existing subscription');
    await pub.publishAsync('rh/t', 'live', { qos: 1, retain: true });
    const [, live] = await got.wait(2);
    assert.equal(live.packet.retain, true, 'rap: RETAIN as published');
    await pub.publishAsync('rh/t', '', { qos: 1, retain: true });
  });

  it('receive maximum: no more than the client allows in flight; more inbound than ours is 0x93', async () => {
    const c = await rawClient(b.port, 5, { clientId: 'rm', properties: { receiveMaximum: 3 } });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/t', qos: 1 }] });
    await c.waitFor((p) => p.cmd === 'suback');
    const pub = await client(b, { protocolVersion: 5 });
    for (let i = 0; i < 10; i++) await pub.publishAsync('rm/t', `r${i}`, { qos: 1 });
    const pubs = () => c.packets.filter((p) => p.cmd === 'publish');
    await until(() => pubs().length >= 3);
    await sleep(200);
    assert.equal(pubs().length, 3, 'held at 3 unacknowledged');
    for (const p of pubs()) c.send({ cmd: 'puback', messageId: p.messageId });
    await until(() => pubs().length >= 6);
    await sleep(100);
    assert.deepEqual(pubs().map((p) => p.payload.toString()), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    // inbound: our Receive Maximum is 50; the 51st unacknowledged QoS 2 publish is a protocol violation
    const flood = await rawClient(b.port, 5, { clientId: 'flood' });
    for (let i = 1; i <= 51; i++) flood.send({ cmd: 'publish', topic: 'flood/t', payload: 'x', qos: 2, messageId: i });
    assert.equal((await flood.waitFor((p) => p.cmd === 'disconnect')).reasonCode, 0x93);
  });

  it('maximum packet size: an oversized PUBLISH gets DISCONNECT 0x95; messages too big for the client are not sent', async () => {
    const c = await client(b, { protocolVersion: 5 });
    const reason = new Promise<number | undefined>((r) => c.once('disconnect', (p) => r(p.reasonCode)));
    c.publish('big/t', Buffer.alloc(70 * 1024), { qos: 0 });
    assert.equal(await reason, 0x95);
    // client maximum packet size 200: a 500-byte message is dropped, a small one delivered
    const small = await client(b, { protocolVersion: 5, properties: { maximumPacketSize: 200 } });
    const got = collect(small);
    await small.subscribeAsync('big/#', { qos: 1 });
    const pub = await client(b, { protocolVersion: 5 });
    await pub.publishAsync('big/a', Buffer.alloc(500), { qos: 1 });
    await pub.publishAsync('big/b', 'tiny', { qos: 1 });
    await got.wait(1);
    await sleep(150);
    assert.deepEqual(got.texts(), ['tiny']);
  });

  it('3.1.1: an oversized packet closes the connection before its body is buffered', async () => {
    const s = await rawSocket(b.port);
    const closed = readUntilClose(s);
    s.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'big311', clean: true, keepalive: 10 }, { protocolVersion: 4 }));
    await sleep(50);
    // PUBLISH header announcing 256 MiB, then a little data
    s.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0x61]));
    const got = await closed;
    assert.deepEqual([...got.subarray(0, 4)], [0x20, 2, 0, 0], 'only the CONNACK');
  });

  it('limits: subscriptions per client (SUBACK 0x97), invalid filters (0x8F)', async () => {
    const c = await client(b, { protocolVersion: 5 });
    const err = await c.subscribeAsync({ 'l/1': { qos: 1 }, 'l/2': { qos: 1 }, 'l/3': { qos: 0 }, 'l/4': { qos: 1 } } as never).then(
      () => null,
      (e: { packet?: { granted: number[] } }) => e,
    );
    assert.deepEqual(err?.packet?.granted, [1, 1, 0, 0x97]);
    const s = await rawSocket(b.port);
    const r: Buffer[] = [];
    s.on('data', (d) => r.push(d));
    s.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'badfilter', clean: true, keepalive: 10 }, { protocolVersion: 5 }));
    s.write(generate({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'bad/#/x', qos: 1 }, { topic: 'ok/+', qos: 1 }, { topic: 'a+b', qos: 0 }] }, { protocolVersion: 5 }));
    await until(() => Buffer.concat(r).length >= 5 + 8);
    const all = Buffer.concat(r);
    const suback = all.subarray(all.indexOf(0x90));
    assert.deepEqual([...suback.subarray(suback.length - 3)], [0x8f, 1, 0x8f]);
    s.destroy();
  });

  it('session expiry: a v5 session with a short expiry is gone after it', async () => {
    const a = await client(b, { protocolVersion: 5, clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } });
    await a.subscribeAsync('se/t', { qos: 1 });
    await new Promise<void>((r) => a.end(false, {}, () => r()));
    assert.equal(b.broker.engine.durableSubscriptionsOf('short-lived').length, 1);
    await sleep(1500);
    assert.equal(b.broker.engine.durableSubscriptionsOf('short-lived').length, 0);
    const again = await client(b, { protocolVersion: 5, clientId: 'short-lived', clean: false, properties: { sessionExpiryInterval: 1 } });
    assert.equal(connack(again).sessionPresent, false);
  });

  it('DISCONNECT with reason 0x04 publishes the will; will delay is cancelled by a reconnect', async () => {
    const w = await client(b, { protocolVersion: 5 });
    const got = collect(w);
    await w.subscribeAsync('wd/#', { qos: 1 });
    const a = await client(b, { protocolVersion: 5, will: { topic: 'wd/now', payload: Buffer.from('with-will'), qos: 1, retain: false } });
    await new Promise<void>((r) => a.end(false, { reasonCode: 0x04 }, () => r()));
    await got.wait(1);
    const d = await client(b, {
      protocolVersion: 5,
      clientId: 'delayed',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'wd/delayed', payload: Buffer.from('late'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
    });
    (d as unknown as { stream: { destroy(): void } }).stream.destroy();
    d.end(true);
    await sleep(100);
    await client(b, { protocolVersion: 5, clientId: 'delayed', clean: false, properties: { sessionExpiryInterval: 60 } });
    await sleep(1500);
    assert.deepEqual(got.texts(), ['with-will']);
  });

  it('AUTH is refused cleanly: CONNECT with an authentication method gets CONNACK 0x8C', async () => {
    const s = await rawSocket(b.port);
    const closed = readUntilClose(s);
    s.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'auth', clean: true, keepalive: 10, properties: { authenticationMethod: 'SCRAM-SHA-1' } }, { protocolVersion: 5 }));
    const got = await closed;
    assert.equal(got[0], 0x20);
    assert.equal(got[3], 0x8c);
  });

  it('publishing to $SYS is refused (0x87) and $SYS statistics can be read', async () => {
    const c = await client(b, { protocolVersion: 5 });
    const got = collect(c);
    await c.subscribeAsync('$SYS/broker/clients/+', { qos: 0 });
    await got.wait(1);
    assert.ok(got.items.some((i) => i.topic === '$SYS/broker/clients/connected' && Number(i.payload.toString()) >= 1));
    const res = await new Promise<number | undefined>((resolve) => {
      c.publish('$SYS/broker/hack', 'x', { qos: 1 }, (err, pkt) => resolve((pkt as { reasonCode?: number } | undefined)?.reasonCode ?? (err ? (err as { code?: number }).code : 0)));
    });
    assert.equal(res, 0x87);
  });
});
