import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { Broker, DataDirError } from '../src/app/broker.js';
import { parseConfig, type BrokerConfig, type BrokerConfigInput } from '../src/app/config.js';
import { createLogger } from '../src/app/log.js';
import { moduleOptions } from '../src/app/modules.js';
import { ListenError } from '../src/transport/errors.js';
import type { AdapterContext, HttpModule, PeerInfo, ProtocolModule, ProtocolName } from '../src/transport/types.js';
import { closed, connect, readN, tlsFixture, until } from './transport/helpers.js';

/** A test protocol: echoes with its name as prefix; close() ends its connections. */
function echoProtocol(name: ProtocolName, wsSubprotocols: string[], opts: { ignoreClose?: boolean } = {}) {
  const state = { created: 0, closed: 0, peers: [] as PeerInfo[], ctx: undefined as AdapterContext | undefined };
  const mod: ProtocolModule = {
    name,
    wsSubprotocols,
    create(ctx) {
      state.created++;
      state.ctx = ctx;
      const streams = new Set<Duplex>();
      return {
        handle(stream, peer) {
          state.peers.push(peer);
          streams.add(stream);
          stream.on('close', () => streams.delete(stream));
          stream.on('data', (c: Buffer) => stream.write(Buffer.concat([Buffer.from(`${name}:`), c])));
        },
        async close() {
          state.closed++;
          if (!opts.ignoreClose) for (const s of streams) s.end();
        },
      };
    },
  };
  return { mod, state };
}

function httpModule(name: string) {
  const state = { closed: 0 };
  const mod: HttpModule = {
    name,
    create: () => ({
      handle: (_req, res) => void res.end(`${name} here`),
      close: async () => {
        state.closed++;
      },
    }),
  };
  return { mod, state };
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { lines, logger };
}

const allOnLoopback = (extra: BrokerConfigInput['listeners'] = {}): BrokerConfigInput['listeners'] => {
  const base = Object.fromEntries(['openwire', 'amqp', 'stomp', 'mqtt', 'ws', 'admin', 'sqs'].map((n) => [n, { host: '127.0.0.1', port: 0 }]));
  for (const [k, v] of Object.entries(extra ?? {})) base[k] = { ...base[k], ...(v as object) };
  return base;
};

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) =>
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject));
}

