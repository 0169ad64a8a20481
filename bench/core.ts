/**
 * Engine + LMDB store in one process, persistent 1 KiB messages, every commit fsync'd.
 *   npm run bench -- core [--seconds 5] [--size 1024] [--window 1000] [--nosync]
 * Cases: 1 producer → 1 consumer and 4 → 4 at full speed (producers keep `window` sends outstanding),
 * then 1 → 1 at a fixed 10,000 msgs/s offered. Prints msgs/s and p50/p99 of send→confirm (durable) and
 * send→consume.
 */
import { Engine } from '../src/core/engine.js';
import { createMessage } from '../src/core/message.js';
import { queue } from '../src/core/address.js';
import { LmdbStore } from '../storage/lmdb/lmdb-store.js';
import { Latencies, removeDir, sleep, tempDir } from './lib.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const seconds = arg('seconds', 5);
const size = arg('size', 1024);
const windowSize = arg('window', 1000);
const noSync = process.argv.includes('--nosync');

interface Result {
  name: string;
  consumed: number;
  seconds: number;
  confirm: Latencies;
  e2e: Latencies;
}

async function runCase(name: string, producers: number, consumers: number, ratePerSec: number | null): Promise<Result> {
  const dir = tempDir('core');
  const engine = new Engine({ store: new LmdbStore({ path: dir, noSync }) });
  await engine.start();
  const q = queue('bench');
  const body = Buffer.alloc(size, 0x61);
  const confirm = new Latencies(2_000_000);
  const e2e = new Latencies(2_000_000);
  let consumed = 0;
  let measuring = false;
  for (let c = 0; c < consumers; c++) {
    await engine.subscribe({
      address: q,
      prefetch: Math.max(100, Math.floor(windowSize / consumers)),
      onMessage: (d) => {
        if (measuring) {
          consumed++;
          e2e.add(performance.now() - (d.message.properties.t as number));
        }
        d.consumer.ack(d.id).catch(() => {});
      },
    });
  }
  let running = true;
  const sendOne = async () => {
    const t = performance.now();
    await engine.send(createMessage({ body, properties: { t } }), q);
    if (measuring) confirm.add(performance.now() - t);
  };
  const loops: Promise<void>[] = [];
  if (ratePerSec === null) {
    const perProducer = Math.max(1, Math.floor(windowSize / producers));
    for (let p = 0; p < producers; p++) {
      for (let w = 0; w < perProducer; w++) {
        loops.push(
          (async () => {
            while (running) await sendOne();
          })(),
        );
      }
    }
  } else {
    // open loop: a fixed offered rate, whatever the latency
    loops.push(
      (async () => {
        const start = performance.now();
        let sent = 0;
        const pending = new Set<Promise<void>>();
        while (running) {
          const due = Math.floor(((performance.now() - start) / 1000) * ratePerSec);
          while (sent < due) {
            sent++;
            const p = sendOne();
            pending.add(p);
            void p.finally(() => pending.delete(p));
          }
          await sleep(1);
        }
        await Promise.all(pending);
      })(),
    );
  }
  await sleep(1000); // warm-up
  measuring = true;
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  measuring = false;
  running = false;
  await Promise.all(loops);
  await engine.stop();
  removeDir(dir);
  return { name, consumed, seconds: elapsed, confirm, e2e };
}

function print(r: Result): void {
  const f = (n: number) => n.toFixed(2);
  console.log(
    `${r.name.padEnd(34)} ${Math.round(r.consumed / r.seconds).toString().padStart(8)} msgs/s consumed   ` +
      `send→confirm p50 ${f(r.confirm.percentile(50))} ms p99 ${f(r.confirm.percentile(99))} ms   ` +
      `send→consume p50 ${f(r.e2e.percentile(50))} ms p99 ${f(r.e2e.percentile(99))} ms`,
  );
}

export async function run(): Promise<void> {
  console.log(`core bench: persistent ${size} B messages, ${noSync ? 'NO fsync (--nosync)' : 'every commit fsync\'d'}, ${seconds} s per case, window ${windowSize}`);
  print(await runCase('1 → 1, full speed', 1, 1, null));
  print(await runCase('4 → 4, full speed', 4, 4, null));
  print(await runCase('1 → 1, 10,000 msgs/s offered', 1, 1, 10_000));
}
