import assert from 'node:assert/strict';
import { BooleanStreamReader, BooleanStreamWriter } from '../../../protocols/openwire/boolean-stream.js';
import {
  DataType,
  FrameReader,
  OpenWireCodec,
  OpenWireError,
  decodePrimitiveMap,
  decodeStreamBody,
  decodeTextBody,
  decodeBytesBody,
  encodePrimitiveMap,
  encodeStreamBody,
  encodeTextBody,
  encodeBytesBody,
  long,
  negotiate,
  makeWireFormatInfo,
  readWireFormatInfo,
  DEFAULT_SERVER_PREFERENCES,
  type DataStructure,
  type Message,
} from '../../../protocols/openwire/index.js';
import { mulberry32 as prng } from '../../helpers/prng.js';

const OPTS = [
  { tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true },
  { tightEncoding: true, cacheEnabled: false, stackTraceEnabled: false },
  { tightEncoding: false, cacheEnabled: true, stackTraceEnabled: true },
  { tightEncoding: false, cacheEnabled: false, stackTraceEnabled: false },
];

const producerId = { type: DataType.PRODUCER_ID, connectionId: 'ID:c', sessionId: 1n, value: 1n } as const;
function sample(): DataStructure[] {
  return [
    { type: DataType.CONNECTION_INFO, commandId: 1, responseRequired: true, connectionId: { type: DataType.CONNECTION_ID, value: 'ID:c' }, clientId: 'x' } as DataStructure,
    {
      type: DataType.ACTIVEMQ_TEXT_MESSAGE,
      commandId: 2,
      producerId,
      destination: { type: DataType.ACTIVEMQ_QUEUE, physicalName: 'q' },
      messageId: { type: DataType.MESSAGE_ID, textView: null, producerId, producerSequenceId: 70000n, brokerSequenceId: -1n },
      timestamp: 1n << 40n,
      content: encodeTextBody('hi'),
      marshalledProperties: encodePrimitiveMap({ a: 1, b: 'two', c: [1, 2, new Map([['x', true]])] }),
    } as Message,
    { type: DataType.EXCEPTION_RESPONSE, correlationId: 3, exception: { className: "java.lang.Exception", message: "m", stackTrace: [], cause: null } } as unknown as DataStructure,
  ];
}

