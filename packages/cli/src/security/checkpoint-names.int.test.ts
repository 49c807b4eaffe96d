/**
 * Issue 12 item 2: two names for one checkpoint. The writer lock was keyed on the path as given,
 * so a symlink `link.ckpt -> state.ckpt` (or a symlinked folder) let two runs both hold "the"
 * lock and run the same step at once. And the lock itself, `<file>.lock`, was followed when it
 * was a planted symlink. Both go through `ckpt run` as users do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; out: string }>;
}
const running: Run[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-names-'));
});
afterEach(async () => {
  await writeFile(join(dir, 'release'), '').catch(() => undefined);
  for (const proc of running.splice(0)) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  }
  await rm(dir, { recursive: true, force: true });
});

function start(file: string): Run {
  const child = spawn(process.execPath, [MAIN, 'run', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; out: string }>((done) => child.on('close', (code) => done({ code, out })));
  const proc = { child, exited };
  running.push(proc);
  return proc;
}

const waitFor = async (path: string, ms = 15_000) => {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A package whose one step records that it ran, then blocks until `release` exists (at most 20 s). */
async function writePackage(name: string, checkpointFile: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    `id: job\nversion: 1\ncheckpoint: { file: ${checkpointFile}, usage: if-exists, save: true }\nsteps:\n` +
      `  - { id: work, exec: [sh, -c, 'echo ran >> runs; touch started; i=0; while [ ! -f release ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done'] }\n`,
  );
  return file;
}

describe('security: one checkpoint, one lock, whatever its name', () => {
  it.each([
    ['a symlink to the file', 'state.ckpt', 'link.ckpt', () => symlink('state.ckpt', join(dir, 'link.ckpt'))],
    ['a symlinked folder', 'real/state.ckpt', 'alias/state.ckpt', () => symlink('real', join(dir, 'alias'))],
  ])('a second run through %s is refused as locked (exit 2, naming the owner), and the step runs once', async (_how, first, second, makeAlias) => {
    const one = await writePackage('one.yaml', first);
    const two = await writePackage('two.yaml', second);
    const holder = start(one);
    await waitFor(join(dir, 'started'));
    await makeAlias();
    const refused = await start(two).exited;
    expect(refused.out).toMatch(new RegExp(`is locked by pid ${holder.child.pid} on host `));
    expect(refused.code).toBe(2);
    await writeFile(join(dir, 'release'), '');
    const done = await holder.exited;
    expect(done.code).toBe(0);
    expect(await readFile(join(dir, 'runs'), 'utf8')).toBe('ran\n');
  });

  it('a planted symlink as the lock is refused (exit 2, naming it), never followed or removed through', async () => {
    const pkg = await writePackage('one.yaml', 'state.ckpt');
    await writeFile(join(dir, 'release'), '');
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'owner.json'), 'precious');
    // Old enough that proper-lockfile would judge the lock stale and remove it.
    await utimes(outside, new Date(2000, 0, 1), new Date(2000, 0, 1));
    await symlink(outside, join(dir, 'state.ckpt.lock'));
    const ended = await start(pkg).exited;
    expect(ended.out).toContain(`the writer lock ${join(dir, 'state.ckpt.lock')} is a symbolic link`);
    expect(ended.out).toMatch(/remove .*state\.ckpt\.lock/);
    expect(ended.code).toBe(2);
    expect(await readFile(join(outside, 'owner.json'), 'utf8')).toBe('precious');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
    expect(existsSync(join(dir, 'state.ckpt'))).toBe(false);
  });
});
