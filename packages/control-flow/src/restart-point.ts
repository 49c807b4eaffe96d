import type { CheckpointState } from '@ckpt/core';
import { outcomeOf } from './decide.js';
import type { Constraint, Package, Step } from './model.js';
import { rerunsOf, stepOfUnit, voidedByRerun } from './rerun.js';

/** Where the next attempt of a package starts, and why (for `ckpt inspect`, `ckpt list` and the run view). */
export interface RestartPoint {
  /**
   * Units the checkpoint has that the next attempt skips. With the package at hand, only those
   * it will certainly reach again: a completed step that waits on a step that reruns is left
   * out (it is in {@link RestartPoint.reachedIfAgain}).
   */
  readonly skipped: readonly string[];
  /** Completed units after a step that reruns: skipped only if their precedence constraints hold again. */
  readonly reachedIfAgain: readonly string[];
  /** Units recorded failed that run again, with the recorded error (a rolled-back transaction is named whole). */
  readonly failed: readonly { readonly unit: string; readonly message: string; readonly rolledBack?: boolean }[];
  /** Units completed before a recorded `--rerun` of their step: that completion does not count, they run again. */
  readonly rerun: readonly string[];
  /** Units started and never finished (in flight at a crash): they run again. */
  readonly inFlight: readonly string[];
  /** Transactions a crash left open: rolled back, then rerun whole. */
  readonly openTransactions: readonly string[];
  /** Loops that rerun whole because a crash left them open. */
  readonly openLoops: readonly string[];
  /** Loops with checkpointIterations: the iteration they resume at. */
  readonly loopCursors: readonly { readonly loop: string; readonly next: number }[];
  /** One sentence per reason, in the order the next attempt meets them. */
  readonly explanation: readonly string[];
}

/** The unit a unit sits in (`a/b[2]/c` → `a/b[2]`, `a/b[2]` → `a/b`), or undefined at the root. */
function parentUnit(unit: string): string | undefined {
  const iteration = /\[\d+\]$/.exec(unit);
  if (iteration !== null) return unit.slice(0, iteration.index);
  const slash = unit.lastIndexOf('/');
  return slash < 0 ? undefined : unit.slice(0, slash);
}

/**
 * Whether the next attempt certainly reaches `unit`: its container is reached and its precedence
 * constraints hold on outcomes the checkpoint fixes (siblings it skips). A constraint on a step
 * that reruns, or with a `when` expression, cannot be decided before the run: not certain.
 */
function certainlyReached(state: CheckpointState, pkg: Package): (unit: string) => boolean {
  const memo = new Map<string, boolean>();
  const reached = (unit: string): boolean => {
    const known = memo.get(unit);
    if (known !== undefined) return known;
    memo.set(unit, false); // a cycle cannot be decided: not certain
    const value = decide(unit);
    memo.set(unit, value);
    return value;
  };
  const decide = (unit: string): boolean => {
    const parent = parentUnit(unit);
    if (parent !== undefined && !reached(parent)) return false;
    // Inside a completed container, or an iteration of a loop: reached (skipped) with its container.
    if (parent !== undefined && (state.completed.has(parent) || unit.endsWith(']'))) return true;
    const container = parent === undefined ? pkg.root : pkg.stepsById.get(stepOfUnit(parent));
    const siblings: readonly Step[] | undefined = container !== undefined && 'steps' in container ? container.steps : undefined;
    const index = siblings?.findIndex((s) => s.id === stepOfUnit(unit)) ?? -1;
    // Not a step of this package's tree (an onError handler, a renamed step): keep the checkpoint's word.
    if (siblings === undefined || index < 0) return true;
    const step = siblings[index]!;
    const constraints: readonly Constraint[] = step.after ?? (index > 0 ? [{ step: siblings[index - 1]!.id, on: 'success' }] : []);
    if (constraints.length === 0) return true;
    const prefix = parent === undefined ? '' : `${parent}/`;
    const values = constraints.map((c) => {
      const record = state.completed.get(prefix + c.step);
      if (c.when !== undefined || record === undefined || !reached(prefix + c.step)) return undefined;
      return c.on === 'completion' || outcomeOf(record) === c.on;
    });
    return step.afterLogic === 'or' ? values.some((v) => v === true) : values.every((v) => v === true);
  };
  return reached;
}

/**
 * Reads a control-flow checkpoint's folded state as a restart point. Given the package, the
 * point is exact about precedence and transactions: completed steps that wait on a rerun are
 * not counted as skipped, and a transaction that failed and rolled back is named whole.
 */
