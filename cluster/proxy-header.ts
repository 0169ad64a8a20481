/**
 * The forwarded client's address, from a cluster follower to the leader: a PROXY protocol version 2 header
 * (HAProxy's "PROXY protocol" spec, §2.2, binary format) in front of each forwarded connection's bytes.
 *
 *   12-byte signature, ver/cmd 0x21 (v2, PROXY), family/transport 0x11 (TCP/IPv4) or 0x21 (TCP/IPv6),
 *   u16 length of what follows, source and destination address, source and destination port,
 *   then TLVs. Wharf adds one custom TLV (type 0xE0, the spec's PP2_TYPE_MIN_CUSTOM): HMAC-SHA256 under the
 *   cluster secret of the header before it, so only a cluster member can claim an address for a client.
 *
 * The leader takes a header only if its MAC verifies (`readProxyHeader`); a connection that starts with the
 * signature but carries no valid MAC is refused, one without it is a direct client and keeps its own address.
 * The address then replaces the socket's peer address (`setPeerAddress`), so everything reading
 * `socket.remoteAddress` (security's loopback rule, per-address limits, the connection list, audit, TLS and HTTP
 * servers alike) sees the client rather than the follower.
 *
 * A captured header can be replayed by someone able to read the follower→leader client traffic and to connect to
 * the leader's listeners: use TLS listeners (the header goes in the clear before TLS, as HAProxy's does) and keep
 * client ports off untrusted networks if that matters.
 */
import crypto from 'node:crypto';
import net from 'node:net';

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const TLV_WHARF_MAC = 0xe0;
const MAC_LEN = 32;
/** Signature, ver/cmd, family, length, IPv6 addresses and ports, MAC TLV: nothing longer is ours. */
const MAX_HEADER = 16 + 36 + 3 + MAC_LEN;

export interface ClientAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

function mac(secret: Buffer, bytes: Buffer): Buffer {
  return crypto.createHmac('sha256', secret).update('wharf-proxy-v2\0').update(bytes).digest();
}

