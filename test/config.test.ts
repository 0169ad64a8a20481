import { repoRoot } from './helpers/paths.js';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, defaultConfig, envVarNames, loadConfig, parseConfig } from '../src/app/config.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('has the DESIGN.md defaults', () => {
    const c = defaultConfig();
    assert.equal(c.dataDir, './data');
    const ports = Object.fromEntries(Object.entries(c.listeners).map(([k, v]) => [k, v.port]));
    assert.deepEqual(ports, { openwire: 61616, amqp: 5672, stomp: 61613, mqtt: 1883, ws: 61614, admin: 8161, sqs: 9324 });
    assert.equal(c.listeners.stomp.host, '0.0.0.0');
    assert.equal(c.listeners.admin.host, '127.0.0.1');
    for (const l of Object.values(c.listeners)) {
      assert.equal(l.enabled, true);
      assert.equal(l.tls, undefined);
    }
    assert.deepEqual(c.limits, { maxFrameSize: 10 * 1024 * 1024, idleTimeout: 0, maxConnections: 10_000, maxConnectionsTotal: 0, maxConnectionsPerAddress: 0, maxConnectionsPerUser: 0, maxDestinations: 200_000, maxSubscriptions: 200_000, maxConsumersPerConnection: 10_000 });
    assert.deepEqual(c.destinations, []);
    assert.equal(c.log.level, 'info');
    assert.equal(c.store.noSync, false);
    assert.equal(c.store.concurrentDispatch, true);
    assert.equal(parseConfig({ store: { concurrentDispatch: false } }).store.concurrentDispatch, false);
    assert.deepEqual(c.sqs, { region: 'us-east-1', accountId: '000000000000' });
    assert.equal(c.amqp.defaultAddressKind, 'queue');
  });

  it('fills TLS port defaults per listener', () => {
    const tls = { cert: 'c.pem', key: 'k.pem' };
    const c = parseConfig({
      listeners: Object.fromEntries(['openwire', 'amqp', 'stomp', 'mqtt', 'ws', 'admin', 'sqs'].map((n) => [n, { tls }])),
    });
    const tlsPorts = Object.fromEntries(Object.entries(c.listeners).map(([k, v]) => [k, v.tls?.port]));
    assert.deepEqual(tlsPorts, { openwire: 61617, amqp: 5671, stomp: 61612, mqtt: 8883, ws: 61619, admin: 8162, sqs: 9325 });
    assert.equal(c.listeners.stomp.tls?.enabled, true);
    assert.equal(c.listeners.stomp.tls?.requestClientCert, false);
  });

  it('loads YAML, with relative paths resolved against the file', () => {
    const p = file(
      'wharf.yaml',
      `dataDir: ./state
listeners:
  stomp:
    port: 0
    host: 127.0.0.1
    tls: { port: 0, cert: certs/server.crt, key: /abs/server.key }
  mqtt: { enabled: false }
limits:
  maxConnections: 5
destinations:
  - match: orders.>
    kind: queue
    maxRedeliveries: 3
    deadLetterQueue: "DLQ.{name}"
log: { level: debug }
sqs:
  accountId: 000000000000
`,
    );
    const c = loadConfig({ file: p, env: {} });
    assert.equal(c.dataDir, path.join(dir, 'state'));
    assert.equal(c.listeners.stomp.port, 0);
    assert.equal(c.listeners.stomp.host, '127.0.0.1');
    assert.equal(c.listeners.stomp.tls?.cert, path.join(dir, 'certs/server.crt'));
    assert.equal(c.listeners.stomp.tls?.key, '/abs/server.key');
    assert.equal(c.listeners.mqtt.enabled, false);
    assert.equal(c.listeners.mqtt.port, 1883);
    assert.equal(c.limits.maxConnections, 5);
    assert.equal(c.limits.maxFrameSize, 10 * 1024 * 1024);
    assert.deepEqual(c.destinations, [{ match: 'orders.>', kind: 'queue', maxRedeliveries: 3, deadLetterQueue: 'DLQ.{name}' }]);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.sqs.accountId, '000000000000', 'unquoted YAML number is zero-padded back');
  });

  it('loads JSON by extension, and JSON through the YAML parser otherwise', () => {
    const json = JSON.stringify({ listeners: { amqp: { port: 15672 } }, log: { level: 'warn' } });
    assert.equal(loadConfig({ file: file('wharf.json', json), env: {} }).listeners.amqp.port, 15672);
    assert.equal(loadConfig({ file: file('wharf.conf', json), env: {} }).log.level, 'warn');
    assert.deepEqual(problems(() => loadConfig({ file: file('bad.json', '{"a": '), env: {} }))[0].startsWith(`config file ${path.join(dir, 'bad.json')} is not valid JSON`), true);
  });

  it('treats an empty file as defaults and rejects a non-mapping top level', () => {
    assert.equal(loadConfig({ file: file('empty.yaml', ''), env: {} }).listeners.stomp.port, 61613);
    assert.match(problems(() => loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }))[0], /expected a mapping of settings at the top level, got a list/);
  });

  it('reports a missing file and invalid YAML clearly', () => {
    assert.deepEqual(problems(() => loadConfig({ file: path.join(dir, 'nope.yaml'), env: {} })), [`cannot read config file ${path.join(dir, 'nope.yaml')}: file not found`]);
    assert.match(problems(() => loadConfig({ file: file('bad.yaml', 'listeners:\n  stomp: [\n'), env: {} }))[0], /is not valid YAML/);
  });

  it('names each bad key path with the expected value', () => {
    const p = problems(() =>
      parseConfig({
        listeners: { stomp: { port: 'abc' }, amqp: { port: 70000, enabled: 'yes' }, mqtt: { tls: { port: 1 } } },
        limits: { maxFrameSize: 0 },
        log: { level: 'loud' },
        destinations: [{ match: 'orders.>', maxRedeliveries: 'six', limitPolicy: 'explode', extra: 1 }, { kind: 'queue' }],
      }),
    );
    const expect = [
      'listeners.stomp.port: expected a number between 0 and 65535, got "abc"',
      'listeners.amqp.port: expected a number between 0 and 65535, got 70000',
      'listeners.amqp.enabled: expected true or false, got "yes"',
      'listeners.mqtt.tls.cert: required when TLS is enabled: a path to a PEM certificate file',
      'listeners.mqtt.tls.key: required when TLS is enabled: a path to a PEM private key file',
      'limits.maxFrameSize: expected an integer >= 1, got 0',
      'log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'destinations[0].maxRedeliveries: expected an integer >= -1, got "six"',
      'destinations[0].limitPolicy: expected one of block, reject, drop-oldest, got "explode"',
      'destinations[0].extra: unknown key',
      'destinations[1].match: expected a destination name or wildcard pattern, got nothing',
    ];
    for (const e of expect) assert.ok(p.some((x) => x.startsWith(e)), `missing "${e}" in:\n${p.join('\n')}`);
  });

  it('rejects unknown keys, top-level and nested, naming them', () => {
    const p = problems(() => parseConfig({ listners: {}, listeners: { stomp: { prot: 1 }, xmpp: {} }, sqs: { regoin: 'x' } }));
    assert.ok(p.includes('listners: unknown key (expected one of: dataDir, listeners, limits, destinations, composites, virtualTopics, log, store, amqp, mqtt, sqs, security, admin, cluster, resources)'), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('listeners.stomp.prot: unknown key (expected one of: host, port, enabled, tls)')), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('listeners.xmpp: unknown key')), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('sqs.regoin: unknown key')), p.join('\n'));
    // the error message carries every problem
    try {
      parseConfig({ listners: {} });
    } catch (err) {
      assert.match((err as Error).message, /listners: unknown key/);
    }
  });

  it('validates destination patterns', () => {
    assert.match(problems(() => parseConfig({ destinations: [{ match: 'a.>.b' }] }))[0], /^destinations\[0\]\.match: expected a dot-separated name/);
    assert.doesNotThrow(() => parseConfig({ destinations: [{ match: '*.dlq' }, { match: '>' }, { match: 'orders' }] }));
  });

  it('applies environment overrides over the file, and CLI overrides over both', () => {
    const p = file('wharf.yaml', 'dataDir: /from/file\nlisteners:\n  stomp:\n    port: 1234\n  sqs:\n    port: 1\nlog:\n  level: warn\n');
    const env = {
      WHARF_DATA_DIR: '/from/env',
      WHARF_LOG_LEVEL: 'DEBUG',
      WHARF_STOMP_PORT: '0',
      WHARF_STOMP_HOST: '127.0.0.1',
      WHARF_MQTT_ENABLED: 'false',
      WHARF_AMQP_ENABLED: 'no',
      WHARF_OPENWIRE_PORT: '', // empty = unset
      WHARF_WS_PORT: '8080',
    };
    const c = loadConfig({ file: p, env });
    assert.equal(c.dataDir, '/from/env');
    assert.equal(c.log.level, 'debug');
    assert.equal(c.listeners.stomp.port, 0);
    assert.equal(c.listeners.stomp.host, '127.0.0.1');
    assert.equal(c.listeners.mqtt.enabled, false);
    assert.equal(c.listeners.amqp.enabled, false);
    assert.equal(c.listeners.openwire.port, 61616);
    assert.equal(c.listeners.ws.port, 8080);
    assert.equal(c.listeners.sqs.port, 1, 'file value kept where env says nothing');

    const o = loadConfig({ file: p, env, overrides: { dataDir: '/from/cli', log: { level: 'error' }, listeners: { stomp: { port: 5 } } } });
    assert.equal(o.dataDir, '/from/cli');
    assert.equal(o.log.level, 'error');
    assert.equal(o.listeners.stomp.port, 5);
    assert.equal(o.listeners.stomp.host, '127.0.0.1');
  });

  it('uses WHARF_CONFIG when no file is given', () => {
    const p = file('w.yaml', 'listeners: { stomp: { port: 4321 } }');
    assert.equal(loadConfig({ env: { WHARF_CONFIG: p } }).listeners.stomp.port, 4321);
  });

  it('names the environment variable a bad value came from', () => {
    const p = problems(() => loadConfig({ env: { WHARF_STOMP_PORT: 'abc', WHARF_MQTT_ENABLED: 'maybe', WHARF_LOG_LEVEL: 'loud' } }));
    assert.ok(p.includes('listeners.stomp.port: expected a number between 0 and 65535, got "abc" (from WHARF_STOMP_PORT)'), p.join('\n'));
    assert.ok(p.includes('listeners.mqtt.enabled: expected true or false, got "maybe" (from WHARF_MQTT_ENABLED)'), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('log.level: expected one of') && x.endsWith('(from WHARF_LOG_LEVEL)')), p.join('\n'));
  });

  it('TLS env overrides create a tls section that then needs cert and key', () => {
    const p = problems(() => loadConfig({ env: { WHARF_STOMP_TLS_PORT: '0' } }));
    assert.ok(p.some((x) => x.startsWith('listeners.stomp.tls.cert: required when TLS is enabled')), p.join('\n'));
    const f = file('t.yaml', 'listeners: { stomp: { tls: { cert: a.crt, key: a.key } } }');
    const c = loadConfig({ file: f, env: { WHARF_STOMP_TLS_PORT: '0', WHARF_STOMP_TLS_ENABLED: 'true' } });
    assert.equal(c.listeners.stomp.tls?.port, 0);
    assert.equal(loadConfig({ file: f, env: { WHARF_STOMP_TLS_ENABLED: 'off' } }).listeners.stomp.tls?.enabled, false);
  });

  it('requires a CA when client certificates are requested', () => {
    const p = problems(() => parseConfig({ listeners: { mqtt: { tls: { cert: 'a', key: 'b', requireClientCert: true } } } }));
    assert.ok(p.some((x) => x.startsWith('listeners.mqtt.tls.ca: required with requestClientCert')), p.join('\n'));
  });

  it('security.certificates: mode needs a CA on every messaging TLS listener, a pattern must compile, map users are user names', () => {
    const p = problems(() => parseConfig({ listeners: { mqtt: { tls: { cert: 'a', key: 'b' } }, admin: { tls: { cert: 'a', key: 'b' } } }, security: { certificates: { mode: 'required' } } }));
    assert.ok(p.some((x) => x.startsWith('listeners.mqtt.tls.ca: required with security.certificates.mode')), p.join('\n'));
    assert.ok(!p.some((x) => x.startsWith('listeners.admin')), 'the console is not asked for certificates');
    const ok = parseConfig({ listeners: { mqtt: { tls: { cert: 'a', key: 'b' } } }, security: { certificates: { mode: 'optional', ca: 'ca.pem' } } });
    assert.equal(ok.security.certificates?.userFrom, 'cn');
    assert.ok(problems(() => parseConfig({ security: { certificates: { pattern: '(' } } })).some((x) => x.startsWith('security.certificates.pattern: expected a valid regular expression')));
    assert.ok(problems(() => parseConfig({ security: { certificates: { map: [{ subject: 'CN=a', user: 'no spaces allowed' }] } } })).some((x) => x.startsWith('security.certificates.map[0].user')));
  });

  it('validates composites and virtual topics', () => {
    const c = parseConfig({ composites: [{ name: 'orders.all', targets: [{ address: 'queue://big', selector: 'amount > 1' }] }], virtualTopics: { topicPrefix: 'VT.' } });
    assert.equal(c.composites[0].kind, 'queue');
    assert.equal(c.composites[0].forwardOnly, true);
    assert.equal(c.virtualTopics.enabled, true);
    assert.equal(c.virtualTopics.topicPrefix, 'VT.');
    assert.throws(() => parseConfig({ composites: [{ name: 'x', targets: [] }] }), /composites\[0\]\.targets: expected at least one target/);
    assert.throws(() => parseConfig({ composites: [{ name: 'x', targets: [{ address: 'queue://y', selector: 'a >' }] }] }), /composites\[0\]\.targets\[0\]\.selector: invalid JMS selector: /);
  });

  it('lists its environment variables', () => {
    const names = envVarNames();
    for (const n of ['WHARF_CONFIG', 'WHARF_DATA_DIR', 'WHARF_LOG_LEVEL', 'WHARF_STOMP_PORT', 'WHARF_SQS_HOST', 'WHARF_ADMIN_ENABLED', 'WHARF_WS_TLS_PORT']) {
      assert.ok(names.includes(n), n);
    }
  });

  it('parses the example wharf.yaml in docs/configuration.md', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    const m = /## Example `wharf.yaml`\s+```yaml\n([\s\S]*?)```/.exec(doc);
    assert.ok(m, 'example block found');
    const c = loadConfig({ file: file('example.yaml', m[1]), env: {} });
    assert.equal(c.listeners.mqtt.tls?.requestClientCert, true);
    assert.equal(c.listeners.sqs.enabled, false);
    assert.equal(c.destinations.length, 3);
  });

  it('documents every top-level and listener key', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    const c = defaultConfig();
    for (const k of Object.keys(c)) assert.ok(doc.includes(`| \`${k}\` |`), `docs: top-level ${k}`);
    for (const k of [...Object.keys(c.virtualTopics), ...Object.keys(c.limits), ...Object.keys(c.log), ...Object.keys(c.store), ...Object.keys(c.sqs), ...Object.keys(c.amqp), ...Object.keys(c.listeners.stomp)])
      assert.ok(doc.includes(`| \`${k}\` |`), `docs: ${k}`);
    const tls = parseConfig({ listeners: { stomp: { tls: { cert: 'a', key: 'b' } } } }).listeners.stomp.tls!;
    for (const k of Object.keys(tls)) assert.ok(doc.includes(`| \`${k}\` |`), `docs: tls.${k}`);
  });
});
