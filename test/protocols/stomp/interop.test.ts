/**
 * Interop with a STOMP client no one here wrote: Debian's python3-stomp (stomp.py 8), driven by
 * py/stomp_client.py through stomp.Connection10 / Connection11 / Connection12 against a broker started here.
 * Each scenario prints one JSON line that these tests assert on; where useful, stompit (Node) is on the other
 * side to show the bytes and headers cross clients intact. These tests fail (not skip) when the package is
 * missing:  apt-get install -y python3-stomp
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { SecurityHooks } from '../../../src/core/security.js';
import { DEBIAN_PYTHON, need, testSource } from '../../helpers/external.js';
import { startBroker, Stompit, type TestBroker } from './helpers.js';

const PYTHON = DEBIAN_PYTHON;

const SCRIPT = testSource('protocols', 'stomp', 'py', 'stomp_client.py');

/** A scenario's parsed JSON output (its shape is the Python script's; the assertions below check it). */
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Run one scenario of stomp_client.py; resolves with its JSON result, rejects with its traceback. */
function stompPy(scenario: string, port: number, version: string, timeoutMs = 30_000): Promise<Json> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, scenario, String(port), version], { timeout: timeoutMs, env: { ...process.env, STOMP_SKIP_HOSTNAME_SCAN: '1' } }, (err, stdout, stderr) => {
      let out: Json;
      try {
        out = JSON.parse(stdout.trim().split('\n').pop() || 'null');
      } catch {
        out = undefined;
      }
      if (out?.error) reject(new Error(`stomp_client.py ${scenario} (STOMP ${version}) failed:\n${out.error}\n${stderr}`));
      else if (err || !out) reject(new Error(`stomp_client.py ${scenario} (STOMP ${version}) failed: ${err?.message ?? 'no JSON output'}\n${stdout}\n${stderr}`));
      else resolve(out);
    });
  });
}

/** Only py/secret (stomp.py) and node/secret (stompit) may connect. */
const security: SecurityHooks = {
  async authenticate(c) {
    return c.password === 'secret' && (c.username === 'py' || c.username === 'node') ? { username: c.username, anonymous: false, groups: [] } : null;
  },
  authorize: () => true,
};

const UTF8 = 'héllo wörld — 日本語 Ελληνικά 🚀✓';
const BINARY = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0, 0, 10, 0]), Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i))]);

