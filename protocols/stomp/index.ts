/**
 * The STOMP 1.0/1.1/1.2 protocol module: plain TCP (61613), TLS (61612) and WebSocket (subprotocols
 * `v10.stomp`, `v11.stomp`, `v12.stomp`, `stomp`) all hand their streams to one adapter.
 */
import type { Duplex } from 'node:stream';
import type { AdapterContext, PeerInfo, ProtocolModule, StreamAdapter } from '../../src/transport/types.js';
import { packageVersion } from '../../src/package-info.js';
import { DEFAULT_STOMP_OPTIONS, StompSession, type StompOptions } from './session.js';

export { DEFAULT_STOMP_OPTIONS, StompSession, type StompOptions } from './session.js';

export const STOMP_WS_SUBPROTOCOLS = ['v10.stomp', 'v11.stomp', 'v12.stomp', 'stomp'];

export class StompAdapter implements StreamAdapter {
  private readonly sessions = new Set<StompSession>();
  private readonly options: StompOptions;
  private readonly serverName: string;
  private closing = false;

  constructor(
    private readonly ctx: AdapterContext,
    options: Partial<StompOptions> = {},
  ) {
    this.options = { ...DEFAULT_STOMP_OPTIONS, ...options };
    this.serverName = `Wharf/${packageVersion()}`;
  }

  /** Open sessions (tests, admin). */
  get size(): number {
    return this.sessions.size;
  }

  handle(stream: Duplex, peer: PeerInfo): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const session = new StompSession(
      {
        engine: this.ctx.engine,
        logger: this.ctx.logger,
        limits: this.ctx.limits,
        options: this.options,
        serverName: this.serverName,
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

/** A STOMP module with non-default session options (tests use short timeouts). */
export function createStompModule(options: Partial<StompOptions> = {}): ProtocolModule {
  return {
    name: 'stomp',
    wsSubprotocols: STOMP_WS_SUBPROTOCOLS,
    create: (ctx) => new StompAdapter(ctx, options),
  };
}

export const stompModule: ProtocolModule = createStompModule();

