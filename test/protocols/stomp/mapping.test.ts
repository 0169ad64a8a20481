import assert from 'node:assert/strict';
import { createMessage } from '../../../src/core/message.js';
import { bodyTypeOf, compositeAddress, messageHeaderLines, messageHeaders, parseDestination, sendToMessage } from '../../../protocols/stomp/mapping.js';
import { PreparedMessage } from '../../../protocols/stomp/encoder.js';
import type { StompFrame } from '../../../protocols/stomp/frame.js';

const frame = (headers: Array<[string, string]>, body = ''): StompFrame => ({ command: 'SEND', headers, body: Buffer.from(body) });
const ctx = { replyTo: (d: string) => `mapped:${d}`, now: 1000 };

describe('STOMP mapping', () => {
  it('parses destinations and refuses unknown prefixes and empty names', () => {
    assert.deepEqual(parseDestination('/queue/a.b'), { type: 'queue', name: 'a.b' });
    assert.deepEqual(parseDestination('/topic/a.>'), { type: 'topic', name: 'a.>' });
    assert.deepEqual(parseDestination('/temp-queue/x'), { type: 'temp-queue', name: 'x' });
    assert.deepEqual(parseDestination('/remote-temp-topic/t.1'), { type: 'remote-temp-topic', name: 't.1' });
    assert.throws(() => parseDestination('/queue/'), /empty name/);
    assert.throws(() => parseDestination('queue/a'), /Unknown destination/);
    assert.throws(() => parseDestination(`/queue/${'x'.repeat(2000)}`), /longer than/);
  });

  it('builds composite addresses', () => {
    assert.deepEqual(compositeAddress('/queue/a,/topic/b,c'), { kind: 'queue', name: 'queue://a,topic://b,queue://c' });
    assert.throws(() => compositeAddress('/queue/a,/temp-queue/b'), /Temporary/);
    assert.throws(() => compositeAddress('/queue/a,,/queue/b'), /empty part/);
  });

  it('decides the body type', () => {
    assert.equal(bodyTypeOf('bytes', 'text/plain', false), 'bytes');
    assert.equal(bodyTypeOf('text', 'application/octet-stream', true), 'text');
    assert.equal(bodyTypeOf(undefined, 'text/html', true), 'text');
    assert.equal(bodyTypeOf(undefined, 'application/json', true), 'text');
    assert.equal(bodyTypeOf(undefined, 'application/ld+json', true), 'text');
    assert.equal(bodyTypeOf(undefined, 'application/x-thing; charset=utf-8', true), 'text');
    assert.equal(bodyTypeOf(undefined, 'image/png', false), 'bytes');
    assert.equal(bodyTypeOf(undefined, undefined, true), 'bytes');
    assert.equal(bodyTypeOf(undefined, undefined, false), 'text');
  });

  it('maps SEND headers; first occurrence wins; frame-level headers are not properties', () => {
    const m = sendToMessage(
      frame([
        ['destination', '/queue/q'],
        ['receipt', 'r'],
        ['transaction', 't'],
        ['persistent', 'true'],
        ['persistent', 'false'],
        ['priority', '12'],
        ['expires', '-5'],
        ['reply-to', '/queue/r'],
        ['JMSXGroupSeq', '3'],
        ['custom', '1'],
        ['custom', '2'],
        ['content-length', '2'],
      ], 'hi'),
      ctx,
    );
    assert.equal(m.durable, true);
    assert.equal(m.priority, 9);
    assert.equal(m.expiration, 0);
    assert.equal(m.replyTo, 'mapped:/queue/r');
    assert.equal(m.groupSeq, 3);
    assert.equal(m.timestamp, 1000);
    assert.equal(m.bodyType, 'bytes');
    assert.deepEqual(m.properties, { custom: '1' });
    assert.throws(() => sendToMessage(frame([['priority', '1.5']]), ctx), /integer/);
    assert.throws(() => sendToMessage(frame([['JMSXGroupSeq', '-7']]), ctx), /between/);
  });

  it('turns core messages into MESSAGE headers, properties as strings', () => {
    const m = createMessage({
      durable: false,
      priority: 2,
      timestamp: 5,
      expiration: 9,
      correlationId: 'c',
      type: 't',
      contentType: 'text/plain',
      groupId: 'g',
      groupSeq: 1,
      userId: 'u',
      properties: { s: 'x', n: 1.5, big: 12345678901234567890n, b: true, nul: null, bin: Buffer.from('z'), destination: 'shadow' },
    });
    assert.deepEqual(messageHeaders(m), [
      ['expires', '9'],
      ['priority', '2'],
      ['timestamp', '5'],
      ['persistent', 'false'],
      ['correlation-id', 'c'],
      ['type', 't'],
      ['content-type', 'text/plain'],
      ['JMSXGroupID', 'g'],
      ['JMSXGroupSeq', '1'],
      ['JMSXUserID', 'u'],
      ['s', 'x'],
      ['n', '1.5'],
      ['big', '12345678901234567890'],
      ['b', 'true'],
    ]);
  });

  it('messageHeaderLines is messageHeaders escaped and encoded: the same MESSAGE frame in every version', () => {
    const messages = [
      createMessage({ body: Buffer.from('x'), durable: true, priority: 4, timestamp: 1733580000123, properties: { sent: '1234.5678' } }),
      createMessage({ body: Buffer.alloc(0), expiration: 17, properties: {} }),
      createMessage({
        body: Buffer.from('b'),
        correlationId: 'c:1\\n\nx\r',
        type: 't:',
        contentType: 'text/plain;charset=utf-8',
        groupId: 'g\n',
        groupSeq: 3,
        userId: 'ü:ser',
        properties: { 'we:ird\nname': 'v:\\', n: 2.5, big: 12345678901234567890n, b: false, nul: null, bin: Buffer.from('z'), destination: 'shadow', '': 'empty', 'content-length': '99' },
      }),
    ];
    for (const m of messages) {
      for (const v of ['1.0', '1.1', '1.2'] as const) {
        const mode = v === '1.0' ? 0 : v === '1.1' ? 1 : 2;
        const fromPairs = new PreparedMessage(v, messageHeaders(m), m.body).encodeLines('subscription:1\n');
        const fromLines = new PreparedMessage(v, messageHeaderLines(m, mode), m.body).encodeLines('subscription:1\n');
        assert.deepEqual(fromLines, fromPairs, `version ${v}: ${fromPairs.toString('latin1')}`);
      }
    }
  });
});
