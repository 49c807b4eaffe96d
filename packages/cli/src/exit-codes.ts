/**
 * Kept free of imports so that `ckpt --version` and `--help` do not load @ckpt/core: the error
 * codes are core's `ErrorCode` values, matched by value.
 */

/** A ckpt error, recognised without loading core: it has a string `code` and a `hint` field. */
export function isCkptErrorLike(error: unknown): error is Error & { code: string; hint: string | undefined } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && 'hint' in error;
}

/** The contract's exit codes, the same for every verb. */
export const ExitCode = {
  /** Done. */
  Ok: 0,
  /** The job ran and failed; its checkpoint is kept and a rerun resumes. */
  Failed: 1,
  /** Refused before any work; nothing changed on disk. */
  Refused: 2,
  /** Interrupted by SIGINT/SIGTERM after recording what was done. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for an error that ended a verb. */
export function exitCodeOf(error: unknown): ExitCode {
  if (!isCkptErrorLike(error)) return ExitCode.Failed;
  switch (error.code) {
    case 'not-found':
    case 'mismatch':
    case 'corrupt':
    case 'locked':
    case 'invalid':
      return ExitCode.Refused;
    case 'interrupted':
      return ExitCode.Interrupted;
    default:
      return ExitCode.Failed;
  }
}
