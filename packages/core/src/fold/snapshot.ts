import { FoldError, type ExtensionReducer, type Fold } from './fold.js';
import { isPlainObject, type PlainValue } from './plain.js';
import type {
  AttemptRecord,
  CheckpointState,
  CompletedUnit,
  CursorRecord,
  FailedUnit,
  MutableCheckpointState,
  MutableScopeRecord,
  RunningUnit,
  VariableRecord,
} from './state.js';

/**
 * Snapshots: a {@link CheckpointState} as plain data, written by compaction and read back on
 * open. Maps become arrays of records (their keys are inside the records), so the encoding is
 * msgpack-friendly and independent of JavaScript's Map.
 */

/** Version of the snapshot encoding, stored in the snapshot. */
export const SNAPSHOT_VERSION = 1;

/** A snapshot as stored in a SNAPSHOT record's payload. */
export interface PlainSnapshot {
  readonly v: number;
  readonly eventCount: number;
  readonly attempts: readonly AttemptRecord[];
  readonly completed: readonly CompletedUnit[];
  readonly running: readonly RunningUnit[];
  readonly failed: readonly FailedUnit[];
  readonly cursors: readonly CursorRecord[];
  readonly variables: readonly VariableRecord[];
  readonly config: { readonly [key: string]: PlainValue } | null;
  readonly scopes: readonly {
    readonly scope: string;
    readonly kind: string;
    readonly parent?: string;
    readonly attempt: number;
    readonly openedAt?: number;
    readonly completed: readonly CompletedUnit[];
    readonly cursors: readonly CursorRecord[];
    /** Variables pending in the scope; absent when it holds none (and in snapshots of format version 1). */
    readonly variables?: readonly VariableRecord[];
  }[];
  readonly extensions: readonly { readonly namespace: string; readonly state: PlainValue }[];
}

function encodeExtension(reducer: ExtensionReducer | undefined, state: unknown): PlainValue {
  return reducer?.toPlain ? reducer.toPlain(state) : (state as PlainValue);
}

/** Encodes `state` as plain data for a snapshot. */
export function snapshotState(state: CheckpointState, fold: Fold): PlainSnapshot {
  const reducers = new Map(fold.extensionReducers.map((r) => [r.namespace, r]));
  return {
    v: SNAPSHOT_VERSION,
    eventCount: state.eventCount,
    attempts: state.attempts,
    completed: [...state.completed.values()],
    running: [...state.running.values()],
    failed: [...state.failed.values()],
    cursors: [...state.cursors.values()],
    variables: [...state.variables.values()],
    config: state.config ?? null,
    scopes: [...state.scopes.values()].map((scope) => ({
      scope: scope.scope,
      kind: scope.kind,
      ...(scope.parent !== undefined && { parent: scope.parent }),
      attempt: scope.attempt,
      ...(scope.openedAt !== undefined && { openedAt: scope.openedAt }),
      completed: [...scope.completed.values()],
      cursors: [...scope.cursors.values()],
      ...(scope.variables.size > 0 && { variables: [...scope.variables.values()] }),
    })),
    extensions: [...state.extensions].map(([namespace, ext]) => ({
      namespace,
      state: encodeExtension(reducers.get(namespace), ext),
    })),
  };
}

function recordsByKey<T extends object>(value: unknown, key: keyof T & string, what: string): Map<string, T> {
  if (!Array.isArray(value)) throw new FoldError(`snapshot: "${what}" must be an array`);
  const map = new Map<string, T>();
  for (const item of value) {
    if (!isPlainObject(item) || typeof item[key] !== 'string') {
      throw new FoldError(`snapshot: every "${what}" entry needs a string "${key}"`);
    }
    map.set(item[key] as string, item as T);
  }
  return map;
}

