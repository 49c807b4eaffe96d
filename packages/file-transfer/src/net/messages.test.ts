import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '@ckpt/core';
import { isChain, parsePutRequest } from './messages.js';

const put = { op: 'put', path: 'a', size: 10, fingerprint: { size: 10, mtimeMs: 1, ino: '2', sample: 'a'.repeat(64) } };

describe('the chain hash in requests (revision 5)', () => {
  it('takes the algorithm a put names, and SHA-256 for a put of an older client', () => {
    expect(parsePutRequest({ ...put, algorithm: 'xxh3' })).toMatchObject({ algorithm: 'xxh3', namesAlgorithm: true });
    expect(parsePutRequest({ ...put, algorithm: 'sha256' })).toMatchObject({ algorithm: 'sha256', namesAlgorithm: true });
    expect(parsePutRequest(put)).toMatchObject({ algorithm: 'sha256', namesAlgorithm: false });
  });

  it('refuses an algorithm it does not know', () => {
    expect(() => parsePutRequest({ ...put, algorithm: 'md5' })).toThrow(InvalidInputError);
    expect(() => parsePutRequest({ ...put, algorithm: 'md5' })).toThrow('malformed put request: "algorithm" is not one of xxh3, sha256');
  });

  it('takes chain values of either hash, nothing else', () => {
    expect(isChain('a'.repeat(64))).toBe(true);
    expect(isChain('a'.repeat(32))).toBe(true);
    expect(isChain('a'.repeat(48))).toBe(false);
    expect(isChain('A'.repeat(32))).toBe(false);
  });
});
