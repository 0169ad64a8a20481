/**
 * RabbitMQ definitions (the JSON of `rabbitmqctl export_definitions` or the management UI) → a Wharf migration
 * plan. One virtual host is taken (Wharf has none; `/` by default).
 *
 * - Queues become queues; their `x-` arguments and the highest-priority matching policy become a runtime policy
 *   override: `x-message-ttl` → defaultTtl, `x-max-length(-bytes)` → maxMessages/maxBytes, `x-overflow` →
 *   limitPolicy (RabbitMQ's default `drop-head` → drop-oldest), `x-delivery-limit` → maxRedeliveries,
 *   `x-dead-letter-exchange` (+ routing key) → deadLetterQueue when the exchange's bindings name one queue.
 *   The queue's own arguments win over a policy (for lengths, the smaller value, as RabbitMQ does).
 * - A policy whose pattern is a plain prefix or name becomes a configuration rule too (for queues made later).
 * - Fanout exchanges bound to queues become composites (configuration). Direct and topic exchange bindings do not
 *   map (Wharf routes topics to subscriptions, not to named queues) and are listed.
 * - Users: RabbitMQ keeps one salted SHA-256/MD5 round; Wharf stores only scrypt hashes, so users are listed
 *   to be given passwords, not created. `permissions` with `.*` or a plain prefix become runtime ACL rules.
 */
import type { AclRule, DestinationPolicy, PolicyRule } from '../../core/api.js';
import { badRequest } from '../http-util.js';
import { emptyPlan, type MigrationPlan, usableName } from './plan.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RabbitMQ's built-in exchanges: `amq.*` and the default exchange. */
const builtIn = (name: string) => name === '' || name.startsWith('amq.');

/** Keys that only tune RabbitMQ's own storage or placement: nothing to carry, nothing lost. */
const NO_EFFECT = new Set(['x-queue-type', 'x-queue-mode', 'x-queue-version', 'x-queue-master-locator', 'x-queue-leader-locator', 'x-quorum-initial-group-size', 'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-max-priority', 'queue-mode', 'queue-version', 'queue-master-locator', 'queue-leader-locator', 'max-in-memory-length', 'max-in-memory-bytes', 'target-group-size']);

