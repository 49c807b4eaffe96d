import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';
import { freePort, prepareLoopbackNode, startLoopbackNode } from '../test-support/loopback-node.js';

/** Issue 16, "Copies": the rsync / Connect:Direct habits of `ckpt copy`, through the CLI. */
const MAIN = ckptBin();

let dir: string;
let node: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-copy-d2-'));
  await mkdir(join(dir, 'out'));
});
afterEach(async () => {
  if (node && node.exitCode === null) {
    node.kill('SIGTERM');
    await new Promise((r) => node!.once('exit', r));
  }
  node = undefined;
  await rm(dir, { recursive: true, force: true });
});

function ckpt(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  delete clean['CKPT_COPY_RATE_LIMIT'];
  // NO_COLOR: picocolors colours output under CI=true, and these tests read the human view.
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...clean, NO_COLOR: '1', ...env }, timeout: 60_000 });
}

/** As {@link ckpt}, without blocking this process: a node it started keeps being served meanwhile. */
function ckptAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const clean: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete clean['CKPT_COPY_RATE_LIMIT'];
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((done) => child.once('close', (status) => (clearTimeout(timer), done({ status, stdout, stderr }))));
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const remote = ['--netmap', 'netmap.yaml', '--node', 'alpha'];

async function startNode(): Promise<void> {
  const port = await freePort();
  await prepareLoopbackNode(dir, port);
  node = await startLoopbackNode(dir, port);
}

const umasked = 0o666 & ~process.umask();

describe('ckpt copy --rate-limit', () => {
  it('takes a rate as a flag (50MiB/s or 50MiB), wins over CKPT_COPY_RATE_LIMIT, and refuses a bad one with exit 2', async () => {
    await writeFile(join(dir, 'a'), randomBytes(1024 * 1024));
    const began = Date.now();
    const slow = ckpt(['copy', 'a', 'out/slow', '--rate-limit', '512KiB/s']);
    expect(slow.status, slow.stderr).toBe(0);
    // 1 MiB at 512 KiB/s: at least a second and a half, once the first chunk is out.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1400);
    // The environment alone would take 1024 s; the flag (0: unlimited) wins.
    const fast = ckpt(['copy', 'a', 'out/fast', '--rate-limit', '0'], { CKPT_COPY_RATE_LIMIT: '1KiB' });
    expect(fast.status, fast.stderr).toBe(0);
    for (const bad of ['fast', '-1MiB/s', '5 lightyears']) {
      const run = ckpt(['copy', 'a', 'out/bad', '--rate-limit', bad]);
      expect(run.status, bad).toBe(2);
      expect(run.stderr).toContain(`--rate-limit: "${bad}" is not a rate`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'out', 'bad'))).toBe(false);
  }, 30_000);
});

describe('an equal destination is up to date', () => {
  it('a rerun of a finished copy sends nothing and says so; a destination that differs is sent again', async () => {
    const data = randomBytes(700 * 1024);
    await writeFile(join(dir, 'a'), data);
    expect(ckpt(['copy', 'a', 'out/b']).status).toBe(0);
    const rerun = ckpt(['copy', 'a', 'out/b', '--json']);
    expect(rerun.status, rerun.stderr).toBe(0);
    const lines = jsonLines(rerun.stdout);
    expect(lines.map((l) => l['type'])).toEqual(['transfer/up-to-date', 'transfer-completed']);
    expect(lines.at(-1)).toMatchObject({ type: 'transfer-completed', bytes: data.length, sent: 0, upToDate: true });
    const human = ckpt(['copy', 'a', 'out/b']);
    expect(human.stdout).toContain('up to date a → out/b');
    // Same size, one byte different: not equal, so everything is sent.
    const changed = Buffer.from(data);
    changed[1000] = changed[1000]! ^ 0xff;
    await writeFile(join(dir, 'out', 'b'), changed);
    const again = ckpt(['copy', 'a', 'out/b', '--json']);
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ sent: data.length, upToDate: false });
    expect((await readFile(join(dir, 'out', 'b'))).equals(data)).toBe(true);
  });

  it('through a node: a rerun of a push sends nothing (the node hashes its copy, the client its source)', async () => {
    await startNode();
    const data = randomBytes(600 * 1024);
    await writeFile(join(dir, 'a'), data);
    expect(ckpt(['copy', 'a', 'ckpt://beta/b', ...remote]).status).toBe(0);
    const rerun = ckpt(['copy', 'a', 'ckpt://beta/b', ...remote, '--json']);
    expect(rerun.status, rerun.stderr).toBe(0);
    const lines = jsonLines(rerun.stdout);
    expect(lines.some((l) => l['type'] === 'transfer/up-to-date')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: 'transfer-completed', sent: 0 });
    // And a pull onto an equal local file.
    const pulled = ckpt(['copy', 'ckpt://beta/b', 'out/b', ...remote]);
    expect(pulled.status, pulled.stderr).toBe(0);
    const repull = ckpt(['copy', 'ckpt://beta/b', 'out/b', ...remote, '--json']);
    expect(jsonLines(repull.stdout).at(-1)).toMatchObject({ type: 'transfer-completed', sent: 0, upToDate: true });
  });
});

