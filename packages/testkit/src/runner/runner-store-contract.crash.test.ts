/**
 * The runner contract at the store boundary, run by the sample runner against core's FileStore
 * on the simulated disk (the harness the store contract uses): the variant is not PostgreSQL's,
 * any adapter with a StoreHarness runs it. Its teeth: a store that acknowledges before the
 * commit, and one that loses the last record, are caught.
 */
import type { CheckpointStore } from '@ckpt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { teethSettings } from '../crash/property-settings.js';
import { simulatedFileStoreHarness } from '../store/file-store-harness.js';
import { acknowledgesBeforeCommit, brokenHarness, forgetsLastRecord } from '../teeth/broken-store.js';
import { sampleJobs, sampleRunner, type SampleJob, type SampleRunnerFlaw } from '../test-support/sample-runner.js';
import type { EffectRecorder } from './runner-contract.js';
import { describeRunnerStoreContract } from './describe-runner-contract.js';
import {
  checkRunnerStoreCrashRestart,
  runnerStoreCrashesArbitrary,
  type RunnerStoreContractOptions,
  type RunnerStoreCrash,
} from './runner-store-contract.js';

const sample: Omit<RunnerStoreContractOptions<SampleJob>, 'store'> = {
  name: 'sample sequential runner',
  runner: (effects) => sampleRunner(effects),
  jobs: sampleJobs,
};

describeRunnerStoreContract({
  ...sample,
  name: 'sample runner on FileStore (simulated disk)',
  store: simulatedFileStoreHarness,
  numRuns: 60,
  maxCrashes: 3,
  // A life of the sample runner makes about 9 store calls.
  maxCrashAt: 12,
});

describe('the runner store contract has teeth', () => {
  const broken: readonly { readonly name: string; readonly wrap: (store: CheckpointStore) => CheckpointStore }[] = [
    { name: 'acknowledges before the commit', wrap: acknowledgesBeforeCommit },
    { name: 'loses the last record', wrap: forgetsLastRecord },
  ];
  for (const store of broken) {
    it(`catches a store that ${store.name}`, async () => {
      const harness = brokenHarness(await simulatedFileStoreHarness(), store.wrap);
      const settings = teethSettings<[SampleJob, RunnerStoreCrash[]]>(200);
      const result = await fc.check(
        fc.asyncProperty(sampleJobs, runnerStoreCrashesArbitrary(3, 24), async (job, crashes) => {
          await checkRunnerStoreCrashRestart({ ...sample, store: async () => harness }, harness, job, crashes);
        }),
        settings,
      );
      await harness.cleanup();
      expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
      console.info(`[ckpt] store teeth "${store.name}": ${String((result.errorInstance as Error | undefined)?.message).split('\n')[0]}`);
    });
  }

  const flaws: readonly SampleRunnerFlaw[] = ['ignores-checkpoint', 'completes-before-effect'];
  for (const flaw of flaws) {
    it(`catches a runner that ${flaw.replace(/-/g, ' ')}, on a working store`, async () => {
      const harness = await simulatedFileStoreHarness();
      const flawed = { ...sample, runner: (effects: EffectRecorder) => sampleRunner(effects, flaw), store: async () => harness };
      const settings = teethSettings<[SampleJob, RunnerStoreCrash[]]>(200);
      const result = await fc.check(
        fc.asyncProperty(sampleJobs, runnerStoreCrashesArbitrary(3, 12), async (job, crashes) => {
          await checkRunnerStoreCrashRestart(flawed, harness, job, crashes);
        }),
        settings,
      );
      expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
      console.info(`[ckpt] store contract teeth "${flaw}": ${String((result.errorInstance as Error | undefined)?.message).split('\n')[0]}`);
    });
  }

  it('the working store passes the same checks, and a crash in flight can rerun a unit', async () => {
    const harness = await simulatedFileStoreHarness();
    const job: SampleJob = {
      units: [
        { id: 'a', fails: false },
        { id: 'b', fails: false },
      ],
    };
    let reran = 0;
    for (let at = 0; at < 12; at++) {
      for (const when of ['before', 'during', 'after'] as const) {
        const report = await checkRunnerStoreCrashRestart({ ...sample, store: async () => harness }, harness, job, [{ at, when, seed: 1 }]);
        expect(report.outcome).toBe('success');
        reran += report.reran.length;
      }
    }
    expect(reran).toBeGreaterThan(0);
  });
});
