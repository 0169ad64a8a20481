/**
 * Composition root: config → store → engine → adapters → listeners. The only module that knows every part.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { Engine } from '../core/engine.js';
import type { BrokerConfig, ListenerConfig, ListenerName, TlsConfig } from './config.js';
import { LISTENER_NAMES } from './config.js';
import { createLogger } from './log.js';
import { defaultHttp, defaultProtocols, moduleOptions, webSocketMessageLimit, type SharedServices } from './modules.js';
import { DefinitionsRegistry } from '../admin/definitions-port.js';
import { registerAdapterDefinitions } from './definitions-sections.js';
import { LmdbStore } from '../../storage/lmdb/lmdb-store.js';
import { mkdirs } from '../../storage/mkdirs.js';
import { listenHttp } from '../transport/http.js';
import { listenStream, type Listener } from '../transport/tcp.js';
import type { TlsFiles } from '../transport/tls-files.js';
import type { AdapterContext, BrokerStatus, ConnectionLimits, HttpHandler, HttpModule, ProtocolModule, StreamAdapter } from '../transport/types.js';
import { listenWebSocket, type WebSocketRoute } from '../transport/websocket.js';
import { ConnectionGovernor } from '../transport/governor.js';
import { ResourceMonitor } from './resources.js';
import { UserSecurity } from '../core/security.js';
import type { Store } from '../core/store.js';
import { ClusterRuntime } from './cluster.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopback, verifyPassword } from '../core/passwords.js';

/** An open engine with the adapters created on it. */
interface Serving {
  engine: Engine;
  monitor: ResourceMonitor;
  streams: Map<string, StreamAdapter>;
  http: Map<string, HttpHandler>;
  adapters: { name: string; close(): Promise<void> }[];
}

export interface BrokerModules {
  /** Stream protocols; default `defaultProtocols` from src/modules.ts. */
  protocols?: ProtocolModule[];
  /** HTTP modules (`sqs`, `admin`); default `defaultHttp`. */
  http?: HttpModule[];
  /** Default: a pino logger on stdout at `config.log.level`. */
  logger?: Logger;
  /** How long stop() lets adapters close their connections gracefully before destroying them, ms. Default 10 s. */
  shutdownTimeout?: number;
}

/** The data directory cannot be created or written. */
export class DataDirError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataDirError';
  }
}

type State = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

export class Broker {
  readonly logger: Logger;
  private readonly protocols: ProtocolModule[];
  private readonly httpModules: HttpModule[];
  private readonly shutdownTimeout: number;
  private state: State = 'new';
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private store?: LmdbStore;
  /** The engine and adapters serving clients now (single node: always once started; cluster: while leading). */
  private serving?: Serving;
  private cluster?: ClusterRuntime;
  private roleWork: Promise<void> = Promise.resolve();
  private readonly listeners = new Map<string, Listener>();
  private readonly governor: ConnectionGovernor;
  private readonly status: BrokerStatus;

  constructor(readonly config: BrokerConfig, modules: BrokerModules = {}) {
    this.logger = modules.logger ?? createLogger({ level: config.log.level, format: config.log.format });
    this.protocols = modules.protocols ?? defaultProtocols;
    this.httpModules = modules.http ?? defaultHttp;
    this.shutdownTimeout = modules.shutdownTimeout ?? 10_000;
    this.governor = new ConnectionGovernor({ maxTotal: config.limits.maxConnectionsTotal, maxPerAddress: config.limits.maxConnectionsPerAddress }, this.logger.child({ component: 'limits' }));
    this.status = {
      state: () => this.state,
      listeners: () => this.listenerAddresses(),
      startedAt: Date.now(),
      connectionRefusals: () => ({ ...this.governor.refused }),
      clusterStatus: () => this.cluster?.status(),
      clusterReady: () => this.cluster?.ready,
      addClusterMember: (m) => {
        if (!this.cluster) return Promise.reject(new Error('not a cluster node'));
        return this.cluster.addMember(m);
      },
      removeClusterMember: (id) => {
        if (!this.cluster) return Promise.reject(new Error('not a cluster node'));
        return this.cluster.removeMember(id);
      },
      transferLeadership: (to) => {
        if (!this.cluster) throw new Error('not a cluster node');
        this.cluster.transferLeadership(to);
      },
    };
  }

