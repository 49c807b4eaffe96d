import { hostname } from 'node:os';
import { Observable, Subject, type Subscription } from 'rxjs';
import { InterruptedError, isCkptError } from '../errors.js';
import { AttemptOutcome, type CkptEvent, type ErrorInfo } from '../fold/events.js';
import { cloneState, currentAttempt, type CheckpointState } from '../fold/state.js';
import type { LogEntry } from '../log/read-log.js';
import {
  DEFAULT_RETENTION_MS,
  type CheckpointOptions,
  type CheckpointUsage,
  type OpenedCheckpoint,
  type StoreEnvironment,
} from '../store/checkpoint-store.js';
import { FileStore } from '../store/file-store.js';
import type { OpenCheckpointOptions, OwnerClaim } from '../store/port.js';
import { deriveSecretKey, revealVariables, sealSensitive, type SecretKey } from '../store/secrets.js';
import { NodeStorage } from '../storage/node-storage.js';
import type { Storage } from '../storage/storage.js';
import { isEventEmission, type EventEmission, type Notice, type RunContext, type Runner, type RunnerEmission } from './runner.js';

/** How a run uses its checkpoint. */
export interface RunOptions {
  readonly checkpoint: {
    /** The checkpoint's name in the store: a file path for the default file store, a key for a shared store. */
    readonly path: string;
    readonly usage: CheckpointUsage;
    readonly save: boolean;
    /** Kept this long after the last write when the run fails (default 30 days). */
    readonly retentionMs?: number;
    /** Keep the checkpoint when the run succeeds (for research); default: delete it. */
    readonly keepOnSuccess?: boolean;
    /** Wait this long for a live lock holder (default: refuse at once). */
    readonly lockWaitMs?: number;
    /** The user named `path`: follow a symbolic link there (see {@link CheckpointOptions.followLink}). */
    readonly followLink?: boolean;
    /** Who runs it, recorded as the checkpoint's owner and in the attempt (default: this process on this host). */
    readonly owner?: OwnerClaim;
    /** Stores with leases: how long ownership lasts without renewal (see {@link OpenCheckpointOptions.leaseMs}). */
    readonly leaseMs?: number;
  };
  /** Interrupts the run (the runner records what is done and stops). */
  readonly signal?: AbortSignal;
  /** Passphrase or `base64:<32 bytes>` sealing sensitive values; without it they are not persisted. */
  readonly secretKey?: string;
}

/** How a run ended. */
export interface RunResult<Result = void> {
  readonly outcome: AttemptOutcome;
  /** What the runner returned, when it succeeded and said so (its `{ result }` message or async return value). */
  readonly result?: Result;
  /** Why it failed or stopped. */
  readonly error?: Error;
  readonly attempt: number;
  readonly resumed: boolean;
  /** True when the checkpoint was deleted (success, not kept). */
  readonly checkpointRemoved: boolean;
  /** The final folded state. */
  readonly state: CheckpointState;
}

function asEvents(emission: EventEmission): readonly CkptEvent[] {
  return Array.isArray(emission) ? (emission as readonly CkptEvent[]) : [emission as CkptEvent];
}

function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof Error) {
    const code = isCkptError(error) ? error.code : (error as { code?: unknown }).code;
    return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
  }
  return { message: String(error) };
}

/**
 * A log entry as {@link Execution.entries} delivers it: where it comes from and whether it is
 * durable yet.
 */
export type ExecutionEntry = LogEntry & {
  /** Read from the checkpoint when it was opened (an earlier attempt's), rather than appended by this run. */
  readonly replayed: boolean;
  /**
   * On disk when delivered: survives a crash (replayed entries always are). A new entry usually
   * arrives before its record is synced; ask `entries({ when: 'durable' })` to get each one only
   * once it is, or compare `seq` with {@link Execution.durableMarks}.
   */
  readonly durable: boolean;
};

/** Options of {@link Execution.entries}. */
export interface EntriesOptions {
  /**
   * `appended` (default): each entry as soon as it is appended, tagged `durable: false` until its
   * record is synced. `durable`: each entry only once its record is durable, in order — what a
   * view that announces "done" must wait for (a crash can still lose an entry that is not).
   */
  readonly when?: 'appended' | 'durable';
}

/**
 * A job opened on its checkpoint and ready to run. Opening applied the usage/save rules (any
 * refusal happened there, before any work); {@link Execution.run} runs it once.
 */
export class Execution<Job, Result = void, N extends Notice = Notice> {
  private started = false;
  private readonly noticeSubject = new Subject<N>();

  constructor(
    private readonly runner: Runner<Job, Result, N>,
    private readonly job: Job,
    /** The opened checkpoint. */
    readonly checkpoint: OpenedCheckpoint,
    private readonly options: RunOptions,
    private readonly now: () => number,
    private readonly secretKey: SecretKey | undefined,
    private readonly storage: Storage,
  ) {}

