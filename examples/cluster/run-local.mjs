// Start the three nodes of examples/cluster/ (compiled broker in dist/) with prefixed output; Ctrl-C stops them all.
// Usage: npm run cluster:local
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '..', '..', 'dist', 'src', 'app', 'cli.js');
const children = [1, 2, 3].map((i) => {
  const child = spawn(process.execPath, [cli, 'start', '--config', path.join(here, `node${i}.yaml`), '--log-format', 'pretty'], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (const s of [child.stdout, child.stderr]) {
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString();
      let n;
      while ((n = buf.indexOf('\n')) >= 0) {
        process.stdout.write(`[node${i}] ${buf.slice(0, n)}\n`);
        buf = buf.slice(n + 1);
      }
    });
  }
  child.on('exit', (code, sig) => process.stdout.write(`[node${i}] exited (${code ?? sig})\n`));
  return child;
});
process.stdout.write('three nodes starting: STOMP on 61613/61623/61633, admin on 8161/8171/8181; `wharf cluster status --url http://127.0.0.1:8171`\n');
let stopping = false;
const stop = () => {
  if (stopping) for (const c of children) c.kill('SIGKILL');
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.on('exit', r)))));
