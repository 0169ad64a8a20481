/**
 * The console review (issue #13) in Chromium against a real broker with real clients: the smaller defects (each
 * test failed before its fix), then the health strip, connection detail per protocol, history with sparklines,
 * bulk message actions with DLQ causes, and the policies page. One browser for the file; every test leaves a
 * screenshot in test-output/.
 */
import assert from 'node:assert/strict';
import { SendMessageCommand, CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createMessage, type Delivery, queue } from '../../src/core/api.js';
import { Client as AmqpClient } from '../protocols/amqp/helpers.js';
import { openPage, prepareChromium, screenshotPath } from './browser.js';
import { startAdminBroker, Stompit, until, type AdminBroker } from './helpers.js';
import { hashPassword } from '../../src/admin/auth.js';

describe('admin web console: the review (chromium)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let b: AdminBroker;
  let ctx: BrowserContext;
  let page: Page;
  let pageErrors: string[];
  const closers: Array<() => unknown> = [];

  before(async function () {
    this.timeout(120_000);
    browser = await prepareChromium();
  });
  after(async () => {
    await browser?.close();
  });

  async function start(opts: Parameters<typeof startAdminBroker>[0] = {}, context: Parameters<Browser['newContext']>[0] = {}) {
    b = await startAdminBroker({ config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 0 }] }, ...opts });
    ({ ctx, page, errors: pageErrors } = await openPage(browser, context));
  }
  afterEach(async function () {
    await page?.screenshot({ path: screenshotPath('console-review', this.currentTest?.fullTitle() ?? 'test'), fullPage: true }).catch(() => undefined);
    for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
    await ctx?.close();
    await b?.close();
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  const stomp = async (headers: Record<string, string> = {}) => {
    const c = await Stompit.connect({ port: b.stompPort, headers });
    closers.push(() => c.destroy());
    return c;
  };

  async function login(user = 'admin', password = 'admin') {
    await page.goto(`${b.url}/`);
    await page.getByLabel('User').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('[data-card=queues]').waitFor();
  }

  const stat = (name: string) => page.locator(`[data-stat="${name}"] dd`);
  const rows = (table: string) => page.getByRole('table', { name: table, exact: true }).locator('tbody tr');

  // ============================================================================================ defects (item 6)

  describe('defects', () => {
    it('a failed import replaces the earlier success message (it stayed beside the wrong file)', async () => {
      await start();
      await login();
      await page.goto(`${b.url}/#/definitions`);
      const file = page.getByLabel('Definitions file');
      const good = { wharf: 'definitions', version: 1, queues: [{ name: 'imported.one' }] };
      await file.setInputFiles({ name: 'good.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(good)) });
      await page.getByRole('button', { name: 'Import' }).click();
      await page.getByRole('dialog', { name: 'Import definitions?' }).getByRole('button', { name: 'Import' }).click();
      const result = page.getByRole('status').filter({ hasText: 'good.json imported' });
      await result.waitFor();
      assert.ok(b.broker.engine.queueInfo('imported.one'));
      // not JSON at all: refused in the page, the earlier success gone
      await file.setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{not json') });
      await page.getByRole('button', { name: 'Import' }).click();
      await page.getByRole('alert').filter({ hasText: 'broken.json is not JSON' }).waitFor();
      assert.equal(await page.getByText('good.json imported').count(), 0, 'the earlier success message is gone');
      // JSON the broker refuses: its error, again without the old success
      await file.setInputFiles({ name: 'wrong.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ wharf: 'something else' })) });
      await page.getByRole('button', { name: 'Import' }).click();
      await page.getByRole('dialog', { name: 'Import definitions?' }).getByRole('button', { name: 'Import' }).click();
      await page.getByRole('alert').filter({ hasText: 'wrong.json was not imported' }).waitFor();
      assert.equal(await page.getByText('imported. Created').count(), 0);
    });

    it("a queue's message list follows its depth (it stayed at '0 messages' beside 60)", async () => {
      await start();
      await b.broker.engine.createQueue('fills.up');
      await login();
      await page.goto(`${b.url}/#/queue/fills.up`);
      await page.getByRole('table', { name: 'Messages' }).getByText('No messages.').waitFor();
      const s = await stomp();
      for (let i = 0; i < 60; i++) await s.send('/queue/fills.up', `m${i}`, { persistent: 'true' });
      await until(async () => (await stat('Messages').innerText()) === '60', 'depth 60 shown', 10_000);
      await page.locator('.pager-info').filter({ hasText: '1–25 of 60' }).waitFor({ timeout: 10_000 });
      assert.equal(await rows('Messages').count(), 25);
    });

    it('message detail opens in view beside the list and takes focus; Escape returns to the row', async () => {
      await start();
      const s = await stomp();
      for (let i = 0; i < 25; i++) await s.send('/queue/long.list', `message number ${i}`, { persistent: 'true' });
      await login();
      await page.goto(`${b.url}/#/queue/long.list`);
      const row = rows('Messages').filter({ hasText: 'message number 22' });
      await row.scrollIntoViewIfNeeded();
      await row.click();
      const heading = page.locator('#message-detail').getByRole('heading', { name: 'Message #23' });
      await heading.waitFor();
      const box = (await heading.boundingBox())!;
      const viewport = page.viewportSize()!;
      assert.ok(box.y >= 0 && box.y + box.height <= viewport.height, `the detail heading is on screen (y=${box.y})`);
      assert.equal(await page.evaluate(() => !!document.activeElement?.closest('#message-detail')), true, 'focus moved into the detail');
      await page.keyboard.press('Escape');
      await heading.waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.activeElement?.textContent?.includes('message number 22') ?? false), true, 'focus is back on the row');
    });

    it('Back keeps the search and sort: they live in the address', async () => {
      await start();
      const s = await stomp();
      await s.send('/queue/keep.a', 'x', { persistent: 'true' });
      for (let i = 0; i < 3; i++) await s.send('/queue/keep.b', 'x', { persistent: 'true' });
      await s.send('/queue/other.c', 'x', { persistent: 'true' });
      await login();
      await page.goto(`${b.url}/#/destinations`);
      await page.getByLabel(/Search destinations/).fill('keep');
      await until(async () => (await rows('Destinations').count()) === 2, 'filtered to 2');
      await page.getByRole('button', { name: 'Messages' }).click();
      await until(() => /sort=depth/.test(page.url()) && /filter=keep/.test(page.url()), 'search and sort in the address');
      // the address changes before the table re-renders: wait for the sorted rows, do not sample them once
      const firstRow = () => rows('Destinations').first().getByRole('link').first().innerText();
      await until(async () => (await firstRow()) === 'keep.b', 'sorted by depth: keep.b (3 messages) first');
      await page.getByRole('link', { name: 'keep.a', exact: true }).click();
      await page.getByRole('heading', { name: 'Queue keep.a' }).waitFor();
      await page.goBack();
      await page.getByRole('heading', { name: 'Destinations' }).waitFor();
      assert.equal(await page.getByLabel(/Search destinations/).inputValue(), 'keep');
      await until(async () => (await rows('Destinations').count()) === 2, 'still filtered');
      assert.equal(await page.getByRole('columnheader', { name: /Messages/ }).getAttribute('aria-sort'), 'descending');
      await until(async () => (await firstRow()) === 'keep.b', 'still sorted by depth after Back');
    });

    it('Move… suggests existing queues and asks before a typo becomes a new queue', async () => {
      await start();
      await b.broker.engine.createQueue('orders');
      const s = await stomp();
      await s.send('/queue/inbox', 'to be moved', { persistent: 'true' });
      await login();
      await page.goto(`${b.url}/#/queue/inbox`);
      await rows('Messages').filter({ hasText: 'to be moved' }).click();
      await page.locator('#message-detail').getByRole('button', { name: 'Move…' }).click();
      const dialog = page.getByRole('dialog', { name: 'Move message #1' });
      const to = dialog.getByLabel('To (queue name, or topic://name)');
      await to.fill('ord');
      await until(async () => (await dialog.locator('datalist option[value="orders"]').count()) === 1, 'orders suggested');
      await to.fill('ordres');
      await dialog.getByRole('button', { name: 'Move' }).click();
      await dialog.getByText('There is no queue “ordres”').waitFor();
      assert.equal(b.broker.engine.queueInfo('ordres'), undefined, 'nothing created yet');
      assert.equal(b.broker.engine.getQueue('inbox')!.depth, 1);
      // fix the typo: an existing queue moves at once
      await to.fill('orders');
      await dialog.getByRole('button', { name: 'Move', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Message moved to orders' }).waitFor();
      assert.equal(b.broker.engine.getQueue('orders')!.depth, 1);
      assert.equal(b.broker.engine.queueInfo('ordres'), undefined);
      // a new queue on purpose: the second click creates it
      await s.send('/queue/inbox', 'second', { persistent: 'true' });
      await rows('Messages').filter({ hasText: 'second' }).click();
      await page.locator('#message-detail').getByRole('button', { name: 'Move…' }).click();
      const d2 = page.getByRole('dialog', { name: /Move message/ });
      await d2.getByLabel('To (queue name, or topic://name)').fill('brand.new');
      await d2.getByRole('button', { name: 'Move', exact: true }).click();
      await d2.getByRole('button', { name: 'Create “brand.new” and move' }).click();
      await page.getByRole('status').filter({ hasText: 'Message moved to brand.new' }).waitFor();
      assert.equal(b.broker.engine.getQueue('brand.new')!.depth, 1);
    });

    it('an in-flight message offers no Delete or Move', async () => {
      await start();
      const s = await stomp();
      await s.send('/queue/held', 'held by a consumer', { persistent: 'true' });
      const c = await stomp();
      const inbox = await c.subscribe('/queue/held', { ack: 'client-individual' });
      await inbox.next(5000);
      await login();
      await page.goto(`${b.url}/#/queue/held`);
      await rows('Messages').filter({ hasText: 'held by a consumer' }).click();
      const detail = page.locator('#message-detail');
      await detail.getByText('A consumer holds this message').waitFor();
      assert.equal(await detail.getByRole('button', { name: 'Delete' }).count(), 0);
      assert.equal(await detail.getByRole('button', { name: 'Move…' }).count(), 0);
      assert.equal(await detail.getByRole('button', { name: 'Copy…' }).count(), 1, 'a copy is still possible');
    });

    it('search understands * and > segments, MQTT names and STOMP prefixes', async () => {
      await start();
      for (const n of ['sensors.room1.temp', 'sensors.room2.temp', 'sensors.room1.humidity', 'orders.eu.new']) await b.broker.engine.createQueue(n);
      await login();
      await page.goto(`${b.url}/#/destinations`);
      const search = page.getByLabel(/Search destinations/);
      const names = async () => (await rows('Destinations').locator('td:nth-child(1) a').allInnerTexts()).sort();
      const expect = async (q: string, want: string[]) => {
        await search.fill(q);
        await until(async () => JSON.stringify(await names()) === JSON.stringify(want), `“${q}” → ${want.join(', ')} (got ${(await names()).join(', ')})`);
      };
      await expect('sensors.*.temp', ['sensors.room1.temp', 'sensors.room2.temp']);
      await expect('sensors.>', ['sensors.room1.humidity', 'sensors.room1.temp', 'sensors.room2.temp']);
      await expect('sensors/+/temp', ['sensors.room1.temp', 'sensors.room2.temp']);
      await expect('sensors/room1/#', ['sensors.room1.humidity', 'sensors.room1.temp']);
      await expect('/queue/orders.eu.new', ['orders.eu.new']);
      await expect('*.eu.*', ['orders.eu.new']);
    });

    it('Producers counts STOMP, MQTT and SQS senders (it showed 0)', async () => {
      await start({ sqs: true, protocols: ['mqtt'] });
      const s = await stomp({ 'client-id': 'stomp-sender' });
      await s.send('/queue/from.stomp', 'x', { persistent: 'true' });
      const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'mqtt-sender' });
      closers.push(() => m.endAsync());
      await m.publishAsync('from/mqtt', 'x', { qos: 1 });
      const sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${b.sqsPort}`, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
      closers.push(() => sqs.destroy());
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'from-sqs' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'x' }));
      await login();
      await page.goto(`${b.url}/#/destinations`);
      const producers = async (name: string) => {
        const row = rows('Destinations').filter({ has: page.getByRole('link', { name, exact: true }) });
        const head = await page.getByRole('table', { name: 'Destinations' }).locator('thead th').allInnerTexts();
        return (await row.locator('td').nth(head.findIndex((t) => t.startsWith('Producers'))).innerText()).trim();
      };
      await until(async () => (await producers('from.stomp')) === '1', 'STOMP sender counted');
      await until(async () => (await producers('from.mqtt')) === '1', 'MQTT publisher counted (on the topic)');
      await until(async () => (await producers('from-sqs')) === '1', 'SQS sender counted');
      await page.goto(`${b.url}/#/connections`);
      const row = rows('Connections').filter({ hasText: 'stomp-sender' });
      // allInnerTexts does not wait: read the header once the row is there
      await row.first().waitFor();
      const head = await page.getByRole('table', { name: 'Connections' }).locator('thead th').allInnerTexts();
      assert.equal((await row.locator('td').nth(head.findIndex((t) => t.startsWith('Producers'))).innerText()).trim(), '1');
      // a closed sender no longer counts
      s.destroy();
      await until(() => (b.broker.engine.queueInfo('from.stomp')?.producers ?? -1) === 0, 'released on close');
    });

    it('connections show the AMQP container id and the ports', async () => {
      await start({ protocols: ['amqp'] });
      const a = await AmqpClient.connectTo(b.amqpPort, { containerId: 'billing-service-7' });
      closers.push(() => a.close());
      await login();
      await page.goto(`${b.url}/#/connections`);
      const row = rows('Connections').filter({ hasText: 'billing-service-7' });
      await row.waitFor();
      const text = await row.innerText();
      const localPort = (a.conn.socket as { localPort: number }).localPort;
      assert.match(text, new RegExp(`127\\.0\\.0\\.1:${localPort} → ${b.amqpPort}`));
      assert.match(text, /amqp\s*1\.0/);
      const over = await page.getByRole('table', { name: 'Connections' }).locator('xpath=..').evaluate((el) => el.scrollWidth - el.clientWidth);
      assert.ok(over <= 0, `the connections table fits (${over}px over)`);
    });

    it('long ids, names and property values stay inside their columns', async () => {
      await start();
      const long = 'x'.repeat(400);
      const s = await stomp();
      await s.send(`/queue/overflow.${'q'.repeat(150)}`, `body ${'b'.repeat(2000)}`, { persistent: 'true', 'message-id': `ID:${'m'.repeat(300)}`, note: long, [`key${'k'.repeat(120)}`]: 'v' });
      await login();
      await page.goto(`${b.url}/#/queue/overflow.${'q'.repeat(150)}`);
      const wrap = page.getByRole('table', { name: 'Messages' }).locator('xpath=..');
      await rows('Messages').first().waitFor();
      const over = await wrap.evaluate((el) => el.scrollWidth - el.clientWidth);
      assert.ok(over <= 0, `the messages table fits its card (${over}px over)`);
      await rows('Messages').first().click();
      const props = page.locator('#message-detail').getByRole('table', { name: 'Properties' });
      await props.waitFor();
      const fits = await props.evaluate((t) => {
        const panel = t.closest('#message-detail')!;
        return { table: t.getBoundingClientRect().right, panel: panel.getBoundingClientRect().right, scroll: panel.scrollWidth - panel.clientWidth };
      });
      assert.ok(fits.table <= fits.panel + 0.5 && fits.scroll <= 0, `the properties table fits the panel (${JSON.stringify(fits)})`);
      await page.goto(`${b.url}/#/destinations`);
      const dwrap = page.getByRole('table', { name: 'Destinations' }).locator('xpath=..');
      await rows('Destinations').first().waitFor();
      assert.ok((await dwrap.evaluate((el) => el.scrollWidth - el.clientWidth)) <= 0, 'the destinations table fits');
    });

    it('primary buttons in dark mode have at least 4.5:1 contrast (WCAG AA)', async () => {
      await start({}, { colorScheme: 'dark' });
      await page.goto(`${b.url}/`);
      const button = page.getByRole('button', { name: 'Log in' });
      await button.waitFor();
      // a string, not a function: the test runner's transpiler would wrap named helpers in code the page lacks
      const ratio = (await button.evaluate(`(() => {
        const el = document.querySelector('button.primary');
        const parse = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
        const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
        const lum = (x) => 0.2126 * f(x[0]) + 0.7152 * f(x[1]) + 0.0722 * f(x[2]);
        const cs = getComputedStyle(el);
        const a = lum(parse(cs.backgroundColor)), c = lum(parse(cs.color));
        return (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05);
      })()`)) as number;
      assert.ok(ratio >= 4.5, `contrast ${ratio.toFixed(2)}:1`);
      assert.equal(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches), true);
    });
  });

  // ============================================================================================ features

  it('health strip: readiness, dead letters linked, queues without consumers, oldest message, growing offline subscription, stuck consumer', async () => {
    await start();
    const engine = b.broker.engine;
    // a dead letter
    await engine.send(createMessage({ body: Buffer.from('poison') }), queue('payments'));
    const ds: Delivery[] = [];
    const c = await engine.subscribe({ address: queue('payments'), prefetch: 1, onMessage: (d) => ds.push(d) });
    await until(() => ds.length === 1, 'delivery');
    c.nack(ds[0].id, { deadLetter: true, reason: 'bad amount' });
    c.close();
    // messages nobody consumes
    const s = await stomp({ 'client-id': 'reporter' });
    for (let i = 0; i < 3; i++) await s.send('/queue/unread', `u${i}`, { persistent: 'true' });
    // an offline durable subscription that keeps growing
    const sub = await stomp({ 'client-id': 'offline-app' });
    await sub.subscribe('/topic/news', { 'activemq.subscriptionName': 'digest' });
    sub.destroy();
    await until(() => engine.listSubscriptions().some((x) => x.name === 'durable:offline-app:digest' && x.consumers === 0), 'subscription offline');
    // a consumer that holds a message and never acknowledges it
    await s.send('/queue/slow', 'never acked', { persistent: 'true' });
    const slow = await stomp({ 'client-id': 'slowpoke' });
    const held = await slow.subscribe('/queue/slow', { ack: 'client-individual' });
    await held.next(5000);
    await login();
    let running = true;
    const publisher = (async () => {
      let n = 0;
      while (running) {
        await s.send('/topic/news', `n${n++}`, { persistent: 'true' });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    closers.push(async () => {
      running = false;
      await publisher;
    });
    // the stuck threshold in the address (#/?stuckAfter=1) so the test does not wait a minute
    await page.goto(`${b.url}/#/?stuckAfter=1`);
    const strip = page.getByRole('list', { name: 'Health' });
    const marker = (k: string) => strip.locator(`[data-health="${k}"]`);
    await marker('ready').filter({ hasText: 'Ready' }).waitFor();
    assert.equal(await marker('reachable').getAttribute('data-level'), 'ok');
    assert.equal(await marker('alarms').innerText(), 'No alarms');
    await until(async () => /Dead letters: 1 in 1 DLQ/.test(await marker('dead-letters').innerText()), 'dead letters');
    assert.equal(await marker('dead-letters').getAttribute('data-level'), 'warn');
    await until(async () => /unread/.test(await marker('no-consumer').innerText()), 'unread queue marked');
    assert.match(await marker('oldest').innerText(), /Oldest message: \d+s\s*in \S+/);
    await until(async () => /1 offline subscription growing\s*durable:offline-app:digest/.test(await marker('growing-subscriptions').innerText()), 'growing subscription', 10_000);
    await until(async () => /1 stuck consumer/.test(await marker('stuck-consumers').innerText()), 'stuck consumer', 10_000);
    assert.match(await marker('stuck-consumers').innerText(), /1 unacked on slow/);
    await marker('dead-letters').getByRole('link').first().click();
    await page.getByRole('heading', { name: 'Queue DLQ.payments' }).waitFor();
  });

  it('connection detail per protocol: MQTT filters in MQTT form, STOMP prefetch and unacked, AMQP container id, user and ports', async () => {
    await start({ protocols: ['mqtt', 'amqp'] });
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'thermostat-1' });
    closers.push(() => m.endAsync());
    await m.subscribeAsync('sensors/+/temp', { qos: 1 });
    const s = await stomp({ 'client-id': 'stomp-worker' });
    const w = await stomp();
    for (let i = 0; i < 3; i++) await w.send('/queue/jobs', `j${i}`, { persistent: 'true' });
    const inbox = await s.subscribe('/queue/jobs', { ack: 'client-individual', 'activemq.prefetchSize': '5' });
    await inbox.take(3, 5000);
    const a = await AmqpClient.connectTo(b.amqpPort, { containerId: 'amqp-app-9' });
    closers.push(() => a.close());
    await a.receiver('orders');
    await login();
    const open = async (clientId: string) => {
      await page.goto(`${b.url}/#/connections`);
      const row = rows('Connections').filter({ hasText: clientId });
      await row.getByRole('link').first().click();
      await page.locator('main[data-ready=connection]').waitFor();
    };
    await open('thermostat-1');
    assert.match(await page.getByLabel('Client').innerText(), /Client identifier\s+thermostat-1/);
    assert.equal(await page.getByRole('columnheader', { name: 'Topic filter' }).count(), 1);
    await page.getByRole('table', { name: 'Consumers' }).getByRole('link', { name: 'sensors/+/temp' }).waitFor();
    await open('stomp-worker');
    const consumer = page.getByRole('table', { name: 'Consumers' }).locator('tbody tr').first();
    // STOMP's prefetch window is credit in the engine: 5 - 3 held = 2 left
    await until(async () => /\/queue\/jobs\s+credit 2\s+3\s+3/.test(await consumer.innerText()), 'destination, credit 2 left of prefetch 5, 3 unacked, 3 delivered');
    assert.equal(await stat('Unacked').innerText(), '3');
    const info = await page.getByLabel('Client').innerText();
    assert.match(info, /User\s+anonymous/);
    assert.match(info, new RegExp(`Broker port\\s+${b.stompPort}`));
    assert.match(info, /Transport\s+tcp/);
    await open('amqp-app-9');
    assert.match(await page.getByLabel('Client').innerText(), /Container id\s+amqp-app-9/);
    assert.match(await consumer.innerText(), /queue:\/\/orders\s+credit/);
  });

  it('history: depth and in/out charts for a queue, sparklines in the list', async () => {
    await start();
    const s = await stomp();
    for (let i = 0; i < 20; i++) await s.send('/queue/charted', `c${i}`, { persistent: 'true' });
    const r = await stomp();
    const inbox = await r.subscribe('/queue/charted', { ack: 'auto' });
    await inbox.take(20, 5000);
    for (let i = 0; i < 5; i++) await s.send('/queue/charted', `d${i}`, { persistent: 'true' });
    // the sampler has seen all of it before the page loads (the charts reload every 10 s only)
    const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
    await until(() => {
      const hh = b.handler.sampler.destinations.read('queue:charted', '1h');
      return !!hh && sum(hh.series.in) === 25 && sum(hh.series.out) === 25;
    }, 'sampled', 10_000);
    await login();
    await page.goto(`${b.url}/#/queue/charted`);
    const flow = page.locator('#history-flow');
    await until(async () => Number(await flow.getAttribute('data-sumin')) === 25 && Number(await flow.getAttribute('data-sumout')) === 25, 'in 25 / out 25 charted', 10_000);
    await flow.locator('canvas').waitFor();
    await page.getByRole('button', { name: 'Last 24 h' }).click();
    await page.getByText('5-minute buckets').waitFor();
    assert.equal(Number(await flow.getAttribute('data-sumin')), 25);
    await page.goto(`${b.url}/#/destinations`);
    const spark = rows('Destinations').filter({ hasText: 'charted' }).locator('svg.spark');
    await spark.waitFor();
    assert.match((await spark.getAttribute('aria-label')) ?? '', /charted depth, last 15 minutes: max \d+/);
  });

  it('bulk actions: select rows or a selector, the count first; DLQ causes grouped', async () => {
    await start();
    const engine = b.broker.engine;
    const s = await stomp();
    for (let i = 0; i < 6; i++) await s.send('/queue/bulk.in', `row ${i}`, { persistent: 'true', region: i < 4 ? 'eu' : 'us' });
    await engine.createQueue('bulk.eu');
    await login();
    await page.goto(`${b.url}/#/queue/bulk.in`);
    // rows: select two, delete with the count shown first
    await rows('Messages').first().waitFor();
    await page.getByLabel('Select message #5').check();
    await page.getByLabel('Select message #6').check();
    const bar = page.getByRole('toolbar', { name: 'Bulk actions' });
    await bar.getByText('Act on 2 selected messages').waitFor();
    await bar.getByRole('button', { name: 'Delete' }).click();
    const dlg = page.getByRole('dialog', { name: 'Delete 2 messages?' });
    await dlg.getByText('Delete: 2 messages.').waitFor();
    await dlg.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted 2 messages' }).waitFor();
    assert.equal(engine.getQueue('bulk.in')!.depth, 4);
    // a selector: move the EU ones
    await page.getByLabel('Selector').fill("region = 'eu' AND JMSPriority >= 0");
    await page.getByRole('button', { name: 'Filter' }).click();
    await bar.getByText('Act on every message matching the selector').waitFor();
    await bar.getByRole('button', { name: 'Move…' }).click();
    const pick = page.getByRole('dialog', { name: 'Move the matching messages' });
    await pick.getByLabel('To (queue name, or topic://name)').fill('bulk.eu');
    await pick.getByRole('button', { name: 'Move', exact: true }).click();
    const confirm = page.getByRole('dialog', { name: 'Move 4 messages?' });
    await confirm.getByText('Move to bulk.eu: 4 messages.').waitFor();
    await confirm.getByRole('button', { name: 'Move to bulk.eu' }).click();
    await page.getByRole('status').filter({ hasText: 'Moved 4 messages' }).waitFor();
    assert.equal(engine.getQueue('bulk.eu')!.depth, 4);
    assert.equal(engine.getQueue('bulk.in')!.depth, 0);
    // a bad selector is a clear error, not a crash
    await page.getByLabel('Selector').fill("region = 'eu");
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('alert').filter({ hasText: /^Selector:/ }).waitFor();

    // DLQ: two causes, grouped; show one cause, retry it
    const fail = async (body: string, reason: string) => {
      await engine.send(createMessage({ body: Buffer.from(body) }), queue('billing'));
      const got: Delivery[] = [];
      const c = await engine.subscribe({ address: queue('billing'), prefetch: 1, onMessage: (d) => got.push(d) });
      await until(() => got.length === 1, 'delivery');
      c.nack(got[0].id, { deadLetter: true, reason });
      c.close();
    };
    await fail('a', 'timeout');
    await fail('b', 'bad currency');
    await fail('c', 'bad currency');
    await until(() => engine.getQueue('DLQ.billing')?.depth === 3, 'three dead letters');
    await page.goto(`${b.url}/#/queue/DLQ.billing`);
    const causes = page.getByRole('table', { name: 'Dead letters by cause' });
    await causes.waitFor();
    const causeRows = (await causes.locator('tbody tr').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.deepEqual(causeRows.map((t) => t.replace(/ \d{4}-.*$/, '')), ['bad currency 2 billing (2)', 'timeout 1 billing (1)'], causeRows.join(' | '));
    const head = await page.getByRole('table', { name: 'Messages' }).locator('thead th').allInnerTexts();
    assert.deepEqual(head.slice(4, 8), ['Cause', 'From', 'Dead-lettered', 'Sent']);
    const dead = engine.browse(queue('DLQ.billing'), { limit: 3 });
    assert.ok(dead.every((e) => typeof e.message.properties.dlqDeadLetteredAt === 'number' && e.message.properties.dlqDeadLetteredAt >= e.message.timestamp), 'the time of the move is recorded');
    const firstRow = (await rows('Messages').first().locator('td').allInnerTexts())[6];
    assert.match(firstRow, /\d{2}:\d{2}:\d{2}/, 'the Dead-lettered column shows it');
    const over = await page.getByRole('table', { name: 'Messages' }).locator('xpath=..').evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(over <= 0, `the DLQ columns fit (${over}px over)`);
    await causes.getByRole('button', { name: 'Show cause bad currency' }).click();
    await until(async () => (await rows('Messages').count()) === 2, 'two messages of that cause');
    // the selector is in the address: a reload shows the same two
    assert.equal(new URLSearchParams(page.url().split('?')[1]).get('selector'), "dlqDeliveryFailureCause = 'bad currency'");
    await page.reload();
    await until(async () => (await rows('Messages').count()) === 2, 'the same two after a reload');
    assert.equal(await page.getByLabel('Selector').inputValue(), "dlqDeliveryFailureCause = 'bad currency'");
    await bar.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('dialog', { name: 'Retry 2 messages?' }).getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('status').filter({ hasText: 'Retried 2 messages' }).waitFor();
    assert.equal(engine.getQueue('billing')!.depth, 2);
    assert.equal(engine.getQueue('DLQ.billing')!.depth, 1);
  });

  it('a viewer sees messages, history and health but no bulk selection, move or delete', async () => {
    const [adminHash, viewerHash] = await Promise.all([hashPassword('s3cret-admin'), hashPassword('just-looking')]);
    await start({ config: { admin: { users: [{ username: 'ops', passwordHash: adminHash }, { username: 'eve', passwordHash: viewerHash, role: 'viewer' }] } } });
    const s = await stomp();
    await s.send('/queue/look.only', 'see me', { persistent: 'true' });
    await login('eve', 'just-looking');
    await page.locator('#health[data-loaded=true]').waitFor();
    await page.goto(`${b.url}/#/queue/look.only`);
    await rows('Messages').filter({ hasText: 'see me' }).click();
    await page.locator('#message-detail').getByRole('heading', { name: 'Message #1' }).waitFor();
    assert.equal(await page.getByRole('toolbar', { name: 'Bulk actions' }).count(), 0);
    assert.equal(await page.getByLabel('Select message #1').count(), 0);
    assert.equal(await page.locator('#message-detail').getByRole('button').filter({ hasText: /Move|Copy|Delete|Retry/ }).count(), 0);
    await page.locator('#history-flow').waitFor();
  });

  it('policies page: an admin edits and removes a durable override; the effective policy follows', async () => {
    await start({ config: { destinations: [{ match: 'orders.>', kind: 'queue', maxRedeliveries: 3 }] } });
    await b.broker.engine.createQueue('orders.eu');
    await login();
    await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
    const table = page.getByRole('table', { name: 'Policies' });
    const row = table.getByRole('row').filter({ hasText: 'orders.eu' });
    await row.waitFor();
    assert.match(await row.innerText(), /maxRedeliveries=3/, 'the configured rule is in effect');
    await page.getByRole('button', { name: 'Edit queue orders.eu' }).click();
    const text = page.getByLabel('Override (JSON)');
    await text.fill('not json');
    await page.getByRole('button', { name: 'Save override' }).click();
    await page.getByRole('alert').filter({ hasText: 'Not JSON' }).waitFor();
    await text.fill('{"maxRedeliveries": 1, "deadLetterQueue": "orders.parked"}');
    await page.getByRole('button', { name: 'Save override' }).click();
    await until(async () => /maxRedeliveries=1\b/.test(await row.innerText()) && (await row.innerText()).includes('deadLetterQueue="orders.parked"'), 'the row shows the override');
    assert.deepEqual(b.broker.engine.policyOverride('queue', 'orders.eu'), { maxRedeliveries: 1, deadLetterQueue: 'orders.parked' });
    assert.equal(b.broker.engine.policyOf('queue', 'orders.eu').maxRedeliveries, 1, 'the override wins over the rule');
    await page.getByRole('button', { name: 'Edit queue orders.eu' }).click();
    await page.getByRole('button', { name: 'Remove override' }).click();
    await until(() => b.broker.engine.policyOverride('queue', 'orders.eu') === undefined, 'override removed');
    await until(async () => /maxRedeliveries=3/.test(await row.innerText()), 'the configured rule is back in effect');
    assert.equal(b.broker.engine.policyOf('queue', 'orders.eu').maxRedeliveries, 3);
  });

  it('policies page: a viewer sees the policies but no Edit', async () => {
    const viewerHash = await hashPassword('just-looking');
    await start({ config: { admin: { users: [{ username: 'eve', passwordHash: viewerHash, role: 'viewer' }] } } });
    await b.broker.engine.createQueue('orders.eu');
    await login('eve', 'just-looking');
    await page.getByRole('navigation').getByRole('link', { name: 'Policies' }).click();
    await page.getByRole('table', { name: 'Policies' }).getByRole('row').filter({ hasText: 'orders.eu' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Edit / }).count(), 0);
  });
});
