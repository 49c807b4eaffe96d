import { Observable } from 'rxjs';
import type { CkptEvent } from '../fold/events.js';
import type { ExtensionReducer } from '../fold/fold.js';
import type { CheckpointState } from '../fold/state.js';
import type { JobIdentity } from '../log/identity.js';
import type { Storage } from '../storage/storage.js';
import type { RevealedVariable } from '../store/secrets.js';

/*
 * The runner contract, in one place. A runner says three things, each with its own message:
 * - a record: events for the checkpoint (one emission = one record: they land together);
 * - a notice: something for a view (progress, a warning, a line of output), never recorded;
 * - its result: the typed value the job produced, the last thing before it completes.
 * The engine journals records, hands notices to `Execution.notices()`, and returns the result
 * in `RunResult.result`. docs/writing-a-runner.md describes it with examples.
 */

/** One event, or several that must land together (one record). */
export type EventEmission = CkptEvent | readonly CkptEvent[];

/**
 * A notice for views: not recorded, so it may say things the checkpoint need not keep
 * (progress, warnings). Runner-defined: a runner declares its notices as a union of types
 * with a literal `kind`, e.g. `{ kind: 'progress'; bytes: number } | { kind: 'warning'; message: string }`.
 */
export interface Notice {
  readonly kind: string;
}

/** Events to journal as one record. */
export interface RecordMessage {
  readonly record: EventEmission;
}

/** A notice for views (see {@link Notice}). */
export interface NoticeMessage<N extends Notice = Notice> {
  readonly notice: N;
}

/** The job's result; emit it once, just before completing. */
export interface ResultMessage<Result> {
  readonly result: Result;
}

/** What a runner says besides plain events. */
export type RunnerMessage<Result = void, N extends Notice = Notice> = RecordMessage | NoticeMessage<N> | ResultMessage<Result>;

/**
 * What a runner's Observable emits: a {@link RunnerMessage}, or (the older form, still
 * accepted) a plain event or array of events, which is a record.
 */
export type RunnerEmission<Result = void, N extends Notice = Notice> = EventEmission | RunnerMessage<Result, N>;

/** Whether `emission` is a plain event or events (a record in the older form) rather than a {@link RunnerMessage}. */
export function isEventEmission(emission: RunnerEmission<unknown, Notice>): emission is EventEmission {
  // Every event has a string `type` (the fold refuses one without); messages have none.
  return Array.isArray(emission) || typeof (emission as { type?: unknown }).type === 'string';
}

/** What {@link Runner.check} gets: the recorded state and its variables, revealed. */
export interface ResumeCheck {
  readonly startState: CheckpointState;
  readonly variables: ReadonlyMap<string, RevealedVariable>;
}

/** What a runner gets when it runs a job. */
export interface RunContext {
  readonly identity: JobIdentity;
  /** The attempt number of this run (1 on a fresh start). */
  readonly attempt: number;
  /** True when this run resumes from a checkpoint. */
  readonly resumed: boolean;
  /** The folded checkpoint this run starts from: what to skip, where to continue. */
  readonly startState: CheckpointState;
  /** The folded state including this run's events so far (a live view). */
  readonly state: CheckpointState;
  /** Recorded variables with their values (sensitive ones decrypted, or `missing`). */
  readonly variables: ReadonlyMap<string, RevealedVariable>;
  /** Aborted on SIGINT/SIGTERM (or by the embedder): record what is done, then error with InterruptedError. */
  readonly signal: AbortSignal;
  /** Whether progress is written to disk (save on). */
  readonly saving: boolean;
  readonly now: () => number;
  /**
   * The storage the checkpoint lives on. A runner that writes files of its own (the
   * file-transfer receiver's partial data, say) should write them through it: then a simulated
   * disk (the testkit's) loses power on the runner's data and its checkpoint together.
   */
  readonly storage: Storage;
  /**
   * Barrier: resolves once every event emitted so far is durable. Call it after emitting a
   * unit's completion and before starting anything that depends on that unit.
   */
  durable(): Promise<void>;
}

