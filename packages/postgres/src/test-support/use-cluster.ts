import { afterAll, beforeAll } from 'vitest';
import { PgCluster, pgSkipped } from './pg-cluster.js';

/**
 * One throwaway cluster for the test file that calls this (started in beforeAll, destroyed in
 * afterAll), and a fresh schema per call of `url()`, so tests never see each other's rows.
 */
export function useCluster(): { readonly cluster: () => PgCluster; readonly url: (label?: string) => string } {
  let cluster: PgCluster | undefined;
  let schemas = 0;
  beforeAll(async () => {
    if (pgSkipped) return;
    cluster = await PgCluster.start();
  }, 90_000);
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  return {
    cluster: () => {
      if (cluster === undefined) throw new Error('the cluster did not start');
      return cluster;
    },
    url: (label = 't') => {
      if (cluster === undefined) throw new Error('the cluster did not start');
      return `${cluster.url}?schema=${label}_${process.pid}_${++schemas}`;
    },
  };
}
