/**
 * Garbage in, an error condition (or a closed socket) out: random and mutated AMQP frames over many
 * connections (bad sizes, bad descriptors, truncated performatives, random typed values, random message
 * sections, random SASL), while a well-behaved rhea client keeps sending and receiving on its own
 * connection. The process must stay up, every garbage connection must end, and the broker must be back to
 * its baseline afterwards. Seeded: AMQP_FUZZ_SEED replays a run.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Encoder } from '../../../protocols/amqp/codec.js';
import { AMQP_HEADER, amqpFrame, Client, frames, rawFrame, SASL_HEADER, sleep, startBroker, until, type TestBroker } from './helpers.js';
import { mulberry32 as prng } from '../../helpers/prng.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const SEED = Number(process.env.AMQP_FUZZ_SEED ?? 0xa3f1);
const CONNECTIONS = Number(process.env.AMQP_FUZZ_CONNECTIONS ?? 400);
const CONCURRENCY = 40;

class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A random AMQP value, mostly well-formed. */
  value(e: Encoder, depth = 0): void {
    const k = this.int(depth > 2 ? 12 : 16);
    switch (k) {
      case 0: e.null(); break;
      case 1: e.bool(this.chance(0.5)); break;
      case 2: e.ubyte(this.int(256)); break;
      case 3: e.uint(this.int(2 ** 32)); break;
      case 4: e.ulong(this.int(2 ** 40)); break;
      case 5: e.int(this.int(2 ** 31) - 2 ** 30); break;
      case 6: e.long(this.int(2 ** 40) - 2 ** 39); break;
      case 7: e.double(this.rnd() * 1e6); break;
      case 8: e.timestamp(Date.now() + this.int(1e6)); break;
      case 9: e.binary(this.bytes(this.int(40))); break;
      case 10: e.string(this.pick(['', 'a', 'queue://g.q', 'topic://g.t', 'g.q', 'x'.repeat(this.int(300)), '\u0000\uffff'])); break;
      case 11: e.symbol(this.pick(['amqp:accepted:list', 'queue', 'topic', 'shared', 'x-opt-jms-dest', 'sole-connection-for-container', ''])); break;
      case 12:
      case 13: {
        const mark = e.begin(false);
        const n = this.int(6);
        for (let i = 0; i < n; i++) this.value(e, depth + 1);
        e.end(mark, this.chance(0.9) ? n : this.int(2 ** 32));
        break;
      }
      default: {
        const mark = e.begin(true);
        const n = this.int(4);
        for (let i = 0; i < n; i++) {
          e.symbol(this.pick(['k', 'x-opt-a', 'jms-selector', 'no-local']));
          this.value(e, depth + 1);
        }
        e.end(mark, this.chance(0.9) ? n * 2 : this.int(9));
      }
    }
  }

  /** A performative-looking frame body: a described list of random values. */
  performative(code?: number): Buffer {
    const e = new Encoder();
    e.descriptor(code ?? (this.chance(0.9) ? 0x10 + this.int(9) : this.int(256)));
    const mark = e.begin(false);
    const n = this.int(15);
    for (let i = 0; i < n; i++) this.value(e);
    e.end(mark, n);
    return e.toBuffer();
  }

  /** Random message sections (valid structure, random contents). */
  message(): Buffer {
    const e = new Encoder();
    if (this.chance(0.5)) {
      e.descriptor(0x70);
      const m = e.begin(false);
      e.bool(this.chance(0.5)).ubyte(this.int(12));
      e.end(m, 2);
    }
    if (this.chance(0.4)) {
      e.descriptor(this.pick([0x71, 0x72, 0x74]));
      this.value(e, 2);
    }
    if (this.chance(0.5)) {
      e.descriptor(0x73);
      const m = e.begin(false);
      const n = this.int(13);
      for (let i = 0; i < n; i++) this.value(e, 2);
      e.end(m, n);
    }
    const body = this.int(4);
    if (body === 0) e.descriptor(0x75).binary(this.bytes(this.int(100)));
    else if (body === 1) e.descriptor(0x77).string('fuzz');
    else if (body === 2) {
      e.descriptor(0x77);
      this.value(e);
    } else e.descriptor(this.int(256));
    const b = e.toBuffer();
    return this.chance(0.2) ? this.mutate(b) : b;
  }

  mutate(b: Buffer): Buffer {
    const c = Buffer.from(b);
    const r = this.int(4);
    if (r === 0 && c.length) for (let i = 0; i < 1 + this.int(4); i++) c[this.int(c.length)] = this.int(256);
    else if (r === 1) return c.subarray(0, this.int(c.length + 1));
    else if (r === 2) return Buffer.concat([c, this.bytes(this.int(20))]);
    else if (c.length > 4) c.writeUInt32BE(this.int(2 ** 32), this.int(c.length - 3));
    return c;
  }

  /** What one garbage connection sends. */
  session(): Buffer[] {
    const v = this.int(7);
    const open = amqpFrame(0, frames.open({ container_id: `fuzz-${this.int(1e6)}` }));
    const begin = amqpFrame(0, frames.begin({ next_outgoing_id: 0, incoming_window: 100, outgoing_window: 100 }));
    const attach = amqpFrame(0, frames.attach({ name: `l${this.int(1e6)}`, handle: 0, role: false, target: { address: 'g.q' } as never, snd_settle_mode: this.int(3) }));
    switch (v) {
      case 0: // random bytes, maybe after a header
        return [this.chance(0.5) ? AMQP_HEADER : Buffer.alloc(0), this.bytes(1 + this.int(1024))];
      case 1: // SASL header and well-framed random SASL frames
        return [SASL_HEADER, ...Array.from({ length: 1 + this.int(4) }, () => rawFrame(this.performative(0x40 + this.int(5)), 1))];
      case 2: // open, begin, then well-framed random performatives
        return [AMQP_HEADER, open, begin, ...Array.from({ length: 1 + this.int(10) }, () => rawFrame(this.performative(), 0, this.chance(0.8) ? 0 : this.int(70000) & 0xffff))];
      case 3: {
        // a valid sending link, then transfers carrying random messages
        const out = [AMQP_HEADER, open, begin, attach];
        for (let i = 0; i < 1 + this.int(8); i++) {
          out.push(amqpFrame(0, frames.transfer({ handle: 0, delivery_id: i, delivery_tag: Buffer.from([i]), message_format: 0, settled: this.chance(0.3), more: this.chance(0.1) }), this.message()));
        }
        return out;
      }
      case 4: {
        // a valid conversation with mutated frames (bad sizes, descriptors, truncation)
        const seq = [AMQP_HEADER, open, begin, attach, amqpFrame(0, frames.flow({ handle: 0, delivery_count: 0, link_credit: 10, next_incoming_id: 0, incoming_window: 10, next_outgoing_id: 0, outgoing_window: 10 })), amqpFrame(0, frames.detach({ handle: 0, closed: true })), amqpFrame(0, frames.close({}))];
        const i = 1 + this.int(seq.length - 1);
        seq[i] = this.mutate(seq[i]!);
        return seq;
      }
      case 5: {
        // bad frame sizes
        const h = Buffer.alloc(8);
        h.writeUInt32BE(this.pick([0, 1, 7, 0xffffffff, 0x7fffffff, 2 ** 24, 9]));
        h[4] = this.int(4);
        h[5] = this.int(3);
        return [this.chance(0.5) ? AMQP_HEADER : SASL_HEADER, ...(this.chance(0.5) ? [open] : []), h, this.bytes(this.int(64))];
      }
      default: {
        // receiving link with random filters and sources, then random flows
        const e = new Encoder();
        e.descriptor(0x12);
        const m = e.begin(false);
        e.string('r').uint(0).bool(true).ubyte(this.int(3)).ubyte(0);
        e.descriptor(0x28);
        const s = e.begin(false);
        const n = this.int(11);
        for (let k = 0; k < n; k++) this.value(e, 1);
        e.end(s, n);
        e.null();
        e.end(m, 7);
        return [AMQP_HEADER, open, begin, rawFrame(e.toBuffer()), amqpFrame(0, frames.flow({ handle: 0, delivery_count: 0, link_credit: this.int(1000), next_incoming_id: 0, incoming_window: 10, next_outgoing_id: 0, outgoing_window: 10, drain: this.chance(0.3) }))];
      }
    }
  }
}

