/**
 * ActiveMQ advisory topics, as far as JMS clients rely on them: the temporary-destination advisories.
 *
 * An ActiveMQ client watches `ActiveMQ.Advisory.TempQueue,ActiveMQ.Advisory.TempTopic` and refuses to send to a
 * temporary destination it has not heard of (`Cannot publish to a deleted Destination`), so a reply to another
 * connection's temporary queue works only once that queue's advisory arrived. The hub is shared by all OpenWire
 * connections of one adapter: it remembers the live temporary destinations, replays them to each new advisory
 * consumer (as ActiveMQ's AdvisoryBroker does) and announces every add and remove. Consumers on other advisory
 * topics are accepted and get nothing.
 */
import { matchTopic } from '../../src/core/api.js';
import type { ActiveMQMessage, ConnectionId, Destination, DestinationInfo, ProducerId } from './commands.js';
import { ADVISORY_PREFIX } from './mapping.js';
import { DataType } from './schema.js';

export const TEMP_QUEUE_ADVISORY = `${ADVISORY_PREFIX}TempQueue`;
export const TEMP_TOPIC_ADVISORY = `${ADVISORY_PREFIX}TempTopic`;

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

const ADVISORY_PRODUCER: ProducerId = { type: DataType.PRODUCER_ID, connectionId: 'ID:wharf-advisories', sessionId: 0n, value: 0n };

export class AdvisoryHub {
  private readonly temps = new Map<string, TempEntry>();
  private readonly subscribers = new Set<AdvisorySubscriber>();
  private seq = 0n;

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
    return () => this.subscribers.delete(s);
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
    s.deliver(this.message(topic, t, op));
  }

  private message(topic: string, t: TempEntry, op: number): ActiveMQMessage {
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
      marshalledProperties: null,
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
