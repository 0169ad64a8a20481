import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { createMessage, type Delivery, queue, topic } from '../../src/core/api.js';
import { AdminAuth, hashPassword, verifyPassword } from '../../src/admin/auth.js';
import { parseConfig } from '../../src/app/config.js';
import { ADMIN, client, request, startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';
import { tlsFixture } from '../protocols/stomp/helpers.js';

const enc = encodeURIComponent;

function assertJsonError(r: { status: number; json: { error?: { status: number; code: string; message: string } }; text: string }, status: number, code?: string | RegExp) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, `JSON error body expected, got ${r.text}`);
  assert.equal(r.json.error!.status, status);
  if (typeof code === 'string') assert.equal(r.json.error!.code, code);
  else if (code) assert.match(r.json.error!.message, code);
  assert.doesNotMatch(r.text, /\n\s+at |\.ts:\d+|\.js:\d+/, 'no stack trace');
}

describe('admin REST API', function () {
  this.timeout(30_000);
  let b: AdminBroker;
  let api: ReturnType<typeof client>;
  const clients: Stompit[] = [];
  const stomp = async () => {
    const c = await Stompit.connect({ port: b.stompPort });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    b = await startAdminBroker({ config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 0 }] } });
    api = client(b.url);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await b.close();
  });

  describe('authentication', () => {
    it('refuses requests without credentials with a 401 JSON error', async () => {
      const r = await request(b.url, 'GET', '/api/overview', { auth: null });
      assertJsonError(r, 401, 'unauthenticated');
      // RFC 9110 §15.5.2: a 401 carries a challenge (curl, requests, Prometheus-style scrapers rely on it)
      assert.equal(r.headers['www-authenticate'], 'Basic realm="wharf"');
      assertJsonError(await request(b.url, 'GET', '/api/overview', { headers: { authorization: 'Digest abc' }, auth: null }), 401, /unsupported/);
      assert.equal((await request(b.url, 'GET', '/api/overview', { headers: { authorization: 'Digest abc' }, auth: null })).headers['www-authenticate'], 'Basic realm="wharf"');
      // the console's own requests (fetch, EventSource) get no Basic challenge: it would pop up the browser's dialog
      for (const headers of [{ 'x-requested-with': 'XMLHttpRequest' }, { 'sec-fetch-mode': 'cors' }] as Record<string, string>[]) {
        const c = await request(b.url, 'GET', '/api/overview', { headers, auth: null });
        assertJsonError(c, 401, 'unauthenticated');
        assert.equal(c.headers['www-authenticate'], undefined, JSON.stringify(headers));
      }
    });

    it('refuses a wrong password (basic auth) and asks for basic auth', async () => {
      const r = await request(b.url, 'GET', '/api/overview', { auth: { user: 'admin', password: 'nope' } });
      assertJsonError(r, 401, /bad username or password/);
      assert.match(String(r.headers['www-authenticate']), /^Basic/);
      assertJsonError(await request(b.url, 'GET', '/api/overview', { headers: { authorization: 'Digest abc' }, auth: null }), 401, /unsupported/);
      assertJsonError(await request(b.url, 'GET', '/api/overview', { auth: { token: 'made-up' } }), 401, /invalid or expired token/);
    });

    it('logs in with a cookie session: HttpOnly, SameSite=Strict; mutations need the CSRF token', async () => {
      const login = await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'admin' }, auth: null });
      assert.equal(login.status, 200, login.text);
      const cookie = String((login.headers['set-cookie'] as string[])[0]);
      assert.match(cookie, /^wharf_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+/);
      assert.doesNotMatch(cookie, /Secure/, 'plain HTTP: no Secure flag');
      const pair = cookie.split(';')[0];
      const csrf = login.json.csrfToken as string;
      assert.ok(csrf && login.json.token);
      assert.deepEqual(login.json.user, { username: 'admin', role: 'admin', source: 'default' });

      const me = await request(b.url, 'GET', '/api/session', { auth: { cookie: pair } });
      assert.equal(me.status, 200);
      assert.equal(me.json.user.username, 'admin');
      assert.equal(me.json.csrfToken, csrf);

      assertJsonError(await request(b.url, 'POST', '/api/queues', { body: { name: 'a' }, auth: { cookie: pair } }), 403, 'csrf');
      assertJsonError(await request(b.url, 'POST', '/api/queues', { body: { name: 'a' }, auth: { cookie: pair, csrf: 'wrong' } }), 403, 'csrf');
      assertJsonError(
        await request(b.url, 'POST', '/api/queues', { body: { name: 'a' }, auth: { cookie: pair, csrf }, headers: { origin: 'http://evil.example' } }),
        403,
        /cross-origin/,
      );
      const ok = await request(b.url, 'POST', '/api/queues', { body: { name: 'a' }, auth: { cookie: pair, csrf }, headers: { origin: b.url } });
      assert.equal(ok.status, 201, ok.text);

      const out = await request(b.url, 'POST', '/api/logout', { auth: { cookie: pair, csrf } });
      assert.equal(out.status, 204);
      assert.match(String((out.headers['set-cookie'] as string[])[0]), /Max-Age=0/);
      assertJsonError(await request(b.url, 'GET', '/api/session', { auth: { cookie: pair } }), 401);
    });

    it('accepts the login token as a bearer token (no CSRF token needed)', async () => {
      const login = await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'admin' }, auth: null });
      const r = await request(b.url, 'POST', '/api/queues', { body: { name: 'tok' }, auth: { token: login.json.token } });
      assert.equal(r.status, 201);
    });

    it('rejects a bad login body with 400 and wrong credentials with 401', async () => {
      assertJsonError(await request(b.url, 'POST', '/api/login', { raw: '{nope', headers: { 'content-type': 'application/json' }, auth: null }), 400, /not valid JSON/);
      assertJsonError(await request(b.url, 'POST', '/api/login', { body: { password: 'x' }, auth: null }), 400, /username: required/);
      assertJsonError(await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'x' }, auth: null }), 401);
      assertJsonError(await request(b.url, 'POST', '/api/login', { raw: 'username=admin', headers: { 'content-type': 'application/x-www-form-urlencoded' }, auth: null }), 415);
    });

    it('the default admin/admin works only from loopback addresses', async () => {
      const cfg = parseConfig({}).admin;
      const auth = new AdminAuth(b.broker.engine, cfg);
      assert.equal((await auth.verify('admin', 'admin', '127.0.0.1')).username, 'admin');
      assert.equal((await auth.verify('admin', 'admin', '::ffff:127.0.0.1')).username, 'admin');
      assert.equal((await auth.verify('admin', 'admin', '::1')).username, 'admin');
      await assert.rejects(auth.verify('admin', 'admin', '10.1.2.3'), /only works from localhost/);
      await assert.rejects(auth.verify('admin', 'admin', '::ffff:192.168.1.9'), /only works from localhost/);
    });

    it('the default admin/admin is refused over the network (real non-loopback connection)', async function () {
      const ip = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (!ip) this.skip(); // no non-loopback interface on this machine; covered by the unit check above
      const open = await startAdminBroker({ adminHost: '0.0.0.0' });
      try {
        const r = await request(`http://${ip}:${open.adminPort}`, 'GET', '/api/overview');
        assertJsonError(r, 401, /only works from localhost/);
        assert.equal((await request(open.url, 'GET', '/api/overview')).status, 200);
      } finally {
        await open.close();
      }
    });

    it('configured users (scrypt hashes) replace the default user; viewers may only look', async () => {
      const [adminHash, viewerHash] = await Promise.all([hashPassword('s3cret-admin'), hashPassword('just-looking')]);
      assert.ok(await verifyPassword('s3cret-admin', adminHash));
      assert.ok(!(await verifyPassword('wrong', adminHash)));
      const c = await startAdminBroker({
        config: { admin: { users: [{ username: 'ops', passwordHash: adminHash }, { username: 'eve', passwordHash: viewerHash, role: 'viewer' }] } },
      });
      try {
        assertJsonError(await request(c.url, 'GET', '/api/overview', { auth: ADMIN }), 401);
        assert.equal((await request(c.url, 'GET', '/api/overview', { auth: { user: 'ops', password: 's3cret-admin' } })).status, 200);
        const viewer = { user: 'eve', password: 'just-looking' };
        assert.equal((await request(c.url, 'GET', '/api/destinations', { auth: viewer })).status, 200);
        assertJsonError(await request(c.url, 'POST', '/api/queues', { body: { name: 'x' }, auth: viewer }), 403, 'forbidden');
        const users = await request(c.url, 'GET', '/api/users', { auth: viewer });
        assert.deepEqual(users.json.items.map((u: { username: string; role: string }) => `${u.username}:${u.role}`), ['ops:admin', 'eve:viewer']);
        assert.equal(users.json.defaultUserActive, false);
        assert.doesNotMatch(users.text, /scrypt/);
      } finally {
        await c.close();
      }
    });

    it('runtime users: create, log in, delete; a runtime admin turns the default user off', async () => {
      assertJsonError(await api.put('/api/users/bob', { password: 'short' }), 400, /at least 8/);
      assertJsonError(await api.put('/api/users/bad%20name', { password: 'long-enough' }), 400, /username/);
      assertJsonError(await api.put('/api/users/bob', { password: 'long-enough', role: 'root' }), 400, /role/);
      const r = await api.put('/api/users/bob', { password: 'long-enough-pw', role: 'viewer' });
      assert.equal(r.status, 200, r.text);
      const bob = { user: 'bob', password: 'long-enough-pw' };
      assert.equal((await request(b.url, 'GET', '/api/overview', { auth: bob })).status, 200);
      assert.equal((await api.get('/api/overview')).status, 200, 'a viewer does not turn admin/admin off');
      assert.equal((await api.put('/api/users/root', { password: 'root-password', role: 'admin' })).status, 200);
      assertJsonError(await api.get('/api/overview'), 401);
      const root = client(b.url, { user: 'root', password: 'root-password' });
      assert.equal((await root.del('/api/users/bob')).status, 204);
      assertJsonError(await root.del('/api/users/bob'), 404);
      assertJsonError(await request(b.url, 'GET', '/api/overview', { auth: bob }), 401);
    });

    it('throttles repeated failed logins of a user from one address, without locking the other users out', async () => {
      for (let i = 0; i < 20; i++) await request(b.url, 'POST', '/api/login', { body: { username: 'x', password: 'y' }, auth: null });
      assertJsonError(await request(b.url, 'POST', '/api/login', { body: { username: 'x', password: 'y' }, auth: null }), 429);
      // the same address, another user: the failures of 'x' do not lock 'admin' out
      assert.equal((await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'admin' }, auth: null })).status, 200);
    });

    it('an address failing for many users (password spraying) is locked out as a whole', async () => {
      for (let i = 0; i < 100; i++) await request(b.url, 'POST', '/api/login', { body: { username: `u${i}`, password: 'y' }, auth: null });
      assertJsonError(await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'admin' }, auth: null }), 429);
    });
  });

  describe('general', () => {
    it('unknown endpoints are 404, wrong methods 405 with Allow, all as JSON', async () => {
      assertJsonError(await api.get('/api/nothing-here'), 404);
      assertJsonError(await api.get('/nothing-here'), 404);
      const r = await api.put('/api/overview', {});
      assertJsonError(r, 405);
      assert.equal(r.headers.allow, 'GET, HEAD', 'HEAD is served wherever GET is');
      assert.equal((await request(b.url, 'HEAD', '/api/overview', { auth: ADMIN })).status, 200);
    });

    it('malformed paths and percent-encoding are 400s', async () => {
      assertJsonError(await api.get('/api/queues/%E0%A4%A'), 400, /malformed/);
      await api.post('/api/queues', { name: 'x' });
      assertJsonError(await api.get('/api/queues/x/messages/1e5'), 400, /seq/);
    });

    it('over TLS (8162 in production) the session cookie is Secure', async () => {
      const tlsB = await startAdminBroker({ config: { listeners: { admin: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } } } } });
      try {
        const port = tlsB.broker.listenerAddresses()['admin-tls'].port;
        const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
          const body = JSON.stringify({ username: 'admin', password: 'admin' });
          const req = https.request({ host: '127.0.0.1', port, path: '/api/login', method: 'POST', ca: readFileSync(tlsFixture('ca.crt')), servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
            r.resume();
            r.on('end', () => resolve({ status: r.statusCode ?? 0, cookie: String((r.headers['set-cookie'] ?? [])[0]) }));
          });
          req.on('error', reject);
          req.end(body);
        });
        assert.equal(res.status, 200);
        assert.match(res.cookie, /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      } finally {
        await tlsB.close();
      }
    });

    it('/healthz and /readyz answer without a login', async () => {
      const h = await request(b.url, 'GET', '/healthz', { auth: null });
      assert.equal(h.status, 200);
      assert.deepEqual(h.json, { status: 'ok' });
      const r = await request(b.url, 'GET', '/readyz', { auth: null });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { status: 'ready', checks: { store: 'ok', listeners: 'ok', cluster: 'standalone' } });
      assert.equal((await request(b.url, 'HEAD', '/healthz', { auth: null })).status, 200);
      for (const p of ['/healthz', '/readyz', '/metrics']) {
        const bad = await request(b.url, 'POST', p, { auth: null });
        assertJsonError(bad, 405, 'method-not-allowed');
        assert.equal(bad.headers.allow, 'GET, HEAD', p);
      }
    });

    it('refuses bodies larger than the limit with 413', async () => {
      const big = 'x'.repeat(Math.ceil(b.config.limits.maxFrameSize * 1.4) + 300 * 1024);
      const r = await api.post('/api/queues/q/messages', { body: big });
      assert.equal(r.status, 413);
    });

    it('overview: version, uptime, listeners, counts, rates, memory, store size', async () => {
      const s = await stomp();
      await s.send('/queue/orders', 'x', { persistent: 'true' });
      const r = await api.get('/api/overview');
      assert.equal(r.status, 200);
      const o = r.json;
      assert.match(o.version, /^\d+\.\d+\.\d+/);
      assert.equal(o.state, 'started');
      assert.equal(o.listeners.admin.port, b.adminPort);
      assert.equal(o.listeners.stomp.port, b.stompPort);
      assert.equal(o.counts.queues, 1);
      assert.equal(o.counts.connections, 1);
      assert.equal(o.counts.depth, 1);
      assert.deepEqual(o.connectionsByProtocol, { stomp: 1 });
      assert.equal(o.cluster.role, 'standalone');
      assert.ok(o.memory.rss > 0 && o.storeBytes > 0);
      for (const k of ['publish', 'deliver', 'ack']) assert.equal(typeof o.rates[k], 'number');
    });

    it('rates history and the live event stream (SSE)', async () => {
      const s = await stomp();
      await until(async () => (await api.get('/api/rates')).json.samples.length >= 2, 'two samples');
      const events: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${b.url}/api/events`, { headers: { authorization: 'Basic ' + Buffer.from('admin:admin').toString('base64') } }, (res) => {
          assert.equal(res.statusCode, 200);
          assert.match(String(res.headers['content-type']), /^text\/event-stream/);
          let buf = '';
          res.on('data', (c: Buffer) => {
            buf += c.toString();
            const parts = buf.split('\n\n');
            buf = parts.pop()!;
            events.push(...parts);
            if (events.some((e) => e.startsWith('event: sample'))) {
              req.destroy();
              resolve();
            }
          });
          void s.send('/queue/live', 'x', { persistent: 'true' }).catch(reject);
        });
        req.on('error', () => undefined);
      });
      const history = events.find((e) => e.includes('event: history'))!;
      assert.ok(Array.isArray(JSON.parse(history.split('data: ')[1])));
      const sample = JSON.parse(events.find((e) => e.startsWith('event: sample'))!.split('data: ')[1]);
      for (const k of ['t', 'publish', 'deliver', 'ack', 'depth', 'connections']) assert.equal(typeof sample[k], 'number', k);
      assert.equal(sample.counts.connections, 1);
    });
  });

  describe('destinations', () => {
    it('lists with filter, glob, kind, sort and paging (names only sorted ties)', async () => {
      for (let i = 0; i < 30; i++) assert.equal((await api.post('/api/queues', { name: `load.q${String(i).padStart(2, '0')}` })).status, 201);
      await api.post('/api/queues', { name: 'other' });
      const s = await stomp();
      for (let i = 0; i < 3; i++) await s.send('/queue/load.q07', `m${i}`, { persistent: 'true' });
      await s.send('/queue/load.q03', 'm', { persistent: 'true' });
      await s.send('/topic/news', 'n');

      const all = await api.get('/api/destinations?limit=1000');
      assert.equal(all.json.total, 32);
      const pageTwo = await api.get('/api/destinations?kind=queue&filter=load.&limit=10&offset=10');
      assert.equal(pageTwo.json.total, 30);
      assert.deepEqual(pageTwo.json.items.map((d: { name: string }) => d.name), Array.from({ length: 10 }, (_, i) => `load.q${String(i + 10).padStart(2, '0')}`));
      const byDepth = await api.get('/api/destinations?sort=depth&limit=2');
      assert.deepEqual(byDepth.json.items.map((d: { name: string; depth: number }) => [d.name, d.depth]), [['load.q07', 3], ['load.q03', 1]]);
      const asc = await api.get('/api/destinations?kind=queue&sort=depth&order=asc&limit=1');
      assert.equal(asc.json.items[0].depth, 0);
      const glob = await api.get('/api/destinations?filter=load.q0?');
      assert.equal(glob.json.total, 10);
      const topics = await api.get('/api/destinations?kind=topic');
      assert.deepEqual(topics.json.items.map((d: { name: string; enqueued: number }) => [d.name, d.enqueued]), [['news', 1]]);
      assert.deepEqual((await api.get('/api/topics')).json.items.map((d: { name: string }) => d.name), ['news']);
      assert.equal((await api.get('/api/queues?filter=other')).json.total, 1);

      assertJsonError(await api.get('/api/destinations?sort=colour'), 400, /sort/);
      assertJsonError(await api.get('/api/destinations?order=up'), 400, /order/);
      assertJsonError(await api.get('/api/destinations?limit=0'), 400, /limit/);
      assertJsonError(await api.get('/api/destinations?limit=abc'), 400, /limit/);
      assertJsonError(await api.get('/api/destinations?kind=exchange'), 400, /kind/);
    });

    it('creates queues (idempotently) and validates names and bodies', async () => {
      const r = await api.post('/api/queues', { name: 'orders.eu' });
      assert.equal(r.status, 201);
      assert.equal(r.json.name, 'orders.eu');
      assert.equal(r.json.created, true);
      const again = await api.post('/api/queues', { name: 'orders.eu' });
      assert.equal(again.status, 200);
      assert.equal(again.json.created, false);
      assertJsonError(await api.post('/api/queues', { name: 'orders.*' }), 400, /wildcards/);
      assertJsonError(await api.post('/api/queues', { name: 'a,b' }), 400, /commas/);
      assertJsonError(await api.post('/api/queues', { name: 'queue://x' }), 400, /plain name/);
      assertJsonError(await api.post('/api/queues', {}), 400, /name: required/);
      assertJsonError(await api.post('/api/queues', { name: 42 }), 400, /expected a string/);
      assertJsonError(await api.post('/api/queues', ['x']), 400, /JSON object/);
      assertJsonError(await request(b.url, 'POST', '/api/queues', { raw: 'nope', headers: { 'content-type': 'application/json' } }), 400, /not valid JSON/);
      const dlq = await api.post('/api/queues', { name: 'DLQ.custom', dlq: true });
      assert.equal(dlq.json.dlq, true);
      // survives a restart
      const got = await api.get('/api/queues/orders.eu');
      assert.equal(got.status, 200);
      assert.equal(got.json.persistent, true);
      assert.equal(got.json.policy.maxRedeliveries, 0);
    });

    it('404 for unknown queues, topics and subscriptions on every route', async () => {
      const paths: Array<[string, string]> = [
        ['GET', '/api/queues/nope'],
        ['DELETE', '/api/queues/nope'],
        ['POST', '/api/queues/nope/purge'],
        ['POST', '/api/queues/nope/pause'],
        ['POST', '/api/queues/nope/resume'],
        ['GET', '/api/queues/nope/messages'],
        ['GET', '/api/queues/nope/messages/1'],
        ['DELETE', '/api/queues/nope/messages/1'],
        ['POST', '/api/queues/nope/messages/1/move'],
        ['POST', '/api/queues/nope/messages/1/copy'],
        ['POST', '/api/queues/nope/retry'],
        ['POST', '/api/queues/nope/messages/1/retry'],
        ['GET', '/api/topics/nope'],
        ['GET', '/api/subscriptions/nope'],
        ['DELETE', '/api/subscriptions/nope'],
        ['POST', '/api/subscriptions/nope/purge'],
        ['GET', '/api/subscriptions/nope/messages'],
        ['GET', '/api/connections/nope'],
        ['DELETE', '/api/connections/nope'],
        ['DELETE', '/api/scheduled/nope'],
      ];
      for (const [m, p] of paths) assertJsonError(await request(b.url, m, p, { body: m === 'POST' ? { to: 'x' } : undefined }), 404, 'not-found');
    });

    it('deletes queues (ifEmpty / ifUnused guards)', async () => {
      const s = await stomp();
      await s.send('/queue/full', 'x', { persistent: 'true' });
      assertJsonError(await api.del('/api/queues/full?ifEmpty=true'), 409, 'not-empty');
      assert.equal((await api.del('/api/queues/full')).status, 204);
      assertJsonError(await api.get('/api/queues/full'), 404);
      await s.subscribe('/queue/used');
      assertJsonError(await api.del('/api/queues/used?ifUnused=true'), 409, 'in-use');
    });

    it('purges, pauses and resumes dispatch', async () => {
      const s = await stomp();
      for (let i = 0; i < 4; i++) await s.send('/queue/work', `m${i}`, { persistent: 'true' });
      const p = await api.post('/api/queues/work/purge');
      assert.deepEqual(p.json, { removed: 4 });
      assert.equal((await api.get('/api/queues/work')).json.depth, 0);

      assert.deepEqual((await api.post('/api/queues/work/pause')).json, { name: 'work', paused: true });
      const inbox = await s.subscribe('/queue/work');
      await s.send('/queue/work', 'held', { persistent: 'true' });
      await inbox.none(300);
      assert.equal((await api.get('/api/queues/work')).json.paused, true);
      await api.post('/api/queues/work/resume');
      assert.equal((await inbox.next()).text, 'held');
    });
    it('paused dispatch survives a restart; resume and delete forget it', async () => {
      await api.post('/api/queues', { name: 'held' });
      await api.post('/api/queues', { name: 'gone' });
      await api.post('/api/queues/held/pause');
      await api.post('/api/queues/gone/pause');
      await api.del('/api/queues/gone');
      await b.restart();
      api = client(b.url);
      await until(() => b.broker.engine.getQueue('held')!.paused, 'pause restored');
      assert.equal((await api.get('/api/queues/held')).json.paused, true);
      assert.deepEqual(b.broker.engine.kvEntries('admin:paused:').map(([k]) => k), ['admin:paused:q:held']);
      await api.post('/api/queues/held/resume');
      await b.restart();
      api = client(b.url);
      assert.equal((await api.get('/api/queues/held')).json.paused, false);
    });
  });

  describe('messages', () => {
    it('browses with paging and selectors, and shows one message with body and properties', async () => {
      const s = await stomp();
      for (let i = 0; i < 5; i++) await s.send('/queue/browse.me', `body ${i}`, { persistent: 'true', n: String(i), colour: i % 2 ? 'red' : 'blue', 'content-type': 'text/plain' });
      const p = await api.get('/api/queues/browse.me/messages?offset=1&limit=2');
      assert.equal(p.status, 200);
      assert.equal(p.json.total, 5);
      assert.deepEqual(p.json.items.map((m: { body: string }) => m.body), ['body 1', 'body 2']);
      const m = p.json.items[0];
      assert.equal(m.properties.colour, 'red');
      assert.equal(m.bodyEncoding, 'utf8');
      assert.equal(m.state, 'ready');
      assert.equal(m.durable, true);
      const sel = await api.get(`/api/queues/browse.me/messages?selector=${enc("colour = 'red'")}`);
      assert.equal(sel.json.total, null);
      assert.deepEqual(sel.json.items.map((x: { body: string }) => x.body), ['body 1', 'body 3']);
      assertJsonError(await api.get(`/api/queues/browse.me/messages?selector=${enc('colour = = 1')}`), 400, /selector/i);
      assertJsonError(await api.get('/api/queues/browse.me/messages?limit=100000'), 400, /limit/);

      const one = await api.get(`/api/queues/browse.me/messages/${m.seq}`);
      assert.equal(one.status, 200);
      assert.equal(one.json.body, 'body 1');
      assert.equal(one.json.properties.n, '1');
      assert.equal(one.json.messageId, m.messageId);
      assertJsonError(await api.get('/api/queues/browse.me/messages/999'), 404);
      assertJsonError(await api.get('/api/queues/browse.me/messages/abc'), 400);
    });

    it('previews bodies: long text is cut, binary is base64', async () => {
      const s = await stomp();
      await s.send('/queue/bodies', 'y'.repeat(1000), { persistent: 'true', 'content-type': 'text/plain' });
      await s.send('/queue/bodies', Buffer.from([0, 1, 2, 255, 254]), { persistent: 'true', 'content-type': 'application/octet-stream', 'content-length': 5 });
      const list = await api.get('/api/queues/bodies/messages');
      const [text, bin] = list.json.items;
      assert.equal(text.bodySize, 1000);
      assert.equal(text.bodyTruncated, true);
      assert.equal(text.body.length, 256);
      assert.equal(bin.bodyEncoding, 'base64');
      assert.deepEqual([...Buffer.from(bin.body, 'base64')], [0, 1, 2, 255, 254]);
      const full = await api.get(`/api/queues/bodies/messages/${text.seq}`);
      assert.equal(full.json.body.length, 1000);
      assert.equal(full.json.bodyTruncated, false);
    });

    it('sends a message that a STOMP client receives, with headers and properties', async () => {
      const s = await stomp();
      const inbox = await s.subscribe('/queue/inbound');
      const r = await api.post('/api/queues/inbound/messages', { body: 'from the API', properties: { region: 'eu', count: 3, urgent: true }, priority: 7, correlationId: 'c-1', type: 'note' });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.destination, 'queue://inbound');
      const got = await inbox.next();
      assert.equal(got.text, 'from the API');
      assert.equal(got.headers.region, 'eu');
      assert.equal(got.headers.count, '3');
      assert.equal(got.headers.priority, '7');
      assert.equal(got.headers['correlation-id'], 'c-1');
      assert.equal(got.headers['message-id'], r.json.messageId);
      const bin = await api.post('/api/queues/inbound/messages', { body: Buffer.from([1, 2, 3]).toString('base64'), bodyEncoding: 'base64' });
      assert.equal(bin.status, 201);
      assert.deepEqual([...(await inbox.next()).body], [1, 2, 3]);
    });

    it('rejects bad message bodies with 400', async () => {
      const bad: Array<[unknown, RegExp]> = [
        [{ body: 5 }, /body: expected a string/],
        [{ body: 'x', properties: { nested: { a: 1 } } }, /properties.nested/],
        [{ body: 'x', properties: { 'bad name': 1 } }, /invalid property name/],
        [{ body: 'x', priority: 12 }, /priority/],
        [{ body: 'x', ttl: -1 }, /ttl/],
        [{ body: 'x', colour: 'red' }, /colour: unknown field/],
        [{ body: '***', bodyEncoding: 'base64' }, /base64/],
        [{ body: 'x', bodyEncoding: 'hex' }, /bodyEncoding/],
        [{ body: 'x', replyTo: 'somewhere' }, /replyTo/],
      ];
      for (const [body, re] of bad) assertJsonError(await api.post('/api/queues/q/messages', body), 400, re);
      assertJsonError(await api.post('/api/queues/a%2Cb/messages', { body: 'x' }), 400, /commas/);
      assertJsonError(await api.post('/api/topics/a.*/messages', { body: 'x' }), 400, /wildcards/);
    });

    it('deletes, moves and copies single messages', async () => {
      const s = await stomp();
      for (const t of ['one', 'two', 'three']) await s.send('/queue/src', t, { persistent: 'true' });
      const [a, bm, c] = (await api.get('/api/queues/src/messages')).json.items;
      assert.equal((await api.del(`/api/queues/src/messages/${a.seq}`)).status, 204);
      assertJsonError(await api.del(`/api/queues/src/messages/${a.seq}`), 404);
      const mv = await api.post(`/api/queues/src/messages/${bm.seq}/move`, { to: 'dst' });
      assert.deepEqual(mv.json, { movedTo: 'queue://dst' });
      const cp = await api.post(`/api/queues/src/messages/${c.seq}/copy`, { to: 'queue://dst' });
      assert.deepEqual(cp.json, { copiedTo: 'queue://dst' });
      assertJsonError(await api.post(`/api/queues/src/messages/${c.seq}/move`, {}), 400, /to: required/);
      assertJsonError(await api.post(`/api/queues/src/messages/${c.seq}/move`, { to: 'src' }), 400, /already there/);
      assertJsonError(await api.post(`/api/queues/src/messages/${c.seq}/move`, { to: 'a.>' }), 400, /wildcards/);
      assertJsonError(await api.post(`/api/queues/src/messages/${bm.seq}/move`, { to: 'dst' }), 404);
      assert.deepEqual((await api.get('/api/queues/src/messages')).json.items.map((m: { body: string }) => m.body), ['three']);
      assert.deepEqual((await api.get('/api/queues/dst/messages')).json.items.map((m: { body: string }) => m.body), ['two', 'three']);
    });

    it('in-flight messages cannot be deleted or moved (409)', async () => {
      const s = await stomp();
      await s.send('/queue/busy', 'x', { persistent: 'true' });
      const inbox = await s.subscribe('/queue/busy', { ack: 'client-individual' });
      await inbox.next();
      const [m] = (await api.get('/api/queues/busy/messages')).json.items;
      assert.equal(m.state, 'inflight');
      assertJsonError(await api.del(`/api/queues/busy/messages/${m.seq}`), 409, 'in-flight');
      assertJsonError(await api.post(`/api/queues/busy/messages/${m.seq}/move`, { to: 'other' }), 409, 'in-flight');
    });

    it('retries dead-lettered messages to their original destination, one or all', async () => {
      const engine = b.broker.engine;
      for (let i = 0; i < 3; i++) await engine.send(createMessage({ body: Buffer.from(`bad ${i}`), properties: { i } }), queue('orders'));
      const deliveries: Delivery[] = [];
      const c = await engine.subscribe({ address: queue('orders'), prefetch: 10, onMessage: (d) => deliveries.push(d) });
      await until(() => deliveries.length === 3, 'deliveries');
      for (const d of deliveries) c.nack(d.id, { deadLetter: true, reason: 'poison' });
      c.close();
      await until(() => (engine.getQueue('DLQ.orders')?.depth ?? 0) === 3, 'dead letters');

      const dl = await api.get('/api/destinations?dlq=true');
      assert.deepEqual(dl.json.items.map((d: { name: string; depth: number }) => [d.name, d.depth]), [['DLQ.orders', 3]]);
      const [first] = (await api.get('/api/queues/DLQ.orders/messages')).json.items;
      assert.equal(first.properties.originalDestination, 'queue://orders');
      assert.equal(first.properties.dlqDeliveryFailureCause, 'poison');

      const one = await api.post(`/api/queues/DLQ.orders/messages/${first.seq}/retry`);
      assert.deepEqual(one.json, { moved: 1 });
      const back = (await api.get('/api/queues/orders/messages')).json.items;
      assert.equal(back.length, 1);
      assert.equal(back[0].body, 'bad 0');
      assert.equal(back[0].properties.originalDestination, undefined);
      const all = await api.post('/api/queues/DLQ.orders/retry');
      assert.deepEqual(all.json, { moved: 2 });
      assert.equal((await api.get('/api/queues/orders')).json.depth, 3);
      assert.equal((await api.get('/api/queues/DLQ.orders')).json.depth, 0);
      assertJsonError(await api.post('/api/queues/DLQ.orders/retry', { seqs: ['x'] }), 400, /seqs/);
      // a message that was never dead-lettered has nowhere to go back to
      const [plain] = (await api.get('/api/queues/orders/messages')).json.items;
      assertJsonError(await api.post(`/api/queues/orders/messages/${plain.seq}/retry`), 400, /originalDestination/);
      const elsewhere = await api.post(`/api/queues/orders/messages/${plain.seq}/retry`, { to: 'parking' });
      assert.deepEqual(elsewhere.json, { moved: 1 });
    });
  });

  describe('topics and subscriptions', () => {
    it('shows a topic with its subscriptions and publishes to it', async () => {
      const s = await stomp();
      const inbox = await s.subscribe('/topic/news.eu');
      const t = await api.get('/api/topics/news.eu');
      assert.equal(t.status, 200);
      assert.equal(t.json.kind, 'topic');
      assert.equal(t.json.consumers, 1);
      assert.equal(t.json.subscriptions.length, 1);
      assert.equal(t.json.subscriptions[0].type, 'non-durable');
      const r = await api.post('/api/topics/news.eu/messages', { body: 'extra!' });
      assert.equal(r.status, 201);
      assert.equal((await inbox.next()).text, 'extra!');
    });

    it('lists, browses, purges and deletes durable subscriptions', async () => {
      const engine = b.broker.engine;
      const c = await engine.subscribe({ address: topic('prices.>'), durable: { name: 'watch', clientId: 'app1' }, credit: 0, onMessage: () => undefined });
      c.close();
      await engine.send(createMessage({ body: Buffer.from('p1') }), topic('prices.gold'));
      await engine.send(createMessage({ body: Buffer.from('p2') }), topic('prices.oil'));
      const list = await api.get('/api/subscriptions');
      assert.equal(list.json.total, 1);
      const sub = list.json.items[0];
      assert.deepEqual([sub.name, sub.type, sub.topic, sub.clientId, sub.subscriptionName, sub.backlog, sub.consumers], ['durable:app1:watch', 'durable', 'prices.>', 'app1', 'watch', 2, 0]);
      assert.equal((await api.get('/api/subscriptions?type=shared')).json.total, 0);
      const name = enc(sub.name);
      const msgs = await api.get(`/api/subscriptions/${name}/messages`);
      assert.deepEqual(msgs.json.items.map((m: { body: string }) => m.body), ['p1', 'p2']);
      assert.equal((await api.get(`/api/subscriptions/${name}`)).json.depth, 2);
      assert.deepEqual((await api.post(`/api/subscriptions/${name}/purge`)).json, { removed: 2 });
      assert.equal((await api.del(`/api/subscriptions/${name}`)).status, 204);
      assert.equal((await api.get('/api/subscriptions')).json.total, 0);
    });
  });

  describe('connections, consumers, producers', () => {
    it('lists connections and consumers, shows one, and closes it', async () => {
      const s = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'dashboard-1', login: 'alice', passcode: 'x' } });
      clients.push(s);
      await s.subscribe('/queue/jobs');
      await s.send('/queue/jobs2', 'x', { persistent: 'true' });
      const list = await api.get('/api/connections');
      assert.equal(list.json.total, 1);
      const c = list.json.items[0];
      assert.equal(c.protocol, 'stomp');
      assert.equal(c.clientId, 'dashboard-1');
      assert.equal(c.user, 'alice');
      assert.equal(c.remoteAddress, '127.0.0.1');
      assert.equal(c.consumers, 1);
      assert.equal(c.messagesIn, 1);
      assert.equal((await api.get('/api/connections?protocol=mqtt')).json.total, 0);
      assert.equal((await api.get('/api/connections?filter=dashboard')).json.total, 1);
      const one = await api.get(`/api/connections/${enc(c.id)}`);
      assert.deepEqual(one.json.consumerList.map((x: { destination: string }) => x.destination), ['jobs']);
      const consumers = await api.get('/api/consumers');
      assert.deepEqual(consumers.json.items.map((x: { destination: string; connection: string }) => [x.destination, x.connection]), [['jobs', c.id]]);
      assert.equal((await api.get('/api/producers')).status, 200);

      const socket = s.client.getTransportSocket();
      assert.equal((await api.del(`/api/connections/${enc(c.id)}`)).status, 204);
      await until(() => socket.destroyed, 'the STOMP socket to close');
      assert.equal((await api.get('/api/connections')).json.total, 0);
      assertJsonError(await api.del(`/api/connections/${enc(c.id)}`), 404);
    });
  });

  describe('default user', () => {
    it('a session of the built-in admin/admin ends once a real admin user exists', async () => {
      const login = await request(b.url, 'POST', '/api/login', { body: { username: 'admin', password: 'admin' }, auth: null });
      assert.equal(login.status, 200);
      const token = login.json.token as string;
      const bearer = { headers: { authorization: `Bearer ${token}` }, auth: null };
      assert.equal((await request(b.url, 'GET', '/api/overview', bearer)).status, 200);
      assert.equal((await api.put('/api/users/root2', { password: 'root-password', role: 'admin' })).status, 200);
      assertJsonError(await request(b.url, 'GET', '/api/overview', bearer), 401);
      assertJsonError(await request(b.url, 'POST', '/api/queues/x/pause', bearer), 401);
    });
  });

  describe('SQS and SNS', () => {
    it("the broker's own SQS/SNS connections are not listed as clients and cannot be closed (409)", async () => {
      const aws = await startAdminBroker({ sqs: true });
      try {
        const api2 = client(aws.url);
        await until(() => aws.broker.engine.listConnections().some((c) => c.principal.internal), 'the SQS/SNS services connected');
        const listed = (await api2.get('/api/connections')).json.items as Array<{ id: string }>;
        const internal = aws.broker.engine.listConnections().filter((c) => c.principal.internal);
        assert.ok(internal.length >= 1);
        for (const c of internal) {
          assert.ok(!listed.some((x) => x.id === c.id), `${c.id} is not listed as a client`);
          assertJsonError(await api2.del(`/api/connections/${c.id}`), 409);
        }
        assert.ok(((await api2.get('/api/connections?internal=true')).json.items as Array<{ id: string }>).some((x) => x.id === internal[0].id), 'listed on request');
        assert.ok(aws.broker.engine.listConnections().some((c) => c.id === internal[0].id), 'still open');
      } finally {
        await aws.close();
      }
    });

    it('shows SQS queues, SNS topics and their subscriptions', async () => {
      const aws = await startAdminBroker({ sqs: true });
      try {
        const call = (params: Record<string, string>) =>
          request(`http://127.0.0.1:${aws.sqsPort}`, 'POST', '/', { raw: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, auth: null });
        assert.equal((await call({ Action: 'CreateQueue', QueueName: 'jobs', Version: '2012-11-05' })).status, 200);
        assert.equal((await call({ Action: 'CreateQueue', QueueName: 'jobs.fifo', 'Attribute.1.Name': 'FifoQueue', 'Attribute.1.Value': 'true', Version: '2012-11-05' })).status, 200);
        assert.equal((await call({ Action: 'SendMessage', QueueUrl: `http://127.0.0.1:${aws.sqsPort}/000000000000/jobs`, MessageBody: 'hi', Version: '2012-11-05' })).status, 200);
        assert.equal((await call({ Action: 'CreateTopic', Name: 'events', Version: '2010-03-31' })).status, 200);
        const sub = await call({ Action: 'Subscribe', TopicArn: 'arn:aws:sns:us-east-1:000000000000:events', Protocol: 'sqs', Endpoint: 'arn:aws:sqs:us-east-1:000000000000:jobs', Version: '2010-03-31' });
        assert.equal(sub.status, 200, sub.text);
        const api2 = client(aws.url);
        const qs = await api2.get('/api/sqs/queues');
        assert.deepEqual(qs.json.items.map((q: { name: string; fifo: boolean; visible: number }) => [q.name, q.fifo, q.visible]), [['jobs', false, 1], ['jobs.fifo', true, 0]]);
        const ts = await api2.get('/api/sns/topics');
        assert.deepEqual(ts.json.items.map((t: { name: string; subscriptions: number }) => [t.name, t.subscriptions]), [['events', 1]]);
        const subs = await api2.get('/api/sns/subscriptions?topic=events');
        assert.equal(subs.json.items.length, 1);
        assert.equal(subs.json.items[0].protocol, 'sqs');
        assert.equal(subs.json.items[0].endpoint, 'arn:aws:sqs:us-east-1:000000000000:jobs');
        assert.doesNotMatch(subs.text, /token/i);
      } finally {
        await aws.close();
      }
    });
  });

  describe('cluster, policies, scheduler', () => {
    it('reports a standalone node, the policies and scheduled jobs', async () => {
      const cl = await api.get('/api/cluster');
      assert.equal(cl.json.role, 'standalone');
      assert.equal(cl.json.nodes.length, 1);
      const p = await api.get('/api/policies');
      assert.equal(p.json.defaults.deadLetterQueue, 'DLQ.{name}');
      assert.deepEqual(p.json.rules, [{ match: '>', kind: 'queue', maxRedeliveries: 0 }]);
      await b.broker.engine.send(createMessage({ body: Buffer.from('tick'), properties: { AMQ_SCHEDULED_CRON: '0 0 1 1 *' } }), queue('cron'));
      const jobs = await api.get('/api/scheduled');
      assert.equal(jobs.json.items.length, 1);
      assert.equal((await api.del(`/api/scheduled/${enc(jobs.json.items[0].id)}`)).status, 204);
      assert.equal((await api.get('/api/scheduled')).json.items.length, 0);
    });
  });

  describe('definitions', () => {
    it('exports and imports destinations, subscriptions and users into another broker', async () => {
      await api.post('/api/queues', { name: 'orders' });
      await api.post('/api/queues', { name: 'DLQ.orders', dlq: true });
      await api.put('/api/users/viewer1', { password: 'viewer-password', role: 'viewer' });
      const engine = b.broker.engine;
      const c1 = await engine.subscribe({ address: topic('prices.>'), durable: { name: 'watch', clientId: 'app1' }, selector: "region = 'eu'", credit: 0, onMessage: () => undefined });
      const c2 = await engine.subscribe({ address: topic('audit'), durable: { name: 'auditors' }, shared: 'auditors', credit: 0, onMessage: () => undefined });
      c1.close();
      c2.close();
      await engine.send(createMessage({ body: Buffer.from('x') }), topic('announcements'));
      // hashes only for an admin who asks for them
      assert.equal((await api.get('/api/definitions')).json.users[0].passwordHash, undefined, 'no hashes unless asked');
      const asViewer = await request(b.url, 'GET', '/api/definitions?hashes=true', { auth: { user: 'viewer1', password: 'viewer-password' } });
      assert.equal(asViewer.status, 200);
      assert.ok(!asViewer.text.includes('scrypt$') && asViewer.json.users.length === 1, 'a viewer never gets password hashes, even asking');
      const ex = await api.get('/api/definitions?hashes=true');
      assert.equal(ex.status, 200);
      const doc = ex.json;
      assert.equal(doc.wharf, 'definitions');
      assert.deepEqual(doc.queues, [{ name: 'DLQ.orders', dlq: true }, { name: 'orders' }]);
      assert.ok(doc.topics.some((t: { name: string }) => t.name === 'announcements'));
      assert.deepEqual(doc.subscriptions.sort((x: { name: string }, y: { name: string }) => x.name.localeCompare(y.name)), [
        { type: 'shared', name: 'auditors', topic: 'audit' },
        { type: 'durable', name: 'watch', clientId: 'app1', topic: 'prices.>', selector: "region = 'eu'" },
      ]);
      assert.equal(doc.users.length, 1);
      assert.match(doc.users[0].passwordHash, /^scrypt\$/);

      const other = await startAdminBroker();
      try {
        const api2 = client(other.url);
        const imp = await api2.post('/api/definitions', doc);
        assert.equal(imp.status, 200, imp.text);
        assert.deepEqual(imp.json.created, { queues: 2, topics: doc.topics.length, subscriptions: 2, policyOverrides: 0, users: 1, brokerUsers: 0, acl: 0 });
        const again = await api2.post('/api/definitions', doc);
        assert.deepEqual(again.json.created, { queues: 0, topics: 0, subscriptions: 0, policyOverrides: 0, users: 0, brokerUsers: 0, acl: 0 });
        assert.deepEqual(again.json.existing, { queues: 2, topics: doc.topics.length, subscriptions: 2, policyOverrides: 0, users: 1, brokerUsers: 0, acl: 0 });
        const round = (await api2.get('/api/definitions')).json;
        assert.deepEqual(round.queues, doc.queues);
        assert.deepEqual(round.subscriptions.length, 2);
        assert.equal((await request(other.url, 'GET', '/api/overview', { auth: { user: 'viewer1', password: 'viewer-password' } })).status, 200);
        await other.broker.engine.send(createMessage({ body: Buffer.from('gold'), properties: { region: 'eu' } }), topic('prices.gold'));
        assert.equal(other.broker.engine.getSubscription('durable:app1:watch')?.depth, 1);

        assertJsonError(await api2.post('/api/definitions', { queues: [] }), 400, /definitions document/);
        assertJsonError(await api2.post('/api/definitions', { wharf: 'definitions', version: 2 }), 400, /version/);
        assertJsonError(await api2.post('/api/definitions', { wharf: 'definitions', version: 1, queues: [{ nome: 'x' }] }), 400, /queues\[0\]\.name/);
        assertJsonError(await api2.post('/api/definitions', { wharf: 'definitions', version: 1, subscriptions: [{ type: 'odd', name: 'x', topic: 't' }] }), 400, /type/);
      } finally {
        await other.close();
      }
    });
  });
});