  /** The engine; available once start() has opened the store. */
  get engine(): Engine {
    if (!this.serving) throw new Error(this.cluster ? 'Broker: the engine is open only while this cluster node leads' : 'Broker: the engine exists only after start()');
    return this.serving.engine;
  }

  /** The cluster node (with a `cluster:` section). */
  get clusterRuntime(): ClusterRuntime | undefined {
    return this.cluster;
  }

  /** Bound address of every running listener: `{ stomp: {...}, 'stomp-tls': {...}, ws: {...} }`. */
  listenerAddresses(): Record<string, { host: string; port: number }> {
    const out: Record<string, { host: string; port: number }> = {};
    for (const [name, l] of this.listeners) out[name] = l.address();
    return out;
  }

  start(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return Promise.reject(new Error('Broker: cannot start a stopped broker'));
    this.starting ??= (async () => {
      this.state = 'starting';
      try {
        await this.doStart();
        this.state = 'started';
      } catch (err) {
        await this.shutdown().catch((e) => this.logger.error({ err: e }, 'cleanup after failed start failed'));
        this.state = 'stopped';
        throw err;
      }
    })();
    return this.starting;
  }

  /** Stop accepting, close adapters (and their connections), stop the engine, close the store. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.starting) await this.starting.catch(() => undefined);
      if (this.state === 'stopped' || this.state === 'new') {
        this.state = 'stopped';
        return;
      }
      this.state = 'stopping';
      await this.shutdown();
      this.state = 'stopped';
      this.logger.info('broker stopped');
    })();
    return this.stopping;
  }

  // ---------------------------------------------------------------------------------------------------

  private async doStart(): Promise<void> {
    const { config, logger } = this;
    const dataDir = path.resolve(config.dataDir);
    prepareDataDir(dataDir);
    if (config.store.noSync) {
      logger.warn('store.noSync is ON: commits are not fsync\'d and acknowledged messages WILL be lost on a crash or power failure — use it for benchmarks only');
    }
    if (config.cluster) {
      // Cluster: the engine runs only while this node leads (openServing on the replicated store, see onRole).
      this.cluster = await ClusterRuntime.start(config, dataDir, logger.child({ component: 'cluster' }));
      this.cluster.onRoleChange(() => this.onRole());
    } else {
      this.store = new LmdbStore({ path: path.join(dataDir, 'store'), noSync: config.store.noSync, journal: config.store.journal });
      this.serving = await this.openServing(this.store);
    }
    await this.bindListeners();
    logger.info({ listeners: this.listenerAddresses(), ...(this.cluster ? { nodeId: this.cluster.id, raftPort: this.cluster.raftPort } : {}) }, 'broker started');
    logger.info({ summary: true }, startupSummary(this.listenerAddresses(), config));
    if (this.cluster) this.onRole();
  }

  /** The modules this configuration serves: stream protocols with a listener (or WebSocket), HTTP modules by listener key. */
  private servedModules(): { streams: ProtocolModule[]; http: Map<string, HttpModule> } {
    const { config } = this;
    const streams = this.protocols.filter((mod) => {
      const lc = config.listeners[mod.name];
      return lc.enabled || lc.tls?.enabled || (mod.wsSubprotocols.length > 0 && wsEnabled(config));
    });
    const http = new Map<string, HttpModule>();
    for (const mod of this.httpModules) {
      const key = mod.listener ?? mod.name;
      if (!(LISTENER_NAMES as readonly string[]).includes(key)) continue;
      if (http.has(key)) throw new Error(`http modules ${http.get(key)!.name} and ${mod.name} both want listeners.${key}`);
      const lc: ListenerConfig = config.listeners[key as ListenerName];
      if (lc.enabled || lc.tls?.enabled) http.set(key, mod);
    }
    return { streams, http };
  }

