import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { InvalidInputError } from '@ckpt/core';
import { pullFile, pushFile } from './net/client.js';
import { HASH_ALGORITHMS, isHashAlgorithm, type HashAlgorithm } from './transfer/chain-hash.js';
import { nodeOf, parseEndpoint, type Netmap } from './net/netmap.js';
import { LocalSource } from './transfer/local-source.js';
import {
  DEFAULT_CHECKPOINT_INTERVAL,
  receiveFile,
  type TransferEvent,
  type TransferProgress,
  type TransferResult,
  type VerifyMode,
} from './transfer/receiver.js';
import { DEFAULT_RETRY_POLICY, withRetries, type RetryNotice, type RetryPolicy } from './transfer/retry-policy.js';

/** Options of {@link copyFile}. */
export interface CopyFileOptions {
  /** A local path or `ckpt://NODE/PATH`. */
  readonly source: string;
  /** A local path or `ckpt://NODE/PATH`. */
  readonly destination: string;
  /** Bytes between checkpoints (default 8 MiB; 0: none). */
  readonly checkpointInterval?: number;
  /** How much of a received prefix a resume re-checks (default `tail`). */
  readonly verify?: VerifyMode;
  /**
   * The chain hash of a copy that starts from 0 (default `xxh3`; `sha256` is the other). A
   * resume goes on with the hash its checkpoint recorded, and says so when that differs; a
   * node of an older revision knows only `sha256`, which is then used, with a warning.
   */
  readonly hash?: HashAlgorithm;
  /** Short then long retries (default {@link DEFAULT_RETRY_POLICY}). */
  readonly retry?: Partial<RetryPolicy>;
  /** Needed for remote copies. */
  readonly netmap?: Netmap;
  /** This node's name in the netmap (remote copies). */
  readonly node?: string;
  /** Aborting interrupts the copy after its last checkpoint (rejects with InterruptedError). */
  readonly signal?: AbortSignal;
  /** Every transfer event (started, resumed, restarted, checkpoint, retry, verified, published). */
  readonly onEvent?: (event: TransferEvent) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
  /** Checkpoint retention after a failure (default 30 days). */
  readonly retentionMs?: number;
  /** Compress data on the wire (remote copies only; local copies ignore it). */
  readonly compress?: boolean;
  /** Bytes per second, for throttling (and tests); unlimited by default. */
  readonly rateLimit?: number;
  /** Publish with the source's mode and modification time (default: mode `0666 & ~umask`, mtime now). */
  readonly preserve?: boolean;
}

/**
 * Copies one file with checkpoint restart, retrying per the policy. Local → local, local →
 * node (push) and node → local (pull). Resolves with what the completing attempt did; rejects
 * with a CkptError: InvalidInputError (and subclasses) for refusals, InterruptedError when
 * `signal` aborted it, TransferError/StorageIoError once the retries are spent.
 */
