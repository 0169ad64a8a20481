/**
 * HTTP(S) listener for HttpModules (SQS/SNS API, admin console): keep-alive, request timeouts, connection
 * limit, and helpers for bounded request bodies and error responses.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { boundAddress, listenServer, throttled } from './errors.js';
import { TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../core/api.js';
import { certificateIdentity, untrustedClientCertificate, verifiedClientCertificate, type Listener } from './tcp.js';
import { tlsServerOptions, type TlsFiles } from './tls-files.js';
import { isDescriptorExhaustion, type ConnectionGovernor } from './governor.js';
import { interceptConnections, type ConnectionInterceptor } from './intercept.js';

export interface HttpListenerOptions {
  /** Listener name for errors and logs, e.g. `sqs` or `admin-tls`. */
  name: string;
  host: string;
  port: number;
  tls?: TlsFiles;
  /** Concurrent connections; 0 = unlimited. */
  maxConnections?: number;
  /** Time allowed to receive a whole request (headers + body), ms. Default 60 s. */
  requestTimeout?: number;
  /** Time allowed to receive the request headers, ms. Default 20 s. */
  headersTimeout?: number;
  /** How long an idle keep-alive connection stays open, ms. Default 65 s (longer than AWS SDK idle sockets, avoiding reuse races). */
  keepAliveTimeout?: number;
  /** Broker-wide limits (total, per address), shared with the other listeners. */
  governor?: ConnectionGovernor;
  /** The admin listener: counts towards no limit, so an operator can always get in. */
  reserved?: boolean;
  logger?: Logger;
  /** Sees each raw connection first (cluster forwarding, src/transport/intercept.ts). */
  intercept?: ConnectionInterceptor;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

/** An error with an HTTP status, for handlers to throw and `sendError` to render. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

/** What a refused upload may still send, and for how long, before its connection is cut. */
const LINGER_BYTES = 64 * 1024 * 1024;
const LINGER_MS = 5_000;

/**
 * The rest of a refused upload is read and dropped for a while (a "lingering close", as nginx does): closing a
 * socket with unread data makes the kernel send a reset, and a client still uploading would see ECONNRESET
 * instead of the 413 we wrote. Bounded in bytes and time, then the connection is cut anyway.
 */
function discardRest(req: http.IncomingMessage): void {
  let dropped = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/**
 * Read a request body into one Buffer, refusing more than `max` bytes: rejects with HttpError(413) as soon
 * as the declared Content-Length or the bytes received exceed `max`, without buffering more. Answer it with
 * `sendError` (which closes the connection once the response is out; what the client still sends is dropped).
 */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `request body larger than ${max} bytes`, { connection: 'close' });
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      discardRest(req);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        chunks.length = 0;
        discardRest(req);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = () => {
      // the client went away mid-body (Node's "aborted", ECONNRESET): its doing, not a server failure to log
      cleanup();
      reject(new HttpError(400, 'request aborted'));
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new HttpError(400, 'request aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Answer with an error: HttpError's status and headers, 500 for anything else. Plain text body. */
export function sendError(res: http.ServerResponse, err: unknown): void {
  const status = err instanceof HttpError ? err.status : 500;
  const message = err instanceof HttpError ? err.message : 'internal server error';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (err instanceof HttpError) Object.assign(headers, err.headers);
  if (status === 413) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(message + '\n');
}

export async function listenHttp(opts: HttpListenerOptions, handler: RequestHandler): Promise<Listener> {
  const log = opts.logger?.child({ listener: opts.name });
  const serverOptions: http.ServerOptions = {
    noDelay: true,
    keepAlive: true,
    requestTimeout: opts.requestTimeout ?? 60_000,
    headersTimeout: opts.headersTimeout ?? 20_000,
    keepAliveTimeout: opts.keepAliveTimeout ?? 65_000,
  };
  // Node checks the two timeouts above only every connectionsCheckingInterval (default 30 s).
  const timeouts = [serverOptions.requestTimeout!, serverOptions.headersTimeout!].filter((t) => t > 0);
  serverOptions.connectionsCheckingInterval = timeouts.length ? Math.max(50, Math.min(5_000, Math.floor(Math.min(...timeouts) / 4))) : 5_000;
  const server: http.Server = opts.tls
    ? https.createServer({ ...tlsServerOptions(opts.name, opts.tls), ...serverOptions })
    : http.createServer(serverOptions);
  if (opts.tls) server.on('secureConnection', refuseUntrusted(log));
  // keepAliveTimeout is not a createServer option in every Node version; set the property too.
  server.keepAliveTimeout = serverOptions.keepAliveTimeout!;
  if (opts.maxConnections && opts.maxConnections > 0) server.maxConnections = opts.maxConnections;
  const logDrop = throttled(10_000, (n) =>
    log?.warn({ maxConnections: opts.maxConnections, dropped: n }, `${opts.name}: connection limit of ${opts.maxConnections} reached, refusing new connections`),
  );
  server.on('drop', logDrop);

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    const release = opts.governor ? opts.governor.admit(socket.remoteAddress ?? '', opts.reserved) : () => undefined;
    if (!release) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      release();
    });
  });
  interceptConnections(server, opts.intercept);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    log?.debug({ err: err.message }, 'client error');
    if (socket.writable && err.code !== 'ECONNRESET') {
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  server.on('error', (err) => {
    if (isDescriptorExhaustion(err)) opts.governor?.outOfDescriptors();
    // a bind error is listenServer's to report (one clear ListenError), not a second line with a stack trace
    else if (server.listening) log?.error({ err }, 'listener error');
  });

  const fail = (res: http.ServerResponse, err: unknown) => {
    if (!(err instanceof HttpError)) log?.error({ err }, 'request handler failed');
    sendError(res, err);
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      const p = handler(req, res);
      if (p && typeof (p as Promise<void>).then === 'function') (p as Promise<void>).catch((err) => fail(res, err));
    } catch (err) {
      fail(res, err);
    }
  });

  await listenServer(server, opts.name, opts.host, opts.port);
  const addr = boundAddress(server, opts.host);
  let closed: Promise<void> | undefined;
  return {
    address: () => addr,
    get connections() {
      return sockets.size;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close();
        server.closeIdleConnections();
        resolve();
      });
      return closed;
    },
    destroyConnections() {
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}

/** A 'secureConnection' listener that ends TLS connections presenting an untrusted client certificate (tcp.ts). */
export function refuseUntrusted(log?: { debug(o: unknown, m: string): void }): (socket: TLSSocket) => void {
  return (socket) => {
    if (!untrustedClientCertificate(socket)) return;
    log?.debug({ remote: socket.remoteAddress, reason: socket.authorizationError }, 'TLS client certificate not trusted: connection refused');
    socket.destroy();
  };
}

/** Who the verified TLS client certificate of an HTTPS request names (SQS/SNS, admin), or undefined. */
export function requestCertificate(socket: Socket): ClientCertificate | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = verifiedClientCertificate(socket);
  return cert ? certificateIdentity(cert) : undefined;
}
