/**
 * Broker configuration: one zod schema with every key and default (see docs/configuration.md), loaded from
 * a YAML/JSON file, then environment variables (`WHARF_*`), then command-line overrides — later wins.
 * Unknown keys anywhere are errors, so a typo never silently falls back to a default.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { PolicyRule } from '../core/policy.js';
import { ADMIN_HASH_PATTERN } from '../admin/options.js';
import { compileSelector } from '../core/selector.js';

// ---------------------------------------------------------------------------------------------------------
// Building blocks with messages that say what is expected (the "got …" part is added by formatIssues).

const intIn = (min: number, max?: number) => {
  const msg = max === undefined ? `expected an integer >= ${min}` : `expected a number between ${min} and ${max}`;
  let s = z.number({ error: msg }).int({ error: msg }).min(min, { error: msg });
  if (max !== undefined) s = s.max(max, { error: msg });
  return s;
};
const portSchema = intIn(0, 65535);
const boolSchema = z.boolean({ error: 'expected true or false' });
const nonEmpty = (what = 'a non-empty string') => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.join(', ')}` });

export const LISTENER_NAMES = ['openwire', 'amqp', 'stomp', 'mqtt', 'ws', 'admin', 'sqs'] as const;
export type ListenerName = (typeof LISTENER_NAMES)[number];

/** Default ports per DESIGN.md (ActiveMQ / Amazon MQ compatible). */
export const DEFAULT_PORTS: Record<ListenerName, { port: number; tlsPort: number; host: string }> = {
  openwire: { port: 61616, tlsPort: 61617, host: '0.0.0.0' },
  amqp: { port: 5672, tlsPort: 5671, host: '0.0.0.0' },
  stomp: { port: 61613, tlsPort: 61612, host: '0.0.0.0' },
  mqtt: { port: 1883, tlsPort: 8883, host: '0.0.0.0' },
  ws: { port: 61614, tlsPort: 61619, host: '0.0.0.0' },
  admin: { port: 8161, tlsPort: 8162, host: '127.0.0.1' },
  sqs: { port: 9324, tlsPort: 9325, host: '0.0.0.0' },
};

const tlsSchema = (tlsPort: number) =>
  z
    .strictObject({
      /** Default true: writing a `tls:` section turns TLS on. */
      enabled: boolSchema.default(true),
      port: portSchema.default(tlsPort),
      /** PEM certificate (chain) file. */
      cert: nonEmpty('a path to a PEM certificate file').optional(),
      /** PEM private key file. */
      key: nonEmpty('a path to a PEM private key file').optional(),
      /** PEM CA bundle that client certificates are verified against. */
      ca: nonEmpty('a path to a PEM CA file').optional(),
      /** Ask clients for a certificate; verified ones reach the adapters (e.g. for certificate auth). */
      requestClientCert: boolSchema.default(false),
      /** Refuse clients without a certificate signed by `ca` (implies requestClientCert). */
      requireClientCert: boolSchema.default(false),
    })
    .superRefine((t, ctx) => {
      if (!t.enabled) return;
      if (!t.cert) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'required when TLS is enabled: a path to a PEM certificate file' });
      if (!t.key) ctx.addIssue({ code: 'custom', path: ['key'], message: 'required when TLS is enabled: a path to a PEM private key file' });
      if ((t.requireClientCert || t.requestClientCert) && !t.ca)
        ctx.addIssue({ code: 'custom', path: ['ca'], message: 'required with requestClientCert/requireClientCert: a PEM CA file to verify client certificates' });
    });

const listenerSchema = (name: ListenerName) => {
  const d = DEFAULT_PORTS[name];
  return z
    .strictObject({
      host: nonEmpty('a host name or IP address').default(d.host),
      /** Plain (non-TLS) port; 0 = any free port. */
      port: portSchema.default(d.port),
      /** Turns the plain listener on/off; the TLS one follows `tls.enabled`. */
      enabled: boolSchema.default(true),
      tls: tlsSchema(d.tlsPort).optional(),
    })
    .prefault({});
};

const durationMs = intIn(0);

/** Dot-separated name or ActiveMQ-style wildcard pattern: `*` one segment, `>` the rest (last segment only). */
const matchPattern = nonEmpty('a destination name or wildcard pattern').refine(
  (s) => {
    const parts = s.split('.');
    return parts.every((p, i) => p.length > 0 && (p !== '>' || i === parts.length - 1));
  },
  { error: 'expected a dot-separated name or pattern (empty segments are not allowed; ">" only as the last segment)' },
);

