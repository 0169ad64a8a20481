/**
 * Browser tests of the web console: playwright-core driving Debian's chromium (headless). They fail — never
 * skip — when chromium is missing. Every test leaves a screenshot in test-output/.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createMessage, type Delivery, queue } from '../../src/core/api.js';
import { client, startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';
import { openPage, prepareChromium, screenshotPath, testOutput } from './browser.js';

describe('admin web console (chromium)', function () {
  this.timeout(90_000);
  let browser: Browser;
  let b: AdminBroker;
  let ctx: BrowserContext;
  let page: Page;
  let pageErrors: string[];
  const clients: Stompit[] = [];

  before(async function () {
    this.timeout(120_000);
    browser = await prepareChromium();
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    b = await startAdminBroker({ config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 0 }] } });
    ({ ctx, page, errors: pageErrors } = await openPage(browser));
  });
  afterEach(async function () {
    await page.screenshot({ path: screenshotPath('console', this.currentTest?.fullTitle() ?? 'test'), fullPage: true }).catch(() => undefined);
    for (const c of clients.splice(0)) c.destroy();
    await ctx.close();
    await b.close();
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  const stomp = async (headers: Record<string, string> = {}) => {
    const c = await Stompit.connect({ port: b.stompPort, headers });
    clients.push(c);
    return c;
  };

  async function login(p: Page = page) {
    await p.goto(`${b.url}/`);
    await p.getByLabel('User').fill('admin');
    await p.getByLabel('Password').fill('admin');
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.locator('[data-card=queues]').waitFor();
  }

  const stat = (name: string) => page.locator(`[data-stat="${name}"] dd`);

  it('logs in (and refuses a wrong password)', async () => {
    await page.goto(`${b.url}/`);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'bad username or password' }).waitFor();
    await page.getByLabel('Password').fill('admin');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    assert.equal(await page.locator('#who .user').innerText(), 'admin (admin)');
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === 'wharf_session')!;
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    // the session survives a reload; logging out ends it
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });

  it('shows a queue a STOMP client created, with the right depth', async () => {
    const s = await stomp();
    for (let i = 0; i < 3; i++) await s.send('/queue/stomp.orders', `order ${i}`, { persistent: 'true' });
    await s.send('/queue/stomp.other', 'x', { persistent: 'true' });
    await login();
    await page.getByRole('navigation').getByRole('link', { name: 'Destinations' }).click();
    await page.getByLabel(/Search destinations/).fill('stomp.orders');
    const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'stomp.orders', exact: true }) });
    await row.waitFor();
    await until(async () => (await page.getByRole('table', { name: 'Destinations' }).locator('tbody tr').count()) === 1, 'the filter to apply');
    const cells = await row.locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(0, 3), ['stomp.orders', 'queue', '3']);
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: 'Queue stomp.orders' }).waitFor();
    assert.equal(await stat('Messages').innerText(), '3');
    assert.equal(await stat('Enqueued').innerText(), '3');
  });

  it('browses a message and shows its body and properties', async () => {
    const s = await stomp();
    await s.send('/queue/browse.me', '{"order": 42, "item": "anchor"}', { persistent: 'true', region: 'eu-west', 'content-type': 'application/json', priority: '7' });
    await login();
    await page.goto(`${b.url}/#/queue/browse.me`);
    const row = page.getByRole('table', { name: 'Messages' }).getByRole('row').filter({ hasText: 'anchor' });
    await row.click();
    const detail = page.locator('#message-detail');
    await detail.getByRole('heading', { name: 'Message #1' }).waitFor();
    assert.equal(await detail.getByLabel('Body').innerText(), '{"order": 42, "item": "anchor"}');
    const props = detail.getByRole('table', { name: 'Properties' });
    assert.equal(await props.getByRole('row').filter({ hasText: 'region' }).locator('td').first().innerText(), 'eu-west');
    const headers = await detail.getByLabel('Headers').innerText();
    assert.match(headers, /Priority\s+7/);
    assert.match(headers, /Content type\s+application\/json/);
    assert.match(headers, /Persistent\s+yes/);
  });

  it('sends a message from the console that a STOMP client receives', async () => {
    const s = await stomp();
    const inbox = await s.subscribe('/queue/from.console');
    await login();
    await page.goto(`${b.url}/#/queue/from.console`);
    await page.getByRole('heading', { name: 'Send a message' }).waitFor();
    await page.locator('#send-body').fill('hello from the console');
    await page.locator('#send-props').fill('source=console\nattempt=2');
    await page.locator('#send-priority').fill('6');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const got = await inbox.next(5000);
    assert.equal(got.text, 'hello from the console');
    assert.equal(got.headers.source, 'console');
    assert.equal(got.headers.attempt, '2');
    assert.equal(got.headers.priority, '6');
    await page.getByRole('status').filter({ hasText: /^Sent ID:/ }).waitFor();
  });

  it('purges a queue after confirmation (cancel keeps the messages)', async () => {
    const s = await stomp();
    for (let i = 0; i < 5; i++) await s.send('/queue/to.purge', `m${i}`, { persistent: 'true' });
    await login();
    await page.goto(`${b.url}/#/queue/to.purge`);
    await until(async () => (await stat('Messages').innerText()) === '5', 'depth 5');
    await page.getByRole('button', { name: 'Purge' }).click();
    let dialog = page.getByRole('dialog', { name: 'Purge to.purge?' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /All 5 messages/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(b.broker.engine.getQueue('to.purge')!.depth, 5);
    await page.getByRole('button', { name: 'Purge' }).click();
    dialog = page.getByRole('dialog', { name: 'Purge to.purge?' });
    await dialog.getByRole('button', { name: 'Purge' }).click();
    await page.getByRole('status').filter({ hasText: 'Purged 5 messages' }).waitFor();
    await until(async () => (await stat('Messages').innerText()) === '0', 'depth 0 shown');
    assert.equal(b.broker.engine.getQueue('to.purge')!.depth, 0);
    assert.equal(await page.getByRole('table', { name: 'Messages' }).locator('td.empty').innerText(), 'No messages.');
  });

  it('retries a dead-lettered message back to its queue', async () => {
    const engine = b.broker.engine;
    await engine.send(createMessage({ body: Buffer.from('poison pill'), properties: { kind: 'bad' } }), queue('orders'));
    const ds: Delivery[] = [];
    const c = await engine.subscribe({ address: queue('orders'), prefetch: 1, onMessage: (d) => ds.push(d) });
    await until(() => ds.length === 1, 'delivery');
    c.nack(ds[0].id, { deadLetter: true, reason: 'cannot parse' });
    c.close();
    await until(() => engine.getQueue('DLQ.orders')?.depth === 1, 'dead letter');
    await login();
    await page.goto(`${b.url}/#/destinations?filter=orders`);
    await page.getByRole('link', { name: 'DLQ.orders' }).click();
    await page.getByRole('heading', { name: 'Queue DLQ.orders' }).waitFor();
    await page.getByRole('table', { name: 'Messages' }).getByRole('row').filter({ hasText: 'poison pill' }).click();
    const detail = page.locator('#message-detail');
    assert.match(await detail.getByRole('table', { name: 'Properties' }).innerText(), /dlqDeliveryFailureCause\s+cannot parse/);
    await detail.getByRole('button', { name: 'Retry', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Message sent back to orders' }).waitFor();
    await until(() => engine.getQueue('orders')!.depth === 1, 'message back in orders');
    assert.equal(engine.getQueue('DLQ.orders')!.depth, 0);
    const [back] = engine.browse(queue('orders'));
    assert.equal(back.message.body.toString(), 'poison pill');
    assert.equal(back.message.properties.originalDestination, undefined);
    await until(async () => (await stat('Messages').innerText()) === '0', 'DLQ depth 0 shown');
  });

  it('says within seconds when the broker is unreachable, and recovers when it is back', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    await b.close();
    b = await startAdminBroker({ config: { listeners: { admin: { host: '127.0.0.1', port } } } });
    await login();
    await page.waitForSelector('main[data-ready="overview"]');
    assert.equal(await page.isVisible('#unreachable'), false);
    await b.broker.stop();
    await page.waitForSelector('#unreachable', { state: 'visible', timeout: 10_000 });
    assert.match((await page.textContent('#unreachable')) ?? '', /Broker unreachable/);
    await b.restart();
    await page.waitForSelector('#unreachable', { state: 'hidden', timeout: 10_000 });
  });

  it('shows the overview chart moving while a producer runs', async () => {
    await login();
    const chart = page.locator('#rate-chart');
    await chart.locator('canvas').waitFor();
    await until(async () => Number(await chart.getAttribute('data-points')) >= 2, 'first samples');
    assert.equal(Number(await chart.getAttribute('data-max')), 0, 'idle broker: flat chart');
    const before = await chart.locator('canvas').screenshot();
    const s = await stomp();
    let running = true;
    let sent = 0;
    const producer = (async () => {
      while (running) {
        await s.send('/queue/busy.producer', `m${sent}`, { persistent: 'true' });
        sent++;
      }
    })();
    try {
      await until(async () => Number(await chart.getAttribute('data-lastpublish')) > 0, 'a publish rate on the chart', 10_000);
      await until(async () => /publish [1-9]/.test(await page.locator('#live-rates').innerText()), 'the live rate text');
      await page.waitForTimeout(600);
    } finally {
      running = false;
      await producer;
    }
    const after = await chart.locator('canvas').screenshot();
    assert.ok(!before.equals(after), 'the chart was redrawn with the new rates');
    assert.ok(Number(await page.locator('#depth-chart').getAttribute('data-lastdepth')) > 0, 'depth chart shows the backlog');
    await until(async () => Number((await page.locator('[data-card=messages]').innerText()).replace(/,/g, '')) > 0, 'message count card');
    assert.ok(sent > 0);
    // the panels below follow the live samples: the queue is listed with its depth, the STOMP connection counted
    const depth = b.broker.engine.getQueue('busy.producer')!.depth;
    const busiest = page.getByRole('table', { name: 'Busiest queues' });
    await until(async () => (await busiest.getByRole('row').filter({ hasText: 'busy.producer' }).count()) === 1, 'busy.producer in Busiest queues', 5000);
    await until(async () => (await busiest.getByRole('row').filter({ hasText: 'busy.producer' }).innerText()).replace(/,/g, '').includes(String(depth)), `its depth ${depth}`, 5000);
    await until(async () => /Protocols\s+stomp 1(\D|$)/.test(await page.locator('.info').innerText()), 'the Broker panel counts the STOMP connection', 5000);
  });

  it('closes a client connection after confirmation', async () => {
    const s = await stomp({ 'client-id': 'doomed-client' });
    await stomp({ 'client-id': 'survivor' });
    const socket = s.client.getTransportSocket();
    await login();
    await page.getByRole('navigation').getByRole('link', { name: 'Connections' }).click();
    const row = page.getByRole('row').filter({ hasText: 'doomed-client' });
    await row.waitFor();
    const id = (await row.locator('td').first().innerText()).trim();
    await row.getByRole('button', { name: `Close ${id}` }).click();
    const dialog = page.getByRole('dialog', { name: `Close connection ${id}?` });
    assert.match(await dialog.innerText(), /doomed-client/);
    await dialog.getByRole('button', { name: 'Close connection' }).click();
    await until(() => socket.destroyed, 'the STOMP socket to close');
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.getByRole('row').filter({ hasText: 'survivor' }).count(), 1);
    assert.deepEqual(b.broker.engine.listConnections().map((c) => c.clientId), ['survivor']);
  });

  it('works at phone width (menu button, stacked layout)', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await login();
    assert.equal(await page.getByRole('navigation').isVisible(), false);
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('navigation').getByRole('link', { name: 'Destinations' }).click();
    await page.getByRole('heading', { name: 'Destinations' }).waitFor();
    assert.equal(await page.getByRole('navigation').isVisible(), false, 'the menu closes after navigating');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal page scroll (${overflow}px)`);
  });

  it('every page renders: topic, subscription, subscriptions, SQS/SNS, cluster, users, definitions', async () => {
    const s = await stomp({ 'client-id': 'watcher' });
    await s.subscribe('/topic/prices.gold', { 'activemq.subscriptionName': 'gold-watch' });
    await s.send('/topic/prices.gold', 'price 1');
    await login();
    await page.goto(`${b.url}/#/topic/prices.gold`);
    await page.getByRole('heading', { name: 'Topic prices.gold' }).waitFor();
    await page.getByRole('link', { name: 'durable:watcher:gold-watch' }).click();
    await page.getByRole('heading', { name: 'Subscription durable:watcher:gold-watch' }).waitFor();
    await until(async () => (await stat('Messages').innerText()) !== '', 'stats');
    await page.getByRole('navigation').getByRole('link', { name: 'Subscriptions' }).click();
    await page.getByRole('table', { name: 'Subscriptions' }).getByRole('link', { name: 'durable:watcher:gold-watch' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'SQS / SNS' }).click();
    await page.getByRole('heading', { name: 'SNS subscriptions' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Cluster' }).click();
    await page.getByText('This broker runs standalone').waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Users' }).click();
    await page.getByText('The built-in admin/admin user is active').waitFor();
    await page.locator('#new-user').fill('ops');
    await page.locator('#new-password').fill('ops-password-1');
    await page.getByRole('button', { name: 'Save user' }).click();
    // the first real admin turns admin/admin off, and its session ends: log in as ops
    await page.getByRole('alert').filter({ hasText: 'log in as ops' }).waitFor();
    await page.getByLabel('User').fill('ops');
    await page.getByLabel('Password').fill('ops-password-1');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#who .user').filter({ hasText: 'ops' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Users' }).click();
    await page.getByRole('table', { name: 'Users' }).getByRole('row').filter({ hasText: 'ops' }).waitFor();
    await page.getByRole('navigation').getByRole('link', { name: 'Definitions' }).click();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export definitions' }).click();
    const file = await (await download).path();
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(doc.wharf, 'definitions');
    assert.deepEqual(doc.users.map((u: { username: string }) => u.username), ['ops']);
  });

  it('loads the overview quickly with 10,000 destinations (measured, not asserted)', async function () {
    this.timeout(180_000);
    const engine = b.broker.engine;
    const N = 10_000;
    for (let i = 0; i < N; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, j) => engine.createQueue(`load.q${String(i + j).padStart(5, '0')}`)));
    }
    await engine.send(createMessage({ body: Buffer.from('x') }), queue('load.q04242'));
    assert.equal(engine.overview().queues, N);
    await login();
    const results: Record<string, number> = {};
    for (let run = 0; run < 3; run++) {
      const t0 = Date.now();
      await page.goto(`${b.url}/#/`, { waitUntil: 'commit' });
      await page.reload({ waitUntil: 'commit' });
      await page.locator('main[data-ready=overview]').waitFor();
      await page.getByRole('table', { name: 'Busiest queues' }).getByRole('link', { name: 'load.q04242' }).waitFor();
      await page.locator('#rate-chart canvas').waitFor();
      // the health strip scans every queue (no consumer, oldest message, dead letters)
      await page.locator('#health[data-loaded=true]').waitFor();
      results[`overview_ms_run${run + 1}`] = Date.now() - t0;
    }
    assert.equal((await page.locator('[data-card=queues]').innerText()).replace(/,/g, ''), String(N));
    const t1 = Date.now();
    await page.goto(`${b.url}/#/destinations`);
    await page.getByText(`1–50 of ${N.toLocaleString('en')}`).waitFor();
    results.destinations_page_ms = Date.now() - t1;
    const t2 = Date.now();
    await page.getByLabel(/Search destinations/).fill('load.q0424');
    await page.getByText('1–10 of 10').waitFor();
    results.destinations_search_ms = Date.now() - t2;
    const t5 = Date.now();
    await page.goto(`${b.url}/#/queue/load.q04242`);
    await page.locator('#history-depth canvas').waitFor();
    results.queue_page_with_history_ms = Date.now() - t5;
    const t6 = Date.now();
    assert.equal((await client(b.url).get('/api/health')).status, 200);
    results.api_health_ms = Date.now() - t6;
    const nav = await page.evaluate(() => {
      const e = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
      return e ? Math.round(e.domContentLoadedEventEnd) : -1;
    });
    results.dom_content_loaded_ms = nav;
    const api = client(b.url);
    const t3 = Date.now();
    await api.get('/api/destinations?sort=depth&limit=10');
    results.api_destinations_sorted_ms = Date.now() - t3;
    const t4 = Date.now();
    const metrics = await api.get('/metrics');
    results.metrics_scrape_ms = Date.now() - t4;
    results.metrics_bytes = metrics.text.length;
    writeFileSync(path.join(testOutput, 'console-load-10000-destinations.json'), JSON.stringify({ destinations: N, ...results }, null, 2));
    console.log(`      console with ${N} destinations: ${JSON.stringify(results)}`);
  });
});
