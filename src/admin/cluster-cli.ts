/**
 * `wharf cluster status|add|remove|transfer-leader`: the Raft view of a node (GET /api/cluster, answered by every node for
 * itself) and leadership transfer (POST /api/cluster/transfer-leader, sent to the leader's admin API as the
 * status names it).
 */
import { Command, InvalidArgumentError } from 'commander';
import { AdminCliError, call, out, printJson, table, withConn, type ConnOpts } from './cli.js';

interface Member {
  id: number;
  self: boolean;
  role: string;
  raft: string;
  match?: number;
  lag?: number;
  replication?: string;
  lastContactMs?: number;
  admin?: string;
}

interface ClusterView {
  enabled: boolean;
  nodeId?: number;
  role: string;
  leader?: number;
  term?: number;
  commitIndex?: number;
  appliedIndex?: number;
  lastIndex?: number;
  serving?: boolean;
  failed?: string;
  members?: Member[];
}

const nodeId = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('expected a node id (an integer >= 1).');
  return Number(v);
};

export function addClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Raft cluster: status, membership, leadership transfer');

  withConn(cluster.command('status'))
    .description("this node's view of the cluster: role, term, commit/applied index, members with lag and last contact")
    .action(async (o: ConnOpts) => {
      const v = (await call(o, 'GET', 'api/cluster')) as ClusterView;
      if (o.json) return printJson(v);
      if (!v.enabled) return out('not a cluster: this broker runs as a single node');
      out(`node ${v.nodeId}: ${v.role}, term ${v.term}, leader ${v.leader || 'none'}, commit ${v.commitIndex}, applied ${v.appliedIndex}, last ${v.lastIndex}, ${v.serving ? 'serving' : 'NOT serving'}`);
      if (v.failed) out(`FAILED: ${v.failed} — this node takes no part until its process is restarted`);
      out(
        table(
          ['id', 'role', 'raft', 'match', 'lag', 'last contact', 'replication'],
          (v.members ?? []).map((m) => [
            `${m.id}${m.self ? '*' : ''}`,
            m.role,
            m.raft,
            m.match,
            m.lag,
            m.self ? '' : m.lastContactMs === undefined ? 'never' : `${(m.lastContactMs / 1000).toFixed(1)} s ago`,
            m.replication,
          ]),
        ),
      );
      if (v.role !== 'leader') out('(match and lag are known on the leader only)');
    });

  /** `o.url`'s node's view, and how to send a leader-only request to the leader's admin API as that node names it. */
  const leaderOf = async (o: ConnOpts) => {
    const v = (await call(o, 'GET', 'api/cluster')) as ClusterView;
    if (!v.enabled) throw new AdminCliError('not a cluster: this broker runs as a single node');
    if (!v.leader) throw new AdminCliError(`node ${v.nodeId} knows no leader right now; try again`);
    const lead = v.members?.find((m) => m.id === v.leader);
    const url = lead?.self ? o.url : lead?.admin;
    const send = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      if (!url) throw new AdminCliError(`the leader's (node ${v.leader}) admin address is unknown`);
      return call({ ...o, url }, method, path, body);
    };
    return { v, send };
  };
  const toLeader = async (o: ConnOpts, method: string, path: string, body?: unknown) => (await leaderOf(o)).send(method, path, body);

  const listenerPort = (v: string, prev: Record<string, number> = {}) => {
    const m = /^([a-z]+(?:-tls)?)=(\d+)$/.exec(v);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError('expected <listener>=<port>, e.g. stomp=61613.');
    return { ...prev, [m[1]!]: Number(m[2]) };
  };

  withConn(cluster.command('add'))
    .description('add a node (started with cluster.join: true) as a learner; the leader makes it a voter once it has caught up')
    .argument('<node>', 'the new node id', nodeId)
    .requiredOption('--host <host>', "the new node's Raft host")
    .option('--port <port>', "the new node's Raft port", (v) => nodeId(v), 7800)
    .option('--client-host <host>', 'where followers forward its clients (default: --host)')
    .option('--listener <name=port>', "one of its client listener ports, e.g. stomp=61613 (repeatable; default: the leader's own ports)", listenerPort)
    .action(async (id: number, o: ConnOpts & { host: string; port: number; clientHost?: string; listener?: Record<string, number> }) => {
      await toLeader(o, 'POST', 'api/cluster/members', { id, host: o.host, port: o.port, clientHost: o.clientHost, listeners: o.listener ?? {} });
      const t0 = Date.now();
      while (Date.now() - t0 < 60_000) {
        const v = (await call(o, 'GET', 'api/cluster').catch(() => undefined)) as (ClusterView & { learners?: number[] }) | undefined;
        const m = v?.members?.find((x) => x.id === id);
        if (m && m.role !== 'learner' && !v?.learners?.includes(id)) return out(`node ${id} is a voter`);
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new AdminCliError(`node ${id} was added as a learner but has not caught up within 60 s (is it running with cluster.join: true, and reachable?)`);
    });

  withConn(cluster.command('remove'))
    .description('remove a node from the membership (stop its process afterwards)')
    .argument('<node>', 'the node id', nodeId)
    .action(async (id: number, o: ConnOpts) => {
      await toLeader(o, 'DELETE', `api/cluster/members/${id}`);
      out(`node ${id} removed`);
    });

  withConn(cluster.command('transfer-leader'))
    .description('hand leadership to another voter (rolling restarts); waits until it leads')
    .argument('<node>', 'the node id to lead next', nodeId)
    .action(async (to: number, o: ConnOpts) => {
      const { v, send } = await leaderOf(o);
      if (v.leader === to) return out(`node ${to} already leads`);
      await send('POST', 'api/cluster/transfer-leader', { to });
      const t0 = Date.now();
      while (Date.now() - t0 < 10_000) {
        const now = (await call(o, 'GET', 'api/cluster').catch(() => undefined)) as ClusterView | undefined;
        if (now?.leader === to) return out(`node ${to} leads (term ${now.term})`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new AdminCliError(`node ${to} did not take over within 10 s (is it caught up and reachable?)`);
    });
}
