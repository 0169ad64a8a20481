/**
 * SQS queue attributes: the settable ones with their ranges and defaults, validation as AWS words it, and the
 * metadata record kept in the engine's kv store (`sqs:queue:<name>`).
 */
import { sqsError } from '../aws/errors.js';

export interface QueueMeta {
  name: string;
  /** Epoch seconds. */
  created: number;
  modified: number;
  /** Settable attributes as set (strings, as on the wire); defaults are filled in on read. */
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

type AttrDef = { kind: 'int'; min: number; max: number; def: string } | { kind: 'bool'; def?: string } | { kind: 'string'; def?: string } | { kind: 'enum'; values: string[]; def?: string } | { kind: 'json' };

export const SETTABLE: Record<string, AttrDef & { fifoOnly?: boolean; createOnly?: boolean }> = {
  DelaySeconds: { kind: 'int', min: 0, max: 900, def: '0' },
  // AWS raised the limit and the default to 1 MiB in 2025 (CreateQueue: "Default: 1,048,576 bytes (1 MiB)")
  MaximumMessageSize: { kind: 'int', min: 1024, max: 1048576, def: '1048576' },
  MessageRetentionPeriod: { kind: 'int', min: 60, max: 1209600, def: '345600' },
  ReceiveMessageWaitTimeSeconds: { kind: 'int', min: 0, max: 20, def: '0' },
  VisibilityTimeout: { kind: 'int', min: 0, max: 43200, def: '30' },
  Policy: { kind: 'json' },
  RedrivePolicy: { kind: 'json' },
  RedriveAllowPolicy: { kind: 'json' },
  KmsMasterKeyId: { kind: 'string' },
  KmsDataKeyReusePeriodSeconds: { kind: 'int', min: 60, max: 86400, def: '300' },
  SqsManagedSseEnabled: { kind: 'bool', def: 'true' },
  FifoQueue: { kind: 'bool', createOnly: true },
  ContentBasedDeduplication: { kind: 'bool', def: 'false', fifoOnly: true },
  DeduplicationScope: { kind: 'enum', values: ['messageGroup', 'queue'], def: 'queue', fifoOnly: true },
  FifoThroughputLimit: { kind: 'enum', values: ['perQueue', 'perMessageGroupId'], def: 'perQueue', fifoOnly: true },
};

export const READ_ONLY = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
];

export const ALL_NAMES = new Set([...Object.keys(SETTABLE), ...READ_ONLY]);

/** The definition of a settable attribute; only SETTABLE's own names (`toString` or `__proto__` is no attribute). */
export function settableDef(name: string): (typeof SETTABLE)[string] | undefined {
  return Object.hasOwn(SETTABLE, name) ? SETTABLE[name] : undefined;
}

export const QUEUE_NAME_RE = /^[A-Za-z0-9_-]{1,80}$/;

/** Queue name rules: 1–80 characters of A-Z a-z 0-9 _ -, FIFO queues end in `.fifo` (counted in the 80). */
export function validateQueueName(name: string): void {
  const base = name.endsWith('.fifo') ? name.slice(0, -5) : name;
  if (name.length > 80 || !QUEUE_NAME_RE.test(base)) {
    throw sqsError(
      'InvalidParameterValue',
      `Value ${name.slice(0, 100)} for parameter QueueName is invalid. Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.`,
    );
  }
}

const badValue = (name: string, why = '') => sqsError('InvalidAttributeValue', `Invalid value for the parameter ${name}.${why ? ' Reason: ' + why : ''}`);

/**
 * Normalise and check one settable attribute value. Cross-attribute rules (redrive targets, FIFO-only) are
 * checked by the caller, which knows the queues.
 */
export function normalizeAttribute(name: string, value: string, fifo: boolean): string {
  const def = settableDef(name);
  if (!def) throw sqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
  if (def.fifoOnly && !fifo) {
    // AWS's words differ per attribute
    if (name === 'ContentBasedDeduplication') throw sqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
    throw sqsError('InvalidAttributeName', `You can specify the ${name} only when FifoQueue is set to true.`);
  }
  switch (def.kind) {
    case 'int': {
      if (!/^\s*-?\d+\s*$/.test(value)) throw badValue(name);
      const n = Number(value);
      if (n < def.min || n > def.max) throw badValue(name, `must be between ${def.min} and ${def.max}`);
      return String(n);
    }
    case 'bool': {
      if (!/^(true|false)$/i.test(value)) throw badValue(name);
      return value.toLowerCase();
    }
    case 'enum':
      if (!def.values.includes(value)) throw badValue(name, `must be one of ${def.values.join(', ')}`);
      return value;
    case 'json':
      if (value === '') return '';
      try {
        const v = JSON.parse(value);
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      } catch {
        throw badValue(name, 'must be a JSON object');
      }
      return value;
    default:
      return value;
  }
}

