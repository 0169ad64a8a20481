/**
 * Raft messages on the wire: msgpack (msgpackr, plain maps, no record extension so frames are self-contained).
 * Entry and snapshot data travel as msgpack `bin` and decode as views of the frame.
 */
import { Packr } from 'msgpackr';
import type { Message } from '../raft/index.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeRaftMessage(m: Message): Buffer {
  // pack() returns a view of packr's reusable buffer: copy it.
  return Buffer.from(packr.pack(m));
}

/**
 * `[u32 BE length][msgpack]`: a message as a transport frame (tcp.ts). One copy of the packed bytes (entry data
 * included), straight into the frame.
 */
export function encodeRaftFrame(m: Message): Buffer {
  const body = packr.pack(m); // a view of packr's reusable buffer, copied below before the next pack
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

// `nodeStatus`: a member's resource report to the leader (src/app/cluster.ts), on the same links, not for the core.
const TYPES = new Set(['app', 'appResp', 'heartbeat', 'heartbeatResp', 'vote', 'preVote', 'voteResp', 'preVoteResp', 'snap', 'snapResp', 'timeoutNow', 'nodeStatus']);

/** Decode a frame; throws on anything that is not a Raft message (shape checked shallowly). */
export function decodeRaftMessage(buf: Uint8Array): Message {
  const m = packr.unpack(buf) as Record<string, unknown> | null;
  if (
    typeof m !== 'object' || m === null || typeof m.type !== 'string' || !TYPES.has(m.type) ||
    typeof m.from !== 'number' || typeof m.to !== 'number' || typeof m.term !== 'number'
  ) {
    throw new Error('malformed Raft message');
  }
  if (m.type === 'app') {
    if (!Array.isArray(m.entries)) throw new Error('malformed Raft message: entries');
    for (const e of m.entries as Record<string, unknown>[]) {
      if (typeof e !== 'object' || e === null || typeof e.index !== 'number' || typeof e.term !== 'number' || !(e.data instanceof Uint8Array)) {
        throw new Error('malformed Raft message: entry');
      }
    }
  }
  return m as unknown as Message;
}
