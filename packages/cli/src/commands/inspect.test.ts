import { foldEvents } from '@ckpt/core/internal';
import { expect, it } from 'vitest';
import { renderUnitTree } from './inspect.js';

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
