/**
 * DLQ redrive: StartMessageMoveTask moves a dead-letter queue's messages back to their source queues (or to one
 * destination), at most MaxNumberOfMessagesPerSecond, through the engine's retryDeadLetters. A task is kept in kv
 * `sqs:move:<taskId>` so it is listed, resumed or failed after a restart, and listed for 14 days once finished.
 */
import { randomUUID } from 'node:crypto';
import { queue as queueAddress } from '../../src/core/api.js';
import { sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { parseRedrivePolicy, type QueueMeta } from './queue-attributes.js';
import { queueNameFromArn, type RequestContext, type SqsQueues } from './queues.js';
import type { Receiver } from './receive.js';

/** A message move task; kept in kv `sqs:move:<taskId>` so it is listed, resumed or failed after a restart. */
interface MoveTask {
  id: string;
  handle: string;
  source: string;
  destinationArn?: string;
  maxPerSecond?: number;
  status: 'RUNNING' | 'COMPLETED' | 'CANCELLING' | 'CANCELLED' | 'FAILED';
  moved: number;
  toMove: number;
  failureReason?: string;
  started: number;
}

/** Finished message move tasks are listed for 14 days (AWS). */
const MOVE_TASK_RETENTION_MS = 14 * 24 * 3600 * 1000;

export class MessageMoveTasks {
  /** By task handle. */
  private readonly tasks = new Map<string, MoveTask>();

  constructor(
    private readonly q: SqsQueues,
    private readonly receiver: Receiver,
  ) {}

  /** Forget finished tasks after 14 days (their kv records are collected in `deletes`). */
  sweep(now: number, deletes: string[]): void {
    for (const [h, t] of this.tasks) {
      if (t.status !== 'RUNNING' && t.status !== 'CANCELLING' && now - t.started > MOVE_TASK_RETENTION_MS) {
        this.tasks.delete(h);
        deletes.push(`sqs:move:${t.id}`);
      }
    }
  }

  async startMessageMoveTask(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const sourceArn = p.str('SourceArn');
    const source = queueNameFromArn(sourceArn);
    if (!source || !this.q.exists(source)) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the SourceArn parameter doesn\'t exist.');
    const destinationArn = p.optStr('DestinationArn');
    const dest = destinationArn !== undefined ? queueNameFromArn(destinationArn) : undefined;
    if (destinationArn !== undefined && (!dest || !this.q.exists(dest))) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the DestinationArn parameter doesn\'t exist.');
    const maxPerSecond = p.optInt('MaxNumberOfMessagesPerSecond', 1, 500);
    const isDlq = this.q.engine
      .kvEntries<QueueMeta>('sqs:queue:')
      .some(([, m]) => queueNameFromArn(parseRedrivePolicy(m.attributes.RedrivePolicy)?.deadLetterTargetArn ?? '') === source);
    if (!isDlq && !this.q.engine.queueInfo(source)?.deadLetterQueue) {
      throw sqsError('InvalidParameterValue', 'Source queue must be configured as a Dead Letter Queue.');
    }
    for (const t of this.tasks.values()) {
      if (t.source === source && t.status === 'RUNNING') throw sqsError('UnsupportedOperation', 'There is already a task running. Only one active task is allowed for a source queue ARN at a given time.');
    }
    const id = randomUUID();
    const handle = Buffer.from(JSON.stringify({ taskId: id, sourceArn })).toString('base64');
    const task: MoveTask = { id, handle, source, destinationArn, maxPerSecond, status: 'RUNNING', moved: 0, toMove: this.q.engine.queueInfo(source)!.ready, started: Date.now() };
    this.tasks.set(handle, task);
    await this.saveMoveTask(task);
    this.launchMoveTask(task, dest);
    return { TaskHandle: handle };
  }

  private launchMoveTask(task: MoveTask, dest: string | undefined): void {
    this.runMoveTask(task, dest).catch((err) => {
      if (this.q.closed) return; // stopped by shutdown: resumes at the next start
      task.status = 'FAILED';
      task.failureReason = (err as Error).message;
      this.saveMoveTask(task).catch(() => undefined);
    });
  }

  private async saveMoveTask(task: MoveTask): Promise<void> {
    await this.q.engine.kvPut(`sqs:move:${task.id}`, task);
  }

  /**
   * After a restart: finished tasks are listed as before (for 14 days, as in AWS); a task that was RUNNING goes
   * on where it stopped (its moved count was saved after every chunk) unless its source or destination queue is
   * gone, then it is FAILED; one that was being cancelled is CANCELLED.
   */
  load(): void {
    const now = Date.now();
    for (const [key, t] of this.q.engine.kvEntries<MoveTask>('sqs:move:')) {
      if (!t || typeof t.handle !== 'string' || typeof t.source !== 'string') {
        this.q.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      if (now - t.started > MOVE_TASK_RETENTION_MS) {
        this.q.engine.kvDelete(key).catch(() => undefined);
        continue;
      }
      const task: MoveTask = { ...t };
      this.tasks.set(task.handle, task);
      if (task.status === 'CANCELLING') {
        task.status = 'CANCELLED';
        this.saveMoveTask(task).catch(() => undefined);
      } else if (task.status === 'RUNNING') {
        const dest = task.destinationArn !== undefined ? queueNameFromArn(task.destinationArn) : undefined;
        const missing = !this.q.exists(task.source) ? 'source' : task.destinationArn !== undefined && (!dest || !this.q.exists(dest)) ? 'destination' : undefined;
        if (missing) {
          task.status = 'FAILED';
          task.failureReason = `The ${missing} queue of the task no longer exists (found at broker restart).`;
          this.saveMoveTask(task).catch(() => undefined);
        } else {
          this.q.logger.info({ source: task.source, moved: task.moved }, 'sqs: resuming message move task after restart');
          this.launchMoveTask(task, dest);
        }
      }
    }
  }

  private async runMoveTask(task: MoveTask, dest: string | undefined): Promise<void> {
    // the rate limit counts from where this run started (a resumed task does not get a burst for the downtime)
    const started = Date.now();
    const movedAtStart = task.moved;
    for (;;) {
      if (this.q.closed) return;
      if (task.status === 'CANCELLING') {
        task.status = 'CANCELLED';
        await this.saveMoveTask(task);
        return;
      }
      this.receiver.quiesce(task.source);
      const batch = this.q.engine
        .browse(queueAddress(task.source), { limit: 100 })
        .filter((b) => b.state !== 'inflight')
        .map((b) => b.seq);
      if (batch.length === 0) break;
      let chunk = batch;
      if (task.maxPerSecond) {
        const allowed = Math.floor(((Date.now() - started) / 1000 + 1) * task.maxPerSecond) - (task.moved - movedAtStart);
        if (allowed <= 0) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        chunk = batch.slice(0, allowed);
      }
      const moved = await this.q.engine.retryDeadLetters(task.source, { seqs: chunk, target: dest ? queueAddress(dest) : undefined });
      if (moved === 0) break; // the rest has no known source to go back to
      task.moved += moved;
      if (!this.q.closed) await this.saveMoveTask(task);
    }
    if (this.q.closed) return;
    task.status = 'COMPLETED';
    await this.saveMoveTask(task);
  }

  async cancelMessageMoveTask(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const handle = p.str('TaskHandle');
    const t = this.tasks.get(handle);
    if (!t) throw sqsError('ResourceNotFoundException', 'The specified task handle does not exist.');
    if (t.status !== 'RUNNING') throw sqsError('UnsupportedOperation', 'Only a task with status RUNNING can be cancelled.');
    t.status = 'CANCELLING';
    await this.saveMoveTask(t);
    return { ApproximateNumberOfMessagesMoved: t.moved };
  }

  async listMessageMoveTasks(p: Params, _ctx: RequestContext): Promise<Record<string, unknown>> {
    const sourceArn = p.str('SourceArn');
    const max = p.optInt('MaxResults', 1, 10) ?? 1;
    const source = queueNameFromArn(sourceArn);
    if (!source || !this.q.exists(source)) throw sqsError('ResourceNotFoundException', 'The resource that you specified for the SourceArn parameter doesn\'t exist.');
    const tasks = [...this.tasks.values()].filter((t) => t.source === source).sort((a, b) => b.started - a.started).slice(0, max);
    return {
      Results: tasks.map((t) => ({
        ...(t.status === 'RUNNING' ? { TaskHandle: t.handle } : {}),
        Status: t.status,
        SourceArn: sourceArn,
        ...(t.destinationArn ? { DestinationArn: t.destinationArn } : {}),
        ...(t.maxPerSecond ? { MaxNumberOfMessagesPerSecond: t.maxPerSecond } : {}),
        ApproximateNumberOfMessagesMoved: t.moved,
        ApproximateNumberOfMessagesToMove: t.toMove,
        ...(t.failureReason ? { FailureReason: t.failureReason } : {}),
        StartedTimestamp: t.started,
      })),
    };
  }
}
