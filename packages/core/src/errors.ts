/**
 * Typed errors of ckpt. Every failure a caller may branch on is a subclass of {@link CkptError}
 * with a stable {@link CkptError.code}; messages say what happened, where, and what to do.
 */

/** Stable error codes. They never change meaning between versions. */
export const ErrorCode = {
  /** A checkpoint that must exist (usage `always`) does not. */
  NotFound: 'not-found',
  /** A checkpoint belongs to another job identity (kind, id, version or structure). */
  Mismatch: 'mismatch',
  /** A checkpoint file is damaged in a way recovery must not repair silently. */
  Corrupt: 'corrupt',
  /** Another live process holds the checkpoint's writer lock. */
  Locked: 'locked',
  /** This writer lost its lock while running; it stopped writing. */
  Compromised: 'compromised',
  /** The operating system reported an I/O error; the writer stopped. */
  Io: 'io',
  /** A caller's mistake: bad argument, option, event or file content. */
  Invalid: 'invalid',
  /** The job was interrupted (SIGINT/SIGTERM or an abort signal) after recording its progress. */
  Interrupted: 'interrupted',
  /** An event (or snapshot) the fold cannot accept: a runner or reducer bug, or a damaged record read back. */
  InvalidEvent: 'invalid-event',
  /** A control-flow package ran and failed (its failed steps are listed); the checkpoint lets a rerun resume. */
  PackageFailed: 'package-failed',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The brand every {@link CkptError} carries. Registered with `Symbol.for`, so it is the same
 * symbol in every copy of this package loaded in a process (two versions in node_modules, a
 * bundle beside the package): an error from any copy is recognised, where `instanceof` only
 * knows its own copy's class. Temporal recognises its errors the same way.
 */
export const CKPT_ERROR_BRAND: unique symbol = Symbol.for('@ckpt/core/error') as never;

/** Base class of every error ckpt throws on purpose. */
export abstract class CkptError extends Error {
  abstract readonly code: ErrorCode;
  /** What the user can do about it, in one sentence. */
  readonly hint: string | undefined;

  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(options?.hint ? `${message}\n  hint: ${options.hint}` : message, { cause: options?.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
    Object.defineProperty(this, CKPT_ERROR_BRAND, { value: true });
  }

  /**
   * `error instanceof CkptError` holds for a ckpt error of any copy of this package (by its
   * brand); for the subclasses, `instanceof` keeps its usual meaning (this copy's class).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === CkptError) return hasBrand(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

function hasBrand(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { [CKPT_ERROR_BRAND]?: unknown })[CKPT_ERROR_BRAND] === true;
}

/** Usage `always` and no checkpoint at the path. */
export class CheckpointNotFoundError extends CkptError {
  readonly code = ErrorCode.NotFound;
  constructor(readonly file: string) {
    super(`checkpoint ${file} does not exist, and usage "always" requires one`, {
      hint: 'run once with usage "if-exists" (or "never" with save on) to create it, or check the path',
    });
  }
}

/** A job identity, as recorded in a checkpoint header and compared on open. */
export interface IdentityLike {
  readonly kind: string;
  readonly id: string;
  readonly version: string;
  readonly structureHash: string;
}

function describeIdentity(identity: IdentityLike): string {
  return `${identity.kind} "${identity.id}" version ${identity.version} (structure ${identity.structureHash.slice(0, 12)})`;
}

/** The checkpoint belongs to another job; it was left untouched. */
export class IdentityMismatchError extends CkptError {
  readonly code = ErrorCode.Mismatch;
  constructor(
    readonly file: string,
    readonly found: IdentityLike,
    readonly expected: IdentityLike,
  ) {
    const fields = (['kind', 'id', 'version', 'structureHash'] as const).filter((k) => found[k] !== expected[k]);
    super(
      `checkpoint ${file} was written by ${describeIdentity(found)}, not by ${describeIdentity(expected)} ` +
        `(${fields.join(', ')} differ); it was left untouched`,
      { hint: `to start fresh, delete ${file} (or point the job at another checkpoint file)` },
    );
  }
}

/** The file is damaged where recovery may not repair it without losing acknowledged work. */
export class CorruptCheckpointError extends CkptError {
  readonly code = ErrorCode.Corrupt;
  /**
   * Not damaged: written in a format version newer than this program reads. Salvaging readers
   * (`ckpt events`) and deleting ones (prune) must refuse such a file instead of treating it as damage.
   */
  readonly newer: boolean;
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
    /** `newer`: not damaged, but in a format version newer than this program reads (the message says so; kept as {@link newer}). */
    options?: { cause?: unknown; hint?: string; newer?: boolean },
  ) {
    super(`checkpoint ${file} ${options?.newer ? 'cannot be read' : 'is corrupt'} at byte offset ${offset}: ${reason}; the file was left untouched`, {
      cause: options?.cause,
      hint:
        options?.hint ??
        `keep a copy for investigation; "ckpt events ${file}" lists what is readable before the damage, and deleting the file starts the job from the beginning`,
    });
    this.newer = options?.newer === true;
  }
}

/** Another live process holds the writer lock. */
export class CheckpointLockedError extends CkptError {
  readonly code = ErrorCode.Locked;
  constructor(
    readonly file: string,
    readonly owner: { readonly pid?: number; readonly host?: string; readonly since?: number } | undefined,
  ) {
    const who =
      owner?.pid !== undefined
        ? `pid ${owner.pid} on host ${owner.host ?? '?'} since ${owner.since !== undefined ? new Date(owner.since).toISOString() : '?'}`
        : 'another process (its owner record is not written yet)';
    super(`checkpoint ${file} is locked by ${who}`, {
      hint: 'wait for that run to finish, or stop it; a lock left by a dead process on this host is taken over automatically',
    });
  }
}

/** This writer's lock was lost (removed, taken over, or not refreshed in time); writing stopped. */
export class LockCompromisedError extends CkptError {
  readonly code = ErrorCode.Compromised;
  constructor(
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`lost the writer lock of checkpoint ${file}; this run stopped writing to it`, {
      cause: options?.cause,
      hint: 'another process may be running the same job; check for it, then rerun to resume from the checkpoint',
    });
  }
}

/** An operating-system I/O error. After one, the writer is failed: nothing more is acknowledged. */
export class StorageIoError extends CkptError {
  readonly code = ErrorCode.Io;
  constructor(
    readonly file: string,
    readonly operation: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    const cause = options?.cause as { code?: string; message?: string } | undefined;
    super(`${operation} failed on ${file}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`, {
      cause: options?.cause,
      hint:
        options?.hint ??
        'the checkpoint keeps everything acknowledged before the error; fix the disk problem (space, permissions, hardware) and rerun to resume',
    });
  }
}

/** A caller's mistake: a bad argument, option, event or file. */
export class InvalidInputError extends CkptError {
  readonly code = ErrorCode.Invalid;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
  }
}

