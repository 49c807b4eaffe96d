import { createIdentity, type CkptEvent } from '@ckpt/core/internal';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { StoreSchemaError } from './errors.js';
import { SCHEMA_VERSION } from './schema.js';
import { PostgresStore, initStore, type StoreOpenOptions } from './store.js';
import { PG_SKIP_NOTE, pgBinaries, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

/**
 * Schema version 2 marks a store whose payloads may hold a `variable-set` with a `scope`
 * (checkpoint format version 2): a store left at version 1 by an older program reads as before,
 * and is upgraded before this program writes to it, so that the older program refuses it after.
 */

const identity = createIdentity({ kind: 'test', id: 'nightly', version: 1, structure: ['a'] });
const opts: StoreOpenOptions = { name: 'nightly', identity, usage: 'if-exists', save: true };
const set = (value: number, scope?: string): CkptEvent => ({
  type: 'variable-set',
  name: 'rows',
  value,
  valueType: 'int',
  sensitive: false,
  ...(scope !== undefined && { scope }),
});

describe.skipIf(pgSkipped)(`PostgreSQL store: schema version 2${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  const pgc = useCluster();

  async function sql(text: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: pgc.cluster().url });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  it('a store at version 1 reads as before; the first write upgrades it to 2, and a scoped variable counts at its commit', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    expect(SCHEMA_VERSION).toBe(2);
    const url = pgc.url();
    const schema = new URL(url).searchParams.get('schema')!;
    expect(await initStore(url)).toMatchObject({ from: 0, to: 2 });
    const store = await PostgresStore.connect(url);
    try {
      const first = await store.open(opts);
      await first.log.append([{ type: 'attempt-started', attempt: 1 }, set(1), { type: 'scope-opened', scope: 'tx', kind: 'transaction' }]);
      await first.close({ remove: false });
    } finally {
      await store.close();
    }
    // As a version-1 program left it: the same rows, schema version 1.
    await sql(`DELETE FROM ${schema}.schema_version WHERE version = 2`);

    const refusing = await PostgresStore.connect(url, { migrate: false });
    try {
      const read = await refusing.read('nightly');
      expect(read.state.variables.get('rows')?.value).toBe(1);
      expect(read.state.scopes.has('tx')).toBe(true);
      const refused = await refusing.open(opts).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(StoreSchemaError);
      expect(String((refused as Error).message)).toContain('is at version 1, this program needs 2');
    } finally {
      await refusing.close();
    }
    expect((await sql(`SELECT max(version) AS v FROM ${schema}.schema_version`)).rows[0].v).toBe(1);

    const upgrading = await PostgresStore.connect(url);
    try {
      const second = await upgrading.open(opts);
      expect(second.startState.variables.get('rows')?.value).toBe(1);
      await second.log.append([set(2, 'tx')]);
      expect(second.log.state.variables.get('rows')?.value).toBe(1);
      await second.log.append([{ type: 'scope-committed', scope: 'tx' }], { durability: 'durable' });
      await second.close({ remove: false });
      expect((await upgrading.read('nightly')).state.variables.get('rows')?.value).toBe(2);
    } finally {
      await upgrading.close();
    }
    expect((await sql(`SELECT max(version) AS v FROM ${schema}.schema_version`)).rows[0].v).toBe(2);
  });
});
