/**
 * The shared WebSocket listener as third-party clients see it, on a real Broker: findings of a differential sweep
 * against mosquitto 2.0 (`protocol websockets`) and RabbitMQ 3.10 (web-mqtt, web-stomp).
 */
import assert from 'node:assert/strict';
import { Client as StompClient } from '@stomp/stompjs';
import mqtt from 'mqtt';
import { generate } from 'mqtt-packet';
import rhea from 'rhea';
import { WebSocket } from 'ws';
import { amqpModule } from '../../protocols/amqp/index.js';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { stompModule } from '../../protocols/stomp/index.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { client, collect, endAll, startBroker, until, type TestBroker } from '../protocols/mqtt/helpers.js';

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
  describe('a handshake without Sec-WebSocket-Protocol on the shared listener', () => {
    let r: RunningBroker & { readonly wsPort: number };
    const closers: Array<() => unknown> = [];
    before(async () => {
      r = withPorts(
        await runBroker({
          name: 'ws-conf',
          config: { listeners: { ws: { host: '127.0.0.1', port: 0 } } },
          modules: () => ({ protocols: [stompModule, mqttModule, amqpModule] }),
        }),
        { wsPort: 'ws' },
      );
    });
    after(async () => {
      for (const c of closers.splice(0)) await c();
      await r.close();
    });
    const url = () => `ws://127.0.0.1:${r.wsPort}/`;

    it('MQTT.js offering none is served MQTT (as RabbitMQ web-mqtt does), known by its CONNECT', async () => {
      const offered: string[] = [];
      const c = mqtt.connect(url(), {
        protocolVersion: 4,
        clientId: 'ws-none',
        reconnectPeriod: 0,
        connectTimeout: 5000,
        // MQTT.js always offers `mqtt`: this factory drops it, as clients that send no subprotocol do
        createWebsocket: (u: string) => {
          const ws = new WebSocket(u);
          ws.once('upgrade', (res) => offered.push(String(res.headers['sec-websocket-protocol'] ?? '')));
          return ws;
        },
      });
      closers.push(() => c.endAsync(true));
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
        c.once('close', () => reject(new Error('closed before CONNACK')));
      });
      assert.deepEqual(offered, ['']);
      await c.subscribeAsync('ws/none', { qos: 1 });
      const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
      await c.publishAsync('ws/none', 'over ws without subprotocol', { qos: 1 });
      assert.equal(await got, 'over ws without subprotocol');
    });

    it('rhea offering none is served AMQP, known by its protocol header', async () => {
      const container = rhea.create_container({ id: 'ws-none-amqp' });
      container.on('error', () => undefined);
      const ws = container.websocket_connect(WebSocket);
      // no subprotocols: rhea's WebSocket transport passes its list to ws, which then sends no Sec-WebSocket-Protocol
      const conn = container.connect({ connection_details: ws(url(), [], {}), reconnect: false, host: '127.0.0.1', idle_time_out: 0 } as never);
      closers.push(() => conn.close());
      const product = await new Promise<unknown>((resolve, reject) => {
        conn.once('connection_open', (ctx) => resolve(ctx.connection.remote.open.properties?.product));
        conn.once('disconnected', (ctx) => reject(new Error(`disconnected: ${ctx.error?.message ?? 'closed'}`)));
      });
      assert.equal(product, 'Wharf');
    });

    it('a first packet split over messages is still recognised (raw ws: AMQP header in two, MQTT CONNECT from its first byte)', async () => {
      const open = async (): Promise<{ ws: WebSocket; got: Buffer[] }> => {
        const ws = new WebSocket(url());
        const got: Buffer[] = [];
        ws.on('message', (d: Buffer) => got.push(Buffer.from(d)));
        closers.push(() => ws.terminate());
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        return { ws, got };
      };
      const amqp = await open();
      amqp.ws.send(Buffer.from('AM'));
      amqp.ws.send(Buffer.from([0x51, 0x50, 0, 1, 0, 0]));
      await until(() => amqp.got.length > 0, 5000, 'the AMQP header');
      assert.deepEqual(amqp.got[0], Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));

      const connect = generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'ws-split', clean: true, keepalive: 30 }, { protocolVersion: 4 });
      const m = await open();
      m.ws.send(connect.subarray(0, 1));
      m.ws.send(connect.subarray(1));
      await until(() => m.got.length > 0, 5000, 'the CONNACK');
      assert.deepEqual([...m.got[0]!], [0x20, 2, 0, 0]);
    });

    it('stompjs offering none is still served STOMP, in text messages', async () => {
      const client = new StompClient({ webSocketFactory: () => new WebSocket(url()), reconnectDelay: 0, heartbeatIncoming: 0, heartbeatOutgoing: 0, debug: () => undefined });
      closers.push(() => client.deactivate({ force: true }));
      const version = await new Promise<string>((resolve, reject) => {
        client.onConnect = (f) => resolve(f.headers.version ?? '');
        client.onStompError = (f) => reject(new Error(f.headers.message));
        client.onWebSocketClose = () => reject(new Error('closed'));
        client.activate();
      });
      assert.equal(version, '1.2');
    });
  });
});
