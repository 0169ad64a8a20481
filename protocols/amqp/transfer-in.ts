/**
 * Incoming transfer frames (AMQP 1.0 §2.7.5) read without rhea's generic decoder.
 *
 * rhea decodes every frame into typed values, wraps them in a composite performative with property
 * getters, then dispatches it by name. A plain transfer — handle, delivery-id, delivery-tag,
 * message-format, settled, more, and nothing else but nulls — is the one frame that comes per message,
 * so it is read here field by field into a plain object with the same field values rhea's composite
 * gives, and handed to rhea's connection exactly where rhea's own dispatch would hand it
 * (`on_transfer`): rhea's session and link bookkeeping run unchanged. Every other frame, and any transfer
 * carrying more (a delivery state, rcv-settle-mode, resume, aborted, batchable, a multi-byte boolean),
 * goes through rhea's reader as before.
 */
import { protocolError, type RConnection, type RSession } from './rhea.js';

/** rhea's transport, the fields read here. */
interface Transport {
  header_received?: unknown;
  read_complete: boolean;
  handler: { on_transfer(frame: unknown): void; remote?: { close?: unknown } };
  read(buffer: Buffer): number;
}

/** The fields of a transfer as rhea's composite presents them (absent: undefined, encoded null: null). */
class PlainTransfer {
  constructor(
    readonly handle: number,
    readonly delivery_id: number | null | undefined,
    readonly delivery_tag: Buffer | null | undefined,
    readonly message_format: number | null | undefined,
    readonly settled: boolean | null | undefined,
    readonly more: boolean | null | undefined,
  ) {}
  /** rhea reads the raw delivery state as `value[7]`: none here. */
  readonly value: readonly unknown[] = NO_VALUES;
  readonly state = undefined;
}

const NO_VALUES: readonly unknown[] = Object.freeze([]);
/** What readField returns for a field it cannot read (the frame then goes to rhea). */
const UNREADABLE = Symbol('unreadable');

type Field = number | boolean | Buffer | null | typeof UNREADABLE;

/** Position after the last field read (module state: reading is synchronous). */
let at = 0;

function readUint(b: Buffer, end: number): number | null | typeof UNREADABLE {
  if (at >= end) return UNREADABLE;
  switch (b[at]) {
    case 0x40:
      at += 1;
      return null;
    case 0x43:
      at += 1;
      return 0;
    case 0x52:
      if (at + 2 > end) return UNREADABLE;
      at += 2;
      return b[at - 1]!;
    case 0x70:
      if (at + 5 > end) return UNREADABLE;
      at += 5;
      return b.readUInt32BE(at - 4);
    default:
      return UNREADABLE;
  }
}

function readBool(b: Buffer, end: number): boolean | null | typeof UNREADABLE {
  if (at >= end) return UNREADABLE;
  switch (b[at]) {
    case 0x40:
      at += 1;
      return null;
    case 0x41:
      at += 1;
      return true;
    case 0x42:
      at += 1;
      return false;
    default:
      return UNREADABLE;
  }
}

function readBinary(b: Buffer, end: number): Buffer | null | typeof UNREADABLE {
  if (at >= end) return UNREADABLE;
  const code = b[at];
  if (code === 0x40) {
    at += 1;
    return null;
  }
  let start: number;
  let len: number;
  if (code === 0xa0) {
    if (at + 2 > end) return UNREADABLE;
    len = b[at + 1]!;
    start = at + 2;
  } else if (code === 0xb0) {
    if (at + 5 > end) return UNREADABLE;
    len = b.readUInt32BE(at + 1);
    start = at + 5;
  } else return UNREADABLE;
  if (start + len > end) return UNREADABLE;
  at = start + len;
  return b.subarray(start, at);
}