  /** Open an engine on `store` (recovering its state) and create every served module's adapter on it. */
  private async openServing(store: Store): Promise<Serving> {
    const { config, logger } = this;
    const dataDir = path.resolve(config.dataDir);
    const audit = logger.child({ component: 'audit' });
    const security = new UserSecurity(config.security, (fields, msg) => audit.warn(fields, msg));
    const engine = new Engine({
      store,
      security,
      policies: config.destinations,
      maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
      maxDestinations: config.limits.maxDestinations,
      maxSubscriptions: config.limits.maxSubscriptions,
      maxConsumersPerConnection: config.limits.maxConsumersPerConnection,
      composites: config.composites,
      virtualTopics: config.virtualTopics.enabled ? { topicPrefix: config.virtualTopics.topicPrefix, consumerPrefix: config.virtualTopics.consumerPrefix } : false,
      logger: logger.child({ component: 'engine' }),
      // Not on a cluster leader: a commit that fails there (leadership lost) may still be committed by the next leader,
      // so a message withdrawn here after an early delivery would come back there unflagged (out of order, or after
      // its ack): dispatch waits for the quorum. On one node a failed LMDB commit wrote nothing.
      concurrentDispatch: config.store.concurrentDispatch && !this.cluster,
    });
    security.bind(engine);
    try {
      await engine.start();
    } catch (err) {
      await engine.stop().catch(() => undefined);
      throw err;
    }
    logger.info({ dataDir }, 'engine started');
    logSecurityMode(logger, security);
    const certs = config.security.certificates;
    if (certs && !Object.values(config.listeners).some((l) => l.tls?.enabled && (l.tls.requestClientCert || l.tls.requireClientCert || (certs.mode && l !== config.listeners.admin)))) {
      logger.warn('security.certificates is set, but no TLS listener asks clients for a certificate: set security.certificates.mode, or tls.requestClientCert on a listener');
    }
    const cluster = this.cluster;
    const monitor = new ResourceMonitor(engine, dataDir, config.resources, logger.child({ component: 'resources' }), cluster ? () => cluster.peerDiskAlarm() : undefined);

    const limits: ConnectionLimits = { ...config.limits };
    // per engine: the adapters of this engine register their definitions sections with it
    const shared: SharedServices = { definitions: new DefinitionsRegistry() };
    const ctx = (component: string): AdapterContext => ({
      engine,
      options: moduleOptions(component, config, shared),
      logger: logger.child({ protocol: component }),
      limits,
      broker: this.status,
    });
    const serving: Serving = { engine, monitor, streams: new Map(), http: new Map(), adapters: [] };
    const { streams, http } = this.servedModules();
    for (const mod of streams) {
      const adapter = mod.create(ctx(mod.name));
      serving.streams.set(mod.name, adapter);
      serving.adapters.push({ name: mod.name, close: () => adapter.close() });
      registerAdapterDefinitions(adapter, shared.definitions);
    }
    for (const [key, mod] of http) {
      const handler: HttpHandler = mod.create(ctx(mod.name));
      serving.http.set(key, handler);
      serving.adapters.push({ name: mod.name, close: () => handler.close() });
    }
    return serving;
  }

