// The example of packages/core/README.md, type-checked and run by examples/snippets/snippets.test.ts.
import { Engine, createIdentity, type Runner } from '@ckpt/core';
import { from } from 'rxjs';

export async function readmeCore(checkpointPath: string) {
  const steps = ['extract', 'transform', 'load'];
  const runner: Runner<string[]> = {
    kind: 'readme',
    identify: (job) => createIdentity({ kind: 'readme', id: 'etl', version: 1, structure: job }),
    run: (job, context) =>
      from(
        job
          .filter((unit) => !context.startState.completed.has(unit))
          .flatMap((unit) => [
            { type: 'unit-started' as const, unit },
            { type: 'unit-completed' as const, unit, outcome: 'success' as const },
          ]),
      ),
  };
  const result = await new Engine().run(runner, steps, { checkpoint: { path: checkpointPath, usage: 'if-exists', save: true } });
  return result;
}
