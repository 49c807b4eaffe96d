import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InterruptedError, pruneCheckpoints } from '@ckpt/core';
import { copyFile } from '../copy-file.js';
import { checkpointPathOf, partialPathOf, TRANSFER_KIND, transferCompanions } from './names.js';
import { transferReducer } from './transfer-reducer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-prune-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('transferCompanions', () => {
  it('names the partial data beside a checkpoint', () => {
    expect(transferCompanions(checkpointPathOf('/d/file.iso'), undefined as never)).toEqual([partialPathOf('/d/file.iso')]);
    expect(partialPathOf('/d/file.iso')).toBe('/d/.file.iso.ckpt-part');
  });

  it('lets pruneCheckpoints remove an expired partial transfer with its checkpoint, and keep a fresh one', async () => {
    await writeFile(join(dir, 'a'), randomBytes(256 * 1024));
    const controller = new AbortController();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: join(dir, 'b'),
        checkpointInterval: 64 * 1024,
        retentionMs: 60_000,
        signal: controller.signal,
        onProgress: (p) => p.offset >= 128 * 1024 && controller.abort(),
      }),
    ).rejects.toBeInstanceOf(InterruptedError);
    const options = { reducers: [transferReducer], companions: new Map([[TRANSFER_KIND, transferCompanions]]) };
    expect((await pruneCheckpoints(dir, options)).kept).toBe(1);
    const old = new Date(Date.now() - 120_000);
    await utimes(checkpointPathOf(join(dir, 'b')), old, old);
    const report = await pruneCheckpoints(dir, options);
    expect(report.removed[0]?.removed).toEqual([checkpointPathOf(join(dir, 'b')), partialPathOf(join(dir, 'b'))]);
    expect(existsSync(partialPathOf(join(dir, 'b')))).toBe(false);
  });
});
