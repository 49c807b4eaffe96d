import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { CkptError, InvalidInputError, LockCompromisedError, StorageIoError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { FoldError, type Fold } from '../fold/fold.js';
import { findNonPlain, MAX_PLAIN_DEPTH } from '../fold/plain.js';
import { restoreSnapshot, snapshotState } from '../fold/snapshot.js';
import type { CheckpointState, MutableCheckpointState } from '../fold/state.js';
import type { LockHandle } from '../lock/locker.js';
import type { Storage, StorageFile } from '../storage/storage.js';
import { decodePayload, encodePayload } from './codec.js';
import {
  encodeHeader,
  frameRecord,
  framedSize,
  MAX_RECORD_BYTES,
  RecordType,
  saltCrcOf,
  saltOf,
  viewOf,
  type LogHeader,
  type RecordToWrite,
} from './format.js';
import { parseIdentity, type JobIdentity } from './identity.js';
import { isPlainQuick } from './plain-fast.js';
import { readLogBytes, readWholeFile, type LogEntry, type TailTruncation } from './read-log.js';

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
  /** Clock for epoch records (default Date.now). */
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

/** Tail size past which the file is compacted (and only when the tail is over twice the snapshot). */
const DEFAULT_COMPACTION_BYTES = 256 * 1024;
/** Buffered appends wait once this much is queued and not yet written (backpressure). */
const HIGH_WATER_BYTES = 16 * 1024 * 1024;
/** Largest single write of queued records. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const WRITER = '@ckpt/core/1';

interface PendingRecord extends RecordToWrite {
  /** The events of an events record (their entries are built only when someone reads them). */
  readonly events: readonly CkptEvent[] | undefined;
}

/** One caller waiting for durability: a durable append (resolves with its receipt) or a sync barrier. */
interface Waiter {
  readonly seq: number;
  readonly receipt: AppendReceipt | undefined;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/** The suffix of temporary files a journal writes beside its checkpoint (and may leave behind when a process dies). */
export const JOURNAL_TEMPORARY_SUFFIX = /\.(compact|new)-[0-9a-f]{16}\.tmp$/;

/** Whether `name` is a temporary file of the checkpoint named `checkpointName`. */
export function isJournalTemporaryFile(checkpointName: string, name: string): boolean {
  return name.startsWith(`${checkpointName}.`) && JOURNAL_TEMPORARY_SUFFIX.test(name);
}

/**
 * The append-only event log of one checkpoint file: group commit, durability barriers,
 * compaction, and a live stream of what is appended. One writer per file (the caller holds the
 * lock). After any I/O error the journal is failed: every later call rejects with that error,
 * and nothing more is acknowledged.
 */
export class Journal {
  private readonly storage: Storage;
  private readonly fold: Fold;
  private readonly durability: Durability;
  private compactionBytes: number | undefined;
  private readonly lock: LockHandle | undefined;
  private readonly now: () => number;
  private readonly random: (size: number) => Uint8Array;
  private readonly live = new Subject<LogEntry>();
  private readonly marks: BehaviorSubject<number>;

  /** Records queued and not yet written. */
  private pending: PendingRecord[] = [];
  private pendingBytes = 0;
  /** In order of `seq` (never decreasing: appends and barriers take the sequence numbers in order). */
  private syncWaiters: Waiter[] = [];
  private drainWaiters: (() => void)[] = [];
  private flushing: Promise<void> | undefined;
  /** Waiters the last flush turn released: more than one means concurrent appenders may come back. */
  private lastReleased = 0;
  private failure: CkptError | undefined;
  private closed = false;
  private saltCrc: number;
  /** Last record written to the file (maybe not durable). */
  private writtenSeq: number;
  /** Last record known durable (see {@link Journal.durableSeq}), and the file offset up to which everything is. */
  private lastDurableSeq: number;
  private durableEnd: number;

