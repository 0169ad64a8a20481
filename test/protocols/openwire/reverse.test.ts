import assert from 'node:assert/strict';
import {
  DataType,
  char,
  double,
  encodeBytesBody,
  encodeMapBody,
  encodePrimitiveMap,
  encodeStreamBody,
  encodeTextBody,
  float,
  long,
  makeWireFormatInfo,
  short,
  byte,
  DEFAULT_SERVER_PREFERENCES,
  type ActiveMQTextMessage,
  type ConnectionId,
  type ConsumerId,
  type DataStructure,
  type Message,
  type ProducerId,
} from '../../../protocols/openwire/index.js';
import { codecFor, javaHarness } from './java-harness.js';

// The reverse direction: frames produced by our encoder are unmarshalled by ActiveMQ's own
// OpenWireFormat, and the Java side reports (through the JMS API where it applies) what it saw.

const CONN = 'ID:wharf-1';
const connectionId: ConnectionId = { type: DataType.CONNECTION_ID, value: CONN };
const producerId: ProducerId = { type: DataType.PRODUCER_ID, connectionId: CONN, sessionId: 1n, value: 2n };
const consumerId: ConsumerId = { type: DataType.CONSUMER_ID, connectionId: CONN, sessionId: 1n, value: 3n };
const queue = { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'wharf.q' } as const;

function message(type: Message['type'], seq: bigint, fields: Partial<Message>): Message {
  return {
    type,
    producerId,
    destination: queue,
    messageId: { type: DataType.MESSAGE_ID, textView: null, producerId, producerSequenceId: seq, brokerSequenceId: 5n },
    persistent: true,
    priority: 4,
    timestamp: 1700000000999n,
    ...fields,
  } as Message;
}

function commands(): [string, DataStructure][] {
  const props = new Map<string, any>([
    ['s', 'wharf ✓'],
    ['i', 42],
    ['l', long(1n << 50n)],
    ['d', double(0.5)],
    ['f', float(-1.25)],
    ['sh', short(-2)],
    ['b', byte(9)],
    ['c', char('W')],
    ['t', true],
    ['big', 'x€'.repeat(9000)],
    ['raw', Buffer.from([1, 2])],
  ]);
  const text: ActiveMQTextMessage = message(DataType.ACTIVEMQ_TEXT_MESSAGE, 1n, {
    content: encodeTextBody('hello from wharf ☃'),
    marshalledProperties: encodePrimitiveMap(props),
    correlationId: 'c-1',
    jmsType: 'wharf-type',
    replyTo: { type: DataType.ACTIVEMQ_TEMP_TOPIC, physicalName: 'ID:wharf-1:1:1' },
    expiration: 1800000000000n,
    redeliveryCounter: 3,
    groupID: 'grp',
    groupSequence: 2,
    userID: 'bob',
  }) as ActiveMQTextMessage;
  return [
    ['wireformatinfo', makeWireFormatInfo(DEFAULT_SERVER_PREFERENCES, { ProviderName: 'Wharf' })],
    ['brokerinfo', { type: DataType.BROKER_INFO, brokerId: { type: DataType.BROKER_ID, value: 'ID:wharf-broker' }, brokerName: 'wharf', brokerURL: 'tcp://127.0.0.1:61616' } as DataStructure],
    ['connectioninfo', { type: DataType.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId, clientId: 'cid', userName: 'u', password: 'p' } as DataStructure],
    ['consumerinfo', { type: DataType.CONSUMER_INFO, consumerId, destination: queue, prefetchSize: 500, selector: "a = 'b'", priority: -1, maximumPendingMessageLimit: 0 } as DataStructure],
    ['dispatch-text', { type: DataType.MESSAGE_DISPATCH, consumerId, destination: queue, message: text, redeliveryCounter: 3 } as DataStructure],
    ['text-compressed', message(DataType.ACTIVEMQ_TEXT_MESSAGE, 2n, { content: encodeTextBody('squeeze '.repeat(300), true), compressed: true })],
    ['text-big', message(DataType.ACTIVEMQ_TEXT_MESSAGE, 3n, { content: encodeTextBody('€'.repeat(70000)) })],
    ['bytes-compressed', message(DataType.ACTIVEMQ_BYTES_MESSAGE, 4n, { content: encodeBytesBody(Buffer.alloc(2000, 0xab), true), compressed: true })],
    ['map', message(DataType.ACTIVEMQ_MAP_MESSAGE, 5n, { content: encodeMapBody({ name: 'w', n: 7, ok: false, l: long(-1) }, true), compressed: true })],
    ['stream', message(DataType.ACTIVEMQ_STREAM_MESSAGE, 6n, { content: encodeStreamBody(['a', 1, long(2), null, true, Buffer.from([3])]) })],
    ['ack-xa', {
      type: DataType.MESSAGE_ACK,
      destination: queue,
      consumerId,
      ackType: 2,
      messageCount: 1,
      transactionId: { type: DataType.ACTIVEMQ_XA_TRANSACTION_ID, formatId: 7, globalTransactionId: Buffer.from([1]), branchQualifier: Buffer.from([2, 3]) },
      lastMessageId: { type: DataType.MESSAGE_ID, textView: null, producerId, producerSequenceId: 6n, brokerSequenceId: 0n },
    } as DataStructure],
    ['exceptionresponse', {
      type: DataType.EXCEPTION_RESPONSE,
      correlationId: 12,
      exception: {
        className: 'javax.jms.InvalidSelectorException',
        message: 'bad selector',
        stackTrace: [{ className: 'wharf.Selector', methodName: 'parse', fileName: 'selector.ts', lineNumber: 10 }],
        cause: { className: 'java.lang.IllegalArgumentException', message: 'inner', stackTrace: [], cause: null },
      },
    } as unknown as DataStructure],
    ['response', { type: DataType.RESPONSE, correlationId: 13 } as DataStructure],
    ['dataarrayresponse', { type: DataType.DATA_ARRAY_RESPONSE, correlationId: 14, data: [queue, null] } as DataStructure],
    ['connectioncontrol', { type: DataType.CONNECTION_CONTROL, suspend: true, token: Buffer.from([9]) } as DataStructure],
    ['consumerinfo-again', { type: DataType.CONSUMER_INFO, consumerId, destination: queue, prefetchSize: 1 } as DataStructure],
  ];
}

