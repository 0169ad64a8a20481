/** A message held by a queue, with its delivery state. */
import type { Message } from './message.js';
import type { TimerHandle } from './timers.js';

export interface Entry {
  seq: number;
  message: Message;
  /** Prior failed delivery attempts. */
  deliveryCount: number;
  redelivered: boolean;
  /** Given back unflagged by a consumer that had acquired it (NackOptions.acquired); kept in memory only. */
  acquired?: boolean;
  size: number;
  /** Stored in the queue's storage queue (durable message in a persistent queue). */
  persisted: boolean;
  /**
   * A durable lease (SubscribeOptions.durableLeases) wrote its end as this entry's stored delivery time: settling it
   * back to the queue must store it available again. Kept in memory only.
   */
  leaseStored?: boolean;
  /** Timer of a scheduled (delayed) entry. */
  timer?: TimerHandle;
  /**
   * Concurrent store and dispatch: the entry was applied while its enqueue commit was still in flight. Resolves
   * true once it is durable, false if that commit failed (the entry is then withdrawn). Unset once committed.
   * Every store command about this entry (ack, update, DLQ move) is written only after it resolves true.
   */
  committing?: Promise<boolean>;
  /** Its enqueue commit failed after it was applied: it is no longer in the store, nor to be settled there. */
  withdrawn?: boolean;
}

/**
 * Run `write` (which builds and submits the store commands about `e`) once `e`'s enqueue is durable: now, or when
 * its in-flight commit resolves. If that commit failed, `write` never runs: there is nothing stored to act on.
 */
export function afterStored(e: Entry, write: () => Promise<void> | void): Promise<void> {
  if (e.withdrawn) return Promise.resolve();
  const gate = e.committing;
  if (gate === undefined) return Promise.resolve(write());
  return gate.then((stored) => (stored && !e.withdrawn ? write() : undefined));
}