  /** Bind every listener once; each connection goes to the adapter of the engine open at that moment (cluster: of this term). */
  private async bindListeners(): Promise<void> {
    const { config, logger } = this;
    const limits = config.limits;
    logger.info({ maxTotal: this.governor.maxTotal, maxPerAddress: this.governor.maxPerAddress }, `client connections: at most ${this.governor.maxTotal}, ${this.governor.maxPerAddress} per address`);
    const governor = this.governor;
    const intercept = (key: string) => this.cluster?.interceptor(key);
    const { streams, http } = this.servedModules();

    // Stream protocols: plain + TLS ports, and subprotocols on the shared WebSocket listener.
    const wsRoutes: (WebSocketRoute & { name: string })[] = [];
    const served = new Set<string>();
    for (const mod of streams) {
      const lc = config.listeners[mod.name];
      const wsWanted = mod.wsSubprotocols.length > 0 && wsEnabled(config);
      served.add(mod.name);
      const handler: StreamAdapter['handle'] = (stream, peer) => {
        const adapter = this.serving?.streams.get(mod.name);
        if (adapter) adapter.handle(stream, peer);
        else stream.destroy(); // cluster: no engine on this node right now (it is taking over); the client retries
      };
      if (lc.enabled) {
        await this.addListener(mod.name, () =>
          listenStream({ name: mod.name, host: lc.host, port: lc.port, maxConnections: limits.maxConnections, governor, logger, intercept: intercept(mod.name) }, handler),
        );
      }
      if (lc.tls?.enabled) {
        const tls = lc.tls;
        await this.addListener(`${mod.name}-tls`, () =>
          listenStream({ name: `${mod.name}-tls`, host: lc.host, port: tls.port, tls: tlsFiles(tls, config.security.certificates, mod.name), maxConnections: limits.maxConnections, governor, logger, intercept: intercept(`${mod.name}-tls`) }, handler),
        );
      }
      if (wsWanted) wsRoutes.push({ subprotocols: mod.wsSubprotocols, handler, name: mod.name, options: mod.wsOptions });
    }

    const ws = config.listeners.ws;
    if (wsRoutes.length === 0) {
      if (ws.enabled || ws.tls?.enabled) logger.debug('ws: no protocol module serves WebSocket yet, listener skipped');
    } else {
      const detail = wsRoutes.map((r) => `${r.name}=${r.subprotocols.join('|')}`).join(' ');
      const maxPayload = webSocketMessageLimit(config, wsRoutes.map((r) => r.name));
      if (ws.enabled) {
        await this.addListener('ws', () =>
          listenWebSocket({ name: 'ws', host: ws.host, port: ws.port, maxConnections: limits.maxConnections, governor, maxPayload, logger, intercept: intercept('ws') }, wsRoutes), detail);
      }
      if (ws.tls?.enabled) {
        const tls = ws.tls;
        await this.addListener('ws-tls', () =>
          listenWebSocket({ name: 'ws-tls', host: ws.host, port: tls.port, tls: tlsFiles(tls, config.security.certificates, 'ws'), maxConnections: limits.maxConnections, governor, maxPayload, logger, intercept: intercept('ws-tls') }, wsRoutes), detail);
      }
    }

    // HTTP modules, each on its own listener.
    for (const mod of this.httpModules) {
      const key = mod.listener ?? mod.name;
      if (!(LISTENER_NAMES as readonly string[]).includes(key)) logger.warn({ module: mod.name }, `http module ${mod.name}: there is no listeners.${key} in the configuration, skipped`);
    }
    for (const [key, mod] of http) {
      const lc: ListenerConfig = config.listeners[key as ListenerName];
      served.add(key);
      const handle = (req: Parameters<HttpHandler['handle']>[0], res: Parameters<HttpHandler['handle']>[1]) => {
        const h = this.serving?.http.get(key);
        if (h) return h.handle(req, res);
        return this.cluster ? clusterFallback(this.cluster, config, key, req, res) : undefined;
      };
      void mod;
      const maxConnections = limits.maxConnections;
      // the admin listener counts towards no broker-wide limit: an operator can always get in
      const reserved = key === 'admin';
      // The admin listener is never forwarded: each node answers /readyz and /api/cluster for itself.
      const icpt = key === 'admin' ? undefined : intercept(key);
      if (lc.enabled) {
        await this.addListener(key, () => listenHttp({ name: key, host: lc.host, port: lc.port, maxConnections, governor, reserved, logger, intercept: icpt }, handle));
      }
      if (lc.tls?.enabled) {
        const tls = lc.tls;
        await this.addListener(`${key}-tls`, () =>
          listenHttp({ name: `${key}-tls`, host: lc.host, port: tls.port, tls: tlsFiles(tls, config.security.certificates, key), maxConnections, governor, reserved, logger, intercept: key === 'admin' ? undefined : intercept(`${key}-tls`) }, handle));
      }
    }

    for (const name of LISTENER_NAMES) {
      if (name === 'ws' || served.has(name)) continue;
      const lc = config.listeners[name];
      if (lc.enabled || lc.tls?.enabled) logger.debug({ listener: name }, `${name}: no module for this listener yet, skipped`);
    }
  }

  /**
   * Cluster: bring the engine in line with this node's role, one step at a time — open it on becoming leader
   * (recovering from the local replicated store, as a restart does), close it and its clients' connections on
   * losing leadership (unacked deliveries come back redelivered under the next leader).
   */
  private onRole(): void {
    this.roleWork = this.roleWork.then(async () => {
      const c = this.cluster;
      while (c && (this.state === 'started' || this.state === 'starting')) {
        const lead = c.isLeader;
        if (lead && !this.serving) {
          const t0 = Date.now();
          try {
            const serving = await this.openServing(c.openStore());
            this.serving = serving;
            c.engineOpen = true;
            this.logger.info({ nodeId: c.id, ms: Date.now() - t0 }, `cluster: node ${c.id} leads; engine open, serving clients`);
          } catch (err) {
            this.logger.warn({ err: (err as Error).message }, 'cluster: could not open the engine as leader (leadership lost meanwhile?)');
            if (c.isLeader) await new Promise((r) => setTimeout(r, 100));
          }
        } else if (!lead && this.serving) {
          this.logger.warn({ nodeId: c.id, leader: c.leader }, 'cluster: this node stopped leading; closing its engine and client connections');
          await this.closeServing(2_000);
        } else {
          break;
        }
      }
    });
  }

