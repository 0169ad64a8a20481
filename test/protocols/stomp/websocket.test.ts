/**
 * STOMP over WebSocket with @stomp/stompjs (and raw `ws` for framing edge cases), on a real Broker.
 */
import assert from 'node:assert/strict';
import { Client, Versions, type IFrame, type IMessage, type StompSubscription } from '@stomp/stompjs';
import { WebSocket } from 'ws';
import { encodeFrame, StompDecoder } from '../../../protocols/stomp/codec.js';
import type { StompFrame } from '../../../protocols/stomp/frame.js';
import { hdr, sleep, startBroker, Stompit, until, type TestBroker } from './helpers.js';

/** Messages of one stompjs subscription. */
class JsInbox {
  readonly items: IMessage[] = [];
  private taken = 0;
  sub!: StompSubscription;
  readonly push = (m: IMessage) => this.items.push(m);
  async next(timeoutMs = 3000): Promise<IMessage> {
    await until(() => this.items.length > this.taken, timeoutMs, `message #${this.taken + 1}`);
    return this.items[this.taken++]!;
  }
  async take(n: number): Promise<IMessage[]> {
    const out: IMessage[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next());
    return out;
  }
  async none(ms = 200): Promise<void> {
    await sleep(ms);
    assert.equal(this.items.length, this.taken, `unexpected message: ${this.items[this.taken]?.body}`);
  }
}

