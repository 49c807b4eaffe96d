/**
 * Issue 12 item 5 and issue 16 ("stopping a task stops its process tree"): a step's processes
 * never outlive the ckpt that started them long enough to run beside a rerun of the step.
 * - kill -9 of `ckpt run` alone (not its group): a rerun at once stops the old step's group
 *   before it reruns the step, says so, and records it;
 * - SIGTERM to `ckpt run` and a step's `timeout` stop the task's whole group (SIGTERM, a grace
 *   period, SIGKILL), children included.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processGone } from '@ckpt/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
/** ckpt processes a test started, and the step groups it saw, killed in afterEach if still running. */
const children = new Set<ChildProcess>();
const groups = new Map<number, number | undefined>();
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-proc-tree-'));
});
afterEach(async () => {
  // Pids wrap around quickly on a busy machine: signal only what is provably still ours — an
  // unreaped child, or a group whose leader has its recorded start time (or, leader gone,
  // whose members all started after it: a group id is not reused while a member lives).
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const [pgid, leaderStart] of groups) {
    const members = liveMembers(pgid);
    const leader = members.find((m) => m.pid === pgid);
    const ours = leader !== undefined ? leader.start === leaderStart : members.every((m) => leaderStart !== undefined && m.start >= leaderStart);
    if (members.length > 0 && ours) process.kill(-pgid, 'SIGKILL');
  }
  children.clear();
  groups.clear();
  await rm(dir, { recursive: true, force: true });
});

function start(file: string) {
  // Its own group so that afterEach can clean up; the tests signal the ckpt process alone.
  const child = spawn(process.execPath, [MAIN, 'run', file], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; out: string }>((done) => child.on('close', (code) => done({ code, out })));
  return { child, exited, output: () => out };
}

async function poll<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Processes of group `pgid` that still run code. kill(-pgid, 0) → ESRCH means none; a zombie
 * (dead, waiting for its reaper — here PID 1 reaps orphans late) runs no code and is not counted.
 */
function liveMembers(pgid: number): { pid: number; start: number }[] {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return [];
    throw error;
  }
  const members: { pid: number; start: number }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields !== undefined && Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X')
      members.push({ pid: Number(name), start: Number(fields[19]) });
  }
  return members;
}

/** Fields 3 onwards of /proc/PID/stat: state, ppid, pgrp, ..., starttime at [19]. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Remembers a step's group (its shell's pid) with the shell's start time, for afterEach. */
function track(pgid: number): void {
  const start = statFields(pgid)?.[19];
  groups.set(pgid, start === undefined ? undefined : Number(start));
}

/** The pid a step wrote to file `name` (its shell's `$$`: the group id), once it is there. */
const readPid = (name: string, ms?: number) =>
  poll(
    `${name} written by the step`,
    () => {
      const path = join(dir, name);
      const pid = existsSync(path) ? Number(readFileSync(path, 'utf8')) : 0;
      return pid > 0 ? pid : false;
    },
    ms,
  );

/** The `$$ $!` a step wrote to file `name`: its shell (the group leader) and its background child. */
const readPids = (name: string, ms?: number) =>
  poll(
    `${name} written by the step`,
    () => {
      const path = join(dir, name);
      const [shell, child] = existsSync(path) ? readFileSync(path, 'utf8').trim().split(' ').map(Number) : [];
      return shell! > 0 && child! > 0 ? { shell: shell!, child: child! } : false;
    },
    ms,
  );

/** Polls until neither the shell nor its child runs, nor anything else of the shell's group. */
const treeGone = (pids: { shell: number; child: number }, ms = 5000) =>
  poll(
    `the end of step ${pids.shell} and its child ${pids.child}`,
    () => processGone(pids.shell) && processGone(pids.child) && liveMembers(pids.shell).length === 0,
    ms,
  );

const lines = async (name: string) => (existsSync(join(dir, name)) ? (await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean) : []);

