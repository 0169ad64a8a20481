/** MQTT test helpers: a real broker (MQTT on TCP, TLS and WebSocket, port 0, temp data dir) and MQTT.js clients. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BrokerConfigInput } from '../../../src/app/config.js';
import { runBroker, tlsFixture, withPorts, type RunningBroker } from '../../helpers/broker.js';
import { createLogger } from '../../../src/app/log.js';
import { mqttModule } from '../../../protocols/mqtt/index.js';
import type { ProtocolModule } from '../../../src/transport/types.js';

export { tlsFixture };

export interface TestBroker extends RunningBroker {
  readonly port: number;
  readonly tlsPort: number;
  readonly wsPort: number;
  url(kind?: 'tcp' | 'tls' | 'ws'): string;
  /** The same as close(). */
  stop(): Promise<void>;
}

export async function startBroker(input: BrokerConfigInput = {}, protocols: ProtocolModule[] = [mqttModule], keepDir?: string): Promise<TestBroker> {
  const r = await runBroker({
    name: 'mqtt',
    keepDir,
    config: {
      log: { level: 'warn' },
      ...input,
      listeners: {
        stomp: { host: '127.0.0.1', port: 0 },
        mqtt: { host: '127.0.0.1', port: 0, tls: { port: 0, cert: tlsFixture('server.crt'), key: tlsFixture('server.key') } },
        ws: { host: '127.0.0.1', port: 0 },
        ...input.listeners,
      },
    },
    modules: () => ({ protocols }),
    logger: createLogger({ level: (process.env.WHARF_TEST_LOG as 'debug') ?? 'warn' }),
    shutdownTimeout: 2000,
  });
  const t = withPorts(r, { port: 'mqtt', tlsPort: 'mqtt-tls', wsPort: 'ws' });
  return Object.assign(t, {
    url(kind: 'tcp' | 'tls' | 'ws' = 'tcp') {
      if (kind === 'tls') return `mqtts://localhost:${t.tlsPort}`;
      if (kind === 'ws') return `ws://127.0.0.1:${t.wsPort}`;
      return `mqtt://127.0.0.1:${t.port}`;
    },
    stop: () => t.close(),
  });
}

const clients: MqttClient[] = [];

/** Connect an MQTT.js client (closed by `endAll`). */
export async function client(b: TestBroker, opts: IClientOptions & { kind?: 'tcp' | 'tls' | 'ws' } = {}): Promise<MqttClient> {
  const { kind = 'tcp', ...rest } = opts;
  const o: IClientOptions = { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...rest };
  if (kind === 'tls') o.ca = readFileSync(tlsFixture('ca.crt'));
  const c = mqtt.connect(b.url(kind), o);
  clients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  c.on('error', () => undefined);
  return c;
}

export async function endAll(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: mqtt.IPublishPacket;
}

/** Collect messages of a client; `wait(n)` resolves when n have arrived. */
export function collect(c: MqttClient): { items: Received[]; wait(n: number, ms?: number): Promise<Received[]>; texts(): string[] } {
  const items: Received[] = [];
  let waiters: Array<() => void> = [];
  c.on('message', (topic, payload, packet) => {
    items.push({ topic, payload, packet });
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  return {
    items,
    texts: () => items.map((i) => i.payload.toString()),
    async wait(n, ms = 5000) {
      const end = Date.now() + ms;
      while (items.length < n) {
        const left = end - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${n} messages (got ${items.length}: ${items.map((i) => i.payload.toString()).join(', ').slice(0, 300)})`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return items.slice(0, n);
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not met in ${ms} ms`);
    await sleep(10);
  }
}

/** A raw TCP socket to the broker. */
export function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with everything received until the socket closes (or rejects after ms). */
export function readUntilClose(s: net.Socket, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => reject(new Error('socket was not closed by the broker')), ms);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
}

export { mqtt };

/** A raw MQTT client on mqtt-packet: send any packet, see every packet the broker sends. */
export interface RawClient {
  socket: net.Socket;
  packets: Array<Record<string, any>>;
  closed: boolean;
  send(p: Record<string, unknown>): void;
  waitFor(pred: (p: Record<string, any>) => boolean, ms?: number, what?: string): Promise<Record<string, any>>;
  waitClose(ms?: number): Promise<void>;
  destroy(): void;
}

export async function rawClient(port: number, protocolVersion: 3 | 4 | 5, connect?: Record<string, unknown>): Promise<RawClient> {
  const { parser: mkParser, generate } = await import('mqtt-packet');
  const socket = await rawSocket(port);
  const parser = mkParser({ protocolVersion });
  const rc: RawClient = {
    socket,
    packets: [],
    closed: false,
    send: (p) => socket.write(generate(p as never, { protocolVersion })),
    async waitFor(pred, ms = 5000, what = 'packet') {
      const end = Date.now() + ms;
      for (;;) {
        const found = rc.packets.find(pred);
        if (found) return found;
        if (Date.now() > end) throw new Error(`${what} not received in ${ms} ms; got ${rc.packets.map((p) => p.cmd).join(',')}`);
        await sleep(5);
      }
    },
    async waitClose(ms = 5000) {
      await until(() => rc.closed, ms, 'close');
    },
    destroy: () => socket.destroy(),
  };
  parser.on('packet', (p) => rc.packets.push(p as unknown as Record<string, any>));
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  socket.on('close', () => (rc.closed = true));
  if (connect) {
    rc.send({ cmd: 'connect', protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT', protocolVersion, clean: true, keepalive: 30, ...connect });
    await rc.waitFor((p) => p.cmd === 'connack', 5000, 'CONNACK');
  }
  return rc;
}

/** The CONNACK a client got. */
export function connack(c: MqttClient): mqtt.IConnackPacket {
  return (c as unknown as { connackPacket: mqtt.IConnackPacket }).connackPacket;
}
