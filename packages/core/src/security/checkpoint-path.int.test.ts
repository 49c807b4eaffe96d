import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { openCheckpoint } from '../store/checkpoint-store.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';

/**
 * Issue 12 items 1 and 2: the checkpoint path is resolved once. A link the user named is
 * followed (two names, one lock); a link where ckpt derives a checkpoint path itself (a copy's
 * hidden `.name.ckpt`) is refused, never followed; a dangling link is refused either way.
 */
const dir = useTempDir('checkpoint-path');
const options = (path: string, followLink?: boolean) => ({
  path,
  identity: testIdentity(),
  usage: 'if-exists' as const,
  save: true,
  ...(followLink !== undefined && { followLink }),
});

describe('security: one real path per checkpoint', () => {
  it('follows a link the user named: the lock and the file are the real ones', async () => {
    const real = join(dir.path, 'state.ckpt');
    const first = await openCheckpoint(options(real, true));
    await first.close({ remove: false });
    symlinkSync('state.ckpt', join(dir.path, 'link.ckpt'));
    const viaLink = await openCheckpoint(options(join(dir.path, 'link.ckpt'), true));
    expect(viaLink.path).toBe(real);
    expect(existsSync(`${real}.lock`)).toBe(true);
    expect(existsSync(join(dir.path, 'link.ckpt.lock'))).toBe(false);
    await viaLink.close({ remove: false });
  });

  it('refuses a link where it derives the path itself (the default), leaving the target alone', async () => {
    const target = join(dir.path, 'precious.txt');
    writeFileSync(target, 'precious');
    symlinkSync(target, join(dir.path, '.report.csv.ckpt'));
    const error = await openCheckpoint(options(join(dir.path, '.report.csv.ckpt'))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/\.report\.csv\.ckpt is a symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('precious');
    expect(readdirSync(dir.path).sort()).toEqual(['.report.csv.ckpt', 'precious.txt']);
  });

  it('refuses a dangling link even when told to follow it', async () => {
    symlinkSync(join(dir.path, 'gone.ckpt'), join(dir.path, 'dangling.ckpt'));
    await expect(openCheckpoint(options(join(dir.path, 'dangling.ckpt'), true))).rejects.toThrow(
      /is a symbolic link to .*gone\.ckpt, which does not exist/,
    );
    expect(existsSync(join(dir.path, 'gone.ckpt'))).toBe(false);
  });
});
