/**
 * The shared WebSocket listener: one port (plain or TLS) for every protocol that runs over WebSocket.
 * Each connection is routed by `Sec-WebSocket-Protocol` to the adapter registered for the first offered
 * subprotocol we serve; a handshake that offers none is routed by its first message: to a route whose `firstBytes`
 * it starts with (an MQTT CONNECT, an AMQP header), else to the one route that accepts that (STOMP, as ActiveMQ and
 * RabbitMQ do). One that offers only subprotocols we do not serve is refused with HTTP 400.
 * Adapters get `createWebSocketStream(ws)`: a Duplex where each write() is one message (binary, or text when the
 * route asks for it and the bytes are UTF-8) and each received message arrives as a Buffer chunk.
 */
import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { boundAddress, listenServer, throttled } from './errors.js';
import { refuseUntrusted } from './http.js';
import { setClientCertificate, type ConnectionHandler, type Listener } from './tcp.js';
import { tlsServerOptions, type TlsFiles } from './tls-files.js';
import type { PeerInfo, WebSocketRouteOptions } from './types.js';
import { isDescriptorExhaustion, type ConnectionGovernor } from './governor.js';
import { interceptConnections, type ConnectionInterceptor } from './intercept.js';

export interface WebSocketListenerOptions {
  /** Listener name for errors and logs. Default `ws` (or `ws-tls`). */
  name?: string;
  host: string;
  port: number;
  tls?: TlsFiles;
  /** Concurrent WebSocket connections; handshakes over it get HTTP 503. 0 = unlimited. */
  maxConnections: number;
  /** Broker-wide limits (total, per address), shared with the other listeners. */
  governor?: ConnectionGovernor;
  /** Largest WebSocket message accepted, bytes (ws `maxPayload`); bigger ones close the connection with 1009. */
  maxPayload: number;
  logger?: Logger;
  /** Sees each raw connection first (cluster forwarding, src/transport/intercept.ts). */
  intercept?: ConnectionInterceptor;
}

export interface WebSocketRoute {
  subprotocols: string[];
  handler: ConnectionHandler;
  options?: WebSocketRouteOptions;
}

export interface WebSocketListener extends Listener {
  /** Route these subprotocols to `handler`. May be called before or after the listener starts. */
  register(subprotocols: string[], handler: ConnectionHandler, options?: WebSocketRouteOptions): void;
  /** Subprotocols currently routed. */
  subprotocols(): string[];
}

