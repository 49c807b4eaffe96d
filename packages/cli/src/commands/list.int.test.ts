/**
 * `ckpt list` as a real process: every checkpoint under a folder (hidden ones of partial copies
 * too), damaged ones listed with their problem, the owner's liveness read from the lock, and
 * nothing changed on disk.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
const children: number[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-list-int-'));
});
afterEach(async () => {
  for (const pid of children.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

const ckpt = (...args: string[]) =>
  spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 });

interface Row {
  file: string;
  id?: string;
  version?: string;
  kind?: string;
  attempts?: number;
  status?: string;
  lastAttempt?: { outcome?: string; endedAt?: number } | null;
  owner: { state: string; pid?: number };
  restart?: string[];
  problem?: string;
}
const listJson = (...args: string[]): Row[] => {
  const result = ckpt('list', ...args, '--json');
  expect(result.status, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Row);
};

const waitFor = async (path: string, ms = 10_000) => {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Every file under `root` with its size and mtime: what "nothing changed" is checked against. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out.set(p, `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(root);
  return out;
}

async function failedCheckpoint(): Promise<string> {
  await writeFile(
    join(dir, 'p.yaml'),
    `id: p\nversion: 3\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'true'] }\n  - { id: b, exec: [sh, -c, 'echo broken >&2; exit 1'] }\n`,
  );
  expect(ckpt('run', 'p.yaml').status).toBe(1);
  return join('.ckpt', 'p.ckpt');
}

describe('ckpt list', () => {
  it('lists every checkpoint under the folder with its job, attempts, outcome, owner and restart point; damaged ones say why', async () => {
    const good = await failedCheckpoint();
    // A partial copy's hidden checkpoint, deeper down; and copies where list must not look.
    await mkdir(join(dir, 'in', 'deep'), { recursive: true });
    await copyFile(join(dir, good), join(dir, 'in', 'deep', '.orders.csv.ckpt'));
    await mkdir(join(dir, 'node_modules', 'x'), { recursive: true });
    await copyFile(join(dir, good), join(dir, 'node_modules', 'x', 'ignored.ckpt'));
    await mkdir(join(dir, '.git'), { recursive: true });
    await copyFile(join(dir, good), join(dir, '.git', 'ignored.ckpt'));
    // A checkpoint under another name is found by its magic bytes.
    await copyFile(join(dir, good), join(dir, 'state.bin'));
    // Damaged: a truncated header, and an empty file.
    const bytes = await readFile(join(dir, good));
    await writeFile(join(dir, 'in', 'broken.ckpt'), bytes.subarray(0, 12));
    await writeFile(join(dir, 'in', 'empty.ckpt'), '');
    const before = snapshot(dir);

    const rows = listJson();
    expect(rows.map((r) => r.file).sort()).toEqual(
      [good, join('in', 'broken.ckpt'), join('in', 'deep', '.orders.csv.ckpt'), join('in', 'empty.ckpt'), 'state.bin'].sort(),
    );
    const row = rows.find((r) => r.file === good)!;
    expect(row).toMatchObject({ kind: 'control-flow', id: 'p', version: '3', attempts: 1, status: 'failure', owner: { state: 'none' } });
    expect(row.lastAttempt?.outcome).toBe('failure');
    expect(typeof row.lastAttempt?.endedAt).toBe('number');
    expect(row.restart).toEqual([
      '1 unit(s) completed are skipped',
      'b failed ("command "sh" exited with code 1; its stderr ends with: broken") and runs again',
    ]);
    expect(rows.find((r) => r.file.endsWith('empty.ckpt'))?.problem).toMatch(/the file is empty/);
    expect(rows.find((r) => r.file.endsWith('broken.ckpt'))?.problem).toBeTruthy();

    const human = ckpt('list');
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^CHECKPOINT\s+JOB\s+ATTEMPTS\s+LAST ENDED\s+OUTCOME\s+OWNER$/m);
    expect(human.stdout).toMatch(
      new RegExp(`^${good.replace('.', '\\.')}\\s+control-flow p v3\\s+1\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+failure\\s+none$`, 'm'),
    );
    expect(human.stdout).toContain('  next: 1 unit(s) completed are skipped; b failed');
    expect(human.stdout).toMatch(/in\/empty\.ckpt\s+-\s+-\s+-\s+unreadable\s+none\n {2}problem: .*empty/);
    // Reading never changes a file and never takes a lock.
    expect(snapshot(dir)).toEqual(before);
  });

  it('says whether the owner is alive: a running attempt holds the lock, a killed one leaves it stale', async () => {
    await writeFile(
      join(dir, 'w.yaml'),
      `id: w\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: wait, exec: [sh, -c, 'touch started; exec sleep 30'] }\n`,
    );
    const child = spawn(process.execPath, [MAIN, 'run', 'w.yaml'], { cwd: dir, detached: true, stdio: 'ignore' });
    children.push(child.pid!);
    const exited = new Promise((done) => child.on('close', done));
    await waitFor(join(dir, 'started'));
    const [live] = listJson(dir);
    expect(live).toMatchObject({ file: join(dir, '.ckpt', 'w.ckpt'), status: 'running', owner: { state: 'live', pid: child.pid } });
    expect(ckpt('list', dir).stdout).toMatch(new RegExp(`running\\s+pid ${child.pid} \\(running\\)`));
    // inspect names the owner too, from the same lock.
    expect(ckpt('inspect', join(dir, '.ckpt', 'w.ckpt')).stdout).toMatch(new RegExp(`owner {6}pid ${child.pid} on \\S+ since .* \\(running\\)`));

    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    const [dead] = listJson(dir);
    expect(dead).toMatchObject({ status: 'crashed', owner: { state: 'stale', pid: child.pid } });
    expect(ckpt('inspect', join(dir, '.ckpt', 'w.ckpt')).stdout).toContain('(gone: the next run takes over at once)');
    expect(dead!.restart).toEqual(['wait was running when the attempt stopped and runs again']);
    // list left the dead owner's lock in place: taking it over is the next run's job.
    expect(existsSync(join(dir, '.ckpt', 'w.ckpt.lock'))).toBe(true);
  });

  it('refuses a folder that does not exist (exit 2) and says so when there is nothing to list', () => {
    const missing = ckpt('list', join(dir, 'nope'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('no such directory');
    const empty = ckpt('list');
    expect(empty.status).toBe(0);
    expect(empty.stdout).toBe(`no checkpoints under .\n`);
  });
});
