/**
 * An ActiveMQ 5 `activemq.xml` → a Wharf migration plan.
 *
 * - `<destinations>` → queues and topics.
 * - `<policyEntry>` (destination policy) and the redelivery plugin's `<redeliveryPolicy>` entries → policy
 *   settings: dead-letter strategy (individual prefix/suffix, shared queue, discarding; processExpired),
 *   maximumRedeliveries, delays and back-off. They are applied to the imported destinations they match (most
 *   specific pattern wins, as ActiveMQ's PolicyMap) as runtime overrides, and each pattern becomes a
 *   configuration rule (destinations:) for destinations made later. Prefetch and memory limits do not map
 *   (clients choose prefetch; Wharf pages every queue to disk) and are listed.
 * - `simpleAuthenticationPlugin` users → broker users (their plain-text passwords hashed with scrypt) with
 *   their groups; `authorizationEntries` → runtime ACL rules (in force once imported, as `wharf acl add`);
 *   composite/virtual destinations → composites for the configuration file (Wharf keeps them there); transport
 *   connectors → listeners.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { type AclRule, type DestinationPolicy, isWildcard, matchTopic, type PolicyRule } from '../../core/api.js';
import { badRequest } from '../http-util.js';
import { emptyPlan, type MigrationPlan, type NotMapped, usableName } from './plan.js';

type Node = Record<string, unknown>;

const kids = (n: Node | undefined, name: string): Node[] => (n && Array.isArray(n[name]) ? (n[name] as Node[]) : []);
const kid = (n: Node | undefined, name: string): Node | undefined => kids(n, name)[0];
const attr = (n: Node | undefined, name: string): string | undefined => (n && typeof n[`@${name}`] === 'string' ? (n[`@${name}`] as string) : undefined);
const attrs = (n: Node): string[] => Object.keys(n).filter((k) => k.startsWith('@') && !k.startsWith('@xmlns')).map((k) => k.slice(1));
const children = (n: Node): string[] => Object.keys(n).filter((k) => !k.startsWith('@') && k !== '#text');
const bool = (v: string | undefined, def: boolean) => (v === undefined ? def : v.trim().toLowerCase() === 'true');

/** The first `<broker>` element anywhere (inside Spring's `<beans>`, or the root). */
function findBroker(n: Node): Node | undefined {
  for (const k of children(n)) {
    for (const c of kids(n, k)) {
      if (k === 'broker') return c;
      const found = findBroker(c);
      if (found) return found;
    }
  }
  return undefined;
}

/** A policy entry's target: `queue="orders.>"`, `topic="prices"`. */
interface Target {
  kind: 'queue' | 'topic';
  match: string;
}
function targetOf(n: Node): Target | undefined {
  const q = attr(n, 'queue');
  if (q !== undefined) return { kind: 'queue', match: q };
  const t = attr(n, 'topic');
  if (t !== undefined) return { kind: 'topic', match: t };
  return undefined;
}

// policyEntry attributes with no Wharf counterpart, and why (the rest are unknown and listed as such)
const POLICY_ATTR_REASON: Record<string, string> = {
  queuePrefetch: 'consumers choose their prefetch in Wharf (jms.prefetchPolicy, STOMP activemq.prefetchSize, AMQP credit)',
  topicPrefetch: 'consumers choose their prefetch in Wharf (jms.prefetchPolicy, STOMP activemq.prefetchSize, AMQP credit)',
  durableTopicPrefetch: 'consumers choose their prefetch in Wharf',
  queueBrowserPrefetch: 'consumers choose their prefetch in Wharf',
  memoryLimit: 'Wharf keeps a bounded window of each queue in memory and pages the rest from disk; to bound a destination set maxBytes or maxMessages',
  producerFlowControl: 'Wharf blocks producers per destination when maxMessages/maxBytes is reached (limitPolicy block) and broker-wide on resource alarms',
  cursorMemoryHighWaterMark: 'Wharf pages from disk without a memory cursor',
  gcInactiveDestinations: 'Wharf does not delete idle destinations',
  inactiveTimoutBeforeGC: 'Wharf does not delete idle destinations',
  inactiveTimeoutBeforeGC: 'Wharf does not delete idle destinations',
  maxPageSize: 'Wharf pages from disk on its own terms',
  lazyDispatch: 'no Wharf equivalent',
  optimizedDispatch: 'no Wharf equivalent',
  useCache: 'no Wharf equivalent',
  advisoryForConsumed: 'Wharf sends no advisory messages for consumed/delivered messages',
  advisoryForDelivery: 'Wharf sends no advisory messages for consumed/delivered messages',
  advisoryForSlowConsumers: 'no advisory messages',
  advisoryForFastProducers: 'no advisory messages',
  advisoryWhenFull: 'no advisory messages',
  sendAdvisoryIfNoConsumers: 'no advisory messages',
  enableAudit: 'Wharf deduplicates per protocol (SQS FIFO, MQTT QoS 2), not with a producer audit',
  maxAuditDepth: 'no producer audit',
  maxProducersToAudit: 'no producer audit',
  strictOrderDispatch: 'Wharf dispatches in order within priority',
};
// attributes that need nothing: Wharf does it anyway
const POLICY_ATTR_FINE = new Set(['queue', 'topic', 'prioritizedMessages', 'expireMessagesPeriod', 'useConsumerPriority', 'allConsumersExclusiveByDefault']);

