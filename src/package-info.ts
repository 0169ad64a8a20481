/**
 * Where Wharf is installed and which version it is: the directory of the package.json named `wharf`,
 * found by walking up from this file (src/ under tsx, dist/src/ when built). A leaf module with no
 * dependencies, so the CLI, the admin console and protocol adapters can all use it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let found: { root: string; version: string } | null | undefined;

function locate(): { root: string; version: string } | null {
  if (found !== undefined) return found;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wharf') return (found = { root: dir, version: pkg.version ?? '0.0.0' });
    } catch {
      // no (readable) package.json here: keep walking up
    }
    dir = path.dirname(dir);
  }
  return (found = null);
}

/** The package root; throws when Wharf runs outside its package (the console needs its files). */
export function packageRoot(): string {
  const f = locate();
  if (!f) throw new Error('cannot find the wharf package root (package.json named "wharf")');
  return f.root;
}

/** Wharf's version, or 0.0.0 when the package.json cannot be found. */
export function packageVersion(): string {
  return locate()?.version ?? '0.0.0';
}
