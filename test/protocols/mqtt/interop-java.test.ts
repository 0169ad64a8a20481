/**
 * Interop with a Java MQTT client no one here wrote: the FuseSource MQTT client (Debian libmqtt-client-java,
 * org.fusesource.mqtt.client, with its hawtbuf and hawtdispatch jars) through its BlockingConnection API, MQTT 3.1.1.
 * java/MqttInterop.java is compiled here with javac into a temp dir and run with `java`; it prints one JSON line per
 * step, and MQTT.js plays the other side. Fails (not skips) when the packages are missing:
 *   apt-get install -y libmqtt-client-java default-jdk-headless
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Credentials, SecurityHooks } from '../../../src/core/security.js';
import { ANONYMOUS } from '../../../src/core/security.js';
import { need, run, testSource } from '../../helpers/external.js';
import { client, collect, endAll, sleep, startBroker, until, type TestBroker } from './helpers.js';

/** Debian's alternatives for the JDK (default-jdk-headless / openjdk-17-jdk-headless). */
const JAVAC = '/usr/bin/javac';
const JAVA = '/usr/bin/java';
/** The client and what it depends on, as libmqtt-client-java, libhawtbuf-java and libhawtdispatch-java install them. */
const JARS = ['mqtt-client.jar', 'hawtbuf.jar', 'hawtdispatch.jar', 'hawtdispatch-transport.jar'].map((j) => path.join('/usr/share/java', j));

const SOURCE = testSource('protocols', 'mqtt', 'java', 'MqttInterop.java');

interface JavaMsg {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}
type Step = Record<string, any> & { step: string };

/** A running MqttInterop: its JSON lines so far, and its exit. */
interface JavaRun {
  steps: Step[];
  output(): string;
  step(name: string): Step;
  waitStep(name: string, ms?: number): Promise<Step>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/** JVMs started by the current test (killed after it). */
const running: Array<ReturnType<typeof spawn>> = [];

function startJava(classes: string, b: TestBroker, scenarios: string[]): JavaRun {
  const proc = spawn(JAVA, ['-cp', [...JARS, classes].join(path.delimiter), 'MqttInterop', '127.0.0.1', String(b.port), ...scenarios]);
  let out = '';
  let err = '';
  let partial = '';
  const steps: Step[] = [];
  // decode as a stream: a UTF-8 character may be split across chunks
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      try {
        steps.push(JSON.parse(l));
      } catch {
        steps.push({ step: 'unparsed', line: l });
      }
    }
  });
  proc.stderr.on('data', (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  running.push(proc);
  const output = () => `stdout:\n${out}\nstderr:\n${err.slice(-3000)}`;
  const r: JavaRun = {
    steps,
    output,
    step(name) {
      const s = steps.find((x) => x.step === name);
      if (!s) throw new Error(`MqttInterop printed no "${name}" step:\n${output()}`);
      return s;
    },
    async waitStep(name, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const s = steps.find((x) => x.step === name);
        if (s) return s;
        const failed = steps.find((x) => x.step === 'error');
        if (failed || proc.exitCode !== null || Date.now() > end) throw new Error(`MqttInterop: no "${name}" step:\n${output()}`);
        await sleep(20);
      }
    },
    exit,
    kill: (signal) => proc.kill(signal),
  };
  return r;
}

/** Payload and QoS of each message, sorted (QoS 0 may overtake QoS 1/2 from one publisher, docs/interop.md). */
const pq = (msgs: JavaMsg[]) => msgs.map((m) => [m.topic, m.payload, m.qos]).sort();

