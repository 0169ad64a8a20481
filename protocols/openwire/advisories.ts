/**
 * ActiveMQ advisory topics: temporary destinations, consumers and producers.
 *
 * An ActiveMQ client watches `ActiveMQ.Advisory.TempQueue,ActiveMQ.Advisory.TempTopic` and refuses to send to a
 * temporary destination it has not heard of (`Cannot publish to a deleted Destination`), so a reply to another
 * connection's temporary queue works only once that queue's advisory arrived. Applications ask for
 * `ActiveMQ.Advisory.Consumer.Queue.<name>` / `…Producer.Topic.<name>` (AdvisorySupport.getConsumerAdvisoryTopic…)
 * to see consumers and producers come and go: a ConsumerInfo / ProducerInfo when one is added, a RemoveInfo when
 * it goes, each with the `consumerCount` / `producerCount` property after the change, as ActiveMQ's AdvisoryBroker
 * sends them.
 *
 * The hub is shared by all OpenWire connections of one adapter: it remembers the live temporary destinations,
 * consumers and producers, replays them to each new advisory consumer (as AdvisoryBroker does) and announces
 * every add and remove. It sees OpenWire's own consumers and producers only: those of STOMP, AMQP, MQTT or SQS
 * clients get no advisories. Consumers on other advisory topics are accepted and get nothing.
 *
 * `ActiveMQ.Advisory.Queue` / `…Topic` (what `ActiveMQConnection.getDestinationSource()` watches) carry a
 * DestinationInfo for every queue and topic of the engine, whoever created it: the existing ones replayed to a new
 * subscriber, then each one created or deleted.
 */
import { matchTopic, type EngineApi, type EngineEvents } from '../../src/core/api.js';
import type { ActiveMQMessage, ConnectionId, ConsumerInfo, DataStructure, Destination, DestinationInfo, ProducerId, ProducerInfo, RemoveInfo } from './commands.js';
import { encodePrimitiveMap, int } from './properties.js';
import { ADVISORY_PREFIX } from './mapping.js';
import { DataType } from './schema.js';

export const TEMP_QUEUE_ADVISORY = `${ADVISORY_PREFIX}TempQueue`;
export const TEMP_TOPIC_ADVISORY = `${ADVISORY_PREFIX}TempTopic`;
export const QUEUE_ADVISORY = `${ADVISORY_PREFIX}Queue`;
export const TOPIC_ADVISORY = `${ADVISORY_PREFIX}Topic`;

export const CONSUMER_ADVISORY_PREFIX = `${ADVISORY_PREFIX}Consumer.`;
export const PRODUCER_ADVISORY_PREFIX = `${ADVISORY_PREFIX}Producer.`;

export const DESTINATION_ADD = 0;
export const DESTINATION_REMOVE = 1;

export interface AdvisorySubscriber {
  /** Advisory topic names or patterns (a composite is already split). */
  readonly topics: string[];
  deliver(message: ActiveMQMessage): void;
}

interface TempEntry {
  destination: Destination;
  connectionId: ConnectionId | null;
}

/** ActiveMQ's ActiveMQDestination.getDestinationTypeAsString(). */
function typeName(d: Destination): string {
  switch (d.type) {
    case DataType.ACTIVEMQ_TOPIC:
      return 'Topic';
    case DataType.ACTIVEMQ_TEMP_QUEUE:
      return 'TempQueue';
    case DataType.ACTIVEMQ_TEMP_TOPIC:
      return 'TempTopic';
    default:
      return 'Queue';
  }
}

/** `ActiveMQ.Advisory.Consumer.Queue.orders` for kind 'Consumer' and queue `orders`. */
export function advisoryTopicFor(kind: 'Consumer' | 'Producer', d: Destination): string {
  return `${ADVISORY_PREFIX}${kind}.${typeName(d)}.${d.physicalName}`;
}

type Party = { kind: 'Consumer'; info: ConsumerInfo } | { kind: 'Producer'; info: ProducerInfo };

const ADVISORY_PRODUCER: ProducerId = { type: DataType.PRODUCER_ID, connectionId: 'ID:wharf-advisories', sessionId: 0n, value: 0n };