  /** Close the open engine and its adapters; connections still open after `graceMs` are destroyed. */
  private async closeServing(graceMs: number): Promise<void> {
    const s = this.serving;
    if (!s) return;
    this.serving = undefined;
    if (this.cluster) this.cluster.engineOpen = false;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      // Not unref'd: it must keep the process alive until shutdown has closed the store.
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const closing = Promise.allSettled(
      s.adapters.map((a) =>
        Promise.resolve()
          .then(() => a.close())
          .catch((err) => this.logger.warn({ err, module: a.name }, `${a.name}: error while closing connections`)),
      ),
    );
    if ((await Promise.race([closing, timedOut])) === 'timeout') {
      this.logger.warn(`adapters did not close their connections within ${graceMs} ms; closing them forcibly`);
    }
    clearTimeout(timer);
    for (const l of this.listeners.values()) l.destroyConnections();
    s.monitor.stop();
    await s.engine.stop().catch((err) => this.logger.error({ err }, 'engine stop failed'));
  }

  private async addListener(name: string, open: () => Promise<Listener>, detail?: string): Promise<void> {
    const l = await open();
    this.listeners.set(name, l);
    const { host, port } = l.address();
    this.logger.info({ listener: name, host, port, ...(detail ? { subprotocols: detail } : {}) }, `${name} listening on ${host}:${port}`);
  }

  /** Tear down whatever is up, in order; safe to call after a partial start. */
  private async shutdown(): Promise<void> {
    const listeners = [...this.listeners.values()];
    await Promise.all(listeners.map((l) => l.close()));
    this.cluster?.forwarder.closeAll();
    await this.cluster?.handOff().catch(() => undefined);
    await this.roleWork;
    await this.closeServing(this.shutdownTimeout);
    for (const l of listeners) l.destroyConnections();
    if (this.store) await this.store.close().catch((err) => this.logger.error({ err }, 'store close failed'));
    if (this.cluster) await this.cluster.stop().catch((err) => this.logger.error({ err }, 'cluster node stop failed'));
  }
}

/** A follower has no engine to check console users against: loopback, or basic auth of a configured admin.users entry. */
async function followerAdminAllowed(config: BrokerConfig, req: IncomingMessage): Promise<boolean> {
  if (isLoopback(req.socket.remoteAddress)) return true;
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Basic ')) return false;
  const [user, ...rest] = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':');
  const u = config.admin.users.find((x) => x.username === user);
  return !!u && (await verifyPassword(rest.join(':'), u.passwordHash));
}

/** What a node without an open engine answers on an HTTP listener nobody forwarded: the admin basics, else 503. */
async function clusterFallback(c: ClusterRuntime, config: BrokerConfig, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const p = (req.url ?? '/').split('?')[0];
  if (key === 'admin') {
    if (p === '/healthz') return send(200, { status: 'ok' });
    if (p === '/readyz') return send(c.ready ? 200 : 503, { status: c.ready ? 'ready' : 'not ready', checks: { cluster: c.ready ? `follower of node ${c.leader}` : 'no leader' } });
    // The cluster view of this node is public on the admin listener of a follower (no engine here to check users).
    if (p === '/api/cluster') return (await followerAdminAllowed(config, req)) ? send(200, c.status()) : send(401, { error: { code: 'unauthenticated', message: 'log in as an admin.users entry (basic auth) or ask from this machine' } });
    const target = c.leader && c.leader !== c.id ? c.clientTarget(c.leader, 'admin') : undefined;
    if (target) {
      res.writeHead(307, { location: `http://${target.host}:${target.port}${req.url ?? '/'}`, 'content-type': 'text/plain' });
      res.end(`node ${c.id} is a follower; the leader's console is on node ${c.leader}\n`);
      return;
    }
  }
  send(503, { error: 'unavailable', message: `node ${c.id} cannot serve now (${c.leader ? `node ${c.leader} leads` : 'no leader elected'})` });
}

function wsEnabled(config: BrokerConfig): boolean {
  const ws = config.listeners.ws;
  return ws.enabled || ws.tls?.enabled === true;
}

