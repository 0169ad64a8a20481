/**
 * Tokenizer for JMS 1.1 selectors: Java-style identifiers, case-insensitive keywords,
 * '...' strings with '' escaping, Java integer (decimal, hex, octal, optional L) and
 * floating point literals, and the SQL operators JMS allows. No comments (JMS excludes them).
 */
import { SelectorError, type NumericValue } from './ast.js';

export type Keyword = 'NOT' | 'AND' | 'OR' | 'BETWEEN' | 'LIKE' | 'IN' | 'IS' | 'ESCAPE' | 'NULL' | 'TRUE' | 'FALSE';
const KEYWORDS: ReadonlySet<string> = new Set<Keyword>(['NOT', 'AND', 'OR', 'BETWEEN', 'LIKE', 'IN', 'IS', 'ESCAPE', 'NULL', 'TRUE', 'FALSE']);

export type Token =
  | { type: 'identifier'; text: string; pos: number; name: string }
  | { type: 'keyword'; text: string; pos: number; keyword: Keyword }
  | { type: 'string'; text: string; pos: number; value: string }
  | { type: 'number'; text: string; pos: number; value: NumericValue }
  | { type: 'operator'; text: string; pos: number }
  | { type: 'eof'; text: ''; pos: number };

/** Token description for error messages: `token 'AND'`, `end of selector`. */
export function describeToken(t: Token): string {
  if (t.type === 'eof') return 'end of selector';
  return `token ${quoteSource(t.text, t.type === 'string')}`;
}

/** Quote a piece of selector source for an error message (string literals already carry their quotes). */
export function quoteSource(text: string, alreadyQuoted = false): string {
  let s = text;
  if (alreadyQuoted) s = s.length > 60 ? s.slice(0, 56) + "...'" : s;
  else s = `'${s.length > 60 ? s.slice(0, 57) + '...' : s}'`;
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** bigint → number when exactly representable as a safe integer, so small values have one representation. */
export function normBig(v: bigint): NumericValue {
  return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isWhitespace(c: number): boolean {
  // JMS: space, horizontal tab, form feed and line terminators.
  return c === 32 || c === 9 || c === 12 || c === 10 || c === 13;
}

const ID_START = /^[\p{L}\p{Nl}\p{Sc}\p{Pc}]$/u;
const ID_PART = /^[\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}]$/u;

function isAsciiIdStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
}

/** Java identifier start/part check at `i`; returns the code point's length (0 when it is not one). */
function idCharLength(src: string, i: number, part: boolean): number {
  const c = src.charCodeAt(i);
  if (c < 128) return isAsciiIdStart(c) || (part && isDigit(c)) ? 1 : 0;
  const cp = src.codePointAt(i)!;
  const ch = String.fromCodePoint(cp);
  return (part ? ID_PART : ID_START).test(ch) ? ch.length : 0;
}

