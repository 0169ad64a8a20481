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
try {
  const mod = (await import(pathToFileURL(path.join(here, `${name}${ext}`)).href)) as { run?: () => Promise<void> };
  if (typeof mod.run === 'function') await mod.run();
} catch (err) {
  // an unknown option or a missing value (--help included) is a usage error, not a stack trace
  if (!String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) throw err;
  console.error(`bench ${name}: ${(err as Error).message}; its options are described at the top of bench/${name}.ts`);
  process.exit(2);
}
