/** The batch actions' shared rules (SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch): entries in, Successful/Failed out. */
import type { AwsError } from '../aws/errors.js';
import { sqsError } from '../aws/errors.js';
import type { Input, Params } from '../aws/params.js';

const BATCH_ID_RE = /^[A-Za-z0-9_-]{1,80}$/;

/** A settle batch's answer: the entries whose outcome is null succeeded, the others failed with that error. */
export function batchResult(entries: unknown[], outcomes: Array<AwsError | null>): Record<string, unknown> {
  const Successful: Record<string, unknown>[] = [];
  const Failed: Record<string, unknown>[] = [];
  outcomes.forEach((o, i) => {
    const id = (entries[i] as Input).Id as string;
    if (o) Failed.push({ Id: id, SenderFault: o.fault === 'Sender', Code: o.queryCode, Message: o.message });
    else Successful.push({ Id: id });
  });
  return batchLists(Successful, Failed);
}

/** AWS leaves an empty Successful or Failed list out of a batch answer (the JSON protocol shows it). */
export function batchLists(Successful: unknown[], Failed: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Successful.length) out.Successful = Successful;
  if (Failed.length) out.Failed = Failed;
  return out;
}

export function checkBatch(p: Params, action: 'SendMessageBatch' | 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch'): unknown[] {
  const entries = p.optList('Entries');
  if (!entries || entries.length === 0) throw sqsError('EmptyBatchRequest', `There should be at least one ${action}RequestEntry in the request.`);
  if (entries.length > 10) throw sqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are 10. You have sent ${entries.length}.`);
  const ids = new Set<string>();
  for (const e of entries) {
    const ep = p.sub(e, 'Entries');
    const id = ep.str('Id');
    if (!BATCH_ID_RE.test(id)) throw sqsError('InvalidBatchEntryId', `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.`);
    if (ids.has(id)) throw sqsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    ids.add(id);
  }
  return entries;
}
