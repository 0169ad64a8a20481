/**
 * What sits between the socket and rhea: the protocol header check, the SASL layer, and a frame-size
 * guard.
 *
 * rhea buffers a frame of whatever size its 4-byte header announces (up to 4 GiB, before SASL too) and
 * only uses `max_frame_size` for outgoing fragmentation (../shared/LIBRARIES.md §1.2). So every byte goes
 * through this guard first: it reads each frame's size itself and refuses anything smaller than a frame
 * header or larger than the limit in force (a small one until the client's open arrived, our advertised
 * `max-frame-size` after), before a byte of the frame is buffered anywhere.
 *
 * SASL is handled here too, not by rhea's SASL server: the mechanisms need the connection (for the
 * engine's authenticate hook and the TLS client certificate), a pipelining client's AMQP header must wait
 * for the outcome, and the pre-authentication frames get their own small limit. Frames are decoded with
 * rhea's codec (with the patched count guard). After SASL (or without it), the AMQP header and frames
 * are passed to rhea unchanged.
 *
 * The first AMQP frame with a body (the client's open) is forwarded, then input is held until the session
 * calls `release()`: the engine connection (authentication, client id) exists before any begin/attach
 * is looked at.
 */
import { rheaFrames } from './rhea.js';

export const SASL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00]);
export const AMQP_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00]);

/** SASL outcome codes. */
export const SASL_OK = 0;
export const SASL_AUTH = 1;
export const SASL_SYS = 2;

export interface SaslResult {
  ok: boolean;
  /** `SASL_SYS` when the failure is ours (hook threw), `SASL_AUTH` when the credentials were refused. */
  code?: number;
}

export interface GuardHost {
  /** Bytes for rhea (header and whole or partial AMQP frames, in order). */
  toRhea(chunk: Buffer): void;
  /** Bytes for the peer (SASL layer, headers). */
  write(bytes: Buffer): void;
  /** SASL mechanisms offered, in order of preference. */
  mechanisms(): string[];
  authenticate(mechanism: string, initialResponse: Buffer | undefined, hostname: string | undefined): Promise<SaslResult>;
  /** The client's open frame went to rhea; input is held until `release()`. */
  openForwarded(): void;
  /** Stop reading from the socket (held input is bounded) / read again. */
  pause(): void;
  resume(): void;
  /**
   * The input is refused. `amqpOpen`: rhea has seen the client's open, so an AMQP close can carry the
   * condition; otherwise (header, SASL, before open) the socket is just closed after what was written.
   */
  fail(condition: string, description: string, amqpOpen: boolean): void;
}

export interface GuardOptions {
  /** Frames the client may send after its open: our advertised max-frame-size. */
  maxFrameSize: number;
  /** Frames before the open (and SASL frames). */
  preOpenMaxFrameSize: number;
  /** Refuse a client that skips SASL. */
  requireSasl: boolean;
  /** Held input above this pauses the socket. */
  maxHeldBytes: number;
}

type Phase = 'header' | 'sasl' | 'sasl-auth' | 'sasl-done' | 'header2' | 'amqp' | 'failed';

export class FrameGuard {
  private phase: Phase = 'header';
  /** Bytes of a header or SASL frame not complete yet. */
  private partial: Buffer | null = null;
  /** AMQP phase: bytes left of the current frame, and a partial 4-byte size. */
  private frameLeft = 0;
  private sizeBytes = Buffer.alloc(4);
  private sizeHave = 0;
  private openSeen = false;
  private holding = false;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private paused = false;
  /** Bytes the peer sent that reached rhea, by phase; for stats and tests. */
  framesChecked = 0;

  constructor(private readonly host: GuardHost, private readonly opts: GuardOptions) {}

  /** The phase now (methods called in between may have moved it). */
  private current(): Phase {
    return this.phase;
  }

  get failed(): boolean {
    return this.phase === 'failed';
  }

