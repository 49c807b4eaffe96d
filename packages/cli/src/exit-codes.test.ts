import {
  CheckpointLockedError,
  CheckpointNotFoundError,
  CorruptCheckpointError,
  IdentityMismatchError,
  InterruptedError,
  InvalidInputError,
  LockCompromisedError,
  StorageIoError,
} from '@ckpt/core';
import { FoldError } from '@ckpt/core';
import { PackageFailedError } from '@ckpt/control-flow';
import { expect, it } from 'vitest';
import { ExitCode, exitCodeOf } from './exit-codes.js';

it("maps every core error code to the contract's exit code", () => {
  const identity = { kind: 'k', id: 'i', version: '1', structureHash: 'abc' };
  expect(exitCodeOf(new CheckpointNotFoundError('f'))).toBe(ExitCode.Refused);
  expect(exitCodeOf(new IdentityMismatchError('f', identity, { ...identity, id: 'j' }))).toBe(ExitCode.Refused);
  expect(exitCodeOf(new CorruptCheckpointError('f', 0, 'bad'))).toBe(ExitCode.Refused);
  expect(exitCodeOf(new CheckpointLockedError('f', undefined))).toBe(ExitCode.Refused);
  expect(exitCodeOf(new InvalidInputError('bad'))).toBe(ExitCode.Refused);
  expect(exitCodeOf(new InterruptedError())).toBe(ExitCode.Interrupted);
  expect(exitCodeOf(new LockCompromisedError('f'))).toBe(ExitCode.Failed);
  expect(exitCodeOf(new StorageIoError('f', 'write'))).toBe(ExitCode.Failed);
  expect(exitCodeOf(Object.assign(new Error('plain'), { code: 'ENOENT' }))).toBe(ExitCode.Failed);
  // Joined CkptError with their own codes; their exit code is unchanged: the job failed.
  expect(exitCodeOf(new FoldError('bad event'))).toBe(ExitCode.Failed);
  expect(exitCodeOf(new PackageFailedError('p', [{ unit: 'a', message: 'boom' }]))).toBe(ExitCode.Failed);
});
