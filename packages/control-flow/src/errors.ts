import { InvalidInputError } from '@ckpt/core';

/** A package definition (file or builder) that is not valid; each problem names its path. */
export class PackageDefinitionError extends InvalidInputError {
  constructor(
    /** The file, or `package "<id>"` for a builder definition. */
    readonly source: string,
    /** One line per problem: `steps[2].forEach.items: expected an array`. */
    readonly problems: readonly string[],
  ) {
    const shown = problems.slice(0, 12);
    const more = problems.length > shown.length ? `\n  ... and ${problems.length - shown.length} more` : '';
    super(`${source} is not a valid package:\n${shown.map((p) => `  ${p}`).join('\n')}${more}`, {
      hint: 'fix the fields named above; docs/package-file.md describes the format',
    });
  }
}

/** The package ran and failed; the checkpoint (if saved) lets a rerun resume. */
export class PackageFailedError extends Error {
  readonly code = 'package-failed';
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
    this.name = 'PackageFailedError';
  }
}
