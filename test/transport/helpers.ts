import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerInfo } from '../../src/transport/types.js';

export { tlsFixture } from '../helpers/broker.js';

/** A tiny adapter: echoes every chunk back with a prefix, records peers. */
export function echoHandler(prefix = '') {
  const peers: PeerInfo[] = [];
  const streams: Duplex[] = [];
  const handle = (stream: Duplex, peer: PeerInfo) => {
    peers.push(peer);
    streams.push(stream);
    stream.on('data', (chunk: Buffer) => stream.write(prefix ? Buffer.concat([Buffer.from(prefix), chunk]) : chunk));
    stream.on('end', () => stream.end());
  };
  return { handle, peers, streams };
}

/** Connect, wait for the connection (or its immediate close). */
export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Read from a socket until `n` bytes (or end), resolving with what arrived. */
export function readN(s: Duplex, n: number, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      clearTimeout(t);
      s.off('data', onData);
      s.off('end', done);
      s.off('close', done);
      resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= n) done();
    };
    const t = setTimeout(() => {
      s.off('data', onData);
      reject(new Error(`timed out waiting for ${n} bytes, got ${size}`));
    }, timeoutMs);
    s.on('data', onData);
    s.once('end', done);
    s.once('close', done);
  });
}

/** Resolves when the socket is closed by the other side (or errors). */
export function closed(s: net.Socket, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const t = setTimeout(() => reject(new Error('socket was not closed')), timeoutMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('error', () => undefined);
    s.resume();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** A pino-shaped logger that records warn/error messages. */
export function fakeLogger(sink: string[]) {
  const l = {
    child: () => l,
    warn: (_o: unknown, msg?: string) => sink.push(String(msg)),
    info: () => undefined,
    debug: () => undefined,
    error: (_o: unknown, msg?: string) => sink.push(String(msg)),
  };
  return l as unknown as import('pino').Logger;
}
