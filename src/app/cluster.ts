/**
 * The cluster side of `wharf start` with a `cluster:` section: the Raft transport, the replicated node (Raft log
 * + replicated state store under the data directory), the follower's connection forwarding, and the status the
 * admin API shows. The Broker (broker.ts) opens its engine on the node's ReplicatedStore whenever this node
 * becomes leader and closes it when it stops leading.
 */
import type { Logger } from 'pino';
import type net from 'node:net';
import type { ClusterConfig, BrokerConfig } from './config.js';
import { ConfigError, LISTENER_NAMES } from './config.js';
import { readFileSync } from 'node:fs';
import { MEMBER_KEY_PREFIX, ReplicatedNode, ReplicatedStore } from '../../cluster/replicated-store.js';
import { TcpTransport, type PeerAddress } from '../../cluster/transport/tcp.js';
import type { Transport } from '../../cluster/transport/transport.js';
import type { Message, NodeId, SoftState } from '../../cluster/raft/index.js';
import { Forwarder, type ForwardTarget } from '../../cluster/forward.js';
import { encodeProxyHeader, readProxyHeader, setPeerAddress } from '../../cluster/proxy-header.js';
import type { ConnectionInterceptor } from '../transport/intercept.js';
import { diskAlarm, filesystem, minFreeDiskFor } from './resources.js';

/**
 * A member's resource report to the leader, beside the Raft messages on the same authenticated links (never
 * handed to the Raft core). `disk`: why its disk alarm is up, or null.
 */
interface MemberReport {
  type: 'nodeStatus';
  from: NodeId;
  to: NodeId;
  term: 0;
  disk: string | null;
}

