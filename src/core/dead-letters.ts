/**
 * Dead letters: moving an entry that failed (redeliveries exhausted, rejected, expired) to its DLQ with the
 * cause and origin in its properties, and moving messages back out (DLQ retry) or between queues (admin).
 */
import { formatAddress, parseAddress, type Address } from './address.js';
import type { Logger } from './api.js';
import type { EngineState } from './engine-state.js';
import type { Entry } from './entry.js';
import { BrokerError } from './errors.js';
import { copyMessage, messageSize, newMessageId, type Message } from './message.js';
import type { CoreQueue } from './queue.js';
import type { Command } from './store.js';

/** What dead-lettering needs of the engine. */
export interface DeadLettersHost {
  ensureQueue(name: string, pending: Command[], opts: { dlq?: boolean }): CoreQueue;
  send(m: Message, address: Address): Promise<void>;
  readonly logger: Logger;
  now(): number;
}

export class DeadLetters {
  constructor(private readonly state: EngineState, private readonly host: DeadLettersHost) {}


  /** The commands that move an entry to its DLQ (committed with the entry's removal), and the DLQ side to apply. */
  plan(from: CoreQueue, entry: Entry, reason: string): { commands: Command[]; apply: () => void } | null {
    const template = from.policy.deadLetterQueue;
    if (!template) return null;
    // A subscription dead-letters per concrete topic the message was published to (its pattern may be a wildcard).
    const published = entry.message.destination ? parseAddress(entry.message.destination) : null;
    const baseName = from.role === 'queue' || from.role === 'temporary' ? from.name : published?.kind === 'topic' ? published.name : from.address.name;
    const dlqName = template.replace('{name}', baseName);
    if (dlqName === from.name) return null;
    const commands: Command[] = [];
    let dlq: CoreQueue;
    try {
      dlq = this.host.ensureQueue(dlqName, commands, { dlq: true });
    } catch (err) {
      // e.g. a subscription on a wildcard pattern ('DLQ.a.*' is no queue name): drop rather than throw out
      // of an expiry sweep timer
      this.host.logger.warn({ err, from: from.name, dlq: dlqName }, 'dead-letter queue name is not valid; message dropped');
      return null;
    }
    if (!dlq.isDeadLetterQueue) {
      // an existing queue becomes a DLQ: recorded in its meta with the move, so a restart knows it too
      const meta = { ...this.state.metas.get(dlq)!, dlq: true };
      if (dlq.persistent && commands.length === 0) commands.push({ t: 'queue.put', queue: dlq.storageName, meta });
      this.state.metas.set(dlq, meta);
      dlq.isDeadLetterQueue = true;
    }
    const m = copyMessage(entry.message, { expiration: 0 });
    m.properties.dlqDeliveryFailureCause = reason;
    m.properties.originalDestination = entry.message.destination ?? formatAddress(from.address);
    if (from.role !== 'queue') m.properties.originalSubscription = from.name;
    m.properties.originalDeliveryCount = entry.deliveryCount;
    // when it was dead-lettered (the timestamp stays the send time): the console's DLQ columns and cause groups
    m.properties.dlqDeadLetteredAt = this.host.now();
    const size = messageSize(m);
    const seq = dlq.reserve(size);
    const persisted = dlq.persistent && m.durable;
    if (persisted) commands.push({ t: 'enqueue', queue: dlq.storageName, seq, message: m });
    this.state.totals.deadLettered++;
    return { commands, apply: () => dlq.applyEnqueue(seq, m, persisted, true) };
  }

  /**
   * Move messages from a DLQ back to where they came from (`originalDestination`), or to `target`.
   * Returns how many were moved.
   */
  async retry(dlqName: string, opts: { seqs?: number[]; target?: Address } = {}): Promise<number> {
    const dlq = this.state.queues.get(dlqName);
    if (!dlq) throw new BrokerError('not-found', `Queue '${dlqName}' does not exist`);
    const items = dlq.browse(opts.seqs ? Number.MAX_SAFE_INTEGER : 100_000).filter((b) => b.state !== 'inflight' && (!opts.seqs || opts.seqs.includes(b.seq)));
    let moved = 0;
    for (const it of items) {
      const orig = typeof it.message.properties.originalDestination === 'string' ? parseAddress(it.message.properties.originalDestination) : null;
      const target = opts.target ?? orig;
      if (!target) continue;
      const removed = await dlq.removeBySeq(it.seq);
      if (!removed) continue;
      const m = copyMessage(removed, { destination: formatAddress(target) });
      delete m.properties.dlqDeliveryFailureCause;
      delete m.properties.originalDestination;
      delete m.properties.dlqDeadLetteredAt;
      delete m.properties.originalSubscription;
      delete m.properties.originalDeliveryCount;
      await this.host.send(m, target);
      moved++;
    }
    return moved;
  }

  /** Move or copy one message (admin). */
  async move(fromQueue: string, seq: number, target: Address, copy = false): Promise<boolean> {
    const q = this.state.queues.get(fromQueue) ?? this.state.subscriptions.get(fromQueue);
    if (!q) throw new BrokerError('not-found', `Queue '${fromQueue}' does not exist`);
    if (copy) {
      const found = q.browse(Number.MAX_SAFE_INTEGER).find((b) => b.seq === seq);
      if (!found) return false;
      await this.host.send(copyMessage(found.message, { messageId: newMessageId(), destination: formatAddress(target) }), target);
      return true;
    }
    const m = await q.removeBySeq(seq);
    if (!m) return false;
    await this.host.send(copyMessage(m, { destination: formatAddress(target) }), target);
    return true;
  }
}
