/**
 * @ckpt/postgres: ckpt's checkpoints in a PostgreSQL database, so that a job fails over to
 * another machine. One owner at a time (an owner row with an epoch and a lease); every write is
 * fenced by the owner's epoch. docs/shared-store.md has the schema and the rules.
 */
export {
  OwnershipLostError,
  StoreCorruptError,
  StoreFailedError,
  StoreSchemaError,
  StoreUnreachableError,
  describeOwner,
} from './errors.js';
export type { StoreOwner } from './errors.js';
export { DEFAULT_LEASE_MS, PostgresStore, connectStore, initStore, portOwner } from './store.js';
export type { OwnerInfo, PostgresStoreOptions, StoreCheckpoint, StoreOpenOptions } from './store.js';
export { PgLog } from './pg-log.js';
export { SCHEMA_VERSION } from './schema.js';
export type { MigrationReport } from './schema.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, isPostgresUrl, parseStoreUrl, redact } from './url.js';
export type { StoreUrl } from './url.js';
export type { CheckpointRow, StoreReading } from './read.js';
