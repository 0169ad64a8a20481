/**
 * Interop with MQTT clients no one here wrote: Debian's mosquitto-clients (mosquitto_pub / mosquitto_sub,
 * MQTT 3.1.1 and 5) and python3-paho-mqtt. These tests fail (not skip) when the packages are missing:
 *   apt-get install -y mosquitto-clients python3-paho-mqtt
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { DEBIAN_PYTHON, need, run } from '../../helpers/external.js';
import { client, collect, endAll, sleep, startBroker, tlsFixture, until, type TestBroker } from './helpers.js';

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
const PYTHON = DEBIAN_PYTHON;

/** Start mosquitto_sub; resolves once its subscription exists in the broker. */
async function startSub(b: TestBroker, clientId: string, args: string[]): Promise<{ proc: ChildProcess; out: () => string; done: Promise<number | null> }> {
  const proc = spawn(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(b.port), '-i', clientId, ...args]);
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const done = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await until(() => b.broker.engine.listConnections().some((c) => c.clientId === clientId && c.consumers.size > 0), 5000, `mosquitto_sub ${clientId} subscribed (stderr: ${err})`);
  return { proc, out: () => out, done };
}

describe('MQTT interop: mosquitto-clients', function () {
  this.timeout(30_000);
  let b: TestBroker;
  before(async () => {
    need(MOSQUITTO_PUB, 'mosquitto-clients');
    need(MOSQUITTO_SUB, 'mosquitto-clients');
    b = await startBroker();
  });
  after(async () => {
    await endAll();
    await b?.stop();
  });

  for (const V of ['mqttv311', 'mqttv5'] as const) {
    it(`mosquitto_pub (${V}) → MQTT.js and mosquitto_sub, QoS 0/1/2, retained`, async () => {
      const js = await client(b, { protocolVersion: V === 'mqttv5' ? 5 : 4 });
      const got = collect(js);
      await js.subscribeAsync(`mos/${V}/#`, { qos: 2 });
      const sub = await startSub(b, `msub-${V}`, ['-V', V, '-t', `mos/${V}/#`, '-q', '2', '-C', '3', '-v']);
      for (const q of [0, 1, 2]) await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', V, '-t', `mos/${V}/q${q}`, '-m', `hello ${q}`, '-q', String(q)]);
      await got.wait(3);
      assert.deepEqual(got.texts().sort(), ['hello 0', 'hello 1', 'hello 2']);
      assert.equal(await sub.done, 0);
      assert.deepEqual(sub.out().trim().split('\n').sort(), [`mos/${V}/q0 hello 0`, `mos/${V}/q1 hello 1`, `mos/${V}/q2 hello 2`]);
      // retained, read back with --retained-only
      await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', V, '-t', `mos/${V}/ret`, '-m', 'kept', '-q', '1', '-r']);
      const r = await run(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', V, '-t', `mos/${V}/ret`, '-C', '1', '-W', '3', '-F', '%r %t %p']);
      assert.equal(r.stdout.trim(), `1 mos/${V}/ret kept`, 'retained flag, topic, payload');
    });

    it(`MQTT.js → mosquitto_sub (${V}) over TLS, binary payload intact`, async () => {
      const payload = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13, 0]);
      const proc = spawn(MOSQUITTO_SUB, ['-h', 'localhost', '-p', String(b.tlsPort), '--cafile', tlsFixture('ca.crt'), '-i', `mtls-${V}`, '-V', V, '-t', `mtls/${V}`, '-q', '1', '-C', '1', '-N']);
      const chunks: Buffer[] = [];
      proc.stdout.on('data', (d: Buffer) => chunks.push(d));
      const done = new Promise<number | null>((r) => proc.once('exit', r));
      await until(() => b.broker.engine.listConnections().some((c) => c.clientId === `mtls-${V}` && c.consumers.size > 0), 5000, 'mosquitto_sub over TLS subscribed');
      const js = await client(b, { protocolVersion: V === 'mqttv5' ? 5 : 4, kind: 'tls' });
      await js.publishAsync(`mtls/${V}`, payload, { qos: 1 });
      assert.equal(await done, 0);
      assert.deepEqual(Buffer.concat(chunks), payload);
    });
  }

  it('mosquitto_pub -V mqttv5 user properties, content type and expiry reach MQTT.js; persistent mosquitto_sub session gets offline messages', async () => {
    const js = await client(b, { protocolVersion: 5 });
    const got = collect(js);
    await js.subscribeAsync('mos5/props', { qos: 1 });
    await run(MOSQUITTO_PUB, [
      '-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv5', '-t', 'mos5/props', '-m', 'p', '-q', '1',
      '-D', 'publish', 'user-property', 'colour', 'blue',
      '-D', 'publish', 'content-type', 'text/x-test',
      '-D', 'publish', 'message-expiry-interval', '120',
    ]);
    const [m] = await got.wait(1);
    assert.equal(m.packet.properties?.userProperties?.colour, 'blue');
    assert.equal(m.packet.properties?.contentType, 'text/x-test');
    assert.ok((m.packet.properties?.messageExpiryInterval ?? 0) > 100);
    // persistent session: subscribe with -c, leave, publish, come back
    const first = await startSub(b, 'mos-persist', ['-V', 'mqttv311', '-c', '-q', '1', '-t', 'mos/persist', '-C', '1']);
    first.proc.kill('SIGINT');
    await first.done;
    await sleep(100);
    await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv311', '-t', 'mos/persist', '-m', 'while-away', '-q', '1']);
    const back = await run(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(b.port), '-V', 'mqttv311', '-i', 'mos-persist', '-c', '-q', '1', '-t', 'mos/persist', '-C', '1', '-W', '5']);
    assert.equal(back.stdout.trim(), 'while-away');
  });
});

