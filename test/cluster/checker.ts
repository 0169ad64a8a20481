/**
 * What the fault test proves about a run, from what clients saw:
 *  - every send the broker confirmed was delivered at least once;
 *  - no message whose ack the broker confirmed came back without the redelivered flag;
 *  - per producer and queue, messages delivered for the first time without the flag arrive in send order;
 *  - duplicates (deliveries beyond the first) are counted, not forbidden (at-least-once).
 */
export interface Delivery {
  queue: string;
  id: string;
  redelivered: boolean;
}

export class Checker {
  readonly sent = new Map<string, { queue: string; producer: string; seq: number }>();
  readonly confirmed = new Set<string>();
  readonly deliveries: Delivery[] = [];
  readonly delivered = new Set<string>();
  readonly ackConfirmed = new Set<string>();
  readonly violations: string[] = [];
  duplicates = 0;
  /** Last first-time unflagged seq per producer+queue. */
  private readonly lastSeq = new Map<string, number>();

  /** A producer is about to send `id` (`<producer>-<seq>`). */
  sending(queue: string, producer: string, seq: number): string {
    const id = `${producer}-${seq}`;
    this.sent.set(id, { queue, producer, seq });
    return id;
  }

  confirm(id: string): void {
    this.confirmed.add(id);
  }

  deliver(queue: string, id: string, redelivered: boolean): void {
    this.deliveries.push({ queue, id, redelivered });
    const s = this.sent.get(id);
    if (!s) {
      this.violations.push(`${queue}: delivered ${id}, which nobody sent`);
      return;
    }
    if (s.queue !== queue) this.violations.push(`${id} was sent to ${s.queue} but delivered from ${queue}`);
    if (this.delivered.has(id)) {
      this.duplicates++;
      if (this.ackConfirmed.has(id) && !redelivered) this.violations.push(`${queue}: ${id} came back after its ack was confirmed, without the redelivered flag`);
    }
    this.delivered.add(id);
    if (!redelivered) {
      const key = `${s.producer}@${queue}`;
      const last = this.lastSeq.get(key) ?? -1;
      if (s.seq <= last) this.violations.push(`${queue}: ${id} arrived unflagged after ${s.producer}-${last} (per-producer order)`);
      else this.lastSeq.set(key, s.seq);
    }
  }

  acked(id: string): void {
    this.ackConfirmed.add(id);
  }

  missing(): string[] {
    return [...this.confirmed].filter((id) => !this.delivered.has(id));
  }

  summary(): string {
    return `${this.sent.size} sent, ${this.confirmed.size} confirmed, ${this.delivered.size} delivered (${this.deliveries.length} deliveries, ${this.duplicates} duplicates), ${this.ackConfirmed.size} acks confirmed, ${this.missing().length} missing, ${this.violations.length} violations`;
  }
}
