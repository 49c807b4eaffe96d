/**
 * The public entry stays small: what an embedder needs (engine, runner contract, errors,
 * storage, journal, reading). The testkit and the CLI get the rest from `@ckpt/core/internal`.
 * A new public name is a decision: add it here on purpose.
 */
import { describe, expect, it } from 'vitest';
import * as internal from './internal.js';
import * as core from './index.js';

const PUBLIC_VALUES = [
  'CKPT_ERROR_BRAND',
  'AttemptOutcome',
  'CheckpointLockedError',
  'CheckpointNotFoundError',
  'CheckpointUsage',
  'CkptError',
  'CorruptCheckpointError',
  'Engine',
  'ErrorCode',
  'Execution',
  'FileLocker',
  'FileStore',
  'Fold',
  'FoldError',
  'IdentityMismatchError',
  'InterruptedError',
  'InvalidInputError',
  'Journal',
  'LockCompromisedError',
  'NodeStorage',
  'NotRegularFileError',
  'StorageIoError',
  'UnitOutcome',
  'createIdentity',
  'defineRunner',
  'describeTailTruncation',
  'errorCode',
  'isCkptError',
  'openCheckpoint',
  'pruneCheckpoints',
  'readLog',
  'readLogPrefix',
  'readCheckpointFile',
];

describe('the public surface of @ckpt/core', () => {
  it('exports exactly the embedder-facing values', () => {
    expect(Object.keys(core).sort()).toEqual([...PUBLIC_VALUES].sort());
  });

  it('@ckpt/core/internal is a superset: the same objects, plus the building blocks', () => {
    for (const [name, value] of Object.entries(core)) expect((internal as Record<string, unknown>)[name], name).toBe(value);
    for (const name of [
      'MAGIC',
      'RECORD_HEADER_BYTES',
      'readLogBytes',
      'foldEvents',
      'snapshotState',
      'scanLog',
      'sealSensitive',
      'formatDuration',
    ]) {
      expect(name in internal, name).toBe(true);
      expect(name in core, name).toBe(false);
    }
  });
});
