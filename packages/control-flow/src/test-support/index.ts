/**
 * `@ckpt/control-flow/test-support`: random packages and the runner's part of the runner
 * contract, for this package's crash tests and the CLI's contract tests on PostgreSQL. Needs
 * fast-check (an optional peer dependency); the CLI never imports it at run time.
 */
export { buildSteps, controlFlowContract, shapeArbitrary } from './contract-jobs.js';
export type { Shape } from './contract-jobs.js';
