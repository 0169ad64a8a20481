/**
 * The AMQP 1.0 protocol module: plain TCP (5672), TLS (5671) and WebSocket (subprotocol `amqp`) all hand
 * their streams to one adapter. Connection, session and link state machines come from rhea 3.0.5
 * (patched: patches/rhea+3.0.5.patch), behind our own header/SASL/frame-size guard (guard.ts); message
 * bytes are ours (codec.ts, mapping.ts); everything else is Engine calls (session.ts).
 */
import os from 'node:os';
import type { Duplex } from 'node:stream';
import type { AdapterContext, PeerInfo, ProtocolModule, StreamAdapter } from '../../src/transport/types.js';
import { packageVersion } from '../../src/package-info.js';
import { rhea, type RContainer } from './rhea.js';
import { AmqpSession, DEFAULT_AMQP_OPTIONS, type AmqpOptions } from './session.js';

export { AmqpSession, DEFAULT_AMQP_OPTIONS, type AmqpOptions } from './session.js';

export const AMQP_WS_SUBPROTOCOLS = ['amqp'];

export class AmqpAdapter implements StreamAdapter {
  private readonly sessions = new Set<AmqpSession>();
  private readonly options: AmqpOptions;
  private readonly container: RContainer;
  private readonly containerId: string;
  private readonly version: string;
  private closing = false;

  constructor(
    private readonly ctx: AdapterContext,
    options: Partial<AmqpOptions> = {},
  ) {
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

  /** Open connections (tests, admin). */
  get size(): number {
    return this.sessions.size;
  }

  handle(stream: Duplex, peer: PeerInfo): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const session = new AmqpSession(
      {
        engine: this.ctx.engine,
        logger: this.ctx.logger,
        limits: this.ctx.limits,
        options: this.options,
        defaultKind: this.ctx.config.amqp.defaultAddressKind,
        container: this.container,
        containerId: this.containerId,
        product: 'Wharf',
        version: this.version,
        closed: (s) => this.sessions.delete(s),
      },
      stream,
      peer,
    );
    this.sessions.add(session);
    session.start();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.sessions].map((s) => s.shutdown()));
  }
}

/** An AMQP module with non-default options (tests use short timeouts and small limits). */
export function createAmqpModule(options: Partial<AmqpOptions> = {}): ProtocolModule {
  return {
    name: 'amqp',
    wsSubprotocols: AMQP_WS_SUBPROTOCOLS,
    create: (ctx) => new AmqpAdapter(ctx, options),
  };
}

export const amqpModule: ProtocolModule = createAmqpModule();

