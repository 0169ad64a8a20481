/**
 * The Store port: what the engine needs from durable storage. `storage/lmdb` implements it for one node;
 * the cluster implements it by replicating the same commands through Raft before applying them.
 *
 * Every change to durable state is a `Command`. `commit(batch)` makes the batch durable atomically
 * (all or nothing), in submission order relative to other commits, and resolves only once the batch is
 * on disk (fsync'd) — or, in a cluster, on a quorum. The engine applies a command's effect to its
 * in-memory state only after the commit resolves, so its state is a function of committed commands — with one
 * exception, concurrent store and dispatch: a plain send's enqueue is applied while its commit is in flight, and
 * withdrawn if that commit fails; nothing about such an entry is committed before its enqueue (Entry.committing).
 */
import type { Message } from './message.js';

/** A queue in storage: a real queue, a durable/shared topic subscription, a DLQ… (key: its storage name). */
export interface StoredQueueInfo {
  /** Storage name, e.g. `q:orders` or `s:clientId:subName` — chosen by the engine. */
  name: string;
  /** Engine-owned description (kind, address, subscription details), opaque to the store. */
  meta: Record<string, unknown>;
}

export interface StoredEntry {
  queue: string;
  seq: number;
  message: Message;
  /** Prior failed delivery attempts. */
  deliveryCount: number;
}

export type Command =
  /** Create or replace a storage queue's metadata. */
  | { t: 'queue.put'; queue: string; meta: Record<string, unknown> }
  /** Delete a storage queue with all its entries. */
  | { t: 'queue.delete'; queue: string }
  /**
   * Add a message to a queue at `seq` (strictly increasing per queue).
   * When `shared` is set, the message body is stored once under that id and referenced by every entry
   * that names the same `shared` id (fan-out to many durable subscriptions); the last ack frees it.
   */
  | { t: 'enqueue'; queue: string; seq: number; message: Message; deliveryCount?: number; shared?: string }
  /** Remove an entry (consumed, expired, moved). */
  | { t: 'ack'; queue: string; seq: number }
  /** Rewrite an entry's delivery state (redelivery count / new delivery time) without touching its body. */
  | { t: 'update'; queue: string; seq: number; deliveryCount: number; deliveryTime?: number }
  /** Every entry of `queue` with seq ≤ `seq` may have been delivered: recovery flags them redelivered. */
  | { t: 'mark'; queue: string; seq: number }
  /** Remove every entry of a queue (purge). */
  | { t: 'purge'; queue: string }
  /** Generic durable key/value state for everything else (retained messages, SNS subscriptions, MQTT sessions, scheduled jobs…). Keys are namespaced by owner: `retained:`, `sqs:`, `mqtt:`… */
  | { t: 'kv.put'; key: string; value: unknown }
  | { t: 'kv.delete'; key: string };

export interface QueueRecovery {
  name: string;
  meta: Record<string, unknown>;
  /** Number of entries stored. */
  count: number;
  /** Sum of stored message sizes (bytes, approximate: as `messageSize`). */
  bytes: number;
  /** Highest seq ever used in this queue (0 if none) — so new seqs continue after it. */
  lastSeq: number;
  /** The last `mark` committed (0 if none). */
  mark: number;
}

export interface Store {
  /** Open, recover and return everything the engine rebuilds its state from. */
  open(): Promise<{ queues: QueueRecovery[]; kv: Map<string, unknown> }>;
  /** Make a batch durable atomically and in order. Resolves once fsync'd (or on a quorum). */
  commit(batch: Command[]): Promise<void>;
  /** Read up to `limit` entries of `queue` with seq > `afterSeq`, in seq order (paging). Synchronous: reads are local. */
  readEntries(queue: string, afterSeq: number, limit: number): StoredEntry[];
  /** The seqs of up to `limit` entries of `queue` with seq > `afterSeq`, in order, without reading the messages. */
  readSeqs(queue: string, afterSeq: number, limit: number): number[];
  /** Approximate bytes used on disk, for metrics. */
  size(): number;
  close(): Promise<void>;
}
