/** `wharf start` as a real child process (the CLI), every listener on 127.0.0.1 port 0. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

/** `node` arguments that run the wharf CLI: dist/src/app/cli.js when the caller runs compiled, else src/app/cli.ts under tsx. */
export function wharfCliArgs(): string[] {
  const compiled = !import.meta.url.endsWith('.ts');
  return compiled ? [path.join(repoRoot, 'dist', 'src', 'app', 'cli.js')] : ['--import', 'tsx', path.join(repoRoot, 'src', 'app', 'cli.ts')];
}

/** The caller's environment without WHARF_* settings, so a child broker takes only the configuration it is given. */
export function envWithoutWharf(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WHARF_')) e[k] = v;
  return e;
}

/** The caller's environment without WHARF_* settings, and every listener on 127.0.0.1:0. */
export function ephemeralEnv(): NodeJS.ProcessEnv {
  const e = envWithoutWharf();
  for (const l of ['OPENWIRE', 'AMQP', 'STOMP', 'MQTT', 'WS', 'ADMIN', 'SQS']) {
    e[`WHARF_${l}_PORT`] = '0';
    e[`WHARF_${l}_HOST`] = '127.0.0.1';
  }
  return e;
}

/**
 * Start `wharf start --data-dir DIR` (compiled from dist/ when the caller runs compiled, else src/app/cli.ts under tsx);
 * resolves once it logs "broker started", with the port of each listener. `env` overrides (a fixed port, so clients
 * that reconnect on their own find the restarted broker).
 */
export async function startWharf(dataDir: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; ports: Record<string, number> }> {
  const child = spawn(process.execPath, [...wharfCliArgs(), 'start', '--data-dir', dataDir], { cwd: repoRoot, env: { ...ephemeralEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let rec: { msg?: string; listeners?: Record<string, { port: number }> };
        try {
          rec = JSON.parse(line);
        } catch {
          continue; // not a log line
        }
        if (rec.msg === 'broker started' && rec.listeners) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve(Object.fromEntries(Object.entries(rec.listeners).map(([name, a]) => [name, a.port])));
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`wharf exited (${code}) before it started: ${stderr}`)));
  });
  return { child, ports };
}

/** Resolves when `child` logs "broker started" on stdout; rejects, with its stderr so far, if it exits first. */
export function brokerStarted(child: ChildProcess, name: string, stderr: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buf = '';
    let started = false;
    child.stdout!.on('data', (c: Buffer) => {
      if (started) return;
      buf += c.toString();
      if (buf.includes('"msg":"broker started"')) {
        started = true;
        buf = '';
        resolve();
      }
    });
    child.once('exit', (code, sig) => {
      if (!started) reject(new Error(`${name} exited (${code ?? sig}) before it started: ${stderr()}`));
    });
  });
}

/** SIGKILL a child (a `wharf start` the test is crashing) and wait until it is gone; nothing if it already is. */
export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
