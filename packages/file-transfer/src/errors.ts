import { CkptError, ErrorCode, InterruptedError, InvalidInputError, isCkptError } from '@ckpt/core';

/**
 * A transfer failed for a reason that may heal (network, peer, disk space): retried, and after
 * the last retry the command exits 1 with the checkpoint kept.
 */
export class TransferError extends CkptError {
  readonly code = ErrorCode.Io;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, { hint: 'rerun the same command to resume from the last checkpoint', ...options });
  }
}

/** Authentication failed or the peer is not in the netmap: refused at once, never retried (exit 2). */
export class AuthenticationError extends InvalidInputError {
  constructor(message: string, options?: { hint?: string }) {
    super(message, { hint: options?.hint ?? 'check that both nodes have the same netmap entries (name and secret) for each other' });
  }
}

/** A path outside the node's root (or otherwise refused): never retried (exit 2). */
export class PathRefusedError extends InvalidInputError {}

/**
 * The node refused a push because another transfer is writing the same destination (it never
 * lets two proceed). Retried per the retry policy, since the other transfer may be the killed
 * previous attempt of this very copy that the node has not yet noticed; when the retries are
 * spent it is a refusal (`locked`, exit 2).
 */
export class DestinationLockedError extends CkptError {
  readonly code = ErrorCode.Locked;
  constructor(message: string) {
    super(message, { hint: 'wait for the other transfer to that destination to finish, then rerun' });
  }
}

/**
 * The chain hash asked for cannot run in this process: XXH3 is WebAssembly (hash-wasm), which
 * `node --jitless` (or a missing or damaged module) leaves unavailable. A retry would fail the
 * same way, so it is a refusal (`invalid`, exit 2), raised before any byte is copied.
 */
export class HashUnavailableError extends InvalidInputError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { hint: 'pass --hash sha256 (SHA-256 needs no WebAssembly), or run node without --jitless', ...options });
  }
}

/** Whether retrying may help. Bad arguments, refusals, locks, auth, interruption never heal. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof InterruptedError) return false;
  if (error instanceof DestinationLockedError) return true;
  if (isCkptError(error)) return error.code === ErrorCode.Io || error.code === ErrorCode.Compromised;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'ENOENT' || code === 'EISDIR') return false;
  return true;
}
