import type { PlainValue } from '@ckpt/core';
import type { Attempt } from './attempt.js';
import { decide } from './decide.js';
import { lastLines, runProcess } from './exec-process.js';
import { expandTemplate } from './expression.js';
import { message, topFrame, type Frame } from './frame.js';
import type { RollbackAction } from './model.js';
import { recordedGroupsOf, takeOverGroups } from './process-groups.js';
import { restartPointOf } from './restart-point.js';
import { CONTROL_FLOW_NAMESPACE, rerunSelection, rerunsOf, stepOfUnit, type RerunRecord } from './rerun.js';
import type { Tasks } from './tasks.js';

/**
 * The start of an attempt: configuration (captured once), variables, the `--rerun` record, and
 * what a crash left behind — process groups still running, transactions left open (rolled back
 * innermost first, then aborted) — all before any step runs.
 */
export async function startAttempt(a: Attempt, tasks: Tasks): Promise<void> {
  const { startState } = a.ctx;
  const supplied: Record<string, PlainValue> = { ...a.pkg.config, ...(a.job.config ?? {}) };
  if (startState.config === undefined) {
    a.vars.config = supplied;
    a.emit({ type: 'config-captured', config: supplied });
  } else {
    a.vars.config = startState.config;
    const keys = new Set([...Object.keys(supplied), ...Object.keys(startState.config)]);
    const differ = [...keys].filter((k) => JSON.stringify(supplied[k]) !== JSON.stringify(startState.config![k])).sort();
    if (differ.length > 0) {
      a.notify({
        kind: 'warning',
        message: `configuration differs from the values captured on the first attempt for ${differ.join(', ')}; the captured values are used (as SSIS does). Delete the checkpoint to start over with the new values.`,
      });
    }
  }

  // Variables: declared values, --set on a fresh start, the checkpoint's values on restart.
  a.emit(...a.vars.seed(a.job.set ?? {}, a.ctx));

  let reruns = rerunsOf(startState);
  const requested = [...new Set(a.job.rerun ?? [])];
  if (requested.length > 0 && !a.ctx.resumed) {
    a.notify({
      kind: 'warning',
      message: `--rerun ${requested.join(', ')}: this run does not restart from a checkpoint (there is none, or usage is never), so every step runs anyway`,
    });
  } else if (requested.length > 0) {
    // Recorded before any step runs: `ckpt inspect` says why these steps ran again, and a
    // later restart still reruns what this attempt did not get to.
    const steps = rerunSelection(a.pkg, requested);
    const record: RerunRecord = { attempt: a.ctx.attempt, requested, steps };
    reruns = [...reruns, record];
    a.emit({ type: 'control-flow/rerun', attempt: record.attempt, requested: [...requested], steps: [...steps] });
  }
  a.restart = { completed: startState.completed, cursors: startState.cursors, scopes: startState.scopes, reruns };
  if (a.ctx.resumed) {
    // The summary counts only what this attempt will skip, read against the package, and as
    // the checkpoint reads once this attempt's --rerun is recorded.
    const point = restartPointOf({ ...startState, extensions: new Map(startState.extensions).set(CONTROL_FLOW_NAMESPACE, { reruns }) }, a.pkg);
    a.notify({
      kind: 'resuming',
      attempt: a.ctx.attempt,
      completed: point.skipped,
      failed: point.failed.map((f) => f.unit),
      inFlight: point.inFlight,
      openScopes: [...startState.scopes.keys()],
      explanation: point.explanation,
    });
    await settleProcessGroups(a);
  }
  for (const decision of decide(a.restart, { type: 'attempt-started' })) {
    if (decision.type === 'roll-back') {
      const step = a.pkg.stepsById.get(decision.stepId);
      a.notify({ kind: 'rollback', scope: decision.scope, step: step?.id ?? decision.scope, reason: 'left-open' });
      if (step?.rollback) await runRollback(a, tasks, step.rollback, decision.unit, topFrame(true));
    } else a.emit({ type: 'scope-aborted', scope: decision.scope, reason: decision.reason });
  }
  if (startState.scopes.size > 0) await a.ctx.durable();
}

/**
 * A task an earlier attempt started and never saw end may still run (its ckpt was killed
 * with -9): stop it before anything reruns, so a step never runs twice at once.
 */
async function settleProcessGroups(a: Attempt): Promise<void> {
  const settled = await takeOverGroups(recordedGroupsOf(a.ctx.startState), {
    warn: (message) => a.notify({ kind: 'warning', message }),
    record: (event) => a.emit(event),
  });
  if (settled > 0) await a.ctx.durable();
}

/** Runs a transaction's rollback; a rollback that fails is a warning (the scope is aborted anyway). */
export async function runRollback(a: Attempt, tasks: Tasks, action: RollbackAction, unit: string, frame: Frame): Promise<void> {
  try {
    if (action.kind === 'exec') {
      const argv = action.argv.map((arg) => expandTemplate(arg, a.vars.scope(frame)));
      const result = await runProcess(argv, { cwd: a.pkg.baseDir, env: tasks.environment(frame, undefined), signal: new AbortController().signal });
      if (result.code !== 0) throw new Error(`rollback command exited with ${result.code ?? result.signal}: ${lastLines(result.stderrTail, 3)}`);
    } else {
      await action.run(tasks.taskContext(unit, stepOfUnit(unit), frame, new AbortController().signal, []));
    }
  } catch (error) {
    a.notify({ kind: 'warning', message: `rollback of ${unit} failed: ${message(error)}` });
  }
}