function deadLetterSettings(entry: Node, t: Target, miss: (what: string, reason: string) => void, where: string): Partial<DestinationPolicy> {
  const s = kid(entry, 'deadLetterStrategy');
  if (!s) return {};
  const o: Partial<DestinationPolicy> = {};
  const ind = kid(s, 'individualDeadLetterStrategy');
  const shared = kid(s, 'sharedDeadLetterStrategy');
  const discarding = kid(s, 'discardingDeadLetterStrategy') ?? kid(s, 'discarding');
  const strategy = ind ?? shared ?? discarding;
  if (!strategy) return {};
  if (discarding) {
    o.deadLetterQueue = '';
    return o;
  }
  if (ind) {
    const useQueue = bool(attr(ind, t.kind === 'queue' ? 'useQueueForQueueMessages' : 'useQueueForTopicMessages'), true);
    const prefix = attr(ind, t.kind === 'queue' ? 'queuePrefix' : 'topicPrefix') ?? (t.kind === 'queue' ? 'ActiveMQ.DLQ.Queue.' : 'ActiveMQ.DLQ.Topic.');
    const suffix = attr(ind, t.kind === 'queue' ? 'queueSuffix' : 'topicSuffix') ?? '';
    if (!useQueue) miss(`${where}: individualDeadLetterStrategy useQueueFor${t.kind === 'queue' ? 'Queue' : 'Topic'}Messages=false`, 'Wharf dead-letters into queues only');
    if (bool(attr(ind, 'destinationPerDurableSubscriber'), false)) miss(`${where}: destinationPerDurableSubscriber`, 'Wharf dead-letters a subscription by its topic name');
    o.deadLetterQueue = `${prefix}{name}${suffix}`;
  } else if (shared) {
    const q = attr(kid(kid(shared, 'deadLetterQueue'), 'queue'), 'physicalName');
    o.deadLetterQueue = q ?? 'ActiveMQ.DLQ';
  }
  if (!bool(attr(strategy, 'processExpired'), true)) o.expiry = 'drop';
  if (bool(attr(strategy, 'processNonPersistent'), false)) miss(`${where}: processNonPersistent`, 'Wharf dead-letters non-persistent messages as well');
  if (attr(strategy, 'expiration')) miss(`${where}: dead-letter expiration`, 'messages in a Wharf DLQ do not expire by the strategy: set defaultTtl on the DLQ');
  return o;
}

/**
 * ActiveMQ `redeliveryPolicy` attributes as Wharf settings. ActiveMQ waits initialRedeliveryDelay before the first
 * redelivery and redeliveryDelay (times the back-off) after; Wharf has one starting delay, taken from
 * redeliveryDelay when both are given (the later redeliveries are the many).
 */
function redeliverySettings(n: Node, where: string, miss: (what: string, reason: string) => void): Partial<DestinationPolicy> {
  const o: Partial<DestinationPolicy> = {};
  const int = (k: string) => {
    const v = attr(n, k);
    return v !== undefined && /^-?\d+$/.test(v.trim()) ? Number(v) : undefined;
  };
  const max = int('maximumRedeliveries');
  if (max !== undefined) o.maxRedeliveries = max;
  const initial = int('initialRedeliveryDelay');
  const delay = int('redeliveryDelay');
  if (delay !== undefined) {
    o.initialRedeliveryDelay = Math.max(0, delay);
    if (initial !== undefined && initial !== delay) miss(`${where}: initialRedeliveryDelay="${initial}"`, `Wharf has one starting delay: every redelivery starts from redeliveryDelay (${delay} ms)`);
  } else if (initial !== undefined) o.initialRedeliveryDelay = Math.max(0, initial);
  if (bool(attr(n, 'useExponentialBackOff'), false)) {
    const m = Number(attr(n, 'backOffMultiplier') ?? 5);
    if (Number.isFinite(m) && m >= 1) o.backoffMultiplier = m;
  }
  const maxDelay = int('maximumRedeliveryDelay');
  if (maxDelay !== undefined && maxDelay > 0) o.maxRedeliveryDelay = maxDelay;
  return o;
}

