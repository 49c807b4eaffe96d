import { InvalidInputError } from '@ckpt/core';
import { describe, expect, it } from 'vitest';
import { parseDoneResult, parsePeerEvent, parseSourceAnswer } from './answers.js';

const digest = `sha256-chain:${'a'.repeat(64)}`;
const fingerprint = { size: 10, mtimeMs: 1, ino: '12', sample: 'b'.repeat(64) };

describe('answers from a node', () => {
  it('takes a well-formed done, keeping only the result fields', () => {
    expect(parseDoneResult({ op: 'done', result: { bytes: 10, sent: 4, resumedFrom: 6, digest, planted: 'x' } }, 10, 'beta')).toEqual({
      bytes: 10,
      sent: 4,
      resumedFrom: 6,
      digest,
    });
  });

  it('takes the digest of either chain hash', () => {
    const xxh3 = `xxh3-chain:${'0123456789abcdef'.repeat(2)}`;
    expect(parseDoneResult({ op: 'done', result: { bytes: 10, sent: 4, resumedFrom: 6, digest: xxh3 } }, 10, 'beta').digest).toBe(xxh3);
  });

  it.each([
    ['no result', {}, /"result" is not an object/],
    [
      'a result of another file size',
      { result: { bytes: 11, sent: 0, resumedFrom: 0, digest } },
      /"result\.bytes" is not the size of the file pushed/,
    ],
    ['a negative sent', { result: { bytes: 10, sent: -1, resumedFrom: 0, digest } }, /"result\.sent" is not a byte count/],
    ['a sent that is a string', { result: { bytes: 10, sent: '4', resumedFrom: 0, digest } }, /"result\.sent" is not a byte count/],
    [
      'a resume point past the end',
      { result: { bytes: 10, sent: 0, resumedFrom: 11, digest } },
      /"result\.resumedFrom" is not an offset within the file/,
    ],
    [
      'a digest of another form',
      { result: { bytes: 10, sent: 0, resumedFrom: 0, digest: 'md5:00' } },
      /"result\.digest" is not xxh3-chain:<32 hex digits> or sha256-chain:<64 hex digits>/,
    ],
    [
      'an XXH3 digest of SHA-256 length',
      { result: { bytes: 10, sent: 0, resumedFrom: 0, digest: `xxh3-chain:${'a'.repeat(64)}` } },
      /"result\.digest" is not xxh3-chain/,
    ],
    [
      'a SHA-256 digest of XXH3 length',
      { result: { bytes: 10, sent: 0, resumedFrom: 0, digest: `sha256-chain:${'a'.repeat(32)}` } },
      /"result\.digest" is not xxh3-chain/,
    ],
  ])('refuses a done with %s, naming the node and the field', (_name, fields, reason) => {
    const parse = () => parseDoneResult({ op: 'done', ...fields }, 10, 'beta');
    expect(parse).toThrow(InvalidInputError);
    expect(parse).toThrow(/^node beta sent a malformed done: /);
    expect(parse).toThrow(reason);
  });

  it('refuses a source answer whose fingerprint does not fit, naming the node', () => {
    expect(parseSourceAnswer({ op: 'source', size: 10, fingerprint }, 'beta')).toEqual({ size: 10, fingerprint });
    expect(() => parseSourceAnswer({ op: 'source', size: 10, fingerprint: { ...fingerprint, ino: 12 } }, 'beta')).toThrow(
      /^node beta sent a malformed source answer: "fingerprint\.ino" is not decimal digits\n {2}hint: node beta speaks another revision/,
    );
  });

  it('rebuilds a relayed event from its known fields only', () => {
    const chain = 'c'.repeat(64);
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/checkpoint', offset: 65_536, chain, planted: '\u001b[2J' } }, 'beta')).toEqual({
      type: 'transfer/checkpoint',
      offset: 65_536,
      chain,
    });
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/resumed', offset: 10, size: 10, verified: 'published' } }, 'beta')).toEqual({
      type: 'transfer/resumed',
      offset: 10,
      size: 10,
      verified: 'published',
    });
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/started', size: 10, interval: 0, fingerprint } }, 'beta')).toEqual({
      type: 'transfer/started',
      size: 10,
      interval: 0,
      fingerprint,
    });
    // Revision 5: the chain hash a transfer started with, and XXH3's 32-digit chains and digests.
    const xxh3 = 'd'.repeat(32);
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/started', size: 10, interval: 0, fingerprint, hash: 'xxh3' } }, 'beta')).toEqual({
      type: 'transfer/started',
      size: 10,
      interval: 0,
      fingerprint,
      hash: 'xxh3',
    });
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/checkpoint', offset: 1, chain: xxh3 } }, 'beta')).toEqual({
      type: 'transfer/checkpoint',
      offset: 1,
      chain: xxh3,
    });
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/verified', digest: xxh3, size: 1 } }, 'beta')).toEqual({
      type: 'transfer/verified',
      digest: xxh3,
      size: 1,
    });
  });

  it('leaves out an event type this revision does not know', () => {
    expect(parsePeerEvent({ op: 'event', event: { type: 'transfer/from-the-future', anything: 1 } }, 'beta')).toBeUndefined();
    expect(parsePeerEvent({ op: 'event', event: { type: 'toString' } }, 'beta')).toBeUndefined();
  });

  it.each([
    ['no event', {}, /"event" is not an object/],
    ['an event without a type', { event: { offset: 1 } }, /"event\.type" is not a string/],
    [
      'a checkpoint at a negative offset',
      { event: { type: 'transfer/checkpoint', offset: -1, chain: 'c'.repeat(64) } },
      /"event\.offset" is not a byte count/,
    ],
    ['a checkpoint without its chain', { event: { type: 'transfer/checkpoint', offset: 1 } }, /"event\.chain" is not a chain value/],
    ['a chain of 40 digits', { event: { type: 'transfer/checkpoint', offset: 1, chain: 'c'.repeat(40) } }, /"event\.chain" is not a chain value/],
    [
      'a started event naming an unknown hash',
      { event: { type: 'transfer/started', size: 10, interval: 0, fingerprint, hash: 'md5' } },
      /"event\.hash" is not one of xxh3, sha256/,
    ],
    ['a reason that is not text', { event: { type: 'transfer/restarted', reason: { nested: true } } }, /"event\.reason" is not a string/],
    [
      'a reason of a megabyte',
      { event: { type: 'transfer/restarted', reason: 'x'.repeat(1 << 20) } },
      /"event\.reason" is not a string of at most 4096/,
    ],
    [
      'a started event whose fingerprint differs in size',
      { event: { type: 'transfer/started', size: 11, interval: 0, fingerprint } },
      /"fingerprint\.size" differs/,
    ],
  ])('refuses %s, naming the node and the field', (_name, fields, reason) => {
    const parse = () => parsePeerEvent({ op: 'event', ...fields }, 'beta');
    expect(parse).toThrow(InvalidInputError);
    expect(parse).toThrow(/^node beta sent a malformed event: /);
    expect(parse).toThrow(reason);
  });
});
