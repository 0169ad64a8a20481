import assert from 'node:assert/strict';
import { createMessage, type Message, type MessageInit, type PropertyValue } from '../../src/core/message.js';
import {
  compileContextSelector,
  compileSelector,
  MAX_SELECTOR_LENGTH,
  messageContext,
  parseSelector,
  SelectorError,
  selectorValue,
  type SelectorNode,
} from '../../src/core/selector.js';

type Props = Record<string, PropertyValue>;

function msg(properties: Props = {}, init: MessageInit = {}): Message {
  return createMessage({ ...init, properties });
}

/** Does `text` select a message with these properties (and header fields)? */
function sel(text: string, properties: Props = {}, init: MessageInit = {}): boolean {
  return compileSelector(text)(msg(properties, init));
}

/** The three-valued result of a condition, observed through the public API: TRUE if it matches, FALSE if its negation matches, else UNKNOWN. */
function truth(text: string, properties: Props = {}, init: MessageInit = {}): 'TRUE' | 'FALSE' | 'UNKNOWN' {
  const m = msg(properties, init);
  if (compileSelector(text)(m)) return 'TRUE';
  if (compileSelector(`NOT (${text})`)(m)) return 'FALSE';
  return 'UNKNOWN';
}

/** Assert that parsing fails with a SelectorError at `position` whose message matches `pattern`. */
function rejects(text: string, position: number, pattern?: RegExp): SelectorError {
  let caught: unknown;
  try {
    compileSelector(text);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SelectorError, `expected SelectorError for ${JSON.stringify(text)}, got ${String(caught)}`);
  assert.equal(caught.position, position, `position for ${JSON.stringify(text)}: ${caught.message}`);
  assert.ok(caught.message.includes(`at position ${position}`), caught.message);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('JMS selectors', () => {
  describe('empty selector', () => {
    it('matches everything when empty or whitespace-only', () => {
      assert.equal(sel(''), true);
      assert.equal(sel('   \t\r\n\f'), true);
      assert.deepEqual(parseSelector(''), { kind: 'literal', value: true, pos: 0, end: 0 });
    });
  });

  describe('literals', () => {
    it('string literals with doubled-quote escaping', () => {
      assert.equal(sel("name = 'Sam''s'", { name: "Sam's" }), true);
      assert.equal(sel("name = ''''", { name: "'" }), true);
      assert.equal(sel("name = ''", { name: '' }), true);
      assert.equal(sel("name = 'a b'", { name: 'a  b' }), false);
      assert.deepEqual((parseSelector("x = 'it''s'") as Extract<SelectorNode, { kind: 'comparison' }>).right, {
        kind: 'literal',
        value: "it's",
        pos: 4,
        end: 11,
      });
    });

    it('exact numeric literals: decimal, hex, octal, long suffix, signs', () => {
      assert.equal(sel('n = 57', { n: 57 }), true);
      assert.equal(sel('n = -957', { n: -957 }), true);
      assert.equal(sel('n = +62', { n: 62 }), true);
      assert.equal(sel('n = 0x1F', { n: 31 }), true);
      assert.equal(sel('n = 0XfF', { n: 255 }), true);
      assert.equal(sel('n = 010', { n: 8 }), true); // Java octal
      assert.equal(sel('n = 0', { n: 0 }), true);
      assert.equal(sel('n = 42L', { n: 42 }), true);
      assert.equal(sel('n = 9223372036854775807', { n: 9223372036854775807n }), true);
      assert.equal(sel('n = -9223372036854775808', { n: -9223372036854775808n }), true);
      assert.equal(sel('n = 9223372036854775807', { n: 9223372036854775806n }), false);
    });

    it('approximate numeric literals', () => {
      assert.equal(sel('n = 1.5', { n: 1.5 }), true);
      assert.equal(sel('n = 1e3', { n: 1000 }), true);
      assert.equal(sel('n = 7E3', { n: 7000 }), true);
      assert.equal(sel('n = -57.9E2', { n: -5790 }), true);
      assert.equal(sel('n = 1.5E-2', { n: 0.015 }), true);
      assert.equal(sel('n = .5', { n: 0.5 }), true);
      assert.equal(sel('n = 7.', { n: 7 }), true);
      assert.equal(sel('n = 2.5d', { n: 2.5 }), true);
      assert.equal(sel('n = 1.0', { n: 1 }), true, 'exact and approximate values compare numerically');
    });

    it('boolean literals, case-insensitive', () => {
      assert.equal(sel('TRUE'), true);
      assert.equal(sel('FALSE'), false);
      assert.equal(sel('true'), true);
      assert.equal(sel('fAlSe'), false);
      assert.equal(sel('flag = TRUE', { flag: true }), true);
      assert.equal(sel('flag = false', { flag: true }), false);
      assert.equal(sel('flag <> FALSE', { flag: true }), true);
    });
  });

  describe('identifiers', () => {
    it('are case-sensitive and accept Java identifier characters', () => {
      assert.equal(sel("Color = 'red'", { color: 'red' }), false);
      assert.equal(sel("color = 'red'", { color: 'red' }), true);
      assert.equal(sel('$amount_2 > 1', { $amount_2: 2 }), true);
      assert.equal(sel('_x = 1', { _x: 1 }), true);
      assert.equal(sel('größe = 3', { größe: 3 }), true);
      assert.equal(sel('JMS_vendor = 1', { JMS_vendor: 1 }), true);
    });

    it('keywords are case-insensitive and reserved', () => {
      assert.equal(sel('a = 1 and b = 2', { a: 1, b: 2 }), true);
      assert.equal(sel('a = 3 Or b = 2', { a: 1, b: 2 }), true);
      assert.equal(sel('not a = 3', { a: 1 }), true);
      assert.equal(sel('a between 0 and 2', { a: 1 }), true);
      assert.equal(sel("s in ('x')", { s: 'x' }), true);
      assert.equal(sel("s like 'x%' escape '!'", { s: 'xy' }), true);
      assert.equal(sel('s is not null', { s: 'x' }), true);
      rejects('NULL = 1', 0, /Unexpected token 'NULL'/);
      rejects('and = 1', 0, /'and'/);
      rejects('a = between', 4, /'between'/);
    });

    it('missing properties are NULL; Buffer properties are NULL', () => {
      assert.equal(truth('missing = 1'), 'UNKNOWN');
      assert.equal(sel('missing IS NULL'), true);
      assert.equal(sel('buf IS NULL', { buf: Buffer.from('x') }), true);
      assert.equal(truth("buf = 'x'", { buf: Buffer.from('x') }), 'UNKNOWN');
      assert.equal(sel('nul IS NULL', { nul: null }), true);
    });

    it('does not resolve Object.prototype members as properties', () => {
      assert.equal(sel('constructor IS NULL'), true);
      assert.equal(sel('toString IS NULL'), true);
      assert.equal(sel('__proto__ IS NULL'), true);
      assert.equal(sel('hasOwnProperty IS NOT NULL'), false);
    });
  });

  describe('JMS header identifiers', () => {
    const headers: MessageInit = {
      messageId: 'ID:abc-1',
      durable: true,
      priority: 7,
      timestamp: 1_700_000_000_000,
      correlationId: 'corr-9',
      type: 'car',
      expiration: 1_800_000_000_000,
      deliveryTime: 1_750_000_000_000,
      groupId: 'g1',
      groupSeq: 3,
      userId: 'alice',
    };

    it('map to message fields', () => {
      assert.equal(sel("JMSDeliveryMode = 'PERSISTENT'", {}, headers), true);
      assert.equal(sel("JMSDeliveryMode = 'NON_PERSISTENT'", {}, { ...headers, durable: false }), true);
      assert.equal(sel("JMSDeliveryMode = 'NON_PERSISTENT'", {}, headers), false);
      assert.equal(sel('JMSPriority = 7', {}, headers), true);
      assert.equal(sel('JMSPriority > 4', {}, headers), true);
      assert.equal(sel("JMSMessageID = 'ID:abc-1'", {}, headers), true);
      assert.equal(sel('JMSTimestamp = 1700000000000', {}, headers), true);
      assert.equal(sel("JMSCorrelationID = 'corr-9'", {}, headers), true);
      assert.equal(sel("JMSType = 'car'", {}, headers), true);
      assert.equal(sel('JMSExpiration = 1800000000000', {}, headers), true);
      assert.equal(sel('JMSDeliveryTime = 1750000000000', {}, headers), true);
      assert.equal(sel("JMSXGroupID = 'g1'", {}, headers), true);
      assert.equal(sel('JMSXGroupSeq = 3', {}, headers), true);
      assert.equal(sel("JMSXUserID = 'alice'", {}, headers), true);
    });

    it('unset optional headers are NULL', () => {
      assert.equal(sel('JMSCorrelationID IS NULL'), true);
      assert.equal(sel('JMSType IS NULL'), true);
      assert.equal(truth("JMSType = 'car'"), 'UNKNOWN');
      assert.equal(sel('JMSXGroupID IS NULL'), true);
    });

    it('fall back to properties for JMSX fields not set on the message', () => {
      assert.equal(sel("JMSXGroupID = 'pg'", { JMSXGroupID: 'pg' }), true);
      assert.equal(sel('JMSXGroupSeq = 5', { JMSXGroupSeq: 5 }), true);
      assert.equal(sel("JMSXGroupID = 'g1'", { JMSXGroupID: 'pg' }, { groupId: 'g1' }), true, 'message field wins');
    });

    it('header names are case-sensitive; other names are properties', () => {
      assert.equal(sel('jmspriority IS NULL', {}, { priority: 9 }), true);
      assert.equal(sel('JMSPriority = 4', { JMSPriority: 9 }, {}), true, 'header, not the property');
    });
  });

  describe('comparison', () => {
    it('all numeric operators', () => {
      const p = { n: 10 };
      assert.equal(sel('n = 10', p), true);
      assert.equal(sel('n <> 10', p), false);
      assert.equal(sel('n <> 11', p), true);
      assert.equal(sel('n < 11', p), true);
      assert.equal(sel('n < 10', p), false);
      assert.equal(sel('n <= 10', p), true);
      assert.equal(sel('n > 9', p), true);
      assert.equal(sel('n > 10', p), false);
      assert.equal(sel('n >= 10', p), true);
      assert.equal(sel('n >= 10.5', p), false);
      assert.equal(sel('9 < n', p), true, 'constant on the left');
      assert.equal(sel('10.5 >= n', p), true);
      assert.equal(sel('a < b', { a: 1, b: 2.5 }), true, 'two identifiers');
    });

    it('compares bigint properties numerically with numbers', () => {
      assert.equal(sel('n = 5', { n: 5n }), true);
      assert.equal(sel('n > 4.5', { n: 5n }), true);
      assert.equal(sel('n = 9007199254740993', { n: 9007199254740993n }), true);
      assert.equal(sel('n > 9007199254740992', { n: 9007199254740993n }), true, 'beyond double precision');
      assert.equal(sel('n = m', { n: 12n, m: 12 }), true);
      assert.equal(sel('n < m', { n: 2n ** 70n, m: 1e30 }), true);
    });

    it('strings compare with = and <>; two string properties order as Java strings (ActiveMQ), a string literal cannot', () => {
      assert.equal(sel("s = 'abc'", { s: 'abc' }), true);
      assert.equal(sel("s <> 'abc'", { s: 'abd' }), true);
      assert.equal(sel("s = 'ABC'", { s: 'abc' }), false, 'case-sensitive');
      assert.equal(truth('s < t', { s: 'a', t: 'b' }), 'TRUE');
      assert.equal(truth('s >= t', { s: 'b', t: 'b' }), 'TRUE');
      assert.equal(truth('s > t', { s: 'B', t: 'a' }), 'FALSE', 'by UTF-16 code unit, as compareTo');
      rejects("s < 'b'", 4, /numeric operand for '<'/);
    });

    it('booleans compare with = and <>; two boolean properties order false < true (ActiveMQ), a literal cannot', () => {
      assert.equal(sel('a = b', { a: true, b: true }), true);
      assert.equal(sel('a <> b', { a: true, b: false }), true);
      assert.equal(truth('a < b', { a: false, b: true }), 'TRUE');
      assert.equal(sel('(n > 1) = TRUE', { n: 2 }), true);
      rejects('a > TRUE', 4, /numeric operand/);
    });

    it("comparisons of non-like types are FALSE (JMS 1.1 §3.8.1.2), and <> is NOT = (TRUE), as ActiveMQ's broker evaluates them", () => {
      assert.equal(truth('s = 5', { s: '5' }), 'FALSE');
      assert.equal(truth('s <> 5', { s: '5' }), 'TRUE');
      assert.equal(truth("n = '5'", { n: 5 }), 'FALSE');
      assert.equal(truth("n <> '5'", { n: 5 }), 'TRUE');
      assert.equal(truth('b = 1', { b: true }), 'FALSE');
      assert.equal(truth("b = 'true'", { b: true }), 'FALSE');
      assert.equal(truth('s > 1', { s: '5' }), 'FALSE');
      assert.equal(truth('s <= 1', { s: '5' }), 'FALSE');
      assert.equal(sel('NOT (s = 5)', { s: '5' }), true, 'a migrated NOT (kind = 5) matches string kinds, as on ActiveMQ');
      assert.equal(truth('a = b', { a: '1', b: 1 }), 'FALSE', 'two identifiers of different types');
      assert.equal(truth('a <> b', { a: true, b: 'true' }), 'TRUE');
      assert.equal(truth('a > b', { a: true, b: 1 }), 'FALSE');
      assert.equal(truth('s = 5 OR n = 1', { s: 'x' }), 'UNKNOWN', 'NULL stays UNKNOWN');
    });

    it('rejects statically mismatched literal comparisons and chained comparisons', () => {
      rejects("1 = 'a'", 4, /Cannot compare number '1' with string 'a'/);
      rejects('TRUE <> 0', 8, /Cannot compare boolean/);
      rejects('a + 1 = FALSE', 8);
      rejects('a = b = c', 6, /Unexpected token '='/);
    });

    it('NULL comparisons are UNKNOWN', () => {
      assert.equal(truth('n = 1'), 'UNKNOWN');
      assert.equal(truth('n <> 1'), 'UNKNOWN');
      assert.equal(truth('n < 1'), 'UNKNOWN');
      assert.equal(truth('a = b', { a: 1 }), 'UNKNOWN');
      assert.equal(truth('a = b'), 'UNKNOWN', 'NULL = NULL is UNKNOWN, not TRUE');
    });
  });

  describe("ActiveMQ's convert_string_expressions: prefix (what STOMP subscriptions get)", () => {
    const C = 'convert_string_expressions:';
    it('reads a string compared with a number or boolean as that type; without the prefix it is a type mismatch', () => {
      assert.equal(sel("n > 3", { n: '5' }), false);
      assert.equal(sel(C + 'n > 3', { n: '5' }), true);
      assert.equal(sel(C + 'n = 5', { n: '5' }), true);
      assert.equal(sel(C + '5 = n', { n: '5' }), true);
      assert.equal(sel(C + 'n < 3', { n: '2.5' }), true);
      assert.equal(sel(C + 'n = 9007199254740993', { n: '9007199254740993' }), true, 'integers stay exact');
      assert.equal(sel(C + 'n BETWEEN 1 AND 6', { n: '+4' }), true);
      assert.equal(sel(C + 'n BETWEEN a AND b', { n: '4', a: 1, b: 6 }), true);
      assert.equal(sel(C + 'n = m', { n: '4', m: 4 }), true);
      assert.equal(sel(C + 'flag = TRUE', { flag: 'True' }), true);
      assert.equal(sel(C + "n = '5'", { n: '5' }), true);
      assert.equal(sel(C + "n = '5'", { n: 5 }), false, 'a number is not read as a string');
      assert.equal(sel(C + 'n > 3', { n: 'abc' }), false);
      assert.equal(sel(C + 'NOT (n > 3)', { n: 'abc' }), true, "'abc' does not read as a number: FALSE, as ActiveMQ's NumberFormatException");
      assert.equal(sel(C + 'n <> 3', { n: 'abc' }), true);
      assert.equal(sel(C + 'JMSPriority > 3', {}, { priority: 9 }), true);
    });
  });

  describe('arithmetic', () => {
    it('operators and precedence', () => {
      assert.equal(sel('2 + 3 * 4 = 14'), true);
      assert.equal(sel('(2 + 3) * 4 = 20'), true);
      assert.equal(sel('10 - 2 - 3 = 5'), true, 'left-associative -');
      assert.equal(sel('8 / 4 / 2 = 1'), true, 'left-associative /');
      assert.equal(sel('2 * 3 - 4 / 2 = 4'), true);
      assert.equal(sel('-2 * -3 = 6'), true);
      assert.equal(sel('- n + 1 = -4', { n: 5 }), true, 'unary minus binds tighter than +');
      assert.equal(sel('-(n + 1) = -6', { n: 5 }), true);
      assert.equal(sel('+n = 5', { n: 5 }), true);
      assert.equal(sel('1 - -1 = 2'), true);
      assert.equal(sel('Age - 20 > 4', { Age: 25 }), true);
      assert.equal(sel('n * 2 + 1 BETWEEN 10 AND 11', { n: 5 }), true);
    });

    it('division is floating point; division by zero is NULL', () => {
      assert.equal(sel('n / 2 = 2.5', { n: 5 }), true);
      assert.equal(sel('n / 0 IS NULL', { n: 5 }), true);
      assert.equal(sel('n / 0.0 IS NULL', { n: 5 }), true);
      assert.equal(truth('n / z > 0', { n: 5, z: 0 }), 'UNKNOWN');
      assert.equal(truth('1 / 0 = 1'), 'UNKNOWN');
    });

    it("modulo '%' (ActiveMQ's extension): Java's sign rules, exact for integers, by zero NULL", () => {
      assert.equal(sel('n % 2 = 1', { n: 5 }), true);
      assert.equal(sel('n % 2 = -1', { n: -5 }), true, 'the sign of the dividend, as in Java');
      assert.equal(sel('n % 2 = 1.5', { n: 5.5 }), true);
      assert.equal(sel('big % 10 = 3', { big: 9007199254740993n }), true);
      assert.equal(sel('2 + 7 % 4 = 5'), true, 'binds like *');
      assert.equal(truth('n % 0 = 1', { n: 5 }), 'UNKNOWN');
      assert.throws(() => sel("s % 2 = 1 OR 'a' % 2 = 1", { s: 'x' }));
    });

    it('mixes int, float and bigint; stays exact beyond 2^53', () => {
      assert.equal(sel('a + b = 3.5', { a: 1, b: 2.5 }), true);
      assert.equal(sel('big + 1 = 9007199254740994', { big: 9007199254740993n }), true);
      assert.equal(sel('t * 3 = 27021597764222973', { t: Number.MAX_SAFE_INTEGER }), true, 'no double rounding');
      assert.equal(sel('t + t = 18014398509481982', { t: Number.MAX_SAFE_INTEGER }), true);
      assert.equal(sel('big * 2 = 18014398509481986', { big: 9007199254740993n }), true);
      assert.equal(sel('big / 2 > 4.5e15', { big: 9007199254740993n }), true);
    });

    it('NULL and non-numeric operands yield NULL', () => {
      assert.equal(sel('n + 1 IS NULL'), true);
      assert.equal(sel('-n IS NULL'), true);
      assert.equal(sel('s + 1 IS NULL', { s: '1' }), true, 'no string-to-number conversion');
      assert.equal(sel('b * 2 IS NULL', { b: true }), true);
      assert.equal(truth('n + 1 > 0'), 'UNKNOWN');
    });

    it('rejects arithmetic on string or boolean literals and conditions', () => {
      rejects("a + 'x' = 1", 4, /numeric operand for '\+'/);
      rejects('-TRUE = 1', 1, /numeric operand for unary '-'/);
      rejects('(a > 1) * 2 = 2', 1, /'a > 1'/);
    });
  });

  describe('logical operators and three-valued logic', () => {
    // t = TRUE, f = FALSE, u = UNKNOWN (missing property)
    const P = { t: true, f: false };
    const V = { t: 'TRUE', f: 'FALSE', u: 'UNKNOWN' } as const;
    type K = keyof typeof V;
    const keys: K[] = ['t', 'f', 'u'];

    it('AND truth table', () => {
      const table: Record<string, string> = {
        tt: 'TRUE', tf: 'FALSE', tu: 'UNKNOWN',
        ft: 'FALSE', ff: 'FALSE', fu: 'FALSE',
        ut: 'UNKNOWN', uf: 'FALSE', uu: 'UNKNOWN',
      };
      for (const a of keys) for (const b of keys) assert.equal(truth(`${a} AND ${b}`, P), table[a + b], `${V[a]} AND ${V[b]}`);
    });

    it('OR truth table', () => {
      const table: Record<string, string> = {
        tt: 'TRUE', tf: 'TRUE', tu: 'TRUE',
        ft: 'TRUE', ff: 'FALSE', fu: 'UNKNOWN',
        ut: 'TRUE', uf: 'UNKNOWN', uu: 'UNKNOWN',
      };
      for (const a of keys) for (const b of keys) assert.equal(truth(`${a} OR ${b}`, P), table[a + b], `${V[a]} OR ${V[b]}`);
    });

    it('NOT truth table', () => {
      assert.equal(truth('NOT t', P), 'FALSE');
      assert.equal(truth('NOT f', P), 'TRUE');
      assert.equal(truth('NOT u', P), 'UNKNOWN');
      assert.equal(truth('NOT NOT t', P), 'TRUE');
      assert.equal(sel('NOT u', P), false, 'UNKNOWN does not match');
    });

    it('n-ary chains keep 3VL', () => {
      assert.equal(truth('t AND u AND f', P), 'FALSE');
      assert.equal(truth('t AND t AND u', P), 'UNKNOWN');
      assert.equal(truth('f OR u OR t', P), 'TRUE');
      assert.equal(truth('f OR f OR u', P), 'UNKNOWN');
      assert.equal(truth('f OR f OR f', P), 'FALSE');
    });

    it('precedence: NOT > AND > OR, comparisons bind tighter than NOT', () => {
      // a OR b AND c ≡ a OR (b AND c)
      assert.equal(sel('t OR f AND f', P), true);
      assert.equal(sel('(t OR f) AND f', P), false);
      // NOT a AND b ≡ (NOT a) AND b
      assert.equal(sel('NOT f AND f', P), false);
      assert.equal(sel('NOT (f AND f)', P), true);
      // NOT n = 1 ≡ NOT (n = 1)
      assert.equal(sel('NOT n = 1', { n: 2 }), true);
      assert.equal(sel('n = 1 OR n = 2 AND m = 3', { n: 1, m: 0 }), true);
    });

    it('non-boolean identifiers in a boolean context are UNKNOWN', () => {
      assert.equal(truth('s', { s: 'true' }), 'UNKNOWN');
      assert.equal(truth('n AND TRUE', { n: 1 }), 'UNKNOWN');
      assert.equal(truth('n OR TRUE', { n: 1 }), 'TRUE');
      assert.equal(truth('TRUE AND n AND TRUE', { n: 1 }), 'UNKNOWN');
      assert.equal(truth('FALSE OR n OR FALSE', { n: 'x' }), 'UNKNOWN');
    });

    it('rejects non-boolean literals where a condition is needed', () => {
      rejects('5', 0, /boolean condition/);
      rejects("a AND 'x'", 6, /boolean condition for AND/);
      rejects('NOT 1', 4, /boolean condition for NOT/);
      rejects('a + 1', 0, /boolean condition/);
    });
  });

  describe('BETWEEN', () => {
    it('is inclusive and equivalent to >= AND <=', () => {
      assert.equal(sel('age BETWEEN 15 AND 19', { age: 15 }), true);
      assert.equal(sel('age BETWEEN 15 AND 19', { age: 19 }), true);
      assert.equal(sel('age BETWEEN 15 AND 19', { age: 17.5 }), true);
      assert.equal(sel('age BETWEEN 15 AND 19', { age: 14 }), false);
      assert.equal(sel('age BETWEEN 15 AND 19', { age: 20 }), false);
      assert.equal(sel('age BETWEEN 19 AND 15', { age: 17 }), false, 'empty range');
    });

    it('NOT BETWEEN', () => {
      assert.equal(sel('age NOT BETWEEN 15 AND 19', { age: 14 }), true);
      assert.equal(sel('age NOT BETWEEN 15 AND 19', { age: 20 }), true);
      assert.equal(sel('age NOT BETWEEN 15 AND 19', { age: 15 }), false);
      assert.equal(sel('NOT age BETWEEN 15 AND 19', { age: 17 }), false);
    });

    it('NULL operands are UNKNOWN; a non-numeric value is neither BETWEEN nor NOT BETWEEN (both comparisons FALSE)', () => {
      assert.equal(truth('age BETWEEN 1 AND 2'), 'UNKNOWN');
      assert.equal(truth('age NOT BETWEEN 1 AND 2'), 'UNKNOWN');
      assert.equal(truth('age BETWEEN 1 AND 2', { age: '1' }), 'FALSE');
      assert.equal(sel('age NOT BETWEEN 1 AND 2', { age: '1' }), false);
      assert.equal(sel('age NOT BETWEEN lo AND hi', { age: '1', lo: 1, hi: 2 }), false);
      // bounds from properties: a NULL bound gives UNKNOWN unless the other comparison decides
      assert.equal(truth('age BETWEEN lo AND hi', { age: 5, hi: 10 }), 'UNKNOWN');
      assert.equal(truth('age BETWEEN lo AND hi', { age: 50, hi: 10 }), 'FALSE');
      assert.equal(truth('age NOT BETWEEN lo AND hi', { age: 50, hi: 10 }), 'TRUE');
      assert.equal(truth('age BETWEEN lo AND hi', { age: 5, lo: 1, hi: 10 }), 'TRUE');
    });

    it('accepts arithmetic bounds and binds tighter than logical AND', () => {
      assert.equal(sel('n BETWEEN m - 1 AND m + 1 AND flag', { n: 5, m: 6, flag: true }), true);
      assert.equal(sel('n BETWEEN m - 1 AND m + 1 AND flag', { n: 5, m: 6, flag: false }), false);
      assert.equal(sel('n BETWEEN -1 AND 1', { n: 0n }), true);
    });

    it('rejects string bounds and a missing AND', () => {
      rejects("s BETWEEN 'a' AND 'c'", 10, /numeric operand for BETWEEN/);
      rejects('n BETWEEN 1 OR 2', 12, /Expected AND in BETWEEN but found token 'OR'/);
    });
  });

  describe('IN', () => {
    it('matches string lists', () => {
      assert.equal(sel("Country IN ('UK', 'US', 'France')", { Country: 'UK' }), true);
      assert.equal(sel("Country IN ('UK', 'US', 'France')", { Country: 'Peru' }), false);
      assert.equal(sel("Country IN (' UK')", { Country: 'UK' }), false, 'no trimming');
      assert.equal(sel("Country NOT IN ('UK', 'US')", { Country: 'Peru' }), true);
      assert.equal(sel("Country NOT IN ('UK', 'US')", { Country: 'US' }), false);
      assert.equal(sel("c IN ('it''s')", { c: "it's" }), true);
    });

    it('accepts numeric lists', () => {
      assert.equal(sel('n IN (1, 2, 3)', { n: 2 }), true);
      assert.equal(sel('n IN (1, 2.5, -3)', { n: -3 }), true);
      assert.equal(sel('n IN (1, 2.5, -3)', { n: 2.5 }), true);
      assert.equal(sel('n IN (1, 2)', { n: 2n }), true);
      assert.equal(sel('n IN (9007199254740993)', { n: 9007199254740993n }), true);
      assert.equal(sel('n IN (1e20)', { n: 10n ** 20n }), true, 'approximate item vs large bigint');
      assert.equal(sel('n IN (100000000000000000000)', { n: 1e20 }), true, 'large exact item vs double');
      assert.equal(sel('n NOT IN (1, 2)', { n: 5 }), true);
    });

    it('NULL and mismatched values are UNKNOWN', () => {
      assert.equal(truth("c IN ('a', 'b')"), 'UNKNOWN');
      assert.equal(truth("c NOT IN ('a', 'b')"), 'UNKNOWN');
      assert.equal(truth("c IN ('1')", { c: 1 }), 'UNKNOWN');
      assert.equal(truth("c NOT IN ('1')", { c: 1 }), 'UNKNOWN');
      assert.equal(truth("c IN ('a')", { c: true }), 'UNKNOWN');
      assert.equal(truth("c IN ('a', 1)", { c: 'a' }), 'TRUE');
      assert.equal(truth("c IN ('a', 1)", { c: 'b' }), 'UNKNOWN', '≡ c = \'a\' OR c = 1');
    });

    it('rejects non-literal list items and malformed lists', () => {
      rejects("c IN ('a', b)", 11, /string or numeric literal in IN list but found token 'b'/);
      rejects('c IN ()', 6, /found token '\)'/);
      rejects("c IN 'a'", 5, /Expected '\(' after IN/);
      rejects("c IN ('a' 'b')", 10, /',' or '\)'/);
      rejects("c IN ('a',", 10, /end of selector/);
      rejects("c IN (TRUE)", 6, /'TRUE'/);
    });
  });

  describe('LIKE', () => {
    it('spec examples for % and _', () => {
      assert.equal(sel("phone LIKE '12%3'", { phone: '123' }), true);
      assert.equal(sel("phone LIKE '12%3'", { phone: '12993' }), true);
      assert.equal(sel("phone LIKE '12%3'", { phone: '1234' }), false);
      assert.equal(sel("word LIKE 'l_se'", { word: 'lose' }), true);
      assert.equal(sel("word LIKE 'l_se'", { word: 'loose' }), false);
      assert.equal(sel("phone NOT LIKE '12%3'", { phone: '123' }), false);
      assert.equal(sel("phone NOT LIKE '12%3'", { phone: '1234' }), true);
    });

    it('ESCAPE makes % and _ literal', () => {
      assert.equal(sel("underscored LIKE '\\_%' ESCAPE '\\'", { underscored: '_foo' }), true);
      assert.equal(sel("underscored LIKE '\\_%' ESCAPE '\\'", { underscored: 'bar' }), false);
      assert.equal(sel("p LIKE '100!%' ESCAPE '!'", { p: '100%' }), true);
      assert.equal(sel("p LIKE '100!%' ESCAPE '!'", { p: '1000' }), false);
      assert.equal(sel("p LIKE 'a!!b' ESCAPE '!'", { p: 'a!b' }), true);
      assert.equal(sel("p LIKE '%!_%' ESCAPE '!'", { p: 'a_b' }), true);
      assert.equal(sel("p LIKE '%!_%' ESCAPE '!'", { p: 'ab' }), false);
      assert.equal(sel("p LIKE 'a\\_b'", { p: 'a\\xb' }), true, 'without ESCAPE a backslash is an ordinary character');
    });

    it('anchors the whole string and treats regex metacharacters literally', () => {
      assert.equal(sel("s LIKE 'abc'", { s: 'abc' }), true);
      assert.equal(sel("s LIKE 'abc'", { s: 'xabc' }), false);
      assert.equal(sel("s LIKE 'ab'", { s: 'abc' }), false);
      assert.equal(sel("s LIKE 'a.c'", { s: 'abc' }), false);
      assert.equal(sel("s LIKE 'a.c'", { s: 'a.c' }), true);
      assert.equal(sel("s LIKE '(x)*[y]+$'", { s: '(x)*[y]+$' }), true);
      assert.equal(sel("s LIKE ''", { s: '' }), true);
      assert.equal(sel("s LIKE ''", { s: 'a' }), false);
      assert.equal(sel("s LIKE '%'", { s: '' }), true);
      assert.equal(sel("s LIKE '%%'", { s: 'anything' }), true);
      assert.equal(sel("s LIKE 'A%'", { s: 'abc' }), false, 'case-sensitive');
    });

    it('prefix, suffix, contains and general shapes', () => {
      assert.equal(sel("s LIKE 'ab%'", { s: 'abc' }), true);
      assert.equal(sel("s LIKE '%bc'", { s: 'abc' }), true);
      assert.equal(sel("s LIKE '%b%'", { s: 'abc' }), true);
      assert.equal(sel("s LIKE '%x%'", { s: 'abc' }), false);
      assert.equal(sel("s LIKE 'a%b%c'", { s: 'aXbYbZc' }), true);
      assert.equal(sel("s LIKE 'a%b%c'", { s: 'aXbYbZ' }), false);
      assert.equal(sel("s LIKE '%a_c%'", { s: 'xxabcxx' }), true);
      assert.equal(sel("s LIKE '%a_'", { s: 'xab' }), true);
      assert.equal(sel("s LIKE '%a_'", { s: 'ba' }), false);
      assert.equal(sel("s LIKE '_a%'", { s: 'ab' }), false);
      assert.equal(sel("s LIKE '___'", { s: 'abc' }), true);
      assert.equal(sel("s LIKE '___'", { s: 'ab' }), false);
      assert.equal(sel("s LIKE '_%_'", { s: 'a' }), false);
      assert.equal(sel("s LIKE 'a%'", { s: 'a\nb' }), true, '% spans line breaks');
      assert.equal(sel("s LIKE 'a_b'", { s: 'a\nb' }), true, '_ matches a line break');
    });

    it('_ matches one Unicode character, including astral ones', () => {
      assert.equal(sel("s LIKE 'a_b'", { s: 'a😀b' }), true);
      assert.equal(sel("s LIKE 'a__b'", { s: 'a😀b' }), false);
      assert.equal(sel("s LIKE '%_'", { s: '😀' }), true);
    });

    it('NULL is UNKNOWN; a number or boolean is not LIKE any pattern (ActiveMQ: FALSE, NOT LIKE TRUE)', () => {
      assert.equal(truth("s LIKE 'a%'"), 'UNKNOWN');
      assert.equal(truth("s NOT LIKE 'a%'"), 'UNKNOWN');
      assert.equal(truth("n LIKE '1%'", { n: 12 }), 'FALSE');
      assert.equal(sel("n NOT LIKE '1%'", { n: 12 }), true);
    });

    it('stays fast on pathological patterns', () => {
      const s = 'a'.repeat(20_000);
      const start = process.hrtime.bigint();
      assert.equal(sel("s LIKE '%a%a%a%a%a%a%a%a%b'", { s }), false);
      assert.equal(sel("s LIKE '%a_a_a_a_a_a_a%'", { s }), true);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.ok(ms < 500, `took ${ms}ms`);
    });

    it('rejects non-literal patterns and bad escapes', () => {
      rejects('s LIKE t', 7, /string literal pattern after LIKE but found token 't'/);
      rejects('s LIKE 5', 7, /string literal pattern/);
      rejects("s LIKE 'a' ESCAPE 'ab'", 18, /single-character string literal after ESCAPE but found token 'ab'/);
      rejects("s LIKE 'a' ESCAPE ''", 18, /single-character/);
      rejects("s LIKE 'a' ESCAPE x", 18, /single-character/);
      rejects("s LIKE 'a!b' ESCAPE '!'", 7, /Invalid escape sequence '!b'/);
      rejects("s LIKE 'ab!' ESCAPE '!'", 7, /ends with the escape character/);
      rejects("5 LIKE 'a'", 0, /string value for LIKE/);
    });
  });

  describe('IS [NOT] NULL', () => {
    it('tests for missing properties and unset headers', () => {
      assert.equal(sel('p IS NULL'), true);
      assert.equal(sel('p IS NULL', { p: 0 }), false);
      assert.equal(sel('p IS NULL', { p: '' }), false);
      assert.equal(sel('p IS NULL', { p: false }), false);
      assert.equal(sel('p IS NOT NULL', { p: 'x' }), true);
      assert.equal(sel('p IS NOT NULL'), false);
      assert.equal(sel('NOT p IS NULL', { p: 1 }), true);
      assert.equal(sel('p is null or p = 1'), true);
    });

    it('turns UNKNOWN into a definite answer', () => {
      assert.equal(truth('p IS NOT NULL AND p = 1'), 'FALSE');
      assert.equal(truth('p IS NULL OR p = 1'), 'TRUE');
      assert.equal(sel('(p > 1) IS NULL'), true, 'an UNKNOWN condition is NULL');
      assert.equal(sel('(p > 1) IS NOT NULL', { p: 2 }), true);
    });

    it('rejects IS without NULL', () => {
      rejects('p IS 5', 5, /Expected NULL or NOT NULL after IS but found token '5'/);
      rejects('p IS NOT 5', 9, /Expected NULL after IS NOT/);
      rejects('p IS', 4, /end of selector/);
    });
  });

  describe('parse errors', () => {
    it('report the offending token and its position', () => {
      const e = rejects('a = 1 AND AND b = 2', 10);
      assert.equal(e.message, "Unexpected token 'AND' at position 10");
      assert.equal(e.name, 'SelectorError');
      assert.ok(e instanceof Error);
      rejects('AND a', 0, /^Unexpected token 'AND' at position 0$/);
      rejects('a = 1 AND', 9, /^Unexpected end of selector at position 9$/);
      rejects('a = ', 4, /Unexpected end of selector/);
      rejects('a = 1 b = 2', 6, /Unexpected token 'b'/);
      rejects('a = 1)', 5, /Unexpected token '\)'/);
      rejects('a == 1', 3, /Unexpected token '='/);
      rejects('()', 1, /Unexpected token '\)'/);
    });

    it('unterminated strings', () => {
      rejects("name = 'abc", 7, /Unterminated string literal/);
      rejects("name = 'it''s", 7, /Unterminated string literal/);
    });

    it('unknown characters', () => {
      rejects('a # 1', 2, /Unexpected character '#'/);
      rejects('a != 1', 2, /Unexpected character '!'/);
      rejects('a = "x"', 4, /Unexpected character '"'/);
      rejects('a.b = 1', 1, /Unexpected character '\.'/);
      rejects('a\u00a0= 1', 1, /Unexpected character/);
      rejects('a = 1 /* comment */', 7, /Unexpected token '\*'/);
      assert.equal(sel('a = 1 -- 1', { a: 2 }), true, 'no SQL comments: -- is two minus signs');
    });

    it('missing parentheses', () => {
      rejects('(a = 1', 6, /^Expected '\)' but found end of selector at position 6 \(to close '\(' at position 0\)$/);
      rejects('((a = 1) AND (b = 2)', 20, /Expected '\)'/);
      rejects('(a = 1 b', 7, /Expected '\)' but found token 'b'/);
    });

    it('malformed numbers', () => {
      rejects('n = 12abc', 6, /Unexpected token 'abc'/);
      rejects('n = 1.2.3', 7, /Unexpected token '.3'/);
      assert.equal(sel('a=1AND b=2', { a: 1, b: 2 }), true, 'no whitespace needed between tokens');
      assert.equal(sel("a=1OR s='x'", { a: 0, s: 'x' }), true);
      rejects('n = 1e', 4, /Invalid numeric literal/);
      rejects('n = 0x', 4, /Invalid numeric literal/);
      rejects('n = 09', 4, /Invalid octal literal '09'/);
      rejects('n = 1e999', 4, /out of range/);
    });

    it('NULL is not a value', () => {
      rejects('p = NULL', 4, /Unexpected token 'NULL' at position 4 \(use IS NULL/);
      rejects('p NOT NULL', 6, /Expected BETWEEN, IN or LIKE after NOT but found token 'NULL'/);
    });

    it('rejects non-string input', () => {
      assert.throws(() => compileSelector(42 as unknown as string), SelectorError);
    });
  });

  describe('limits', () => {
    it('rejects text longer than 64 KiB', () => {
      const ok = 'a = 1' + ' '.repeat(MAX_SELECTOR_LENGTH - 5);
      assert.equal(ok.length, 65536);
      assert.equal(sel(ok, { a: 1 }), true);
      rejects(ok + ' ', 65536, /too long/);
      rejects("s = '" + 'x'.repeat(200_000) + "'", 65536, /too long/);
    });

    it('rejects nesting deeper than 200 without overflowing the stack', () => {
      const parens = (n: number) => '('.repeat(n) + 'a = 1' + ')'.repeat(n);
      assert.equal(sel(parens(200), { a: 1 }), true);
      rejects(parens(201), 200, /nested too deeply/);
      rejects(parens(30_000), 200, /nested too deeply/);
      assert.equal(sel('NOT '.repeat(200) + 'a', { a: true }), true);
      rejects('NOT '.repeat(201) + 'a', 800, /nested too deeply/);
      rejects('-'.repeat(5000) + '1 = 1', 200, /nested too deeply/);
    });

    it('accepts long flat chains but bounds expression height', () => {
      const ors = Array.from({ length: 3000 }, (_, i) => `n = ${i}`).join(' OR ');
      assert.equal(sel(ors, { n: 2999 }), true);
      assert.equal(sel(ors, { n: 3000 }), false);
      const ins = `n IN (${Array.from({ length: 5000 }, (_, i) => `'v${i}'`).join(',')})`;
      assert.equal(sel(ins, { n: 'v4999' }), true);
      assert.equal(sel(Array.from({ length: 500 }, () => 'n').join(' + ') + ' = 500', { n: 1 }), true);
      assert.throws(() => compileSelector(Array.from({ length: 5000 }, () => 'n').join(' + ') + ' = 1'), /too complex/);
    });
  });

  describe('robustness', () => {
    it('never throws while evaluating', () => {
      const s = compileSelector("a = 1 AND b LIKE 'x%' OR c IS NULL");
      assert.equal(s({ properties: null } as unknown as Message), false);
      assert.equal(s({} as unknown as Message), false);
      const weird = msg({ a: { nested: true } as unknown as PropertyValue, b: [1] as unknown as PropertyValue, c: undefined as unknown as PropertyValue });
      assert.equal(compileSelector('a IS NULL AND b IS NULL AND c IS NULL')(weird), true);
      assert.equal(compileSelector('n > 1')(msg({ n: NaN })), false);
      assert.equal(compileSelector('n <> 1')(msg({ n: NaN })), true);
    });

    it('a compiled selector is reusable across messages', () => {
      const s = compileSelector("JMSType = 'car' AND color = 'blue' AND weight > 2500");
      assert.equal(s(msg({ color: 'blue', weight: 3000 }, { type: 'car' })), true);
      assert.equal(s(msg({ color: 'red', weight: 3000 }, { type: 'car' })), false);
      assert.equal(s(msg({ color: 'blue', weight: 2000 }, { type: 'car' })), false);
      assert.equal(s(msg({ color: 'blue', weight: 3000 })), false);
    });
  });

  describe('AST', () => {
    it('reflects precedence, folding of signed literals and flattened chains', () => {
      const ast = parseSelector('a = -1 OR b > 2 * c AND NOT d OR e');
      assert.equal(ast.kind, 'or');
      if (ast.kind !== 'or') return;
      assert.equal(ast.operands.length, 3);
      assert.deepEqual(ast.operands[0], {
        kind: 'comparison',
        op: '=',
        left: { kind: 'identifier', name: 'a', pos: 0, end: 1 },
        right: { kind: 'literal', value: -1, pos: 4, end: 6 },
        pos: 0,
        end: 6,
      });
      const and = ast.operands[1]!;
      assert.equal(and.kind, 'and');
      if (and.kind !== 'and') return;
      assert.equal(and.operands[1]!.kind, 'not');
      const cmp = and.operands[0]!;
      assert.ok(cmp.kind === 'comparison' && cmp.right.kind === 'arithmetic' && cmp.right.op === '*');
    });

    it('represents BETWEEN, IN, LIKE and IS NULL nodes', () => {
      assert.deepEqual(parseSelector("s NOT LIKE 'a%' ESCAPE '!'"), {
        kind: 'like',
        negated: true,
        value: { kind: 'identifier', name: 's', pos: 0, end: 1 },
        pattern: 'a%',
        escape: '!',
        pos: 0,
        end: 26,
      });
      const inNode = parseSelector("c IN ('x', -2, 3.5)");
      assert.ok(inNode.kind === 'in');
      assert.deepEqual(inNode.list, ['x', -2, 3.5]);
      const between = parseSelector('n NOT BETWEEN 1 AND 2');
      assert.ok(between.kind === 'between' && between.negated);
      const isNull = parseSelector('n IS NOT NULL');
      assert.ok(isNull.kind === 'isNull' && isNull.negated);
    });
  });

  describe('contexts', () => {
    it('compileContextSelector evaluates against any identifier source', () => {
      const s = compileContextSelector('deliveryCount > 2 AND JMSPriority = 4');
      const values: Record<string, unknown> = { deliveryCount: 3, JMSPriority: 4 };
      assert.equal(s({ get: (k) => values[k] }), true);
      assert.equal(s({ get: (k) => (k === 'deliveryCount' ? 1 : 4) }), false);
      assert.equal(s({ get: () => undefined }), false);
      assert.equal(s({ get: () => { throw new Error('boom'); } }), false);
      assert.equal(compileContextSelector('x = 5')({ get: () => 5n }), true);
    });

    it('messageContext and selectorValue resolve like compileSelector', () => {
      const m = msg({ color: 'blue', buf: Buffer.from('x') }, { durable: false, correlationId: 'c1' });
      assert.equal(selectorValue(m, 'JMSDeliveryMode'), 'NON_PERSISTENT');
      assert.equal(selectorValue(m, 'JMSCorrelationID'), 'c1');
      assert.equal(selectorValue(m, 'buf'), null);
      assert.equal(selectorValue(m, 'nope'), null);
      const ctx = messageContext(m);
      assert.equal(ctx.get('color'), 'blue');
      assert.equal(compileContextSelector("color = 'blue' AND JMSDeliveryMode = 'NON_PERSISTENT'")(ctx), true);
    });
  });
});
