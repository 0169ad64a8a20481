/**
 * `npm run bench -- metrics [destinations=100000]`: a broker with N queues; times /metrics (busiest 100) and
 * /metrics/per-destination (all), alone and three at once, and the longest event-loop stall meanwhile (what
 * every other client of the broker waits). Prints the response sizes too.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runBroker } from '../test/helpers/broker.js';
import { defaultHttp } from '../src/app/modules.js';
import { benchMain, formatTable } from './lib.js';

function get(port: number, path: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ ms: performance.now() - t0, bytes, status: res.statusCode ?? 0 }));
      })
      .on('error', reject);
  });
}

export async function run(): Promise<void> {
  const n = Number(process.argv[2] ?? 100_000);
  const b = await runBroker({
    name: 'bench-metrics',
    config: { listeners: { admin: { host: '127.0.0.1', port: 0 } } },
    modules: () => ({ protocols: [], http: defaultHttp.filter((m) => m.name === 'admin') }),
  });
  try {
    const engine = b.broker.engine;
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => engine.createQueue(`bench.q${String(i + j).padStart(6, '0')}`)));
    }
    console.log(`${n} queues created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const port = b.broker.listenerAddresses().admin!.port;
    const rows: string[][] = [];
    for (const path of ['/metrics', '/metrics/per-destination']) {
      await get(port, path); // warm
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const one = await get(port, path);
      h.disable();
      const stallOne = h.max / 1e6;
      h.reset();
      h.enable();
      const three = await Promise.all([get(port, path), get(port, path), get(port, path)]);
      h.disable();
      rows.push([path, String(one.status), `${(one.bytes / 1e6).toFixed(1)} MB`, `${one.ms.toFixed(0)} ms`, `${stallOne.toFixed(0)} ms`, `${Math.max(...three.map((x) => x.ms)).toFixed(0)} ms`, `${(h.max / 1e6).toFixed(0)} ms`]);
    }
    console.log(formatTable(['endpoint', 'status', 'size', 'one scrape', 'max loop stall', '3 at once (slowest)', 'max loop stall'], rows, { right: (i) => i > 0 }));
  } finally {
    await b.close();
  }
}

await benchMain(import.meta.url, run);
