/**
 * The session side of one OpenWire connection: one handler per command type, on the engine API.
 * The connection (connection.ts) calls `handle` in wire order and turns a throw into an ExceptionResponse.
 */
import { type ConnectionHandle, type EngineApi, type TransactionHandle } from '../../src/core/api.js';
import type { Logger } from 'pino';
import type { AckBatcher } from './ack-batcher.js';
import type { AdvisoryHub } from './advisories.js';
import type {
  ConnectionInfo,
  ConsumerControl,
  ConsumerInfo,
  DataStructure,
  Destination,
  DestinationInfo,
  Message as OwMessage,
  MessageAck,
  MessagePull,
  ProducerInfo,
  RemoveInfo,
  RemoveSubscriptionInfo,
  TransactionId,
  TransactionInfo,
  XATransactionId,
} from './commands.js';
import type { PeerInfo } from '../../src/transport/types.js';
import { consumerKey, OwConsumer, TxAcks, type ConsumerHost } from './consumers.js';
import { ILLEGAL_STATE, INVALID_DESTINATION, JmsError, JMS_EXCEPTION, SECURITY_EXCEPTION, TRANSACTION_ROLLED_BACK, xaError, XaCode } from './exceptions.js';
import { isTemporary, isTopic, producerKey, toAddress, toCoreMessage } from './mapping.js';
import { DataType } from './schema.js';

const TX_BEGIN = 0;
const TX_PREPARE = 1;
const TX_COMMIT_ONE_PHASE = 2;
const TX_COMMIT_TWO_PHASE = 3;
const TX_ROLLBACK = 4;
const TX_RECOVER = 5;
const TX_FORGET = 6;
const TX_END = 7;

const DESTINATION_ADD = 0;
const DESTINATION_REMOVE = 1;

interface Tx {
  tx: TransactionHandle;
  acks: TxAcks;
}

/** Engine keys of OpenWire XA transactions: this prefix, then formatId:globalTransactionId:branchQualifier (hex). */
const XA_PREFIX = 'openwire.xa:';
const XA_OK = 0;
const XA_RDONLY = 3;

function txKey(id: TransactionId | null): string | null {
  if (!id) return null;
  if (id.type === DataType.ACTIVEMQ_LOCAL_TRANSACTION_ID) return `${id.connectionId?.value}:${id.value}`;
  return `${XA_PREFIX}${id.formatId}:${id.globalTransactionId?.toString('hex') ?? ''}:${id.branchQualifier?.toString('hex') ?? ''}`;
}

/** The XATransactionId of a prepared transaction's engine key (XA recover). */
function xidOf(key: string): XATransactionId | null {
  const m = /^(-?\d+):([0-9a-f]*):([0-9a-f]*)$/.exec(key.slice(XA_PREFIX.length));
  if (!key.startsWith(XA_PREFIX) || !m) return null;
  return { type: DataType.ACTIVEMQ_XA_TRANSACTION_ID, formatId: Number(m[1]), globalTransactionId: Buffer.from(m[2]!, 'hex'), branchQualifier: Buffer.from(m[3]!, 'hex') };
}

/** The ActiveMQ client's Message.getSize() after marshalling: 1024 (its minimum) + content + marshalled properties. */
const CLIENT_MINIMUM_MESSAGE_SIZE = 1024;
function clientMessageSize(m: OwMessage): number {
  return CLIENT_MINIMUM_MESSAGE_SIZE + (m.content?.length ?? 0) + (m.marshalledProperties?.length ?? 0);
}

function sessionKeyOf(connectionId: string | null, sessionId: bigint): string {
  return `${connectionId}:${sessionId}`;
}

/** What the handlers need of their connection (connection.ts). */
export interface SessionOwner {
  readonly host: { engine: EngineApi; logger: Logger; advisories: AdvisoryHub; acks: AckBatcher; options: { maxPrefetch: number } };
  readonly peer: PeerInfo;
  /** Closing or closed. */
  readonly closing: boolean;
  write(cmd: DataStructure): void;
  close(reason: string): void;
}

