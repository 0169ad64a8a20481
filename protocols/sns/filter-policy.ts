/**
 * SNS subscription filter policies: validation (with errors worded like SNS's) and matching, over message
 * attributes (`FilterPolicyScope: MessageAttributes`, the default) or over a JSON message body (`MessageBody`).
 *
 * Supported: exact strings, numbers, booleans and null; `prefix`, `suffix`, `equals-ignore-case`, `anything-but`
 * (value, list, `prefix`, `suffix`), `numeric` ranges, `exists`, `cidr` (IPv4/IPv6), `$or`, nested keys (body).
 * Keys are ANDed, the values in a key's list ORed; arrays in the message match when any element matches.
 */
import { isIP } from 'node:net';

export type FilterScope = 'MessageAttributes' | 'MessageBody';

export class FilterPolicyError extends Error {
  /** AWS words a few errors without the `FilterPolicy: ` prefix. */
  constructor(
    message: string,
    readonly unprefixed = false,
  ) {
    super(message);
  }
}

const MAX_COMBINATIONS = 150;
const MAX_DEPTH = 5;
const MAX_KEYS = 5;
const OPS = new Set(['<', '<=', '=', '>', '>=']);

type Cond = unknown;

export interface FilterAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: Buffer;
}

/** Parse and check a policy; returns the parsed object. Throws FilterPolicyError with the reason. */
export function parseFilterPolicy(text: string, scope: FilterScope): Record<string, unknown> {
  let policy: unknown;
  try {
    policy = JSON.parse(text);
  } catch (err) {
    throw new FilterPolicyError(`failed to parse JSON. ${(err as Error).message}`);
  }
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) throw new FilterPolicyError('Filter policy must be a JSON object');
  // AWS: at most five keys (of a nested policy, the top-level ones) and 150 combinations of values
  if (Object.keys(policy).length > MAX_KEYS) throw new FilterPolicyError(`Filter policy can not have more than ${MAX_KEYS} keys`);
  const combos = checkObject(policy as Record<string, unknown>, scope, 1);
  if (combos > MAX_COMBINATIONS) throw new FilterPolicyError('Filter policy is too complex');
  return policy as Record<string, unknown>;
}

/** Validate one level; returns the number of value combinations it contributes. */
function checkObject(o: Record<string, unknown>, scope: FilterScope, depth: number): number {
  if (depth > MAX_DEPTH) throw new FilterPolicyError(`Filter policy can not have more than ${MAX_DEPTH} levels of nesting`);
  const keys = Object.keys(o);
  if (keys.length === 0) throw new FilterPolicyError('Empty objects are not allowed');
  let combos = 1;
  for (const k of keys) {
    const v = o[k];
    if (k === '$or') {
      if (!Array.isArray(v) || v.length < 2) throw new FilterPolicyError('$or must be an array of at least two objects');
      let sum = 0;
      for (const alt of v) {
        if (!alt || typeof alt !== 'object' || Array.isArray(alt)) throw new FilterPolicyError('$or must contain objects');
        sum += checkObject(alt as Record<string, unknown>, scope, depth);
      }
      combos *= sum;
      continue;
    }
    // as AWS: an object is checked inside first, so the error names the innermost key
    if (Array.isArray(v)) {
      if (v.length === 0) throw new FilterPolicyError('Empty arrays are not allowed');
      for (const c of v) checkCondition(c);
      combos *= v.length;
    } else if (v && typeof v === 'object') {
      combos *= checkObject(v as Record<string, unknown>, scope, depth + 1);
    } else {
      throw new FilterPolicyError(`"${k}" must be an object or an array`);
    }
  }
  if (scope === 'MessageAttributes' && depth > 1) throw new FilterPolicyError('Filter policy scope MessageAttributes does not support nested filter policy', true);
  return combos;
}

