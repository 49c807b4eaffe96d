// One file over ~400 lines on purpose: queue, fencing, lease renewal and compaction advance one writer state in one order (see PgLog's TSDoc).
import { BehaviorSubject, type Observable, Subject } from 'rxjs';
import {
  type CkptError,
  InvalidInputError,
  MAX_RECORD_BYTES,
  FoldError,
  RecordType,
  encodePayload,
  encodeRecord,
  replayThenFollow,
  snapshotState,
  type AppendReceipt,
  type CheckpointState,
  type CkptEvent,
  type Durability,
  type EventLog,
  type Fold,
  type LogEntry,
  type MutableCheckpointState,
} from '@ckpt/core/internal';
import type pg from 'pg';
import { OwnershipLostError, StoreFailedError, type StoreOwner } from './errors.js';
import { appendStatement, compactStatement, renewStatement } from './fenced-sql.js';
import { readStoreLog, type Queryable } from './read.js';
import { snapshotProblem } from './record-checks.js';
import { quoteIdent } from './schema.js';

/**
 * The event log of one checkpoint in PostgreSQL, with the {@link EventLog} contract of core's
 * file Journal: appends fold at once and resolve by durability; group commit; barriers; a live
 * stream; compaction into snapshots; and after any failure every later call rejects with it.
 *
 * Every write is ONE statement on the owner's own connection, fenced by the owner's epoch
 * (fenced-sql.ts has the statements): a writer whose epoch was taken over changes nothing, and
 * the log fails with {@link OwnershipLostError}. With synchronous_commit on, the commit is durable
 * when the statement returns, which is when a durable append resolves.
 *
 * Why this module is still over 400 lines: the group-commit queue, the fence runner, the lease
 * renewal and compaction all read and advance the same writer state (queued records, seqs,
 * durable mark, lease certainty, attempt figures) in one order; split apart they would have to
 * share it through a mutable object, which would hide the invariants this file keeps in one
 * place. The pure parts are apart: the SQL (fenced-sql.ts), the checks on records
 * (record-checks.ts) and the replay-then-follow stream (core's, shared with the file Journal).
 */

/** Records written per statement at most (bytes of payload); more wait for the next turn. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** Buffered appends wait once this much is queued and not yet committed (backpressure). */
const HIGH_WATER_BYTES = 16 * 1024 * 1024;
/** Compaction threshold when not configured: as for files. */
const DEFAULT_COMPACTION_BYTES = 256 * 1024;

interface PendingRecord {
  readonly type: RecordType;
  readonly seq: number;
  readonly payload: Uint8Array;
  readonly entries: readonly LogEntry[];
}

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** What a {@link PgLog} needs: its connection, where it writes, who it is, and what it starts from. */
export interface PgLogOptions {
  /** The owner's own connection (its backend pid is the one recorded in the owner row). */
  readonly client: pg.Client;
  /** Reads for `entries()` go here, so a replay does not hold up appends on the owner's connection. */
  readonly reader: Queryable;
  readonly schema: string;
  readonly name: string;
  /** `host:port`, for messages. */
  readonly where: string;
  readonly fold: Fold;
  readonly owner: StoreOwner;
  readonly leaseMs: number;
  /** How often the lease is renewed when no write renews it (default leaseMs / 3; 0: never, for tests). */
  readonly renewEveryMs?: number;
  readonly durability?: Durability;
  readonly compaction?: { readonly minBytes: number } | false;
  readonly now?: () => number;
  /** State, next seq and compaction figures of the log as read at open. */
  readonly state: MutableCheckpointState;
  readonly nextSeq: number;
  readonly snapshotBytes: number;
  readonly tailBytes: number;
  /** Looks up who owns the checkpoint now (for the message of an {@link OwnershipLostError}). */
  readonly currentOwner: () => Promise<StoreOwner | undefined>;
}