export class Handlers implements ConsumerHost {
  private conn: ConnectionHandle | null = null;
  private info: ConnectionInfo | null = null;
  private readonly consumers = new Map<string, OwConsumer>();
  /** Producers by key: how to un-count them, and their ProducerInfo.windowSize (0 = no ProducerAck). */
  private readonly producers = new Map<string, { undo: () => void; windowSize: number }>();
  private readonly sessions = new Set<string>();
  private readonly txs = new Map<string, Tx>();
  /** Temporary destinations this connection announced, by `type:name`. */
  private readonly temps = new Map<string, Destination>();

  readonly engine: EngineApi;
  readonly logger: Logger;
  readonly advisories: AdvisoryHub;
  readonly acks: AckBatcher;
  readonly maxPrefetch: number;

  constructor(private readonly owner: SessionOwner) {
    this.engine = owner.host.engine;
    this.logger = owner.host.logger;
    this.advisories = owner.host.advisories;
    this.acks = owner.host.acks;
    this.maxPrefetch = owner.host.options.maxPrefetch;
  }

  get connection(): ConnectionHandle {
    if (!this.conn) throw new JmsError(ILLEGAL_STATE, 'No ConnectionInfo was sent on this connection');
    return this.conn;
  }

  get clientId(): string | undefined {
    return this.conn?.clientId;
  }

  dispatch(md: DataStructure): void {
    this.owner.write(md);
  }

  /**
   * A consumer whose user lost the right to read its destination: the client closes just that consumer
   * (ConsumerControl close, which ActiveMQConnection.onConsumerControl turns into MessageConsumer.close()), and the
   * connection's ExceptionListener hears why (ConnectionError carrying a JMSSecurityException; the connection stays).
   */
  revoked(consumer: OwConsumer, reason: string): void {
    const info = consumer.info;
    const key = consumerKey(info.consumerId);
    if (this.consumers.get(key) === consumer) this.closeConsumer(key, consumer);
    else consumer.close();
    this.owner.write({ type: DataType.CONSUMER_CONTROL, commandId: 0, responseRequired: false, destination: info.destination, close: true, consumerId: info.consumerId, prefetch: 0, flush: false, start: false, stop: false });
    this.owner.write({ type: DataType.CONNECTION_ERROR, commandId: 0, responseRequired: false, exception: { className: SECURITY_EXCEPTION, message: reason, stackTrace: [], cause: null }, connectionId: this.info?.connectionId ?? null });
  }