export async function copyFile(options: CopyFileOptions): Promise<TransferResult> {
  const from = parseEndpoint(options.source, 'SOURCE');
  const to = parseEndpoint(options.destination, 'DESTINATION');
  const interval = options.checkpointInterval ?? DEFAULT_CHECKPOINT_INTERVAL;
  if (!Number.isSafeInteger(interval) || interval < 0) throw new InvalidInputError(`checkpoint interval ${interval} is not a whole number of bytes`);
  const verify = options.verify ?? 'tail';
  if (options.hash !== undefined && !isHashAlgorithm(options.hash))
    throw new InvalidInputError(`unknown chain hash ${JSON.stringify(options.hash)}`, { hint: `use one of ${HASH_ALGORITHMS.join(', ')}` });
  const hash = options.hash;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  for (const [field, value] of Object.entries(policy)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new InvalidInputError(`retry ${field} must be a non-negative number`);
  }
  // Each retry is announced when it is decided, with its count and wait: a copy to a node that is
  // down says so at once, not after the wait. The attempt that follows records it again (in the
  // receiver's log) and would announce it a second time; that echo is dropped.
  let announcedRetry = 0;
  const onEvent =
    options.onEvent &&
    ((event: TransferEvent) => {
      if (event.type === 'transfer/retry' && Number(event['retry']) <= announcedRetry) return;
      options.onEvent!(event);
    });
  const common = {
    ...(options.signal && { signal: options.signal }),
    ...(onEvent && { onEvent }),
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
  };
  const retrying = (attempt: (previous: RetryNotice | undefined) => Promise<TransferResult>) =>
    withRetries(attempt, policy, {
      ...(options.signal && { signal: options.signal }),
      onRetry: (notice) => {
        options.onEvent?.({ type: 'transfer/retry', retry: notice.retry, waitMs: notice.waitMs, error: notice.error });
        announcedRetry = notice.retry;
      },
    });

  if (from.kind === 'local' && to.kind === 'local') {
    const destination = localDestination(to.path, from.path);
    if (resolve(from.path) === destination) throw new InvalidInputError(`SOURCE and DESTINATION are the same file (${destination})`);
    // Refuse a missing source before anything is created on disk.
    await checkSource(from.path);
    return retrying(async (previous) => {
      const source = new LocalSource(from.path);
      try {
        return await receiveFile(
          {
            destination,
            source,
            interval,
            verify,
            ...(hash && { hash }),
            ...(previous && { retry: { retry: previous.retry, waitMs: previous.waitMs, error: previous.error } }),
            ...(options.rateLimit !== undefined && { rateLimit: options.rateLimit }),
            ...(options.preserve && { preserve: true }),
          },
          {
            ...(onEvent && { onEvent }),
            ...(options.onProgress && { onProgress: options.onProgress }),
            ...(options.signal && { signal: options.signal }),
            ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
          },
        );
      } finally {
        await source.close();
      }
    });
  }
  if (from.kind === 'remote' && to.kind === 'remote') {
    throw new InvalidInputError('both SOURCE and DESTINATION are remote', {
      hint: 'one side of a copy is a local path; run the copy on one of the nodes',
    });
  }
  if (!options.netmap) throw new InvalidInputError('a remote copy needs a netmap', { hint: 'pass --netmap FILE' });
  if (!options.node) throw new InvalidInputError("a remote copy needs this node's name", { hint: 'pass --node NAME (this node in the netmap)' });
  const self = nodeOf(options.netmap, options.node, '--node, this node');
  const remote = from.kind === 'remote' ? from : (to as { node: string; path: string });
  const peer = nodeOf(options.netmap, remote.node, 'in the ckpt:// address');
  const remoteOptions = {
    self,
    peer,
    interval,
    verify,
    ...(hash && { hash }),
    ...common,
    ...(options.compress && { compress: true }),
    ...(options.rateLimit !== undefined && { rateLimit: options.rateLimit }),
    ...(options.preserve && { preserve: true }),
  };
  if (from.kind === 'local') {
    await checkSource(from.path);
    return retrying((previous) =>
      pushFile(from.path, remote.path, {
        ...remoteOptions,
        ...(previous && { retry: { retry: previous.retry, waitMs: previous.waitMs, error: previous.error } }),
      }),
    );
  }
  const destination = localDestination((to as { path: string }).path, remote.path);
  return retrying((previous) =>
    pullFile(remote.path, destination, {
      ...remoteOptions,
      ...(previous && { retry: { retry: previous.retry, waitMs: previous.waitMs, error: previous.error } }),
    }),
  );
}

/** Refuses a missing or unreadable local source before anything is created or sent. */
async function checkSource(path: string): Promise<void> {
  const probe = new LocalSource(path);
  try {
    await probe.describe();
  } finally {
    await probe.close();
  }
}

/** Like cp: a destination that is an existing folder (or ends in /) receives the source's name. */
function localDestination(path: string, sourcePath: string): string {
  // A path that cannot be stat'ed (through a file, say) is not a folder; the receiver then
  // refuses it, naming the folder it cannot use.
  let isFolder = path.endsWith('/');
  try {
    isFolder ||= statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    isFolder = false;
  }
  return isFolder ? resolve(path, basename(sourcePath)) : resolve(path);
}
