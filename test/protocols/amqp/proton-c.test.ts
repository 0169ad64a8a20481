/**
 * Interop with Qpid Proton C 0.37 (Debian's libqpid-proton11): the example clients Debian ships in
 * libqpid-proton11-dev-examples, compiled here with gcc against libqpid-proton11-dev and run unchanged. These
 * tests fail (not skip) when a package is missing:
 *   apt-get install -y gcc libc6-dev libqpid-proton11-dev libqpid-proton11-dev-examples
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { need, run } from '../../helpers/external.js';
import { startBroker, type TestBroker } from './helpers.js';

const EXAMPLES = '/usr/share/proton/examples/c';

describe('AMQP interop: Qpid Proton C (the examples Debian ships)', function () {
  this.timeout(60_000);
  let b: TestBroker;
  let dir: string;
  const bin = (name: string) => path.join(dir, name);

  before(async () => {
    need('/usr/bin/gcc', 'gcc');
    need('/usr/include/proton/proactor.h', 'libqpid-proton11-dev');
    need(path.join(EXAMPLES, 'send-abort.c'), 'libqpid-proton11-dev-examples');
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-proton-c-'));
    for (const name of ['send', 'receive', 'send-abort']) {
      await run('/usr/bin/gcc', ['-o', bin(name), path.join(EXAMPLES, `${name}.c`), '-lqpid-proton'], 60_000);
    }
    b = await startBroker();
  });
  after(async () => {
    await b?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('send.c → receive.c: every message acknowledged (accepted), then received', async () => {
    const sent = await run(bin('send'), ['127.0.0.1', String(b.port), 'c.examples', '5'], 20_000);
    assert.match(sent.stdout, /^5 messages sent and acknowledged$/m);
    const got = await run(bin('receive'), ['127.0.0.1', String(b.port), 'c.examples', '5'], 20_000);
    for (let i = 1; i <= 5; i++) assert.match(got.stdout, new RegExp(`^\\{"sequence"=${i}\\}$`, 'm'));
    assert.match(got.stdout, /^5 messages received$/m);
  });

  it('send-abort.c: deliveries aborted after their first frame leave nothing in the queue; the connection goes on', async () => {
    // each message is 80,000 bytes sent but for its last 1,000, then aborted (a transfer with aborted=true). Proton C
    // frees an aborted delivery at once, so it cannot see a disposition sent for one: interop.test.ts checks that
    // none is sent, with Proton's frame trace
    const out = await run(bin('send-abort'), ['127.0.0.1', String(b.port), 'c.abort', '5'], 20_000);
    assert.match(out.stdout, /^5 messages started and aborted$/m);
    assert.equal(b.broker.engine.getQueue('c.abort')?.depth ?? 0, 0);
    // whole messages to the same queue still go through
    const sent = await run(bin('send'), ['127.0.0.1', String(b.port), 'c.abort', '2'], 20_000);
    assert.match(sent.stdout, /^2 messages sent and acknowledged$/m);
    assert.equal(b.broker.engine.getQueue('c.abort')!.depth, 2);
  });
});
