import { CkptError, ErrorCode, LockCompromisedError } from '@ckpt/core/internal';

/**
 * The errors the PostgreSQL store adds. Each is a {@link CkptError} with one of core's codes, so
 * the CLI maps it to its exit code in its one place (packages/cli/src/exit-codes.ts): a refusal
 * before any work is exit 2, a failure mid-run exit 1.
 */

/** Who owns a checkpoint in the store, as its owner row records it. */
export interface StoreOwner {
  readonly host: string;
  readonly pid: number;
  readonly epoch: number;
  /** When this owner took the checkpoint (ms since the Unix epoch). */
  readonly since?: number;
  /** When its lease runs out unless renewed (ms since the Unix epoch, the database's clock). */
  readonly leaseExpiresAt?: number;
}

/** How an owner is named in messages. */
export function describeOwner(owner: StoreOwner): string {
  return `pid ${owner.pid} on host ${owner.host} (epoch ${owner.epoch})`;
}

/** The store cannot be reached or used at all (host down, refused, authentication, no such database): refused before any work (exit 2). */
export class StoreUnreachableError extends CkptError {
  // "invalid": a store the run cannot use is a refusal (exit 2) and changes nothing.
  readonly code = ErrorCode.Invalid;
  constructor(
    readonly host: string,
    readonly port: number,
    readonly reason: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(`the checkpoint store at ${host}:${port} cannot be used: ${reason}; nothing was run or changed`, {
      cause: options?.cause,
      hint: options?.hint ?? 'check that PostgreSQL runs there and that the URL (host, port, database, user) is right (--store, $CKPT_STORE)',
    });
  }
}

/** The store's schema cannot be used by this program (newer, or missing and not creatable by this role): refused (exit 2). */
export class StoreSchemaError extends CkptError {
  readonly code = ErrorCode.Invalid;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
  }
}

/** The store failed mid-run (connection lost, server stopped): this writer stopped; everything acknowledged is in the store (exit 1). */
export class StoreFailedError extends CkptError {
  readonly code = ErrorCode.Io;
  constructor(
    readonly checkpoint: string,
    readonly operation: string,
    readonly where: string,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause as { code?: string; message?: string } | undefined;
    super(`${operation} of checkpoint "${checkpoint}" failed at ${where}${cause?.message ? ` (${cause.message})` : ''}; this run stopped writing`, {
      cause: options?.cause,
      hint: 'every event acknowledged before the failure is in the store; when it is reachable again, rerun to resume',
    });
  }
}

/**
 * This writer lost the checkpoint to another owner (its lease ran out and another took it over,
 * or it was taken over as dead): it recorded nothing more and stopped (exit 1). Fencing: the
 * store refused its writes because the owner row no longer has its epoch. A
 * {@link LockCompromisedError} (code `compromised`), as the port asks, naming the new owner.
 */
export class OwnershipLostError extends LockCompromisedError {
  constructor(
    readonly checkpoint: string,
    /** This writer (host, pid, epoch). */
    readonly self: StoreOwner,
    /** Who owns it now, when the store could tell. */
    readonly owner: StoreOwner | undefined,
  ) {
    super(checkpoint);
    const hint =
      'its lease ran out (the process was paused, or cut off from the database, longer than --lease) and another run took the job over; ' +
      'that run continues it, so there is nothing to do here; use a longer --lease if pauses this long are expected';
    this.message =
      `lost checkpoint "${checkpoint}" to ${owner ? describeOwner(owner) : 'another owner'}: this run (${describeOwner(self)}) ` +
      `stopped and recorded nothing more\n  hint: ${hint}`;
    Object.defineProperty(this, 'hint', { value: hint });
  }
}

/** A row of the store's log fails its CRC or does not decode: refused, nothing changed (exit 2). */
export class StoreCorruptError extends CkptError {
  readonly code = ErrorCode.Corrupt;
  constructor(
    readonly checkpoint: string,
    readonly seq: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint "${checkpoint}" in the store is corrupt at record ${seq}: ${reason}; it was left untouched`, {
      cause: options?.cause,
      hint: `"ckpt events ${checkpoint} --store URL" lists what is readable before the damage; deleting the checkpoint starts the job from the beginning`,
    });
  }
}
