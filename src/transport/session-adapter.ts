/** The part of a StreamAdapter that every one-session-per-connection protocol shares. */
import type { Duplex } from 'node:stream';
import type { PeerInfo, StreamAdapter } from './types.js';

/** What such an adapter needs of its sessions. */
export interface ConnectionSession {
  start(): void;
  /** Say goodbye the protocol's way and close; resolves once closed. */
  shutdown(): Promise<void>;
}

/**
 * Turns each stream into one session, keeps the open ones, and on close() refuses new streams and shuts every
 * session down. Subclasses say how a session is made; the session calls `closed` when it ends.
 */
export abstract class SessionAdapter<S extends ConnectionSession> implements StreamAdapter {
  private readonly sessions = new Set<S>();
  private closing = false;

  protected abstract createSession(stream: Duplex, peer: PeerInfo, closed: (s: S) => void): S;

  /** Open sessions (tests, admin). */
  get size(): number {
    return this.sessions.size;
  }

  handle(stream: Duplex, peer: PeerInfo): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    const session = this.createSession(stream, peer, (s) => this.sessions.delete(s));
    this.sessions.add(session);
    session.start();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.sessions].map((s) => s.shutdown()));
  }
}
