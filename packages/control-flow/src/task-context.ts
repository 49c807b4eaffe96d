import type { CkptEvent, ExtensionReducer, PlainValue } from '@ckpt/core';
import type { ExprValue } from './expression.js';

/** What a function task or a plug-in task gets while it runs. */
export interface TaskContext {
  /** The unit id of this run of the task, e.g. `per-region[1]/load-region`. */
  readonly unit: string;
  /** The step's id. */
  readonly stepId: string;
  /** Aborted on interrupt or timeout: stop, and reject (any error). */
  readonly signal: AbortSignal;
  readonly attempt: number;
  /** The folder of the package file: resolve relative paths against it. */
  readonly baseDir: string;
  /** The task's last recorded cursor (set by an earlier attempt), for resumable tasks. */
  readonly cursor: PlainValue | undefined;
  /** Records progress inside the task; a rerun after a crash gets it back as `cursor`. */
  setCursor(cursor: PlainValue): void;
  /** Records a runner-specific event (its namespace needs a reducer: {@link TaskPlugin.reducers}). */
  emit(event: CkptEvent): void;
  /** A variable's value (loop variables included). */
  getVariable(name: string): ExprValue | undefined;
  /** Sets a variable; recorded with the task's completion. */
  setVariable(name: string, value: ExprValue): void;
  /** A configuration value (captured on the first attempt). */
  getConfig(key: string): ExprValue | undefined;
  /** Expands `${{ vars.X }}` / `${{ config.X }}` in a text. */
  expand(text: string): string;
  /** A line of output for the run view. */
  log(line: string): void;
}

/** A task written in TypeScript (builder API). Reject to fail the step. */
export type FunctionTask = (context: TaskContext) => Promise<void> | void;

/**
 * A task kind provided from outside the control-flow runner, e.g. the file-transfer runner's
 * `copy`. The CLI registers it; the runner validates specs at load time and calls `run`.
 */
export interface TaskPlugin<Spec = unknown> {
  /** The step key in the package file (`copy`). */
  readonly kind: string;
  /** Reducers for the events the plug-in emits through {@link TaskContext.emit}. */
  readonly reducers?: readonly ExtensionReducer[];
  /**
   * Checks the spec as written in the file (before `${{ }}` expansion); throws an Error whose
   * message says what is wrong. `path` names the field, e.g. `steps[4].copy`.
   */
  validate(spec: unknown, path: string): Spec;
  /**
   * Runs the task. String fields of the spec have had their `${{ }}` templates expanded.
   * Resolves on success (optionally with a plain result to record); rejects on failure.
   */
  run(spec: Spec, context: TaskContext): Promise<PlainValue | void>;
}
