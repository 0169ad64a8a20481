/**
 * The measured defects of rhea 3.0.5 (../shared/LIBRARIES.md §1.2), each with the test that fails without
 * its fix:
 *
 * | defect | fix | test |
 * |---|---|---|
 * | batched dispositions report the first outcome for the whole range | patch: session.js write_dispositions | "dispositions with different outcomes settled together" |
 * | no inbound frame-size limit (4 GiB header buffers, also before SASL) | FrameGuard (guard.ts) | "frame-size guard" tests |
 * | multi-frame transfers concatenated without limit | patch: session.js on_transfer message-size check | "a message larger than the limit" |
 * | array bomb: array32 of zero-width values, count 2^32-1, aborts V8 | patch: types.js read_array_items / read_n count guard | "array bomb" tests (child process) |
 * | decode amplification: a frame of one-byte values (0x45) decodes into ~58 bytes of heap per byte; rhea keeps begin/attach performatives for the life of the session/link | patch: types.js counts decoded values per frame (MAX_FRAME_VALUES 4096) and nesting (32); budget.ts bounds what a connection's sessions and links keep (maxRetainedValues) | "decode amplification", "what the sessions of one connection keep" (child process) |
 * | (found by the garbage test) a disposition range first=0 last=2^32-1 loops 4·10⁹ times, blocking the process | patch: session.js on_disposition iterates only the ids it holds | "a disposition for the range 0..2^32-1" (child process) |
 * | (found reading) drain advances delivery-count one by one (`while (credit)`), up to 2^32 iterations | our own `_get_drain` per sending link | flow.test.ts drain tests |
 * | decoder errors throw out of the socket callback without an error listener | connection + container `error`/`protocol_error` handlers | "malformed performatives" (child process) |
 * | link credit not enforced | per-link transfer count in the session | flow.test.ts "exceeding it detaches the link" |
 * | output back-pressure ignored | writableLength check, credit withheld, deliveries given back | flow.test.ts "output back-pressure" |
 * | (found probing) a chain of descriptors recursed without the nesting bound, until the stack overflowed | patch: types.js read_constructor counts each descriptor as a nesting level | "a chain of 50,000 descriptors" (child process) |
 * | (found probing) begin on a channel in use, attach on a handle in use: silently replaced the first session/link; transfer or flow on an unattached handle closed with amqp:internal-error | patch: connection.js on_begin (framing-error), session.js on_attach (amqp:session:handle-in-use), _get_link (amqp:session:unattached-handle) | "session misuse ends the connection with the spec condition" |
 * | (found probing) strings that are not well-formed UTF-8 decoded lossily into U+FFFD (an address or property silently became another) | patch: types.js read_variable_width checks str8/str32 (isUtf8); codec.ts's fast reader leaves such a string to it | "a string that is not well-formed UTF-8" (child process) |
 * | (found by a conformance probe) a flow with echo=true (§2.7.4) went unanswered | patch: session.js on_flow marks the link or session, link.js/session.js _process answer it (a link's once its attach is out) | flow.test.ts "flow with echo=true" |
 * | (found by a conformance probe) a frame body that is not a performative of its frame type (unknown descriptor, no descriptor, a SASL performative in an AMQP frame) failed as a TypeError whose message became the close's description | patch: frames.js read_frame throws amqp:decode-error naming what it got | "a frame body that is not a performative of its frame" |
 * | (found by a conformance probe) frames after the peer's close were acted on (a begin after close was answered) | patch: transport.js read skips every frame once the peer's close was read | "frames after the peer's close are not acted on" |
 * | re-encoding changes value types | raw section bytes kept (`raw_messages` patch, codec.ts) | mapping.test.ts "typed values round-trip byte for byte" |
 *
 * Plus the parameters a peer sends that rhea would take as they are: idle-time-out (timer overflow →
 * 1 ms heart-beats), max-frame-size below 512 (endless fragmentation loop), channel numbers.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { forkFixture } from '../../helpers/child.js';
import { rheaMessage } from '../../../protocols/amqp/rhea.js';
import { AMQP_HEADER, Client, amqpFrame, frames, rawFrame, RawAmqp, rawSocket, SASL_HEADER, sleep, startBroker, until, type TestBroker } from './helpers.js';

interface Child {
  child: ChildProcess;
  port: number;
  alive(): boolean;
  stats(): Promise<{ rss: number; heapUsed: number; connections: number }>;
  stop(): Promise<void>;
}

async function childBroker(maxFrame?: number): Promise<Child> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-amqp-child-'));
  const child = forkFixture(new URL('../../fixtures/amqp-broker-child.js', import.meta.url), [dir, ...(maxFrame ? [String(maxFrame)] : [])], { execArgv: ['--max-old-space-size=256'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`broker child exited with ${code}`)));
  });
  return {
    child,
    port,
    alive: () => child.exitCode === null && child.signalCode === null,
    stats: () =>
      new Promise((resolve) => {
        child.once('message', (m: { rss: number; heapUsed: number; connections: number }) => resolve(m));
        child.send({ stats: true });
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.send({ stop: true });
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Encoded `array32` of `true` (zero-width elements) announcing `count` elements in 5 bytes. */
function arrayBomb(count = 0xffffffff): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 0xf0;
  b.writeUInt32BE(5, 1);
  b.writeUInt32BE(count, 5);
  b[9] = 0x41;
  return b;
}

