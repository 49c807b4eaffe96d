// One file over ~400 lines on purpose: the reducer of every core event, one case per event with
// the checks that make it total; split, the cases would no longer be read against each other.
import { CkptError, ErrorCode } from '../errors.js';
import {
  AttemptOutcome,
  CORE_EVENT_TYPES,
  UnitOutcome,
  namespaceOf,
  type CkptEvent,
  type CoreEvent,
  type ErrorInfo,
  type ExtensionEvent,
} from './events.js';
import { findNonPlain, isPlainObject, type PlainValue } from './plain.js';
import {
  cloneState,
  type CheckpointState,
  type CompletedUnit,
  type CursorRecord,
  type MutableCheckpointState,
  type MutableScopeRecord,
} from './state.js';

/**
 * The fold: a pure reducer from events to {@link CheckpointState}. It imports nothing with
 * side effects. {@link Fold.evolve} is the reducer as specified; {@link Fold.applyInPlace} is
 * the same transition applied to a state the caller owns, which is how the journal folds a
 * long log in linear time. Property tests prove the two agree.
 */

/** An event that cannot be applied to the state (malformed, or out of order). */
export class FoldError extends CkptError {
  readonly code = ErrorCode.InvalidEvent;
  constructor(
    message: string,
    /** Which event of a record it was (set by {@link Fold.applyAllInPlace}). */
    readonly index?: number,
  ) {
    super(message);
  }
}

/** A runner's reducer for the events of its namespace (`type: "<namespace>/..."`). */
export interface ExtensionReducer<S = unknown> {
  readonly namespace: string;
  initial(): S;
  /** Pure: returns the next state; throws {@link FoldError} for an event it cannot accept. */
  evolve(state: S, event: ExtensionEvent): S;
  /** Encodes the state for a snapshot; by default the state must itself be plain data. */
  toPlain?(state: S): PlainValue;
  /** Decodes a snapshot's state; throws {@link FoldError} when it is malformed. */
  fromPlain?(plain: PlainValue): S;
}

/** What to do with events of a namespace no reducer was registered for. */
export type UnknownNamespacePolicy =
  /** Refuse them (writers: a snapshot would lose them). */
  | 'reject'
  /** Count them under `extensions.get(ns)` as `{ unreduced: n }` (read-only inspection). */
  | 'count';

/** State kept for a namespace without a reducer under the `count` policy. */
export interface UnreducedNamespace {
  readonly unreduced: number;
}

const EMPTY_STATE: CheckpointState = {
  eventCount: 0,
  attempts: [],
  completed: new Map(),
  running: new Map(),
  failed: new Map(),
  cursors: new Map(),
  variables: new Map(),
  config: undefined,
  scopes: new Map(),
  extensions: new Map(),
};

function requireString(event: Record<string, unknown>, field: string): string {
  const value = event[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new FoldError(`${String(event['type'])} event needs a non-empty string "${field}"`);
  }
  return value;
}

function optionalString(event: Record<string, unknown>, field: string): string | undefined {
  const value = event[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new FoldError(`${String(event['type'])} event: "${field}" must be a non-empty string`);
  }
  return value;
}

function optionalNumber(event: Record<string, unknown>, field: string): number | undefined {
  const value = event[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new FoldError(`${String(event['type'])} event: "${field}" must be a finite number`);
  }
  return value;
}

function requireAttemptNumber(event: Record<string, unknown>): number {
  const value = event['attempt'];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new FoldError(`${String(event['type'])} event needs a positive integer "attempt"`);
  }
  return value;
}

function requireErrorInfo(event: Record<string, unknown>, field: string, required: boolean): ErrorInfo | undefined {
  const value = event[field];
  if (value === undefined && !required) return undefined;
  if (!isPlainObject(value) || typeof value['message'] !== 'string') {
    throw new FoldError(`${String(event['type'])} event: "${field}" must be { message, code? }`);
  }
  const code = value['code'];
  if (code !== undefined && typeof code !== 'string') {
    throw new FoldError(`${String(event['type'])} event: "${field}.code" must be a string`);
  }
  return code === undefined ? { message: value['message'] } : { message: value['message'], code };
}

