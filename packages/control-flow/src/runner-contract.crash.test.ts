/**
 * The testkit's runner contract, run against the control-flow runner: random packages of
 * function tasks in sequences, parallel branches and loops with checkpointIterations, on a
 * simulated disk that loses power at random storage operations (several times per run) or
 * fails with EIO/ENOSPC. The outcome and completed units equal the uninterrupted run's; no unit
 * recorded complete runs again; only units in flight at a crash repeat their effect.
 */
import { describeRunnerContract } from '@ckpt/testkit/vitest';
import type { PackageRun } from './runner.js';
import { controlFlowContract } from './test-support/contract-jobs.js';

describeRunnerContract<PackageRun>({
  name: 'control-flow runner',
  ...controlFlowContract(4),
  numRuns: 60,
  maxCrashAt: 64,
});
