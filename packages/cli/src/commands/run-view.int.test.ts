/**
 * The human view of `ckpt run`, as a real process: the restart summary counts only what the
 * next attempt skips, and output lines say which step wrote them when steps run in parallel.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-run-view-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const run = (file: string) => {
  const result = spawnSync(process.execPath, [MAIN, 'run', file], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 30_000,
  });
  return { status: result.status, out: result.stdout, err: result.stderr };
};

describe('the restart summary of ckpt run', () => {
  it('does not count as skipped a completed step that waits on a step that reruns', async () => {
    // b fails; d runs on its failure path and is recorded complete. Once b succeeds, d is not run.
    await writeFile(
      join(dir, 'p.yaml'),
      `id: p\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'true'] }\n  - { id: b, exec: [sh, -c, 'test -f ok'] }\n  - { id: c, exec: [sh, -c, 'true'] }\n  - { id: d, after: { b: failure }, exec: [sh, -c, 'true'] }\n`,
    );
    expect(run('p.yaml').status).toBe(1);
    await writeFile(join(dir, 'ok'), '');
    const second = run('p.yaml');
    expect(second.status).toBe(0);
    expect(second.out).toContain('resuming p (attempt 2) from its checkpoint: 1 unit(s) done and skipped; restarting at b\n');
    expect(second.out).toContain('  · 1 unit(s) completed are skipped\n');
    expect(second.out).toContain(
      '  · d completed on an earlier attempt after a step that runs again: skipped only if its precedence constraints hold again\n',
    );
    expect(second.out).toContain('↷ a  skipped: the checkpoint has it');
    expect(second.out).toContain('- d  not run: its precedence constraints are not met');
  });

  it('names the whole transaction that reruns after its rollback, not the step inside it that failed', async () => {
    await writeFile(
      join(dir, 't.yaml'),
      `id: t\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - id: publish\n    transaction: required\n    rollback: [sh, -c, 'true']\n    steps:\n      - { id: stage, exec: [sh, -c, 'echo staged >> log'] }\n      - { id: verify, exec: [sh, -c, 'test -f approve'] }\n`,
    );
    expect(run('t.yaml').status).toBe(1);
    await writeFile(join(dir, 'approve'), '');
    const second = run('t.yaml');
    expect(second.status).toBe(0);
    expect(second.out).toContain('resuming t (attempt 2) from its checkpoint: 0 unit(s) done and skipped; restarting at publish\n');
    expect(second.out).toMatch(/ {2}· publish failed \("verify: .*"\), was rolled back, and reruns whole\n/);
    expect(second.out).toContain('  ▶ publish/stage');
  });
});

describe('task output in the run view', () => {
  it('is labelled with its step while steps run in parallel, and unlabelled for a step that runs alone', async () => {
    // left and right each wait (bounded) until the other has started: their lines are written
    // while both run. solo runs after both, alone.
    const meet = (me: string, other: string) =>
      `touch ${me}.started; i=0; while [ ! -f ${other}.started ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo ${me} one; echo ${me} two`;
    await writeFile(
      join(dir, 'par.yaml'),
      `id: par\nversion: 1\nsteps:\n  - { id: left, after: {}, exec: [sh, -c, '${meet('left', 'right')}'] }\n  - { id: right, after: {}, exec: [sh, -c, '${meet('right', 'left')}'] }\n  - { id: solo, after: { left: success, right: success }, exec: [sh, -c, 'echo alone'] }\n`,
    );
    const result = run('par.yaml');
    expect(result.status, result.err).toBe(0);
    for (const line of ['    │ [left] left one', '    │ [left] left two', '    │ [right] right one', '    │ [right] right two', '    │ alone']) {
      expect(result.out.split('\n')).toContain(line);
    }
  });
});
