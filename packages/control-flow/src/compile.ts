import { CheckpointUsage, InvalidInputError, type PlainValue } from '@ckpt/core';
import { parseDuration } from '@ckpt/core/internal';
import { z } from 'zod';
import { PackageDefinitionError, type PackageProblem } from './errors.js';
import { checkTemplate, parseAssignments, parseExpression, type Assignment } from './expression.js';
import {
  StepResult,
  TransactionOption,
  VariableType,
  isContainer,
  type Constraint,
  type ForEachSource,
  type Package,
  type RetryPolicy,
  type RollbackAction,
  type SequenceStep,
  type Step,
  type StepCommon,
  type VariableDecl,
} from './model.js';
import { closestName } from './closest-name.js';
import { nameProblems } from './names.js';
import { pathKeys, stepOn } from './problem-location.js';
import type { FunctionTask, TaskPlugin } from './task-context.js';

/**
 * One compiler for both forms of a package: a definition object (parsed YAML/JSON, or written
 * with the builder) is checked against a schema, then ids, references and cycles are checked,
 * and every problem is reported with its path (`steps[2].forEach.items`).
 */

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const result = z.enum(['success', 'failure', 'completion']);
const argv = z.array(z.string()).min(1, 'expected a command: a list of at least one string, e.g. [sh, -c, "make"]');
const fn = z.custom<FunctionTask>((v) => typeof v === 'function', 'expected a function');
const duration = z.union([z.string(), z.number().nonnegative()]);

/** A step as written (YAML/JSON or builder). */
export interface StepDefinition {
  readonly id: string;
  readonly exec?: readonly string[];
  readonly copy?: unknown;
  readonly run?: FunctionTask;
  readonly steps?: readonly StepDefinition[];
  readonly onError?: readonly StepDefinition[];
  readonly forEach?: { readonly items?: readonly (string | number | boolean | null)[]; readonly files?: string; readonly as?: string };
  readonly for?: { readonly init?: string | { readonly [name: string]: string | number | boolean | null }; readonly while: string; readonly next?: string };
  readonly checkpointIterations?: boolean;
  /** `{ step: result }`, or a list of `{ step: result, when?: EXPR }` (or bare step ids, meaning success). */
  readonly after?: { readonly [step: string]: StepResult } | readonly (string | { readonly [key: string]: string })[];
  readonly afterLogic?: 'and' | 'or';
  readonly failPackageOnFailure?: boolean;
  readonly failParentOnFailure?: boolean;
  readonly forceResult?: StepResult;
  readonly transaction?: TransactionOption;
  readonly rollback?: readonly string[] | FunctionTask;
  readonly timeout?: string | number;
  /** Exec steps: `{ attempts, wait?, backoff? }` (checked by the compiler, with messages naming the field). */
  readonly retry?: unknown;
  readonly maxConcurrent?: number;
  readonly maximumErrorCount?: number;
}

/** A package as written (YAML/JSON or builder). */
export interface PackageDefinition {
  readonly id: string;
  readonly version: string | number;
  readonly checkpoint?: { readonly file?: string; readonly usage?: CheckpointUsage; readonly save?: boolean; readonly retention?: string | number };
  readonly variables?: { readonly [name: string]: { readonly type: VariableType; readonly value?: PlainValue; readonly sensitive?: boolean } };
  readonly config?: { readonly [key: string]: string | number | boolean | null };
  readonly steps: readonly StepDefinition[];
  readonly onError?: readonly StepDefinition[];
  readonly maxConcurrent?: number;
  readonly maximumErrorCount?: number;
}

