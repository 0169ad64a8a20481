/**
 * "Closed by default" under ACLs, with clients no one here wrote: what a user without a right must not get around
 * the ACL by a side door. MQTT with Debian's python3-paho-mqtt (retained messages through a wildcard, wills), checked
 * against mosquitto 2.0 with an acl_file (it behaves the same: retained messages are filtered per topic, a will to a
 * topic its client may not write is dropped). Each refusal is audited, and the connection goes on.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { hashPassword } from '../../src/core/api.js';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { DEBIAN_PYTHON, need, run, testSource } from '../helpers/external.js';

const PAHO_ACL = testSource('security', 'py', 'paho_acl.py');
const USERS = ['publisher', 'fan', 'reader', 'writer', 'plain'] as const;

type Ports = RunningBroker & { mqtt: number; openwire: number };

interface AuditLine {
  audit?: boolean;
  event?: string;
  user?: string;
  action?: string;
  destination?: string;
}

async function paho(b: Ports, scenario: string, version: '311' | '5', tag: string): Promise<{ connack?: number; granted?: unknown; received: Array<[string, string, boolean]> }> {
  const { stdout } = await run(DEBIAN_PYTHON, [PAHO_ACL, scenario, '127.0.0.1', String(b.mqtt), version, tag], 60_000);
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as { connack?: number; granted?: unknown; received: Array<[string, string, boolean]> };
}

describe('security: closed by default (paho-mqtt, ActiveMQ JMS client)', function () {
  this.timeout(120_000);
  let b: Ports;
  const lines: string[] = [];
  const audit = () => lines.map((l) => JSON.parse(l) as AuditLine).filter((e) => e.audit === true);

  before(async () => {
    need(DEBIAN_PYTHON, 'python3');
    const hashes = await Promise.all(USERS.map((u) => hashPassword(`${u}-pw`)));
    const r = await runBroker({
      name: 'closed-by-default',
      config: {
        security: {
          users: USERS.map((username, i) => ({ username, passwordHash: hashes[i]!, groups: [] })),
          acl: [
            { match: '>', read: ['publisher'], write: ['publisher'], admin: ['publisher'] },
            { match: 'news.sports.>', kind: 'topic', read: ['fan'] },
            { match: 'orders.>', read: ['reader'] },
            { match: 'orders.>', write: ['writer'] },
            { match: 'svc.>', kind: 'queue', write: ['*'] },
          ],
        },
        listeners: { mqtt: { host: '127.0.0.1', port: 0 }, openwire: { host: '127.0.0.1', port: 0 } },
      },
      logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
      modules: () => ({ protocols: defaultProtocols, http: defaultHttp }),
    });
    b = withPorts(r, { mqtt: 'mqtt', openwire: 'openwire' });
  });
  after(async () => {
    await b?.close();
  });

  for (const version of ['311', '5'] as const) {
    describe(`MQTT ${version === '5' ? '5' : '3.1.1'} (paho)`, () => {
      it('a `#` subscriber gets only the retained (and live) messages of topics it may read', async () => {
        const tag = `ret${version}`;
        const r = await paho(b, 'retained', version, tag);
        assert.equal(r.connack, 0);
        // both filters are accepted (the user may read something under them), as mosquitto does
        assert.deepEqual(r.granted, [[1], [1]]);
        // (`#` also finds the other tests' retained sports messages on this broker: readable too)
        const unreadable = r.received.filter(([t]) => !t.startsWith('news/sports/'));
        assert.deepEqual(unreadable, [], JSON.stringify(r.received));
        assert.ok(r.received.some(([, body, retained]) => body === `retained news/sports/${tag}` && retained), JSON.stringify(r.received));
        assert.ok(r.received.some(([, body]) => body === `live news/sports/${tag}`), JSON.stringify(r.received));
      });

      it('a will to a topic its user may not write is dropped (the CONNECT is accepted); the denial is audited', async () => {
        const tag = `will${version}`;
        const r = await paho(b, 'will', version, tag);
        assert.equal(r.connack, 0);
        // the control will (a user who may write) arrives; the reader's does not
        assert.deepEqual(r.received.map(([t, body]) => [t, body]), [[`news/sports/${tag}/control`, 'will-of-publisher']]);
        assert.ok(audit().some((e) => e.event === 'denied' && e.user === 'reader' && e.action === 'send' && e.destination === `topic://news.sports.${tag}.will`), 'audit line for the will');
      });
    });
  }
});
