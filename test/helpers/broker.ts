/** A real Broker for tests: temp data dir, a parsed config with every listener off unless the test turns it on. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { Broker } from '../../src/app/broker.js';
import { parseConfig, type BrokerConfig, type BrokerConfigInput } from '../../src/app/config.js';
import { silentLogger } from '../../src/app/log.js';
import type { HttpModule, ProtocolModule } from '../../src/transport/types.js';
import { repoRoot } from './paths.js';

/** test/fixtures/tls/<name> in the source tree (tsc does not copy the certificates to dist/). */
export const tlsFixture = (name: string): string => path.join(repoRoot, 'test', 'fixtures', 'tls', name);

const OFF = { enabled: false };
/** Every listener off: a test broker turns on only what the test drives. */
export const LISTENERS_OFF = { openwire: OFF, amqp: OFF, stomp: OFF, mqtt: OFF, ws: OFF, admin: OFF, sqs: OFF };

export interface RunningBroker {
  broker: Broker;
  dir: string;
  config: BrokerConfig;
  /** Stop, and start a new broker on the same data directory (new ports). */
  restart(): Promise<void>;
  /** Stop, and remove the data directory (unless it was kept). */
  close(): Promise<void>;
}

export async function runBroker(o: {
  /** Temp directory prefix: `wharf-<name>-`. */
  name: string;
  /** Listeners default to off (LISTENERS_OFF); logging to silent. */
  config: BrokerConfigInput;
  /** Called for every (re)start: modules may keep per-broker state. */
  modules: () => { protocols: ProtocolModule[]; http?: HttpModule[] };
  logger?: Logger;
  shutdownTimeout?: number;
  /** Use this directory and keep it on close. */
  keepDir?: string;
}): Promise<RunningBroker> {
  const dir = o.keepDir ?? mkdtempSync(path.join(os.tmpdir(), `wharf-${o.name}-`));
  const config = parseConfig({ dataDir: path.join(dir, 'data'), log: { level: 'silent' }, ...o.config, listeners: { ...LISTENERS_OFF, ...o.config.listeners } });
  const make = async () => {
    const { protocols, http = [] } = o.modules();
    const b = new Broker(config, { protocols, http, logger: o.logger ?? silentLogger(), shutdownTimeout: o.shutdownTimeout ?? 3000 });
    await b.start();
    return b;
  };
  const r: RunningBroker = {
    broker: await make(),
    dir,
    config,
    async restart() {
      await r.broker.stop();
      r.broker = await make();
    },
    async close() {
      await r.broker.stop();
      if (!o.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return r;
}

/** Add read-only port properties that follow the current broker (they change with restart()). */
export function withPorts<T extends RunningBroker, K extends string>(r: T, ports: Record<K, string>): T & { readonly [P in K]: number } {
  for (const [prop, listener] of Object.entries<string>(ports)) {
    Object.defineProperty(r, prop, { get: () => r.broker.listenerAddresses()[listener]?.port ?? 0, enumerable: true });
  }
  return r as T & { readonly [P in K]: number };
}
