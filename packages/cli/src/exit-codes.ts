import { ErrorCode, isCkptError } from '@ckpt/core';

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
  if (!isCkptError(error)) return ExitCode.Failed;
  switch (error.code) {
    case ErrorCode.NotFound:
    case ErrorCode.Mismatch:
    case ErrorCode.Corrupt:
    case ErrorCode.Locked:
    case ErrorCode.Invalid:
      return ExitCode.Refused;
    case ErrorCode.Interrupted:
      return ExitCode.Interrupted;
    default:
      return ExitCode.Failed;
  }
}