const stepSchema: z.ZodType<StepDefinition> = z.lazy(() =>
  z.strictObject({
    id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected a step id: letters, digits, "_", "-", "." (starting with a letter or "_")'),
    exec: argv.optional(),
    copy: z.unknown().optional(),
    run: fn.optional(),
    steps: z.array(stepSchema).optional(),
    onError: z.array(stepSchema).optional(),
    forEach: z
      .strictObject({ items: z.array(scalar).optional(), files: z.string().min(1).optional(), as: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional() })
      .optional(),
    for: z.strictObject({ init: z.union([z.string(), z.record(z.string(), scalar)]).optional(), while: z.string().min(1), next: z.string().optional() }).optional(),
    checkpointIterations: z.boolean().optional(),
    after: z.union([z.record(z.string(), result), z.array(z.union([z.string(), z.record(z.string(), z.string())]))]).optional(),
    afterLogic: z.enum(['and', 'or']).optional(),
    failPackageOnFailure: z.boolean().optional(),
    failParentOnFailure: z.boolean().optional(),
    forceResult: result.optional(),
    transaction: z.enum(['required', 'supported', 'not-supported']).optional(),
    rollback: z.union([argv, fn]).optional(),
    timeout: duration.optional(),
    retry: z.unknown().optional(),
    maxConcurrent: z.number().int().positive().optional(),
    maximumErrorCount: z.number().int().positive().optional(),
  }),
) as z.ZodType<StepDefinition>;

const packageSchema = z.strictObject({
  id: z.string().min(1, 'expected a non-empty package id'),
  version: z.union([z.string().min(1), z.number()]),
  checkpoint: z
    .strictObject({
      file: z.string().min(1).optional(),
      usage: z.enum(['never', 'if-exists', 'always']).optional(),
      save: z.boolean().optional(),
      retention: duration.optional(),
    })
    .optional(),
  variables: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a variable name: letters, digits and "_"'),
      z.strictObject({ type: z.enum(['string', 'int', 'number', 'boolean', 'object']), value: z.unknown().optional(), sensitive: z.boolean().optional() }),
    )
    .optional(),
  config: z.record(z.string(), scalar).optional(),
  steps: z.array(stepSchema).min(1, 'expected at least one step'),
  onError: z.array(stepSchema).optional(),
  maxConcurrent: z.number().int().positive().optional(),
  maximumErrorCount: z.number().int().positive().optional(),
});

/**
 * Limits on what a package may be. Each protects the runner from a file that would exhaust
 * memory, time or the stack; a package beyond one is refused (exit 2) with a message naming
 * the field and the limit. docs/package-file.md lists them.
 */
export const PackageLimits = {
  /** Bytes of a package file (YAML or JSON). */
  fileBytes: 1024 * 1024,
  /** Levels of nested mappings and lists. */
  depth: 64,
  /** Steps in the whole package, containers and event handlers included. */
  steps: 10_000,
  /** Characters of one string value: a command argument, an expression, a path. */
  stringChars: 64 * 1024,
  /** YAML alias expansions (the `maxAliasCount` of the YAML library), against alias bombs. */
  aliases: 100,
} as const;

/**
 * Checks a definition's shape before the schema sees it: nesting depth (the schema and the
 * compiler recurse), cycles (a YAML alias inside its own anchor), string lengths, and `__proto__`
 * keys, which an object would otherwise drop silently. Returns the problems; stops at the first
 * that makes going deeper unsafe.
 */
function shapeProblems(definition: unknown): string[] {
  const problems: string[] = [];
  const onPath = new Set<object>();
  // Recursion is safe: it never goes deeper than PackageLimits.depth + 1.
  const visit = (value: unknown, path: PropertyKey[]): boolean => {
    if (typeof value === 'string') {
      if (value.length > PackageLimits.stringChars) {
        problems.push(`${formatPath(path)}: ${value.length.toLocaleString('en-US')} characters; the limit is ${PackageLimits.stringChars.toLocaleString('en-US')} per value`);
      }
      return true;
    }
    if (value === null || typeof value !== 'object') return true;
    if (path.length >= PackageLimits.depth) {
      problems.push(`${formatPath(path)}: nested too deeply (more than ${PackageLimits.depth} levels of mappings and lists)`);
      return false;
    }
    if (onPath.has(value)) {
      problems.push(`${formatPath(path)}: contains itself (a YAML alias inside its own anchor)`);
      return false;
    }
    onPath.add(value);
    try {
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) if (!visit(item, [...path, i])) return false;
      } else {
        for (const key of Object.keys(value)) {
          if (key === '__proto__') {
            problems.push(`${formatPath([...path, key])}: "__proto__" cannot be a name or key (it would be dropped silently); rename it`);
            continue;
          }
          if (!visit((value as Record<string, unknown>)[key], [...path, key])) return false;
        }
      }
      return true;
    } finally {
      onPath.delete(value);
    }
  };
  visit(definition, []);
  return problems;
}

