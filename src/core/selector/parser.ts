/**
 * Recursive-descent parser for JMS 1.1 selectors, SQL precedence (loosest first):
 *
 *   selector   := orExpr EOF                       (empty / whitespace-only text → TRUE)
 *   orExpr     := andExpr (OR andExpr)*
 *   andExpr    := notExpr (AND notExpr)*
 *   notExpr    := NOT notExpr | predicate
 *   predicate  := sum [ compOp sum
 *                     | [NOT] BETWEEN sum AND sum
 *                     | [NOT] IN '(' literal (',' literal)* ')'
 *                     | [NOT] LIKE 'pattern' [ESCAPE 'c']
 *                     | IS [NOT] NULL ]
 *   sum        := product (('+' | '-') product)*
 *   product    := unary (('*' | '/' | '%') unary)*
 *   unary      := ('+' | '-') unary | primary
 *   primary    := literal | identifier | '(' orExpr ')'
 *
 * Comparisons do not chain (`a = b = c` is an error; parenthesise). The parser also enforces the
 * static typing the JMS grammar implies wherever a literal or sub-expression makes the type known:
 * arithmetic needs numbers, AND/OR/NOT and the selector itself need conditions, `<`-style ordering
 * and BETWEEN need numbers, LIKE needs a string, `=`/`<>` need like types. Identifiers are untyped
 * until evaluation, where a mismatch yields UNKNOWN instead of an error.
 */
import {
  MAX_SELECTOR_HEIGHT,
  MAX_SELECTOR_LENGTH,
  MAX_SELECTOR_NESTING,
  SelectorError,
  staticType,
  type ArithmeticOp,
  type ComparisonOp,
  type NumericValue,
  type SelectorNode,
  type StaticType,
} from './ast.js';
import { describeToken, normBig, quoteSource, tokenize, type Keyword, type Token } from './lexer.js';

const COMPARISON_OPS: ReadonlySet<string> = new Set(['=', '<>', '<', '<=', '>', '>=']);

