/**
 * Suite 5 — control flow: a package of N `exec` steps run by `ckpt run` with checkpoints (one
 * durable event per step boundary), against a bare Node script spawning the same processes
 * one after another (the floor: what the runner adds is measured, process creation is not),
 * against the same loop with ckpt's durability and nothing else (two fdatasyncs per step: one
 * while the process runs, one after it before the next starts — the floor for checkpointed
 * steps, see FINDINGS.md), and against `ckpt run` with checkpoints off (what checkpointing
 * itself costs).
 *
 * Drives the CLI as a subprocess per docs/cli.md. While `ckpt run` is not built, its rows are
 * recorded as "not available in this build" and the peer is still measured.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { alternate, figure, goal } from '../lib/measure.mjs';
import { probeVerb, runProcess } from '../lib/ckpt.mjs';

export const id = 'control-flow';
export const number = 5;
export const title = 'Control flow (exec steps with checkpoints)';

const STEP = ['sh', '-c', ':'];

/** A package of `steps` exec steps, in the contract's package-file format (JSON is valid YAML). */
function writePackage(dir, steps) {
  const path = join(dir, `steps-${steps}.json`);
  const pkg = {
    id: 'bench-steps',
    version: 1,
    checkpoint: { file: `.ckpt/steps-${steps}.ckpt`, usage: 'if-exists', save: true },
    steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, exec: STEP })),
  };
  writeFileSync(path, JSON.stringify(pkg, null, 1));
  return path;
}

/** The bare peer: one Node process spawning the same commands sequentially. */
const BARE_LOOP = `
  import { spawn } from 'node:child_process';
  const [command, ...args] = JSON.parse(process.argv[1]);
  const n = Number(process.argv[2]);
  for (let i = 0; i < n; i++) {
    const code = await new Promise((resolve, reject) => spawn(command, args, { stdio: 'ignore' }).on('error', reject).on('close', resolve));
    if (code !== 0) process.exit(1);
  }`;

/**
 * The durable floor: the bare loop plus what ckpt's checkpoint must do per step, as the
 * journal does it (fdatasync through the thread pool). A small record is written and synced as
 * the process starts, while it runs (ckpt's `process/started`, durable while the task runs), and
 * another after it exits, synced before the next spawn (the step's completion).
 */
const DURABLE_FLOOR = `
  import { spawn } from 'node:child_process';
  import { fdatasync, openSync, writeSync } from 'node:fs';
  const [command, ...args] = JSON.parse(process.argv[1]);
  const n = Number(process.argv[2]);
  const log = openSync(process.argv[3], 'w');
  const record = Buffer.alloc(96, 1);
  const sync = () => new Promise((resolve, reject) => fdatasync(log, (error) => (error ? reject(error) : resolve())));
  for (let i = 0; i < n; i++) {
    let started;
    const code = await new Promise((resolve, reject) => {
      spawn(command, args, { stdio: 'ignore' }).on('error', reject).on('close', resolve);
      writeSync(log, record);
      started = sync();
    });
    if (code !== 0) process.exit(1);
    await started;
    writeSync(log, record);
    await sync();
  }`;

