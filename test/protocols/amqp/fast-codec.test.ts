/**
 * The hand-written hot-path codecs agree with rhea's generic codec: incoming transfers read field by field
 * give what rhea's composite gives (or are left to rhea), outgoing transfers decode in rhea to what was
 * written, and flat sections read without rhea's reader give the same typed values as rhea's reader.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFlat, toJs } from '../../../protocols/amqp/codec.js';
import { readPlainTransfer } from '../../../protocols/amqp/transfer-in.js';
import { encodeTransfer } from '../../../protocols/amqp/transfer-out.js';

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;
const frames = require('rhea/lib/frames.js') as Any;
const types = require('rhea/lib/types.js') as Any;

const FIELDS = ['handle', 'delivery_id', 'delivery_tag', 'message_format', 'settled', 'more'] as const;

function rheaTransfer(fields: Record<string, unknown>, payload?: Buffer, channel = 3): Buffer {
  return frames.write_frame(frames.amqp_frame(channel, frames.transfer(fields), payload));
}

/** A list-encoded transfer with exactly these encoded field values (raw bytes per field). */
function rawTransfer(fieldBytes: number[][], payload: Buffer, list32 = false): Buffer {
  const body = Buffer.from(fieldBytes.flat());
  const list = list32
    ? Buffer.concat([Buffer.from([0xd0]), u32(body.length + 4), u32(fieldBytes.length), body])
    : Buffer.concat([Buffer.from([0xc0, body.length + 1, fieldBytes.length]), body]);
  const perf = Buffer.concat([Buffer.from([0x00, 0x53, 0x14]), list]);
  const head = Buffer.from([0, 0, 0, 0, 2, 0, 0, 7]);
  const f = Buffer.concat([head, perf, payload]);
  f.writeUInt32BE(f.length, 0);
  return f;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sameAsRhea(buf: Buffer): void {
  const fast = readPlainTransfer(buf, 0, buf.length);
  assert.ok(fast, `read on the fast path: ${buf.toString('hex')}`);
  const r = frames.read_frame(buf);
  assert.equal(fast.channel, r.channel);
  for (const k of FIELDS) assert.deepEqual(fast.performative[k], r.performative[k], k);
  assert.equal(fast.performative.value[7], undefined);
  assert.deepEqual(fast.payload, r.payload);
}

describe('AMQP: hot-path codecs agree with rhea', () => {
  it('incoming transfers: the fields rhea would give', () => {
    const payload = Buffer.from('0053700000000000', 'hex');
    sameAsRhea(rheaTransfer({ handle: 0, delivery_id: 5, delivery_tag: Buffer.from('1'), message_format: 0, settled: false, more: false }, payload));
    sameAsRhea(rheaTransfer({ handle: 300, delivery_id: 70000, delivery_tag: Buffer.alloc(300, 1), message_format: 0, settled: true }, payload));
    sameAsRhea(rheaTransfer({ handle: 1, delivery_id: 2, delivery_tag: Buffer.from('ab') }, payload));
    sameAsRhea(rheaTransfer({ handle: 1 }, Buffer.alloc(5000, 2))); // a continuation frame: delivery-id absent
    sameAsRhea(rheaTransfer({ handle: 1, delivery_id: 9, delivery_tag: Buffer.from('t'), more: true }));
    // explicit nulls up to batchable, list32
    sameAsRhea(rawTransfer([[0x43], [0x52, 7], [0xa0, 1, 0x41], [0x43], [0x42], [0x42], [0x40], [0x40], [0x40], [0x40], [0x40]], payload, true));
  });

  it('incoming transfers with a state, a settle mode, aborted, or odd encodings are left to rhea', () => {
    const payload = Buffer.from('00', 'hex');
    for (const buf of [
      rawTransfer([[0x43], [0x43], [0xa0, 1, 0x41], [0x43], [0x42], [0x42], [0x40], [0x00, 0x53, 0x34, 0xc0, 0x04, 0x01, 0xa0, 0x01, 0x01]], payload), // a transactional-state
      rheaTransfer({ handle: 0, delivery_id: 1, delivery_tag: Buffer.from('x'), rcv_settle_mode: 1 }, payload),
      rheaTransfer({ handle: 0, delivery_id: 1, delivery_tag: Buffer.from('x'), aborted: true }, payload),
      rawTransfer([[0x43], [0x43], [0xa0, 1, 0x41], [0x43], [0x56, 0x01]], payload), // a one-byte boolean
      rawTransfer([[0x43], [0x80, 0, 0, 0, 0, 0, 0, 0, 1]], payload), // a ulong where a uint belongs
      rawTransfer([[0x43], [0x43], [0xa0, 9, 0x41]], payload), // a tag longer than the list
      frames.write_frame(frames.amqp_frame(0, frames.flow({ handle: 0, link_credit: 10 }))),
    ]) {
      assert.equal(readPlainTransfer(buf, 0, buf.length), null, buf.toString('hex'));
    }
  });

  it('outgoing transfers decode in rhea to what was written', () => {
    for (const [channel, handle, id, tag, format, settled, more, size] of [
      [0, 0, 0, Buffer.from('0'), 0, false, false, 100],
      [9, 255, 256, Buffer.from('zz'), 0, true, false, 10],
      [70, 70000, 2 ** 32 - 1, Buffer.alloc(300, 7), 5, false, true, 70000],
    ] as const) {
      const payload = Buffer.alloc(size, 3);
      const buf = encodeTransfer(channel, handle, id, tag, format, settled, more, payload);
      const r = frames.read_frame(buf);
      assert.equal(r.size, buf.length);
      assert.equal(r.channel, channel);
      assert.equal(r.performative.handle, handle);
      assert.equal(r.performative.delivery_id, id);
      assert.deepEqual(r.performative.delivery_tag, tag);
      assert.equal(r.performative.message_format, format);
      assert.equal(r.performative.settled, settled);
      assert.equal(!!r.performative.more, more);
      assert.deepEqual(r.payload, payload);
    }
  });

  it('flat sections: the same typed values as rhea’s reader', () => {
    const w = (v: Any) => {
      const writer = new types.Writer();
      writer.write(v);
      return writer.toBuffer() as Buffer;
    };
    const values = [
      types.wrap_list([true, false, null, 0, 1, 255, 256, 70000, -1, -200, 1.5, 'é', 'x'.repeat(300)]),
      types.wrap_list([types.wrap_ubyte(200), types.wrap_byte(-3), types.wrap_ushort(60000), types.wrap_short(-30000), types.wrap_uint(0), types.wrap_uint(7), types.wrap_ulong(0), types.wrap_ulong(9), types.wrap_ulong(2 ** 40), types.wrap_long(-5), types.wrap_long(2 ** 40), types.wrap_float(0.5), types.wrap_double(-2.25), types.wrap_timestamp(1_700_000_000_000), types.wrap_symbol('sym'), types.wrap_binary(Buffer.from('bin')), types.wrap_uuid(Buffer.alloc(16, 9))]),
      types.wrap_map({ a: 1, b: 'two', c: null, d: true, sent: 1234.5 }),
      types.wrap_symbolic_map({ 'x-opt-jms-msg-type': types.wrap_byte(5), 'x-opt-jms-dest': types.wrap_byte(0) }),
      types.wrap_list([]),
    ];
    for (const v of values) {
      const buf = Buffer.concat([Buffer.from([0x77]), w(v), Buffer.from([0x99])]); // the value at offset 1, something after it
      const fast = readFlat(buf, 1);
      assert.ok(fast, buf.toString('hex'));
      const reader = new types.Reader(buf);
      reader.position = 1;
      const slow = reader.read();
      assert.equal(fast.end, reader.position);
      assert.equal(fast.value.type.typecode, slow.type.typecode);
      const fastItems = fast.value.value as Any[];
      const slowItems = slow.value as Any[];
      assert.equal(fastItems.length, slowItems.length);
      for (let i = 0; i < slowItems.length; i++) {
        assert.equal(fastItems[i].type.typecode, slowItems[i].type.typecode, `element ${i}`);
        assert.deepEqual(fastItems[i].value, slowItems[i].value, `element ${i}`);
      }
      assert.deepEqual(toJs(fast.value), toJs(slow));
    }
    // nested, described or array values, and malformed sizes, are left to rhea's reader
    for (const v of [types.wrap_list([types.wrap_list([1])]), types.wrap_map({ a: { b: 1 } }), types.wrap_list([types.wrap_array([1, 2], 0x71)])]) {
      assert.equal(readFlat(w(v), 0), null);
    }
    assert.equal(readFlat(Buffer.from([0xc0, 0x05, 0x02, 0x43]), 0), null); // truncated
    assert.equal(readFlat(Buffer.from([0xc1, 0x02, 0x01, 0x43]), 0), null); // a map with an odd count
  });
});
