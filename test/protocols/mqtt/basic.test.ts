import assert from 'node:assert/strict';
import { client, collect, endAll, sleep, startBroker, type TestBroker } from './helpers.js';

for (const kind of ['tcp', 'tls', 'ws'] as const) {
  for (const protocolVersion of [4, 5] as const) {
    describe(`MQTT basics over ${kind}, v${protocolVersion === 4 ? '3.1.1' : '5'}`, function () {
      this.timeout(15_000);
      let b: TestBroker;
      before(async () => {
        b = await startBroker();
      });
      after(async () => {
        await endAll();
        await b.stop();
      });

      it('delivers QoS 0, 1 and 2, downgraded to the subscription QoS', async () => {
        const sub = await client(b, { kind, protocolVersion, clientId: `sub-${kind}-${protocolVersion}` });
        const pub = await client(b, { kind, protocolVersion });
        const got = collect(sub);
        await sub.subscribeAsync({ 'basic/q/+': { qos: 2 }, 'basic/low/#': { qos: 0 } });
        for (const qos of [0, 1, 2] as const) await pub.publishAsync(`basic/q/${qos}`, `m${qos}`, { qos });
        await pub.publishAsync('basic/low/x', 'low', { qos: 2 });
        const items = await got.wait(4);
        const byText = new Map(items.map((i) => [i.payload.toString(), i.packet.qos]));
        assert.equal(byText.get('m0'), 0);
        assert.equal(byText.get('m1'), 1);
        assert.equal(byText.get('m2'), 2);
        assert.equal(byText.get('low'), 0, 'QoS 2 publish to a QoS 0 subscription arrives at QoS 0');
        assert.equal(items.find((i) => i.payload.toString() === 'm1')?.topic, 'basic/q/1');
      });

      it('keeps order and payload bytes', async () => {
        const sub = await client(b, { kind, protocolVersion });
        const pub = await client(b, { kind, protocolVersion });
        const got = collect(sub);
        await sub.subscribeAsync('order/t', { qos: 1 });
        const payloads = Array.from({ length: 200 }, (_, i) => Buffer.from([i & 0xff, 0, 0xff, (i * 7) & 0xff]));
        await Promise.all(payloads.map((p, i) => pub.publishAsync('order/t', p, { qos: (i % 2) as 0 | 1 })));
        await got.wait(200);
        const qos1 = got.items.filter((i) => i.packet.qos === 1).map((i) => i.payload[0]);
        assert.deepEqual(qos1, payloads.filter((_, i) => i % 2 === 1).map((p) => p[0]));
        for (const it of got.items) assert.equal(it.payload.length, 4);
        await sleep(10);
      });
    });
  }
}
