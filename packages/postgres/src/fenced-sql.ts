/**
 * The statements the PostgreSQL log writes with, each ONE statement (autocommit: one statement
 * is one transaction, one round trip, one commit) fenced by the owner's epoch: its first part
 * renews the owner row's lease `WHERE name = $1 AND epoch = $2`, and every other part writes only
 * from that row, so a writer whose epoch was taken over changes nothing. Each returns `owned`,
 * the number of owner rows it renewed (1, or 0 when ownership was lost). Apart from pg-log.ts so
 * that the SQL of the fence reads in one place, away from the queueing around it.
 */
import { crc32 } from 'node:zlib';
import type { RecordType } from '@ckpt/core/internal';
import type pg from 'pg';

/** `now() + leaseMs`: the lease every fenced statement renews. */
function leaseSql(param: string): string {
  return `now() + ${param}::integer * interval '1 millisecond'`;
}

/** A record to insert: its seq, type and encoded payload (its CRC is computed here). */
export interface RecordToWrite {
  readonly seq: number;
  readonly type: RecordType;
  readonly payload: Uint8Array;
}

/** The attempt figures kept on the checkpoint row for list and prune. */
export interface AttemptFigures {
  readonly attempts: number;
  readonly retentionMs: number | undefined;
}

/**
 * Inserts `batch` as event rows (one group commit), renewing the lease; updates the checkpoint
 * row's attempt figures only when `changed` (a new attempt started), to keep the common append
 * to one row update. `S` is the quoted schema.
 */
export function appendStatement(
  S: string,
  name: string,
  epoch: number,
  leaseMs: number,
  batch: readonly RecordToWrite[],
  figures: AttemptFigures & { readonly changed: boolean },
): pg.QueryConfig {
  return {
    // Named, so the server parses and plans it once per connection (a third of the cost of a small append).
    name: 'ckpt_append',
    text: `WITH own AS (
           UPDATE ${S}.owners SET renewed_at = now(), lease_expires_at = ${leaseSql('$3')}
           WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING name),
         ins AS (
           INSERT INTO ${S}.events (name, seq, type, epoch, payload, crc)
           SELECT own.name, r.seq, r.type, $2, r.payload, r.crc
           FROM own, unnest($4::bigint[], $5::smallint[], $6::bytea[], $7::bigint[]) AS r(seq, type, payload, crc)),
         cp AS (
           UPDATE ${S}.checkpoints SET updated_at = now(), attempts = $8, retention_ms = $9
           WHERE $10::boolean AND name = (SELECT name FROM own))
         SELECT count(*) AS owned FROM own`,
    values: [
      name,
      epoch,
      leaseMs,
      batch.map((r) => r.seq),
      batch.map((r) => r.type),
      batch.map((r) => Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength)),
      batch.map((r) => crc32(r.payload)),
      figures.attempts,
      figures.retentionMs ?? null,
      figures.changed,
    ],
  };
}

/** Renews the lease alone (no write renewed it lately). */
export function renewStatement(S: string, name: string, epoch: number, leaseMs: number): pg.QueryConfig {
  return {
    name: 'ckpt_renew',
    text: `WITH own AS (UPDATE ${S}.owners SET renewed_at = now(), lease_expires_at = ${leaseSql('$3')}
             WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING name)
           SELECT count(*) AS owned FROM own`,
    values: [name, epoch, leaseMs],
  };
}

/**
 * Compaction: inserts the snapshot `payload` at `seq` and deletes the rows before it, in one
 * statement, so that a crash leaves either the old rows or the snapshot (both hold every
 * acknowledged event).
 */
export function compactStatement(
  S: string,
  name: string,
  epoch: number,
  leaseMs: number,
  seq: number,
  payload: Uint8Array,
  figures: AttemptFigures,
): pg.QueryConfig {
  return {
    text: `WITH own AS (
           UPDATE ${S}.owners SET renewed_at = now(), lease_expires_at = ${leaseSql('$3')}
           WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING name),
         snap AS (
           INSERT INTO ${S}.snapshots (name, seq, epoch, payload, crc) SELECT own.name, $4, $2, $5, $6 FROM own RETURNING seq),
         de AS (DELETE FROM ${S}.events WHERE name = $1 AND seq < $4 AND EXISTS (SELECT 1 FROM snap)),
         ds AS (DELETE FROM ${S}.snapshots WHERE name = $1 AND seq < $4 AND EXISTS (SELECT 1 FROM snap)),
         cp AS (
           UPDATE ${S}.checkpoints SET updated_at = now(), snapshot_seq = $4, attempts = $7, retention_ms = $8
           WHERE name = $1 AND EXISTS (SELECT 1 FROM snap))
         SELECT count(*) AS owned FROM own`,
    values: [name, epoch, leaseMs, seq, Buffer.from(payload), crc32(payload), figures.attempts, figures.retentionMs ?? null],
  };
}
