/**
 * Benchmark dispatcher: `npm run bench -- <name> [args]` runs `node dist/bench/run.js <name>`, which imports
 * `./<name>.js` and calls its exported `run()` (a module without `run` runs on import).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const name = process.argv[2];
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name>   (a file bench/<name>.ts, e.g. mqtt, store)');
  process.exit(2);
}
// the benchmark sees its own arguments as if started directly
process.argv.splice(2, 1);
const here = path.dirname(new URL(import.meta.url).pathname);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const mod = (await import(pathToFileURL(path.join(here, `${name}${ext}`)).href)) as { run?: () => Promise<void> };
if (typeof mod.run === 'function') await mod.run();
