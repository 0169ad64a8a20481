/**
 * The STOMP 1.0/1.1/1.2 protocol module: plain TCP (61613), TLS (61612) and WebSocket (subprotocols
 * `v10.stomp`, `v11.stomp`, `v12.stomp`, `stomp`) all hand their streams to one adapter.
 */
import type { Duplex } from 'node:stream';
import { ConnectionAdapter } from '../../src/transport/connection-adapter.js';
import type { AdapterContext, PeerInfo, ProtocolModule } from '../../src/transport/types.js';
import { packageVersion } from '../../src/package-info.js';
import { StompConnection } from './connection.js';
import { DEFAULT_STOMP_OPTIONS, type StompOptions } from './options.js';

export { StompConnection } from './connection.js';
export { DEFAULT_STOMP_OPTIONS, type StompOptions } from './options.js';

export const STOMP_WS_SUBPROTOCOLS = ['v10.stomp', 'v11.stomp', 'v12.stomp', 'stomp'];

export class StompAdapter extends ConnectionAdapter<StompConnection> {
  private readonly options: StompOptions;
  private readonly serverName: string;

  constructor(
    private readonly ctx: AdapterContext,
    options: Partial<StompOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_STOMP_OPTIONS, ...options };
    this.serverName = `Wharf/${packageVersion()}`;
  }

  protected createConnection(stream: Duplex, peer: PeerInfo, closed: (s: StompConnection) => void): StompConnection {
    const { engine, logger, limits } = this.ctx;
    return new StompConnection({ engine, logger, limits, options: this.options, serverName: this.serverName, closed }, stream, peer);
  }
}

/** A STOMP module with non-default connection options (tests use short timeouts). */
export function createStompModule(options: Partial<StompOptions> = {}): ProtocolModule {
  return {
    name: 'stomp',
    wsSubprotocols: STOMP_WS_SUBPROTOCOLS,
    // A client offering no subprotocol (stomp.py's WSStompConnection, plain `new WebSocket(url)`) gets STOMP, as on
    // ActiveMQ and RabbitMQ; frames go out as text frames (as those brokers send them) unless a body is not UTF-8.
    wsOptions: { acceptNoSubprotocol: true, send: 'text-if-utf8' },
    create: (ctx) => new StompAdapter(ctx, options),
  };
}

export const stompModule: ProtocolModule = createStompModule();

