import { availableParallelism, hostname, tmpdir } from 'node:os';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  InterruptedError,
  InvalidInputError,
  createIdentity,
  isCkptError,
  type CkptEvent,
  type CompletedUnit,
  type ExtensionReducer,
  type JobIdentity,
  type PlainValue,
  type ResumeCheck,
  type RunContext,
  type Runner,
  type EventEmission,
  type VariableSet,
} from '@ckpt/core';
import { formatDuration } from '@ckpt/core/internal';
import { Observable } from 'rxjs';
import { coerceText, structureOf, typeProblem } from './compile.js';
import { PackageFailedError } from './errors.js';
import { lastLines, runProcess } from './exec-process.js';
import { evaluate, evaluateCondition, expandTemplate, type Assignment, type ExprScope, type ExprValue } from './expression.js';
import { matchFiles } from './glob.js';
import { processReducer, recordedGroupsOf, takeOverGroups } from './process-groups.js';
import { restartPointOf } from './restart-point.js';
import { CONTROL_FLOW_NAMESPACE, controlFlowReducer, rerunSelection, rerunsOf, voidedByRerun, type RerunRecord } from './rerun.js';
import { SecretMask } from './secret-mask.js';
import {
  isContainer,
  type Constraint,
  type ContainerStep,
  type ForEachStep,
  type ForStep,
  MAX_RETRY_WAIT_MS,
  type Package,
  type RollbackAction,
  type Step,
  type StepResult,
  type TaskStep,
  type VariableType,
} from './model.js';
import type { TaskContext, TaskPlugin } from './task-context.js';

/** What the runner reports for the run view (not recorded; sensitive values never appear). */
export type RunNotice =
  | {
      readonly type: 'resuming';
      readonly attempt: number;
      /** Completed units this attempt skips ({@link restartPointOf}). */
      readonly completed: readonly string[];
      /** Failed units that run again (a rolled-back transaction whole, not its inner failure). */
      readonly failed: readonly string[];
      readonly inFlight: readonly string[];
      readonly openScopes: readonly string[];
      /** Where this attempt starts and why, one sentence per reason ({@link restartPointOf}). */
      readonly explanation: readonly string[];
    }
  | { readonly type: 'step-started'; readonly unit: string; readonly step: string }
  | { readonly type: 'step-finished'; readonly unit: string; readonly step: string; readonly result: StepResult; readonly durationMs: number; readonly recorded: 'completed' | 'failed'; readonly error?: string; readonly forced?: boolean }
  | { readonly type: 'step-skipped'; readonly unit: string; readonly step: string; readonly reason: 'checkpoint' | 'precedence'; readonly result?: StepResult }
  | { readonly type: 'variable'; readonly name: string; readonly value?: PlainValue; readonly redacted?: boolean }
  /** An event handed to the engine to record (sensitive values already replaced by `redacted`). */
  | { readonly type: 'recorded'; readonly event: CkptEvent }
  | { readonly type: 'rollback'; readonly scope: string; readonly step: string; readonly reason: 'failed' | 'left-open' }
  | { readonly type: 'handler'; readonly container: string; readonly failedUnit: string }
  | { readonly type: 'output'; readonly unit: string; readonly stream: 'stdout' | 'stderr'; readonly line: string }
  | { readonly type: 'warning'; readonly message: string };

/** One run of a package: the package plus what the command line supplies. */
export interface PackageRun {
  readonly package: Package;
  /** `--config KEY=VALUE`: over the file's config; ignored (with a warning) once captured. */
  readonly config?: { readonly [key: string]: string };
  /** `--set NAME=VALUE`: starting values; on restart the checkpoint's values win (with a warning). */
  readonly set?: { readonly [name: string]: string };
  /** `--force-result STEP=...`: over the steps' own forceResult. */
  readonly forceResults?: { readonly [step: string]: StepResult };
  /**
   * `--rerun STEP`: on restart, these completed steps run again with everything after them
   * ({@link rerunSelection}); recorded as `control-flow/rerun`. Ids must exist (the CLI checks).
   */
  readonly rerun?: readonly string[];
  /** Receives the run view's notices. */
  readonly observe?: (notice: RunNotice) => void;
}

/** Options of the runner: task plug-ins (`copy`). */
export interface ControlFlowRunnerOptions {
  readonly plugins?: readonly TaskPlugin[];
}

const KIND = 'control-flow';

/**
 * Runs control-flow packages with SSIS checkpoint semantics. The task is the smallest restart
 * unit; transactions and loops without `checkpointIterations` are atomic scopes.
 */
export class ControlFlowRunner implements Runner<PackageRun> {
  readonly kind = KIND;
  readonly reducers: readonly ExtensionReducer[];
  private readonly plugins: ReadonlyMap<string, TaskPlugin>;

  constructor(options: ControlFlowRunnerOptions = {}) {
    this.plugins = new Map((options.plugins ?? []).map((p) => [p.kind, p]));
    this.reducers = [processReducer, controlFlowReducer, ...(options.plugins ?? []).flatMap((p) => p.reducers ?? [])];
  }

  /** Refuses, before anything is written, a restart that needs a value the checkpoint cannot give back. */
  check(job: PackageRun, checkpoint: ResumeCheck): void {
    for (const [name, revealed] of checkpoint.variables) {
      if (revealed.status !== 'known' && own(job.set, name) === undefined) throw unrecoverableVariable(name, revealed.reason);
    }
  }

  /** The package's identity: id, version and step structure. */
  identify(job: PackageRun): JobIdentity {
    return createIdentity({ kind: KIND, id: job.package.id, version: job.package.version, structure: structureOf(job.package) });
  }