/** The frame [off, off+size) as a transfer rhea can take, or null when rhea's reader must read it. */
export function readPlainTransfer(b: Buffer, off: number, size: number): { channel: number; type: number; performative: PlainTransfer; payload?: Buffer } | null {
  const frameEnd = off + size;
  // doff 2 (no extended header), type 0 (AMQP), descriptor 0x00 0x53 0x14 (transfer)
  if (size < 12 || b[off + 4] !== 2 || b[off + 5] !== 0 || b[off + 8] !== 0x00 || b[off + 9] !== 0x53 || b[off + 10] !== 0x14) return null;
  let count: number;
  let listEnd: number;
  const code = b[off + 11];
  if (code === 0xc0) {
    if (off + 14 > frameEnd) return null;
    listEnd = off + 13 + b[off + 12]!;
    count = b[off + 13]!;
    at = off + 14;
  } else if (code === 0xd0) {
    if (off + 20 > frameEnd) return null;
    listEnd = off + 16 + b.readUInt32BE(off + 12);
    count = b.readUInt32BE(off + 16);
    at = off + 20;
  } else return null;
  if (count < 1 || listEnd > frameEnd) return null;
  const handle = readUint(b, listEnd);
  if (handle === UNREADABLE || handle === null) return null;
  const f: Array<Field | undefined> = [undefined, undefined, undefined, undefined, undefined];
  for (let i = 1; i < count; i++) {
    let v: Field;
    switch (i) {
      case 1:
      case 3:
        v = readUint(b, listEnd);
        break;
      case 2:
        v = readBinary(b, listEnd);
        break;
      case 4:
      case 5:
        v = readBool(b, listEnd);
        break;
      default:
        // rcv-settle-mode, state, resume, aborted, batchable: only when null
        if (at < listEnd && b[at] === 0x40) {
          at += 1;
          continue;
        }
        return null;
    }
    if (v === UNREADABLE) return null;
    f[i - 1] = v;
  }
  if (at !== listEnd) return null;
  const performative = new PlainTransfer(handle, f[0] as number | null | undefined, f[1] as Buffer | null | undefined, f[2] as number | null | undefined, f[3] as boolean | null | undefined, f[4] as boolean | null | undefined);
  const frame: { channel: number; type: number; performative: PlainTransfer; payload?: Buffer } = { channel: b.readUInt16BE(off + 6), type: 0, performative };
  if (listEnd < frameEnd) frame.payload = b.subarray(listEnd, frameEnd);
  return frame;
}

/**
 * Read plain transfers of this connection's input with `readPlainTransfer`; everything else (the protocol
 * header, every other frame) goes frame by frame to rhea's own reader, in order. `beforeOther` runs before a
 * frame that may depend on the transfers before it (the adapter starts their sends): every frame but a plain
 * transfer, flow or disposition.
 */
export function installTransferReader(rconn: RConnection, beforeOther: () => void): void {
  const t = (rconn as unknown as { amqp_transport?: Transport }).amqp_transport;
  if (!t) return;
  const rheaRead = t.read;
  t.read = function (this: Transport, buffer: Buffer): number {
    if (!this.header_received) return rheaRead.call(this, buffer);
    let offset = 0;
    while (offset < buffer.length - 4 && !this.read_complete) {
      const size = buffer.readUInt32BE(offset);
      if (buffer.length < offset + size) break;
      // after the peer's close rhea's read skips every frame (patch: transport.js): transfers too
      const frame = size >= 8 && !this.handler.remote?.close ? readPlainTransfer(buffer, offset, size) : null;
      if (frame) {
        offset += size;
        this.handler.on_transfer(frame);
        continue;
      }
      if (size < 8 || !independent(buffer, offset, size)) beforeOther();
      const read = rheaRead.call(this, buffer.subarray(offset, offset + size));
      if (read === 0) break;
      offset += read;
    }
    return offset;
  };
}

/** AMQP 1.0 §2.7 descriptor codes of the performatives that do not depend on the transfers before them. */
const FLOW = 0x13;
const TRANSFER = 0x14;
const DISPOSITION = 0x15;

/** Whether the frame at `off` is a flow, transfer or disposition (read from its small-ulong descriptor). */
function independent(b: Buffer, off: number, size: number): boolean {
  const body = off + b[off + 4]! * 4;
  if (body + 3 > off + size || b[body] !== 0x00 || b[body + 1] !== 0x53) return false;
  const code = b[body + 2];
  return code === FLOW || code === TRANSFER || code === DISPOSITION;
}

// ------------------------------------------------------------------------------------ deliveries

/** rhea's incoming half of a session, the fields `onIncomingTransfer` reads and advances. */
interface Incoming {
  next_transfer_id: number;
  next_delivery_id: number | undefined;
  deliveries: { push(d: unknown): void };
  update(delivery: InDelivery, settled: boolean, state: unknown): void;
  on_transfer(frame: TransferFrame, receiver: ReceiverLink): void;
}

interface TransferFrame {
  performative: {
    delivery_id?: number | null;
    delivery_tag?: Buffer | null;
    message_format?: number | null;
    settled?: boolean | null;
    more?: boolean | null;
    aborted?: boolean | null;
    state?: unknown;
    value: readonly unknown[];
  };
  payload?: Buffer;
}

interface ReceiverLink {
  name: string;
  credit: number;
  delivery_count: number;
  max_incoming_message_size?: number;
  local: { attach: { rcv_settle_mode?: number } };
  _incomplete?: InDelivery;
  is_remote_open(): boolean;
  dispatch(event: string, context: unknown): unknown;
}

/**
 * An incoming delivery as rhea's session keeps it (id, tag, format, link, settled/state for the disposition,
 * remote_settled/remote_state/raw_state from the transfer), with `update` on the prototype instead of five
 * closures per delivery.
 */