  /** The folded state, live. */
  get state(): CheckpointState {
    return this.checkpoint.log.state;
  }

  /**
   * Every entry of the checkpoint's log (the replay, tagged `replayed`), then each new one as it
   * is recorded, tagged `durable` or not (see {@link EntriesOptions.when}). Completes when the
   * run has closed the checkpoint. Subscribe before {@link Execution.run}.
   */
  entries(options: EntriesOptions = {}): Observable<ExecutionEntry> {
    const log = this.checkpoint.log;
    const waitDurable = options.when === 'durable';
    return new Observable<ExecutionEntry>((subscriber) => {
      const replayedSeq = log.replayedSeq;
      const tag = (entry: LogEntry, durable: boolean): ExecutionEntry => ({ ...entry, replayed: entry.seq <= replayedSeq, durable });
      // Entries waiting for their record to be durable (when: 'durable'), in order.
      const waiting: LogEntry[] = [];
      const marks = waitDurable
        ? log.durableMarks().subscribe((seq) => {
            while (waiting.length > 0 && waiting[0]!.seq <= seq) subscriber.next(tag(waiting.shift()!, true));
          })
        : undefined;
      const entries = log.entries().subscribe({
        next: (entry) => {
          const durable = entry.seq <= log.durableSeq;
          if (waitDurable && (!durable || waiting.length > 0)) waiting.push(entry);
          else subscriber.next(tag(entry, durable));
        },
        error: (error: unknown) => subscriber.error(error),
        // A log closes after its last sync: whatever still waits is durable now.
        complete: () => {
          for (const entry of waiting.splice(0)) subscriber.next(tag(entry, true));
          subscriber.complete();
        },
      });
      return () => {
        entries.unsubscribe();
        marks?.unsubscribe();
      };
    });
  }

  /**
   * The last record known durable now, then each time it advances: an entry whose `seq` is at
   * most the mark survives a crash. Completes when the checkpoint is closed.
   */
  durableMarks(): Observable<number> {
    return this.checkpoint.log.durableMarks();
  }

  /**
   * The runner's notices for views, each passed once through the runner's
   * {@link Runner.redactNotice}; not recorded, not replayed (subscribe before
   * {@link Execution.run}). Completes when the run ends.
   */
  notices(): Observable<N> {
    return this.noticeSubject.asObservable();
  }

