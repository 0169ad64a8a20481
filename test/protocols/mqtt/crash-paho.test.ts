/**
 * MQTT QoS 2 exactly-once across SIGKILL of a real `wharf start` process, with python3-paho-mqtt's own session state:
 * paho reconnects to the restarted broker and resends what it had in flight (PUBLISH flagged dup before its PUBREC,
 * PUBREL after it); every message completes and reaches the subscriber's persistent session exactly once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { freePort } from '../../helpers/ports.js';
import { kill9, startWharf } from '../../helpers/wharf-process.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(repoRoot, 'test', 'protocols', 'mqtt', 'py', 'paho_crash_qos2.py');
const COUNT = 300;


describe('MQTT QoS 2 across SIGKILL of `wharf start` (python3-paho-mqtt)', function () {
  this.timeout(120_000);
  let dir: string;
  const children: ChildProcess[] = [];

  before(() => {
    if (!existsSync(PYTHON)) throw new Error('python3 is missing');
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-mqtt-crash-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await kill9(c);
    rmSync(dir, { recursive: true, force: true });
  });

  it('paho resends its in-flight PUBLISH (dup) / PUBREL to the restarted broker: every message completes and is delivered exactly once', async () => {
    const port = await freePort();
    const env = { WHARF_MQTT_PORT: String(port) };
    let b = await startWharf(dir, env);
    children.push(b.child);
    const py = spawn(PYTHON, [SCRIPT, String(port), String(COUNT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(py);
    let err = '';
    py.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let out = '';
    let restarted: Promise<void> | undefined;
    py.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!restarted && out.includes('KILL\n')) {
        // mid-stream, with up to 20 QoS 2 publishes in flight
        restarted = (async () => {
          await kill9(b.child);
          b = await startWharf(dir, env);
          children.push(b.child);
        })();
      }
    });
    const [code] = (await once(py, 'exit')) as [number | null];
    assert.ok(restarted, `the script never asked for the kill:\n${out}\n${err}`);
    await restarted;
    assert.equal(code, 0, `paho script failed:\n${out}\n${err}`);
    const res = JSON.parse(out.trim().split('\n').pop()!) as { completed: number; received: string[] };
    assert.equal(res.completed, COUNT);
    const twice = res.received.filter((m, i) => res.received.indexOf(m) !== i);
    assert.deepEqual(twice, [], 'no QoS 2 message delivered twice');
    assert.deepEqual([...res.received].sort(), Array.from({ length: COUNT }, (_, i) => `q2-${i}`).sort(), 'every message delivered');
  });
});
