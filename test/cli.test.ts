import { repoRoot } from './helpers/paths.js';
import { ephemeralEnv } from './helpers/wharf-process.js';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = repoRoot;
const cli = path.join(root, 'src', 'app', 'cli.ts');
const echoModules = path.join(root, 'test', 'fixtures', 'echo-modules.ts');

/** Environment with every listener on 127.0.0.1:0 and no WHARF_* leaking in from the caller. */
function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...ephemeralEnv(), ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv = testEnv(), preload = false) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...(preload ? ['--import', echoModules] : []), cli, ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineError(stderr: string, expected: RegExp) {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0], expected);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

/** Collects JSON log lines from a child's stdout. */
function logLines(child: ChildProcess) {
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  return lines;
}

async function waitFor(cond: () => boolean, what: string, child: ChildProcess, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}) while waiting for ${what}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

describe('cli', function () {
  this.timeout(60_000);
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-cli-'));
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help lists the commands and start --help its options', () => {
    const top = run(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: wharf/);
    assert.match(top.stdout, /start \[options\]/);
    const start = run(['start', '--help']);
    assert.equal(start.code, 0);
    for (const opt of ['--config <file>', '--data-dir <dir>', '--log-level <level>', '--log-format <format>']) assert.ok(start.stdout.includes(opt), opt);
    // Every variable docs/configuration.md lists, so the help never trails the config loader.
    for (const v of ['WHARF_CONFIG', 'WHARF_DATA_DIR', 'WHARF_LOG_LEVEL', 'WHARF_LOG_FORMAT', 'WHARF_<LISTENER>_PORT', 'WHARF_CLUSTER_NODE_ID']) assert.ok(start.stdout.includes(v), v);
  });

  it('--version prints the package version', () => {
    const r = run(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it('exits 1 with a one-line message on a bad config file', () => {
    const file = path.join(dir, 'wharf.yaml');
    writeFileSync(file, 'listeners:\n  stomp:\n    port: abc\nlisteners_typo: 1\n');
    const env = testEnv();
    delete env.WHARF_STOMP_PORT; // env would override the file's bad value
    const r = run(['start', '--config', file, '--data-dir', path.join(dir, 'data')], env);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^wharf: invalid configuration in .*wharf\.yaml: listeners\.stomp\.port: expected a number between 0 and 65535, got "abc"; listeners_typo: unknown key/);
  });

  it('exits 1 on a bad environment value, naming the variable', () => {
    const r = run(['start', '--data-dir', path.join(dir, 'data')], testEnv({ WHARF_STOMP_PORT: 'abc' }));
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /listeners\.stomp\.port: expected a number between 0 and 65535, got "abc" \(from WHARF_STOMP_PORT\)/);
  });

  it('exits 1 on a missing config file and on a bad --log-level', () => {
    const r = run(['start', '--config', path.join(dir, 'none.yaml')]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^wharf: cannot read config file .*none\.yaml: file not found$/);
    const l = run(['start', '--log-level', 'loud']);
    assert.equal(l.code, 1);
    assert.match(l.stderr, /argument 'loud' is invalid/);
  });

  it('exits 1 when the data directory is unusable', () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    const r = run(['start', '--data-dir', file]);
    assert.equal(r.code, 1);
    assertOneLineError(r.stderr, /^wharf: data directory .*a-file exists but is not a directory$/);
  });

  it('exits 1 when a port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--import', echoModules, cli, 'start', '--data-dir', path.join(dir, 'data')], {
          cwd: root,
          env: testEnv({ WHARF_STOMP_PORT: String(port) }),
        });
        let stderr = '';
        let stdout = '';
        child.stderr.on('data', (c) => (stderr += c));
        child.stdout.on('data', (c) => (stdout += c));
        child.on('exit', (code) => resolve({ code, stderr, stdout }));
      });
      assert.equal(r.code, 1);
      assertOneLineError(r.stderr, new RegExp(`^wharf: stomp listener: port ${port} on 127\\.0\\.0\\.1 is already in use$`));
      assert.doesNotMatch(r.stdout, /listener error|EADDRINUSE|\\n\s+at /, 'the log does not repeat the bind error with a stack trace');
    } finally {
      blocker.close();
    }
  });

  it('start logs each listener, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', echoModules, cli, 'start', '--data-dir', path.join(dir, 'data')], {
      cwd: root,
      env: testEnv(),
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    const lines = logLines(child);
    await waitFor(() => lines.some((l) => l.msg === 'broker started'), 'broker started', child);
    const listening = lines.filter((l) => typeof l.msg === 'string' && / listening on /.test(l.msg as string));
    assert.deepEqual(listening.map((l) => l.listener).sort(), ['mqtt', 'stomp', 'ws']);
    const stomp = listening.find((l) => l.listener === 'stomp')!;
    assert.equal(stomp.host, '127.0.0.1');
    assert.match(String(stomp.msg), /^stomp listening on 127\.0\.0\.1:\d+$/);

    // it really serves
    const s = net.connect(stomp.port as number, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('hi');
    const echoed = await new Promise<string>((r) => s.once('data', (c) => r(c.toString())));
    assert.equal(echoed, 'hi');
    const sClosed = new Promise((r) => s.once('close', r));
    s.on('error', () => undefined);

    child.kill('SIGTERM');
    const { code } = await exited(child);
    assert.equal(code, 0, `stderr: ${stderr}`);
    await sClosed;
    assert.ok(lines.some((l) => l.msg === 'broker stopped'));
    assert.ok(lines.some((l) => String(l.msg).startsWith('shutting down')));
  });

  it('a second signal forces exit when graceful shutdown hangs', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', echoModules, cli, 'start', '--data-dir', path.join(dir, 'data')], {
      cwd: root,
      env: testEnv({ FIXTURE_HANG_CLOSE: '1' }),
    });
    children.push(child);
    const lines = logLines(child);
    await waitFor(() => lines.some((l) => l.msg === 'broker started'), 'broker started', child);
    child.kill('SIGINT');
    await waitFor(() => lines.some((l) => String(l.msg).startsWith('shutting down')), 'shutting down', child);
    child.kill('SIGINT');
    const { code } = await exited(child);
    assert.equal(code, 130);
  });

  it('keeps running with no listeners at all until signalled', async () => {
    const env = testEnv();
    for (const l of ['OPENWIRE', 'AMQP', 'STOMP', 'MQTT', 'WS', 'ADMIN', 'SQS']) env[`WHARF_${l}_ENABLED`] = 'false';
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', echoModules, cli, 'start', '--data-dir', path.join(dir, 'data')], { cwd: root, env });
    children.push(child);
    const lines = logLines(child);
    await waitFor(() => lines.some((l) => l.msg === 'broker started'), 'broker started', child);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, 'still running');
    child.kill('SIGTERM');
    assert.equal((await exited(child)).code, 0);
  });
});
