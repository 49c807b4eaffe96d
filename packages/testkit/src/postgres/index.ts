/**
 * @ckpt/testkit/postgres: a throwaway PostgreSQL cluster (initdb in a temporary folder, a
 * loopback port, fsync on) and a `StoreHarness` over it, for the store contract and the
 * runner contract against a real server. No client library: the server is administered with its
 * own `psql`, and the adapter is passed in. Without the server programs, `pgSkipped` is true
 * (skip, with {@link PG_SKIP_NOTE}) unless `CI` is set, where their absence is a failure.
 */
export { PG_SKIP_NOTE, PgCluster, findPgBinaries, freePort, inCi, pgBinaries, pgSkipped } from './pg-cluster.js';
export type { ClusterOptions, PgBinaries } from './pg-cluster.js';
export { postgresStoreHarness } from './postgres-harness.js';
export type { ConnectPostgresStore, PostgresHarnessOptions } from './postgres-harness.js';
