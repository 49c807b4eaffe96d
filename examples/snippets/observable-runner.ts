// The Observable form of docs/writing-a-runner.md, type-checked and run by snippets.test.ts.
import { createIdentity, type Runner, type RunnerEmission } from '@ckpt/core';
import { from } from 'rxjs';

export const countingRunner: Runner<readonly string[], number> = {
  kind: 'example-count',
  identify: (units) => createIdentity({ kind: 'example-count', id: 'count', version: 1, structure: units }),
  run: (units, context) => {
    const todo = units.filter((unit) => !context.startState.completed.has(unit));
    return from<RunnerEmission<number>[]>([
      ...todo.map((unit) => ({
        record: [
          { type: 'unit-started' as const, unit },
          { type: 'unit-completed' as const, unit, outcome: 'success' as const },
        ],
      })),
      { notice: { kind: 'counted' } },
      { result: todo.length },
    ]);
  },
};
