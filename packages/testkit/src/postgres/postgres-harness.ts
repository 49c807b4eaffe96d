import type { CheckpointStore } from '@ckpt/core';
import type { StoreHarness } from '../store/store-harness.js';
import type { PgCluster } from './pg-cluster.js';
import { ProcessLink } from './process-link.js';

/** How the harness connects a store handle: `connectStore` of `@ckpt/postgres`, or any adapter taking a postgres:// URL. */
export type ConnectPostgresStore = (url: string, options: { readonly applicationName: string }) => Promise<CheckpointStore>;

/** Options of {@link postgresStoreHarness}. */
export interface PostgresHarnessOptions {
  /** The cluster (or a function giving it, when it starts in a `beforeAll` after the suite is declared). */
  readonly cluster: PgCluster | (() => PgCluster);
  /** Connects a handle; the harness passes the URL of a schema of its own and an `application_name` per handle. */
  readonly connectStore: ConnectPostgresStore;
  /** Prefix of the schemas the harness makes (default `harness`). */
  readonly label?: string;
  /** One crash in this many stops the server (`pg_ctl stop -m immediate`) and restarts it; the others kill the sessions (default 4). */
  readonly serverCrashEvery?: number;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

let schemas = 0;

/**
 * A {@link StoreHarness} factory for a PostgreSQL store on a throwaway {@link PgCluster}: each
 * harness gets a schema of its own; each `connect` is a "process" with its own sessions, told
 * apart by `application_name` and reaching the server through a relay of its own
 * ({@link ProcessLink}); `kill` cuts that process's connections at once (what it had not sent
 * never arrives) and ends its sessions (pg_terminate_backend); `crash` does that to every
 * process of the harness, and every
 * `serverCrashEvery`-th seed stops the whole server with `pg_ctl stop -m immediate` (a crash:
 * recovery replays the WAL at the restart) and starts it again. The server is administered
 * through the cluster's `psql`, so the harness needs no client library; the adapter is passed
 * in (`connectStore`), so the testkit does not depend on it.
 */
export function postgresStoreHarness(options: PostgresHarnessOptions): () => Promise<StoreHarness> {
  const clusterOf = () => (typeof options.cluster === 'function' ? options.cluster() : options.cluster);
  const every = options.serverCrashEvery ?? 4;
  return async () => {
    const cluster = clusterOf();
    const schema = `${options.label ?? 'harness'}_${process.pid}_${++schemas}`;
    const S = quoteIdent(schema);
    const prefix = `ckpt harness ${schema} `;
    const sessions = new Map<CheckpointStore, { readonly applicationName: string; readonly link: ProcessLink }>();
    const links = new Set<ProcessLink>();
    let handles = 0;
    const connect = async () => {
      const applicationName = `${prefix}${handles++}`;
      // Each process reaches the server through a relay of its own, so that its death cuts its connections at once.
      const link = await ProcessLink.open(cluster.port);
      links.add(link);
      const store = await options.connectStore(`postgres://ckpt@127.0.0.1:${link.port}/postgres?schema=${schema}`, { applicationName });
      sessions.set(store, { applicationName, link });
      return store;
    };
    const cutAll = () => {
      for (const link of links) link.cut();
      links.clear();
    };
    const terminate = (where: string) =>
      cluster.sql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND ${where}`);
    let names = 0;
    return {
      connect,
      name: (label) => `${label}-${names++}`,
      // Every row as text, a bytea as its raw bytes (not hex), so a secret inside a payload would show.
      dump: async () => {
        const rows: string[] = [];
        for (const table of ['checkpoints', 'owners', 'events', 'snapshots']) {
          const text = await cluster.sql(`COPY (SELECT * FROM ${S}.${table}) TO STDOUT`).catch(() => '');
          rows.push(text.replace(/\\\\x([0-9a-f]*)/g, (_, hex: string) => Buffer.from(hex, 'hex').toString('latin1')));
        }
        return rows.join('\n');
      },
      // The last write is the newest event's time (or the checkpoint row's, when later).
      setLastWrite: async (name, ms) => {
        const at = `to_timestamp(${Number(ms)} / 1000.0)`;
        await cluster.sql(
          `UPDATE ${S}.checkpoints SET updated_at = ${at} WHERE name = ${quoteLiteral(name)}; UPDATE ${S}.events SET at = ${at} WHERE name = ${quoteLiteral(name)}`,
        );
      },
      // The process's connections close at once (its unsent statements never reach the server);
      // then its sessions are ended, in case one is still executing what it had sent.
      kill: async (store) => {
        const session = sessions.get(store);
        if (session === undefined) throw new Error('kill: a store this harness did not connect');
        session.link.cut();
        links.delete(session.link);
        await terminate(`application_name = ${quoteLiteral(session.applicationName)}`);
      },
      crash: async (seed) => {
        // Synchronously, before anything else runs: a dead process sends nothing more.
        cutAll();
        if (seed % every === 0) {
          await cluster.stop('immediate');
          await cluster.restart();
        } else {
          await terminate(`application_name LIKE ${quoteLiteral(`${prefix}%`)}`);
        }
        return connect();
      },
      cleanup: async () => {
        cutAll();
        await terminate(`application_name LIKE ${quoteLiteral(`${prefix}%`)}`).catch(() => undefined);
        await cluster.sql(`DROP SCHEMA IF EXISTS ${S} CASCADE`).catch(() => undefined);
      },
    };
  };
}
