/** Running clients no one here wrote (Debian packages) from tests: presence checks, commands, files beside the tests. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';

/** Debian's python3 (where python3-* client packages install), not whatever python3 comes first on PATH. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/** Fail (never skip) when a client the test drives is not installed, saying which package brings it. */
export function need(file: string, pkg: string): void {
  if (!existsSync(file)) throw new Error(`${file} is missing: install the Debian package (apt-get install -y ${pkg})`);
}

/** Run a command to completion; rejects with its output when it exits non-zero or runs past `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** A file of the test sources (scripts, Java sources), also when the tests run compiled from dist/. */
export function testSource(...parts: string[]): string {
  return path.join(repoRoot, 'test', ...parts);
}