/** Parse a `Sec-WebSocket-Protocol` header (comma-separated tokens), keeping the client's order. */
export function parseSubprotocols(header: string | string[] | undefined): string[] {
  if (!header) return [];
  const joined = Array.isArray(header) ? header.join(',') : header;
  return joined.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Where a connection goes: its adapter's handler, with the route's options. */
type Route = { handler: ConnectionHandler; options: WebSocketRouteOptions };

/** How long a handshake without subprotocol may wait with its first message, which picks its protocol. */
const FIRST_MESSAGE_TIMEOUT_MS = 30_000;

/** A handshake's headers must arrive within 20 s, as on the SQS and admin listeners (Node's default is 60 s, checked every 30 s): a byte-at-a-time upgrade holds a socket no longer. */
const WS_HTTP_OPTIONS: http.ServerOptions = { noDelay: true, headersTimeout: 20_000, connectionsCheckingInterval: 5_000 };

export async function listenWebSocket(
  opts: WebSocketListenerOptions,
  routes: Iterable<WebSocketRoute> = [],
): Promise<WebSocketListener> {
  const name = opts.name ?? (opts.tls ? 'ws-tls' : 'ws');
  const log = opts.logger?.child({ listener: name });
  const table = new Map<string, Route>();
  let fallback: Route | undefined;
  /** Routes that claim a handshake without subprotocol by the first bytes of its first message. */
  const claims: Array<{ prefix: Buffer; route: Route }> = [];
  const register = (subprotocols: string[], handler: ConnectionHandler, options: WebSocketRouteOptions = {}) => {
    for (const p of subprotocols) table.set(p, { handler, options });
    if (options.acceptNoSubprotocol) fallback = { handler, options };
    if (options.firstBytes?.length) claims.push({ prefix: Buffer.from(options.firstBytes), route: { handler, options } });
  };
  for (const r of routes) register(r.subprotocols, r.handler, r.options);

  const clients = new Set<WebSocket>();
  /** close() was called: connections the adapters end from now on close with 1001 (going away). */
  let shuttingDown = false;
  const server = opts.tls
    ? https.createServer({ ...tlsServerOptions(name, opts.tls), ...WS_HTTP_OPTIONS })
    : http.createServer(WS_HTTP_OPTIONS);
  if (opts.tls) server.on('secureConnection', refuseUntrusted(log));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (offered) => {
      for (const p of offered) if (table.has(p)) return p;
      return false;
    },
  });
  wss.on('error', (err) => log?.error({ err }, 'websocket server error'));

  const logFull = throttled(10_000, (n) =>
    log?.warn({ maxConnections: opts.maxConnections, refused: n }, `${name}: connection limit of ${opts.maxConnections} reached, refusing new connections`),
  );

  server.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' });
    res.end('This port serves WebSocket connections only.\n');
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('tlsClientError', (err: Error, socket: TLSSocket) =>
    log?.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed'),
  );
  server.on('error', (err) => {
    if (isDescriptorExhaustion(err)) opts.governor?.outOfDescriptors();
    // a bind error is listenServer's to report (one clear ListenError), not a second line with a stack trace
    else if (server.listening) log?.error({ err }, 'listener error');
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => log?.debug({ err: err.message }, 'socket error during handshake'));
    const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
    const chosen = offered.find((p) => table.has(p));
    const route = chosen !== undefined ? table.get(chosen) : offered.length === 0 ? fallback : undefined;
    // no subprotocol: the first message decides between the routes that claim it by its bytes and the fallback
    const byFirstMessage = offered.length === 0 && claims.length > 0;
    if (!route && !byFirstMessage) {
      log?.debug({ offered, remote: req.socket.remoteAddress }, 'refused WebSocket: no supported subprotocol');
      const supported = [...table.keys()].join(', ') || 'none';
      refuse(socket, 400, 'Bad Request',
        offered.length === 0
          ? `Missing Sec-WebSocket-Protocol; supported subprotocols: ${supported}\n`
          : `Unsupported Sec-WebSocket-Protocol "${offered.join(', ')}"; supported subprotocols: ${supported}\n`);
      return;
    }
    if (opts.maxConnections > 0 && clients.size >= opts.maxConnections) {
      logFull();
      refuse(socket, 503, 'Service Unavailable', 'Connection limit reached\n');
      return;
    }
    const release = opts.governor ? opts.governor.admit(req.socket.remoteAddress ?? '') : () => undefined;
    if (!release) {
      refuse(socket, 503, 'Service Unavailable', 'Connection limit reached\n');
      return;
    }
    socket.once('close', release);
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.once('close', () => clients.delete(ws));
      if (!byFirstMessage) {
        attach(ws, req, socket, route!, chosen);
        return;
      }
      // the adapters' own connect timeouts start with the stream: until then this one bounds a silent client
      const timer = setTimeout(() => ws.close(1000, 'nothing received'), FIRST_MESSAGE_TIMEOUT_MS);
      ws.once('close', () => clearTimeout(timer));
      ws.once('message', (data, isBinary) => {
        clearTimeout(timer);
        const first = data as Buffer;
        const claimed = isBinary ? claims.find((c) => startsLike(first, c.prefix))?.route : undefined;
        const to = claimed ?? fallback;
        if (!to) {
          log?.debug({ remote: req.socket.remoteAddress }, 'closing WebSocket: no subprotocol, and no protocol takes its first message');
          ws.close(1003, 'no Sec-WebSocket-Protocol');
          return;
        }
        attach(ws, req, socket, to, undefined, first);
      });
    });
  });

  /** Hand an open WebSocket to its route's adapter as a stream; `first` is a message already read (routing by it). */
  function attach(ws: WebSocket, req: http.IncomingMessage, socket: Duplex, route: Route, chosen: string | undefined, first?: Buffer): void {
    const { handler, options } = route;
    const raw = req.socket as Socket;
    const peer: PeerInfo = {
      transport: opts.tls ? 'wss' : 'ws',
      remoteAddress: raw.remoteAddress ?? '',
      remotePort: raw.remotePort ?? 0,
      localPort: raw.localPort ?? 0,
      wsSubprotocol: chosen,
    };
    if (raw instanceof TLSSocket) setClientCertificate(peer, raw);
    // registered before the stream's own listener, so a refused text message never reaches the adapter
    if (options.binaryOnly) {
      ws.on('message', (_data, isBinary) => {
        if (isBinary || ws.readyState !== ws.OPEN) return;
        log?.debug({ remote: peer.remoteAddress, subprotocol: chosen }, 'closing WebSocket: text message on a binary-only protocol');
        ws.close(1003, 'binary messages only');
        stream.destroy();
      });
    }
    const stream = createWebSocketStream(ws);
    // ws's own end-of-stream close sends no status code (the client sees 1005); say why the adapter said goodbye
    const finish = stream._final.bind(stream);
    stream._final = (callback) => {
      if (ws.readyState === ws.OPEN) ws.close(shuttingDown ? 1001 : 1000);
      finish(callback);
    };
    const asText = options.send === 'text-if-utf8';
    stream._write = (chunk: Buffer, _encoding, callback) => ws.send(chunk, sendOptions(chunk, asText), callback);
    stream._writev = writeMessages(ws, socket, asText);
    stream.on('error', (err) => log?.debug({ err: err.message, remote: peer.remoteAddress }, 'websocket stream error'));
    if (first) stream.push(first);
    try {
      handler(stream, peer);
    } catch (err) {
      log?.error({ err }, 'connection handler failed');
      ws.terminate();
    }
  }

  interceptConnections(server, opts.intercept);
  await listenServer(server, name, opts.host, opts.port);
  const addr = boundAddress(server, opts.host);
  let closed: Promise<void> | undefined;
  return {
    address: () => addr,
    get connections() {
      return clients.size;
    },
    register,
    subprotocols: () => [...table.keys()],
    close() {
      shuttingDown = true;
      closed ??= new Promise<void>((resolve) => {
        server.close();
        server.closeIdleConnections();
        resolve();
      });
      return closed;
    },
    destroyConnections() {
      for (const ws of clients) ws.terminate();
      clients.clear();
      server.closeAllConnections();
    },
  };
}

