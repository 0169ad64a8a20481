/**
 * The console's ACL page (src/admin/ui/acl.ts) in Debian's chromium: an admin adds and deletes a runtime rule, which
 * the broker applies at once; a viewer sees the rules but no way to change them. Fails — never skips — without
 * chromium. Screenshots land in test-output/.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openPage, prepareChromium, testOutput } from '../admin/browser.js';
import { client, startAdminBroker, until, type AdminBroker } from '../admin/helpers.js';

describe('console: access control page (chromium)', function () {
  this.timeout(90_000);
  let browser: Browser;
  let b: AdminBroker;
  /** Each page's uncaught errors. */
  const errors: string[][] = [];

  before(async function () {
    this.timeout(120_000);
    browser = await prepareChromium();
    b = await startAdminBroker({ config: { security: { acl: [{ match: 'audit.>', kind: 'topic', read: ['auditors'] }] } } });
  });
  after(async () => {
    await browser?.close();
    await b?.close();
    assert.deepEqual(errors.flat(), [], 'no uncaught errors in the page');
  });

  async function open(user: string, password: string): Promise<Page> {
    const { page, errors: pageErrors } = await openPage(browser);
    errors.push(pageErrors);
    await page.goto(`${b.url}/`);
    await page.getByLabel('User').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('link', { name: 'Access' }).click();
    await page.getByRole('heading', { name: 'Access control' }).waitFor();
    return page;
  }

  it('an admin adds a runtime rule (the broker applies it) and deletes it; the configured rule is listed', async () => {
    const page = await open('admin', 'admin');
    try {
      await page.getByRole('table', { name: 'Configured ACL rules' }).getByText('audit.>').waitFor();
      await page.getByLabel('Destination').fill('orders.>');
      await page.getByLabel('Kind').selectOption('queue');
      await page.getByLabel('Read (consume, browse)').fill('consumers, alice');
      await page.getByLabel('Write (send)').fill('producers');
      await page.getByRole('button', { name: 'Add rule' }).click();
      const row = page.getByRole('table', { name: 'Runtime ACL rules' }).locator('tr', { hasText: 'orders.>' });
      await row.waitFor();
      assert.match(await row.innerText(), /orders\.>\s+queue\s+consumers, alice\s+producers/);
      const api = client(b.url);
      const listed = (await api.get('/api/security/acl')).json as { runtime: Array<{ match: string; read: string[]; by: string }> };
      assert.deepEqual(listed.runtime.map((r) => [r.match, r.read, r.by]), [['orders.>', ['consumers', 'alice'], 'admin']]);
      await page.screenshot({ path: path.join(testOutput, 'console-acl-admin.png'), fullPage: true });

      await row.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await until(async () => ((await api.get('/api/security/acl')).json as { runtime: unknown[] }).runtime.length === 0, 'rule deleted');
      await page.getByRole('table', { name: 'Runtime ACL rules' }).getByText('No rules.').waitFor();
    } finally {
      await page.context().close();
    }
  });

  it('a viewer sees the rules but cannot add or delete', async () => {
    const api = client(b.url);
    assert.equal((await api.put('/api/users/vera', { password: 'vera-password', role: 'viewer' })).status, 200);
    assert.equal((await api.post('/api/security/acl', { match: 'billing.>', read: ['finance'] })).status, 201);
    const page = await open('vera', 'vera-password');
    try {
      await page.getByRole('table', { name: 'Runtime ACL rules' }).getByText('billing.>').waitFor();
      assert.equal(await page.getByRole('button', { name: 'Add rule' }).count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Delete' }).count(), 0);
      await page.screenshot({ path: path.join(testOutput, 'console-acl-viewer.png'), fullPage: true });
    } finally {
      await page.context().close();
    }
  });
});
