import { describe, it } from 'vitest';
import { checkRunnerContract, type RunnerContractOptions } from './runner-contract.js';

/**
 * A vitest suite checking crash-restart equivalence for any runner: run each generated job
 * uninterrupted, then with simulated power losses at arbitrary storage operations (several per
 * run, in the runner's work, in recovery and in compaction), restarting until a life ends
 * without a crash; the outcome must equal the uninterrupted run's, every unit recorded
 * complete must have run exactly once from then on, and only units in flight at a crash may
 * run again. Call it at the top level of a `*.crash.test.ts` file.
 */
export function describeRunnerContract<Job>(options: RunnerContractOptions<Job>): void {
  describe(`runner contract: ${options.name}`, () => {
    it(
      'restarting after any crash gives the uninterrupted outcome, rerunning only units in flight',
      async () => {
        const summary = await checkRunnerContract(options);
        console.info(
          `[ckpt] runner contract "${options.name}": seed ${summary.seed}, ${summary.jobs} jobs, ${summary.crashes} crashes, ${summary.faults} lives ended by I/O errors, ${summary.reranUnits} in-flight units rerun`,
        );
      },
      options.timeoutMs ?? 120_000,
    );
  });
}
