#!/usr/bin/env node
/**
 * Evidence for suite 5 (FINDINGS.md, "exec steps"): where the time of N sequential exec steps
 * goes, measured as whole-process wall time of several loops in the same rounds (order rotated
 * every round, so a busy machine slows every contestant alike). Each figure is reported as the
 * median of the per-round ratio to the suite's bare loop.
 *
 *   node bench/experiments/exec-spawn-options.mjs [ROUNDS=10] [STEPS=200] [LABEL=BIN ...]
 *
 * Contestants:
 * - `bare`: the suite's peer, `spawn(sh -c :)` with stdio ignored, one after another;
 * - `like-ckpt`: the same from a bare Node, but spawned as ckpt spawns an exec task (own
 *   process group, stdout/stderr piped and read, the environment copied with CKPT_OUTPUT, an
 *   empty output file written before and read after, /proc/PID/stat read);
 * - `like-ckpt-big`: `like-ckpt` from a process the size of `ckpt run` (the CLI bundle's chunks
 *   loaded, ≈ 30 MB more heap kept alive, some garbage per step): what spawning from a larger
 *   process costs, without any of ckpt's per-step work;
 * - `like-ckpt-big:helper`: `like-ckpt-big`, but each process is spawned by a small Node helper started
 *   once (requests and results as JSON lines over its stdin/stdout);
 * - `durable-floor`: the bare loop plus ckpt's two fdatasyncs per step (one while the process
 *   runs, one after it, before the next starts): the floor for checkpointed steps;
 * - `like-ckpt:sync-out`: `like-ckpt` with the output file made and read synchronously;
 * - `like-ckpt:sync-read`: made through the thread pool, read synchronously (what ckpt does);
 * - `like-ckpt+1fsync`: `like-ckpt:sync-out` plus one synchronous append+fdatasync per step;
 * - `ckpt-1:LABEL`: `ckpt run` of one step (its fixed cost: start-up, package, checkpoint);
 * - `ckpt:LABEL`, `ckpt-off:LABEL`: `ckpt run` of the same N steps, checkpoints on / off, for each
 *   CLI given (default: this checkout's packages/cli/bin/ckpt.js), e.g.
 *   `before=../wt-main/packages/cli/bin/ckpt.js after=packages/cli/bin/ckpt.js`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { alternate } from '../lib/measure.mjs';
import { runProcess } from '../lib/ckpt.mjs';

const args = process.argv.slice(2);
const rounds = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 10;
const steps = /^\d+$/.test(args[0] ?? '') ? Number(args.shift()) : 200;
const builds = (args.length ? args : [`ckpt=${new URL('../../packages/cli/bin/ckpt.js', import.meta.url).pathname}`]).map((arg) => {
  const [label, bin] = arg.includes('=') ? arg.split(/=(.*)/s) : [arg, arg];
  return { label, bin: resolve(bin) };
});
const STEP = ['sh', '-c', ':'];
const chunksDir = resolve(builds[0].bin, '../../dist/chunks');

const dir = mkdtempSync(join(tmpdir(), 'ckpt-exec-options-'));
const pkgPath = join(dir, 'steps.json');
writeFileSync(
  pkgPath,
  JSON.stringify({
    id: 'bench-steps',
    version: 1,
    checkpoint: { file: 'steps.ckpt', usage: 'if-exists', save: true },
    steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, exec: STEP })),
  }),
);

/**
 * The floor under ckpt's durability, without ckpt: per step, a small record appended and
 * fdatasynced (thread pool, as the journal does) while the process runs — ckpt's
 * `process/started` — and one more after it exits, awaited before the next spawn — the step's
 * completion. Same spawn as the bare loop.
 */