function checkCondition(c: Cond): void {
  if (c === null || typeof c === 'string' || typeof c === 'boolean') return;
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) throw new FilterPolicyError('Match value must be String, number, true, false, or null');
    return;
  }
  if (Array.isArray(c) || typeof c !== 'object') throw new FilterPolicyError('Match value must be String, number, true, false, or null');
  const entries = Object.entries(c as Record<string, unknown>);
  if (entries.length !== 1) throw new FilterPolicyError('Only one key allowed in match expression');
  const [op, arg] = entries[0];
  switch (op) {
    case 'prefix':
    case 'suffix':
      if (typeof arg === 'string') return;
      if (arg && typeof arg === 'object' && !Array.isArray(arg) && typeof (arg as Record<string, unknown>)['equals-ignore-case'] === 'string') return;
      throw new FilterPolicyError(`${op} match pattern must be a string`);
    case 'equals-ignore-case':
      if (typeof arg !== 'string') throw new FilterPolicyError('equals-ignore-case match pattern must be a string');
      return;
    case 'exists':
      if (typeof arg !== 'boolean') throw new FilterPolicyError('exists match pattern must be either true or false.');
      return;
    case 'anything-but': {
      if (typeof arg === 'string' || typeof arg === 'number') return;
      if (Array.isArray(arg)) {
        if (arg.length === 0 || !arg.every((x) => typeof x === 'string' || typeof x === 'number')) throw new FilterPolicyError('Inside anything but list, start|null|boolean is not supported.');
        return;
      }
      if (arg && typeof arg === 'object') {
        const inner = Object.entries(arg as Record<string, unknown>);
        for (const [op2] of inner) if (!['prefix', 'suffix', 'equals-ignore-case'].includes(op2)) throw new FilterPolicyError(`Unsupported anything-but pattern: ${op2}`);
        if (inner.length === 1 && (typeof inner[0][1] === 'string' || Array.isArray(inner[0][1]))) return;
      }
      throw new FilterPolicyError('Value of anything-but must be an array or single string/number value.');
    }
    case 'numeric':
      checkNumeric(arg);
      return;
    case 'cidr':
      checkCidr(arg);
      return;
    default:
      throw new FilterPolicyError(`Unrecognized match type ${op}`);
  }
}

/** A numeric condition, checked term by term in the order (and words) of AWS's parser. */
function checkNumeric(arg: unknown): void {
  const terms = Array.isArray(arg) ? [...arg] : [arg];
  if (terms.length === 0) throw new FilterPolicyError('Invalid member in numeric match: ]');
  const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const op = terms.shift();
  if (typeof op !== 'string') throw new FilterPolicyError(`Invalid member in numeric match: ${String(op)}`);
  if (!OPS.has(op)) throw new FilterPolicyError(`Unrecognized numeric range operator: ${op}`);
  const value = terms.shift();
  if (!isNum(value)) throw new FilterPolicyError(`Value of ${op === '=' ? 'equals' : op} must be numeric`);
  if (terms.length === 0) return;
  if (op !== '>' && op !== '>=') throw new FilterPolicyError('Too many elements in numeric expression');
  const op2 = terms.shift();
  if (typeof op2 !== 'string') throw new FilterPolicyError(`Bad value in numeric range: ${String(op2)}`);
  if (op2 !== '<' && op2 !== '<=') throw new FilterPolicyError(`Bad numeric range operator: ${op2}`);
  const value2 = terms.shift();
  if (!isNum(value2)) throw new FilterPolicyError(`Value of ${op2} must be numeric`);
  if (value2 <= value) throw new FilterPolicyError('Bottom must be less than top');
  if (terms.length) throw new FilterPolicyError('Too many terms in numeric range expression');
}

function checkCidr(arg: unknown): void {
  // AWS's parser reads a cidr value as it reads a prefix
  if (typeof arg !== 'string') throw new FilterPolicyError('prefix match pattern must be a string');
  const parts = arg.split('/');
  if (parts.length !== 2) throw new FilterPolicyError("Malformed CIDR, one '/' required");
  if (!/^-?\d+$/.test(parts[1])) throw new FilterPolicyError('Malformed CIDR, mask bits must be an integer');
  if (!parseCidr(arg)) throw new FilterPolicyError(`Nonstandard IP address: ${parts[0]}`);
}

// ------------------------------------------------------------------------------------------ matching

type Val = string | number | boolean | null;

function matchOne(c: Cond, values: Val[], present: boolean): boolean {
  if (c !== null && typeof c === 'object' && !Array.isArray(c)) {
    const [op, arg] = Object.entries(c as Record<string, unknown>)[0];
    if (op === 'exists') return (arg as boolean) === present;
    if (!present) return false;
    switch (op) {
      case 'prefix':
        return values.some((v) => typeof v === 'string' && prefixMatch(arg, v, (a, b) => b.startsWith(a)));
      case 'suffix':
        return values.some((v) => typeof v === 'string' && prefixMatch(arg, v, (a, b) => b.endsWith(a)));
      case 'equals-ignore-case':
        return values.some((v) => typeof v === 'string' && v.toLowerCase() === (arg as string).toLowerCase());
      case 'anything-but':
        return values.length > 0 && values.every((v) => !anythingButHit(arg, v));
      case 'numeric':
        return values.some((v) => typeof v === 'number' && numericMatch(arg as Array<string | number>, v));
      case 'cidr':
        return values.some((v) => typeof v === 'string' && cidrMatch(arg as string, v));
      default:
        return false;
    }
  }
  if (!present) return false;
  if (typeof c === 'number') return values.some((v) => typeof v === 'number' && v === c);
  return values.some((v) => v === c);
}

function prefixMatch(arg: unknown, v: string, f: (a: string, b: string) => boolean): boolean {
  if (typeof arg === 'string') return f(arg, v);
  const ic = (arg as Record<string, string>)['equals-ignore-case'];
  return f(ic.toLowerCase(), v.toLowerCase());
}