export async function run(ctx) {
  const steps = ctx.quick ? 10 : 200;
  const rounds = ctx.quick ? 2 : 5;
  const pkgPath = writePackage(ctx.tmp, steps);
  const probe = await probeVerb(ctx.paths, 'run', [writePackage(ctx.tmp, 1), '--usage', 'never', '--no-save-checkpoints'], ctx.tmp);
  const cliRun = async (extra) => {
    const result = await runProcess(process.execPath, [ctx.paths.cliMain, 'run', pkgPath, ...extra], { cwd: ctx.tmp });
    if (result.code !== 0) throw new Error(`ckpt run exited ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return result.ms;
  };
  const checkpointFile = join(ctx.tmp, `steps-${steps}.ckpt`);
  const samples = await alternate(
    [
      {
        key: 'bare',
        async run() {
          const result = await runProcess(process.execPath, ['--input-type=module', '-e', BARE_LOOP, JSON.stringify(STEP), String(steps)], {
            cwd: ctx.tmp,
          });
          if (result.code !== 0) throw new Error(`bare spawn loop exited ${result.code}: ${result.stderr.trim()}`);
          return result.ms;
        },
      },
      {
        key: 'durable-floor',
        async run() {
          const log = join(ctx.tmp, 'durable-floor.log');
          const result = await runProcess(process.execPath, ['--input-type=module', '-e', DURABLE_FLOOR, JSON.stringify(STEP), String(steps), log], {
            cwd: ctx.tmp,
          });
          rmSync(log, { force: true });
          if (result.code !== 0) throw new Error(`durable floor loop exited ${result.code}: ${result.stderr.trim()}`);
          return result.ms;
        },
      },
      {
        key: 'checkpoints',
        available: probe.available,
        run: () => {
          rmSync(checkpointFile, { force: true });
          return cliRun(['--checkpoint-file', checkpointFile, '--save-checkpoints', '--usage', 'if-exists']);
        },
      },
      { key: 'no-checkpoints', available: probe.available, run: () => cliRun(['--no-save-checkpoints', '--usage', 'never']) },
    ],
    { rounds, warmup: 1 },
  );
  const cliRow = (key, label) =>
    probe.available
      ? { key, label, role: 'subject', samples: samples[key] }
      : { key, label, role: 'subject', available: false, reason: probe.reason };
  const fig = figure({
    id: 'control-flow-exec',
    label: `${steps} sequential exec steps (${STEP.join(' ')}), whole process`,
    unit: 'ms',
    better: 'lower',
    rows: [
      cliRow('checkpoints', `ckpt run, checkpoints saved (usage if-exists)`),
      cliRow('no-checkpoints', 'ckpt run, checkpoints off'),
      { key: 'bare', label: 'bare Node loop spawning the same processes', samples: samples.bare },
      {
        key: 'durable-floor',
        label: 'the same loop with two fdatasyncs per step, as ckpt checkpoints (the durable floor)',
        samples: samples['durable-floor'],
      },
    ],
  });
  const functionTasks = figure({
    id: 'control-flow-function-tasks',
    label: 'function tasks per second, sequential and across parallel branches',
    unit: 'tasks/s',
    better: 'higher',
    rows: [
      {
        key: 'sequential',
        label: 'function tasks, sequential',
        role: 'subject',
        available: false,
        reason:
          'not available in this build: function tasks are an in-process API of @ckpt/control-flow, which is not built yet (add it here when it lands)',
      },
      {
        key: 'parallel',
        label: 'function tasks, parallel branches',
        role: 'subject',
        available: false,
        reason:
          'not available in this build: function tasks are an in-process API of @ckpt/control-flow, which is not built yet (add it here when it lands)',
      },
    ],
  });
  return {
    params: { steps, rounds, step: STEP },
    availability: { 'ckpt run': probe },
    figures: [fig, functionTasks],
    goals: [
      goal({
        text: `${steps} exec steps with checkpoints ≤ 1.5× the bare spawn loop`,
        figure: fig,
        subject: 'checkpoints',
        peer: 'bare',
        op: '<=',
        threshold: 1.5,
      }),
      goal({
        text: `${steps} exec steps with checkpoints ≤ 1.5× the bare loop with the same fdatasyncs (informational: the part ckpt can act on)`,
        figure: fig,
        subject: 'checkpoints',
        peer: 'durable-floor',
        op: '<=',
        threshold: 1.5,
      }),
      goal({
        text: 'checkpoints on vs off (informational, ≤ 1.5×)',
        figure: fig,
        subject: 'checkpoints',
        peer: 'no-checkpoints',
        op: '<=',
        threshold: 1.5,
      }),
    ],
  };
}
