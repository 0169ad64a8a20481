/**
 * STOMP over WebSocket with a Python client no one here wrote: Debian's python3-stomp (stomp.py 8.0: framing,
 * parsing, receipts, listeners) on Debian's python3-websocket (websocket-client), through py/stomp_ws_client.py's
 * transport, which behaves as stomp.py 8.1's WSStompConnection does: no Sec-WebSocket-Protocol in the handshake,
 * and only text messages are decodable. Fails (not skips) when a package is missing:
 *   apt-get install -y python3-stomp python3-websocket
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { DEBIAN_PYTHON, need, testSource } from '../../helpers/external.js';
import { startBroker, type TestBroker } from './helpers.js';

const SCRIPT = testSource('protocols', 'stomp', 'py', 'stomp_ws_client.py');

describe('STOMP interop over WebSocket: stomp.py on websocket-client', function () {
  this.timeout(30_000);
  let b: TestBroker;

  before(async () => {
    need(DEBIAN_PYTHON, 'python3-stomp python3-websocket');
    const probe = await new Promise<string>((resolve) =>
      execFile(DEBIAN_PYTHON, ['-c', 'import stomp, websocket'], (err, _out, errOut) => resolve(err ? `missing: ${errOut}` : 'ok')),
    );
    if (probe !== 'ok') throw new Error(`python3-stomp and python3-websocket are needed for ${DEBIAN_PYTHON} (apt-get install -y python3-stomp python3-websocket): ${probe}`);
    b = await startBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('connects without a subprotocol, gets every frame as a text message, and sends and receives UTF-8 and large bodies', async () => {
    const out = await new Promise<{ messages: string[]; receipts: string[]; errors: string[]; kinds: string[] }>((resolve, reject) => {
      execFile(DEBIAN_PYTHON, [SCRIPT, String(b.wsPort)], { timeout: 20_000, env: { ...process.env, STOMP_SKIP_HOSTNAME_SCAN: '1' } }, (err, stdout, stderr) => {
        let json: { error?: string } & Record<string, unknown>;
        try {
          json = JSON.parse(stdout.trim().split('\n').pop() || 'null');
        } catch {
          reject(new Error(`stomp_ws_client.py: no JSON output (${err?.message})\n${stdout}\n${stderr}`));
          return;
        }
        if (json?.error || err) reject(new Error(`stomp_ws_client.py failed:\n${json?.error ?? err?.message}\n${stderr}`));
        else resolve(json as never);
      });
    });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.messages, ['plain', 'héllo wörld — 日本語 🚀✓', 'x*70000']);
    assert.deepEqual(out.receipts.slice(0, 4), ['sub', 's0', 's1', 's2']);
    assert.deepEqual(out.kinds, ['text']);
  });
});
