/**
 * Garbage in, ERROR (or a close) out: 10,000 random and mutated frames over 200 connections against a real
 * broker, while a well-behaved client keeps sending and receiving on its own connection. The process must
 * stay up, every garbage connection must end, and memory must come back to where it was.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { encodeFrame, StompDecoder } from '../../../protocols/stomp/codec.js';
import type { StompFrame } from '../../../protocols/stomp/frame.js';
import { hdr, RawClient, sleep, startBroker, Stompit, type TestBroker } from './helpers.js';
import { mulberry32 as prng } from '../../helpers/prng.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const SEED = Number(process.env.STOMP_FUZZ_SEED ?? 0x5eed);
const CONNECTIONS = 200;
const FRAMES_PER_CONNECTION = 50;
const CONCURRENCY = 25;

class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  token(): string {
    return this.pick(['a', 'b', 'x-1', 'id', 'r', '0', '7', 'true', 'client', 'auto', 'g.1', '']);
  }

  /** A plausible frame: valid most of the time (open transactions tracked in `st`), sometimes subtly wrong. */
  frame(st: { txs: string[]; n: number }): Buffer {
    const dest = this.rnd() < 0.95 ? this.pick(['/queue/g.0', '/queue/g.1', '/topic/g.t', '/temp-queue/t']) : this.pick(['/queue/g.*', '/nowhere', '']);
    const r = this.rnd();
    const cmd = r < 0.7 ? 'SEND' : r < 0.8 ? 'SUBSCRIBE' : r < 0.86 ? 'BEGIN' : r < 0.92 ? this.pick(['COMMIT', 'ABORT']) : this.pick(['UNSUBSCRIBE', 'ACK', 'NACK', 'DISCONNECT', 'CONNECT', 'MESSAGE', 'send']);
    const headers: Array<[string, string]> = [];
    if (cmd === 'SEND' || cmd === 'SUBSCRIBE') headers.push(['destination', dest]);
    if (cmd === 'SUBSCRIBE') headers.push(['id', `s${st.n++}`]);
    else if (cmd === 'BEGIN') {
      const id = `t${st.n++}`;
      st.txs.push(id);
      headers.push(['transaction', id]);
    } else if (cmd === 'COMMIT' || cmd === 'ABORT') headers.push(['transaction', st.txs.pop() ?? this.token()]);
    else if (cmd !== 'SEND') headers.push(['id', this.token()]);
    if (cmd === 'SEND' && st.txs.length && this.rnd() < 0.3) headers.push(['transaction', st.txs[st.txs.length - 1]!]);
    if (this.rnd() < 0.3) headers.push(['receipt', this.token()]);
    if (cmd === 'SUBSCRIBE' && this.rnd() < 0.5) headers.push(['ack', this.pick(['auto', 'client', 'client-individual', 'client-individual', 'bogus'])]);
    if (this.rnd() < 0.1) headers.push(['selector', this.pick(["a = 'b'", 'x >', '((', 'JMSPriority > 3', "h1 LIKE 'a%'"])]);
    if (this.rnd() < 0.1) headers.push(['priority', this.pick(['1', '9', 'x', '-3', '99999999999999999'])]);
    if (this.rnd() < 0.1) headers.push(['persistent', 'true']);
    for (let i = this.int(4); i > 0; i--) headers.push([`h${this.int(10)}`, this.token()]);
    const body = cmd === 'SEND' ? this.bytes(this.int(300)) : Buffer.alloc(0);
    return encodeFrame({ command: cmd, headers, body }, '1.2');
  }

  mutate(f: Buffer): Buffer {
    switch (this.int(12)) {
      case 0: {
        const c = Buffer.from(f);
        for (let k = 1 + this.int(4); k > 0; k--) c[this.int(c.length)] = this.int(256);
        return c;
      }
      case 1: {
        const at = this.int(f.length);
        return Buffer.concat([f.subarray(0, at), this.bytes(1 + this.int(64)), f.subarray(at)]);
      }
      case 2: {
        const at = this.int(f.length);
        return Buffer.concat([f.subarray(0, at), f.subarray(Math.min(f.length, at + 1 + this.int(20)))]);
      }
      case 3:
        return f.subarray(0, this.int(f.length)); // truncated (no NUL)
      case 4:
        return Buffer.concat([Buffer.from(this.pick(['FOO', 'SEND X', 'ÿÿ', '', '\r', 'CONNECTED'])), f.subarray(f.indexOf(10))]);
      case 5:
        return Buffer.from(f.toString('latin1').replace('\n', '\nbad\\xescape:1\n'), 'latin1');
      case 6:
        return Buffer.from(f.toString('latin1').replace('\n', `\ncontent-length:${this.pick(['-1', 'abc', '99999999999', '0', '3', '100000000'])}\n`), 'latin1');
      case 7:
        return Buffer.from(f.toString('latin1').replace('\n', `\nlong:${'x'.repeat(9000 + this.int(5000))}\n`), 'latin1');
      case 8:
        return Buffer.from(f.toString('latin1').replace('\n', `\n${'h:v\n'.repeat(129 + this.int(100))}`), 'latin1');
      case 9:
        return this.bytes(1 + this.int(2048));
      case 10:
        return Buffer.from(f.toString('latin1').replace('\n', '\r'), 'latin1');
      default:
        return f;
    }
  }

  connect(): Buffer {
    const ok = encodeFrame({ command: this.pick(['CONNECT', 'STOMP']), headers: [['accept-version', this.pick(['1.0', '1.1', '1.2', '1.0,1.1,1.2'])], ['host', '/']], body: Buffer.alloc(0) }, '1.0');
    return this.rnd() < 0.85 ? ok : this.mutate(ok);
  }
}

