/**
 * @ckpt/core/internal: everything of `@ckpt/core`, plus the building blocks its own tools use
 * (the testkit, the CLI, the runners in this repository): the log format's constants, the raw
 * readers, the fold's pieces, sealing, units. Not a stable API: it changes with the packages
 * that ship together with this one. Embedders use `@ckpt/core`.
 */
export * from './index.js';

export { CORE_EVENT_TYPES, namespaceOf } from './fold/events.js';
export { MAX_PLAIN_DEPTH, findNonPlain, isPlainObject } from './fold/plain.js';
export { cloneState, currentAttempt } from './fold/state.js';
export type { MutableCheckpointState } from './fold/state.js';
export { evolve, foldEvents, initialState } from './fold/fold.js';
export { SNAPSHOT_VERSION, restoreSnapshot, snapshotState } from './fold/snapshot.js';
export type { PlainSnapshot } from './fold/snapshot.js';

export { FORMAT_VERSION, MAGIC, MAX_RECORD_BYTES, RECORD_HEADER_BYTES, RecordType } from './log/format.js';
export { decodePayload, encodePayload } from './log/codec.js';
export { scanLog } from './log/scan.js';
export type { ScanCorrupt, ScanOk, ScanResult } from './log/scan.js';
export { parseIdentity, sameIdentity } from './log/identity.js';
export { readIdentity, readLogBytes } from './log/read-log.js';
export { JOURNAL_TEMPORARY_SUFFIX } from './log/journal.js';
export { checkReadable, encodeRecord } from './log/journal-checks.js';
export { replayThenFollow } from './log/replay-then-follow.js';
export type { EntrySource } from './log/replay-then-follow.js';
export { MemoryLog } from './log/memory-log.js';
export type { EventLog } from './log/memory-log.js';

export { isDeadLocalOwner } from './lock/file-locker.js';

export { hashStructure } from './store/identity.js';
export { deriveSecretKey, revealVariables, sealSensitive } from './store/secrets.js';
export type { SecretKey } from './store/secrets.js';
export { DEFAULT_RETENTION_MS, memoryCheckpoint, parseUsage, removeCheckpointFile } from './store/checkpoint-store.js';
export { expiryOf } from './store/prune.js';

export { isEventEmission } from './engine/runner.js';

export { formatBytes, formatDuration, parseDuration, parseSize } from './util/units.js';
