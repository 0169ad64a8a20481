/** OpenWire adapter tests: a real broker (OpenWire + STOMP listeners on port 0) and the Java JMS scenarios. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createOpenWireModule, type OpenWireOptions } from '../../../protocols/openwire/index.js';
import { createStompModule } from '../../../protocols/stomp/index.js';
import type { BrokerConfigInput } from '../../../src/app/config.js';
import { runBroker, withPorts, type RunningBroker } from '../../helpers/broker.js';
import { javaHarness } from './java-harness.js';

export interface OpenWireBroker extends RunningBroker {
  readonly port: number;
  readonly stompPort: number;
}

export async function startOpenWireBroker(o: { options?: Partial<OpenWireOptions>; config?: BrokerConfigInput } = {}): Promise<OpenWireBroker> {
  const r = await runBroker({
    name: 'openwire',
    config: {
      ...o.config,
      listeners: { openwire: { host: '127.0.0.1', port: 0 }, stomp: { host: '127.0.0.1', port: 0 }, ...o.config?.listeners },
    },
    modules: () => ({ protocols: [createOpenWireModule(o.options), createStompModule()] }),
  });
  return withPorts(r, { port: 'openwire', stompPort: 'stomp' });
}

export interface JavaRun {
  out: string;
  /** `KEY\tvalue` lines the scenario printed. */
  values: Record<string, string>;
}

/**
 * Runs one scenario of JmsScenarios.java in a JVM (asynchronously: the broker runs in this process) and
 * asserts it passed.
 */
/**
 * Starts a scenario that prints READY once its consumer is subscribed (`recv`): resolves then, with the
 * run's completion (which asserts it passed, like `jms`).
 */
export async function jmsReady(port: number, scenario: string, arg = '', timeoutMs = 60_000, marker = 'READY'): Promise<{ done: Promise<JavaRun>; child: ChildProcess }> {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  let child!: ChildProcess;
  const done = jms(port, scenario, arg, timeoutMs, (out) => {
    if (out.includes(marker + '\n')) ready();
  }, (c) => (child = c));
  done.catch(() => undefined); // a caller that kills the JVM (marker scenarios) does not await it
  await Promise.race([isReady, done]);
  return { done, child };
}

export async function jms(port: number, scenario: string, arg = '', timeoutMs = 60_000, onOutput?: (out: string) => void, onSpawn?: (c: ChildProcess) => void): Promise<JavaRun> {
  const java = javaHarness();
  const child = spawn('java', ['-cp', java.classpath, 'JmsScenarios', String(port), scenario, arg], { stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
    onOutput?.(out);
  });
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.ok(code === 0 && out.includes('PASS'), `JMS scenario '${scenario}' failed (exit ${code}):\n${out}\n${err}`);
  const values: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('\t');
    if (i > 0) values[line.slice(0, i)] = line.slice(i + 1);
  }
  return { out, values };
}