  push(chunk: Buffer): void {
    if (this.phase === 'failed' || chunk.length === 0) return;
    if (this.holding) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.opts.maxHeldBytes && !this.paused) {
        this.paused = true;
        this.host.pause();
      }
      return;
    }
    this.process(chunk);
  }

  /** Input held since the open (or during SASL authentication) may flow again. */
  release(): void {
    if (!this.holding || this.phase === 'failed') return;
    this.holding = false;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      if (this.holding || this.current() === 'failed') {
        // held again (cannot happen after open, but keep the order if it did)
        this.held.push(...held.slice(i));
        for (const h of this.held) this.heldBytes += h.length;
        return;
      }
      this.process(held[i]!);
    }
    if (this.paused && !this.holding) {
      this.paused = false;
      this.host.resume();
    }
  }

  private fail(condition: string, description: string): void {
    if (this.phase === 'failed') return;
    const amqpOpen = this.phase === 'amqp' && this.openSeen;
    this.phase = 'failed';
    this.held = [];
    this.partial = null;
    this.host.fail(condition, description, amqpOpen);
  }

  private take(chunk: Buffer, want: number): { got: Buffer | null; rest: Buffer } {
    const have = this.partial ? this.partial.length : 0;
    if (have + chunk.length < want) {
      this.partial = this.partial ? Buffer.concat([this.partial, chunk]) : Buffer.from(chunk);
      return { got: null, rest: Buffer.alloc(0) };
    }
    const need = want - have;
    const got = this.partial ? Buffer.concat([this.partial, chunk.subarray(0, need)]) : chunk.subarray(0, need);
    this.partial = null;
    return { got, rest: chunk.subarray(need) };
  }

  private process(chunk: Buffer): void {
    while (chunk.length > 0) {
      switch (this.phase) {
        case 'header':
        case 'header2': {
          const { got, rest } = this.take(chunk, 8);
          if (!got) return;
          chunk = rest;
          if (!this.header(got)) return;
          break;
        }
        case 'sasl': {
          const have = this.partial ? this.partial.length : 0;
          if (have + chunk.length < 4) {
            this.take(chunk, 4);
            return;
          }
          const head = have >= 4 ? this.partial! : Buffer.concat([this.partial ?? Buffer.alloc(0), chunk.subarray(0, 4 - have)]);
          const size = head.readUInt32BE(0);
          if (size < 8 || size > this.opts.preOpenMaxFrameSize) {
            this.fail('amqp:frame-size-too-large', `SASL frame of ${size} bytes (allowed 8..${this.opts.preOpenMaxFrameSize})`);
            return;
          }
          const { got, rest } = this.take(chunk, size);
          if (!got) return;
          chunk = rest;
          this.saslFrame(got);
          if (this.current() === 'sasl-auth') {
            // hold everything after the sasl-init (a pipelined AMQP header) until the outcome
            this.holding = true;
            if (chunk.length) this.push(chunk);
            return;
          }
          break;
        }
        case 'sasl-auth':
          this.push(chunk);
          return;
        case 'sasl-done':
          this.phase = 'header2';
          break;
        case 'amqp':
          this.amqp(chunk);
          return;
        default:
          return;
      }
    }
  }

  /** A protocol header; returns false if the connection is refused. */
  private header(h: Buffer): boolean {
    const first = this.phase === 'header';
    const magic = h[0] === 0x41 && h[1] === 0x4d && h[2] === 0x51 && h[3] === 0x50;
    const version = h[5] === 1 && h[6] === 0 && h[7] === 0;
    const id = h[4];
    if (!magic || !version || (id !== 0 && id !== 3) || (id === 3 && !first) || (id === 0 && first && this.opts.requireSasl)) {
      // answer with the header we want, then close (AMQP 1.0 §2.2)
      this.host.write(first ? SASL_HEADER : AMQP_HEADER);
      this.fail('amqp:connection:framing-error', `unsupported protocol header ${h.toString('hex')}`);
      return false;
    }
    if (id === 3) {
      this.phase = 'sasl';
      const mechs = this.host.mechanisms();
      this.host.write(Buffer.concat([SASL_HEADER, rheaFrames.write_frame(rheaFrames.sasl_frame(rheaFrames.sasl_mechanisms({ sasl_server_mechanisms: mechs })))]));
      return true;
    }
    this.phase = 'amqp';
    this.host.toRhea(h);
    return true;
  }

  private saslFrame(f: Buffer): void {
    this.framesChecked++;
    if (f[5] !== 0x01 || f[4]! < 2) {
      this.fail('amqp:connection:framing-error', 'expected a SASL frame');
      return;
    }
    let frame;
    try {
      frame = rheaFrames.read_frame(f);
    } catch (err) {
      this.fail('amqp:decode-error', `malformed SASL frame: ${(err as Error).message}`);
      return;
    }
    const perf = frame?.performative as { dispatch?: (target: object, frame: unknown) => void } | undefined;
    if (!perf || typeof perf.dispatch !== 'function') {
      this.fail('amqp:decode-error', 'SASL frame without a performative');
      return;
    }
    let init: { mechanism?: unknown; initial_response?: unknown; hostname?: unknown } | null = null;
    try {
      perf.dispatch({ on_sasl_init: (fr: { performative: typeof init }) => (init = fr.performative) }, frame);
    } catch {
      // any other SASL performative (response, or a server-side one) is unexpected here
    }
    if (!init) {
      this.fail('amqp:connection:framing-error', 'expected sasl-init');
      return;
    }
    const { mechanism, initial_response, hostname } = init as { mechanism?: unknown; initial_response?: unknown; hostname?: unknown };
    const mech = typeof mechanism === 'string' ? mechanism : '';
    if (!this.host.mechanisms().includes(mech)) {
      this.outcome(SASL_AUTH);
      this.fail('amqp:unauthorized-access', `SASL mechanism '${mech.slice(0, 40)}' is not offered`);
      return;
    }
    this.phase = 'sasl-auth';
    const response = Buffer.isBuffer(initial_response) ? initial_response : undefined;
    this.host
      .authenticate(mech, response, typeof hostname === 'string' ? hostname : undefined)
      .then(
        (r) => r,
        (): SaslResult => ({ ok: false, code: SASL_SYS }),
      )
      .then((r) => {
        if (this.phase !== 'sasl-auth') return;
        if (!r.ok) {
          this.outcome(r.code ?? SASL_AUTH);
          this.fail('amqp:unauthorized-access', 'SASL authentication failed');
          return;
        }
        this.outcome(SASL_OK);
        this.phase = 'sasl-done';
        this.release();
      });
  }

  private outcome(code: number): void {
    this.host.write(rheaFrames.write_frame(rheaFrames.sasl_frame(rheaFrames.sasl_outcome({ code }))));
  }

  /** AMQP frames: check each size, forward the bytes, hold after the open. */
  private amqp(chunk: Buffer): void {
    let start = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.frameLeft > 0) {
        const step = Math.min(this.frameLeft, n - i);
        this.frameLeft -= step;
        i += step;
        if (this.frameLeft === 0 && this.holdNow) {
          this.holdNow = false;
          if (i > start) this.host.toRhea(chunk.subarray(start, i));
          this.holding = true;
          this.host.openForwarded();
          if (i < n) this.push(chunk.subarray(i));
          return;
        }
        continue;
      }
      // frame header: 4-byte size (may straddle chunks)
      while (this.sizeHave < 4 && i < n) this.sizeBytes[this.sizeHave++] = chunk[i++]!;
      if (this.sizeHave < 4) break;
      this.sizeHave = 0;
      const size = this.sizeBytes.readUInt32BE(0);
      const max = this.openSeen ? this.opts.maxFrameSize : this.opts.preOpenMaxFrameSize;
      this.framesChecked++;
      if (size < 8) {
        if (i - 4 > start) this.host.toRhea(chunk.subarray(start, Math.max(start, i - 4)));
        this.fail('amqp:connection:framing-error', `frame size ${size} is smaller than a frame header`);
        return;
      }
      if (size > max) {
        // forward what came before this frame, so rhea's state (e.g. the open) is complete
        if (i - 4 > start) this.host.toRhea(chunk.subarray(start, Math.max(start, i - 4)));
        this.fail('amqp:frame-size-too-large', `frame of ${size} bytes exceeds the maximum frame size ${max}`);
        return;
      }
      this.frameLeft = size - 4;
      if (!this.openSeen && size > 8) {
        // the first frame with a body: the client's open; hold what follows it
        this.openSeen = true;
        this.holdNow = true;
      }
    }
    if (n > start) this.host.toRhea(chunk.subarray(start, n));
  }

  private holdNow = false;
}
