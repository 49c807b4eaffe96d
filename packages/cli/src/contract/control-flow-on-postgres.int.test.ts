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
 * runner to import a store adapter and a store adapter to import a runner. The packages come from
 * `@ckpt/control-flow/test-support`, the generator the runner's own contract test uses.
 */
import type { PackageRun } from '@ckpt/control-flow';
import { controlFlowContract } from '@ckpt/control-flow/test-support';
import { connectStore } from '@ckpt/postgres';
import {
  brokenHarness,
  checkRunnerStoreCrashRestart,
  forgetsLastRecord,
  runnerStoreCrashesArbitrary,
  teethSettings,
  type RunnerStoreContractOptions,
  type RunnerStoreCrash,
} from '@ckpt/testkit';
import { postgresStoreHarness } from '@ckpt/testkit/postgres';
import { describeOnPostgres, describeRunnerStoreContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describeOnPostgres('runner store contract: control-flow runner on PostgreSQL', (cluster) => {
  const options: RunnerStoreContractOptions<PackageRun> = {
    name: 'control-flow runner on PostgreSQL',
    ...controlFlowContract(3),
    store: postgresStoreHarness({ cluster, connectStore, label: 'cf_contract' }),
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
      const harness = brokenHarness(await postgresStoreHarness({ cluster, connectStore, label: 'cf_teeth' })(), forgetsLastRecord);
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
});