interface Ended {
  how: 'close-frame' | 'socket';
}

/** Send one garbage session in random chunks, then end our side; resolves when the socket closed. */
function garbageConnection(port: number, parts: Buffer[], g: Gen): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let received = Buffer.alloc(0);
    let sawClose = false;
    const timer = setTimeout(() => reject(new Error(`garbage connection not closed within 10 s: ${Buffer.concat(parts).toString('hex').slice(0, 600)}`)), 10_000);
    s.on('data', (d: Buffer) => {
      if (received.length < 65536) received = Buffer.concat([received, d]);
      // a close performative: descriptor 0x00 0x53 0x18 somewhere in what the broker sent
      if (!sawClose && received.includes(Buffer.from([0x00, 0x53, 0x18]))) sawClose = true;
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ how: sawClose ? 'close-frame' : 'socket' });
    });
    s.on('connect', async () => {
      const all = Buffer.concat(parts);
      let off = 0;
      while (off < all.length && !s.destroyed) {
        const n = 1 + g.int(Math.min(512, all.length - off));
        s.write(all.subarray(off, off + n));
        off += n;
        if (g.chance(0.2)) await sleep(1);
      }
      await sleep(20 + g.int(100));
      s.end();
    });
  });
}

describe('AMQP garbage', function () {
  this.timeout(180_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ amqp: { connectTimeout: 2000, closeGrace: 500 } });
  });
  after(async () => {
    await b?.close();
  });

  it(`${CONNECTIONS} connections of random and mutated frames: all end, the process stays up, a good client keeps working (seed ${SEED})`, async () => {
    const g = new Gen(prng(SEED));
    const good = await Client.connect(b);
    const sender = await good.sender('good.q');
    const receiver = await good.receiver('good.q');
    let sent = 0;
    let stop = false;
    const goodLoop = (async () => {
      while (!stop) {
        const o = await sender.send({ body: `good ${sent}`, durable: true });
        assert.equal(o.state, 'accepted');
        sent++;
        await sleep(5);
      }
    })();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const outcomes = { 'close-frame': 0, socket: 0 };
    let next = 0;
    const worker = async () => {
      while (next < CONNECTIONS) {
        next++;
        const parts = g.session();
        const r = await garbageConnection(b.port, parts, g);
        outcomes[r.how]++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    stop = true;
    await goodLoop;
    // the good client got everything, in order
    await until(() => receiver.inbox.items.length === sent, 10_000, 'good client received all');
    receiver.inbox.items.forEach((m, i) => assert.equal(m.message.body, `good ${i}`));
    assert.ok(sent > 10, `good client sent ${sent}`);
    // every garbage connection is gone from the engine
    await until(() => b.broker.engine.listConnections().length === 1, 5000, 'only the good connection left');
    await good.close();
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    assert.ok(heapAfter - heapBefore < 64 * 1024 * 1024, `heap grew ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB`);
    assert.equal(outcomes['close-frame'] + outcomes.socket, CONNECTIONS);
    assert.ok(outcomes['close-frame'] > CONNECTIONS / 10, `close frames with an error: ${outcomes['close-frame']}, socket closes: ${outcomes.socket}`);
  });
});