/** One entry of `destinations`: a PolicyRule (src/core/policy.ts). */
/** A JMS selector, compiled here so a bad one is a configuration error with its path. */
const selectorSchema = z.string({ error: 'expected a JMS selector string' }).superRefine((text, ctx) => {
  try {
    compileSelector(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid JMS selector: ${(err as Error).message}` });
  }
});

const policyRuleSchema = z.strictObject({
  match: matchPattern,
  kind: oneOf(['queue', 'topic'] as const).optional(),
  maxRedeliveries: intIn(-1).optional(),
  initialRedeliveryDelay: durationMs.optional(),
  backoffMultiplier: z.number({ error: 'expected a number >= 1' }).min(1, { error: 'expected a number >= 1' }).optional(),
  maxRedeliveryDelay: durationMs.optional(),
  deadLetterQueue: z.string({ error: 'expected a DLQ name template like "DLQ.{name}" (empty = no DLQ)' }).optional(),
  expiry: oneOf(['dlq', 'drop'] as const).optional(),
  defaultTtl: durationMs.optional(),
  maxMessages: intIn(0).optional(),
  maxBytes: intIn(0).optional(),
  limitPolicy: oneOf(['block', 'reject', 'drop-oldest'] as const).optional(),
  blockTimeout: durationMs.optional(),
  ackTimeout: durationMs.optional(),
});

/** `scrypt$N$r$p$salt$hash` (salt and hash base64). */
export { ADMIN_HASH_PATTERN };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A user name in security.users and admin.users. */
const usernameSchema = z
  .string({ error: 'expected a user name (letters, digits, . _ @ -)' })
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, { error: 'expected a user name (letters, digits, . _ @ -)' });
/** A password as `wharf hash-password` prints it. */
const passwordHashSchema = z
  .string({ error: 'expected a scrypt hash made by `wharf hash-password`' })
  .regex(ADMIN_HASH_PATTERN, { error: 'expected a scrypt hash made by `wharf hash-password` (scrypt$N$r$p$salt$hash)' });
/** Who an ACL rule grants a permission to: users and groups. */
const grantees = z.array(nonEmpty('a user or group name'), { error: 'expected a list of users/groups' }).optional();

/** Client listener keys a peer may name a port for (`stomp`, `stomp-tls`, …): where a follower forwards to. */
export const FORWARDED_LISTENERS = ['openwire', 'openwire-tls', 'amqp', 'amqp-tls', 'stomp', 'stomp-tls', 'mqtt', 'mqtt-tls', 'ws', 'ws-tls', 'sqs', 'sqs-tls', 'admin', 'admin-tls'] as const;

const clusterPeerSchema = z.strictObject({
  id: intIn(1),
  /** Host of the peer's Raft port and, unless `clientHost` says otherwise, of its client listeners. */
  host: nonEmpty('a host name or IP address'),
  /** The peer's Raft port. */
  port: portSchema.default(7800),
  /** Host clients are forwarded to (default: host). */
  clientHost: nonEmpty('a host name or IP address').optional(),
  /** The peer's client listener ports by listener (`stomp: 61613`, `stomp-tls: 61612`); default: this node's own ports. */
  listeners: z.partialRecord(oneOf(FORWARDED_LISTENERS), portSchema.min(1, { error: 'expected a port between 1 and 65535' })).default({}),
});

const clusterSchema = z
  .strictObject({
    /** This node's id: one of the peers' ids. */
    nodeId: intIn(1),
    /** Shared secret every node must know (at least 16 characters): a stranger cannot join the Raft links. */
    secret: z.string({ error: 'expected a secret of at least 16 characters' }).min(16, { error: 'expected a secret of at least 16 characters' }),
    /** Raft listen address of this node (default: its peer entry's port on 0.0.0.0). */
    host: nonEmpty('a host name or IP address').default('0.0.0.0'),
    port: portSchema.optional(),
    /** Every initial voter, this node included. Used to bootstrap an empty node; later membership is in the Raft log. */
    peers: z.array(clusterPeerSchema, { error: 'expected a list of { id, host, port, listeners }' }).min(1, { error: 'expected at least one peer (this node)' }),
    /** Raft tick, ms; the election timeout is electionTicks..2×electionTicks ticks, heartbeats every heartbeatTicks. */
    tickMs: intIn(1).default(50),
    electionTicks: intIn(2).default(10),
    heartbeatTicks: intIn(1).default(1),
    /** Compact the Raft log into a snapshot every this many applied entries (0 = never). */
    snapshotEntries: intIn(0).default(10_000),
    /** TLS on the Raft port (PEM files): each node serves cert/key and verifies the peers it dials against ca. */
    tls: z
      .strictObject({
        cert: nonEmpty('a path to a PEM certificate file'),
        key: nonEmpty('a path to a PEM private key file'),
        ca: nonEmpty('a path to a PEM CA file').optional(),
      })
      .optional(),
    /** A new node for a running cluster: start with an empty membership and wait for `wharf cluster add` (on the
     *  leader) instead of bootstrapping `peers` as the initial voters. Ignored once the node has a Raft log. */
    join: boolSchema.default(false),
  })
  .superRefine((c, ctx) => {
    const ids = c.peers.map((p) => p.id);
    if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', path: ['peers'], message: 'peer ids must be unique' });
    if (!ids.includes(c.nodeId)) ctx.addIssue({ code: 'custom', path: ['nodeId'], message: `expected one of the peers' ids (${ids.join(', ')})` });
    if (c.heartbeatTicks >= c.electionTicks) ctx.addIssue({ code: 'custom', path: ['heartbeatTicks'], message: 'expected fewer heartbeat ticks than election ticks' });
  });

export const configSchema = z.strictObject({
  /** Where the store (`<dataDir>/store`) and other state live. */
  dataDir: nonEmpty('a directory path').default('./data'),
  listeners: z
    .strictObject({
      openwire: listenerSchema('openwire'),
      amqp: listenerSchema('amqp'),
      stomp: listenerSchema('stomp'),
      mqtt: listenerSchema('mqtt'),
      ws: listenerSchema('ws'),
      admin: listenerSchema('admin'),
      sqs: listenerSchema('sqs'),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest frame / message / HTTP body accepted, bytes. */
      maxFrameSize: intIn(1).default(10 * 1024 * 1024),
      /** Close connections silent for this long, ms; 0 = none (protocol heartbeats only). */
      idleTimeout: durationMs.default(0),
      /** Concurrent connections per listener; 0 = unlimited. */
      maxConnections: intIn(0).default(10_000),
      /** Client connections over all listeners (the admin listener excepted); 0 = the file-descriptor limit less a reserve. */
      maxConnectionsTotal: intIn(0).default(0),
      /** Client connections from one remote address; 0 = half of maxConnectionsTotal. */
      maxConnectionsPerAddress: intIn(0).default(0),
      /** Connections one authenticated user may hold; 0 = unlimited. */
      maxConnectionsPerUser: intIn(0).default(0),
      /** Queues and topics clients may create; 0 = unlimited. */
      maxDestinations: intIn(0).default(200_000),
      /** Topic subscriptions (durable, shared and non-durable); 0 = unlimited. */
      maxSubscriptions: intIn(0).default(200_000),
      /** Consumers (subscriptions) one connection may hold; 0 = unlimited. */
      maxConsumersPerConnection: intIn(0).default(10_000),
    })
    .prefault({}),
  destinations: z.array(policyRuleSchema, { error: 'expected a list of destination policies' }).default([]),
  /** Configured composite destinations: a send to `name` is forwarded to every target (ActiveMQ compositeQueue/compositeTopic). */
  composites: z
    .array(
      z.strictObject({
        name: nonEmpty('a destination name'),
        kind: oneOf(['queue', 'topic'] as const).default('queue'),
        targets: z
          .array(z.strictObject({ address: nonEmpty('an address like "queue://a" or "topic://b"'), selector: selectorSchema.optional() }), { error: 'expected a list of targets' })
          .min(1, { error: 'expected at least one target' }),
        /** false: the composite itself also keeps a copy. */
        forwardOnly: boolSchema.default(true),
      }),
      { error: 'expected a list of composite destinations' },
    )
    .default([]),
  /** ActiveMQ virtual topics: a publish to topic `<topicPrefix>X` lands in every queue `<consumerPrefix><name>.<topicPrefix>X`. */
  virtualTopics: z
    .strictObject({
      enabled: boolSchema.default(true),
      topicPrefix: nonEmpty('a name prefix').default('VirtualTopic.'),
      consumerPrefix: nonEmpty('a name prefix').default('Consumer.'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: oneOf(LOG_LEVELS).default('info'),
      /** `pretty`: readable lines (time, level, component, message); `json`: JSON lines; `auto`: pretty on a terminal, else JSON. */
      format: oneOf(LOG_FORMATS).default('auto'),
    })
    .prefault({}),
  store: z
    .strictObject({
      /** Skip fsync on commit. Loses acknowledged messages on a crash: benchmarks only. */
      noSync: boolSchema.default(false),
      /**
       * Concurrent store and dispatch: hand a non-transactional persistent send to a waiting consumer while its
       * enqueue is being fsync'd (the producer is still confirmed only after it). false: dispatch after the commit.
       */
      concurrentDispatch: boolSchema.default(true),
      /**
       * Single node: a write-ahead journal makes each group commit one disk flush instead of LMDB's two (see
       * storage/lmdb/lmdb-store.ts, "Journal"). Durability is the same. Cluster nodes journal in their Raft log.
       * Off by default: it helps producers that wait for each confirmation and costs fixed-rate latency and windowed
       * throughput (docs/performance.md, "The store journal"). false on a journaled store: replayed once, then without.
       */
      journal: boolSchema.default(false),
    })
    .prefault({}),
  // --- protocol-specific sections (add new ones here, strict like the rest) ---
  amqp: z
    .strictObject({
      /** What a plain AMQP address without a `queue`/`topic` capability or prefix means. */
      defaultAddressKind: oneOf(['queue', 'topic'] as const).default('queue'),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      /** Largest MQTT packet accepted, bytes (also advertised to v5 clients); 0 = limits.maxFrameSize. */
      maxPacketSize: intIn(0, 268_435_460).default(0),
      /** Inbound QoS 1/2 publishes a client may have unacknowledged (v5 Receive Maximum). */
      receiveMaximum: intIn(1, 65535).default(1024),
      /** Outbound QoS 1/2 deliveries in flight per session (capped by the client's Receive Maximum). */
      maxInflight: intIn(1, 65535).default(1024),
      /** Messages kept per subscription queue (offline sessions included); the oldest are dropped past it. 0 = unlimited. */
      maxQueuedMessages: intIn(0).default(100_000),
      /** Topic name / filter length in bytes. */
      maxTopicLength: intIn(1, 65535).default(65535),
      /** Topic levels (`a/b/c` has 3). */
      maxTopicLevels: intIn(1).default(128),
      /** Subscriptions one session may hold; 0 = unlimited. */
      maxSubscriptionsPerClient: intIn(0).default(10_000),
      /** Topic aliases a v5 client may use towards the broker (CONNACK Topic Alias Maximum); 0 = none. */
      topicAliasMaximum: intIn(0, 65535).default(1024),
      /**
       * Send topic aliases to v5 clients whose CONNECT allows them (Topic Alias Maximum > 0). Off by default: paho-mqtt 1.6
       * advertises a maximum when asked but does not resolve incoming aliases (later messages arrive with an empty topic),
       * and mosquitto never sends them. MQTT.js resolves them.
       */
      outboundTopicAliases: boolSchema.default(false),
      /** Largest keep-alive accepted, seconds; longer (or 0) is lowered to it (v5 Server Keep Alive). 0 = client's choice. */
      maxKeepAlive: intIn(0, 65535).default(0),
      /** Close connections that send no CONNECT within this many ms. */
      connectTimeout: durationMs.default(10_000),
      /** Upper bound for a v5 Session Expiry Interval, seconds (4294967295 = never expire). */
      maxSessionExpiry: intIn(0, 4_294_967_295).default(4_294_967_295),
      /** Longest accepted client identifier, bytes. */
      maxClientIdLength: intIn(1, 65535).default(1024),
      /** `$SYS/broker/...` statistics publish interval, seconds; 0 = off. */
      sysInterval: intIn(0).default(10),
    })
    .prefault({}),
  sqs: z
    .strictObject({
      region: z
        .string({ error: 'expected an AWS region name like us-east-1' })
        .regex(/^[a-z0-9-]+$/, { error: 'expected an AWS region name like us-east-1' })
        .default('us-east-1'),
      /** 12 digits; YAML reads an unquoted 000000000000 as the number 0, so numbers are zero-padded back. */
      accountId: z
        .preprocess(
          (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? String(v).padStart(12, '0') : v),
          z.string({ error: 'expected a 12-digit AWS account id' }).regex(/^\d{12}$/, { error: 'expected a 12-digit AWS account id' }),
        )
        .default('000000000000'),
      /** Access keys whose SigV4 signatures are accepted. None configured = anonymous mode. */
      credentials: z
        .array(
          z.strictObject({
            accessKeyId: nonEmpty('an access key id'),
            secretAccessKey: nonEmpty('a secret access key'),
          }),
          { error: 'expected a list of { accessKeyId, secretAccessKey }' },
        )
        .optional(),
      /** Accept unsigned requests and unknown keys (local development). Default: on when no credentials are configured. */
      anonymous: boolSchema.optional(),
      /** Public base URL of this listener for links the broker hands out (SNS SigningCertURL, SubscribeURL, UnsubscribeURL). Default: from the request / the listener. */
      baseUrl: z.url({ error: 'expected an http(s) URL like http://broker.example:9324' }).optional(),
      /** Most seconds a request may be signed before or after the broker's clock (default 900). */
      maxClockSkew: intIn(1).optional(),
      /** Seconds between two PurgeQueue calls on one queue (AWS: 60; PurgeQueueInProgress); 0 = no limit. */
      purgeInterval: intIn(0, 86400).optional(),
      /** Seconds after DeleteQueue before the name can be created again (AWS: 60; QueueDeletedRecently); 0 = at once. */
      deletedQueueCooldown: intIn(0, 86400).optional(),
    })
    .prefault({}),
  // --- users and destination ACLs for every protocol (docs/security.md) ---
  security: z
    .strictObject({
      /** The broker's users: messaging (groups), console (roles), SQS/SNS (accessKeys). */
      users: z
        .array(
          z.strictObject({
            username: usernameSchema,
            passwordHash: passwordHashSchema,
            groups: z.array(nonEmpty('a group name'), { error: 'expected a list of group names' }).default([]),
            /** Console roles: `admin` may change things, `viewer` may only look; none = no console access. */
            roles: z.array(oneOf(['admin', 'viewer'] as const), { error: 'expected a list of roles (admin, viewer)' }).default([]),
            /** SigV4 access keys of this user (SQS/SNS). */
            accessKeys: z
              .array(z.strictObject({ accessKeyId: nonEmpty('an access key id'), secretAccessKey: nonEmpty('a secret access key') }), { error: 'expected a list of { accessKeyId, secretAccessKey }' })
              .default([]),
          }),
          { error: 'expected a list of { username, passwordHash, groups, roles, accessKeys }' },
        )
        .default([])
        .refine((us) => new Set(us.map((u) => u.username)).size === us.length, { error: 'user names must be unique' }),
      /** Anonymous clients. Default: only from loopback addresses, and only while no users exist. */
      anonymous: boolSchema.optional(),
      /** Destination access rules; none = every authenticated user may do everything. */
      acl: z
        .array(
          z.strictObject({
            match: nonEmpty('a destination name or pattern (orders.>, a.*.c)'),
            kind: oneOf(['queue', 'topic'] as const).optional(),
            read: grantees,
            write: grantees,
            admin: grantees,
          }),
          { error: 'expected a list of { match, kind, read, write, admin }' },
        )
        .default([]),
      /**
       * TLS client certificates as users (docs/security.md): a client over TLS that presents a certificate verified
       * by the listener's CA and names no user is the user its subject maps to; an unmapped certificate is refused.
       */
      certificates: z
        .strictObject({
          /** `mode` asks every messaging TLS listener (all but admin) for a certificate: `optional` or `required`. Unset: only listeners with requestClientCert/requireClientCert ask. */
          mode: oneOf(['optional', 'required'] as const).optional(),
          /** PEM CA bundle for listeners without their own `tls.ca`. */
          ca: nonEmpty('a path to a PEM CA file').optional(),
          /** Which part of the subject is the user name: the common name, or the whole DN (RFC 4514, `CN=a,O=b`). */
          userFrom: oneOf(['cn', 'dn'] as const).default('cn'),
          /** A regular expression over the DN; its first capture group (or the whole match) is the user name. Overrides userFrom. */
          pattern: z
            .string({ error: 'expected a regular expression' })
            .refine((p) => {
              try {
                new RegExp(p);
                return true;
              } catch {
                return false;
              }
            }, { error: 'expected a valid regular expression' })
            .optional(),
          /** Exact subject DNs → user names, checked first. */
          map: z
            .array(z.strictObject({ subject: nonEmpty('a subject DN like "CN=app1,O=Acme"'), user: usernameSchema }), { error: 'expected a list of { subject, user }' })
            .default([]),
        })
        .optional(),
    })
    .prefault({}),
  // --- admin console / REST API / metrics on listeners.admin ---
  admin: z
    .strictObject({
      /** Console and API users. Passwords are stored as scrypt hashes (`wharf hash-password`). */
      users: z
        .array(
          z.strictObject({
            username: usernameSchema,
            passwordHash: passwordHashSchema,
            /** `admin` may change things; `viewer` may only look. */
            role: oneOf(['admin', 'viewer'] as const).default('admin'),
          }),
          { error: 'expected a list of { username, passwordHash, role }' },
        )
        .default([]),
      /** The built-in admin/admin user, accepted only from loopback addresses and only while no users are configured. */
      defaultUser: boolSchema.default(true),
      /** Idle time after which a console session (or API token) expires, ms. */
      sessionTimeout: intIn(60_000).default(8 * 3600_000),
      /** Require a login for /metrics too (default: open, for Prometheus scrapers on the admin listener). */
      metricsAuth: boolSchema.default(false),
      /** Per-destination series on /metrics for the busiest N destinations (all when there are fewer); 0 = none. /metrics/per-destination always has every destination. */
      metricsTopDestinations: intIn(0).default(100),
    })
    .prefault({}),
  /** Raft replication (docs/operations.md, examples/cluster/). Absent = a single node. */
  cluster: clusterSchema.optional(),
  /** Resource alarms (docs/operations.md): producers wait while one is raised. */
  resources: z
    .strictObject({
      minFreeDisk: intIn(0).default(0),
      maxStoreBytes: intIn(0).default(0),
      memoryHighWater: z.number({ error: 'expected a fraction of the memory (0.4) or bytes' }).min(0).default(0.4),
      checkInterval: intIn(10).default(1000),
    })
    .prefault({}),
});


export type BrokerConfig = z.output<typeof configSchema>;
export type BrokerConfigInput = z.input<typeof configSchema>;
export type ListenerConfig = BrokerConfig['listeners'][ListenerName];
export type TlsConfig = NonNullable<ListenerConfig['tls']>;
export type ClusterConfig = NonNullable<BrokerConfig['cluster']>;
export type ClusterPeerConfig = ClusterConfig['peers'][number];

// Compile-time check: config destinations are core PolicyRules.
const _policyCheck = (c: BrokerConfig): PolicyRule[] => c.destinations;
void _policyCheck;

export type DeepPartial<T> = T extends readonly (infer _U)[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

// ---------------------------------------------------------------------------------------------------------

export class ConfigError extends Error {
  /** One line per problem, each starting with the key path. */
  readonly problems: string[];
  constructor(problems: string[], readonly source?: string) {
    super((source ? `${source}: ` : '') + problems.join('; '));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Validate an already-merged raw config object; throws ConfigError. */
export function parseConfig(raw: unknown, sources: Map<string, string> = new Map(), source?: string): BrokerConfig {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  if (result.success) {
    const problems = crossChecks(result.data);
    if (problems.length) throw new ConfigError(problems, source);
    return result.data;
  }
  throw new ConfigError(formatIssues(result.error.issues, raw, sources), source);
}

/** Rules that span sections. */
function crossChecks(c: BrokerConfig): string[] {
  const problems: string[] = [];
  const certs = c.security.certificates;
  if (certs?.mode && !certs.ca) {
    for (const name of LISTENER_NAMES) {
      const t = c.listeners[name].tls;
      if (name !== 'admin' && t?.enabled && !t.ca)
        problems.push(`listeners.${name}.tls.ca: required with security.certificates.mode (or set security.certificates.ca): a PEM CA file to verify client certificates`);
    }
  }
  return problems;
}

/** The configuration with every default. */
export function defaultConfig(): BrokerConfig {
  return configSchema.parse({});
}

/** Environment variables that override config keys (besides WHARF_CONFIG, which names the file). */
export function envVarNames(): string[] {
  const names = ['WHARF_CONFIG', 'WHARF_DATA_DIR', 'WHARF_LOG_LEVEL', 'WHARF_LOG_FORMAT'];
  for (const l of LISTENER_NAMES) {
    const u = l.toUpperCase();
    names.push(`WHARF_${u}_HOST`, `WHARF_${u}_PORT`, `WHARF_${u}_ENABLED`, `WHARF_${u}_TLS_PORT`, `WHARF_${u}_TLS_ENABLED`);
  }
  names.push('WHARF_CLUSTER_NODE_ID', 'WHARF_CLUSTER_SECRET', 'WHARF_CLUSTER_HOST', 'WHARF_CLUSTER_PORT');
  return names;
}

export interface LoadConfigOptions {
  /** YAML or JSON file; defaults to $WHARF_CONFIG; no file = defaults. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence overrides (command-line flags). */
  overrides?: DeepPartial<BrokerConfigInput>;
}

export function loadConfig(opts: LoadConfigOptions = {}): BrokerConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.WHARF_CONFIG || undefined);
  let raw: Record<string, unknown> = {};
  if (file) raw = readConfigFile(file);
  const sources = new Map<string, string>();
  const fromEnv = envOverrides(env, sources);
  const merged = deepMerge(deepMerge(raw, fromEnv), (opts.overrides ?? {}) as Record<string, unknown>);
  return parseConfig(merged, sources, file ? `invalid configuration in ${file}` : 'invalid configuration');
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigError([`cannot read config file ${file}: ${why}`]);
  }
  let data: unknown;
  if (path.extname(file).toLowerCase() === '.json') {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new ConfigError([`config file ${file} is not valid JSON: ${(err as Error).message}`]);
    }
  } else {
    // YAML 1.2 is a JSON superset, so this reads .yaml, .yml and extension-less JSON alike.
    try {
      data = YAML.parse(text, { prettyErrors: true });
    } catch (err) {
      const first = String((err as Error).message).split('\n')[0];
      throw new ConfigError([`config file ${file} is not valid YAML: ${first}`]);
    }
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError([`config file ${file}: expected a mapping of settings at the top level, got ${describeValue(data)}`]);
  return resolvePaths(data as Record<string, unknown>, path.dirname(path.resolve(file)));
}

/** Relative paths in a config file (dataDir, TLS files) are relative to the file's directory. */
function resolvePaths(cfg: Record<string, unknown>, dir: string): Record<string, unknown> {
  const abs = (v: unknown) => (typeof v === 'string' && v.length > 0 && !path.isAbsolute(v) ? path.resolve(dir, v) : v);
  const out = { ...cfg };
  if ('dataDir' in out) out.dataDir = abs(out.dataDir);
  const listeners = out.listeners;
  if (isPlainObject(listeners)) {
    const ls: Record<string, unknown> = { ...listeners };
    for (const [name, l] of Object.entries(ls)) {
      if (!isPlainObject(l) || !isPlainObject(l.tls)) continue;
      const tls: Record<string, unknown> = { ...l.tls };
      for (const k of ['cert', 'key', 'ca']) if (k in tls) tls[k] = abs(tls[k]);
      ls[name] = { ...l, tls };
    }
    out.listeners = ls;
  }
  const sec = out.security;
  if (isPlainObject(sec) && isPlainObject(sec.certificates) && 'ca' in sec.certificates) {
    out.security = { ...sec, certificates: { ...sec.certificates, ca: abs(sec.certificates.ca) } };
  }
  if (isPlainObject(out.cluster) && isPlainObject(out.cluster.tls)) {
    const t: Record<string, unknown> = { ...out.cluster.tls };
    for (const k of ['cert', 'key', 'ca']) if (k in t) t[k] = abs(t[k]);
    out.cluster = { ...out.cluster, tls: t };
  }
  return out;
}

function envOverrides(env: NodeJS.ProcessEnv, sources: Map<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const set = (keyPath: string[], value: unknown, name: string) => {
    let o = out;
    for (const k of keyPath.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    o[keyPath[keyPath.length - 1]] = value;
    sources.set(keyPath.join('.'), name);
  };
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const num = (v: string) => (/^\s*\d+\s*$/.test(v) ? Number(v) : v);
  const bool = (v: string) => {
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    return v;
  };
  let v: string | undefined;
  if ((v = get('WHARF_DATA_DIR')) !== undefined) set(['dataDir'], v, 'WHARF_DATA_DIR');
  if ((v = get('WHARF_LOG_LEVEL')) !== undefined) set(['log', 'level'], v.trim().toLowerCase(), 'WHARF_LOG_LEVEL');
  if ((v = get('WHARF_LOG_FORMAT')) !== undefined) set(['log', 'format'], v.trim().toLowerCase(), 'WHARF_LOG_FORMAT');
  for (const l of LISTENER_NAMES) {
    const u = `WHARF_${l.toUpperCase()}_`;
    if ((v = get(u + 'HOST')) !== undefined) set(['listeners', l, 'host'], v.trim(), u + 'HOST');
    if ((v = get(u + 'PORT')) !== undefined) set(['listeners', l, 'port'], num(v), u + 'PORT');
    if ((v = get(u + 'ENABLED')) !== undefined) set(['listeners', l, 'enabled'], bool(v), u + 'ENABLED');
    if ((v = get(u + 'TLS_PORT')) !== undefined) set(['listeners', l, 'tls', 'port'], num(v), u + 'TLS_PORT');
    if ((v = get(u + 'TLS_ENABLED')) !== undefined) set(['listeners', l, 'tls', 'enabled'], bool(v), u + 'TLS_ENABLED');
  }
  // Cluster: the per-node settings (the peer list stays in the file, the same on every node).
  if ((v = get('WHARF_CLUSTER_NODE_ID')) !== undefined) set(['cluster', 'nodeId'], num(v), 'WHARF_CLUSTER_NODE_ID');
  if ((v = get('WHARF_CLUSTER_SECRET')) !== undefined) set(['cluster', 'secret'], v, 'WHARF_CLUSTER_SECRET');
  if ((v = get('WHARF_CLUSTER_HOST')) !== undefined) set(['cluster', 'host'], v.trim(), 'WHARF_CLUSTER_HOST');
  if ((v = get('WHARF_CLUSTER_PORT')) !== undefined) set(['cluster', 'port'], num(v), 'WHARF_CLUSTER_PORT');
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Merge `b` over `a`: plain objects recursively, everything else (arrays included) replaced; undefined in b is ignored. */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Error messages: `<key path>: <what is expected>, got <value>[ (from WHARF_X)]`.

function formatPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += (s ? '.' : '') + String(k);
  }
  return s || '(top level)';
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

function valueAt(root: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** The keys a strict object at `p` accepts, for "unknown key" hints. */
function knownKeysAt(p: readonly PropertyKey[]): string[] {
  let s: unknown = configSchema;
  const unwrap = (x: unknown): unknown => {
    for (let i = 0; i < 10; i++) {
      const def = (x as { _zod?: { def?: { innerType?: unknown; in?: unknown; type?: string } } })?._zod?.def;
      if (!def) return x;
      if (def.innerType) x = def.innerType;
      else if (def.type === 'pipe' && def.in) x = def.in;
      else return x;
    }
    return x;
  };
  for (const k of p) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, unknown>)[String(k)];
    else if (s instanceof z.ZodArray) s = s.element;
    else return [];
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function formatIssues(issues: readonly z.core.$ZodIssue[], raw: unknown, sources: Map<string, string>): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        out.push(`${formatPath([...issue.path, key])}: unknown key` + (known.length ? ` (expected one of: ${known.join(', ')})` : ''));
      }
      continue;
    }
    const keyPath = formatPath(issue.path);
    const value = issue.code !== 'custom' && 'input' in issue && issue.input !== undefined ? issue.input : valueAt(raw, issue.path);
    let expected = issue.message;
    if (expected.startsWith('Invalid input')) {
      // zod's generic wording: replace with something a person can act on
      if (issue.code === 'invalid_type') expected = `expected ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`}`;
      else expected = 'invalid value';
    }
    const from = sources.get(issue.path.map(String).join('.'));
    const got = issue.code === 'custom' && value === undefined ? '' : `, got ${describeValue(value)}`;
    out.push(`${keyPath}: ${expected}${got}${from ? ` (from ${from})` : ''}`);
  }
  return out;
}
