/**
 * SQS queues as definitions: what an export carries (name, attributes, tags) and how an import recreates them
 * through the same CreateQueue/SetQueueAttributes code an SDK call takes (validation, the redrive policy's core
 * override), so an imported queue is the queue a client would have made. ARNs in attributes name the exporting
 * broker's region and account; they are rewritten to this broker's.
 */
import { rewriteArns } from '../aws/arns.js';
import { AwsError } from '../aws/errors.js';
import { Params } from '../aws/params.js';
import type { QueueManager } from './queue-manager.js';
import type { QueueMeta } from './queue-attributes.js';
import type { RequestContext, SqsQueues } from './queues.js';

export interface SqsQueueDefinition {
  name: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

export interface SqsDefinitions {
  region: string;
  accountId: string;
  queues: SqsQueueDefinition[];
}

export type ItemOutcome = { name: string; outcome: 'created' | 'existing' } | { name: string; outcome: 'failed'; reason: string };

export function exportSqs(q: SqsQueues): SqsDefinitions {
  const queues = q.engine
    .kvEntries<QueueMeta>('sqs:queue:')
    .map(([, m]) => m)
    .filter((m) => q.exists(m.name))
    .map((m) => ({ name: m.name, attributes: { ...m.attributes }, tags: { ...m.tags } }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { region: q.region, accountId: q.accountId, queues };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strMap = (v: unknown): v is Record<string, string> => isObj(v) && Object.values(v).every((x) => typeof x === 'string');

/** The document's `sqs` part, checked: a shape error names the item. */
export function parseSqsDefinitions(value: unknown): SqsDefinitions {
  if (!isObj(value)) throw new Error('sqs: expected an object');
  const list = value.queues ?? [];
  if (!Array.isArray(list)) throw new Error('sqs.queues: expected a list');
  const queues = list.map((x, i) => {
    if (!isObj(x) || typeof x.name !== 'string' || !x.name) throw new Error(`sqs.queues[${i}].name: expected a non-empty string`);
    if (x.attributes !== undefined && !strMap(x.attributes)) throw new Error(`sqs.queues[${i}].attributes: expected a map of strings`);
    if (x.tags !== undefined && !strMap(x.tags)) throw new Error(`sqs.queues[${i}].tags: expected a map of strings`);
    return { name: x.name, attributes: (x.attributes as Record<string, string>) ?? {}, tags: (x.tags as Record<string, string>) ?? {} };
  });
  return { region: typeof value.region === 'string' ? value.region : '', accountId: typeof value.accountId === 'string' ? value.accountId : '', queues };
}

/**
 * Create the queues that do not exist. Dead-letter targets may come later in the list than their sources, so every
 * queue is created without its RedrivePolicy first and gets it in a second pass.
 */
export async function importSqs(q: SqsQueues, manager: QueueManager, defs: SqsDefinitions): Promise<ItemOutcome[]> {
  const ctx: RequestContext = { baseUrl: '', senderId: q.accountId, lenient: false };
  const redrives: Array<{ name: string; policy: string }> = [];
  const fail = (name: string, err: unknown): ItemOutcome => ({ name, outcome: 'failed', reason: reasonOf(err) });
  const seen = new Set<string>();
  const queues = defs.queues.filter((d) => !seen.has(d.name) && (seen.add(d.name), true));
  const out = await inBatches(queues, async (d): Promise<ItemOutcome> => {
    if (q.exists(d.name) && q.meta(d.name)) return { name: d.name, outcome: 'existing' };
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.attributes)) attributes[k] = rewriteArns(v, defs, q);
    const redrive = attributes.RedrivePolicy;
    delete attributes.RedrivePolicy;
    // older brokers stored FifoQueue=false on standard queues; CreateQueue refuses it now, as AWS does
    if (attributes.FifoQueue === 'false') delete attributes.FifoQueue;
    try {
      await manager.createQueue(new Params({ QueueName: d.name, Attributes: attributes, tags: d.tags }, false), ctx);
      if (redrive) redrives.push({ name: d.name, policy: redrive });
      return { name: d.name, outcome: 'created' };
    } catch (err) {
      return fail(d.name, err);
    }
  });
  const second = await inBatches(redrives, async (r): Promise<ItemOutcome | undefined> => {
    try {
      await manager.setQueueAttributes(new Params({ QueueUrl: r.name, Attributes: { RedrivePolicy: r.policy } }, false), ctx);
      return undefined;
    } catch (err) {
      // the queue exists, without the redrive policy its definition asked for: say so
      return { name: `${r.name}.RedrivePolicy`, outcome: 'failed', reason: `the queue was created without its RedrivePolicy: ${reasonOf(err)}` };
    }
  });
  return [...out, ...second.filter((x): x is ItemOutcome => x !== undefined)];
}

/**
 * Up to 64 queues at a time: each CreateQueue is a few store commits, and the engine gives the commits of one
 * event-loop turn one fsync (1,000 queues one by one took 17 s). Results in the order of the items.
 */
async function inBatches<T, R>(items: T[], fn: (t: T) => Promise<R>, size = 64): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

export function reasonOf(err: unknown): string {
  return err instanceof AwsError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}
