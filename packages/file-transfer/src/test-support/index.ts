/**
 * `@ckpt/file-transfer/test-support`: random transfers, an in-memory sender and the receiver's
 * part of the runner contract, for this package's crash tests and the CLI's contract tests on
 * PostgreSQL. Needs fast-check (an optional peer dependency); the CLI never imports it at run time.
 */
export { CONTRACT_DESTINATION, CONTRACT_DIR, randomData, receiverContractRunner, transferJobOf, transferSpecArbitrary } from './contract-jobs.js';
export type { TransferSpec } from './contract-jobs.js';
export { MemorySource } from './memory-source.js';
