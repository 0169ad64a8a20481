import assert from 'node:assert/strict';
import { TimerWheel } from '../../src/core/timers.js';
import { mulberry32 } from '../helpers/prng.js';

describe('TimerWheel', () => {
  it('drops cancelled entries once they are most of the heap, lets go of their callbacks, and still fires the rest in order', async () => {
    let t = 1000;
    const wheel = new TimerWheel(() => t);
    const rnd = mulberry32(7);
    const fired: number[] = [];
    const kept: number[] = [];
    const handles = [];
    let last!: () => void;
    const done = new Promise<void>((r) => (last = r));
    const n = 3000;
    const ats = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [ats[i], ats[j]] = [ats[j]!, ats[i]!];
    }
    for (const at of ats) {
      const fn = () => {
        fired.push(at);
        if (fired.length === kept.length) last();
      };
      handles.push({ at, fn, h: wheel.schedule(t + 1 + at, fn) });
    }
    for (const { at, fn, h } of handles) {
      if (at % 3 === 0) kept.push(at);
      else {
        wheel.cancel(h);
        wheel.cancel(h); // twice: counted once
        assert.notEqual(h.fn, fn, 'a cancelled entry must not hold its callback');
      }
    }
    assert.equal(wheel.size, kept.length);
    assert.ok(wheel.entries < n, `compacted: ${wheel.entries} entries for ${wheel.size} live timers`);
    assert.ok(wheel.entries <= 2 * wheel.size + 1);
    t += 1_000_000; // everything is due at the next firing
    wheel.schedule(t, () => undefined);
    await done;
    assert.deepEqual(fired, [...kept].sort((a, b) => a - b));
    assert.equal(wheel.size, 0);
    assert.equal(wheel.entries, 0);
    wheel.stop();
  });

  it('cancelling a timer that already fired changes nothing', async () => {
    const wheel = new TimerWheel(() => 0);
    let fire!: () => void;
    const fired = new Promise<void>((r) => (fire = r));
    const a = wheel.schedule(0, () => fire());
    const later = Array.from({ length: 1500 }, () => wheel.schedule(1e12, () => undefined));
    await fired;
    wheel.cancel(a);
    assert.equal(wheel.size, 1500);
    assert.equal(wheel.entries, 1500);
    for (const h of later.slice(0, 750)) wheel.cancel(h);
    assert.equal(wheel.size, 750);
    assert.equal(wheel.entries, 1500, 'not compacted while at most half is cancelled');
    wheel.cancel(later[750]!);
    assert.equal(wheel.size, 749);
    assert.equal(wheel.entries, 749);
    wheel.stop();
  });
});
