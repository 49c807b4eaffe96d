/**
 * @ckpt/testkit/vitest: the testkit's vitest suites. They import vitest, so they live behind
 * their own export path; the main entry (`@ckpt/testkit`) imports without it, and its
 * framework-neutral checks (`checkRunnerContract`, `checkRunnerCrashRestart`) run anywhere.
 */
export { describeRunnerContract, describeRunnerStoreContract } from './runner/describe-runner-contract.js';
export { STORAGE_CONTRACT, describeStorageContract } from './storage/storage-contract.js';
export type { StorageUnderTest } from './storage/storage-contract.js';
export { describeOnPostgres, useCluster } from './postgres/use-cluster.js';
export type { UsedCluster } from './postgres/use-cluster.js';
