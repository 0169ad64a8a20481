/** The `cluster:` configuration section: the shipped examples parse, env overrides apply, mistakes are named. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/app/config.js';
import { repoRoot } from '../helpers/paths.js';

const peers = [
  { id: 1, host: '10.0.0.1' },
  { id: 2, host: '10.0.0.2' },
  { id: 3, host: '10.0.0.3' },
];

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config: cluster section', () => {
  it('parses the three examples/cluster configs, each naming itself among the same peers', () => {
    for (const i of [1, 2, 3]) {
      const c = loadConfig({ file: path.join(repoRoot, 'examples', 'cluster', `node${i}.yaml`), env: {} });
      assert.equal(c.cluster?.nodeId, i);
      assert.deepEqual(c.cluster?.peers.map((p) => [p.id, p.port, p.listeners.stomp]), [
        [1, 7800, 61613],
        [2, 7801, 61623],
        [3, 7802, 61633],
      ]);
      assert.equal(c.listeners.stomp.port, 61613 + 10 * (i - 1));
      assert.equal(c.dataDir, path.join(repoRoot, 'examples', 'cluster', 'data', `n${i}`));
    }
  });

  it('fills in defaults: Raft port 7800, 50 ms ticks, election after 10 ticks, heartbeat every tick', () => {
    const c = parseConfig({ cluster: { nodeId: 2, secret: 'a-secret-of-16-chars', peers } }).cluster!;
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, undefined);
    assert.deepEqual(c.peers.map((p) => p.port), [7800, 7800, 7800]);
    assert.deepEqual([c.tickMs, c.electionTicks, c.heartbeatTicks, c.snapshotEntries], [50, 10, 1, 10_000]);
  });

  it('takes the per-node settings from WHARF_CLUSTER_* variables', () => {
    const c = loadConfig({
      env: { WHARF_CLUSTER_NODE_ID: '3', WHARF_CLUSTER_SECRET: 'from-the-environment-0123', WHARF_CLUSTER_HOST: '10.0.0.3', WHARF_CLUSTER_PORT: '7900' },
      overrides: { cluster: { peers } } as never,
    }).cluster!;
    assert.deepEqual([c.nodeId, c.secret, c.host, c.port], [3, 'from-the-environment-0123', '10.0.0.3', 7900]);
  });

  it('names the mistakes: node id not among the peers, short secret, duplicate ids, unknown listener', () => {
    const p = problems({
      cluster: { nodeId: 4, secret: 'short', peers: [...peers, { id: 1, host: 'x', listeners: { xmpp: 5222 } }] },
    });
    assert.ok(p.some((x) => x.startsWith('cluster.secret: expected a secret of at least 16 characters')), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('cluster.peers[3].listeners')), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith('cluster.peers: peer ids must be unique')), p.join('\n'));
    assert.ok(p.some((x) => x.startsWith("cluster.nodeId: expected one of the peers' ids (1, 2, 3, 1)")), p.join('\n'));
  });
});
