import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CKPT_ERROR_BRAND, CkptError, CorruptCheckpointError, ErrorCode, InvalidInputError, isCkptError } from './errors.js';
import { FoldError } from './fold/fold.js';

// A second copy of this module, as two versions of @ckpt/core in one node_modules would load:
// the same source at another path is another module, with its own classes.
const copyDir = mkdtempSync(join(tmpdir(), 'ckpt-errors-copy-'));
afterAll(() => rmSync(copyDir, { recursive: true, force: true }));
async function secondCopy(): Promise<typeof import('./errors.js')> {
  const copy = join(copyDir, 'errors.ts');
  copyFileSync(join(dirname(fileURLToPath(import.meta.url)), 'errors.ts'), copy);
  return (await import(pathToFileURL(copy).href)) as typeof import('./errors.js');
}

describe('one error hierarchy, recognised across copies of the package', () => {
  it('an error thrown by another copy of @ckpt/core is a ckpt error, with its code', async () => {
    const other = await secondCopy();
    expect(other.InvalidInputError).not.toBe(InvalidInputError); // really another copy
    const foreign = new other.InvalidInputError('bad input');
    expect(foreign instanceof InvalidInputError).toBe(false); // instanceof alone would miss it
    expect(isCkptError(foreign)).toBe(true);
    expect(isCkptError(foreign, 'invalid')).toBe(true);
    expect(isCkptError(foreign, 'corrupt')).toBe(false);
    expect(foreign instanceof CkptError).toBe(true);
    expect(other.isCkptError(new CorruptCheckpointError('f', 0, 'bad'), 'corrupt')).toBe(true);
    expect(other.CKPT_ERROR_BRAND).toBe(CKPT_ERROR_BRAND);
  });

  it('the brand is not a code or name check: look-alikes are not ckpt errors', () => {
    expect(isCkptError(Object.assign(new Error('x'), { code: 'invalid', hint: undefined }))).toBe(false);
    expect(isCkptError({ code: 'invalid' })).toBe(false);
    expect(isCkptError(null)).toBe(false);
    expect({ code: 'invalid' } instanceof CkptError).toBe(false);
  });

  it('subclasses keep instanceof for their own class', () => {
    const corrupt = new CorruptCheckpointError('f', 3, 'bad');
    expect(corrupt instanceof CorruptCheckpointError).toBe(true);
    expect(corrupt instanceof InvalidInputError).toBe(false);
    expect(new InvalidInputError('x') instanceof CorruptCheckpointError).toBe(false);
  });

  it('FoldError is a ckpt error with the stable code invalid-event', () => {
    const error = new FoldError('unit-started: needs a unit');
    expect(isCkptError(error, ErrorCode.InvalidEvent)).toBe(true);
    expect(error.code).toBe('invalid-event');
    expect(error.name).toBe('FoldError');
    expect(error.message).toBe('unit-started: needs a unit');
  });
});
