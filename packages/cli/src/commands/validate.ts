import { isCkptError } from '@ckpt/core';
import { PackageDefinitionError, loadPackageFile, type Package, type PackageProblem, type TaskPlugin } from '@ckpt/control-flow';
import { ExitCode } from '../exit-codes.js';
import { colors, escapeControlChars as safe, writeJsonLine, type CliIo } from '../output.js';
import { runTaskPlugins } from './run.js';

/** A problem as `ckpt validate` reports it: a package problem, or why the file could not be read. */
type Reported = PackageProblem & { readonly hint?: string };

/** `file:line:column` when the position is known, as editors and compilers write it. */
function location(file: string, problem: Reported): string {
  return problem.line !== undefined ? `${file}:${problem.line}:${problem.column ?? 1}` : file;
}

/**
 * `ckpt validate PACKAGE-FILE [--json]` (dtexec `/Validate`): loads and checks a package as
 * `ckpt run` does before its first step — fields, step ids and references, cycles, and every
 * name read in templates and expressions — and runs nothing, opens no checkpoint. Exit 0 when
 * valid, 2 with every problem listed otherwise.
 */
export async function validateCommand(
  file: string,
  options: { readonly json?: boolean },
  io: CliIo,
  plugins: readonly TaskPlugin[] = runTaskPlugins,
): Promise<number> {
  let pkg: Package | undefined;
  let problems: Reported[] = [];
  try {
    pkg = await loadPackageFile(file, { plugins });
  } catch (error) {
    // In the file's order (problems without a position, such as an unreadable file, first).
    if (error instanceof PackageDefinitionError)
      problems = [...error.details].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    else if (isCkptError(error, 'invalid')) {
      // The file cannot be read, or is too large: one problem, with the error's own advice.
      problems = [{ message: error.message.split('\n')[0]!, ...(error.hint !== undefined && { hint: error.hint }) }];
    } else throw error;
  }
  const code = problems.length === 0 ? ExitCode.Ok : ExitCode.Refused;
  if (options.json) {
    writeJsonLine(io, {
      type: 'validation',
      file,
      valid: problems.length === 0,
      ...(pkg !== undefined && { package: { id: pkg.id, version: pkg.version, steps: pkg.stepsById.size } }),
      problems,
      exitCode: code,
    });
    return code;
  }
  const c = colors;
  if (pkg !== undefined) {
    io.stdout.write(
      `${c.green('✓')} ${safe(file)}: valid (package ${safe(pkg.id)} version ${safe(pkg.version)}, ${pkg.stepsById.size} step${pkg.stepsById.size === 1 ? '' : 's'})\n`,
    );
    return code;
  }
  io.stdout.write(`${c.red('✗')} ${safe(file)}: not a valid package, ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  for (const problem of problems) {
    const field = problem.path !== undefined ? `${problem.path}${problem.step !== undefined ? ` (step ${problem.step})` : ''}: ` : '';
    io.stdout.write(`  ${safe(location(file, problem))}: ${safe(field)}${safe(problem.message)}\n`);
    if (problem.hint !== undefined) io.stdout.write(`    ${c.dim(`hint: ${safe(problem.hint)}`)}\n`);
  }
  return code;
}
