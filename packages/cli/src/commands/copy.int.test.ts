import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { ckptBin } from '../test-support/ckpt-bin.js';

/** The bundled CLI, as installed (`pnpm build` makes it). */
const MAIN = ckptBin();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-copy-cli-'));
  // Like cp, a copy does not create the destination's folder.
  await mkdir(join(dir, 'out'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ckpt(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

describe('ckpt copy', () => {
  it('--json ends with transfer-completed', async () => {
    const data = randomBytes(300 * 1024);
    await writeFile(join(dir, 'a'), data);
    const run = ckpt(['copy', 'a', 'out/b', '--json', '--checkpoint-interval', '64KiB']);
    expect(run.status).toBe(0);
    expect(lastJson(run.stdout)).toMatchObject({ type: 'transfer-completed', bytes: data.length, sent: data.length, resumedFrom: 0 });
    expect(firstDifference(await readFile(join(dir, 'out', 'b')), data)).toBeUndefined();
  });

  it('--hash picks the chain hash: xxh3 by default, sha256 when asked; another name is refused with exit 2', async () => {
    const data = randomBytes(200 * 1024);
    await writeFile(join(dir, 'a'), data);
    const fast = ckpt(['copy', 'a', 'out/fast', '--json']);
    expect(fast.status).toBe(0);
    expect(lastJson(fast.stdout)['digest']).toMatch(/^xxh3-chain:[0-9a-f]{32}$/);
    const slow = ckpt(['copy', 'a', 'out/slow', '--json', '--hash', 'sha256']);
    expect(slow.status).toBe(0);
    expect(lastJson(slow.stdout)['digest']).toMatch(/^sha256-chain:[0-9a-f]{64}$/);
    expect(firstDifference(await readFile(join(dir, 'out', 'slow')), data)).toBeUndefined();
    const refused = ckpt(['copy', 'a', 'out/md5', '--hash', 'md5']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--hash.*md5.*xxh3, sha256/s);
    expect(existsSync(join(dir, 'out', 'md5'))).toBe(false);
  });

  it('without WebAssembly (node --jitless) the default xxh3 is refused with exit 2, naming --hash sha256; sha256 still copies', async () => {
    const data = randomBytes(64 * 1024);
    await writeFile(join(dir, 'a'), data);
    const refused = ckpt(['copy', 'a', 'out/b'], { NODE_OPTIONS: '--jitless' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/XXH3 chain hash cannot be loaded/);
    expect(refused.stderr).toMatch(/pass --hash sha256/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    // A refusal changes nothing: no destination, no partial file, no checkpoint.
    expect(await readdir(join(dir, 'out'))).toEqual([]);
    const copied = ckpt(['copy', 'a', 'out/b', '--hash', 'sha256'], { NODE_OPTIONS: '--jitless' });
    expect(copied.status).toBe(0);
    expect(firstDifference(await readFile(join(dir, 'out', 'b')), data)).toBeUndefined();
  });

  it('refuses bad arguments and a missing source with exit 2 and no stack trace', () => {
    for (const args of [
      ['copy', 'missing', 'b'],
      ['copy', 'a', 'b', '--checkpoint-interval', 'lots'],
      ['copy', 'a', 'b', '--short-retries', '-1'],
    ]) {
      const run = ckpt(args);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'b'))).toBe(false);
  });

  it('survives kill -9 mid-transfer: a rerun sends nothing twice and completes with identical bytes', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    await writeFile(join(dir, 'big'), data);
    const child = spawn(process.execPath, [MAIN, 'copy', 'big', 'out/big', '--json', '--checkpoint-interval', '256KiB'], {
      cwd: dir,
      env: { ...process.env, CKPT_COPY_RATE_LIMIT: '2MiB' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // Wait for a few checkpoints, then kill without warning.
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no checkpoints seen: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        if ((out.match(/transfer\/checkpoint/g) ?? []).length >= 3) {
          clearTimeout(timer);
          resolvePromise();
        }
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    expect(existsSync(join(dir, 'out', 'big'))).toBe(false);
    // What the killed process wrote is still in the page cache, checkpointed or not.
    const left = statSync(join(dir, 'out', '.big.ckpt-part')).size;
    const rerun = ckpt(['copy', 'big', 'out/big', '--json', '--checkpoint-interval', '256KiB']);
    expect(rerun.status, rerun.stderr).toBe(0);
    const completed = lastJson(rerun.stdout);
    expect(completed['resumedFrom']).toBeGreaterThanOrEqual(3 * 256 * 1024);
    // It verifies against the source past the last checkpoint, so none of it is sent again.
    expect(completed['resumedFrom']).toBe(left);
    // Buffer.equals, not toEqual: vitest's deep equality walks 4 MiB byte by byte (tens of seconds).
    expect((await readFile(join(dir, 'out', 'big'))).equals(data), 'out/big is byte-identical to big').toBe(true);
    expect(existsSync(join(dir, 'out', '.big.ckpt'))).toBe(false);
    expect(existsSync(join(dir, 'out', '.big.ckpt-part'))).toBe(false);
  });

  it('SIGINT stops with exit 130 and a rerun resumes', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    await writeFile(join(dir, 'a'), data);
    const child = spawn(process.execPath, [MAIN, 'copy', 'a', 'b', '--json', '--checkpoint-interval', '128KiB'], {
      cwd: dir,
      env: { ...process.env, CKPT_COPY_RATE_LIMIT: '1MiB' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!interrupted && out.includes('transfer/checkpoint')) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise((r) => child.once('close', r));
    expect(code).toBe(130);
    const rerun = ckpt(['copy', 'a', 'b', '--json', '--checkpoint-interval', '128KiB']);
    expect(rerun.status).toBe(0);
    expect(lastJson(rerun.stdout)['resumedFrom']).toBeGreaterThan(0);
    expect(firstDifference(await readFile(join(dir, 'b')), data)).toBeUndefined();
  });
});
