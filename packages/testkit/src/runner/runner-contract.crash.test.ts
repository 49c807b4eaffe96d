import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { teethSettings } from '../crash/property-settings.js';
import { sampleJobs, sampleRunner, type SampleJob, type SampleRunnerFlaw } from '../test-support/sample-runner.js';
import { describeRunnerContract } from './describe-runner-contract.js';
import { checkRunnerCrashRestart, runnerCrashesArbitrary, type RunnerCrash } from './runner-contract.js';

describeRunnerContract({ name: 'sample sequential runner', runner: (effects) => sampleRunner(effects), jobs: sampleJobs });

describe('the runner contract has teeth', () => {
  const flaws: readonly SampleRunnerFlaw[] = ['ignores-checkpoint', 'completes-before-effect'];
  for (const flaw of flaws) {
    it(`catches a runner that ${flaw.replace(/-/g, ' ')}`, async () => {
      const options = { name: flaw, runner: (effects: Parameters<typeof sampleRunner>[0]) => sampleRunner(effects, flaw), jobs: sampleJobs };
      const settings = teethSettings<[SampleJob, RunnerCrash[]]>(300);
      const result = await fc.check(
        fc.asyncProperty(sampleJobs, runnerCrashesArbitrary(), async (job, crashes) => {
          await checkRunnerCrashRestart(options, job, crashes);
        }),
        settings,
      );
      expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
      console.info(`[ckpt] contract teeth "${flaw}": ${String((result.errorInstance as Error | undefined)?.message).split('\n')[0]}`);
    });
  }

  it('reruns a unit only when a crash caught it in flight', async () => {
    const job: SampleJob = {
      units: [
        { id: 'a', fails: false },
        { id: 'b', fails: false },
      ],
    };
    // Find a crash point that lands between b's effect and its durable completion.
    let sawRerun = false;
    for (let at = 0; at < 60 && !sawRerun; at++) {
      const report = await checkRunnerCrashRestart({ name: 'pinned', runner: (effects) => sampleRunner(effects), jobs: fc.constant(job) }, job, [
        { at, plan: {} },
      ]);
      expect(report.outcome).toBe('success');
      if (report.reran.length > 0) sawRerun = true;
    }
    expect(sawRerun).toBe(true);
  });
});
