import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const main = ckptBin();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-disk-full-'));
  // Like cp, a copy does not create the destination's folder.
  mkdirSync(join(dir, 'out'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('no more room on the receiver (a file-size limit): a clear error naming the file, exit 1, and a rerun resumes once there is room', () => {
  const data = randomBytes(4 * 1024 * 1024);
  writeFileSync(join(dir, 'a'), data);
  // ulimit -f caps every file this process writes (in 512-byte blocks for sh): 1 MiB here.
  const limited = spawnSync(
    'sh',
    ['-c', `ulimit -f 2048; exec "${process.execPath}" "${main}" copy a out/a --checkpoint-interval 256KiB --short-retries 0`],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  expect(limited.status, limited.stderr).toBe(1);
  expect(limited.stderr).toMatch(/out\/\.a\.ckpt-part \(EFBIG\)/);
  expect(limited.stderr).toContain('rerun to resume');
  expect(limited.stderr).not.toMatch(/\n\s+at /);
  expect(existsSync(join(dir, 'out', 'a'))).toBe(false);

  const rerun = spawnSync(process.execPath, [main, 'copy', 'a', 'out/a', '--checkpoint-interval', '256KiB', '--json'], {
    cwd: dir,
    encoding: 'utf8',
  });
  expect(rerun.status, rerun.stderr).toBe(0);
  const completed = JSON.parse(rerun.stdout.trim().split('\n').at(-1)!) as { resumedFrom: number; sent: number };
  expect(completed.resumedFrom).toBeGreaterThan(0);
  expect(completed.resumedFrom).toBeLessThanOrEqual(1024 * 1024);
  expect(completed.sent).toBe(data.length - completed.resumedFrom);
  expect(readFileSync(join(dir, 'out', 'a')).equals(data)).toBe(true);
});
