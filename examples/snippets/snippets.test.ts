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

it('the snippets of docs/embedding.md run: engine, observed events, journal', async () => {
  const { runWithEngine, observeEvents, useTheJournal } = await import('./embedding.js');
  const { createIdentity } = await import('@ckpt/core');
  const { from } = await import('rxjs');
  const runner = {
    kind: 'snippet',
    identify: () => createIdentity({ kind: 'snippet', id: 'x', version: 1, structure: [] }),
    run: () => from([{ type: 'unit-started' as const, unit: 'a' }, { type: 'unit-completed' as const, unit: 'a', outcome: 'success' as const }]),
  };
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-embed-'));
  try {
    expect(await runWithEngine(runner, null, join(dir, 'a.ckpt'), new AbortController())).toEqual({ outcome: 'success', resumed: false, removed: true });
    expect(await observeEvents(runner, null, join(dir, 'b.ckpt'))).toEqual(['a']);
    expect(await useTheJournal(join(dir, 'orders.ckpt'))).toBe(2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
