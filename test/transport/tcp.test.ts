import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { listenStream, type Listener } from '../../src/transport/tcp.js';
import { ListenError, ListenerConfigError } from '../../src/transport/errors.js';
import { closed, connect, echoHandler, fakeLogger, readN, tlsFixture, until } from './helpers.js';

describe('transport/tcp', () => {
  const open: Listener[] = [];
  afterEach(async () => {
    for (const l of open.splice(0)) {
      await l.close();
      l.destroyConnections();
    }
  });

  it('hands each connection to the handler with peer info and setNoDelay', async () => {
    const echo = echoHandler();
    const l = await listenStream({ name: 'test', host: '127.0.0.1', port: 0, maxConnections: 10 }, echo.handle);
    open.push(l);
    const { host, port } = l.address();
    assert.equal(host, '127.0.0.1');
    assert.ok(port > 0);
    const s = await connect(port);
    s.write('hello');
    assert.equal((await readN(s, 5)).toString(), 'hello');
    assert.equal(echo.peers.length, 1);
    const peer = echo.peers[0];
    assert.equal(peer.transport, 'tcp');
    assert.equal(peer.remoteAddress, '127.0.0.1');
    assert.equal(peer.remotePort, s.localPort);
    assert.equal(peer.localPort, port);
    assert.equal(peer.clientCertificate, undefined);
    // setNoDelay(true) was applied: Node records it on the socket
    const server = echo.streams[0] as net.Socket & { [k: symbol]: unknown };
    const noDelaySym = Object.getOwnPropertySymbols(server).find((sym) => sym.description === 'kSetNoDelay');
    assert.ok(noDelaySym, 'net.Socket has a kSetNoDelay symbol');
    assert.equal(server[noDelaySym], true);
    assert.equal(l.connections, 1);
    s.end();
    await closed(s);
    await until(() => l.connections === 0);
  });

  it('destroys connections over maxConnections at once, and accepts again below it', async () => {
    const echo = echoHandler();
    const warnings: string[] = [];
    const logger = fakeLogger(warnings);
    const l = await listenStream({ name: 'limited', host: '127.0.0.1', port: 0, maxConnections: 2, logger }, echo.handle);
    open.push(l);
    const { port } = l.address();
    const a = await connect(port);
    const b = await connect(port);
    await until(() => echo.peers.length === 2);
    const c = await connect(port);
    await closed(c); // refused: closed by the server without being handed to the adapter
    assert.equal(echo.peers.length, 2);
    assert.ok(warnings.some((w) => w.includes('connection limit of 2')), `warnings: ${warnings.join(' | ')}`);
    // the existing ones still work
    a.write('x');
    assert.equal((await readN(a, 1)).toString(), 'x');
    b.destroy();
    await until(() => l.connections === 1);
    const d = await connect(port);
    d.write('again');
    assert.equal((await readN(d, 5)).toString(), 'again');
    assert.equal(echo.peers.length, 3);
    a.destroy();
    d.destroy();
  });

  it('turns EADDRINUSE into a message naming listener, host and port', async () => {
    const first = await listenStream({ name: 'first', host: '127.0.0.1', port: 0, maxConnections: 0 }, () => undefined);
    open.push(first);
    const port = first.address().port;
    await assert.rejects(
      listenStream({ name: 'stomp', host: '127.0.0.1', port, maxConnections: 0 }, () => undefined),
      (err: unknown) => {
        assert.ok(err instanceof ListenError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.message, `stomp listener: port ${port} on 127.0.0.1 is already in use`);
        return true;
      },
    );
  });

  it('close() releases the port but leaves open connections to the adapter; destroyConnections() ends them', async () => {
    const echo = echoHandler();
    const l = await listenStream({ host: '127.0.0.1', port: 0, maxConnections: 0 }, echo.handle);
    const { port } = l.address();
    const s = await connect(port);
    await until(() => echo.peers.length === 1);
    await l.close();
    await l.close(); // idempotent
    await assert.rejects(connect(port));
    s.write('still');
    assert.equal((await readN(s, 5)).toString(), 'still');
    l.destroyConnections();
    await closed(s);
  });

  describe('TLS', () => {
    const ca = readFileSync(tlsFixture('ca.crt'));

    it('serves TLS with cert/key from files', async () => {
      const echo = echoHandler();
      const l = await listenStream(
        { name: 'stomp-tls', host: '127.0.0.1', port: 0, maxConnections: 0, tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } },
        echo.handle,
      );
      open.push(l);
      const s = tls.connect({ port: l.address().port, host: '127.0.0.1', servername: 'localhost', ca });
      await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
      assert.equal(s.authorized, true);
      s.write('secret');
      assert.equal((await readN(s, 6)).toString(), 'secret');
      assert.equal(echo.peers[0].transport, 'tls');
      assert.equal(echo.peers[0].clientCertificate, undefined);
      s.destroy();
    });

    it('exposes a verified client certificate in PeerInfo', async () => {
      const echo = echoHandler();
      const l = await listenStream(
        {
          host: '127.0.0.1', port: 0, maxConnections: 0,
          tls: { cert: tlsFixture('server.crt'), key: tlsFixture('server.key'), ca: tlsFixture('ca.crt'), requestCert: true, rejectUnauthorized: true },
        },
        echo.handle,
      );
      open.push(l);
      const port = l.address().port;
      const s = tls.connect({
        port, host: '127.0.0.1', servername: 'localhost', ca,
        cert: readFileSync(tlsFixture('client.crt')), key: readFileSync(tlsFixture('client.key')),
      });
      await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
      s.write('hi');
      await readN(s, 2);
      assert.equal(echo.peers[0].clientCertificate?.subject.CN, 'test-client');
      s.destroy();

      // without a client certificate the handshake is refused (rejectUnauthorized)
      const anon = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca });
      const outcome = await new Promise<string>((resolve) => {
        anon.once('error', (err) => resolve(`error: ${err.message}`));
        anon.once('close', () => resolve('closed'));
        anon.once('data', () => resolve('data'));
        anon.once('secureConnect', () => anon.write('x'));
      });
      assert.notEqual(outcome, 'data');
      assert.equal(echo.peers.length, 1);
      anon.destroy();
    });

    it('names the listener and file when a certificate cannot be read', async () => {
      await assert.rejects(
        listenStream({ name: 'mqtt-tls', host: '127.0.0.1', port: 0, maxConnections: 0, tls: { cert: '/nonexistent/x.crt', key: tlsFixture('server.key') } }, () => undefined),
        (err: unknown) => {
          assert.ok(err instanceof ListenerConfigError);
          assert.match(err.message, /^mqtt-tls listener: cannot read TLS cert file "\/nonexistent\/x.crt": file not found$/);
          return true;
        },
      );
    });
  });
});
