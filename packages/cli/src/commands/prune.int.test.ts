import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const main = ckptBin();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-prune-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('ckpt prune removes an expired partial transfer together with its checkpoint', async () => {
  writeFileSync(join(dir, 'data.bin'), randomBytes(2 * 1024 * 1024));
  mkdirSync(join(dir, 'in'));
  const checkpoint = join(dir, 'in', '.data.bin.ckpt');
  const partial = join(dir, 'in', '.data.bin.ckpt-part');
  const child = spawn(process.execPath, [main, 'copy', join(dir, 'data.bin'), join(dir, 'in', 'data.bin'), '--checkpoint-interval', '128KiB'], {
    env: { ...process.env, CKPT_COPY_RATE_LIMIT: '2MiB' },
    stdio: 'ignore',
  });
  const exited = new Promise((done) => child.once('exit', done));
  await expect.poll(() => (existsSync(partial) ? statSync(partial).size : 0), { timeout: 30_000, interval: 20 }).toBeGreaterThan(256 * 1024);
  child.kill('SIGKILL');
  await exited;
  const fresh = spawnSync(process.execPath, [main, 'prune', dir], { encoding: 'utf8' });
  expect(fresh.status).toBe(0);
  expect(existsSync(partial)).toBe(true);
  const old = new Date(Date.now() - 31 * 24 * 3600 * 1000);
  utimesSync(checkpoint, old, old);
  const pruned = spawnSync(process.execPath, [main, 'prune', dir], { encoding: 'utf8' });
  expect(pruned.status, pruned.stderr).toBe(0);
  expect(pruned.stdout).toContain(`removed ${checkpoint}`);
  expect(pruned.stdout).toContain(partial);
  expect(existsSync(checkpoint)).toBe(false);
  expect(existsSync(partial)).toBe(false);
});
