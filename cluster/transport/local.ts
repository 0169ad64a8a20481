/**
 * In-process transport: every node of a test cluster in one process. Messages go through the wire codec
 * (so encoding bugs show up here too) and are delivered asynchronously (setImmediate). A node can be cut
 * off (`isolate`) or links dropped, to simulate partitions and crashed peers.
 */
import type { Message, NodeId } from '../raft/index.js';
import { decodeRaftMessage, encodeRaftMessage } from './codec.js';
import type { Transport } from './transport.js';

export class LocalNetwork {
  private readonly handlers = new Map<NodeId, (msg: Message) => void>();
  private readonly isolated = new Set<NodeId>();
  /** Messages delivered and dropped, for tests. */
  readonly stats = { delivered: 0, dropped: 0 };

  /** The transport of node `id` (replaces an earlier one: a restarted node). */
  endpoint(id: NodeId): Transport {
    const net = this;
    let open = true;
    let handler: ((msg: Message) => void) | undefined;
    const deliver = (msg: Message) => {
      if (open && handler) handler(msg);
    };
    net.handlers.set(id, deliver);
    return {
      send(to: NodeId, msg: Message): void {
        if (!open) return;
        net.deliver(id, to, encodeRaftMessage(msg));
      },
      onMessage(h: (msg: Message) => void): void {
        handler = h;
      },
      async close(): Promise<void> {
        open = false;
        if (net.handlers.get(id) === deliver) net.handlers.delete(id);
      },
    };
  }

  /** Drop every message from or to `id` until `heal(id)`. */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }
  heal(id: NodeId): void {
    this.isolated.delete(id);
  }

  private deliver(from: NodeId, to: NodeId, frame: Buffer): void {
    setImmediate(() => {
      const h = this.handlers.get(to);
      if (!h || this.isolated.has(from) || this.isolated.has(to)) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      h(decodeRaftMessage(frame));
    });
  }
}
