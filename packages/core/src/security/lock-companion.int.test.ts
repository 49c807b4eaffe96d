import { existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import type { Runner } from '../engine/runner.js';
import { InvalidInputError } from '../errors.js';
import { FileLocker } from '../lock/file-locker.js';
import { pruneCheckpoints } from '../store/prune.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';

/**
 * Issue 12 item 2 (lock companion): a symbolic link planted at `<file>.lock` was followed — its
 * target judged stale by mtime, and the owner record inside it deleted through the link.
 */
const dir = useTempDir('lock-companion');
const DAY = 24 * 60 * 60 * 1000;
const noop = { onCompromised: () => undefined };

function plantLink(lockPath: string): string {
  const outside = join(dir.path, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'owner.json'), 'precious');
  utimesSync(outside, new Date(2000, 0, 1), new Date(2000, 0, 1));
  symlinkSync(outside, lockPath);
  return outside;
}

describe('security: the lock companion is never followed', () => {
  it('acquire refuses a symbolic link at <file>.lock, naming it, and leaves its target alone', async () => {
    const file = join(dir.path, 'job.ckpt');
    const outside = plantLink(`${file}.lock`);
    const error = await new FileLocker().acquire(file, noop).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toContain(`the writer lock ${file}.lock is a symbolic link`);
    expect((error as InvalidInputError).hint).toContain(`remove ${file}.lock`);
    expect(readFileSync(join(outside, 'owner.json'), 'utf8')).toBe('precious');
    await expect(new FileLocker().owner(file)).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('acquire refuses a dangling link and a plain file there too', async () => {
    const a = join(dir.path, 'a.ckpt');
    symlinkSync(join(dir.path, 'nowhere'), `${a}.lock`);
    await expect(new FileLocker().acquire(a, noop)).rejects.toThrow(/is a symbolic link/);
    expect(existsSync(join(dir.path, 'nowhere'))).toBe(false);
    const b = join(dir.path, 'b.ckpt');
    writeFileSync(`${b}.lock`, '');
    await expect(new FileLocker().acquire(b, noop)).rejects.toThrow(/is not a directory/);
  });

  it('prune skips a checkpoint whose lock is a planted link, says why, and prunes the others', async () => {
    const failing: Runner<null> = { kind: 'test', identify: () => testIdentity(), run: () => throwError(() => new Error('boom')) };
    const paths = [join(dir.path, 'one.ckpt'), join(dir.path, 'two.ckpt')];
    for (const path of paths) {
      await new Engine().run(failing, null, { checkpoint: { path, usage: 'if-exists', save: true } });
      utimesSync(path, new Date(Date.now() - 40 * DAY), new Date(Date.now() - 40 * DAY));
    }
    const outside = plantLink(`${paths[0]}.lock`);
    const report = await pruneCheckpoints(dir.path);
    expect(report.removed.map((r) => r.path)).toEqual([paths[1]]);
    expect(report.skipped).toEqual([{ path: paths[0], reason: expect.stringContaining('is a symbolic link') }]);
    expect(readFileSync(join(outside, 'owner.json'), 'utf8')).toBe('precious');
  });
});