describe('STOMP interop: python3-stomp (stomp.py)', function () {
  this.timeout(40_000);

  before(async () => {
    need(PYTHON, 'python3-stomp');
    const probe = await new Promise<string>((resolve) => execFile(PYTHON, ['-c', 'import stomp; print(stomp.__version__)'], (err, out, errOut) => resolve(err ? `missing: ${errOut}` : out)));
    if (probe.startsWith('missing')) throw new Error(`python3-stomp is not installed for ${PYTHON} (apt-get install -y python3-stomp): ${probe}`);
  });

  for (const version of ['1.0', '1.1', '1.2'] as const) {
    describe(`STOMP ${version} (stomp.Connection${version.replace('.', '')})`, () => {
      let b: TestBroker;
      const nodes: Stompit[] = [];
      const node = async () => {
        const c = await Stompit.connect({ port: b.port, headers: { login: 'node', passcode: 'secret' } });
        nodes.push(c);
        return c;
      };
      before(async () => {
        b = await startBroker({ config: { destinations: [{ match: 'py.ack', maxRedeliveries: 1 }] } });
        b.broker.engine.security = security;
      });
      after(async () => {
        for (const c of nodes.splice(0)) c.destroy();
        await b?.close();
      });

      it('connects with login/passcode (a wrong passcode gets ERROR), sends to /queue/x and receives with ack=auto; receipts for every frame', async () => {
        const r = await stompPy('basic', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.equal(r.badLogin.connected, false, 'wrong passcode refused');
        assert.equal(r.badLogin.errors.length, 1);
        assert.match(r.badLogin.errors[0].headers.message, /Authentication failed/);
        assert.equal(r.connected.version, version, 'stomp.py sends accept-version, even Connection10');
        assert.match(r.connected.server, /^Wharf\//);
        assert.ok(r.connected.session);
        assert.deepEqual(
          r.messages.map((m: Json) => m.body),
          [0, 1, 2].map((i) => `hello ${version} #${i}`),
        );
        for (const m of r.messages) {
          assert.equal(m.headers.destination, '/queue/x');
          assert.equal(m.headers.subscription, 'sub-x');
          assert.ok(m.headers['message-id']);
          assert.equal(m.headers.ack, undefined, 'no ack header for ack=auto');
        }
        // SUBSCRIBE + 3 SENDs, each with a receipt, all answered
        assert.equal(r.receipts.length, 4);
        if (version === '1.0') {
          assert.equal(r.noId.body, 'no id');
          assert.equal(r.noId.headers.subscription, '/queue/x.noid', '1.0: the destination is the subscription id');
          assert.equal(r.noIdAfter, true, 'UNSUBSCRIBE by destination');
        }
        assert.equal(r.disconnectReceipt, true, 'DISCONNECT receipt arrived, then stomp.py closed');
        assert.equal(b.broker.engine.getQueue('x')!.depth, 0, 'every message consumed');
      });

      it(`ack=client-individual: ACK${version === '1.0' ? ' (1.0 has no NACK: unacked messages come back after a reconnect)' : ' and NACK → redelivered, then dead-lettered per the policy'}; ack=client is cumulative`, async () => {
        const r = await stompPy('ack', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(
          r.first.map((m: Json) => m.body),
          ['m1', 'm2', 'm3'],
        );
        for (const m of r.first) {
          assert.equal(m.headers.redelivered, 'false');
          if (version === '1.2') assert.match(m.headers.ack, /^\d+$/, '1.2 MESSAGE carries an ack header');
          else assert.equal(m.headers.ack, undefined, `${version} MESSAGE has no ack header`);
        }
        assert.equal(r.redelivered.body, 'm2');
        assert.equal(r.redelivered.headers.redelivered, 'true');
        if (version !== '1.0') {
          assert.equal(r.dlq.body, 'm2');
          assert.equal(r.dlq.headers.originalDestination, 'queue://py.ack');
          assert.match(r.dlq.headers.dlqDeliveryFailureCause, /NACK/);
        }
        assert.equal(r.leftover, true, 'm1 and m3 stay acknowledged');
        assert.deepEqual(
          r.cumulative.map((m: Json) => [m.body, m.headers.redelivered]),
          [['n3', 'true']],
        );
        assert.equal(r.cumulativeLeftover, true);
        assert.equal(b.broker.engine.getQueue('py.ack')!.depth, 0, 'nothing left on the queue');
        if (version !== '1.0') assert.equal(b.broker.engine.getQueue('DLQ.py.ack')!.depth, 0, 'the dead letter was consumed');
      });

      it('transactions: BEGIN/SEND/COMMIT delivers at commit, ABORT discards, an ACK in a transaction counts at COMMIT; ABORT undoes an ACK (or NACK): the message stays delivered and its id ACKs it afterwards', async () => {
        const r = await stompPy('tx', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.equal(r.beforeCommit, true, 'nothing delivered before COMMIT');
        assert.deepEqual(r.committed, ['a1', 'a2']);
        assert.equal(r.afterAbort, true, 'nothing delivered after ABORT');
        assert.deepEqual(r.after, ['c1'], 'the aborted b1 never arrives');
        assert.equal(r.abortedAckRedelivered, false, 'ACK undone by ABORT: still delivered, not sent again');
        if (version !== '1.0') assert.equal(r.abortedNackRedelivered, false, 'NACK undone by ABORT: still delivered, not sent again');
        assert.equal(r.txAckLeftover, true, 'the messages acknowledged in a committed transaction (and after the abort) are gone');
      });

      if (version !== '1.0') {
        it('heart-beats=(1000,1000) are negotiated and the connection stays up across 4.5 s of silence', async () => {
          const r = await stompPy('heartbeat', b.port, version);
          assert.deepEqual(r.errors, []);
          assert.equal(r.connected['heart-beat'], '1000,1000');
          assert.deepEqual(r.negotiated, [1000, 1000]);
          assert.ok(r.beats >= 4, `server heart-beats seen by stomp.py: ${r.beats}`);
          assert.equal(r.stillConnected, true);
          assert.equal(r.disconnectedEarly, false);
          assert.deepEqual(r.after, ['alive']);
        });
      }

      it('/topic/ pub-sub: two subscribers each get every message; after UNSUBSCRIBE only the other does', async () => {
        const r = await stompPy('topic', b.port, version);
        assert.deepEqual(r.errors, []);
        for (const [sub, id] of [[r.sub1, 'news-1'], [r.sub2, 'news-2']] as const) {
          assert.deepEqual(
            sub.map((m: Json) => m.body),
            ['t1', 't2', 't3'],
          );
          for (const m of sub) {
            assert.equal(m.headers.destination, '/topic/py.news');
            assert.equal(m.headers.subscription, id);
          }
        }
        assert.deepEqual(r.sub1After, ['t4']);
        assert.equal(r.sub2After, true);
      });

      if (version === '1.0') {
        it('1.0: a subscription made with an id ends on an UNSUBSCRIBE that names only its destination', async () => {
          const r = await stompPy('unsubscribe_by_destination', b.port, version);
          assert.deepEqual(r.errors, []);
          assert.equal(r.deliveredAfterUnsubscribe, false);
          assert.deepEqual(r.nextConsumer, ['after']);
        });
      }

      it('custom headers (escaped in 1.1/1.2) and a multi-byte UTF-8 body round-trip, also to and from stompit', async () => {
        const js = await node();
        const nodeHeaders = { 'x-from': 'stompit', 'x-utf8': 'naïve ☃', 'content-type': 'text/plain; charset=utf-8' };
        await js.send('/queue/py.from-node', UTF8, nodeHeaders);
        const r = await stompPy('headers', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.equal(r.sent, UTF8, 'the Python literal is the same string');
        // stompit → stomp.py
        assert.equal(r.fromNode.body, UTF8);
        assert.equal(r.fromNode.headers['x-from'], 'stompit');
        assert.equal(r.fromNode.headers['x-utf8'], 'naïve ☃');
        assert.equal(r.fromNode.headers['content-length'], String(Buffer.byteLength(UTF8)));
        // stomp.py → stomp.py
        const [withType, noType] = r.messages;
        assert.equal(withType.body, UTF8);
        assert.equal(noType.body, UTF8);
        assert.equal(withType.headers['content-length'], String(r.sentBytes));
        assert.equal(r.sentBytes, Buffer.byteLength(UTF8));
        assert.equal(withType.headers['content-type'], 'text/plain; charset=utf-8');
        for (const [k, v] of Object.entries(r.custom as Record<string, string>)) assert.equal(withType.headers[k], v, `header ${k}`);
        assert.equal(noType.headers['x-n'], '2');
        // stomp.py → stompit
        const inbox = await js.subscribe('/queue/py.to-node');
        const m = await inbox.next();
        assert.equal(m.text, UTF8);
        for (const [k, v] of Object.entries(r.custom as Record<string, string>)) assert.equal(m.headers[k], v, `header ${k} at stompit`);
      });

      it('a binary body with NULs and content-length round-trips byte for byte, also to and from stompit', async () => {
        const js = await node();
        await js.send('/queue/py.bin-from-node', BINARY, { 'content-type': 'application/octet-stream', 'content-length': BINARY.length }); // stompit adds no content-length itself
        const r = await stompPy('binary', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.equal(r.sentHex, BINARY.toString('hex'), 'the Python bytes are the same');
        assert.equal(r.fromNode.type, 'bytes');
        assert.equal(r.fromNode.hex, BINARY.toString('hex'));
        assert.equal(r.fromNode.contentLength, String(BINARY.length));
        assert.equal(r.roundTrip.length, 2);
        for (const m of r.roundTrip) {
          assert.equal(m.hex, BINARY.toString('hex'));
          assert.equal(m.contentLength, String(BINARY.length));
        }
        assert.equal(r.roundTrip[0].contentType, 'application/octet-stream');
        assert.deepEqual(r.big, { ok: true, length: 512 * 1024, contentLength: String(512 * 1024) });
        const inbox = await js.subscribe('/queue/py.bin-to-node');
        const m = await inbox.next();
        assert.deepEqual(m.body, BINARY);
      });

      it("selectors compare string headers with numbers and booleans as ActiveMQ's STOMP does ('5' > 3; 'abc' > 3 is FALSE)", async () => {
        const r = await stompPy('selector', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.got, {
          'n > 3': ['n=5', 'n=7'],
          'n = 5': ['n=5'],
          "n = '5'": ['n=5'],
          'n BETWEEN 1 AND 6': ['n=5', 'n=2', 'n=2.5'],
          'n < 3.0': ['n=2', 'n=2.5'],
          // Boolean.valueOf: 'true' in any case, everything else is false
          'flag = TRUE': ['n=5', 'n=2'],
          // 'abc' is no number: the comparison is FALSE, so its NOT matches 'abc', as on ActiveMQ (which also reads
          // '2.5' with Long.valueOf when the other side is an integer, and so leaves it out of n > 3's NOT; we keep it)
          'NOT (n > 3)': ['n=abc', 'n=2', 'n=2.5'],
        });
      });

      it("RabbitMQ's destinations /amq/queue/<q> and /exchange/amq.topic/<key>, and its prefetch-count header", async () => {
        const r = await stompPy('rabbit', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.first, ['q0', 'q1']);
        assert.equal(r.noThird, true, 'prefetch-count: 2');
        assert.deepEqual(r.afterAck, ['q2']);
        assert.deepEqual(r.topic, ['exchange <- via exchange', 'exchange <- via topic', 'topic <- via exchange', 'topic <- via topic']);
      });

      it('a destination without a /prefix is the queue of that name (as RabbitMQ and ActiveMQ): SEND and SUBSCRIBE by plain name meet /queue/<name>', async () => {
        const r = await stompPy('plain', b.port, version);
        assert.deepEqual(r.errors, []);
        const queue = `/queue/py.plain.${version.replace('.', '')}`;
        assert.deepEqual(
          r.byName.map((m: Json) => [m.body, m.headers.destination]),
          [['to the prefixed name', queue], ['to the plain name', queue]],
        );
        assert.deepEqual(
          r.byPrefix.map((m: Json) => [m.body, m.headers.destination]),
          [['plain again', queue]],
        );
      });

      it("RabbitMQ's durable topic subscription (durable:true, auto-delete:false, no client-id): kept while away, deleted by UNSUBSCRIBE durable:true", async () => {
        const r = await stompPy('rabbit_durable', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.back, ['while away']);
        assert.equal(r.afterDelete, true, 'nothing kept after the UNSUBSCRIBE with durable:true');
        assert.equal(
          b.broker.engine.listSubscriptions().filter((d) => d.subscription?.topicPattern === `py.rabbit-durable.${version}`).length,
          0,
          'no subscription left',
        );
      });

      if (version === '1.2') {
        it('1.2: an ACK naming the message by message-id instead of id gets ERROR (as RabbitMQ and ActiveMQ); the message comes back and the id form acknowledges it', async () => {
          const r = await stompPy('ack_message_id', b.port, version);
          assert.equal(r.errors.length, 1);
          assert.equal(r.errors[0].headers.message, "Missing header 'id'");
          assert.equal(r.errors[0].headers['receipt-id'], 'bad-ack');
          assert.match(r.errors[0].body, /not by message-id/);
          assert.ok(!r.receipts.includes('bad-ack'));
          assert.equal(r.again.body, 'once');
          assert.equal(r.again.headers.redelivered, 'true');
          assert.equal(r.rest, true);
          assert.deepEqual(r.errors2, []);
        });
      }

      if (version === '1.0') {
        it('a CONNECT without accept-version is STOMP 1.0 and its CONNECTED says version:1.0 (as RabbitMQ and ActiveMQ)', async () => {
          const r = await stompPy('no_accept_version', b.port, version);
          assert.deepEqual(r.errors, []);
          assert.equal(r.connected.version, '1.0');
          assert.ok(r.connected.session);
        });
      }

      it("headers as large as ActiveMQ takes them (a 10 KiB line, 1000 headers) arrive intact; a longer line gets ERROR", async () => {
        const r = await stompPy('header_limits', b.port, version);
        assert.deepEqual(r.errors, []);
        assert.equal(r.bigIntact, true);
        assert.equal(r.manyIntact, true);
        assert.match(r.tooLarge.headers.message, /line too long/);
        assert.deepEqual(r.tooLargeReceipts, []);
      });

      it('a bad frame gets an ERROR carrying its receipt as receipt-id, and the connection closes', async () => {
        const r = await stompPy('error', b.port, version);
        assert.equal(r.errors.length, 1);
        const e = r.errors[0];
        assert.match(e.headers.message, /Unknown destination/);
        assert.equal(e.headers['receipt-id'], 'bad-send');
        assert.match(e.body, /\/queue\/<name>/);
        assert.deepEqual(r.receipts, [], 'no RECEIPT for the failed frame');
        assert.equal(r.connected, false);
      });
    });
  }
});
