/**
 * Long-running STOMP producers and consumers for the cluster fault test: each reconnects on its own (to the next
 * node on its list that accepts) whenever its connection fails, and reports what the broker confirmed to the Checker.
 */
import { createRequire } from 'node:module';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { Stompit, type Received } from '../protocols/stomp/helpers.js';
import type { Checker } from './checker.js';
import { sleep } from './wharf-cluster.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const rhea: any = require('rhea');

/** A promise that rejects after `ms` (an operation the broker never answered counts as unconfirmed). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** Connect to the first node of `ports` (rotating from `start`) that `open` succeeds on; retries until `stop()`. */
async function connectAny<C>(ports: () => number[], start: number, stop: () => boolean, open: (port: number) => Promise<C>): Promise<{ conn: C; index: number } | undefined> {
  let i = start;
  while (!stop()) {
    const list = ports();
    try {
      const conn = await within(open(list[i % list.length]!), 3000, 'connect');
      return { conn, index: i };
    } catch {
      i++;
      await sleep(100);
    }
  }
  return undefined;
}

/** A client that runs until stopped, reconnecting (counted) whenever its connection ends. */
abstract class Reconnecting {
  reconnects = 0;
  done: Promise<void> | undefined;
  protected stopped = false;

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  protected abstract run(): Promise<void>;
}

function watchClosed(conn: Stompit): { closed: boolean } {
  const state = { closed: false };
  const mark = () => (state.closed = true);
  conn.client.setMaxListeners(0); // one 'error' listener per outstanding receipt
  conn.client.on('error', mark);
  conn.client.on('end', mark);
  conn.client.getTransportSocket().on('close', mark);
  return state;
}

/** One producer connection: `send` resolves when the broker confirmed the message. */
export interface ProducerLink {
  send(id: string): Promise<void>;
  readonly closed: boolean;
  close(): void;
}

/** Opens a producer link to the broker at `port` (of the protocol the producer speaks). */
export type Dial = (port: number) => Promise<ProducerLink>;

export class Producer extends Reconnecting {
  private seq = 0;

  constructor(
    readonly name: string,
    /** Queue (or topic subscription queue) the messages end in, for the checker. */
    readonly queue: string,
    private readonly checker: Checker,
    /** Node ports for this protocol, preferred first. */
    private readonly ports: () => number[],
    private readonly dial: Dial,
    private readonly window = 4,
  ) {
    super();
  }

  protected async run(): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      const c = await connectAny(this.ports, index, () => this.stopped, this.dial);
      if (!c) return;
      index = c.index;
      const { conn: link } = c;
      let broken = false;
      const worker = async () => {
        while (!this.stopped && !broken && !link.closed) {
          const id = this.checker.sending(this.queue, this.name, this.seq++);
          try {
            await within(link.send(id), 10_000, `${id} confirmation`);
            this.checker.confirm(id);
          } catch {
            broken = true;
          }
        }
      };
      await Promise.all(Array.from({ length: this.window }, worker));
      link.close();
      if (!this.stopped) {
        this.reconnects++;
        index++;
        await sleep(50);
      }
    }
  }
}

/** STOMP SEND with a receipt (persistent). */
export const stompDial = (queue: string): Dial => async (port) => {
  const conn = await Stompit.connect({ port });
  conn.client.getTransportSocket().setNoDelay(true);
  const state = watchClosed(conn);
  return {
    send: (id) => conn.send(`/queue/${queue}`, id, { persistent: 'true' }),
    get closed() {
      return state.closed;
    },
    close: () => conn.destroy(),
  };
};

export class StompConsumer extends Reconnecting {
  constructor(
    readonly queue: string,
    private readonly checker: Checker,
    private readonly ports: () => number[],
  ) {
    super();
  }

  protected async run(): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      const c = await connectAny(this.ports, index, () => this.stopped, (port) => Stompit.connect({ port }));
      if (!c) return;
      index = c.index;
      const { conn } = c;
      const state = watchClosed(conn);
      try {
        const inbox = await within(conn.subscribe(`/queue/${this.queue}`, { ack: 'client-individual', 'activemq.prefetchSize': '20' }), 5000, 'subscribe');
        while (!this.stopped && !state.closed) {
          let m: Received;
          try {
            m = await inbox.next(500);
          } catch {
            continue; // nothing for now: look at the connection again
          }
          this.checker.deliver(this.queue, m.text, m.headers.redelivered === 'true');
          // Ack without waiting for the receipt in line: the receipt marks the ack as confirmed.
          const id = m.text;
          within(conn.ack(m), 10_000, 'ack receipt').then(
            () => this.checker.acked(id),
            () => (state.closed = true),
          );
        }
      } catch {
        // subscribe failed: reconnect
      }
      conn.destroy();
      if (!this.stopped) {
        this.reconnects++;
        index++;
        await sleep(50);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------- other protocols

/** Pending confirmations that fail together when the link closes (so a producer notices at once). */
class Pending {
  closed = false;
  private readonly rejects = new Set<(e: Error) => void>();
  track<T>(p: Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('closed'));
    return new Promise<T>((resolve, reject) => {
      this.rejects.add(reject);
      p.then(
        (v) => (this.rejects.delete(reject), resolve(v)),
        (e: unknown) => (this.rejects.delete(reject), reject(e instanceof Error ? e : new Error(String(e)))),
      );
    });
  }
  close(): void {
    this.closed = true;
    for (const r of this.rejects) r(new Error('connection closed'));
    this.rejects.clear();
  }
}

let dialSeq = 0;

/** MQTT 3.1.1 PUBLISH QoS 1: confirmed by PUBACK. */
export const mqttDial = (topic: string): Dial => async (port) => {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `faults-pub-${process.pid}-${++dialSeq}`, clean: true, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 });
  const pending = new Pending();
  c.on('error', () => undefined);
  c.on('close', () => pending.close());
  return {
    send: (id) => pending.track(c.publishAsync(topic, id, { qos: 1 }).then(() => undefined)),
    get closed() {
      return pending.closed;
    },
    close: () => void c.end(true),
  };
};