export function defaultAttribute(name: string, fifo: boolean): string | undefined {
  const def = settableDef(name);
  if (!def) return undefined;
  if (def.fifoOnly && !fifo) return undefined;
  if (name === 'FifoQueue') return fifo ? 'true' : undefined;
  return 'def' in def ? def.def : undefined;
}

/** The effective value of a settable attribute. */
export function attr(meta: QueueMeta | undefined, name: string): string | undefined {
  const fifo = isFifoMeta(meta);
  const v = meta?.attributes[name];
  return v !== undefined && v !== '' ? v : defaultAttribute(name, fifo);
}

export function isFifoMeta(meta: QueueMeta | undefined): boolean {
  return meta?.attributes.FifoQueue === 'true';
}

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

export function parseRedrivePolicy(value: string | undefined): RedrivePolicy | undefined {
  if (!value) return undefined;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    const max = Number(v.maxReceiveCount);
    if (typeof v.deadLetterTargetArn !== 'string' || !Number.isInteger(max)) return undefined;
    return { deadLetterTargetArn: v.deadLetterTargetArn, maxReceiveCount: max };
  } catch {
    return undefined;
  }
}

export interface RedriveAllowPolicy {
  redrivePermission: 'allowAll' | 'denyAll' | 'byQueue';
  sourceQueueArns?: string[];
}

export function parseRedriveAllowPolicy(value: string | undefined): RedriveAllowPolicy | undefined {
  if (!value) return undefined;
  try {
    return JSON.parse(value) as RedriveAllowPolicy;
  } catch {
    return undefined;
  }
}

/** Check the shape of a RedrivePolicy; returns it normalised (`maxReceiveCount` a number). */
export function checkRedrivePolicyShape(value: string): RedrivePolicy {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(value);
  } catch {
    throw badValue('RedrivePolicy', 'must be a JSON object');
  }
  if (!v || typeof v !== 'object') throw badValue('RedrivePolicy', 'must be a JSON object');
  for (const k of Object.keys(v)) {
    if (k !== 'deadLetterTargetArn' && k !== 'maxReceiveCount') throw badValue('RedrivePolicy', `Unknown key ${k}`);
  }
  if (typeof v.deadLetterTargetArn !== 'string' || !v.deadLetterTargetArn) throw badValue('RedrivePolicy', 'Redrive policy does not contain a deadLetterTargetArn');
  const max = typeof v.maxReceiveCount === 'number' ? v.maxReceiveCount : typeof v.maxReceiveCount === 'string' && /^\d+$/.test(v.maxReceiveCount) ? Number(v.maxReceiveCount) : NaN;
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw badValue('RedrivePolicy', 'maxReceiveCount must be an integer between 1 and 1000');
  return { deadLetterTargetArn: v.deadLetterTargetArn, maxReceiveCount: max };
}

export function checkRedriveAllowPolicyShape(value: string): RedriveAllowPolicy {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(value);
  } catch {
    throw badValue('RedriveAllowPolicy', 'must be a JSON object');
  }
  const perm = v?.redrivePermission;
  if (perm !== 'allowAll' && perm !== 'denyAll' && perm !== 'byQueue') throw badValue('RedriveAllowPolicy', 'redrivePermission must be allowAll, denyAll or byQueue');
  const arns = v.sourceQueueArns;
  if (perm === 'byQueue') {
    if (!Array.isArray(arns) || arns.length < 1 || arns.length > 10 || !arns.every((a) => typeof a === 'string')) {
      throw badValue('RedriveAllowPolicy', 'byQueue needs sourceQueueArns with 1 to 10 queue ARNs');
    }
  } else if (arns !== undefined) {
    throw badValue('RedriveAllowPolicy', 'sourceQueueArns is only allowed with redrivePermission byQueue');
  }
  return { redrivePermission: perm, sourceQueueArns: arns as string[] | undefined };
}
