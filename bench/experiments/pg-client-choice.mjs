#!/usr/bin/env node
/**
 * Which PostgreSQL client @ckpt/postgres uses: node-postgres (`pg`) or postgres.js, measured on
 * a throwaway local cluster (fsync on, synchronous_commit on). Two loops, alternating rounds:
 *  - durable single-row INSERT (autocommit: one statement = one transaction = one commit);
 *  - batched: 64 rows per INSERT … SELECT FROM unnest(...) (one round trip, one commit).
 * Run: `npx -y pnpm@10 build && node bench/experiments/pg-client-choice.mjs`. Figures in docs/shared-store.md.
 */
import { createRequire } from 'node:module';
import { PgCluster } from '../../packages/postgres/dist/test-support/pg-cluster.js';

const require = createRequire(new URL('../../packages/postgres/package.json', import.meta.url));
const pg = require('pg');
const postgres = require('postgres');

const ROWS = 2000;
const BATCH = 64;
const ROUNDS = 5;
const payload = Buffer.alloc(120, 7);

const cluster = await PgCluster.start();
try {
  const setup = new pg.Client({ connectionString: cluster.url });
  await setup.connect();
  await setup.query('CREATE TABLE ev (name text, seq bigint, payload bytea, crc int, PRIMARY KEY (name, seq))');
  await setup.end();

  const pgClient = new pg.Client({ connectionString: cluster.url });
  await pgClient.connect();
  pgClient.on('error', () => {});
  const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
  let run = 0;
  const contestants = {
    'pg single': async () => {
      const name = `a${run++}`;
      const t = performance.now();
      for (let i = 0; i < ROWS; i++) await pgClient.query('INSERT INTO ev VALUES ($1, $2, $3, $4)', [name, i, payload, i]);
      return (ROWS / (performance.now() - t)) * 1000;
    },
    'postgres.js single': async () => {
      const name = `b${run++}`;
      const t = performance.now();
      for (let i = 0; i < ROWS; i++) await sql`INSERT INTO ev VALUES (${name}, ${i}, ${payload}, ${i})`;
      return (ROWS / (performance.now() - t)) * 1000;
    },
    'pg batch64': async () => {
      const name = `c${run++}`;
      const t = performance.now();
      for (let i = 0; i < ROWS * 4; i += BATCH) {
        const seqs = Array.from({ length: BATCH }, (_, k) => i + k);
        await pgClient.query('INSERT INTO ev SELECT $1, s, p, c FROM unnest($2::bigint[], $3::bytea[], $4::int[]) AS u(s, p, c)', [
          name,
          seqs,
          seqs.map(() => payload),
          seqs,
        ]);
      }
      return ((ROWS * 4) / (performance.now() - t)) * 1000;
    },
    'postgres.js batch64': async () => {
      const name = `d${run++}`;
      const t = performance.now();
      for (let i = 0; i < ROWS * 4; i += BATCH) {
        const seqs = Array.from({ length: BATCH }, (_, k) => i + k);
        await sql`INSERT INTO ev SELECT ${name}, s, p, c FROM unnest(${seqs}::bigint[], ${sql.array(
          seqs.map(() => payload),
          17,
        )}::bytea[], ${seqs}::int[]) AS u(s, p, c)`;
      }
      return ((ROWS * 4) / (performance.now() - t)) * 1000;
    },
  };
  const results = Object.fromEntries(Object.keys(contestants).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, fn] of Object.entries(contestants)) results[key].push(await fn());
  }
  for (const [key, values] of Object.entries(results)) {
    values.sort((a, b) => a - b);
    console.log(
      `${key.padEnd(22)} median ${values[Math.floor(values.length / 2)].toFixed(0)} rows/s  (rounds: ${values.map((v) => v.toFixed(0)).join(', ')})`,
    );
  }
  await pgClient.end();
  await sql.end();
} catch (error) {
  console.error(error);
} finally {
  await cluster.destroy();
}
