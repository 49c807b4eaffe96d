/**
 * @ckpt/testkit: a simulated disk that can lose power after any operation, crash plans as
 * fast-check arbitraries, crash properties for the journal, a bounded exhaustive explorer,
 * a crash-restart contract check for runners, and a kill -9 harness for real processes. Its
 * vitest suites are in `@ckpt/testkit/vitest`.
 */
export { SimulatedCrash, isSimulatedCrash } from './storage/simulated-crash.js';
export { OperationKind, SimulatedStorage } from './storage/simulated-storage.js';
export type {
  CrashPlan,
  FaultRule,
  OperationRecord,
  SimulatedStorageOptions,
  UnsyncedWrite,
  WriteFate,
} from './storage/simulated-storage.js';
export { MemoryLocker } from './storage/memory-locker.js';

export {
  crashPlanArbitrary,
  crashPointArbitrary,
  faultRuleArbitrary,
  journalScenarioArbitrary,
  journalSessionArbitrary,
  journalStepArbitrary,
  writeFateArbitrary,
} from './crash/crash-arbitraries.js';
export type { JournalScenarioArbitraryOptions } from './crash/crash-arbitraries.js';
export { propertySettings, soakFactor, teethSettings } from './crash/property-settings.js';

export {
  CrashPropertyViolation,
  SCENARIO_PATH,
  checkCrashedDisk,
  checkPrefix,
  emptyScenarioDisk,
  readCheckpoint,
  runJournalScenario,
  runSessionOnDisk,
  scenarioEvent,
} from './journal/journal-scenario.js';
export type {
  CheckpointReader,
  CrashPhase,
  CrashedSession,
  JournalScenario,
  JournalScenarioOptions,
  JournalScenarioReport,
  JournalSession,
  JournalStep,
  StorageWrapper,
} from './journal/journal-scenario.js';

export { CI_WORKLOADS, SOAK_WORKLOADS, exploreCrashStates, fatesOf } from './crash/exhaustive.js';
export type { CrashStateFailure, ExhaustiveOptions, ExhaustiveReport, ExhaustiveWorkload } from './crash/exhaustive.js';

export { runMediaDamage } from './journal/media-damage.js';
export type { MediaDamage, MediaDamageOutcome } from './journal/media-damage.js';
export { overTruncating, retryingDatasync, withoutBlockingDatasync, withoutDatasync, withoutDirectorySync } from './teeth/broken-storage.js';
export { acknowledgesBeforeCommit, brokenHarness, forgetsLastRecord } from './teeth/broken-store.js';

// The vitest suites (describeRunnerContract, describeStorageContract) are in `@ckpt/testkit/vitest`:
// this entry must import without vitest, an optional peer.
export { checkRunnerContract, checkRunnerCrashRestart, runnerCrashesArbitrary } from './runner/runner-contract.js';
export {
  ProcessDiedError,
  checkRunnerStoreContract,
  checkRunnerStoreCrashRestart,
  runnerStoreCrashesArbitrary,
} from './runner/runner-store-contract.js';
export type {
  RunnerStoreContractOptions,
  RunnerStoreContractReport,
  RunnerStoreContractSummary,
  RunnerStoreCrash,
  RunnerStoreHarness,
} from './runner/runner-store-contract.js';
export type {
  EffectRecorder,
  RunnerContractOptions,
  RunnerContractReport,
  RunnerContractSummary,
  RunnerCrash,
} from './runner/runner-contract.js';

export { killAndRerun } from './process/kill-and-rerun.js';
export { processGone } from './process/process-gone.js';
export { seededRandom } from './process/seeded-random.js';
export { firstDifference } from './bytes/first-difference.js';
export type { KillAndRerunOptions, KillAndRerunReport, RunOutcome } from './process/kill-and-rerun.js';

export { simulatedFileStoreHarness } from './store/file-store-harness.js';
export type { StoreHarness } from './store/store-harness.js';
