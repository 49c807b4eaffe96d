import { CheckpointUsage, type PlainValue } from '@ckpt/core';
import { parseDuration } from '@ckpt/core/internal';
import { z } from 'zod';
import { PackageDefinitionError, type PackageProblem } from './errors.js';
import { type StepResult, TransactionOption, type VariableType, type Package, type SequenceStep, type VariableDecl } from './model.js';
import { nameProblems } from './names.js';
import { pathKeys, stepOn } from './problem-location.js';
import { StepCompiler } from './step-compiler.js';
import type { FunctionTask, TaskPlugin } from './task-context.js';
import { typeProblem } from './variables.js';

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
  readonly for?: {
    readonly init?: string | { readonly [name: string]: string | number | boolean | null };
    readonly while: string;
    readonly next?: string;
  };
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
      .strictObject({
        items: z.array(scalar).optional(),
        files: z.string().min(1).optional(),
        as: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
          .optional(),
      })
      .optional(),
    for: z
      .strictObject({ init: z.union([z.string(), z.record(z.string(), scalar)]).optional(), while: z.string().min(1), next: z.string().optional() })
      .optional(),
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
      z.strictObject({
        type: z.enum(['string', 'int', 'number', 'boolean', 'object']),
        value: z.unknown().optional(),
        sensitive: z.boolean().optional(),
      }),
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
        problems.push(
          `${formatPath(path)}: ${value.length.toLocaleString('en-US')} characters; the limit is ${PackageLimits.stringChars.toLocaleString('en-US')} per value`,
        );
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

/** The error listing `problems`, each with the step it belongs to. */
function refusal(source: string, definition: unknown, problems: readonly (string | PackageProblem)[]): PackageDefinitionError {
  return new PackageDefinitionError(source, problems).withDetails((p) => {
    const step = p.path !== undefined ? stepOn(definition, pathKeys(definition, p.path)) : undefined;
    return step !== undefined ? { ...p, step } : p;
  });
}

/** Checks a package definition and compiles it to the model; throws {@link PackageDefinitionError}. */
export function compilePackage(definition: unknown, options: CompileOptions = {}): Package {
  const source = options.source ?? options.file ?? `package "${String((definition as { id?: unknown } | null)?.id ?? '?')}"`;
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
    throw new PackageDefinitionError(source, [
      `steps: ${stepCount.toLocaleString('en-US')} steps; the limit is ${PackageLimits.steps.toLocaleString('en-US')} in a package (split it into several packages)`,
    ]);
  }
  const plugins = new Map((options.plugins ?? []).map((p) => [p.kind, p]));
  const compiler = new StepCompiler(plugins);
  // One list, in the order met: variables, steps, names.
  const problems = compiler.problems;

  const variables = new Map<string, VariableDecl>();
  for (const [name, decl] of Object.entries(def.variables ?? {})) {
    const where = `variables.${name}`;
    const value = decl.value;
    if (value !== undefined) {
      const problem = typeProblem(decl.type, value);
      if (problem !== undefined) problems.push(`${where}.value: ${problem}`);
    }
    if (decl.type === 'object' && decl.sensitive)
      problems.push(`${where}.sensitive: object variables are never persisted; "sensitive" does not apply`);
    variables.set(name, { type: decl.type, ...(value !== undefined && { value: value as PlainValue }), sensitive: decl.sensitive === true });
  }

  const rootSteps = compiler.compileSteps(def.steps, 'steps');
  const onError = def.onError ? compiler.compileSteps(def.onError, 'onError') : [];
  let retentionMs: number | undefined;
  if (def.checkpoint?.retention !== undefined)
    retentionMs = compiler.guard('checkpoint.retention', () => parseDuration(def.checkpoint!.retention!, 'checkpoint.retention'));
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
    stepsById: compiler.stepsById,
  };
}
