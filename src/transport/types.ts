/**
 * What protocol adapters plug into. A listener (TCP, TLS, WebSocket) accepts a connection and hands the
 * adapter registered for it a Duplex byte stream plus who is on the other end; HTTP modules get requests.
 * Adapters own everything above the bytes: framing, heartbeats/idle detection, and mapping to engine calls.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { type ClientCertificate, type EngineApi } from '../core/api.js';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

export interface PeerInfo {
  transport: TransportKind;
  remoteAddress: string;
  remotePort: number;
  localPort: number;
  /**
   * The client's certificate when the TLS listener asked for one (`requestClientCert`) and it verified
   * against the listener's `ca`. Unverified certificates are never exposed.
   */
  clientCertificate?: PeerCertificate;
  /** Who that certificate names (subject DN, CN): what adapters pass to the engine as `credentials.certificate`. */
  clientIdentity?: ClientCertificate;
  /** WebSocket only: the `Sec-WebSocket-Protocol` the connection was routed by (e.g. `v12.stomp`). */
  wsSubprotocol?: string;
}

/** How one protocol wants its WebSocket messages. */
export interface WebSocketRouteOptions {
  /** Also take handshakes that offer no subprotocol at all (one route at most: the last registered wins). */
  acceptNoSubprotocol?: boolean;
  /**
   * `text-if-utf8`: send each message as a text frame when its bytes are valid UTF-8, else binary (text protocols:
   * clients such as stomp.py's WebSocket transport decode only text frames, and ActiveMQ and RabbitMQ send text).
   * Default `binary`.
   */
  send?: 'binary' | 'text-if-utf8';
  /** A text message closes the connection with 1003 before the adapter sees it (MQTT-6.0.0-1: binary frames only). */
  binaryOnly?: boolean;
  /**
   * A handshake that offers no subprotocol is routed here when its first message is binary and starts with these
   * bytes, or is a start of them (MQTT's CONNECT 0x10, AMQP's protocol header), instead of to the `acceptNoSubprotocol`
   * route: RabbitMQ's web-mqtt serves MQTT clients that offer none, on a port of its own.
   */
  firstBytes?: readonly number[];
}

export interface StreamAdapter {
  /**
   * Take over one connection. The stream already has an 'error' listener that logs at debug level, so an
   * unhandled ECONNRESET cannot crash the broker; adapters still add their own. For TCP/TLS the stream is
   * the socket itself (`setNoDelay(true)` already applied: coalesce writes with cork()/uncork() or one
   * Buffer per batch); for WebSocket it is `createWebSocketStream(ws)`, one binary message per write().
   */
  handle(stream: Duplex, peer: PeerInfo): void;
  /** Close all of this adapter's connections gracefully (protocol goodbye where there is one), then resolve. */
  close(): Promise<void>;
}

export type ProtocolName = 'stomp' | 'amqp' | 'mqtt' | 'openwire';

export interface ProtocolModule {
  name: ProtocolName;
  /** `Sec-WebSocket-Protocol` values this adapter serves on the shared WebSocket listener (e.g. `mqtt`, `v12.stomp`, `amqp`). */
  wsSubprotocols: string[];
  /** How this protocol's WebSocket messages are framed (text or binary) and whether it takes handshakes without a subprotocol. */
  wsOptions?: WebSocketRouteOptions;
  /** Called once per broker start; the one adapter serves the plain, TLS and WebSocket listeners. */
  create(ctx: AdapterContext): StreamAdapter;
}

export interface HttpHandler {
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
  close(): Promise<void>;
}

export interface HttpModule {
  /** `sqs` is served on `listeners.sqs`, `admin` on `listeners.admin`. */
  name: string;
  /** Which `listeners.<key>` this module is served on; defaults to `name`. */
  listener?: string;
  create(ctx: AdapterContext): HttpHandler;
}

export interface ConnectionLimits {
  /** Largest frame/message/HTTP body an adapter accepts, bytes. Also the WebSocket `maxPayload`. */
  maxFrameSize: number;
  /** Close a connection from which nothing was received for this long, ms; 0 = none (protocol heartbeats only). Enforced by adapters. */
  idleTimeout: number;
  /** Concurrent connections per listener; 0 = unlimited. Enforced by the listeners. */
  maxConnections: number;
}

export interface AdapterContext {
  engine: EngineApi;
  /**
   * This module's own options: its part of the broker configuration, picked by the composition root
   * (`moduleOptions` in src/app/modules.ts). Each module names the type it reads (`MqttOptions`, …).
   */
  options: unknown;
  logger: Logger;
  limits: ConnectionLimits;
  /** The running broker as admin/health endpoints see it (absent in adapter unit tests). */
  broker?: BrokerStatus;
}

export interface BrokerStatus {
  /** `starting` until every listener is bound, then `started`; `stopping`/`stopped` on the way down. */
  state(): string;
  /** Bound address of every running listener (`stomp`, `stomp-tls`, `admin`, …). */
  listeners(): Record<string, { host: string; port: number }>;
  startedAt: number;
  /** Connections refused by the broker-wide limits since start, by reason. */
  connectionRefusals?(): Record<string, number>;
  /** Cluster mode: this node's Raft view (GET /api/cluster); undefined on a single node. */
  clusterStatus?(): object | undefined;
  /** Cluster mode: this node can serve (leader with its engine open, or a follower with a leader); undefined on a single node. */
  clusterReady?(): boolean | undefined;
  /** Cluster mode, leader only: hand leadership to node `to` (throws otherwise). */
  transferLeadership?(to: number): void;
  /** Cluster mode, leader only: add a member (as a learner, promoted once caught up) / remove one; resolve once committed. */
  addClusterMember?(m: { id: number; host: string; port: number; clientHost?: string; listeners?: Record<string, number> }): Promise<void>;
  removeClusterMember?(id: number): Promise<void>;
}