interface Outcome {
  error: boolean;
  message?: string;
  closed: boolean;
  frames: number;
}

function garbageConnection(port: number, g: Gen): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { error: false, closed: false, frames: 0 };
    const dec = new StompDecoder({
      version: '1.2',
      maxBodySize: 1 << 20,
      onFrame: (f: StompFrame) => {
        out.frames++;
        if (f.command === 'ERROR') {
          assert.ok(hdr(f, 'message'), 'every ERROR has a message header');
          out.error = true;
          out.message = hdr(f, 'message');
        }
      },
    });
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('data', (c: Buffer) => dec.push(c));
    s.on('error', () => undefined);
    const finish = setTimeout(() => s.destroy(), 8000);
    s.on('close', () => {
      clearTimeout(finish);
      out.closed = true;
      resolve(out);
    });
    s.on('connect', async () => {
      const st = { txs: [] as string[], n: 0 };
      const parts: Buffer[] = [g.connect()];
      for (let i = 0; i < FRAMES_PER_CONNECTION; i++) {
        const f = g.frame(st);
        parts.push(g.rnd() < 0.08 ? g.mutate(f) : f);
      }
      // write in random chunks (a frame may be split or share a chunk with others), with pauses between them
      const all = Buffer.concat(parts);
      let at = 0;
      while (at < all.length && !s.destroyed) {
        const n = 1 + g.int(Math.min(all.length - at, 1024));
        s.write(all.subarray(at, at + n));
        at += n;
        if (g.int(3) === 0) await sleep(1 + g.int(4));
      }
      // give the server a moment to answer, then half-close: a frame left incomplete ends with the close
      await sleep(20);
      if (!s.destroyed) s.end();
    });
  });
}