  /** Handle one command; a handler that answers with more than a Response (XA prepare, recover) returns it. */
  handle(cmd: DataStructure): Promise<DataStructure | void> | DataStructure | void {
    if (cmd.type !== DataType.CONNECTION_INFO && !this.conn) {
      if (cmd.type === DataType.SHUTDOWN_INFO) return this.owner.close('shutdown');
      if (cmd.type === DataType.REMOVE_INFO || cmd.type === DataType.CONNECTION_CONTROL) return;
      throw new JmsError(ILLEGAL_STATE, `Command type ${cmd.type} before ConnectionInfo`);
    }
    switch (cmd.type) {
      case DataType.CONNECTION_INFO:
        return this.onConnectionInfo(cmd);
      case DataType.SESSION_INFO:
        this.sessions.add(sessionKeyOf(cmd.sessionId?.connectionId ?? null, cmd.sessionId?.value ?? 0n));
        return;
      case DataType.PRODUCER_INFO:
        return this.onProducerInfo(cmd);
      case DataType.CONSUMER_INFO:
        return this.onConsumerInfo(cmd);
      case DataType.REMOVE_INFO:
        return this.onRemoveInfo(cmd);
      case DataType.ACTIVEMQ_MESSAGE:
      case DataType.ACTIVEMQ_BYTES_MESSAGE:
      case DataType.ACTIVEMQ_MAP_MESSAGE:
      case DataType.ACTIVEMQ_OBJECT_MESSAGE:
      case DataType.ACTIVEMQ_STREAM_MESSAGE:
      case DataType.ACTIVEMQ_TEXT_MESSAGE:
      case DataType.ACTIVEMQ_BLOB_MESSAGE:
        return this.onMessage(cmd);
      case DataType.MESSAGE_ACK:
        return this.onAck(cmd);
      case DataType.MESSAGE_PULL:
        return this.onPull(cmd);
      case DataType.TRANSACTION_INFO:
        return this.onTransaction(cmd);
      case DataType.DESTINATION_INFO:
        return this.onDestinationInfo(cmd);
      case DataType.REMOVE_SUBSCRIPTION_INFO:
        return this.onRemoveSubscription(cmd);
      case DataType.SHUTDOWN_INFO:
        this.owner.close('client shutdown');
        return;
      case DataType.CONSUMER_CONTROL:
        return this.onConsumerControl(cmd);
      case DataType.CONNECTION_CONTROL:
      case DataType.CONTROL_COMMAND:
      case DataType.FLUSH_COMMAND:
      case DataType.PRODUCER_ACK:
      case DataType.RESPONSE:
      case DataType.EXCEPTION_RESPONSE:
      case DataType.DATA_RESPONSE:
      case DataType.DATA_ARRAY_RESPONSE:
      case DataType.INTEGER_RESPONSE:
      case DataType.BROKER_INFO:
        return; // accepted (answered with a Response when one is asked for)
      default:
        throw new JmsError(JMS_EXCEPTION, `Unsupported OpenWire command type ${cmd.type}`);
    }
  }

  // ============================================================================= connection, producers

  private async onConnectionInfo(ci: ConnectionInfo): Promise<void> {
    if (this.conn) throw new JmsError(ILLEGAL_STATE, 'This connection already sent its ConnectionInfo');
    // no userName over TLS with a verified client certificate: the certificate's user (ActiveMQ's certificate login)
    const certificate = this.owner.peer.clientIdentity;
    const credentials = ci.userName != null || ci.password != null ? { username: ci.userName ?? undefined, password: ci.password ?? undefined, certificate } : certificate ? { certificate } : undefined;
    const conn = await this.engine.connect(
      {
        protocol: 'openwire',
        clientId: ci.clientId ?? undefined,
        remoteAddress: this.owner.peer.remoteAddress,
        onKill: (reason, cause) => {
          // rights revoked (the user was removed): the ExceptionListener hears a JMSSecurityException before the close
          if (cause === 'unauthorized') this.owner.write({ type: DataType.CONNECTION_ERROR, commandId: 0, responseRequired: false, exception: { className: SECURITY_EXCEPTION, message: reason, stackTrace: [], cause: null }, connectionId: ci.connectionId ?? null });
          this.owner.close(reason);
        },
        endpoint: { transport: this.owner.peer.transport, remotePort: this.owner.peer.remotePort, localPort: this.owner.peer.localPort },
      },
      credentials,
    );
    if (this.owner.closing) {
      this.engine.disconnect(conn);
      return;
    }
    this.conn = conn;
    this.info = ci;
  }

  private onProducerInfo(pi: ProducerInfo): void {
    const key = producerKey(pi.producerId);
    if (this.producers.has(key)) return;
    const windowSize = Math.max(0, pi.windowSize);
    if (pi.destination && !isTemporary(pi.destination)) {
      const address = toAddress(pi.destination);
      this.engine.authorize(this.connection.principal, 'send', address);
      this.producers.set(key, { undo: this.engine.registerProducer(address, this.connection), windowSize });
    } else this.producers.set(key, { undo: () => undefined, windowSize });
    this.advisories.partyAdded(key, { kind: 'Producer', info: pi });
  }

