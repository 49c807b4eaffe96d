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
});
