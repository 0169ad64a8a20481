/**
 * STOMP throughput/latency benchmark.
 *
 *   npm run bench -- stomp [--seconds 5] [--warmup 1] [--window 100] [--sizes 100,1024] [--prefetch 1000]
 *                          [--nosync] [--profile DIR] [--dir TMPDIR]
 *   npx tsx bench/stomp.ts ...        (without a build)
 *
 * A real Broker runs in a child process (fsync'd store unless --nosync; --profile writes a V8 CPU profile of
 * the broker to DIR). In this process, one producer connection SENDs persistent messages to a queue with a
 * receipt each, keeping `window` receipts outstanding (a new SEND per RECEIPT), and one consumer connection
 * subscribes with ack:client-individual and ACKs every MESSAGE. Both clients use the broker's own codec and
 * coalesce their writes per event turn.
 *
 * Reported per size, over `seconds` after `warmup`: messages/s received by the consumer, receipts/s, and
 * p50/p99 latency of SEND → RECEIPT (durable) and of SEND → MESSAGE (end to end).
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchMain, brokerChildEntry, ClosedLoop, fatal as fail, hostNote, LOOP_OPTIONS, runSizes, serveBroker, syncNote, withBrokerChild, type BrokerChild, type LoopResult } from './lib.js';
import { header, StompWire } from './stomp-wire.js';

const self = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------------------------------- broker child

async function brokerChild(dataDir: string, noSync: boolean): Promise<void> {
  const { stompModule } = await import('../protocols/stomp/index.js');
  await serveBroker({ listener: 'stomp', dataDir, noSync, modules: { protocols: [stompModule] } });
}

// ------------------------------------------------------------------------------------------- clients

class Conn extends StompWire {
  private constructor(socket: net.Socket) {
    super(socket, (detail) => fatal(`client decoder: ${detail}`));
    socket.on('error', (e) => fatal(`socket: ${e.message}`));
  }

  static async open(port: number): Promise<Conn> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
    const c = new Conn(s);
    const connected = new Promise<void>((resolve) => {
      c.onFrame = (f) => {
        if (f.command !== 'CONNECTED') fatal(`expected CONNECTED, got ${f.command} ${f.body.toString()}`);
        resolve();
      };
    });
    c.send('CONNECT', [['accept-version', '1.2'], ['host', '/']]);
    await connected;
    return c;
  }
}

const fatal = (msg: string): never => fail('stomp', msg);

async function runSize(port: number, size: number, o: { seconds: number; warmup: number; window: number; prefetch: number }, child: BrokerChild): Promise<LoopResult> {
  const queue = `/queue/bench.${size}.${Date.now()}`;
  const body = Buffer.alloc(size, 0x78);
  const consumer = await Conn.open(port);
  const producer = await Conn.open(port);

  await new Promise<void>((resolve) => {
    consumer.onFrame = (f) => {
      if (f.command === 'RECEIPT') return resolve();
      fatal(`consumer: unexpected ${f.command} ${header(f, 'message') ?? ''}`);
    };
    consumer.send('SUBSCRIBE', [['destination', queue], ['id', '1'], ['ack', 'client-individual'], ['activemq.prefetchSize', String(o.prefetch)], ['receipt', 'sub']]);
  });
  const loop = new ClosedLoop('stomp', (n) => producer.send('SEND', [['destination', queue], ['persistent', 'true'], ['receipt', String(n)], ['n', String(n)]], body));
  consumer.onFrame = (f) => {
    if (f.command !== 'MESSAGE') fatal(`consumer: unexpected ${f.command} ${header(f, 'message') ?? ''} ${f.body.toString()}`);
    loop.delivered(Number(header(f, 'n')));
    consumer.send('ACK', [['id', header(f, 'ack')!]]);
  };
  producer.onFrame = (f) => {
    if (f.command !== 'RECEIPT') fatal(`producer: unexpected ${f.command} ${header(f, 'message') ?? ''} ${f.body.toString()}`);
    loop.acked(Number(header(f, 'receipt-id')));
  };
  const result = await loop.run(child, size, o);
  consumer.socket.destroy();
  producer.socket.destroy();
  return result;
}

// ------------------------------------------------------------------------------------------- main

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: { ...LOOP_OPTIONS, prefetch: { type: 'string', default: '1000' } },
  });
  await withBrokerChild(self, 'stomp', a, async (child) => {
    const o = { seconds: Number(a.seconds), warmup: Number(a.warmup), window: Number(a.window), prefetch: Number(a.prefetch) };
    console.log(
      `STOMP bench: broker in a child process (${syncNote(a.nosync)}), 1 producer (persistent SEND, ` +
        `receipt each, window ${o.window}) → 1 consumer (client-individual, prefetch ${o.prefetch}); ${o.seconds} s after ${o.warmup} s warm-up; ${hostNote()}`,
    );
    await runSizes(a.sizes, { perSec: 'receipts/s', latency: 'receipt' }, (size) => runSize(child.port, size, o, child));
  });
}

await benchMain(import.meta.url, () => run(), brokerChildEntry(brokerChild));
