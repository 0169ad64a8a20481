/**
 * The SNS service over the query protocol. An SNS topic `orders` is the core topic `orders`: Publish is an
 * engine send to it, so STOMP/MQTT/AMQP subscribers of the topic get SNS messages and a STOMP/MQTT/AMQP publish
 * reaches the SNS subscriptions. Each confirmed SNS subscription is a core durable subscription
 * (`durable:sns:<id>`) with one consumer here that filters, formats (JSON envelope or raw) and forwards:
 * `sqs` to a broker queue, `http`/`https` by POST with retries per delivery policy and a redrive DLQ,
 * `wharf` (broker-native) to any core queue or topic address.
 *
 * State: `sns:topic:<name>`, `sns:sub:<id>` and the signing key `sns:signing` in the engine's kv store.
 *
 * This façade only wires the parts: topics.ts, subscriptions.ts, publish.ts, fan-out.ts (delivery to subscribers),
 * http-delivery.ts; they share resources.ts (engine, kv records, ARNs).
 */
import { guardActions } from '../aws/endpoint.js';
import type { Params } from '../aws/params.js';
import { exportSns, importSns, parseSnsDefinitions, type SnsDefinitions, type SnsItemOutcome } from './definitions.js';
import { FanOut } from './fan-out.js';
import { HttpDelivery } from './http-delivery.js';
import { Publisher } from './publish.js';
import { CERT_PATH, SnsResources, type SnsContext, type SnsServiceOptions, type SubMeta } from './resources.js';
import { Subscriptions } from './subscriptions.js';
import { Topics } from './topics.js';
import { BrokerError, type Action } from '../../src/core/api.js';
import { snsError } from '../aws/errors.js';

export type { SnsContext, SnsServiceOptions, SqsBridge } from './resources.js';
export type { SnsDefinitions, SnsItemOutcome } from './definitions.js';

/**
 * What security.acl asks of a request's user per action on the topic it names (the same rights as the core topic):
 * Publish `write`, Subscribe `read`, creating a topic that does not exist and changing or deleting one `admin`.
 */
const AUTHORIZE: Record<string, Action> = {
  CreateTopic: 'create',
  DeleteTopic: 'delete',
  SetTopicAttributes: 'admin',
  TagResource: 'admin',
  UntagResource: 'admin',
  AddPermission: 'admin',
  RemovePermission: 'admin',
  Subscribe: 'consume',
  // changing or removing a subscription takes what making it took (read on its topic): else any signed user could
  // unsubscribe others' queues (ListSubscriptions names them) or rewrite their filter and redrive policies
  Unsubscribe: 'consume',
  SetSubscriptionAttributes: 'consume',
  Publish: 'send',
  PublishBatch: 'send',
};

/** The SNS service: its actions by name and its lifecycle (wired in src/app/aws-module.ts). */
export class SnsService {
  static readonly CERT_PATH = CERT_PATH;
  readonly actions: Record<string, (p: Params, ctx: SnsContext) => Promise<Record<string, unknown>>>;
  private readonly r: SnsResources;
  private readonly fanOut: FanOut;
  private readonly publisher: Publisher;
  private readonly topics: Topics;
  private readonly subs: Subscriptions;
  private sweepTimer?: NodeJS.Timeout;