  private constructor(
    readonly path: string,
    private file: StorageFile,
    private header: LogHeader,
    readonly identity: JobIdentity,
    private readonly mutableState: MutableCheckpointState,
    /** This session's epoch. */
    readonly epoch: number,
    private nextSeq: number,
    private end: number,
    private snapshotEnd: number,
    options: JournalOptions,
    /** What recovery did when the journal was opened. */
    readonly recovery: RecoveryReport,
    /** The last record read from the file when it was opened (0 for a file this journal created): later entries are new. */
    readonly replayedSeq: number,
  ) {
    this.storage = options.storage;
    this.fold = options.fold;
    this.durability = options.durability ?? 'durable';
    this.compactionBytes = options.compaction === false ? undefined : (options.compaction?.minBytes ?? DEFAULT_COMPACTION_BYTES);
    this.lock = options.lock;
    this.now = options.now ?? Date.now;
    this.random = options.randomBytes ?? randomBytes;
    this.saltCrc = saltCrcOf(header.salt);
    this.writtenSeq = nextSeq - 1;
    this.lastDurableSeq = nextSeq - 1;
    this.marks = new BehaviorSubject(this.lastDurableSeq);
    this.durableEnd = end;
  }

  /** The last record known durable: every entry with a `seq` up to it survives a crash. */
  get durableSeq(): number {
    return this.lastDurableSeq;
  }

  /** {@link Journal.durableSeq} now, then each time it advances; completes when the journal closes (errors when it fails). */
  durableMarks(): Observable<number> {
    return this.marks.asObservable();
  }

  private markDurable(seq: number): void {
    this.lastDurableSeq = seq;
    if (seq > this.marks.value) this.marks.next(seq);
  }

