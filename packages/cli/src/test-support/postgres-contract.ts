import { PG_SKIP_NOTE, PgCluster, pgSkipped } from '@ckpt/testkit/postgres';
import { afterAll, beforeAll, describe, it } from 'vitest';

/**
 * The scaffolding of a runner store contract on PostgreSQL: one throwaway cluster for the test
 * file (started in beforeAll, destroyed in afterAll) handed to `body`, which declares the
 * suites; without the server programs (outside CI), one skipped test named `runner store
 * contract: <name>` that says why.
 */
export function describeOnPostgres(name: string, body: (cluster: () => PgCluster) => void): void {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    if (!pgSkipped) cluster = await PgCluster.start();
  }, 90_000);
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  if (pgSkipped) {
    describe(`runner store contract: ${name}`, () => {
      it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
    });
  } else
    body(() => {
      if (cluster === undefined) throw new Error('the cluster did not start');
      return cluster;
    });
}