describe('MQTT interop: FuseSource MQTT client for Java (libmqtt-client-java, BlockingConnection, MQTT 3.1.1)', function () {
  this.timeout(60_000);
  let b: TestBroker;
  let classes = '';
  let savedSecurity: SecurityHooks | undefined;
  /** What the authenticate hook was asked, MQTT.js's anonymous connections left out. */
  const seen: Credentials[] = [];

  before(async () => {
    need(JAVAC, 'default-jdk-headless');
    need(JAVA, 'default-jdk-headless');
    for (const j of JARS) need(j, 'libmqtt-client-java');
    need(SOURCE, 'the test program test/protocols/mqtt/java/MqttInterop.java');
    classes = mkdtempSync(path.join(os.tmpdir(), 'wharf-mqtt-java-'));
    await run(JAVAC, ['-nowarn', '-cp', JARS.join(path.delimiter), '-d', classes, SOURCE], 60_000);
    b = await startBroker();
    savedSecurity = b.broker.engine.security;
    // java/s3cret, or anonymous (MQTT.js)
    b.broker.engine.security = {
      async authenticate(c) {
        if (c.protocol === 'mqtt' && c.username) seen.push({ ...c });
        if (!c.username) return ANONYMOUS;
        return c.username === 'java' && c.password === 's3cret' ? { username: 'java', anonymous: false, groups: [] } : null;
      },
      authorize: () => true,
    };
  });
  afterEach(async () => {
    for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await endAll();
  });
  after(async () => {
    if (b && savedSecurity) b.broker.engine.security = savedSecurity;
    await b?.stop();
    if (classes) rmSync(classes, { recursive: true, force: true });
  });

  it('connect (client id, username/password, clean and persistent sessions), wildcards, QoS 0/1/2 both ways with MQTT.js, retained, unsubscribe, offline QoS 1/2 messages', async () => {
    // MQTT.js: retained message set before the Java client subscribes; sees what Java publishes; answers on jv/ctl/*
    const js: MqttClient = await client(b, { protocolVersion: 4, clientId: 'js-side' });
    await js.publishAsync('jv/ret/js', 'kept-by-js', { qos: 1, retain: true });
    const got = collect(js);
    await js.subscribeAsync({ 'jv/self/#': { qos: 2 }, 'jv/ctl/#': { qos: 1 } });
    const answers: Promise<unknown>[] = [];
    js.on('message', (topic) => {
      if (topic === 'jv/ctl/ready') {
        answers.push(
          (async () => {
            await js.publishAsync('jv/a/b/fromjs', 'not-matched', { qos: 1 });
            await js.publishAsync('jv/a/fromjs', 'js-q0', { qos: 0 });
            await js.publishAsync('jv/b/fromjs', 'js-q1', { qos: 1 });
            await js.publishAsync('jv/c/fromjs', 'js-q2', { qos: 2 });
            await js.publishAsync('jv/z/fromjs', 'js-end', { qos: 1 });
          })(),
        );
      } else if (topic === 'jv/ctl/away') {
        answers.push(
          (async () => {
            await js.publishAsync('jv/persist/js', 'js-away-0', { qos: 1 });
            await js.publishAsync('jv/persist/js', 'js-away-1', { qos: 1 });
            await js.publishAsync('jv/ctl/done', 'done', { qos: 1 });
          })(),
        );
      }
    });

    const java = startJava(classes, b, ['main']);
    const { code } = await java.exit;
    await Promise.all(answers);
    const out = java.output();
    assert.equal(code, 0, out);
    assert.equal(java.step('end').step, 'end');

    // a wrong password is refused with CONNACK return code 4 (bad user name or password)
    const bad = java.step('badPassword');
    assert.equal(bad.connected, false, out);
    assert.equal(bad.connack, 4, out);
    assert.match(bad.error, /BAD_USERNAME_OR_PASSWORD/);

    // the right one is accepted; the credentials reached the authenticate hook as sent
    const conn = java.step('connect');
    assert.deepEqual([conn.connack, conn.sessionPresent], [0, 0], out);
    assert.ok(seen.some((c) => c.username === 'java' && c.password === 's3cret'));
    assert.ok(seen.some((c) => c.username === 'java' && c.password === 'wrong'));

    const sub = java.step('subscribe');
    assert.deepEqual([sub.granted, sub.connected], [[2, 2], true]);

    // its own QoS 0/1/2 messages, back through jv/self/#, at the QoS they were published with
    assert.deepEqual(pq(java.step('self').msgs), [['jv/self/q0', 'java-q0', 0], ['jv/self/q1', 'java-q1', 1], ['jv/self/q2', 'java-q2', 2]], out);
    // MQTT.js saw them too
    const fromJava = got.items.filter((i) => i.topic.startsWith('jv/self/q'));
    assert.deepEqual(fromJava.map((i) => [i.topic, i.payload.toString(), i.packet.qos]).sort(), [['jv/self/q0', 'java-q0', 0], ['jv/self/q1', 'java-q1', 1], ['jv/self/q2', 'java-q2', 2]]);

    // MQTT.js → Java through jv/+/fromjs (jv/a/b/fromjs does not match +)
    const fromJs: JavaMsg[] = java.step('fromJs').msgs;
    assert.deepEqual(pq(fromJs), [['jv/a/fromjs', 'js-q0', 0], ['jv/b/fromjs', 'js-q1', 1], ['jv/c/fromjs', 'js-q2', 2], ['jv/z/fromjs', 'js-end', 1]], out);
    assert.ok(fromJs.every((m) => !m.retain && !m.dup));

    // retained: both, with RETAIN set, on subscribe; a live message on the same subscription without it
    const ret = java.step('retained');
    assert.deepEqual(ret.granted, [1]);
    assert.deepEqual((ret.msgs as JavaMsg[]).map((m) => [m.topic, m.payload, m.qos, m.retain]).sort(), [['jv/ret/java', 'kept-by-java', 1, true], ['jv/ret/js', 'kept-by-js', 1, true]], out);
    assert.deepEqual((java.step('live').msgs as JavaMsg[]).map((m) => [m.topic, m.payload, m.retain]), [['jv/ret/live', 'live', false]], out);
    // cleared by an empty retained PUBLISH
    assert.deepEqual((java.step('retainedCleared').msgs as JavaMsg[]).map((m) => [m.topic, m.payload, m.retain]), [['jv/ret/js', 'kept-by-js', true]], out);
    // MQTT.js gets the retained QoS 2 message Java set
    const js2 = await client(b, { protocolVersion: 4 });
    const got2 = collect(js2);
    await js2.subscribeAsync('jv/kept/#', { qos: 2 });
    const [r] = await got2.wait(1);
    assert.deepEqual([r.topic, r.payload.toString(), r.packet.qos, r.packet.retain], ['jv/kept/java', 'kept-q2-by-java', 2, true]);

    // after UNSUBSCRIBE jv/ret/+ only jv/self/# is left
    assert.deepEqual((java.step('unsubscribe').msgs as JavaMsg[]).map((m) => m.payload), ['still-subscribed'], out);
    // UTF-8 topic and payload; a 300 KB QoS 2 payload intact
    const pl = java.step('payloads');
    assert.deepEqual(pl.utf, { topic: 'jv/self/ümläut/日本', same: true }, out);
    assert.equal(pl.big.same, true, out);
    assert.ok(pl.big.length >= 300_000);
    assert.equal(java.step('disconnect').connected, false);

    // keep alive 1 s: PINGREQ answered by PINGRESP, the connection lives on
    const ka = java.step('keepAlive');
    assert.ok(ka.pingReqs >= 1 && ka.pingResps >= 1, out);
    assert.equal(ka.connected, true);
    assert.equal(ka.msg?.payload, 'alive');

    // empty client id with cleanSession=true: accepted, and works
    const anon = java.step('emptyClientId');
    assert.deepEqual([anon.clean.connected, anon.clean.connack, anon.clean.msg?.payload], [true, 0, 'anon'], out);

    // $SYS topics: sent on subscribe to $SYS/broker/+ (RETAIN set), each once, never matched by #
    const sys = java.step('sys');
    assert.deepEqual(sys.granted, [0, 0]);
    const sysMsgs: JavaMsg[] = sys.msgs;
    const version = sysMsgs.filter((m) => m.topic === '$SYS/broker/version');
    assert.equal(version.length, 1, out);
    assert.match(version[0].payload, /^wharf /);
    assert.equal(version[0].retain, true);
    const topics = sysMsgs.map((m) => m.topic);
    assert.equal(new Set(topics).size, topics.length, `each once: ${topics.join(', ')}`);
    assert.ok(topics.includes('jv/sys/mark'));
    assert.ok(topics.every((t) => t.startsWith('jv/') || t.startsWith('$SYS/broker/')), topics.join(', '));

    // session takeover: the second connection with the client id closes the first, and works
    const take = java.step('takeover');
    assert.equal(take.firstConnected, false, out);
    assert.equal(take.secondGot?.payload, 'to-second', out);

    // QoS 1/2 messages received but not acknowledged are sent again with DUP when the session resumes, once
    const re = java.step('redeliver');
    assert.deepEqual((re.first as JavaMsg[]).map((m) => [m.payload, m.qos, m.dup]).sort(), [['unacked-q1', 1, false], ['unacked-q2', 2, false]], out);
    assert.deepEqual((re.again as JavaMsg[]).map((m) => [m.payload, m.qos, m.dup]).sort(), [['unacked-q1', 1, true], ['unacked-q2', 2, true]], out);
    assert.equal(re.more, null, out);
    assert.equal(re.third, null, out);

    // persistent session: QoS 1/2 messages from Java and MQTT.js published while it was away arrive on reconnect,
    // without subscribing again; session present 0 → 1; cleanSession=true ends the session
    const p = java.step('persistent');
    assert.deepEqual(p.granted, [2]);
    assert.equal(p.firstPresent, 0, out);
    assert.equal(p.done, true, out);
    assert.equal(p.backPresent, 1, out);
    assert.deepEqual(
      pq(p.msgs),
      [['jv/persist/java', 'away-q1-0', 1], ['jv/persist/java', 'away-q1-1', 1], ['jv/persist/java', 'away-q2', 2], ['jv/persist/js', 'js-away-0', 1], ['jv/persist/js', 'js-away-1', 1]],
      out,
    );
    assert.equal(p.extra, null, 'nothing more (each message once)');
    assert.equal(p.cleanPresent, 0);
    assert.equal(p.againPresent, 0);
  });

  it("will: not published after a clean DISCONNECT; published (QoS 1, retained) when the Java process is killed", async () => {
    const js = await client(b, { protocolVersion: 4 });
    const got = collect(js);
    await js.subscribeAsync('jv/will/#', { qos: 1 });
    const java = startJava(classes, b, ['will']);
    await java.waitStep('ready');
    assert.equal(java.step('polite').disconnected, true);
    // connected as itself: client id and the authenticated user
    const c = b.broker.engine.listConnections().find((x) => x.clientId === 'java-killed');
    assert.ok(c, 'java-killed connected');
    assert.deepEqual([c.protocol, c.principal.username], ['mqtt', 'java']);
    await sleep(200);
    assert.deepEqual(got.texts(), [], `no will yet (${java.output()})`);
    java.kill('SIGKILL');
    const { signal } = await java.exit;
    assert.equal(signal, 'SIGKILL');
    const [w] = await got.wait(1);
    assert.deepEqual([w.topic, w.payload.toString(), w.packet.qos], ['jv/will/killed', 'killed-gone', 1]);
    await sleep(300);
    assert.deepEqual(got.texts(), ['killed-gone'], 'no will after the clean DISCONNECT');
    // the will was retained
    const late = await client(b, { protocolVersion: 4 });
    const lateGot = collect(late);
    await late.subscribeAsync('jv/will/+', { qos: 1 });
    const [lr] = await lateGot.wait(1);
    assert.deepEqual([lr.topic, lr.payload.toString(), lr.packet.retain], ['jv/will/killed', 'killed-gone', true]);
    await until(() => !b.broker.engine.listConnections().some((x) => x.clientId === 'java-killed'), 2000, 'java-killed gone');
  });
});
