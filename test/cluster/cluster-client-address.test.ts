/**
 * A client forwarded by a follower keeps its own address on the leader: the follower sends a PROXY protocol v2
 * header (MAC'd with the cluster secret) ahead of the client's bytes, and the leader uses the address in it for
 * security (the anonymous-from-loopback rule), per-address limits and the connection list. Real processes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { encodeProxyHeader, parseProxyHeader } from '../../cluster/proxy-header.js';
import { WharfCluster } from './wharf-cluster.js';

const SECRET = Buffer.from('cluster-test-secret-0123456789');
const auth = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };

/** A raw STOMP client: writes `preamble` then CONNECT, resolves with the first frame's command line. */
function stompConnect(sock: net.Socket | tls.TLSSocket, preamble?: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    sock.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (got.includes('\0')) resolve(got.slice(0, got.indexOf('\n')));
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got ? got.slice(0, got.indexOf('\n')) : 'closed'));
    if (preamble) sock.write(preamble);
    sock.write('CONNECT\naccept-version:1.2\nhost:/\n\n\0');
  });
}

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('cluster: forwarded client address (PROXY protocol v2)', function () {
  this.timeout(120_000);
  let root: string;
  let c: WharfCluster;
  let lead: number;
  let follower: number;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-caddr-'));
    c = await WharfCluster.create(root);
    await c.startAll();
    lead = await c.leader();
    follower = [1, 2, 3].find((n) => n !== lead)!;
    // The follower forwards once it knows the leader.
    for (let i = 0; i < 100 && (await c.status(follower))?.leader !== lead; i++) await new Promise((r) => setTimeout(r, 100));
  });
  after(async () => {
    await c?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('encodes and verifies headers for IPv4 and IPv6 clients; a wrong secret or a truncated header is not taken', () => {
    for (const [address, family] of [['192.0.2.10', 'IPv4'], ['2001:db8::42', 'IPv6'], ['::ffff:127.0.0.1', 'IPv6']] as const) {
      const h = encodeProxyHeader({ address, port: 40001, family }, { address: family === 'IPv4' ? '127.0.0.1' : '::1', port: 61613, family }, SECRET);
      assert.deepEqual(h.subarray(0, 12), Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), 'the v2 signature');
      assert.equal(h[12], 0x21, 'version 2, PROXY');
      const r = parseProxyHeader(Buffer.concat([h, Buffer.from('CONNECT')]), SECRET);
      assert.deepEqual(r, { kind: 'ok', client: { address, port: 40001, family }, length: h.length });
      assert.equal(parseProxyHeader(h, Buffer.from('another-secret-0123456789')).kind, 'bad');
      assert.equal(parseProxyHeader(h.subarray(0, h.length - 1), SECRET).kind, 'more');
    }
    assert.equal(parseProxyHeader(Buffer.from('CONNECT\n'), SECRET).kind, 'none');
    assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01]), SECRET).kind, 'none', 'a TLS ClientHello is a direct client');
  });

  it('the leader lists a client forwarded by a follower under the client\'s own address and port', async () => {
    for (const viaTls of [false, true]) {
      const sock = viaTls
        ? await new Promise<tls.TLSSocket>((resolve, reject) => {
            const s = tls.connect({ host: '127.0.0.1', port: c.node(follower).ports['stomp-tls'], rejectUnauthorized: false }, () => resolve(s));
            s.once('error', reject);
          })
        : await connectTcp(c.node(follower).ports.stomp);
      assert.equal(await stompConnect(sock), 'CONNECTED');
      const res = await fetch(`http://127.0.0.1:${c.node(lead).ports.admin}/api/connections?protocol=stomp`, { headers: auth });
      const rows = ((await res.json()) as { items: { id: string; remoteAddress?: string }[] }).items;
      const details = await Promise.all(rows.map(async (r) => ({ r, d: (await (await fetch(`http://127.0.0.1:${c.node(lead).ports.admin}/api/connections/${encodeURIComponent(r.id)}`, { headers: auth })).json()) as { remotePort?: number } })));
      const mine = details.find(({ d }) => d.remotePort === sock.localPort);
      assert.ok(mine, `the leader lists a connection from the client's port ${sock.localPort} (${viaTls ? 'TLS' : 'plain'}): ${JSON.stringify(details.map(({ r, d }) => [r.remoteAddress, d.remotePort]))}`);
      assert.match(mine.r.remoteAddress ?? '', /^(::ffff:)?127\.0\.0\.1$/);
      sock.destroy();
    }
  });

  it('a header claiming a remote address makes the leader apply its rules to that address (no anonymous login)', async () => {
    const claim = (address: string) => encodeProxyHeader({ address, port: 50000, family: 'IPv4' }, { address: '127.0.0.1', port: c.node(lead).ports.stomp, family: 'IPv4' }, SECRET);
    // Anonymous clients are accepted from loopback only (no users configured).
    assert.equal(await stompConnect(await connectTcp(c.node(lead).ports.stomp), claim('127.0.0.1')), 'CONNECTED');
    assert.equal(await stompConnect(await connectTcp(c.node(lead).ports.stomp), claim('198.51.100.7')), 'ERROR');
  });

  it('the leader refuses a PROXY header it cannot verify, and serves clients without one as before', async () => {
    const forged = encodeProxyHeader({ address: '127.0.0.1', port: 50001, family: 'IPv4' }, { address: '127.0.0.1', port: 1, family: 'IPv4' }, Buffer.from('not-the-cluster-secret-000'));
    assert.equal(await stompConnect(await connectTcp(c.node(lead).ports.stomp), forged), 'closed');
    assert.equal(await stompConnect(await connectTcp(c.node(lead).ports.stomp)), 'CONNECTED');
  });
});
