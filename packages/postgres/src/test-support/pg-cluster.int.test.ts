import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PG_SKIP_NOTE, PgCluster, pgBinaries, pgSkipped } from './pg-cluster.js';

describe.skipIf(pgSkipped)(`throwaway PostgreSQL cluster${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  it('starts on a loopback port with fsync and synchronous_commit on, restarts after a crash, and leaves no folder behind', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    const cluster = await PgCluster.start();
    try {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      const settings = await client.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'listen_addresses') ORDER BY name",
      );
      expect(Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]))).toEqual({
        fsync: 'on',
        listen_addresses: '127.0.0.1',
        synchronous_commit: 'on',
      });
      await client.query('CREATE TABLE t (x int)');
      await client.query('INSERT INTO t VALUES (1)');
      await client.end();
      await cluster.stop('immediate');
      await cluster.restart();
      const again = new pg.Client({ connectionString: cluster.url });
      await again.connect();
      expect((await again.query('SELECT x FROM t')).rows).toEqual([{ x: 1 }]);
      await again.end();
    } finally {
      await cluster.destroy();
    }
    expect(existsSync(cluster.dir)).toBe(false);
  });
});