/** An {@link EventLog} stored in PostgreSQL. */
export class PgLog implements EventLog {
  private readonly client: pg.Client;
  private readonly S: string;
  private readonly live = new Subject<LogEntry>();
  private readonly durability: Durability;
  private compactionBytes: number | undefined;
  private readonly now: () => number;
  private pending: PendingRecord[] = [];
  private pendingBytes = 0;
  private syncWaiters: Waiter[] = [];
  private drainWaiters: (() => void)[] = [];
  private flushing: Promise<void> | undefined;
  private failure: CkptError | undefined;
  private closed = false;
  private nextSeq: number;
  private lastDurableSeq: number;
  private readonly marks: BehaviorSubject<number>;
  /** The last record read from the store when the log was opened (0 for a checkpoint it created): later entries are new. */
  readonly replayedSeq: number;
  private snapshotBytes: number;
  private tailBytes: number;
  /** The latest attempt and retention recorded (kept on the checkpoint row for list and prune). */
  private attempts: number;
  private retentionMs: number | undefined;
  /** The attempt count the checkpoint row has. */
  private attemptsWritten: number;
  /** Local time until which the lease is surely ours: send time of the last renewal + leaseMs. */
  private leaseSureUntil: number;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(private readonly options: PgLogOptions) {
    this.client = options.client;
    this.S = quoteIdent(options.schema);
    this.durability = options.durability ?? 'durable';
    this.compactionBytes = options.compaction === false ? undefined : (options.compaction?.minBytes ?? DEFAULT_COMPACTION_BYTES);
    this.now = options.now ?? Date.now;
    this.nextSeq = options.nextSeq;
    this.lastDurableSeq = options.nextSeq - 1;
    this.replayedSeq = options.nextSeq - 1;
    this.marks = new BehaviorSubject(this.lastDurableSeq);
    this.snapshotBytes = options.snapshotBytes;
    this.tailBytes = options.tailBytes;
    this.attempts = options.state.attempts.length;
    this.retentionMs = options.state.attempts.findLast((a) => a.retentionMs !== undefined)?.retentionMs;
    this.attemptsWritten = this.attempts;
    this.leaseSureUntil = Date.now() + options.leaseMs;
    // A connection that drops while idle is a failure of the store: nothing more is acknowledged.
    this.client.on('error', (error) => this.fail(new StoreFailedError(options.name, 'the connection', options.where, { cause: error })));
    this.client.on('end', () => {
      if (!this.closed)
        this.fail(new StoreFailedError(options.name, 'the connection', options.where, { cause: new Error('the server closed the connection') }));
    });
    const every = options.renewEveryMs ?? Math.max(50, Math.floor(options.leaseMs / 3));
    if (every > 0) {
      this.renewTimer = setInterval(() => void this.renew(), every);
      this.renewTimer.unref();
    }
  }

  /** The folded state of everything appended (including what is not yet committed). Live: do not keep it across appends. */
  get state(): CheckpointState {
    return this.options.state;
  }

  get failed(): CkptError | undefined {
    return this.failure;
  }

  /** The last record known committed: every entry with a `seq` up to it survives a crash. */
  get durableSeq(): number {
    return this.lastDurableSeq;
  }

  /** {@link PgLog.durableSeq} now, then each time it advances; completes when the log closes. */
  durableMarks(): Observable<number> {
    return this.marks.asObservable();
  }

  private markDurable(seq: number): void {
    this.lastDurableSeq = seq;
    if (seq > this.marks.value) this.marks.next(seq);
  }

  /** This writer's epoch. */
  get epoch(): number {
    return this.options.owner.epoch;
  }

