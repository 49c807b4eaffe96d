import type { LockHandle } from '../lock/locker.js';
import type { CheckpointState } from '../fold/state.js';
import type { Fold } from '../fold/fold.js';
import type { Storage } from '../storage/storage.js';
import type { TailTruncation } from './read-log.js';

// The options and results of a journal, apart from the Journal class so that every module of
// the journal (creation, recovery, the writer) can name them without importing the class.

/** When an `append` resolves. */
export type Durability =
  /** After an fdatasync that covers the record. */
  | 'durable'
  /** At once; the record is written in the background and durable after the next `sync()`. */
  | 'buffered';

/** What an append returns. */
export interface AppendReceipt {
  /** Sequence number of the record holding the events. */
  readonly seq: number;
}

/** Options of {@link Journal.create} and {@link Journal.open}. */
export interface JournalOptions {
  readonly storage: Storage;
  readonly fold: Fold;
  /** Default durability of {@link Journal.append} (default `durable`). */
  readonly durability?: Durability;
  /**
   * Rewrite the file as header + snapshot once the records after the last snapshot exceed
   * `minBytes` and twice the snapshot's size (default 256 KiB); `false` keeps the whole history.
   */
  readonly compaction?: { readonly minBytes: number } | false;
  /** The writer lock; checked before every write. */
  readonly lock?: LockHandle;
  /** Clock for epoch records and for timing blocking fdatasyncs (journal-blocking.ts) (default Date.now). */
  readonly now?: () => number;
  /**
   * Source of the salts and temporary file names (default node:crypto's randomBytes); a seeded
   * one makes a simulated run write the same bytes every time it replays.
   */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** This writer session, recorded in its epoch record. */
  readonly session?: { readonly pid: number; readonly host: string };
  /**
   * Called by {@link Journal.open} with the recovered state before anything is written: throw
   * to refuse the checkpoint with the file unchanged.
   */
  readonly checkRecovered?: (state: CheckpointState) => void;
}

/** Options of {@link Journal.create}. */
export interface JournalCreateOptions extends JournalOptions {
  /**
   * Replace a file already at the path (its events are lost). Without it, `create` refuses an
   * existing file: open it with {@link Journal.open} to continue it.
   */
  readonly replace?: boolean;
}

/** Recovery's report when a journal was opened. */
export interface RecoveryReport {
  /** Bytes of torn or zero-filled tail that were truncated. */
  readonly truncatedBytes: number;
  readonly truncatedReason?: string;
  /**
   * When a tail was truncated: where, how much, and the last record kept. The same facts are
   * recorded in the log, in this session's epoch record (`truncatedTail`).
   */
  readonly truncatedTail?: TailTruncation;
  /** Temporary files of interrupted compactions or creations that were removed. */
  readonly removedTemporaryFiles: readonly string[];
}
