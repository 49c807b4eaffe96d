import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findNonPlain, MAX_PLAIN_DEPTH } from '../fold/plain.js';
import { pinnedSeed } from '../test-support/fixtures.js';
import { isPlainQuick } from './plain-fast.js';

/** The journal's full rule: plain data and no own `__proto__` key anywhere. */
function hasProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false;
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (Object.hasOwn(value, '__proto__')) return true;
  return Object.values(value).some(hasProtoKey);
}

class Point {
  constructor(readonly x: number) {}
}

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value };
  return value;
};

/** Plain values with some non-plain ones and `__proto__` keys mixed in, at any depth. */
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, undefined, true, 0, -1.5, Number.NaN, 'a', ''),
    fc.constantFrom<unknown>(new Uint8Array(2), new Map(), new Set([1]), /x/, new Date(0), new Point(1), () => 1, 10n, Symbol('s')),
    fc.constantFrom(nested(MAX_PLAIN_DEPTH - 3), nested(MAX_PLAIN_DEPTH - 1), nested(MAX_PLAIN_DEPTH), nested(MAX_PLAIN_DEPTH + 1)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'type', 'constructor'), tie('value'), { maxKeys: 3 }),
    // A computed key defines an own "__proto__" property (as msgpack or JSON decoding would).
    tie('value').map((inner) => ({ ['__proto__']: inner, a: 1 }) as unknown),
    tie('value').map((inner) => Object.assign(Object.create(null) as object, { k: inner })),
  ),
})).value;

describe('isPlainQuick', () => {
  it('agrees with findNonPlain (and, asked to, with the __proto__ rule) on every value', () => {
    fc.assert(
      fc.property(values, fc.nat(3), (value, depth) => {
        expect(isPlainQuick(value, depth, false)).toBe(findNonPlain(value, '$', depth) === undefined);
        expect(isPlainQuick(value, depth, true)).toBe(findNonPlain(value, '$', depth) === undefined && !hasProtoKey(value));
      }),
      { ...pinnedSeed(), numRuns: 2000 },
    );
  });

  it('refuses what findNonPlain refuses at the depth limit', () => {
    // MAX_PLAIN_DEPTH containers hold their leaf at depth MAX_PLAIN_DEPTH: the deepest accepted.
    expect(findNonPlain(nested(MAX_PLAIN_DEPTH))).toBeUndefined();
    expect(isPlainQuick(nested(MAX_PLAIN_DEPTH), 0, false)).toBe(true);
    expect(findNonPlain(nested(MAX_PLAIN_DEPTH + 1))).toBeDefined();
    expect(isPlainQuick(nested(MAX_PLAIN_DEPTH + 1), 0, false)).toBe(false);
  });
});
