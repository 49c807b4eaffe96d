import type { Observable } from 'rxjs';
import { CkptError, InvalidInputError, StorageIoError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { FoldError } from '../fold/fold.js';
import type { CheckpointState, MutableCheckpointState } from '../fold/state.js';
import type { StorageFile } from '../storage/storage.js';
import { encodePayload } from './codec.js';
import { RecordType, type LogHeader } from './format.js';
import type { JobIdentity } from './identity.js';
import { encodeRecord, entriesOf } from './journal-checks.js';
import { createFile } from './journal-create.js';
import type { AppendReceipt, Durability, JournalCreateOptions, JournalOptions, RecoveryReport } from './journal-options.js';
import { epochRecord, recoverFile, truncateTornTail } from './journal-recovery.js';
import { HIGH_WATER_BYTES, JournalWriter } from './journal-writer.js';
import { readLogBytes, readWholeFile, type LogEntry } from './read-log.js';
import { replayThenFollow } from './replay-then-follow.js';
import { upgradeToCurrentFormat } from './upgrade.js';

// The journal is split along its seams: options (journal-options.ts), creation
// (journal-create.ts), opening and recovery (journal-recovery.ts), compaction
// (journal-compaction.ts), the checks before an append (journal-checks.ts) and the writer's
// flush loop (journal-writer.ts). This module keeps the class and its public operations, and
// re-exports what other modules import from here.
export type { AppendReceipt, Durability, JournalCreateOptions, JournalOptions, RecoveryReport } from './journal-options.js';
export { isJournalTemporaryFile, JOURNAL_TEMPORARY_SUFFIX } from './journal-recovery.js';

/**
 * The append-only event log of one checkpoint file: group commit, durability barriers,
 * compaction, and a live stream of what is appended. One writer per file (the caller holds the
 * lock). After any I/O error the journal is failed: every later call rejects with that error,
 * and nothing more is acknowledged.
 */
export class Journal extends JournalWriter {
  // Private, as before the split: a journal comes from create or open, never from `new`.
  private constructor(
    path: string,
    file: StorageFile,
    header: LogHeader,
    identity: JobIdentity,
    mutableState: MutableCheckpointState,
    epoch: number,
    nextSeq: number,
    end: number,
    snapshotEnd: number,
    options: JournalOptions,
    recovery: RecoveryReport,
    replayedSeq: number,
  ) {
    super(path, file, header, identity, mutableState, epoch, nextSeq, end, snapshotEnd, options, recovery, replayedSeq);
  }

  /**
   * Creates a new checkpoint file at `path`: header and epoch record go to a temporary file,
   * which is synced, renamed into place, and the directory synced. Leftovers of a creation or
   * compaction that a crash interrupted are removed first. A file already at `path` is refused
   * (InvalidInputError, file untouched) unless `options.replace` says to replace it (the caller
   * decided that, holding the lock): {@link Journal.open} continues an existing checkpoint.
   */
  static async create(path: string, identity: JobIdentity, options: JournalCreateOptions): Promise<Journal> {
    const { file, reading, size, removedTemporaryFiles } = await createFile(path, identity, options);
    return new Journal(
      path,
      file,
      reading.header,
      identity,
      reading.state,
      1,
      2,
      size,
      reading.snapshotEnd,
      options,
      {
        truncatedBytes: 0,
        removedTemporaryFiles,
      },
      0,
    );
  }

  /**
   * Opens an existing checkpoint file for writing: recovers it (a torn or zero-filled tail is
   * truncated and the truncation synced; damage is refused with its offset, file untouched),
   * removes leftovers of interrupted compactions, rewrites a file of an older format version as
   * the current one, and records a new epoch.
   */
  static async open(path: string, options: JournalOptions): Promise<Journal> {
    // A file of an older format version is rewritten as the current one before anything is appended (upgrade.ts).
    const { reading, file, removedTemporaryFiles, truncatedTail } = await upgradeToCurrentFormat(path, options, await recoverFile(path, options));
    const journal = new Journal(
      path,
      file,
      reading.header,
      reading.identity,
      reading.state,
      reading.epoch + 1,
      reading.lastSeq + 1,
      reading.validEnd,
      reading.snapshotEnd,
      options,
      {
        truncatedBytes: reading.tailBytes,
        ...(reading.tailReason !== undefined && { truncatedReason: reading.tailReason }),
        ...(truncatedTail !== undefined && { truncatedTail }),
        removedTemporaryFiles,
      },
      reading.lastSeq,
    );
    await truncateTornTail(file, path, reading);
    // A truncation is never silent: the new session's epoch record says what was dropped
    // (docs/log-format.md, "When recovery truncates a tail"), and so does journal.recovery.
    journal.enqueue(RecordType.Epoch, encodePayload(epochRecord(journal.epoch, options, journal.now(), truncatedTail)), undefined);
    try {
      await journal.sync();
    } catch (error) {
      await journal.close();
      throw error;
    }
    return journal;
  }

  /**
   * The folded state of everything appended so far (including records not yet durable). A
   * live view owned by the journal: read it, do not keep it across appends (clone it instead).
   */
  get state(): CheckpointState {
    return this.mutableState;
  }

  /** The error that failed this journal, if any. */
  get failed(): CkptError | undefined {
    return this.failure;
  }

  /** Bytes in the file, including records written but not yet durable. */
  get size(): number {
    return this.end;
  }

  /**
   * Appends `events` as one record: they land together or not at all. The fold is applied at
   * once (an invalid event throws InvalidInputError and nothing is appended); the promise
   * resolves according to `durability`.
   */
  append(events: readonly CkptEvent[], options: { readonly durability?: Durability } = {}): Promise<AppendReceipt> {
    try {
      const seq = this.appendNow(events);
      const durability = options.durability ?? this.durability;
      // One promise per durable append, resolved with its receipt when the fdatasync covers it.
      if (durability === 'durable') return this.waitDurable(seq, { seq });
      if (this.pendingBytes > HIGH_WATER_BYTES) {
        return new Promise<void>((resolve) => this.drainWaiters.push(resolve)).then(() => this.throwIfFailed({ seq }));
      }
      return Promise.resolve({ seq });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Resolves once every record appended before the call is durable (a barrier). */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.waitDurable(this.nextSeq - 1, undefined);
  }

  /**
   * Every entry of the log, then each one as it is appended (replay + live). The replay reads
   * the file, so memory does not grow with history; entries appended while it reads are
   * delivered after it, in order, exactly once.
   */
  entries(): Observable<LogEntry> {
    return replayThenFollow({
      live: this.live,
      queued: () => this.pending.flatMap((record) => entriesOf(record.seq, record.events)),
      read: async (onEntry) => {
        const reading = readLogBytes(this.path, await readWholeFile(this.storage, this.path), this.fold, { withEntries: true });
        for (const entry of reading.entries ?? []) onEntry(entry);
      },
      closed: () => this.closed,
    });
  }

  /** Rewrites the file as header + snapshot now (normally automatic, past the threshold). */
  async compact(): Promise<void> {
    this.throwIfFailed(undefined);
    await this.runExclusive(async () => {
      try {
        await this.compactNow();
      } catch (error) {
        // As for automatic compaction: the sequence number is taken and the file may or may
        // not have been replaced, so this writer stops (the file on disk is valid either way).
        this.fail(error instanceof CkptError ? error : new StorageIoError(this.path, 'compaction', { cause: error }));
        throw this.failure;
      }
    });
  }

  /** Writes and syncs everything appended, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.sync();
    } finally {
      this.closed = true;
      await this.flushing?.catch(() => undefined);
      await this.file.close().catch(() => undefined);
      if (this.failure) this.live.error(this.failure);
      else this.live.complete();
      this.marks.complete();
    }
  }

  private appendNow(events: readonly CkptEvent[]): number {
    this.throwIfFailed(undefined);
    if (this.closed) throw new InvalidInputError(`the journal of ${this.path} is closed`);
    if (!Array.isArray(events) || events.length === 0) {
      throw new InvalidInputError('append needs a non-empty array of events');
    }
    const payload = encodeRecord(events);
    const seq = this.nextSeq;
    // A record lands whole or not at all, in the fold too: an invalid event rejects this append
    // and leaves the state (and the journal) as they were.
    try {
      this.fold.applyAllInPlace(this.mutableState, events);
    } catch (error) {
      if (!(error instanceof FoldError)) throw error;
      const index = error.index ?? 0;
      throw new InvalidInputError(
        `event ${index} (${String(events[index]?.type)}) is invalid: ${error.message}; nothing of this record was appended`,
        {
          cause: error,
        },
      );
    }
    this.enqueue(RecordType.Events, payload, events);
    // The live entries exist only for subscribers (entries() subscribes before it reads).
    if (this.live.observed) for (const entry of entriesOf(seq, events)) this.live.next(entry);
    return seq;
  }
}