export class AdvisoryHub {
  private readonly temps = new Map<string, TempEntry>();
  /** Live consumers and producers with a destination, by `kind:id`, and how many there are per advisory topic. */
  private readonly parties = new Map<string, Party & { topic: string }>();
  private readonly counts = new Map<string, number>();
  private readonly subscribers = new Set<AdvisorySubscriber>();
  private seq = 0n;
  /** Engine queues and topics announced on the destination advisory topics (`queue:name`), once someone asked. */
  private destinations: Set<string> | null = null;

  /** `engine`: the source of the queue and topic advisories (none without it). */
  constructor(private readonly engine?: EngineApi) {}

  static isAdvisory(d: Destination | null): boolean {
    return !!d?.physicalName && d.physicalName.split(',').every((p) => p.trim().startsWith(ADVISORY_PREFIX));
  }

  /** Live temporary destinations (tests, admin). */
  get temporaries(): number {
    return this.temps.size;
  }

  subscribe(s: AdvisorySubscriber): () => void {
    this.subscribers.add(s);
    for (const t of this.temps.values()) this.deliverTo(s, t, DESTINATION_ADD);
    if (s.topics.some((x) => matchTopic(x, QUEUE_ADVISORY) || matchTopic(x, TOPIC_ADVISORY))) {
      for (const key of this.watchDestinations()) {
        const i = key.indexOf(':');
        this.destinationTo(s, key.slice(0, i) as 'queue' | 'topic', key.slice(i + 1), DESTINATION_ADD);
      }
    }
    // AdvisoryBroker replays the consumers/producers already there, each with the current count
    for (const p of this.parties.values()) if (s.topics.some((x) => matchTopic(x, p.topic))) s.deliver(this.partyMessage(p.topic, p.kind, p.info, this.counts.get(p.topic) ?? 0));
    return () => this.subscribers.delete(s);
  }

  /** A consumer or producer with a destination (not an advisory one) was added; `id` is its key. */
  partyAdded(id: string, party: Party): void {
    const d = party.info.destination;
    if (!d?.physicalName || AdvisoryHub.isAdvisory(d)) return;
    const key = `${party.kind}:${id}`;
    if (this.parties.has(key)) return;
    const topic = advisoryTopicFor(party.kind, d);
    this.parties.set(key, { ...party, topic });
    const count = (this.counts.get(topic) ?? 0) + 1;
    this.counts.set(topic, count);
    this.publish(topic, () => this.partyMessage(topic, party.kind, party.info, count));
  }

  partyRemoved(kind: 'Consumer' | 'Producer', id: string): void {
    const key = `${kind}:${id}`;
    const p = this.parties.get(key);
    if (!p) return;
    this.parties.delete(key);
    const count = (this.counts.get(p.topic) ?? 1) - 1;
    if (count > 0) this.counts.set(p.topic, count);
    else this.counts.delete(p.topic);
    const objectId = p.kind === 'Consumer' ? p.info.consumerId : p.info.producerId;
    const remove: RemoveInfo = { type: DataType.REMOVE_INFO, commandId: 0, responseRequired: false, objectId, lastDeliveredSequenceId: 0n };
    this.publish(p.topic, () => this.message(p.topic, remove, { [p.kind === 'Consumer' ? 'consumerCount' : 'producerCount']: int(count) }));
  }

  private publish(topic: string, build: () => ActiveMQMessage): void {
    let m: ActiveMQMessage | undefined;
    for (const s of this.subscribers) if (s.topics.some((x) => matchTopic(x, topic))) s.deliver((m ??= build()));
  }

  private partyMessage(topic: string, kind: 'Consumer' | 'Producer', info: ConsumerInfo | ProducerInfo, count: number): ActiveMQMessage {
    return this.message(topic, info, { [kind === 'Consumer' ? 'consumerCount' : 'producerCount']: int(count) });
  }

  added(destination: Destination, connectionId: ConnectionId | null): void {
    const key = `${destination.type}:${destination.physicalName}`;
    if (this.temps.has(key)) return;
    const t = { destination, connectionId };
    this.temps.set(key, t);
    this.announce(t, DESTINATION_ADD);
  }

  removed(destination: Destination): void {
    const key = `${destination.type}:${destination.physicalName}`;
    const t = this.temps.get(key);
    if (!t) return;
    this.temps.delete(key);
    this.announce(t, DESTINATION_REMOVE);
  }

