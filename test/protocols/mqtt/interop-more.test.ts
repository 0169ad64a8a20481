/**
 * More interop with MQTT clients no one here wrote:
 * - the Eclipse Paho C client (Debian paho.mqtt.c-examples: paho_c_pub / paho_c_sub on the asynchronous library,
 *   paho_cs_pub / paho_cs_sub on the synchronous one), MQTT 3.1.1 and 5, over TCP and WebSocket;
 * - python3-paho-mqtt (1.6) over WebSocket, and its MQTT 5 features: shared subscriptions, will delay, session
 *   expiry, topic aliases, retain handling, user properties, CONNACK properties, 3.1.1 overlapping subscriptions, and
 *   the order of a SUBACK and the retained messages it brings (scenarios in py/paho_more.py).
 * These tests fail (not skip) when the packages are missing:
 *   apt-get install -y paho.mqtt.c-examples python3-paho-mqtt
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { DEBIAN_PYTHON, need, run, testSource } from '../../helpers/external.js';
import { client, collect, endAll, startBroker, tlsFixture, until, type TestBroker } from './helpers.js';

const PAHO_C_PUB = '/usr/bin/paho_c_pub';
const PAHO_C_SUB = '/usr/bin/paho_c_sub';
const PAHO_CS_PUB = '/usr/bin/paho_cs_pub';
const PAHO_CS_SUB = '/usr/bin/paho_cs_sub';
const PYTHON = DEBIAN_PYTHON;

const PAHO_MORE = testSource('protocols', 'mqtt', 'py', 'paho_more.py');

/** The last stdout line of a scenario of py/paho_more.py, parsed. */
async function paho(b: TestBroker, scenario: string, args: string[], timeoutMs = 30_000): Promise<any> {
  const { stdout } = await run(PYTHON, [PAHO_MORE, scenario, '127.0.0.1', String(b.port), ...args], timeoutMs);
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`paho_more.py ${scenario}: no JSON result:\n${stdout}`);
  }
}

type Kind = 'tcp' | 'ws' | 'tls';

/** Where a Paho C example connects: host/port, or a ws:// URL (Wharf routes WebSockets by subprotocol, not path). */
function target(b: TestBroker, kind: Kind): string[] {
  if (kind === 'tls') return ['-c', `ssl://localhost:${b.tlsPort}`, '--cafile', tlsFixture('ca.crt')];
  return kind === 'tcp' ? ['-h', '127.0.0.1', '-p', String(b.port)] : ['-c', `ws://127.0.0.1:${b.wsPort}/mqtt`];
}

interface TracedPublish {
  qos: number;
  retained: boolean;
  payload: string;
}

/** The PUBLISH packets a Paho C client received, from its `--trace protocol` output. */
function receivedPublishes(out: string): TracedPublish[] {
  const r: TracedPublish[] = [];
  for (const m of out.matchAll(/<- PUBLISH msgid: \d+ qos: (\d) retained: (\d) payload len\(\d+\): ([^\n]*)/g)) {
    r.push({ qos: Number(m[1]), retained: m[2] === '1', payload: m[3] });
  }
  return r;
}

interface PahoSub {
  proc: ChildProcess;
  out(): string;
  /**
   * SIGTERM (paho_c_sub / paho_cs_sub then DISCONNECT and exit 0); resolves with the exit code. Rejects after 4 s:
   * paho_c_sub only exits once its SUBACK arrived (one stuck behind another packet in a WebSocket frame waited
   * for the next PINGRESP, ~10 s).
   */
  stop(): Promise<number | null>;
}

