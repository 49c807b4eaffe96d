import type { AttemptOutcome, ErrorInfo, SealedValue, UnitOutcome } from './events.js';
import type { PlainValue } from './plain.js';

/** One attempt (run) of the job. An attempt with no `outcome` crashed or is still running. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly outcome?: AttemptOutcome;
  readonly error?: ErrorInfo;
  readonly pid?: number;
  readonly host?: string;
  readonly retentionMs?: number;
}

/** A unit recorded complete: a restart skips it. */
export interface CompletedUnit {
  readonly unit: string;
  readonly outcome: UnitOutcome;
  readonly attempt: number;
  readonly startedAt?: number;
  readonly completedAt?: number;
  readonly result?: PlainValue;
}

/** A unit started and not yet completed or failed: in flight when the log ends. */
export interface RunningUnit {
  readonly unit: string;
  readonly attempt: number;
  readonly startedAt?: number;
  readonly scope?: string;
}

/** The last failure of a unit that is not complete. */
export interface FailedUnit {
  readonly unit: string;
  readonly attempt: number;
  readonly error: ErrorInfo;
  readonly at?: number;
}

/** The last recorded position inside a unit. */
export interface CursorRecord {
  readonly unit: string;
  readonly cursor: PlainValue;
  readonly attempt: number;
  readonly at?: number;
}

/** A variable's last recorded value, as stored (sensitive values sealed or redacted). */
export interface VariableRecord {
  readonly name: string;
  readonly value?: PlainValue;
  readonly valueType?: string;
  readonly sensitive: boolean;
  readonly sealed?: SealedValue;
  readonly redacted: boolean;
  readonly attempt: number;
  readonly at?: number;
}

/**
 * An open atomic scope and the work recorded inside it, which counts only if it commits: units
 * completed, cursors and variables set inside it. When it commits they move to its parent scope
 * (or into the state's own maps when it has none); when it aborts they are dropped.
 */
export interface ScopeRecord {
  readonly scope: string;
  readonly kind: string;
  readonly parent?: string;
  readonly attempt: number;
  readonly openedAt?: number;
  readonly completed: ReadonlyMap<string, CompletedUnit>;
  readonly cursors: ReadonlyMap<string, CursorRecord>;
  /** Variables set inside the scope (`variable-set` with this `scope`), pending until it commits. */
  readonly variables: ReadonlyMap<string, VariableRecord>;
}

/**
 * The folded checkpoint: everything a restart needs. Maps are keyed by unit id, variable name
 * or scope id. Only committed work appears in `completed`, `cursors` and `variables`; work
 * inside a scope that is still open is in that scope's record.
 */
export interface CheckpointState {
  /** Events folded into this state (including those summarised by a snapshot). */
  readonly eventCount: number;
  readonly attempts: readonly AttemptRecord[];
  readonly completed: ReadonlyMap<string, CompletedUnit>;
  readonly running: ReadonlyMap<string, RunningUnit>;
  readonly failed: ReadonlyMap<string, FailedUnit>;
  readonly cursors: ReadonlyMap<string, CursorRecord>;
  readonly variables: ReadonlyMap<string, VariableRecord>;
  /** Configuration captured on the first attempt. */
  readonly config: { readonly [key: string]: PlainValue } | undefined;
  /** Scopes opened and neither committed nor aborted. */
  readonly scopes: ReadonlyMap<string, ScopeRecord>;
  /** Runner-defined state, by namespace. */
  readonly extensions: ReadonlyMap<string, unknown>;
}

/** The mutable twin of {@link ScopeRecord}, used inside the fold only. */
export interface MutableScopeRecord extends Omit<ScopeRecord, 'completed' | 'cursors' | 'variables'> {
  readonly completed: Map<string, CompletedUnit>;
  readonly cursors: Map<string, CursorRecord>;
  readonly variables: Map<string, VariableRecord>;
}

/** The mutable twin of {@link CheckpointState}, used inside the fold only. */
export interface MutableCheckpointState {
  eventCount: number;
  attempts: AttemptRecord[];
  completed: Map<string, CompletedUnit>;
  running: Map<string, RunningUnit>;
  failed: Map<string, FailedUnit>;
  cursors: Map<string, CursorRecord>;
  variables: Map<string, VariableRecord>;
  config: { readonly [key: string]: PlainValue } | undefined;
  scopes: Map<string, MutableScopeRecord>;
  extensions: Map<string, unknown>;
}

/** The number of the attempt in progress (the last one started), or 0 before any. */
export function currentAttempt(state: CheckpointState): number {
  return state.attempts.at(-1)?.attempt ?? 0;
}

/** A fresh copy of `state` that shares only immutable records. */
export function cloneState(state: CheckpointState): MutableCheckpointState {
  const scopes = new Map<string, MutableScopeRecord>();
  for (const [id, scope] of state.scopes) {
    scopes.set(id, { ...scope, completed: new Map(scope.completed), cursors: new Map(scope.cursors), variables: new Map(scope.variables) });
  }
  return {
    eventCount: state.eventCount,
    attempts: [...state.attempts],
    completed: new Map(state.completed),
    running: new Map(state.running),
    failed: new Map(state.failed),
    cursors: new Map(state.cursors),
    variables: new Map(state.variables),
    config: state.config,
    scopes,
    extensions: new Map(state.extensions),
  };
}