class InDelivery {
  settled = false;
  state: unknown = undefined;
  incomplete: boolean | null | undefined = false;
  frames: Buffer[] | undefined;
  size: number;
  readonly remote_settled: boolean;
  readonly remote_state: unknown;
  readonly raw_state: unknown;
  /** Ours: what the adapter attaches to a delivery. */
  wharf?: unknown;

  constructor(
    private readonly incoming: Incoming,
    readonly link: ReceiverLink,
    readonly id: number,
    readonly tag: Buffer | null | undefined,
    readonly format: number | null | undefined,
    frame: TransferFrame,
  ) {
    const perf = frame.performative;
    this.remote_settled = perf.settled === undefined ? false : (perf.settled as boolean);
    this.remote_state = perf.state;
    this.raw_state = perf.value[7];
    this.frames = frame.payload ? [frame.payload] : [];
    this.size = frame.payload ? frame.payload.length : 0;
  }

  update(settled: boolean | undefined, state?: unknown): void {
    this.incoming.update(this, settled === undefined ? this.link.local.attach.rcv_settle_mode !== 1 : settled, state);
  }
}

/**
 * rhea's `Incoming.on_transfer` (with the patched size limit and raw message bytes), allocating one delivery
 * object per message and handing the link's 'message' listener only what it reads: receiver, delivery, raw.
 */
function onIncomingTransfer(this: Incoming, frame: TransferFrame, receiver: ReceiverLink): void {
  this.next_transfer_id++;
  if (!receiver.is_remote_open()) throw new Error('transfer after detach');
  const perf = frame.performative;
  if (this.next_delivery_id === undefined) this.next_delivery_id = perf.delivery_id as number;
  let current = receiver._incomplete;
  if (perf.aborted) return onAborted(this, frame, receiver);
  if (current) {
    if (perf.delivery_id !== undefined && perf.delivery_id !== null && current.id !== perf.delivery_id) {
      throw new Error(`frame sequence error: delivery ${current.id} not complete, got ${perf.delivery_id}`);
    }
    if (frame.payload) {
      current.frames!.push(frame.payload);
      current.size += frame.payload.length;
    }
  } else if (this.next_delivery_id === perf.delivery_id) {
    current = new InDelivery(this, receiver, perf.delivery_id, perf.delivery_tag, perf.message_format, frame);
    this.deliveries.push(current);
    this.next_delivery_id++;
  } else {
    throw new Error(`frame sequence error: expected ${this.next_delivery_id}, got ${perf.delivery_id}`);
  }
  current.incomplete = perf.more;
  if (receiver.max_incoming_message_size && current.size > receiver.max_incoming_message_size) {
    throw protocolError(`message of more than ${receiver.max_incoming_message_size} bytes on link ${receiver.name}`, 'amqp:link:message-size-exceeded');
  }
  if (current.incomplete) {
    receiver._incomplete = current;
    return;
  }
  receiver._incomplete = undefined;
  const parts = current.frames!;
  const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  current.frames = undefined;
  // credit is enforced by the adapter (it counts transfers per link)
  if (receiver.credit > 0) receiver.credit--;
  receiver.delivery_count++;
  receiver.dispatch('message', { receiver, delivery: current, raw: data, format: current.format });
}

/**
 * §2.7.5: an aborted delivery is discarded (the payload of the aborting frame too) and implicitly settled, so no
 * disposition goes back; it still took the link credit and a delivery-id, which the 'aborted' listener (the
 * adapter's credit count) is told of. rhea ignores `aborted`: it handed the partial bytes on as a message.
 */
function onAborted(incoming: Incoming, frame: TransferFrame, receiver: ReceiverLink): void {
  const perf = frame.performative;
  const current = receiver._incomplete;
  if (current) {
    if (perf.delivery_id !== undefined && perf.delivery_id !== null && current.id !== perf.delivery_id) {
      throw new Error(`frame sequence error: delivery ${current.id} not complete, got ${perf.delivery_id}`);
    }
    receiver._incomplete = undefined;
    current.frames = undefined;
    current.incomplete = false;
    // settled: rhea's session drops it from its list of unsettled deliveries without a disposition
    current.settled = true;
  } else if (incoming.next_delivery_id === perf.delivery_id) {
    // aborted in its first frame: nothing to discard but the delivery-id
    incoming.next_delivery_id = (incoming.next_delivery_id as number) + 1;
  } else {
    throw new Error(`frame sequence error: expected ${incoming.next_delivery_id}, got ${perf.delivery_id}`);
  }
  if (receiver.credit > 0) receiver.credit--;
  receiver.delivery_count++;
  receiver.dispatch('aborted', { receiver });
}

/** Incoming transfers of this session are taken by `onIncomingTransfer` (their receivers use raw messages). */
export function installDeliveryReader(rs: RSession): void {
  (rs as unknown as { incoming: Incoming }).incoming.on_transfer = onIncomingTransfer;
}