/** Start paho_c_sub / paho_cs_sub with protocol tracing; resolves once its subscription exists in the broker. */
async function startPahoSub(b: TestBroker, bin: string, clientId: string, args: string[]): Promise<PahoSub> {
  const proc = spawn(bin, ['-i', clientId, '--trace', 'protocol', ...args]);
  // the trace goes to stderr, messages to stdout: read both
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  subs.push(proc);
  await until(
    () => b.broker.engine.listConnections().some((c) => c.clientId === clientId && c.consumers.size > 0),
    5000,
    `${path.basename(bin)} ${clientId} subscribed (output: ${out.slice(-800)})`,
  );
  return {
    proc,
    out: () => out,
    stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return Promise.race([
        done,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${path.basename(bin)} ${clientId} did not exit within 4 s of SIGTERM (output: ${out.slice(-800)})`)), 4000).unref()),
      ]);
    },
  };
}

const subs: ChildProcess[] = [];
function killSubs(): void {
  for (const p of subs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

describe('MQTT interop: Eclipse Paho C (paho.mqtt.c-examples)', function () {
  this.timeout(30_000);
  let b: TestBroker;
  before(async () => {
    for (const bin of [PAHO_C_PUB, PAHO_C_SUB, PAHO_CS_PUB, PAHO_CS_SUB]) need(bin, 'paho.mqtt.c-examples');
    b = await startBroker();
  });
  afterEach(async () => {
    killSubs();
    await endAll();
  });
  after(async () => {
    await b?.stop();
  });

  // TLS (ssl://, the CA from --cafile) only here: the library's TLS layer under the same publish/subscribe paths
  for (const kind of ['tcp', 'ws', 'tls'] as const) {
    for (const V of ['311', '5'] as const) {
      const tag = `${kind}${V}`;
      const mqttjsVersion = V === '5' ? 5 : 4;

      it(`paho_c_pub and paho_cs_pub (MQTT ${V === '5' ? '5' : '3.1.1'}, ${kind}) → MQTT.js and paho_c_sub, QoS 0/1/2`, async () => {
        const js = await client(b, { protocolVersion: mqttjsVersion });
        const got = collect(js);
        await js.subscribeAsync(`pc/${tag}/#`, { qos: 2 });
        const sub = await startPahoSub(b, PAHO_C_SUB, `pcsub-${tag}`, [...target(b, kind), '-V', V, '-q', '2', '-t', `pc/${tag}/#`]);
        const sent: Array<[string, number]> = [];
        for (const [bin, lib] of [[PAHO_C_PUB, 'c'], [PAHO_CS_PUB, 'cs']] as const) {
          for (const q of [0, 1, 2]) {
            const payload = `${lib}-q${q}`;
            await run(bin, [...target(b, kind), '-V', V, '-i', `pcpub-${tag}-${lib}${q}`, '-q', String(q), '-t', `pc/${tag}/${lib}/q${q}`, '-m', payload]);
            sent.push([payload, q]);
          }
        }
        await got.wait(6);
        assert.deepEqual(got.items.map((i) => [i.payload.toString(), i.packet.qos]).sort(), [...sent].sort(), 'MQTT.js: payload and QoS of each');
        await until(() => receivedPublishes(sub.out()).length >= 6, 5000, `paho_c_sub got 6 (output: ${sub.out().slice(-800)})`);
        assert.equal(await sub.stop(), 0);
        assert.deepEqual(receivedPublishes(sub.out()).map((p) => [p.payload, p.qos]).sort(), [...sent].sort(), 'paho_c_sub: payload and QoS of each');
      });

      it(`MQTT.js → paho_cs_sub (MQTT ${V === '5' ? '5' : '3.1.1'}, ${kind}) QoS 0/1/2; retained message from paho_c_pub`, async () => {
        const sub = await startPahoSub(b, PAHO_CS_SUB, `pcssub-${tag}`, [...target(b, kind), '-V', V, '-q', '2', '-t', `pcs/${tag}/live`]);
        const js = await client(b, { protocolVersion: mqttjsVersion });
        for (const q of [0, 1, 2] as const) await js.publishAsync(`pcs/${tag}/live`, `js-q${q}`, { qos: q });
        await until(() => receivedPublishes(sub.out()).length >= 3, 5000, `paho_cs_sub got 3 (output: ${sub.out().slice(-800)})`);
        assert.equal(await sub.stop(), 0);
        // one publisher: each QoS level in order, and together (QoS 0 may overtake QoS 1/2, docs/interop.md)
        assert.deepEqual(receivedPublishes(sub.out()).map((p) => [p.payload, p.qos, p.retained]).sort(), [['js-q0', 0, false], ['js-q1', 1, false], ['js-q2', 2, false]]);

        // retained: set by paho_c_pub, delivered with RETAIN to a new paho_c_sub and to MQTT.js
        const topic = `pcs/${tag}/ret`;
        await run(PAHO_C_PUB, [...target(b, kind), '-V', V, '-i', `pcret-${tag}`, '-q', '1', '-r', '-t', topic, '-m', 'kept']);
        const later = await startPahoSub(b, PAHO_C_SUB, `pcretsub-${tag}`, [...target(b, kind), '-V', V, '-q', '1', '-t', topic]);
        await until(() => receivedPublishes(later.out()).length >= 1, 5000, `retained to paho_c_sub (output: ${later.out().slice(-800)})`);
        assert.equal(await later.stop(), 0);
        assert.deepEqual(receivedPublishes(later.out()), [{ qos: 1, retained: true, payload: 'kept' }]);
        const js2 = await client(b, { protocolVersion: mqttjsVersion });
        const got = collect(js2);
        await js2.subscribeAsync(topic, { qos: 1 });
        const [r] = await got.wait(1);
        assert.equal(r.payload.toString(), 'kept');
        assert.equal(r.packet.retain, true);
        // cleared by paho_cs_pub with an empty retained message (-n)
        await run(PAHO_CS_PUB, [...target(b, kind), '-V', V, '-i', `pcclr-${tag}`, '-q', '1', '-r', '-n', '-t', topic]);
        const js3 = await client(b, { protocolVersion: mqttjsVersion });
        const none = collect(js3);
        await js3.subscribeAsync(topic, { qos: 1 });
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(none.texts(), [], 'no retained message after the clear');
      });
    }
  }

  it('paho_c_pub -V 5: user properties and message expiry reach MQTT.js', async () => {
    const js = await client(b, { protocolVersion: 5 });
    const got = collect(js);
    await js.subscribeAsync('pc5/props', { qos: 1 });
    await run(PAHO_C_PUB, [...target(b, 'tcp'), '-V', '5', '-i', 'pc5-props', '-q', '1', '-t', 'pc5/props', '-m', 'p', '--user-property', 'colour', 'blue', '--message-expiry', '120']);
    const [m] = await got.wait(1);
    assert.equal(m.payload.toString(), 'p');
    assert.equal(m.packet.properties?.userProperties?.colour, 'blue');
    const exp = m.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(exp > 100 && exp <= 120, `message expiry ${exp}`);
  });

  for (const kind of ['tcp', 'ws'] as const) {
    it(`paho_c_sub's will (--will-topic, ${kind}) is published when it is killed, not when it disconnects`, async () => {
      const js = await client(b, { protocolVersion: 5 });
      const got = collect(js);
      await js.subscribeAsync(`pcwill/${kind}/#`, { qos: 1 });
      const will = (name: string) => ['--will-topic', `pcwill/${kind}/${name}`, '--will-payload', `${name}-gone`, '--will-qos', '1'];
      const polite = await startPahoSub(b, PAHO_C_SUB, `pcwill-polite-${kind}`, [...target(b, kind), '-V', '311', '-t', 'pcwill/none', ...will('polite')]);
      assert.equal(await polite.stop(), 0);
      const killed = await startPahoSub(b, PAHO_C_SUB, `pcwill-killed-${kind}`, [...target(b, kind), '-V', '5', '-t', 'pcwill/none', ...will('killed')]);
      killed.proc.kill('SIGKILL');
      const [w] = await got.wait(1);
      assert.equal(w.topic, `pcwill/${kind}/killed`);
      assert.equal(w.payload.toString(), 'killed-gone');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got.texts(), ['killed-gone'], 'no will after a clean DISCONNECT');
    });
  }
});