const DURABLE_FLOOR = `
  import { spawn } from 'node:child_process';
  import { fdatasync, openSync, writeSync } from 'node:fs';
  const [command, ...args] = JSON.parse(process.argv[1]);
  const n = Number(process.argv[2]);
  const log = openSync('durable-floor.log', 'w');
  const record = Buffer.alloc(96, 1);
  const sync = () => new Promise((resolve, reject) => fdatasync(log, (error) => (error ? reject(error) : resolve())));
  const t0 = performance.now();
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
  }
  console.log('loop', performance.now() - t0);`;

const onePath = join(dir, 'one.json');
writeFileSync(onePath, JSON.stringify({ id: 'one', version: 1, steps: [{ id: 's0', exec: STEP }] }));

const BARE = `
  import { spawn } from 'node:child_process';
  const [command, ...args] = JSON.parse(process.argv[1]);
  const n = Number(process.argv[2]);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const code = await new Promise((resolve, reject) => spawn(command, args, { stdio: 'ignore' }).on('error', reject).on('close', resolve));
    if (code !== 0) process.exit(1);
  }
  console.log('loop', performance.now() - t0);`;

/** What every "like ckpt" loop shares: one step as runProcess + Tasks.runExec do it, minus the journal. */
const LIKE_CKPT = `
  import { spawn } from 'node:child_process';
  import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
  import { readFile, writeFile } from 'node:fs/promises';
  import { tmpdir } from 'node:os';
  import { join } from 'node:path';
  const [argv, n, { big, helper, syncOut, fsyncs }, chunks] = JSON.parse(process.argv[1]);
  const keep = [];
  if (big) {
    // The bundle's code (ckpt run loads most of it), plus a live heap: ≈ the peak RSS of ckpt run of 200 steps (≈ 85 MB).
    for (const f of readdirSync(chunks)) if (f.endsWith('.mjs') && statSync(join(chunks, f)).size > 200_000) await import(join(chunks, f));
    for (let i = 0; i < 50_000; i++) keep.push({ i, s: 'x'.repeat(64) + i, a: [i, i + 1] });
  }
  const out = mkdtempSync(join(tmpdir(), 'ckpt-like-'));
  // The floor of a durable step: a small record appended and fdatasynced (as the journal does), in the cwd's file system.
  const log = openSync('like-ckpt.log', 'w');
  const durable = () => { writeSync(log, 'x'.repeat(80)); fdatasyncSync(log); };
  let spawnOne;
  if (helper) {
    const h = spawn(process.execPath, ['--input-type=module', '-e', HELPER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
    const waiting = new Map();
    let buf = '';
    h.stdout.setEncoding('utf8').on('data', (text) => {
      const lines = (buf + text).split('\\n');
      buf = lines.pop();
      for (const line of lines) {
        const m = JSON.parse(line);
        if (m.type === 'exit') { waiting.get(m.id)(m); waiting.delete(m.id); }
      }
    });
    let next = 0;
    spawnOne = (cmd, env) => new Promise((resolve) => { const id = next++; waiting.set(id, resolve); h.stdin.write(JSON.stringify({ id, argv: cmd, env, cwd: process.cwd() }) + '\\n'); });
    process.on('exit', () => h.kill());
  } else {
    spawnOne = (cmd, env) => new Promise((resolve, reject) => {
      const [command, ...rest] = cmd;
      const child = spawn(command, rest, { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      readFileSync('/proc/' + child.pid + '/stat', 'utf8');
      child.stdout.on('data', () => {});
      child.stderr.on('data', () => {});
      child.on('error', reject).on('close', (code) => resolve({ code }));
    });
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const file = join(out, 'output-' + i + '.env');
    // Some garbage per step, as a run makes (events, notices): the heap's pages are written after each fork.
    if (big) globalThis.garbage = Array.from({ length: 1000 }, (_, j) => ({ j, unit: 's' + i }));
    if (syncOut === true) writeFileSync(file, '');
    else await writeFile(file, '');
    const { code } = await spawnOne(argv, { ...process.env, CKPT_OUTPUT: file, CKPT_VAR_STEP: String(i) });
    if (code !== 0) process.exit(1);
    if (syncOut) readFileSync(file, 'utf8');
    else await readFile(file, 'utf8');
    for (let f = 0; f < fsyncs; f++) durable();
  }
  closeSync(log);
  console.log('loop', performance.now() - t0);
  process.exit(0);`;

