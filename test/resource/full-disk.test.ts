/**
 * A full disk: the data directory on a 64 MiB tmpfs (mounted by the test, as root), filled by persistent 64 KiB
 * STOMP sends until the store cannot commit. The failed commits fail only their operations, each with its
 * protocol's error (STOMP ERROR, MQTT 5 PUBACK 0x97, AMQP rejected amqp:resource-limit-exceeded, SQS 503); the
 * broker stays up; once space is freed, writes resume by themselves and nothing confirmed was lost.
 * The disk alarm is set below what the test uses, so the store really runs out of space.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { defaultHttp, defaultProtocols } from '../../src/app/modules.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { Client } from '../protocols/amqp/helpers.js';
import { Stompit } from '../protocols/stomp/helpers.js';

const local = { host: '127.0.0.1', port: 0 };

describe('a full disk', function () {
  this.timeout(120_000);
  let mount: string;
  let b: RunningBroker & { stompPort: number; mqttPort: number; amqpPort: number; sqsPort: number };

  before(async () => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-full-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount]);
    } catch (err) {
      throw new Error(`this test mounts a 64 MiB tmpfs and needs root (CI runs as root): ${(err as Error).message}`);
    }
    const r = await runBroker({
      name: 'full-disk',
      keepDir: mount,
      config: { listeners: { stomp: local, mqtt: local, amqp: local, sqs: local }, resources: { minFreeDisk: 1, memoryHighWater: 0, maxStoreBytes: 1024 * 1024 * 1024 } },
      modules: () => ({ protocols: defaultProtocols, http: defaultHttp.filter((m) => m.name === 'sqs') }),
    });
    b = withPorts(r, { stompPort: 'stomp', mqttPort: 'mqtt', amqpPort: 'amqp', sqsPort: 'sqs' });
  });
  after(async () => {
    await b?.close();
    try {
      execFileSync('umount', [mount]);
    } catch {
      /* not mounted */
    }
    fs.rmSync(mount, { recursive: true, force: true });
  });

  it('failed commits get each protocol its own error, the broker stays up, writes resume once space is freed', async () => {
    // a persistent MQTT session subscribed, so what is published to disk/full is stored (for it)
    const keeper = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { protocolVersion: 4, clientId: 'disk-keeper', clean: false });
    await keeper.subscribeAsync('disk/full', { qos: 1 });
    await keeper.endAsync();
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${b.sqsPort}`, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'disk-sqs' }));
    const filler = path.join(mount, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(24 * 1024 * 1024, 1));
    // LMDB may fill the disk to its last byte; then the disk alarm (free < minFreeDisk = 1 byte) holds producers
    // instead of their commits failing. Freed once the disk is full: room for no message, but above the alarm.
    const cushion = path.join(mount, 'cushion');
    fs.writeFileSync(cushion, Buffer.alloc(16 * 1024, 1));
    const body = 'x'.repeat(64 * 1024);

    // STOMP: persistent sends with receipts until one gets an ERROR
    let confirmed = 0;
    let stompError: Error | undefined;
    for (let i = 0; i < 2000 && !stompError; i++) {
      const s = await Stompit.connect({ port: b.stompPort });
      try {
        for (let k = 0; k < 50; k++) {
          await s.send('/queue/disk.fill', body, { persistent: 'true' });
          confirmed++;
        }
        await s.disconnect();
      } catch (err) {
        stompError = err as Error;
        s.destroy();
      }
    }
    assert.ok(stompError, 'the disk filled up');
    assert.match(String((stompError as Error & { longMessage?: string }).message), /Store unavailable|store/i);

    // the others, while the disk is full (16 KiB free: no 64 KiB message fits, and no disk alarm holds them)
    fs.rmSync(cushion);
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.mqttPort}`, { protocolVersion: 5, clientId: 'disk-pub' });
    const puback = await new Promise<number>((resolve) => {
      pub.publish('disk/full', body, { qos: 1 }, (err, packet) => resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? (err as { code?: number } | undefined)?.code ?? -1));
    });
    assert.equal(puback, 0x97, 'MQTT 5 PUBACK: quota exceeded');
    const amqp = await Client.connectTo(b.amqpPort);
    const sender = await amqp.sender('disk.amqp');
    const outcome = await sender.send({ body, durable: true });
    assert.equal(outcome.state, 'rejected');
    assert.equal(outcome.error?.condition, 'amqp:resource-limit-exceeded');
    const refused = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body })).then(() => null, (e: Error & { $metadata?: { httpStatusCode?: number } }) => e);
    assert.ok(refused && refused.$metadata?.httpStatusCode === 503, `SQS: ${refused?.name}`);

    // still up: what was confirmed is there, and it can be read
    assert.equal(b.broker.engine.queueInfo('disk.fill')?.depth, confirmed);
    const reader = await Stompit.connect({ port: b.stompPort });
    const inbox = await reader.subscribe('/queue/disk.fill', { ack: 'client-individual', 'activemq.prefetchSize': '1' });
    assert.equal((await inbox.next(10_000)).text.length, body.length);
    reader.destroy();

    // space comes back: writes resume by themselves
    fs.rmSync(filler);
    const again = await Stompit.connect({ port: b.stompPort });
    await again.send('/queue/disk.fill', 'after', { persistent: 'true' });
    await again.disconnect();
    assert.equal(((await pub.publishAsync('disk/full', 'after', { qos: 1 })) as { reasonCode?: number } | undefined)?.reasonCode ?? 0, 0);
    assert.equal((await sender.send({ body: 'after', durable: true })).state, 'accepted');
    assert.ok((await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'after' }))).MessageId);
    sqs.destroy();
    await pub.endAsync();
    await amqp.close();
    // nothing confirmed was lost
    assert.equal(b.broker.engine.queueInfo('disk.fill')?.depth, confirmed + 1);
  });
});
