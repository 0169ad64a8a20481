import type { DataStructure, WireFormatInfo } from './commands.js';
import { OpenWireError } from './errors.js';
import {
  DEFAULT_CACHE_SIZE,
  DEFAULT_DECODE_LIMITS,
  MarshalCache,
  UnmarshalCache,
  marshalPayload,
  unmarshalPayload,
  type DecodeLimits,
  type MarshalOptions,
} from './marshal.js';
import { decodePrimitiveMap, encodePrimitiveMap, type OwMap, type OwValue } from './properties.js';
import { DataType } from './schema.js';

export const MAGIC = Buffer.from('ActiveMQ', 'latin1');
/** The newest OpenWire version this codec marshals (ActiveMQ 5.x/6.x clients propose 12). */
export const MAX_VERSION = 12;
/** The oldest version we marshal (v9..v11 are v12 minus a few fields; see marshal.ts). */
export const MIN_VERSION = 9;
/** ActiveMQ brokers' default transport maxFrameSize (100 MiB). */
export const DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024;

/** The options a side proposes in its WireFormatInfo. */
export interface WireFormatPreferences {
  version: number;
  tightEncodingEnabled: boolean;
  cacheEnabled: boolean;
  cacheSize: number;
  stackTraceEnabled: boolean;
  tcpNoDelayEnabled: boolean;
  sizePrefixDisabled: boolean;
  maxInactivityDuration: number;
  maxInactivityDurationInitalDelay: number;
  maxFrameSize: number;
}

export const DEFAULT_SERVER_PREFERENCES: WireFormatPreferences = {
  version: MAX_VERSION,
  tightEncodingEnabled: true,
  cacheEnabled: true,
  cacheSize: 1024,
  stackTraceEnabled: true,
  tcpNoDelayEnabled: true,
  // Our frame reader needs the size prefix, so we never agree to drop it.
  sizePrefixDisabled: false,
  maxInactivityDuration: 30_000,
  maxInactivityDurationInitalDelay: 10_000,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
};

/** What both sides use after the WireFormatInfo exchange. */
export interface NegotiatedWireFormat extends MarshalOptions {
  version: number;
  cacheSize: number;
  tcpNoDelayEnabled: boolean;
  sizePrefixDisabled: boolean;
  maxFrameSize: number;
  /** 0 means no inactivity monitoring (either side asked for none). */
  maxInactivityDuration: number;
  maxInactivityDurationInitalDelay: number;
}

/** The decoded content of a peer's WireFormatInfo. */
export interface PeerWireFormat extends WireFormatPreferences {
  magicValid: boolean;
  /** Every option as sent, including ProviderName, ProviderVersion, PlatformDetails, Host. */
  properties: OwMap;
}

function num(v: OwValue | undefined): number {
  if (v == null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && 'type' in v && 'value' in v) return Number(v.value);
  return 0;
}

/** Reads the options out of a WireFormatInfo (missing options read as false / 0, as in Java). */
export function readWireFormatInfo(info: WireFormatInfo): PeerWireFormat {
  const props = info.marshalledProperties ? decodePrimitiveMap(info.marshalledProperties) ?? new Map() : new Map<string, OwValue>();
  const b = (k: string) => props.get(k) === true;
  return {
    magicValid: Buffer.isBuffer(info.magic) && info.magic.equals(MAGIC),
    version: info.version,
    tightEncodingEnabled: b('TightEncodingEnabled'),
    cacheEnabled: b('CacheEnabled'),
    cacheSize: num(props.get('CacheSize')),
    stackTraceEnabled: b('StackTraceEnabled'),
    tcpNoDelayEnabled: b('TcpNoDelayEnabled'),
    sizePrefixDisabled: b('SizePrefixDisabled'),
    maxInactivityDuration: num(props.get('MaxInactivityDuration')),
    maxInactivityDurationInitalDelay: num(props.get('MaxInactivityDurationInitalDelay')),
    maxFrameSize: num(props.get('MaxFrameSize')),
    properties: props,
  };
}

