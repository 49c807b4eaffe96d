/**
 * The runner's decisions about precedence and restart, as one pure function: given what the
 * checkpoint holds and an event of the run, what to do. No I/O, no clock, no mutation; the
 * execution (execution.ts, loops.ts, resume.ts) carries the decisions out. decide.test.ts
 * states the SSIS restart rules (docs/restart-semantics.md) as given/when/then tests of it.
 */
import type { CompletedUnit, CursorRecord, ScopeRecord } from '@ckpt/core';
import type { Expr } from './expression.js';
import type { Outcome } from './frame.js';
import type { Constraint, Step, StepResult } from './model.js';
import { stepOfUnit, voidedByRerun, type RerunRecord } from './rerun.js';

/** What the checkpoint holds at the start of an attempt, as the decisions read it. */
export interface DecideState {
  readonly completed: ReadonlyMap<string, CompletedUnit>;
  readonly cursors: ReadonlyMap<string, CursorRecord>;
  /** Scopes an earlier attempt left open (a crash inside a transaction or an atomic loop). */
  readonly scopes: ReadonlyMap<string, ScopeRecord>;
  /** Recorded `--rerun`s, this attempt's included: completions older than one of them do not count. */
  readonly reruns: readonly RerunRecord[];
}

/** A fresh start: nothing recorded. */
export const NOTHING_RECORDED: DecideState = { completed: new Map(), cursors: new Map(), scopes: new Map(), reruns: [] };

/** Where a step of a container stands while its siblings run. */
export type ChildStatus = Outcome | 'pending' | 'running' | 'skipped' | 'stopped';

/** A container's children as they stand: what precedence and failure handling read. */
export interface Siblings {
  readonly steps: readonly Step[];
  readonly status: readonly ChildStatus[];
  /** Failures counted against the container's `maximumErrorCount` so far. */
  readonly errors: number;
  readonly maximumErrorCount: number;
  /** A step with `failParentOnFailure` failed. */
  readonly failParent: boolean;
}

/** What happens in a run that needs a decision. */
export type DecideEvent =
  /** The attempt starts (before any step). */
  | { readonly type: 'attempt-started' }
  /** A step (or an iteration of a loop with checkpointIterations) is reached. Event-handler runs are `ephemeral`. */
  | { readonly type: 'unit-reached'; readonly unit: string; readonly ephemeral: boolean }
  /** A loop is reached: where do its iterations start? */
  | { readonly type: 'loop-reached'; readonly unit: string; readonly checkpointIterations: boolean; readonly ephemeral: boolean }
  /** A pending child is looked at: do its precedence constraints let it run? `holds` evaluates a `when` (it may throw). */
  | { readonly type: 'step-ready'; readonly siblings: Siblings; readonly index: number; readonly holds: (when: Expr) => boolean }
  /** A child failed: is the failure handled (its failure path runs and the container survives)? */
  | {
      readonly type: 'step-failed';
      readonly siblings: Siblings;
      readonly index: number;
      readonly packageFailed: boolean;
      readonly ephemeral: boolean;
    }
  /** No child can run any more: how did the container end? `messages` are its children's failures. */
  | { readonly type: 'children-settled'; readonly siblings: Siblings; readonly messages: readonly string[] };

/** Roll back a transaction a crash left open (innermost first), before anything reruns. */
export interface RollBack {
  readonly type: 'roll-back';
  readonly scope: string;
  /** The unit of the step that opened it. */
  readonly unit: string;
  readonly stepId: string;
}
/** Record that an open scope is aborted (outermost scopes only: aborting one aborts those inside). */
export interface AbortScope {
  readonly type: 'abort-scope';
  readonly scope: string;
  readonly reason: string;
}

/** The decision for each kind of event. */
export interface Decisions {
  readonly 'attempt-started': readonly (RollBack | AbortScope)[];
  /** Skip with the recorded outcome (its successors see it again), or run. */
  readonly 'unit-reached': { readonly type: 'skip'; readonly outcome: Outcome } | { readonly type: 'run' };
  /** Start at iteration `at`; `init` says whether a `for` loop runs its `init` (not when resuming with its variables as they were). */
  readonly 'loop-reached': { readonly type: 'iterate'; readonly at: number; readonly init: boolean };
  readonly 'step-ready': { readonly type: 'run' } | { readonly type: 'skip' } | { readonly type: 'wait' };
  /** A handled failure is recorded completed with outcome failure (not a restart point); otherwise failed (it reruns). */
  readonly 'step-failed': { readonly type: 'record-failure'; readonly handled: boolean };
  readonly 'children-settled':
    | { readonly type: 'container-ended'; readonly outcome: 'success' }
    | { readonly type: 'container-ended'; readonly outcome: 'failure'; readonly error: string };
}

