import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readmeCore } from './readme-core.js';

it('the @ckpt/core README example runs to success and removes its checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-snippet-'));
  try {
    const path = join(dir, '.ckpt', 'etl.ckpt');
    const result = await readmeCore(path);
    expect(result.outcome).toBe('success');
    expect(result.state.completed.size).toBe(3);
    expect(existsSync(path)).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('the reducer of docs/writing-a-runner.md folds its namespaced events', async () => {
  const { Fold } = await import('@ckpt/core');
  const { transferReducer } = await import('./custom-reducer.js');
  const state = new Fold([transferReducer]).foldEvents([{ type: 'transfer/restarted' }, { type: 'transfer/progress' }, { type: 'transfer/restarted' }]);
  expect(state.extensions.get('transfer')).toEqual({ restarts: 2 });
});
