import { randomBytes } from 'node:crypto';
import { BehaviorSubject, type Observable, Subject } from 'rxjs';
import { CkptError, LockCompromisedError, StorageIoError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import type { Fold } from '../fold/fold.js';
import type { MutableCheckpointState } from '../fold/state.js';
import type { LockHandle } from '../lock/locker.js';
import type { Storage, StorageFile } from '../storage/storage.js';
import { frameRecord, framedSize, type RecordType, saltCrcOf, viewOf, type LogHeader, type RecordToWrite } from './format.js';
import type { JobIdentity } from './identity.js';
import { BlockingAppends } from './journal-blocking.js';
import { compactedFile, snapshotPayload } from './journal-compaction.js';
import { writeReplacing } from './journal-create.js';
import type { AppendReceipt, Durability, JournalOptions, RecoveryReport } from './journal-options.js';
import type { LogEntry } from './read-log.js';

// The machinery under Journal (journal.ts): the queue of records, the group-commit flush loop,
// durability barriers, automatic compaction and fail-stop. Journal adds the public operations
// (create, open, append, entries, close) on top; this class holds the state they share.

/** Tail size past which the file is compacted (and only when the tail is over twice the snapshot). */
const DEFAULT_COMPACTION_BYTES = 256 * 1024;
/** Buffered appends wait once this much is queued and not yet written (backpressure). */
export const HIGH_WATER_BYTES = 16 * 1024 * 1024;
/** Largest single write of queued records. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

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

/**
 * The writer state and flush loop of a {@link Journal}: records queued by `enqueue` are written
 * in batches, one fdatasync covers every waiter of a turn, and after any I/O error the writer is
 * failed and acknowledges nothing more. Not used on its own: `Journal` (journal.ts) is the interface.
 */
export abstract class JournalWriter {
  protected readonly storage: Storage;
  protected readonly fold: Fold;
  protected readonly durability: Durability;
  private compactionBytes: number | undefined;
  private readonly lock: LockHandle | undefined;
  protected readonly now: () => number;
  private readonly random: (size: number) => Uint8Array;
  protected readonly live = new Subject<LogEntry>();
  protected readonly marks: BehaviorSubject<number>;

  /** Records queued and not yet written. */
  protected pending: PendingRecord[] = [];
  protected pendingBytes = 0;
  /** In order of `seq` (never decreasing: appends and barriers take the sequence numbers in order). */
  private syncWaiters: Waiter[] = [];
  protected drainWaiters: (() => void)[] = [];
  protected flushing: Promise<void> | undefined;
  /** Waiters the last flush turn released: more than one means concurrent appenders may come back. */
  private lastReleased = 0;
  protected failure: CkptError | undefined;
  protected closed = false;
  private saltCrc: number;
  /** Last record written to the file (maybe not durable). */
  private writtenSeq: number;
  /** Last record known durable (see {@link Journal.durableSeq}), and the file offset up to which everything is. */
  private lastDurableSeq: number;
  private durableEnd: number;
  /** The blocking path of a durable append alone (journal-blocking.ts). */
  private readonly blocking: BlockingAppends;

  protected constructor(
    readonly path: string,
    protected file: StorageFile,
    private header: LogHeader,
    readonly identity: JobIdentity,
    protected readonly mutableState: MutableCheckpointState,
    /** This session's epoch. */
    readonly epoch: number,
    protected nextSeq: number,
    protected end: number,
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
    this.blocking = new BlockingAppends({
      path: this.path,
      file: () => this.file,
      now: () => this.now(),
      pendingSeqs: () => this.pending,
      syncWaiters: () => this.syncWaiters,
      frameBatch: () => this.frameBatch(MAX_BATCH_BYTES),
      end: () => this.end,
      written: (bytes, lastSeq) => this.written(bytes, lastSeq),
      needsSync: () => this.needsSync(),
      markSynced: () => this.markSynced(),
      fail: (error) => this.fail(error),
    });
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

  protected throwIfFailed<T>(value: T): T {
    if (this.failure) throw this.failure;
    return value;
  }

  protected enqueue(type: RecordType, payload: Uint8Array, events: readonly CkptEvent[] | undefined): number {
    const seq = this.nextSeq++;
    this.pending.push({ type, seq, payload, events });
    this.pendingBytes += framedSize(payload.length);
    this.kick();
    return seq;
  }

  protected waitDurable<T extends AppendReceipt | undefined>(seq: number, receipt: T): Promise<T> {
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
  protected async runExclusive(work: () => Promise<void>): Promise<void> {
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
   * A turn for a durable append alone (see {@link BlockingAppends.alone}, journal-blocking.ts)
   * makes the same calls blocking, when the file has them (`writeSync`/`datasyncSync`), until
   * one blocking fdatasync is slow.
   */
  private async flushLoop(): Promise<void> {
    while (!this.failure && (this.pending.length > 0 || this.needsSync())) {
      if (this.lock?.compromised) {
        this.fail(new LockCompromisedError(this.path));
        return;
      }
      if (this.blocking.alone()) {
        if (!this.blocking.writeAndSync()) return;
      } else {
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
          this.markSynced();
        }
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

  /** Everything written is durable (an fdatasync just returned). */
  private markSynced(): void {
    this.durableEnd = this.end;
    this.markDurable(this.writtenSeq);
  }

  /** Someone waits for a record that is written but not yet durable. */
  private needsSync(): boolean {
    // The waiters are in order of seq: the last one waits for the most.
    const last = this.syncWaiters.length - 1;
    return this.lastDurableSeq < this.writtenSeq && last >= 0 && this.syncWaiters[last]!.seq > this.lastDurableSeq;
  }

  private async writePending(): Promise<void> {
    const { buffer, bytes, lastSeq } = this.frameBatch(MAX_BATCH_BYTES);
    try {
      await this.file.write(buffer, this.end);
    } catch (error) {
      this.fail(new StorageIoError(this.path, 'write', { cause: error }));
      return;
    }
    this.written(bytes, lastSeq);
  }

  /**
   * Takes the first queued records, as many as fit in `maxBytes` (at least one), off the queue
   * and frames them into one buffer for one write at the end of the file.
   */
  private frameBatch(maxBytes: number): { buffer: Uint8Array; bytes: number; lastSeq: number } {
    let count = 0;
    let bytes = 0;
    while (count < this.pending.length && (count === 0 || bytes + framedSize(this.pending[count]!.payload.length) <= maxBytes)) {
      bytes += framedSize(this.pending[count]!.payload.length);
      count++;
    }
    const batch = this.pending.splice(0, count);
    const buffer = new Uint8Array(bytes);
    const view = viewOf(buffer);
    let offset = 0;
    for (const record of batch) offset = frameRecord(buffer, offset, record, this.saltCrc, this.durableEnd, view);
    return { buffer, bytes, lastSeq: batch.at(-1)!.seq };
  }

  /** A batch of `bytes` ending with record `lastSeq` is in the file (maybe not durable). */
  private written(bytes: number, lastSeq: number): void {
    this.end += bytes;
    this.pendingBytes -= bytes;
    this.writtenSeq = lastSeq;
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
  protected async compactNow(): Promise<void> {
    if (this.lock?.compromised) throw new LockCompromisedError(this.path);
    // Everything up to here is synchronous: the snapshot covers exactly the records queued or
    // written so far. Records appended while the new file is written stay queued behind it.
    const payload = snapshotPayload(this.epoch, this.mutableState, this.fold);
    if (payload === 'too-large') {
      // The state itself is too large for one record: keep the history instead of compacting.
      return;
    }
    if (payload === 'unreadable') {
      // The snapshot nests its values deeper than the events that set them: a state the reader
      // would refuse as a snapshot stays as history. It will not become readable by waiting,
      // so this writer stops trying (each try would encode the whole state again).
      this.compactionBytes = undefined;
      return;
    }
    const seq = this.nextSeq++;
    const covered = this.pending.length;
    const { bytes, salt, headerLength } = compactedFile(seq, this.header.createdAt, this.identity, payload, this.random);
    const file = await writeReplacing(this.storage, this.path, 'compact', bytes, this.random);
    const previous = this.file;
    this.file = file;
    this.header = { ...this.header, salt, firstSeq: seq, headerLength };
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

  protected fail(error: CkptError): void {
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
