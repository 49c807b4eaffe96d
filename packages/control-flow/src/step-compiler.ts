import { parseDuration } from '@ckpt/core/internal';
import type { PackageProblem } from './errors.js';
import { checkTemplate, parseAssignments, parseExpression, type Assignment } from './expression.js';
import {
  StepResult,
  TransactionOption,
  type Constraint,
  type ForEachSource,
  type RetryPolicy,
  type RollbackAction,
  type Step,
  type StepCommon,
} from './model.js';
import type { StepDefinition } from './compile.js';
import { precedenceProblems } from './precedence-graph.js';
import type { TaskPlugin } from './task-context.js';

/**
 * Compiles step definitions (already checked against the schema) to the model, collecting every
 * problem with its path instead of stopping at the first: step kinds and the options each kind
 * has, templates and expressions, retry policies, and each container's precedence graph.
 */
export class StepCompiler {
  /** Every problem found so far, in the order met. */
  readonly problems: (string | PackageProblem)[] = [];
  /** Every step compiled, by id. */
  readonly stepsById = new Map<string, Step>();
  /** Where each step id was first defined (`steps[2].steps[0]`), to report duplicates. */
  private readonly seenAt = new Map<string, string>();

  constructor(private readonly plugins: ReadonlyMap<string, TaskPlugin>) {}