/** AMQP 1.0 durable transfer to a queue: confirmed by the `accepted` outcome. */
export const amqpDial = (address: string): Dial => async (port) => {
  const container = rhea.create_container({ id: `faults-amqp-${++dialSeq}` });
  const conn = container.connect({ host: '127.0.0.1', port, reconnect: false });
  const pending = new Pending();
  const waiting = new Map<unknown, { resolve: () => void; reject: (e: Error) => void }>();
  conn.on('error', () => undefined);
  conn.on('disconnected', () => pending.close());
  conn.on('connection_close', () => pending.close());
  const sender = conn.open_sender({ target: { address } });
  await new Promise<void>((resolve, reject) => {
    sender.once('sendable', () => resolve());
    conn.once('disconnected', () => reject(new Error('disconnected')));
  });
  sender.on('accepted', (ctx: { delivery: unknown }) => {
    waiting.get(ctx.delivery)?.resolve();
    waiting.delete(ctx.delivery);
  });
  for (const ev of ['rejected', 'released', 'modified']) {
    sender.on(ev, (ctx: { delivery: unknown }) => {
      waiting.get(ctx.delivery)?.reject(new Error(ev));
      waiting.delete(ctx.delivery);
    });
  }
  return {
    send: (id) =>
      pending.track(
        new Promise<void>((resolve, reject) => {
          if (!sender.sendable()) return reject(new Error('no credit'));
          const d = sender.send({ message_id: id, body: id, durable: true });
          waiting.set(d, { resolve, reject });
        }),
      ),
    get closed() {
      return pending.closed;
    },
    close: () => {
      pending.close();
      try {
        conn.close();
      } catch {
        /* already gone */
      }
    },
  };
};

/** SQS SendMessage: confirmed by HTTP 200. */
export const sqsDial = (queue: string): Dial => async (port) => {
  const endpoint = `http://127.0.0.1:${port}`;
  const sqs = new SQSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'faults', secretAccessKey: 'faults-secret' }, maxAttempts: 1 });
  const QueueUrl = `${endpoint}/000000000000/${queue}`;
  let closed = false;
  return {
    send: async (id) => {
      try {
        await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: id }));
      } catch (err) {
        closed = true;
        throw err;
      }
    },
    get closed() {
      return closed;
    },
    close: () => sqs.destroy(),
  };
};

/** A persistent MQTT session (clean: false, QoS 1) reading `topic`; DUP is the redelivered flag. PUBACKs are not confirmed to the client. */
export class MqttConsumer extends Reconnecting {
  constructor(
    readonly clientId: string,
    readonly topic: string,
    private readonly checker: Checker,
    private readonly ports: () => number[],
  ) {
    super();
  }

  /** Create the session and its subscription (before anything is published). */
  static async subscribe(port: number, clientId: string, topic: string): Promise<void> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    await c.subscribeAsync(topic, { qos: 1 });
    await c.endAsync();
  }

  protected async run(): Promise<void> {
    let i = 0;
    while (!this.stopped) {
      const list = this.ports();
      // The handlers go on before CONNACK: a resumed session's queued messages can arrive in the same read as the
      // CONNACK, before a connectAsync() promise would have resolved (mqtt.js PUBACKs them either way).
      const c = mqtt.connect(`mqtt://127.0.0.1:${list[i % list.length]}`, { clientId: this.clientId, clean: false, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 });
      let closed = false;
      c.on('error', () => undefined);
      c.on('close', () => (closed = true));
      c.on('message', (_t, payload, packet) => this.checker.deliver(this.topic, payload.toString(), packet.dup === true));
      try {
        await within(new Promise<void>((resolve, reject) => {
          c.once('connect', () => resolve());
          c.once('close', () => reject(new Error('closed')));
        }), 4000, 'mqtt connect');
      } catch {
        c.end(true);
        i++;
        await sleep(100);
        continue;
      }
      while (!this.stopped && !closed) await sleep(100);
      c.end(true);
      if (!this.stopped) {
        this.reconnects++;
        i++;
        await sleep(50);
      }
    }
  }
}
