import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import type { Runner } from '../engine/runner.js';
import { FileLocker } from '../lock/file-locker.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';
import { pruneCheckpoints } from './prune.js';

const dir = useTempDir('prune');
const DAY = 24 * 60 * 60 * 1000;
const failing: Runner<null> = { kind: 'test', identify: () => testIdentity(), run: () => throwError(() => new Error('boom')) };

async function failedCheckpoint(name: string, retentionMs?: number): Promise<string> {
  const path = join(dir.path, name);
  const result = await new Engine().run(failing, null, {
    checkpoint: { path, usage: 'if-exists', save: true, ...(retentionMs !== undefined && { retentionMs }) },
  });
  expect(result.outcome).toBe('failure');
  return path;
}

const age = (path: string, ms: number) => utimesSync(path, new Date(Date.now() - ms), new Date(Date.now() - ms));

describe('pruneCheckpoints', () => {
  it('removes checkpoints past their retention (default 30 days from the last write) and keeps the rest', async () => {
    const old = await failedCheckpoint('old.ckpt');
    const recent = await failedCheckpoint('recent.ckpt');
    const short = await failedCheckpoint('short.ckpt', 60_000);
    age(old, 31 * DAY);
    age(recent, 29 * DAY);
    age(short, 120_000);
    writeFileSync(join(dir.path, 'notes.txt'), 'not a checkpoint');
    age(join(dir.path, 'notes.txt'), 400 * DAY);
    const report = await pruneCheckpoints(dir.path);
    expect(report.removed.map((r) => r.path).sort()).toEqual([old, short].sort());
    expect(report.kept).toBe(1);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(existsSync(join(dir.path, 'notes.txt'))).toBe(true);
  });

  it('--older-than overrides the retention; a dry run removes nothing', async () => {
    const path = await failedCheckpoint('a.ckpt');
    age(path, 2 * DAY);
    expect((await pruneCheckpoints(dir.path, { olderThanMs: DAY, dryRun: true })).removed).toHaveLength(1);
    expect(existsSync(path)).toBe(true);
    expect((await pruneCheckpoints(dir.path, { olderThanMs: DAY })).removed).toHaveLength(1);
    expect(existsSync(path)).toBe(false);
  });

  it('skips a checkpoint whose writer holds the lock', async () => {
    const path = await failedCheckpoint('busy.ckpt');
    age(path, 40 * DAY);
    const lock = await new FileLocker().acquire(path, { onCompromised: () => undefined });
    try {
      const report = await pruneCheckpoints(dir.path);
      expect(report.removed).toHaveLength(0);
      expect(report.skipped.map((s) => s.path)).toEqual([path]);
      expect(existsSync(path)).toBe(true);
    } finally {
      await lock.release();
    }
  });

  it('never deletes a checkpoint written by a later ckpt (format version 3): skipped with the reason, whatever its age; a damaged one expires', async () => {
    const newer = await failedCheckpoint('newer.ckpt');
    const bytes = readFileSync(newer);
    bytes.writeUInt16LE(3, 8);
    const headerLength = bytes.readUInt16LE(10);
    bytes.writeUInt32LE(crc32(bytes.subarray(0, headerLength - 4)), headerLength - 4);
    writeFileSync(newer, bytes);
    const damaged = await failedCheckpoint('damaged.ckpt');
    const damagedBytes = readFileSync(damaged);
    damagedBytes[12] = damagedBytes[12]! ^ 0xff; // inside the header: its CRC no longer matches
    writeFileSync(damaged, damagedBytes);
    age(newer, 400 * DAY);
    age(damaged, 400 * DAY);
    const report = await pruneCheckpoints(dir.path);
    expect(report.skipped).toEqual([{ path: newer, reason: expect.stringMatching(/format version 3 is newer than this ckpt reads.*upgrade ckpt/) }]);
    expect(report.removed.map((r) => r.path)).toEqual([damaged]);
    expect(existsSync(newer)).toBe(true);
    expect(readFileSync(newer)).toEqual(bytes);
    expect((await pruneCheckpoints(dir.path, { olderThanMs: 0 })).skipped.map((s) => s.path)).toEqual([newer]);
    expect(existsSync(newer)).toBe(true);
  });
});
