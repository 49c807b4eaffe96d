import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { ErrorCode } from '@ckpt/core';
import { HashUnavailableError, isRetryable } from '../errors.js';
import {
  CHAIN_SEED,
  ChainHasher,
  DIGEST_PATTERN,
  formatDigest,
  isChainOf,
  loadChainAlgorithm,
  loadXxh3,
  SHA256_CHAIN,
  type ChainAlgorithm,
} from './chain-hash.js';

const xxh3 = await loadChainAlgorithm('xxh3');

function chainOf(
  data: Uint8Array,
  interval: number,
  cuts: number[],
  algorithm: ChainAlgorithm = SHA256_CHAIN,
): { final: string; boundaries: { offset: number; chain: string }[] } {
  const hasher = new ChainHasher(0, algorithm.seed, interval, algorithm);
  const boundaries: { offset: number; chain: string }[] = [];
  let at = 0;
  for (const cut of [...cuts.filter((c) => c <= data.length).sort((a, b) => a - b), data.length]) {
    boundaries.push(...hasher.update(data.subarray(at, cut)));
    at = cut;
  }
  return { final: hasher.finish().chain, boundaries };
}

describe.each([
  ['sha256', SHA256_CHAIN],
  ['xxh3', xxh3],
] as const)('ChainHasher (%s)', (_name, algorithm) => {
  it('does not depend on how the bytes are split into reads', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 0, max: 700 }),
        fc.array(fc.nat(3000), { maxLength: 8 }),
        (data, interval, cuts) => {
          const whole = chainOf(data, interval, [], algorithm);
          const split = chainOf(data, interval, cuts, algorithm);
          expect(split).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('continues from any recorded boundary to the same final chain (what a resume relies on)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 700 }), (data, interval) => {
        const { final, boundaries } = chainOf(data, interval, [], algorithm);
        for (const boundary of boundaries) {
          const resumed = new ChainHasher(boundary.offset, boundary.chain, interval, algorithm);
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
    expect(chainOf(data, 100, [], algorithm).final).not.toBe(chainOf(other, 100, [], algorithm).final);
    expect(chainOf(new Uint8Array(0), 100, [], algorithm).final).toBe(algorithm.seed);
  });

  it('peeks at the open segment without closing it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(2000), (data, at) => {
        const hasher = new ChainHasher(0, algorithm.seed, 0, algorithm);
        const cut = Math.min(at, data.length);
        hasher.update(data.subarray(0, cut));
        const peeked = hasher.peek();
        expect(peeked).toBe(chainOf(data.subarray(0, cut), 0, [], algorithm).final);
        hasher.update(data.subarray(cut));
        expect(hasher.finish().chain).toBe(chainOf(data, 0, [], algorithm).final);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps each hasher apart when several run at once, interleaved (a resume re-hash beside a stream)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 500 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 300 }),
        (parts, interval) => {
          const a = new ChainHasher(0, algorithm.seed, interval, algorithm);
          const b = new ChainHasher(0, algorithm.seed, interval, algorithm);
          parts.forEach((part, i) => {
            a.update(part);
            if (i % 2 === 0) b.update(part);
            a.peek();
          });
          const all = Buffer.concat(parts);
          const even = Buffer.concat(parts.filter((_, i) => i % 2 === 0));
          expect(a.finish().chain).toBe(chainOf(all, interval, [], algorithm).final);
          expect(b.finish().chain).toBe(chainOf(even, interval, [], algorithm).final);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the chain hashes', () => {
  it('keeps the SHA-256 chain of every earlier revision: seed, segments, digest form', () => {
    expect(CHAIN_SEED).toBe(createHash('sha256').update('ckpt-file-transfer chain v1').digest('hex'));
    const data = Buffer.from('abcdefghij');
    const first = createHash('sha256').update(Buffer.from(CHAIN_SEED, 'hex')).update(data.subarray(0, 4)).digest('hex');
    const second = createHash('sha256').update(Buffer.from(first, 'hex')).update(data.subarray(4, 8)).digest('hex');
    const third = createHash('sha256').update(Buffer.from(second, 'hex')).update(data.subarray(8)).digest('hex');
    expect(chainOf(data, 4, []).final).toBe(third);
    expect(formatDigest('sha256', third)).toMatch(DIGEST_PATTERN);
  });

  it('computes XXH3-128 (its reference vector) and chains 32 hex digits', async () => {
    const { xxhash128 } = await import('hash-wasm');
    expect(await xxhash128('')).toBe('99aa06d3014798d86001c324468d497f');
    expect(xxh3.seed).toBe(await xxhash128('ckpt-file-transfer chain v1 xxh3'));
    const data = Buffer.from('abcdefghij');
    const first = await xxhash128(Buffer.concat([Buffer.from(xxh3.seed, 'hex'), data.subarray(0, 8)]));
    const second = await xxhash128(Buffer.concat([Buffer.from(first, 'hex'), data.subarray(8)]));
    expect(chainOf(data, 8, [], xxh3).final).toBe(second);
    expect(isChainOf('xxh3', second)).toBe(true);
    expect(isChainOf('sha256', second)).toBe(false);
    expect(formatDigest('xxh3', second)).toMatch(DIGEST_PATTERN);
    expect(formatDigest('xxh3', CHAIN_SEED)).not.toMatch(DIGEST_PATTERN);
  });

  it('loads each algorithm once per process', async () => {
    expect(await loadChainAlgorithm('xxh3')).toBe(xxh3);
    expect(await loadChainAlgorithm('sha256')).toBe(SHA256_CHAIN);
  });

  it.each([
    ['the module is missing', () => Promise.reject(Object.assign(new Error("Cannot find module 'hash-wasm'"), { code: 'ERR_MODULE_NOT_FOUND' }))],
    // What `node --jitless` gives: the module loads, its WebAssembly does not.
    ['WebAssembly is unavailable', async () => ({ createXXHash128: () => Promise.reject(new ReferenceError('WebAssembly is not defined')) })],
  ])('refuses, never retries, and names --hash sha256 when XXH3 cannot load (%s)', async (_case, importHasher) => {
    const failure = await loadXxh3(importHasher).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(HashUnavailableError);
    expect((failure as HashUnavailableError).code).toBe(ErrorCode.Invalid);
    expect(isRetryable(failure)).toBe(false);
    expect((failure as HashUnavailableError).message).toMatch(/XXH3 chain hash cannot be loaded .*(hash-wasm|WebAssembly)/);
    expect((failure as HashUnavailableError).hint).toContain('pass --hash sha256');
  });
});