/**
 * A runner: how to name a job and how to run it from a folded checkpoint. `run` emits records,
 * notices and finally the result ({@link RunnerEmission}); the Observable completes when the
 * job succeeds and errors when it fails (with InterruptedError when it stopped because
 * `signal` was aborted). {@link defineRunner} builds one from an async function.
 *
 * @typeParam Job - what the runner runs.
 * @typeParam Result - what a successful run produces (`RunResult.result`).
 * @typeParam N - the notices it emits for views.
 */
export interface Runner<Job, Result = void, N extends Notice = Notice> {
  /** The identity kind of its checkpoints, e.g. `control-flow`. */
  readonly kind: string;
  /** Reducers for the runner's own namespaced events. */
  readonly reducers?: readonly ExtensionReducer[];
  /** The job's identity; a checkpoint of another identity is refused. */
  identify(job: Job): JobIdentity;
  /**
   * Refuses a job its checkpoint cannot resume (throw a CkptError, e.g. InvalidInputError for
   * a value the checkpoint cannot give back). Called when an existing checkpoint is opened,
   * before anything is written to it, so a refusal leaves the file as it was.
   */
  check?(job: Job, checkpoint: ResumeCheck): void;
  /**
   * The one place a notice is masked before any view sees it (a runner that knows secret values
   * replaces them here). The engine calls it exactly once per notice; a notice it throws on is
   * dropped, never shown unmasked. Without it, notices pass unchanged.
   */
  redactNotice?(notice: N): N;
  // NoInfer: a plain-event runner's `unit-completed` has a `result` field too; the result type
  // is the one the runner declares, never guessed from what it emits.
  run(job: Job, context: RunContext): Observable<RunnerEmission<NoInfer<Result>, NoInfer<N>>>;
}

/** The third argument of a {@link defineRunner} function: how it records and notifies. */
export interface RunnerEmitter<N extends Notice = Notice> {
  /** Journals `events` as one record (buffered; `context.durable()` is the barrier). */
  record(events: EventEmission): void;
  /** Hands `notice` to views (`Execution.notices()`); nothing is recorded. */
  notice(notice: N): void;
}

/** What {@link defineRunner} takes: a {@link Runner} whose `run` is an async function. */
export interface AsyncRunnerDefinition<Job, Result = void, N extends Notice = Notice> extends Omit<Runner<Job, Result, N>, 'run'> {
  /**
   * Runs the job: records with `emit.record`, notifies with `emit.notice`, returns the result
   * (success) or throws (failure; InterruptedError when `context.signal` stopped it).
   */
  run(job: Job, context: RunContext, emit: RunnerEmitter<N>): Promise<Result>;
}

/**
 * Builds a {@link Runner} from an async function, so a runner never builds an Observable by
 * hand. If the engine stops listening (its log failed), the `context.signal` the function sees
 * is aborted and later emissions are ignored.
 */
export function defineRunner<Job, Result = void, N extends Notice = Notice>(
  definition: AsyncRunnerDefinition<Job, Result, N>,
): Runner<Job, Result, N> {
  const { run, ...rest } = definition;
  return {
    ...rest,
    run: (job, context) =>
      new Observable<RunnerEmission<Result, N>>((subscriber) => {
        const stopped = new AbortController();
        const emit: RunnerEmitter<N> = {
          record: (events) => {
            if (!subscriber.closed) subscriber.next({ record: events });
          },
          notice: (notice) => {
            if (!subscriber.closed) subscriber.next({ notice });
          },
        };
        const signal = AbortSignal.any([context.signal, stopped.signal]);
        // The same context (its live `state` getter included), with the signal that also stops on unsubscribe.
        const own = Object.defineProperties(
          {},
          {
            ...Object.getOwnPropertyDescriptors(context),
            signal: { value: signal, enumerable: true },
          },
        ) as RunContext;
        run(job, own, emit).then(
          (result) => {
            if (subscriber.closed) return;
            subscriber.next({ result });
            subscriber.complete();
          },
          (error: unknown) => subscriber.error(error),
        );
        return () => stopped.abort();
      }),
  };
}