function oneOf<T extends string>(event: Record<string, unknown>, field: string, values: Record<string, T>): T {
  const value = event[field];
  const allowed = Object.values(values);
  if (typeof value !== 'string' || !(allowed as string[]).includes(value)) {
    throw new FoldError(`${String(event['type'])} event: "${field}" must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** Reducer for the core vocabulary plus any registered extension reducers. */
export class Fold {
  private readonly reducers: ReadonlyMap<string, ExtensionReducer>;

  constructor(
    reducers: readonly ExtensionReducer[] = [],
    private readonly unknownNamespaces: UnknownNamespacePolicy = 'reject',
  ) {
    const byNamespace = new Map<string, ExtensionReducer>();
    for (const reducer of reducers) {
      if (!/^[a-z][a-z0-9-]*$/.test(reducer.namespace)) {
        throw new FoldError(`reducer namespace "${reducer.namespace}" must be lowercase letters, digits and dashes`);
      }
      if (byNamespace.has(reducer.namespace)) {
        throw new FoldError(`two reducers registered for namespace "${reducer.namespace}"`);
      }
      byNamespace.set(reducer.namespace, reducer);
    }
    this.reducers = byNamespace;
  }

  /** The registered extension reducers. */
  get extensionReducers(): readonly ExtensionReducer[] {
    return [...this.reducers.values()];
  }

  /** The state before any event. */
  initial(): CheckpointState {
    return EMPTY_STATE;
  }

  /** The reducer: the state after `event`. Pure; throws {@link FoldError} for an invalid event. */
  evolve(state: CheckpointState, event: CkptEvent): CheckpointState {
    const next = cloneState(state);
    this.applyInPlace(next, event);
    return next;
  }

  /** Folds `events` onto `state` (default: the initial state). Pure. */
  foldEvents(events: Iterable<CkptEvent>, state: CheckpointState = EMPTY_STATE): CheckpointState {
    const next = cloneState(state);
    for (const event of events) this.applyInPlace(next, event);
    return next;
  }

  /**
   * Applies `event` to a state the caller owns. Validates everything before changing anything,
   * so a {@link FoldError} leaves `state` as it was.
   */
  applyInPlace(state: MutableCheckpointState, event: CkptEvent): void {
    if (!isPlainObject(event)) throw new FoldError('an event must be a plain object');
    const type: unknown = event.type;
    if (typeof type !== 'string') throw new FoldError('an event needs a string "type"');
    if (CORE_EVENT_TYPES.has(type)) {
      this.applyCore(state, event as unknown as CoreEvent);
    } else {
      this.applyExtension(state, event as ExtensionEvent);
    }
    state.eventCount++;
  }

  /**
   * Applies `events` (one record) to a state the caller owns, all or nothing: when one is
   * invalid, the ones before it are undone and its {@link FoldError} is thrown, leaving `state`
   * as it was. Costs what the events touch, not the size of the state (no copy of the state).
   */
  applyAllInPlace(state: MutableCheckpointState, events: readonly CkptEvent[]): void {
    if (events.length === 1) {
      this.applyInPlace(state, events[0]!);
      return;
    }
    const undo: (() => void)[] = [];
    try {
      for (const event of events) {
        undo.push(undoOf(state, event));
        this.applyInPlace(state, event);
      }
    } catch (error) {
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      throw error instanceof FoldError ? new FoldError(error.message, undo.length - 1) : error;
    }
  }

  private applyExtension(state: MutableCheckpointState, event: ExtensionEvent): void {
    const namespace = namespaceOf(event.type);
    if (namespace === undefined) throw new FoldError(`unknown event type "${event.type}"`);
    const reducer = this.reducers.get(namespace);
    if (reducer === undefined) {
      if (this.unknownNamespaces === 'reject') {
        throw new FoldError(`no reducer is registered for events of namespace "${namespace}" (event "${event.type}")`);
      }
      const previous = state.extensions.get(namespace) as UnreducedNamespace | undefined;
      state.extensions.set(namespace, { unreduced: (previous?.unreduced ?? 0) + 1 } satisfies UnreducedNamespace);
      return;
    }
    const current = state.extensions.has(namespace) ? state.extensions.get(namespace) : reducer.initial();
    state.extensions.set(namespace, reducer.evolve(current, event));
  }

  private applyCore(state: MutableCheckpointState, event: CoreEvent): void {
    const raw = event as unknown as Record<string, unknown>;
    const at = optionalNumber(raw, 'at');
    const attempt = state.attempts.at(-1)?.attempt ?? 0;
    switch (event.type) {
      case 'attempt-started': {
        const number = requireAttemptNumber(raw);
        if (number !== attempt + 1) {
          throw new FoldError(`attempt-started: attempt ${number} follows attempt ${attempt}; expected ${attempt + 1}`);
        }
        const pid = optionalNumber(raw, 'pid');
        const host = optionalString(raw, 'host');
        const retentionMs = optionalNumber(raw, 'retentionMs');
        state.attempts.push({
          attempt: number,
          ...(at !== undefined && { startedAt: at }),
          ...(pid !== undefined && { pid }),
          ...(host !== undefined && { host }),
          ...(retentionMs !== undefined && { retentionMs }),
        });
        return;
      }
      case 'attempt-ended': {
        const number = requireAttemptNumber(raw);
        const outcome = oneOf(raw, 'outcome', AttemptOutcome);
        const error = requireErrorInfo(raw, 'error', false);
        const last = state.attempts.at(-1);
        if (last === undefined || last.attempt !== number) {
          throw new FoldError(`attempt-ended: attempt ${number} is not the current attempt (${attempt})`);
        }
        if (last.outcome !== undefined) throw new FoldError(`attempt-ended: attempt ${number} already ended`);
        state.attempts[state.attempts.length - 1] = {
          ...last,
          outcome,
          ...(at !== undefined && { endedAt: at }),
          ...(error !== undefined && { error }),
        };
        return;
      }
      case 'unit-started': {
        const unit = requireString(raw, 'unit');
        const scope = this.openScope(state, raw);
        state.running.set(unit, {
          unit,
          attempt,
          ...(at !== undefined && { startedAt: at }),
          ...(scope !== undefined && { scope: scope.scope }),
        });
        return;
      }
      case 'unit-completed': {
        const unit = requireString(raw, 'unit');
        const outcome = oneOf(raw, 'outcome', UnitOutcome);
        const scope = this.openScope(state, raw);
        const result = raw['result'];
        if (result !== undefined) this.requirePlain(raw, 'result');
        const startedAt = state.running.get(unit)?.startedAt;
        const record: CompletedUnit = {
          unit,
          outcome,
          attempt,
          ...(startedAt !== undefined && { startedAt }),
          ...(at !== undefined && { completedAt: at }),
          ...(result !== undefined && { result: result as PlainValue }),
        };
        state.running.delete(unit);
        state.failed.delete(unit);
        (scope?.completed ?? state.completed).set(unit, record);
        return;
      }
      case 'unit-failed': {
        const unit = requireString(raw, 'unit');
        const error = requireErrorInfo(raw, 'error', true)!;
        this.openScope(state, raw);
        state.running.delete(unit);
        state.failed.set(unit, { unit, attempt, error, ...(at !== undefined && { at }) });
        return;
      }
      case 'cursor-set': {
        const unit = requireString(raw, 'unit');
        if (!('cursor' in raw)) throw new FoldError('cursor-set event needs a "cursor"');
        this.requirePlain(raw, 'cursor');
        const scope = this.openScope(state, raw);
        const record: CursorRecord = { unit, cursor: raw['cursor'] as PlainValue, attempt, ...(at !== undefined && { at }) };
        (scope?.cursors ?? state.cursors).set(unit, record);
        return;
      }
      case 'variable-set': {
        const name = requireString(raw, 'name');
        const valueType = optionalString(raw, 'valueType');
        if (valueType === 'object') {
          throw new FoldError(`variable-set: "${name}" is object-typed; object values are never recorded`);
        }
        const sensitive = raw['sensitive'] === true;
        const redacted = raw['redacted'] === true;
        const sealed = raw['sealed'];
        if (sensitive && raw['value'] !== undefined) {
          throw new FoldError(`variable-set: "${name}" is sensitive and must be sealed or redacted before it is recorded`);
        }
        if (!sensitive && (sealed !== undefined || redacted)) {
          throw new FoldError(`variable-set: "${name}" is sealed or redacted but not marked sensitive`);
        }
        if (sensitive && (sealed === undefined) === !redacted) {
          throw new FoldError(`variable-set: sensitive "${name}" needs exactly one of "sealed" or "redacted"`);
        }
        if (sealed !== undefined) {
          if (
            !isPlainObject(sealed) ||
            sealed['alg'] !== 'aes-256-gcm' ||
            !(sealed['iv'] instanceof Uint8Array) ||
            !(sealed['tag'] instanceof Uint8Array) ||
            !(sealed['data'] instanceof Uint8Array)
          ) {
            throw new FoldError(`variable-set: "${name}" has a malformed sealed value`);
          }
        }
        this.requirePlain(raw, 'value');
        // Set inside an open scope: pending there until it commits (a rerun after a rollback or a
        // crash inside it starts from the values before it).
        const scope = this.openScope(state, raw);
        (scope?.variables ?? state.variables).set(name, {
          name,
          ...(raw['value'] !== undefined && { value: raw['value'] as PlainValue }),
          ...(valueType !== undefined && { valueType }),
          sensitive,
          ...(sealed !== undefined && { sealed: sealed as never }),
          redacted,
          attempt,
          ...(at !== undefined && { at }),
        });
        return;
      }
      case 'config-captured': {
        const config = raw['config'];
        if (!isPlainObject(config)) throw new FoldError('config-captured event needs a "config" object');
        this.requirePlain(raw, 'config');
        if (state.config !== undefined) {
          throw new FoldError('config-captured: configuration was already captured by an earlier attempt');
        }
        state.config = config as { readonly [key: string]: PlainValue };
        return;
      }
      case 'scope-opened': {
        const scope = requireString(raw, 'scope');
        const kind = requireString(raw, 'kind');
        const parent = optionalString(raw, 'parent');
        if (state.scopes.has(scope)) throw new FoldError(`scope-opened: scope "${scope}" is already open`);
        if (parent !== undefined && !state.scopes.has(parent)) {
          throw new FoldError(`scope-opened: parent scope "${parent}" of "${scope}" is not open`);
        }
        state.scopes.set(scope, {
          scope,
          kind,
          ...(parent !== undefined && { parent }),
          attempt,
          ...(at !== undefined && { openedAt: at }),
          completed: new Map(),
          cursors: new Map(),
          variables: new Map(),
        });
        return;
      }
      case 'scope-committed': {
        const id = requireString(raw, 'scope');
        const scope = this.requireOpen(state, id, 'scope-committed');
        if (this.childrenOf(state, id).length > 0) {
          throw new FoldError(`scope-committed: scope "${id}" still has open inner scopes`);
        }
        const target = scope.parent !== undefined ? state.scopes.get(scope.parent)! : state;
        for (const [unit, record] of scope.completed) target.completed.set(unit, record);
        for (const [unit, record] of scope.cursors) target.cursors.set(unit, record);
        for (const [name, record] of scope.variables) target.variables.set(name, record);
        state.scopes.delete(id);
        return;
      }
      case 'scope-aborted': {
        const id = requireString(raw, 'scope');
        this.requireOpen(state, id, 'scope-aborted');
        // Aborting a scope aborts everything opened inside it; units in flight there are forgotten.
        const doomed = new Set<string>([id]);
        let grew = true;
        while (grew) {
          grew = false;
          for (const scope of state.scopes.values()) {
            if (scope.parent !== undefined && doomed.has(scope.parent) && !doomed.has(scope.scope)) {
              doomed.add(scope.scope);
              grew = true;
            }
          }
        }
        for (const scope of doomed) state.scopes.delete(scope);
        for (const [unit, running] of state.running) {
          if (running.scope !== undefined && doomed.has(running.scope)) state.running.delete(unit);
        }
        return;
      }
      default:
        assertNever(event);
    }
  }

  private openScope(state: MutableCheckpointState, raw: Record<string, unknown>): MutableScopeRecord | undefined {
    const id = optionalString(raw, 'scope');
    return id === undefined ? undefined : this.requireOpen(state, id, String(raw['type']));
  }

  private requireOpen(state: MutableCheckpointState, id: string, type: string): MutableScopeRecord {
    const scope = state.scopes.get(id);
    if (scope === undefined) throw new FoldError(`${type}: scope "${id}" is not open`);
    return scope;
  }

  private childrenOf(state: MutableCheckpointState, id: string): string[] {
    return [...state.scopes.values()].filter((s) => s.parent === id).map((s) => s.scope);
  }

  private requirePlain(raw: Record<string, unknown>, field: string): void {
    const bad = findNonPlain(raw[field], field);
    if (bad !== undefined) throw new FoldError(`${String(raw['type'])} event: ${bad}`);
  }
}

/**
 * What restores `state` to before `event`: the entries `event` may write (per the transitions of
 * {@link Fold.applyInPlace}), saved before it is applied. Extension reducers are pure, so their
 * namespace's entry is enough.
 */
function undoOf(state: MutableCheckpointState, event: CkptEvent): () => void {
  const saved: [Map<string, unknown>, string, boolean, unknown][] = [];
  const save = (map: Map<string, unknown>, key: string) => saved.push([map, key, map.has(key), map.get(key)]);
  const eventCount = state.eventCount;
  const config = state.config;
  const raw = (isPlainObject(event) ? event : {}) as Record<string, unknown>;
  const type = raw['type'];
  const attempts = type === 'attempt-started' || type === 'attempt-ended' ? [...state.attempts] : undefined;
  const unit = typeof raw['unit'] === 'string' ? raw['unit'] : undefined;
  const scopeId = typeof raw['scope'] === 'string' ? raw['scope'] : undefined;
  const scope = scopeId !== undefined ? state.scopes.get(scopeId) : undefined;
  if (unit !== undefined) {
    for (const map of [state.running, state.failed, state.completed, state.cursors]) save(map as Map<string, unknown>, unit);
    if (scope !== undefined) for (const map of [scope.completed, scope.cursors]) save(map as Map<string, unknown>, unit);
  }
  if (type === 'variable-set' && typeof raw['name'] === 'string') {
    save(state.variables as Map<string, unknown>, raw['name']);
    if (scope !== undefined) save(scope.variables as Map<string, unknown>, raw['name']);
  }
  if (type === 'scope-opened' && scopeId !== undefined) save(state.scopes as Map<string, unknown>, scopeId);
  if (type === 'scope-committed' && scopeId !== undefined && scope !== undefined) {
    save(state.scopes as Map<string, unknown>, scopeId);
    const target = scope.parent !== undefined ? state.scopes.get(scope.parent) : state;
    if (target !== undefined) {
      for (const key of scope.completed.keys()) save(target.completed as Map<string, unknown>, key);
      for (const key of scope.cursors.keys()) save(target.cursors as Map<string, unknown>, key);
      for (const key of scope.variables.keys()) save(target.variables as Map<string, unknown>, key);
    }
  }
  if (type === 'scope-aborted') {
    for (const id of state.scopes.keys()) save(state.scopes as Map<string, unknown>, id);
    for (const [key, running] of state.running) if (running.scope !== undefined) save(state.running as Map<string, unknown>, key);
  }
  if (typeof type === 'string' && !CORE_EVENT_TYPES.has(type)) {
    const namespace = namespaceOf(type);
    if (namespace !== undefined) save(state.extensions, namespace);
  }
  return () => {
    for (let i = saved.length - 1; i >= 0; i--) {
      const [map, key, had, value] = saved[i]!;
      if (had) map.set(key, value);
      else map.delete(key);
    }
    state.eventCount = eventCount;
    state.config = config;
    if (attempts !== undefined) state.attempts.splice(0, state.attempts.length, ...attempts);
  };
}

function assertNever(value: never): never {
  throw new FoldError(`unknown event type "${String((value as { type?: unknown }).type)}"`);
}

const CORE_FOLD = new Fold();

/** The core reducer (no extensions): the state after `event`. Pure. */
export function evolve(state: CheckpointState, event: CkptEvent): CheckpointState {
  return CORE_FOLD.evolve(state, event);
}

/** The core state before any event. */
export function initialState(): CheckpointState {
  return CORE_FOLD.initial();
}

/** Folds `events` with the core reducer (no extensions). Pure. */
export function foldEvents(events: Iterable<CkptEvent>, state?: CheckpointState): CheckpointState {
  return CORE_FOLD.foldEvents(events, state);
}