/** How many steps a definition has, containers and event handlers included. */
function countSteps(defs: readonly StepDefinition[] | undefined): number {
  let count = 0;
  for (const d of defs ?? []) count += 1 + countSteps(d.steps) + countSteps(d.onError);
  return count;
}

/** `steps[2].forEach.items` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** Options of {@link compilePackage}. */
export interface CompileOptions {
  /** Named in messages: the file, or `package "<id>"`. */
  readonly source?: string;
  readonly file?: string;
  readonly baseDir?: string;
  /** Task kinds provided by plug-ins (`copy`). */
  readonly plugins?: readonly TaskPlugin[];
}

/** `; did you mean load?` when a sibling's id is close to a missing one. */
function suggestSibling(missing: string, siblings: Iterable<string>): string {
  const close = closestName(missing, siblings);
  return close !== undefined ? `; did you mean ${close}?` : '';
}

/** The error listing `problems`, each with the step it belongs to. */
function refusal(source: string, definition: unknown, problems: readonly (string | PackageProblem)[]): PackageDefinitionError {
  return new PackageDefinitionError(source, problems).withDetails((p) => {
    const step = p.path !== undefined ? stepOn(definition, pathKeys(definition, p.path)) : undefined;
    return step !== undefined ? { ...p, step } : p;
  });
}