/** The helper: spawns what it is asked to, and reports pid, output and exit as JSON lines. */
const HELPER = `
  import { spawn } from 'node:child_process';
  import { readFileSync } from 'node:fs';
  let buf = '';
  const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
  process.stdin.setEncoding('utf8').on('data', (text) => {
    const lines = (buf + text).split('\\n');
    buf = lines.pop();
    for (const line of lines) {
      const { id, argv, env, cwd } = JSON.parse(line);
      const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      // The start time is read here: only the parent can be sure the pid is not reaped yet.
      send({ id, type: 'spawned', pid: child.pid, stat: readFileSync('/proc/' + child.pid + '/stat', 'utf8') });
      child.stdout.on('data', (d) => send({ id, type: 'out', stream: 'stdout', data: d.toString('utf8') }));
      child.stderr.on('data', (d) => send({ id, type: 'out', stream: 'stderr', data: d.toString('utf8') }));
      child.on('close', (code, signal) => send({ id, type: 'exit', code, signal }));
    }
  });`;

/** CPU seconds (user + system, the process and the children it waited for) per contestant, from GNU time. */
const cpu = {};
/** Peak resident set (MB) per contestant, from GNU time. */
const rss = {};
const TIME = '/usr/bin/time';
const hasTime = existsSync(TIME);
let timeFile = 0;
/** Runs `node ARGS` in the temporary directory: wall ms (and CPU ms into `cpu[key]` when GNU time is there). */
async function run(key, nodeArgs) {
  const out = join(dir, `time-${timeFile++}.txt`);
  const result = hasTime
    ? await runProcess(TIME, ['-f', '%U %S %M', '-o', out, process.execPath, ...nodeArgs], { cwd: dir })
    : await runProcess(process.execPath, nodeArgs, { cwd: dir });
  if (hasTime) {
    const [user, sys, maxKb] = readFileSync(out, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    (cpu[key] ??= []).push((user + sys) * 1000);
    (rss[key] ??= []).push(maxKb / 1024);
  }
  return result;
}

/** In-process time from the first spawn to the last exit, per contestant (warm-up included). */
const loops = { bare: [], 'durable-floor': [] };
const loopMs = (stdout) => Number(/^loop (\S+)$/m.exec(stdout)?.[1]);

const likeCkpt = (key, options) => {
  loops[key] = [];
  return {
    key,
    async run() {
      const source = LIKE_CKPT.replace('HELPER_SOURCE', JSON.stringify(HELPER));
      const result = await run(key, ['--input-type=module', '-e', source, JSON.stringify([STEP, steps, options, chunksDir])]);
      if (result.code !== 0) throw new Error(`loop exited ${result.code}: ${result.stderr.trim()}`);
      loops[key].push(loopMs(result.stdout));
      return result.ms;
    },
  };
};

const contestants = [
  {
    key: 'bare',
    async run() {
      const result = await run('bare', ['--input-type=module', '-e', BARE, JSON.stringify(STEP), String(steps)]);
      if (result.code !== 0) throw new Error(`bare loop exited ${result.code}: ${result.stderr.trim()}`);
      loops.bare.push(loopMs(result.stdout));
      return result.ms;
    },
  },
  {
    key: 'durable-floor',
    async run() {
      const result = await run('durable-floor', ['--input-type=module', '-e', DURABLE_FLOOR, JSON.stringify(STEP), String(steps)]);
      if (result.code !== 0) throw new Error(`durable floor exited ${result.code}: ${result.stderr.trim()}`);
      loops['durable-floor'].push(loopMs(result.stdout));
      return result.ms;
    },
  },
  likeCkpt('like-ckpt', {}),
  likeCkpt('like-ckpt:sync-out', { syncOut: true }),
  likeCkpt('like-ckpt:sync-read', { syncOut: 'read' }),
  likeCkpt('like-ckpt-big', { big: true }),
  likeCkpt('like-ckpt-big:helper', { big: true, helper: true }),
  likeCkpt('like-ckpt+1fsync', { syncOut: true, fsyncs: 1 }),
];
for (const { label, bin } of builds) {
  const cli = (key, extra) => async () => {
    rmSync(join(dir, 'steps.ckpt'), { force: true });
    const result = await run(key, [bin, 'run', pkgPath, ...extra]);
    if (result.code !== 0) throw new Error(`${label}: ckpt run exited ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return result.ms;
  };
  contestants.push({
    key: `ckpt-1:${label}`,
    async run() {
      const result = await run(`ckpt-1:${label}`, [bin, 'run', onePath, '--no-save-checkpoints', '--usage', 'never']);
      if (result.code !== 0) throw new Error(`${label}: ckpt run exited ${result.code}: ${result.stderr.trim()}`);
      return result.ms;
    },
  });
  contestants.push({ key: `ckpt:${label}`, run: cli(`ckpt:${label}`, ['--save-checkpoints', '--usage', 'if-exists']) });
  contestants.push({ key: `ckpt-off:${label}`, run: cli(`ckpt-off:${label}`, ['--no-save-checkpoints', '--usage', 'never']) });
}

// ONLY=key,key… measures a subset (bare always).
const only = process.env.ONLY?.split(',');
const chosen = only ? contestants.filter((c) => only.includes(c.key) || c.key === 'bare') : contestants;
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const samples = await alternate(chosen, { rounds, warmup: 1 });
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(
  `${steps} steps (${STEP.join(' ')}), ${rounds} rounds after 1 warm-up, Node ${process.version}; load ${loadBefore} before, ${loadAfter} after`,
);
console.log(
  'contestant'.padEnd(22),
  'wall ms'.padStart(8),
  'wall / bare (median of rounds, min–max)'.padStart(40),
  'CPU ms'.padStart(8),
  'CPU / bare'.padStart(12),
  'peak RSS MB'.padStart(12),
);
for (const c of chosen) {
  const ratios = samples[c.key].map((v, i) => v / samples.bare[i]);
  // The CPU samples include the warm-up round: drop it.
  const cpuOf = (key) => cpu[key]?.slice(1) ?? [];
  const cpuRatios = cpuOf(c.key).map((v, i) => v / cpuOf('bare')[i]);
  console.log(
    c.key.padEnd(22),
    median(samples[c.key]).toFixed(0).padStart(8),
    `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`.padStart(40),
    (hasTime ? median(cpuOf(c.key)).toFixed(0) : '-').padStart(8),
    (hasTime ? `${median(cpuRatios).toFixed(2)}×` : '-').padStart(12),
    (hasTime ? median(rss[c.key]).toFixed(0) : '-').padStart(12),
  );
}
const per = (xs) => (median(xs.slice(1)) / steps).toFixed(2);
console.log(
  `per step, loop only (in-process, first spawn to last exit): ${Object.entries(loops)
    .filter(([, xs]) => xs.length)
    .map(([k, xs]) => `${k} ${per(xs)} ms`)
    .join(', ')}`,
);
for (const { label } of builds) {
  if (!samples[`ckpt:${label}`] || !samples[`ckpt-1:${label}`]) continue;
  const diff = (key) => median(samples[key].map((v, i) => (v - samples[`ckpt-1:${label}`][i]) / (steps - 1))).toFixed(2);
  console.log(
    `per step, ${label} ((N steps − 1 step) / (N − 1), per round): checkpoints on ${diff(`ckpt:${label}`)} ms, off ${diff(`ckpt-off:${label}`)} ms (wall)`,
  );
}
rmSync(dir, { recursive: true, force: true });
