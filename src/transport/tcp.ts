/**
 * TCP and TLS listeners for stream protocols. Every accepted socket gets `setNoDelay(true)` — adapters
 * coalesce their own writes — and is handed over as a Duplex with its PeerInfo.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { boundAddress, listenServer, throttled } from './errors.js';
import { tlsServerOptions, type TlsFiles } from './tls-files.js';
import { isDescriptorExhaustion, type ConnectionGovernor } from './governor.js';
import type { PeerInfo } from './types.js';
import { X509Certificate } from 'node:crypto';
import type { ClientCertificate } from '../core/api.js';
import { interceptConnections, type ConnectionInterceptor } from './intercept.js';

export type { TlsFiles } from './tls-files.js';

export interface StreamListenerOptions {
  /** Listener name used in errors and logs, e.g. `stomp` or `stomp-tls`. Default `tcp`/`tls`. */
  name?: string;
  host: string;
  port: number;
  /** Present = TLS listener. */
  tls?: TlsFiles;
  /** Concurrent connections; sockets over it are destroyed at once. 0 = unlimited. */
  maxConnections: number;
  /** Broker-wide limits (total, per address), shared with the other listeners. */
  governor?: ConnectionGovernor;
  logger?: Logger;
  /** Sees each raw connection first (cluster forwarding, src/transport/intercept.ts). */
  intercept?: ConnectionInterceptor;
}

export interface Listener {
  /** Host as configured, port as bound. */
  address(): { host: string; port: number };
  /** Connections currently open. */
  readonly connections: number;
  /** Stop accepting new connections; open ones are left to their adapter. Idempotent. */
  close(): Promise<void>;
  /** Destroy every connection still open (after adapters had their chance to close them). */
  destroyConnections(): void;
}

export type ConnectionHandler = (stream: Duplex, peer: PeerInfo) => void;

export async function listenStream(opts: StreamListenerOptions, onConnection: ConnectionHandler): Promise<Listener> {
  const name = opts.name ?? (opts.tls ? 'tls' : 'tcp');
  const log = opts.logger?.child({ listener: name });
  const sockets = new Set<net.Socket>();
  const transport = opts.tls ? 'tls' : 'tcp';

  const accept = (socket: net.Socket | tls.TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => log?.debug({ err: err.message, remote: socket.remoteAddress }, 'socket error'));
    socket.setNoDelay(true);
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const release = opts.governor ? opts.governor.admit(socket.remoteAddress) : () => undefined;
    if (!release) {
      socket.destroy();
      return;
    }
    socket.once('close', release);
    const peer: PeerInfo = {
      transport,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort ?? 0,
      localPort: socket.localPort ?? 0,
    };
    if (socket instanceof tls.TLSSocket) {
      if (untrustedClientCertificate(socket)) {
        log?.debug({ remote: socket.remoteAddress, reason: socket.authorizationError }, 'TLS client certificate not trusted: connection refused');
        socket.destroy();
        return;
      }
      setClientCertificate(peer, socket);
    }
    try {
      onConnection(socket, peer);
    } catch (err) {
      log?.error({ err }, 'connection handler failed');
      socket.destroy();
    }
  };

  let server: net.Server;
  if (opts.tls) {
    const tlsServer = tls.createServer(tlsServerOptions(name, opts.tls));
    tlsServer.on('secureConnection', accept);
    tlsServer.on('tlsClientError', (err, socket) =>
      log?.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed'),
    );
    server = tlsServer;
  } else {
    server = net.createServer(accept);
  }
  interceptConnections(server, opts.intercept);
  // Node's own limit: over it the accepted handle is closed at once and 'drop' is emitted.
  if (opts.maxConnections > 0) server.maxConnections = opts.maxConnections;
  const logDrop = throttled(10_000, (n) =>
    log?.warn({ maxConnections: opts.maxConnections, dropped: n }, `${name}: connection limit of ${opts.maxConnections} reached, refusing new connections`),
  );
  server.on('drop', logDrop);
  server.on('error', (err) => {
    if (isDescriptorExhaustion(err)) opts.governor?.outOfDescriptors();
    // a bind error is listenServer's to report (one clear ListenError), not a second line with a stack trace
    else if (server.listening) log?.error({ err }, 'listener error');
  });

  await listenServer(server, name, opts.host, opts.port);
  const addr = boundAddress(server, opts.host);

  let closed: Promise<void> | undefined;
  return {
    address: () => addr,
    get connections() {
      return sockets.size;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        // server.close()'s callback waits for every connection; we only need the port released.
        server.close();
        resolve();
      });
      return closed;
    },
    destroyConnections() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}

/** A verified client certificate (if any) into the peer: the certificate and who it names. */
export function setClientCertificate(peer: PeerInfo, socket: tls.TLSSocket): void {
  const cert = verifiedClientCertificate(socket);
  if (!cert) return;
  peer.clientCertificate = cert;
  peer.clientIdentity = certificateIdentity(cert);
}

/**
 * A client that presented a certificate the listener's CA does not verify. With `requireClientCert` TLS refuses it
 * in the handshake; with `requestClientCert` (optional) Node lets it through, and we refuse it here, as OpenSSL's
 * SSL_VERIFY_PEER (RabbitMQ `verify_peer`) and Java's wantClientAuth do: a bad certificate is never ignored.
 */
export function untrustedClientCertificate(socket: tls.TLSSocket): boolean {
  if (socket.authorized) return false;
  const cert = socket.getPeerCertificate();
  return !!cert && Object.keys(cert).length > 0;
}

/** The subject of a certificate as RFC 4514 text (most specific RDN first, escaped by OpenSSL) and its CN. */
export function certificateIdentity(cert: tls.PeerCertificate): ClientCertificate {
  let subject: string;
  try {
    // X509Certificate.subject is one RDN per line, certificate order, values escaped as RFC 2253 asks
    subject = new X509Certificate(cert.raw).subject.split('\n').reverse().join(',');
  } catch {
    subject = Object.entries(cert.subject ?? {}).reverse().map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`).join(',');
  }
  const cn = cert.subject?.CN as string | string[] | undefined;
  return { subject, commonName: Array.isArray(cn) ? cn[0] : cn };
}

/** The client's certificate, only when it was verified against the listener's CA (`socket.authorized`). */
export function verifiedClientCertificate(socket: tls.TLSSocket): tls.PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate(true);
  return cert && Object.keys(cert).length > 0 ? cert : undefined;
}
