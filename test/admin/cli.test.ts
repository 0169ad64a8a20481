import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { createMessage, type Delivery, queue } from '../../src/core/api.js';
import { hashPassword } from '../../src/admin/auth.js';
import { startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';

const cli = path.join(repoRoot, 'src', 'app', 'cli.ts');

/** Run the wharf command (asynchronously: the broker under test lives in this process). */
function wharf(args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) env[k] = v;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: repoRoot, env: { ...env, ...opts.env }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

function assertOneLineError(stderr: string, re: RegExp) {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0], re);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

describe('wharf admin CLI', function () {
  this.timeout(120_000);
  let b: AdminBroker;
  let url: string[];
  let dir: string;
  const clients: Stompit[] = [];
  before(async () => {
    b = await startAdminBroker({ config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 0 }] } });
    url = ['--url', b.url];
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-cli-admin-'));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status prints the overview; --json prints the API JSON', async () => {
    const s = await Stompit.connect({ port: b.stompPort });
    clients.push(s);
    await s.send('/queue/status.q', 'x', { persistent: 'true' });
    const r = await wharf(['status', ...url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^version\s+\d+\.\d+\.\d+/m);
    assert.match(r.stdout, /^state\s+started$/m);
    assert.match(r.stdout, /^connections\s+1 \(stomp 1\)$/m);
    assert.match(r.stdout, new RegExp(`admin=127\\.0\\.0\\.1:${b.adminPort}`));
    const j = await wharf(['status', ...url, '--json']);
    assert.equal(j.code, 0);
    const o = JSON.parse(j.stdout);
    assert.equal(o.counts.queues, b.broker.engine.overview().queues);
  });

  it('queues lists with a table and --filter; topics lists topics', async () => {
    const s = await Stompit.connect({ port: b.stompPort });
    clients.push(s);
    for (let i = 0; i < 3; i++) await s.send('/queue/cli.orders', `o${i}`, { persistent: 'true' });
    await s.send('/queue/cli.other', 'x', { persistent: 'true' });
    await s.send('/topic/cli.news', 'n');
    const r = await wharf(['queues', ...url, '--filter', 'cli.']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^NAME\s+MESSAGES\s+READY\s+INFLIGHT\s+CONSUMERS/);
    assert.equal(lines.length, 3);
    assert.match(lines[1], /^cli\.orders\s+3\s+3\s+0\s+0/);
    assert.match(lines[2], /^cli\.other\s+1\s+/);
    const j = JSON.parse((await wharf(['queues', ...url, '--filter', 'cli.orders', '--json'])).stdout);
    assert.deepEqual(j.items.map((d: { name: string; depth: number }) => [d.name, d.depth]), [['cli.orders', 3]]);
    const t = await wharf(['topics', ...url]);
    // consumers 0, producers 1 (the STOMP client that published counts as a recent sender), published 1
    assert.match(t.stdout, /^cli\.news\s+0\s+1\s+1/m);
  });

  it('browse shows messages; send puts one in that a client receives', async () => {
    const s = await Stompit.connect({ port: b.stompPort });
    clients.push(s);
    await s.send('/queue/cli.browse', 'hello browse', { persistent: 'true', colour: 'red' });
    const r = await wharf(['browse', 'cli.browse', ...url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^SEQ\s+MESSAGE ID\s+STATE/);
    assert.match(r.stdout, /\n\s*1\s+ID:\S+\s+ready\s+4\s+12\s+0\s+1\s+hello browse/);

    const inbox = await s.subscribe('/queue/cli.send');
    const sent = await wharf(['send', 'cli.send', ...url, '--body', 'from the cli', '-P', 'n=5', '-P', 'who=ops', '--priority', '8']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent ID:\S+ to queue:\/\/cli\.send$/m);
    const got = await inbox.next();
    assert.equal(got.text, 'from the cli');
    assert.equal(got.headers.n, '5');
    assert.equal(got.headers.who, 'ops');
    assert.equal(got.headers.priority, '8');
    const fromStdin = await wharf(['send', 'cli.send', ...url, '--body', '-'], { input: 'piped body' });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.equal((await inbox.next()).text, 'piped body');
    const file = path.join(dir, 'body.bin');
    writeFileSync(file, Buffer.from([0, 159, 146, 150]));
    assert.equal((await wharf(['send', 'cli.send', ...url, '--body-file', file])).code, 0);
    assert.deepEqual([...(await inbox.next()).body], [0, 159, 146, 150]);
  });

  it('purge empties a queue; dlq retry moves dead letters back', async () => {
    const engine = b.broker.engine;
    const s = await Stompit.connect({ port: b.stompPort });
    clients.push(s);
    for (let i = 0; i < 4; i++) await s.send('/queue/cli.purge', 'x', { persistent: 'true' });
    const p = await wharf(['purge', 'cli.purge', ...url]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout.trim(), 'purged 4 messages from cli.purge');
    assert.equal(engine.getQueue('cli.purge')!.depth, 0);

    for (let i = 0; i < 2; i++) await engine.send(createMessage({ body: Buffer.from(`p${i}`) }), queue('cli.work'));
    const ds: Delivery[] = [];
    const c = await engine.subscribe({ address: queue('cli.work'), prefetch: 5, onMessage: (d) => ds.push(d) });
    await until(() => ds.length === 2, 'deliveries');
    for (const d of ds) c.nack(d.id, { deadLetter: true });
    c.close();
    await until(() => engine.getQueue('DLQ.cli.work')?.depth === 2, 'dead letters');
    const r = await wharf(['dlq', 'retry', 'DLQ.cli.work', ...url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'retried 2 messages from DLQ.cli.work');
    assert.equal(engine.getQueue('cli.work')!.depth, 2);
    assert.equal(engine.getQueue('DLQ.cli.work')!.depth, 0);
  });

  it('connections lists clients and close-connection closes one', async () => {
    const s = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'cli-victim' } });
    const r = await wharf(['connections', ...url, '--filter', 'cli-victim']);
    assert.equal(r.code, 0, r.stderr);
    const row = r.stdout.trim().split('\n')[1];
    assert.match(row, /^stomp-\S+\s+stomp\s+cli-victim/);
    const id = row.split(/\s+/)[0];
    const socket = s.client.getTransportSocket();
    const k = await wharf(['close-connection', id, ...url]);
    assert.equal(k.code, 0, k.stderr);
    await until(() => socket.destroyed, 'socket closed');
    s.destroy();
  });

  it('export writes definitions JSON that import applies to another broker', async () => {
    await b.broker.engine.createQueue('cli.exported');
    const ex = await wharf(['export', ...url]);
    assert.equal(ex.code, 0, ex.stderr);
    const doc = JSON.parse(ex.stdout);
    assert.equal(doc.wharf, 'definitions');
    assert.ok(doc.queues.some((q: { name: string }) => q.name === 'cli.exported'));
    const file = path.join(dir, 'defs.json');
    writeFileSync(file, ex.stdout);
    const other = await startAdminBroker();
    try {
      const im = await wharf(['import', file, '--url', other.url]);
      assert.equal(im.code, 0, im.stderr);
      assert.match(im.stdout, /^created\s+\d+/m);
      assert.ok(other.broker.engine.getQueue('cli.exported'));
      const again = await wharf(['import', file, '--url', other.url, '--json']);
      assert.equal(JSON.parse(again.stdout).created.queues, 0);
    } finally {
      await other.close();
    }
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"queues": []}');
    const r = await wharf(['import', bad, ...url]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^wharf: 400 not a Wharf definitions document/);
    const missing = await wharf(['import', path.join(dir, 'nope.json'), ...url]);
    assertOneLineError(missing.stderr, /^wharf: cannot read .*nope\.json: ENOENT/);
  });

  it('errors: unknown queue (404), wrong password (401), no broker — one line, exit 1', async () => {
    const r = await wharf(['browse', 'no.such.queue', ...url]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^wharf: 404 queue 'no\.such\.queue' does not exist$/);
    const pw = await wharf(['status', ...url, '--password', 'wrong']);
    assert.equal(pw.code, 1);
    assertOneLineError(pw.stderr, /^wharf: 401 bad username or password$/);
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const down = await wharf(['status', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 1);
    assertOneLineError(down.stderr, new RegExp(`^wharf: cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED$`));
    const usage = await wharf(['send', 'q', ...url]);
    assertOneLineError(usage.stderr, /give --body/);
    const empty = await wharf(['send', 'topic://', ...url, '--body', 'x']);
    assert.equal(empty.code, 1);
    assertOneLineError(empty.stderr, /^wharf: send: topic:\/\/ names no destination$/);
  });

  it('takes the URL and credentials from WHARF_URL / WHARF_USER / WHARF_PASSWORD; hash-password makes usable hashes', async () => {
    const hash = (await wharf(['hash-password', 'pa55word!'])).stdout.trim();
    assert.match(hash, /^scrypt\$16384\$8\$1\$/);
    const fromStdin = (await wharf(['hash-password'], { input: 'other-pass\n' })).stdout.trim();
    const { verifyPassword } = await import('../../src/admin/auth.js');
    assert.ok(await verifyPassword('other-pass', fromStdin));
    const locked = await startAdminBroker({ config: { admin: { users: [{ username: 'ops', passwordHash: hash }, { username: 'v', passwordHash: await hashPassword('viewer-pass'), role: 'viewer' }] } } });
    try {
      const r = await wharf(['status', '--json'], { env: { WHARF_URL: locked.url, WHARF_USER: 'ops', WHARF_PASSWORD: 'pa55word!' } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).state, 'started');
      const denied = await wharf(['purge', 'x', '--url', locked.url, '--user', 'v', '--password', 'viewer-pass']);
      assertOneLineError(denied.stderr, /^wharf: 403 user 'v' has the viewer role/);
    } finally {
      await locked.close();
    }
  });
});