  /**
   * Appends `events` as one record (they commit together or not at all). The fold is applied at
   * once; `durable` resolves after the COMMIT, `buffered` at once (the next barrier commits it).
   * While the lease is not surely this writer's (it was paused past it), every append waits for
   * the store to confirm ownership: a writer that lost the job acknowledges nothing more.
   */
  append(events: readonly CkptEvent[], options: { readonly durability?: Durability } = {}): Promise<AppendReceipt> {
    try {
      const seq = this.appendNow(events);
      const durability = Date.now() > this.leaseSureUntil ? 'durable' : (options.durability ?? this.durability);
      if (durability === 'durable') return this.waitDurable(seq).then(() => ({ seq }));
      if (this.pendingBytes > HIGH_WATER_BYTES) {
        return new Promise<void>((resolve) => this.drainWaiters.push(resolve)).then(() => {
          if (this.failure) throw this.failure;
          return { seq };
        });
      }
      return Promise.resolve({ seq });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Appends this session's epoch record (at open), durably. */
  appendEpoch(record: Readonly<Record<string, unknown>>): Promise<void> {
    const seq = this.enqueue(RecordType.Epoch, encodePayload(record), []);
    return this.waitDurable(seq);
  }

  /** Resolves once every record appended before the call is committed (a barrier). */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.waitDurable(this.nextSeq - 1);
  }

  /**
   * Every entry of the log (read from the store in pages), then each one as it is appended;
   * entries appended while it reads come after it, in order, exactly once.
   */
  entries(): Observable<LogEntry> {
    const { reader, schema, name, fold } = this.options;
    return replayThenFollow({
      live: this.live,
      queued: () => this.pending.flatMap((record) => record.entries),
      read: (onEntry) => readStoreLog(reader, schema, name, fold, onEntry),
      closed: () => this.closed,
    });
  }

  /** Commits everything appended, stops renewing the lease. Idempotent; the owner row and connection are the store's to release. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.sync();
    } finally {
      this.closed = true;
      this.stopRenewing();
      await this.flushing?.catch(() => undefined);
      if (this.failure) this.live.error(this.failure);
      else this.live.complete();
      this.marks.complete();
    }
  }

  /** Stops the background renewal (close, failure). */
  stopRenewing(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private appendNow(events: readonly CkptEvent[]): number {
    if (this.failure) throw this.failure;
    if (this.closed) throw new InvalidInputError(`the log of checkpoint "${this.options.name}" is closed`);
    if (!Array.isArray(events) || events.length === 0) throw new InvalidInputError('append needs a non-empty array of events');
    const payload = encodeRecord(events);
    const seq = this.nextSeq;
    const entries: LogEntry[] = [];
    const state = this.options.state;
    for (let index = 0; index < events.length; index++) {
      const event = events[index]!;
      try {
        this.options.fold.applyInPlace(state, event);
      } catch (error) {
        if (!(error instanceof FoldError)) throw error;
        const invalid = new InvalidInputError(`event ${index} (${String(event?.type)}) is invalid: ${error.message}`, { cause: error });
        // Earlier events of this record are folded already: the state no longer matches the store.
        if (index > 0) this.fail(invalid);
        throw invalid;
      }
      entries.push({ kind: 'event', seq, offset: seq, index, event });
      if (event.type === 'attempt-started') {
        this.attempts = state.attempts.length;
        const retention = (event as { retentionMs?: unknown }).retentionMs;
        if (typeof retention === 'number') this.retentionMs = retention;
      }
    }
    this.enqueue(RecordType.Events, payload, entries);
    for (const entry of entries) this.live.next(entry);
    return seq;
  }

  private enqueue(type: RecordType, payload: Uint8Array, entries: readonly LogEntry[]): number {
    const seq = this.nextSeq++;
    this.pending.push({ type, seq, payload, entries });
    this.pendingBytes += payload.length;
    this.kick();
    return seq;
  }

  private waitDurable(seq: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (seq <= this.lastDurableSeq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.syncWaiters.push({ seq, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing === undefined && !this.failure) {
      // The turn starts after the current microtasks, so appenders released by the previous
      // turn land in this one (as in core's Journal).
      this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.flushLoop())
        .finally(() => {
          this.flushing = undefined;
          if (!this.failure && this.pending.length > 0) this.kick();
        });
    }
  }

  /** Group commit: each turn writes everything queued in one fenced statement (one commit). */
  private async flushLoop(): Promise<void> {
    while (!this.failure && this.pending.length > 0) {
      if (this.shouldCompact()) await this.compactNow();
      else await this.writePending();
      if (this.failure) return;
      this.releaseWaiters();
    }
  }

  private async writePending(): Promise<void> {
    let count = 0;
    let bytes = 0;
    while (count < this.pending.length && (count === 0 || bytes + this.pending[count]!.payload.length <= MAX_BATCH_BYTES)) {
      bytes += this.pending[count]!.payload.length;
      count++;
    }
    const batch = this.pending.slice(0, count);
    const sentAt = Date.now();
    const owned = await this.fenced('append', () =>
      this.client.query<{ owned: string }>(
        appendStatement(this.S, this.options.name, this.epoch, this.options.leaseMs, batch, {
          attempts: this.attempts,
          retentionMs: this.retentionMs,
          // The checkpoint row changes only with a new attempt (its number and retention, for list and prune).
          changed: this.attemptsWritten !== this.attempts,
        }),
      ),
    );
    if (owned === undefined) return;
    this.leaseSureUntil = sentAt + this.options.leaseMs;
    this.attemptsWritten = this.attempts;
    this.pending.splice(0, count);
    this.pendingBytes -= bytes;
    this.tailBytes += bytes;
    this.markDurable(batch.at(-1)!.seq);
    if (this.pendingBytes <= HIGH_WATER_BYTES) this.releaseDrainWaiters();
  }

  /**
   * Runs one fenced statement (its first row's `owned` counts the owner rows it renewed).
   * Returns undefined, with the log failed, when the statement failed or found the checkpoint
   * owned by another epoch.
   */
  private async fenced(operation: string, run: () => Promise<{ rows: { owned: string }[] }>): Promise<true | undefined> {
    let result: { rows: { owned: string }[] };
    try {
      result = await run();
    } catch (error) {
      this.fail(new StoreFailedError(this.options.name, operation, this.options.where, { cause: error }));
      return undefined;
    }
    if (Number(result.rows[0]?.owned ?? 0) !== 1) {
      await this.lost();
      return undefined;
    }
    return true;
  }

  private async lost(): Promise<void> {
    if (this.failure) return;
    const owner = await this.options.currentOwner().catch(() => undefined);
    this.fail(new OwnershipLostError(this.options.name, this.options.owner, owner?.epoch === this.epoch ? undefined : owner));
  }

  /** Renews the lease when no write did lately; a refused renewal means the job was taken over. */
  private async renew(): Promise<void> {
    if (this.renewing || this.failure || this.closed) return;
    this.renewing = true;
    try {
      const sentAt = Date.now();
      const owned = await this.fenced('renewing the lease', () =>
        this.client.query<{ owned: string }>(renewStatement(this.S, this.options.name, this.epoch, this.options.leaseMs)),
      );
      if (owned) this.leaseSureUntil = Math.max(this.leaseSureUntil, sentAt + this.options.leaseMs);
    } finally {
      this.renewing = false;
    }
  }

  private shouldCompact(): boolean {
    if (this.compactionBytes === undefined) return false;
    const tail = this.tailBytes + this.pendingBytes;
    return tail > this.compactionBytes && tail > 2 * this.snapshotBytes;
  }

  /**
   * Compaction: the folded state of everything appended so far (committed or still queued)
   * becomes a snapshot row, and the records before it are deleted, in one fenced statement.
   * Queued records are covered by the snapshot and never written. A crash leaves either the old
   * rows or the snapshot: both hold every acknowledged event.
   */
  private async compactNow(): Promise<void> {
    const { fold } = this.options;
    const payload = encodePayload({ epoch: this.epoch, state: snapshotState(this.options.state, fold) });
    if (payload.length > MAX_RECORD_BYTES || snapshotProblem(payload, fold) !== undefined) {
      // A state the reader would refuse as a snapshot (or too large for one record) stays as history.
      this.compactionBytes = undefined;
      return this.writePending();
    }
    const seq = this.nextSeq++;
    const covered = this.pending.length;
    const sentAt = Date.now();
    const owned = await this.fenced('compaction', () =>
      this.client.query<{ owned: string }>(
        compactStatement(this.S, this.options.name, this.epoch, this.options.leaseMs, seq, payload, {
          attempts: this.attempts,
          retentionMs: this.retentionMs,
        }),
      ),
    );
    if (owned === undefined) return;
    this.leaseSureUntil = sentAt + this.options.leaseMs;
    this.attemptsWritten = this.attempts;
    // Records appended while the statement ran stay queued behind the snapshot.
    this.pending = this.pending.slice(covered);
    this.pendingBytes = this.pending.reduce((sum, record) => sum + record.payload.length, 0);
    this.snapshotBytes = payload.length;
    this.tailBytes = 0;
    this.markDurable(seq);
    this.releaseDrainWaiters();
  }

  private releaseWaiters(): void {
    if (this.syncWaiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.syncWaiters) {
      if (waiter.seq <= this.lastDurableSeq) waiter.resolve();
      else still.push(waiter);
    }
    this.syncWaiters = still;
  }

  private releaseDrainWaiters(): void {
    const waiting = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiting) resolve();
  }

  /** Fails the log: every waiter and every later call rejects with `error`. */
  fail(error: CkptError): void {
    if (this.failure) return;
    this.failure = error;
    this.stopRenewing();
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    this.releaseDrainWaiters();
  }
}
