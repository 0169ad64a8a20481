/**
 * Screenshots of each console view for docs/console.md, taken in Chromium (playwright-core + Debian chromium)
 * against a real broker with real STOMP, MQTT and AMQP traffic. Not a test and not part of `npm test`:
 *
 *   npx tsx bench/console-screenshots.ts            # writes docs/console/*.png
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { createMessage, type Delivery, queue } from '../src/core/api.js';
import { repoRoot } from '../test/helpers/paths.js';
import { Client as AmqpClient } from '../test/protocols/amqp/helpers.js';
import { buildConsole, launchChromium } from '../test/admin/browser.js';
import { startAdminBroker, Stompit, until } from '../test/admin/helpers.js';

const out = path.join(repoRoot, 'docs', 'console');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  buildConsole();
  const b = await startAdminBroker({ protocols: ['mqtt', 'amqp'], config: { destinations: [{ match: '>', kind: 'queue', maxRedeliveries: 1 }] } });
  const engine = b.broker.engine;
  const browser = await launchChromium();
  const stomps: Stompit[] = [];
  try {
    // traffic: orders in and out, a backlog nobody reads, an offline durable subscription, dead letters
    const producer = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'order-service' } });
    const worker = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'billing-worker' } });
    const offline = await Stompit.connect({ port: b.stompPort, headers: { 'client-id': 'reporting' } });
    stomps.push(producer, worker, offline);
    await offline.subscribe('/topic/orders.events', { 'activemq.subscriptionName': 'daily-report' });
    offline.destroy();
    const inbox = await worker.subscribe('/queue/orders.eu', { ack: 'client-individual', 'activemq.prefetchSize': '10' });
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { clientId: 'thermostat-12' });
    await m.subscribeAsync('sensors/+/temp', { qos: 1 });
    const amqp = await AmqpClient.connectTo(b.amqpPort, { containerId: 'invoice-app' });
    await amqp.receiver('invoices');
    for (const [cause, n] of [['bad currency', 3], ['timeout', 1]] as const) {
      for (let i = 0; i < n; i++) {
        await engine.send(createMessage({ body: Buffer.from(JSON.stringify({ invoice: 1000 + i, currency: 'XXX' })), properties: { region: 'eu' } }), queue('payments'));
        const got: Delivery[] = [];
        const c = await engine.subscribe({ address: queue('payments'), prefetch: 1, onMessage: (d) => got.push(d) });
        await until(() => got.length === 1, 'delivery');
        c.nack(got[0].id, { deadLetter: true, reason: cause });
        c.close();
      }
    }
    for (let i = 0; i < 40; i++) await producer.send('/queue/audit.archive', `audit ${i}`, { persistent: 'true' });
    let running = true;
    let n = 0;
    const traffic = (async () => {
      while (running) {
        await producer.send('/queue/orders.eu', JSON.stringify({ order: n, item: 'anchor', qty: (n % 5) + 1 }), { persistent: 'true', region: 'eu', priority: String(n % 9) });
        await producer.send('/topic/orders.events', `created ${n}`);
        await m.publishAsync('sensors/hall/temp', String(20 + (n % 3)));
        n++;
        const got = inbox.items.length;
        for (const r of inbox.items.slice(0, Math.max(0, got - 3))) if (!r.headers.acked) {
          worker.client.ack(r.frame as never);
          r.headers.acked = '1';
        }
        await sleep(40);
      }
    })();
    await sleep(25_000); // a few 10-second history buckets

    const ctx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
    const page = await ctx.newPage();
    await page.goto(`${b.url}/`);
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill('admin');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#health[data-loaded=true]').waitFor();
    await page.locator('#rate-chart canvas').waitFor();
    await sleep(1500);
    const shot = (name: string) => page.screenshot({ path: path.join(out, `${name}.png`) });
    await shot('overview');
    await page.goto(`${b.url}/#/destinations?sort=depth`);
    await page.locator('svg.spark').first().waitFor();
    await shot('destinations');
    await page.goto(`${b.url}/#/queue/orders.eu`);
    await page.locator('#history-flow canvas').waitFor();
    await sleep(500);
    await shot('queue');
    await page.goto(`${b.url}/#/queue/audit.archive`);
    await page.getByRole('table', { name: 'Messages' }).locator('tbody tr').nth(2).click();
    await page.locator('#message-detail h3').waitFor();
    await shot('message');
    await page.goto(`${b.url}/#/queue/DLQ.payments`);
    await page.getByRole('table', { name: 'Dead letters by cause' }).waitFor();
    await page.getByRole('button', { name: 'Show cause bad currency' }).click();
    await page.getByLabel('Select all on this page').check();
    await sleep(300);
    await shot('dead-letters');
    await page.getByRole('toolbar', { name: 'Bulk actions' }).getByRole('button', { name: 'Move…' }).click();
    await page.getByLabel('To (queue name, or topic://name)').fill('paymnts.retry');
    await page.getByRole('button', { name: 'Move', exact: true }).click();
    await page.getByText('There is no queue').waitFor();
    await shot('move-confirm');
    await page.keyboard.press('Escape');
    await page.goto(`${b.url}/#/connections`);
    await page.getByRole('table', { name: 'Connections' }).getByText('invoice-app').waitFor();
    await shot('connections');
    await page.getByRole('table', { name: 'Connections' }).locator('tbody tr').filter({ hasText: 'billing-worker' }).getByRole('link').first().click();
    await page.locator('main[data-ready=connection]').waitFor();
    await shot('connection');
    await page.goto(`${b.url}/#/topic/orders.events`);
    await page.locator('#history-flow canvas').waitFor();
    await sleep(500);
    await shot('topic');
    await page.goto(`${b.url}/#/subscriptions`);
    await page.getByRole('table', { name: 'Subscriptions' }).getByText('durable:reporting:daily-report').waitFor();
    await shot('subscriptions');
    await page.goto(`${b.url}/#/definitions`);
    await page.getByRole('heading', { name: 'Definitions' }).waitFor();
    await page.getByLabel('Definitions file').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{oops') });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByText('broken.json is not JSON').waitFor();
    await shot('definitions');
    await page.goto(`${b.url}/#/policies`);
    await page.getByRole('heading', { name: 'Policies' }).waitFor();
    await sleep(300);
    await shot('policies');
    const dark = await browser.newContext({ viewport: { width: 1200, height: 760 }, colorScheme: 'dark', storageState: await ctx.storageState() });
    const dp = await dark.newPage();
    await dp.goto(`${b.url}/#/queue/orders.eu`);
    await dp.locator('#history-flow canvas').waitFor();
    await sleep(500);
    await dp.screenshot({ path: path.join(out, 'queue-dark.png') });
    running = false;
    await traffic;
    await m.endAsync();
    await amqp.close();
    console.log(`screenshots in ${out}`);
  } finally {
    for (const s of stomps) s.destroy();
    await browser.close();
    await b.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
