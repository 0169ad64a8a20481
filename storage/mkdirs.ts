import fs from 'node:fs';
import path from 'node:path';

/**
 * mkdir -p without `fs.mkdirSync(p, { recursive: true })`, which loops forever on Node 20 where a
 * directory cannot be created although its parent exists (e.g. under /proc: ENOENT every time).
 */
export function mkdirs(p: string): void {
  try {
    fs.mkdirSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.statSync(p).isDirectory()) return;
    const parent = path.dirname(p);
    if (code !== 'ENOENT' || parent === p || fs.existsSync(parent)) throw err;
    mkdirs(parent);
    fs.mkdirSync(p);
  }
}
