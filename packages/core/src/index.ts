/**
 * @ckpt/core: an append-only event log that folds into a checkpoint state, a checkpoint store
 * with SSIS usage semantics, and the engine that wires runners to them. This entry is what an
 * embedder needs; the building blocks the testkit and the CLI use besides are in
 * `@ckpt/core/internal` (no stability promise).
 */
export {
  CKPT_ERROR_BRAND,
  CheckpointLockedError,
  CheckpointNotFoundError,
  CkptError,
  CorruptCheckpointError,
  ErrorCode,
  IdentityMismatchError,
  InterruptedError,
  InvalidInputError,
  LockCompromisedError,
  NotRegularFileError,
  StorageIoError,
  isCkptError,
} from './errors.js';
export type { IdentityLike } from './errors.js';

export { errorCode } from './storage/storage.js';
export type { FileInfo, OpenMode, Storage, StorageFile } from './storage/storage.js';
export { NodeStorage } from './storage/node-storage.js';

export { AttemptOutcome, UnitOutcome } from './fold/events.js';
export type {
  AttemptEnded,
  AttemptStarted,
  CkptEvent,
  ConfigCaptured,
  CoreEvent,
  CoreEventType,
  CursorSet,
  ErrorInfo,
  ExtensionEvent,
  ScopeAborted,
  ScopeCommitted,
  ScopeOpened,
  SealedValue,
  UnitCompleted,
  UnitFailed,
  UnitStarted,
  VariableSet,
} from './fold/events.js';
export type { PlainValue } from './fold/plain.js';
export type {
  AttemptRecord,
  CheckpointState,
  CompletedUnit,
  CursorRecord,
  FailedUnit,
  RunningUnit,
  ScopeRecord,
  VariableRecord,
} from './fold/state.js';
export { Fold, FoldError } from './fold/fold.js';
export type { ExtensionReducer, UnknownNamespacePolicy, UnreducedNamespace } from './fold/fold.js';

export type { JobIdentity } from './log/identity.js';
export { describeTailTruncation, readLog, readLogPrefix } from './log/read-log.js';
export type { EpochInfo, LogEntry, LogPrefixReading, LogReading, TailTruncation } from './log/read-log.js';
export { Journal } from './log/journal.js';
export type { AppendReceipt, Durability, JournalCreateOptions, JournalOptions, RecoveryReport } from './log/journal.js';

export { FileLocker } from './lock/file-locker.js';
export type { FileLockerOptions } from './lock/file-locker.js';
export type { AcquireOptions, LockHandle, LockOwner, Locker } from './lock/locker.js';

export { createIdentity } from './store/identity.js';
export type { RevealedVariable } from './store/secrets.js';
export { CheckpointUsage, openCheckpoint } from './store/checkpoint-store.js';
export type { CheckpointOptions, OpenedCheckpoint, StoreEnvironment } from './store/checkpoint-store.js';
export { pruneCheckpoints } from './store/prune.js';
export { FileStore } from './store/file-store.js';
export { readCheckpointFile } from './store/read-checkpoint-file.js';
export type {
  CheckpointDamage,
  CheckpointOwner,
  CheckpointReading,
  CheckpointStore,
  ConnectStoreOptions,
  ListOptions,
  ListedCheckpoint,
  OpenCheckpointOptions,
  OwnerClaim,
  OwnerState,
  ReadCheckpointOptions,
  StoreAdapterModule,
  StoreInitReport,
  StorePruneOptions,
} from './store/port.js';
export type { CompanionFiles, PruneOptions, PruneReport, PruneSkip, PrunedCheckpoint } from './store/prune.js';

export { Engine, Execution } from './engine/engine.js';
export type { EntriesOptions, ExecutionEntry, RunOptions, RunResult } from './engine/engine.js';
export { defineRunner } from './engine/runner.js';
export type {
  AsyncRunnerDefinition,
  EventEmission,
  Notice,
  NoticeMessage,
  RecordMessage,
  ResultMessage,
  ResumeCheck,
  RunContext,
  Runner,
  RunnerEmission,
  RunnerEmitter,
  RunnerMessage,
} from './engine/runner.js';
