/**
 * The SQS service: every SQS action on top of the Engine API, independent of the wire protocol (the JSON and
 * query front ends translate to the JSON-protocol input shapes and back).
 *
 * An SQS queue `orders` is the core queue `orders`. SQS-only metadata (attributes, tags, times) lives in the
 * engine's kv store under `sqs:queue:<name>`. Receiving uses one long-lived engine consumer per queue in
 * explicit-credit mode: a ReceiveMessage adds credit, collects deliveries, and leases them for the visibility
 * timeout; DeleteMessage acks; visibility expiry is the core's lease expiry (delivery count + 1).
 *
 * This façade only wires the parts: queue-manager.ts (queue actions), send.ts, receive.ts, settle.ts (delete and
 * visibility), move-tasks.ts (DLQ redrive); they share queues.ts (engine, metadata, per-queue state).
 */
import type { Logger } from 'pino';
import { BrokerError, type Action, type EngineApi } from '../../src/core/api.js';
import { guardActions } from '../aws/endpoint.js';
import { sqsError } from '../aws/errors.js';
import type { Params } from '../aws/params.js';
import { exportSqs, importSqs, parseSqsDefinitions, type ItemOutcome, type SqsDefinitions } from './definitions.js';
import { MessageMoveTasks } from './move-tasks.js';
import { QueueManager } from './queue-manager.js';
import { queueNameFromArn, queueNameFromUrl, SqsQueues, type RequestContext } from './queues.js';
import { Receiver } from './receive.js';
import { Sender, type InboundMessage } from './send.js';
import { Settler } from './settle.js';

export type { RequestContext } from './queues.js';
export type { InboundMessage } from './send.js';
export type { ItemOutcome, SqsDefinitions } from './definitions.js';

export interface SqsServiceOptions {
  engine: EngineApi;
  region: string;
  accountId: string;
  logger: Logger;
  /** Seconds between two PurgeQueue calls on a queue (AWS: 60); 0 = no limit. */
  purgeInterval?: number;
  /** Seconds after DeleteQueue before a queue of that name can be created again (AWS: 60); 0 = at once. */
  deletedQueueCooldown?: number;
}

/** What each queue action needs (security.acl); actions not listed only read metadata and are not checked. */
const AUTHORIZE: Record<string, Action> = {
  CreateQueue: 'create',
  DeleteQueue: 'delete',
  PurgeQueue: 'delete',
  SetQueueAttributes: 'admin',
  TagQueue: 'admin',
  UntagQueue: 'admin',
  AddPermission: 'admin',
  RemovePermission: 'admin',
  StartMessageMoveTask: 'admin',
  SendMessage: 'send',
  SendMessageBatch: 'send',
  ReceiveMessage: 'consume',
  DeleteMessage: 'consume',
  DeleteMessageBatch: 'consume',
  ChangeMessageVisibility: 'consume',
  ChangeMessageVisibilityBatch: 'consume',
};

/** The SQS service: its actions by name, its lifecycle, and what SNS delivery needs (wired in src/app/aws-module.ts). */
export class SqsService {
  readonly engine: EngineApi;
  readonly region: string;
  readonly accountId: string;
  readonly actions: Record<string, (p: Params, ctx: RequestContext) => Promise<Record<string, unknown>>>;
  private readonly q: SqsQueues;
  private readonly queues: QueueManager;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly settler: Settler;
  private readonly moveTasks: MessageMoveTasks;
  private sweepTimer?: NodeJS.Timeout;

  constructor(opts: SqsServiceOptions) {
    this.engine = opts.engine;
    this.region = opts.region;
    this.accountId = opts.accountId;
    const q = (this.q = new SqsQueues(opts.engine, opts.region, opts.accountId, opts.logger));
    const receiver = (this.receiver = new Receiver(q));
    const queues = (this.queues = new QueueManager(q, receiver, opts));
    const sender = (this.sender = new Sender(q));
    const settler = (this.settler = new Settler(q, receiver));
    const moveTasks = (this.moveTasks = new MessageMoveTasks(q, receiver));
    this.actions = {
      CreateQueue: (p, c) => queues.createQueue(p, c),
      GetQueueUrl: (p, c) => queues.getQueueUrl(p, c),
      ListQueues: (p, c) => queues.listQueues(p, c),
      DeleteQueue: (p, c) => queues.deleteQueue(p, c),
      GetQueueAttributes: (p, c) => queues.getQueueAttributes(p, c),
      SetQueueAttributes: (p, c) => queues.setQueueAttributes(p, c),
      PurgeQueue: (p, c) => queues.purgeQueue(p, c),
      TagQueue: (p, c) => queues.tagQueue(p, c),
      UntagQueue: (p, c) => queues.untagQueue(p, c),
      ListQueueTags: (p, c) => queues.listQueueTags(p, c),
      SendMessage: (p, c) => sender.sendMessage(p, c),
      SendMessageBatch: (p, c) => sender.sendMessageBatch(p, c),
      ReceiveMessage: (p, c) => receiver.receiveMessage(p, c),
      DeleteMessage: (p, c) => settler.deleteMessage(p, c),
      DeleteMessageBatch: (p, c) => settler.deleteMessageBatch(p, c),
      ChangeMessageVisibility: (p, c) => settler.changeMessageVisibility(p, c),
      ChangeMessageVisibilityBatch: (p, c) => settler.changeMessageVisibilityBatch(p, c),
      ListDeadLetterSourceQueues: (p, c) => queues.listDeadLetterSourceQueues(p, c),
      StartMessageMoveTask: (p, c) => moveTasks.startMessageMoveTask(p, c),
      CancelMessageMoveTask: (p, c) => moveTasks.cancelMessageMoveTask(p, c),
      ListMessageMoveTasks: (p, c) => moveTasks.listMessageMoveTasks(p, c),
      AddPermission: (p, c) => queues.addPermission(p, c),
      RemovePermission: (p, c) => queues.removePermission(p, c),
    };
    guardActions(this.actions, AUTHORIZE, (action, need, p, c) => this.authorize(action, need, p, c));
  }

