/**
 * Issue 12, item 10: a FIFO where ckpt expects a file (the checkpoint of `ckpt run`, a hidden
 * companion of `ckpt copy`) used to hang the process for ever in open(2), deaf to SIGINT and
 * SIGTERM. It is refused at once: exit 2, naming the file, "not a regular file", nothing run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();
/** Far above what a refusal takes; a hang is killed here and fails the test (status null). */
const BOUND_MS = 20_000;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-fifo-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr}`);
}

function ckpt(args: readonly string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: BOUND_MS, killSignal: 'SIGKILL' });
}

function expectRefusedAsFifo(run: ReturnType<typeof ckpt>, name: string): void {
  expect(run.signal, 'the process hung and was killed').toBeNull();
  expect(run.status, run.stderr).toBe(2);
  expect(run.stderr).toContain(name);
  expect(run.stderr).toMatch(/is a FIFO \(named pipe\), not a regular file/);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('a FIFO where ckpt expects a regular file', () => {
  it('as the checkpoint file of ckpt run: refused at once, the step never runs', async () => {
    mkfifo(join(dir, 'job.ckpt'));
    await writeFile(
      join(dir, 'job.yaml'),
      `id: job\nversion: 1\ncheckpoint: { file: job.ckpt, usage: if-exists, save: true }\nsteps:\n  - { id: touch, exec: [sh, -c, "echo ran > ran.txt"] }\n`,
    );
    expectRefusedAsFifo(ckpt(['run', 'job.yaml']), 'job.ckpt');
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
  });

  it('as the checkpoint file named by --checkpoint-file with usage always: refused at once', async () => {
    mkfifo(join(dir, 'other.ckpt'));
    await writeFile(join(dir, 'job.yaml'), `id: job\nversion: 1\nsteps:\n  - { id: touch, exec: [sh, -c, "echo ran > ran.txt"] }\n`);
    expectRefusedAsFifo(ckpt(['run', 'job.yaml', '--checkpoint-file', 'other.ckpt', '--usage', 'always', '--save-checkpoints']), 'other.ckpt');
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
  });

  it('as the hidden partial file of ckpt copy: refused at once, nothing published', async () => {
    await writeFile(join(dir, 'a.txt'), 'data\n');
    await mkdir(join(dir, 'out'));
    mkfifo(join(dir, 'out', '.a.txt.ckpt-part'));
    expectRefusedAsFifo(ckpt(['copy', 'a.txt', 'out/a.txt', '--short-retries', '0']), '.a.txt.ckpt-part');
    expect(existsSync(join(dir, 'out', 'a.txt'))).toBe(false);
  });

  it('as the source of ckpt copy: refused at once', async () => {
    mkfifo(join(dir, 'pipe'));
    const run = ckpt(['copy', 'pipe', 'copy-of-pipe', '--short-retries', '0']);
    expect(run.signal, 'the process hung and was killed').toBeNull();
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/source \S*pipe is not a regular file/);
    expect(existsSync(join(dir, 'copy-of-pipe'))).toBe(false);
  });
});
