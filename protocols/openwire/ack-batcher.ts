/**
 * Engine acks nobody waits for (a MessageAck without responseRequired: AUTO_ACKNOWLEDGE and DUPS_OK consumers), held
 * for a moment so that their store commit rides with the next one instead of making a transaction — and an fsync —
 * of its own, which a persistent send arriving meanwhile would have to wait behind (ActiveMQ's KahaDB does not sync
 * such acks at all).
 *
 * Only the engine call waits: the consumer's own bookkeeping and credit are done when the ack arrives. The held acks
 * are applied (in arrival order) right before any other command of any OpenWire connection is handled — a send
 * then joins them in one store batch, and a consumer close or a transaction sees them first — before a connection
 * is torn down, and at the latest after `maxDelayMs`. A crash before their commit redelivers those messages
 * (at-least-once), as it would have with the commit under way.
 */
import type { Logger } from 'pino';

export class AckBatcher {
  private pending: Array<() => Promise<void>> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly maxDelayMs = 5,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  defer(ack: () => Promise<void>): void {
    this.pending.push(ack);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.maxDelayMs);
      this.timer.unref();
    }
  }

  /** Apply every held ack now (their commits go on without us). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const acks = this.pending;
    this.pending = [];
    for (const ack of acks) {
      try {
        ack().catch((err: unknown) => this.failed(err));
      } catch (err) {
        this.failed(err);
      }
    }
  }

  private failed(err: unknown): void {
    // the delivery was settled otherwise meanwhile (lease, consumer gone) or the commit failed: nobody to tell
    this.log.debug({ err: (err as Error).message }, 'openwire: held ack failed');
  }
}