describe('security: a step process tree never outlives its stop or its ckpt', () => {
  it('kill -9 of ckpt run alone, rerun at once: the old step group is stopped (and said so) before the step reruns; the runs never overlap', async () => {
    const file = join(dir, 'p.yaml');
    // Each run of the step logs start/stop/end with its shell's pid; `sleep 5 &` is a child in its
    // group. The step is quiet (output to /dev/null), as long steps often are: one that writes to
    // its output pipe after its ckpt died gets SIGPIPE and may end by itself.
    await writeFile(
      file,
      `id: p
version: 1
checkpoint: { usage: if-exists, save: true }
steps:
  - id: slow
    exec: [sh, -c, 'exec >/dev/null 2>&1; echo "start $$" >> log; trap "echo \\"stop $$\\" >> log; exit 143" TERM; sleep 5 & wait $!; echo "end $$" >> log']
`,
    );
    const first = start(file);
    const firstStep = await poll('the first run of the step', () => {
      const match = existsSync(join(dir, 'log')) ? /start (\d+)/.exec(readFileSync(join(dir, 'log'), 'utf8')) : null;
      return match ? Number(match[1]) : false;
    });
    track(firstStep);
    // The group is recorded durably right after the spawn: kill after the checkpoint shows it
    // (a build without the record — today's main — is killed after 2 s, and the step overlaps).
    const checkpoint = join(dir, '.ckpt', 'p.ckpt');
    await poll(
      'process/started on disk',
      () => spawnSync(process.execPath, [MAIN, 'events', checkpoint, '--json'], { encoding: 'utf8' }).stdout.includes('"process/started"'),
      2000,
    ).catch(() => undefined);
    process.kill(first.child.pid!, 'SIGKILL'); // ckpt alone, not its group nor the step's
    expect((await first.exited).code).toBe(null);

    const second = start(file);
    // The moment the rerun's step starts, nothing of the old step's group may run.
    let survivorsAtRerun: number[] | undefined;
    await poll('the rerun of the step', () => {
      const log = readFileSync(join(dir, 'log'), 'utf8');
      const rerun = [...log.matchAll(/start (\d+)/g)].map((m) => Number(m[1])).find((pid) => pid !== firstStep);
      if (rerun === undefined) return false;
      survivorsAtRerun = liveMembers(firstStep).map((m) => m.pid);
      return true;
    });
    const ended = await second.exited;
    expect(ended.code, ended.out).toBe(0);
    expect(survivorsAtRerun, `processes of the old step's group ${firstStep} still ran when the rerun started`).toEqual([]);

    // The log: one run at a time — every start is followed by that run's stop or end before the next start.
    const log = await lines('log');
    let active: string | undefined;
    for (const line of log) {
      const [what, pid] = line.split(' ');
      if (what === 'start') {
        expect(active, `two runs of the step overlap: ${log.join(', ')}`).toBeUndefined();
        active = pid;
      } else {
        expect(pid, log.join(', ')).toBe(active);
        active = undefined;
      }
    }
    expect(log).toEqual([`start ${firstStep}`, `stop ${firstStep}`, expect.stringMatching(/^start \d+$/), expect.stringMatching(/^end \d+$/)]);
    expect(ended.out).toMatch(
      new RegExp(`process group ${firstStep} of step slow \\(attempt 1\\) is still running although its ckpt process is gone: stopping it`),
    );
  });

  it('the takeover is recorded: ckpt events shows process/taken-over with how the group ended', async () => {
    const file = join(dir, 'p.yaml');
    await writeFile(
      file,
      `id: p
version: 1
checkpoint: { usage: if-exists, save: true }
steps:
  - id: slow
    exec: [sh, -c, 'echo "$$" > pgid; sleep 30 & wait']
  - id: fail
    exec: [sh, -c, 'exit 3']
`,
    );
    const first = start(file);
    const pgid = await readPid('pgid');
    track(pgid);
    const checkpoint = join(dir, '.ckpt', 'p.ckpt');
    await poll('process/started on disk', () =>
      spawnSync(process.execPath, [MAIN, 'events', checkpoint, '--json'], { encoding: 'utf8' }).stdout.includes('"process/started"'),
    );
    process.kill(first.child.pid!, 'SIGKILL');
    await first.exited;
    expect(liveMembers(pgid).length, 'the step group should outlive its ckpt here').toBeGreaterThan(0);
    // The rerun stops it, reruns `slow` (which runs 30 s): stop that one with SIGTERM.
    await rm(join(dir, 'pgid'));
    const second = start(file);
    const rerun = await readPid('pgid');
    track(rerun);
    expect(liveMembers(pgid)).toEqual([]);
    process.kill(second.child.pid!, 'SIGTERM');
    expect((await second.exited).code).toBe(130);
    const events = spawnSync(process.execPath, [MAIN, 'events', checkpoint, '--json'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    const takeover = events.find((e) => e.type === 'process/taken-over');
    expect(takeover).toMatchObject({ unit: 'slow', pgid, attempt: 1, outcome: 'terminated' });
    // The takeover comes before the rerun of the step starts.
    expect(events.findIndex((e) => e.type === 'process/taken-over')).toBeLessThan(
      events.findIndex((e) => e.type === 'process/started' && e['attempt'] === 2),
    );
  });

  it('SIGTERM to ckpt run stops the task group, children included, and exits 130', async () => {
    const file = join(dir, 'p.yaml');
    await writeFile(
      file,
      `id: p\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: wait, exec: [sh, -c, 'sleep 30 & echo "$$ $!" > pids; wait'] }\n`,
    );
    const run = start(file);
    const pids = await readPids('pids');
    track(pids.shell);
    process.kill(run.child.pid!, 'SIGTERM');
    const ended = await run.exited;
    expect(ended.code, ended.out).toBe(130);
    await treeGone(pids);
  });

  it('a step timeout stops the task group, children included; one that ignores SIGTERM is killed after the grace period', async () => {
    const file = join(dir, 'p.yaml');
    await writeFile(
      file,
      `id: p
version: 1
steps:
  - { id: polite, exec: [sh, -c, 'sleep 30 & echo "$$ $!" > polite; wait'], timeout: 500ms }
  - { id: deaf, after: { polite: completion }, exec: [sh, -c, 'trap "" TERM; sleep 30 & echo "$$ $!" > deaf; wait; sleep 30'], timeout: 500ms }
`,
    );
    const run = start(file);
    const polite = await readPids('polite');
    track(polite.shell);
    const deaf = await readPids('deaf', 15_000);
    track(deaf.shell);
    // `deaf` started, so `polite` has been recorded as failed: nothing of it may run by now.
    expect([processGone(polite.shell), processGone(polite.child), liveMembers(polite.shell)]).toEqual([true, true, []]);
    const started = Date.now();
    const ended = await run.exited;
    expect(ended.code, ended.out).toBe(1);
    expect(ended.out).toMatch(/deaf.*timed out after 500ms/);
    // SIGTERM is ignored by the whole group: only the SIGKILL after the 2 s grace ends it.
    expect(Date.now() - started).toBeGreaterThan(1000);
    await treeGone(deaf);
  });
});
