import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { forkFixture } from '../helpers/child.js';

interface Report {
  t: 'state' | 'confirmed' | 'received' | 'acked';
  id?: number;
  redelivered?: boolean;
  contents?: Array<{ id: number; redelivered: boolean }>;
}

describe('crash safety (SIGKILL of a child-process broker under load)', function () {
  this.timeout(180_000);

  it('keeps every confirmed send exactly once and every committed ack gone, across 20 kills', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-crash-'));
    const confirmed = new Set<number>();
    const acked = new Set<number>();
    const received = new Set<number>();
    let totalChecked = 0;
    let redeliveredSeen = 0;
    const history = new Map<number, string[]>();
    let round = 0;
    let current: ChildProcess | undefined;
    const note = (id: number, what: string) => {
      let h = history.get(id);
      if (!h) history.set(id, (h = []));
      h.push(`${round}:${what}`);
    };
    const why = (id: number) => ` (history ${JSON.stringify(history.get(id))})`;
    try {
      for (round = 0; round < 20; round++) {
        const child = forkFixture(new URL('../fixtures/engine-child.js', import.meta.url), ['crash', dir, String((round + 1) * 10_000_000)]);
        current = child;
        let state: Report['contents'] | undefined;
        let snapshot!: { confirmed: Set<number>; acked: Set<number>; received: Set<number> };
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        const gotState = new Promise<void>((resolve, reject) => {
          child.on('message', (m: Report) => {
            if (m.t === 'state') {
              // Snapshot what the parent knew before this child reported: later messages in the same IPC
              // chunk are already this child's own deliveries and acks.
              state = m.contents;
              snapshot = { confirmed: new Set(confirmed), acked: new Set(acked), received: new Set(received) };
              resolve();
            } else if (m.t === 'confirmed') confirmed.add(m.id!);
            else if (m.t === 'acked') {
              acked.add(m.id!);
              note(m.id!, 'acked');
            } else if (m.t === 'received') {
              received.add(m.id!);
              note(m.id!, m.redelivered ? 'received-redelivered' : 'received');
            }
          });
          child.on('exit', (code) => reject(new Error(`child exited with ${code} before reporting its state (store did not open cleanly?)`)));
        });
        await gotState;
        // Check what survived the previous kill.
        const ids = state!.map((s) => s.id);
        assert.equal(new Set(ids).size, ids.length, `round ${round}: duplicates in the recovered queue`);
        const present = new Map(state!.map((s) => [s.id, s.redelivered]));
        for (const id of present.keys()) if (history.has(id)) note(id, 'present');
        for (const id of snapshot.confirmed) {
          if (snapshot.acked.has(id)) assert.ok(!present.has(id), `round ${round}: message ${id} was acked (committed) but came back` + why(id));
          // A delivered message may be gone: its ack may have committed just before the kill, with the report lost.
          else if (!snapshot.received.has(id)) assert.ok(present.has(id), `round ${round}: confirmed, never delivered message ${id} was lost`);
        }
        for (const [id, redelivered] of present) {
          if (snapshot.received.has(id)) {
            assert.equal(redelivered, true, `round ${round}: message ${id} had been delivered but is not flagged redelivered` + why(id));
            redeliveredSeen++;
          }
        }
        totalChecked += confirmed.size;
        // Let it run under load, then kill it at a random moment.
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
        child.kill('SIGKILL');
        await exited;
        // Deliveries the child logged synchronously (its IPC reports may have died with it).
        const log = join(dir, 'received.log');
        if (existsSync(log)) for (const line of readFileSync(log, 'utf8').split('\n')) if (line) received.add(Number(line));
      }
      assert.ok(confirmed.size > 1000, `the load ran (confirmed ${confirmed.size})`);
      assert.ok(acked.size > 500, `consumers acked (acked ${acked.size})`);
      assert.ok(redeliveredSeen > 0, 'some in-flight messages were recovered and flagged redelivered');
      assert.ok(totalChecked > 0);
    } finally {
      // a failed check must not leave the child producing forever
      if (current && current.exitCode === null && current.signalCode === null) current.kill('SIGKILL');
      // WHARF_CRASH_KEEP=1: keep the data directory for a post-mortem (see test/fixtures/engine-child.ts)
      if (process.env.WHARF_CRASH_KEEP === '1') console.log(`crash test data kept in ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  });
});
