/**
 * Issue 12, item 14 (copies): a copy into a missing or unwritable folder used to create a tree
 * of 0700 folders, or fail with a stack trace or "rerun to resume" naming an internal lock
 * although nothing had started. Like cp, it is refused before anything is created: exit 2, one
 * error line naming the folder, nothing written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();
/** Root may write anywhere: the unwritable-folder case runs the CLI as `nobody` then. */
const NOBODY = 65534;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-dest-folder-'));
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'foo.txt'), 'data\n', { mode: 0o644 });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ckpt(args: readonly string[], asUser?: number) {
  return spawnSync(process.execPath, [MAIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    // picocolors colours output when CI is set, even into a pipe: these lines are read as text.
    env: { ...process.env, NO_COLOR: '1' },
    ...(asUser !== undefined && { uid: asUser, gid: asUser }),
  });
}

/** One error line (plus its hint), exit 2, naming `folder`, never a lock, a stack or "rerun to resume". */
function expectRefusedNamingFolder(run: ReturnType<typeof ckpt>, folder: string, what: RegExp): void {
  expect(run.status, run.stderr).toBe(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toContain(folder);
  expect(lines[0]).toMatch(what);
  expect(
    lines.slice(1).every((line) => line.startsWith('  hint: ')),
    run.stderr,
  ).toBe(true);
  expect(run.stderr).not.toMatch(/\.lock|rerun|\n\s+at /);
}

describe('ckpt copy into a folder that cannot receive it', () => {
  it('a missing folder is refused (like cp) and not created', () => {
    const run = ckpt(['copy', 'foo.txt', 'missing/deep/x.txt']);
    expectRefusedNamingFolder(run, join(dir, 'missing', 'deep'), /does not exist/);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('a folder named with a trailing slash that does not exist is refused', () => {
    const run = ckpt(['copy', 'foo.txt', 'nowhere/']);
    expectRefusedNamingFolder(run, join(dir, 'nowhere'), /does not exist/);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  });

  it('a path through a file is refused', () => {
    const run = ckpt(['copy', 'foo.txt', 'foo.txt/x']);
    expectRefusedNamingFolder(run, join(dir, 'foo.txt'), /is not a folder|does not exist/);
  });

  it('an unwritable folder is refused, and nothing is written in it', async () => {
    await mkdir(join(dir, 'ro'));
    await chmod(join(dir, 'ro'), 0o555);
    const asUser = process.getuid?.() === 0 ? NOBODY : undefined;
    const run = ckpt(['copy', 'foo.txt', 'ro/x.txt'], asUser);
    expectRefusedNamingFolder(run, join(dir, 'ro'), /permission denied/);
    expect(readdirSync(join(dir, 'ro'))).toEqual([]);
  });
});
