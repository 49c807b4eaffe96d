// The example of packages/core/README.md, type-checked and run by examples/snippets/snippets.test.ts.
import { Engine, createIdentity, defineRunner } from '@ckpt/core';

export async function readmeCore(checkpointPath: string) {
  const steps = ['extract', 'transform', 'load'];
  const runner = defineRunner<string[], number>({
    kind: 'readme',
    identify: (job) => createIdentity({ kind: 'readme', id: 'etl', version: 1, structure: job }),
    run: async (job, context, emit) => {
      const todo = job.filter((unit) => !context.startState.completed.has(unit));
      for (const unit of todo) {
        emit.record({ type: 'unit-started', unit });
        // ... the unit's work ...
        emit.record({ type: 'unit-completed', unit, outcome: 'success' });
        await context.durable();
      }
      return todo.length; // RunResult.result
    },
  });
  const result = await new Engine().run(runner, steps, { checkpoint: { path: checkpointPath, usage: 'if-exists', save: true } });
  return result;
}
