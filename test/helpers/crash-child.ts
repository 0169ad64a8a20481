/**
 * Crash tests of the storage layer: run a TypeScript child (`node --import tsx <args>`) that prints `ok <n>` each time
 * write n is durable, SIGKILL it once it has printed `ok` for at least `okAtLeast`, and return the highest n it had
 * printed by then (every write up to it must survive).
 */
import { spawn } from 'node:child_process';

export async function killAfterOks(args: string[], okAtLeast: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lastOk = 0;
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l.startsWith('ok ')) lastOk = Math.max(lastOk, Number(l.slice(3)));
  });
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (lastOk >= okAtLeast) {
        clearInterval(t);
        resolve();
      }
    }, 1);
    child.on('exit', (code) => {
      clearInterval(t);
      reject(new Error(`child exited early with ${code}`));
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  return lastOk;
}
