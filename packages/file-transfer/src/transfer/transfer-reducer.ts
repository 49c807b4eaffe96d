import { FoldError, type CheckpointState, type ExtensionEvent, type ExtensionReducer } from '@ckpt/core';
import { HASH_ALGORITHMS, isHashAlgorithm, LEGACY_HASH, type ChainPosition, type HashAlgorithm } from './chain-hash.js';
import type { SourceFingerprint } from './fingerprint.js';

/**
 * The file-transfer namespace (`transfer/...`) and its pure reducer. The receiver records:
 * - `transfer/started {size, fingerprint, interval, hash?}` — a transfer (re)starts from 0; `hash`
 *   names the chain hash (absent: SHA-256, every checkpoint written before XXH3)
 * - `transfer/restarted {reason}` — an earlier partial could not be used, and why
 * - `transfer/resumed {offset, size, verified}` — continuing from a verified position
 * - `transfer/checkpoint {offset, chain}` — data before `offset` is fdatasynced
 * - `transfer/retry {retry, waitMs, error}` — the previous attempt failed and is retried
 * - `transfer/verified {digest, size}` — the whole partial verified; about to publish
 * - `transfer/warning {message}` — said to whoever watches (a resume that keeps another hash)
 */
export const TRANSFER_NAMESPACE = 'transfer';

/** Positions kept: the newest few, so a damaged tail can fall back to an older one. */
export const KEPT_POSITIONS = 4;

/** The folded state of the namespace. */
export interface TransferState {
  readonly size?: number;
  readonly fingerprint?: SourceFingerprint;
  readonly interval?: number;
  /** The chain hash of the positions; undefined before any start (SHA-256 for a start that names none). */
  readonly hash?: HashAlgorithm;
  readonly positions: readonly ChainPosition[];
  readonly verified?: { readonly digest: string; readonly size: number };
  readonly restarts: number;
  readonly retries: number;
}

const EMPTY: TransferState = { positions: [], restarts: 0, retries: 0 };

function num(event: ExtensionEvent, field: string): number {
  const value = event[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new FoldError(`${event.type} event needs a non-negative integer "${field}"`);
  }
  return value;
}

function str(event: ExtensionEvent, field: string): string {
  const value = event[field];
  if (typeof value !== 'string') throw new FoldError(`${event.type} event needs a string "${field}"`);
  return value;
}

/** Pure reducer of `transfer/*` events. */
export const transferReducer: ExtensionReducer<TransferState> = {
  namespace: TRANSFER_NAMESPACE,
  initial: () => EMPTY,
  evolve(state, event) {
    switch (event.type) {
      case 'transfer/started': {
        const fingerprint = event['fingerprint'] as unknown as SourceFingerprint | undefined;
        if (typeof fingerprint !== 'object' || fingerprint === null) throw new FoldError('transfer/started needs a "fingerprint"');
        const hash = event['hash'] ?? LEGACY_HASH;
        if (!isHashAlgorithm(hash))
          throw new FoldError(`transfer/started names the chain hash ${JSON.stringify(hash)}; this ckpt knows ${HASH_ALGORITHMS.join(', ')}`);
        return {
          ...state,
          size: num(event, 'size'),
          interval: num(event, 'interval'),
          hash,
          fingerprint,
          positions: [],
          verified: undefined,
        } as TransferState;
      }
      case 'transfer/restarted':
        str(event, 'reason');
        return { ...state, positions: [], verified: undefined, restarts: state.restarts + 1 } as TransferState;
      case 'transfer/checkpoint': {
        const position = { offset: num(event, 'offset'), chain: str(event, 'chain') };
        const kept = state.positions.filter((p) => p.offset < position.offset);
        return { ...state, positions: [...kept, position].slice(-KEPT_POSITIONS) };
      }
      case 'transfer/verified':
        return { ...state, verified: { digest: str(event, 'digest'), size: num(event, 'size') } };
      case 'transfer/retry':
        return { ...state, retries: state.retries + 1 };
      default:
        // resumed, published and future informational events change nothing.
        return state;
    }
  },
};

/** The transfer namespace of a folded checkpoint. */
export function transferStateOf(state: CheckpointState): TransferState {
  return (state.extensions.get(TRANSFER_NAMESPACE) as TransferState | undefined) ?? EMPTY;
}
