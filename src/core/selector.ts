/**
 * JMS 1.1 message selectors (JMS 1.1 §3.8.1): parse once, compile to closures, evaluate per message
 * with SQL three-valued logic. A selector matches only when it evaluates to TRUE; FALSE (also a comparison of
 * non-like types) and UNKNOWN (NULLs, division by zero) do not match. Evaluation never throws.
 *
 * Identifiers resolve against the canonical Message: the JMS header names below map to message
 * fields, everything else is an application property (missing → NULL, Buffer → NULL). JMSRedelivered and
 * JMSXDeliveryCount (ActiveMQ evaluates them) are delivery state, not message: a queue consumer's selector
 * (compileDeliverySelector) reads them off the queue entry; a plain message selector (topic routing, browse)
 * sees a first delivery.
 */
import type { Message } from './message.js';
import { compileNode, normalizeValue, type Evaluator, type Value } from './selector/compile.js';
import { parseSelector } from './selector/parser.js';

export {
  MAX_SELECTOR_HEIGHT,
  MAX_SELECTOR_LENGTH,
  MAX_SELECTOR_NESTING,
  SelectorError,
  type AndNode,
  type ArithmeticNode,
  type ArithmeticOp,
  type BetweenNode,
  type ComparisonNode,
  type ComparisonOp,
  type IdentifierNode,
  type InNode,
  type IsNullNode,
  type LikeNode,
  type LiteralNode,
  type LiteralValue,
  type NotNode,
  type NumericValue,
  type OrNode,
  type SelectorNode,
  type UnaryNode,
} from './selector/ast.js';
export { parseSelector } from './selector/parser.js';

/** What a selector can see: identifier → value (string | number | boolean | bigint | null | undefined; anything else is NULL). */
export interface SelectorContext {
  get(identifier: string): unknown;
}

/** true only when the selector evaluates to TRUE (UNKNOWN and FALSE → false). Never throws. */
export type Selector = (msg: Message) => boolean;
export type ContextSelector = (ctx: SelectorContext) => boolean;
/** A run-time selector value; null is both SQL NULL and the truth value UNKNOWN. */
export type SelectorValue = Value;

function str(v: string | undefined): Value {
  return typeof v === 'string' ? v : null;
}
function num(v: number | undefined): Value {
  return typeof v === 'number' ? v : null;
}

/** Reader for one identifier on a Message (JMS header names map to fields, the rest to properties). */
function messageAccessor(name: string): Evaluator<Message> {
  switch (name) {
    case 'JMSDeliveryMode':
      return (m) => (m.durable ? 'PERSISTENT' : 'NON_PERSISTENT');
    case 'JMSPriority':
      return (m) => num(m.priority);
    case 'JMSMessageID':
      return (m) => str(m.messageId);
    case 'JMSTimestamp':
      return (m) => num(m.timestamp);
    case 'JMSCorrelationID':
      return (m) => str(m.correlationId);
    case 'JMSType':
      return (m) => str(m.type);
    case 'JMSExpiration':
      return (m) => num(m.expiration);
    case 'JMSDeliveryTime':
      return (m) => num(m.deliveryTime);
    case 'JMSXGroupID':
      return (m) => (m.groupId !== undefined ? str(m.groupId) : normalizeValue(m.properties[name]));
    case 'JMSXGroupSeq':
      return (m) => (m.groupSeq !== undefined ? num(m.groupSeq) : normalizeValue(m.properties[name]));
    case 'JMSXUserID':
      return (m) => (m.userId !== undefined ? str(m.userId) : normalizeValue(m.properties[name]));
    case 'JMSRedelivered':
      return () => false;
    case 'JMSXDeliveryCount':
      return () => 1;
    default:
      return (m) => normalizeValue(m.properties[name]);
  }
}

function contextAccessor(name: string): Evaluator<SelectorContext> {
  return (ctx) => normalizeValue(ctx.get(name));
}

/** ActiveMQ's selector prefix for string-to-number/boolean conversion in comparisons (compile.ts, compileNode). */
export const CONVERT_STRING_EXPRESSIONS = 'convert_string_expressions:';

/**
 * Whether a subscription made with selector `a` is the one asked for with `b`: the same text, with or without the
 * conversion prefix, so a durable subscription kept from before STOMP added it (or made by JMS) is not replaced —
 * and its messages lost — when a STOMP client subscribes again with the same selector.
 */
export function sameSelector(a: string | undefined, b: string | undefined): boolean {
  const strip = (s: string | undefined) => (s?.startsWith(CONVERT_STRING_EXPRESSIONS) ? s.slice(CONVERT_STRING_EXPRESSIONS.length) : (s ?? ''));
  return strip(a) === strip(b);
}

function finish<T>(text: string, access: (name: string) => Evaluator<T>): (input: T) => boolean {
  const convert = typeof text === 'string' && text.startsWith(CONVERT_STRING_EXPRESSIONS);
  const node = parseSelector(convert ? text.slice(CONVERT_STRING_EXPRESSIONS.length) : text);
  if (node.kind === 'literal') {
    const result = node.value === true;
    return () => result;
  }
  const f = compileNode(node, access, convert);
  return (input) => {
    try {
      return f(input) === true;
    } catch {
      return false; // e.g. a malformed message without `properties`, or a throwing context
    }
  };
}

/**
 * Parse and compile a selector. Empty or whitespace-only text matches every message.
 * @throws SelectorError (with `.position`) when the text is not a valid JMS selector.
 */
export function compileSelector(text: string): Selector {
  return finish(text, messageAccessor);
}

/** What a queue consumer's selector sees: a message and its delivery state (a queue entry is one). */
export interface DeliveryView {
  readonly message: Message;
  /** Prior failed delivery attempts. */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
}
export type DeliverySelector = (v: DeliveryView) => boolean;

/**
 * Like compileSelector, for a queue consumer: JMSRedelivered and JMSXDeliveryCount are the entry's, as the
 * consumer would get them (a message only flagged redelivered counts as a second delivery, as adapters render it).
 */
export function compileDeliverySelector(text: string): DeliverySelector {
  return finish<DeliveryView>(text, (name) => {
    if (name === 'JMSRedelivered') return (v) => v.redelivered || v.deliveryCount > 0;
    if (name === 'JMSXDeliveryCount') return (v) => (v.deliveryCount || (v.redelivered ? 1 : 0)) + 1;
    const read = messageAccessor(name);
    return (v) => read(v.message);
  });
}

/** Like compileSelector, but evaluates against any identifier source (e.g. a queue entry view). */
export function compileContextSelector(text: string): ContextSelector {
  return finish(text, contextAccessor);
}

/** The value a selector sees for `identifier` on `msg` (null = NULL). */
export function selectorValue(msg: Message, identifier: string): SelectorValue {
  try {
    return messageAccessor(identifier)(msg);
  } catch {
    return null;
  }
}

/** A SelectorContext view of a message, resolving identifiers exactly as compileSelector does. */
export function messageContext(msg: Message): SelectorContext {
  return { get: (identifier) => selectorValue(msg, identifier) };
}