/**
 * A file ckpt reads or writes is not a regular file: a symbolic link (never followed, so a link
 * planted at a companion's name cannot redirect a write), a FIFO, a socket, a device or a folder.
 * Nothing was read from it or written to it.
 */
export class NotRegularFileError extends InvalidInputError {
  constructor(
    readonly file: string,
    /** What is there instead: "a symbolic link", "a FIFO (named pipe)", ... */
    readonly found: string,
  ) {
    // What to do is in the first line too: a node relays only that line to its peer.
    super(`${file} is ${found}, not a regular file; ckpt did not open it and wrote nothing: remove it and rerun`, {
      hint: 'ckpt never follows a symbolic link, nor opens a FIFO, socket or device, where it reads or writes its own files; ckpt did not create this one',
    });
  }
}

/** The job was interrupted after recording its progress; a rerun resumes. */
export class InterruptedError extends CkptError {
  readonly code = ErrorCode.Interrupted;
  constructor(readonly reason: string = 'interrupted') {
    super(`${reason}; progress so far is recorded in the checkpoint`, { hint: 'rerun the same command to resume' });
  }
}

/**
 * Whether `error` is a ckpt error, optionally of a given code. Recognised by its brand
 * ({@link CKPT_ERROR_BRAND}), so an error thrown by another copy of this package counts too;
 * branch on `code`, which is stable, rather than on classes.
 */
export function isCkptError(error: unknown, code?: ErrorCode): error is CkptError {
  return hasBrand(error) && (code === undefined || (error as CkptError).code === code);
}
