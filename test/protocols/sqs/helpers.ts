/** Test helpers: a broker serving the SQS/SNS API (and optionally STOMP) on 127.0.0.1, and SDK clients for it. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import { Broker } from '../../../src/app/broker.js';
import { parseConfig, type BrokerConfigInput } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/log.js';
import { defaultProtocols } from '../../../src/app/modules.js';
import { sqsHttpModule } from '../../../src/app/aws-module.js';

// The SDK warns once per process that it will need Node 22 from 2027; the broker targets Node 20.20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const KEY = { accessKeyId: 'AKIDWHARFTEST', secretAccessKey: 'wharf-test-secret' };

export interface SqsBroker {
  broker: Broker;
  port: number;
  endpoint: string;
  stompPort?: number;
  tlsPort?: number;
  sqs: SQSClient;
  sns: SNSClient;
  dataDir: string;
  client(creds?: { accessKeyId: string; secretAccessKey: string }): SQSClient;
  snsClient(creds?: { accessKeyId: string; secretAccessKey: string }): SNSClient;
  close(): Promise<void>;
}

export async function startSqsBroker(opts: {
  sqs?: BrokerConfigInput['sqs'];
  stomp?: boolean;
  destinations?: BrokerConfigInput['destinations'];
  dataDir?: string;
  keepData?: boolean;
  tls?: { cert: string; key: string };
} = {}): Promise<SqsBroker> {
  const dir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'wharf-sqs-'));
  const off = { host: '127.0.0.1', port: 0, enabled: false };
  const config = parseConfig({
    dataDir: path.join(dir, 'data'),
    listeners: {
      openwire: off,
      amqp: off,
      mqtt: off,
      ws: off,
      admin: off,
      stomp: { host: '127.0.0.1', port: 0, enabled: !!opts.stomp },
      sqs: { host: '127.0.0.1', port: 0, ...(opts.tls ? { tls: { port: 0, ...opts.tls } } : {}) },
    },
    sqs: opts.sqs ? { ...opts.sqs, credentials: opts.sqs.credentials?.map((c) => ({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey })) } : {},
    destinations: opts.destinations ?? [],
    log: { level: 'silent' },
  });
  const broker = new Broker(config, {
    protocols: opts.stomp ? defaultProtocols.filter((p) => p.name === 'stomp') : [],
    http: [sqsHttpModule],
    logger: createLogger({ level: process.env.WHARF_TEST_LOG ? 'debug' : 'silent' }),
  });
  await broker.start();
  const addrs = broker.listenerAddresses();
  const port = addrs.sqs.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: Array<{ destroy(): void }> = [];
  const client = (creds = KEY) => {
    const c = new SQSClient({ endpoint, region: 'us-east-1', credentials: { ...creds }, maxAttempts: 1 });
    clients.push(c);
    return c;
  };
  const snsClient = (creds = KEY) => {
    const c = new SNSClient({ endpoint, region: 'us-east-1', credentials: { ...creds }, maxAttempts: 1 });
    clients.push(c);
    return c;
  };
  return {
    broker,
    port,
    endpoint,
    stompPort: addrs.stomp?.port,
    tlsPort: addrs['sqs-tls']?.port,
    dataDir: dir,
    sqs: client(),
    sns: snsClient(),
    client,
    snsClient,
    async close() {
      for (const c of clients) c.destroy();
      await broker.stop();
      if (!opts.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== false && v !== undefined && v !== null) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(20);
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { name: string; Code?: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { name: string; Code?: string };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/**
 * Environment for Debian's aws CLI and boto3 against a test broker: these keys, region us-east-1, and nothing from
 * the user's own AWS configuration (files, pager, instance metadata).
 */
export function awsCliEnv(creds: { accessKeyId: string; secretAccessKey: string }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}
