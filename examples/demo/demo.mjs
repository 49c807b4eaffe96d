// The demo: a package that generates a data set, ships it to a node with checkpoint restart,
// and loads it region by region — killed once mid-transfer and failed once mid-load. Each rerun
// resumes where the last one stopped. Run with `pnpm demo` after `pnpm install`.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = fileURLToPath(new URL('.', import.meta.url));
const ckpt = fileURLToPath(new URL('../../packages/cli/bin/ckpt.js', import.meta.url));
const SIZE_MIB = Number(process.env.DEMO_SIZE_MIB ?? 256);
const plainOutput = process.env.NO_COLOR !== undefined || !process.stdout.isTTY;
const paint = (code) => (text) => (plainOutput ? text : `\u001b[${code}m${text}\u001b[0m`);
const bold = paint(1),
  dim = paint(2),
  green = paint(32),
  red = paint(31),
  cyan = paint(36);
const TASKS = new Set(['generate', 'ship', 'load-region', 'report']);
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const say = (line = '') => process.stdout.write(`${line}\n`);

const work = mkdtempSync(join(tmpdir(), 'ckpt-demo-'));
const children = new Set();
const cleanup = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
};
process.once('SIGINT', () => (cleanup(), process.exit(130)));

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `ckpt serve` for node beta and resolves once it listens. */
async function startNode(netmap, root, port) {
  const child = spawn(
    process.execPath,
    [ckpt, 'serve', '--root', root, '--listen', `127.0.0.1:${port}`, '--name', 'beta', '--netmap', netmap, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  const lines = createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`ckpt serve exited with code ${code}`)));
    lines.on('line', (line) => line.includes('listening') && resolve());
  });
  return child;
}

/**
 * Runs the package with --json, shows what happens, and returns the counts. `killWhen`, if given,
 * is polled: when it returns true the run's whole process group is killed with SIGKILL.
 */
async function runPackage(title, packageFile, { killWhen, env = {} } = {}) {
  say();
  say(bold(`── ${title}`));
  const started = Date.now();
  const child = spawn(process.execPath, [ckpt, 'run', packageFile, '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, ...env },
  });
  children.add(child);
  // Tasks (not containers) run and skipped, with their durations, and what the transfer sent.
  const stats = { ran: [], skipped: [], durations: new Map(), resumedFrom: 0, sent: 0, shipMs: 0, exitCode: undefined, killed: false };
  createInterface({ input: child.stdout }).on('line', (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    switch (event.type) {
      case 'resuming':
        say(cyan('  resuming from the checkpoint:'));
        for (const reason of event.explanation) say(cyan(`    ${reason}`));
        break;
      case 'step-skipped':
        if (event.reason === 'checkpoint') {
          // A skipped iteration of the load loop stands for its one task.
          stats.skipped.push(/^load\[\d+\]$/.test(event.unit) ? `${event.unit}/load-region` : event.unit);
          say(dim(`  ↷ ${event.unit}  skipped: the checkpoint has it`));
        }
        break;
      case 'step-started':
        say(`  ▶ ${event.unit}`);
        break;
      case 'step-finished':
        if (TASKS.has(event.step)) {
          stats.ran.push(event.unit);
          stats.durations.set(event.unit, event.durationMs);
          if (event.step === 'ship') stats.shipMs = event.durationMs;
        }
        say(
          `  ${event.result === 'success' ? green('✓') : red('✗')} ${event.unit}  ${event.result} in ${event.durationMs} ms${event.error ? red(`: ${event.error}`) : ''}`,
        );
        break;
      case 'output':
        say(dim(`      ${event.line}`));
        break;
      case 'unit-completed':
        if (event.result && typeof event.result.sent === 'number') {
          stats.resumedFrom += event.result.resumedFrom;
          stats.sent += event.result.sent;
        }
        break;
    }
  });
  let timer;
  if (killWhen) {
    timer = setInterval(() => {
      if (!stats.killed && killWhen()) {
        stats.killed = true;
        say(red('  ✕ kill -9 (the machine lost power, say)'));
        process.kill(-child.pid, 'SIGKILL');
      }
    }, 10);
  }
  stats.exitCode = await new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  clearInterval(timer);
  stats.ms = Date.now() - started;
  say(dim(`  exit ${stats.exitCode} after ${(stats.ms / 1000).toFixed(1)} s`));
  return stats;
}

