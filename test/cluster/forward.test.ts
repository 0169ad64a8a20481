/**
 * Follower forwarding (cluster/forward.ts) over real sockets: bytes arrive intact and in order both ways, a slow
 * reader holds the sender back instead of the forwarder buffering everything, and an end on either side ends both.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { Forwarder } from '../../cluster/forward.js';

function listen(onConn: (s: net.Socket) => void): Promise<net.Server> {
  const srv = net.createServer(onConn);
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}
const portOf = (srv: net.Server) => (srv.address() as net.AddressInfo).port;

describe('cluster: Forwarder', function () {
  this.timeout(30_000);
  const servers: net.Server[] = [];
  const fwd = new Forwarder();
  afterEach(() => {
    fwd.closeAll();
    for (const s of servers.splice(0)) s.close();
  });

  /** A "leader" listener, and a "follower" listener that forwards every connection to it. */
  async function pair(onUpstream: (s: net.Socket) => void): Promise<number> {
    const leader = await listen(onUpstream);
    const follower = await listen((client) => fwd.forward(client, { host: '127.0.0.1', port: portOf(leader) }));
    servers.push(leader, follower);
    return portOf(follower);
  }

  it('carries many small writes and one large one intact, in order, both ways', async () => {
    const port = await pair((s) => s.pipe(s)); // the leader echoes
    const c = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    for (let i = 0; i < 2000; i++) parts.push(Buffer.from(`frame ${i}\n`));
    parts.push(crypto.randomBytes(4 << 20));
    const sent = Buffer.concat(parts);
    const got: Buffer[] = [];
    let n = 0;
    const done = new Promise<void>((resolve) =>
      c.on('data', (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= sent.length) resolve();
      }),
    );
    for (const p of parts) c.write(p);
    await done;
    assert.ok(Buffer.concat(got).equals(sent));
    c.destroy();
  });

  it('a reader that does not read holds the sender back: the forwarder does not take it all in', async () => {
    let upstream: net.Socket | undefined;
    const port = await pair((s) => {
      upstream = s;
      s.pause(); // the leader does not read
    });
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', () => r()));
    const chunk = Buffer.alloc(64 * 1024, 1);
    const total = 1024 * chunk.length; // 64 MiB, far beyond what the sockets' kernel buffers hold
    for (let i = 0; i < 1024; i++) c.write(chunk);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(c.writableLength > total / 2, `the client still holds ${c.writableLength} of ${total} bytes: the forwarder stopped reading`);
    // Once the leader reads, everything arrives.
    let n = 0;
    const all = new Promise<void>((resolve) =>
      upstream!.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= total) resolve();
      }),
    );
    upstream!.resume();
    await all;
    assert.equal(n, total);
    c.destroy();
  });

  it('an end from either side ends the connection on the other, and the forwarder lets go of both', async () => {
    let leaderSaw = '';
    const port = await pair((s) => {
      s.on('data', (d: Buffer) => (leaderSaw += d.toString()));
      s.on('end', () => s.end());
    });
    const c = net.connect(port, '127.0.0.1');
    c.end('last words');
    await new Promise<void>((r) => c.on('close', () => r()));
    for (let i = 0; i < 100 && fwd.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(leaderSaw, 'last words');
    assert.equal(fwd.active, 0);

    const port2 = await pair((s) => s.end('bye'));
    const c2 = net.connect(port2, '127.0.0.1');
    let got = '';
    c2.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise<void>((r) => c2.on('close', () => r()));
    assert.equal(got, 'bye');
    for (let i = 0; i < 100 && fwd.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fwd.active, 0);
  });
});
