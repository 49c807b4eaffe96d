import type { CheckpointUsage, PlainValue } from '@ckpt/core';
import type { Assignment, Expr } from './expression.js';
import type { FunctionTask } from './task-context.js';

/**
 * The validated package model. The YAML/JSON file ({@link loadPackageFile}) and the builder
 * ({@link definePackage}) both compile to it through `compilePackage`, which checks ids, references and
 * cycles.
 */

/** The result a step reports to its precedence constraints. */
export const StepResult = { Success: 'success', Failure: 'failure', Completion: 'completion' } as const;
export type StepResult = (typeof StepResult)[keyof typeof StepResult];

/** SSIS TransactionOption. */
export const TransactionOption = { Required: 'required', Supported: 'supported', NotSupported: 'not-supported' } as const;
export type TransactionOption = (typeof TransactionOption)[keyof typeof TransactionOption];

/** The variable types; `object` values are never written to a checkpoint. */
export const VariableType = { String: 'string', Int: 'int', Number: 'number', Boolean: 'boolean', Object: 'object' } as const;
export type VariableType = (typeof VariableType)[keyof typeof VariableType];

/** A precedence constraint: run after `step` ended with `on` (and `when` holds, if given). */
export interface Constraint {
  readonly step: string;
  readonly on: StepResult;
  readonly when?: Expr;
  readonly whenSource?: string;
}

/** Something run to undo a transaction: a process, or a function (builder). */
export type RollbackAction = { readonly kind: 'exec'; readonly argv: readonly string[] } | { readonly kind: 'function'; readonly run: FunctionTask };

/** Fields every step has. */
export interface StepCommon {
  readonly id: string;
  /** Where the step was defined (`steps[2].steps[0]`), for messages. */
  readonly path: string;
  /** `undefined`: the previous sibling must succeed (none for the first). Empty: no constraint. */
  readonly after: readonly Constraint[] | undefined;
  readonly afterLogic: 'and' | 'or';
  readonly failPackageOnFailure: boolean;
  readonly failParentOnFailure: boolean;
  readonly forceResult?: StepResult;
  readonly transaction: TransactionOption;
  readonly rollback?: RollbackAction;
  readonly timeoutMs?: number;
}

/** Fields of a container. */
export interface ContainerCommon {
  readonly steps: readonly Step[];
  /** Event handler run when a task inside fails (SSIS OnError). */
  readonly onError: readonly Step[];
  /** How many children run at once. */
  readonly maxConcurrent?: number;
  /** The container fails when this many of its children failed (SSIS MaximumErrorCount, default 1). */
  readonly maximumErrorCount: number;
}

/**
 * `retry: { attempts, wait, backoff }` of an exec step: a failed run is tried again up to
 * `attempts` times before the step counts as failed; the n-th retry waits
 * `waitMs * backoff^(n-1)`, at most {@link MAX_RETRY_WAIT_MS}.
 */
export interface RetryPolicy {
  readonly attempts: number;
  readonly waitMs: number;
  readonly backoff: number;
}

/** The longest one retry waits, whatever the backoff (a day; also within setTimeout's range). */
export const MAX_RETRY_WAIT_MS = 24 * 60 * 60 * 1000;

export interface ExecStep extends StepCommon {
  readonly kind: 'exec';
  readonly argv: readonly string[];
  readonly retry?: RetryPolicy;
}
/** A task run by a plug-in (`copy`). */
export interface PluginStep extends StepCommon {
  readonly kind: 'plugin';
  readonly task: string;
  readonly spec: unknown;
}
export interface FunctionStep extends StepCommon {
  readonly kind: 'function';
  readonly run: FunctionTask;
}
export interface SequenceStep extends StepCommon, ContainerCommon {
  readonly kind: 'sequence';
}
/** Where a forEach's items come from. */
export type ForEachSource = { readonly kind: 'items'; readonly items: readonly PlainValue[] } | { readonly kind: 'files'; readonly glob: string };
export interface ForEachStep extends StepCommon, ContainerCommon {
  readonly kind: 'forEach';
  readonly source: ForEachSource;
  readonly as: string;
  readonly checkpointIterations: boolean;
}
export interface ForStep extends StepCommon, ContainerCommon {
  readonly kind: 'for';
  readonly init: readonly Assignment[];
  readonly while: Expr;
  readonly next: readonly Assignment[];
  readonly source: { readonly init: string; readonly while: string; readonly next: string };
  readonly checkpointIterations: boolean;
}

export type TaskStep = ExecStep | PluginStep | FunctionStep;
export type ContainerStep = SequenceStep | ForEachStep | ForStep;
export type Step = TaskStep | ContainerStep;

/** Whether a step contains other steps. */
export function isContainer(step: Step): step is ContainerStep {
  return step.kind === 'sequence' || step.kind === 'forEach' || step.kind === 'for';
}

/** A declared variable. */
export interface VariableDecl {
  readonly type: VariableType;
  readonly value?: PlainValue;
  readonly sensitive: boolean;
}

/** The package's checkpoint settings (the CLI may override them). */
export interface CheckpointSettings {
  /** Absolute, or relative to the package's folder. */
  readonly file?: string;
  readonly usage: CheckpointUsage;
  readonly save: boolean;
  readonly retentionMs?: number;
}

/** A validated package. */
export interface Package {
  readonly id: string;
  readonly version: string;
  /** Folder exec tasks run in and relative paths resolve against. */
  readonly baseDir: string;
  /** The file it came from, when it came from one. */
  readonly file?: string;
  readonly checkpoint: CheckpointSettings;
  readonly variables: ReadonlyMap<string, VariableDecl>;
  readonly config: { readonly [key: string]: PlainValue };
  /** The root sequence. */
  readonly root: SequenceStep;
  /** Every step by id (ids are unique in a package). */
  readonly stepsById: ReadonlyMap<string, Step>;
}
