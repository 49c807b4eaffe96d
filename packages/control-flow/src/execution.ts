import { isCkptError, type CkptEvent, type PlainValue, type RunContext, type RunnerEmitter, type VariableSet } from '@ckpt/core';
import { Attempt } from './attempt.js';
import { decide, type ChildStatus, type Siblings } from './decide.js';
import { PackageFailedError } from './errors.js';
import { evaluateCondition, type Expr } from './expression.js';
import { childFrame, message, own, topFrame, type Frame, type StepRun } from './frame.js';
import { runLoop } from './loops.js';
import { isContainer, MAX_RETRY_WAIT_MS, type ContainerStep, type Step } from './model.js';
import type { RunNotice } from './notices.js';
import { runRollback, startAttempt } from './resume.js';
import type { PackageRun } from './runner.js';
import type { TaskPlugin } from './task-context.js';
import { Tasks } from './tasks.js';
import { inScope } from './variables.js';

/**
 * One attempt of one package: the container walk (precedence, checkpoint skips, transactions,
 * retries, forceResult, onError handlers). What to decide is {@link decide}'s; this carries it out.
 */
export class PackageExecution {
  private readonly a: Attempt;
  private readonly tasks: Tasks;

  constructor(job: PackageRun, ctx: RunContext, plugins: ReadonlyMap<string, TaskPlugin>, emitter: RunnerEmitter<RunNotice>) {
    this.a = new Attempt(job, ctx, emitter);
    this.tasks = new Tasks(this.a, plugins);
  }

  /** `error` with every known sensitive value masked (what a run ends with). */
  masked(error: unknown): unknown {
    return this.a.out.error(error);
  }

  /** Runs the attempt; throws PackageFailedError (masked by {@link masked}) or the interruption. */
  async execute(): Promise<void> {
    const { a } = this;
    try {
      await startAttempt(a, this.tasks);
      const frame = topFrame();
      const root = a.pkg.root;
      const rootFrame: Frame = root.onError.length > 0 ? { ...frame, handlers: [{ container: root, unit: '', frame }] } : frame;
      const result = await this.runChildren(root, root.steps, rootFrame);
      a.stopIfInterrupted();
      if (result.outcome === 'failure' || a.packageFailed) {
        const failures = a.failures.length > 0 ? a.failures : [{ unit: a.pkg.id, message: result.error ?? 'failed' }];
        throw new PackageFailedError(
          a.pkg.id,
          failures.map((f) => ({ unit: f.unit, message: a.out.text(f.message) })),
        );
      }
    } finally {
      await this.tasks.cleanUp();
    }
  }

