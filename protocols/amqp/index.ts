/**
 * The AMQP 1.0 protocol module: plain TCP (5672), TLS (5671) and WebSocket (subprotocol `amqp`) all hand
 * their streams to one adapter. Connection, session and link state machines come from rhea 3.0.5
 * (patched: patches/rhea+3.0.5.patch), behind our own header/SASL/frame-size guard (guard.ts); message
 * bytes are ours (codec.ts, mapping.ts), and so are the per-message frames on rhea's session bookkeeping
 * (transfer-in.ts, transfer-out.ts); everything else is Engine calls (connection.ts and the modules it names).
 */
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { ConnectionAdapter } from '../../src/transport/connection-adapter.js';
import type { AdapterContext, PeerInfo, ProtocolModule } from '../../src/transport/types.js';
import { packageVersion } from '../../src/package-info.js';
import { rhea, type RContainer } from './rhea.js';
import { AmqpConnection } from './connection.js';
import { DEFAULT_AMQP_OPTIONS, type AmqpOptions } from './options.js';

export { AmqpConnection } from './connection.js';
export { DEFAULT_AMQP_OPTIONS, type AmqpOptions } from './options.js';

export const AMQP_WS_SUBPROTOCOLS = ['amqp'];

export class AmqpAdapter extends ConnectionAdapter<AmqpConnection> {
  private readonly options: AmqpOptions;
  private readonly container: RContainer;
  private readonly containerId: string;
  private readonly version: string;

  constructor(
    private readonly ctx: AdapterContext,
    options: Partial<AmqpOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_AMQP_OPTIONS, ...options };
    this.version = packageVersion();
    this.containerId = `wharf-${os.hostname()}`;
    this.container = rhea.create_container({ id: this.containerId });
    // Backstops: every connection registers its own handlers; an event that still reaches the container
    // must not become an unhandled 'error' (which would throw out of a socket callback).
    this.container.on('error', (err: Error) => ctx.logger.debug({ err: err.message }, 'amqp: rhea error'));
    this.container.on('protocol_error', (err: Error) => ctx.logger.debug({ err: err.message }, 'amqp: rhea protocol error'));
    this.container.on('disconnected', () => undefined);
  }

  protected createConnection(stream: Duplex, peer: PeerInfo, closed: (s: AmqpConnection) => void): AmqpConnection {
    const { engine, logger, limits } = this.ctx;
    return new AmqpConnection(
      {
        engine,
        logger,
        limits,
        options: this.options,
        defaultKind: (this.ctx.options as AmqpModuleOptions | undefined)?.defaultAddressKind ?? 'queue',
        container: this.container,
        containerId: this.containerId,
        product: 'Wharf',
        version: this.version,
        closed,
      },
      stream,
      peer,
    );
  }
}

/** An AMQP module with non-default options (tests use short timeouts and small limits). */
export function createAmqpModule(options: Partial<AmqpOptions> = {}): ProtocolModule {
  return {
    name: 'amqp',
    wsSubprotocols: AMQP_WS_SUBPROTOCOLS,
    // a client offering no subprotocol is known by its protocol header ('AMQP' then SASL or AMQP)
    wsOptions: { firstBytes: [...Buffer.from('AMQP')] },
    create: (ctx) => new AmqpAdapter(ctx, options),
  };
}

export const amqpModule: ProtocolModule = createAmqpModule();

/** What the composition root passes the AMQP module (`amqp:` in the configuration). */
export interface AmqpModuleOptions {
  /** What a plain address without a `queue`/`topic` capability or prefix means. */
  defaultAddressKind: 'queue' | 'topic';
}
