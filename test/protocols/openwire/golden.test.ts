import assert from 'node:assert/strict';
import {
  DataType,
  OpenWireCodec,
  decodeBytesBody,
  decodeMapBody,
  decodePrimitiveMap,
  decodeStreamBody,
  decodeTextBody,
  encodePrimitiveMap,
  readWireFormatInfo,
  type DataStructure,
} from '../../../protocols/openwire/index.js';
import { codecFor, javaHarness } from './java-harness.js';

// Golden frames marshalled by ActiveMQ's own OpenWireFormat (v12) in six configurations; every
// frame must decode to the fields the Java program put in and re-encode to the identical bytes.


/** Removes what legitimately differs between configurations (stack traces are not sent without StackTraceEnabled). */
function withoutStacks(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutStacks);
  if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (k !== 'stackTrace' && k !== 'cause') out[k] = withoutStacks(x);
  return out;
}

const CONN = 'ID:golden-host-40001-1700000000000-1:1';

describe('openwire golden frames from ActiveMQ OpenWireFormat', function () {
  this.timeout(180_000);
  const decoded = new Map<string, Map<string, DataStructure | null>>();
  let lines: { label: string; config: string; frame: Buffer }[] = [];

  before(function () {
    const out = javaHarness().run(['OpenWireGolden', 'golden']);
    lines = out
      .trim()
      .split('\n')
      .map((l) => {
        const [label, config, hex] = l.split('\t');
        return { label: label!, config: config!, frame: Buffer.from(hex!, 'hex') };
      });
    assert.ok(lines.length > 200, `expected the full golden set, got ${lines.length} frames`);
  });

  it('decodes every frame and re-encodes it byte for byte (tight/loose, cache on/off, stack traces on/off)', function () {
    const dec = new Map<string, OpenWireCodec>();
    const enc = new Map<string, OpenWireCodec>();
    for (const { label, config, frame } of lines) {
      if (!dec.has(config)) {
        dec.set(config, codecFor(config));
        enc.set(config, codecFor(config));
        decoded.set(config, new Map());
      }
      let cmd: DataStructure | null;
      try {
        cmd = dec.get(config)!.decodeFrame(frame);
      } catch (err) {
        throw new Error(`${label} (${config}): ${(err as Error).message}`);
      }
      decoded.get(config)!.set(label, cmd);
      const again = enc.get(config)!.encode(cmd);
      assert.ok(again.equals(frame), `${label} (${config}) re-encodes differently:\n${frame.toString('hex')}\n${again.toString('hex')}`);
    }
    assert.equal(decoded.size, 10);
  });

  it('decodes the same fields in every configuration', function () {
    const ref = decoded.get('loose-nocache')!;
    for (const [config, cmds] of decoded) {
      // Older versions lack a few fields (they decode as defaults); their proof is the byte-exact round trip.
      if (/^v\d+-/.test(config)) continue;
      for (const [label, cmd] of cmds) {
        if (config.includes('nostack')) assert.deepEqual(withoutStacks(cmd), withoutStacks(ref.get(label)), `${label} ${config}`);
        else assert.deepEqual(cmd, ref.get(label), `${label} ${config}`);
      }
    }
  });

  it('decodes the fields the Java program set', function () {
    const get = (label: string) => decoded.get('tight-cache')!.get(label) as any;

    const wfi = readWireFormatInfo(get('wireformatinfo'));
    assert.equal(wfi.magicValid, true);
    assert.equal(wfi.version, 12);
    assert.equal(wfi.tightEncodingEnabled, true);
    assert.equal(wfi.cacheSize, 1024);
    assert.equal(wfi.maxFrameSize, 104857600);
    assert.equal(wfi.maxInactivityDurationInitalDelay, 10000);
    assert.equal(wfi.properties.get('ProviderName'), 'ActiveMQ');

    const bi = get('brokerinfo');
    assert.equal(bi.type, DataType.BROKER_INFO);
    assert.equal(bi.brokerId.value, 'ID:broker-1');
    assert.equal(bi.brokerURL, 'tcp://127.0.0.1:61616');
    assert.equal(bi.peerBrokerInfos[0].brokerName, 'peer');
    assert.equal(bi.faultTolerantConfiguration, true);
    assert.equal(bi.connectionId, 70000n);

    const ci = get('connectioninfo');
    assert.equal(ci.type, DataType.CONNECTION_INFO);
    assert.equal(ci.commandId, 1);
    assert.equal(ci.responseRequired, true);
    assert.deepEqual(ci.connectionId, { type: DataType.CONNECTION_ID, value: CONN });
    assert.equal(ci.clientId, 'golden-client');
    assert.equal(ci.password, 'pässwörd');
    assert.deepEqual(ci.brokerPath.map((b: any) => b.value), ['ID:b1', 'ID:b2']);
    assert.equal(ci.manageable, true);
    assert.equal(ci.clientIp, 'tcp://10.0.0.1:5000');

    assert.deepEqual(get('sessioninfo').sessionId, { type: DataType.SESSION_ID, connectionId: CONN, value: 1n });
    const pi = get('producerinfo');
    assert.deepEqual(pi.producerId, { type: DataType.PRODUCER_ID, connectionId: CONN, value: 1n, sessionId: 1n });
    assert.deepEqual(pi.destination, { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'orders.in' });
    assert.equal(pi.windowSize, 65536);
    assert.equal(pi.dispatchAsync, true);

    const coi = get('consumerinfo');
    assert.deepEqual(coi.consumerId, { type: DataType.CONSUMER_ID, connectionId: CONN, sessionId: 1n, value: 7n });
    assert.deepEqual(coi.destination, { type: DataType.ACTIVEMQ_TOPIC, physicalName: 'prices.>' });
    assert.equal(coi.prefetchSize, 1000);
    assert.equal(coi.maximumPendingMessageLimit, -1);
    assert.equal(coi.selector, "price > 10 AND sym = 'ÄB'");
    assert.equal(coi.subscriptionName, 'durable-1');
    assert.equal(coi.noLocal, true);
    assert.equal(coi.exclusive, true);
    assert.equal(coi.priority, -5);
    assert.equal(coi.networkConsumerPath.length, 1);

    assert.equal(get('removeinfo').lastDeliveredSequenceId, 9876543210123n);
    assert.equal(get('removeinfo').objectId.type, DataType.CONSUMER_ID);
    assert.equal(get('removesubscriptioninfo').subcriptionName, 'durable-1');
    const di = get('destinationinfo');
    assert.deepEqual(di.destination, { type: DataType.ACTIVEMQ_TEMP_TOPIC, physicalName: 'ID:golden:tt:1' });
    assert.equal(di.operationType, 0);
    assert.equal(di.timeout, 65537n);

    const md = get('messagedispatch');
    assert.equal(md.redeliveryCounter, 2);
    assert.equal(md.message.type, DataType.ACTIVEMQ_TEXT_MESSAGE);
    assert.equal(decodeTextBody(md.message.content, md.message.compressed), 'dispatched text');
    assert.equal(get('messagepull').timeout, -1n);
    assert.equal(get('messagepull').correlationId, 'pull-1');

    const ack = get('messageack');
    assert.equal(ack.ackType, 1);
    assert.equal(ack.messageCount, 41);
    assert.equal(ack.transactionId.type, DataType.ACTIVEMQ_LOCAL_TRANSACTION_ID);
    assert.equal(ack.transactionId.value, 99n);
    assert.equal(ack.firstMessageId.producerSequenceId, 1n);
    assert.equal(ack.lastMessageId.producerSequenceId, 41n);
    assert.equal(ack.poisonCause.className, 'java.lang.Throwable');
    assert.equal(ack.poisonCause.message, 'poisoned');
    assert.equal(ack.poisonCause.cause.className, 'java.lang.IllegalStateException');
    assert.equal(get('producerack').size, 4096);

    const xa = get('transactioninfo-xa');
    assert.equal(xa.transactionType, 0);
    assert.equal(xa.transactionId.formatId, 0x1234);
    assert.equal(xa.transactionId.globalTransactionId.toString('hex'), '01020304ff');
    assert.equal(xa.transactionId.branchQualifier.toString('hex'), '0908');
    assert.equal(get('transactioninfo-local').transactionType, 2);

    assert.equal(get('response').correlationId, 6);
    const er = get('exceptionresponse');
    assert.equal(er.correlationId, 7);
    assert.deepEqual(er.exception, {
      className: 'javax.jms.InvalidDestinationException',
      message: 'no such queue: x',
      stackTrace: [
        { className: 'org.apache.activemq.broker.Broker', methodName: 'send', fileName: 'Broker.java', lineNumber: 100 },
        { className: 'org.apache.activemq.broker.Native', methodName: 'call', fileName: null, lineNumber: -2 },
      ],
      cause: {
        className: 'java.io.IOException',
        message: 'disk on fire',
        stackTrace: [{ className: 'org.example.Disk', methodName: 'write', fileName: 'Disk.java', lineNumber: 42 }],
        cause: null,
      },
    });
    assert.deepEqual(decoded.get('tight-cache-nostack')!.get('exceptionresponse'), {
      ...er,
      exception: { className: 'javax.jms.InvalidDestinationException', message: 'no such queue: x' },
    });
    assert.deepEqual(get('dataarrayresponse').data, [
      { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'q1' },
      { type: DataType.ACTIVEMQ_TOPIC, physicalName: 't1' },
      null,
    ]);
    assert.equal(get('integerresponse').result, -42);
    assert.equal(get('shutdowninfo').type, DataType.SHUTDOWN_INFO);
    const cc = get('connectioncontrol');
    assert.equal(cc.reconnectTo, 'tcp://other:61616');
    assert.equal(cc.rebalanceConnection, true);
    assert.equal(cc.token.toString('hex'), '0001027f80');
    assert.equal(get('consumercontrol').stop, true);
    assert.equal(get('controlcommand').command, 'shutdown');
    assert.equal(get('connectionerror').exception.className, 'java.lang.SecurityException');
    assert.equal(get('replaycommand').lastNakNumber, 20);

    // Messages: headers, properties, bodies.
    const m = get('message-plain');
    assert.equal(m.type, DataType.ACTIVEMQ_MESSAGE);
    assert.equal(m.messageId.producerSequenceId, 1n);
    assert.equal(m.messageId.brokerSequenceId, 123456789012n);
    assert.equal(m.timestamp, 1700000000123n);
    assert.equal(m.expiration, 1700000060000n);
    assert.equal(m.persistent, true);
    assert.equal(m.priority, 7);
    assert.equal(m.correlationId, 'corr-1');
    assert.equal(m.jmsType, 'golden-type');
    assert.deepEqual(m.replyTo, { type: DataType.ACTIVEMQ_TEMP_QUEUE, physicalName: 'ID:golden-host-40001-1700000000000-1:1:1' });
    assert.equal(m.groupID, 'group-A');
    assert.equal(m.groupSequence, 3);
    assert.equal(m.transactionId.value, 99n);
    assert.equal(m.originalTransactionId.value, 98n);
    assert.deepEqual(m.originalDestination, { type: DataType.ACTIVEMQ_TOPIC, physicalName: 'orig.topic' });
    assert.equal(m.targetConsumerId.value, 7n);
    assert.equal(m.redeliveryCounter, 5);
    assert.deepEqual(m.cluster.map((b: any) => b.value), ['ID:c1', 'ID:c2']);
    assert.equal(m.arrival, 1700000000200n);
    assert.equal(m.userID, 'alice');
    assert.equal(m.brokerInTime, 1700000000150n);
    assert.equal(m.brokerOutTime, 1700000000250n);
    assert.equal(m.droppable, true);
    assert.equal(m.jmsxGroupFirstForConsumer, true);
    const props = decodePrimitiveMap(m.marshalledProperties)!;
    assert.equal(props.get('bool'), true);
    assert.deepEqual(props.get('byte'), { type: 'byte', value: -3 });
    assert.deepEqual(props.get('short'), { type: 'short', value: -300 });
    assert.deepEqual(props.get('int'), { type: 'int', value: 123456789 });
    assert.deepEqual(props.get('long'), { type: 'long', value: -1234567890123456789n });
    assert.deepEqual(props.get('float'), { type: 'float', value: 1.5 });
    assert.deepEqual(props.get('double'), { type: 'double', value: -2.25e100 });
    assert.deepEqual(props.get('char'), { type: 'char', value: 'Z'.charCodeAt(0) });
    assert.equal(props.get('string'), 'héllo\u0000wörld \u{1F600}');
    assert.equal(props.get('bigstring'), 'big-€-'.repeat(2000));
    assert.deepEqual(props.get('bytes'), Buffer.from([1, 2, 3]));
    assert.equal(props.get('null'), null);
    assert.deepEqual(props.get('map'), new Map<string, unknown>([['k', { type: 'int', value: 1 }], ['list', ['a', { type: 'long', value: 2n }, false]]]));
    // The properties encoder reproduces Java's bytes (entry order as decoded).
    assert.ok(encodePrimitiveMap(props).equals(m.marshalledProperties));

    const text = get('message-text');
    assert.equal(decodeTextBody(text.content, text.compressed), 'Hello, OpenWire! ☃');
    assert.equal(decodePrimitiveMap(text.marshalledProperties)!.get('JMSXGroupID'), 'g');
    const big = get('message-text-big');
    assert.equal(decodeTextBody(big.content, big.compressed), '0123456789abcdéf'.repeat(5000));
    const zt = get('message-text-compressed');
    assert.equal(zt.compressed, true);
    assert.equal(decodeTextBody(zt.content, true), 'compress me '.repeat(500));
    assert.deepEqual(decodeBytesBody(get('message-bytes').content, false), Buffer.from([0, 1, 2, 3, 0xfe, 0xff]));
    const zb = get('message-bytes-compressed');
    assert.equal(zb.compressed, true);
    assert.deepEqual(decodeBytesBody(zb.content, true), Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 7)));
    const map = decodeMapBody(get('message-map').content, false);
    assert.equal(map.get('name'), 'widget');
    assert.deepEqual(map.get('count'), { type: 'int', value: 3 });
    assert.deepEqual(map.get('price'), { type: 'double', value: 9.99 });
    assert.deepEqual(map.get('big'), { type: 'long', value: -(2n ** 63n) });
    assert.deepEqual(map.get('c'), { type: 'char', value: 'x'.charCodeAt(0) });
    assert.deepEqual(map.get('raw'), Buffer.from([7, 7]));
    const zm = get('message-map-compressed');
    assert.equal(zm.compressed, true);
    assert.equal(decodeMapBody(zm.content, true).get('name'), 'z'.repeat(1000));
    assert.deepEqual(decodeStreamBody(get('message-stream').content, get('message-stream').compressed), [
      'first',
      { type: 'int', value: 2 },
      false,
      Buffer.from([5, 6]),
      null,
      { type: 'double', value: 3.5 },
      { type: 'short', value: 7 },
      { type: 'byte', value: 8 },
      { type: 'float', value: 0.25 },
      { type: 'long', value: 1n << 40n },
      { type: 'char', value: 'q'.charCodeAt(0) },
      'S'.repeat(9000),
    ]);
    const obj = get('message-object');
    assert.equal(obj.type, DataType.ACTIVEMQ_OBJECT_MESSAGE);
    assert.equal(obj.content.readUInt16BE(0), 0xaced, 'ObjectMessage content is a Java serialization stream');
  });

  it('decodes older protocol versions without the fields they lack', function () {
    const v9 = decoded.get('v9-tight-nocache')!;
    const v11 = decoded.get('v11-tight-cache')!;
    assert.equal((v11.get('consumerinfo') as any).clientId, 'golden-client');
    assert.equal((v9.get('consumerinfo') as any).clientId, null);
    assert.equal((v11.get('message-plain') as any).jmsxGroupFirstForConsumer, true);
    assert.equal((v9.get('message-plain') as any).jmsxGroupFirstForConsumer, false);
    assert.equal((v9.get('message-plain') as any).userID, 'alice');
    assert.equal(decodeTextBody((v9.get('message-text') as any).content, false), 'Hello, OpenWire! ☃');
  });

  it('uses cache references for repeated ids when the cache is on', function () {
    const sizes = (config: string) => lines.find((l) => l.label === 'message-text-again' && l.config === config)!.frame.length;
    assert.ok(sizes('tight-cache') < sizes('tight-nocache'));
    assert.ok(sizes('loose-cache') < sizes('loose-nocache'));
  });
});
