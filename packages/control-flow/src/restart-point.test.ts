import { join } from 'node:path';
import { Fold, NodeStorage, readLog } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePackage, forEach, sequence } from './builder.js';
import { restartPointOf } from './restart-point.js';
import { Effects, runPackage, tempDir } from './test-support/harness.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

describe('restart point', () => {
  it('beyond: the checkpoint says where the next attempt will start and why (crash in a transaction)', async () => {
    const fx = new Effects();
    const controller = new AbortController();
    fx.beforeEffect = (unit) => {
      if (unit === 'tx/y') controller.abort();
    };
    const pkg = definePackage(
      { id: 'p', version: 1 },
      fx.task('a'),
      forEach('each', { items: [1, 2, 3] }, [fx.task('load')], { checkpointIterations: true }),
      sequence('tx', [fx.task('x'), fx.task('y')], { transaction: 'required' }),
    );
    const path = join(dir, 'p.ckpt');
    await runPackage(pkg, path, { signal: controller.signal });
    const point = restartPointOf((await readLog(new NodeStorage(), path, new Fold())).state);
    expect(point.openTransactions).toEqual(['tx']);
    expect(point.loopCursors).toEqual([]);
    expect(point.skipped).toContain('a');
    expect(point.explanation[0]).toBe('a crash left tx open: its rollback runs first, then it reruns whole');
    expect(point.explanation).toContain('tx, tx/y were running when the attempt stopped and run again');
  });

  it('a loop stopped mid-way with checkpointIterations resumes at its cursor', async () => {
    const fx = new Effects();
    fx.failing.add('each[1]/load');
    const pkg = definePackage({ id: 'p', version: 1 }, forEach('each', { items: [1, 2, 3] }, [fx.task('load')], { checkpointIterations: true }));
    const path = join(dir, 'p.ckpt');
    await runPackage(pkg, path);
    const point = restartPointOf((await readLog(new NodeStorage(), path, new Fold())).state);
    expect(point.loopCursors).toEqual([{ loop: 'each', next: 1 }]);
    // The iteration and the loop failed because of the task: only the task is named.
    expect(point.failed.map((f) => f.unit)).toEqual(['each[1]/load']);
    expect(point.explanation).toContain('each resumes at iteration 1');
  });

  it('with the package: a completed step that waits on a rerunning step is not counted as skipped; without it, it is', async () => {
    const fx = new Effects();
    fx.failing.add('b');
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'), fx.task('c'), fx.task('d', { after: { b: 'failure' } }));
    const path = join(dir, 'p.ckpt');
    await runPackage(pkg, path);
    const state = (await readLog(new NodeStorage(), path, new Fold())).state;
    const point = restartPointOf(state, pkg);
    expect(point.skipped).toEqual(['a']);
    expect(point.reachedIfAgain).toEqual(['d']);
    expect(point.explanation[0]).toBe('1 unit(s) completed are skipped');
    expect([...restartPointOf(state).skipped].sort()).toEqual(['a', 'd']);
  });

  it('with the package: a transaction that failed and rolled back is named whole, not the step inside it', async () => {
    const fx = new Effects();
    fx.failing.add('y');
    const pkg = definePackage(
      { id: 'p', version: 1 },
      fx.task('a'),
      sequence('tx', [fx.task('x'), fx.task('y')], { transaction: 'required', rollback: () => undefined }),
    );
    const path = join(dir, 'p.ckpt');
    await runPackage(pkg, path);
    const state = (await readLog(new NodeStorage(), path, new Fold())).state;
    const point = restartPointOf(state, pkg);
    expect(point.failed).toEqual([{ unit: 'tx', message: expect.stringContaining('y failed on purpose') as string, rolledBack: true }]);
    expect(point.explanation.at(-1)).toMatch(/^tx failed \(".*"\), was rolled back, and reruns whole$/);
    expect(restartPointOf(state).failed.map((f) => f.unit)).toEqual(['tx/y']);
  });
});
