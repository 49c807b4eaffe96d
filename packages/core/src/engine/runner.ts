import type { Observable } from 'rxjs';
import type { CkptEvent } from '../fold/events.js';
import type { ExtensionReducer } from '../fold/fold.js';
import type { CheckpointState } from '../fold/state.js';
import type { JobIdentity } from '../log/identity.js';
import type { Storage } from '../storage/storage.js';
import type { RevealedVariable } from '../store/secrets.js';

/** What a runner emits: one event, or several that must land together (one record). */
export type EventEmission = CkptEvent | readonly CkptEvent[];

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
 * A runner: how to name a job and how to run it from a folded checkpoint, emitting events.
 * The Observable completes when the job succeeds and errors when it fails (with
 * InterruptedError when it stopped because `signal` was aborted).
 */
export interface Runner<Job> {
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
  run(job: Job, context: RunContext): Observable<EventEmission>;
}