describe('openwire codec units', function () {
  describe('boolean stream', function () {
    for (const count of [0, 1, 7, 8, 9, 63 * 8, 64 * 8, 255 * 8, 256 * 8 + 3]) {
      it(`round-trips ${count} booleans with the right size prefix`, function () {
        const rnd = prng(count);
        const values = Array.from({ length: count }, () => rnd() < 0.5);
        const w = new BooleanStreamWriter();
        values.forEach((v) => w.write(v));
        const buf = Buffer.alloc(w.marshalledSize());
        assert.equal(w.writeTo(buf, 0), buf.length);
        const bytes = Math.ceil(count / 8);
        const prefix = bytes < 64 ? 1 : bytes < 256 ? 2 : 3;
        assert.equal(buf.length, bytes + prefix);
        if (prefix === 2) assert.equal(buf[0], 0xc0);
        if (prefix === 3) assert.equal(buf[0], 0x80);
        const r = new BooleanStreamReader(buf.subarray(prefix));
        assert.deepEqual(values.map(() => r.read()), values);
      });
    }
    it('reports exhaustion as OpenWireError', function () {
      assert.throws(() => new BooleanStreamReader(Buffer.alloc(0)).read(), OpenWireError);
    });
  });

  describe('properties and bodies', function () {
    it('round-trips every primitive type, nesting, null and big strings', function () {
      const m = new Map<string, any>([
        ['n', null],
        ['t', true],
        ['i', { type: 'int', value: -1 }],
        ['l', long(-(2n ** 63n))],
        ['s', 'a\u0000\u{1F600}'],
        ['big', 'é'.repeat(40000)],
        ['bytes', Buffer.from([0, 255])],
        ['list', [{ type: 'short', value: 3 }, 'x', [null]]],
        ['map', new Map([['inner', { type: 'float', value: 1.5 }]])],
        ['char', { type: 'char', value: 0xffff }],
        ['byte', { type: 'byte', value: -128 }],
        ['double', { type: 'double', value: Number.NaN }],
      ]);
      const enc = encodePrimitiveMap(m);
      const back = decodePrimitiveMap(enc)!;
      assert.deepEqual(back, m);
      assert.ok(encodePrimitiveMap(back).equals(enc));
      assert.equal(decodePrimitiveMap(encodePrimitiveMap(null)), null);
    });
    it('maps plain numbers to int/double and bigint to long', function () {
      const back = decodePrimitiveMap(encodePrimitiveMap({ a: 5, b: 5.5, c: 2 ** 40, d: 7n }))!;
      assert.deepEqual([...back.values()], [
        { type: 'int', value: 5 },
        { type: 'double', value: 5.5 },
        { type: 'double', value: 2 ** 40 },
        { type: 'long', value: 7n },
      ]);
    });
    it('round-trips text, bytes and stream bodies, compressed or not', function () {
      for (const z of [false, true]) {
        assert.equal(decodeTextBody(encodeTextBody('€'.repeat(100000), z), z), '€'.repeat(100000));
        assert.equal(decodeTextBody(encodeTextBody(null, z), z), null);
        assert.deepEqual(decodeBytesBody(encodeBytesBody(Buffer.alloc(5000, 1), z), z), Buffer.alloc(5000, 1));
        assert.deepEqual(decodeStreamBody(encodeStreamBody(['a', true, null], z), z), ['a', true, null]);
      }
    });
    it('refuses to inflate past the limit (zip bomb)', function () {
      const bomb = encodeTextBody('a'.repeat(1_000_000), true);
      assert.ok(bomb.length < 10_000);
      assert.throws(() => decodeTextBody(bomb, true, { maxDepth: 32, maxInflatedSize: 100_000 }), OpenWireError);
      const bytesBomb = encodeBytesBody(Buffer.alloc(1_000_000), true);
      assert.throws(() => decodeBytesBody(bytesBomb, true, { maxDepth: 32, maxInflatedSize: 100_000 }), OpenWireError);
    });
    it('bounds nesting depth and declared counts', function () {
      let deep: any = 1;
      for (let i = 0; i < 40; i++) deep = [deep];
      assert.throws(() => decodePrimitiveMap(encodePrimitiveMap({ deep })), OpenWireError);
      // A map declaring 2^31-1 entries in a 4-byte buffer fails before allocating anything.
      assert.throws(() => decodePrimitiveMap(Buffer.from([0x7f, 0xff, 0xff, 0xff])), OpenWireError);
      // A byte array declaring 2 GiB.
      assert.throws(() => decodePrimitiveMap(Buffer.from([0, 0, 0, 1, 0, 1, 0x61, 10, 0x7f, 0xff, 0xff, 0xff])), OpenWireError);
      assert.throws(() => decodePrimitiveMap(Buffer.from([0, 0, 0, 1, 0, 1, 0x61, 99])), /unknown primitive type 99/);
    });
  });

  describe('negotiation', function () {
    it('ANDs flags and takes the smaller version, frame size and cache size (as Java)', function () {
      const client = readWireFormatInfo(makeWireFormatInfo({ ...DEFAULT_SERVER_PREFERENCES, cacheSize: 2048, maxFrameSize: 0, stackTraceEnabled: false, version: 13 }));
      const n = negotiate(DEFAULT_SERVER_PREFERENCES, client);
      assert.equal(n.version, 12);
      assert.equal(n.cacheSize, 1024);
      assert.equal(n.maxFrameSize, DEFAULT_SERVER_PREFERENCES.maxFrameSize, 'an unset (0) max frame size does not win');
      assert.equal(n.stackTraceEnabled, false);
      assert.equal(n.tightEncoding, true);
      assert.throws(() => negotiate(DEFAULT_SERVER_PREFERENCES, { ...client, version: 8 }), OpenWireError);
      assert.throws(() => negotiate(DEFAULT_SERVER_PREFERENCES, { ...client, magicValid: false }), /magic/);
    });
  });

  describe('frame reader', function () {
    it('splits joined frames and joins split ones, whatever the chunking', function () {
      const codec = new OpenWireCodec({ tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true });
      const cmds = sample();
      const stream = Buffer.concat(cmds.map((c) => codec.encode(c)));
      const rnd = prng(7);
      for (let round = 0; round < 50; round++) {
        const reader = new FrameReader();
        const dec = new OpenWireCodec({ tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true });
        const got: (DataStructure | null)[] = [];
        for (let p = 0; p < stream.length; ) {
          const n = round === 0 ? 1 : 1 + Math.floor(rnd() * 40);
          for (const payload of reader.push(stream.subarray(p, p + n))) got.push(dec.decode(payload));
          p += n;
        }
        assert.equal(reader.pending, 0);
        assert.equal(got.length, cmds.length);
        assert.equal((got[1] as Message).messageId!.producerSequenceId, 70000n);
      }
      // All at once.
      const dec = new OpenWireCodec({ tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true });
      assert.deepEqual(new FrameReader().push(stream).map((p) => dec.decode(p)!.type), cmds.map((c) => c.type));
    });
    it('rejects a huge declared size before buffering anything', function () {
      const reader = new FrameReader(1024);
      assert.throws(() => reader.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])), /frame size 2147483647 out of bounds/);
      assert.equal(reader.pending, 0);
      assert.throws(() => new FrameReader().push(Buffer.from([0xff, 0xff, 0xff, 0xfe])), OpenWireError);
      const ok = new FrameReader(1024);
      assert.deepEqual(ok.push(Buffer.from([0, 0, 4, 0])), [], 'exactly the max frame size is allowed');
      assert.equal(ok.pending, 0);
      // The size may arrive split over chunks; it is still checked as soon as its 4 bytes are in.
      const split = new FrameReader(1024);
      assert.deepEqual(split.push(Buffer.from([0, 0])), []);
      assert.throws(() => split.push(Buffer.from([4, 1])), /out of bounds/);
    });
  });

  describe('hostile frames', function () {
    it('gives OpenWireError for unknown types, truncation and deep nesting', function () {
      const c = new OpenWireCodec({ tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true });
      assert.throws(() => c.decode(Buffer.from([200, 0])), /unknown data structure type 200/);
      const frame = c.encode(sample()[1]!).subarray(4);
      for (let cut = 1; cut < frame.length; cut++) {
        const d = new OpenWireCodec({ tightEncoding: true, cacheEnabled: true, stackTraceEnabled: true });
        assert.throws(() => d.decode(frame.subarray(0, cut)), OpenWireError, `cut at ${cut}`);
      }
      // Messages nested in Message.dataStructure 100 deep.
      let m: DataStructure = { type: DataType.ACTIVEMQ_MESSAGE } as DataStructure;
      for (let i = 0; i < 100; i++) m = { type: DataType.ACTIVEMQ_MESSAGE, dataStructure: m } as DataStructure;
      for (const o of OPTS) {
        const bytes = new OpenWireCodec(o).encode(m).subarray(4);
        assert.throws(() => new OpenWireCodec(o).decode(bytes), /nested deeper than 32/);
      }
      // Throwable cause chains too.
      let t: any = null;
      for (let i = 0; i < 40; i++) t = { className: 'E', message: String(i), stackTrace: [], cause: t };
      const er = new OpenWireCodec(OPTS[0]).encode({ type: DataType.EXCEPTION_RESPONSE, exception: t } as DataStructure).subarray(4);
      assert.throws(() => new OpenWireCodec(OPTS[0]).decode(er), OpenWireError);
      // An array claiming 32767 elements, a byte sequence claiming 2 GiB.
      assert.throws(() => new OpenWireCodec(OPTS[3]).decode(Buffer.from([DataType.DATA_ARRAY_RESPONSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 1])), OpenWireError);
      assert.throws(() => new OpenWireCodec(OPTS[3]).decode(Buffer.from([DataType.CONNECTION_CONTROL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff])), /truncated/);
      // Cache index out of range.
      assert.throws(() => new OpenWireCodec(OPTS[2]).decode(Buffer.from([DataType.SESSION_INFO, 0, 0, 0, 0, 0, 0, 0x7f, 0xff])), /cache index/);
    });

    it('random and mutated frames never throw anything but OpenWireError', function () {
      this.timeout(60_000);
      const rnd = prng(20261206);
      const seeds = OPTS.map((o) => {
        const c = new OpenWireCodec(o);
        return sample().map((s) => c.encode(s).subarray(4));
      });
      let decoded = 0;
      for (let i = 0; i < 10000; i++) {
        const oi = i % OPTS.length;
        let buf: Buffer;
        if (i % 5 === 0) {
          buf = Buffer.alloc(1 + Math.floor(rnd() * 64));
          for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(rnd() * 256);
          if (rnd() < 0.7) buf[0] = [1, 2, 3, 5, 21, 22, 23, 28, 31, 100, 110][Math.floor(rnd() * 11)]!;
        } else {
          const src = seeds[oi]![Math.floor(rnd() * seeds[oi]!.length)]!;
          buf = Buffer.from(src);
          const flips = 1 + Math.floor(rnd() * 4);
          for (let k = 0; k < flips; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
          if (rnd() < 0.2) buf = buf.subarray(0, Math.floor(rnd() * buf.length));
        }
        try {
          new OpenWireCodec({ ...OPTS[oi]!, limits: { maxDepth: 16 } }).decode(buf);
          decoded++;
        } catch (err) {
          if (!(err instanceof OpenWireError)) throw new Error(`non-OpenWireError on ${buf.toString('hex')} (${JSON.stringify(OPTS[oi])}): ${(err as Error).stack}`);
        }
      }
      assert.ok(decoded > 0);
    });
  });
});