/** Decodes a snapshot written by {@link snapshotState}; throws {@link FoldError} when malformed. */
export function restoreSnapshot(plain: unknown, fold: Fold): MutableCheckpointState {
  if (!isPlainObject(plain)) throw new FoldError('snapshot: payload must be a map');
  if (plain['v'] !== SNAPSHOT_VERSION) {
    throw new FoldError(`snapshot: encoding version ${String(plain['v'])} is not supported (expected ${SNAPSHOT_VERSION})`);
  }
  const eventCount = plain['eventCount'];
  if (typeof eventCount !== 'number' || !Number.isSafeInteger(eventCount) || eventCount < 0) {
    throw new FoldError('snapshot: "eventCount" must be a non-negative integer');
  }
  const attempts = plain['attempts'];
  if (!Array.isArray(attempts) || !attempts.every((a) => isPlainObject(a) && typeof a['attempt'] === 'number')) {
    throw new FoldError('snapshot: "attempts" must be an array of attempt records');
  }
  const config = plain['config'];
  if (config !== null && !isPlainObject(config)) throw new FoldError('snapshot: "config" must be a map or nil');
  const scopesRaw = plain['scopes'];
  if (!Array.isArray(scopesRaw)) throw new FoldError('snapshot: "scopes" must be an array');
  const scopes = new Map<string, MutableScopeRecord>();
  for (const scope of scopesRaw) {
    if (!isPlainObject(scope) || typeof scope['scope'] !== 'string' || typeof scope['kind'] !== 'string') {
      throw new FoldError('snapshot: every scope needs string "scope" and "kind"');
    }
    const { variables, ...fields } = scope;
    scopes.set(scope['scope'], {
      ...(fields as unknown as MutableScopeRecord),
      completed: recordsByKey<CompletedUnit>(scope['completed'], 'unit', 'scopes[].completed'),
      cursors: recordsByKey<CursorRecord>(scope['cursors'], 'unit', 'scopes[].cursors'),
      // Absent: none pending (writers of format version 1 never held variables in a scope).
      variables: variables === undefined ? new Map() : recordsByKey<VariableRecord>(variables, 'name', 'scopes[].variables'),
    });
  }
  // Committing a scope moves its units into its parent: a parent that is not open has nowhere
  // to take them (ckpt never writes such a snapshot; a crafted one is refused, not crashed on).
  for (const scope of scopes.values()) {
    const parent: unknown = scope.parent;
    if (parent !== undefined && (typeof parent !== 'string' || !scopes.has(parent))) {
      throw new FoldError(`snapshot: scope "${scope.scope}" names a parent that is not one of its open scopes`);
    }
  }
  const extensionsRaw = plain['extensions'];
  if (!Array.isArray(extensionsRaw)) throw new FoldError('snapshot: "extensions" must be an array');
  const reducers = new Map(fold.extensionReducers.map((r) => [r.namespace, r]));
  const extensions = new Map<string, unknown>();
  for (const entry of extensionsRaw) {
    if (!isPlainObject(entry) || typeof entry['namespace'] !== 'string') {
      throw new FoldError('snapshot: every extension entry needs a string "namespace"');
    }
    const reducer = reducers.get(entry['namespace']);
    const state = entry['state'] as PlainValue;
    extensions.set(entry['namespace'], reducer?.fromPlain ? reducer.fromPlain(state) : state);
  }
  return {
    eventCount,
    attempts: attempts as AttemptRecord[],
    completed: recordsByKey<CompletedUnit>(plain['completed'], 'unit', 'completed'),
    running: recordsByKey<RunningUnit>(plain['running'], 'unit', 'running'),
    failed: recordsByKey<FailedUnit>(plain['failed'], 'unit', 'failed'),
    cursors: recordsByKey<CursorRecord>(plain['cursors'], 'unit', 'cursors'),
    variables: recordsByKey<VariableRecord>(plain['variables'], 'name', 'variables'),
    config: config === null ? undefined : (config as { readonly [key: string]: PlainValue }),
    scopes,
    extensions,
  };
}
