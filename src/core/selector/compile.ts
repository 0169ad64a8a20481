/**
 * Compiles a selector AST into a tree of closures evaluated with SQL three-valued logic.
 *
 * Run-time values are string | number | bigint | boolean | null, where null is both SQL NULL and the
 * truth value UNKNOWN. Nothing here throws for any input: NULL operands, arithmetic on non-numbers and division
 * by zero yield null (UNKNOWN), which a selector treats as "no match". A comparison of values of non-like types
 * (a string with a number, a boolean with a string) is FALSE (JMS 1.1 §3.8.1.2), and `<>` is NOT `=`, so it is
 * TRUE there — as ActiveMQ's and Artemis's brokers evaluate it; a migrated `NOT (kind = 5)` matches the same messages.
 *
 * Numbers: integers that fit a double exactly are numbers; larger exact integers are bigint.
 * Comparisons across number/bigint are exact. + - * on integers stay exact (bigint when they leave the
 * safe range, no 64-bit wrap-around); '/' is always floating point division (as ActiveMQ/Artemis do).
 */
import type { ArithmeticOp, ComparisonOp, NumericValue, SelectorNode } from './ast.js';
import { normBig } from './lexer.js';
import { compileLike } from './like.js';

export type Value = string | number | bigint | boolean | null;
export type Evaluator<T> = (input: T) => Value;
/** Given an identifier, return a function reading its (already normalised) value from an input. */
export type Accessor<T> = (identifier: string) => Evaluator<T>;

/** Coerce anything a message or context may hold into a selector value (Buffer, undefined, objects → NULL). */
export function normalizeValue(v: unknown): Value {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return normBig(v);
    default:
      return null;
  }
}

// ---- value operations ----

function isNum(v: Value): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** Mathematical equality across number/bigint (`5n == 5`), which `===` does not give. */
function numEq(a: NumericValue, b: NumericValue): boolean {
  return (a as unknown) == (b as unknown);
}

/** Like types (JMS 1.1 §3.8.1.2): both numeric, or both strings, or both booleans. */
function likeTypes(a: string | number | bigint | boolean, b: string | number | bigint | boolean): boolean {
  return typeof a === typeof b || (isNum(a) && isNum(b));
}

function eq(a: Value, b: Value): boolean | null {
  if (a === null || b === null) return null;
  const ta = typeof a;
  if (ta === typeof b) return a === b;
  if (isNum(a) && isNum(b)) return numEq(a, b);
  return false; // non-like types
}

/** An ordering test: UNKNOWN with a NULL, FALSE for non-like types; strings and booleans compare as Java's compareTo does (ActiveMQ). */
function ordering(test: (a: string | number | bigint | boolean, b: string | number | bigint | boolean) => boolean): (a: Value, b: Value) => boolean | null {
  return (a, b) => (a === null || b === null ? null : likeTypes(a, b) ? test(a, b) : false);
}

const COMPARE: Record<ComparisonOp, (a: Value, b: Value) => boolean | null> = {
  '=': eq,
  '<>': (a, b) => {
    const r = eq(a, b);
    return r === null ? null : !r;
  },
  '<': ordering((a, b) => a < b),
  '<=': ordering((a, b) => a <= b),
  '>': ordering((a, b) => a > b),
  '>=': ordering((a, b) => a >= b),
};

type Cmp = (a: Value, b: Value) => boolean | null;

/**
 * A string read as `like`'s type: Boolean.valueOf for a boolean; for a number, an integer (exact) or a decimal
 * ('2.5' < 3 holds, where ActiveMQ, reading it with Long.valueOf for an integer literal, says FALSE); the string
 * itself when it does not read as one (then the comparison is of non-like types: FALSE, as ActiveMQ's
 * NumberFormatException makes it).
 */
function stringAs(s: string, like: Value): Value {
  if (typeof like === 'boolean') return s.toLowerCase() === 'true';
  if (typeof like !== 'number' && typeof like !== 'bigint') return s;
  if (/^[+-]?\d+$/.test(s)) return normBig(BigInt(s));
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?\s*$/.test(s) ? Number(s.trim().replace(/[dDfF]$/, '')) : s;
}

