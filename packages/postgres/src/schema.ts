import type pg from 'pg';
import { StoreSchemaError } from './errors.js';

/**
 * The store's tables, in their own schema (namespace), created and upgraded by numbered
 * migrations. `schema_version` has one row per migration applied; a program never touches a
 * schema whose highest version is above the newest it knows. Plain tables, rows and
 * transactions only (no advisory locks, no LISTEN), so PostgreSQL-compatible distributed
 * databases could serve the same schema (docs/shared-store.md).
 */

/**
 * The newest schema version this program writes and reads. Version 2 changes no table: it marks
 * that the payloads may hold events of checkpoint format version 2 (a `variable-set` with a
 * `scope`, counted only when the scope commits), which a program of version 1 would misread
 * (it would apply the value at once). The row makes such a program refuse the store instead.
 */
export const SCHEMA_VERSION = 2;

/** Who applied a migration, as recorded in `schema_version.applied_by`. */
const PROGRAM = '@ckpt/postgres/1';

/** `"name"`: the schema name is checked by parseStoreUrl (lower-case letters, digits, _), so quoting is enough. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Migration N (index N-1): statements run in one transaction. `S` is the quoted schema. */
const MIGRATIONS: readonly ((S: string) => string[])[] = [
  (S) => [
    // One row per checkpoint: its name (the key users give), the job identity it belongs to,
    // the last attempt's number and retention, and where the last snapshot is. Appends do not
    // update it (one row fewer per commit): the last write is its newest event row's `at`.
    `CREATE TABLE ${S}.checkpoints (
      name text PRIMARY KEY,
      kind text NOT NULL,
      job_id text NOT NULL,
      job_version text NOT NULL,
      structure_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      retention_ms bigint,
      snapshot_seq bigint NOT NULL DEFAULT 0
    )`,
    // The owner of a name: one row, kept after its checkpoint is deleted so that epochs never
    // repeat (a fenced writer's epoch can never become valid again).
    `CREATE TABLE ${S}.owners (
      name text PRIMARY KEY,
      epoch bigint NOT NULL,
      host text NOT NULL,
      pid integer NOT NULL,
      backend_pid integer,
      backend_start timestamptz,
      acquired_at timestamptz NOT NULL,
      renewed_at timestamptz NOT NULL,
      lease_ms integer NOT NULL,
      lease_expires_at timestamptz NOT NULL,
      released_at timestamptz
    )`,
    // The log: one row per record (an epoch record, or the events of one append), keyed by
    // (checkpoint, seq), the payload in the file format's msgpack and its CRC-32. No foreign
    // key: its per-row check cost a third of a group commit's throughput; the statements that
    // delete a checkpoint delete its rows (and fencing orders every write).
    `CREATE TABLE ${S}.events (
      name text NOT NULL,
      seq bigint NOT NULL,
      type smallint NOT NULL,
      epoch bigint NOT NULL,
      payload bytea NOT NULL,
      crc bigint NOT NULL,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (name, seq)
    )`,
    // Compaction: the folded state up to seq; the events before it are deleted with it.
    `CREATE TABLE ${S}.snapshots (
      name text NOT NULL,
      seq bigint NOT NULL,
      epoch bigint NOT NULL,
      payload bytea NOT NULL,
      crc bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (name, seq)
    )`,
  ],
  // 2: no statement; the row it adds is the point (see SCHEMA_VERSION). Rows written under 1 read as before.
  () => [],
];

/** What {@link migrate} did. */
export interface MigrationReport {
  readonly schema: string;
  /** Version before (0: no schema). */
  readonly from: number;
  readonly to: number;
}

/** The schema's version, 0 when it has none yet. */
export async function schemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${quoteIdent(schema)}.schema_version`]);
  if (exists.rows[0]?.t === null) return 0;
  const result = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${quoteIdent(schema)}.schema_version`);
  return result.rows[0]?.v ?? 0;
}

function refuseNewer(schema: string, version: number): never {
  throw new StoreSchemaError(
    `the store's schema "${schema}" is at version ${version}, newer than this program's ${SCHEMA_VERSION}; nothing was changed`,
    { hint: 'upgrade ckpt (@ckpt/postgres) on this machine to the version that wrote it' },
  );
}

/**
 * Creates or upgrades the schema to {@link SCHEMA_VERSION} (idempotent). Concurrent callers are
 * serialised by a lock on `schema_version` held for the migration's transaction. A schema newer
 * than this program is refused; a role that may not create it gets a message saying who may.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<MigrationReport> {
  const S = quoteIdent(schema);
  const from = await schemaVersion(client, schema);
  if (from === SCHEMA_VERSION) return { schema, from, to: from };
  if (from > SCHEMA_VERSION) refuseNewer(schema, from);
  try {
    if (from === 0) {
      // Two first uses at once may both create: the loser's duplicate errors mean "already there".
      for (let tries = 0; ; tries++) {
        try {
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
          await client.query(
            `CREATE TABLE IF NOT EXISTS ${S}.schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)`,
          );
          break;
        } catch (error) {
          if (tries < 3 && ['23505', '42P06', '42P07', '42710'].includes((error as { code?: string }).code ?? '')) continue;
          throw error;
        }
      }
    }
    await client.query('BEGIN');
    try {
      await client.query(`LOCK TABLE ${S}.schema_version IN SHARE ROW EXCLUSIVE MODE`);
      const now = await schemaVersion(client, schema);
      if (now > SCHEMA_VERSION) refuseNewer(schema, now);
      for (let version = now + 1; version <= SCHEMA_VERSION; version++) {
        for (const statement of MIGRATIONS[version - 1]!(S)) await client.query(statement);
        await client.query(`INSERT INTO ${S}.schema_version (version, applied_by) VALUES ($1, $2)`, [version, PROGRAM]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } catch (error) {
    if (error instanceof StoreSchemaError) throw error;
    if ((error as { code?: string }).code === '42501') {
      throw new StoreSchemaError(
        `this role may not create or upgrade the store's schema "${schema}" (version ${from}, this program needs ${SCHEMA_VERSION}): ${(error as Error).message}; nothing was changed`,
        { cause: error, hint: 'run "ckpt store init URL" once as a role that may create it (the schema owner), then grant this role use of it' },
      );
    }
    throw error;
  }
  return { schema, from, to: SCHEMA_VERSION };
}