try {
  say(bold('ckpt demo: restart from the point of failure, not from the beginning'));
  say(dim(`working in ${work}`));
  const port = await freePort();
  const netmap = join(work, 'netmap.yaml');
  writeFileSync(
    netmap,
    `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "${randomBytes(16).toString('hex')}" }\n  beta:  { address: 127.0.0.1:${port}, secret: "${randomBytes(16).toString('hex')}" }\n`,
    { mode: 0o600 },
  );
  const betaRoot = join(work, 'beta');
  mkdirSync(join(betaRoot, 'incoming'), { recursive: true });
  mkdirSync(join(work, 'fail-once'), { recursive: true });
  writeFileSync(join(work, 'fail-once', 'apac'), '');
  await startNode(netmap, betaRoot, port);
  say(`node ${bold('beta')} listening on 127.0.0.1:${port} (ckpt serve, mutual authentication from the netmap)`);

  const packageFile = join(work, 'nightly.yaml');
  writeFileSync(
    packageFile,
    `id: demo-nightly
version: 1
checkpoint: { file: .ckpt/nightly.ckpt, usage: if-exists, save: true }
config: { sizeMiB: ${SIZE_MIB} }
steps:
  - id: generate
    exec: [node, ${JSON.stringify(join(here, 'generate.mjs'))}, orders.csv, "\${{ config.sizeMiB }}"]
  - id: ship
    copy: { from: orders.csv, to: "ckpt://beta/incoming/orders.csv", checkpointInterval: 8MiB, netmap: netmap.yaml, node: alpha }
  - id: load
    forEach: { items: [eu, us, apac, latam], as: region }
    checkpointIterations: true
    steps:
      - id: load-region
        exec: [node, ${JSON.stringify(join(here, 'load-region.mjs'))}, "\${{ vars.region }}", ${JSON.stringify(join(work, 'fail-once'))}]
  - id: report
    exec: [sh, -c, 'echo "all regions loaded"']
`,
  );
  const partial = join(betaRoot, 'incoming', '.orders.csv.ckpt-part');
  const total = SIZE_MIB * 1024 * 1024;
  const throttle = { CKPT_COPY_RATE_LIMIT: `${Math.max(32, Math.round(SIZE_MIB / 3))}MiB` };

  const first = await runPackage('run 1: killed with SIGKILL halfway through the transfer', packageFile, {
    env: throttle,
    killWhen: () => existsSync(partial) && statSync(partial).size > total / 2,
  });
  const second = await runPackage('run 2: resumes; the apac load fails (a simulated outage)', packageFile);
  const third = await runPackage('run 3: resumes after the outage', packageFile);

  // Without checkpoints, runs 2 and 3 would each have started over at `generate`.
  const withCkpt = second.ran.length + third.ran.length;
  const fromScratch = second.ran.length + second.skipped.length + third.ran.length + third.skipped.length;
  const lastDuration = (unit) => [second, first].map((run) => run.durations.get(unit)).find((ms) => ms !== undefined) ?? 0;
  const skippedMs = [...second.skipped, ...third.skipped].reduce((sum, unit) => sum + lastDuration(unit), 0);
  const rate = second.shipMs > 0 ? second.sent / second.shipMs : 0;
  const resendMs = rate > 0 ? second.resumedFrom / rate : 0;
  say();
  say(bold('what the restarts saved'));
  say(
    `  tasks: ${withCkpt} run again instead of ${fromScratch} (the reruns would each have started over): ${green(`${fromScratch - withCkpt} task runs saved`)}`,
  );
  say(`  bytes: the transfer resumed at ${mib(second.resumedFrom)} of ${mib(total)}: ${green(`${mib(second.resumedFrom)} not resent`)}`);
  say(
    `  time:  about ${green(`${((skippedMs + resendMs) / 1000).toFixed(1)} s`)} of work not redone (skipped tasks as long as their last run, plus resending at the measured rate)`,
  );
  say(`  the checkpoint was deleted when the package succeeded: ${existsSync(join(work, '.ckpt', 'nightly.ckpt')) ? red('no') : green('yes')}`);
  if (third.exitCode !== 0 || !first.killed) {
    say(red('the demo did not go as planned (see above)'));
    process.exitCode = 1;
  }
} catch (error) {
  say(red(`demo failed: ${error.message}`));
  process.exitCode = 1;
} finally {
  cleanup();
}