function fail(message: string, pos: number): never {
  throw new SelectorError(`${message} at position ${pos}`, pos);
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const n = src.length;
  let i = 0;
  for (;;) {
    while (i < n && isWhitespace(src.charCodeAt(i))) i++;
    if (i >= n) {
      tokens.push({ type: 'eof', text: '', pos: n });
      return tokens;
    }
    const start = i;
    const c = src.charCodeAt(i);

    if (c === 39 /* ' */) {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = src.indexOf("'", j);
        if (q < 0) fail(`Unterminated string literal ${quoteSource(src.slice(start), true)}`, start);
        value += src.slice(j, q);
        if (src.charCodeAt(q + 1) === 39) {
          value += "'";
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      tokens.push({ type: 'string', text: src.slice(start, i), pos: start, value });
      continue;
    }

    if (isDigit(c) || (c === 46 && isDigit(src.charCodeAt(i + 1)))) {
      const { value, end } = lexNumber(src, i);
      tokens.push({ type: 'number', text: src.slice(start, end), pos: start, value });
      i = end;
      continue;
    }

    let len = idCharLength(src, i, false);
    if (len > 0) {
      i += len;
      while (i < n && (len = idCharLength(src, i, true)) > 0) i += len;
      const text = src.slice(start, i);
      // Keywords are case-insensitive, but only in ASCII (so e.g. 'ın' with a dotless i stays an identifier).
      const upper = text.length <= 7 && /^[A-Za-z]+$/.test(text) ? text.toUpperCase() : '';
      if (KEYWORDS.has(upper)) tokens.push({ type: 'keyword', text, pos: start, keyword: upper as Keyword });
      else tokens.push({ type: 'identifier', text, pos: start, name: text });
      continue;
    }

    const two = src.slice(i, i + 2);
    if (two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ type: 'operator', text: two, pos: start });
      i += 2;
      continue;
    }
    if ('=<>+-*/%(),'.includes(src[i]!)) {
      tokens.push({ type: 'operator', text: src[i]!, pos: start });
      i += 1;
      continue;
    }
    const cp = src.codePointAt(i)!;
    fail(`Unexpected character ${quoteSource(String.fromCodePoint(cp))}`, start);
  }
}

/**
 * Java integer / floating point literal starting at `i` (the sign is a separate unary operator).
 * Tokens need no separating whitespace (maximal munch, as in JavaCC-built JMS parsers), so `a=1AND b=2`
 * is valid and `12abc` is a number followed by an unexpected identifier. Only a literal that stops
 * mid-way (`0x`, `1e`, `1e+`) is itself malformed.
 */
function lexNumber(src: string, i: number): { value: NumericValue; end: number } {
  const start = i;
  const n = src.length;
  let value: NumericValue;

  if (src.charCodeAt(i) === 48 && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
    i += 2;
    const digitsStart = i;
    while (i < n && /[0-9a-fA-F]/.test(src[i]!)) i++;
    if (i === digitsStart) badNumber(src, start, i);
    value = normBig(BigInt('0x' + src.slice(digitsStart, i)));
    if (src[i] === 'l' || src[i] === 'L') i++;
    return { value, end: i };
  }

  while (i < n && isDigit(src.charCodeAt(i))) i++;
  const intEnd = i;
  let approximate = false;
  if (src[i] === '.') {
    approximate = true;
    i++;
    while (i < n && isDigit(src.charCodeAt(i))) i++;
  }
  if (src[i] === 'e' || src[i] === 'E') {
    approximate = true;
    let j = i + 1;
    if (src[j] === '+' || src[j] === '-') j++;
    const expStart = j;
    while (j < n && isDigit(src.charCodeAt(j))) j++;
    if (j === expStart) badNumber(src, start, j);
    i = j;
  }
  const body = src.slice(start, i);
  const suffix = src[i];
  if (suffix === 'f' || suffix === 'F' || suffix === 'd' || suffix === 'D') {
    approximate = true;
    i++;
  } else if (!approximate && (suffix === 'l' || suffix === 'L')) {
    i++;
  }

  if (approximate) {
    value = Number(body);
    if (!Number.isFinite(value)) fail(`Numeric literal ${quoteSource(src.slice(start, i))} is out of range`, start);
    return { value, end: i };
  }
  const digits = src.slice(start, intEnd);
  if (digits.length > 1 && digits[0] === '0') {
    // Java octal literal.
    if (!/^[0-7]+$/.test(digits)) fail(`Invalid octal literal ${quoteSource(src.slice(start, i))}`, start);
    value = normBig(BigInt('0o' + digits.slice(1)));
  } else {
    value = normBig(BigInt(digits));
  }
  return { value, end: i };
}

function badNumber(src: string, start: number, i: number): never {
  let j = i;
  let len: number;
  while (j < src.length && (src[j] === '.' || (len = idCharLength(src, j, true)) > 0)) j += src[j] === '.' ? 1 : len!;
  fail(`Invalid numeric literal ${quoteSource(src.slice(start, Math.max(j, i)))}`, start);
}
