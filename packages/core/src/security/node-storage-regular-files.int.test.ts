/**
 * Issue 12, items 1 and 10, at the storage seam: NodeStorage opens regular files only. A
 * symbolic link is never followed (a link planted at a name ckpt writes cannot redirect the
 * write), a FIFO never blocks the open (it used to hang for ever), and both are refused with
 * NotRegularFileError (code `invalid`) naming the path, before a byte is read or written.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotRegularFileError } from '../errors.js';
import { NodeStorage } from '../storage/node-storage.js';
import type { OpenMode } from '../storage/storage.js';

let dir: string;
const storage = new NodeStorage();
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-node-storage-'));
  await writeFile(join(dir, 'precious.txt'), 'precious');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectRefused(path: string, mode: OpenMode, found: RegExp): Promise<void> {
  const error = await storage.open(path, mode).then(
    async (file) => (await file.close(), undefined),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NotRegularFileError);
  expect((error as NotRegularFileError).code).toBe('invalid');
  expect((error as Error).message).toContain(path);
  expect((error as Error).message).toMatch(found);
}

describe('NodeStorage.open refuses what is not a regular file', () => {
  for (const mode of ['read', 'read-write'] as const) {
    it(`a symbolic link to a regular file (${mode}): refused, the target untouched`, async () => {
      const link = join(dir, '.x.ckpt-part');
      await symlink('precious.txt', link);
      await expectRefused(link, mode, /is a symbolic link, not a regular file/);
      expect(readFileSync(join(dir, 'precious.txt'), 'utf8')).toBe('precious');
    });

    it(`a FIFO (${mode}): refused at once instead of waiting for a writer`, async () => {
      const fifo = join(dir, 'job.ckpt');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      await expectRefused(fifo, mode, /is a FIFO \(named pipe\), not a regular file/);
    }, 5_000);

    it(`a folder (${mode}): refused`, async () => {
      await expectRefused(dir, mode, /is a folder, not a regular file/);
    });
  }

  it('a regular file opens, and its info names the same file as stat', async () => {
    const path = join(dir, 'precious.txt');
    const file = await storage.open(path, 'read');
    try {
      const opened = await file.info!();
      expect(opened.isFile).toBe(true);
      expect(opened.fileId).toBe((await storage.stat(path))!.fileId);
    } finally {
      await file.close();
    }
  });
});
