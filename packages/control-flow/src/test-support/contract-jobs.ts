/**
 * Random packages for the crash tests and the runner contract: function tasks in sequences,
 * parallel branches and loops with checkpointIterations (optionally tasks that fail once and
 * sequences that are transactions). Shared by this package's crash tests and the CLI's
 * contract tests on PostgreSQL (which may not live here: a runner never imports a store
 * adapter), through `@ckpt/control-flow/test-support`; never loaded by the CLI itself.
 */
import fc from 'fast-check';
import { definePackage, forEach, sequence, task, type StepOptions } from '../builder.js';
import type { StepDefinition } from '../compile.js';
import { ControlFlowRunner, type PackageRun } from '../runner.js';

/** A task of a random package; `fails` only when {@link ShapeOptions.failures} asked for it. */
export interface TaskShape {
  readonly kind: 'task';
  readonly fails: boolean;
}

/** A sequence of a random package; `transaction` only when {@link ShapeOptions.transactions} asked for it. */
export interface SequenceShape {
  readonly kind: 'seq';
  readonly parallel: boolean;
  readonly transaction: boolean;
  readonly children: readonly Shape[];
}

/** A loop of a random package over `items` iterations. */
export interface LoopShape {
  readonly kind: 'loop';
  readonly items: number;
  readonly children: readonly Shape[];
}

/** One step of a random package, before it is built into a {@link StepDefinition}. */
export type Shape = TaskShape | SequenceShape | LoopShape;

/** Options of {@link shapeArbitrary}. */
export interface ShapeOptions {
  /** Tasks fail (one in five), to be failed once by the test. */
  readonly failures?: boolean;
  /** Sequences are transactions (one in two). */
  readonly transactions?: boolean;
}

/** Random step trees, small in depth. */
export function shapeArbitrary(options: ShapeOptions = {}): fc.Arbitrary<Shape> {
  const taskArb: fc.Arbitrary<TaskShape> = options.failures
    ? fc.record({ kind: fc.constant('task' as const), fails: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) })
    : fc.constant({ kind: 'task' as const, fails: false });
  return fc.letrec<{ node: Shape }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      taskArb,
      fc.record({
        kind: fc.constant('seq' as const),
        parallel: fc.boolean(),
        transaction: options.transactions ? fc.boolean() : fc.constant(false),
        children: fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant('loop' as const),
        items: fc.integer({ min: 1, max: 3 }),
        children: fc.array(tie('node'), { minLength: 1, maxLength: 2 }),
      }),
    ),
  })).node;
}

/** What {@link buildSteps} asks of its caller: the task steps, and a sequence's options. */
export interface ShapeBuilder {
  /** The step of a task (`options` places it in a parallel branch when needed). */
  task(id: string, shape: TaskShape, options: StepOptions): StepDefinition;
  /** A sequence's options (default: `options` as they are), e.g. a transaction and its rollback. */
  sequence?(shape: SequenceShape, options: StepOptions): StepOptions;
}

/** The steps of `shapes`, with ids `s0`, `s1`… in depth-first order; loops checkpoint their iterations. */
export function buildSteps(shapes: readonly Shape[], builder: ShapeBuilder): StepDefinition[] {
  let next = 0;
  const of = (shape: Shape, parallel: boolean): StepDefinition => {
    const id = `s${next++}`;
    const options = parallel ? { after: {} } : {};
    switch (shape.kind) {
      case 'task':
        return builder.task(id, shape, options);
      case 'seq':
        return sequence(
          id,
          shape.children.map((child) => of(child, shape.parallel)),
          builder.sequence ? builder.sequence(shape, options) : options,
        );
      case 'loop':
        return forEach(
          id,
          { items: Array.from({ length: shape.items }, (_, i) => i) },
          shape.children.map((child) => of(child, false)),
          { ...options, checkpointIterations: true },
        );
    }
  };
  return shapes.map((shape) => of(shape, false));
}

/**
 * Where a contract's tasks report their effects: the testkit's `EffectRecorder`, restated because this
 * entry is published and @ckpt/testkit is only a devDependency (a type import would need it installed).
 */
export interface EffectSink {
  ran(unit: string): void;
}

/** A runner and its jobs for the testkit's runner contracts (`describeRunnerContract`, `describeRunnerStoreContract`). */
export interface ControlFlowContract {
  /** A runner whose tasks report to `effects`, the recorder of the current process life. */
  readonly runner: (effects: EffectSink) => ControlFlowRunner;
  /** Random packages of 1 to `maxSteps` top-level steps, each task reporting its unit once per run. */
  readonly jobs: fc.Arbitrary<PackageRun>;
}

/** The control-flow runner's part of the runner contract: packages of up to `maxSteps` top-level steps. */
export function controlFlowContract(maxSteps: number): ControlFlowContract {
  // The recorder of the current process life; the runner factory is called once per life.
  let effects: EffectSink = { ran: () => undefined };
  const build = (shapes: readonly Shape[]): PackageRun => ({
    package: definePackage(
      { id: 'contract', version: 1 },
      ...buildSteps(shapes, { task: (id, _shape, options) => task(id, (context) => effects.ran(context.unit), options) }),
    ),
  });
  return {
    runner: (recorder) => {
      effects = recorder;
      return new ControlFlowRunner();
    },
    jobs: fc.array(shapeArbitrary(), { minLength: 1, maxLength: maxSteps }).map(build),
  };
}