/** Both operands of a comparison with a string on one side and a number or boolean on the other read as the latter's type. */
function coerce(a: Value, b: Value): [Value, Value] {
  if (typeof a === 'string' && b !== null && typeof b !== 'string') return [stringAs(a, b), b];
  if (typeof b === 'string' && a !== null && typeof a !== 'string') return [a, stringAs(b, a)];
  return [a, b];
}

function coerced(cmp: Cmp): Cmp {
  return (a, b) => cmp(...coerce(a, b));
}

/** An operand compared with the constant `k`: a string value read as k's type. */
function asTypeOf<T>(f: Evaluator<T>, k: Value): Evaluator<T> {
  if (k === null || typeof k === 'string') return f;
  return (x) => {
    const v = f(x);
    return typeof v === 'string' ? stringAs(v, k) : v;
  };
}

const MIRROR: Record<ComparisonOp, ComparisonOp> = { '=': '=', '<>': '<>', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

const LONG_LIMIT = 2 ** 63;
/** An integer a Java long could hold: arithmetic on two of these stays exact. */
function isWholeNum(v: NumericValue): boolean {
  return typeof v === 'bigint' || (Number.isInteger(v) && Math.abs(v) <= LONG_LIMIT);
}

function exact(op: '+' | '-' | '*', a: NumericValue, b: NumericValue): NumericValue {
  const x = BigInt(a);
  const y = BigInt(b);
  return normBig(op === '+' ? x + y : op === '-' ? x - y : x * y);
}

function makeArithmetic(op: ArithmeticOp): (a: Value, b: Value) => Value {
  if (op === '/') {
    return (a, b) => {
      if (!isNum(a) || !isNum(b)) return null;
      const d = Number(b);
      if (d === 0) return null; // division by zero → NULL
      return Number(a) / d;
    };
  }
  if (op === '%') {
    // ActiveMQ's modulo: integers stay exact, a fraction makes it floating point; modulo by zero is NULL
    return (a, b) => {
      if (!isNum(a) || !isNum(b) || Number(b) === 0) return null;
      if (isWholeNum(a) && isWholeNum(b)) return normBig(BigInt(a) % BigInt(b));
      return Number(a) % Number(b);
    };
  }
  const f = op === '+' ? (x: number, y: number) => x + y : op === '-' ? (x: number, y: number) => x - y : (x: number, y: number) => x * y;
  return (a, b) => {
    if (typeof a === 'number' && typeof b === 'number') {
      const r = f(a, b);
      if (Number.isSafeInteger(r) || !isWholeNum(a) || !isWholeNum(b)) return r;
      return exact(op, a, b);
    }
    if (!isNum(a) || !isNum(b)) return null;
    if (isWholeNum(a) && isWholeNum(b)) return exact(op, a, b);
    return f(Number(a), Number(b));
  };
}

const ARITHMETIC: Record<ArithmeticOp, (a: Value, b: Value) => Value> = {
  '+': makeArithmetic('+'),
  '-': makeArithmetic('-'),
  '*': makeArithmetic('*'),
  '/': makeArithmetic('/'),
  '%': makeArithmetic('%'),
};

function not3(v: Value): boolean | null {
  return v === true ? false : v === false ? true : null;
}
function and3(a: boolean | null, b: boolean | null): boolean | null {
  return a === false || b === false ? false : a === true && b === true ? true : null;
}
function or3(a: boolean | null, b: boolean | null): boolean | null {
  return a === true || b === true ? true : a === false && b === false ? false : null;
}

// ---- compiler ----

interface Compiled<T> {
  f: Evaluator<T>;
  /** Present when the node is a constant (literals and operations on them). */
  k?: { v: Value };
}

function constant<T>(v: Value): Compiled<T> {
  return { f: () => v, k: { v } };
}

/**
 * `convertStrings`: ActiveMQ's `convert_string_expressions:` mode (what its STOMP transport puts before every
 * SUBSCRIBE selector, STOMP headers being strings): in a comparison of a string with a number or boolean, the
 * string is read as the other side's type first ('5' > 3); a string that does not read as one compares UNKNOWN.
 */
export function compileNode<T>(node: SelectorNode, access: Accessor<T>, convertStrings = false): Evaluator<T> {
  return compile(node, access, convertStrings).f;
}

function compile<T>(node: SelectorNode, access: Accessor<T>, cs: boolean): Compiled<T> {
  switch (node.kind) {
    case 'literal':
      return constant(node.value);

    case 'identifier':
      return { f: access(node.name) };

    case 'unary': {
      const o = compile(node.operand, access, cs);
      const op = node.op === '-' ? (v: Value): Value => (typeof v === 'number' ? -v : typeof v === 'bigint' ? normBig(-v) : null) : (v: Value): Value => (isNum(v) ? v : null);
      if (o.k) return constant(op(o.k.v));
      const of = o.f;
      return { f: (x) => op(of(x)) };
    }

    case 'arithmetic': {
      const l = compile(node.left, access, cs);
      const r = compile(node.right, access, cs);
      const op = ARITHMETIC[node.op];
      if (l.k && r.k) return constant(op(l.k.v, r.k.v));
      const lf = l.f;
      const rf = r.f;
      return { f: (x) => op(lf(x), rf(x)) };
    }

    case 'comparison': {
      const l = compile(node.left, access, cs);
      const r = compile(node.right, access, cs);
      if (l.k && r.k) return constant(cs ? COMPARE[node.op](...coerce(l.k.v, r.k.v)) : COMPARE[node.op](l.k.v, r.k.v));
      if (r.k) return { f: compareWithConstant(node.op, cs ? asTypeOf(l.f, r.k.v) : l.f, r.k.v) };
      if (l.k) return { f: compareWithConstant(MIRROR[node.op], cs ? asTypeOf(r.f, l.k.v) : r.f, l.k.v) };
      const cmp = cs ? coerced(COMPARE[node.op]) : COMPARE[node.op];
      const lf = l.f;
      const rf = r.f;
      return { f: (x) => cmp(lf(x), rf(x)) };
    }

    case 'between': {
      const lo = compile(node.low, access, cs);
      const hi = compile(node.high, access, cs);
      const negated = node.negated;
      const vf = cs && lo.k ? asTypeOf(compile(node.value, access, cs).f, lo.k.v) : compile(node.value, access, cs).f;
      if (lo.k && hi.k && isNum(lo.k.v) && isNum(hi.k.v)) {
        const a = lo.k.v;
        const b = hi.k.v;
        return {
          // a non-numeric value: both comparisons are FALSE, so BETWEEN and NOT BETWEEN are FALSE
          f: negated
            ? (x) => {
                const v = vf(x);
                return isNum(v) ? v < a || v > b : v === null ? null : false;
              }
            : (x) => {
                const v = vf(x);
                return isNum(v) ? v >= a && v <= b : v === null ? null : false;
              },
        };
      }
      const lf = lo.f;
      const hf = hi.f;
      const [lt, gt, ge, le] = (['<', '>', '>=', '<='] as const).map((op) => (cs ? coerced(COMPARE[op]) : COMPARE[op])) as [Cmp, Cmp, Cmp, Cmp];
      // BETWEEN ≡ v >= lo AND v <= hi;  NOT BETWEEN ≡ v < lo OR v > hi (JMS 1.1 §3.8.1.2).
      return {
        f: negated
          ? (x) => {
              const v = vf(x);
              return or3(lt(v, lf(x)), gt(v, hf(x)));
            }
          : (x) => {
              const v = vf(x);
              return and3(ge(v, lf(x)), le(v, hf(x)));
            },
      };
    }

    case 'in':
      return { f: compileIn(compile(node.value, access, cs).f, node.list, node.negated) };

    case 'like': {
      const vf = compile(node.value, access, cs).f;
      const match = compileLike(node.pattern, node.escape);
      const negated = node.negated;
      return {
        f: (x) => {
          const v = vf(x);
          // LIKE on a number or boolean is FALSE, and NOT LIKE its negation (ActiveMQ)
          return typeof v === 'string' ? match(v) !== negated : v === null ? null : negated;
        },
      };
    }

    case 'isNull': {
      const vf = compile(node.value, access, cs).f;
      return { f: node.negated ? (x) => vf(x) !== null : (x) => vf(x) === null };
    }

    case 'not': {
      const o = compile(node.operand, access, cs);
      if (o.k) return constant(not3(o.k.v));
      const of = o.f;
      return { f: (x) => not3(of(x)) };
    }

    case 'and':
    case 'or': {
      const fs = node.operands.map((o) => compile(o, access, cs).f);
      return { f: node.kind === 'and' ? andOf(fs) : orOf(fs) };
    }
  }
}

/** Specialised `value OP constant`: the dispatch hot path for selectors like `color = 'blue'` or `weight > 2500`. */
function compareWithConstant<T>(op: ComparisonOp, vf: Evaluator<T>, k: Value): Evaluator<T> {
  if (k === null) return () => null;
  if (typeof k === 'string' || typeof k === 'boolean') {
    if (op !== '=' && op !== '<>') {
      const cmp = COMPARE[op];
      return (x) => cmp(vf(x), k);
    }
    const want = op === '=';
    const type = typeof k;
    return (x) => {
      const v = vf(x);
      return v === null ? null : typeof v === type ? (v === k) === want : !want;
    };
  }
  // a value of another type than the number: FALSE, and TRUE for <> (see the file comment)
  const n = k; // number | bigint
  switch (op) {
    case '=':
      return (x) => {
        const v = vf(x);
        return typeof v === 'number' ? v === n || (typeof n === 'bigint' && numEq(v, n)) : typeof v === 'bigint' ? numEq(v, n) : v === null ? null : false;
      };
    case '<>':
      return (x) => {
        const v = vf(x);
        return isNum(v) ? !numEq(v, n) : v === null ? null : true;
      };
    case '<':
      return (x) => {
        const v = vf(x);
        return isNum(v) ? v < n : v === null ? null : false;
      };
    case '<=':
      return (x) => {
        const v = vf(x);
        return isNum(v) ? v <= n : v === null ? null : false;
      };
    case '>':
      return (x) => {
        const v = vf(x);
        return isNum(v) ? v > n : v === null ? null : false;
      };
    case '>=':
      return (x) => {
        const v = vf(x);
        return isNum(v) ? v >= n : v === null ? null : false;
      };
  }
}

/** `v IN (...)` ≡ `v = l1 OR v = l2 OR ...` under 3VL: items of another type than v compare as UNKNOWN. */
function compileIn<T>(vf: Evaluator<T>, list: (string | NumericValue)[], negated: boolean): Evaluator<T> {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const bigints = new Set<bigint>();
  for (const item of list) {
    if (typeof item === 'string') strings.add(item);
    else if (typeof item === 'number') numbers.add(item);
    else bigints.add(item);
  }
  const hasNumeric = numbers.size + bigints.size > 0;
  const hasString = strings.size > 0;
  const numericItems: NumericValue[] = [...numbers, ...bigints];
  return (x) => {
    const v = vf(x);
    let found: boolean;
    let mismatch: boolean;
    if (typeof v === 'string') {
      found = strings.has(v);
      mismatch = hasNumeric;
    } else if (typeof v === 'number') {
      found = numbers.has(v);
      if (!found && bigints.size > 0 && !Number.isSafeInteger(v)) for (const b of bigints) if (numEq(v, b)) found = true;
      mismatch = hasString;
    } else if (typeof v === 'bigint') {
      found = bigints.has(v);
      if (!found) for (const n of numericItems) if (numEq(v, n)) found = true;
      mismatch = hasString;
    } else {
      return null; // NULL, or a boolean (never equal to a string/number literal)
    }
    if (found) return !negated;
    return mismatch ? null : negated;
  };
}

function andOf<T>(fs: Evaluator<T>[]): Evaluator<T> {
  if (fs.length === 2) {
    const [a, b] = fs as [Evaluator<T>, Evaluator<T>];
    return (x) => {
      const va = a(x);
      if (va === false) return false;
      const vb = b(x);
      if (vb === false) return false;
      return va === true && vb === true ? true : null;
    };
  }
  return (x) => {
    let result: boolean | null = true;
    for (let i = 0; i < fs.length; i++) {
      const v = fs[i]!(x);
      if (v === false) return false;
      if (v !== true) result = null;
    }
    return result;
  };
}

function orOf<T>(fs: Evaluator<T>[]): Evaluator<T> {
  if (fs.length === 2) {
    const [a, b] = fs as [Evaluator<T>, Evaluator<T>];
    return (x) => {
      const va = a(x);
      if (va === true) return true;
      const vb = b(x);
      if (vb === true) return true;
      return va === false && vb === false ? false : null;
    };
  }
  return (x) => {
    let result: boolean | null = false;
    for (let i = 0; i < fs.length; i++) {
      const v = fs[i]!(x);
      if (v === true) return true;
      if (v !== false) result = null;
    }
    return result;
  };
}
