/**
 * The OpenWire protocol module: ActiveMQ's native protocol, so unmodified `ActiveMQConnectionFactory` JMS
 * applications work against Wharf on 61616 (TLS 61617). One adapter per broker start serves both listeners;
 * its advisory hub (temporary destinations) is shared by all of its connections.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ConnectionAdapter } from '../../src/transport/connection-adapter.js';
import type { AdapterContext, PeerInfo, ProtocolModule } from '../../src/transport/types.js';
import { AckBatcher } from './ack-batcher.js';
import { AdvisoryHub } from './advisories.js';
import type { Destination } from './commands.js';
import { DataType } from './schema.js';
import { DEFAULT_OPENWIRE_OPTIONS, OpenWireConnection, type OpenWireOptions } from './connection.js';

export class OpenWireAdapter extends ConnectionAdapter<OpenWireConnection> {
  readonly options: OpenWireOptions;
  readonly advisories: AdvisoryHub;
  readonly acks: AckBatcher;
  readonly brokerId = `ID:wharf-${randomBytes(6).toString('hex')}`;

  constructor(
    private readonly ctx: AdapterContext,
    options: Partial<OpenWireOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_OPENWIRE_OPTIONS, ...(ctx.options as Partial<OpenWireOptions> | undefined), ...options };
    this.advisories = new AdvisoryHub(ctx.engine);
    this.acks = new AckBatcher(ctx.logger);
    // ActiveMQ's client refuses to send to a temporary destination it has no advisory for ("Cannot publish to a
    // deleted Destination"): a JMS reply to a STOMP /temp-queue/ or an AMQP dynamic queue needs one, as ActiveMQ's
    // broker sends for every protocol. After a microtask, so an OpenWire connection's own temporary is announced
    // by its handler (with its connection id) and this is a no-op.
    const temp = (e: { kind: 'queue' | 'topic'; name: string; temporary?: boolean }): Destination | undefined =>
      e.temporary ? ({ type: e.kind === 'topic' ? DataType.ACTIVEMQ_TEMP_TOPIC : DataType.ACTIVEMQ_TEMP_QUEUE, physicalName: e.name } as Destination) : undefined;
    const pending = new Set<string>();
    ctx.engine.on('destination.created', (e) => {
      const d = temp(e);
      if (!d) return;
      const key = `${d.type}:${e.name}`;
      pending.add(key);
      queueMicrotask(() => {
        if (pending.delete(key)) this.advisories.added(d, null);
      });
    });
    ctx.engine.on('destination.deleted', (e) => {
      const d = temp(e);
      if (!d) return;
      pending.delete(`${d.type}:${e.name}`);
      this.advisories.removed(d);
    });
  }

  protected createConnection(stream: Duplex, peer: PeerInfo, closed: (s: OpenWireConnection) => void): OpenWireConnection {
    const { engine, logger, limits } = this.ctx;
    return new OpenWireConnection({ engine, logger, limits, options: this.options, advisories: this.advisories, acks: this.acks, brokerId: this.brokerId, closed }, stream, peer);
  }
}

/** An OpenWire module with non-default options (tests use short timeouts). */
export function createOpenWireModule(options: Partial<OpenWireOptions> = {}): ProtocolModule {
  return {
    name: 'openwire',
    wsSubprotocols: [],
    create: (ctx) => new OpenWireAdapter(ctx, options),
  };
}

export const openwireModule: ProtocolModule = createOpenWireModule();
