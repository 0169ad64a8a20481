/**
 * Outgoing transfer frames (AMQP 1.0 §2.7.5) written directly, one buffer per frame.
 *
 * rhea builds each transfer as a composite performative object, encodes it with its generic typed
 * writer, copies the payload behind it, and restarts the heart-beat timer, for every frame: on the
 * delivery path that was more CPU than encoding the message itself. Here a session's pending
 * deliveries are written by `writeTransfers` in place of that step of rhea's `Outgoing.process`, with
 * rhea's bookkeeping (delivery and transfer ids, windows, link credit and delivery-count) updated exactly
 * as rhea does; rhea's own `process` then runs as before for what is left (dispositions, settled
 * deliveries, outcome events) and finds no transfer pending.
 */
import type { RLink, RSession } from './rhea.js';

/** rhea's outgoing half of a session, the fields this module reads and advances. */
interface Outgoing {
  deliveries: { by_id(id: number): OutDelivery | undefined };
  next_delivery_id: number;
  next_pending_delivery: number;
  next_transfer_id: number;
  window: number;
  transfer_window(): number;
  process(): void;
}

interface OutDelivery {
  id: number;
  tag: Buffer;
  link: RLink & { has_credit(): boolean };
  data: Buffer[];
  format: number;
  next_to_send: number;
  settled: boolean;
  remote_settled: boolean;
}

function uintSize(v: number): number {
  return v === 0 ? 1 : v < 256 ? 2 : 5;
}

function putUint(b: Buffer, p: number, v: number): number {
  if (v === 0) {
    b[p] = 0x43;
    return p + 1;
  }
  if (v < 256) {
    b[p] = 0x52;
    b[p + 1] = v;
    return p + 2;
  }
  b[p] = 0x70;
  b.writeUInt32BE(v >>> 0, p + 1);
  return p + 5;
}

/**
 * One transfer frame: frame header, the transfer performative (handle, delivery-id, delivery-tag,
 * message-format, settled, and more only when set: an absent field is its default, false), then the payload.
 */
export function encodeTransfer(channel: number, handle: number, deliveryId: number, tag: Buffer, format: number, settled: boolean, more: boolean, payload: Buffer): Buffer {
  const tagSize = (tag.length < 256 ? 2 : 5) + tag.length;
  const fields = uintSize(handle) + uintSize(deliveryId) + tagSize + uintSize(format) + 1 + (more ? 1 : 0);
  const small = fields + 1 < 256;
  const list = small ? 3 + fields : 9 + fields;
  const size = 8 + 3 + list + payload.length;
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(size, 0);
  b[4] = 2;
  b[5] = 0;
  b.writeUInt16BE(channel, 6);
  b[8] = 0x00;
  b[9] = 0x53;
  b[10] = 0x14;
  let p = 11;
  const count = more ? 6 : 5;
  if (small) {
    b[p] = 0xc0;
    b[p + 1] = fields + 1;
    b[p + 2] = count;
    p += 3;
  } else {
    b[p] = 0xd0;
    b.writeUInt32BE(fields + 4, p + 1);
    b.writeUInt32BE(count, p + 5);
    p += 9;
  }
  p = putUint(b, p, handle);
  p = putUint(b, p, deliveryId >>> 0);
  if (tag.length < 256) {
    b[p] = 0xa0;
    b[p + 1] = tag.length;
    p += 2;
  } else {
    b[p] = 0xb0;
    b.writeUInt32BE(tag.length, p + 1);
    p += 5;
  }
  p += tag.copy(b, p);
  p = putUint(b, p, format);
  b[p++] = settled ? 0x41 : 0x42;
  if (more) b[p++] = 0x41;
  payload.copy(b, p);
  return b;
}

/**
 * Write the session's pending transfers for which there is link credit and session window, as rhea's
 * `Outgoing.process` would, through `write` (the connection's output, in order with rhea's own frames).
 */
