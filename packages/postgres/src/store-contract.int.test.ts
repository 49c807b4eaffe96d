/**
 * The store contract (`@ckpt/testkit/store-contract`, the suite every adapter of the port
 * passes) run against the PostgreSQL adapter on a real server: identity refusals, usage × save,
 * delete on success, retention, secrets never in clear, one owner at a time, and the journal
 * property with crashes as killed sessions or an immediate server stop.
 */
import type { StoreAdapterModule } from '@ckpt/core/internal';
import { postgresStoreHarness } from '@ckpt/testkit/postgres';
import { describeStoreContract } from '@ckpt/testkit/store-contract';
import { describe, it } from 'vitest';
import { connectStore } from './store.js';
import { PG_SKIP_NOTE, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

// What the CLI loads (`await import('@ckpt/postgres')`) has the port's shape.
const adapter: StoreAdapterModule = { connectStore };
void adapter;

const cluster = useCluster();

// The harness is the testkit's (the runner contract on PostgreSQL uses it too): each handle a
// "process" with sessions of its own; kill ends its sessions; crash ends every session of the
// harness's schema, and every fourth time stops the server (pg_ctl stop -m immediate).
const harness = postgresStoreHarness({ cluster: () => cluster.cluster(), connectStore, label: 'contract' });

if (pgSkipped) {
  describe('store contract: PostgreSQL', () => {
    it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
  });
} else {
  describeStoreContract('PostgreSQL', harness, { journalRuns: 8 });
}
