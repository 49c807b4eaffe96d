import { compilePackage, type PackageDefinition, type StepDefinition } from './compile.js';
import type { Package, StepResult } from './model.js';
import type { FunctionTask, TaskPlugin } from './task-context.js';

/**
 * The TypeScript builder: the same definition as the file form, with function tasks, compiled
 * and validated by the same compiler.
 *
 * ```ts
 * const pkg = definePackage({ id: 'nightly', version: 1, checkpoint: { usage: 'if-exists', save: true } },
 *   task('extract', async (ctx) => ctx.setVariable('rows', await extract())),
 *   exec('load', ['sh', '-c', 'load ${{ vars.rows }}']),
 * );
 * ```
 */

/** Step options shared by every builder helper. */
export type StepOptions = Omit<StepDefinition, 'id' | 'exec' | 'copy' | 'run' | 'steps' | 'forEach' | 'for'>;

/** A function task. */
export function task(id: string, run: FunctionTask, options: StepOptions = {}): StepDefinition {
  return { ...options, id, run };
}

/** A process task. */
export function exec(id: string, argv: readonly string[], options: StepOptions = {}): StepDefinition {
  return { ...options, id, exec: argv };
}

/** A sequence container. */
export function sequence(id: string, steps: readonly StepDefinition[], options: StepOptions = {}): StepDefinition {
  return { ...options, id, steps };
}

/** A forEach loop over `items`, each bound to `vars.<as>`. */
export function forEach(
  id: string,
  loop: { readonly items: readonly (string | number | boolean)[]; readonly as?: string } | { readonly files: string; readonly as?: string },
  steps: readonly StepDefinition[],
  options: StepOptions = {},
): StepDefinition {
  return { ...options, id, forEach: loop, steps };
}

/** A for loop: `init`, `while`, `next` are expressions over `vars.X`. */
export function forLoop(
  id: string,
  loop: { readonly init?: string; readonly while: string; readonly next?: string },
  steps: readonly StepDefinition[],
  options: StepOptions = {},
): StepDefinition {
  return { ...options, id, for: loop, steps };
}

/** `{ [step]: result }` precedence, for `after`. */
export function after(step: string, on: StepResult = 'success'): { readonly [step: string]: StepResult } {
  return { [step]: on };
}

/** Compiles a package from its header and steps; throws PackageDefinitionError naming each problem. */
export function definePackage(
  header: Omit<PackageDefinition, 'steps'> & { readonly baseDir?: string; readonly plugins?: readonly TaskPlugin[] },
  ...steps: readonly StepDefinition[]
): Package {
  const { baseDir, plugins, ...rest } = header;
  return compilePackage({ ...rest, steps }, { ...(baseDir !== undefined && { baseDir }), ...(plugins !== undefined && { plugins }) });
}
