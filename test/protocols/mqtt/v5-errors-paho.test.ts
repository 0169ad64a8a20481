/**
 * MQTT protocol errors as python3-paho-mqtt (1.6) sees them: the server's DISCONNECT reason code (and Reason
 * String) that paho hands to on_disconnect. Scenarios in py/paho_v5_errors.py. Fails (not skips) without the package:
 *   apt-get install -y python3-paho-mqtt
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DEBIAN_PYTHON, need, run, testSource } from '../../helpers/external.js';
import { startBroker, type TestBroker } from './helpers.js';

const SCRIPT = testSource('protocols', 'mqtt', 'py', 'paho_v5_errors.py');

async function paho(b: TestBroker, scenario: string, ...args: string[]): Promise<any> {
  const { stdout } = await run(DEBIAN_PYTHON, [SCRIPT, scenario, '127.0.0.1', String(b.port), ...args], 20_000);
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`paho_v5_errors.py ${scenario}: no JSON result:\n${stdout}`);
  }
}

describe('MQTT 5 protocol errors seen by paho-mqtt', function () {
  this.timeout(30_000);
  let b: TestBroker;
  before(async () => {
    need('/usr/lib/python3/dist-packages/paho/mqtt/client.py', 'python3-paho-mqtt');
    b = await startBroker();
  });
  after(async () => {
    await b?.stop();
  });

  it('a protocol error closes with DISCONNECT carrying a Reason String, so paho reports the reason code (PUBLISH to a wildcard topic name: 0x90)', async () => {
    const res = await paho(b, 'wildtopic');
    assert.equal(res.connack, 0);
    // paho 1.6 drops a DISCONNECT's reason code when the packet has no properties (mosquitto 2.0 sends none: paho reports 7, connection lost)
    assert.equal(res.disconnect?.rc, 0x90, JSON.stringify(res));
    assert.match(res.disconnect.reasonString, /invalid topic name 'dt\/\+\/x'/);
  });

  it('PUBLISH with an empty topic name and no Topic Alias: DISCONNECT 0x82 Protocol Error (MQTT 5 §3.3.2.1; mosquitto 2.0 too), not 0x90', async () => {
    const res = await paho(b, 'emptytopic');
    assert.equal(res.connack, 0);
    assert.equal(res.disconnect?.rc, 0x82, JSON.stringify(res));
    assert.match(res.disconnect.reasonString, /empty topic name/);
  });

  for (const V of ['5', '311'] as const) {
    it(`MQTT ${V === '5' ? '5' : '3.1.1'}: a CONNECT with Will QoS 3 is malformed: closed without CONNACK (as mosquitto 2.0), was accepted`, async () => {
      const res = await paho(b, 'willqos3', V);
      assert.equal(res.connack, undefined, JSON.stringify(res));
      assert.equal(res.disconnect?.rc, 7, JSON.stringify(res)); // paho: connection lost
    });
  }

  it('a session taken over: the old connection gets DISCONNECT 0x8E with a Reason String, so paho reports 0x8E (mosquitto 2.0 just closes: paho reports 7)', async () => {
    const res = await paho(b, 'takeover');
    assert.equal(res.connack, 0);
    assert.equal(res.disconnect?.rc, 0x8e, JSON.stringify(res));
    assert.match(res.disconnect.reasonString, /taken over/);
  });

  it('broker shutdown: DISCONNECT 0x8B with a Reason String, so paho reports 0x8B', async () => {
    const other = await startBroker();
    const proc = spawn(DEBIAN_PYTHON, [SCRIPT, 'shutdown', '127.0.0.1', String(other.port)]);
    let out = '';
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    try {
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (d) => {
          out += d;
          if (out.includes('connected\n')) resolve();
        });
        proc.once('exit', () => reject(new Error(`paho exited before connecting: ${out}`)));
      });
    } finally {
      await other.stop();
    }
    await exited;
    const res = JSON.parse(out.trim().split('\n').pop() ?? '');
    assert.equal(res.connack, 0);
    assert.equal(res.disconnect?.rc, 0x8b, JSON.stringify(res));
    assert.match(res.disconnect.reasonString, /shutting down/);
  });
});
