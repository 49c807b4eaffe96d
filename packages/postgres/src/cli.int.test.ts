/**
 * Real processes through the CLI on a real server: `ckpt run --store postgres://…` killed with
 * SIGKILL and rerun as another host; an owner paused with SIGSTOP past its lease while another
 * finishes the job, then resumed with SIGCONT (fencing). A dozen jobs at once: cli-dozen.int.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../../cli/src/test-support/ckpt-bin.js';
import { runCkpt } from '../../cli/src/test-support/run-ckpt.js';
import { PG_SKIP_NOTE, pgBinaries, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-pg-cli-'));
});
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A package of `steps` steps; each logs its start (with the time in ms) and its end, sleeping `sleep` s between. */
function writePackage(id: string, steps: number, sleep: number): string {
  const lines = [`id: ${id}`, 'version: 1', 'checkpoint: { usage: if-exists, save: true }', 'steps:'];
  for (let i = 1; i <= steps; i++) {
    lines.push(`  - { id: s${i}, exec: [sh, -c, 'echo "start ${i} $(date +%s%3N)" >> ${id}.log; sleep ${sleep}; echo "end ${i}" >> ${id}.log'] }`);
  }
  const file = join(dir, `${id}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const logOf = (id: string): string[] =>
  existsSync(join(dir, `${id}.log`))
    ? readFileSync(join(dir, `${id}.log`), 'utf8')
        .trim()
        .split('\n')
    : [];
const startsOf = (id: string): number[] => logOf(id).flatMap((line) => (line.startsWith('start ') ? [Number(line.split(' ')[1])] : []));

function spawnRun(args: readonly string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [ckptBin(), ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function pollUntil(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.skipIf(pgSkipped)(`ckpt run --store postgres://… as real processes${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  const pgc = useCluster();

  it('kill -9 of the owner mid-run, another host waiting for it: taken over within 2 s, every step once and in order, only the in-flight one repeated', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    const url = pgc.url('kill');
    writePackage('job', 5, 0.3);
    const first = spawnRun(['run', 'job.yaml', '--store', url], { CKPT_HOST: 'machine-a' });
    await pollUntil('step 1 started', () => startsOf('job').includes(1));
    // The second machine is already up and waiting for the job (so the time measured is the
    // takeover, not Node's start-up): it polls the owner row until the owner is gone.
    const second = spawnRun(['run', 'job.yaml', '--store', url, '--wait', '60s'], { CKPT_HOST: 'machine-b' });
    await pollUntil('step 3 started', () => startsOf('job').includes(3));
    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await first.exited;
    const code = await second.exited;
    expect(code, second.output()).toBe(0);
    const starts = startsOf('job');
    // Every step ran, in order; step 3 (in flight at the kill) at most twice, every other once.
    expect([...new Set(starts)]).toEqual([1, 2, 3, 4, 5]);
    for (const step of [1, 2, 4, 5])
      expect(
        starts.filter((s) => s === step),
        `step ${step}`,
      ).toHaveLength(1);
    expect(starts.filter((s) => s === 3)).toHaveLength(2);
    // The new owner's first step started within 2 s of the kill: a dead owner is taken over at
    // once (its database session closed), not when its 30 s lease runs out.
    const takenOverStart = logOf('job')
      .filter((line) => line.startsWith('start 3 '))
      .at(-1)!;
    expect(Number(takenOverStart.split(' ')[2]) - killedAt).toBeLessThan(2_000);
    expect(second.output()).toContain('resuming job');
  });

  it('kill -9 of the owner, rerun at once as another host: no refusal for the dead owner, the job resumes and ends', async () => {
    const url = pgc.url('rerun');
    writePackage('job', 3, 0.3);
    const first = spawnRun(['run', 'job.yaml', '--store', url], { CKPT_HOST: 'machine-a' });
    await pollUntil('step 2 started', () => startsOf('job').includes(2));
    first.child.kill('SIGKILL');
    await first.exited;
    const rerun = await runCkpt(['run', 'job.yaml', '--store', url], { cwd: dir, env: { CKPT_HOST: 'machine-b' } });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(startsOf('job')).toEqual([1, 2, 2, 3]);
  });

  it('the server stopped with pg_ctl -m immediate mid-run: the run fails cleanly (exit 1); after the restart the rerun repeats only the in-flight step', async () => {
    const url = pgc.url('immediate');
    writePackage('job', 4, 0.4);
    const first = spawnRun(['run', 'job.yaml', '--store', url], { CKPT_HOST: 'machine-a' });
    await pollUntil('step 2 started', () => startsOf('job').includes(2));
    await pgc.cluster().stop('immediate');
    let code: number | null;
    try {
      code = await first.exited;
    } finally {
      await pgc.cluster().restart();
    }
    expect(code, first.output()).toBe(1);
    expect(first.output()).toMatch(/failed at 127\.0\.0\.1:\d+/);
    expect(first.output()).not.toMatch(/^\s+at /m);
    const startedBefore = startsOf('job');
    const rerun = await runCkpt(['run', 'job.yaml', '--store', url], { cwd: dir, env: { CKPT_HOST: 'machine-b' } });
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    const starts = startsOf('job');
    expect([...new Set(starts)]).toEqual([1, 2, 3, 4]);
    // Step 1 was committed before the stop: never repeated. The step in flight (the last one the
    // first run started) runs again; nothing else does.
    const inFlight = startedBefore.at(-1)!;
    for (const step of [1, 2, 3, 4])
      expect(
        starts.filter((s) => s === step),
        `step ${step}`,
      ).toHaveLength(step === inFlight ? 2 : 1);
  });

  it('an owner paused (SIGSTOP) past its --lease is taken over; resumed (SIGCONT) it starts nothing, records nothing, and exits 1 naming the new owner', async () => {
    const url = pgc.url('stop');
    writePackage('job', 4, 0.4);
    const first = spawnRun(['run', 'job.yaml', '--store', url, '--lease', '1s'], { CKPT_HOST: 'machine-a' });
    await pollUntil('step 2 started', () => startsOf('job').includes(2));
    first.child.kill('SIGSTOP');
    try {
      // The second owner waits for the lease to run out, then runs the job to its end.
      const second = await runCkpt(['run', 'job.yaml', '--store', url, '--wait', '20s'], { cwd: dir, env: { CKPT_HOST: 'machine-b' } });
      expect(second.code, second.stdout + second.stderr).toBe(0);
      const list = await runCkpt(['list', '--store', url], { cwd: dir });
      expect(list.stdout).toContain('no checkpoints');
    } finally {
      first.child.kill('SIGCONT');
    }
    const logBefore = logOf('job');
    const code = await first.exited;
    expect(code, first.output()).toBe(1);
    expect(first.output()).toMatch(/lost checkpoint "job" to pid \d+ on host machine-b \(epoch 2\)/);
    // It started no step after it resumed, and recorded nothing: the store holds no checkpoint.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(logOf('job').filter((line) => line.startsWith('start'))).toEqual(logBefore.filter((line) => line.startsWith('start')));
    const list = await runCkpt(['list', '--store', url], { cwd: dir });
    expect(list.stdout).toContain('no checkpoints');
    const starts = startsOf('job');
    expect(Math.max(...starts)).toBe(4);
    expect(starts.filter((s) => s === 3 || s === 4)).toEqual([3, 4]);
  });
});