  private async onMessage(m: OwMessage): Promise<void> {
    const address = toAddress(m.destination);
    const message = toCoreMessage(m, { now: Date.now() });
    const tk = txKey(m.transactionId);
    let transaction: TransactionHandle | null = null;
    if (tk) {
      const t = this.txs.get(tk);
      if (!t) throw new JmsError(TRANSACTION_ROLLED_BACK, `Unknown transaction ${tk}`);
      transaction = t.tx;
    }
    try {
      await this.engine.send(message, address, { connection: this.connection, transaction });
    } finally {
      // a refused async send no longer occupies the producer's window either
      if (!m.responseRequired) this.producerAck(m);
    }
  }

  /**
   * Producer flow control (ActiveMQ's producerWindowSize): a client with a window counts the size of each async send
   * against it and blocks when it is full; the broker gives the size back with a ProducerAck once the message is
   * accepted — for us when engine.send resolved, so a send held by a `block` limit or a resource alarm holds its
   * ack and the client's window fills. Synchronous sends get their Response instead (ActiveMQ's Queue.send does the same).
   */
  private producerAck(m: OwMessage): void {
    const p = m.producerId && this.producers.get(producerKey(m.producerId));
    if (!p || p.windowSize <= 0) return;
    this.owner.write({ type: DataType.PRODUCER_ACK, commandId: 0, responseRequired: false, producerId: m.producerId, size: clientMessageSize(m) });
  }

  // ============================================================================= consumers

  private async onConsumerInfo(info: ConsumerInfo): Promise<void> {
    const key = consumerKey(info.consumerId);
    if (this.consumers.has(key)) throw new JmsError(JMS_EXCEPTION, `Consumer ${key} already exists`);
    const c = new OwConsumer(this, info);
    this.consumers.set(key, c);
    try {
      await c.open();
    } catch (err) {
      this.consumers.delete(key);
      c.close();
      throw err;
    }
    if (!c.closed) this.advisories.partyAdded(key, { kind: 'Consumer', info });
  }

  private closeConsumer(key: string, c: OwConsumer, lastDelivered?: bigint): void {
    c.close(lastDelivered);
    this.consumers.delete(key);
    this.advisories.partyRemoved('Consumer', key);
  }

  private removeProducer(key: string, p: { undo: () => void }): void {
    p.undo();
    this.producers.delete(key);
    this.advisories.partyRemoved('Producer', key);
  }

  /**
   * ConsumerControl from a client changes a consumer's prefetch (ActiveMQ's Region.processConsumerControl). The
   * failover transport relies on it: a consumer restored before the client has cleared its in-progress messages comes
   * back with prefetch 0 and gets its real prefetch this way once that is done (ConnectionStateTracker).
   */
  private onConsumerControl(cc: ConsumerControl): void {
    if (!cc.consumerId) return;
    this.consumers.get(consumerKey(cc.consumerId))?.setPrefetch(cc.prefetch);
  }

  private async onAck(ack: MessageAck): Promise<void> {
    const c = this.consumers.get(consumerKey(ack.consumerId));
    if (!c) return;
    const tk = txKey(ack.transactionId);
    let acks: TxAcks | null = null;
    if (tk) {
      const t = this.txs.get(tk);
      if (!t) throw new JmsError(TRANSACTION_ROLLED_BACK, `Unknown transaction ${tk}`);
      acks = t.acks;
    }
    await c.ack(ack, acks);
  }

  private onPull(p: MessagePull): void {
    this.consumers.get(consumerKey(p.consumerId))?.pull(p);
  }

  private async onRemoveSubscription(r: RemoveSubscriptionInfo): Promise<void> {
    const clientId = r.clientId ?? this.clientId;
    if (!clientId || !r.subcriptionName) throw new JmsError(JMS_EXCEPTION, 'RemoveSubscriptionInfo needs a client id and a subscription name');
    const removed = await this.engine.unsubscribeDurable(clientId, r.subcriptionName);
    if (!removed) throw new JmsError(INVALID_DESTINATION, `No durable subscription exists for clientID: ${clientId} and subscriptionName: ${r.subcriptionName}`);
  }

  // ============================================================================= remove