/** Checks a package definition and compiles it to the model; throws {@link PackageDefinitionError}. */
export function compilePackage(definition: unknown, options: CompileOptions = {}): Package {
  const source = options.source ?? (options.file ?? `package "${String((definition as { id?: unknown } | null)?.id ?? '?')}"`);
  const shape = shapeProblems(definition);
  if (shape.length > 0) throw refusal(source, definition, shape);
  const parsed = packageSchema.safeParse(definition);
  if (!parsed.success) {
    throw refusal(
      source,
      definition,
      parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
    );
  }
  const def = parsed.data as PackageDefinition;
  const stepCount = countSteps(def.steps) + countSteps(def.onError);
  if (stepCount > PackageLimits.steps) {
    throw new PackageDefinitionError(source, [`steps: ${stepCount.toLocaleString('en-US')} steps; the limit is ${PackageLimits.steps.toLocaleString('en-US')} in a package (split it into several packages)`]);
  }
  const problems: (string | PackageProblem)[] = [];
  const plugins = new Map((options.plugins ?? []).map((p) => [p.kind, p]));
  const stepsById = new Map<string, Step>();
  const seenAt = new Map<string, string>();

  const variables = new Map<string, VariableDecl>();
  for (const [name, decl] of Object.entries(def.variables ?? {})) {
    const where = `variables.${name}`;
    const value = decl.value;
    if (value !== undefined) {
      const problem = typeProblem(decl.type, value);
      if (problem !== undefined) problems.push(`${where}.value: ${problem}`);
    }
    if (decl.type === 'object' && decl.sensitive) problems.push(`${where}.sensitive: object variables are never persisted; "sensitive" does not apply`);
    variables.set(name, { type: decl.type, ...(value !== undefined && { value: value as PlainValue }), sensitive: decl.sensitive === true });
  }

  const guard = <T>(path: string, make: () => T): T | undefined => {
    try {
      return make();
    } catch (error) {
      problems.push(`${path}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      return undefined;
    }
  };

  const compileSteps = (defs: readonly StepDefinition[], path: string): Step[] => {
    const steps = defs.map((d, i) => compileStep(d, `${path}[${i}]`));
    checkPrecedence(steps, path);
    return steps;
  };

  const compileStep = (d: StepDefinition, path: string): Step => {
    if (seenAt.has(d.id)) problems.push(`${path}.id: duplicate step id "${d.id}" (also at ${seenAt.get(d.id)}); step ids must be unique in the package`);
    else seenAt.set(d.id, path);
    const kinds = (['exec', 'copy', 'run', 'steps'] as const).filter((k) => d[k] !== undefined);
    const pluginKinds = [...plugins.keys()].filter((k) => k !== 'copy' && (d as unknown as Record<string, unknown>)[k] !== undefined);
    if (kinds.length + pluginKinds.length !== 1) {
      problems.push(
        kinds.length === 0
          ? `${path}: step "${d.id}" needs exactly one of exec, copy or steps (with forEach/for for loops)`
          : `${path}: step "${d.id}" has ${kinds.join(' and ')}; a step is exactly one of exec, copy, or steps`,
      );
    }
    if ((d.forEach !== undefined || d.for !== undefined) && d.steps === undefined) problems.push(`${path}: a ${d.forEach ? 'forEach' : 'for'} loop needs steps`);
    if (d.forEach !== undefined && d.for !== undefined) problems.push(`${path}: a step is a forEach or a for loop, not both`);
    if (d.checkpointIterations !== undefined && d.forEach === undefined && d.for === undefined) problems.push(`${path}.checkpointIterations: only forEach and for loops have iterations`);
    if (d.onError !== undefined && d.steps === undefined) problems.push(`${path}.onError: only containers (steps) have event handlers`);
    if (d.retry !== undefined && d.exec === undefined) problems.push(`${path}.retry: only exec steps have retry${d.copy !== undefined ? ' (a copy retries by itself: copy.retries)' : ''}`);
    if (d.timeout !== undefined && d.steps !== undefined) problems.push(`${path}.timeout: only tasks have a timeout; set it on the tasks inside "${d.id}"`);
    const timeoutMs = d.timeout !== undefined ? guard(`${path}.timeout`, () => parseDuration(d.timeout!, `${path}.timeout`)) : undefined;
    let rollback: RollbackAction | undefined;
    if (typeof d.rollback === 'function') rollback = { kind: 'function', run: d.rollback };
    else if (d.rollback !== undefined) {
      d.rollback.forEach((arg, i) => guard(`${path}.rollback[${i}]`, () => checkTemplate(arg)));
      rollback = { kind: 'exec', argv: d.rollback };
    }
    if (rollback !== undefined && d.transaction !== 'required') problems.push(`${path}.rollback: a rollback belongs to a step with transaction: required`);
    const common: StepCommon = {
      id: d.id,
      path,
      after: compileAfter(d, path),
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
        steps: compileSteps(d.steps, `${path}.steps`),
        onError: d.onError ? compileSteps(d.onError, `${path}.onError`) : [],
        ...(d.maxConcurrent !== undefined && { maxConcurrent: d.maxConcurrent }),
        maximumErrorCount: d.maximumErrorCount ?? 1,
      };
      if (container.steps.length === 0) problems.push(`${path}.steps: expected at least one step`);
      if (d.forEach !== undefined) {
        const f = d.forEach;
        let sourceOf: ForEachSource = { kind: 'items', items: [] };
        if ((f.items === undefined) === (f.files === undefined)) problems.push(`${path}.forEach: expected exactly one of items (a list) or files (a glob)`);
        else if (f.items !== undefined) sourceOf = { kind: 'items', items: f.items };
        else {
          guard(`${path}.forEach.files`, () => checkTemplate(f.files!));
          sourceOf = { kind: 'files', glob: f.files! };
        }
        f.items?.forEach((item, i) => typeof item === 'string' && guard(`${path}.forEach.items[${i}]`, () => checkTemplate(item)));
        step = { ...container, kind: 'forEach', source: sourceOf, as: f.as ?? 'item', checkpointIterations: d.checkpointIterations === true };
      } else if (d.for !== undefined) {
        const f = d.for;
        const initSource = typeof f.init === 'string' ? f.init : Object.entries(f.init ?? {}).map(([k, v]) => `vars.${k} = ${JSON.stringify(v)}`).join(', ');
        const init: Assignment[] = initSource === '' ? [] : (guard(`${path}.for.init`, () => parseAssignments(initSource)) ?? []);
        const whileExpr = guard(`${path}.for.while`, () => parseExpression(f.while)) ?? { t: 'lit' as const, value: false };
        const next: Assignment[] = f.next === undefined || f.next === '' ? [] : (guard(`${path}.for.next`, () => parseAssignments(f.next!)) ?? []);
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
      d.exec.forEach((arg, i) => guard(`${path}.exec[${i}]`, () => checkTemplate(arg)));
      const retry = d.retry !== undefined ? compileRetry(d.retry, `${path}.retry`, problems) : undefined;
      step = { ...common, kind: 'exec', argv: d.exec, ...(retry !== undefined && { retry }) };
    } else if (d.run !== undefined) {
      step = { ...common, kind: 'function', run: d.run };
    } else {
      const kind = d.copy !== undefined ? 'copy' : (pluginKinds[0] ?? 'copy');
      const raw = kind === 'copy' ? d.copy : (d as unknown as Record<string, unknown>)[kind];
      const plugin = plugins.get(kind);
      let spec: unknown = raw;
      if (plugin === undefined) {
        problems.push(`${path}.${kind}: step "${d.id}" is a ${kind} task, and no ${kind} task plug-in is registered in this runner (the file-transfer runner provides it)`);
      } else {
        spec = guard(`${path}.${kind}`, () => plugin.validate(raw, `${path}.${kind}`));
      }
      step = { ...common, kind: 'plugin', task: kind, spec };
    }
    stepsById.set(step.id, step);
    return step;
  };

  const compileAfter = (d: StepDefinition, path: string): Constraint[] | undefined => {
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
        problems.push(`${where}: expected "<step id>: success|failure|completion" (and an optional when: EXPR)`);
        return;
      }
      const whenSource = item['when'];
      const when = whenSource !== undefined ? guard(`${where}.when`, () => parseExpression(whenSource)) : undefined;
      for (const step of keys) {
        const on = item[step]!;
        if (!(Object.values(StepResult) as string[]).includes(on)) {
          problems.push(`${where}.${step}: expected success, failure or completion, not "${on}"`);
          continue;
        }
        out.push({ step, on: on as StepResult, ...(when !== undefined && { when, whenSource }) });
      }
    });
    return out;
  };

  /** Constraints name siblings, and the sibling graph has no cycle. */
  const checkPrecedence = (steps: readonly Step[], path: string): void => {
    const index = new Map(steps.map((s, i) => [s.id, i]));
    const edges = new Map<string, string[]>();
    steps.forEach((step, i) => {
      const preds: string[] = [];
      if (step.after === undefined) {
        if (i > 0) preds.push(steps[i - 1]!.id);
      } else {
        for (const c of step.after) {
          if (!index.has(c.step)) {
            problems.push(
              seenAt.has(c.step) || [...stepsById.keys()].includes(c.step)
                ? `${path}[${i}].after.${c.step}: step "${c.step}" is not in the same container as "${step.id}"; precedence constraints join siblings`
                : `${path}[${i}].after.${c.step}: no step has id "${c.step}"${suggestSibling(c.step, index.keys())}`,
            );
          } else if (c.step === step.id) problems.push(`${path}[${i}].after.${c.step}: a step cannot follow itself`);
          else preds.push(c.step);
        }
      }
      edges.set(step.id, preds);
    });
    // Depth-first search for a cycle; report it with the steps on it.
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (id: string): boolean => {
      if (state.get(id) === 'done') return false;
      if (state.get(id) === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(id)), id];
        problems.push(`${path}[${index.get(id)}].after: precedence constraints form a cycle: ${cycle.join(' -> ')}`);
        return true;
      }
      state.set(id, 'visiting');
      stack.push(id);
      for (const pred of edges.get(id) ?? []) if (visit(pred)) return true;
      stack.pop();
      state.set(id, 'done');
      return false;
    };
    for (const step of steps) if (visit(step.id)) break;
  };

  const rootSteps = compileSteps(def.steps, 'steps');
  const onError = def.onError ? compileSteps(def.onError, 'onError') : [];
  let retentionMs: number | undefined;
  if (def.checkpoint?.retention !== undefined) retentionMs = guard('checkpoint.retention', () => parseDuration(def.checkpoint!.retention!, 'checkpoint.retention'));
  const config: Record<string, PlainValue> = { ...(def.config ?? {}) };
  // Names read in templates and expressions: refused here, not when their step runs hours later.
  problems.push(...nameProblems(def, { pluginKinds: ['copy', ...plugins.keys()] }));
  if (problems.length > 0) {
    throw refusal(source, definition, problems);
  }

  const root: SequenceStep = {
    kind: 'sequence',
    id: def.id,
    path: '',
    after: [],
    afterLogic: 'and',
    failPackageOnFailure: false,
    failParentOnFailure: false,
    transaction: TransactionOption.Supported,
    steps: rootSteps,
    onError,
    ...(def.maxConcurrent !== undefined && { maxConcurrent: def.maxConcurrent }),
    maximumErrorCount: def.maximumErrorCount ?? 1,
  };
  return {
    id: def.id,
    version: String(def.version),
    baseDir: options.baseDir ?? process.cwd(),
    ...(options.file !== undefined && { file: options.file }),
    checkpoint: {
      ...(def.checkpoint?.file !== undefined && { file: def.checkpoint.file }),
      usage: def.checkpoint?.usage ?? CheckpointUsage.Never,
      save: def.checkpoint?.save ?? false,
      ...(retentionMs !== undefined && { retentionMs }),
    },
    variables,
    config,
    root,
    stepsById,
  };
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
    if (key !== 'attempts' && key !== 'wait' && key !== 'backoff') problems.push(`${where}.${key}: unknown field; retry has attempts, wait and backoff`);
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

/** Why `value` is not of `type`, or undefined when it is. */
export function typeProblem(type: VariableType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${JSON.stringify(value)}`;
    case 'int':
      return Number.isSafeInteger(value) ? undefined : `expected an integer, got ${JSON.stringify(value)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `expected a number, got ${JSON.stringify(value)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `expected true or false, got ${JSON.stringify(value)}`;
    case 'object':
      return undefined;
  }
}

/**
 * Converts text (from `--set` or `$CKPT_OUTPUT`) to a variable's type; throws naming the variable.
 * A sensitive variable's text is never quoted in the message.
 */
export function coerceText(name: string, type: VariableType, text: string, options: { readonly sensitive?: boolean } = {}): string | number | boolean {
  const shown = options.sensitive === true ? 'the value given' : `"${text}"`;
  switch (type) {
    case 'string':
    case 'object':
      return text;
    case 'int': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isSafeInteger(n)) throw new InvalidInputError(`variable "${name}" is an int; ${shown} is not an integer`);
      return n;
    }
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) throw new InvalidInputError(`variable "${name}" is a number; ${shown} is not a number`);
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text.trim())) return true;
      if (/^(false|0|no)$/i.test(text.trim())) return false;
      throw new InvalidInputError(`variable "${name}" is a boolean; ${shown} is not true or false`);
  }
}

/** The step structure that identifies a package's checkpoints (no commands, no volatile options). */
export function structureOf(pkg: Package): unknown {
  const of = (step: Step): unknown => ({
    id: step.id,
    kind: step.kind === 'plugin' ? `task:${step.task}` : step.kind,
    after: step.after?.map((c) => ({ step: c.step, on: c.on, when: c.whenSource })),
    afterLogic: step.afterLogic,
    transaction: step.transaction,
    ...(isContainer(step) && {
      steps: step.steps.map(of),
      onError: step.onError.map(of),
      ...(step.kind !== 'sequence' && { checkpointIterations: step.checkpointIterations }),
    }),
  });
  return { root: of(pkg.root) };
}