describe('ckpt copy --preserve', () => {
  it("keeps the source's mode and mtime, locally and through a node; without it files get 0666 & ~umask", async () => {
    await startNode();
    await writeFile(join(dir, 'a'), randomBytes(100 * 1024));
    await chmod(join(dir, 'a'), 0o640);
    const mtime = new Date('2020-01-02T03:04:05Z');
    await utimes(join(dir, 'a'), mtime, mtime);
    const targets = [
      ['out/kept', join(dir, 'out', 'kept')],
      ['ckpt://beta/kept', join(dir, 'root', 'kept')],
    ] as const;
    for (const [to, path] of targets) {
      const run = ckpt(['copy', 'a', to, '--preserve', ...remote]);
      expect(run.status, run.stderr).toBe(0);
      expect(statSync(path).mode & 0o7777, to).toBe(0o640);
      expect(statSync(path).mtime.getTime(), to).toBe(mtime.getTime());
    }
    for (const [to, path] of [
      ['out/plain', join(dir, 'out', 'plain')],
      ['ckpt://beta/plain', join(dir, 'root', 'plain')],
    ] as const) {
      const run = ckpt(['copy', 'a', to, ...remote]);
      expect(run.status, run.stderr).toBe(0);
      expect(statSync(path).mode & 0o7777, to).toBe(umasked);
      expect(statSync(path).mtime.getTime(), to).not.toBe(mtime.getTime());
    }
    // A pull with --preserve takes the node's file's mode and mtime.
    await chmod(join(dir, 'root', 'kept'), 0o604);
    const pull = ckpt(['copy', 'ckpt://beta/kept', 'out/pulled', '--preserve', ...remote]);
    expect(pull.status, pull.stderr).toBe(0);
    expect(statSync(join(dir, 'out', 'pulled')).mode & 0o7777).toBe(0o604);
    expect(statSync(join(dir, 'out', 'pulled')).mtime.getTime()).toBe(mtime.getTime());
  });
});

describe('progress and retries in logs', () => {
  it('without a terminal and without --json, prints a progress line every --progress-every', async () => {
    await writeFile(join(dir, 'a'), randomBytes(2 * 1024 * 1024));
    const run = ckpt(['copy', 'a', 'out/b', '--rate-limit', '1MiB/s', '--progress-every', '400ms']);
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stderr.split('\n').filter((line) => line.startsWith('progress: '));
    expect(lines.length, run.stderr).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^progress: [\d.]+ (B|KiB|MiB) of 2(\.0)? MiB \(\d+%\), [\d.]+ (B|KiB|MiB)\/s$/);
  }, 30_000);

  it('retries before the first connection are events, each with its count and wait (--json and human)', async () => {
    const port = await freePort();
    await prepareLoopbackNode(dir, port); // nothing listens there
    await writeFile(join(dir, 'a'), 'x');
    const json = ckpt(['copy', 'a', 'ckpt://beta/b', ...remote, '--short-retries', '2', '--short-wait', '300ms', '--json']);
    expect(json.status).not.toBe(0);
    const lines = jsonLines(json.stdout);
    expect(lines.map((l) => l['type'])).toEqual(['transfer/retry', 'transfer/retry', 'transfer-failed']);
    expect(lines[0]).toMatchObject({ retry: 1, error: expect.stringContaining('cannot reach node beta') });
    expect(lines[1]).toMatchObject({ retry: 2 });
    expect(Number(lines[0]!['waitMs'])).toBeGreaterThan(0);
    const human = ckpt(['copy', 'a', 'ckpt://beta/b', ...remote, '--short-retries', '1', '--short-wait', '100ms']);
    expect(human.stderr).toMatch(/retry 1 in \d+ms: cannot reach node beta/);
  });
});

describe('--help shows every default', () => {
  it('copy and serve', () => {
    const copy = ckpt(['copy', '--help']).stdout.replace(/\s+/g, ' ');
    for (const text of [
      '(default: 8MiB)',
      '(default: 3)',
      '(default: 2s)',
      '(default: 0, none)',
      '(default: 5m)',
      '(default: tail)',
      '(default: 5s;',
      'default: unlimited',
      'default: mode 0666 & ~umask',
    ]) {
      expect(copy).toContain(text);
    }
    const serve = ckpt(['serve', '--help']).stdout.replace(/\s+/g, ' ');
    expect(serve).toContain('(default: 30d)');
    expect(serve).toContain('(default: 60s)');
  });
});

/** Every file under `root` (relative path → bytes), and the symbolic links. */
function treeOf(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (prefix: string) => {
    for (const name of readdirSync(join(root, prefix)).sort()) {
      const path = prefix === '' ? name : `${prefix}/${name}`;
      const info = lstatSync(join(root, path));
      if (info.isDirectory()) visit(path);
      else out.set(path, info.isSymbolicLink() ? 'link' : `${info.size}`);
    }
  };
  visit('');
  return out;
}