export function planActivemq(xml: string): MigrationPlan {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw badRequest(`activemq.xml is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, isArray: (_n, _p, _leaf, isAttr) => !isAttr, parseAttributeValue: false, parseTagValue: false });
  const broker = findBroker(parser.parse(xml) as Node);
  if (!broker) throw badRequest('no <broker> element: not an ActiveMQ activemq.xml');
  const plan = emptyPlan('activemq');
  const miss = (what: string, reason: string) => plan.notMapped.push({ what, reason } satisfies NotMapped);
  const placeholder = (v: string) => /\$\{[^}]+\}/.test(v);

  // ------------------------------------------------------------------ destinations
  const destinations = kid(broker, 'destinations');
  for (const kind of ['queue', 'topic'] as const) {
    for (const d of kids(destinations, kind)) {
      const name = attr(d, 'physicalName') ?? '';
      const bad = usableName(name) ?? (placeholder(name) ? 'a ${…} property placeholder' : undefined);
      if (bad) {
        miss(`${kind} ${name}`, bad);
        continue;
      }
      if (kind === 'queue') plan.definitions.queues.push({ name });
      else plan.definitions.topics.push({ name });
    }
  }

  // ------------------------------------------------------------------ policies: destination policy + redelivery plugin
  // ActiveMQ applies the one most specific policyEntry, and separately the one most specific redeliveryPolicy
  type Rule = Target & { settings: Partial<DestinationPolicy> };
  const policyRules: Rule[] = [];
  const redeliveryRules: Rule[] = [];
  const policyMap = kid(kid(broker, 'destinationPolicy'), 'policyMap');
  const defaults = kids(kid(policyMap, 'defaultEntry'), 'policyEntry');
  const entries: Array<{ e: Node; targets: Target[] }> = [
    ...kids(kid(policyMap, 'policyEntries'), 'policyEntry').map((e) => ({ e, targets: targetOf(e) ? [targetOf(e)!] : [] })),
    ...defaults.map((e) => ({ e, targets: [{ kind: 'queue' as const, match: '>' }, { kind: 'topic' as const, match: '>' }] })),
  ];
  for (const { e, targets } of entries) {
    const where = `policyEntry ${targets.length === 1 ? `${targets[0].kind}="${targets[0].match}"` : targets.length ? '(defaultEntry)' : '(tempQueue/tempTopic)'}`;
    if (!targets.length) {
      miss(where, 'policies for temporary destinations do not map');
      continue;
    }
    for (const t of targets) policyRules.push({ ...t, settings: deadLetterSettings(e, t, targets.length === 1 ? miss : () => undefined, where) });
    for (const a of attrs(e)) {
      if (POLICY_ATTR_FINE.has(a)) continue;
      miss(`${where}: ${a}="${attr(e, a)}"`, POLICY_ATTR_REASON[a] ?? 'no Wharf equivalent');
    }
    for (const c of children(e)) if (c !== 'deadLetterStrategy') miss(`${where}: <${c}>`, 'no Wharf equivalent');
  }
  if (entries.length && !entries.some(({ e }) => kid(e, 'deadLetterStrategy'))) {
    miss('deadLetterStrategy (default)', "ActiveMQ's default is one shared ActiveMQ.DLQ; Wharf dead-letters into DLQ.<name> unless a policy says otherwise");
  }
  const redeliveryPlugin = kid(kid(broker, 'plugins'), 'redeliveryPlugin');
  const rmap = kid(kid(redeliveryPlugin, 'redeliveryPolicyMap'), 'redeliveryPolicyMap');
  for (const p of kids(kid(rmap, 'defaultEntry'), 'redeliveryPolicy')) {
    const settings = redeliverySettings(p, 'redeliveryPolicy (defaultEntry)', miss);
    redeliveryRules.push({ kind: 'queue', match: '>', settings }, { kind: 'topic', match: '>', settings });
  }
  for (const p of kids(kid(rmap, 'redeliveryPolicyEntries'), 'redeliveryPolicy')) {
    const t = targetOf(p);
    if (t) redeliveryRules.push({ ...t, settings: redeliverySettings(p, `redeliveryPolicy ${t.kind}="${t.match}"`, miss) });
    else miss('redeliveryPolicy (temporary destinations)', 'policies for temporary destinations do not map');
  }
  if (redeliveryPlugin && !bool(attr(redeliveryPlugin, 'fallbackToDeadLetter'), true)) miss('redeliveryPlugin fallbackToDeadLetter=false', 'Wharf always dead-letters after the last redelivery');

  /** The settings ActiveMQ would apply to `name` (or to the names a pattern covers): best policyEntry + best redeliveryPolicy. */
  const settingsFor = (kind: 'queue' | 'topic', name: string): Partial<DestinationPolicy> => {
    const best = (rules: Rule[]) => {
      const hits = rules.filter((r) => r.kind === kind && matchTopic(r.match, name));
      hits.sort((a, b) => (b.match === name ? Infinity : b.match.length) - (a.match === name ? Infinity : a.match.length));
      return hits[0]?.settings ?? {};
    };
    return { ...best(policyRules), ...best(redeliveryRules) };
  };
  // each pattern: a configuration rule for destinations made later
  const patterns = new Map<string, Target>();
  for (const r of [...policyRules, ...redeliveryRules]) if (isWildcard(r.match)) patterns.set(`${r.kind}:${r.match}`, r);
  for (const t of patterns.values()) {
    const settings = settingsFor(t.kind, t.match);
    if (Object.keys(settings).length) (plan.config.destinations ??= []).push({ match: t.match, kind: t.kind, ...settings } satisfies PolicyRule);
  }
  // and the imported destinations (and those named exactly by an entry): runtime overrides, applied at once
  const named = [...plan.definitions.queues.map((q) => ({ kind: 'queue' as const, name: q.name })), ...plan.definitions.topics.map((t) => ({ kind: 'topic' as const, name: t.name }))];
  for (const r of [...policyRules, ...redeliveryRules]) if (!isWildcard(r.match) && !named.some((a) => a.kind === r.kind && a.name === r.match)) named.push({ kind: r.kind, name: r.match });
  for (const d of named) {
    const override = settingsFor(d.kind, d.name);
    if (Object.keys(override).length) plan.definitions.policyOverrides.push({ kind: d.kind, name: d.name, override });
  }
  const dlqs = new Set(plan.definitions.policyOverrides.map((p) => p.override.deadLetterQueue).filter((x): x is string => !!x && !x.includes('{name}')));
  for (const q of plan.definitions.queues) if (dlqs.has(q.name)) q.dlq = true;

  // ------------------------------------------------------------------ users, groups, ACLs
  const plugins = kid(broker, 'plugins');
  const simple = kid(plugins, 'simpleAuthenticationPlugin');
  if (simple) {
    const anon = attr(simple, 'anonymousAccessAllowed');
    if (anon !== undefined) (plan.config.security ??= {}).anonymous = bool(anon, false);
    for (const u of kids(kid(simple, 'users'), 'authenticationUser')) {
      const username = attr(u, 'username') ?? '';
      const password = attr(u, 'password') ?? '';
      const groups = (attr(u, 'groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean);
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) {
        miss(`authenticationUser ${username}`, 'a Wharf user name is 1–64 letters, digits, . _ @ -');
        continue;
      }
      if (!password || placeholder(password)) {
        miss(`authenticationUser ${username}`, password ? `its password is a property placeholder (${password}): create it with \`wharf users add ${username} --new-password …\`` : 'no password');
        continue;
      }
      if (password.length < 8) miss(`authenticationUser ${username}: password`, 'shorter than 8 characters: carried over as it is, change it (wharf users passwd)');
      plan.definitions.brokerUsers.push({ username, passwordHash: '(the password of activemq.xml, hashed with scrypt at import)', groups, roles: [] });
      plan.passwords.set(username, password);
    }
  }
  for (const p of ['jaasAuthenticationPlugin', 'jaasCertificateAuthenticationPlugin', 'jaasDualAuthenticationPlugin']) {
    if (kid(plugins, p)) miss(p, 'JAAS login modules do not map: the users are in login.config / users.properties; add them with `wharf users add`');
  }
  const authMap = kid(kid(kid(plugins, 'authorizationPlugin'), 'map'), 'authorizationMap');
  const acl: AclRule[] = [];
  for (const e of kids(kid(authMap, 'authorizationEntries'), 'authorizationEntry')) {
    const t = targetOf(e);
    if (!t) continue;
    if (t.match.startsWith('ActiveMQ.Advisory')) continue; // Wharf's own advisories need no grant
    const list = (k: string) => (attr(e, k) ?? '').split(',').map((g) => g.trim()).filter(Boolean);
    const rule: AclRule = { match: t.match, kind: t.kind };
    for (const k of ['read', 'write', 'admin'] as const) if (list(k).length) rule[k] = list(k);
    acl.push(rule);
  }
  if (kid(authMap, 'tempDestinationAuthorizationEntry')) miss('tempDestinationAuthorizationEntry', 'Wharf lets every connection use its own temporary destinations');
  plan.definitions.acl.push(...acl);

  // ------------------------------------------------------------------ composite and virtual destinations
  const virtual = kid(kid(kid(broker, 'destinationInterceptors'), 'virtualDestinationInterceptor'), 'virtualDestinations');
  for (const kind of ['compositeQueue', 'compositeTopic'] as const) {
    for (const c of kids(virtual, kind)) {
      const name = attr(c, 'name') ?? '';
      const targets: Array<{ address: string; selector?: string }> = [];
      const fwd = kid(c, 'forwardTo');
      for (const q of kids(fwd, 'queue')) targets.push({ address: `queue://${attr(q, 'physicalName')}` });
      for (const q of kids(fwd, 'topic')) targets.push({ address: `topic://${attr(q, 'physicalName')}` });
      for (const f of kids(fwd, 'filteredDestination')) {
        const to = attr(f, 'queue') !== undefined ? `queue://${attr(f, 'queue')}` : `topic://${attr(f, 'topic')}`;
        targets.push({ address: to, ...(attr(f, 'selector') ? { selector: attr(f, 'selector') } : {}) });
      }
      (plan.config.composites ??= []).push({ name, kind: kind === 'compositeQueue' ? 'queue' : 'topic', targets });
      if (attr(c, 'forwardOnly') === 'false') miss(`${kind} ${name}: forwardOnly=false`, 'a Wharf composite only forwards; also send to the original name by listing it as a target');
    }
  }
  if (plan.config.composites?.length) miss('virtualDestinations', `${plan.config.composites.length} composite destinations: composites live in the configuration file: add the config.composites entries of this answer`);
  for (const v of kids(virtual, 'virtualTopic')) {
    const prefix = attr(v, 'prefix') ?? 'Consumer.*.';
    if (prefix !== 'Consumer.*.' || (attr(v, 'name') ?? '>') !== '>') miss(`virtualTopic ${attr(v, 'name') ?? '>'}`, `Wharf's virtual topics are VirtualTopic.> with consumer prefix Consumer.*. (virtualTopics: topicPrefix/consumerPrefix in the configuration)`);
    else plan.config.virtualTopics = { enabled: true };
  }

  // ------------------------------------------------------------------ the rest of the broker
  const schemes: Record<string, string> = { tcp: 'openwire', nio: 'openwire', auto: 'openwire', 'auto+nio': 'openwire', ssl: 'openwire-tls', 'nio+ssl': 'openwire-tls', amqp: 'amqp', 'amqp+nio': 'amqp', 'amqp+ssl': 'amqp-tls', stomp: 'stomp', 'stomp+nio': 'stomp', 'stomp+ssl': 'stomp-tls', mqtt: 'mqtt', 'mqtt+nio': 'mqtt', 'mqtt+ssl': 'mqtt-tls', ws: 'ws', wss: 'ws-tls' };
  for (const c of kids(kid(broker, 'transportConnectors'), 'transportConnector')) {
    const uri = attr(c, 'uri') ?? '';
    const m = /^([a-z+]+):\/\/([^:/?]*):(\d+)(\?.*)?$/i.exec(uri);
    const listener = m ? schemes[m[1].toLowerCase()] : undefined;
    if (!m || !listener || placeholder(uri)) {
      miss(`transportConnector ${attr(c, 'name') ?? uri}`, `${uri}: not a listener Wharf has`);
      continue;
    }
    if (listener.endsWith('-tls')) {
      miss(`transportConnector ${attr(c, 'name') ?? uri}`, `TLS listeners need cert and key files: listeners.${listener.slice(0, -4)}.tls { port: ${m[3]}, cert, key }`);
      continue;
    }
    (plan.config.listeners ??= {})[listener] = { port: Number(m[3]), ...(m[2] && m[2] !== '0.0.0.0' ? { host: m[2] } : { host: '0.0.0.0' }) };
    if (m[4]) miss(`transportConnector ${attr(c, 'name') ?? uri}: options`, `${m[4].slice(1)}: connection options do not carry over (limits: in the configuration)`);
  }
  if (kid(broker, 'systemUsage')) miss('systemUsage', 'memory, store and temp limits: Wharf raises resource alarms instead (resources: in the configuration, docs/operations.md)');
  if (kid(broker, 'networkConnectors')) miss('networkConnectors', 'networks of brokers do not map: Wharf clusters with Raft');
  if (kid(broker, 'persistenceAdapter')) miss('persistenceAdapter', 'Wharf stores in LMDB; messages are not part of the migration');
  return plan;
}