  /** Runs the job to its end. Resolves (never rejects) with the outcome. */
  async run(): Promise<RunResult<Result>> {
    if (this.started) throw new Error('an Execution runs once; open the job again to rerun it');
    this.started = true;
    const { checkpoint, runner, now } = this;
    const { log, identity } = checkpoint;
    const attempt = currentAttempt(log.state) + 1;
    const signal = this.options.signal ?? new AbortController().signal;
    let logError: Error | undefined;
    let subscription: Subscription | undefined;
    let finished = false;
    let result: { value: Result } | undefined;

    const record = (events: readonly CkptEvent[]) => {
      const stamped = events.map((event) =>
        sealSensitive(event.at === undefined ? ({ ...event, at: now() } as CkptEvent) : event, identity, this.secretKey),
      );
      log.append(stamped, { durability: 'buffered' }).catch((error: unknown) => {
        logError ??= error as Error;
        stop();
      });
    };
    const notify = (notice: N) => {
      let shown: N;
      try {
        shown = runner.redactNotice ? runner.redactNotice(notice) : notice;
      } catch {
        return; // a notice its mask fails on is dropped, never shown unmasked
      }
      this.noticeSubject.next(shown);
    };
    let settle: (value: { outcome: AttemptOutcome; error?: Error }) => void = () => undefined;
    const stop = () => {
      if (finished) return;
      finished = true;
      subscription?.unsubscribe();
      settle({ outcome: AttemptOutcome.Failure, error: logError });
    };

    record([
      {
        type: 'attempt-started',
        attempt,
        pid: this.options.checkpoint.owner?.pid ?? process.pid,
        host: this.options.checkpoint.owner?.host ?? hostname(),
        retentionMs: this.options.checkpoint.retentionMs ?? DEFAULT_RETENTION_MS,
      },
    ]);
    const context: RunContext = {
      identity,
      attempt,
      resumed: checkpoint.resumed,
      startState: checkpoint.startState,
      get state() {
        return log.state;
      },
      variables: revealVariables(checkpoint.startState, identity, this.secretKey),
      signal,
      saving: checkpoint.saving,
      now,
      storage: this.storage,
      durable: () => (logError ? Promise.reject(logError) : log.sync()),
    };

    const ended = await new Promise<{ outcome: AttemptOutcome; error?: Error }>((resolve) => {
      settle = resolve;
      if (finished) return resolve({ outcome: AttemptOutcome.Failure, error: logError });
      let events: Observable<RunnerEmission<Result, N>>;
      try {
        events = runner.run(this.job, context);
      } catch (error) {
        finished = true;
        return resolve({ outcome: AttemptOutcome.Failure, error: error as Error });
      }
      subscription = events.subscribe({
        next: (emission) => {
          if (finished) return;
          if (isEventEmission(emission)) record(asEvents(emission));
          else if ('record' in emission) record(asEvents(emission.record));
          else if ('notice' in emission) notify(emission.notice);
          else if ('result' in emission) result = { value: emission.result };
        },
        error: (error: unknown) => {
          if (finished) return;
          finished = true;
          const interrupted = isCkptError(error, 'interrupted') || (signal.aborted && !isCkptError(error));
          resolve({
            outcome: interrupted ? AttemptOutcome.Interrupted : AttemptOutcome.Failure,
            error: interrupted && !isCkptError(error, 'interrupted') ? new InterruptedError() : (error as Error),
          });
        },
        complete: () => {
          if (finished) return;
          finished = true;
          resolve({ outcome: AttemptOutcome.Success });
        },
      });
      if (finished) subscription.unsubscribe();
    });

    let { outcome, error } = ended;
    if (logError) {
      outcome = AttemptOutcome.Failure;
      error = logError;
    } else {
      try {
        await log.append([{ type: 'attempt-ended', attempt, outcome, ...(error !== undefined && { error: toErrorInfo(error) }), at: now() }], {
          durability: 'durable',
        });
      } catch (syncError) {
        outcome = AttemptOutcome.Failure;
        error = syncError as Error;
      }
    }
    this.noticeSubject.complete();
    const finalState = cloneState(log.state);
    let checkpointRemoved = false;
    try {
      const closed = await checkpoint.close({
        remove: outcome === AttemptOutcome.Success && !this.options.checkpoint.keepOnSuccess,
      });
      checkpointRemoved = closed.removed;
    } catch (closeError) {
      if (outcome === AttemptOutcome.Success) {
        outcome = AttemptOutcome.Failure;
        error = closeError as Error;
      }
    }
    return {
      outcome,
      ...(outcome === AttemptOutcome.Success && result !== undefined && { result: result.value }),
      ...(error !== undefined && { error }),
      attempt,
      resumed: checkpoint.resumed,
      checkpointRemoved,
      state: finalState,
    };
  }
}

/** Wires runners to checkpoints: opens, runs, records, cleans up. */
export class Engine {
  constructor(private readonly environment: StoreEnvironment = {}) {}

  /**
   * Opens `job`'s checkpoint per `options` (usage, save, identity, lock). Throws the refusal
   * (not found, mismatch, corrupt, locked, invalid key) before any of the job runs.
   */
  async open<Job, Result = void, N extends Notice = Notice>(
    runner: Runner<Job, Result, N>,
    job: Job,
    options: RunOptions,
  ): Promise<Execution<Job, Result, N>> {
    const identity = runner.identify(job);
    const secretKey = options.secretKey !== undefined ? deriveSecretKey(options.secretKey, identity) : undefined;
    const storage = this.environment.storage ?? new NodeStorage();
    // Where the checkpoint lives is the store's business: the engine only names it. The default
    // store gets the environment's reducers through `reducers` below, not twice.
    const { store = new FileStore({ ...this.environment, storage, reducers: [] }), reducers = [] } = this.environment;
    const { path, lockWaitMs, followLink, owner, leaseMs } = options.checkpoint;
    const checkpoint = await store.open({
      name: path,
      identity,
      usage: options.checkpoint.usage,
      save: options.checkpoint.save,
      reducers: [...reducers, ...(runner.reducers ?? [])],
      // A key that cannot open the recorded secrets, or a checkpoint the runner cannot
      // resume, is a refusal, before anything is written.
      checkState: (state) => {
        const variables = revealVariables(state, identity, secretKey);
        runner.check?.(job, { startState: state, variables });
      },
      ...(lockWaitMs !== undefined && { waitMs: lockWaitMs }),
      ...(followLink !== undefined && { followLink }),
      ...(owner !== undefined && { owner }),
      ...(leaseMs !== undefined && { leaseMs }),
    });
    return new Execution(runner, job, checkpoint, options, this.environment.now ?? Date.now, secretKey, storage);
  }

  /** Opens and runs `job`: {@link Engine.open} then {@link Execution.run}. */
  async run<Job, Result = void, N extends Notice = Notice>(
    runner: Runner<Job, Result, N>,
    job: Job,
    options: RunOptions,
  ): Promise<RunResult<Result>> {
    return (await this.open(runner, job, options)).run();
  }
}
