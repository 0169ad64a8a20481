import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forkFixture } from '../helpers/child.js';

interface Report {
  t: 'filled' | 'drained';
  depth: number;
  maxHeap: number;
  ms: number;
  received?: number;
  outOfOrder?: number;
}

describe('bounded memory with a deep backlog', function () {
  this.timeout(600_000);

  it('holds 1,000,000 persistent 1 KiB messages with the heap under 300 MB, then drains them all in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-memory-'));
    const total = 1_000_000;
    try {
      const child = forkFixture(new URL('../fixtures/engine-child.js', import.meta.url), ['memory', dir, String(total)]);
      const reports: Report[] = [];
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.on('message', (m: Report) => reports.push(m));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exit, new Promise<null>((r) => (timer = setTimeout(() => r(null), 500_000)))]);
      clearTimeout(timer);
      if (code === null) child.kill('SIGKILL');
      assert.equal(code, 0, 'child finished cleanly');
      const filled = reports.find((r) => r.t === 'filled')!;
      const drained = reports.find((r) => r.t === 'drained')!;
      assert.equal(filled.depth, total, 'every message is in the queue');
      assert.ok(filled.maxHeap < 300 * 1024 * 1024, `heap while filling stayed under 300 MB (max ${(filled.maxHeap / 1048576).toFixed(0)} MB)`);
      assert.equal(drained.received, total);
      assert.equal(drained.outOfOrder, 0, 'drained in order');
      assert.equal(drained.depth, 0);
      assert.ok(drained.maxHeap < 300 * 1024 * 1024, `heap while draining stayed under 300 MB (max ${(drained.maxHeap / 1048576).toFixed(0)} MB)`);
      console.log(`      fill ${filled.ms} ms (${Math.round(total / (filled.ms / 1000))} msgs/s), drain ${drained.ms} ms (${Math.round(total / (drained.ms / 1000))} msgs/s), max heap ${(drained.maxHeap / 1048576).toFixed(0)} MB`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