  constructor(opts: SnsServiceOptions) {
    const r = (this.r = new SnsResources(opts));
    const http = new HttpDelivery(r);
    const fanOut = (this.fanOut = new FanOut(r, http));
    const subs = (this.subs = new Subscriptions(r, fanOut, http));
    const topics = (this.topics = new Topics(r, subs));
    const publisher = (this.publisher = new Publisher(r));
    this.actions = {
      CreateTopic: (p, c) => topics.createTopic(p, c),
      DeleteTopic: (p) => topics.deleteTopic(p),
      ListTopics: (p) => topics.listTopics(p),
      GetTopicAttributes: (p) => topics.getTopicAttributes(p),
      SetTopicAttributes: (p) => topics.setTopicAttributes(p),
      Subscribe: (p, c) => subs.subscribe(p, c),
      ConfirmSubscription: (p, c) => subs.confirmSubscription(p, c),
      Unsubscribe: (p, c) => subs.unsubscribe(p, c),
      ListSubscriptions: (p) => subs.listSubscriptions(p, undefined),
      ListSubscriptionsByTopic: (p) => subs.listSubscriptions(p, r.topicFromArn(p.str('TopicArn'))),
      GetSubscriptionAttributes: (p) => subs.getSubscriptionAttributes(p),
      SetSubscriptionAttributes: (p) => subs.setSubscriptionAttributes(p),
      Publish: (p, c) => publisher.publish(p, c),
      PublishBatch: (p, c) => publisher.publishBatch(p, c),
      TagResource: (p) => topics.tagResource(p),
      UntagResource: (p) => topics.untagResource(p),
      ListTagsForResource: (p) => topics.listTagsForResource(p),
      AddPermission: (p) => topics.addPermission(p),
      RemovePermission: (p) => topics.removePermission(p),
    };
    guardActions(this.actions, AUTHORIZE, (action, need, p, c) => this.authorize(action, need, p, c));
  }

  /** security.acl for an action on a named topic: AuthorizationError (403) unless the request's user may. */
  private authorize(action: string, need: Action, p: Params, c: SnsContext): void {
    let name: string | undefined;
    if (action === 'CreateTopic') {
      name = p.optStr('Name');
      if (!name || this.r.topicMeta(name)) return; // creating an existing topic is a lookup
    } else {
      const arn = p.optStr('TopicArn') ?? p.optStr('TargetArn') ?? p.optStr('ResourceArn') ?? p.optStr('SubscriptionArn');
      // a topic ARN, or a subscription's (`…:<topic>:<id>`)
      name = arn === undefined ? undefined : /^arn:aws[\w-]*:sns:[^:]*:[^:]*:([^:]+)(?::[0-9a-f-]{36})?$/.exec(arn)?.[1];
    }
    if (!name) return; // the action reports the missing or malformed parameter itself
    try {
      this.r.engine.authorize(c.user, need, { kind: 'topic', name });
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'unauthorized') throw snsError('AuthorizationError', `User '${c.user!.username}' is not authorized to perform: SNS:${action} on resource: ${this.r.topicArn(name)}`);
      throw err;
    }
  }

  // ============================================================== lifecycle

  async start(): Promise<void> {
    const r = this.r;
    r.connection = await r.engine.connect({ protocol: 'sns', remoteAddress: 'internal' }, { internal: true });
    for (const [, sub] of r.engine.kvEntries<SubMeta>('sns:sub:')) {
      if (sub.confirmed && r.topicMeta(sub.topic)) await this.fanOut.attach(sub).catch((err) => r.logger.error({ err, sub: sub.id }, 'sns: cannot resume subscription'));
    }
    this.sweepTimer = setInterval(() => this.publisher.sweep(Date.now()), 10_000);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    this.r.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.r.clearTimers();
    this.fanOut.close();
    if (this.r.connection) this.r.engine.disconnect(this.r.connection);
  }

  // ============================================================== definitions (export/import, wired in src/app/aws-module.ts)

  /** The core durable subscriptions behind SNS subscriptions (`durable:sns:<id>`) are the service's own. */
  ownsSubscription(engineId: string): boolean {
    return engineId.startsWith('durable:sns:');
  }

  exportDefinitions(): SnsDefinitions {
    return exportSns(this.r);
  }

  /** The `sns` part of a definitions document, checked (throws an Error naming the bad item). */
  parseDefinitions(value: unknown): SnsDefinitions {
    return parseSnsDefinitions(value);
  }

  /** Create the topics and subscriptions that do not exist (subscriptions with their fan-out consumer). */
  importDefinitions(defs: SnsDefinitions): Promise<SnsItemOutcome[]> {
    return importSns(this.r, this.topics, this.subs, defs);
  }

  certificatePem(): string {
    return this.r.signer().material.certPem;
  }

  topicArn(name: string): string {
    return this.r.topicArn(name);
  }
}
