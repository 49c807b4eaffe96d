import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, createIdentity, type Runner } from '@ckpt/core';
import { concat, of, throwError } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { ckptBin } from '../test-support/ckpt-bin.js';

/**
 * Issue 12, items 13 and 14: what `inspect`, `events` and `run` do with a checkpoint path that
 * is not a readable checkpoint, and `inspect --html` into a folder that is not there. Each is a
 * refusal (exit 2) in one line that names the problem, never a stack trace, never advice to
 * delete a file that is not a checkpoint.
 */

const main = ckptBin();
const ckpt = (args: readonly string[], options: SpawnSyncOptions = {}) => {
  const result = spawnSync(process.execPath, [main, ...args], {
    cwd: dir,
    timeout: 30_000,
    ...options,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: result.status, stdout: String(result.stdout), stderr: String(result.stderr) };
};
const noStackTrace = /\n\s+at |node:internal/;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-sec-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const identity = createIdentity({ kind: 'demo', id: 'nightly', version: 3, structure: ['a', 'b'] });
const halfDone: Runner<null> = {
  kind: 'demo',
  identify: () => identity,
  run: () =>
    concat(
      of({ type: 'unit-started' as const, unit: 'extract' }, { type: 'unit-completed' as const, unit: 'extract', outcome: 'success' as const }),
      throwError(() => new Error('load lost its connection')),
    ),
};

async function failedCheckpoint(name = 'nightly.ckpt'): Promise<string> {
  const path = join(dir, name);
  await new Engine().run(halfDone, null, { checkpoint: { path, usage: 'if-exists', save: true } });
  return path;
}

/** A package whose checkpoint is `checkpointFile` (relative to the package's folder). */
function packageWith(checkpointFile: string): string {
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    `id: job\nversion: 1\ncheckpoint: { file: ${checkpointFile}, usage: if-exists, save: true }\nsteps:\n  - { id: only, exec: [sh, -c, "echo ran >> ran.txt"] }\n`,
  );
  return file;
}

function expectRefusal(result: { status: number | null; stderr: string }, problem: RegExp) {
  expect(result.status, result.stderr).toBe(2);
  expect(result.stderr).toMatch(problem);
  expect(result.stderr).not.toMatch(noStackTrace);
  expect(result.stderr.trim().split('\n').length, result.stderr).toBeLessThanOrEqual(2); // the error and its hint
}

describe('a checkpoint path that is a symbolic link', () => {
  it('inspect and events follow a link to a valid checkpoint, as run does', async () => {
    await failedCheckpoint();
    symlinkSync('nightly.ckpt', join(dir, 'link.ckpt'));
    const inspected = ckpt(['inspect', 'link.ckpt']);
    expect(inspected.status, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain('demo "nightly" version 3');
    expect(inspected.stdout).toMatch(/✓ extract/);
    const events = ckpt(['events', 'link.ckpt', '--json']);
    expect(events.status, events.stderr).toBe(0);
    expect(events.stdout).toContain('"unit-completed"');
  });

  it('a dangling link is refused by inspect, events and run with exit 2, naming the link and its missing target', () => {
    symlinkSync('gone.ckpt', join(dir, 'dangling.ckpt'));
    expectRefusal(ckpt(['inspect', 'dangling.ckpt']), /dangling\.ckpt is a symbolic link to gone\.ckpt, which does not exist/);
    expectRefusal(ckpt(['events', 'dangling.ckpt']), /dangling\.ckpt is a symbolic link to gone\.ckpt, which does not exist/);
    const run = ckpt(['run', packageWith('dangling.ckpt')]);
    expectRefusal(run, /dangling\.ckpt is a symbolic link to gone\.ckpt, which does not exist/);
    // Refused before any work: the step did not run, nothing was created.
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['dangling.ckpt', 'job.yaml']);
  });
});

