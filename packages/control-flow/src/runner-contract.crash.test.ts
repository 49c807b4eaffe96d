/**
 * The testkit's runner contract, run against the control-flow runner: random packages of
 * function tasks in sequences, parallel branches and loops with checkpointIterations, on a
 * simulated disk that loses power at random storage operations (several times per run) or
 * fails with EIO/ENOSPC. The outcome and completed units equal the uninterrupted run's; no unit
 * recorded complete runs again; only units in flight at a crash repeat their effect.
 */
import type { EffectRecorder } from '@ckpt/testkit';
import { describeRunnerContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { definePackage, forEach, sequence, task } from './builder.js';
import type { StepDefinition } from './compile.js';
import { ControlFlowRunner, type PackageRun } from './runner.js';

type Shape =
  | { readonly kind: 'task' }
  | { readonly kind: 'seq'; readonly parallel: boolean; readonly children: readonly Shape[] }
  | { readonly kind: 'loop'; readonly items: number; readonly children: readonly Shape[] };

const shapeArb: fc.Arbitrary<Shape> = fc.letrec<{ node: Shape }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant({ kind: 'task' as const }),
    fc.record({ kind: fc.constant('seq' as const), parallel: fc.boolean(), children: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({
      kind: fc.constant('loop' as const),
      items: fc.integer({ min: 1, max: 3 }),
      children: fc.array(tie('node'), { minLength: 1, maxLength: 2 }),
    }),
  ),
})).node;

/** The effect recorder of the current process life; tasks report their effect to it. */
let effects: EffectRecorder = { ran: () => undefined };

function build(shapes: readonly Shape[]): PackageRun {
  let next = 0;
  const of = (shape: Shape, parallel: boolean): StepDefinition => {
    const id = `s${next++}`;
    const options = parallel ? { after: {} } : {};
    switch (shape.kind) {
      case 'task':
        return task(id, (context) => effects.ran(context.unit), options);
      case 'seq':
        return sequence(
          id,
          shape.children.map((child) => of(child, shape.parallel)),
          options,
        );
      case 'loop':
        return forEach(
          id,
          { items: Array.from({ length: shape.items }, (_, i) => i) },
          shape.children.map((child) => of(child, false)),
          {
            ...options,
            checkpointIterations: true,
          },
        );
    }
  };
  return { package: definePackage({ id: 'contract', version: 1 }, ...shapes.map((shape) => of(shape, false))) };
}

describeRunnerContract<PackageRun>({
  name: 'control-flow runner',
  runner: (recorder) => {
    effects = recorder;
    return new ControlFlowRunner();
  },
  jobs: fc.array(shapeArb, { minLength: 1, maxLength: 4 }).map(build),
  numRuns: 60,
  maxCrashAt: 64,
});
