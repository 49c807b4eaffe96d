import type { PlainValue } from './plain.js';

/**
 * The generic event vocabulary every runner maps onto. Events are plain data; the engine stamps
 * `at` (milliseconds since the epoch) on each one it records.
 */

/** How an attempt (one run of the job) ended. */
export const AttemptOutcome = {
  Success: 'success',
  Failure: 'failure',
  Interrupted: 'interrupted',
} as const;
export type AttemptOutcome = (typeof AttemptOutcome)[keyof typeof AttemptOutcome];

/** How a unit of work ended. A unit completed with `failure` took its failure path. */
export const UnitOutcome = {
  Success: 'success',
  Failure: 'failure',
} as const;
export type UnitOutcome = (typeof UnitOutcome)[keyof typeof UnitOutcome];

/** An error as recorded in the log. */
export interface ErrorInfo {
  readonly message: string;
  readonly code?: string;
}

/** A sensitive value encrypted with the user's key (AES-256-GCM). */
export interface SealedValue {
  readonly alg: 'aes-256-gcm';
  readonly iv: Uint8Array;
  readonly tag: Uint8Array;
  readonly data: Uint8Array;
}

interface EventBase {
  /** When it happened, ms since the epoch; stamped by the engine. */
  readonly at?: number;
}

/** A new attempt (run) of the job begins. */
export interface AttemptStarted extends EventBase {
  readonly type: 'attempt-started';
  readonly attempt: number;
  readonly pid?: number;
  readonly host?: string;
  /** How long a failed checkpoint is kept after its last write, in ms. */
  readonly retentionMs?: number;
}

/** The attempt ended. An attempt without this event crashed. */
export interface AttemptEnded extends EventBase {
  readonly type: 'attempt-ended';
  readonly attempt: number;
  readonly outcome: AttemptOutcome;
  readonly error?: ErrorInfo;
}

/** A unit of work began. A unit started but not completed or failed was in flight. */
export interface UnitStarted extends EventBase {
  readonly type: 'unit-started';
  readonly unit: string;
  /** Innermost open scope the unit runs in; its completion counts only if the scope commits. */
  readonly scope?: string;
}

/** A unit finished; its effects are durable. It will not run again. */
export interface UnitCompleted extends EventBase {
  readonly type: 'unit-completed';
  readonly unit: string;
  readonly outcome: UnitOutcome;
  readonly scope?: string;
  /** Anything the runner wants back on restart (plain data). */
  readonly result?: PlainValue;
}

/** A unit failed and is not complete: it is a restart point. */
export interface UnitFailed extends EventBase {
  readonly type: 'unit-failed';
  readonly unit: string;
  readonly error: ErrorInfo;
  readonly scope?: string;
}

/** Progress inside a unit: a loop iteration, a byte offset with its hash. */
export interface CursorSet extends EventBase {
  readonly type: 'cursor-set';
  readonly unit: string;
  readonly cursor: PlainValue;
  readonly scope?: string;
}

/**
 * A variable's value. Sensitive values are sealed (encrypted) or redacted (not persisted)
 * before they reach the disk; object-typed values are never recorded at all.
 */
export interface VariableSet extends EventBase {
  readonly type: 'variable-set';
  readonly name: string;
  readonly value?: PlainValue;
  /** The runner's type name (`string`, `int`, ...). `object` is refused. */
  readonly valueType?: string;
  readonly sensitive?: boolean;
  /** Present instead of `value` for a sensitive value encrypted with the user's key. */
  readonly sealed?: SealedValue;
  /** True instead of `value` for a sensitive value that was not persisted (no key supplied). */
  readonly redacted?: boolean;
  /**
   * Innermost open scope the variable was set in: the value counts only once the scope commits
   * (it then moves to the parent scope, or becomes the variable's value), and is dropped if the
   * scope aborts. Absent: the value counts at once. (Format version 2; docs/log-format.md.)
   */
  readonly scope?: string;
}

/** Configuration, captured on the first attempt and reused by every restart. */
export interface ConfigCaptured extends EventBase {
  readonly type: 'config-captured';
  readonly config: { readonly [key: string]: PlainValue };
}

/** An atomic scope (a transaction, or a loop that reruns whole) opens. */
export interface ScopeOpened extends EventBase {
  readonly type: 'scope-opened';
  readonly scope: string;
  /** `transaction`, `loop`, ... (runner-defined). */
  readonly kind: string;
  readonly parent?: string;
}

/** The scope committed: the completions inside it become restart points. */
export interface ScopeCommitted extends EventBase {
  readonly type: 'scope-committed';
  readonly scope: string;
}

/** The scope was rolled back: the completions inside it are forgotten. */
export interface ScopeAborted extends EventBase {
  readonly type: 'scope-aborted';
  readonly scope: string;
  readonly reason?: string;
}

/** The generic events the core fold understands. */
export type CoreEvent =
  | AttemptStarted
  | AttemptEnded
  | UnitStarted
  | UnitCompleted
  | UnitFailed
  | CursorSet
  | VariableSet
  | ConfigCaptured
  | ScopeOpened
  | ScopeCommitted
  | ScopeAborted;

/** The `type` of a core event. */
export type CoreEventType = CoreEvent['type'];

/**
 * A runner's own event: its `type` is `namespace/name`, and the runner registers an
 * {@link ExtensionReducer} for the namespace.
 */
export interface ExtensionEvent extends EventBase {
  readonly type: `${string}/${string}`;
  readonly [field: string]: PlainValue | undefined;
}

/** Anything recorded in the log. */
export type CkptEvent = CoreEvent | ExtensionEvent;

/** The core event types, for validation and exhaustive switches. */
export const CORE_EVENT_TYPES: ReadonlySet<string> = new Set<CoreEventType>([
  'attempt-started',
  'attempt-ended',
  'unit-started',
  'unit-completed',
  'unit-failed',
  'cursor-set',
  'variable-set',
  'config-captured',
  'scope-opened',
  'scope-committed',
  'scope-aborted',
]);

/** The namespace of an extension event type (`file-transfer/checkpoint` → `file-transfer`). */
export function namespaceOf(type: string): string | undefined {
  const slash = type.indexOf('/');
  return slash > 0 ? type.slice(0, slash) : undefined;
}