  /** security.acl for an action on a named queue: AccessDenied (403) unless the request's user may. */
  private authorize(action: string, need: Action, p: Params, c: RequestContext): void {
    let name: string | undefined;
    if (action === 'CreateQueue') {
      name = p.optStr('QueueName');
      if (!name || this.exists(name)) return; // creating an existing queue is a lookup
    } else {
      const url = p.optStr('QueueUrl') ?? p.optStr('SourceArn');
      name = url === undefined ? c.pathQueue : url.startsWith('arn:') ? SqsService.nameFromArn(url) : queueNameFromUrl(url);
    }
    if (!name) return; // the action reports the missing or malformed parameter itself
    try {
      this.engine.authorize(c.user, need, { kind: 'queue', name });
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'unauthorized') throw sqsError('AccessDenied', `User '${c.user!.username}' is not authorized to perform ${action} on queue ${name}.`);
      throw err;
    }
  }

  // ============================================================== lifecycle

  async start(): Promise<void> {
    this.q.connection = await this.engine.connect({ protocol: 'sqs', remoteAddress: 'internal' }, { internal: true });
    await this.queues.start();
    this.sender.loadDedup();
    this.engine.on('destination.deleted', this.queues.onDestinationDeleted);
    this.engine.on('destination.created', this.queues.onDestinationCreated);
    this.moveTasks.load();
    this.sweepTimer = setInterval(() => this.sweep(), 10_000);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    if (this.q.closed) return;
    this.q.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.engine.off('destination.deleted', this.queues.onDestinationDeleted);
    this.engine.off('destination.created', this.queues.onDestinationCreated);
    this.receiver.close();
    // running move tasks stop here and resume at the next start (their state is in kv)
    if (this.q.connection) this.engine.disconnect(this.q.connection);
  }

  /** Every 10 s: expired dedup records, receive attempts, deleted receipts, cooldowns and old move tasks. */
  private sweep(): void {
    const now = Date.now();
    const deletes: string[] = [];
    this.sender.sweep(now, deletes);
    this.receiver.sweep(now);
    this.settler.sweep();
    this.queues.sweep(now);
    this.moveTasks.sweep(now, deletes);
    if (deletes.length) this.engine.kvCommit(deletes.map((key) => ({ key }))).catch(() => undefined);
  }

  // ============================================================== definitions (export/import, wired in src/app/aws-module.ts)

  /** Whether `name` is an SQS queue (it has SQS metadata): its definition and policy override are SQS's own. */
  owns(name: string): boolean {
    return this.q.meta(name) !== undefined && this.q.exists(name);
  }

  exportDefinitions(): SqsDefinitions {
    return exportSqs(this.q);
  }

  /** The `sqs` part of a definitions document, checked (throws an Error naming the bad item). */
  parseDefinitions(value: unknown): SqsDefinitions {
    return parseSqsDefinitions(value);
  }

  /** Create the queues that do not exist, through CreateQueue/SetQueueAttributes; one outcome per queue. */
  importDefinitions(defs: SqsDefinitions): Promise<ItemOutcome[]> {
    return importSqs(this.q, this.queues, defs);
  }

  // ============================================================== for SNS subscriptions (the SqsBridge)

  /** Queue name from an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`), or undefined. */
  static nameFromArn(arn: string): string | undefined {
    return queueNameFromArn(arn);
  }

  exists(name: string): boolean {
    return this.q.exists(name);
  }

  isFifo(name: string): boolean {
    return this.q.isFifo(name);
  }

  /** Enqueue a message from inside the broker (SNS subscription delivery). Resolves when durable. */
  deliver(name: string, m: InboundMessage): Promise<{ messageId: string }> {
    return this.sender.deliver(name, m);
  }
}
