/**
 * `ckpt run` as a process: an exec step's `retry` (each retry an event, the wait interruptible,
 * the retries counted again after a crash) and `--rerun STEP` (a completed step and what follows
 * it run again; recorded, so `ckpt inspect` says why).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-retry-int-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

function start(args: string[]) {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child.on('close', (code) => done({ code, stdout, stderr })),
  );
  return { child, exited, output: () => stdout };
}

const ckpt = (...args: string[]) => start(args).exited;

/** Polls `condition` every 20 ms, for at most `ms`. */
async function until(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A command that fails while the counter file `count` (after incrementing) is below `okFrom`. */
const flaky = (okFrom: number) =>
  `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge ${okFrom} ] || { echo "try $n failed" >&2; exit 1; }`;

function retryPackage(okFrom: number, retry: string): string {
  return `id: r\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - id: flaky\n    exec: [sh, -c, '${flaky(okFrom)}']\n    retry: ${retry}\n  - { id: after, exec: [sh, -c, 'echo after >> log'] }\n`;
}

describe('exec step retry', () => {
  it('a step that fails twice then succeeds is retried, each retry shown and recorded, and the package succeeds', async () => {
    const file = join(dir, 'r.yaml');
    await writeFile(file, retryPackage(3, '{ attempts: 3, wait: 100ms, backoff: 2 }'));
    const human = await ckpt('run', file);
    expect(human.code).toBe(0);
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('3\n');
    expect(human.stdout).toMatch(/retry 1\/3 of step flaky in 100ms: command "sh" exited with code 1; its stderr ends with: try 1 failed/);
    expect(human.stdout).toMatch(/retry 2\/3 of step flaky in 200ms: .*try 2 failed/);
    expect(human.stdout).not.toMatch(/retry 3\/3/);

    await rm(join(dir, 'count'));
    const json = await ckpt('run', file, '--json');
    expect(json.code).toBe(0);
    const retries = jsonLines(json.stdout).filter((e) => e['type'] === 'control-flow/retry');
    expect(retries.map((e) => [e['unit'], e['retry'], e['of'], e['waitMs']])).toEqual([
      ['flaky', 1, 3, 100],
      ['flaky', 2, 3, 200],
    ]);
  });

  it('a step that still fails after its retries fails the run, and ckpt events lists each retry', async () => {
    const file = join(dir, 'r.yaml');
    await writeFile(file, retryPackage(10, '{ attempts: 2, wait: 10ms }'));
    const run = await ckpt('run', file);
    expect(run.code).toBe(1);
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('3\n');
    expect(existsSync(join(dir, 'log'))).toBe(false);
    const events = await ckpt('events', join(dir, '.ckpt', 'r.ckpt'));
    expect(events.code).toBe(0);
    expect(events.stdout.match(/control-flow\/retry/g)).toHaveLength(2);
    expect(events.stdout).toMatch(
      /control-flow\/retry \{"unit":"flaky","step":"flaky","retry":2,"of":2,"waitMs":10,"error":"command \\"sh\\" exited with code 1; its stderr ends with: try 2 failed"\}/,
    );
  });

  it('attempts: 0 never retries', async () => {
    const file = join(dir, 'r.yaml');
    await writeFile(file, retryPackage(2, '{ attempts: 0 }'));
    const run = await ckpt('run', file);
    expect(run.code).toBe(1);
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('1\n');
  });

  it.each([
    ['{ attempts: -1 }', /steps\[0\]\.retry\.attempts: expected an integer 0 or more, got -1/],
    ['{ attempts: 1.5 }', /steps\[0\]\.retry\.attempts: expected an integer 0 or more, got 1\.5/],
    ['{ wait: 1s }', /steps\[0\]\.retry\.attempts: missing/],
    ['{ attempts: 2, wait: soon }', /steps\[0\]\.retry\.wait: "soon" is not a duration/],
    ['{ attempts: 2, backoff: 0.5 }', /steps\[0\]\.retry\.backoff: expected a number 1 or more .*got 0\.5/],
    ['{ attempts: 2, tries: 3 }', /steps\[0\]\.retry\.tries: unknown field/],
    ['3', /steps\[0\]\.retry: expected a mapping/],
  ])('retry: %s is refused before any work (exit 2)', async (retry, message) => {
    const file = join(dir, 'r.yaml');
    await writeFile(file, retryPackage(1, retry));
    const run = await ckpt('run', file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(existsSync(join(dir, 'count'))).toBe(false);
    expect(existsSync(join(dir, '.ckpt'))).toBe(false);
  });

  it('retry on a container is refused, naming the field', async () => {
    const file = join(dir, 'r.yaml');
    await writeFile(
      file,
      `id: r\nversion: 1\nsteps:\n  - id: g\n    retry: { attempts: 1 }\n    steps:\n      - { id: a, exec: [sh, -c, 'true'] }\n`,
    );
    const run = await ckpt('run', file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/steps\[0\]\.retry: only exec steps have retry/);
  });

  it('SIGINT during a retry wait stops the run at once (exit 130) and a rerun resumes', async () => {
    const file = join(dir, 'r.yaml');
    await writeFile(file, retryPackage(2, '{ attempts: 1, wait: 10m }'));
    const proc = start(['run', file, '--json']);
    await until(() => proc.output().includes('"control-flow/retry"'), 'the retry event');
    const stoppedAt = Date.now();
    process.kill(-proc.child.pid!, 'SIGINT');
    const ended = await proc.exited;
    expect(ended.code).toBe(130);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    const rerun = await ckpt('run', file);
    expect(rerun.code).toBe(0);
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('2\n');
  });

  it('a crash (kill -9) during a retry wait: the restart runs the step again at once, with its retries counted from 1', async () => {
    const file = join(dir, 'r.yaml');
    // Fails on its first two runs. The retry settings are not part of the package's identity,
    // so the restart may use a short wait.
    await writeFile(file, retryPackage(3, '{ attempts: 1, wait: 10m }'));
    const proc = start(['run', file, '--json']);
    await until(() => proc.output().includes('"control-flow/retry"'), 'the retry event');
    process.kill(-proc.child.pid!, 'SIGKILL');
    await proc.exited;
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('1\n');

    await writeFile(file, retryPackage(3, '{ attempts: 1, wait: 10ms }'));
    const restart = await ckpt('run', file, '--json');
    expect(restart.code).toBe(0);
    expect(await readFile(join(dir, 'count'), 'utf8')).toBe('3\n');
    const retries = jsonLines(restart.stdout).filter((e) => e['type'] === 'control-flow/retry');
    // Retry 1 of 1 again: a new attempt starts the step's retries over (docs/restart-semantics.md).
    expect(retries.map((e) => [e['retry'], e['of'], e['waitMs']])).toEqual([[1, 1, 10]]);
  });
});

const RERUN_PACKAGE = `id: q
version: 1
checkpoint: { usage: if-exists, save: true }
steps:
  - { id: a, exec: [sh, -c, 'echo a >> log'] }
  - id: grp
    steps:
      - { id: b1, exec: [sh, -c, 'echo b1 >> log; [ ! -f fail-b1 ]'] }
      - { id: b2, exec: [sh, -c, 'echo b2 >> log'] }
  - { id: c, exec: [sh, -c, 'echo c >> log; [ -f ok ]'] }
`;

describe('ckpt run --rerun', () => {
  it('runs a completed step again on restart, with what follows it; inspect and events say why', async () => {
    const file = join(dir, 'q.yaml');
    await writeFile(file, RERUN_PACKAGE);
    expect((await ckpt('run', file)).code).toBe(1);
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\n');

    const rerun = await ckpt('run', file, '--rerun', 'b2');
    expect(rerun.code).toBe(1);
    // b2 and c ran again; a and b1 (before b2) were skipped.
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\nb2\nc\n');
    expect(rerun.stdout).toMatch(/--rerun b2 \(attempt 2\): grp, b2, c run again from there/);
    expect(rerun.stdout).toMatch(/↷ grp\/b1 {2}skipped/);

    const checkpoint = join(dir, '.ckpt', 'q.ckpt');
    const inspect = await ckpt('inspect', checkpoint);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/--rerun b2 \(attempt 2\): grp, b2, c run again from there; what they recorded before attempt 2 does not count/);
    const events = jsonLines((await ckpt('events', checkpoint, '--json')).stdout).filter((e) => e['type'] === 'control-flow/rerun');
    expect(events.map((e) => [e['attempt'], e['requested'], e['steps']])).toEqual([[2, ['b2'], ['grp', 'b2', 'c']]]);

    await writeFile(join(dir, 'ok'), '');
    expect((await ckpt('run', file)).code).toBe(0);
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\nb2\nc\nc\n');
  });

  it('what a rerun did not reach still reruns on the next restart, without --rerun', async () => {
    const file = join(dir, 'q.yaml');
    await writeFile(file, RERUN_PACKAGE);
    expect((await ckpt('run', file)).code).toBe(1);
    await writeFile(join(dir, 'fail-b1'), '');
    const rerun = await ckpt('run', file, '--rerun', 'a');
    expect(rerun.code).toBe(1);
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\na\nb1\n');
    const inspect = await ckpt('inspect', join(dir, '.ckpt', 'q.ckpt'));
    expect(inspect.stdout).toMatch(/↻ b2 {2}completed before a --rerun of it: runs again/);
    expect(inspect.stdout).toMatch(/✗ b1 {2}failed: runs again/);
    expect(inspect.stdout).toMatch(/✗ grp {2}failed: runs again/);
    expect(inspect.stdout).toMatch(/ {2}grp\/b2 completed before a --rerun and runs again\n/);
    await rm(join(dir, 'fail-b1'));
    await writeFile(join(dir, 'ok'), '');
    // b2's completion is older than the --rerun: it runs again although it completed once.
    expect((await ckpt('run', file)).code).toBe(0);
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\na\nb1\nb1\nb2\nc\n');
  });

  it('an unknown step is refused (exit 2) naming the closest id, and the checkpoint is unchanged', async () => {
    const file = join(dir, 'q.yaml');
    await writeFile(file, RERUN_PACKAGE);
    expect((await ckpt('run', file)).code).toBe(1);
    const checkpoint = join(dir, '.ckpt', 'q.ckpt');
    const before = await readFile(checkpoint);
    const refused = await ckpt('run', file, '--rerun', 'grpp');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--rerun grpp: .*has no step "grpp"/);
    expect(refused.stderr).toMatch(/did you mean --rerun grp\?/);
    expect(Buffer.compare(before, await readFile(checkpoint))).toBe(0);
  });

  it('a step of an onError handler is refused (exit 2)', async () => {
    const file = join(dir, 'h.yaml');
    await writeFile(file, `id: h\nversion: 1\nsteps:\n  - { id: a, exec: [sh, -c, 'true'] }\nonError:\n  - { id: notify, exec: [sh, -c, 'true'] }\n`);
    const refused = await ckpt('run', file, '--rerun', 'notify');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--rerun notify: "notify" is a step of an onError handler/);
  });

  it('without a checkpoint, --rerun only notes that every step runs anyway', async () => {
    const file = join(dir, 'q.yaml');
    await writeFile(file, RERUN_PACKAGE);
    await writeFile(join(dir, 'ok'), '');
    const run = await ckpt('run', file, '--rerun', 'b2');
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      /--rerun b2: this run does not restart from a checkpoint \(there is none, or usage is never\), so every step runs anyway/,
    );
    expect(await readFile(join(dir, 'log'), 'utf8')).toBe('a\nb1\nb2\nc\n');
  });
});