describe('ckpt copy --recursive', () => {
  async function makeTree(): Promise<Map<string, Buffer>> {
    const files = new Map<string, Buffer>([
      ['a.txt', randomBytes(10 * 1024)],
      ['b/c.bin', randomBytes(300 * 1024)],
      ['b/d/e.bin', randomBytes(3 * 1024 * 1024)],
      ['z.bin', randomBytes(200 * 1024)],
    ]);
    for (const [path, data] of files) {
      await mkdir(join(dir, 'tree', path, '..'), { recursive: true });
      await writeFile(join(dir, 'tree', path), data);
    }
    await mkdir(join(dir, 'tree', 'empty'));
    await symlink('/etc/passwd', join(dir, 'tree', 'b', 'link'));
    return files;
  }

  it('kill -9 mid-tree, rerun: finished files are up to date, the one in flight resumes, the tree is identical; links are skipped', async () => {
    const files = await makeTree();
    const args = ['copy', '--recursive', 'tree', 'out/copy', '--json', '--checkpoint-interval', '256KiB'];
    const child = spawn(process.execPath, [MAIN, ...args, '--rate-limit', '1MiB/s'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // Kill once the big file (third in order) has two durable checkpoints.
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no checkpoints of b/d/e.bin: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        const seen = jsonLines(out.slice(0, out.lastIndexOf('\n') + 1)).filter(
          (l) => l['type'] === 'transfer/checkpoint' && l['path'] === 'b/d/e.bin',
        );
        if (seen.length >= 2) {
          clearTimeout(timer);
          resolvePromise();
        }
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    expect(existsSync(join(dir, 'out', 'copy', 'b', 'd', 'e.bin'))).toBe(false);
    expect(existsSync(join(dir, 'out', 'copy', 'z.bin'))).toBe(false);

    const rerun = await ckptAsync(args);
    expect(rerun.status, rerun.stderr).toBe(0);
    const lines = jsonLines(rerun.stdout);
    const completed = new Map(lines.filter((l) => l['type'] === 'transfer/file-completed').map((l) => [l['path'], l]));
    expect(completed.get('a.txt')).toMatchObject({ upToDate: true, sent: 0 });
    expect(completed.get('b/c.bin')).toMatchObject({ upToDate: true, sent: 0 });
    expect(Number(completed.get('b/d/e.bin')!['resumedFrom'])).toBeGreaterThanOrEqual(2 * 256 * 1024);
    expect(completed.get('z.bin')).toMatchObject({ upToDate: false, sent: 200 * 1024 });
    expect(lines).toContainEqual(expect.objectContaining({ type: 'transfer/skipped', path: 'b/link' }));
    expect(lines.at(-1)).toMatchObject({ type: 'transfer-completed', files: 4, upToDate: 2, skipped: 1 });
    for (const [path, data] of files) expect((await readFile(join(dir, 'out', 'copy', path))).equals(data), path).toBe(true);
    // Identical tree: the same files, the empty folder, no link, no checkpoint or partial left.
    const expected = new Map([...files].map(([path, data]) => [path, `${data.length}`]));
    expect(treeOf(join(dir, 'out', 'copy'))).toEqual(expected);
    expect(statSync(join(dir, 'out', 'copy', 'empty')).isDirectory()).toBe(true);
  }, 60_000);

  it('the human view escapes control characters in the names of a tree', async () => {
    await mkdir(join(dir, 'tree'));
    await writeFile(join(dir, 'tree', 'a\x1b[31mred'), 'x');
    const run = await ckptAsync(['copy', '--recursive', 'tree', 'out/t']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('a\\u001b[31mred');
    expect(run.stderr).not.toContain('\x1b');
    expect(existsSync(join(dir, 'out', 't', 'a\x1b[31mred'))).toBe(true);
  });

  it('pushes a tree to a node; a rerun sends nothing; a missing parent is exit 2', async () => {
    await startNode();
    const files = await makeTree();
    const push = await ckptAsync(['copy', '--recursive', 'tree', 'ckpt://beta/in/tree', ...remote, '--json']);
    expect(push.status, push.stderr).toBe(0);
    for (const [path, data] of files) expect((await readFile(join(dir, 'root', 'in', 'tree', path))).equals(data), path).toBe(true);
    expect(existsSync(join(dir, 'root', 'in', 'tree', 'b', 'link'))).toBe(false);
    const again = await ckptAsync(['copy', '--recursive', 'tree', 'ckpt://beta/in/tree', ...remote, '--json']);
    expect(jsonLines(again.stdout).at(-1)).toMatchObject({ type: 'transfer-completed', files: 4, upToDate: 4, sent: 0 });

    const missing = await ckptAsync(['copy', '--recursive', 'tree', 'nowhere/copy']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    const inside = await ckptAsync(['copy', '--recursive', 'tree', 'tree/sub']);
    expect(inside.status).toBe(2);
    const folder = await ckptAsync(['copy', 'tree', 'out/t']);
    expect(folder.status).toBe(2);
    expect(folder.stderr).toContain('add --recursive to copy a folder');
    const pull = await ckptAsync(['copy', '--recursive', 'ckpt://beta/in/tree', 'out/t', ...remote]);
    expect(pull.status).toBe(2);
  }, 60_000);
});