describe('a checkpoint this user may not read', () => {
  // chmod 000 does not stop root, whom CI runs as: then the CLI runs as nobody (uid 65534),
  // which may not read the file either; either way the read really fails with EACCES.
  const asOtherUser: SpawnSyncOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

  it('inspect, events and run refuse it with exit 2, saying permission is denied; the file is untouched', async () => {
    const path = await failedCheckpoint();
    const before = readFileSync(path);
    chmodSync(path, 0o000);
    chmodSync(dir, 0o777); // nobody may enter the folder and create files in it, but not read the checkpoint
    const pkg = packageWith('nightly.ckpt');
    chmodSync(pkg, 0o644);
    expectRefusal(ckpt(['inspect', path], asOtherUser), /cannot read checkpoint .*nightly\.ckpt: permission denied/);
    expectRefusal(ckpt(['events', path], asOtherUser), /cannot read checkpoint .*nightly\.ckpt: permission denied/);
    expectRefusal(ckpt(['run', pkg], asOtherUser), /cannot read checkpoint .*nightly\.ckpt: permission denied/);
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(existsSync(`${path}.lock`)).toBe(false);
    chmodSync(path, 0o600);
    expect(firstDifference(readFileSync(path), before)).toBeUndefined();
  });
});

describe('a file that is not a checkpoint', () => {
  it('inspect and events on a package file say "not a checkpoint" and never advise deleting it', () => {
    const pkg = packageWith('.ckpt/job.ckpt');
    for (const verb of ['inspect', 'events']) {
      const result = ckpt([verb, pkg]);
      expectRefusal(result, /job\.yaml is not a checkpoint/);
      expect(result.stderr).not.toMatch(/delet|remov|corrupt/i);
    }
    expect(readFileSync(pkg, 'utf8')).toContain('id: job');
  });

  it('inspect and events on an empty file say "not a checkpoint: the file is empty", no advice to delete', () => {
    writeFileSync(join(dir, 'empty.ckpt'), '');
    for (const verb of ['inspect', 'events']) {
      const result = ckpt([verb, 'empty.ckpt']);
      expectRefusal(result, /empty\.ckpt is not a checkpoint: the file is empty/);
      expect(result.stderr).not.toMatch(/delet|remov|corrupt/i);
    }
  });

  it('run pointed at its own package file as checkpoint refuses it without advising to delete it', () => {
    const pkg = packageWith('job.yaml');
    const result = ckpt(['run', pkg]);
    expectRefusal(result, /job\.yaml .*not a ckpt checkpoint/);
    expect(result.stderr).not.toMatch(/delet/i);
    expect(readFileSync(pkg, 'utf8')).toContain('id: job');
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
  });

  it('a FIFO, directly or through a link, is refused at once (exit 2) instead of waiting for a writer', () => {
    const fifo = spawnSync('mkfifo', [join(dir, 'fifo.ckpt')]);
    expect(fifo.status).toBe(0);
    symlinkSync('fifo.ckpt', join(dir, 'to-fifo.ckpt'));
    for (const path of ['fifo.ckpt', 'to-fifo.ckpt'])
      expectRefusal(ckpt(['inspect', path], { timeout: 10_000 }), /is not a checkpoint file: it is a special file/);
    expectRefusal(ckpt(['events', '.']), /\. is not a checkpoint file: it is a directory/);
  });
});

describe('inspect --html', () => {
  it('into a missing directory: one line naming the directory, exit 2, nothing on stdout', async () => {
    const path = await failedCheckpoint();
    const result = ckpt(['inspect', path, '--html', 'no/such/dir/timeline.html']);
    expectRefusal(
      result,
      new RegExp(`cannot write the timeline: the directory ${join(dir, 'no/such/dir').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`),
    );
    expect(result.stdout).toBe('');
  });

  it('onto an existing directory: refused with exit 2, naming it', async () => {
    const path = await failedCheckpoint();
    expectRefusal(ckpt(['inspect', path, '--html', '.']), /--html \.: cannot write the timeline: \. is a directory/);
  });
});
