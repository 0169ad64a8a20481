/**
 * The shared WebSocket listener as third-party clients see it, on a real Broker: findings of a differential sweep
 * against mosquitto 2.0 (`protocol websockets`) and RabbitMQ 3.10 (web-mqtt, web-stomp).
 */
import assert from 'node:assert/strict';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { client, collect, endAll, startBroker, type TestBroker } from '../protocols/mqtt/helpers.js';

describe('WebSocket listener conformance (third-party clients)', function () {
  this.timeout(20_000);

  describe('message size limit', () => {
    let b: TestBroker;
    before(async () => {
      // an MQTT packet limit above the broker-wide frame limit: advertised to v5 clients, served over TCP
      b = await startBroker({ limits: { maxFrameSize: 64 * 1024 }, mqtt: { maxPacketSize: 256 * 1024 } }, [mqttModule]);
    });
    after(async () => {
      await endAll();
      await b.stop();
    });

    it('an MQTT packet up to mqtt.maxPacketSize (advertised in the CONNACK) is taken over WebSocket as over TCP', async () => {
      const payload = Buffer.alloc(150 * 1024, 7);
      const sub = await client(b, { kind: 'tcp', protocolVersion: 5, clientId: 'ws-lim-sub' });
      const inbox = collect(sub);
      await sub.subscribeAsync('ws/limit', { qos: 1 });
      const pub = await client(b, { kind: 'ws', protocolVersion: 5, clientId: 'ws-lim-pub' });
      const closed = new Promise<never>((_, reject) => pub.once('close', () => reject(new Error('the WebSocket connection was closed'))));
      await Promise.race([pub.publishAsync('ws/limit', payload, { qos: 1 }), closed]);
      const [m] = await inbox.wait(1);
      assert.equal(m!.payload.length, payload.length);
    });
  });
});
