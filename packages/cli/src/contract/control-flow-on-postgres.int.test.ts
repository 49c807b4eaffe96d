/**
 * The runner contract at the store boundary (`describeRunnerStoreContract`), run by the
 * control-flow runner against the PostgreSQL store on a real server: random packages of function
 * tasks in sequences, parallel branches and loops with checkpointIterations; the process dies at
 * any call through the store port, the store crashes there (its sessions killed, or every fourth
 * time the server stopped with `pg_ctl stop -m immediate`), and a fresh engine on a fresh store
 * handle resumes. The outcome and completed units equal the uninterrupted run's; what was
 * acknowledged is found again; only units in flight at a crash repeat their effect.
 *
 * Here, in the CLI package, because it is where runners meet store adapters: biome.json forbids a
 * runner to import a store adapter and a store adapter to import a runner.
 */
import { definePackage, forEach, sequence, task, ControlFlowRunner, type PackageRun, type StepDefinition } from '@ckpt/control-flow';
import { connectStore } from '@ckpt/postgres';
import {
  brokenHarness,
  checkRunnerStoreCrashRestart,
  forgetsLastRecord,
  runnerStoreCrashesArbitrary,
  teethSettings,
  type EffectRecorder,
  type RunnerStoreContractOptions,
  type RunnerStoreCrash,
} from '@ckpt/testkit';
import { PG_SKIP_NOTE, PgCluster, pgSkipped, postgresStoreHarness } from '@ckpt/testkit/postgres';
import { describeRunnerStoreContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
          { ...options, checkpointIterations: true },
        );
    }
  };
  return { package: definePackage({ id: 'contract', version: 1 }, ...shapes.map((shape) => of(shape, false))) };
}

let cluster: PgCluster | undefined;
beforeAll(async () => {
  if (!pgSkipped) cluster = await PgCluster.start();
}, 90_000);
afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

if (pgSkipped) {
  describe('runner store contract: control-flow runner on PostgreSQL', () => {
    it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
  });
} else {
  const options: RunnerStoreContractOptions<PackageRun> = {
    name: 'control-flow runner on PostgreSQL',
    runner: (recorder) => {
      effects = recorder;
      return new ControlFlowRunner();
    },
    jobs: fc.array(shapeArb, { minLength: 1, maxLength: 3 }).map(build),
    store: postgresStoreHarness({ cluster: () => cluster!, connectStore, label: 'cf_contract' }),
    // A life makes about 30-60 store calls; a run has up to 3 crashes. 15 runs keep the file
    // under a minute on a loaded 2-core machine (a server restart every fourth crash costs seconds).
    numRuns: 15,
    maxCrashes: 3,
    maxCrashAt: 32,
    // A failure is reported at once with its seed: shrinking against the server would outlast the timeout.
    shrink: false,
    timeoutMs: 90_000,
  };
  describeRunnerStoreContract(options);

  describe('the runner store contract has teeth on PostgreSQL', () => {
    it('catches a store that loses the last record of a checkpoint', { timeout: 60_000 }, async () => {
      const harness = brokenHarness(await postgresStoreHarness({ cluster: () => cluster!, connectStore, label: 'cf_teeth' })(), forgetsLastRecord);
      // Stop at the first counterexample: shrinking it against a real server would take minutes.
      const settings = { ...teethSettings<[PackageRun, RunnerStoreCrash[]]>(30), endOnFailure: true };
      try {
        const result = await fc.check(
          fc.asyncProperty(options.jobs, runnerStoreCrashesArbitrary(2, 32), async (job, crashes) => {
            await checkRunnerStoreCrashRestart(options, harness, job, crashes);
          }),
          settings,
        );
        expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
        console.info(`[ckpt] store teeth on PostgreSQL: ${String((result.errorInstance as Error | undefined)?.message).split('\n')[0]}`);
      } finally {
        await harness.cleanup();
      }
    });
  });
}
