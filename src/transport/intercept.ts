/**
 * A hook on a listener's raw TCP connections, before TLS, HTTP or any protocol sees a byte: a cluster follower
 * uses it to pipe a client's connection unchanged to the same listener on the leader (TLS end to end included).
 */
import type net from 'node:net';

/**
 * Return true to take the socket over (the listener then leaves it alone), false to let the listener serve it.
 * A hook that returned true may still hand the socket to the listener later with `serve()` (after reading a
 * header off it, say).
 */
export type ConnectionInterceptor = (socket: net.Socket, serve: () => void) => boolean;

/**
 * Put `intercept` in front of every 'connection' listener registered on `server` so far (Node's own TLS and HTTP
 * handlers among them). Call it after the listener has registered its own handlers.
 */
export function interceptConnections(server: net.Server, intercept: ConnectionInterceptor | undefined): void {
  if (!intercept) return;
  const original = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    const serve = () => {
      for (const l of original) l.call(server, socket);
    };
    if (!intercept(socket, serve)) serve();
  });
}
