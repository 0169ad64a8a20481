/** The STOMP benches' client connection: the broker's own codec, and a turn's writes coalesced into one socket write. */
import type net from 'node:net';
import { encodeFrame, StompDecoder } from '../protocols/stomp/codec.js';
import type { StompFrame } from '../protocols/stomp/frame.js';

const EMPTY = Buffer.alloc(0);

export class StompWire {
  private readonly dec: StompDecoder;
  private corked = false;
  onFrame: (f: StompFrame) => void = () => undefined;

  protected constructor(
    readonly socket: net.Socket,
    onDecodeError: (detail: string) => void,
  ) {
    socket.setNoDelay(true);
    this.dec = new StompDecoder({ version: '1.2', maxBodySize: 64 << 20, onFrame: (f) => this.onFrame(f), onError: (e) => onDecodeError(e.detail) });
    socket.on('data', (c: Buffer) => this.dec.push(c));
  }

  send(command: string, headers: Array<[string, string]>, body?: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encodeFrame({ command, headers, body: body ?? EMPTY }, '1.2'));
  }
}

export function header(f: StompFrame, name: string): string | undefined {
  for (const [k, v] of f.headers) if (k === name) return v;
  return undefined;
}
