/**
 * A JMS client (ActiveMQ 5.17's own jars) for the security tests: test/security/java/SecurityJms.java in a JVM,
 * one per connection, driven line by line over stdin/stdout.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JAVA_JARS } from '../protocols/openwire/java-harness.js';
import { repoRoot } from '../helpers/paths.js';

let classpath: string | undefined;

function compiled(): string {
  if (classpath) return classpath;
  const jars = JAVA_JARS.map(([jar]) => path.join('/usr/share/java', jar)).join(':');
  const out = mkdtempSync(path.join(tmpdir(), 'wharf-security-java-'));
  process.once('exit', () => rmSync(out, { recursive: true, force: true })); // compiled once per test process
  execFileSync('javac', ['-nowarn', '-encoding', 'UTF-8', '-d', out, '-cp', jars, path.join(repoRoot, 'test', 'security', 'java', 'SecurityJms.java')], { stdio: ['ignore', 'ignore', 'pipe'] });
  classpath = `${out}:${jars}`;
  return classpath;
}

/** A JMS exception the client reported: `name` is the Java class (javax.jms.JMSSecurityException, …). */
export class JmsError extends Error {
  constructor(
    readonly javaClass: string,
    message: string,
  ) {
    super(`${javaClass}: ${message}`);
    this.name = javaClass;
  }
}

export class JmsClient {
  /** Messages received per subscription id. */
  readonly received = new Map<string, string[]>();
  /** CONNECTION-ERROR lines (the broker failed the connection). */
  readonly connectionErrors: string[] = [];
  exited = false;
  private readonly waiting: Array<(line: string) => void> = [];
  private readonly backlog: string[] = [];
  private nextId = 0;

  private constructor(private readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n')) >= 0; ) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        this.line(line);
      }
    });
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w('ERROR\tjava.lang.IllegalStateException\tthe JVM exited');
    });
  }

  private line(line: string): void {
    const [kind, a, b] = line.split('\t');
    if (kind === 'MSG') {
      const list = this.received.get(a!) ?? [];
      list.push(b ?? '');
      this.received.set(a!, list);
      return;
    }
    if (kind === 'CONNECTION-ERROR') {
      this.connectionErrors.push(line);
      return;
    }
    const w = this.waiting.shift();
    if (w) w(line);
    else this.backlog.push(line);
  }

  private reply(): Promise<string> {
    const l = this.backlog.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async command(...parts: string[]): Promise<string> {
    this.child.stdin!.write(parts.join('\t') + '\n');
    const r = await this.reply();
    if (r.startsWith('ERROR\t')) {
      const [, cls, msg] = r.split('\t');
      throw new JmsError(cls!, msg ?? '');
    }
    return r;
  }

  /**
   * createConnection(user, password) + start; rejects with the JMSException the client threw. `port` may be a URL
   * (`ssl://localhost:61617`); `jvmArgs` e.g. the javax.net.ssl key and trust store properties.
   */
  static async connect(port: number | string, user?: string, password?: string, jvmArgs: string[] = []): Promise<JmsClient> {
    const child = spawn('java', [...jvmArgs, '-cp', compiled(), 'SecurityJms', String(port), user ?? '-', password ?? '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const c = new JmsClient(child);
    const first = await c.reply();
    if (first !== 'CONNECTED') {
      child.kill('SIGKILL');
      const [, cls, msg] = first.split('\t');
      throw new JmsError(cls ?? 'unknown', msg ?? first);
    }
    return c;
  }

  async send(dest: string, body: string): Promise<void> {
    await this.command('send', dest, body);
  }

  /** createConsumer with a listener; resolves with the list its messages land in. */
  async subscribe(dest: string): Promise<string[]> {
    const id = String(this.nextId++);
    const list: string[] = [];
    this.received.set(id, list);
    await this.command('subscribe', id, dest);
    return list;
  }

  /** A QueueBrowser over `dest`: how many messages its enumeration gave. */
  async browse(dest: string): Promise<number> {
    return Number((await this.command('browse', dest)).split('\t')[1]);
  }

  /** ActiveMQConnection.destroyDestination (`queue://x`, `temp-queue://ID:…`). */
  async destroy(dest: string): Promise<void> {
    await this.command('destroy', dest);
  }

  /** createTemporaryQueue with a consumer on it: its name, and the list its messages land in. */
  async tempQueue(): Promise<{ name: string; received: string[] }> {
    const id = String(this.nextId++);
    const received: string[] = [];
    this.received.set(id, received);
    const r = await this.command('tempqueue', id);
    return { name: r.split('\t')[1]!, received };
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.write('close\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(t);
  }
}
