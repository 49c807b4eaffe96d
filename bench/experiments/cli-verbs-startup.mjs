#!/usr/bin/env node
/**
 * Evidence for the CLI bundle (FINDINGS.md, suite 8): wall time of short `ckpt` invocations,
 * spawn to exit, against `node -e 0`, for one or more builds of the CLI measured in the same
 * rounds (order rotated every round, so a busy machine slows every contestant alike). Each
 * figure is reported as the median of the per-round ratio to `node -e 0`.
 *
 *   node bench/experiments/cli-verbs-startup.mjs [ROUNDS=20] [LABEL=BIN ...]
 *
 * BIN is a CLI entry (default: this checkout's packages/cli/bin/ckpt.js), e.g. another
 * worktree's `before=../other-worktree/packages/cli/bin/ckpt.js after=packages/cli/bin/ckpt.js`.
 * The verbs: `--version`; `copy` of a 10-byte file to a fresh destination (in a fresh folder:
 * like cp, copy refuses a missing one); `run` of a
 * one-step package (a fresh directory each time, so no checkpoint is resumed); `inspect` of a
 * failed control-flow package's checkpoint.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { alternate, summarize } from '../lib/measure.mjs';
import { runProcess } from '../lib/ckpt.mjs';

const args = process.argv.slice(2);
const rounds = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 20;
const builds = (args.length ? args : [`ckpt=${new URL('../../packages/cli/bin/ckpt.js', import.meta.url).pathname}`]).map((arg) => {
  const [label, bin] = arg.includes('=') ? arg.split(/=(.*)/s) : [arg, arg];
  return { label, bin: resolve(bin) };
});

const dir = mkdtempSync(join(tmpdir(), 'ckpt-verbs-'));
writeFileSync(join(dir, 'tiny'), '0123456789');
writeFileSync(join(dir, 'one.yaml'), 'id: one\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: only, exec: ["true"] }\n');
writeFileSync(
  join(dir, 'fails.yaml'),
  'id: fails\nversion: 1\ncheckpoint: { file: fails.ckpt, usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: ["true"] }\n  - { id: b, exec: ["false"] }\n',
);
// The checkpoint `inspect` reads: the package fails at `b`, so its checkpoint is kept.
const failed = spawnSync(process.execPath, [builds[0].bin, 'run', 'fails.yaml'], { cwd: dir, encoding: 'utf8' });
if (failed.status !== 1) throw new Error(`preparing fails.ckpt: exit ${failed.status}: ${failed.stderr}`);

let fresh = 0;
/** A new empty directory for one run, with the inputs next to it. */
const freshDir = () => {
  const d = join(dir, `run-${fresh++}`);
  mkdirSync(d);
  return d;
};

const timed = async (argv, cwd, expectCode = 0) => {
  const result = await runProcess(process.execPath, argv, { cwd, timeoutMs: 60_000 });
  if (result.code !== expectCode) throw new Error(`node ${argv.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.ms;
};

const verbs = [
  { id: 'version', text: 'ckpt --version', run: (bin) => timed([bin, '--version'], dir) },
  { id: 'copy', text: 'ckpt copy tiny copied (fresh destination)', run: (bin) => timed([bin, 'copy', join(dir, 'tiny'), 'copied'], freshDir()) },
  { id: 'run', text: 'ckpt run one.yaml (one exec step: true)', run: (bin) => timed([bin, 'run', join(dir, 'one.yaml')], freshDir()) },
  { id: 'inspect', text: 'ckpt inspect fails.ckpt (control-flow, 7 events)', run: (bin) => timed([bin, 'inspect', join(dir, 'fails.ckpt')], dir) },
];

const contestants = [{ key: 'node', run: () => timed(['-e', '0'], dir) }];
for (const verb of verbs) for (const build of builds) contestants.push({ key: `${build.label} ${verb.id}`, run: () => verb.run(build.bin) });

try {
  const samples = await alternate(contestants, { rounds, warmup: 2 });
  const ratio = (key) => summarize(samples[key].map((ms, i) => ms / samples.node[i])).median;
  console.log(`${rounds} rounds, median wall ms (min–max), and median of per-round ratio to node -e 0`);
  console.log(`node -e 0: ${summarize(samples.node).median} ms (${summarize(samples.node).min}–${summarize(samples.node).max})`);
  for (const verb of verbs) {
    for (const build of builds) {
      const key = `${build.label} ${verb.id}`;
      const s = summarize(samples[key]);
      console.log(`${verb.text.padEnd(50)} ${build.label.padEnd(8)} ${String(s.median).padStart(6)} ms (${s.min}–${s.max})  ${ratio(key)}×`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