/**
 * Builds a WireFormatInfo proposing `prefs`. Java reads the numeric options with casts
 * ((Long) MaxInactivityDuration, (Integer) CacheSize), so each goes with its exact Java type.
 */
export function makeWireFormatInfo(prefs: WireFormatPreferences, extra: Record<string, OwValue> = {}): WireFormatInfo {
  const props = new Map<string, OwValue>([
    ['TightEncodingEnabled', prefs.tightEncodingEnabled],
    ['CacheEnabled', prefs.cacheEnabled],
    ['CacheSize', { type: 'int', value: prefs.cacheSize }],
    ['StackTraceEnabled', prefs.stackTraceEnabled],
    ['TcpNoDelayEnabled', prefs.tcpNoDelayEnabled],
    ['SizePrefixDisabled', prefs.sizePrefixDisabled],
    ['MaxInactivityDuration', { type: 'long', value: BigInt(prefs.maxInactivityDuration) }],
    ['MaxInactivityDurationInitalDelay', { type: 'long', value: BigInt(prefs.maxInactivityDurationInitalDelay) }],
    ['MaxFrameSize', { type: 'long', value: BigInt(prefs.maxFrameSize) }],
  ]);
  for (const [k, v] of Object.entries(extra)) props.set(k, v);
  return { type: DataType.WIREFORMAT_INFO, magic: Buffer.from(MAGIC), version: prefs.version, marshalledProperties: encodePrimitiveMap(props) };
}

// Java's OpenWireFormat.min: the smaller of two values, where a value <= 0 means "not set".
function minSet(a: number, b: number): number {
  return (a < b && a > 0) || b <= 0 ? a : b;
}

/**
 * The outcome of the WireFormatInfo exchange, computed exactly as OpenWireFormat.renegotiateWireFormat
 * does on the Java side: flags are ANDed, version and max frame size take the smaller set value,
 * the cache size the smaller value. Throws when the peer is not OpenWire or too old for our tables.
 */
export function negotiate(local: WireFormatPreferences, remote: WireFormatPreferences & { magicValid?: boolean }): NegotiatedWireFormat {
  if (remote.magicValid === false) throw new OpenWireError('peer WireFormatInfo has a wrong magic (not an OpenWire client)');
  const version = minSet(local.version, remote.version);
  if (version < MIN_VERSION || version > MAX_VERSION) throw new OpenWireError(`unsupported OpenWire version ${version} (supported: ${MIN_VERSION}..${MAX_VERSION})`);
  const cacheEnabled = local.cacheEnabled && remote.cacheEnabled;
  let cacheSize = Math.min(local.cacheSize, remote.cacheSize);
  if (cacheSize === 0) cacheSize = DEFAULT_CACHE_SIZE;
  return {
    version,
    tightEncoding: local.tightEncodingEnabled && remote.tightEncodingEnabled,
    cacheEnabled,
    cacheSize,
    stackTraceEnabled: local.stackTraceEnabled && remote.stackTraceEnabled,
    tcpNoDelayEnabled: local.tcpNoDelayEnabled && remote.tcpNoDelayEnabled,
    sizePrefixDisabled: local.sizePrefixDisabled && remote.sizePrefixDisabled,
    maxFrameSize: minSet(local.maxFrameSize, remote.maxFrameSize),
    // The inactivity monitor takes the plain minimum (0 on either side switches it off).
    maxInactivityDuration: Math.min(local.maxInactivityDuration, remote.maxInactivityDuration),
    maxInactivityDurationInitalDelay: Math.min(local.maxInactivityDurationInitalDelay, remote.maxInactivityDurationInitalDelay),
  };
}

export interface CodecOptions {
  version: number;
  tightEncoding: boolean;
  cacheEnabled: boolean;
  cacheSize: number;
  stackTraceEnabled: boolean;
  sizePrefixDisabled: boolean;
  maxFrameSize: number;
  limits: DecodeLimits;
}

/** Before negotiation both sides speak loose encoding without cache (WireFormatInfo itself). */
export const INITIAL_CODEC_OPTIONS: CodecOptions = {
  // WireFormatInfo's layout is the same in every version.
  version: MAX_VERSION,
  tightEncoding: false,
  cacheEnabled: false,
  cacheSize: DEFAULT_CACHE_SIZE,
  stackTraceEnabled: false,
  sizePrefixDisabled: false,
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  limits: DEFAULT_DECODE_LIMITS,
};

