/** A message held by a queue, with its delivery state. */
import type { Message } from './message.js';
import type { TimerHandle } from './timers.js';

export interface Entry {
  seq: number;
  message: Message;
  /** Prior failed delivery attempts. */
  deliveryCount: number;
  redelivered: boolean;
  size: number;
  /** Stored in the queue's storage queue (durable message in a persistent queue). */
  persisted: boolean;
  /** Timer of a scheduled (delayed) entry. */
  timer?: TimerHandle;
}
