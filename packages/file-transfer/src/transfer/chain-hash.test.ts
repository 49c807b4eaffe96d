import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHAIN_SEED, ChainHasher } from './chain-hash.js';

function chainOf(data: Uint8Array, interval: number, cuts: number[]): { final: string; boundaries: { offset: number; chain: string }[] } {
  const hasher = new ChainHasher(0, CHAIN_SEED, interval);
  const boundaries: { offset: number; chain: string }[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((c) => c <= data.length).sort((a, b) => a - b), data.length]) {
    boundaries.push(...hasher.update(data.subarray(at, cut)));
    at = cut;
  }
  return { final: hasher.finish().chain, boundaries };
}

describe('ChainHasher', () => {
  it('does not depend on how the bytes are split into reads', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 0, max: 700 }),
        fc.array(fc.nat(3000), { maxLength: 8 }),
        (data, interval, cuts) => {
          const whole = chainOf(data, interval, []);
          const split = chainOf(data, interval, cuts);
          expect(split).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('continues from any recorded boundary to the same final chain (what a resume relies on)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), (data, interval) => {
        const { final, boundaries } = chainOf(data, interval, []);
        for (const boundary of boundaries) {
          const resumed = new ChainHasher(boundary.offset, boundary.chain, interval);
          resumed.update(data.subarray(boundary.offset));
          expect(resumed.finish().chain).toBe(final);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('changes when any byte changes', () => {
    const data = new Uint8Array(1000).fill(7);
    const other = Uint8Array.from(data);
    other[999] = 8;
    expect(chainOf(data, 100, []).final).not.toBe(chainOf(other, 100, []).final);
    expect(chainOf(new Uint8Array(0), 100, []).final).toBe(CHAIN_SEED);
  });
});
