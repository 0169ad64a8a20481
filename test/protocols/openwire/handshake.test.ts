import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  DEFAULT_SERVER_PREFERENCES,
  DataType,
  FrameReader,
  OpenWireCodec,
  decodePrimitiveMap,
  decodeTextBody,
  encodePrimitiveMap,
  encodeTextBody,
  makeWireFormatInfo,
  negotiate,
  readWireFormatInfo,
  type ActiveMQTextMessage,
  type ConsumerInfo,
  type DataStructure,
  type NegotiatedWireFormat,
  type PeerWireFormat,
} from '../../../protocols/openwire/index.js';
import { javaHarness } from './java-harness.js';

// An unmodified ActiveMQConnectionFactory client against a tiny scripted server built on the
// codec: WireFormatInfo exchange and negotiation, BrokerInfo, a Response for every command that
// asks for one, and one MessageDispatch to the client's queue consumer.

interface Session {
  peer?: PeerWireFormat;
  negotiated?: NegotiatedWireFormat;
  commands: DataStructure[];
}

function startServer(session: Session): Server {
  return createServer((sock: Socket) => {
    const codec = new OpenWireCodec();
    const reader = new FrameReader();
    const send = (cmd: DataStructure) => sock.write(codec.encode(cmd));
    // Like an ActiveMQ broker, announce our wire format at once, in the pre-negotiation (loose) form.
    send(makeWireFormatInfo(DEFAULT_SERVER_PREFERENCES, { ProviderName: 'Wharf' }));
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => {
      for (const payload of reader.push(chunk)) {
        const cmd = codec.decode(payload);
        if (!cmd) continue;
        session.commands.push(cmd);
        if (cmd.type === DataType.WIREFORMAT_INFO) {
          session.peer = readWireFormatInfo(cmd);
          session.negotiated = negotiate(DEFAULT_SERVER_PREFERENCES, session.peer);
          codec.apply(session.negotiated);
          reader.maxFrameSize = session.negotiated.maxFrameSize;
          send({ type: DataType.BROKER_INFO, brokerId: { type: DataType.BROKER_ID, value: 'ID:wharf-test-broker' }, brokerName: 'wharf', brokerURL: 'tcp://127.0.0.1' } as DataStructure);
          continue;
        }
        if ('responseRequired' in cmd && cmd.responseRequired) send({ type: DataType.RESPONSE, correlationId: cmd.commandId } as DataStructure);
        if (cmd.type === DataType.CONSUMER_INFO && cmd.destination?.physicalName === 'wharf.handshake') dispatch(cmd, send);
        if (cmd.type === DataType.SHUTDOWN_INFO) sock.end();
      }
    });
  });
}

function dispatch(ci: ConsumerInfo, send: (c: DataStructure) => void): void {
  const producerId = { type: DataType.PRODUCER_ID, connectionId: 'ID:wharf-broker-producer', sessionId: 0n, value: 1n } as const;
  const message: ActiveMQTextMessage = {
    type: DataType.ACTIVEMQ_TEXT_MESSAGE,
    producerId,
    destination: ci.destination,
    messageId: { type: DataType.MESSAGE_ID, textView: null, producerId, producerSequenceId: 1n, brokerSequenceId: 1n },
    persistent: true,
    priority: 4,
    timestamp: BigInt(Date.now()),
    content: encodeTextBody('from wharf'),
    marshalledProperties: encodePrimitiveMap({ from: 'scripted-server', n: 5 }),
  } as ActiveMQTextMessage;
  send({ type: DataType.MESSAGE_DISPATCH, consumerId: ci.consumerId, destination: ci.destination, message, redeliveryCounter: 0 } as DataStructure);
}