describe('MQTT interop: python3-paho-mqtt over WebSocket and its MQTT 5 features', function () {
  this.timeout(40_000);
  let b: TestBroker;
  before(async () => {
    need(PYTHON, 'python3');
    const probe = await run(PYTHON, ['-c', 'import paho.mqtt.client']).catch((e: Error) => e);
    if (probe instanceof Error) throw new Error(`python3-paho-mqtt is missing (apt-get install -y python3-paho-mqtt): ${probe.message}`);
    need(PAHO_MORE, 'the test script test/protocols/mqtt/py/paho_more.py');
    b = await startBroker();
  });
  afterEach(endAll);
  after(async () => {
    await b?.stop();
  });

  for (const V of ['311', '5'] as const) {
    it(`paho over WebSocket (transport='websockets', MQTT ${V === '5' ? '5' : '3.1.1'}): connect, subscribe, publish QoS 1, receive; MQTT.js on TCP sees it and answers`, async () => {
      const tag = `ws${V}`;
      const js: MqttClient = await client(b, { protocolVersion: 5 });
      const got = collect(js);
      await js.subscribeAsync(`pyws/${tag}/a`, { qos: 1 });
      // answer paho's message so it also receives one published by someone else
      js.on('message', (topic) => {
        if (topic === `pyws/${tag}/a`) js.publish(`pyws/${tag}/b`, 'from-js', { qos: 1 });
      });
      const res = await paho(b, 'ws', [String(b.wsPort), V, tag]);
      assert.equal(res.connack.rc, 0);
      assert.deepEqual(res.granted, [1]);
      assert.equal(res.published, true);
      assert.deepEqual(
        res.msgs.map((m: { topic: string; payload: string; qos: number }) => [m.topic, m.payload, m.qos]).sort(),
        [[`pyws/${tag}/a`, 'over-ws', 1], [`pyws/${tag}/b`, 'from-js', 1]],
      );
      const [m] = await got.wait(1);
      assert.equal(m.payload.toString(), 'over-ws');
      assert.equal(m.packet.qos, 1);
    });
  }

  it('CONNACK properties are read by paho without error (and an empty client id gets an Assigned Client Identifier)', async () => {
    const res = await paho(b, 'connack', []);
    for (const k of ['named', 'anonymous'] as const) {
      const a = res[k];
      assert.equal(a.rc, 0, k);
      assert.equal(a.flags['session present'], 0, k);
      assert.equal(a.properties.RetainAvailable, 1);
      assert.equal(a.properties.WildcardSubscriptionAvailable, 1);
      assert.equal(a.properties.SubscriptionIdentifierAvailable, 1);
      assert.equal(a.properties.SharedSubscriptionAvailable, 1);
      assert.ok(a.properties.ReceiveMaximum > 0);
      assert.ok(a.properties.TopicAliasMaximum > 0);
      assert.ok(a.properties.MaximumPacketSize > 0);
    }
    assert.match(res.anonymous.properties.AssignedClientIdentifier, /^wharf-/);
    assert.equal(res.named.properties.AssignedClientIdentifier, undefined);
  });

  it('shared subscription $share/g/topic: two paho clients split 20 QoS 1 messages, each message to exactly one', async () => {
    const res = await paho(b, 'shared', ['s1']);
    assert.deepEqual(res.granted, [[1], [1]]);
    const [a, c] = res.got as [string[], string[]];
    const all = [...a, ...c].sort();
    const want = Array.from({ length: 20 }, (_, i) => `m${i}`).sort();
    assert.deepEqual(all, want, 'every message exactly once across the group');
    assert.ok(a.length > 0 && c.length > 0, `both members got some (${a.length} / ${c.length})`);
  });

  it('will with Will Delay Interval: published ~2 s after the socket is killed, not after a clean DISCONNECT', async () => {
    const res = await paho(b, 'will', ['w1']);
    assert.equal(res.victim, '{"connected": true}');
    assert.deepEqual(res.early, [], 'nothing before the delay');
    assert.equal(res.msgs.length, 1, JSON.stringify(res.msgs));
    assert.deepEqual([res.msgs[0].topic, res.msgs[0].payload], ['pywill/w1', 'gone-w1']);
    assert.ok(res.msgs[0].after >= 1.8 && res.msgs[0].after < 5, `will after ${res.msgs[0].after} s`);
  });

  it('Session Expiry Interval + clean_start=False: QoS 1 messages queued while away arrive after reconnect (session present)', async () => {
    const res = await paho(b, 'session', ['e1']);
    assert.equal(res.first.flags['session present'], 0);
    assert.deepEqual(res.granted, [1]);
    assert.equal(res.second.flags['session present'], 1);
    assert.deepEqual(res.msgs, [['queued-0', 1], ['queued-1', 1], ['queued-2', 1]]);
    assert.equal(res.third.flags['session present'], 0, 'clean start discards the session');
  });

  it('a paho subscriber that allows topic aliases gets every message with its topic: Wharf sends none by default (paho 1.6 does not resolve them; mosquitto never sends them)', async () => {
    const res = await paho(b, 'aliasout', ['o1']);
    assert.deepEqual(res.msgs, [['pyaliasout/o1', 'o0'], ['pyaliasout/o1', 'o1'], ['pyaliasout/o1', 'o2']]);
  });

  it('Topic Alias used by the paho publisher (topic set once, then empty topic + alias)', async () => {
    const res = await paho(b, 'alias', ['a1']);
    assert.ok(res.topicAliasMaximum >= 1);
    assert.deepEqual(res.published, [true, true, true]);
    assert.equal(res.publisherStillConnected, true);
    assert.deepEqual(res.msgs, [['pyalias/a1', 'a0'], ['pyalias/a1', 'a1'], ['pyalias/a1', 'a2']]);
  });

  it('Retain Handling 2: no retained message on subscribe (Retain Handling 0 gets it), live messages still arrive', async () => {
    const res = await paho(b, 'retain', ['r1']);
    assert.deepEqual(res.rh0.slice(0, 2), [['old', true], ['live', false]]);
    assert.deepEqual(res.rh2BeforeLive, []);
    assert.deepEqual(res.rh2[0], ['live', false]);
  });

  for (const V of ['311', '5'] as const) {
    it(`MQTT ${V === '5' ? '5' : '3.1.1'}: the SUBACK comes before the retained messages of the subscription (as mosquitto), for a new subscription and for the same filter again`, async () => {
      const res = await paho(b, 'suback', [`sa${V}`, V]);
      const [m1, m2] = res.mids as number[];
      // QoS 0, 1 and 2 retained messages; the 3.1.1 session is persistent, whose QoS 2 packet id is stored first
      const kept = [['msg', 'kept0', true], ['msg', 'kept1', true], ['msg', 'kept2', true]];
      const sorted = (e: unknown[][]) => [...e].sort((x, y) => String(x[1]).localeCompare(String(y[1])));
      assert.deepEqual(res.events[0], ['suback', m1], JSON.stringify(res.events));
      assert.deepEqual(sorted(res.events.slice(1, 4)), kept, JSON.stringify(res.events));
      assert.deepEqual(res.events[4], ['suback', m2], JSON.stringify(res.events));
      assert.deepEqual(sorted(res.events.slice(5)), kept, JSON.stringify(res.events));
    });
  }

  it('MQTT 3.1.1 overlapping subscriptions: one copy at the highest QoS of the matching ones (as mosquitto), live and queued for a persistent session', async () => {
    const res = await paho(b, 'overlap', ['o1']);
    assert.deepEqual(res.granted, [0, 2, 1, 2, 1]);
    assert.equal(res.sessionPresent, 1);
    for (const phase of ['live', 'queued']) {
      // /a matches all four filters, /b '#' (QoS 0), '+' (QoS 1) and '$share/g/…/+' (QoS 2, but a shared copy yields
      // to the client's own subscriptions, as in mosquitto), /c/d only '#'; the QoS 0 message stays QoS 0
      assert.deepEqual(res[phase], [
        ['/a', `${phase}-a0`, 0],
        ['/a', `${phase}-a2`, 2],
        ['/b', `${phase}-b2`, 1],
        ['/c/d', `${phase}-cd1`, 0],
      ]);
    }
  });

  it('user properties round trip paho → Wharf → paho: order, repeated names, UTF-8, empty values (QoS 0/1/2)', async () => {
    const res = await paho(b, 'userprops', ['u1']);
    assert.equal(res.msgs.length, 3);
    for (const [q, m] of (res.msgs as Array<{ payload: string; user: string[][] }>).entries()) {
      assert.equal(m.payload, `props${q}`);
      assert.deepEqual(m.user, [...res.sent, ['qos', String(q)]]);
    }
  });
});