  run(job: PackageRun, context: RunContext): Observable<EventEmission> {
    return new Observable<EventEmission>((subscriber) => {
      const execution = new PackageExecution(job, context, this.plugins, (events) => subscriber.next(events));
      execution.execute().then(
        () => subscriber.complete(),
        // The error becomes the attempt-ended record and the CLI's last line: masked like the rest.
        (error: unknown) => subscriber.error(execution.masked(error)),
      );
      return () => execution.cancel();
    });
  }
}

/** How a step ended, as its constraints see it. */
type Outcome = StepResult;

interface ScopeFrame {
  readonly id: string;
  readonly kind: 'transaction' | 'loop';
}

interface Frame {
  /** Prefix of the unit ids of the steps run in this frame (`seq/`, `loop[2]/`). */
  readonly prefix: string;
  readonly scopes: readonly ScopeFrame[];
  readonly locals: ReadonlyMap<string, ExprValue>;
  /** Event-handler runs ignore the checkpoint: they fire again when the failure happens again. */
  readonly ephemeral: boolean;
  /** Containers with onError handlers, outermost first. */
  readonly handlers: readonly { readonly container: ContainerStep; readonly unit: string; readonly frame: Frame }[];
}

interface StepRun {
  readonly outcome: Outcome;
  readonly error?: string;
  /** Events that must land with the step's completion (a loop scope's commit). */
  readonly closing?: readonly CkptEvent[];
  readonly result?: PlainValue;
}

interface ChildrenControl {
  /** Whether a failure of `step` now would be handled (its failure path runs, the container survives). */
  handles(step: Step): boolean;
}

