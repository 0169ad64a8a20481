import assert from 'node:assert/strict';
import { createMessage } from '../../../src/core/message.js';
import { bodyTypeOf, compositeAddress, messageHeaderLines, parseDestination, sendToMessage } from '../../../protocols/stomp/mapping.js';
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
    assert.deepEqual(parseDestination('/amq/queue/a.b'), { type: 'queue', name: 'a.b' });
    assert.deepEqual(parseDestination('/exchange/amq.topic/a.*'), { type: 'topic', name: 'a.*' });
    assert.throws(() => parseDestination('/exchange/amq.direct/a'), /Unknown destination/);
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
    assert.equal(
      messageHeaderLines(m, 2),
      [
        'expires:9',
        'priority:2',
        'timestamp:5',
        'persistent:false',
        'correlation-id:c',
        'type:t',
        'content-type:text/plain',
        'JMSXGroupID:g',
        'JMSXGroupSeq:1',
        'JMSXUserID:u',
        's:x',
        'n:1.5',
        'big:12345678901234567890',
        'b:true',
      ].map((l) => l + '\n').join(''),
    );
  });

  it('MESSAGE header lines are escaped as each version defines, and the frame carries content-length for a body', () => {
    const m = createMessage({
      body: Buffer.from('b'),
      timestamp: 5,
      correlationId: 'c:1\\n\nx\r',
      type: 't:',
      contentType: 'text/plain;charset=utf-8',
      groupId: 'g\n',
      groupSeq: 3,
      userId: 'ü:ser',
      properties: { 'we:ird\nname': 'v:\\', n: 2.5, big: 12345678901234567890n, b: false, nul: null, bin: Buffer.from('z'), destination: 'shadow', '': 'empty', 'content-length': '99' },
    });
    const fixed = 'expires:0\npriority:4\ntimestamp:5\npersistent:true\n';
    const tail = 'n:2.5\nbig:12345678901234567890\nb:false\n';
    // 1.0 escapes nothing (a newline in a value would end the line: it becomes a space)
    assert.equal(messageHeaderLines(m, 0), fixed + 'correlation-id:c:1\\n x \ntype:t:\ncontent-type:text/plain;charset=utf-8\nJMSXGroupID:g \nJMSXGroupSeq:3\nJMSXUserID:ü:ser\nwe:ird name:v:\\\n' + tail);
    // 1.1: \\ \n \c; a CR stays as it is
    assert.equal(messageHeaderLines(m, 1), fixed + 'correlation-id:c\\c1\\\\n\\nx\r\ntype:t\\c\ncontent-type:text/plain;charset=utf-8\nJMSXGroupID:g\\n\nJMSXGroupSeq:3\nJMSXUserID:ü\\cser\nwe\\cird\\nname:v\\c\\\\\n' + tail);
    // 1.2: \r too
    assert.equal(messageHeaderLines(m, 2), fixed + 'correlation-id:c\\c1\\\\n\\nx\\r\ntype:t\\c\ncontent-type:text/plain;charset=utf-8\nJMSXGroupID:g\\n\nJMSXGroupSeq:3\nJMSXUserID:ü\\cser\nwe\\cird\\nname:v\\c\\\\\n' + tail);
    const withBody = new PreparedMessage('1.2', messageHeaderLines(m, 2), m.body).encodeLines('subscription:1\n').toString('utf8');
    assert.ok(withBody.includes('\ncontent-length:1\n\nb\0'), withBody);
    const empty = createMessage({ body: Buffer.alloc(0), expiration: 17, timestamp: 5, properties: {} });
    assert.equal(messageHeaderLines(empty, 2), 'expires:17\npriority:4\ntimestamp:5\npersistent:true\n');
    const noBody = new PreparedMessage('1.2', messageHeaderLines(empty, 2), empty.body).encodeLines('subscription:1\n').toString('utf8');
    assert.ok(!noBody.includes('content-length'), noBody);
  });
});