  /** Runs a container's children by their precedence constraints. */
  private async runChildren(container: ContainerStep, steps: readonly Step[], frame: Frame): Promise<StepRun> {
    const { a } = this;
    const status: ChildStatus[] = steps.map(() => 'pending');
    const running = new Map<number, Promise<void>>();
    const limit = container.maxConcurrent ?? Number.POSITIVE_INFINITY;
    let errors = 0;
    let failParent = false;
    let interruption: unknown;
    const messages: string[] = [];
    // A live view: a step's failure is judged with the counts as they are when it ends.
    const siblings: Siblings = {
      steps,
      status,
      get errors() {
        return errors;
      },
      maximumErrorCount: container.maximumErrorCount,
      get failParent() {
        return failParent;
      },
    };
    const holds = (when: Expr) => evaluateCondition(when, a.vars.scope(frame));
    const stopping = () => a.interrupted() || a.packageFailed || failParent || interruption !== undefined;

    for (;;) {
      let progressed = false;
      if (!stopping()) {
        for (let i = 0; i < steps.length && running.size < limit; i++) {
          if (status[i] !== 'pending') continue;
          let decision: 'run' | 'skip' | 'wait';
          try {
            decision = decide(a.restart, { type: 'step-ready', siblings, index: i, holds }).type;
          } catch (error) {
            // A `when` that cannot be evaluated fails the step it guards.
            status[i] = 'failure';
            errors++;
            messages.push(`${steps[i]!.id}: precedence expression: ${message(error)}`);
            a.failures.push({ unit: frame.prefix + steps[i]!.id, message: `precedence expression: ${message(error)}` });
            progressed = true;
            continue;
          }
          if (decision === 'skip') {
            status[i] = 'skipped';
            a.notify({ kind: 'step-skipped', unit: frame.prefix + steps[i]!.id, step: steps[i]!.id, reason: 'precedence' });
            progressed = true;
          } else if (decision === 'run') {
            status[i] = 'running';
            progressed = true;
            const step = steps[i]!;
            // Whether a failure of this step, when it ends, is handled (its failure path runs, the container survives).
            const handled = () =>
              decide(a.restart, { type: 'step-failed', siblings, index: i, packageFailed: a.packageFailed, ephemeral: frame.ephemeral }).handled;
            const promise = this.runStep(step, frame, handled).then(
              (outcome) => {
                status[i] = outcome.outcome;
                if (outcome.outcome === 'failure') {
                  errors++;
                  if (outcome.error) messages.push(`${step.id}: ${outcome.error}`);
                  if (step.failParentOnFailure) failParent = true;
                  if (step.failPackageOnFailure) a.packageFailed = true;
                }
              },
              (error: unknown) => {
                status[i] = 'stopped';
                interruption ??= error;
              },
            );
            running.set(
              i,
              promise.finally(() => running.delete(i)),
            );
          }
        }
      }
      if (running.size > 0) await Promise.race(running.values());
      else if (!progressed) break;
    }
    if (interruption !== undefined) throw interruption;
    a.stopIfInterrupted();
    const ended = decide(a.restart, { type: 'children-settled', siblings, messages });
    return ended.outcome === 'success' ? { outcome: 'success' } : { outcome: 'failure', error: ended.error };
  }