describe('admin REST: a client that goes away mid-body', () => {
  it('is no server failure: nothing is logged at error level (was "admin request failed" with a stack), the API keeps answering', async () => {
    const { pino } = await import('pino');
    const { runBroker, withPorts } = await import('../helpers/broker.js');
    const { createAdminHandler } = await import('../../src/admin/index.js');
    const net = await import('node:net');
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const r = await runBroker({
      name: 'admin-aborted',
      config: { listeners: { admin: { host: '127.0.0.1', port: 0 } } },
      modules: () => ({ protocols: [], http: [{ name: 'admin', create: (ctx) => createAdminHandler(ctx) }] }),
      logger,
    }).then((x) => withPorts(x, { adminPort: 'admin' }));
    try {
      for (const path of ['/api/login', '/api/queues', '/api/definitions']) {
        const s = net.connect(r.adminPort, '127.0.0.1');
        await new Promise((ok) => s.once('connect', ok));
        const closed = new Promise((ok) => s.once('close', ok));
        s.on('error', () => undefined);
        // a body announced as 1000 bytes, 10 sent, then the socket gone
        s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user":"a`);
        s.once('data', () => undefined);
        setImmediate(() => s.destroy());
        await closed;
      }
      // the same broker still answers (Node's own HTTP client)
      const api = client(`http://127.0.0.1:${r.adminPort}`);
      assert.equal((await api.get('/api/overview')).status, 200);
      const loud = lines.filter((l) => l.level >= 50);
      assert.deepEqual(loud, [], 'no error-level lines for a client that hung up');
    } finally {
      await r.close();
    }
  });
});