function ipBytes(address: string, family: 'IPv4' | 'IPv6'): Buffer {
  if (family === 'IPv4') {
    if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
    throw new Error(`not an IPv4 address: ${address}`);
  }
  let s = address.split('%')[0]!; // no zone
  if (!net.isIPv6(s)) throw new Error(`not an IPv6 address: ${address}`);
  const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) s = `${v4[1]}${((Number(v4[2]) << 8) | Number(v4[3])).toString(16)}:${((Number(v4[4]) << 8) | Number(v4[5])).toString(16)}`;
  const [h, t] = s.includes('::') ? s.split('::') : [s, undefined];
  const hg = h ? h.split(':') : [];
  const tg = t ? t.split(':') : [];
  const groups = t === undefined ? hg : [...hg, ...new Array<string>(8 - hg.length - tg.length).fill('0'), ...tg];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function ipString(b: Buffer, family: 'IPv4' | 'IPv6'): string {
  if (family === 'IPv4') return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // IPv4-mapped: as Node itself shows it.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** The PROXY v2 header a follower sends ahead of client `src`'s bytes to the leader's `dst`. */
export function encodeProxyHeader(src: ClientAddress, dst: ClientAddress, secret: Buffer): Buffer {
  // Both ends in one family: an IPv4 client reaching an IPv6 socket is shown IPv4-mapped.
  const family: 'IPv4' | 'IPv6' = src.family === 'IPv4' && dst.family === 'IPv4' ? 'IPv4' : 'IPv6';
  const addr = (a: ClientAddress) => (a.family === family ? a.address : `::ffff:${a.address}`);
  const alen = family === 'IPv4' ? 12 : 36;
  const head = Buffer.alloc(16 + alen + 3);
  PROXY_V2_SIGNATURE.copy(head, 0);
  head[12] = 0x21;
  head[13] = family === 'IPv4' ? 0x11 : 0x21;
  head.writeUInt16BE(alen + 3 + MAC_LEN, 14);
  const n = family === 'IPv4' ? 4 : 16;
  ipBytes(addr(src), family).copy(head, 16);
  ipBytes(addr(dst), family).copy(head, 16 + n);
  head.writeUInt16BE(src.port, 16 + 2 * n);
  head.writeUInt16BE(dst.port, 18 + 2 * n);
  head[16 + alen] = TLV_WHARF_MAC;
  head.writeUInt16BE(MAC_LEN, 17 + alen);
  return Buffer.concat([head, mac(secret, head)]);
}

export type ProxyHeaderResult =
  | { kind: 'none' } // not a PROXY header: a direct client
  | { kind: 'more' } // could still be one: need more bytes
  | { kind: 'bad'; reason: string }
  | { kind: 'ok'; client: ClientAddress; length: number };

/** Parse a PROXY v2 header at the start of `buf` and check its MAC. */
export function parseProxyHeader(buf: Buffer, secret: Buffer): ProxyHeaderResult {
  const sig = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  if (!buf.subarray(0, sig).equals(PROXY_V2_SIGNATURE.subarray(0, sig))) return { kind: 'none' };
  if (buf.length < 16) return { kind: 'more' };
  if (buf[12] !== 0x21) return { kind: 'bad', reason: `PROXY v2 command 0x${buf[12]!.toString(16)} (only PROXY from a cluster member)` };
  const family = buf[13] === 0x11 ? 'IPv4' : buf[13] === 0x21 ? 'IPv6' : undefined;
  if (!family) return { kind: 'bad', reason: `PROXY v2 address family 0x${buf[13]!.toString(16)} (TCP over IPv4 or IPv6 only)` };
  const len = buf.readUInt16BE(14);
  if (16 + len > MAX_HEADER) return { kind: 'bad', reason: 'PROXY v2 header too long' };
  if (buf.length < 16 + len) return { kind: 'more' };
  const alen = family === 'IPv4' ? 12 : 36;
  const at = 16 + alen;
  if (len !== alen + 3 + MAC_LEN || buf[at] !== TLV_WHARF_MAC || buf.readUInt16BE(at + 1) !== MAC_LEN) return { kind: 'bad', reason: 'PROXY v2 header without a cluster MAC' };
  const want = mac(secret, buf.subarray(0, at + 3));
  if (!crypto.timingSafeEqual(want, buf.subarray(at + 3, at + 3 + MAC_LEN))) return { kind: 'bad', reason: 'PROXY v2 header with a wrong cluster MAC' };
  const n = family === 'IPv4' ? 4 : 16;
  const client: ClientAddress = { address: ipString(buf.subarray(16, 16 + n), family), port: buf.readUInt16BE(16 + 2 * n), family };
  return { kind: 'ok', client, length: 16 + len };
}

/**
 * Read what a new connection sends first, up to a whole PROXY header, and call `done` once it is known: with the
 * client address if a valid header was there (its bytes consumed), with none if not (every byte left unread for
 * the listener), or with an error (the connection should be refused). A connection silent for `waitMs` is
 * served as a direct one.
 */
export function readProxyHeader(socket: net.Socket, secret: Buffer, done: (r: { client?: ClientAddress; error?: string }) => void, waitMs = 2000): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (r: { client?: ClientAddress; error?: string }, rest: Buffer) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    if (rest.length > 0) socket.unshift(rest);
    done(r);
  };
  const onReadable = () => {
    let chunk: Buffer | null;
    while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const r = parseProxyHeader(buf, secret);
      if (r.kind === 'none') finish({}, buf);
      else if (r.kind === 'bad') finish({ error: r.reason }, Buffer.alloc(0));
      else if (r.kind === 'ok') finish({ client: r.client }, buf.subarray(r.length));
    }
  };
  const onEnd = () => finish({}, buf);
  const timer = setTimeout(() => finish({}, buf), waitMs);
  timer.unref();
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}

/**
 * Make `socket` report `client` as its peer (remoteAddress, remotePort, remoteFamily) — for Node's TLS and HTTP
 * servers wrapping it too, which ask the same handle. Returns false if this Node's sockets do not allow it.
 */
export function setPeerAddress(socket: net.Socket, client: ClientAddress): boolean {
  const s = socket as net.Socket & { _handle?: { getpeername?: (out: Record<string, unknown>) => number }; _peername?: unknown };
  const handle = s._handle;
  if (!handle || typeof handle.getpeername !== 'function') return false;
  handle.getpeername = (out) => {
    out.address = client.address;
    out.port = client.port;
    out.family = client.family;
    return 0;
  };
  s._peername = undefined;
  return socket.remoteAddress === client.address && socket.remotePort === client.port;
}
