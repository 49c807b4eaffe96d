import { describe, it } from 'vitest';
import type { StoreHarness } from '../store/store-harness.js';
import { checkRunnerContract, type RunnerContractOptions } from './runner-contract.js';
import { checkRunnerStoreContract, type RunnerStoreContractOptions } from './runner-store-contract.js';

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

/**
 * The runner contract at the store boundary, as a vitest suite: the same properties as
 * {@link describeRunnerContract}, against the store `options.store` sets up (a
 * {@link StoreHarness} of any adapter: PostgreSQL, or FileStore on the simulated disk), with
 * the process killed at any call through the store port and the store crashed there (killed
 * sessions or a stopped server; a power loss of the disk), then resumed by a fresh engine on a
 * fresh store handle. Call it at the top level of a test file; `.int.test.ts` when the store is
 * a real server.
 */
export function describeRunnerStoreContract<Job>(options: RunnerStoreContractOptions<Job>): void {
  describe(`runner store contract: ${options.name}`, () => {
    it(
      'dying at any store call and resuming on a fresh store handle gives the uninterrupted outcome, from the fold of what was acknowledged, rerunning only units in flight',
      async () => {
        const summary = await checkRunnerStoreContract(options);
        console.info(
          `[ckpt] runner store contract "${options.name}": seed ${summary.seed}, ${summary.jobs} jobs, ${summary.crashes} crashes, ${summary.acknowledged} acknowledged records found after them, ${summary.reranUnits} in-flight units rerun, ${summary.storeCalls} store calls in ${summary.lives} lives`,
        );
      },
      options.timeoutMs ?? 120_000,
    );
  });
}
