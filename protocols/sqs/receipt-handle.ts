/**
 * SQS receipt handles: queue, delivery id and a random UUID nonce (unguessable, new for every receive), base64url.
 * A handle is valid while the adapter holds a receipt with that nonce for that delivery (the message is in flight
 * for that receive); a message received again gets a new nonce, so an old handle stops working, as in AWS.
 */
import { randomUUID } from 'node:crypto';
import type { Delivery } from '../../src/core/api.js';
import { sqsError } from '../aws/errors.js';
import { tenantOf, type QueueState, type Receipt } from './queue-state.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new receipt for a delivery a receive hands out. */
export function makeReceipt(st: QueueState, d: Delivery, fifo: boolean): Receipt {
  const nonce = randomUUID();
  const handle = Buffer.from(`${st.name}\n${d.id}\n${nonce}`, 'utf8').toString('base64url');
  return { delivery: d, nonce, handle, groupId: fifo ? d.message.groupId : undefined, tenant: fifo ? undefined : tenantOf(d) };
}

/** Decode a receipt handle of this queue: the delivery id and nonce, or ReceiptHandleIsInvalid. */
export function parseReceipt(name: string, handle: string): { id: number; nonce: string } {
  const invalid = () => sqsError('ReceiptHandleIsInvalid', `The input receipt handle "${handle.slice(0, 200)}" is not a valid receipt handle.`);
  if (!handle || handle.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(handle)) throw invalid();
  const parts = Buffer.from(handle, 'base64url').toString('utf8').split('\n');
  if (parts.length !== 3 || parts[0] !== name || !/^\d{1,15}$/.test(parts[1]) || !UUID_RE.test(parts[2])) throw invalid();
  return { id: Number(parts[1]), nonce: parts[2] };
}
