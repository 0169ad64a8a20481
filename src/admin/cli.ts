/**
 * Admin subcommands of the `wharf` command, all over the REST admin API: status, queues, topics, browse, send,
 * purge, dlq retry, connections, export, import; plus hash-password (local). Human tables by default, `--json`
 * for the API's own JSON.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { stringify as stringifyYaml } from 'yaml';

/** A failure the operator can act on: printed as one line, exit code 1. */
/** What `POST /api/definitions` and `/api/definitions/import` answer. */
interface ImportAnswer {
  created?: Record<string, number>;
  existing?: Record<string, number>;
  skipped?: Array<{ what: string; reason: string }>;
  notMapped?: Array<{ what: string; reason: string }>;
  config?: Record<string, unknown>;
  definitions?: { queues: unknown[]; topics: unknown[]; policyOverrides: unknown[]; brokerUsers: unknown[] };
}

export class AdminCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminCliError';
  }
}

export interface ConnOpts {
  url: string;
  user: string;
  password: string;
  json?: boolean;
}

export function withConn(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'admin API base URL').env('WHARF_URL').default('http://127.0.0.1:8161'))
    .addOption(new Option('-u, --user <name>', 'admin user').env('WHARF_USER').default('admin'))
    .addOption(new Option('-p, --password <password>', 'password').env('WHARF_PASSWORD').default('admin'))
    .option('--json', 'print the API response as JSON');
}

