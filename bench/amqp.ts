/**
 * AMQP 1.0 throughput/latency benchmark.
 *
 *   npm run bench -- amqp [--seconds 5] [--warmup 1] [--window 100] [--credit 100] [--sizes 100,1024]
 *                         [--nosync] [--profile DIR] [--dir TMPDIR]
 *   npx tsx bench/amqp.ts ...        (without a build)
 *
 * A real Broker runs in a child process (fsync'd store unless --nosync; --profile writes a V8 CPU profile of
 * the broker to DIR). In this process, two rhea connections: a producer sends durable messages to a queue,
 * keeping `window` transfers waiting for their `accepted` (a new transfer per accepted one), and a consumer
 * grants link credit `credit` (topped up as messages arrive) and accepts every message. The rhea clients
 * send pre-encoded messages and coalesce their socket writes per event turn, so the broker is what is
 * measured.
 *
 * Reported per size, over `seconds` after `warmup`: messages/s received by the consumer, accepted/s, and
 * p50/p99 latency of transfer → accepted (durable) and of transfer → delivery (end to end).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Encoder, scanMessage } from '../protocols/amqp/codec.js';
import { benchMain, brokerChildEntry, ClosedLoop, fatal as fail, hostNote, LOOP_OPTIONS, runSizes, serveBroker, syncNote, withBrokerChild, type BrokerChild, type LoopResult } from './lib.js';

const self = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { amqpModule } = await import('../protocols/amqp/index.js');
  await serveBroker({ listener: 'amqp', dataDir, noSync, modules: { protocols: [amqpModule] } });
}

// ------------------------------------------------------------------------------------------- clients

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** A rhea client connection whose socket writes are coalesced per event turn. */
function connect(rhea: Any, port: number, id: string): Promise<Any> {
  const container = rhea.create_container({ id });
  container.on('error', (e: Error) => fatal(`client: ${e.message}`));
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false, idle_time_out: 0, tcp_no_delay: true });
  return new Promise((resolve, reject) => {
    conn.once('connection_open', () => {
      const socket = conn.socket;
      socket.setNoDelay(true);
      const write = socket.write.bind(socket);
      let pending: Buffer[] = [];
      socket.write = (b: Buffer) => {
        if (pending.length === 0) {
          setImmediate(() => {
            const out = pending;
            pending = [];
            socket.cork();
            for (const x of out) write(x);
            socket.uncork();
          });
        }
        pending.push(b);
        return true;
      };
      resolve(conn);
    });
    conn.once('disconnected', (ctx: Any) => reject(new Error(`disconnected: ${ctx.error?.message ?? ''}`)));
  });
}

const fatal = (msg: string): never => fail('amqp', msg);

/** A durable message with a data body of `size` bytes whose first 4 bytes carry the sequence number. */
function template(size: number): { bytes: Buffer; seqAt: number } {
  const e = new Encoder(size + 32);
  e.descriptor(0x70);
  const m = e.begin(false);
  e.bool(true);
  e.end(m, 1);
  e.descriptor(0x75);
  const head = e.pos;
  e.binary(Buffer.alloc(size, 0x78));
  const bytes = Buffer.from(e.toBuffer());
  return { bytes, seqAt: head + (size < 256 ? 2 : 5) };
}

async function runSize(rhea: Any, port: number, size: number, o: { seconds: number; warmup: number; window: number; credit: number }, child: BrokerChild): Promise<LoopResult> {
  const queue = `bench.${size}.${Date.now()}`;
  const { bytes, seqAt } = template(Math.max(4, size));
  const consumerConn = await connect(rhea, port, `bench-consumer-${size}`);
  const producerConn = await connect(rhea, port, `bench-producer-${size}`);

  const receiver = consumerConn.open_receiver({ source: { address: queue }, credit_window: 0, autoaccept: false, raw_messages: true });
  await new Promise<void>((resolve) => receiver.once('receiver_open', () => resolve()));
  receiver.add_credit(o.credit);

  const sender = producerConn.open_sender({ target: { address: queue } });
  await new Promise<void>((resolve) => sender.once('sendable', () => resolve()));
  const tags = new Map<Any, number>();
  const loop = new ClosedLoop('amqp', (n) => {
    const b = Buffer.from(bytes);
    b.writeUInt32BE(n, seqAt);
    const d = sender.send(b, Buffer.from(n.toString(36)), 0);
    tags.set(d, n);
  });

  let unflowed = 0;
  receiver.on('message', (ctx: Any) => {
    const raw: Buffer = ctx.raw;
    const s = scanMessage(raw);
    const c = s.content!;
    loop.delivered(raw.readUInt32BE(c.start));
    ctx.delivery.accept();
    if (++unflowed >= o.credit / 4) {
      receiver.add_credit(unflowed);
      unflowed = 0;
    }
  });
  sender.on('accepted', (ctx: Any) => {
    const n = tags.get(ctx.delivery)!;
    tags.delete(ctx.delivery);
    loop.acked(n);
  });
  sender.on('rejected', (ctx: Any) => fatal(`rejected: ${JSON.stringify(ctx.delivery.remote_state?.error)}`));
  const result = await loop.run(child, size, o);
  consumerConn.close();
  producerConn.close();
  return result;
}

// ------------------------------------------------------------------------------------------- main

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: { ...LOOP_OPTIONS, credit: { type: 'string', default: '100' } },
  });
  const rhea = require('rhea');
  await withBrokerChild(self, 'amqp', a, async (child) => {
    const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), window: Number(a.window), credit: Number(a.credit) };
    console.log(
      `AMQP bench: broker in a child process (${syncNote(a.nosync)}), 1 producer (durable, ` +
        `window ${o.window} waiting for accepted) → 1 consumer (link credit ${o.credit}, accepts each); ${o.seconds} s after ${o.warmup} s warm-up; ${hostNote()}`,
    );
    await runSizes(a.sizes, { perSec: 'accepted/s', latency: 'accepted' }, (size) => runSize(rhea, child.port, size, o, child));
  });
}

await benchMain(import.meta.url, () => run(), brokerChildEntry(brokerChild));
