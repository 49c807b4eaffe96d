import type { CheckpointState } from '@ckpt/core';
import { rerunsOf, voidedByRerun } from './rerun.js';

/** Where the next attempt of a package starts, and why (for `ckpt inspect` and the run view). */
export interface RestartPoint {
  /** Units the checkpoint has: the next attempt skips them. */
  readonly skipped: readonly string[];
  /** Units recorded failed: they run again, with the recorded error. */
  readonly failed: readonly { readonly unit: string; readonly message: string }[];
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

/** Reads a control-flow checkpoint's folded state as a restart point. */
export function restartPointOf(state: CheckpointState): RestartPoint {
  const reruns = rerunsOf(state);
  // A completion older than a recorded --rerun of its step does not count (the step reruns).
  const done = (unit: string) => {
    const record = state.completed.get(unit);
    return record !== undefined && !voidedByRerun(reruns, unit, record.attempt);
  };
  const skipped = [...state.completed.keys()].filter((u) => done(u) && !/(^|\/)onError\//.test(u));
  const voided = [...state.completed.keys()].filter((u) => !done(u));
  // Voided completions not since failed or started again (those are reported as such).
  const pending = voided.filter((u) => !state.failed.has(u) && !state.running.has(u));
  const unfinished = [...state.failed.values()].filter((f) => !done(f.unit) && !state.running.has(f.unit));
  // A container fails because a unit inside it failed: name the innermost failure only.
  const failed = unfinished
    .filter((f) => !unfinished.some((inner) => inner.unit !== f.unit && (inner.unit.startsWith(`${f.unit}/`) || inner.unit.startsWith(`${f.unit}[`))))
    .map((f) => ({ unit: f.unit, message: f.error.message }));
  const inFlight = [...state.running.keys()];
  const openTransactions = [...state.scopes.values()].filter((s) => s.kind === 'transaction').map((s) => s.scope.replace(/@transaction$/, ''));
  const openLoops = [...state.scopes.values()].filter((s) => s.kind === 'loop').map((s) => s.scope.replace(/@loop$/, ''));
  const loopCursors = [...state.cursors.values()].filter((c) => !done(c.unit) && !voidedByRerun(reruns, c.unit, c.attempt)).flatMap((c) => {
    const next = (c.cursor as { next?: unknown } | null)?.next;
    return typeof next === 'number' ? [{ loop: c.unit, next }] : [];
  });
  const explanation: string[] = [];
  if (openTransactions.length > 0) explanation.push(`a crash left ${openTransactions.join(', ')} open: ${openTransactions.length > 1 ? 'their rollbacks run' : 'its rollback runs'} first, then ${openTransactions.length > 1 ? 'they rerun' : 'it reruns'} whole`);
  if (openLoops.length > 0) explanation.push(`${openLoops.join(', ')} ${openLoops.length > 1 ? 'were' : 'was'} interrupted and ${openLoops.length > 1 ? 'rerun' : 'reruns'} whole (no checkpointIterations)`);
  for (const r of reruns) {
    explanation.push(`--rerun ${r.requested.join(', ')} (attempt ${r.attempt}): ${r.steps.join(', ')} run again from there; what they recorded before attempt ${r.attempt} does not count`);
  }
  if (pending.length > 0) explanation.push(`${pending.join(', ')} completed before a --rerun and ${pending.length > 1 ? 'run' : 'runs'} again`);
  if (skipped.length > 0) explanation.push(`${skipped.length} unit(s) completed are skipped`);
  for (const f of failed) explanation.push(`${f.unit} failed ("${f.message}") and runs again`);
  if (inFlight.length > 0) explanation.push(`${inFlight.join(', ')} ${inFlight.length > 1 ? 'were' : 'was'} running when the attempt stopped and run${inFlight.length > 1 ? '' : 's'} again`);
  for (const c of loopCursors) explanation.push(`${c.loop} resumes at iteration ${c.next}`);
  if (explanation.length === 0) explanation.push('nothing is recorded yet: the next attempt starts from the beginning');
  return { skipped, rerun: voided, failed, inFlight, openTransactions, openLoops, loopCursors, explanation };
}