async function runClient(port: number, query = ''): Promise<string> {
  const java = javaHarness();
  const child = spawn('java', ['-cp', java.classpath, 'OpenWireClient', String(port), query], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  assert.equal(code, 0, `java client failed (exit ${code}):\n${out}\n${err}`);
  return out;
}

describe('openwire handshake with an unmodified ActiveMQ JMS client', function () {
  this.timeout(120_000);

  for (const [name, query, tight] of [
    ['default options (tight encoding, cache on)', '', true],
    ['loose encoding, cache off', '?wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false', false],
  ] as const) {
    it(`connects, produces, consumes and closes: ${name}`, async function () {
      javaHarness();
      const session: Session = { commands: [] };
      const server = startServer(session);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const out = await runClient((server.address() as AddressInfo).port, query);

        // What the client proposed, and what we agreed on.
        const peer = session.peer!;
        assert.ok(peer, 'the client sent a WireFormatInfo');
        assert.equal(peer.magicValid, true);
        assert.equal(peer.version, 12);
        assert.equal(peer.tightEncodingEnabled, tight);
        assert.equal(session.negotiated!.tightEncoding, tight);
        assert.equal(session.negotiated!.cacheEnabled, tight);
        assert.equal(session.negotiated!.version, 12);

        const of = <T extends DataStructure['type']>(t: T) => session.commands.filter((c) => c.type === t) as Extract<DataStructure, { type: T }>[];
        const ci = of(DataType.CONNECTION_INFO)[0]!;
        assert.equal(ci.clientId, 'wharf-handshake-client');
        assert.equal(ci.userName, 'wharf-user');
        assert.equal(ci.password, 'wharf-pass');
        assert.equal(ci.responseRequired, true);
        const si = of(DataType.SESSION_INFO)[0]!;
        assert.equal(si.sessionId!.connectionId, ci.connectionId!.value);
        const pi = of(DataType.PRODUCER_INFO)[0]!;
        assert.equal(pi.destination!.physicalName, 'wharf.handshake');
        assert.equal(pi.destination!.type, DataType.ACTIVEMQ_QUEUE);

        const sent = of(DataType.ACTIVEMQ_TEXT_MESSAGE);
        assert.equal(sent.length, 2);
        const [m, z] = sent as [ActiveMQTextMessage, ActiveMQTextMessage];
        assert.equal(decodeTextBody(m.content, m.compressed), 'hello wharf ☃');
        assert.equal(m.persistent, true);
        assert.equal(m.priority, 6);
        assert.equal(m.correlationId, 'corr-42');
        assert.equal(m.jmsType, 'handshake');
        assert.equal(m.responseRequired, true, 'persistent sends are synchronous');
        assert.deepEqual(m.producerId, pi.producerId);
        const props = decodePrimitiveMap(m.marshalledProperties!)!;
        assert.equal(props.get('greeting'), 'hi');
        assert.deepEqual(props.get('count'), { type: 'int', value: 7 });
        assert.deepEqual(props.get('big'), { type: 'long', value: 1n << 40n });
        assert.equal(props.get('flag'), true);
        assert.deepEqual(props.get('ratio'), { type: 'double', value: 0.75 });
        assert.equal(z.compressed, true, 'the second send used compression');
        assert.equal(decodeTextBody(z.content, true), 'z'.repeat(4000));
        assert.equal(z.persistent, false);

        // The message we dispatched reached the JMS consumer, which acknowledged it.
        const line = out.split('\n').find((l) => l.startsWith('RECEIVED'))!;
        assert.deepEqual(line.split('\t').slice(1, 4), ['from wharf', 'scripted-server', '5']);
        const acks = of(DataType.MESSAGE_ACK);
        assert.ok(acks.length >= 1, 'the client acknowledged the dispatched message');
        assert.equal(acks.at(-1)!.lastMessageId!.producerSequenceId, 1n);
        assert.ok(out.includes('CLOSED'));
        assert.ok(of(DataType.REMOVE_INFO).length >= 1);
        assert.equal(of(DataType.SHUTDOWN_INFO).length, 1);
      } finally {
        server.close();
      }
    });
  }
});