  private onRemoveInfo(r: RemoveInfo): void {
    const id = r.objectId as DataStructure | null;
    if (!id) return;
    switch (id.type) {
      case DataType.CONSUMER_ID: {
        const key = consumerKey(id);
        const c = this.consumers.get(key);
        if (c) this.closeConsumer(key, c, lastDeliveredOf(r));
        return;
      }
      case DataType.PRODUCER_ID: {
        const key = producerKey(id);
        const p = this.producers.get(key);
        if (p) this.removeProducer(key, p);
        return;
      }
      case DataType.SESSION_ID: {
        const prefix = sessionKeyOf(id.connectionId, id.value);
        // a session's (and a connection's) lastDeliveredSequenceId is the highest of its consumers' (delivery ids are engine-wide)
        for (const [k, c] of this.consumers) if (k.startsWith(prefix + ':')) this.closeConsumer(k, c, lastDeliveredOf(r));
        for (const [k, p] of this.producers) if (k.startsWith(prefix + ':')) this.removeProducer(k, p);
        this.sessions.delete(prefix);
        return;
      }
      case DataType.CONNECTION_ID:
        this.release(lastDeliveredOf(r));
        return;
      default:
        return;
    }
  }

  // ============================================================================= transactions

  private async onTransaction(t: TransactionInfo): Promise<DataStructure | void> {
    if (t.transactionType === TX_RECOVER) {
      // XAResource.recover(): every prepared OpenWire XA transaction of the broker, whichever connection prepared it
      const data = this.engine.preparedTransactions().map(xidOf).filter((x): x is XATransactionId => x !== null);
      return { type: DataType.DATA_ARRAY_RESPONSE, commandId: 0, responseRequired: false, correlationId: t.commandId, data };
    }
    const key = txKey(t.transactionId);
    if (!key) throw new JmsError(JMS_EXCEPTION, 'TransactionInfo without a transaction id');
    if (t.transactionId?.type === DataType.ACTIVEMQ_XA_TRANSACTION_ID) return this.onXaTransaction(t, key);
    switch (t.transactionType) {
      case TX_BEGIN:
        if (this.txs.has(key)) throw new JmsError(JMS_EXCEPTION, `Transaction ${key} has already been started`);
        this.txs.set(key, { tx: this.engine.beginTransaction(this.connection), acks: new TxAcks() });
        return;
      case TX_END:
        return;
      case TX_COMMIT_ONE_PHASE: {
        const tx = this.txs.get(key);
        if (!tx) throw new JmsError(TRANSACTION_ROLLED_BACK, `Unknown transaction ${key}`);
        this.txs.delete(key);
        try {
          this.applyNotedAcks(tx);
          await tx.tx.commit();
        } catch (err) {
          await tx.tx.rollback();
          throw new JmsError(TRANSACTION_ROLLED_BACK, `Transaction ${key} rolled back: ${(err as Error).message}`);
        }
        return;
      }
      case TX_ROLLBACK:
      case TX_FORGET: {
        const tx = this.txs.get(key);
        if (!tx) return;
        this.txs.delete(key);
        // Acks noted in the transaction are dropped: the messages stay with their consumer, whose client
        // redelivers them from its own buffer (ActiveMQ clients do).
        await tx.tx.rollback();
        return;
      }
      default:
        throw new JmsError(JMS_EXCEPTION, `Transaction operation ${t.transactionType} is not one of a local transaction`);
    }
  }