function tlsFiles(tls: TlsConfig, certificates?: BrokerConfig['security']['certificates'], listener?: string): TlsFiles {
  // security.certificates.mode asks every messaging TLS listener for a client certificate (the console is left to
  // its own requestClientCert: a browser would prompt for one)
  const mode = listener === 'admin' ? undefined : certificates?.mode;
  // The schema guarantees cert and key when TLS is enabled.
  return {
    cert: tls.cert!,
    key: tls.key!,
    ca: tls.ca ?? certificates?.ca,
    requestCert: tls.requestClientCert || tls.requireClientCert || mode !== undefined,
    rejectUnauthorized: tls.requireClientCert || mode === 'required',
  };
}

/** Create the data directory if needed and prove it is writable (access() says yes to root on a read-only mount). */
export function prepareDataDir(dir: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new DataDirError(`data directory ${dir} is not usable: ${reason(err)}`, { cause: err });
  }
  if (st && !st.isDirectory()) throw new DataDirError(`data directory ${dir} exists but is not a directory`);
  if (!st) {
    try {
      mkdirs(dir);
    } catch (err) {
      throw new DataDirError(`cannot create data directory ${dir}: ${reason(err)}`, { cause: err });
    }
  }
  const probe = path.join(dir, `.wharf-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.unlinkSync(probe);
  } catch (err) {
    throw new DataDirError(`data directory ${dir} is not writable: ${reason(err)}`, { cause: err });
  }
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOTDIR':
      return 'a parent path is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return e.message;
  }
}

const LISTENER_TITLES: Record<string, string> = { openwire: 'OpenWire', amqp: 'AMQP', stomp: 'STOMP', mqtt: 'MQTT', ws: 'WebSocket', sqs: 'SQS/SNS', admin: 'console' };

/** One line saying where every listener is and how to open the console: the last line of a start-up. */
export function startupSummary(addrs: Record<string, { host: string; port: number }>, config: BrokerConfig): string {
  const parts: string[] = [];
  for (const name of ['openwire', 'amqp', 'stomp', 'mqtt', 'ws', 'sqs', 'admin']) {
    const plain = addrs[name];
    const tls = addrs[`${name}-tls`];
    if (!plain && !tls) continue;
    const http = name === 'sqs' || name === 'admin';
    const where = (a: { host: string; port: number }, secure: boolean) => (http ? `${secure ? 'https' : 'http'}://${displayHost(a.host)}:${a.port}/` : `${a.host}:${a.port}`);
    const shown = [plain && where(plain, false), tls && `${where(tls, true)}${http ? '' : ' (TLS)'}`].filter(Boolean).join(', ');
    parts.push(`${LISTENER_TITLES[name] ?? name} ${shown}`);
  }
  const login = config.admin.defaultUser && config.admin.users.length === 0 ? ' (log in as admin/admin from this machine)' : '';
  const consoleHint = addrs.admin || addrs['admin-tls'] ? login : ' (console off)';
  return `Wharf ready: ${parts.join(' · ') || 'no listeners'}${consoleHint}`;
}

/** A wildcard bind is reached through the loopback address from this machine. */
function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
}

/** The startup line that says who may connect. */
function logSecurityMode(logger: Logger, security: UserSecurity): void {
  const { users, certificates } = security.config;
  const acl = security.rules();
  const runtime = security.runtimeUsers().length;
  const certs = certificates ? `; TLS client certificates are users (${certificates.map.length ? `${certificates.map.length} mapped subjects, then ` : ''}${certificates.pattern !== undefined ? 'pattern' : `subject ${certificates.userFrom.toUpperCase()}`})` : '';
  const fields = { security: security.mode(), users: users.length, runtimeUsers: runtime, aclRules: acl.length, runtimeAclRules: acl.length - security.config.acl.length, certificateLogin: !!certificates };
  const authz = (acl.length ? `${acl.length} ACL rules` : 'no ACL: authenticated users may do everything') + certs;
  switch (security.mode()) {
    case 'anonymous-loopback':
      logger.info(fields, `security: no users configured — anonymous clients are accepted from loopback addresses only; remote clients are refused until users exist (security.users or \`wharf users add\`) or security.anonymous: true`);
      break;
    case 'anonymous':
      logger.warn(fields, `security: anonymous clients are accepted from every address (security.anonymous: true); ${users.length + runtime} users; ${authz}`);
      break;
    default:
      logger.info(fields, `security: ${users.length + runtime} users, anonymous clients refused; ${authz}`);
  }
}