/** A described list: 0x00 0x53 code, list32 of the given encoded elements. */
function describedList(code: number, elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const h = Buffer.alloc(12);
  h[0] = 0x00;
  h[1] = 0x53;
  h[2] = code;
  h[3] = 0xd0;
  h.writeUInt32BE(4 + body.length, 4);
  h.writeUInt32BE(elements.length, 8);
  return Buffer.concat([h, body]);
}

const NULL = Buffer.from([0x40]);
const str8 = (s: string) => Buffer.concat([Buffer.from([0xa1, Buffer.byteLength(s)]), Buffer.from(s)]);
const uint = (n: number) => {
  const b = Buffer.alloc(5);
  b[0] = 0x70;
  b.writeUInt32BE(n, 1);
  return b;
};

describe('AMQP hardening: rhea defects (child-process broker)', function () {
  this.timeout(60_000);
  let c: Child;
  before(async () => {
    c = await childBroker();
  });
  after(async () => {
    await c?.stop();
  });

  async function stillServes(): Promise<void> {
    assert.ok(c.alive(), 'the broker process is alive');
    const x = await Client.connectTo(c.port);
    const s = await x.sender('alive.q');
    assert.equal((await s.send({ body: 'still here' })).state, 'accepted');
    await x.close();
  }

  it('array bomb before authentication (sasl-init with an array32 of 2^32-1 booleans) ends the connection; the broker stays up', async () => {
    const r = await RawAmqp.connect(c.port);
    r.write(Buffer.concat([SASL_HEADER, rawFrame(describedList(0x41, [arrayBomb()]), 1)]));
    const cond = await r.closeCondition(10_000);
    assert.equal(cond, 'socket closed');
    await sleep(200);
    await stillServes();
  });

  it('array bomb in an open frame (offered-capabilities) ends with amqp:decode-error; the broker stays up', async () => {
    const r = await RawAmqp.connect(c.port);
    const open = describedList(0x10, [str8('bomb'), NULL, NULL, NULL, NULL, NULL, NULL, arrayBomb()]);
    r.write(Buffer.concat([AMQP_HEADER, rawFrame(open)]));
    const cond = await r.closeCondition(10_000);
    assert.ok(cond === 'amqp:decode-error' || cond === 'socket closed', cond);
    await stillServes();
  });

  it('array bomb after open (attach properties) and a list count beyond the frame', async () => {
    for (const payload of [arrayBomb(), Buffer.from([0xd0, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0x40])]) {
      const r = await RawAmqp.open(c.port);
      r.write(amqpFrame(0, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })));
      await r.waitFor((f) => String(f.performative?.constructor).startsWith('begin'), 'begin');
      const attach = describedList(0x12, [str8('l'), Buffer.from([0x43]), Buffer.from([0x42]), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, payload]);
      r.write(rawFrame(attach));
      assert.equal(await r.closeCondition(10_000), 'amqp:decode-error');
    }
    await stillServes();
  });

  it('malformed performatives (unknown typecodes, truncated lists, bad descriptors) end with an error condition, never a crash', async () => {
    const bad = [
      Buffer.from([0x00, 0x53, 0x11, 0xc0, 0x03, 0x01, 0xae, 0x00]), // begin with an unknown typecode
      Buffer.from([0x00, 0x53, 0x12, 0xd0, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x09]), // truncated attach
      Buffer.from([0x00, 0x53, 0x99, 0x45]), // unknown performative
      Buffer.from([0x00, 0xa3, 0x05, 0x6e, 0x6f, 0x70, 0x65, 0x21, 0x45]), // symbolic descriptor nobody knows
      Buffer.from([0x3f, 0x3f]),
    ];
    for (const body of bad) {
      const r = await RawAmqp.open(c.port);
      r.write(rawFrame(body));
      const cond = await r.closeCondition(5000);
      assert.ok(cond.startsWith('amqp:') || cond === 'socket closed', `${body.toString('hex')}: ${cond}`);
    }
    await stillServes();
  });

  it('a chain of 50,000 descriptors (each describing the next) ends with amqp:decode-error at the nesting limit, not by overflowing the stack', async () => {
    const r = await RawAmqp.open(c.port);
    r.write(rawFrame(describedList(0x11, [NULL, uint(0), uint(100), uint(100)])));
    r.write(rawFrame(describedList(0x12, [Buffer.concat([Buffer.alloc(50_000), Buffer.from([0x53, 0x01])])])));
    assert.equal(await r.closeCondition(5000), 'amqp:decode-error');
    const close = r.frames.find((f) => f.performative?.constructor?.toString?.().startsWith('close'));
    assert.match(String(close.performative.error?.description), /nested more than 32 deep/);
    await stillServes();
  });

  it('a string that is not well-formed UTF-8 is amqp:decode-error: in a performative the connection ends, in a message the transfer is rejected', async () => {
    const badString = Buffer.from([0xa1, 0x03, 0x61, 0xff, 0x62]); // 'a', a lone 0xff, 'b'
    let r = await RawAmqp.open(c.port);
    r.write(rawFrame(describedList(0x11, [NULL, uint(0), uint(100), uint(100)])));
    r.write(rawFrame(describedList(0x12, [badString, uint(0), Buffer.from([0x42])])));
    assert.equal(await r.closeCondition(5000), 'amqp:decode-error');
    const close = r.frames.find((f) => f.performative?.constructor?.toString?.().startsWith('close'));
    assert.match(String(close.performative.error?.description), /not well-formed UTF-8/);

    // a sending link, then a message whose application property holds the bad string
    r = await RawAmqp.open(c.port);
    r.write(amqpFrame(0, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 })));
    await r.waitFor((f) => String(f.performative?.constructor).startsWith('begin'), 'begin');
    r.write(amqpFrame(0, frames.attach({ name: 'utf8-sender', handle: 0, role: false, target: { address: 'utf8.q' }, source: {}, initial_delivery_count: 0 })));
    await r.waitFor((f) => String(f.performative?.constructor).startsWith('flow'), 'credit');
    const props = Buffer.concat([Buffer.from([0x00, 0x53, 0x74, 0xc1, 9, 2]), Buffer.from([0xa1, 0x01, 0x6b]), badString]);
    const body = Buffer.concat([Buffer.from([0x00, 0x53, 0x77]), Buffer.from([0xa1, 0x02, 0x6f, 0x6b])]);
    const transfer = describedList(0x14, [uint(0), uint(0), Buffer.from([0xa0, 0x01, 0x01]), uint(0), Buffer.from([0x42])]);
    r.write(rawFrame(Buffer.concat([transfer, props, body])));
    const d = await r.waitFor((f) => String(f.performative?.constructor).startsWith('disposition'), 'disposition', 5000);
    // rejected (0x25) { error: [condition, description] }, undecoded: rhea's frame reader leaves outcome states as described lists
    const state = d.performative.state as { descriptor: unknown; value: unknown };
    assert.equal(Number(state.descriptor), 0x25, 'rejected');
    const [condition, description] = JSON.parse(JSON.stringify(state.value))[0] as [string, string];
    assert.equal(condition, 'amqp:decode-error');
    assert.match(description, /not well-formed UTF-8/);
    await stillServes();
  });

  it('a disposition for the range 0..2^32-1 does not loop over four billion ids (patched: only ids held)', async () => {
    const x = await Client.connectTo(c.port);
    const r = await x.receiver('range.q');
    const s = await x.sender('range.q');
    await s.send({ body: 'one' });
    await r.next();
    // both directions: the broker as sender (role=receiver) and as receiver (role=sender)
    for (const role of [true, false]) {
      const frame = amqpFrame(0, frames.disposition({ role, first: 0, last: 0xffffffff, settled: true, state: rheaMessage.accepted().described() }));
      x.conn.socket.write(frame);
    }
    await sleep(200);
    // unpatched, each of the two frames blocks the broker's event loop for several seconds
    const t0 = Date.now();
    await stillServes();
    assert.ok(Date.now() - t0 < 2000, `the broker answered after ${Date.now() - t0} ms`);
    await x.close().catch(() => undefined);
  });

  it('decode amplification: begin frames of a million one-byte values on successive channels end the connection; the heap stays small', async () => {
    // ~1 MiB of 0x45 (empty list) decodes into one JS value per byte, ~58 bytes of heap each: 200 such frames
    // used to exhaust the heap. Now a frame may decode into at most MAX_FRAME_VALUES values.
    const manyEmptyLists = (n: number) => {
      const b = Buffer.alloc(9 + n, 0x45);
      b[0] = 0xd0;
      b.writeUInt32BE(4 + n, 1);
      b.writeUInt32BE(n, 5);
      return b;
    };
    const before = await c.stats();
    for (let i = 0; i < 20; i++) {
      const r = await RawAmqp.open(c.port);
      const begin = describedList(0x11, [NULL, Buffer.from([0x43]), Buffer.from([0x70, 0, 0, 0, 100]), Buffer.from([0x70, 0, 0, 0, 100]), NULL, manyEmptyLists(1_000_000)]);
      r.write(rawFrame(begin, 0, i));
      assert.equal(await r.closeCondition(10_000), 'amqp:decode-error');
    }
    const after = await c.stats();
    assert.ok(after.heapUsed - before.heapUsed < 64 * 1024 * 1024, `heap grew ${((after.heapUsed - before.heapUsed) / 1048576).toFixed(1)} MiB`);
    await stillServes();
  });

  it('what the sessions of one connection keep decoded is bounded (maxRetainedValues): past it, amqp:resource-limit-exceeded', async () => {
    const lists = (n: number) => {
      const b = Buffer.alloc(9 + n, 0x45);
      b[0] = 0xd0;
      b.writeUInt32BE(4 + n, 1);
      b.writeUInt32BE(n, 5);
      return b;
    };
    const r = await RawAmqp.open(c.port);
    // each begin holds 4,000 values (under the per-frame bound); 100,000 over all sessions is the default budget
    for (let ch = 0; ch < 30; ch++) {
      r.write(rawFrame(describedList(0x11, [NULL, Buffer.from([0x43]), Buffer.from([0x70, 0, 0, 0, 100]), Buffer.from([0x70, 0, 0, 0, 100]), NULL, lists(4000)]), 0, ch));
    }
    assert.equal(await r.closeCondition(10_000), 'amqp:resource-limit-exceeded');
    await stillServes();
  });

  it('frame-size guard before SASL: a header announcing 4 GiB is refused at once, nothing is buffered', async () => {
    const before = await c.stats();
    const s = await rawSocket(c.port);
    let closed = false;
    s.on('close', () => (closed = true));
    s.on('error', () => undefined);
    s.resume();
    const h = Buffer.alloc(4);
    h.writeUInt32BE(0xffffffff);
    s.write(Buffer.concat([SASL_HEADER, h]));
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    while (!closed && sent < 64) {
      s.write(chunk);
      sent++;
      await sleep(5);
    }
    await until(() => closed, 3000, 'socket closed');
    assert.ok(sent < 16, `closed after ${sent} MiB`);
    const after = await c.stats();
    assert.ok(after.rss - before.rss < 32 * 1024 * 1024, `rss grew ${((after.rss - before.rss) / 1048576).toFixed(1)} MiB`);
    await stillServes();
  });
});