/** The decision for `event`, given `state`. Pure: same state and event, same decision. */
export function decide<E extends DecideEvent>(state: DecideState, event: E): Decisions[E['type']];
export function decide(state: DecideState, event: DecideEvent): Decisions[DecideEvent['type']] {
  switch (event.type) {
    case 'attempt-started':
      return settleOpenScopes(state);
    case 'unit-reached': {
      const done = event.ephemeral ? undefined : completedAt(state, event.unit);
      return done !== undefined ? { type: 'skip', outcome: outcomeOf(done) } : { type: 'run' };
    }
    case 'loop-reached': {
      const cursor = event.checkpointIterations && !event.ephemeral ? (cursorAt(state, event.unit) as { next?: number } | undefined) : undefined;
      return { type: 'iterate', at: cursor?.next ?? 0, init: cursor?.next === undefined };
    }
    case 'step-ready':
      return precedence(event.siblings, event.index, event.holds);
    case 'step-failed': {
      const { siblings, index } = event;
      const step = siblings.steps[index]!;
      const hasFailurePath = siblings.steps.some((s) => s.after?.some((c) => c.step === step.id && c.on !== 'success'));
      const handled =
        !event.ephemeral &&
        !event.packageFailed &&
        !siblings.failParent &&
        !step.failPackageOnFailure &&
        !step.failParentOnFailure &&
        hasFailurePath &&
        siblings.errors + 1 < siblings.maximumErrorCount;
      return { type: 'record-failure', handled };
    }
    case 'children-settled': {
      const { siblings, messages } = event;
      // Stopped early (fail-package, fail-parent): steps left unrun make this container unfinished, never complete.
      const unfinished = siblings.status.some((s) => s === 'pending');
      const failed = siblings.failParent || siblings.errors >= siblings.maximumErrorCount || unfinished;
      if (!failed) return { type: 'container-ended', outcome: 'success' };
      return {
        type: 'container-ended',
        outcome: 'failure',
        error: messages.join('; ') || (unfinished ? 'stopped before all its steps ran, because the package is failing' : 'a step failed'),
      };
    }
  }
}

/** The checkpoint's completion of `unit`, unless a later `--rerun` voided it. */
export function completedAt(state: DecideState, unit: string): CompletedUnit | undefined {
  const record = state.completed.get(unit);
  return record !== undefined && !voidedByRerun(state.reruns, unit, record.attempt) ? record : undefined;
}

/** The checkpoint's cursor of `unit`, unless a later `--rerun` voided it (the unit starts over). */
export function cursorAt(state: DecideState, unit: string): CursorRecord['cursor'] | undefined {
  const record = state.cursors.get(unit);
  return record !== undefined && !voidedByRerun(state.reruns, unit, record.attempt) ? record.cursor : undefined;
}

/** The outcome a completed unit's successors see: a forced `completion` is recorded as a success with that result. */
export function outcomeOf(record: CompletedUnit): Outcome {
  const forced = (record.result as { result?: unknown } | undefined)?.result;
  if (forced === 'completion') return 'completion';
  return record.outcome;
}

function matches(outcome: Outcome, on: StepResult): boolean {
  return on === 'completion' ? true : outcome === on;
}

/** A step's constraints: its `after`, or (none given) success of the step before it. */
function constraintsOf(steps: readonly Step[], i: number): readonly Constraint[] {
  return steps[i]!.after ?? (i > 0 ? [{ step: steps[i - 1]!.id, on: 'success' }] : []);
}

/** Step id → position, computed once per list of siblings (a container of thousands of steps asks for every pending one each round). */
const indexes = new WeakMap<readonly Step[], ReadonlyMap<string, number>>();
function indexOf(steps: readonly Step[]): ReadonlyMap<string, number> {
  let index = indexes.get(steps);
  if (index === undefined) indexes.set(steps, (index = new Map(steps.map((s, n) => [s.id, n]))));
  return index;
}

/**
 * SSIS precedence: each constraint is met (its step ended with the outcome it names and its
 * `when` holds), unmet (skipped, stopped, other outcome, `when` false) or not yet known.
 * `and` runs when all are met, `or` when one is; a step that can no longer run is skipped.
 */
function precedence(siblings: Siblings, i: number, holds: (when: Expr) => boolean): Decisions['step-ready'] {
  const { steps, status } = siblings;
  const constraints = constraintsOf(steps, i);
  if (constraints.length === 0) return { type: 'run' };
  const index = indexOf(steps);
  const values = constraints.map((c) => {
    const s = status[index.get(c.step)!]!;
    if (s === 'pending' || s === 'running') return undefined;
    if (s === 'skipped' || s === 'stopped') return false;
    if (!matches(s, c.on)) return false;
    return c.when === undefined ? true : holds(c.when);
  });
  if (steps[i]!.afterLogic === 'or') {
    if (values.some((v) => v === true)) return { type: 'run' };
    return values.some((v) => v === undefined) ? { type: 'wait' } : { type: 'skip' };
  }
  if (values.some((v) => v === false)) return { type: 'skip' };
  return values.some((v) => v === undefined) ? { type: 'wait' } : { type: 'run' };
}

/**
 * A crash left scopes open: roll back the transactions (innermost first), then abort the
 * outermost scopes (the fold aborts what is inside them).
 */
function settleOpenScopes(state: DecideState): Decisions['attempt-started'] {
  const depth = (id: string): number => {
    let d = 0;
    for (let s = state.scopes.get(id); s?.parent !== undefined; s = state.scopes.get(s.parent)) d++;
    return d;
  };
  const open = [...state.scopes.values()].sort((a, b) => depth(b.scope) - depth(a.scope));
  const decisions: (RollBack | AbortScope)[] = [];
  for (const scope of open) {
    if (scope.kind !== 'transaction') continue;
    decisions.push({ type: 'roll-back', scope: scope.scope, unit: scope.scope.replace(/@transaction$/, ''), stepId: stepOfUnit(scope.scope) });
  }
  for (const scope of open) {
    if (scope.parent === undefined || !state.scopes.has(scope.parent)) {
      decisions.push({ type: 'abort-scope', scope: scope.scope, reason: 'left open by an attempt that did not finish; rerun whole' });
    }
  }
  return decisions;
}