describe('openwire frames from our encoder, unmarshalled by ActiveMQ', function () {
  this.timeout(180_000);
  const CONFIGS = ['tight-cache', 'tight-nocache', 'loose-cache', 'loose-nocache', 'v11-tight-cache', 'v9-loose-nocache'];
  const seen = new Map<string, any>();

  before(function () {
    const input: string[] = [];
    for (const config of CONFIGS) {
      const codec = codecFor(config);
      for (const [label, cmd] of commands()) input.push(`${config}\t${label}@${config}\t${codec.encode(cmd).toString('hex')}`);
    }
    const out = javaHarness().run(['OpenWireGolden', 'decode'], input.join('\n') + '\n');
    for (const line of out.trim().split('\n')) {
      const tab = line.indexOf('\t');
      seen.set(line.slice(0, tab), JSON.parse(line.slice(tab + 1)));
    }
  });

  for (const config of CONFIGS) {
    it(`Java decodes every command we encode (${config})`, function () {
      const get = (label: string) => {
        const v = seen.get(`${label}@${config}`);
        assert.ok(v, `no answer for ${label}`);
        assert.equal(v.error, undefined, `${label}: Java failed: ${v.error}`);
        return v;
      };
      const wfi = get('wireformatinfo');
      assert.equal(wfi.magic, 'ActiveMQ');
      assert.equal(wfi.version, 12);
      assert.equal(wfi.tightEncodingEnabled, true);
      assert.equal(wfi.cacheSize, 1024);
      assert.equal(wfi.maxInactivityDuration, '30000');
      assert.equal(wfi.maxFrameSize, String(100 * 1024 * 1024));
      assert.deepEqual(wfi.props.ProviderName, { t: 'String', v: 'Wharf' });

      assert.equal(get('brokerinfo').brokerName, 'wharf');
      assert.equal(get('brokerinfo').brokerId.value, 'ID:wharf-broker');
      const ci = get('connectioninfo');
      assert.equal(ci.clientId, 'cid');
      assert.equal(ci.responseRequired, true);
      assert.equal(ci.connectionId.value, CONN);
      const coi = get('consumerinfo');
      assert.equal(coi.prefetchSize, 500);
      assert.equal(coi.selector, "a = 'b'");
      assert.equal(coi.priority, -1);
      assert.equal(coi.consumerId.value, '3');
      assert.equal(coi.destination.physicalName, 'wharf.q');
      assert.equal(get('consumerinfo-again').consumerId.value, '3');
      assert.equal(get('consumerinfo-again').destination.physicalName, 'wharf.q');

      const d = get('dispatch-text');
      assert.equal(d.redeliveryCounter, 3);
      const m = d.message;
      assert.equal(m._class, 'ActiveMQTextMessage');
      assert.equal(m.text, 'hello from wharf ☃');
      assert.equal(m.correlationId, 'c-1');
      assert.equal(m.type, 'wharf-type');
      assert.equal(m.replyTo.physicalName, 'ID:wharf-1:1:1');
      assert.equal(m.expiration, '1800000000000');
      assert.equal(m.timestamp, '1700000000999');
      assert.equal(m.persistent, true);
      assert.equal(m.groupID, 'grp');
      assert.equal(m.groupSequence, 2);
      assert.equal(m.userID, 'bob');
      assert.equal(m.messageId.producerSequenceId, '1');
      assert.deepEqual(m.props.s, { t: 'String', v: 'wharf ✓' });
      assert.deepEqual(m.props.i, { t: 'Integer', v: 42 });
      assert.deepEqual(m.props.l, { t: 'Long', v: String(1n << 50n) });
      assert.deepEqual(m.props.d, { t: 'Double', v: '0.5' });
      assert.deepEqual(m.props.f, { t: 'Float', v: '-1.25' });
      assert.deepEqual(m.props.sh, { t: 'Short', v: -2 });
      assert.deepEqual(m.props.b, { t: 'Byte', v: 9 });
      assert.deepEqual(m.props.c, { t: 'Character', v: 'W' });
      assert.deepEqual(m.props.t, { t: 'Boolean', v: true });
      assert.deepEqual(m.props.big, { t: 'String', v: 'x€'.repeat(9000) });
      assert.deepEqual(m.props.raw, { t: 'bytes', v: '0102' });

      assert.equal(get('text-compressed').text, 'squeeze '.repeat(300));
      assert.equal(get('text-big').text, '€'.repeat(70000));
      assert.equal(get('bytes-compressed').bytes, 'ab'.repeat(2000));
      assert.deepEqual(get('map').map, { l: { t: 'Long', v: '-1' }, n: { t: 'Integer', v: 7 }, name: { t: 'String', v: 'w' }, ok: { t: 'Boolean', v: false } });
      assert.deepEqual(get('stream').stream, [
        { t: 'String', v: 'a' },
        { t: 'Integer', v: 1 },
        { t: 'Long', v: '2' },
        { t: 'null', v: null },
        { t: 'Boolean', v: true },
        { t: 'bytes', v: '03' },
      ]);

      const ack = get('ack-xa');
      assert.equal(ack.ackType, 2);
      assert.equal(ack.transactionId.formatId, 7);
      assert.equal(ack.transactionId.branchQualifier, '0203');
      assert.equal(ack.lastMessageId.producerSequenceId, '6');

      const er = get('exceptionresponse');
      assert.equal(er.correlationId, 12);
      assert.equal(er.exception.class, 'javax.jms.InvalidSelectorException');
      assert.equal(er.exception.message, 'bad selector');
      assert.deepEqual(er.exception.stack, [['wharf.Selector', 'parse', 'selector.ts', 10]]);
      assert.equal(er.exception.cause.class, 'java.lang.IllegalArgumentException');
      assert.equal(er.exception.cause.message, 'inner');
      assert.equal(get('response').correlationId, 13);
      assert.deepEqual(get('dataarrayresponse').data.map((x: any) => x && x.physicalName), ['wharf.q', null]);
      assert.equal(get('connectioncontrol').suspend, true);
      assert.equal(get('connectioncontrol').token, '09');
    });
  }
});
