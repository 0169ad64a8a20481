/**
 * The sends a protocol adapter decoded from one socket read, handed to the engine as one `sendMany`: one plan,
 * one store commit, one promise for all of them instead of one each. The adapter adds each send with the
 * function that answers it (receipt, disposition, error) and flushes at the end of the read, and before any
 * frame whose handling must come after the sends before it (a barrier, a detach, a disconnect). Each send is
 * still answered only once its own outcome is known: a persistent one after its commit, a refused one with
 * its own error while the others go on.
 */
import type { Address } from './address.js';
import type { Message } from './message.js';

/** What SendBatch needs of the engine (EngineApi.sendMany; named here so this module does not import api.ts). */
export interface BatchSender<C> {
  sendMany(items: Array<{ message: Message; address: Address }>, opts: { connection?: C | null }): Promise<Array<Error | undefined>>;
}

/** Called once per send: with undefined when it was sent (durable, if persistent), else with its error. */
export type SendDone = (err: Error | undefined) => void;

export class SendBatch<C> {
  private items: Array<{ message: Message; address: Address }> = [];
  private dones: SendDone[] = [];

  constructor(private readonly engine: BatchSender<C>) {}

  /** Sends added since the last flush. */
  get size(): number {
    return this.items.length;
  }

  add(message: Message, address: Address, done: SendDone): void {
    this.items.push({ message, address });
    this.dones.push(done);
  }

  /** Start the sends added so far as one engine call (nothing when there are none). */
  flush(connection: C | null): void {
    if (this.items.length === 0) return;
    const items = this.items;
    const dones = this.dones;
    this.items = [];
    this.dones = [];
    let p: Promise<Array<Error | undefined>>;
    try {
      p = this.engine.sendMany(items, { connection });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (results) => answer(dones, (i) => results[i]),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        answer(dones, () => e);
      },
    );
  }
}

/** Every done is called even if one throws; the first exception is rethrown after (as an unhandled rejection). */
function answer(dones: SendDone[], outcome: (i: number) => Error | undefined): void {
  let thrown: unknown;
  let threw = false;
  for (let i = 0; i < dones.length; i++) {
    try {
      dones[i]!(outcome(i));
    } catch (err) {
      if (!threw) {
        threw = true;
        thrown = err;
      }
    }
  }
  if (threw) throw thrown;
}