const PAHO_SCRIPT = String.raw`
import json, sys, time, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

port = int(sys.argv[1]); version = sys.argv[2]; tag = sys.argv[3]
v5 = version == '5'
proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
got = []; ev = threading.Event(); subscribed = threading.Event()

def on_message(c, u, m):
    d = {'topic': m.topic, 'payload': m.payload.decode(), 'qos': m.qos, 'retain': bool(m.retain)}
    if v5 and hasattr(m, 'properties') and m.properties is not None:
        p = m.properties
        d['user'] = getattr(p, 'UserProperty', None)
        d['ct'] = getattr(p, 'ContentType', None)
        d['rt'] = getattr(p, 'ResponseTopic', None)
        cd = getattr(p, 'CorrelationData', None)
        d['cd'] = cd.hex() if cd else None
    got.append(d)
    if len(got) >= 3: ev.set()

def on_subscribe(c, u, mid, granted, props=None):
    subscribed.set()

c = mqtt.Client(client_id='paho-' + tag, protocol=proto)
c.on_message = on_message
c.on_subscribe = on_subscribe
c.connect('127.0.0.1', port, keepalive=30)
c.loop_start()
c.subscribe('paho/' + tag + '/#', qos=2)
subscribed.wait(5)
for q in (0, 1, 2):
    props = None
    if v5:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [('k', 'v' + str(q))]
        props.ContentType = 'text/plain'
        props.ResponseTopic = 'paho/replies'
        props.CorrelationData = bytes([q, 255])
    info = c.publish('paho/' + tag + '/q' + str(q), 'm' + str(q), qos=q, properties=props) if v5 else c.publish('paho/' + tag + '/q' + str(q), 'm' + str(q), qos=q)
    info.wait_for_publish(5)
ok = ev.wait(10)
c.disconnect(); c.loop_stop()
print(json.dumps({'ok': ok, 'got': sorted(got, key=lambda d: d['topic'])}))
`;

describe('MQTT interop: python3-paho-mqtt', function () {
  this.timeout(30_000);
  let b: TestBroker;
  before(async () => {
    need(PYTHON, 'python3');
    const probe = await run(PYTHON, ['-c', 'import paho.mqtt.client']).catch((e: Error) => e);
    if (probe instanceof Error) throw new Error(`python3-paho-mqtt is missing (apt-get install -y python3-paho-mqtt): ${probe.message}`);
    b = await startBroker();
  });
  after(async () => {
    await endAll();
    await b?.stop();
  });

  for (const version of ['311', '5'] as const) {
    it(`paho (MQTT ${version === '5' ? '5' : '3.1.1'}) publishes and receives QoS 0/1/2 through the broker, and MQTT.js sees its messages`, async () => {
      const js = await client(b, { protocolVersion: 5 });
      const seen = collect(js);
      await js.subscribeAsync(`paho/t${version}/#`, { qos: 2 });
      const { stdout } = await run(PYTHON, ['-c', PAHO_SCRIPT, String(b.port), version, `t${version}`], 20_000);
      const res = JSON.parse(stdout.trim().split('\n').pop()!);
      assert.equal(res.ok, true, stdout);
      assert.deepEqual(res.got.map((g: { payload: string; qos: number }) => [g.payload, g.qos]), [['m0', 0], ['m1', 1], ['m2', 2]]);
      if (version === '5') {
        const g = res.got[2];
        assert.deepEqual(g.user, [['k', 'v2']]);
        assert.equal(g.ct, 'text/plain');
        assert.equal(g.rt, 'paho/replies');
        assert.equal(g.cd, '02ff');
      }
      await seen.wait(3);
      assert.deepEqual(seen.texts().sort(), ['m0', 'm1', 'm2']);
    });
  }
});