  /** Runs one step (task or container), honouring the checkpoint, its transaction and forceResult. */
  private async runStep(step: Step, frame: Frame, failureHandled: () => boolean): Promise<StepRun> {
    const { a } = this;
    const unit = frame.prefix + step.id;
    const reached = decide(a.restart, { type: 'unit-reached', unit, ephemeral: frame.ephemeral });
    if (reached.type === 'skip') {
      a.notify({ kind: 'step-skipped', unit, step: step.id, reason: 'checkpoint', result: reached.outcome });
      return { outcome: reached.outcome };
    }
    a.stopIfInterrupted();
    const outerScope = frame.scopes.at(-1)?.id;
    let inner = frame;
    let transaction: string | undefined;
    if (step.transaction === 'required' && !frame.scopes.some((s) => s.kind === 'transaction')) {
      transaction = `${unit}@transaction`;
      inner = a.openScope(transaction, 'transaction', frame);
    } else if (step.transaction === 'not-supported') {
      const first = frame.scopes.findIndex((s) => s.kind === 'transaction');
      if (first >= 0) inner = { ...frame, scopes: frame.scopes.slice(0, first) };
    }
    // The step's own events belong to the scope around it (its own transaction commits first).
    const recordScope = transaction !== undefined ? outerScope : inner.scopes.at(-1)?.id;
    const scopeField = recordScope !== undefined ? { scope: recordScope } : {};
    a.emit({ type: 'unit-started', unit, ...scopeField });
    a.notify({ kind: 'step-started', unit, step: step.id });
    const started = a.ctx.now();
    let run: StepRun;
    let vars: VariableSet[] = [];
    try {
      if (isContainer(step)) run = await this.runContainer(step, unit, inner);
      else {
        let task = await this.tasks.run(step, unit, inner);
        const retry = step.kind === 'exec' ? step.retry : undefined;
        // A package that is failing (failPackageOnFailure elsewhere) starts nothing new, retries included.
        for (let n = 1; retry !== undefined && task.run.outcome === 'failure' && !a.packageFailed && n <= retry.attempts; n++) {
          const waitMs = Math.min(MAX_RETRY_WAIT_MS, Math.round(retry.waitMs * retry.backoff ** (n - 1)));
          // Durable before the wait: a crash during it shows how far the retries got.
          a.emit({ type: 'control-flow/retry', unit, step: step.id, retry: n, of: retry.attempts, waitMs, error: task.run.error ?? 'failed' });
          await a.ctx.durable();
          await a.pause(waitMs);
          task = await this.tasks.run(step, unit, inner);
        }
        run = task.run;
        vars = task.vars;
      }
    } catch (error) {
      if (a.interrupted() || isCkptError(error, 'interrupted')) throw error;
      run = { outcome: 'failure', error: message(error) };
    }
    const forced = own(a.job.forceResults, step.id) ?? step.forceResult;
    if (forced !== undefined)
      run = { ...run, outcome: forced, ...(forced === 'failure' && { error: run.error ?? `forced to fail (forceResult: failure)` }) };
    // Variables a task set count once its success is recorded.
    if (run.outcome === 'failure') vars = [];

    const record: CkptEvent[] = [];
    // Recorded in the scope they were set in (the step's own transaction, if it opened one).
    const placed = inScope(vars, inner);
    let handled = false;
    if (run.outcome === 'failure') {
      handled = failureHandled();
      if (transaction !== undefined) {
        a.notify({ kind: 'rollback', scope: transaction, step: step.id, reason: 'failed' });
        if (step.rollback) await runRollback(a, this.tasks, step.rollback, unit, frame);
        record.push(...(run.closing ?? []), { type: 'scope-aborted', scope: transaction, reason: 'a step failed' });
      } else record.push(...(run.closing ?? []));
      if (handled) record.push({ type: 'unit-completed', unit, outcome: 'failure', ...scopeField });
      else record.push({ type: 'unit-failed', unit, error: { message: run.error ?? 'failed' }, ...scopeField });
      // Report where a failure started: a container's failure is listed only when none of its steps' is.
      const inside = (f: { unit: string }) => f.unit.startsWith(`${unit}/`) || f.unit.startsWith(`${unit}[`);
      if (!handled && !frame.ephemeral && !(isContainer(step) && a.failures.some(inside))) a.failures.push({ unit, message: run.error ?? 'failed' });
    } else {
      record.push(...(run.closing ?? []), ...placed);
      if (transaction !== undefined) record.push({ type: 'scope-committed', scope: transaction });
      const result: PlainValue | undefined = run.outcome === 'completion' ? { result: 'completion' } : run.result;
      record.push({ type: 'unit-completed', unit, outcome: 'success', ...scopeField, ...(result !== undefined && { result }) });
    }
    a.emit(...record);
    await a.ctx.durable();
    a.notify({
      kind: 'step-finished',
      unit,
      step: step.id,
      result: run.outcome,
      durationMs: a.ctx.now() - started,
      recorded: run.outcome === 'failure' && !handled ? 'failed' : 'completed',
      ...(run.error !== undefined && run.outcome === 'failure' && { error: run.error }),
      ...(forced !== undefined && { forced: true }),
    });
    if (run.outcome === 'failure' && !isContainer(step)) await this.fireHandlers(unit, run.error ?? 'failed', frame);
    return run;
  }

  /** SSIS OnError: the nearest container with an `onError` handler runs it, each time a task fails. */
  private async fireHandlers(failedUnit: string, error: string, frame: Frame): Promise<void> {
    const handler = frame.handlers.at(-1);
    if (handler === undefined || frame.ephemeral) return;
    const prefix = `${handler.unit === '' ? '' : `${handler.unit}/`}onError/`;
    this.a.notify({ kind: 'handler', container: handler.unit || this.a.pkg.id, failedUnit });
    const locals = new Map(handler.frame.locals);
    locals.set('failedStep', failedUnit);
    locals.set('errorMessage', error);
    const handlerFrame: Frame = { prefix, scopes: [], locals, ephemeral: true, handlers: [] };
    await this.runChildren({ ...handler.container, maximumErrorCount: Number.MAX_SAFE_INTEGER }, handler.container.onError, handlerFrame);
  }

  private async runContainer(step: ContainerStep, unit: string, frame: Frame): Promise<StepRun> {
    if (step.kind === 'sequence') return this.runChildren(step, step.steps, childFrame(step, unit, frame, `${unit}/`, frame.scopes, frame.locals));
    return runLoop(this.a, step, unit, frame, (container, steps, inner) => this.runChildren(container, steps, inner));
  }
}