describe('AMQP hardening: limits and peer parameters', function () {
  this.timeout(20_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ amqp: { maxFrameSize: 4096, maxSessions: 4 }, config: { limits: { maxFrameSize: 64 * 1024 } } });
  });
  after(async () => {
    await b?.close();
  });

  it('session misuse ends the connection with the spec condition: begin on a channel in use, transfer or flow on an unattached handle, attach on a handle in use', async () => {
    const begin = rawFrame(describedList(0x11, [NULL, uint(0), uint(100), uint(100)]));
    const attach = (name: string, handle: number) =>
      rawFrame(describedList(0x12, [str8(name), uint(handle), Buffer.from([0x42]), NULL, NULL, describedList(0x28, [str8('src')]), describedList(0x29, [str8('misuse.q')])]));
    const transfer = rawFrame(Buffer.concat([describedList(0x14, [uint(5), uint(0), Buffer.from([0xa0, 0x01, 0x74]), uint(0), Buffer.from([0x42])]), Buffer.from([0x00, 0x53, 0x77, 0xa1, 0x01, 0x78])]));
    const flow = rawFrame(describedList(0x13, [uint(0), uint(100), uint(0), uint(100), uint(7), uint(0), uint(10)]));
    const cases: Array<[string, Buffer[], string, RegExp]> = [
      ['second begin on channel 0', [begin, begin], 'amqp:connection:framing-error', /channel 0, which is already in use/],
      ['transfer on handle 5, never attached', [begin, transfer], 'amqp:session:unattached-handle', /handle 5/],
      ['flow for handle 7, never attached', [begin, flow], 'amqp:session:unattached-handle', /handle 7/],
      ['attach of another link on handle 0, still attached', [begin, attach('a', 0), attach('b', 0)], 'amqp:session:handle-in-use', /handle 0 is already in use/],
    ];
    for (const [name, bytes, condition, description] of cases) {
      const r = await RawAmqp.open(b.port);
      r.write(Buffer.concat(bytes));
      assert.equal(await r.closeCondition(5000), condition, name);
      const close = r.frames.find((f) => f.performative?.constructor?.toString?.().startsWith('close'));
      assert.match(String(close.performative.error?.description), description, name);
      r.destroy();
    }
    // what stays legal: a handle reused after its detach (rhea gives each new sender the lowest free handle)
    const x = await Client.connectTo(b.port);
    for (let i = 0; i < 3; i++) {
      const s = await x.sender('misuse.q');
      assert.equal((await s.send({ body: `still here ${i}` })).state, 'accepted');
      await s.close();
    }
    await x.close();
  });

  it('a frame body that is not a performative of its frame ends the connection with amqp:decode-error, saying what it was', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['unknown numeric descriptor', rawFrame(Buffer.from([0x00, 0x53, 0x99, 0x45])), /^unknown AMQP performative \(descriptor 0x99\)$/],
      ['unknown symbolic descriptor', rawFrame(Buffer.from([0x00, 0xa3, 0x05, 0x6e, 0x6f, 0x70, 0x65, 0x21, 0x45])), /^unknown AMQP performative \(descriptor 'nope!'\)$/],
      ['a filter descriptor, not a performative', rawFrame(Buffer.from([0x00, 0x80, 0x00, 0x00, 0x46, 0x8c, 0x00, 0x00, 0x00, 0x04, 0x45])), /^unknown AMQP performative \(descriptor 0x468c00000004\)$/],
      ['a bare list', rawFrame(Buffer.from([0x45])), /^an AMQP frame body must be a described performative, not a list$/],
      ['sasl-init in an AMQP frame', amqpFrame(0, frames.sasl_init({ mechanism: 'PLAIN' })), /^sasl-init is not a performative of an AMQP frame$/],
    ];
    for (const [name, bytes, description] of cases) {
      const r = await RawAmqp.open(b.port);
      r.write(bytes);
      assert.equal(await r.closeCondition(5000), 'amqp:decode-error', name);
      const close = r.frames.find((f) => f.performative?.constructor?.toString?.().startsWith('close'));
      assert.match(String(close.performative.error?.description), description, name);
      r.destroy();
    }
  });

  it('frames after the peer\'s close are not acted on (§2.7.9): a begin, or an attach and a transfer, get no answer and send nothing', async () => {
    const name = (f: { performative?: { constructor?: { toString?: () => string } } }) => String(f.performative?.constructor?.toString?.() ?? '').split('#')[0];
    const begin = amqpFrame(0, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 }));
    const close = amqpFrame(0, frames.close({}));
    // close, then a begin in the same write
    const r = await RawAmqp.open(b.port);
    r.write(Buffer.concat([close, begin]));
    assert.equal(await r.closeCondition(5000), 'close without error');
    await r.waitClosed(5000);
    assert.deepEqual(r.frames.map(name), ['open', 'close']);
    // a session, then close followed by an attach of a sender and a transfer on it
    const q = `after.close.${Date.now()}`;
    const r2 = await RawAmqp.open(b.port);
    r2.write(begin);
    await r2.waitFor((f) => name(f) === 'begin', 'begin');
    const attach = rawFrame(describedList(0x12, [str8('late'), uint(0), Buffer.from([0x42]), NULL, NULL, describedList(0x28, [str8('src')]), describedList(0x29, [str8(q)])]));
    const transfer = rawFrame(Buffer.concat([describedList(0x14, [uint(0), uint(0), Buffer.from([0xa0, 0x01, 0x74]), uint(0), Buffer.from([0x41])]), Buffer.from([0x00, 0x53, 0x77, 0xa1, 0x01, 0x78])]));
    r2.write(Buffer.concat([close, attach, transfer]));
    assert.equal(await r2.closeCondition(5000), 'close without error');
    await r2.waitClosed(5000);
    assert.deepEqual(r2.frames.map(name), ['open', 'begin', 'close']);
    assert.equal(b.broker.engine.getQueue(q)?.depth ?? 0, 0, 'nothing was sent to the queue');
  });

  it('dispositions with different outcomes settled together: each keeps its own outcome', async () => {
    // one full queue (reject policy) and one open one; four transfers in one write, outcomes decided in the same turn
    const t = await startBroker({ config: { destinations: [{ match: 'hb.full', kind: 'queue', maxMessages: 1, limitPolicy: 'reject' }] } });
    const x = await Client.connect(t);
    try {
      const pre = await x.sender('hb.full');
      await pre.send({ body: 'fill' });
      const s = await x.sender({ target: {} });
      await s.ready();
      const sends = ['hb.ok', 'hb.full', 'hb.ok', 'hb.full', 'hb.full', 'hb.ok'].map((to, i) => s.send({ to, body: `m${i}`, durable: false }));
      const states = (await Promise.all(sends)).map((o) => o.state);
      assert.deepEqual(states, ['accepted', 'rejected', 'accepted', 'rejected', 'rejected', 'accepted']);
      assert.equal(t.broker.engine.getQueue('hb.ok')!.depth, 3);
      assert.equal(t.broker.engine.getQueue('hb.full')!.depth, 1);
    } finally {
      await x.close();
      await t.close();
    }
  });

  it('frame-size guard after open: a frame above our max-frame-size ends with amqp:frame-size-too-large', async () => {
    const r = await RawAmqp.open(b.port);
    const open = r.frames.find((f) => String(f.performative?.constructor).startsWith('open'));
    assert.equal(open.performative.max_frame_size, 4096);
    const h = Buffer.alloc(8);
    h.writeUInt32BE(100_000);
    h[4] = 2;
    r.write(Buffer.concat([h, Buffer.alloc(5000)]));
    assert.equal(await r.closeCondition(), 'amqp:frame-size-too-large');
  });

  it('frames before the open are held to the pre-open limit', async () => {
    const r = await RawAmqp.connect(b.port);
    const big = rawFrame(Buffer.concat([Buffer.from([0x00, 0x53, 0x10, 0xd0]), Buffer.alloc(40_000)]));
    r.write(Buffer.concat([AMQP_HEADER, big]));
    assert.equal(await r.closeCondition(), 'socket closed');
  });

  it('a message larger than the limit (in many frames) ends with amqp:link:message-size-exceeded', async () => {
    const x = await Client.connect(b);
    try {
      const s = await x.sender('big.q');
      await s.ready();
      s.link.send({ body: 'x'.repeat(200 * 1024) });
      await until(() => x.errors.length > 0 || x.closed, 5000, 'connection closed');
      assert.equal(x.errors[0]?.condition, 'amqp:link:message-size-exceeded');
      assert.equal(b.broker.engine.getQueue('big.q')?.depth ?? 0, 0);
      // within the limit, several frames are fine
      const y = await Client.connect(b);
      const s2 = await y.sender('big.q');
      assert.equal((await s2.send({ body: 'y'.repeat(40 * 1024) })).state, 'accepted');
      await y.close();
    } finally {
      await x.close();
    }
  });

  it('a peer idle-time-out of 2^32-1 ms is bounded (no timer overflow into 1 ms heart-beats)', async () => {
    const r = await RawAmqp.open(b.port, { idle_time_out: 0xffffffff });
    assert.ok(r.frames[0]?.performative, 'the first frame is our open, not a heart-beat');
    await sleep(300);
    const empty = r.frames.filter((f) => !f.performative).length;
    assert.ok(empty <= 1, `${empty} heart-beat frames in 300 ms`);
    r.destroy();
  });

  it('a short peer idle-time-out is honoured with heart-beats', async () => {
    const r = await RawAmqp.open(b.port, { idle_time_out: 400 });
    await sleep(700);
    const empty = r.frames.filter((f) => !f.performative).length;
    assert.ok(empty >= 2, `${empty} heart-beats`);
    r.destroy();
  });

  it('a peer max-frame-size below 512 is refused', async () => {
    const r = await RawAmqp.open(b.port, { max_frame_size: 100 });
    assert.equal(await r.closeCondition(), 'amqp:invalid-field');
  });

  it('channel-max and session count are enforced', async () => {
    const r = await RawAmqp.open(b.port);
    r.write(amqpFrame(40, frames.begin({ next_outgoing_id: 0, incoming_window: 10, outgoing_window: 10 })));
    assert.equal(await r.closeCondition(), 'amqp:resource-limit-exceeded');
  });

  it('SASL: mechanisms offered, a pipelined AMQP header and open wait for the outcome', async () => {
    const r = await RawAmqp.connect(b.port);
    const init = frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism: 'PLAIN', initial_response: Buffer.from('\0user\0pass') })));
    r.write(Buffer.concat([SASL_HEADER, init, AMQP_HEADER, amqpFrame(0, frames.open({ container_id: 'pipelined' }))]));
    const mechs = await r.waitFor((f) => String(f.performative?.constructor).startsWith('sasl_mechanisms'), 'mechanisms');
    assert.deepEqual([].concat(mechs.performative.sasl_server_mechanisms), ['PLAIN', 'ANONYMOUS']);
    const outcome = await r.waitFor((f) => String(f.performative?.constructor).startsWith('sasl_outcome'), 'outcome');
    assert.equal(outcome.performative.code, 0);
    await r.waitFor((f) => String(f.performative?.constructor).startsWith('open'), 'open');
    r.destroy();
  });

  it('an unknown SASL mechanism or a non-AMQP header is refused', async () => {
    const r = await RawAmqp.connect(b.port);
    r.write(Buffer.concat([SASL_HEADER, frames.write_frame(frames.sasl_frame(frames.sasl_init({ mechanism: 'GSSAPI' })))]));
    const outcome = await r.waitFor((f) => String(f.performative?.constructor).startsWith('sasl_outcome'), 'outcome');
    assert.equal(outcome.performative.code, 1);
    await r.waitClosed();
    const h = await RawAmqp.connect(b.port);
    h.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await h.waitClosed();
    assert.equal(h.headers[0]?.toString('latin1'), 'AMQP\x03\x01\x00\x00', 'answers with the header it speaks');
    const tls = await RawAmqp.connect(b.port);
    tls.write(Buffer.from('AMQP\x02\x01\x00\x00', 'latin1'));
    await tls.waitClosed();
  });
});
