import { CkptError, ErrorCode, InvalidInputError } from '@ckpt/core';

/** One problem of a package definition, with where it is. */
export interface PackageProblem {
  /** The field: `steps[2].forEach.items`, or `(top level)`; absent for a YAML syntax error. */
  readonly path?: string;
  readonly message: string;
  /** The innermost step the field belongs to, when it belongs to one. */
  readonly step?: string;
  /** 1-based, where the YAML parser places the field (package files only). */
  readonly line?: number;
  readonly column?: number;
  /** For an unknown name: the closest name defined there. */
  readonly suggestion?: string;
}

/** `steps[2].forEach.items: expected an array` → its path and message; `line 3, column 5: …` → its position. */
function problemOf(text: string): PackageProblem {
  const at = /^line (\d+), column (\d+): ([\s\S]*)$/.exec(text);
  if (at) return { line: Number(at[1]), column: Number(at[2]), message: at[3]! };
  const colon = text.indexOf(': ');
  return colon > 0 ? { path: text.slice(0, colon), message: text.slice(colon + 2) } : { message: text };
}

/** The one-line form of a problem, as the error message lists it. */
export function formatProblem(problem: PackageProblem): string {
  const where = problem.path ?? (problem.line !== undefined ? `line ${problem.line}, column ${problem.column ?? 1}` : undefined);
  return where === undefined ? problem.message : `${where}: ${problem.message}`;
}

/** A package definition (file or builder) that is not valid; each problem names its path. */
export class PackageDefinitionError extends InvalidInputError {
  /** One line per problem: `steps[2].forEach.items: expected an array`. */
  readonly problems: readonly string[];
  /** The same problems, each with its path, step and (for files) line and column. */
  readonly details: readonly PackageProblem[];
  constructor(
    /** The file, or `package "<id>"` for a builder definition. */
    readonly source: string,
    problems: readonly (string | PackageProblem)[],
  ) {
    const details = problems.map((p) => (typeof p === 'string' ? problemOf(p) : p));
    const lines = problems.map((p) => (typeof p === 'string' ? p : formatProblem(p)));
    const shown = lines.slice(0, 12);
    const more = lines.length > shown.length ? `\n  ... and ${lines.length - shown.length} more (ckpt validate lists them all)` : '';
    super(`${source} is not a valid package:\n${shown.map((p) => `  ${p}`).join('\n')}${more}`, {
      hint: 'fix the fields named above; docs/package-file.md describes the format',
    });
    this.problems = lines;
    this.details = details;
  }

  /** The same error with each problem's details completed (step, line, column). */
  withDetails(complete: (problem: PackageProblem) => PackageProblem): PackageDefinitionError {
    return new PackageDefinitionError(this.source, this.details.map(complete));
  }
}

/** The package ran and failed; the checkpoint (if saved) lets a rerun resume. */
export class PackageFailedError extends CkptError {
  readonly code = ErrorCode.PackageFailed;
  constructor(
    readonly packageId: string,
    /** The steps whose failure failed the package, with their messages. */
    readonly failures: readonly { readonly unit: string; readonly message: string }[],
  ) {
    super(
      failures.length === 0
        ? `package "${packageId}" failed`
        : `package "${packageId}" failed: ${failures.map((f) => `step ${f.unit}: ${f.message}`).join('; ')}`,
    );
  }
}
