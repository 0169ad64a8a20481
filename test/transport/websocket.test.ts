import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { listenWebSocket, parseSubprotocols, type WebSocketListener } from '../../src/transport/websocket.js';
import { ListenError } from '../../src/transport/errors.js';
import { echoHandler, tlsFixture, until } from './helpers.js';

function openWs(url: string, protocols: string[], opts: import('ws').ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

describe('transport/websocket', () => {
  let l: WebSocketListener | undefined;
  afterEach(async () => {
    if (l) {
      await l.close();
      l.destroyConnections();
      l = undefined;
    }
  });

  it('routes connections by subprotocol to different adapters', async () => {
    const mqtt = echoHandler('mqtt:');
    const stomp = echoHandler('stomp:');
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 1024 }, [
      { subprotocols: ['mqtt'], handler: mqtt.handle },
      { subprotocols: ['v10.stomp', 'v11.stomp', 'v12.stomp'], handler: stomp.handle },
    ]);
    const url = `ws://127.0.0.1:${l.address().port}/any/path`;

    const a = await openWs(url, ['mqttv3.1', 'mqtt']);
    assert.equal(a.protocol, 'mqtt');
    a.send(Buffer.from('ping'));
    const ma = await nextMessage(a);
    assert.equal(ma.data.toString(), 'mqtt:ping');
    assert.equal(ma.isBinary, true);

    const b = await openWs(url, ['v12.stomp', 'v11.stomp']);
    assert.equal(b.protocol, 'v12.stomp');
    b.send('CONNECT'); // a text frame reaches the adapter as bytes too
    assert.equal((await nextMessage(b)).data.toString(), 'stomp:CONNECT');

    assert.equal(mqtt.peers.length, 1);
    assert.equal(stomp.peers.length, 1);
    assert.equal(mqtt.peers[0].transport, 'ws');
    assert.equal(mqtt.peers[0].wsSubprotocol, 'mqtt');
    assert.equal(stomp.peers[0].wsSubprotocol, 'v12.stomp');
    assert.equal(stomp.peers[0].remoteAddress, '127.0.0.1');
    assert.equal(stomp.peers[0].localPort, l.address().port);
    assert.equal(l.connections, 2);
    a.close();
    b.close();
    await until(() => l!.connections === 0);
  });

  it('refuses a handshake offering no known subprotocol with HTTP 400', async () => {
    const mqtt = echoHandler();
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 1024 }, [{ subprotocols: ['mqtt'], handler: mqtt.handle }]);
    const url = `ws://127.0.0.1:${l.address().port}/`;
    await assert.rejects(openWs(url, ['xmpp']), (err: { status?: number }) => err.status === 400);
    await assert.rejects(openWs(url, []), (err: { status?: number }) => err.status === 400);
    assert.equal(mqtt.peers.length, 0);
    // a plain HTTP request is told to upgrade
    const status = await new Promise<number>((resolve, reject) =>
      http.get(url.replace(/^ws:/, "http:"), (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject));
    assert.equal(status, 426);
  });

  it('accepts routes registered after start', async () => {
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 1024 });
    const url = `ws://127.0.0.1:${l.address().port}/`;
    await assert.rejects(openWs(url, ['amqp']), (err: { status?: number }) => err.status === 400);
    const amqp = echoHandler('amqp:');
    l.register(['amqp'], amqp.handle);
    assert.deepEqual(l.subprotocols(), ['amqp']);
    const ws = await openWs(url, ['amqp']);
    ws.send(Buffer.from([1, 2]));
    assert.deepEqual([...(await nextMessage(ws)).data], [...Buffer.from('amqp:'), 1, 2]);
    ws.close();
  });

  it('closes a connection that sends more than maxPayload (1009)', async () => {
    const mqtt = echoHandler();
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 16 }, [{ subprotocols: ['mqtt'], handler: mqtt.handle }]);
    const ws = await openWs(`ws://127.0.0.1:${l.address().port}/`, ['mqtt']);
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    ws.send(Buffer.alloc(100));
    assert.equal(await code, 1009);
  });

  it('enforces maxConnections with HTTP 503', async () => {
    const mqtt = echoHandler();
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 1, maxPayload: 1024 }, [{ subprotocols: ['mqtt'], handler: mqtt.handle }]);
    const url = `ws://127.0.0.1:${l.address().port}/`;
    const first = await openWs(url, ['mqtt']);
    await assert.rejects(openWs(url, ['mqtt']), (err: { status?: number }) => err.status === 503);
    first.close();
    await until(() => l!.connections === 0);
    (await openWs(url, ['mqtt'])).close();
  });

  it('serves wss with TLS files', async () => {
    const stomp = echoHandler('s:');
    l = await listenWebSocket(
      { host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 1024, tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } },
      [{ subprotocols: ['v12.stomp'], handler: stomp.handle }],
    );
    const ws = await openWs(`wss://localhost:${l.address().port}/`, ['v12.stomp'], { ca: readFileSync(tlsFixture('ca.crt')) });
    ws.send(Buffer.from('x'));
    assert.equal((await nextMessage(ws)).data.toString(), 's:x');
    assert.equal(stomp.peers[0].transport, 'wss');
    ws.close();
  });

  it('reports EADDRINUSE with the listener name', async () => {
    l = await listenWebSocket({ host: '127.0.0.1', port: 0, maxConnections: 0, maxPayload: 1024 });
    const port = l.address().port;
    await assert.rejects(listenWebSocket({ name: 'ws', host: '127.0.0.1', port, maxConnections: 0, maxPayload: 1 }), (err: unknown) =>
      err instanceof ListenError && err.message === `ws listener: port ${port} on 127.0.0.1 is already in use`);
  });

  it('parses Sec-WebSocket-Protocol headers', () => {
    assert.deepEqual(parseSubprotocols('mqtt, mqttv3.1 ,  x'), ['mqtt', 'mqttv3.1', 'x']);
    assert.deepEqual(parseSubprotocols(undefined), []);
    assert.deepEqual(parseSubprotocols(['a', 'b,c']), ['a', 'b', 'c']);
  });
});