export async function call(o: ConnOpts, method: string, path: string, body?: unknown, raw?: { text: string; type: string }): Promise<unknown> {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new AdminCliError(`--url: not a URL: ${o.url}`);
  }
  const url = new URL(path, base.href.endsWith('/') ? base.href : base.href + '/');
  const headers: Record<string, string> = { authorization: 'Basic ' + Buffer.from(`${o.user}:${o.password}`).toString('base64'), accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (raw) headers['content-type'] = raw.type;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: raw ? raw.text : body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new AdminCliError(`cannot reach the admin API at ${base.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const msg = (json as { error?: { message?: string } } | undefined)?.error?.message ?? (text.trim().split('\n')[0] || res.statusText);
    throw new AdminCliError(`${res.status} ${msg}`);
  }
  return json;
}

export function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** Aligned columns; numbers right-aligned. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => cells.length > 0 && cells.every((r) => r[i] === '' || /^-?[\d.]+$/.test(r[i])));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

function intArg(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`${name}: expected an integer between ${min} and ${max}.`);
    return Number(v);
  };
}

function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function bytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

function duration(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

const q = encodeURIComponent;

interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

type Dest = { kind: string; name: string; depth: number; ready: number; inflight: number; consumers: number; producers: number; enqueued: number; dequeued: number; paused: boolean; dlq: boolean; temporary: boolean; rateIn: number; rateOut: number };

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function addAdminCommands(program: Command): void {
  withConn(program.command('status'))
    .description('broker overview: version, uptime, listeners, counts, rates, memory, store size')
    .action(async (o: ConnOpts) => {
      const v = (await call(o, 'GET', 'api/overview')) as {
        version: string; node: string; uptime: number; state: string; listeners: Record<string, { host: string; port: number }>;
        counts: Record<string, number>; rates: { publish: number; deliver: number; ack: number }; memory: { rss: number; heapUsed: number }; storeBytes: number; cluster: { role: string };
        connectionsByProtocol: Record<string, number>;
      };
      if (o.json) return printJson(v);
      const rows: [string, string][] = [
        ['version', v.version],
        ['node', v.node],
        ['state', v.state],
        ['uptime', duration(v.uptime)],
        ['cluster', v.cluster.role],
        ['listeners', Object.entries(v.listeners).map(([n, a]) => `${n}=${a.host}:${a.port}`).join(' ')],
        ['connections', `${v.counts.connections}` + (Object.keys(v.connectionsByProtocol).length ? ` (${Object.entries(v.connectionsByProtocol).map(([p, n]) => `${p} ${n}`).join(', ')})` : '')],
        ['queues', String(v.counts.queues)],
        ['topics', String(v.counts.topics)],
        ['subscriptions', String(v.counts.subscriptions)],
        ['consumers', String(v.counts.consumers)],
        ['messages', String(v.counts.depth)],
        ['rates /s', `publish ${rate(v.rates.publish)}  deliver ${rate(v.rates.deliver)}  ack ${rate(v.rates.ack)}`],
        ['memory', `rss ${bytes(v.memory.rss)}, heap ${bytes(v.memory.heapUsed)}`],
        ['store', bytes(v.storeBytes)],
      ];
      const w = Math.max(...rows.map((r) => r[0].length));
      out(rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n'));
    });

  const listDest = (kind: 'queue' | 'topic') => async (o: ConnOpts & { filter?: string; sort?: string; limit: number; offset: number }) => {
    const params = new URLSearchParams({ kind, limit: String(o.limit), offset: String(o.offset) });
    if (o.filter) params.set('filter', o.filter);
    if (o.sort) params.set('sort', o.sort);
    const v = (await call(o, 'GET', `api/destinations?${params}`)) as Page<Dest>;
    if (o.json) return printJson(v);
    if (kind === 'queue') {
      out(table(
        ['NAME', 'MESSAGES', 'READY', 'INFLIGHT', 'CONSUMERS', 'PRODUCERS', 'ENQUEUED', 'DEQUEUED', 'IN/S', 'OUT/S', 'FLAGS'],
        v.items.map((d) => [d.name, d.depth, d.ready, d.inflight, d.consumers, d.producers, d.enqueued, d.dequeued, rate(d.rateIn), rate(d.rateOut), [d.paused && 'paused', d.dlq && 'dlq', d.temporary && 'temp'].filter(Boolean).join(',')]),
      ));
    } else {
      out(table(['NAME', 'CONSUMERS', 'PRODUCERS', 'PUBLISHED', 'IN/S'], v.items.map((d) => [d.name, d.consumers, d.producers, d.enqueued, rate(d.rateIn)])));
    }
    if (v.total > v.items.length) out(`(${v.items.length} of ${v.total}; use --offset/--limit for more)`);
  };
  for (const [name, kind] of [['queues', 'queue'], ['topics', 'topic']] as const) {
    withConn(program.command(name))
      .description(`list ${name} (filter: substring, or a glob with * and ?)`)
      .option('-f, --filter <text>', 'only names containing this (or matching this glob)')
      .option('-s, --sort <field>', 'name, depth, consumers, enqueued, dequeued, rateIn, rateOut, …')
      .option('--limit <n>', 'rows to show', intArg('--limit', 1, 1000), 100)
      .option('--offset <n>', 'rows to skip', intArg('--offset'), 0)
      .action(listDest(kind));
  }

  withConn(program.command('browse').argument('<queue>', 'queue name'))
    .description('show messages in a queue without consuming them')
    .option('--limit <n>', 'messages to show', intArg('--limit', 1, 500), 20)
    .option('--offset <n>', 'messages to skip', intArg('--offset'), 0)
    .option('--selector <expr>', 'JMS selector, e.g. "priority > 4"')
    .action(async (queue: string, o: ConnOpts & { limit: number; offset: number; selector?: string }) => {
      const params = new URLSearchParams({ limit: String(o.limit), offset: String(o.offset) });
      if (o.selector) params.set('selector', o.selector);
      type Msg = { seq: number; messageId: string; state: string; priority: number; bodySize: number; body: string; bodyEncoding: string; timestamp: number; deliveryCount: number; properties: Record<string, unknown> };
      const v = (await call(o, 'GET', `api/queues/${q(queue)}/messages?${params}`)) as Page<Msg> & { total: number | null };
      if (o.json) return printJson(v);
      const preview = (m: Msg) => {
        const s = m.bodyEncoding === 'utf8' ? m.body.replace(/\s+/g, ' ') : `base64:${m.body}`;
        return s.length > 60 ? s.slice(0, 57) + '...' : s;
      };
      out(table(['SEQ', 'MESSAGE ID', 'STATE', 'PRI', 'SIZE', 'DELIVERIES', 'PROPERTIES', 'BODY'], v.items.map((m) => [m.seq, m.messageId, m.state, m.priority, m.bodySize, m.deliveryCount, Object.keys(m.properties).length, preview(m)])));
      if (v.total !== null && v.total > v.offset + v.items.length) out(`(${v.items.length} of ${v.total} messages; use --offset/--limit for more)`);
    });

  const collect = (v: string, acc: string[]) => [...acc, v];
  withConn(program.command('send').argument('<destination>', 'queue name (topic://name for a topic)'))
    .description('send one message')
    .option('-b, --body <text>', 'message body ("-" reads standard input)')
    .option('--body-file <file>', 'message body from a file (sent as bytes unless it is UTF-8 text)')
    .option('-P, --property <name=value>', 'application property (repeatable); numbers and true/false are typed', collect, [])
    .option('--priority <0-9>', 'priority', intArg('--priority', 0, 9))
    .option('--ttl <ms>', 'time to live, ms', intArg('--ttl'))
    .option('--delay <ms>', 'delivery delay, ms', intArg('--delay'))
    .option('--correlation-id <id>', 'correlation id')
    .option('--content-type <type>', 'content type')
    .option('--non-persistent', 'send as non-persistent')
    .action(async (dest: string, o: ConnOpts & { body?: string; bodyFile?: string; property: string[]; priority?: number; ttl?: number; delay?: number; correlationId?: string; contentType?: string; nonPersistent?: boolean }) => {
      if (o.body === undefined && !o.bodyFile) throw new AdminCliError('send: give --body <text> or --body-file <file>');
      let body: string;
      let bodyEncoding: 'utf8' | 'base64' = 'utf8';
      if (o.bodyFile) {
        let buf: Buffer;
        try {
          buf = readFileSync(o.bodyFile);
        } catch (err) {
          throw new AdminCliError(`cannot read ${o.bodyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        const text = buf.toString('utf8');
        if (Buffer.from(text, 'utf8').equals(buf)) body = text;
        else {
          body = buf.toString('base64');
          bodyEncoding = 'base64';
        }
      } else body = o.body === '-' ? await readStdin() : o.body!;
      const properties: Record<string, string | number | boolean> = {};
      for (const p of o.property) {
        const i = p.indexOf('=');
        if (i <= 0) throw new AdminCliError(`--property ${p}: expected name=value`);
        const [k, v] = [p.slice(0, i), p.slice(i + 1)];
        properties[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) && Number.isSafeInteger(Math.trunc(Number(v))) ? Number(v) : v;
      }
      const topic = dest.startsWith('topic://');
      const name = dest.replace(/^(queue|topic):\/\//, '');
      if (!name) throw new AdminCliError(`send: ${dest} names no destination`);
      const v = await call(o, 'POST', `api/${topic ? 'topics' : 'queues'}/${q(name)}/messages`, {
        body,
        bodyEncoding,
        properties,
        priority: o.priority,
        ttl: o.ttl,
        delay: o.delay,
        correlationId: o.correlationId,
        contentType: o.contentType,
        durable: !o.nonPersistent,
      });
      if (o.json) return printJson(v);
      out(`sent ${(v as { messageId: string }).messageId} to ${(v as { destination: string }).destination}`);
    });

  withConn(program.command('purge').argument('<queue>', 'queue name'))
    .description('remove every message from a queue that is not being delivered right now')
    .action(async (queue: string, o: ConnOpts) => {
      const v = (await call(o, 'POST', `api/queues/${q(queue)}/purge`)) as { removed: number };
      if (o.json) return printJson(v);
      out(`purged ${v.removed} message${v.removed === 1 ? '' : 's'} from ${queue}`);
    });

  const dlq = program.command('dlq').description('dead-letter queues');
  withConn(dlq.command('retry').argument('<queue>', 'dead-letter queue, e.g. DLQ.orders'))
    .description('move dead-lettered messages back to where they came from (or --to)')
    .option('--to <destination>', 'send them here instead (queue name, or topic://name)')
    .option('--seq <n>', 'only this message (repeatable)', (v: string, acc: number[]) => [...acc, intArg('--seq', 1)(v)], [] as number[])
    .action(async (queue: string, o: ConnOpts & { to?: string; seq: number[] }) => {
      const v = (await call(o, 'POST', `api/queues/${q(queue)}/retry`, { to: o.to, seqs: o.seq.length ? o.seq : undefined })) as { moved: number };
      if (o.json) return printJson(v);
      out(`retried ${v.moved} message${v.moved === 1 ? '' : 's'} from ${queue}`);
    });

  withConn(program.command('connections'))
    .description('list client connections')
    .option('-f, --filter <text>', 'id, client id, user or address containing this')
    .option('--limit <n>', 'rows to show', intArg('--limit', 1, 1000), 100)
    .action(async (o: ConnOpts & { filter?: string; limit: number }) => {
      const params = new URLSearchParams({ limit: String(o.limit) });
      if (o.filter) params.set('filter', o.filter);
      type C = { id: string; protocol: string; clientId?: string; user?: string; remoteAddress?: string; consumers: number; producers: number; messagesIn: number; messagesOut: number };
      const v = (await call(o, 'GET', `api/connections?${params}`)) as Page<C>;
      if (o.json) return printJson(v);
      out(table(['ID', 'PROTOCOL', 'CLIENT ID', 'USER', 'ADDRESS', 'CONSUMERS', 'PRODUCERS', 'IN', 'OUT'], v.items.map((c) => [c.id, c.protocol, c.clientId, c.user, c.remoteAddress, c.consumers, c.producers, c.messagesIn, c.messagesOut])));
    });

  withConn(program.command('close-connection').argument('<id>', 'connection id (see wharf connections)'))
    .description('close a client connection')
    .action(async (id: string, o: ConnOpts) => {
      await call(o, 'DELETE', `api/connections/${q(id)}`);
      if (o.json) return printJson({ closed: id });
      out(`closed ${id}`);
    });

  const users = program.command('users').description('the broker\'s users (messaging, console roles, SQS access keys), stored in the broker');
  withConn(users.command('list'))
    .description('list the users (security.users from the config file, and runtime users)')
    .action(async (o: ConnOpts) => {
      type U = { username: string; groups: string[]; roles: string[]; accessKeys: string[]; source: string };
      const v = (await call(o, 'GET', 'api/security/users')) as { items: U[] };
      if (o.json) return printJson(v);
      out(table(['USER', 'GROUPS', 'ROLES', 'ACCESS KEYS', 'SOURCE'], v.items.map((u) => [u.username, u.groups.join(','), u.roles.join(','), u.accessKeys.join(','), u.source])));
    });
  withConn(users.command('add').argument('<username>', 'user name (letters, digits, . _ @ -)'))
    .description('add (or replace the groups/roles of) a runtime user')
    .addOption(new Option('--new-password <password>', 'the user\'s password (at least 8 characters; stored as an scrypt hash)').env('WHARF_NEW_PASSWORD').makeOptionMandatory())
    .option('--group <group>', 'member of this group (repeatable)', collect, [] as string[])
    .option('--role <role>', 'console role: admin or viewer (repeatable)', collect, [] as string[])
    .option('--access-key <id:secret>', 'an SQS/SNS access key of this user (repeatable)', collect, [] as string[])
    .action(async (username: string, o: ConnOpts & { newPassword: string; group: string[]; role: string[]; accessKey: string[] }) => {
      const accessKeys = o.accessKey.map((k) => {
        const i = k.indexOf(':');
        if (i <= 0) throw new Error(`--access-key: expected <id>:<secret>, got '${k}'`);
        return { accessKeyId: k.slice(0, i), secretAccessKey: k.slice(i + 1) };
      });
      const v = await call(o, 'PUT', `api/security/users/${q(username)}`, { password: o.newPassword, groups: o.group, roles: o.role, ...(accessKeys.length ? { accessKeys } : {}) });
      if (o.json) return printJson(v);
      out(`user ${username} saved`);
    });
  withConn(users.command('passwd').argument('<username>', 'user name'))
    .description('change a runtime user\'s password')
    .addOption(new Option('--new-password <password>', 'the new password (at least 8 characters)').env('WHARF_NEW_PASSWORD').makeOptionMandatory())
    .action(async (username: string, o: ConnOpts & { newPassword: string }) => {
      const v = await call(o, 'PUT', `api/security/users/${q(username)}`, { password: o.newPassword });
      if (o.json) return printJson(v);
      out(`password of ${username} changed`);
    });
  withConn(users.command('remove').argument('<username>', 'user name'))
    .description('remove a runtime user (its connections are closed)')
    .action(async (username: string, o: ConnOpts) => {
      await call(o, 'DELETE', `api/security/users/${q(username)}`);
      if (o.json) return printJson({ removed: username });
      out(`user ${username} removed`);
    });

  const acl = program.command('acl').description('destination access rules: security.acl from the config file, and runtime rules stored in the broker');
  withConn(acl.command('list'))
    .description('list the ACL rules in force (config and runtime)')
    .action(async (o: ConnOpts) => {
      type R = { id?: string; match: string; kind?: string; read?: string[]; write?: string[]; admin?: string[]; by?: string };
      const v = (await call(o, 'GET', 'api/security/acl')) as { config: R[]; runtime: R[] };
      if (o.json) return printJson(v);
      const row = (r: R, id: string) => [id, r.match, r.kind ?? 'both', (r.read ?? []).join(','), (r.write ?? []).join(','), (r.admin ?? []).join(',')];
      out(table(['ID', 'MATCH', 'KIND', 'READ', 'WRITE', 'ADMIN'], [...v.config.map((r) => row(r, 'config')), ...v.runtime.map((r) => row(r, r.id ?? '?'))]));
    });
  withConn(acl.command('add').argument('<match>', 'destination name or pattern (orders.>, a.*.c)'))
    .description('add a runtime rule (effective at once; consumers that lose read access are closed)')
    .option('--kind <kind>', 'queue or topic (default: both)')
    .option('--read <name>', 'user or group that may consume/browse (repeatable; * = every authenticated user)', collect, [] as string[])
    .option('--write <name>', 'user or group that may send/publish (repeatable)', collect, [] as string[])
    .option('--admin <name>', 'user or group that may create/delete/purge (repeatable)', collect, [] as string[])
    .action(async (match: string, o: ConnOpts & { kind?: string; read: string[]; write: string[]; admin: string[] }) => {
      const v = (await call(o, 'POST', 'api/security/acl', { match, kind: o.kind, read: o.read, write: o.write, admin: o.admin })) as { id: string };
      if (o.json) return printJson(v);
      out(`rule ${v.id} added`);
    });
  withConn(acl.command('remove').argument('<id>', 'rule id (from wharf acl list)'))
    .description('remove a runtime rule (effective at once; consumers that lose read access are closed)')
    .action(async (id: string, o: ConnOpts) => {
      await call(o, 'DELETE', `api/security/acl/${q(id)}`);
      if (o.json) return printJson({ removed: id });
      out(`rule ${id} removed`);
    });

  withConn(program.command('export'))
    .description('print the definitions (destinations, subscriptions, policies, users, SQS/SNS, MQTT sessions) as JSON')
    .option('--hashes', "include the users' password hashes and access-key secrets (admins only)")
    .action(async (o: ConnOpts & { hashes?: boolean }) => {
      printJson(await call(o, 'GET', o.hashes ? 'api/definitions?hashes=true' : 'api/definitions'));
    });

  withConn(program.command('import').argument('<file>', 'definitions file from wharf export, a RabbitMQ definitions export or an activemq.xml ("-" = standard input)'))
    .description('create the destinations, subscriptions and users of a definitions file (existing ones are kept); --format rabbitmq|activemq migrates and lists what did not map')
    .addOption(new Option('--format <format>', 'what the file is').choices(['wharf', 'rabbitmq', 'activemq']).default('wharf'))
    .option('--vhost <name>', 'RabbitMQ: the virtual host to take (default /)')
    .option('--dry-run', 'RabbitMQ/ActiveMQ: show what would be created and what does not map, change nothing')
    .action(async (file: string, o: ConnOpts & { format: 'wharf' | 'rabbitmq' | 'activemq'; vhost?: string; dryRun?: boolean }) => {
      let text: string;
      try {
        text = file === '-' ? await readStdin() : readFileSync(file, 'utf8');
      } catch (err) {
        throw new AdminCliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      let v: ImportAnswer;
      if (o.format === 'activemq') {
        const q = new URLSearchParams({ format: 'activemq', ...(o.dryRun ? { dryRun: 'true' } : {}) });
        v = (await call(o, 'POST', `api/definitions/import?${q}`, undefined, { text, type: 'application/xml' })) as ImportAnswer;
      } else {
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch (err) {
          throw new AdminCliError(`${file} is not JSON: ${(err as Error).message}`);
        }
        if (o.format === 'wharf') v = (await call(o, 'POST', 'api/definitions', doc)) as ImportAnswer;
        else {
          const q = new URLSearchParams({ format: 'rabbitmq', ...(o.vhost ? { vhost: o.vhost } : {}), ...(o.dryRun ? { dryRun: 'true' } : {}) });
          v = (await call(o, 'POST', `api/definitions/import?${q}`, doc)) as ImportAnswer;
        }
      }
      if (o.json) return printJson(v);
      if (v.created && v.existing) {
        const kinds = Object.keys(v.created);
        out(table(['', ...kinds.map((k) => k.toUpperCase())], [['created', ...kinds.map((k) => v.created![k])], ['existing', ...kinds.map((k) => v.existing![k] ?? 0)]]));
      }
      if (v.definitions) out(`would create: ${v.definitions.queues.length} queues, ${v.definitions.topics.length} topics, ${v.definitions.policyOverrides.length} policy overrides, ${v.definitions.brokerUsers.length} users`);
      for (const s of v.skipped ?? []) out(`skipped ${s.what}: ${s.reason}`);
      for (const s of v.notMapped ?? []) out(`not mapped: ${s.what}: ${s.reason}`);
      if (v.config && Object.keys(v.config).length) out(`\nadd to the configuration file (YAML):\n${stringifyYaml(v.config).trimEnd()}`);
    });

  program
    .command('hash-password')
    .argument('[password]', 'the password (default: read from standard input)')
    .description('print an scrypt hash for passwordHash in the config file (security.users, admin.users)')
    .action(async (password?: string) => {
      const pw = password ?? (await readStdin()).replace(/\r?\n$/, '');
      if (!pw) throw new AdminCliError('hash-password: empty password');
      const { hashPassword } = await import('./auth.js');
      out(await hashPassword(pw));
    });
}
