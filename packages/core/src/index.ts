/**
 * @ckpt/core: an append-only event log that folds into a checkpoint state, a checkpoint store
 * with SSIS usage semantics, and the engine that wires runners to them.
 */
export {
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

export { AttemptOutcome, CORE_EVENT_TYPES, UnitOutcome, namespaceOf } from './fold/events.js';
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
export { MAX_PLAIN_DEPTH, findNonPlain, isPlainObject } from './fold/plain.js';
export type { PlainValue } from './fold/plain.js';
export { cloneState, currentAttempt } from './fold/state.js';
export type {
  AttemptRecord,
  CheckpointState,
  CompletedUnit,
  CursorRecord,
  FailedUnit,
  MutableCheckpointState,
  RunningUnit,
  ScopeRecord,
  VariableRecord,
} from './fold/state.js';
export { Fold, FoldError, evolve, foldEvents, initialState } from './fold/fold.js';
export type { ExtensionReducer, UnknownNamespacePolicy, UnreducedNamespace } from './fold/fold.js';
export { SNAPSHOT_VERSION, restoreSnapshot, snapshotState } from './fold/snapshot.js';
export type { PlainSnapshot } from './fold/snapshot.js';

export {
  FORMAT_VERSION,
  MAGIC,
  MAX_RECORD_BYTES,
  RECORD_HEADER_BYTES,
  RecordType,
} from './log/format.js';
export { decodePayload, encodePayload } from './log/codec.js';
export { scanLog } from './log/scan.js';
export type { ScanCorrupt, ScanOk, ScanResult } from './log/scan.js';
export { parseIdentity, sameIdentity } from './log/identity.js';
export type { JobIdentity } from './log/identity.js';
export { describeTailTruncation, readIdentity, readLog, readLogBytes, readLogPrefix } from './log/read-log.js';
export type { EpochInfo, LogEntry, LogPrefixReading, LogReading, TailTruncation } from './log/read-log.js';
export { JOURNAL_TEMPORARY_SUFFIX, Journal } from './log/journal.js';
export type { AppendReceipt, Durability, JournalOptions, RecoveryReport } from './log/journal.js';
export { MemoryLog } from './log/memory-log.js';
export type { EventLog } from './log/memory-log.js';

export { FileLocker, isDeadLocalOwner } from './lock/file-locker.js';
export type { FileLockerOptions } from './lock/file-locker.js';
export type { AcquireOptions, LockHandle, LockOwner, Locker } from './lock/locker.js';

export { createIdentity, hashStructure } from './store/identity.js';
export { deriveSecretKey, revealVariables, sealSensitive } from './store/secrets.js';
export type { RevealedVariable, SecretKey } from './store/secrets.js';
export {
  CheckpointUsage,
  DEFAULT_RETENTION_MS,
  openCheckpoint,
  parseUsage,
  removeCheckpointFile,
} from './store/checkpoint-store.js';
export type { CheckpointOptions, OpenedCheckpoint, StoreEnvironment } from './store/checkpoint-store.js';
export { expiryOf, pruneCheckpoints } from './store/prune.js';
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
export { defineRunner, isEventEmission } from './engine/runner.js';
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

export { formatBytes, formatDuration, parseDuration, parseSize } from './util/units.js';