describe('STOMP over WebSocket (@stomp/stompjs)', function () {
  this.timeout(20_000);
  let b: TestBroker;
  const clients: Client[] = [];
  const sockets: WebSocket[] = [];
  let receiptNo = 0;

  beforeEach(async () => {
    b = await startBroker({ config: { destinations: [{ match: 'ws.dlq', maxRedeliveries: 0 }] } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.deactivate({ force: true }).catch(() => undefined);
    for (const s of sockets.splice(0)) s.terminate();
    await b.close();
  });

  const url = () => `ws://127.0.0.1:${b.wsPort}/`;

  function connect(opts: { subprotocol?: string; versions?: string[]; headers?: Record<string, string>; heartbeat?: number } = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const client = new Client({
        webSocketFactory: () => new WebSocket(url(), [opts.subprotocol ?? 'v12.stomp']),
        connectHeaders: opts.headers ?? {},
        reconnectDelay: 0,
        heartbeatIncoming: opts.heartbeat ?? 0,
        heartbeatOutgoing: opts.heartbeat ?? 0,
        debug: () => undefined,
      });
      if (opts.versions) client.stompVersions = new Versions(opts.versions);
      client.onConnect = () => resolve(client);
      client.onStompError = (f) => reject(new Error(f.headers.message));
      client.onWebSocketError = () => reject(new Error('websocket error'));
      clients.push(client);
      client.activate();
    });
  }

  /** Run `fn` with a fresh receipt id and wait for the RECEIPT (or fail on an ERROR). */
  function withReceipt(client: Client, fn: (receipt: string) => void): Promise<IFrame> {
    return new Promise((resolve, reject) => {
      const id = `r-${++receiptNo}`;
      client.watchForReceipt(id, resolve);
      client.onStompError = (f) => reject(new Error(`${f.headers.message}: ${f.body}`));
      fn(id);
    });
  }

  async function subscribe(client: Client, destination: string, headers: Record<string, string> = {}): Promise<JsInbox> {
    const inbox = new JsInbox();
    await withReceipt(client, (receipt) => (inbox.sub = client.subscribe(destination, inbox.push, { ...headers, receipt })));
    return inbox;
  }

  function publish(client: Client, destination: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<IFrame> {
    return withReceipt(client, (receipt) =>
      client.publish(typeof body === 'string' ? { destination, body, headers: { ...headers, receipt } } : { destination, binaryBody: body, headers: { ...headers, receipt } }),
    );
  }

  /** stompjs sends COMMIT/ABORT without a receipt: a SEND (to a topic nobody reads) with one follows them. */
  const sync = (c: Client) => publish(c, '/topic/ws.sync', '');

  const engine = () => b.broker.engine;

  it('connects with every STOMP subprotocol and negotiates the version', async () => {
    for (const [sub, versions, want] of [
      ['v12.stomp', ['1.2', '1.1', '1.0'], '1.2'],
      ['v11.stomp', ['1.1', '1.0'], '1.1'],
      ['v10.stomp', ['1.0'], '1.0'],
      ['stomp', ['1.2'], '1.2'],
    ] as const) {
      const c = await connect({ subprotocol: sub, versions: [...versions] });
      assert.equal(c.connectedVersion, want, sub);
      const inbox = await subscribe(c, `/queue/ws.v${want}`, { ack: 'client' });
      await publish(c, `/queue/ws.v${want}`, `hello ${want}`);
      const m = await inbox.next();
      assert.equal(m.body, `hello ${want}`);
      await withReceipt(c, (receipt) => m.ack({ receipt }));
      assert.equal(engine().getQueue(`ws.v${want}`)!.depth, 0);
    }
  });

  it('maps headers and text/binary bodies', async () => {
    const c = await connect();
    const inbox = await subscribe(c, '/queue/ws.h');
    await publish(c, '/queue/ws.h', 'text body', { persistent: 'true', priority: '8', type: 't', 'correlation-id': 'c', 'reply-to': '/topic/back', 'content-type': 'text/plain', app: 'x' });
    const bin = new Uint8Array([0, 255, 0, 7]);
    await publish(c, '/queue/ws.h', bin, { 'content-type': 'application/octet-stream' });
    const [t, bm] = await inbox.take(2);
    assert.equal(t!.body, 'text body');
    assert.equal(t!.headers.persistent, 'true');
    assert.equal(t!.headers.priority, '8');
    assert.equal(t!.headers.type, 't');
    assert.equal(t!.headers['correlation-id'], 'c');
    assert.equal(t!.headers['reply-to'], '/topic/back');
    assert.equal(t!.headers['content-type'], 'text/plain');
    assert.equal(t!.headers.app, 'x');
    assert.equal(t!.headers.destination, '/queue/ws.h');
    assert.equal(t!.headers.redelivered, 'false');
    assert.deepEqual([...bm!.binaryBody], [0, 255, 0, 7]);
    const stored = engine().browse({ kind: 'queue', name: 'ws.h' });
    assert.equal(stored.length, 0, 'auto ack consumed them');
  });

  it('client-individual and client (cumulative) acks, NACK redelivery and dead-lettering', async () => {
    const c = await connect();
    for (let i = 0; i < 3; i++) await publish(c, '/queue/ws.ack', `m${i}`, { persistent: 'true' });
    const ind = await subscribe(c, '/queue/ws.ack', { ack: 'client-individual' });
    const ms = await ind.take(3);
    await withReceipt(c, (receipt) => ms[1]!.ack({ receipt }));
    await withReceipt(c, (receipt) => ms[0]!.nack({ receipt }));
    const again = await ind.next();
    assert.equal(again.body, 'm0');
    assert.equal(again.headers.redelivered, 'true');
    await withReceipt(c, (receipt) => ind.sub.unsubscribe({ receipt }));
    assert.equal(engine().getQueue('ws.ack')!.depth, 2);

    const cum = await subscribe(c, '/queue/ws.ack', { ack: 'client' });
    const two = await cum.take(2);
    assert.deepEqual(two.map((m) => m.body).sort(), ['m0', 'm2']);
    await withReceipt(c, (receipt) => two[1]!.ack({ receipt }));
    assert.equal(engine().getQueue('ws.ack')!.depth, 0);

    const dlqIn = await subscribe(c, '/queue/ws.dlq', { ack: 'client-individual' });
    await publish(c, '/queue/ws.dlq', 'bad', { persistent: 'true' });
    await withReceipt(c, async (receipt) => (await dlqIn.next()).nack({ receipt }));
    await dlqIn.none(100);
    const dead = await subscribe(c, '/queue/DLQ.ws.dlq');
    assert.equal((await dead.next()).body, 'bad');
  });

  it('transactions: commit publishes and acks; abort undoes the acks (the messages stay delivered, acked again by the same ids)', async () => {
    const c = await connect();
    const inbox = await subscribe(c, '/queue/ws.tx', { ack: 'client-individual' });
    const tx = c.begin();
    c.publish({ destination: '/queue/ws.tx', body: 'a', headers: { transaction: tx.id, persistent: 'true' } });
    c.publish({ destination: '/queue/ws.tx', body: 'b', headers: { transaction: tx.id } });
    await inbox.none(100);
    tx.commit();
    await sync(c);
    const ms = await inbox.take(2);
    const tx2 = c.begin();
    for (const m of ms) m.ack({ transaction: tx2.id });
    tx2.abort();
    await sync(c);
    await inbox.none(100);
    assert.equal(engine().getQueue('ws.tx')!.inflightCount, 2);
    const tx3 = c.begin();
    for (const m of ms) m.ack({ transaction: tx3.id });
    assert.equal(engine().getQueue('ws.tx')!.depth, 2);
    tx3.commit();
    await sync(c);
    assert.equal(engine().getQueue('ws.tx')!.depth, 0);
  });

  it('durable subscription, selector and topic fan-out', async () => {
    const sub = await connect({ headers: { 'client-id': 'ws-app' } });
    const d = await subscribe(sub, '/topic/ws.news', { 'activemq.subscriptionName': 'n', selector: "kind = 'big'" });
    const pub = await connect();
    await publish(pub, '/topic/ws.news', 'small', { kind: 'small', persistent: 'true' });
    await publish(pub, '/topic/ws.news', 'big1', { kind: 'big', persistent: 'true' });
    assert.equal((await d.next()).body, 'big1');
    await d.none(100);
    await sub.deactivate();
    await publish(pub, '/topic/ws.news', 'big2', { kind: 'big', persistent: 'true' });
    const back = await connect({ headers: { 'client-id': 'ws-app' } });
    const d2 = await subscribe(back, '/topic/ws.news', { 'activemq.subscriptionName': 'n', selector: "kind = 'big'" });
    assert.equal((await d2.next()).body, 'big2');
    await withReceipt(back, (receipt) => d2.sub.unsubscribe({ 'activemq.subscriptionName': 'n', receipt }));
    assert.equal(engine().listSubscriptions().length, 0);
  });

  it('request/reply between a WebSocket client and a TCP client through a temp queue', async () => {
    const c = await connect();
    const replies = await subscribe(c, '/temp-queue/r');
    const svc = await Stompit.connect({ port: b.port });
    try {
      const reqs = await svc.subscribe('/queue/ws.svc');
      await publish(c, '/queue/ws.svc', 'q', { 'reply-to': '/temp-queue/r' });
      const req = await reqs.next();
      await svc.send(req.headers['reply-to']!, 'a');
      const reply = await replies.next();
      assert.equal(reply.body, 'a');
      assert.equal(reply.headers.destination, '/temp-queue/r');
    } finally {
      svc.destroy();
    }
  });

  it('heart-beats both ways keep an idle stompjs connection up', async () => {
    const c = await connect({ heartbeat: 150 });
    let closed = false;
    c.onWebSocketClose = () => (closed = true);
    await sleep(1200);
    assert.equal(closed, false);
    assert.equal(c.connected, true);
    const inbox = await subscribe(c, '/queue/ws.hb');
    await publish(c, '/queue/ws.hb', 'still here');
    assert.equal((await inbox.next()).body, 'still here');
  });

  // --------------------------------------------------------------------------- raw ws framing

  function rawWs(subprotocol = 'v12.stomp'): Promise<{ ws: WebSocket; frames: StompFrame[]; closed: () => boolean }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url(), [subprotocol]);
      sockets.push(ws);
      const frames: StompFrame[] = [];
      let isClosed = false;
      const dec = new StompDecoder({ version: '1.2', onFrame: (f) => frames.push(f) });
      ws.on('message', (d: Buffer) => dec.push(d));
      ws.on('close', () => (isClosed = true));
      ws.on('open', () => resolve({ ws, frames, closed: () => isClosed }));
      ws.on('error', reject);
    });
  }

  it('accepts several frames in one WebSocket message and a frame split across messages', async () => {
    const { ws, frames } = await rawWs();
    const f = (command: string, headers: Record<string, string>, body = '') => encodeFrame({ command, headers: Object.entries(headers), body: Buffer.from(body) }, '1.2');
    ws.send(Buffer.concat([f('CONNECT', { 'accept-version': '1.2', host: '/' }), f('SUBSCRIBE', { id: '1', destination: '/queue/ws.multi' }), f('SEND', { destination: '/queue/ws.multi' }, 'one'), f('SEND', { destination: '/queue/ws.multi' }, 'two')]));
    const split = f('SEND', { destination: '/queue/ws.multi', receipt: 'x' }, 'three');
    ws.send(split.subarray(0, 10));
    await sleep(20);
    ws.send(split.subarray(10, 30));
    await sleep(20);
    ws.send(split.subarray(30));
    await until(() => frames.length >= 5);
    assert.equal(frames[0]!.command, 'CONNECTED');
    const bodies = frames.filter((x) => x.command === 'MESSAGE').map((x) => x.body.toString());
    assert.deepEqual(bodies, ['one', 'two', 'three']);
    assert.ok(frames.some((x) => x.command === 'RECEIPT' && hdr(x, 'receipt-id') === 'x'));
  });

  it('serves STOMP to a client offering no subprotocol (as ActiveMQ and RabbitMQ do), and still refuses unknown ones', async () => {
    const c = await new Promise<Client>((resolve, reject) => {
      const client = new Client({
        webSocketFactory: () => new WebSocket(url()), // no Sec-WebSocket-Protocol, like stomp.py's WSStompConnection
        reconnectDelay: 0,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        debug: () => undefined,
      });
      client.onConnect = () => resolve(client);
      client.onStompError = (f) => reject(new Error(f.headers.message));
      client.onWebSocketError = () => reject(new Error('websocket error'));
      clients.push(client);
      client.activate();
    });
    assert.equal(c.connectedVersion, '1.2');
    assert.equal((c.webSocket as unknown as WebSocket).protocol, '', 'no subprotocol is echoed when none was offered');
    const inbox = await subscribe(c, '/queue/ws.nosub');
    await publish(c, '/queue/ws.nosub', 'no subprotocol');
    assert.equal((await inbox.next()).body, 'no subprotocol');

    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url(), ['xmpp']);
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.once('open', () => reject(new Error('an unknown subprotocol was accepted')));
      ws.once('error', () => undefined);
    });
    assert.equal(status, 400);
  });

  it('sends frames as text WebSocket messages (as ActiveMQ and RabbitMQ do), binary only when a body is not UTF-8', async () => {
    const { ws } = await rawWs();
    const kinds: Array<{ text: string; isBinary: boolean }> = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => kinds.push({ text: d.toString('latin1'), isBinary }));
    const f = (command: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)) => encodeFrame({ command, headers: Object.entries(headers), body }, '1.2');
    ws.send(f('CONNECT', { 'accept-version': '1.2', host: '/' }));
    await until(() => kinds.length >= 1);
    ws.send(f('SUBSCRIBE', { id: '1', destination: '/queue/ws.text', receipt: 's' }));
    await until(() => kinds.length >= 2);
    ws.send(f('SEND', { destination: '/queue/ws.text', 'content-type': 'text/plain' }, Buffer.from('grüße ✓')));
    await until(() => kinds.some((k) => k.text.startsWith('MESSAGE')));
    ws.send(f('SEND', { destination: '/queue/ws.text' }, Buffer.from([0xff, 0xfe, 0x00, 0x80])));
    await until(() => kinds.filter((k) => k.text.startsWith('MESSAGE')).length === 2);
    assert.deepEqual(kinds.map((k) => [k.text.split('\n')[0], k.isBinary]), [
      ['CONNECTED', false],
      ['RECEIPT', false],
      ['MESSAGE', false],
      ['MESSAGE', true],
    ]);
  });

  it('sends one frame per WebSocket message, also for a burst and for bodies larger than the output chunk', async () => {
    const tcp = await Stompit.connect({ port: b.port });
    for (let i = 0; i < 50; i++) await tcp.send('/queue/ws.burst', `m${i}`, { persistent: 'true' });
    await tcp.send('/queue/ws.burst', 'x'.repeat(100_000), { persistent: 'true' });
    await tcp.disconnect();
    const { ws } = await rawWs();
    const messages: Buffer[] = [];
    ws.on('message', (d: Buffer) => messages.push(Buffer.from(d)));
    const f = (command: string, headers: Record<string, string>) => encodeFrame({ command, headers: Object.entries(headers), body: Buffer.alloc(0) }, '1.2');
    ws.send(Buffer.concat([f('CONNECT', { 'accept-version': '1.2', host: '/' }), f('SUBSCRIBE', { id: '1', destination: '/queue/ws.burst', receipt: 'sub' })]));
    await until(() => messages.length >= 53, 5000, 'CONNECTED, RECEIPT and 51 MESSAGE frames');
    for (const m of messages) {
      assert.equal(m.indexOf(0), m.length - 1, `one whole frame per message: ${m.subarray(0, 40).toString()}…`);
      const decoded: StompFrame[] = [];
      const dec = new StompDecoder({ version: '1.2', onFrame: (x) => decoded.push(x) });
      dec.push(m);
      assert.equal(decoded.length, 1);
    }
    assert.deepEqual(messages.slice(0, 2).map((m) => m.toString().split('\n')[0]), ['CONNECTED', 'RECEIPT']);
    assert.equal(messages.length, 53);
  });

  it('closes a silent WebSocket client after its heart-beat timeout, and answers garbage with ERROR', async () => {
    const dead = await rawWs('v11.stomp');
    dead.ws.send(encodeFrame({ command: 'CONNECT', headers: [['accept-version', '1.1'], ['heart-beat', '200,0']], body: Buffer.alloc(0) }, '1.1'));
    await until(() => dead.frames.length === 1);
    assert.equal(hdr(dead.frames[0]!, 'version'), '1.1');
    await until(() => dead.closed(), 3000, 'heart-beat close');
    assert.equal(dead.frames[1]?.command, 'ERROR');

    const bad = await rawWs('stomp');
    const code = new Promise<number>((r) => bad.ws.once('close', (c: number) => r(c)));
    bad.ws.send('CONNECT\naccept-version:1.2\n\n\0GARBAGE FRAME\n\n\0');
    await until(() => bad.closed(), 3000, 'close after ERROR');
    assert.deepEqual(bad.frames.map((x) => x.command), ['CONNECTED', 'ERROR']);
    assert.equal(await code, 1000, 'a close frame with a status code, not an empty one (1005)');
  });

  it('a broker shutting down closes WebSocket clients with 1001 (going away)', async () => {
    const other = await startBroker();
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${other.wsPort}/`, ['v12.stomp']);
      sockets.push(ws);
      const code = new Promise<number>((r) => ws.once('close', (c: number) => r(c)));
      const connected = new Promise((r) => ws.once('message', r));
      await new Promise((r, j) => {
        ws.once('open', r);
        ws.once('error', j);
      });
      ws.send('CONNECT\naccept-version:1.2\nhost:/\n\n\0');
      await connected;
      await other.close();
      assert.equal(await code, 1001);
    } finally {
      await other.close().catch(() => undefined);
    }
  });
});