function anythingButHit(arg: unknown, v: Val): boolean {
  if (Array.isArray(arg)) return arg.some((x) => x === v);
  if (arg && typeof arg === 'object') {
    const [k, x] = Object.entries(arg as Record<string, unknown>)[0];
    const list = Array.isArray(x) ? (x as string[]) : [x as string];
    if (typeof v !== 'string') return false;
    if (k === 'prefix') return list.some((p) => v.startsWith(p));
    if (k === 'suffix') return list.some((p) => v.endsWith(p));
    if (k === 'equals-ignore-case') return list.some((p) => v.toLowerCase() === p.toLowerCase());
    return false;
  }
  return arg === v;
}

function numericMatch(arg: Array<string | number>, v: number): boolean {
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i] as string;
    const n = arg[i + 1] as number;
    const ok = op === '=' ? v === n : op === '<' ? v < n : op === '<=' ? v <= n : op === '>' ? v > n : v >= n;
    if (!ok) return false;
  }
  return true;
}

function parseCidr(s: string): { bytes: Buffer; bits: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = s.slice(0, slash);
  const bits = Number(s.slice(slash + 1));
  const bytes = ipBytes(ip);
  if (!bytes || !Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) return null;
  return { bytes, bits };
}

function ipBytes(ip: string): Buffer | null {
  const kind = isIP(ip);
  if (kind === 4) return Buffer.from(ip.split('.').map(Number));
  if (kind === 6) {
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
    const groups = tail !== undefined ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
    if (groups.length !== 8) return null;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
    return b;
  }
  return null;
}

function cidrMatch(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const b = ipBytes(ip);
  if (!c || !b || b.length !== c.bytes.length) return false;
  let bits = c.bits;
  for (let i = 0; i < b.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((b[i] & mask) !== (c.bytes[i] & mask)) return false;
  }
  return true;
}

function matchObject(policy: Record<string, unknown>, lookup: (path: string[]) => { present: boolean; values: Val[] }, path: string[]): boolean {
  for (const [k, v] of Object.entries(policy)) {
    if (k === '$or') {
      if (!(v as Record<string, unknown>[]).some((alt) => matchObject(alt, lookup, path))) return false;
      continue;
    }
    if (Array.isArray(v)) {
      const { present, values } = lookup([...path, k]);
      if (!v.some((c) => matchOne(c, values, present))) return false;
    } else if (!matchObject(v as Record<string, unknown>, lookup, [...path, k])) return false;
  }
  return true;
}

function attributeValues(a: FilterAttribute | undefined): { present: boolean; values: Val[] } {
  if (!a) return { present: false, values: [] };
  if (a.DataType.startsWith('Number')) {
    const n = Number(a.StringValue);
    return { present: true, values: Number.isFinite(n) ? [n] : [] };
  }
  if (a.DataType === 'String.Array') {
    try {
      const arr = JSON.parse(a.StringValue ?? '');
      if (Array.isArray(arr)) return { present: true, values: arr.filter((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x)) as Val[] };
    } catch {
      /* not an array */
    }
    return { present: true, values: [] };
  }
  if (a.DataType.startsWith('String')) return { present: true, values: [a.StringValue ?? ''] };
  return { present: true, values: [] };
}

/** A JSON body's leaves by dotted path (keys joined with '.'; an array's elements all count under the array's path). */
function flattenBody(body: unknown): Map<string, { present: boolean; values: Val[] }> {
  const out = new Map<string, { present: boolean; values: Val[] }>();
  const visit = (node: unknown, path: string) => {
    if (Array.isArray(node)) {
      if (path) entry(path);
      for (const it of node) visit(it, path);
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node as Record<string, unknown>)) visit(v, path ? `${path}.${k}` : k);
    } else if (path) {
      entry(path).values.push(node as Val);
    }
  };
  const entry = (path: string) => {
    let e = out.get(path);
    if (!e) out.set(path, (e = { present: true, values: [] }));
    return e;
  };
  visit(body, '');
  return out;
}

/** Whether a message passes a (parsed, valid) filter policy. */
export function matchesFilter(policy: Record<string, unknown>, scope: FilterScope, attrs: Record<string, FilterAttribute>, body: string): boolean {
  if (scope === 'MessageBody') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return false; // a body that is not JSON matches no body-scoped policy
    }
    if (!parsed || typeof parsed !== 'object') return false;
    // AWS compares dotted paths: the policy key "a.b" is the nested key a → b, and the other way round
    const flat = flattenBody(parsed);
    return matchObject(policy, (path) => flat.get(path.join('.')) ?? { present: false, values: [] }, []);
  }
  return matchObject(policy, (path) => attributeValues(attrs[path[0]]), []);
}
