/** The part of a StreamAdapter that every one-connection-object-per-stream protocol (STOMP, AMQP) shares. */
import type { Duplex } from 'node:stream';
import type { PeerInfo, StreamAdapter } from './types.js';

/** What such an adapter needs of its connection objects. */
export interface ProtocolConnection {
  start(): void;
  /** Say goodbye the protocol's way and close; resolves once closed. */
  shutdown(): Promise<void>;
}

/**
 * Turns each stream into one protocol connection, keeps the open ones, and on close() refuses new streams and
 * shuts every connection down. Subclasses say how a connection is made; the connection calls `closed` when it ends.
 */
export abstract class ConnectionAdapter<C extends ProtocolConnection> implements StreamAdapter {
  private readonly connections = new Set<C>();
  private closing = false;

  protected abstract createConnection(stream: Duplex, peer: PeerInfo, closed: (c: C) => void): C;

  /** Open connections (tests, admin). */
  get size(): number {
    return this.connections.size;
  }

  handle(stream: Duplex, peer: PeerInfo): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const connection = this.createConnection(stream, peer, (c) => this.connections.delete(c));
    this.connections.add(connection);
    connection.start();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.connections].map((c) => c.shutdown()));
  }
}
