/** Chromium for the console tests: Debian's chromium through playwright-core, and the console's browser modules built. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
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

/** Where the console tests leave their screenshots (and the load test its timings). */
export const testOutput = path.join(repoRoot, 'test-output');

/** A console test file's `before`: test-output/ made, the console built, chromium launched. */
export async function prepareChromium(): Promise<Browser> {
  mkdirSync(testOutput, { recursive: true });
  buildConsole();
  return launchChromium();
}

/** A page in a fresh context the console's size (1280×860); `errors` collects the page's uncaught errors. */
export async function openPage(browser: Browser, options: BrowserContextOptions = {}): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { ctx, page, errors };
}

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 100);

/** test-output/<prefix>-<the test's title as a file name>.png: the screenshot a test leaves behind. */
export function screenshotPath(prefix: string, title: string): string {
  return path.join(testOutput, `${prefix}-${slug(title)}.png`);
}