/**
 * One connection's codec state: the negotiated options plus the marshal cache (what we sent)
 * and the unmarshal cache (what the peer sent). Encode and decode must each be called in wire
 * order, since the caches are sequential state shared with the peer.
 */
export class OpenWireCodec {
  options: CodecOptions;
  private marshalCache: MarshalCache | null = null;
  private unmarshalCache: UnmarshalCache | null = null;

  constructor(options: Partial<CodecOptions> = {}) {
    this.options = { ...INITIAL_CODEC_OPTIONS, ...options };
    this.resetCaches();
  }

  /** Switches to the negotiated format (fresh caches, as Java does on renegotiation). */
  apply(n: NegotiatedWireFormat, limits: DecodeLimits = this.options.limits): void {
    this.options = {
      version: n.version,
      tightEncoding: n.tightEncoding,
      cacheEnabled: n.cacheEnabled,
      cacheSize: n.cacheSize,
      stackTraceEnabled: n.stackTraceEnabled,
      sizePrefixDisabled: n.sizePrefixDisabled,
      maxFrameSize: n.maxFrameSize,
      limits,
    };
    this.resetCaches();
  }

  private resetCaches(): void {
    const { cacheEnabled, cacheSize } = this.options;
    this.marshalCache = cacheEnabled ? new MarshalCache(cacheSize) : null;
    this.unmarshalCache = cacheEnabled ? new UnmarshalCache(cacheSize) : null;
  }

  /** Command -> bytes to write to the socket (size prefix included unless negotiated away). */
  encode(cmd: DataStructure | null): Buffer {
    const payload = marshalPayload(cmd, this.options, this.marshalCache);
    if (payload.length > this.options.maxFrameSize) throw new OpenWireError(`frame of ${payload.length} bytes exceeds the max frame size ${this.options.maxFrameSize}`);
    if (this.options.sizePrefixDisabled) return payload;
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeInt32BE(payload.length, 0);
    payload.copy(out, 4);
    return out;
  }

  /** Frame payload (as produced by FrameReader, without the size prefix) -> command. */
  decode(payload: Buffer): DataStructure | null {
    return unmarshalPayload(payload, this.options, this.unmarshalCache, this.options.limits);
  }

  /** A whole size-prefixed frame -> command (checks that the prefix matches). */
  decodeFrame(frame: Buffer): DataStructure | null {
    if (frame.length < 4) throw new OpenWireError('truncated frame: no size prefix');
    const size = frame.readInt32BE(0);
    if (size < 0 || size > this.options.maxFrameSize) throw new OpenWireError(`frame size ${size} out of bounds (max ${this.options.maxFrameSize})`);
    if (size !== frame.length - 4) throw new OpenWireError(`frame size prefix ${size} does not match ${frame.length - 4} bytes`);
    return this.decode(frame.subarray(4));
  }
}

/**
 * Splits a byte stream (a socket's 'data' chunks) into frame payloads. The declared size is
 * checked against maxFrameSize as soon as its 4 bytes are in, before anything is buffered for it,
 * so a hostile size costs nothing. Chunks are kept in a list and joined once per frame.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1;

  constructor(public maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE) {}

  /** Feeds bytes; returns the payloads of every frame completed by them (possibly none). */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < 4) break;
        const head = this.take(4);
        const size = head.readInt32BE(0);
        if (size < 0 || size > this.maxFrameSize) {
          this.chunks = [];
          this.buffered = 0;
          throw new OpenWireError(`frame size ${size} out of bounds (max ${this.maxFrameSize})`);
        }
        if (size === 0) throw new OpenWireError('empty frame (no command type)');
        this.expected = size;
      }
      if (this.buffered < this.expected) break;
      out.push(this.take(this.expected));
      this.expected = -1;
    }
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let p = 0;
      while (p < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - p);
        c.copy(out, p, 0, k);
        p += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}
