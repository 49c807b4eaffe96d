import type { PlainValue, VariableSet } from '@ckpt/core';
import type { Attempt } from './attempt.js';
import { decide } from './decide.js';
import { evaluate, evaluateCondition, expandTemplate, type Assignment, type ExprValue } from './expression.js';
import { childFrame, message, type Frame, type RunChildren, type StepRun } from './frame.js';
import { matchFiles } from './glob.js';
import type { ForEachStep, ForStep } from './model.js';
import { inScope } from './variables.js';

function applyAssignment(a: Attempt, assignment: Assignment, frame: Frame, where: string): VariableSet | undefined {
  const value = evaluate(assignment.value, a.vars.scope(frame));
  return a.vars.assign(assignment.name, value, where);
}

/**
 * forEach and for: atomic (a loop scope that reruns whole) unless checkpointIterations, which
 * records each iteration and a cursor `{ next }` in one record and resumes at the first
 * unfinished iteration.
 */
export async function runLoop(a: Attempt, step: ForEachStep | ForStep, unit: string, frame: Frame, runChildren: RunChildren): Promise<StepRun> {
  const atomic = !step.checkpointIterations;
  const loopScope = `${unit}@loop`;
  const loopFrame = atomic ? a.openScope(loopScope, 'loop', frame) : frame;
  const scope = a.vars.scope(frame);
  const start = decide(a.restart, { type: 'loop-reached', unit, checkpointIterations: !atomic, ephemeral: frame.ephemeral });

  let items: readonly PlainValue[] = [];
  if (step.kind === 'forEach') {
    items =
      step.source.kind === 'items'
        ? step.source.items.map((item) => (typeof item === 'string' ? expandTemplate(item, scope) : item))
        : await matchFiles(a.pkg.baseDir, expandTemplate(step.source.glob, scope));
  } else if (start.init) {
    const events = step.init
      .map((assignment) => applyAssignment(a, assignment, frame, `${step.path}.for.init`))
      .filter((e): e is VariableSet => e !== undefined);
    if (events.length > 0) a.emit(...inScope(events, loopFrame));
  }

  const fail = (error: string): StepRun => {
    if (atomic) a.emit({ type: 'scope-aborted', scope: loopScope, reason: 'an iteration failed; the loop reruns whole' });
    return { outcome: 'failure', error };
  };
  for (let i = 0; i < start.at; i++)
    a.notify({ kind: 'step-skipped', unit: `${unit}[${i}]`, step: step.id, reason: 'checkpoint', result: 'success' });
  for (let i = start.at; ; i++) {
    a.stopIfInterrupted();
    if (step.kind === 'forEach') {
      if (i >= items.length) break;
    } else {
      if (i > 1_000_000) return fail(`${step.id}: more than 1,000,000 iterations; check the while expression "${step.source.while}"`);
      let go: boolean;
      try {
        go = evaluateCondition(step.while, a.vars.scope(frame));
      } catch (error) {
        return fail(`for.while: ${message(error)}`);
      }
      if (!go) break;
    }
    const iterationUnit = `${unit}[${i}]`;
    const locals = new Map(frame.locals);
    if (step.kind === 'forEach') {
      const item = items[i]!;
      locals.set(step.as, typeof item === 'object' && item !== null ? JSON.stringify(item) : (item as ExprValue));
      locals.set(`${step.as}Index`, i);
    }
    // An atomic loop's iterations are not restart units: they always run.
    const reached = atomic
      ? ({ type: 'run' } as const)
      : decide(a.restart, { type: 'unit-reached', unit: iterationUnit, ephemeral: frame.ephemeral });
    if (reached.type === 'run') {
      const iterationFrame = childFrame(step, unit, loopFrame, `${iterationUnit}/`, loopFrame.scopes, locals);
      const scopeField = loopFrame.scopes.at(-1) !== undefined ? { scope: loopFrame.scopes.at(-1)!.id } : {};
      if (!atomic) a.emit({ type: 'unit-started', unit: iterationUnit, ...scopeField });
      const result = await runChildren(step, step.steps, iterationFrame);
      if (result.outcome === 'failure') {
        if (!atomic) a.emit({ type: 'unit-failed', unit: iterationUnit, error: { message: result.error ?? 'failed' }, ...scopeField });
        return fail(`iteration ${i}: ${result.error ?? 'failed'}`);
      }
      let nextEvents: VariableSet[] = [];
      if (step.kind === 'for') {
        try {
          nextEvents = step.next
            .map((assignment) => applyAssignment(a, assignment, frame, `${step.path}.for.next`))
            .filter((e): e is VariableSet => e !== undefined);
        } catch (error) {
          return fail(`for.next: ${message(error)}`);
        }
      }
      const placed = inScope(nextEvents, loopFrame);
      if (!atomic) {
        // The iteration, the loop variables after `next` and the cursor land in one record.
        a.emit({ type: 'unit-completed', unit: iterationUnit, outcome: 'success', ...scopeField }, ...placed, {
          type: 'cursor-set',
          unit,
          cursor: { next: i + 1 },
          ...scopeField,
        });
        await a.ctx.durable();
      } else if (placed.length > 0) a.emit(...placed);
    } else {
      a.notify({ kind: 'step-skipped', unit: iterationUnit, step: step.id, reason: 'checkpoint', result: 'success' });
      // A for loop's variables were restored from the checkpoint; nothing to redo.
    }
  }
  return atomic ? { outcome: 'success', closing: [{ type: 'scope-committed', scope: loopScope }] } : { outcome: 'success' };
}
