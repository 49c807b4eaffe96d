/**
 * Suite 7 — resume a transfer: `ckpt copy` is killed (SIGKILL, no chance to clean up) once
 * half the file has landed, then the same command is rerun. Measured: time from the rerun's
 * spawn to the first change of the partial data (the first resent byte, or the truncation to
 * the resume point just before it), and the bytes sent again (data that had landed before the
 * kill and is sent anyway). Two file sizes show whether resume time depends on file size.
 * Peer: `rsync --append-verify` resuming the same half-file (it appends without resending,
 * then checksums the whole file).
 *
 * Second figure per size, the whole resume: the rerun's wall time to completion (verified,
 * synced, published) against `rsync --partial --append-verify --fsync` resuming the very same
 * partial data — each round kills one `ckpt copy` past half, copies the partial file it left to
 * rsync's destination, then runs both (order alternating by round) from that one state. Goal
 * (issue 15): ckpt's resume ≤ 0.6× rsync's on 1 GiB.
 *
 * Drives the CLI per docs/cli.md; while `ckpt copy` is not built, its rows are "not available
 * in this build" and the peer is still measured.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { alternate, figure, goal, round } from '../lib/measure.mjs';
import { runProcess } from '../lib/ckpt.mjs';
import { ckptCopy, freshDir, largestFile, makeSource, MiB, probeCopy, sizeArg, sizeLabel } from './transfer-shared.mjs';

export const id = 'resume-transfer';
export const number = 7;
export const title = 'Resume an interrupted transfer';

/**
 * Polls `probe()` (a number) every ~0.5 ms until it differs from `initial`; resolves with the
 * elapsed ms since `start`, or null if `until` settles first.
 */
function firstChange(probe, initial, start, until) {
  return new Promise((resolve) => {
    let settled = false;
    until.then(() => {
      if (!settled) {
        settled = true;
        const value = probe();
        resolve(value !== initial ? performance.now() - start : null);
      }
    });
    const tick = () => {
      if (settled) return;
      if (probe() !== initial) {
        settled = true;
        resolve(performance.now() - start);
        return;
      }
      setTimeout(tick, 0.5);
    };
    tick();
  });
}

