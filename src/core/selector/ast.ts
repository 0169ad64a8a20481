/**
 * JMS 1.1 message selector AST, error type and limits (JMS 1.1 §3.8.1).
 * Every node carries its source span (`pos` inclusive, `end` exclusive, 0-based UTF-16 offsets).
 */

/** Longest selector text accepted, in UTF-16 code units (64 KiB). */
export const MAX_SELECTOR_LENGTH = 64 * 1024;
/** Deepest nesting of parentheses, NOT and unary signs accepted. */
export const MAX_SELECTOR_NESTING = 200;
/** Tallest expression tree accepted (guards the recursive compiler and the evaluator's stack). */
export const MAX_SELECTOR_HEIGHT = 1000;

/** A syntactically (or statically type-) invalid selector; maps to JMS InvalidSelectorException. */
export class SelectorError extends Error {
  /** 0-based offset (UTF-16 code units) of the offending token in the selector text. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.name = 'SelectorError';
    this.position = position;
  }
}

export type ComparisonOp = '=' | '<>' | '<' | '<=' | '>' | '>=';
/** '%' (modulo) is ActiveMQ's extension of JMS 1.1's four. */
export type ArithmeticOp = '+' | '-' | '*' | '/' | '%';
/** Exact numerics outside the safe-integer range are bigint; everything else numeric is a double. */
export type NumericValue = number | bigint;
export type LiteralValue = string | NumericValue | boolean;

interface Span {
  pos: number;
  end: number;
}

export interface LiteralNode extends Span {
  kind: 'literal';
  value: LiteralValue;
}
export interface IdentifierNode extends Span {
  kind: 'identifier';
  name: string;
}
export interface UnaryNode extends Span {
  kind: 'unary';
  op: '+' | '-';
  operand: SelectorNode;
}
export interface ArithmeticNode extends Span {
  kind: 'arithmetic';
  op: ArithmeticOp;
  left: SelectorNode;
  right: SelectorNode;
}
export interface ComparisonNode extends Span {
  kind: 'comparison';
  op: ComparisonOp;
  left: SelectorNode;
  right: SelectorNode;
}
export interface BetweenNode extends Span {
  kind: 'between';
  negated: boolean;
  value: SelectorNode;
  low: SelectorNode;
  high: SelectorNode;
}
export interface InNode extends Span {
  kind: 'in';
  negated: boolean;
  value: SelectorNode;
  list: (string | NumericValue)[];
}
export interface LikeNode extends Span {
  kind: 'like';
  negated: boolean;
  value: SelectorNode;
  pattern: string;
  escape?: string;
}
export interface IsNullNode extends Span {
  kind: 'isNull';
  /** true for IS NOT NULL */
  negated: boolean;
  value: SelectorNode;
}
export interface NotNode extends Span {
  kind: 'not';
  operand: SelectorNode;
}
export interface AndNode extends Span {
  kind: 'and';
  /** Two or more; a chain `a AND b AND c` is one node. */
  operands: SelectorNode[];
}
export interface OrNode extends Span {
  kind: 'or';
  operands: SelectorNode[];
}

export type SelectorNode =
  | LiteralNode
  | IdentifierNode
  | UnaryNode
  | ArithmeticNode
  | ComparisonNode
  | BetweenNode
  | InNode
  | LikeNode
  | IsNullNode
  | NotNode
  | AndNode
  | OrNode;

/** What the parser can tell about a node's value type without a message ('any' = identifier, known only at run time). */
export type StaticType = 'number' | 'string' | 'boolean' | 'any';

export function staticType(node: SelectorNode): StaticType {
  switch (node.kind) {
    case 'literal': {
      const t = typeof node.value;
      return t === 'bigint' ? 'number' : (t as StaticType);
    }
    case 'identifier':
      return 'any';
    case 'unary':
    case 'arithmetic':
      return 'number';
    default:
      return 'boolean';
  }
}