  /**
   * XAResource calls. Failures are XAExceptions with the error code ActiveMQ's broker decides on (TransactionBroker,
   * XATransaction): an Xid the broker does not know is XAER_NOTA, a call the branch's state does not allow XAER_PROTO,
   * work that could not be done and was rolled back XA_RBOTHER; a start of a prepared Xid is XAER_DUPID. A start of
   * a branch already active on this connection joins it, as ActiveMQ does (XAResource.start with TMJOIN from a
   * second session sends the same BEGIN).
   */
  private async onXaTransaction(t: TransactionInfo, key: string): Promise<DataStructure | void> {
    const active = this.txs.get(key);
    switch (t.transactionType) {
      case TX_BEGIN:
        if (this.engine.preparedTransaction(key)) throw xaError(XaCode.DUPID, `Transaction ${key} is already prepared`);
        if (!active) this.txs.set(key, { tx: this.engine.beginTransaction(this.connection), acks: new TxAcks() });
        return;
      case TX_END:
        return;
      case TX_PREPARE: {
        if (!active) {
          if (this.engine.preparedTransaction(key)) throw xaError(XaCode.PROTO, `Cannot prepare ${key}: it is already prepared`);
          throw xaError(XaCode.NOTA, `Cannot prepare ${key}: the transaction has not been started`);
        }
        this.txs.delete(key);
        this.applyNotedAcks(active);
        if (active.tx.pendingSends === 0 && active.tx.pendingAcks === 0) {
          // no work: read-only, nothing to commit (ActiveMQ's XATransaction.prepare answers XA_RDONLY too)
          await active.tx.rollback();
          return { type: DataType.INTEGER_RESPONSE, commandId: 0, responseRequired: false, correlationId: t.commandId, result: XA_RDONLY };
        }
        try {
          await active.tx.prepare(key);
        } catch (err) {
          await active.tx.rollback();
          throw xaError(XaCode.RBOTHER, `Transaction ${key} could not be prepared and was rolled back: ${(err as Error).message}`);
        }
        return { type: DataType.INTEGER_RESPONSE, commandId: 0, responseRequired: false, correlationId: t.commandId, result: XA_OK };
      }
      case TX_COMMIT_TWO_PHASE: {
        const prepared = this.engine.preparedTransaction(key);
        if (!prepared) {
          if (active) throw xaError(XaCode.PROTO, `Cannot do a two-phase commit of ${key}: it has not been prepared`);
          throw xaError(XaCode.NOTA, `Cannot commit ${key}: the transaction has not been started`);
        }
        await this.commitPrepared(key, prepared);
        return;
      }
      case TX_COMMIT_ONE_PHASE: {
        if (!active) {
          // ActiveMQ's XATransaction commits a prepared branch whichever phase count the call names
          const prepared = this.engine.preparedTransaction(key);
          if (!prepared) throw xaError(XaCode.NOTA, `Cannot commit ${key}: the transaction has not been started`);
          await this.commitPrepared(key, prepared);
          return;
        }
        this.txs.delete(key);
        try {
          this.applyNotedAcks(active);
          await active.tx.commit();
        } catch (err) {
          await active.tx.rollback();
          throw xaError(XaCode.RBOTHER, `Transaction ${key} could not be committed and was rolled back: ${(err as Error).message}`);
        }
        return;
      }
      case TX_ROLLBACK:
      case TX_FORGET: {
        if (active) {
          this.txs.delete(key);
          await active.tx.rollback(); // noted acks are dropped (see the local rollback)
          return;
        }
        // a prepared transaction (this connection's or recovered): its acked messages go back to the queue
        const prepared = this.engine.preparedTransaction(key);
        if (!prepared) throw xaError(XaCode.NOTA, `Cannot ${t.transactionType === TX_FORGET ? 'forget' : 'roll back'} ${key}: the transaction has not been started`);
        await prepared.rollback();
        return;
      }
      default:
        throw new JmsError(JMS_EXCEPTION, `Unknown transaction operation ${t.transactionType}`);
    }
  }

  private async commitPrepared(key: string, prepared: TransactionHandle): Promise<void> {
    try {
      await prepared.commit();
    } catch (err) {
      // still prepared (the commit did not land): the transaction manager may retry it
      throw xaError(XaCode.RMERR, `Commit of ${key} failed: ${(err as Error).message}`);
    }
  }

  /** Acks noted by a transaction's consumers go into its engine transaction (at commit or prepare). */
  private applyNotedAcks(tx: Tx): void {
    for (const a of tx.acks.acks) for (const [handle, id] of a.consumer.take(a.keys)) tx.tx.ack(handle, id);
    tx.acks.acks.length = 0;
  }

  // ============================================================================= destinations