function list(doc: Obj, key: string): Obj[] {
  const v = doc[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw badRequest(`${key}: expected a list`);
  return v.filter(isObj);
}

/** A RabbitMQ name regex as a Wharf wildcard, when it is one: `.*` → `>`, `^orders\.` → `orders.>`, `^orders$` → `orders`. */
export function regexToWildcard(re: string): string | undefined {
  if (re === '' || re === '.*' || re === '^.*' || re === '^.*$' || re === '.+') return '>';
  const prefix = /^\^((?:[A-Za-z0-9_-]|\\\.)+?)\\\.(?:\.\*|\.\+)?$/.exec(re);
  if (prefix) return `${prefix[1].replace(/\\\./g, '.')}.>`;
  const exact = /^\^((?:[A-Za-z0-9_-]|\\\.)+)\$$/.exec(re);
  if (exact) return exact[1].replace(/\\\./g, '.');
  return undefined;
}

interface Settings {
  override: Partial<DestinationPolicy>;
  dlx?: string;
  dlrk?: string;
}

export function planRabbitmq(doc: Obj, vhost = '/'): MigrationPlan {
  if (!Array.isArray(doc.queues) && !Array.isArray(doc.exchanges) && !Array.isArray(doc.users) && !doc.rabbit_version && !doc.rabbitmq_version) {
    throw badRequest('not a RabbitMQ definitions document (expected rabbit_version, queues, exchanges or users)');
  }
  const plan = emptyPlan('rabbitmq');
  const miss = (what: string, reason: string) => plan.notMapped.push({ what, reason });
  // an export of one virtual host (`rabbitmqctl export_definitions --vhost`) names none: its items are taken
  const inVhost = (o: Obj) => o.vhost === undefined || o.vhost === vhost;
  const others = new Map<string, number>();
  const pick = (key: string) =>
    list(doc, key).filter((o) => {
      if (inVhost(o)) return true;
      others.set(String(o.vhost), (others.get(String(o.vhost)) ?? 0) + 1);
      return false;
    });
  const queues = pick('queues');
  const exchanges = pick('exchanges');
  const bindings = pick('bindings');
  const policies = pick('policies');
  for (const [v, n] of others) miss(`vhost ${v}`, `${n} queues, exchanges, bindings and policies of another virtual host (Wharf has none): import it on its own with ?vhost=${encodeURIComponent(v)}`);

  // ------------------------------------------------------------------ exchanges and bindings
  const exchangeType = new Map<string, string>();
  for (const e of exchanges) {
    const name = String(e.name ?? '');
    if (builtIn(name)) continue;
    exchangeType.set(name, String(e.type ?? 'direct'));
  }
  const queueBindings = new Map<string, Array<{ queue: string; key: string }>>();
  for (const b of bindings) {
    const source = String(b.source ?? '');
    const dest = String(b.destination ?? '');
    if (b.destination_type !== 'queue') {
      miss(`binding ${source} → exchange ${dest}`, 'exchange-to-exchange bindings have no Wharf equivalent (composites forward from one name to several)');
      continue;
    }
    if (source === '') continue; // the default exchange: a send to the queue's name, as in Wharf
    const l = queueBindings.get(source) ?? [];
    l.push({ queue: dest, key: String(b.routing_key ?? '') });
    queueBindings.set(source, l);
  }
  for (const [name, type] of exchangeType) {
    const bound = queueBindings.get(name) ?? [];
    if (type === 'fanout' && bound.length) {
      const bad = usableName(name);
      if (bad) {
        miss(`exchange ${name}`, `fanout exchange: ${bad}`);
        continue;
      }
      (plan.config.composites ??= []).push({ name, kind: 'topic', targets: bound.map((b) => ({ address: `queue://${b.queue}` })) });
      miss(`exchange ${name} (fanout)`, 'composites live in the configuration file: add the config.composites entry of this answer (a send to topic://' + name + ' then reaches every bound queue)');
    } else if (type === 'topic') {
      if (bound.length) miss(`exchange ${name} (topic)`, `${bound.length} bindings into queues (${bound.map((b) => `${b.key} → ${b.queue}`).join(', ')}): Wharf routes topic messages to subscriptions, not to named queues; publish to topic://<routing key> and subscribe durably to the pattern (RabbitMQ '#' is Wharf '>')`);
    } else if (type === 'direct') {
      const other = bound.filter((b) => b.key !== b.queue);
      if (other.length) miss(`exchange ${name} (direct)`, `bindings with a routing key other than the queue's name (${other.map((b) => `${b.key} → ${b.queue}`).join(', ')}): send to the queue by its name in Wharf`);
    } else if (type === 'headers') {
      miss(`exchange ${name} (headers)`, 'headers exchanges do not map: use a JMS selector on a topic subscription');
    } else if (bound.length || type !== 'fanout') {
      miss(`exchange ${name} (${type})`, 'this exchange type has no Wharf equivalent');
    }
  }

  /** The one queue a dead-letter exchange (and routing key) delivers to, if there is exactly one. */
  const dlqOf = (dlx: string, key: string | undefined, queueName: string): string | undefined => {
    if (dlx === '') return key; // the default exchange routes by queue name
    const type = exchangeType.get(dlx);
    const bound = queueBindings.get(dlx) ?? [];
    const rk = key ?? queueName;
    const hits = type === 'fanout' ? bound : type === 'direct' ? bound.filter((b) => b.key === rk) : type === 'topic' ? bound.filter((b) => topicMatches(b.key, rk)) : [];
    const names = [...new Set(hits.map((b) => b.queue))];
    return names.length === 1 ? names[0] : undefined;
  };

  // ------------------------------------------------------------------ policies (regex over names)
  const queuePolicies: Array<{ name: string; re: RegExp; priority: number; def: Obj }> = [];
  for (const p of policies) {
    const name = String(p.name ?? '');
    const applyTo = String(p['apply-to'] ?? 'all');
    const def = isObj(p.definition) ? p.definition : {};
    if (applyTo === 'exchanges') {
      miss(`policy ${name}`, 'exchange policies (alternate-exchange, federation) do not map');
      continue;
    }
    let re: RegExp;
    try {
      re = new RegExp(String(p.pattern ?? ''));
    } catch (err) {
      miss(`policy ${name}`, `pattern is not a regular expression Wharf can read: ${(err as Error).message}`);
      continue;
    }
    queuePolicies.push({ name, re, priority: Number(p.priority ?? 0), def });
    const settings = readSettings(def, `policy ${name}`, miss);
    const wildcard = regexToWildcard(String(p.pattern ?? ''));
    const rule: PolicyRule | undefined = wildcard ? { match: wildcard, kind: 'queue', ...settings.override } : undefined;
    if (rule && Object.keys(settings.override).length > 0) (plan.config.destinations ??= []).push(rule);
    if (settings.dlx !== undefined) miss(`policy ${name}: dead-letter-exchange`, 'resolved to a dead-letter queue for each imported queue it matches; for queues made later set deadLetterQueue in the destinations: rule by hand');
    else if (!wildcard) miss(`policy ${name}`, `pattern ${JSON.stringify(p.pattern)} is not a prefix or a name: it is applied to the imported queues it matches, but queues made later need a configuration rule (destinations:) written by hand`);
  }
  queuePolicies.sort((a, b) => b.priority - a.priority);

  // ------------------------------------------------------------------ queues
  for (const q of queues) {
    const name = String(q.name ?? '');
    const bad = usableName(name);
    if (bad) {
      miss(`queue ${name}`, bad);
      continue;
    }
    const args = isObj(q.arguments) ? q.arguments : {};
    if (args['x-queue-type'] === 'stream') miss(`queue ${name}`, 'a stream (a replayable log) has no Wharf equivalent: created as a queue');
    if (q.auto_delete === true) miss(`queue ${name}: auto_delete`, 'Wharf queues are deleted by an operator, not when their last consumer leaves');
    if (q.durable === false) miss(`queue ${name}: durable false`, 'Wharf queues are always durable (non-persistent messages still stay in memory)');
    const own = readSettings(args, `queue ${name}`, miss);
    const pol = queuePolicies.find((p) => p.re.test(name));
    const fromPolicy = pol ? readSettings(pol.def, `policy ${pol.name}`, () => undefined) : { override: {} };
    const o: Partial<DestinationPolicy> = { ...fromPolicy.override, ...own.override };
    // lengths: the smaller of argument and policy wins (RabbitMQ)
    for (const k of ['maxMessages', 'maxBytes'] as const) {
      const a = own.override[k];
      const b = fromPolicy.override[k];
      if (a !== undefined && b !== undefined) o[k] = Math.min(a, b);
    }
    const dlx = own.dlx ?? fromPolicy.dlx;
    const dlrk = own.dlx !== undefined ? own.dlrk : fromPolicy.dlrk ?? own.dlrk;
    if (dlx !== undefined) {
      const target = dlqOf(dlx, dlrk, name);
      if (target) {
        o.deadLetterQueue = target;
        o.expiry = 'dlq';
      } else miss(`queue ${name}: dead-letter-exchange ${dlx}`, `the exchange does not deliver to exactly one queue${dlrk ? ` for routing key ${dlrk}` : ''}: set deadLetterQueue by hand (PUT /api/policies/queue/${name})`);
    }
    plan.definitions.queues.push({ name });
    if (Object.keys(o).length) plan.definitions.policyOverrides.push({ kind: 'queue', name, override: o });
  }
  // queues named as dead-letter targets are marked, so a failure there is not dead-lettered again
  const dlqs = new Set(plan.definitions.policyOverrides.map((p) => p.override.deadLetterQueue).filter((x): x is string => !!x));
  for (const q of plan.definitions.queues) if (dlqs.has(q.name)) q.dlq = true;

  // ------------------------------------------------------------------ users and permissions
  for (const u of list(doc, 'users')) {
    const name = String(u.name ?? '');
    if (!name) continue;
    if (name === 'guest') {
      miss('user guest', "RabbitMQ's loopback-only default user: Wharf's counterpart is built in (admin/admin on the console, anonymous clients from loopback until users exist)");
      continue;
    }
    const tags = Array.isArray(u.tags) ? u.tags.map(String) : String(u.tags ?? '').split(',').filter(Boolean);
    const role = tags.includes('administrator') ? 'admin' : tags.some((t) => ['monitoring', 'management', 'policymaker'].includes(t)) ? 'viewer' : undefined;
    const alg = String(u.hashing_algorithm ?? 'rabbit_password_hashing_sha256');
    miss(
      `user ${name}`,
      `its password hash (${alg}, one salted round) cannot be used by Wharf, which stores only scrypt hashes: create it with \`wharf users add ${name} --new-password …${role ? ` --role ${role}` : ''}\` (tags ${tags.join(',') || 'none'}${role ? ` → console role ${role}` : ''})`,
    );
  }
  const acl = new Map<string, AclRule>();
  for (const p of list(doc, 'permissions')) {
    if (!inVhost(p)) continue;
    const user = String(p.user ?? '');
    const rights: Array<['read' | 'write' | 'admin', unknown]> = [['read', p.read], ['write', p.write], ['admin', p.configure]];
    for (const [right, re] of rights) {
      if (re === '' || re === undefined) continue;
      const match = regexToWildcard(String(re));
      if (!match) {
        miss(`permission ${user} ${right === 'admin' ? 'configure' : right}`, `pattern ${JSON.stringify(re)} is not a prefix or a name: write the ACL rule by hand (wharf acl add)`);
        continue;
      }
      const rule = acl.get(match) ?? { match };
      (rule[right] ??= []).push(user);
      acl.set(match, rule);
    }
  }
  // RabbitMQ configure = Wharf admin
  plan.definitions.acl.push(...acl.values());
  for (const key of ['topic_permissions', 'parameters', 'global_parameters', 'operator_policies']) {
    const n = list(doc, key).filter((o) => key === 'global_parameters' || inVhost(o)).length;
    if (n && key !== 'global_parameters') miss(key, `${n} entries: ${key === 'parameters' ? 'shovels and federation upstreams' : key === 'topic_permissions' ? 'per-routing-key permissions' : 'operator policies'} have no Wharf equivalent`);
  }
  return plan;
}

/** RabbitMQ topic binding key (`*` one word, `#` zero or more) against a routing key. */
function topicMatches(pattern: string, key: string): boolean {
  const re = new RegExp('^' + pattern.split('.').map((w) => (w === '#' ? '(?:[^.]*(?:\\.[^.]*)*)?' : w === '*' ? '[^.]*' : w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('\\.') + '$');
  return re.test(key.replace(/^$/, ''));
}

/** Queue arguments (`x-…`) or a policy definition (no prefix) as Wharf policy settings. */
function readSettings(o: Obj, where: string, miss: (what: string, reason: string) => void): Settings {
  const s: Settings = { override: {} };
  const num = (k: string, v: unknown): number | undefined => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      miss(`${where}: ${k}`, `expected a non-negative integer, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return n;
  };
  let overflow: string | undefined;
  for (const [rawKey, v] of Object.entries(o)) {
    const k = rawKey.replace(/^x-/, '');
    if (NO_EFFECT.has(rawKey) || NO_EFFECT.has(k)) continue;
    switch (k) {
      case 'message-ttl': {
        const n = num(rawKey, v);
        if (n !== undefined) s.override.defaultTtl = n;
        break;
      }
      case 'max-length': {
        const n = num(rawKey, v);
        if (n !== undefined) s.override.maxMessages = n;
        break;
      }
      case 'max-length-bytes': {
        const n = num(rawKey, v);
        if (n !== undefined) s.override.maxBytes = n;
        break;
      }
      case 'delivery-limit': {
        const n = num(rawKey, v);
        if (n !== undefined) s.override.maxRedeliveries = n;
        break;
      }
      case 'overflow':
        overflow = String(v);
        break;
      case 'dead-letter-exchange':
        s.dlx = String(v);
        break;
      case 'dead-letter-routing-key':
        s.dlrk = String(v);
        break;
      case 'dead-letter-strategy':
        if (v !== 'at-most-once') miss(`${where}: ${rawKey}`, 'at-least-once dead-lettering is how Wharf always moves messages to a DLQ');
        break;
      case 'expires':
        miss(`${where}: ${rawKey}`, 'queues that delete themselves when unused do not exist in Wharf');
        break;
      case 'single-active-consumer':
        miss(`${where}: ${rawKey}`, 'single active consumer is a per-consumer choice in Wharf: an exclusive consumer (JMS consumer.exclusive, STOMP activemq.exclusive)');
        break;
      default:
        miss(`${where}: ${rawKey}`, k.startsWith('ha-') ? 'classic queue mirroring does not map: Wharf replicates the whole broker with Raft (cluster)' : 'no Wharf equivalent');
    }
  }
  const limited = s.override.maxMessages !== undefined || s.override.maxBytes !== undefined;
  if (overflow !== undefined || limited) {
    const ov = overflow ?? 'drop-head'; // RabbitMQ's default when a length limit is set
    if (ov === 'drop-head') s.override.limitPolicy = 'drop-oldest';
    else if (ov === 'reject-publish') s.override.limitPolicy = 'reject';
    else if (ov === 'reject-publish-dlx') {
      s.override.limitPolicy = 'reject';
      miss(`${where}: overflow reject-publish-dlx`, 'Wharf refuses the send (as reject-publish) but does not dead-letter the refused message');
    } else miss(`${where}: overflow ${ov}`, 'unknown overflow behaviour');
  }
  return s;
}