export function restartPointOf(state: CheckpointState, pkg?: Package): RestartPoint {
  const reruns = rerunsOf(state);
  if (reruns.length === 0) return { ...pointOf(state, pkg), rerun: [] };
  // A completion (or loop cursor) older than a recorded --rerun of its step does not count: read
  // the checkpoint without them, then say why.
  const voided = [...state.completed.values()].filter((r) => voidedByRerun(reruns, r.unit, r.attempt)).map((r) => r.unit);
  const effective: CheckpointState = {
    ...state,
    completed: new Map([...state.completed].filter(([unit]) => !voided.includes(unit))),
    cursors: new Map([...state.cursors].filter(([unit, c]) => !voidedByRerun(reruns, unit, c.attempt))),
  };
  const point = pointOf(effective, pkg);
  const notes = reruns.map(
    (r) =>
      `--rerun ${r.requested.join(', ')} (attempt ${r.attempt}): ${r.steps.join(', ')} run again from there; what they recorded before attempt ${r.attempt} does not count`,
  );
  // Voided completions not since failed or started again (those are reported as such).
  const pending = voided.filter((u) => !state.failed.has(u) && !state.running.has(u));
  if (pending.length > 0) notes.push(`${pending.join(', ')} completed before a --rerun and ${pending.length > 1 ? 'run' : 'runs'} again`);
  const rest =
    effective.completed.size === 0 && point.failed.length === 0 && point.inFlight.length === 0 && state.scopes.size === 0 ? [] : point.explanation;
  return { ...point, rerun: voided, explanation: [...notes, ...rest] };
}

/** The restart point of a state whose completions all count. */
function pointOf(state: CheckpointState, pkg: Package | undefined): Omit<RestartPoint, 'rerun'> {
  const completed = [...state.completed.keys()].filter((u) => !/(^|\/)onError\//.test(u));
  const reached = pkg !== undefined ? certainlyReached(state, pkg) : () => true;
  const skipped = completed.filter((u) => reached(u));
  const reachedIfAgain = completed.filter((u) => !reached(u));
  const unfinished = [...state.failed.values()].filter((f) => !state.completed.has(f.unit) && !state.running.has(f.unit));
  const inside = (inner: string, outer: string) => inner !== outer && (inner.startsWith(`${outer}/`) || inner.startsWith(`${outer}[`));
  // A failed transaction was rolled back: everything in it reruns, so it is named, not its inner failure.
  const rolledBack =
    pkg === undefined ? [] : unfinished.filter((f) => pkg.stepsById.get(stepOfUnit(f.unit))?.transaction === 'required').map((f) => f.unit);
  const outermost = rolledBack.filter((u) => !rolledBack.some((outer) => inside(u, outer)));
  // A container fails because a unit inside it failed: name the innermost failure only.
  const failed = unfinished
    .filter((f) => !outermost.some((tx) => inside(f.unit, tx)))
    .filter((f) => outermost.includes(f.unit) || !unfinished.some((inner) => inside(inner.unit, f.unit)))
    .map((f) => ({ unit: f.unit, message: f.error.message, ...(outermost.includes(f.unit) && { rolledBack: true }) }));
  const inFlight = [...state.running.keys()];
  const openTransactions = [...state.scopes.values()].filter((s) => s.kind === 'transaction').map((s) => s.scope.replace(/@transaction$/, ''));
  const openLoops = [...state.scopes.values()].filter((s) => s.kind === 'loop').map((s) => s.scope.replace(/@loop$/, ''));
  const loopCursors = [...state.cursors.values()]
    .filter((c) => !state.completed.has(c.unit))
    .flatMap((c) => {
      const next = (c.cursor as { next?: unknown } | null)?.next;
      return typeof next === 'number' ? [{ loop: c.unit, next }] : [];
    });
  const explanation: string[] = [];
  if (openTransactions.length > 0)
    explanation.push(
      `a crash left ${openTransactions.join(', ')} open: ${openTransactions.length > 1 ? 'their rollbacks run' : 'its rollback runs'} first, then ${openTransactions.length > 1 ? 'they rerun' : 'it reruns'} whole`,
    );
  if (openLoops.length > 0)
    explanation.push(
      `${openLoops.join(', ')} ${openLoops.length > 1 ? 'were' : 'was'} interrupted and ${openLoops.length > 1 ? 'rerun' : 'reruns'} whole (no checkpointIterations)`,
    );
  if (skipped.length > 0) explanation.push(`${skipped.length} unit(s) completed are skipped`);
  for (const f of failed) {
    explanation.push(
      f.rolledBack ? `${f.unit} failed ("${f.message}"), was rolled back, and reruns whole` : `${f.unit} failed ("${f.message}") and runs again`,
    );
  }
  if (inFlight.length > 0)
    explanation.push(
      `${inFlight.join(', ')} ${inFlight.length > 1 ? 'were' : 'was'} running when the attempt stopped and run${inFlight.length > 1 ? '' : 's'} again`,
    );
  for (const c of loopCursors) explanation.push(`${c.loop} resumes at iteration ${c.next}`);
  if (reachedIfAgain.length > 0) {
    explanation.push(
      `${reachedIfAgain.join(', ')} completed on an earlier attempt after a step that runs again: skipped only if ${reachedIfAgain.length > 1 ? 'their' : 'its'} precedence constraints hold again`,
    );
  }
  if (explanation.length === 0) explanation.push('nothing is recorded yet: the next attempt starts from the beginning');
  return { skipped, reachedIfAgain, failed, inFlight, openTransactions, openLoops, loopCursors, explanation };
}