interface Variable {
  value: ExprValue | unknown;
  readonly type: VariableType;
  readonly sensitive: boolean;
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    return () => {
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

function unitStepId(scopeOrUnit: string): string {
  const unit = scopeOrUnit.replace(/@(transaction|loop)$/, '');
  return unit.slice(unit.lastIndexOf('/') + 1).replace(/\[\d+\]$/, '');
}

function outcomeOf(record: CompletedUnit): Outcome {
  const forced = (record.result as { result?: unknown } | undefined)?.result;
  if (forced === 'completion') return 'completion';
  return record.outcome;
}

function matches(outcome: Outcome, on: StepResult): boolean {
  return on === 'completion' ? true : outcome === on;
}

/** `record[key]` when it is the record's own property: a step or variable named `constructor` or `toString` must not find Object.prototype's. */
function own<T>(record: { readonly [key: string]: T } | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** One attempt of one package. */
class PackageExecution {
  private readonly pkg: Package;
  private readonly vars = new Map<string, Variable>();
  private config: { readonly [key: string]: PlainValue } = {};
  private readonly internal = new AbortController();
  private readonly signal: AbortSignal;
  private readonly tasks: Semaphore;
  /** Variable events set inside an open scope, held back until it commits (dropped if it aborts). */
  private readonly buffers = new Map<string, { events: VariableSet[] }>();
  private packageFailed = false;
  private readonly failures: { unit: string; message: string }[] = [];
  private outputDir: string | undefined;
  private outputCount = 0;
  /** Every value a sensitive variable held in this run: masked in all that is recorded or shown. */
  private readonly secrets = new SecretMask();
  /** Recorded `--rerun`s, this attempt's included: completions older than one of them do not count. */
  private reruns: readonly RerunRecord[] = [];

  constructor(
    private readonly job: PackageRun,
    private readonly ctx: RunContext,
    private readonly plugins: ReadonlyMap<string, TaskPlugin>,
    private readonly emitRaw: (events: readonly CkptEvent[]) => void,
  ) {
    this.pkg = job.package;
    for (const [name, decl] of this.pkg.variables) {
      if (!decl.sensitive) continue;
      this.secrets.add(decl.value);
      this.secrets.add(own(job.set, name));
    }
    this.signal = AbortSignal.any([ctx.signal, this.internal.signal]);
    this.tasks = new Semaphore(this.pkg.root.maxConcurrent ?? availableParallelism() + 2);
  }

  cancel(): void {
    this.internal.abort();
  }

  /** Registers the current value of every sensitive variable with the mask (values change during a run). */
  private knowSecrets(): void {
    for (const v of this.vars.values()) if (v.sensitive) this.secrets.add(v.value);
  }

  /** `error` with every known sensitive value masked (what a run ends with). */
  masked(error: unknown): unknown {
    this.knowSecrets();
    return this.secrets.error(error);
  }

  private observe(notice: RunNotice): void {
    if (this.job.observe === undefined) return;
    try {
      this.knowSecrets();
      this.job.observe(this.secrets.notice(notice));
    } catch {
      // A broken view must not break the run.
    }
  }

  private emit(...events: CkptEvent[]): void {
    if (events.length === 0) return;
    // The one door to the log: sensitive values in error texts, results and cursors are masked here.
    this.knowSecrets();
    events = events.map((event) => this.secrets.event(event));
    this.emitRaw(events);
    if (this.job.observe === undefined) return;
    for (const event of events) {
      if (event.type === 'variable-set' && event.sensitive) {
        const { value: _value, ...rest } = event;
        this.observe({ type: 'recorded', event: { ...rest, redacted: true } });
      } else this.observe({ type: 'recorded', event });
    }
  }

  private interrupted(): boolean {
    return this.signal.aborted;
  }

  private exprScope(frame: Frame): ExprScope {
    return {
      vars: (name) => {
        if (frame.locals.has(name)) return frame.locals.get(name);
        const v = this.vars.get(name);
        if (v === undefined) return undefined;
        return v.type === 'object' ? (v.value === undefined ? null : String(v.value)) : (v.value as ExprValue);
      },
      config: (key) => {
        // Own keys only: `config.constructor` must not reach Object.prototype.
        const value = own(this.config, key);
        return value === undefined ? undefined : typeof value === 'object' && value !== null ? JSON.stringify(value) : (value as ExprValue);
      },
    };
  }

  /** The checkpoint's completion of `unit`, unless a later `--rerun` voided it. */
  private completedAt(unit: string): CompletedUnit | undefined {
    const record = this.ctx.startState.completed.get(unit);
    return record !== undefined && !voidedByRerun(this.reruns, unit, record.attempt) ? record : undefined;
  }

  /** The checkpoint's cursor of `unit`, unless a later `--rerun` voided it (the unit starts over). */
  private cursorAt(unit: string): PlainValue | undefined {
    const record = this.ctx.startState.cursors.get(unit);
    return record !== undefined && !voidedByRerun(this.reruns, unit, record.attempt) ? record.cursor : undefined;
  }

  /** Waits `ms` before a retry; a stop (SIGINT/SIGTERM) ends the wait at once as an interruption. */
  private async pause(ms: number): Promise<void> {
    if (this.interrupted()) throw new InterruptedError('the package was interrupted');
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
    });
    if (this.interrupted()) throw new InterruptedError('the package was interrupted');
  }

  async execute(): Promise<void> {
    try {
      await this.start();
      const frame: Frame = { prefix: '', scopes: [], locals: new Map(), ephemeral: false, handlers: [] };
      const rootFrame: Frame = this.pkg.root.onError.length > 0 ? { ...frame, handlers: [{ container: this.pkg.root, unit: '', frame }] } : frame;
      const result = await this.runChildren(this.pkg.root, this.pkg.root.steps, rootFrame);
      if (this.interrupted()) throw new InterruptedError('the package was interrupted');
      if (result.outcome === 'failure' || this.packageFailed) {
        const failures = this.failures.length > 0 ? this.failures : [{ unit: this.pkg.id, message: result.error ?? 'failed' }];
        this.knowSecrets();
        throw new PackageFailedError(this.pkg.id, failures.map((f) => ({ unit: f.unit, message: this.secrets.text(f.message) })));
      }
    } finally {
      if (this.outputDir !== undefined) await rm(this.outputDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Configuration, variables, and what a crash left open. */
  private async start(): Promise<void> {
    const { startState } = this.ctx;
    const supplied: Record<string, PlainValue> = { ...this.pkg.config, ...(this.job.config ?? {}) };
    if (startState.config === undefined) {
      this.config = supplied;
      this.emit({ type: 'config-captured', config: supplied });
    } else {
      this.config = startState.config;
      const keys = new Set([...Object.keys(supplied), ...Object.keys(startState.config)]);
      const differ = [...keys].filter((k) => JSON.stringify(supplied[k]) !== JSON.stringify(startState.config![k])).sort();
      if (differ.length > 0) {
        this.observe({
          type: 'warning',
          message: `configuration differs from the values captured on the first attempt for ${differ.join(', ')}; the captured values are used (as SSIS does). Delete the checkpoint to start over with the new values.`,
        });
      }
    }

    // Variables: declared values, --set on a fresh start, the checkpoint's values on restart.
    const initial: VariableSet[] = [];
    for (const [name, decl] of this.pkg.variables) {
      this.vars.set(name, { value: decl.value ?? (decl.type === 'object' ? undefined : defaultOf(decl.type)), type: decl.type, sensitive: decl.sensitive });
    }
    const set = this.job.set ?? {};
    for (const [name, text] of Object.entries(set)) {
      const decl = this.pkg.variables.get(name);
      const recorded = this.ctx.variables.get(name);
      if (recorded?.status === 'known') {
        this.observe({ type: 'warning', message: `--set ${name} is ignored: the checkpoint holds its value from an earlier attempt, and a restart uses it` });
        continue;
      }
      const value = coerceText(name, decl?.type ?? 'string', text, { sensitive: decl?.sensitive === true });
      this.vars.set(name, { value, type: decl?.type ?? 'string', sensitive: decl?.sensitive ?? false });
      if (this.ctx.resumed) initial.push(this.variableEvent(name)!);
    }
    for (const [name, revealed] of this.ctx.variables) {
      if (revealed.status === 'known') {
        const decl = this.pkg.variables.get(name);
        this.vars.set(name, { value: revealed.value as ExprValue, type: decl?.type ?? ((revealed.valueType as VariableType | undefined) ?? 'string'), sensitive: decl?.sensitive ?? revealed.sensitive });
      } else if (own(set, name) === undefined) {
        throw unrecoverableVariable(name, revealed.reason);
      }
    }
    if (!this.ctx.resumed || startState.variables.size === 0) {
      for (const name of this.vars.keys()) {
        const event = this.variableEvent(name);
        if (event) initial.push(event);
      }
    }
    this.emit(...initial);

    this.reruns = rerunsOf(startState);
    const requested = [...new Set(this.job.rerun ?? [])];
    if (requested.length > 0 && !this.ctx.resumed) {
      this.observe({ type: 'warning', message: `--rerun ${requested.join(', ')}: this run does not restart from a checkpoint (there is none, or usage is never), so every step runs anyway` });
    } else if (requested.length > 0) {
      // Recorded before any step runs: `ckpt inspect` says why these steps ran again, and a
      // later restart still reruns what this attempt did not get to.
      const steps = rerunSelection(this.pkg, requested);
      const record: RerunRecord = { attempt: this.ctx.attempt, requested, steps };
      this.reruns = [...this.reruns, record];
      this.emit({ type: 'control-flow/rerun', attempt: record.attempt, requested: [...requested], steps: [...steps] });
    }
    if (this.ctx.resumed) {
      // The summary counts only what this attempt will skip, read against the package, and as
      // the checkpoint reads once this attempt's --rerun is recorded.
      const point = restartPointOf({ ...startState, extensions: new Map(startState.extensions).set(CONTROL_FLOW_NAMESPACE, { reruns: this.reruns }) }, this.pkg);
      this.observe({
        type: 'resuming',
        attempt: this.ctx.attempt,
        completed: point.skipped,
        failed: point.failed.map((f) => f.unit),
        inFlight: point.inFlight,
        openScopes: [...startState.scopes.keys()],
        explanation: point.explanation,
      });
      await this.settleProcessGroups();
    }
    // A crash left scopes open: roll back the transactions (innermost first), then forget them.
    const depth = (id: string): number => {
      let d = 0;
      for (let s = startState.scopes.get(id); s?.parent !== undefined; s = startState.scopes.get(s.parent)) d++;
      return d;
    };
    const open = [...startState.scopes.values()].sort((a, b) => depth(b.scope) - depth(a.scope));
    for (const scope of open) {
      if (scope.kind !== 'transaction') continue;
      const step = this.pkg.stepsById.get(unitStepId(scope.scope));
      this.observe({ type: 'rollback', scope: scope.scope, step: step?.id ?? scope.scope, reason: 'left-open' });
      if (step?.rollback) await this.runRollback(step.rollback, scope.scope.replace(/@transaction$/, ''), { prefix: '', scopes: [], locals: new Map(), ephemeral: true, handlers: [] });
    }
    for (const scope of open) {
      if (scope.parent === undefined || !startState.scopes.has(scope.parent)) {
        this.emit({ type: 'scope-aborted', scope: scope.scope, reason: 'left open by an attempt that did not finish; rerun whole' });
      }
    }
    if (open.length > 0) await this.ctx.durable();
  }

  /**
   * A task an earlier attempt started and never saw end may still run (its ckpt was killed
   * with -9): stop it before anything reruns, so a step never runs twice at once.
   */
  private async settleProcessGroups(): Promise<void> {
    const settled = await takeOverGroups(recordedGroupsOf(this.ctx.startState), {
      warn: (message) => this.observe({ type: 'warning', message }),
      record: (event) => this.emit(event),
    });
    if (settled > 0) await this.ctx.durable();
  }

  private variableEvent(name: string): VariableSet | undefined {
    const v = this.vars.get(name);
    if (v === undefined || v.type === 'object' || v.value === undefined) return undefined;
    // A sensitive variable still at its declared value has nothing to keep; a restart uses the declaration.
    if (v.sensitive && v.value === (this.pkg.variables.get(name)?.value ?? '')) return undefined;
    this.observe(v.sensitive ? { type: 'variable', name, redacted: true } : { type: 'variable', name, value: v.value as PlainValue });
    return { type: 'variable-set', name, value: v.value as PlainValue, valueType: v.type, sensitive: v.sensitive };
  }

  /** Sets a variable (type-checked) and returns the event to record, if it is recorded at all. */
  private assign(name: string, value: unknown, where: string): VariableSet | undefined {
    const existing = this.vars.get(name);
    let stored = value;
    if (existing !== undefined) {
      if (typeof value === 'string' && existing.type !== 'string' && existing.type !== 'object') stored = coerceText(name, existing.type, value, { sensitive: existing.sensitive });
      else if (existing.type === 'int' && typeof value === 'number' && Number.isInteger(value)) stored = value;
      else {
        const problem = typeProblem(existing.type, value);
        if (problem !== undefined) throw new InvalidInputError(`${where}: variable "${name}": ${problem}`);
      }
      existing.value = stored;
    } else {
      const type: VariableType = typeof value === 'number' ? (Number.isSafeInteger(value) ? 'int' : 'number') : typeof value === 'boolean' ? 'boolean' : typeof value === 'string' || value === null ? 'string' : 'object';
      this.vars.set(name, { value: stored, type, sensitive: false });
    }
    return this.variableEvent(name);
  }

  /** Variable events go with the completion record, or wait in the innermost scope until it commits. */
  private place(events: readonly VariableSet[], frame: Frame): VariableSet[] {
    const scope = frame.scopes.at(-1);
    if (scope === undefined || events.length === 0) return [...events];
    const buffer = this.buffers.get(scope.id)!;
    for (const event of events) {
      buffer.events.push(event);
    }
    return [];
  }

  private openScope(id: string, kind: 'transaction' | 'loop', frame: Frame): Frame {
    const parent = frame.scopes.at(-1)?.id;
    this.emit({ type: 'scope-opened', scope: id, kind, ...(parent !== undefined && { parent }) });
    this.buffers.set(id, { events: [] });
    return { ...frame, scopes: [...frame.scopes, { id, kind }] };
  }

  /** The events that commit scope `id`: its variables move to the parent scope or land with the commit. */
  private commitScope(id: string, frame: Frame): CkptEvent[] {
    const buffer = this.buffers.get(id);
    this.buffers.delete(id);
    return [{ type: 'scope-committed', scope: id }, ...this.place(buffer?.events ?? [], frame)];
  }

  private abortScope(id: string, reason: string): CkptEvent {
    this.buffers.delete(id);
    return { type: 'scope-aborted', scope: id, reason };
  }

  private async runRollback(action: RollbackAction, unit: string, frame: Frame): Promise<void> {
    try {
      if (action.kind === 'exec') {
        const argv = action.argv.map((a) => expandTemplate(a, this.exprScope(frame)));
        const result = await runProcess(argv, { cwd: this.pkg.baseDir, env: this.environment(frame, undefined), signal: new AbortController().signal });
        if (result.code !== 0) throw new Error(`rollback command exited with ${result.code ?? result.signal}: ${lastLines(result.stderrTail, 3)}`);
      } else {
        await action.run(this.taskContext(unit, unitStepId(unit), frame, new AbortController().signal, []));
      }
    } catch (error) {
      this.observe({ type: 'warning', message: `rollback of ${unit} failed: ${message(error)}` });
    }
  }

  /** Runs a container's children by their precedence constraints. */
  private async runChildren(container: ContainerStep, steps: readonly Step[], frame: Frame): Promise<StepRun> {
    const status: (Outcome | 'pending' | 'running' | 'skipped' | 'stopped')[] = steps.map(() => 'pending');
    const index = new Map(steps.map((s, i) => [s.id, i]));
    const running = new Map<number, Promise<void>>();
    const limit = container.maxConcurrent ?? Number.POSITIVE_INFINITY;
    let errors = 0;
    let failParent = false;
    let interruption: unknown;
    const messages: string[] = [];
    const hasFailurePath = (id: string) => steps.some((s) => s.after?.some((c) => c.step === id && c.on !== 'success'));
    const control: ChildrenControl = {
      handles: (step) => !this.packageFailed && !failParent && !step.failPackageOnFailure && !step.failParentOnFailure && hasFailurePath(step.id) && errors + 1 < container.maximumErrorCount,
    };
    const constraintsOf = (i: number): readonly Constraint[] => steps[i]!.after ?? (i > 0 ? [{ step: steps[i - 1]!.id, on: 'success' }] : []);
    const decide = (i: number): 'run' | 'skip' | 'wait' => {
      const constraints = constraintsOf(i);
      if (constraints.length === 0) return 'run';
      const values = constraints.map((c) => {
        const s = status[index.get(c.step)!]!;
        if (s === 'pending' || s === 'running') return undefined;
        if (s === 'skipped' || s === 'stopped') return false;
        if (!matches(s, c.on)) return false;
        return c.when === undefined ? true : evaluateCondition(c.when, this.exprScope(frame));
      });
      if (steps[i]!.afterLogic === 'or') {
        if (values.some((v) => v === true)) return 'run';
        return values.some((v) => v === undefined) ? 'wait' : 'skip';
      }
      if (values.some((v) => v === false)) return 'skip';
      return values.some((v) => v === undefined) ? 'wait' : 'run';
    };
    const stopping = () => this.interrupted() || this.packageFailed || failParent || interruption !== undefined;

    for (;;) {
      let progressed = false;
      if (!stopping()) {
        for (let i = 0; i < steps.length && running.size < limit; i++) {
          if (status[i] !== 'pending') continue;
          let decision: 'run' | 'skip' | 'wait';
          try {
            decision = decide(i);
          } catch (error) {
            // A `when` that cannot be evaluated fails the step it guards.
            status[i] = 'failure';
            errors++;
            messages.push(`${steps[i]!.id}: precedence expression: ${message(error)}`);
            this.failures.push({ unit: frame.prefix + steps[i]!.id, message: `precedence expression: ${message(error)}` });
            progressed = true;
            continue;
          }
          if (decision === 'skip') {
            status[i] = 'skipped';
            this.observe({ type: 'step-skipped', unit: frame.prefix + steps[i]!.id, step: steps[i]!.id, reason: 'precedence' });
            progressed = true;
          } else if (decision === 'run') {
            status[i] = 'running';
            progressed = true;
            const step = steps[i]!;
            const promise = this.runStep(step, frame, control).then(
              (outcome) => {
                status[i] = outcome.outcome;
                if (outcome.outcome === 'failure') {
                  errors++;
                  if (outcome.error) messages.push(`${step.id}: ${outcome.error}`);
                  if (step.failParentOnFailure) failParent = true;
                  if (step.failPackageOnFailure) this.packageFailed = true;
                }
              },
              (error: unknown) => {
                status[i] = 'stopped';
                interruption ??= error;
              },
            );
            running.set(i, promise.finally(() => running.delete(i)));
          }
        }
      }
      if (running.size > 0) await Promise.race(running.values());
      else if (!progressed) break;
    }
    if (interruption !== undefined) throw interruption;
    if (this.interrupted()) throw new InterruptedError('the package was interrupted');
    // Stopped early (fail-package, fail-parent): steps left unrun make this container unfinished, never complete.
    const unfinished = status.some((s) => s === 'pending');
    const failed = failParent || errors >= container.maximumErrorCount || unfinished;
    if (!failed) return { outcome: 'success' };
    return { outcome: 'failure', error: messages.join('; ') || (unfinished ? 'stopped before all its steps ran, because the package is failing' : 'a step failed') };
  }

  /** Runs one step (task or container), honouring the checkpoint, its transaction and forceResult. */
  private async runStep(step: Step, frame: Frame, parent: ChildrenControl): Promise<StepRun> {
    const unit = frame.prefix + step.id;
    if (!frame.ephemeral) {
      const done = this.completedAt(unit);
      if (done !== undefined) {
        const outcome = outcomeOf(done);
        this.observe({ type: 'step-skipped', unit, step: step.id, reason: 'checkpoint', result: outcome });
        return { outcome };
      }
    }
    if (this.interrupted()) throw new InterruptedError('the package was interrupted');
    const outerScope = frame.scopes.at(-1)?.id;
    let inner = frame;
    let transaction: string | undefined;
    if (step.transaction === 'required' && !frame.scopes.some((s) => s.kind === 'transaction')) {
      transaction = `${unit}@transaction`;
      inner = this.openScope(transaction, 'transaction', frame);
    } else if (step.transaction === 'not-supported') {
      const first = frame.scopes.findIndex((s) => s.kind === 'transaction');
      if (first >= 0) inner = { ...frame, scopes: frame.scopes.slice(0, first) };
    }
    // The step's own events belong to the scope around it (its own transaction commits first).
    const recordScope = transaction !== undefined ? outerScope : inner.scopes.at(-1)?.id;
    const scopeField = recordScope !== undefined ? { scope: recordScope } : {};
    this.emit({ type: 'unit-started', unit, ...scopeField });
    this.observe({ type: 'step-started', unit, step: step.id });
    const started = Date.now();
    let run: StepRun;
    let vars: VariableSet[] = [];
    try {
      if (isContainer(step)) run = await this.runContainer(step, unit, inner);
      else {
        let task = await this.runTask(step, unit, inner);
        const retry = step.kind === 'exec' ? step.retry : undefined;
        // A package that is failing (failPackageOnFailure elsewhere) starts nothing new, retries included.
        for (let n = 1; retry !== undefined && task.run.outcome === 'failure' && !this.packageFailed && n <= retry.attempts; n++) {
          const waitMs = Math.min(MAX_RETRY_WAIT_MS, Math.round(retry.waitMs * retry.backoff ** (n - 1)));
          // Durable before the wait: a crash during it shows how far the retries got.
          this.emit({ type: 'control-flow/retry', unit, step: step.id, retry: n, of: retry.attempts, waitMs, error: task.run.error ?? 'failed' });
          await this.ctx.durable();
          await this.pause(waitMs);
          task = await this.runTask(step, unit, inner);
        }
        run = task.run;
        vars = task.vars;
      }
    } catch (error) {
      if (this.interrupted() || isCkptError(error, 'interrupted')) throw error;
      run = { outcome: 'failure', error: message(error) };
    }
    const forced = own(this.job.forceResults, step.id) ?? step.forceResult;
    if (forced !== undefined) run = { ...run, outcome: forced, ...(forced === 'failure' && { error: run.error ?? `forced to fail (forceResult: failure)` }) };
    if (run.outcome !== 'failure') {
      // Variables a task set count once its success is recorded.
    } else vars = [];

    const record: CkptEvent[] = [];
    const placed = this.place(vars, inner);
    let handled = false;
    if (run.outcome === 'failure') {
      handled = !frame.ephemeral && parent.handles(step);
      if (transaction !== undefined) {
        this.observe({ type: 'rollback', scope: transaction, step: step.id, reason: 'failed' });
        if (step.rollback) await this.runRollback(step.rollback, unit, frame);
        record.push(...(run.closing ?? []), this.abortScope(transaction, 'a step failed'));
      } else record.push(...(run.closing ?? []));
      if (handled) record.push({ type: 'unit-completed', unit, outcome: 'failure', ...scopeField });
      else record.push({ type: 'unit-failed', unit, error: { message: run.error ?? 'failed' }, ...scopeField });
      // Report where a failure started: a container's failure is listed only when none of its steps' is.
      const inside = (f: { unit: string }) => f.unit.startsWith(`${unit}/`) || f.unit.startsWith(`${unit}[`);
      if (!handled && !frame.ephemeral && !(isContainer(step) && this.failures.some(inside))) this.failures.push({ unit, message: run.error ?? 'failed' });
    } else {
      record.push(...(run.closing ?? []), ...placed);
      if (transaction !== undefined) record.push(...this.commitScope(transaction, frame));
      const result: PlainValue | undefined = run.outcome === 'completion' ? { result: 'completion' } : run.result;
      record.push({ type: 'unit-completed', unit, outcome: 'success', ...scopeField, ...(result !== undefined && { result }) });
    }
    this.emit(...record);
    await this.ctx.durable();
    this.observe({
      type: 'step-finished',
      unit,
      step: step.id,
      result: run.outcome,
      durationMs: Date.now() - started,
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
    this.observe({ type: 'handler', container: handler.unit || this.pkg.id, failedUnit });
    const locals = new Map(handler.frame.locals);
    locals.set('failedStep', failedUnit);
    locals.set('errorMessage', error);
    const handlerFrame: Frame = { prefix, scopes: [], locals, ephemeral: true, handlers: [] };
    await this.runChildren({ ...handler.container, maximumErrorCount: Number.MAX_SAFE_INTEGER }, handler.container.onError, handlerFrame);
  }

  private childFrame(container: ContainerStep, unit: string, frame: Frame, prefix: string, scopes: readonly ScopeFrame[], locals: ReadonlyMap<string, ExprValue>): Frame {
    const base: Frame = { ...frame, prefix, scopes, locals };
    return container.onError.length > 0 && !frame.ephemeral ? { ...base, handlers: [...frame.handlers, { container, unit, frame: base }] } : base;
  }

  private async runContainer(step: ContainerStep, unit: string, frame: Frame): Promise<StepRun> {
    if (step.kind === 'sequence') return this.runChildren(step, step.steps, this.childFrame(step, unit, frame, `${unit}/`, frame.scopes, frame.locals));
    return this.runLoop(step, unit, frame);
  }

  /** forEach and for: atomic (a loop scope) unless checkpointIterations. */
  private async runLoop(step: ForEachStep | ForStep, unit: string, frame: Frame): Promise<StepRun> {
    const atomic = !step.checkpointIterations;
    const loopScope = `${unit}@loop`;
    const loopFrame = atomic ? this.openScope(loopScope, 'loop', frame) : frame;
    const scope = this.exprScope(frame);
    const resumeCursor = !atomic && !frame.ephemeral ? (this.cursorAt(unit) as { next?: number } | undefined) : undefined;

    let items: readonly PlainValue[] = [];
    if (step.kind === 'forEach') {
      items =
        step.source.kind === 'items'
          ? step.source.items.map((item) => (typeof item === 'string' ? expandTemplate(item, scope) : item))
          : await matchFiles(this.pkg.baseDir, expandTemplate(step.source.glob, scope));
    } else if (resumeCursor?.next === undefined) {
      const events = step.init.map((a) => this.applyAssignment(a, frame, `${step.path}.for.init`)).filter((e): e is VariableSet => e !== undefined);
      const placed = this.place(events, loopFrame);
      if (placed.length > 0) this.emit(...placed);
    }

    const fail = (error: string): StepRun => {
      if (atomic) this.emit(this.abortScope(loopScope, 'an iteration failed; the loop reruns whole'));
      return { outcome: 'failure', error };
    };
    const resumeAt = resumeCursor?.next ?? 0;
    for (let i = 0; i < resumeAt; i++) this.observe({ type: 'step-skipped', unit: `${unit}[${i}]`, step: step.id, reason: 'checkpoint', result: 'success' });
    for (let i = resumeAt; ; i++) {
      if (this.interrupted()) throw new InterruptedError('the package was interrupted');
      if (step.kind === 'forEach') {
        if (i >= items.length) break;
      } else {
        if (i > 1_000_000) return fail(`${step.id}: more than 1,000,000 iterations; check the while expression "${step.source.while}"`);
        let go: boolean;
        try {
          go = evaluateCondition(step.while, this.exprScope(frame));
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
      const done = !atomic && !frame.ephemeral ? this.completedAt(iterationUnit) : undefined;
      if (done === undefined) {
        const iterationFrame = this.childFrame(step, unit, loopFrame, `${iterationUnit}/`, loopFrame.scopes, locals);
        const scopeField = loopFrame.scopes.at(-1) !== undefined ? { scope: loopFrame.scopes.at(-1)!.id } : {};
        if (!atomic) this.emit({ type: 'unit-started', unit: iterationUnit, ...scopeField });
        const result = await this.runChildren(step, step.steps, iterationFrame);
        if (result.outcome === 'failure') {
          if (!atomic) this.emit({ type: 'unit-failed', unit: iterationUnit, error: { message: result.error ?? 'failed' }, ...scopeField });
          return fail(`iteration ${i}: ${result.error ?? 'failed'}`);
        }
        let nextEvents: VariableSet[] = [];
        if (step.kind === 'for') {
          try {
            nextEvents = step.next.map((a) => this.applyAssignment(a, frame, `${step.path}.for.next`)).filter((e): e is VariableSet => e !== undefined);
          } catch (error) {
            return fail(`for.next: ${message(error)}`);
          }
        }
        const placed = this.place(nextEvents, loopFrame);
        if (!atomic) {
          // The iteration, the loop variables after `next` and the cursor land in one record.
          this.emit({ type: 'unit-completed', unit: iterationUnit, outcome: 'success', ...scopeField }, ...placed, { type: 'cursor-set', unit, cursor: { next: i + 1 }, ...scopeField });
          await this.ctx.durable();
        } else if (placed.length > 0) this.emit(...placed);
      } else {
        this.observe({ type: 'step-skipped', unit: iterationUnit, step: step.id, reason: 'checkpoint', result: 'success' });
        // A for loop's variables were restored from the checkpoint; nothing to redo.
      }
    }
    return atomic ? { outcome: 'success', closing: this.commitScope(loopScope, frame) } : { outcome: 'success' };
  }

  private applyAssignment(assignment: Assignment, frame: Frame, where: string): VariableSet | undefined {
    const value = evaluate(assignment.value, this.exprScope(frame));
    return this.assign(assignment.name, value, where);
  }

  private environment(frame: Frame, outputFile: string | undefined): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    const put = (name: string, value: unknown) => {
      if (value === undefined || value === null || typeof value === 'object') return;
      env[`CKPT_VAR_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(value);
    };
    for (const [name, v] of this.vars) if (v.type !== 'object') put(name, v.value);
    for (const [name, value] of frame.locals) put(name, value);
    if (outputFile !== undefined) env['CKPT_OUTPUT'] = outputFile;
    return env;
  }

  private taskContext(unit: string, stepId: string, frame: Frame, signal: AbortSignal, pending: [string, unknown][]): TaskContext {
    const scope = this.exprScope(frame);
    const scopeId = frame.scopes.at(-1)?.id;
    return {
      unit,
      stepId,
      signal,
      attempt: this.ctx.attempt,
      baseDir: this.pkg.baseDir,
      cursor: frame.ephemeral ? undefined : this.cursorAt(unit),
      setCursor: (cursor) => this.emit({ type: 'cursor-set', unit, cursor, ...(scopeId !== undefined && { scope: scopeId }) }),
      emit: (event) => this.emit(event),
      getVariable: (name) => scope.vars(name),
      setVariable: (name, value) => {
        if (frame.locals.has(name)) throw new InvalidInputError(`"${name}" is a loop variable and cannot be set`);
        pending.push([name, value]);
      },
      getConfig: (key) => scope.config(key),
      expand: (text) => expandTemplate(text, scope),
      log: (line) => this.observe({ type: 'output', unit, stream: 'stdout', line }),
    };
  }

  private async runTask(step: TaskStep, unit: string, frame: Frame): Promise<{ run: StepRun; vars: VariableSet[] }> {
    const release = await this.tasks.acquire();
    const timeout = new AbortController();
    const timer = step.timeoutMs !== undefined ? setTimeout(() => timeout.abort(), step.timeoutMs) : undefined;
    timer?.unref();
    // AbortSignal.any costs a listener per task; only a task with a timeout needs two sources.
    const signal = timer !== undefined ? AbortSignal.any([this.signal, timeout.signal]) : this.signal;
    const pending: [string, unknown][] = [];
    try {
      let result: PlainValue | undefined;
      try {
        if (this.interrupted()) throw new InterruptedError('the package was interrupted');
        if (step.kind === 'exec') await this.runExec(step.argv, unit, frame, signal, pending);
        else if (step.kind === 'function') await step.run(this.taskContext(unit, step.id, frame, signal, pending));
        else {
          const plugin = this.plugins.get(step.task);
          if (plugin === undefined) {
            throw new InvalidInputError(`step ${unit} is a ${step.task} task, and no ${step.task} task plug-in is registered`, { hint: 'the file-transfer runner provides copy; register it with the control-flow runner' });
          }
          const spec = expandSpec(step.spec, (text) => expandTemplate(text, this.exprScope(frame)));
          result = (await plugin.run(spec, this.taskContext(unit, step.id, frame, signal, pending))) ?? undefined;
        }
      } catch (error) {
        if (this.interrupted()) throw new InterruptedError('the package was interrupted');
        if (timeout.signal.aborted) return { run: { outcome: 'failure', error: `timed out after ${formatDuration(step.timeoutMs!)}` }, vars: [] };
        return { run: { outcome: 'failure', error: message(error) }, vars: [] };
      }
      if (timeout.signal.aborted) return { run: { outcome: 'failure', error: `timed out after ${formatDuration(step.timeoutMs!)}` }, vars: [] };
      const vars: VariableSet[] = [];
      try {
        for (const [name, value] of pending) {
          const event = this.assign(name, value, `step ${unit}`);
          if (event) vars.push(event);
        }
      } catch (error) {
        return { run: { outcome: 'failure', error: message(error) }, vars: [] };
      }
      return { run: { outcome: 'success', ...(result !== undefined && { result }) }, vars };
    } finally {
      if (timer) clearTimeout(timer);
      release();
    }
  }

  private async runExec(argvTemplate: readonly string[], unit: string, frame: Frame, signal: AbortSignal, pending: [string, unknown][]): Promise<void> {
    const argv = argvTemplate.map((a) => expandTemplate(a, this.exprScope(frame)));
    this.outputDir ??= await mkdtemp(join(tmpdir(), 'ckpt-run-'));
    const outputFile = join(this.outputDir, `output-${++this.outputCount}.env`);
    await writeFile(outputFile, '');
    // The task's process group is recorded as it starts and made durable while it runs, so a
    // restart after kill -9 can find it and stop it before rerunning the step.
    let group: number | undefined;
    let recorded: Promise<unknown> = Promise.resolve();
    let result: Awaited<ReturnType<typeof runProcess>>;
    try {
      result = await runProcess(argv, {
        cwd: this.pkg.baseDir,
        env: this.environment(frame, outputFile),
        signal,
        onLine: (line, stream) => this.observe({ type: 'output', unit, stream, line }),
        onSpawn: (started) => {
          group = started.pgid;
          this.emit({ type: 'process/started', unit, attempt: this.ctx.attempt, host: hostname(), ...started });
          recorded = this.ctx.durable().catch(() => undefined); // a log failure stops the run by itself
        },
      });
    } finally {
      await recorded;
      if (group !== undefined) this.emit({ type: 'process/ended', unit, pgid: group });
    }
    if (signal.aborted) throw new Error('stopped');
    if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') {
      // A stop of the whole tree (systemd, kill -- -PGID) reaches the command too: it may die of
      // it just before our own handler aborts the run. Give the handler a moment, so this
      // counts as an interruption.
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (this.interrupted()) throw new InterruptedError('the package was interrupted');
    }
    if (result.code !== 0) {
      const tail = lastLines(result.stderrTail);
      throw new Error(
        `command ${JSON.stringify(argv[0])} ${result.code !== null ? `exited with code ${result.code}` : `was killed by ${result.signal}`}${tail ? `; its stderr ends with: ${tail.replace(/\n/g, ' | ')}` : ''}`,
      );
    }
    const text = await readFile(outputFile, 'utf8');
    for (const [n, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const eq = line.indexOf('=');
      if (eq <= 0) throw new Error(`$CKPT_OUTPUT line ${n + 1} is not NAME=VALUE: ${JSON.stringify(line)}`);
      const name = line.slice(0, eq).trim();
      if (name === '__proto__') throw new Error(`$CKPT_OUTPUT line ${n + 1}: "__proto__" cannot be a variable name`);
      pending.push([name, line.slice(eq + 1)]);
    }
  }
}

function defaultOf(type: VariableType): ExprValue {
  switch (type) {
    case 'string':
      return '';
    case 'int':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'object':
      return null;
  }
}

/** Expands templates in every string of a plug-in spec. */
function expandSpec(spec: unknown, expand: (text: string) => string): unknown {
  if (typeof spec === 'string') return expand(spec);
  if (Array.isArray(spec)) return spec.map((v) => expandSpec(v, expand));
  if (spec !== null && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, expandSpec(v, expand)]));
  return spec;
}

function unrecoverableVariable(name: string, reason: string): InvalidInputError {
  return new InvalidInputError(`variable "${name}" is needed to resume, and the checkpoint cannot give it back: ${reason}`, {
    hint: `supply it again with --set ${name}=VALUE, or set the secret key it was sealed with (CKPT_SECRET_KEY)`,
  });
}