  /** `make()`, or undefined with its error recorded as a problem at `path`. */
  guard<T>(path: string, make: () => T): T | undefined {
    try {
      return make();
    } catch (error) {
      this.problems.push(`${path}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      return undefined;
    }
  }

  /** Compiles a list of sibling steps, then checks their precedence graph. */
  compileSteps(defs: readonly StepDefinition[], path: string): Step[] {
    const steps = defs.map((d, i) => this.compileStep(d, `${path}[${i}]`));
    this.problems.push(...precedenceProblems(steps, path, (id) => this.seenAt.has(id) || this.stepsById.has(id)));
    return steps;
  }

  /** Compiles one step (and, for a container, its children). */
  compileStep(d: StepDefinition, path: string): Step {
    if (this.seenAt.has(d.id))
      this.problems.push(`${path}.id: duplicate step id "${d.id}" (also at ${this.seenAt.get(d.id)}); step ids must be unique in the package`);
    else this.seenAt.set(d.id, path);
    const kinds = (['exec', 'copy', 'run', 'steps'] as const).filter((k) => d[k] !== undefined);
    const pluginKinds = [...this.plugins.keys()].filter((k) => k !== 'copy' && (d as unknown as Record<string, unknown>)[k] !== undefined);
    if (kinds.length + pluginKinds.length !== 1) {
      this.problems.push(
        kinds.length === 0
          ? `${path}: step "${d.id}" needs exactly one of exec, copy or steps (with forEach/for for loops)`
          : `${path}: step "${d.id}" has ${kinds.join(' and ')}; a step is exactly one of exec, copy, or steps`,
      );
    }
    if ((d.forEach !== undefined || d.for !== undefined) && d.steps === undefined)
      this.problems.push(`${path}: a ${d.forEach ? 'forEach' : 'for'} loop needs steps`);
    if (d.forEach !== undefined && d.for !== undefined) this.problems.push(`${path}: a step is a forEach or a for loop, not both`);
    if (d.checkpointIterations !== undefined && d.forEach === undefined && d.for === undefined)
      this.problems.push(`${path}.checkpointIterations: only forEach and for loops have iterations`);
    if (d.onError !== undefined && d.steps === undefined) this.problems.push(`${path}.onError: only containers (steps) have event handlers`);
    if (d.retry !== undefined && d.exec === undefined)
      this.problems.push(`${path}.retry: only exec steps have retry${d.copy !== undefined ? ' (a copy retries by itself: copy.retries)' : ''}`);
    if (d.timeout !== undefined && d.steps !== undefined)
      this.problems.push(`${path}.timeout: only tasks have a timeout; set it on the tasks inside "${d.id}"`);
    const timeoutMs = d.timeout !== undefined ? this.guard(`${path}.timeout`, () => parseDuration(d.timeout!, `${path}.timeout`)) : undefined;
    let rollback: RollbackAction | undefined;
    if (typeof d.rollback === 'function') rollback = { kind: 'function', run: d.rollback };
    else if (d.rollback !== undefined) {
      d.rollback.forEach((arg, i) => this.guard(`${path}.rollback[${i}]`, () => checkTemplate(arg)));
      rollback = { kind: 'exec', argv: d.rollback };
    }
    if (rollback !== undefined && d.transaction !== 'required')
      this.problems.push(`${path}.rollback: a rollback belongs to a step with transaction: required`);
    const common: StepCommon = {
      id: d.id,
      path,
      after: this.compileAfter(d, path),
      afterLogic: d.afterLogic ?? 'and',
      failPackageOnFailure: d.failPackageOnFailure === true,
      failParentOnFailure: d.failParentOnFailure === true,
      ...(d.forceResult !== undefined && { forceResult: d.forceResult }),
      transaction: d.transaction ?? TransactionOption.Supported,
      ...(rollback !== undefined && { rollback }),
      ...(timeoutMs !== undefined && { timeoutMs }),
    };
    let step: Step;
    if (d.steps !== undefined) {
      const container = {
        ...common,
        steps: this.compileSteps(d.steps, `${path}.steps`),
        onError: d.onError ? this.compileSteps(d.onError, `${path}.onError`) : [],
        ...(d.maxConcurrent !== undefined && { maxConcurrent: d.maxConcurrent }),
        maximumErrorCount: d.maximumErrorCount ?? 1,
      };
      if (container.steps.length === 0) this.problems.push(`${path}.steps: expected at least one step`);
      if (d.forEach !== undefined) {
        const f = d.forEach;
        let sourceOf: ForEachSource = { kind: 'items', items: [] };
        if ((f.items === undefined) === (f.files === undefined))
          this.problems.push(`${path}.forEach: expected exactly one of items (a list) or files (a glob)`);
        else if (f.items !== undefined) sourceOf = { kind: 'items', items: f.items };
        else {
          this.guard(`${path}.forEach.files`, () => checkTemplate(f.files!));
          sourceOf = { kind: 'files', glob: f.files! };
        }
        f.items?.forEach((item, i) => typeof item === 'string' && this.guard(`${path}.forEach.items[${i}]`, () => checkTemplate(item)));
        step = { ...container, kind: 'forEach', source: sourceOf, as: f.as ?? 'item', checkpointIterations: d.checkpointIterations === true };
      } else if (d.for !== undefined) {
        const f = d.for;
        const initSource =
          typeof f.init === 'string'
            ? f.init
            : Object.entries(f.init ?? {})
                .map(([k, v]) => `vars.${k} = ${JSON.stringify(v)}`)
                .join(', ');
        const init: Assignment[] = initSource === '' ? [] : (this.guard(`${path}.for.init`, () => parseAssignments(initSource)) ?? []);
        const whileExpr = this.guard(`${path}.for.while`, () => parseExpression(f.while)) ?? { t: 'lit' as const, value: false };
        const next: Assignment[] =
          f.next === undefined || f.next === '' ? [] : (this.guard(`${path}.for.next`, () => parseAssignments(f.next!)) ?? []);
        step = {
          ...container,
          kind: 'for',
          init,
          while: whileExpr,
          next,
          source: { init: initSource, while: f.while, next: f.next ?? '' },
          checkpointIterations: d.checkpointIterations === true,
        };
      } else step = { ...container, kind: 'sequence' };
    } else if (d.exec !== undefined) {
      d.exec.forEach((arg, i) => this.guard(`${path}.exec[${i}]`, () => checkTemplate(arg)));
      const retry = d.retry !== undefined ? compileRetry(d.retry, `${path}.retry`, this.problems) : undefined;
      step = { ...common, kind: 'exec', argv: d.exec, ...(retry !== undefined && { retry }) };
    } else if (d.run !== undefined) {
      step = { ...common, kind: 'function', run: d.run };
    } else {
      const kind = d.copy !== undefined ? 'copy' : (pluginKinds[0] ?? 'copy');
      const raw = kind === 'copy' ? d.copy : (d as unknown as Record<string, unknown>)[kind];
      const plugin = this.plugins.get(kind);
      let spec: unknown = raw;
      if (plugin === undefined) {
        this.problems.push(
          `${path}.${kind}: step "${d.id}" is a ${kind} task, and no ${kind} task plug-in is registered in this runner (the file-transfer runner provides it)`,
        );
      } else {
        spec = this.guard(`${path}.${kind}`, () => plugin.validate(raw, `${path}.${kind}`));
      }
      step = { ...common, kind: 'plugin', task: kind, spec };
    }
    this.stepsById.set(step.id, step);
    return step;
  }

  /** A step's precedence constraints, from either written form. */
  private compileAfter(d: StepDefinition, path: string): Constraint[] | undefined {
    if (d.after === undefined) return undefined;
    if (!Array.isArray(d.after)) {
      return Object.entries(d.after as Record<string, StepResult>).map(([step, on]) => ({ step, on }));
    }
    const out: Constraint[] = [];
    (d.after as readonly (string | Record<string, string>)[]).forEach((entry, i) => {
      const where = `${path}.after[${i}]`;
      const item: Record<string, string> = typeof entry === 'string' ? { [entry]: 'success' } : entry;
      const keys = Object.keys(item).filter((k) => k !== 'when');
      if (keys.length === 0) {
        this.problems.push(`${where}: expected "<step id>: success|failure|completion" (and an optional when: EXPR)`);
        return;
      }
      const whenSource = item['when'];
      const when = whenSource !== undefined ? this.guard(`${where}.when`, () => parseExpression(whenSource)) : undefined;
      for (const step of keys) {
        const on = item[step]!;
        if (!(Object.values(StepResult) as string[]).includes(on)) {
          this.problems.push(`${where}.${step}: expected success, failure or completion, not "${on}"`);
          continue;
        }
        out.push({ step, on: on as StepResult, ...(when !== undefined && { when, whenSource }) });
      }
    });
    return out;
  }
}

/**
 * An exec step's `retry` field: `attempts` an integer ≥ 0 (required), `wait` a duration
 * (default 1s), `backoff` a number ≥ 1 (default 1). Problems go to `problems`, each naming its field.
 */
function compileRetry(raw: unknown, where: string, problems: (string | PackageProblem)[]): RetryPolicy | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${where}: expected a mapping such as { attempts: 3, wait: 2s, backoff: 2 }`);
    return undefined;
  }
  const fields = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(fields)) {
    if (key !== 'attempts' && key !== 'wait' && key !== 'backoff')
      problems.push(`${where}.${key}: unknown field; retry has attempts, wait and backoff`);
  }
  const attempts = fields['attempts'];
  if (attempts === undefined) problems.push(`${where}.attempts: missing; say how many times a failed run is tried again (an integer, 0 or more)`);
  else if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 0) {
    problems.push(`${where}.attempts: expected an integer 0 or more, got ${JSON.stringify(attempts)}`);
  }
  let waitMs = 1000;
  const wait = fields['wait'];
  if (wait !== undefined) {
    try {
      if (typeof wait !== 'string' && typeof wait !== 'number') throw new Error(`${JSON.stringify(wait)} is not a duration`);
      waitMs = parseDuration(wait, `${where}.wait`);
    } catch (error) {
      const text = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      problems.push(`${text.startsWith(`${where}.wait`) ? text : `${where}.wait: ${text}`} (write a duration such as 500ms, 2s or 1m)`);
    }
  }
  const backoff = fields['backoff'] ?? 1;
  if (typeof backoff !== 'number' || !Number.isFinite(backoff) || backoff < 1) {
    problems.push(`${where}.backoff: expected a number 1 or more (the factor each wait grows by), got ${JSON.stringify(backoff)}`);
  }
  if (problems.length > before) return undefined;
  return { attempts: attempts as number, waitMs, backoff: backoff as number };
}
