/**
 * Resource alarms, as RabbitMQ's disk and memory alarms: while one is raised, producers on every protocol wait
 * (their adapters turn the wait into the protocol's own flow control: a receipt or PUBACK that comes later, input
 * that stops being read, AMQP credit not given back) or, when they ask to fail fast (SQS), get
 * `BrokerError('unavailable')`. Consumers keep draining. Who watches the resources (disk, store size, memory) is
 * outside the core; it raises and clears alarms here.
 */
import { BrokerError } from './errors.js';

export interface AlarmInfo {
  resource: string;
  detail: string;
  since: number;
}

export class Alarms {
  private readonly raised = new Map<string, AlarmInfo>();
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly onChange: (resource: string, info: AlarmInfo | null) => void = () => undefined) {}

  get active(): boolean {
    return this.raised.size > 0;
  }

  list(): AlarmInfo[] {
    return [...this.raised.values()];
  }

  set(resource: string, detail: string | null, now = Date.now()): void {
    const had = this.raised.get(resource);
    if (detail === null) {
      if (!had) return;
      this.raised.delete(resource);
      this.onChange(resource, null);
      if (this.raised.size === 0) for (const w of this.waiters.splice(0)) w();
      return;
    }
    if (had) {
      had.detail = detail;
      return;
    }
    const info = { resource, detail, since: now };
    this.raised.set(resource, info);
    this.onChange(resource, info);
  }

  /** Resolves at once without an alarm; otherwise waits for every alarm to clear, or throws when `failFast`. */
  async admit(failFast: boolean): Promise<void> {
    while (this.raised.size > 0) {
      if (this.closed) throw new BrokerError('closed', 'broker is shutting down');
      if (failFast) throw new BrokerError('unavailable', `the broker accepts no messages for now: ${this.describe()}; retry later`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Shutdown: every waiting producer gets `closed`. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
  }

  describe(): string {
    return this.list().map((a) => `${a.resource} alarm (${a.detail})`).join(', ');
  }
}
