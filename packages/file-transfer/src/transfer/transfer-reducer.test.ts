import { describe, expect, it } from 'vitest';
import { FoldError, type ExtensionEvent } from '@ckpt/core';
import { transferReducer, type TransferState } from './transfer-reducer.js';

const fingerprint = { size: 10, mtimeMs: 1, ino: '2', sample: 'a'.repeat(64) };
const started = (fields: Record<string, unknown> = {}): ExtensionEvent => ({
  type: 'transfer/started',
  size: 10,
  interval: 4,
  fingerprint,
  ...fields,
});
const fold = (...events: ExtensionEvent[]): TransferState =>
  events.reduce((state, event) => transferReducer.evolve(state, event), transferReducer.initial());

describe('the transfer reducer and the chain hash', () => {
  it('records the hash a transfer started with', () => {
    expect(fold(started({ hash: 'xxh3' })).hash).toBe('xxh3');
    expect(fold(started({ hash: 'sha256' })).hash).toBe('sha256');
  });

  it('reads a start that names no hash (every checkpoint before XXH3) as SHA-256', () => {
    expect(fold(started()).hash).toBe('sha256');
    // A restart with another hash replaces it, with the positions of the old chain.
    const state = fold(started(), { type: 'transfer/checkpoint', offset: 4, chain: 'c'.repeat(64) }, started({ hash: 'xxh3' }));
    expect(state).toMatchObject({ hash: 'xxh3', positions: [] });
  });

  it('refuses a hash this ckpt does not know, naming the ones it does', () => {
    expect(() => fold(started({ hash: 'blake3' }))).toThrow(FoldError);
    expect(() => fold(started({ hash: 'blake3' }))).toThrow('transfer/started names the chain hash "blake3"; this ckpt knows xxh3, sha256');
  });

  it('changes nothing on a warning', () => {
    const state = fold(started({ hash: 'xxh3' }));
    expect(transferReducer.evolve(state, { type: 'transfer/warning', message: 'x' })).toBe(state);
  });
});
