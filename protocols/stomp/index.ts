/**
 * The STOMP 1.0/1.1/1.2 protocol module: plain TCP (61613), TLS (61612) and WebSocket (subprotocols
 * `v10.stomp`, `v11.stomp`, `v12.stomp`, `stomp`) all hand their streams to one adapter.
 */
import type { Duplex } from 'node:stream';
import { SessionAdapter } from '../../src/transport/session-adapter.js';
import type { AdapterContext, PeerInfo, ProtocolModule } from '../../src/transport/types.js';
import { packageVersion } from '../../src/package-info.js';
import { DEFAULT_STOMP_OPTIONS, StompSession, type StompOptions } from './session.js';

export { DEFAULT_STOMP_OPTIONS, StompSession, type StompOptions } from './session.js';

export const STOMP_WS_SUBPROTOCOLS = ['v10.stomp', 'v11.stomp', 'v12.stomp', 'stomp'];

export class StompAdapter extends SessionAdapter<StompSession> {
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

  protected createSession(stream: Duplex, peer: PeerInfo, closed: (s: StompSession) => void): StompSession {
    const { engine, logger, limits } = this.ctx;
    return new StompSession({ engine, logger, limits, options: this.options, serverName: this.serverName, closed }, stream, peer);
  }
}

/** A STOMP module with non-default session options (tests use short timeouts). */
export function createStompModule(options: Partial<StompOptions> = {}): ProtocolModule {
  return {
    name: 'stomp',
    wsSubprotocols: STOMP_WS_SUBPROTOCOLS,
    create: (ctx) => new StompAdapter(ctx, options),
  };
}

export const stompModule: ProtocolModule = createStompModule();