describe('Broker', function () {
  this.timeout(10_000);
  let dir: string;
  const brokers: Broker[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-broker-'));
  });
  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const config = (input: BrokerConfigInput = {}): BrokerConfig =>
    parseConfig({ dataDir: path.join(dir, 'data'), listeners: allOnLoopback(), ...input });
  const make = (cfg: BrokerConfig, modules: ConstructorParameters<typeof Broker>[1] = {}) => {
    const b = new Broker(cfg, { logger: capture().logger, ...modules });
    brokers.push(b);
    return b;
  };

  it('starts every listener of every registered module, serves them, and stops cleanly', async () => {
    const stomp = echoProtocol('stomp', ['v12.stomp']);
    const mqtt = echoProtocol('mqtt', ['mqtt']);
    const sqs = httpModule('sqs');
    const { lines, logger } = capture();
    const cfg = config({
      listeners: allOnLoopback({ stomp: { tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } } }),
      limits: { maxConnections: 50 },
    });
    const b = make(cfg, { protocols: [stomp.mod, mqtt.mod], http: [sqs.mod], logger });
    await b.start();
    await b.start(); // idempotent

    const addrs = b.listenerAddresses();
    assert.deepEqual(Object.keys(addrs).sort(), ['mqtt', 'sqs', 'stomp', 'stomp-tls', 'ws']);
    for (const a of Object.values(addrs)) {
      assert.equal(a.host, '127.0.0.1');
      assert.ok(a.port > 0);
    }
    assert.ok(b.engine, 'engine available');
    assert.equal(stomp.state.created, 1);
    assert.equal(stomp.state.ctx?.limits.maxConnections, 50);
    assert.equal(stomp.state.ctx?.options, moduleOptions('stomp', cfg));

    // one info line per listener with its bound address
    for (const [name, a] of Object.entries(addrs)) {
      assert.ok(lines.some((l) => l.listener === name && l.port === a.port && l.msg === `${name} listening on 127.0.0.1:${a.port}`), `log line for ${name}`);
    }
    // modules that are not built yet are skipped with a debug line
    for (const name of ['openwire', 'amqp', 'admin']) {
      assert.ok(lines.some((l) => l.level === 'debug' && l.listener === name && String(l.msg).includes('no module')), `skip line for ${name}`);
    }

    const s = await connect(addrs.stomp.port);
    s.write('A');
    assert.equal((await readN(s, 7)).toString(), 'stomp:A');
    const m = await connect(addrs.mqtt.port);
    m.write('B');
    assert.equal((await readN(m, 6)).toString(), 'mqtt:B');
    const t = tls.connect({ port: addrs['stomp-tls'].port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(tlsFixture('ca.crt')) });
    t.write('C');
    assert.equal((await readN(t, 7)).toString(), 'stomp:C');
    const ws = new WebSocket(`ws://127.0.0.1:${addrs.ws.port}/`, ['mqtt']);
    await new Promise((r) => ws.once('open', r));
    ws.send(Buffer.from('D'));
    const msg = await new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
    assert.equal(msg.toString(), 'mqtt:D');
    assert.equal(await get(`http://127.0.0.1:${addrs.sqs.port}/`), 'sqs here');
    assert.deepEqual(stomp.state.peers.map((p) => p.transport).sort(), ['tcp', 'tls']);
    assert.deepEqual(mqtt.state.peers.map((p) => p.transport).sort(), ['tcp', 'ws']);

    const wsClosed = new Promise((r) => ws.once('close', r));
    await Promise.all([b.stop(), b.stop()]);
    await b.stop();
    assert.equal(stomp.state.closed, 1);
    assert.equal(mqtt.state.closed, 1);
    assert.equal(sqs.state.closed, 1);
    await closed(s);
    await closed(m);
    await wsClosed;
    await assert.rejects(connect(addrs.stomp.port), 'port released');
    assert.ok(lines.some((l) => l.msg === 'broker stopped'));
    await assert.rejects(b.start(), /cannot start a stopped broker/);
  });

  it('can be started again on the same data directory after stop', async () => {
    const cfg = config();
    const a = make(cfg, { protocols: [], http: [] });
    await a.start();
    await a.stop();
    const b = make(cfg, { protocols: [], http: [] });
    await b.start();
    assert.deepEqual(b.listenerAddresses(), {});
    await b.stop();
  });

  it('skips disabled listeners and does not create a module whose listeners are all off', async () => {
    const stomp = echoProtocol('stomp', ['v12.stomp']);
    const amqp = echoProtocol('amqp', []);
    const cfg = config({ listeners: allOnLoopback({ stomp: { enabled: false }, ws: { enabled: false }, amqp: { enabled: false } }) });
    const b = make(cfg, { protocols: [stomp.mod, amqp.mod], http: [] });
    await b.start();
    assert.deepEqual(b.listenerAddresses(), {});
    assert.equal(stomp.state.created, 0);
    assert.equal(amqp.state.created, 0);
  });

  it('refuses an unusable data directory with a clear error', async () => {
    const notADir = path.join(dir, 'file');
    writeFileSync(notADir, 'x');
    const b = make(parseConfig({ dataDir: notADir, listeners: allOnLoopback() }), { protocols: [], http: [] });
    await assert.rejects(b.start(), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.equal(err.message, `data directory ${notADir} exists but is not a directory`);
      return true;
    });
    const under = make(parseConfig({ dataDir: path.join(notADir, 'sub'), listeners: allOnLoopback() }), { protocols: [], http: [] });
    await assert.rejects(under.start(), /data directory .*file\/sub is not usable: a parent path is not a directory$/);
    // A directory that cannot be created although its parent exists (procfs answers ENOENT): an error, not a hang
    // (Node's recursive mkdir retries such a path forever).
    const proc = make(parseConfig({ dataDir: '/proc/wharf-no-such/data', listeners: allOnLoopback() }), { protocols: [], http: [] });
    await assert.rejects(proc.start(), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.match(err.message, /^cannot create data directory \/proc\/wharf-no-such\/data: .*ENOENT/);
      return true;
    });
  });

  it('fails start with a named port-in-use error and cleans up what it started', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const stomp = echoProtocol('stomp', []);
      const mqtt = echoProtocol('mqtt', []);
      const cfg = config({ listeners: allOnLoopback({ mqtt: { port } }) });
      const b = make(cfg, { protocols: [stomp.mod, mqtt.mod], http: [] });
      await assert.rejects(b.start(), (err: unknown) => {
        assert.ok(err instanceof ListenError);
        assert.equal(err.message, `mqtt listener: port ${port} on 127.0.0.1 is already in use`);
        return true;
      });
      assert.equal(stomp.state.closed, 1, 'adapter created before the failure was closed');
      assert.deepEqual(b.listenerAddresses().mqtt, undefined);
      await b.stop(); // fine after a failed start
      // the store was closed: the same data dir opens again
      const again = make(config(), { protocols: [], http: [] });
      await again.start();
    } finally {
      blocker.close();
    }
  });

  it('destroys connections an adapter does not close within shutdownTimeout', async () => {
    const stubborn = echoProtocol('openwire', [], { ignoreClose: true });
    const b = make(config(), { protocols: [stubborn.mod], http: [], shutdownTimeout: 100 });
    await b.start();
    const s = await connect(b.listenerAddresses().openwire.port);
    await until(() => stubborn.state.peers.length === 1);
    await b.stop();
    await closed(s);
  });

  it('warns loudly when store.noSync is on', async () => {
    const { lines, logger } = capture();
    const b = make(config({ store: { noSync: true } }), { protocols: [], http: [], logger });
    await b.start();
    assert.ok(lines.some((l) => l.level === 'warn' && /noSync is ON/.test(String(l.msg))));
  });

  it('exposes the engine only after start', () => {
    const b = make(config(), { protocols: [], http: [] });
    assert.throws(() => b.engine, /only after start/);
  });
});
