/**
 * Scheduled delivery with ActiveMQ's scheduler properties (`AMQ_SCHEDULED_DELAY`, `_PERIOD`, `_REPEAT`,
 * `_CRON`). Delay/repeat sends become ordinary messages with delivery times; a cron schedule is a durable
 * job (kv `sched:<id>`) that fires occurrences and commits its next fire time with them.
 */
import { CronExpressionParser } from 'cron-parser';
import { formatAddress, parseAddress, type Address } from './address.js';
import type { ScheduledJobInfo } from './api.js';
import type { EngineState } from './engine-state.js';
import { BrokerError } from './errors.js';
import { copyMessage, newMessageId, type Message } from './message.js';
import { mergePlans, type SendPlan } from './plan.js';
import type { Command } from './store.js';
import type { TimerHandle, TimerWheel } from './timers.js';

/** A durable cron job (kv `sched:<id>`): the API's view of it is the whole record. */
export type ScheduledJob = ScheduledJobInfo;

const SCHEDULE_PROPS = ['AMQ_SCHEDULED_DELAY', 'AMQ_SCHEDULED_PERIOD', 'AMQ_SCHEDULED_REPEAT', 'AMQ_SCHEDULED_CRON'];

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return 0;
}

/** What the scheduler needs of the engine. */
export interface SchedulerHost {
  readonly timers: TimerWheel;
  now(): number;
  commit(batch: Command[]): Promise<void>;
  planSend(m: Message, address: Address): Promise<SendPlan>;
  executePlan(plan: SendPlan, extra: Command[]): Promise<void>;
  onError(err: unknown, where: string): void;
}

export class Scheduler {
  private readonly jobs = new Map<string, { job: ScheduledJob; timer?: TimerHandle }>();

  constructor(private readonly state: EngineState, private readonly host: SchedulerHost) {}

  /** Does the message carry ActiveMQ scheduler properties (then it becomes a job, not a plain send)? */
  static applies(m: Message): boolean {
    const p = m.properties;
    return p.AMQ_SCHEDULED_DELAY !== undefined || p.AMQ_SCHEDULED_PERIOD !== undefined || p.AMQ_SCHEDULED_REPEAT !== undefined || p.AMQ_SCHEDULED_CRON !== undefined;
  }

  private stripSchedule(m: Message, extra: Partial<Message> = {}): Message {
    const c = copyMessage(m, extra);
    for (const k of SCHEDULE_PROPS) delete c.properties[k];
    return c;
  }

  async schedule(message: Message, address: Address): Promise<void> {
    const p = message.properties;
    const delay = Math.max(0, num(p.AMQ_SCHEDULED_DELAY));
    const period = Math.max(0, num(p.AMQ_SCHEDULED_PERIOD));
    const repeat = Math.max(0, Math.trunc(num(p.AMQ_SCHEDULED_REPEAT)));
    const cron = typeof p.AMQ_SCHEDULED_CRON === 'string' ? p.AMQ_SCHEDULED_CRON : undefined;
    const now = this.host.now();
    if (cron) {
      let next: number;
      try {
        next = CronExpressionParser.parse(cron, { currentDate: new Date(now) }).next().getTime();
      } catch (err) {
        throw new BrokerError('invalid', `Invalid AMQ_SCHEDULED_CRON '${cron}': ${(err as Error).message}`);
      }
      const job: ScheduledJob = { id: newMessageId(), message: this.stripSchedule(message), destination: formatAddress(address), cron, delay, period, repeat, next };
      await this.host.commit([{ t: 'kv.put', key: `sched:${job.id}`, value: job }]);
      this.state.kv.set(`sched:${job.id}`, job);
      this.arm(job);
      return;
    }
    // delay / repeat: each occurrence is an ordinary message with a delivery time
    const plans: SendPlan[] = [];
    for (let i = 0; i <= repeat; i++) {
      const at = now + delay + i * period;
      const m = this.stripSchedule(message, { deliveryTime: at, messageId: i === 0 ? message.messageId : newMessageId() });
      plans.push(await this.host.planSend(m, address));
    }
    await this.host.executePlan(mergePlans(plans), []);
  }

  arm(job: ScheduledJob): void {
    const entry: { job: ScheduledJob; timer?: TimerHandle } = { job };
    this.jobs.set(job.id, entry);
    entry.timer = this.host.timers.schedule(job.next, () => this.fireJob(job));
  }

  private fireJob(job: ScheduledJob): void {
    const address = parseAddress(job.destination);
    const now = this.host.now();
    const occurrences: Message[] = [];
    for (let i = 0; i <= job.repeat; i++) occurrences.push(copyMessage(job.message, { messageId: newMessageId(), timestamp: now, deliveryTime: now + job.delay + i * job.period, properties: { ...job.message.properties, scheduledJobId: job.id } }));
    let next: number;
    try {
      next = CronExpressionParser.parse(job.cron!, { currentDate: new Date(now + 1) }).next().getTime();
    } catch {
      return;
    }
    const updated = { ...job, next };
    (async () => {
      const plans = await Promise.all(occurrences.map((m) => this.host.planSend(m, address)));
      await this.host.executePlan(mergePlans(plans), [{ t: 'kv.put', key: `sched:${job.id}`, value: updated }]);
      if (this.jobs.has(job.id)) {
        this.state.kv.set(`sched:${job.id}`, updated);
        this.arm(updated);
      }
    })().catch((err) => this.host.onError(err, 'scheduled job'));
  }

  list(): ScheduledJob[] {
    return [...this.jobs.values()].map((j) => j.job);
  }

  async cancel(id: string): Promise<boolean> {
    const j = this.jobs.get(id);
    if (!j) return false;
    this.host.timers.cancel(j.timer);
    this.jobs.delete(id);
    await this.host.commit([{ t: 'kv.delete', key: `sched:${id}` }]);
    this.state.kv.delete(`sched:${id}`);
    return true;
  }
}
