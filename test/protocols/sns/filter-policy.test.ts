/** SNS filter policy matching and validation (unit level). */
import assert from 'node:assert/strict';
import { FilterPolicyError, matchesFilter, parseFilterPolicy, type FilterAttribute } from '../../../protocols/sns/filter-policy.js';

const S = (v: string): FilterAttribute => ({ DataType: 'String', StringValue: v });
const N = (v: number | string): FilterAttribute => ({ DataType: 'Number', StringValue: String(v) });
const A = (v: unknown[]): FilterAttribute => ({ DataType: 'String.Array', StringValue: JSON.stringify(v) });

function attrs(policy: object, a: Record<string, FilterAttribute>): boolean {
  return matchesFilter(parseFilterPolicy(JSON.stringify(policy), 'MessageAttributes'), 'MessageAttributes', a, '');
}
function body(policy: object, b: unknown): boolean {
  return matchesFilter(parseFilterPolicy(JSON.stringify(policy), 'MessageBody'), 'MessageBody', {}, JSON.stringify(b));
}

describe('SNS filter policies', () => {
  it('exact strings and numbers, OR within a key, AND across keys', () => {
    assert.ok(attrs({ color: ['red', 'blue'] }, { color: S('blue') }));
    assert.ok(!attrs({ color: ['red', 'blue'] }, { color: S('green') }));
    assert.ok(!attrs({ color: ['red'] }, {}));
    assert.ok(attrs({ n: [5] }, { n: N('5.0') }));
    assert.ok(!attrs({ n: [5] }, { n: S('5') }), 'a number matches only Number attributes');
    assert.ok(attrs({ color: ['red'], size: ['L'] }, { color: S('red'), size: S('L') }));
    assert.ok(!attrs({ color: ['red'], size: ['L'] }, { color: S('red'), size: S('M') }));
  });

  it('prefix, suffix, equals-ignore-case, anything-but (value, list, prefix, suffix)', () => {
    assert.ok(attrs({ s: [{ prefix: 'eu-' }] }, { s: S('eu-west') }));
    assert.ok(!attrs({ s: [{ prefix: 'eu-' }] }, { s: S('us-east') }));
    assert.ok(attrs({ s: [{ suffix: '.png' }] }, { s: S('a.png') }));
    assert.ok(attrs({ s: [{ 'equals-ignore-case': 'RED' }] }, { s: S('red') }));
    assert.ok(attrs({ s: [{ 'anything-but': 'x' }] }, { s: S('y') }));
    assert.ok(!attrs({ s: [{ 'anything-but': ['x', 'y'] }] }, { s: S('y') }));
    assert.ok(!attrs({ s: [{ 'anything-but': 'x' }] }, {}), 'anything-but needs the attribute');
    assert.ok(attrs({ n: [{ 'anything-but': [1, 2] }] }, { n: N(3) }));
    assert.ok(!attrs({ s: [{ 'anything-but': { prefix: 'tmp' } }] }, { s: S('tmp-1') }));
    assert.ok(attrs({ s: [{ 'anything-but': { suffix: '.tmp' } }] }, { s: S('a.txt') }));
    assert.ok(attrs({ s: [{ prefix: { 'equals-ignore-case': 'EU' } }] }, { s: S('eu-west') }));
  });

  it('numeric ranges, exists, cidr, String.Array attributes', () => {
    assert.ok(attrs({ p: [{ numeric: ['>', 0, '<=', 10] }] }, { p: N(10) }));
    assert.ok(!attrs({ p: [{ numeric: ['>', 0, '<=', 10] }] }, { p: N(0) }));
    assert.ok(attrs({ p: [{ numeric: ['=', 3.5] }] }, { p: N('3.5') }));
    assert.ok(attrs({ k: [{ exists: true }] }, { k: S('') }));
    assert.ok(attrs({ k: [{ exists: false }] }, {}));
    assert.ok(!attrs({ k: [{ exists: false }] }, { k: S('v') }));
    assert.ok(attrs({ ip: [{ cidr: '10.0.0.0/24' }] }, { ip: S('10.0.0.42') }));
    assert.ok(!attrs({ ip: [{ cidr: '10.0.0.0/24' }] }, { ip: S('10.0.1.1') }));
    assert.ok(attrs({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: S('2001:db8:1::5') }));
    assert.ok(attrs({ tags: ['b'] }, { tags: A(['a', 'b']) }));
    assert.ok(attrs({ nums: [{ numeric: ['>', 5] }] }, { nums: A([1, 9]) }));
    assert.ok(!attrs({ tags: ['z'] }, { tags: A(['a', 'b']) }));
  });

  it('$or and nested message-body policies (arrays in the body match any element)', () => {
    const p = { $or: [{ a: ['1'] }, { b: ['2'] }] };
    assert.ok(attrs(p, { b: S('2') }));
    assert.ok(!attrs(p, { a: S('2') }));
    assert.ok(body({ order: { type: ['book'], price: [{ numeric: ['<', 20] }] } }, { order: { type: 'book', price: 15 } }));
    assert.ok(!body({ order: { type: ['book'] } }, { order: { type: 'car' } }));
    assert.ok(body({ items: { sku: ['x'] } }, { items: [{ sku: 'y' }, { sku: 'x' }] }));
    assert.ok(body({ flag: [true], none: [null] }, { flag: true, none: null }));
    assert.ok(body({ missing: [{ exists: false }] }, { other: 1 }));
    assert.ok(!matchesFilter(parseFilterPolicy('{"a": ["x"]}', 'MessageBody'), 'MessageBody', {}, 'not json'));
  });

  it('rejects invalid policies with a reason', () => {
    const bad = [
      'nope',
      '[]',
      '{}',
      '{"a": "x"}',
      '{"a": []}',
      '{"a": [{"numeric": [">"]}]}',
      '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
      '{"a": [{"numeric": [">", 5, "<", 1]}]}',
      '{"a": [{"prefix": 1}]}',
      '{"a": [{"exists": "yes"}]}',
      '{"a": [{"cidr": "10.0.0.0"}]}',
      '{"a": [{"unknown": 1}]}',
      '{"a": [{"prefix": "x", "suffix": "y"}]}',
      '{"$or": [{"a": ["1"]}]}',
      '{"a": [[1]]}',
    ];
    for (const p of bad) assert.throws(() => parseFilterPolicy(p, 'MessageAttributes'), FilterPolicyError, p);
    assert.throws(() => parseFilterPolicy('{"a": {"b": ["x"]}}', 'MessageAttributes'), FilterPolicyError, 'nesting only for the body');
    parseFilterPolicy('{"a": {"b": ["x"]}}', 'MessageBody');
    const tooMany = { a: Array.from({ length: 20 }, (_, i) => `v${i}`), b: Array.from({ length: 10 }, (_, i) => `w${i}`) };
    assert.throws(() => parseFilterPolicy(JSON.stringify(tooMany), 'MessageAttributes'), /too complex/);
  });
});