  private async onDestinationInfo(d: DestinationInfo): Promise<void> {
    const dest = d.destination;
    if (!dest?.physicalName) throw new JmsError(INVALID_DESTINATION, 'DestinationInfo without a destination');
    const key = `${dest.type}:${dest.physicalName}`;
    if (d.operationType === DESTINATION_ADD) {
      if (isTemporary(dest)) {
        if (this.temps.has(key)) return;
        this.engine.createTemporary(isTopic(dest) ? 'topic' : 'queue', this.connection, dest.physicalName);
        this.temps.set(key, dest);
        this.advisories.added(dest, this.info?.connectionId ?? null);
      } else if (!isTopic(dest)) {
        // creating a queue is `admin` (as an auto-create on send or subscribe); an existing one needs nothing
        if (!this.engine.queueExists(dest.physicalName)) this.engine.authorize(this.connection.principal, 'create', { kind: 'queue', name: dest.physicalName }, this.connection);
        await this.engine.createQueue(dest.physicalName);
      }
      return;
    }
    if (d.operationType === DESTINATION_REMOVE) {
      if (isTemporary(dest)) {
        // only the connection that made a temporary destination deletes it: destroyDestination(new
        // ActiveMQTempQueue(name)) from another connection would pull a reply queue from under its owner
        if (!this.temps.has(key)) {
          if (this.engine.isTemporaryQueue(dest.physicalName) && !isTopic(dest)) throw new JmsError(SECURITY_EXCEPTION, `Temporary queue '${dest.physicalName}' belongs to another connection: only the connection that created it may delete it`);
          return;
        }
        this.temps.delete(key);
        this.advisories.removed(dest);
        if (!isTopic(dest)) await this.engine.deleteQueue(dest.physicalName);
      } else if (!isTopic(dest)) {
        // ActiveMQConnection.destroyDestination: deleting a queue is `admin` (docs/security.md), as SQS DeleteQueue
        this.engine.authorize(this.connection.principal, 'delete', { kind: 'queue', name: dest.physicalName }, this.connection);
        // ActiveMQConnection.destroyDestination of a queue someone reads is refused, as ActiveMQ's broker does
        if ((this.engine.queueInfo(dest.physicalName)?.consumers ?? 0) > 0) throw new JmsError(JMS_EXCEPTION, `Destination: queue://${dest.physicalName} still has an active subscription`);
        await this.engine.deleteQueue(dest.physicalName);
      }
      return;
    }
    throw new JmsError(JMS_EXCEPTION, `Unknown DestinationInfo operation ${d.operationType}`);
  }

  // ============================================================================= teardown

  /** The connection's engine state goes: consumers close (unsettled messages return), temporaries are deleted. */
  private release(lastDelivered?: bigint): void {
    for (const [k, c] of this.consumers) this.closeConsumer(k, c, lastDelivered);
    for (const [k, p] of this.producers) this.removeProducer(k, p);
    // transactions not prepared end with their connection; prepared (XA) ones are the engine's until a commit or rollback
    for (const t of this.txs.values()) void t.tx.rollback();
    this.txs.clear();
    for (const d of this.temps.values()) this.advisories.removed(d);
    this.temps.clear();
    if (this.conn) {
      const c = this.conn;
      this.conn = null;
      this.engine.disconnect(c);
    }
  }

  teardown(): void {
    this.acks.flush(); // held acks of this connection's consumers land before the consumers close
    this.release();
  }
}

/** RemoveInfo.LAST_DELIVERED_UNKNOWN: the client does not know what it delivered (every unacked message counts as seen). */
const LAST_DELIVERED_UNKNOWN = -2n;

/** The RemoveInfo's lastDeliveredSequenceId when the client knows it (-1, LAST_DELIVERED_UNSET: nothing delivered yet). */
function lastDeliveredOf(r: RemoveInfo): bigint | undefined {
  return r.lastDeliveredSequenceId === LAST_DELIVERED_UNKNOWN ? undefined : r.lastDeliveredSequenceId;
}