/** Starts `ckpt copy` and SIGKILLs it once `fraction` of `size` bytes have landed in `dir`. */
async function killHalfway(ctx, source, destination, dir, size, interval, fraction = 0.5) {
  const child = spawn(process.execPath, [ctx.paths.cliMain, 'copy', source, destination, '--json', '--checkpoint-interval', sizeArg(interval)], {
    cwd: ctx.tmp,
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let done = false;
  exited.then(() => (done = true));
  while (!done && largestFile(dir) < size * fraction) await new Promise((r) => setTimeout(r, 1));
  if (done) throw new Error('ckpt copy finished before it could be killed halfway (file too small or too fast)');
  child.kill('SIGKILL');
  await exited;
  return largestFile(dir);
}

/**
 * The whole resume, ckpt against rsync from one partial state per round (see the header): kills
 * `ckpt copy` past half, gives rsync a copy of the partial data it left, then runs ckpt's rerun
 * and `rsync --partial --append-verify --fsync`, alternating which goes first. Returns the wall
 * times (ms) of each, and the offsets ckpt resumed from.
 */
async function resumeFromOneState(ctx, rsync, source, size, interval, rounds) {
  const samples = { ckpt: [], rsync: [] };
  const resumedFrom = [];
  for (let r = 0; r < rounds; r++) {
    const dir = freshDir(join(ctx.tmp, 'resume-dst'));
    const destination = join(dir, 'data.bin');
    await killHalfway(ctx, source, destination, dir, size, interval);
    const rsyncDestination = join(freshDir(join(ctx.tmp, 'resume-rsync-same')), 'data.bin');
    if (rsync.available) fs.copyFileSync(join(dir, '.data.bin.ckpt-part'), rsyncDestination);
    const runs = {
      async ckpt() {
        const { ms, completed } = await ckptCopy(ctx, source, destination, ['--checkpoint-interval', sizeArg(interval)], { cwd: ctx.tmp });
        if (completed.bytes !== size || completed.resumedFrom === 0) throw new Error(`ckpt copy did not resume (${JSON.stringify(completed)})`);
        resumedFrom.push(completed.resumedFrom);
        return ms;
      },
      async rsync() {
        const result = await runProcess(rsync.path, ['--partial', '--append-verify', '--fsync', source, rsyncDestination]);
        if (result.code !== 0) throw new Error(`rsync --partial --append-verify --fsync exited ${result.code}: ${result.stderr.trim()}`);
        if (fs.statSync(rsyncDestination).size !== size) throw new Error('rsync did not complete the file');
        return result.ms;
      },
    };
    // Without rsync, ckpt's resume is still measured (its row), the peer's row says why not.
    const keys = rsync.available ? ['ckpt', 'rsync'] : ['ckpt'];
    for (const key of r % 2 === 0 ? keys : keys.reverse()) samples[key].push(await runs[key]());
  }
  return { samples, resumedFrom };
}

export async function run(ctx) {
  const sizes = ctx.quick ? [8 * MiB, 16 * MiB] : [256 * MiB, 1024 * MiB];
  const interval = ctx.quick ? 1 * MiB : 16 * MiB;
  const rounds = ctx.quick ? 1 : 3;
  const copyProbe = await probeCopy(ctx);
  const rsync = ctx.rsync;
  const srcDir = freshDir(join(ctx.tmp, 'resume-src'));
  const figures = [];
  const goals = [];
  const resent = {};

  for (const size of sizes) {
    const source = makeSource(join(srcDir, `data-${size}.bin`), size);
    const half = Math.floor(size / 2);
    const resentKey = sizeLabel(size);
    const contestants = [
      {
        key: 'ckpt',
        available: copyProbe.available,
        async run() {
          const dir = freshDir(join(ctx.tmp, 'resume-dst'));
          const destination = join(dir, 'data.bin');
          const atKill = await killHalfway(ctx, source, destination, dir, size, interval);
          const start = performance.now();
          const rerun = ckptCopy(ctx, source, destination, ['--checkpoint-interval', sizeArg(interval)], { cwd: ctx.tmp });
          const ms = await firstChange(() => largestFile(dir), atKill, start, rerun);
          const { completed } = await rerun;
          if (completed.bytes !== size) throw new Error(`resumed copy reported ${completed.bytes} bytes, expected ${size}`);
          (resent[resentKey] ??= []).push({ atKill, resumedFrom: completed.resumedFrom, resentBytes: Math.max(0, atKill - completed.resumedFrom) });
          return ms;
        },
      },
      {
        key: 'rsync',
        available: rsync.available,
        async run() {
          const dir = freshDir(join(ctx.tmp, 'resume-rsync'));
          const destination = join(dir, 'data.bin');
          const fd = fs.openSync(source, 'r');
          const head = Buffer.allocUnsafe(half);
          fs.readSync(fd, head, 0, half, 0);
          fs.closeSync(fd);
          fs.writeFileSync(destination, head);
          const start = performance.now();
          const proc = runProcess(rsync.path, ['--append-verify', '--stats', source, destination]);
          const ms = await firstChange(() => fs.statSync(destination).size, half, start, proc);
          const result = await proc;
          if (result.code !== 0) throw new Error(`rsync --append-verify exited ${result.code}: ${result.stderr.trim()}`);
          const literal = Number(result.stdout.match(/Literal data: ([\d,]+)/)?.[1]?.replaceAll(',', '') ?? NaN);
          (resent[`rsync ${resentKey}`] ??= []).push({
            atKill: half,
            literalBytes: literal,
            resentBytes: Number.isFinite(literal) ? Math.max(0, literal - (size - half)) : null,
          });
          return ms;
        },
      },
      {
        key: 'node',
        async run() {
          return (await runProcess(process.execPath, ['-e', '0'])).ms;
        },
      },
    ];
    const samples = await alternate(contestants, { rounds, warmup: 0 });
    const fig = figure({
      id: `resume-transfer-${size}`,
      label: `time to first resent byte after a kill at 50% of ${sizeLabel(size)}`,
      unit: 'ms',
      better: 'lower',
      rows: [
        copyProbe.available
          ? { key: 'ckpt', label: `ckpt copy rerun (interval ${sizeLabel(interval)})`, role: 'subject', samples: samples.ckpt }
          : { key: 'ckpt', label: `ckpt copy rerun (interval ${sizeLabel(interval)})`, role: 'subject', available: false, reason: copyProbe.reason },
        rsync.available
          ? { key: 'rsync', label: 'rsync --append-verify on the same half file', samples: samples.rsync }
          : { key: 'rsync', label: 'rsync --append-verify', available: false, reason: rsync.reason },
        { key: 'node', label: 'node -e 0 (process start-up, for reference)', samples: samples.node },
      ],
      notes: Object.entries(resent)
        .filter(([k]) => k.endsWith(resentKey))
        .map(([k, v]) => `${k}: ${v.map((r) => `resent ${r.resentBytes ?? '?'} bytes`).join(', ')}`),
    });
    figures.push(fig);
    const whole = copyProbe.available ? await resumeFromOneState(ctx, rsync, source, size, interval, rounds) : undefined;
    const completeFig = figure({
      id: `resume-transfer-complete-${size}`,
      label: `whole resume after a kill past 50% of ${sizeLabel(size)}, from the same partial data`,
      unit: 'ms',
      better: 'lower',
      rows: [
        whole
          ? { key: 'ckpt', label: `ckpt copy rerun to completion (interval ${sizeLabel(interval)})`, role: 'subject', samples: whole.samples.ckpt }
          : { key: 'ckpt', label: 'ckpt copy rerun to completion', role: 'subject', available: false, reason: copyProbe.reason },
        whole && rsync.available
          ? { key: 'rsync', label: 'rsync --partial --append-verify --fsync on the same partial data', samples: whole.samples.rsync }
          : {
              key: 'rsync',
              label: 'rsync --partial --append-verify --fsync',
              available: false,
              reason: rsync.available ? `needs the partial data of a killed ckpt copy: ${copyProbe.reason}` : rsync.reason,
            },
      ],
      notes: whole ? [`ckpt resumed from ${whole.resumedFrom.map((o) => sizeLabel(o)).join(', ')} (the partial data rsync got)`] : [],
    });
    figures.push(completeFig);
    if (size === sizes.at(-1)) {
      goals.push(
        goal({
          text: `${sizeLabel(size)}: whole resume ≤ 0.6× rsync --partial --append-verify --fsync on the same partial data`,
          figure: completeFig,
          subject: 'ckpt',
          peer: 'rsync',
          op: '<=',
          threshold: 0.6,
        }),
      );
    }
    goals.push(
      goal({
        text: `${sizeLabel(size)}: first resent byte < 100 ms after restart`,
        figure: fig,
        subject: 'ckpt',
        kind: 'absolute',
        op: '<',
        threshold: 100,
      }),
    );
    const worst = resent[resentKey]?.reduce((m, r) => Math.max(m, r.resentBytes), 0);
    goals.push(
      goal({
        text: `${sizeLabel(size)}: at most one interval (${sizeLabel(interval)}) resent`,
        kind: 'value',
        value: worst ?? null,
        op: '<=',
        threshold: interval,
        reasonIfMissing: copyProbe.available ? 'no resent figure' : copyProbe.reason,
      }),
    );
  }
  // Time to the first resent byte per size (not the whole-resume figures, which grow with the size by design).
  const medians = sizes
    .map((size) => figures.find((f) => f.id === `resume-transfer-${size}`)?.rows.find((r) => r.key === 'ckpt'))
    .map((r) => (r?.available ? r.median : null));
  goals.push(
    goal({
      text: `resume time independent of file size (${sizeLabel(sizes.at(-1))} within 1.5× of ${sizeLabel(sizes[0])})`,
      kind: 'value',
      value: medians[0] && medians.at(-1) ? round(medians.at(-1) / medians[0]) : null,
      op: '<=',
      threshold: 1.5,
      reasonIfMissing: copyProbe.reason,
    }),
  );
  fs.rmSync(join(ctx.tmp, 'resume-dst'), { recursive: true, force: true });
  fs.rmSync(join(ctx.tmp, 'resume-rsync'), { recursive: true, force: true });
  fs.rmSync(join(ctx.tmp, 'resume-rsync-same'), { recursive: true, force: true });
  fs.rmSync(srcDir, { recursive: true, force: true });
  return { params: { sizes, interval, rounds, killedAt: 0.5 }, availability: { 'ckpt copy': copyProbe }, figures, goals, extra: { resent } };
}
