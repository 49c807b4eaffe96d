import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { definePackage } from './builder.js';
import { Effects, runPackage, skippedByCheckpoint, tempDir } from './test-support/harness.js';

describe('smoke', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());
  it('runs, fails, resumes', async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'), fx.task('c'));
    fx.failing.add('b');
    const path = join(t.dir, 'p.ckpt');
    const first = await runPackage(pkg, path);
    expect(first.result.outcome).toBe('failure');
    fx.failing.clear();
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(skippedByCheckpoint(second.notices)).toEqual(['a']);
    expect([...fx.counts]).toEqual([['a', 1], ['b', 1], ['c', 1]]);
  });
});