function writeTransfers(out: Outgoing, channel: number, write: (b: Buffer) => void): void {
  while (out.next_pending_delivery < out.next_delivery_id) {
    const d = out.deliveries.by_id(out.next_pending_delivery);
    if (!d || !d.link.has_credit()) return;
    const n = Math.min(out.transfer_window(), d.data.length - d.next_to_send);
    if (n <= 0) return;
    out.window -= n;
    const end = d.next_to_send + n;
    const handle = d.link.local.handle;
    for (let i = d.next_to_send; i < end; i++) {
      out.next_transfer_id++;
      write(encodeTransfer(channel, handle, d.id, d.tag, d.format, d.settled, i + 1 < d.data.length, d.data[i]!));
    }
    if (end < d.data.length) {
      d.next_to_send = end;
      return;
    }
    if (d.settled) d.remote_settled = true;
    d.link.credit--;
    d.link.delivery_count++;
    out.next_pending_delivery++;
  }
}

/** What a disposition from the peer did to one of our deliveries: its outcome's name, then 'settled'. */
export type OutcomeListener = (delivery: unknown, outcome: string) => void;

/**
 * The deliveries a disposition updated, handed to `listener` directly. rhea raised an event per outcome and
 * another for 'settled' per delivery, each through the link with a context object, and settled the delivery
 * on our side in its 'settled' observer (senders here are created with `autosettle`); that is done here too.
 */
function notifyUpdated(out: Outgoing & { updated: Array<{ remote_state?: { constructor: { composite_type?: string } }; remote_settled: boolean; settled: boolean }> }, listener: OutcomeListener): void {
  const updated = out.updated;
  if (updated.length === 0) return;
  out.updated = [];
  for (const d of updated) {
    const type = d.remote_state?.constructor.composite_type;
    if (type) listener(d, type);
    if (d.remote_settled) {
      d.settled = true;
      listener(d, 'settled');
    }
  }
}

/**
 * Route the session's transfers through `writeTransfers` and its updated deliveries to `onOutcome`. `ready`
 * says whether rhea would write now (its socket is attached and open for writing); when it would not,
 * rhea's own path keeps the transfers pending.
 */
export function installTransferWriter(rs: RSession, write: (b: Buffer) => void, ready: () => boolean, onOutcome: OutcomeListener): void {
  const out = (rs as unknown as { outgoing: Outgoing & { updated: [] } }).outgoing;
  const rheaProcess = out.process;
  out.process = function (this: Outgoing & { updated: [] }) {
    if (ready()) writeTransfers(this, rs.local.channel, write);
    notifyUpdated(this, onOutcome);
    rheaProcess.call(this);
  };
}

// ------------------------------------------------------------------------------------ dispositions in

interface DispositionFields {
  first: number;
  last?: number | null;
  settled?: boolean;
  state?: unknown;
}

interface Settleable {
  id: number;
  remote_settled: boolean;
  remote_state?: unknown;
}

interface OutgoingDeliveries {
  deliveries: { get_head(): Settleable | undefined; get_tail(): Settleable | undefined; by_id(id: number): Settleable | undefined };
  updated: Settleable[];
  on_disposition(fields: DispositionFields): void;
}

/**
 * rhea's `Outgoing.on_disposition` (with the patched range clamp), unwrapping the outcome once per frame: a
 * client settles a run of deliveries with one disposition, and rhea built the same outcome object once per
 * delivery of the range. Deliveries only read their `remote_state`.
 */
export function installDispositionReader(rs: RSession, unwrapOutcome: (raw: unknown) => unknown): void {
  const out = (rs as unknown as { outgoing: OutgoingDeliveries }).outgoing;
  out.on_disposition = function (this: OutgoingDeliveries, fields: DispositionFields): void {
    const head = this.deliveries.get_head();
    const tail = this.deliveries.get_tail();
    if (!head || !tail) return;
    const first = Math.max(fields.first, head.id);
    const last = Math.min(fields.last ? fields.last : fields.first, tail.id);
    let state: unknown;
    for (let i = first; i <= last; i++) {
      const d = this.deliveries.by_id(i);
      if (!d || d.remote_settled) continue;
      let updated = false;
      if (fields.settled) {
        d.remote_settled = fields.settled;
        updated = true;
      }
      if (fields.state && fields.state !== d.remote_state) {
        state ??= unwrapOutcome(fields.state);
        d.remote_state = state;
        updated = true;
      }
      if (updated) this.updated.push(d);
    }
  };
}
