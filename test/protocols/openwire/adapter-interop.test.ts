import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  DEFAULT_SERVER_PREFERENCES,
  DataType,
  FrameReader,
  OpenWireCodec,
  makeWireFormatInfo,
  negotiate,
  readWireFormatInfo,
  type DataStructure,
  type WireFormatPreferences,
} from '../../../protocols/openwire/index.js';
import { Stompit } from '../stomp/helpers.js';
import { javaHarness } from './java-harness.js';
import { jms, startOpenWireBroker, type OpenWireBroker } from './adapter-helpers.js';
import { mulberry32 as rng } from '../../helpers/prng.js';

/** A raw OpenWire client on the codec: handshake, then commands by hand. */
class RawClient {
  readonly codec = new OpenWireCodec();
  readonly reader = new FrameReader();
  readonly received: DataStructure[] = [];
  readonly closed: Promise<unknown>;
  private waiters: Array<() => void> = [];
  constructor(readonly sock: net.Socket) {
    sock.on('error', () => undefined);
    this.closed = once(sock, 'close');
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const p of this.reader.push(chunk)) {
          const cmd = this.codec.decode(p);
          if (cmd) this.received.push(cmd);
        }
      } catch {
        sock.destroy();
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async connect(port: number): Promise<RawClient> {
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    return new RawClient(sock);
  }
  /** WireFormatInfo both ways; the codec then speaks what was negotiated. */
  async handshake(prefs: Partial<WireFormatPreferences> = {}): Promise<void> {
    const mine = { ...DEFAULT_SERVER_PREFERENCES, ...prefs };
    this.send(makeWireFormatInfo(mine));
    const theirs = await this.waitFor(DataType.WIREFORMAT_INFO);
    this.codec.apply(negotiate(mine, readWireFormatInfo(theirs as never)));
    await this.waitFor(DataType.BROKER_INFO);
  }
  send(cmd: DataStructure): void {
    this.sock.write(this.codec.encode(cmd));
  }
  async waitFor(type: number, timeoutMs = 3000, pred: (c: DataStructure) => boolean = () => true): Promise<DataStructure> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((c) => c.type === type && pred(c));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no command of type ${type} within ${timeoutMs} ms; got ${this.received.map((c) => c.type).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

const connectionInfo = (commandId: number, clientId: string) =>
  ({ type: DataType.CONNECTION_INFO, commandId, responseRequired: true, connectionId: { type: DataType.CONNECTION_ID, value: `ID:raw-${clientId}` }, clientId }) as DataStructure;

describe('openwire adapter: interop, restart, protocol edges', function () {
  this.timeout(120_000);
  let b: OpenWireBroker;

  before(() => {
    javaHarness();
  });
  afterEach(async () => {
    await b?.close();
  });

  it('JMS TextMessage → STOMP consumer', async () => {
    b = await startOpenWireBroker();
    const stomp = await Stompit.connect({ port: b.stompPort });
    const inbox = await stomp.subscribe('/queue/x.jms2stomp');
    const { values } = await jms(b.port, 'send-text', 'x.jms2stomp');
    const m = await inbox.next(5000);
    assert.equal(m.text, 'from jms ☃');
    assert.equal(m.headers['color'], 'blue');
    assert.equal(m.headers['n'], '7');
    assert.equal(m.headers['correlation-id'], 'jms-corr');
    assert.equal(m.headers['type'], 'greeting');
    assert.equal(m.headers['priority'], '7');
    assert.equal(m.headers['persistent'], 'true');
    assert.equal(m.headers['message-id'], values['ID']);
    await stomp.disconnect();
  });

  it('STOMP SEND → JMS TextMessage', async () => {
    b = await startOpenWireBroker();
    const stomp = await Stompit.connect({ port: b.stompPort });
    await stomp.send('/queue/x.stomp2jms', 'from stomp', { color: 'green', 'correlation-id': 'st-corr', priority: '3', persistent: 'true', 'content-type': 'text/plain' });
    await stomp.disconnect();
    const { values } = await jms(b.port, 'recv-text', 'x.stomp2jms');
    assert.equal(values['CLASS'], 'ActiveMQTextMessage');
    assert.equal(values['TEXT'], 'from stomp');
    assert.equal(values['COLOR'], 'green');
    assert.equal(values['CONTENT_TYPE'], 'text/plain', "the STOMP content-type is the JMS property 'content-type' (as in ActiveMQ)");
    assert.equal(values['CORR'], 'st-corr');
    assert.equal(values['PRIORITY'], '3');
    assert.equal(values['PERSISTENT'], 'true');
    assert.match(values['ID']!, /^ID:/);
  });

  it('a persistent JMS message survives a broker restart (a non-persistent one does not)', async () => {
    b = await startOpenWireBroker();
    await jms(b.port, 'send-persistent', 'x.restart');
    await b.restart();
    await jms(b.port, 'recv-persistent', 'x.restart');
  });

  it('credentials go to the security hooks: JMSSecurityException for a bad password and an unauthorized send', async () => {
    b = await startOpenWireBroker();
    const seen: Array<{ username?: string; protocol: string }> = [];
    b.broker.engine.security = {
      async authenticate(c) {
        seen.push({ username: c.username, protocol: c.protocol });
        return c.username === 'alice' && c.password === 'secret' ? { username: 'alice', anonymous: false, groups: [] } : null;
      },
      authorize: (_p, action, a) => !(action === 'send' && a?.name === 'forbidden'),
    };
    await jms(b.port, 'security');
    assert.deepEqual(seen[0], { username: 'alice', protocol: 'openwire' });
  });

  it('commands the broker does not support get an ExceptionResponse, never silence', async () => {
    b = await startOpenWireBroker();
    const c = await RawClient.connect(b.port);
    await c.handshake();
    // Before ConnectionInfo.
    c.send({ type: DataType.SESSION_INFO, commandId: 1, responseRequired: true, sessionId: { type: DataType.SESSION_ID, connectionId: 'ID:raw', value: 1n } } as DataStructure);
    const early = (await c.waitFor(DataType.EXCEPTION_RESPONSE, 3000, (r) => (r as { correlationId: number }).correlationId === 1)) as { exception: { className: string } };
    assert.equal(early.exception.className, 'javax.jms.IllegalStateException');
    c.send(connectionInfo(2, 'raw-unsupported'));
    await c.waitFor(DataType.RESPONSE, 3000, (r) => (r as { correlationId: number }).correlationId === 2);
    // ReplayCommand (UDP transports only) and an unknown transaction operation.
    c.send({ type: DataType.REPLAY, commandId: 3, responseRequired: true, firstNakNumber: 0, lastNakNumber: 0 } as DataStructure);
    const xa = { type: DataType.ACTIVEMQ_XA_TRANSACTION_ID, formatId: 1, globalTransactionId: Buffer.from('g'), branchQualifier: Buffer.from('b') };
    c.send({ type: DataType.TRANSACTION_INFO, commandId: 4, responseRequired: true, connectionId: { type: DataType.CONNECTION_ID, value: 'ID:raw' }, transactionId: xa, transactionType: 99 } as DataStructure);
    for (const id of [3, 4]) {
      const r = (await c.waitFor(DataType.EXCEPTION_RESPONSE, 3000, (x) => (x as { correlationId: number }).correlationId === id)) as { exception: { className: string } };
      assert.equal(r.exception.className, 'javax.jms.JMSException');
    }
    // XA commit of a branch nobody prepared: an XAException for the transaction manager
    c.send({ type: DataType.TRANSACTION_INFO, commandId: 6, responseRequired: true, connectionId: { type: DataType.CONNECTION_ID, value: 'ID:raw' }, transactionId: xa, transactionType: 3 } as DataStructure);
    const nota = (await c.waitFor(DataType.EXCEPTION_RESPONSE, 3000, (x) => (x as { correlationId: number }).correlationId === 6)) as { exception: { className: string; message: string } };
    assert.equal(nota.exception.className, 'javax.transaction.xa.XAException');
    // the code rides at the end of the message, where ActiveMQ's TransactionContext.toXAException reads it: XAER_NOTA
    assert.match(nota.exception.message, / xaErrorCode:-4$/);
    // A send to a temporary queue that does not exist.
    c.send({ type: DataType.ACTIVEMQ_TEXT_MESSAGE, commandId: 5, responseRequired: true, destination: { type: DataType.ACTIVEMQ_TEMP_QUEUE, physicalName: 'ID:gone:1:1' }, persistent: true, priority: 4 } as DataStructure);
    const gone = (await c.waitFor(DataType.EXCEPTION_RESPONSE, 3000, (x) => (x as { correlationId: number }).correlationId === 5)) as { exception: { className: string } };
    assert.equal(gone.exception.className, 'javax.jms.InvalidDestinationException');
    c.sock.destroy();
  });

  it('sends KeepAliveInfo and closes a connection silent for the negotiated inactivity duration', async () => {
    b = await startOpenWireBroker({ options: { maxInactivityDuration: 400, maxInactivityDurationInitalDelay: 0 } });
    const c = await RawClient.connect(b.port);
    const t0 = Date.now();
    await c.handshake({ maxInactivityDuration: 400, maxInactivityDurationInitalDelay: 0 });
    await c.waitFor(DataType.KEEP_ALIVE_INFO, 2000);
    await c.closed;
    const took = Date.now() - t0;
    assert.ok(took >= 350 && took < 3000, `closed after ${took} ms`);
    // A client that keeps talking stays connected.
    const d = await RawClient.connect(b.port);
    await d.handshake({ maxInactivityDuration: 400, maxInactivityDurationInitalDelay: 0 });
    const ping = setInterval(() => d.send({ type: DataType.KEEP_ALIVE_INFO, commandId: 0, responseRequired: false } as DataStructure), 100);
    await new Promise((r) => setTimeout(r, 1200));
    clearInterval(ping);
    assert.equal(d.sock.destroyed, false);
    d.sock.destroy();
  });

  it('garbage: random and mutated frames, huge declared sizes — the broker stays up and JMS keeps working', async () => {
    b = await startOpenWireBroker({ options: { handshakeTimeout: 2000 } });
    const rand = rng(0x0ff1ce);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    // 1. Not OpenWire at all; a huge declared size; a negative one.
    for (const junk of [bytes(64), Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]), Buffer.from([0xff, 0xff, 0xff, 0xfe, 1])]) {
      const c = await RawClient.connect(b.port);
      c.sock.write(junk);
      await c.closed;
    }
    // 2. After a good handshake: mutated real frames, then random ones.
    const good = (i: number): DataStructure[] => [
      connectionInfo(1, `garbage-${i}`),
      { type: DataType.SESSION_INFO, commandId: 2, responseRequired: true, sessionId: { type: DataType.SESSION_ID, connectionId: `ID:raw-garbage-${i}`, value: 1n } } as DataStructure,
      { type: DataType.CONSUMER_INFO, commandId: 3, responseRequired: true, consumerId: { type: DataType.CONSUMER_ID, connectionId: `ID:raw-garbage-${i}`, sessionId: 1n, value: 1n }, destination: { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'garbage.q' }, prefetchSize: 10 } as DataStructure,
      { type: DataType.ACTIVEMQ_TEXT_MESSAGE, commandId: 4, responseRequired: true, destination: { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'garbage.q' }, content: Buffer.from([0, 0, 0, 2, 104, 105]), persistent: false, priority: 4, marshalledProperties: Buffer.from([0, 0, 0, 1, 0, 1, 97, 5, 0, 0, 0, 1]) } as DataStructure,
    ];
    for (let i = 0; i < 40; i++) {
      const c = await RawClient.connect(b.port);
      await c.handshake({ tightEncodingEnabled: i % 2 === 0, cacheEnabled: i % 4 < 2 });
      for (const cmd of good(i)) {
        const frame = c.codec.encode(cmd);
        if (rand() < 0.5) {
          for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
            const at = 4 + Math.floor(rand() * (frame.length - 4));
            frame[at] = Math.floor(rand() * 256);
          }
        }
        c.sock.write(frame);
      }
      const n = 1 + Math.floor(rand() * 64);
      const size = Buffer.alloc(4);
      size.writeInt32BE(rand() < 0.2 ? 0x7ffffff0 : n);
      c.sock.write(Buffer.concat([size, bytes(n)]));
      await Promise.race([c.closed, new Promise((r) => setTimeout(r, 200))]);
      c.sock.destroy();
    }
    await jms(b.port, 'ping', 'garbage.after');
  });
});