export function parseSelector(text: string): SelectorNode {
  if (typeof text !== 'string') throw new SelectorError('Selector must be a string at position 0', 0);
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(
      `Selector is too long (${text.length} characters, limit ${MAX_SELECTOR_LENGTH}) at position ${MAX_SELECTOR_LENGTH}`,
      MAX_SELECTOR_LENGTH,
    );
  }
  return new Parser(text).parse();
}

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  private nesting = 0;
  private readonly heights = new WeakMap<SelectorNode, number>();
  private readonly src: string;

  constructor(src: string) {
    this.src = src;
    this.tokens = tokenize(src);
  }

  parse(): SelectorNode {
    const first = this.peek();
    if (first.type === 'eof') return { kind: 'literal', value: true, pos: 0, end: 0 };
    const node = this.orExpr();
    const t = this.peek();
    if (t.type !== 'eof') this.unexpected(t);
    this.requireCondition(node, 'a selector');
    return node;
  }

  // ---- token helpers ----

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.tokens[this.i]!;
    if (t.type !== 'eof') this.i++;
    return t;
  }
  private isKeyword(t: Token, kw: Keyword): boolean {
    return t.type === 'keyword' && t.keyword === kw;
  }
  private isOperator(t: Token, op: string): boolean {
    return t.type === 'operator' && t.text === op;
  }
  private fail(message: string, pos: number, hint = ''): never {
    throw new SelectorError(`${message} at position ${pos}${hint}`, pos);
  }
  private unexpected(t: Token, hint = ''): never {
    if (t.type === 'eof') this.fail('Unexpected end of selector', t.pos, hint);
    this.fail(`Unexpected ${describeToken(t)}`, t.pos, hint);
  }
  private expected(what: string, t: Token, hint = ''): never {
    this.fail(`Expected ${what} but found ${describeToken(t)}`, t.pos, hint);
  }
  private source(node: SelectorNode): string {
    return quoteSource(this.src.slice(node.pos, node.end), node.kind === 'literal' && typeof node.value === 'string');
  }

  private enter(t: Token): void {
    if (++this.nesting > MAX_SELECTOR_NESTING) {
      this.fail(`Selector is nested too deeply (limit ${MAX_SELECTOR_NESTING}) at ${describeToken(t)}`, t.pos);
    }
  }
  private leave(): void {
    this.nesting--;
  }

  /** Record a new node's tree height; refuse trees too tall to compile/evaluate recursively. */
  private made<N extends SelectorNode>(node: N, ...children: SelectorNode[]): N {
    let h = 0;
    for (const c of children) h = Math.max(h, this.heights.get(c) ?? 1);
    h += 1;
    if (h > MAX_SELECTOR_HEIGHT) {
      this.fail(`Selector expression is too complex (more than ${MAX_SELECTOR_HEIGHT} levels)`, node.pos);
    }
    this.heights.set(node, h);
    return node;
  }

  // ---- static type checks ----

  private requireCondition(node: SelectorNode, context: string): void {
    const t = staticType(node);
    if (t !== 'boolean' && t !== 'any') {
      this.fail(`Expected a boolean condition for ${context} but found ${this.source(node)}`, node.pos);
    }
  }
  private requireNumeric(node: SelectorNode, context: string): void {
    const t = staticType(node);
    if (t !== 'number' && t !== 'any') {
      this.fail(`Expected a numeric operand for ${context} but found ${this.source(node)}`, node.pos);
    }
  }

  // ---- grammar ----

  private orExpr(): SelectorNode {
    const first = this.andExpr();
    if (!this.isKeyword(this.peek(), 'OR')) return first;
    const operands = [first];
    while (this.isKeyword(this.peek(), 'OR')) {
      this.next();
      operands.push(this.andExpr());
    }
    for (const o of operands) this.requireCondition(o, 'OR');
    return this.made({ kind: 'or', operands, pos: first.pos, end: operands[operands.length - 1]!.end }, ...operands);
  }

  private andExpr(): SelectorNode {
    const first = this.notExpr();
    if (!this.isKeyword(this.peek(), 'AND')) return first;
    const operands = [first];
    while (this.isKeyword(this.peek(), 'AND')) {
      this.next();
      operands.push(this.notExpr());
    }
    for (const o of operands) this.requireCondition(o, 'AND');
    return this.made({ kind: 'and', operands, pos: first.pos, end: operands[operands.length - 1]!.end }, ...operands);
  }

  private notExpr(): SelectorNode {
    const t = this.peek();
    if (!this.isKeyword(t, 'NOT')) return this.predicate();
    this.next();
    this.enter(t);
    const operand = this.notExpr();
    this.leave();
    this.requireCondition(operand, 'NOT');
    return this.made({ kind: 'not', operand, pos: t.pos, end: operand.end }, operand);
  }

  private predicate(): SelectorNode {
    const left = this.sum();
    let t = this.peek();

    if (t.type === 'operator' && COMPARISON_OPS.has(t.text)) {
      this.next();
      const op = t.text as ComparisonOp;
      const right = this.sum();
      this.checkComparison(op, left, right);
      return this.made({ kind: 'comparison', op, left, right, pos: left.pos, end: right.end }, left, right);
    }

    let negated = false;
    if (this.isKeyword(t, 'NOT')) {
      const after = this.peek(1);
      if (!this.isKeyword(after, 'BETWEEN') && !this.isKeyword(after, 'IN') && !this.isKeyword(after, 'LIKE')) {
        this.expected('BETWEEN, IN or LIKE after NOT', after);
      }
      this.next();
      negated = true;
      t = this.peek();
    }

    if (this.isKeyword(t, 'BETWEEN')) {
      this.next();
      const low = this.sum();
      const and = this.peek();
      if (!this.isKeyword(and, 'AND')) this.expected('AND in BETWEEN', and);
      this.next();
      const high = this.sum();
      for (const n of [left, low, high]) this.requireNumeric(n, 'BETWEEN');
      return this.made({ kind: 'between', negated, value: left, low, high, pos: left.pos, end: high.end }, left, low, high);
    }

    if (this.isKeyword(t, 'IN')) {
      this.next();
      if (staticType(left) === 'boolean') this.fail(`Expected a string or numeric value for IN but found ${this.source(left)}`, left.pos);
      return this.inList(left, negated);
    }

    if (this.isKeyword(t, 'LIKE')) {
      this.next();
      const lt = staticType(left);
      if (lt !== 'string' && lt !== 'any') this.fail(`Expected a string value for LIKE but found ${this.source(left)}`, left.pos);
      return this.like(left, negated);
    }

    if (this.isKeyword(t, 'IS')) {
      this.next();
      let isNot = false;
      if (this.isKeyword(this.peek(), 'NOT')) {
        this.next();
        isNot = true;
      }
      const nul = this.peek();
      if (!this.isKeyword(nul, 'NULL')) this.expected(isNot ? 'NULL after IS NOT' : 'NULL or NOT NULL after IS', nul);
      this.next();
      return this.made({ kind: 'isNull', negated: isNot, value: left, pos: left.pos, end: nul.pos + nul.text.length }, left);
    }

    return left;
  }

  private checkComparison(op: ComparisonOp, left: SelectorNode, right: SelectorNode): void {
    if (op === '=' || op === '<>') {
      const lt: StaticType = staticType(left);
      const rt: StaticType = staticType(right);
      if (lt !== 'any' && rt !== 'any' && lt !== rt) {
        this.fail(`Cannot compare ${lt} ${this.source(left)} with ${rt} ${this.source(right)} using '${op}'`, right.pos);
      }
      return;
    }
    // JMS: strings and booleans compare only with = and <>.
    this.requireNumeric(left, `'${op}'`);
    this.requireNumeric(right, `'${op}'`);
  }

  private inList(value: SelectorNode, negated: boolean): SelectorNode {
    const open = this.peek();
    if (!this.isOperator(open, '(')) this.expected("'(' after IN", open);
    this.next();
    const list: (string | NumericValue)[] = [];
    for (;;) {
      list.push(this.inItem());
      const t = this.next();
      if (this.isOperator(t, ')')) {
        return this.made({ kind: 'in', negated, value, list, pos: value.pos, end: t.pos + 1 }, value);
      }
      if (!this.isOperator(t, ',')) this.expected("',' or ')' in IN list", t);
    }
  }

  /** A string literal or an optionally signed numeric literal. */
  private inItem(): string | NumericValue {
    const t = this.peek();
    if (t.type === 'string') {
      this.next();
      return t.value;
    }
    const signed = this.isOperator(t, '-') || this.isOperator(t, '+');
    const num: Token = signed ? this.peek(1) : t;
    if (num.type !== 'number') this.expected('a string or numeric literal in IN list', t);
    if (signed) this.next();
    this.next();
    const sign = signed && t.text === '-' ? -1 : 1;
    return sign < 0 ? negate(num.value) : num.value;
  }

  private like(value: SelectorNode, negated: boolean): SelectorNode {
    const p = this.peek();
    if (p.type !== 'string') this.expected('a string literal pattern after LIKE', p);
    this.next();
    let escape: string | undefined;
    let end = p.pos + p.text.length;
    const e = this.peek();
    if (this.isKeyword(e, 'ESCAPE')) {
      this.next();
      const c = this.peek();
      if (c.type !== 'string' || [...c.value].length !== 1) this.expected('a single-character string literal after ESCAPE', c);
      this.next();
      escape = c.value;
      end = c.pos + c.text.length;
      validateEscapes(p.value, escape, p.pos, (m, pos) => this.fail(m, pos));
    }
    const node: SelectorNode = { kind: 'like', negated, value, pattern: p.value, pos: value.pos, end };
    if (escape !== undefined) node.escape = escape;
    return this.made(node, value);
  }

  private sum(): SelectorNode {
    let left = this.product();
    for (;;) {
      const t = this.peek();
      if (!this.isOperator(t, '+') && !this.isOperator(t, '-')) return left;
      this.next();
      const right = this.product();
      left = this.arithmetic(t.text as ArithmeticOp, left, right);
    }
  }

  private product(): SelectorNode {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (!this.isOperator(t, '*') && !this.isOperator(t, '/') && !this.isOperator(t, '%')) return left;
      this.next();
      const right = this.unary();
      left = this.arithmetic(t.text as ArithmeticOp, left, right);
    }
  }

  private arithmetic(op: ArithmeticOp, left: SelectorNode, right: SelectorNode): SelectorNode {
    this.requireNumeric(left, `'${op}'`);
    this.requireNumeric(right, `'${op}'`);
    return this.made({ kind: 'arithmetic', op, left, right, pos: left.pos, end: right.end }, left, right);
  }

  private unary(): SelectorNode {
    const t = this.peek();
    if (!this.isOperator(t, '+') && !this.isOperator(t, '-')) return this.primary();
    this.next();
    this.enter(t);
    const operand = this.unary();
    this.leave();
    const op = t.text as '+' | '-';
    this.requireNumeric(operand, `unary '${op}'`);
    if (operand.kind === 'literal' && (typeof operand.value === 'number' || typeof operand.value === 'bigint')) {
      // Fold signed numeric literals so `-9223372036854775808` and `-5` are plain literals.
      const value = op === '-' ? negate(operand.value) : operand.value;
      return this.made({ kind: 'literal', value, pos: t.pos, end: operand.end });
    }
    return this.made({ kind: 'unary', op, operand, pos: t.pos, end: operand.end }, operand);
  }

  private primary(): SelectorNode {
    const t = this.next();
    const end = t.pos + t.text.length;
    switch (t.type) {
      case 'number':
      case 'string':
        return this.made({ kind: 'literal', value: t.value, pos: t.pos, end });
      case 'identifier':
        return this.made({ kind: 'identifier', name: t.name, pos: t.pos, end });
      case 'keyword':
        if (t.keyword === 'TRUE' || t.keyword === 'FALSE') {
          return this.made({ kind: 'literal', value: t.keyword === 'TRUE', pos: t.pos, end });
        }
        if (t.keyword === 'NULL') this.unexpected(t, ' (use IS NULL or IS NOT NULL to test for null)');
        return this.unexpected(t);
      case 'operator':
        if (t.text === '(') {
          this.enter(t);
          const inner = this.orExpr();
          this.leave();
          const close = this.peek();
          if (!this.isOperator(close, ')')) this.expected("')'", close, ` (to close '(' at position ${t.pos})`);
          this.next();
          return inner;
        }
        return this.unexpected(t);
      case 'eof':
        return this.unexpected(t);
    }
  }
}

function negate(v: NumericValue): NumericValue {
  return typeof v === 'bigint' ? normBig(-v) : -v;
}

/** SQL: the escape character may only precede '%', '_' or itself. */
function validateEscapes(pattern: string, escape: string, pos: number, fail: (m: string, pos: number) => never): void {
  for (let i = 0; i < pattern.length; ) {
    if (pattern.startsWith(escape, i)) {
      const next = pattern.codePointAt(i + escape.length);
      const ch = next === undefined ? undefined : String.fromCodePoint(next);
      if (ch !== '%' && ch !== '_' && ch !== escape) {
        fail(
          ch === undefined
            ? `LIKE pattern ${quoteSource(pattern)} ends with the escape character ${quoteSource(escape)}`
            : `Invalid escape sequence ${quoteSource(escape + ch)} in LIKE pattern ${quoteSource(pattern)}`,
          pos,
        );
      }
      i += escape.length + ch.length;
    } else {
      i++;
    }
  }
}
