import type { ExtensionEvent } from '@ckpt/core';
import type { HashAlgorithm } from './chain-hash.js';
import type { VerifyMode } from './resume.js';
import type { SourcePort } from './source-port.js';

/** What the receiver (receiver.ts) is given and what it tells: the job, its events, progress and result. */

/**
 * A transfer event as a view gets it (`transfer/...`): a record of the receiver's checkpoint,
 * shown as it is recorded, a checkpoint once it is durable (see `runReceive` in receiver.ts).
 */
export type TransferEvent = ExtensionEvent;

/** Progress of the running attempt. */
export interface TransferProgress {
  readonly offset: number;
  readonly size: number;
  readonly resumedFrom: number;
  readonly sent: number;
}

/** What the receiver tells views besides its records (never recorded): how far the copy is. */
export type TransferNotice = { readonly kind: 'progress' } & TransferProgress;

/** What one successful transfer did: the receiver's typed result (`RunResult.result`). */
export interface TransferResult {
  /** Size of the file. */
  readonly bytes: number;
  /** Bytes sent in the attempt that completed it. */
  readonly sent: number;
  /** Offset the completing attempt resumed from (0 for a fresh start). */
  readonly resumedFrom: number;
  /** The chain digest (see docs/file-transfer.md), `xxh3-chain:<hex>` or `sha256-chain:<hex>`. */
  readonly digest: string;
}

/** One receive: where to, from what, how. */
export interface ReceiveJob {
  /** Absolute path of the destination. */
  readonly destination: string;
  readonly source: SourcePort;
  /** Bytes between checkpoints (0: none; a resume starts over). */
  readonly interval: number;
  readonly verify: VerifyMode;
  /**
   * The chain hash of a copy that starts from 0 (default `xxh3`, `DEFAULT_HASH`). A resume goes on
   * with the one its checkpoint recorded (SHA-256 when it names none), and records a warning
   * when that is not this one.
   */
  readonly hash?: HashAlgorithm;
  /** A retry to record first (the previous attempt failed). */
  readonly retry?: { readonly retry: number; readonly waitMs: number; readonly error: string };
  /** Bytes per second (test and throttling aid); unlimited when absent. */
  readonly rateLimit?: number;
  /**
   * Give the published file the source's mode and modification time (`--preserve`). Without
   * it the published file gets `0666 & ~umask`, as a file created by cp would.
   */
  readonly preserve?: boolean;
}
