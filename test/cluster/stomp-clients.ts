/**
 * Long-running STOMP producers and consumers for the cluster fault test: each reconnects on its own (to the next
 * node on its list that accepts) whenever its connection fails, and reports what the broker confirmed to the Checker.
 */
import { Stompit, type Received } from '../protocols/stomp/helpers.js';
import type { Checker } from './checker.js';
import { sleep } from './wharf-cluster.js';

/** A promise that rejects after `ms` (an operation the broker never answered counts as unconfirmed). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** Connect to the first node of `ports` (rotating) that accepts a STOMP session; retries until `stop()`. */
async function connectAny(ports: () => number[], start: number, stop: () => boolean): Promise<{ conn: Stompit; index: number } | undefined> {
  let i = start;
  while (!stop()) {
    const list = ports();
    const port = list[i % list.length]!;
    try {
      const conn = await within(Stompit.connect({ port }), 3000, 'connect');
      return { conn, index: i };
    } catch {
      i++;
      await sleep(100);
    }
  }
  return undefined;
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

export class StompProducer {
  private seq = 0;
  reconnects = 0;
  done: Promise<void> | undefined;
  private stopped = false;

  constructor(
    readonly name: string,
    readonly queue: string,
    private readonly checker: Checker,
    /** Node STOMP ports, preferred first. */
    private readonly ports: () => number[],
    private readonly window = 4,
  ) {}

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async run(): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      const c = await connectAny(this.ports, index, () => this.stopped);
      if (!c) return;
      index = c.index;
      const { conn } = c;
      const state = watchClosed(conn);
      const worker = async () => {
        while (!this.stopped && !state.closed) {
          const seq = this.seq++;
          const id = this.checker.sending(this.queue, this.name, seq);
          try {
            await within(conn.send(`/queue/${this.queue}`, id, { persistent: 'true' }), 10_000, `${id} receipt`);
            this.checker.confirm(id);
          } catch {
            state.closed = true;
          }
        }
      };
      await Promise.all(Array.from({ length: this.window }, worker));
      conn.destroy();
      if (!this.stopped) {
        this.reconnects++;
        index++;
        await sleep(50);
      }
    }
  }
}

export class StompConsumer {
  reconnects = 0;
  done: Promise<void> | undefined;
  private stopped = false;

  constructor(
    readonly queue: string,
    private readonly checker: Checker,
    private readonly ports: () => number[],
  ) {}

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private async run(): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      const c = await connectAny(this.ports, index, () => this.stopped);
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