describe('STOMP garbage', function () {
  this.timeout(120_000);
  let b: TestBroker;
  before(async () => {
    b = await startBroker({ stomp: { connectTimeout: 2000 } });
  });
  after(async () => b.close());

  it('a STOMP 1.1/1.2 header that is not well-formed UTF-8 gets ERROR (message: invalid UTF-8 in header), then the close; honest clients keep working', async () => {
    const honest = await Stompit.connect({ port: b.port });
    const inbox = await honest.subscribe('/queue/utf8.\u00e9t\u00e9');
    for (const version of ['1.1', '1.2'] as const) {
      for (const line of [Buffer.from([...Buffer.from('destination:/queue/utf8.'), 0xff, 0xfe]), Buffer.from([0xc3, 0x28, ...Buffer.from(':x')]), Buffer.from([...Buffer.from('x:'), 0xed, 0xa0, 0x80])]) {
        const c = await RawClient.open(b.port, {}, version);
        c.write(Buffer.concat([Buffer.from('SEND\ndestination:/queue/utf8.x\n'), line, Buffer.from('\n\nbody\0')]));
        const f = await c.next();
        assert.equal(f.command, 'ERROR', `${version} ${line.toString('hex')}`);
        assert.equal(hdr(f, 'message'), 'invalid UTF-8 in header');
        await c.waitClosed();
      }
    }
    // well-formed UTF-8 (é, in a 1.2 destination and a property) is taken as sent
    await honest.send('/queue/utf8.\u00e9t\u00e9', 'fine', { 'x-caf\u00e9': '\u00e7a' });
    const m = await inbox.next(5000);
    assert.equal(m.text, 'fine');
    assert.equal(m.headers['x-caf\u00e9'], '\u00e7a');
    assert.equal(b.broker.engine.queueInfo('utf8.\uFFFD\uFFFD'), undefined, 'no queue named after the lossy decoding');
    honest.destroy();
  });

  it(`${CONNECTIONS} connections × ${FRAMES_PER_CONNECTION} random/mutated frames: each ends in ERROR or a close; a good client keeps working; memory stays flat`, async () => {
    const engine = b.broker.engine;
    // the well-behaved client: send with receipt, receive, ack — round trips all along
    const good = await RawClient.open(b.port);
    good.send('SUBSCRIBE', { destination: '/queue/good', id: 'g', ack: 'client-individual', receipt: 'sub' });
    assert.equal(hdr(await good.next(), 'receipt-id'), 'sub');
    let stop = false;
    let roundTrips = 0;
    let maxGap = 0;
    const goodLoop = (async () => {
      let last = Date.now();
      while (!stop) {
        const body = `ping-${roundTrips}`;
        good.send('SEND', { destination: '/queue/good', persistent: 'true', receipt: `s${roundTrips}` }, body);
        const seen = { receipt: false, message: false };
        while (!seen.receipt || !seen.message) {
          const f = await good.next(5000);
          if (f.command === 'RECEIPT') seen.receipt = true;
          else if (f.command === 'MESSAGE') {
            assert.equal(f.body.toString(), body);
            good.send('ACK', { id: hdr(f, 'ack')! });
            seen.message = true;
          } else assert.fail(`good client got ${f.command}: ${f.body.toString()}`);
        }
        roundTrips++;
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }
    })();

    await sleep(100);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const g = new Gen(prng(SEED));
    const outcomes: Outcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < CONNECTIONS) {
        next++;
        outcomes.push(await garbageConnection(b.port, g));
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const took = Date.now() - t0;
    const accepted = ['g.0', 'g.1'].reduce((n, q) => n + (engine.getQueue(q)?.stats.enqueued ?? 0), 0);
    stop = true;
    await goodLoop;

    assert.equal(outcomes.length, CONNECTIONS);
    assert.ok(outcomes.every((o) => o.closed), 'every garbage connection was closed');
    const errors = outcomes.filter((o) => o.error).length;
    assert.ok(errors > CONNECTIONS / 2, `most connections got an ERROR frame (${errors}/${CONNECTIONS})`);
    assert.ok(roundTrips >= 5, `the good client made ${roundTrips} round trips in ${took} ms`);
    assert.ok(maxGap < 3000, `the good client never stalled (longest gap ${maxGap} ms)`);

    // nothing left behind: only the good client is connected, the heap is back near where it was
    assert.equal(engine.listConnections().length, 1);
    for (const q of ['g.0', 'g.1']) await engine.purgeQueue(q).catch(() => 0);
    await sleep(200);
    gc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    console.log(`      garbage: ${CONNECTIONS} conns in ${took} ms, ${errors} ERROR frames, ~${accepted} SENDs accepted, good client ${roundTrips} round trips (max gap ${maxGap} ms), heap ${(grown / 1e6).toFixed(1)} MB`);
    if (process.env.STOMP_FUZZ_VERBOSE) {
      const byMessage = new Map<string, number>();
      for (const o of outcomes) byMessage.set(o.message ?? '(closed)', (byMessage.get(o.message ?? '(closed)') ?? 0) + 1);
      console.log([...byMessage].sort((a, b) => b[1] - a[1]));
    }
    assert.ok(grown < 40e6, `heap grew by ${(grown / 1e6).toFixed(1)} MB`);
    good.destroy();
  });
});
