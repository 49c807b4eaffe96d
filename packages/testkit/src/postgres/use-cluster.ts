import { afterAll, beforeAll, describe, it } from 'vitest';
import { PG_SKIP_NOTE, PgCluster, pgSkipped } from './pg-cluster.js';

/** The cluster of {@link useCluster}, and fresh schema URLs on it. */
export interface UsedCluster {
  /** The file's cluster; throws if it did not start (the server programs are missing, or called before beforeAll). */
  readonly cluster: () => PgCluster;
  /** A connection URL on a fresh schema (`<label>_<pid>_<n>`), so tests never see each other's rows. */
  readonly url: (label?: string) => string;
}

/**
 * One throwaway cluster for the test file that calls this (started in beforeAll, destroyed in
 * afterAll), and a fresh schema per call of `url()`. Without the server programs (`pgSkipped`),
 * nothing starts and `cluster()` throws: skip the tests that use it, or use {@link describeOnPostgres}.
 */
export function useCluster(): UsedCluster {
  let cluster: PgCluster | undefined;
  let schemas = 0;
  beforeAll(async () => {
    if (pgSkipped) return;
    cluster = await PgCluster.start();
  }, 90_000);
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  const started = (): PgCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  return {
    cluster: started,
    url: (label = 't') => `${started().url}?schema=${label}_${process.pid}_${++schemas}`,
  };
}

/**
 * Suites on one throwaway cluster for the test file ({@link useCluster}): `body` declares them
 * and is handed the cluster. Without the server programs (outside CI), one skipped test in a
 * `describe(title)` that says why ({@link PG_SKIP_NOTE}) instead.
 */
export function describeOnPostgres(title: string, body: (cluster: () => PgCluster) => void): void {
  const { cluster } = useCluster();
  if (pgSkipped) {
    describe(title, () => {
      it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
    });
  } else body(cluster);
}
