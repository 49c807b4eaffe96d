/**
 * The store contract (`@ckpt/testkit/store-contract`, the suite every adapter of the port
 * passes) run against the PostgreSQL adapter on a real server: identity refusals, usage × save,
 * delete on success, retention, secrets never in clear, one owner at a time, and the journal
 * property with crashes as killed sessions or an immediate server stop.
 */
import type { CheckpointStore, StoreAdapterModule } from '@ckpt/core/internal';
import { describeStoreContract, type StoreHarness } from '@ckpt/testkit/store-contract';
import pg from 'pg';
import { describe, it } from 'vitest';
import { connectStore } from './store.js';
import { PG_SKIP_NOTE, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from './test-support/use-cluster.js';

// What the CLI loads (`await import('@ckpt/postgres')`) has the port's shape.
const adapter: StoreAdapterModule = { connectStore };
void adapter;

const cluster = useCluster();
let harnesses = 0;

async function harness(): Promise<StoreHarness> {
  const url = cluster.url(`contract${harnesses++}`);
  const schema = new URL(url).searchParams.get('schema')!;
  const adminClient = async () => {
    const client = new pg.Client({ connectionString: cluster.cluster().url });
    await client.connect();
    client.on('error', () => undefined);
    return client;
  };
  let admin = await adminClient();
  // Each handle is a "process" with sessions of its own, told apart by application_name.
  const sessions = new Map<CheckpointStore, string>();
  let handles = 0;
  const connect = async () => {
    const applicationName = `ckpt contract ${schema} ${handles++}`;
    const store = await connectStore(url, { applicationName });
    sessions.set(store, applicationName);
    return store;
  };
  const terminate = async (where: string, values: unknown[]) => {
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND ${where}`, values);
  };
  let names = 0;
  return {
    connect,
    name: (label) => `${label}-${names++}`,
    // Every row as raw bytes (a bytea as its bytes, not hex, so a secret inside a payload would show).
    dump: async () => {
      const rows: string[] = [];
      for (const table of ['checkpoints', 'owners', 'events', 'snapshots']) {
        const result = await admin.query(`SELECT * FROM "${schema}".${table}`).catch(() => ({ rows: [] as Record<string, unknown>[] }));
        for (const row of result.rows)
          rows.push(
            Object.values(row)
              .map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))
              .join('|'),
          );
      }
      return rows.join('\n');
    },
    // The last write is the newest event's time (or the checkpoint row's, when later).
    setLastWrite: async (name, ms) => {
      await admin.query(`UPDATE "${schema}".checkpoints SET updated_at = to_timestamp($2 / 1000.0) WHERE name = $1`, [name, ms]);
      await admin.query(`UPDATE "${schema}".events SET at = to_timestamp($2 / 1000.0) WHERE name = $1`, [name, ms]);
    },
    // kill -9 of that process: the server closes its sessions.
    kill: async (store) => {
      await terminate('application_name = $1', [sessions.get(store)]);
    },
    // Everything dies: every session of this store's schema, and every fourth time the server itself (pg_ctl stop -m immediate).
    crash: async (seed) => {
      if (seed % 4 === 0) {
        await admin.end().catch(() => undefined);
        await cluster.cluster().stop('immediate');
        await cluster.cluster().restart();
        admin = await adminClient();
      } else {
        await terminate('application_name LIKE $1', [`ckpt contract ${schema} %`]);
      }
      return connect();
    },
    cleanup: async () => {
      await admin.end().catch(() => undefined);
    },
  };
}

if (pgSkipped) {
  describe('store contract: PostgreSQL', () => {
    it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
  });
} else {
  describeStoreContract('PostgreSQL', harness, { journalRuns: 8 });
}
