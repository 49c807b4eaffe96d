import { Fold, foldEvents, type ExtensionReducer } from '@ckpt/core/internal';
import { controlFlowReducer, definePackage, restartPointOf, sequence, task } from '@ckpt/control-flow';
import { expect, it } from 'vitest';
import { genericRestartPointOf, renderUnitTree } from './inspect.js';

const plain = (lines: string[]) => lines.map((line) => line.replace(/\u001b\[[0-9;]*m/g, ''));

it('draws unit paths as a tree, each with its state for the next attempt', () => {
  const state = foldEvents([
    { type: 'unit-started', unit: 'extract' },
    { type: 'unit-completed', unit: 'extract', outcome: 'success' },
    { type: 'unit-started', unit: 'per-region[0]/load' },
    { type: 'unit-completed', unit: 'per-region[0]/load', outcome: 'success' },
    { type: 'unit-started', unit: 'per-region[1]/load' },
    { type: 'scope-opened', scope: 'publish@transaction', kind: 'transaction' },
    { type: 'unit-started', unit: 'publish/swap', scope: 'publish@transaction' },
    { type: 'unit-completed', unit: 'publish/swap', outcome: 'success', scope: 'publish@transaction' },
  ]);
  expect(plain(renderUnitTree(state))).toEqual([
    '  ├─ ✓ extract  completed: skipped on restart',
    '  ├─ per-region[0]',
    '  │  └─ ✓ load  completed: skipped on restart',
    '  ├─ per-region[1]',
    '  │  └─ … load  in flight when the attempt stopped: runs again',
    '  └─ publish',
    '     └─ ○ swap  completed inside an open scope: not a restart point',
  ]);
});

it("the generic restart point reads core's folded state alone: completed units, units in flight, failures not since completed, open scopes", () => {
  const state = foldEvents([
    { type: 'unit-started', unit: 'extract' },
    { type: 'unit-completed', unit: 'extract', outcome: 'success' },
    { type: 'unit-started', unit: 'load' },
    { type: 'unit-failed', unit: 'load', error: { message: 'boom' } },
    { type: 'unit-started', unit: 'load' },
    { type: 'unit-completed', unit: 'load', outcome: 'success' },
    { type: 'unit-started', unit: 'report' },
    { type: 'unit-failed', unit: 'report', error: { message: 'no disk' } },
    { type: 'scope-opened', scope: 'publish@transaction', kind: 'transaction' },
    { type: 'unit-started', unit: 'publish/swap', scope: 'publish@transaction' },
  ]);
  expect(genericRestartPointOf(state)).toEqual({
    skipped: ['extract', 'load'],
    inFlight: ['publish/swap'],
    failed: ['report'],
    openScopes: ['publish@transaction'],
  });
});

it("the generic restart point and control-flow's restartPointOf answer different questions: only the runner knows a --rerun voids a completion", () => {
  const pkg = definePackage(
    { id: 'p', version: 1 },
    task('extract', async () => undefined),
    sequence('publish', [task('swap', async () => undefined)]),
  );
  const state = new Fold([controlFlowReducer as ExtensionReducer]).foldEvents([
    { type: 'attempt-started', attempt: 1 },
    { type: 'unit-started', unit: 'extract' },
    { type: 'unit-completed', unit: 'extract', outcome: 'success' },
    { type: 'attempt-started', attempt: 2 },
    { type: 'control-flow/rerun', attempt: 2, requested: ['extract'], steps: ['extract', 'publish', 'swap'] },
  ]);
  expect(genericRestartPointOf(state).skipped).toEqual(['extract']);
  const point = restartPointOf(state, pkg);
  expect(point.skipped).toEqual([]);
  expect(point.rerun).toEqual(['extract']);
});