  private announce(t: TempEntry, op: number): void {
    for (const s of this.subscribers) this.deliverTo(s, t, op);
  }

  private deliverTo(s: AdvisorySubscriber, t: TempEntry, op: number): void {
    const topic = t.destination.type === DataType.ACTIVEMQ_TEMP_TOPIC ? TEMP_TOPIC_ADVISORY : TEMP_QUEUE_ADVISORY;
    if (!s.topics.some((p) => matchTopic(p, topic))) return;
    const info: DestinationInfo = {
      type: DataType.DESTINATION_INFO,
      commandId: 0,
      responseRequired: false,
      connectionId: t.connectionId,
      destination: t.destination,
      operationType: op,
      timeout: 0n,
      brokerPath: null,
    };
    s.deliver(this.message(topic, info));
  }

  /** The engine's queues and topics, from the first destination advisory subscriber on kept up to date by its events. */
  private watchDestinations(): Set<string> {
    if (this.destinations) return this.destinations;
    const known = (this.destinations = new Set());
    const engine = this.engine;
    if (!engine) return known;
    // temporary destinations have advisories of their own (the engine lists a temporary topic as a topic)
    const visible = (kind: string, name: string) =>
      !name.startsWith(ADVISORY_PREFIX) && (kind === 'queue' ? !engine.isTemporaryQueue(name) : !this.temps.has(`${DataType.ACTIVEMQ_TEMP_TOPIC}:${name}`));
    for (const d of engine.listDestinations()) if ((d.kind === 'topic' || d.role === 'queue') && visible(d.kind, d.name)) known.add(`${d.kind}:${d.name}`);
    const change = (op: number) => (e: EngineEvents['destination.created']) => {
      const key = `${e.kind}:${e.name}`;
      if (op === DESTINATION_ADD ? known.has(key) || !visible(e.kind, e.name) : !known.delete(key)) return;
      if (op === DESTINATION_ADD) known.add(key);
      for (const s of this.subscribers) this.destinationTo(s, e.kind, e.name, op);
    };
    engine.on('destination.created', change(DESTINATION_ADD));
    engine.on('destination.deleted', change(DESTINATION_REMOVE));
    return known;
  }

  private destinationTo(s: AdvisorySubscriber, kind: 'queue' | 'topic', name: string, op: number): void {
    const topic = kind === 'queue' ? QUEUE_ADVISORY : TOPIC_ADVISORY;
    if (!s.topics.some((p) => matchTopic(p, topic))) return;
    const destination = { type: kind === 'queue' ? DataType.ACTIVEMQ_QUEUE : DataType.ACTIVEMQ_TOPIC, physicalName: name } as Destination;
    const info: DestinationInfo = { type: DataType.DESTINATION_INFO, commandId: 0, responseRequired: false, connectionId: null, destination, operationType: op, timeout: 0n, brokerPath: null };
    s.deliver(this.message(topic, info));
  }

  private message(topic: string, info: DataStructure, properties?: Record<string, ReturnType<typeof int>>): ActiveMQMessage {
    const now = BigInt(Date.now());
    return {
      type: DataType.ACTIVEMQ_MESSAGE,
      commandId: 0,
      responseRequired: false,
      producerId: ADVISORY_PRODUCER,
      destination: { type: DataType.ACTIVEMQ_TOPIC, physicalName: topic },
      messageId: { type: DataType.MESSAGE_ID, textView: null, producerId: ADVISORY_PRODUCER, producerSequenceId: ++this.seq, brokerSequenceId: 0n },
      persistent: false,
      priority: 4,
      timestamp: now,
      brokerInTime: now,
      brokerOutTime: now,
      dataStructure: info,
      userID: null,
      content: null,
      marshalledProperties: properties ? encodePrimitiveMap(properties) : null,
      jmsType: 'Advisory',
      groupID: null,
      groupSequence: 0,
      correlationId: null,
      expiration: 0n,
      replyTo: null,
      transactionId: null,
      originalDestination: null,
      originalTransactionId: null,
      targetConsumerId: null,
      compressed: false,
      redeliveryCounter: 0,
      brokerPath: null,
      arrival: 0n,
      recievedByDFBridge: false,
      droppable: false,
      cluster: null,
      jmsxGroupFirstForConsumer: false,
    } satisfies ActiveMQMessage;
  }
}
