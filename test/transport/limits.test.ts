/**
 * Broker-wide connection limits: one address cannot take every connection, the total leaves the admin listener
 * reachable, a user cannot open more than its share, and every refusal is counted in /metrics.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';

const local = { host: '127.0.0.1', port: 0 };

/** A raw TCP connection from `localAddress`; `open` resolves once connected, `closed` when the server ends it. */
function raw(port: number, localAddress: string) {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  const data: Buffer[] = [];
  s.on('data', (d) => data.push(d));
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const open = new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return { s, open, closed, text: () => Buffer.concat(data).toString() };
}

/** Whether the server closes the connection within `ms` (a refused socket is closed at once). */
async function closedWithin(c: ReturnType<typeof raw>, ms: number): Promise<boolean> {
  return Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function stompConnect(c: ReturnType<typeof raw>, login?: string): Promise<string> {
  await c.open;
  c.s.write(`CONNECT\naccept-version:1.2\nhost:/\n${login ? `login:${login}\npasscode:x\n` : ''}\n\0`);
  const end = Date.now() + 5000;
  while (!c.text().includes('\0') && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return c.text().split('\n')[0] ?? '';
}

describe('connection limits (total, per address, per user)', function () {
  this.timeout(30_000);
  let b: RunningBroker & { stompPort: number; adminPort: number; sqsPort: number };
  const sockets: Array<ReturnType<typeof raw>> = [];

  beforeEach(async () => {
    const r = await runBroker({
      name: 'limits',
      config: {
        listeners: { stomp: local, admin: local, sqs: local },
        limits: { maxConnectionsTotal: 6, maxConnectionsPerAddress: 4, maxConnectionsPerUser: 1 },
      },
      modules: () => ({ protocols: defaultProtocols.filter((p) => p.name === 'stomp'), http: defaultHttp }),
    });
    b = withPorts(r, { stompPort: 'stomp', adminPort: 'admin', sqsPort: 'sqs' });
  });
  afterEach(async () => {
    for (const c of sockets.splice(0)) c.s.destroy();
    await b.close();
  });

  it('one address gets its share, others still get in; the admin listener stays reachable when the total is reached; refusals are counted', async () => {
    for (let i = 0; i < 4; i++) {
      const c = raw(b.stompPort, '127.0.0.1');
      sockets.push(c);
      await c.open;
    }
    const fifth = raw(b.stompPort, '127.0.0.1');
    sockets.push(fifth);
    assert.equal(await closedWithin(fifth, 2000), true, 'the fifth connection from 127.0.0.1 is closed at once');

    // another address is not locked out (127.0.0.2 is loopback too, but a different address)
    const other = raw(b.stompPort, '127.0.0.2');
    sockets.push(other);
    assert.equal(await stompConnect(other), 'CONNECTED');
    const other2 = raw(b.stompPort, '127.0.0.2');
    sockets.push(other2);
    await other2.open;
    // total 6 reached: a new client of any listener is refused, SQS included...
    const seventh = raw(b.stompPort, '127.0.0.3');
    sockets.push(seventh);
    assert.equal(await closedWithin(seventh, 2000), true, 'over the total');
    await assert.rejects(get(b.sqsPort, '/'), /socket hang up|ECONNRESET/);
    // ...but not the operator
    assert.equal((await get(b.adminPort, '/healthz')).status, 200);
    const metrics = (await get(b.adminPort, '/metrics')).body;
    const refused = (reason: string) => Number(new RegExp(`^wharf_connections_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 'NaN');
    assert.equal(refused('per-address'), 1);
    assert.equal(refused('total'), 2);

    // places come back when connections close
    for (const c of sockets.splice(0, 4)) c.s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = raw(b.stompPort, '127.0.0.1');
    sockets.push(again);
    assert.equal(await stompConnect(again), 'CONNECTED');
  });

  it('a user cannot hold more than limits.maxConnectionsPerUser connections', async () => {
    const first = raw(b.stompPort, '127.0.0.1');
    sockets.push(first);
    assert.equal(await stompConnect(first, 'alice'), 'CONNECTED');
    const second = raw(b.stompPort, '127.0.0.1');
    sockets.push(second);
    assert.equal(await stompConnect(second, 'alice'), 'ERROR');
    assert.match(second.text(), /message:.*alice/);
    const bob = raw(b.stompPort, '127.0.0.1');
    sockets.push(bob);
    assert.equal(await stompConnect(bob, 'bob'), 'CONNECTED');
  });
});
