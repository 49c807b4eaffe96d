// The throwaway cluster moved to the testkit (`@ckpt/testkit/postgres`), so that the runners'
// contract tests on PostgreSQL can start one too; the store's own tests (and bench/, through
// dist/) keep importing it from here.
export { PG_SKIP_NOTE, PgCluster, findPgBinaries, freePort, inCi, pgBinaries, pgSkipped } from '@ckpt/testkit/postgres';
export type { ClusterOptions, PgBinaries } from '@ckpt/testkit/postgres';
