/** Test helpers: a real engine on a real LMDB store in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type EngineOptions } from '../../src/core/engine.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import type { Delivery } from '../../src/core/api.js';

export { eventually, sleep } from './wait.js';

export interface TestEngine {
  engine: Engine;
  dir: string;
  /** Stop and start a new engine on the same data (a clean restart). */
  restart(): Promise<Engine>;
  close(): Promise<void>;
}

export async function startEngine(opts: Partial<EngineOptions> = {}, dir?: string): Promise<TestEngine> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'wharf-engine-'));
  let engine = new Engine({ ...opts, store: new LmdbStore({ path: d }) });
  await engine.start();
  const t: TestEngine = {
    engine,
    dir: d,
    async restart() {
      await engine.stop();
      engine = new Engine({ ...opts, store: new LmdbStore({ path: d }) });
      await engine.start();
      t.engine = engine;
      return engine;
    },
    async close() {
      await engine.stop();
      rmSync(d, { recursive: true, force: true });
    },
  };
  return t;
}

/** Collects deliveries; `next(n)` waits until n have arrived. */
export class Inbox {
  readonly items: Delivery[] = [];
  private waiters: Array<() => void> = [];
  readonly push = (d: Delivery) => {
    this.items.push(d);
    for (const w of this.waiters.splice(0)) w();
  };
  async waitFor(n: number, timeoutMs = 5000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} deliveries (got ${this.items.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.items.slice(0, n);
  }
  bodies(): string[] {
    return this.items.map((d) => d.message.body.toString());
  }
}

/** Let queued microtasks and immediates run (dispatch is scheduled on a microtask). */
export const settle = async (rounds = 3) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};