/**
 * Writes an adapter queued together (cork … uncork on the stream) leave as one WebSocket message each, framed while
 * the TCP socket is corked, so a burst of small messages costs one socket write instead of one per message.
 */
function writeMessages(ws: WebSocket, socket: Duplex, asText: boolean): (chunks: Array<{ chunk: unknown }>, callback: (err?: Error | null) => void) => void {
  return (chunks, callback) => {
    let left = chunks.length;
    let done = false;
    const sent = (err?: Error) => {
      if (done) return;
      if (err) {
        done = true;
        callback(err);
      } else if (--left === 0) {
        done = true;
        callback();
      }
    };
    socket.cork();
    try {
      for (const { chunk } of chunks) ws.send(chunk as Buffer, sendOptions(chunk as Buffer, asText), sent);
    } finally {
      socket.uncork();
    }
  };
}

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** How one outgoing message is framed: text when the route sends text (`asText`) and its bytes are UTF-8, else binary. */
function sendOptions(chunk: Buffer, asText: boolean): { binary: boolean } {
  return { binary: !(asText && isUtf8(chunk)) };
}

/** `data` starts with `prefix`, or is a non-empty start of it (a client may split its first packet over messages). */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return n > 0 && data.subarray(0, n).equals(prefix.subarray(0, n));
}