/** Records when each peer was last heard from (for `lastContact` in the status); takes members' reports aside. */
class ObservedTransport implements Transport {
  readonly lastHeard = new Map<NodeId, number>();
  onReport: (r: MemberReport) => void = () => undefined;
  constructor(readonly inner: TcpTransport) {}
  send(to: NodeId, msg: Message): void {
    this.inner.send(to, msg);
  }
  report(r: MemberReport): void {
    this.inner.send(r.to, r as unknown as Message);
  }
  onMessage(handler: (msg: Message) => void): void {
    this.inner.onMessage((m) => {
      this.lastHeard.set(m.from, Date.now());
      if ((m as { type: string }).type === 'nodeStatus') this.onReport(m as unknown as MemberReport);
      else handler(m);
    });
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface ClusterMemberStatus {
  id: NodeId;
  self: boolean;
  role: string;
  raft: string;
  /** Leader only: highest log index known to be on that member, and how far behind the leader's log it is. */
  match?: number;
  lag?: number;
  replication?: string;
  /** Milliseconds since this node last heard from the member (undefined: never). */
  lastContactMs?: number;
  /** The member's admin API, where `wharf cluster` sends leader-only commands. */
  admin?: string;
}

export interface ClusterStatus {
  enabled: true;
  nodeId: NodeId;
  role: string;
  leader: NodeId;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  /** This node serves clients itself (leader with its engine open) or can forward them (a leader is known). */
  serving: boolean;
  /** Why this node stopped taking part, if it did (restart it once the cause is fixed). */
  failed?: string;
  /** This node's disk alarm (free space under resources.minFreeDisk); on any member it blocks publishers cluster-wide. */
  diskAlarm?: string;
  members: ClusterMemberStatus[];
  /** The members in the shape the console's cluster page reads (id, role, state, self). */
  nodes: (ClusterMemberStatus & { state: string })[];
  learners: NodeId[];
}

/** A member's addresses: from `cluster.peers`, or from the `wharf cluster add` that added it (replicated). */
export interface MemberAddress {
  id: NodeId;
  host: string;
  port: number;
  clientHost?: string;
  listeners?: Partial<Record<string, number>>;
}

function parseMember(id: NodeId, context: unknown): MemberAddress | undefined {
  try {
    const v = JSON.parse(String(context)) as MemberAddress;
    if (typeof v.host !== 'string' || typeof v.port !== 'number') return undefined;
    return { id, host: v.host, port: v.port, clientHost: v.clientHost, listeners: v.listeners ?? {} };
  } catch {
    return undefined;
  }
}

export class ClusterRuntime {
  readonly forwarder = new Forwarder();
  /** Every member's addresses, by id: the configured peers, overridden by what membership changes carried. */
  private readonly book = new Map<NodeId, MemberAddress>();
  private promoter: NodeJS.Timeout | undefined;
  private readonly roleListeners: ((s: SoftState) => void)[] = [];
  private soft: SoftState = { lead: 0, role: 'follower' };
  /** Set by the broker while its engine is open on this node. */
  engineOpen = false;
  /** Leader: the disk alarms members reported, with when (a member silent for a while no longer counts). */
  private readonly memberDisk = new Map<NodeId, { reason: string; at: number }>();
  private diskTimer: NodeJS.Timeout | undefined;
  /** This node's own disk alarm, as last checked (followers report it to the leader). */
  private ownDisk: string | null = null;

  private constructor(
    readonly cfg: ClusterConfig,
    private readonly config: BrokerConfig,
    readonly node: ReplicatedNode,
    private readonly transport: ObservedTransport,
    private readonly logger: Logger,
    private readonly dataDir: string,
  ) {
    for (const p of cfg.peers) this.book.set(p.id, { id: p.id, host: p.host, port: p.port, clientHost: p.clientHost, listeners: p.listeners });
    for (const [k, v] of node.state.recovery().kv) {
      if (!k.startsWith(MEMBER_KEY_PREFIX)) continue;
      const m = parseMember(Number(k.slice(MEMBER_KEY_PREFIX.length)), v);
      if (m) this.learn(m);
    }
    node.onConfChange((r) => {
      if (r.change.type === 'removeNode' || r.change.context === undefined) return;
      const m = parseMember(r.change.node, r.change.context);
      if (m) this.learn(m);
    });
    // The leader promotes a learner (added by `wharf cluster add`) to voter once it has caught up.
    this.promoter = setInterval(() => this.promoteCaughtUp(), 250);
    this.promoter.unref();
    node.onRoleChange((s) => this.roleChanged(s));
    transport.onReport = (r) => this.memberReported(r);
    const every = Math.max(100, config.resources.checkInterval);
    this.diskTimer = setInterval(() => this.checkDisk(), every);
    this.diskTimer.unref();
    this.checkDisk();
    node.onFailure((err) => {
      // The node no longer takes part (e.g. its disk is full): this process cannot serve until it is restarted.
      this.logger.fatal({ err: err.message }, `cluster node ${cfg.nodeId} stopped: ${err.message} — fix the cause and restart this process; the other nodes go on without it`);
      this.forwarder.closeAll();
      for (const l of this.roleListeners) l({ lead: 0, role: 'follower' });
    });
  }

  static async start(config: BrokerConfig, dataDir: string, logger: Logger): Promise<ClusterRuntime> {
    const cfg = config.cluster!;
    const self = cfg.peers.find((p) => p.id === cfg.nodeId)!;
    const peers = new Map<NodeId, PeerAddress>();
    for (const p of cfg.peers) if (p.id !== cfg.nodeId) peers.set(p.id, { host: p.host, port: p.port });
    const raftLog = logger.child({ component: 'raft' });
    const read = (what: string, file: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new ConfigError([`cluster.tls.${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
      }
    };
    const tls = cfg.tls ? { cert: read('cert', cfg.tls.cert), key: read('key', cfg.tls.key), ca: cfg.tls.ca ? read('ca', cfg.tls.ca) : undefined } : undefined;
    const tcp = await TcpTransport.listen({
      id: cfg.nodeId,
      secret: cfg.secret,
      host: cfg.host,
      port: cfg.port ?? self.port,
      peers,
      tls,
      logger: (line) => raftLog.debug(line),
    });
    const transport = new ObservedTransport(tcp);
    try {
      const node = await ReplicatedNode.start({
        id: cfg.nodeId,
        peers: cfg.peers.map((p) => p.id),
        dir: dataDir,
        transport,
        tickMs: cfg.tickMs,
        electionTick: cfg.electionTicks,
        heartbeatTick: cfg.heartbeatTicks,
        snapshotEntries: cfg.snapshotEntries,
        join: cfg.join,
        logger: (line) => raftLog.info(line),
        // Tests only (kill -9 of a leader whose followers committed what its own slow write has not written yet).
        testLeaderWriteDelayMs: Number(process.env.WHARF_TEST_LEADER_WRITE_DELAY_MS) || undefined,
      });
      logger.info({ nodeId: cfg.nodeId, raft: `${cfg.host}:${tcp.port}`, peers: cfg.peers.map((p) => p.id) }, `cluster node ${cfg.nodeId}: Raft on ${cfg.host}:${tcp.port}`);
      return new ClusterRuntime(cfg, config, node, transport, logger, dataDir);
    } catch (err) {
      await tcp.close();
      throw err;
    }
  }

  get id(): NodeId {
    return this.cfg.nodeId;
  }
  get leader(): NodeId {
    return this.node.running ? this.node.leader : 0;
  }
  get isLeader(): boolean {
    return this.node.isLeader;
  }
  get raftPort(): number {
    return this.transport.inner.port;
  }

  /** A fresh Store port for an engine on this node (leader only: commits elsewhere reject with the leader's id). */
  openStore(): ReplicatedStore {
    return new ReplicatedStore(this.node);
  }

  onRoleChange(l: (s: SoftState) => void): void {
    this.roleListeners.push(l);
  }

  private roleChanged(s: SoftState): void {
    const prev = this.soft;
    this.soft = s;
    if (prev.lead !== s.lead) {
      // Forwarded connections go to the old leader: end them so their clients reconnect to the new one.
      if (this.forwarder.active > 0) this.logger.info({ forwarded: this.forwarder.active }, 'leader changed: closing forwarded connections');
      this.forwarder.closeAll();
      this.logger.info({ leader: s.lead, role: s.role, term: this.node.status().term }, s.lead ? `cluster: node ${s.lead} leads (this node: ${s.role})` : `cluster: no leader (this node: ${s.role})`);
    }
    for (const l of this.roleListeners) l(s);
  }

  /** Where a client of listener `key` (`stomp`, `stomp-tls`, `sqs`, …) is forwarded to on node `id`. */
  clientTarget(id: NodeId, key: string): ForwardTarget | undefined {
    const p = this.book.get(id);
    if (!p) return undefined;
    const port = (p.listeners ?? {})[key] ?? this.ownPort(key);
    if (!port) return undefined;
    return { host: p.clientHost ?? p.host, port };
  }

  private ownPort(key: string): number | undefined {
    const [name, tls] = key.split('-');
    if (!(LISTENER_NAMES as readonly string[]).includes(name!)) return undefined;
    const lc = this.config.listeners[name as (typeof LISTENER_NAMES)[number]];
    return tls ? lc.tls?.port : lc.port;
  }

  /**
   * The hook for listener `key`: on a follower with a known leader, pipe the connection to the leader behind a
   * PROXY v2 header naming the client (cluster/proxy-header.ts); with no leader, refuse it (the client retries).
   * On the leader, read such a header if the connection starts with one (only a cluster member can write one
   * that verifies), make the socket report the client's address, then let the listener serve it.
   */
  interceptor(key: string): ConnectionInterceptor {
    return (socket: net.Socket, serve: () => void) => {
      if (this.node.isLeader) {
        readProxyHeader(socket, this.secret, (r) => {
          if (r.error) {
            this.logger.warn({ remote: socket.remoteAddress, listener: key, reason: r.error }, `refused a connection on ${key}: ${r.error}`);
            socket.destroy();
            return;
          }
          if (r.client && !setPeerAddress(socket, r.client)) {
            this.logger.warn({ remote: socket.remoteAddress, client: r.client }, 'cannot set a forwarded connection\'s client address on this Node version: it shows the follower\'s');
          }
          if (!socket.destroyed) serve();
        });
        return true;
      }
      const lead = this.leader;
      const target = lead && lead !== this.id ? this.clientTarget(lead, key) : undefined;
      if (!target || socket.remoteAddress === undefined) {
        socket.destroy();
        return true;
      }
      let header: Buffer | undefined;
      try {
        header = encodeProxyHeader(
          { address: socket.remoteAddress, port: socket.remotePort ?? 0, family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' },
          { address: socket.localAddress ?? '0.0.0.0', port: socket.localPort ?? 0, family: socket.localFamily === 'IPv6' ? 'IPv6' : 'IPv4' },
          this.secret,
        );
      } catch (err) {
        this.logger.warn({ remote: socket.remoteAddress, err: (err as Error).message }, 'forwarding without the client address');
      }
      this.forwarder.forward(socket, target, header);
      return true;
    };
  }

  /** Key of the PROXY headers' MAC (the cluster secret). */
  private get secret(): Buffer {
    return Buffer.from(this.cfg.secret, 'utf8');
  }

  /** Ready to serve clients: the leader with its engine open, or a follower that knows a leader to forward to. */
  get ready(): boolean {
    if (!this.node.running) return false;
    if (this.node.isLeader) return this.engineOpen;
    return this.leader !== 0 && this.leader !== this.id;
  }

  status(): ClusterStatus {
    const st = this.node.status();
    const now = Date.now();
    const members: ClusterMemberStatus[] = [];
    const ids = [...st.conf.voters, ...st.conf.learners];
    for (const id of ids) {
      const peer = this.book.get(id);
      const pr = this.node.raw.raft.prs.get(id);
      const heard = this.transport.lastHeard.get(id);
      const m: ClusterMemberStatus = {
        id,
        self: id === this.id,
        role: id === st.lead ? 'leader' : st.conf.learners.includes(id) ? 'learner' : 'follower',
        raft: peer ? `${peer.host}:${peer.port}` : '?',
      };
      const admin = this.clientTarget(id, 'admin');
      if (admin) m.admin = `http://${admin.host}:${admin.port}`;
      if (st.role === 'leader') {
        m.match = id === this.id ? st.lastIndex : (pr?.match ?? 0);
        m.lag = Math.max(0, st.lastIndex - m.match);
        if (pr && id !== this.id) m.replication = pr.toString();
      }
      if (id !== this.id && heard !== undefined) m.lastContactMs = now - heard;
      members.push(m);
    }
    return {
      enabled: true,
      nodeId: this.id,
      role: st.role,
      leader: st.lead,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: this.node.appliedIndex,
      lastIndex: st.lastIndex,
      serving: this.ready,
      ...(this.node.error ? { failed: this.node.error.message } : {}),
      ...(this.ownDisk ? { diskAlarm: this.ownDisk } : {}),
      members,
      nodes: members.map((m) => ({
        ...m,
        state: m.self ? (this.ready ? 'serving' : 'not serving') : m.lastContactMs === undefined ? 'never heard from' : m.lastContactMs > 2000 ? `silent for ${Math.round(m.lastContactMs / 1000)} s` : m.lag !== undefined ? `lag ${m.lag}` : 'ok',
      })),
      learners: [...st.conf.learners],
    };
  }

  private learn(m: MemberAddress): void {
    this.book.set(m.id, m);
    if (m.id !== this.id) this.transport.inner.setPeer(m.id, { host: m.host, port: m.port });
  }

  /**
   * Leader only: add node `m.id` as a learner (it receives the log but does not vote); it is promoted to voter once
   * it has caught up. Its addresses travel with the change, so every member (and every later one) knows them.
   */
  async addMember(m: MemberAddress): Promise<void> {
    this.learn(m);
    const context = JSON.stringify({ host: m.host, port: m.port, clientHost: m.clientHost, listeners: m.listeners ?? {} });
    await this.node.proposeConfChange({ type: 'addLearner', node: m.id, context });
    this.logger.info({ member: m }, `cluster: node ${m.id} added as a learner; it becomes a voter once caught up`);
  }

  /** Leader only: remove node `id` from the membership (a voter or a learner). */
  async removeMember(id: NodeId): Promise<void> {
    await this.node.proposeConfChange({ type: 'removeNode', node: id });
    this.logger.info({ member: id }, `cluster: node ${id} removed`);
  }

  private promoteCaughtUp(): void {
    if (!this.node.isLeader) return;
    const st = this.node.status();
    for (const id of st.conf.learners) {
      const pr = this.node.raw.raft.prs.get(id);
      if (!pr || pr.match + 100 < st.commit) continue; // within 100 entries: it keeps up
      this.node.proposeConfChange({ type: 'promoteLearner', node: id }).then(
        () => this.logger.info(`cluster: node ${id} caught up and is now a voter`),
        () => undefined, // another change pending, or leadership lost: the next round tries again
      );
      return; // one change at a time
    }
  }

  /** Leader only: hand leadership to `to` (`wharf cluster transfer-leader`). */
  transferLeadership(to: NodeId): void {
    this.node.transferLeadership(to);
  }

  /**
   * On a graceful stop of the leader: hand leadership to the most caught-up voter first, so clients see one
   * reconnect instead of an election timeout. Gives up after an election timeout.
   */
  async handOff(): Promise<void> {
    if (!this.node.isLeader) return;
    const st = this.node.status();
    let best: NodeId = 0;
    let bestMatch = -1;
    for (const id of st.conf.voters) {
      const m = this.node.raw.raft.prs.get(id)?.match ?? -1;
      if (id !== this.id && m > bestMatch) [best, bestMatch] = [id, m];
    }
    if (!best) return;
    try {
      this.node.transferLeadership(best);
    } catch {
      return;
    }
    this.logger.info({ to: best }, `cluster: stopping; handing leadership to node ${best}`);
    const deadline = Date.now() + 2 * this.cfg.electionTicks * this.cfg.tickMs;
    while (this.node.isLeader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Every node checks its own disk; a follower reports the result to the leader each round (so a new leader
   * learns it within one round, and a member that stops reporting stops counting after a few).
   */
  private checkDisk(): void {
    const fsInfo = filesystem(this.dataDir);
    const reason = fsInfo ? diskAlarm(fsInfo, minFreeDiskFor(this.config.resources, fsInfo)) : null;
    if (reason !== this.ownDisk) {
      if (reason) this.logger.warn({ reason }, `cluster node ${this.id}: disk alarm: ${reason}`);
      else this.logger.info(`cluster node ${this.id}: disk alarm cleared`);
    }
    this.ownDisk = reason;
    const lead = this.leader;
    if (lead && lead !== this.id) this.transport.report({ type: 'nodeStatus', from: this.id, to: lead, term: 0, disk: reason });
  }

  private memberReported(r: MemberReport): void {
    if (typeof r.from !== 'number' || r.from === this.id) return;
    if (typeof r.disk === 'string' && r.disk !== '') {
      if (!this.memberDisk.has(r.from)) this.logger.warn({ member: r.from, reason: r.disk }, `cluster: node ${r.from} reports its disk alarm; publishers are blocked cluster-wide`);
      this.memberDisk.set(r.from, { reason: r.disk, at: Date.now() });
    } else if (this.memberDisk.delete(r.from)) {
      this.logger.info({ member: r.from }, `cluster: node ${r.from} disk alarm cleared`);
    }
  }

  /**
   * Leader: why another member's disk is low, or null. Every member stores every message, so (as RabbitMQ's disk
   * alarm does) one member short of disk blocks publishers everywhere, rather than letting that member fall
   * behind until it fails. A report older than three rounds is dropped: a member that is down blocks nothing.
   */
  peerDiskAlarm(): string | null {
    const stale = Date.now() - 3 * Math.max(100, this.config.resources.checkInterval) - 1000;
    const out: string[] = [];
    for (const [id, r] of this.memberDisk) {
      if (r.at < stale) this.memberDisk.delete(id);
      else out.push(`node ${id}: ${r.reason}`);
    }
    return out.length ? out.sort().join('; ') : null;
  }

  /** This node's own disk alarm (null: enough free space). */
  get diskAlarm(): string | null {
    return this.ownDisk;
  }

  async stop(): Promise<void> {
    if (this.diskTimer) clearInterval(this.diskTimer);
    if (this.promoter) clearInterval(this.promoter);
    this.forwarder.closeAll();
    await this.node.stop();
  }
}