  /**
   * Creates a new checkpoint file at `path`: header and epoch record go to a temporary file,
   * which is synced, renamed into place, and the directory synced. Leftovers of a creation or
   * compaction that a crash interrupted are removed first. A file already at `path` is refused
   * (InvalidInputError, file untouched) unless `options.replace` says to replace it (the caller
   * decided that, holding the lock): {@link Journal.open} continues an existing checkpoint.
   */
  static async create(path: string, identity: JobIdentity, options: JournalCreateOptions): Promise<Journal> {
    const { storage } = options;
    if (options.replace !== true && (await storage.stat(path).catch(() => undefined)) !== undefined) {
      throw new InvalidInputError(`${path} already exists; Journal.create would replace it and lose its events, so it left it untouched`, {
        hint: 'continue it with Journal.open(path, options), or pass { replace: true } to Journal.create to start over',
      });
    }
    const now = options.now ?? Date.now;
    const random = options.randomBytes ?? randomBytes;
    // The reader's rule for the header: an identity it can parse, in at most MAX_HEADER_BYTES.
    const identityBytes = encodePayload(identity);
    let readable: JobIdentity | undefined;
    try {
      readable = parseIdentity(decodePayload(identityBytes));
    } catch {
      readable = undefined;
    }
    if (readable === undefined) {
      throw new InvalidInputError(`the job identity of ${path} lacks a string kind, id, version or structureHash`);
    }
    let header: Uint8Array;
    try {
      header = encodeHeader({ salt: random(8), firstSeq: 1, createdAt: now(), identityBytes });
    } catch (error) {
      throw new InvalidInputError(`cannot create checkpoint ${path}: ${(error as Error).message}`, {
        cause: error,
        hint: 'use a shorter job id and version',
      });
    }
    const epochPayload = encodePayload(epochRecord(1, options, now()));
    const bytes = new Uint8Array(header.length + framedSize(epochPayload.length));
    bytes.set(header, 0);
    const saltCrc = saltCrcOf(saltOf(header));
    frameRecord(bytes, header.length, { type: RecordType.Epoch, seq: 1, payload: epochPayload }, saltCrc, 0);
    const removedTemporaryFiles = await removeTemporaryFiles(storage, path);
    const file = await writeReplacing(storage, path, 'new', bytes, random);
    const reading = readLogBytes(path, bytes, options.fold);
    return new Journal(
      path,
      file,
      reading.header,
      identity,
      reading.state,
      1,
      2,
      bytes.length,
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
   * removes leftovers of interrupted compactions, and records a new epoch.
   */
  static async open(path: string, options: JournalOptions): Promise<Journal> {
    const { storage } = options;
    const bytes = await readWholeFile(storage, path);
    const reading = readLogBytes(path, bytes, options.fold);
    options.checkRecovered?.(reading.state);
    const removedTemporaryFiles = await removeTemporaryFiles(storage, path);
    let file: StorageFile;
    try {
      file = await storage.open(path, 'read-write');
    } catch (error) {
      throw new StorageIoError(path, 'opening for writing', { cause: error });
    }
    const truncatedTail: TailTruncation | undefined =
      reading.tailBytes > 0
        ? {
            offset: reading.validEnd,
            bytes: reading.tailBytes,
            lastGoodSeq: reading.lastSeq,
            reason: reading.tailReason ?? 'incomplete record',
          }
        : undefined;
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
    try {
      if (reading.tailBytes > 0) {
        await file.truncate(reading.validEnd);
        await file.datasync();
      }
    } catch (error) {
      await file.close().catch(() => undefined);
      throw new StorageIoError(path, 'truncating the torn tail', { cause: error });
    }
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
    return new Observable<LogEntry>((subscriber) => {
      let replaying = true;
      let lastSeq = 0;
      let lastIndex = -1;
      const buffered: LogEntry[] = [];
      const deliver = (entry: LogEntry) => {
        const index = entry.kind === 'event' ? entry.index : -1;
        if (entry.seq < lastSeq || (entry.seq === lastSeq && index <= lastIndex)) return;
        lastSeq = entry.seq;
        lastIndex = index;
        subscriber.next(entry);
      };
      const liveSubscription = this.live.subscribe({
        next: (entry) => (replaying ? buffered.push(entry) : deliver(entry)),
        error: (error: unknown) => subscriber.error(error),
        complete: () => (replaying ? undefined : subscriber.complete()),
      });
      const queued = this.pending.flatMap((record) => entriesOf(record.seq, record.events));
      readWholeFile(this.storage, this.path)
        .then((bytes) => {
          if (subscriber.closed) return;
          const reading = readLogBytes(this.path, bytes, this.fold, { withEntries: true });
          for (const entry of reading.entries ?? []) deliver(entry);
          for (const entry of queued) deliver(entry);
          for (const entry of buffered) deliver(entry);
          replaying = false;
          if (this.closed) subscriber.complete();
        })
        .catch((error: unknown) => subscriber.error(error));
      return () => liveSubscription.unsubscribe();
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

  private throwIfFailed<T>(value: T): T {
    if (this.failure) throw this.failure;
    return value;
  }

  private appendNow(events: readonly CkptEvent[]): number {
    this.throwIfFailed(undefined);
    if (this.closed) throw new InvalidInputError(`the journal of ${this.path} is closed`);
    if (!Array.isArray(events) || events.length === 0) {
      throw new InvalidInputError('append needs a non-empty array of events');
    }
    let payload: Uint8Array;
    try {
      payload = encodePayload(events);
    } catch (error) {
      throw new InvalidInputError(`events cannot be encoded: ${(error as Error).message}`, { cause: error });
    }
    if (payload.length > MAX_RECORD_BYTES) {
      throw new InvalidInputError(
        `these ${events.length} event(s) encode to ${payload.length} bytes, over the ${MAX_RECORD_BYTES}-byte record limit`,
        { hint: 'record large data outside the checkpoint and keep a reference (a path and a hash) in the event' },
      );
    }
    checkReadable(events);
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

  private enqueue(type: RecordType, payload: Uint8Array, events: readonly CkptEvent[] | undefined): number {
    const seq = this.nextSeq++;
    this.pending.push({ type, seq, payload, events });
    this.pendingBytes += framedSize(payload.length);
    this.kick();
    return seq;
  }

  private waitDurable<T extends AppendReceipt | undefined>(seq: number, receipt: T): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (seq <= this.lastDurableSeq) return Promise.resolve(receipt);
    return new Promise<T>((resolve, reject) => {
      this.syncWaiters.push({ seq, receipt, resolve: resolve as (value: never) => void, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing === undefined && !this.failure) {
      // Start the turn after the current microtasks: appenders released by the previous turn
      // append again in those microtasks, and must land in this turn, not wait for the next
      // one (which would cost a second fdatasync per round). When that turn released at most
      // one waiter, only the caller can be coming back: a microtask suffices (appends made in
      // the same synchronous run still land together), and a lone durable appender does not
      // pay a trip through the event loop's check phase per append.
      const start = this.lastReleased <= 1 ? Promise.resolve() : new Promise<void>((resolve) => setImmediate(resolve));
      this.flushing = start
        .then(() => this.flushLoop())
        .finally(() => {
          this.flushing = undefined;
          if (!this.failure && (this.pending.length > 0 || this.needsSync())) this.kick();
        });
    }
  }

  /** Runs `work` with the flush loop stopped. */
  private async runExclusive(work: () => Promise<void>): Promise<void> {
    while (this.flushing) await this.flushing;
    const done = work();
    this.flushing = done.catch(() => undefined);
    try {
      await done;
    } finally {
      this.flushing = undefined;
      this.kick();
    }
  }

  /**
   * Group commit: each turn writes everything queued in one write, then, if anyone waits for
   * durability, one fdatasync covers it all. Appends made meanwhile queue for the next turn.
   */
  private async flushLoop(): Promise<void> {
    while (!this.failure && (this.pending.length > 0 || this.needsSync())) {
      if (this.lock?.compromised) {
        this.fail(new LockCompromisedError(this.path));
        return;
      }
      if (this.pending.length > 0) {
        await this.writePending();
        if (this.failure) return;
      }
      if (this.needsSync()) {
        try {
          await this.file.datasync();
        } catch (error) {
          this.fail(new StorageIoError(this.path, 'fdatasync', { cause: error }));
          return;
        }
        this.durableEnd = this.end;
        this.markDurable(this.writtenSeq);
      }
      this.releaseWaiters();
      if (this.shouldCompact()) {
        try {
          await this.compactNow();
        } catch (error) {
          this.fail(error instanceof CkptError ? error : new StorageIoError(this.path, 'compaction', { cause: error }));
          return;
        }
      }
    }
  }

  /** Someone waits for a record that is written but not yet durable. */
  private needsSync(): boolean {
    // The waiters are in order of seq: the last one waits for the most.
    const last = this.syncWaiters.length - 1;
    return this.lastDurableSeq < this.writtenSeq && last >= 0 && this.syncWaiters[last]!.seq > this.lastDurableSeq;
  }

  private async writePending(): Promise<void> {
    let count = 0;
    let bytes = 0;
    while (count < this.pending.length && (count === 0 || bytes + framedSize(this.pending[count]!.payload.length) <= MAX_BATCH_BYTES)) {
      bytes += framedSize(this.pending[count]!.payload.length);
      count++;
    }
    const batch = this.pending.splice(0, count);
    const buffer = new Uint8Array(bytes);
    const view = viewOf(buffer);
    let offset = 0;
    for (const record of batch) offset = frameRecord(buffer, offset, record, this.saltCrc, this.durableEnd, view);
    try {
      await this.file.write(buffer, this.end);
    } catch (error) {
      this.fail(new StorageIoError(this.path, 'write', { cause: error }));
      return;
    }
    this.end += bytes;
    this.pendingBytes -= bytes;
    this.writtenSeq = batch.at(-1)!.seq;
    if (this.pendingBytes <= HIGH_WATER_BYTES) {
      const waiting = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiting) resolve();
    }
  }

  private releaseWaiters(): void {
    const waiters = this.syncWaiters;
    // The waiters are in order of seq: release the durable prefix.
    let released = 0;
    while (released < waiters.length && waiters[released]!.seq <= this.lastDurableSeq) released++;
    this.lastReleased = released;
    if (released === 0) return;
    this.syncWaiters = released === waiters.length ? [] : waiters.slice(released);
    for (let i = 0; i < released; i++) waiters[i]!.resolve(waiters[i]!.receipt as never);
  }

  private shouldCompact(): boolean {
    if (this.compactionBytes === undefined) return false;
    const tail = this.end - this.snapshotEnd;
    const snapshot = this.snapshotEnd - this.header.headerLength;
    return tail > this.compactionBytes && tail > 2 * snapshot;
  }

  /**
   * Compaction: the folded state of every record appended so far (written or still queued)
   * becomes the snapshot of a new file: temp file, fdatasync, rename over the checkpoint,
   * directory fsync. Queued records are covered by the snapshot and dropped. A crash at any
   * point leaves either the old file or the new one, and both hold every acknowledged event:
   * waiters are released only after the directory fsync.
   */
  private async compactNow(): Promise<void> {
    if (this.lock?.compromised) throw new LockCompromisedError(this.path);
    // Everything up to here is synchronous: the snapshot covers exactly the records queued or
    // written so far. Records appended while the new file is written stay queued behind it.
    const payload = encodePayload({ epoch: this.epoch, state: snapshotState(this.mutableState, this.fold) });
    if (payload.length > MAX_RECORD_BYTES) {
      // The state itself is too large for one record: keep the history instead of compacting.
      return;
    }
    if (snapshotProblem(payload, this.fold) !== undefined) {
      // The snapshot nests its values deeper than the events that set them: a state the reader
      // would refuse as a snapshot stays as history. It will not become readable by waiting,
      // so this writer stops trying (each try would encode the whole state again).
      this.compactionBytes = undefined;
      return;
    }
    const seq = this.nextSeq++;
    const covered = this.pending.length;
    const headerBytes = encodeHeader({
      salt: this.random(8),
      firstSeq: seq,
      createdAt: this.header.createdAt,
      identityBytes: encodePayload(this.identity),
    });
    const bytes = new Uint8Array(headerBytes.length + framedSize(payload.length));
    bytes.set(headerBytes, 0);
    const salt = saltOf(headerBytes);
    frameRecord(bytes, headerBytes.length, { type: RecordType.Snapshot, seq, payload }, saltCrcOf(salt), 0);
    const file = await writeReplacing(this.storage, this.path, 'compact', bytes, this.random);
    const previous = this.file;
    this.file = file;
    this.header = { ...this.header, salt, firstSeq: seq, headerLength: headerBytes.length };
    this.saltCrc = saltCrcOf(salt);
    this.end = bytes.length;
    this.durableEnd = bytes.length;
    this.snapshotEnd = bytes.length;
    this.writtenSeq = seq;
    this.markDurable(seq);
    this.pending = this.pending.slice(covered);
    this.pendingBytes = this.pending.reduce((sum, record) => sum + framedSize(record.payload.length), 0);
    await previous.close().catch(() => undefined);
    this.releaseWaiters();
    const waiting = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiting) resolve();
  }

  private fail(error: CkptError): void {
    if (this.failure) return;
    this.failure = error;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    const draining = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of draining) resolve();
  }
}

/**
 * The reader's rules applied before a write: a writer must never write a record its own reader
 * refuses (that would wedge the checkpoint for good). The reader decodes an events record and
 * refuses it unless the whole payload is plain data nested at most MAX_PLAIN_DEPTH levels
 * (`findNonPlain(payload)` in codec.ts); the record length and the fold are checked by the
 * appender already. Plain data is exactly what msgpack carries without extension types, so
 * checking the events as given is checking what the reader will decode, without decoding every
 * append. A `__proto__` key is refused too: the reader would silently rename it. Throws
 * InvalidInputError, before anything is queued.
 */
function checkReadable(events: readonly CkptEvent[]): void {
  if (isPlainQuick(events, 0, true)) return;
  const bad = findNonPlain(events, 'events');
  if (bad !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: the checkpoint's reader would refuse them (${bad})`, {
      hint: `record plain data nested at most ${MAX_PLAIN_DEPTH} levels, counting the record's array and the event itself`,
    });
  }
  const protoKey = findProtoKey(events, 'events', 0);
  if (protoKey !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: ${protoKey} is a "__proto__" key, which the reader renames`, {
      hint: 'rename the key',
    });
  }
}

/** The path of the first own `__proto__` key in plain data (already bounded in depth by findNonPlain). */
function findProtoKey(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || depth > 256) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findProtoKey(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (Object.hasOwn(value, '__proto__')) return `${path}.__proto__`;
  for (const key of Object.keys(value)) {
    const found = findProtoKey((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Why the reader would refuse `payload` as a snapshot record, or undefined when it reads it. */
function snapshotProblem(payload: Uint8Array, fold: Fold): string | undefined {
  try {
    const decoded = decodePayload(payload) as { state?: unknown };
    restoreSnapshot(decoded.state, fold);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The entries of a queued record: those of its events, not yet at a file offset. */
function entriesOf(seq: number, events: readonly CkptEvent[] | undefined): LogEntry[] {
  return events === undefined ? [] : events.map((event, index) => ({ kind: 'event', seq, offset: -1, index, event }));
}

function epochRecord(epoch: number, options: JournalOptions, now: number, truncatedTail?: TailTruncation) {
  return {
    epoch,
    ...(options.session && { pid: options.session.pid, host: options.session.host }),
    startedAt: now,
    writer: WRITER,
    ...(truncatedTail !== undefined && { truncatedTail }),
  };
}

/**
 * Writes `bytes` to a new temporary file beside `path`, syncs it, renames it over `path` and
 * syncs the directory. Returns the open file (now at `path`). On failure the temporary file is
 * removed and `path` is as it was.
 */
async function writeReplacing(
  storage: Storage,
  path: string,
  purpose: 'new' | 'compact',
  bytes: Uint8Array,
  random: (size: number) => Uint8Array,
): Promise<StorageFile> {
  const temporary = `${path}.${purpose}-${Buffer.from(random(8)).toString('hex')}.tmp`;
  const dir = dirname(path);
  let file: StorageFile | undefined;
  let step = 'creating';
  try {
    file = await storage.open(temporary, 'create-exclusive');
    step = 'write';
    await file.write(bytes, 0);
    step = 'fdatasync';
    await file.datasync();
    step = 'rename';
    await storage.rename(temporary, path);
  } catch (error) {
    await file?.close().catch(() => undefined);
    if (step !== 'creating') await storage.unlink(temporary).catch(() => undefined);
    throw new StorageIoError(
      step === 'creating' ? temporary : path,
      `${step} (writing ${purpose === 'new' ? 'a new checkpoint' : 'a compacted checkpoint'})`,
      {
        cause: error,
      },
    );
  }
  try {
    await storage.syncDir(dir);
  } catch (error) {
    await file.close().catch(() => undefined);
    throw new StorageIoError(dir, 'fsync of the directory', { cause: error });
  }
  return file;
}

async function removeTemporaryFiles(storage: Storage, path: string): Promise<string[]> {
  const dir = dirname(path);
  const name = basename(path);
  let names: string[];
  try {
    names = await storage.readdir(dir);
  } catch (error) {
    throw new StorageIoError(dir, 'listing the checkpoint directory', { cause: error });
  }
  const removed: string[] = [];
  for (const candidate of names.filter((n) => isJournalTemporaryFile(name, n))) {
    try {
      await storage.unlink(join(dir, candidate));
      removed.push(candidate);
    } catch (error) {
      throw new StorageIoError(join(dir, candidate), 'removing a leftover temporary file', { cause: error });
    }
  }
  if (removed.length > 0) {
    try {
      await storage.syncDir(dir);
    } catch (error) {
      throw new StorageIoError(dir, 'fsync of the directory', { cause: error });
    }
  }
  return removed;
}
