import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { HttpError, listenHttp, readBody, sendError } from '../../src/transport/http.js';
import { ListenError } from '../../src/transport/errors.js';
import type { Listener } from '../../src/transport/tcp.js';
import { tlsFixture } from './helpers.js';

interface Reply { status: number; body: string; headers: http.IncomingHttpHeaders }

function request(url: string, opts: http.RequestOptions & { body?: Buffer | string; ca?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('transport/http', () => {
  let l: Listener | undefined;
  afterEach(async () => {
    if (l) {
      await l.close();
      l.destroyConnections();
      l = undefined;
    }
  });

  const echoBody = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readBody(req, 10);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`got ${body.length}: ${body.toString()}`);
  };

  it('serves requests with keep-alive', async () => {
    l = await listenHttp({ name: 'sqs', host: '127.0.0.1', port: 0 }, echoBody);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = `http://127.0.0.1:${l.address().port}/`;
    const r1 = await request(url, { method: 'POST', body: 'abc', agent });
    const r2 = await request(url, { method: 'POST', body: 'defg', agent });
    assert.equal(r1.body, 'got 3: abc');
    assert.equal(r2.body, 'got 4: defg');
    assert.equal(r1.headers.connection, 'keep-alive');
    assert.equal(l.connections, 1, 'both requests reused one connection');
    agent.destroy();
  });

  it('readBody rejects bodies over the limit with 413, by Content-Length or by bytes received', async () => {
    l = await listenHttp({ name: 'sqs', host: '127.0.0.1', port: 0 }, echoBody);
    const url = `http://127.0.0.1:${l.address().port}/`;
    const declared = await request(url, { method: 'POST', body: 'x'.repeat(11) });
    assert.equal(declared.status, 413);
    assert.equal(declared.headers.connection, 'close');
    assert.match(declared.body, /larger than 10 bytes/);

    // chunked upload: no Content-Length, stopped once more than 10 bytes arrived
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('123456');
      setTimeout(() => req.write('7890123'), 20);
    });
    assert.equal(status, 413);
  });

  it('maps HttpError and other handler errors to responses', async () => {
    l = await listenHttp({ name: 'admin', host: '127.0.0.1', port: 0 }, (req, res) => {
      if (req.url === '/missing') throw new HttpError(404, 'no such queue');
      if (req.url === '/boom') return Promise.reject(new Error('secret detail'));
      sendError(res, new HttpError(418, 'teapot', { 'x-why': 'because' }));
    });
    const base = `http://127.0.0.1:${l.address().port}`;
    const a = await request(`${base}/missing`);
    assert.equal(a.status, 404);
    assert.equal(a.body, 'no such queue\n');
    const b = await request(`${base}/boom`);
    assert.equal(b.status, 500);
    assert.doesNotMatch(b.body, /secret/);
    const c = await request(`${base}/`);
    assert.equal(c.status, 418);
    assert.equal(c.headers['x-why'], 'because');
  });

  it('times out a request whose body never completes', async () => {
    l = await listenHttp({ name: 'sqs', host: '127.0.0.1', port: 0, requestTimeout: 200, headersTimeout: 200 }, echoBody);
    const port = l.address().port;
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab'));
      let data = '';
      s.on('data', (c) => (data += c.toString()));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(data));
    });
    assert.match(reply, /^HTTP\/1.1 408/);
  });

  it('serves HTTPS', async () => {
    l = await listenHttp({ name: 'admin-tls', host: '127.0.0.1', port: 0, tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } }, (_req, res) => {
      res.end('secure');
    });
    const r = await request(`https://localhost:${l.address().port}/`, { ca: readFileSync(tlsFixture('ca.crt')) });
    assert.equal(r.body, 'secure');
  });

  it('reports EADDRINUSE with the listener name', async () => {
    l = await listenHttp({ name: 'sqs', host: '127.0.0.1', port: 0 }, () => undefined);
    const port = l.address().port;
    await assert.rejects(listenHttp({ name: 'admin', host: '127.0.0.1', port }, () => undefined), (err: unknown) =>
      err instanceof ListenError && err.message === `admin listener: port ${port} on 127.0.0.1 is already in use`);
  });
});
