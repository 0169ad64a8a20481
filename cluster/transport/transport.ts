/**
 * How a cluster node exchanges Raft messages with its peers. Raft tolerates loss, duplication, delay and
 * reordering, so a transport may drop a message whenever it cannot deliver it (peer down, queue full):
 * `send` never blocks and never throws for delivery problems.
 */
import type { Message, NodeId } from '../raft/index.js';

export interface Transport {
  /** Queue `msg` for node `to` (best effort). */
  send(to: NodeId, msg: Message): void;
  /** Install the handler for messages addressed to this node (one handler; a later call replaces it). */
  onMessage(handler: (msg: Message) => void): void;
  /** Stop sending and receiving; pending messages are dropped. */
  close(): Promise<void>;
}
