/** Chromium for the console tests: Debian's chromium through playwright-core, and the console's browser modules built. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '../helpers/paths.js';

const CHROMIUM = process.env.WHARF_TEST_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser tests need Debian's chromium at ${CHROMIUM} (apt-get install -y chromium), or WHARF_TEST_CHROMIUM=/path/to/chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** Compile the console's browser modules (src/admin/ui → dist/src/admin/ui) so tsx runs see the current code. */
export function buildConsole(): void {
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(repoRoot, 'src', 'admin', 'ui', 'tsconfig.json')], { cwd: repoRoot, stdio: 'inherit' });
}

