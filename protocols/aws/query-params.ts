/**
 * AWS query-protocol parameters (`Attribute.1.Name=…`, `Tags.member.2.Key=…`) into a nested tree:
 * numeric path segments become arrays (in index order), the rest object keys. Guarded against huge indices
 * and prototype keys.
 */
import { AwsError } from './errors.js';

export type QueryTree = { [key: string]: QueryNode };
export type QueryNode = string | QueryTree | QueryNode[];

const MAX_INDEX = 10_000;
const MAX_DEPTH = 8;

function isIndex(s: string): boolean {
  return /^\d+$/.test(s);
}

export function parseQueryTree(params: URLSearchParams, err: (m: string) => AwsError): QueryTree {
  // Build with Maps (indices kept as numbers), then convert.
  type Node = Map<string | number, Node | string>;
  const root: Node = new Map();
  for (const [key, value] of params) {
    const parts = key.split('.');
    if (parts.length > MAX_DEPTH) throw err(`Parameter name '${key.slice(0, 100)}' is nested too deeply.`);
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const k: string | number = isIndex(p) ? Number(p) : p;
      if (typeof k === 'number' && (k < 1 || k > MAX_INDEX)) throw err(`Parameter index in '${key.slice(0, 100)}' must be between 1 and ${MAX_INDEX}.`);
      if (i === parts.length - 1) {
        if (!node.has(k) || typeof node.get(k) === 'string') node.set(k, value);
        // a value where a structure already exists (A=1 and A.B=2) keeps the structure
      } else {
        let next = node.get(k);
        if (typeof next !== 'object') {
          next = new Map();
          node.set(k, next);
        }
        node = next;
      }
    }
  }
  const convert = (n: Node): QueryNode => {
    const keys = [...n.keys()];
    if (keys.length > 0 && keys.every((k) => typeof k === 'number')) {
      return (keys as number[]).sort((a, b) => a - b).map((k) => {
        const v = n.get(k)!;
        return typeof v === 'string' ? v : convert(v);
      });
    }
    const o: QueryTree = Object.create(null);
    for (const [k, v] of n) o[String(k)] = typeof v === 'string' ? v : convert(v);
    return o;
  };
  const out = convert(root);
  return Array.isArray(out) || typeof out === 'string' ? (Object.create(null) as QueryTree) : out;
}

/** The node at a key as a list (a single structure or string counts as one element). */
export function asList(n: QueryNode | undefined): QueryNode[] {
  if (n === undefined) return [];
  if (Array.isArray(n)) return n;
  return [n];
}

export function asTree(n: QueryNode | undefined): QueryTree | undefined {
  return n !== undefined && typeof n === 'object' && !Array.isArray(n) ? n : undefined;
}

export function asString(n: QueryNode | undefined): string | undefined {
  return typeof n === 'string' ? n : undefined;
}

/** `Name/Value` (or `key/value`, `Key/Value`) pairs in a flattened list into a map. */
export function pairsToMap(list: QueryNode[], keyName: string, valueName: string): Record<string, QueryNode> {
  // null prototype: a pair named `__proto__` is kept (and refused by name later), not swallowed by the setter
  const out: Record<string, QueryNode> = Object.create(null);
  for (const item of list) {
    const t = asTree(item);
    if (!t) continue;
    const k = asString(t[keyName]);
    if (k === undefined) continue;
    const v = t[valueName];
    if (v !== undefined) out[k] = v;
    else out[k] = '';
  }
  return out;
}
