import { crc32 } from 'node:zlib';
import {
  cloneState,
  decodePayload,
  type Fold,
  FoldError,
  RecordType,
  isPlainObject,
  restoreSnapshot,
  type EpochInfo,
  type JobIdentity,
  type LogEntry,
  type MutableCheckpointState,
} from '@ckpt/core/internal';
import { StoreCorruptError } from './errors.js';
import { quoteIdent } from './schema.js';

/** Something that runs queries: a client or a pool. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** A checkpoint's row. */
export interface CheckpointRow {
  readonly name: string;
  readonly identity: JobIdentity;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly attempts: number;
  readonly retentionMs: number | undefined;
  readonly lastSeq: number;
}

interface RawCheckpointRow {
  name: string;
  kind: string;
  job_id: string;
  job_version: string;
  structure_hash: string;
  created_at: Date;
  updated_at: Date;
  attempts: number;
  retention_ms: string | null;
  last_seq: string;
}

/**
 * The select list of a checkpoint row `c` of schema `S`: the last write and the last seq come
 * from its newest event row (appends do not touch the checkpoint row), else from the row itself.
 */
export function checkpointColumns(S: string): string {
  return `c.name, c.kind, c.job_id, c.job_version, c.structure_hash, c.created_at, c.attempts, c.retention_ms,
    GREATEST(c.updated_at, (SELECT e.at FROM ${S}.events e WHERE e.name = c.name ORDER BY e.seq DESC LIMIT 1)) AS updated_at,
    GREATEST(c.snapshot_seq, (SELECT e.seq FROM ${S}.events e WHERE e.name = c.name ORDER BY e.seq DESC LIMIT 1)) AS last_seq`;
}

export function checkpointRowOf(row: RawCheckpointRow): CheckpointRow {
  return {
    name: row.name,
    identity: { kind: row.kind, id: row.job_id, version: row.job_version, structureHash: row.structure_hash },
    createdAt: row.created_at.getTime(),
    updatedAt: row.updated_at.getTime(),
    attempts: row.attempts,
    retentionMs: row.retention_ms === null ? undefined : Number(row.retention_ms),
    lastSeq: Number(row.last_seq),
  };
}

/** The checkpoint row of `name`, or undefined. */
export async function readCheckpointRow(db: Queryable, schema: string, name: string): Promise<CheckpointRow | undefined> {
  const S = quoteIdent(schema);
  const result = await db.query<RawCheckpointRow>(`SELECT ${checkpointColumns(S)} FROM ${S}.checkpoints c WHERE c.name = $1`, [name]);
  const row = result.rows[0];
  return row === undefined ? undefined : checkpointRowOf(row);
}

/** What reading a checkpoint's log gives. */
export interface StoreReading {
  readonly state: MutableCheckpointState;
  /** Highest epoch recorded. */
  readonly epoch: number;
  /** Last record's seq (0 when none). */
  readonly lastSeq: number;
  /** Payload bytes of the snapshot and of the records after it (compaction's measure). */
  readonly snapshotBytes: number;
  readonly tailBytes: number;
}

/** Rows read per query: the log is read in pages, so memory does not grow with history. */
const PAGE_ROWS = 5000;

function checkedPayload(name: string, seq: number, payload: Buffer, crc: string): unknown {
  if (crc32(payload) !== Number(crc)) {
    throw new StoreCorruptError(name, seq, `the payload's CRC-32 is ${crc32(payload)}, the row records ${crc}`);
  }
  try {
    return decodePayload(payload);
  } catch (error) {
    throw new StoreCorruptError(name, seq, `the payload is not readable msgpack (${(error as Error).message})`, { cause: error });
  }
}

function epochInfoOf(value: unknown): EpochInfo | undefined {
  if (!isPlainObject(value) || typeof value['epoch'] !== 'number') return undefined;
  const { epoch, pid, host, startedAt, writer } = value;
  return {
    epoch: epoch as number,
    ...(typeof pid === 'number' && { pid }),
    ...(typeof host === 'string' && { host }),
    ...(typeof startedAt === 'number' && { startedAt }),
    ...(typeof writer === 'string' && { writer }),
  };
}

/**
 * Reads a checkpoint's log: its latest snapshot, then every record after it in seq order, each
 * checked against its CRC and folded. `onEntry` receives every entry (for `ckpt events` and the
 * replay of `entries()`). Damage is refused with the record's seq.
 */
export async function readStoreLog(
  db: Queryable,
  schema: string,
  name: string,
  fold: Fold,
  onEntry?: (entry: LogEntry) => void,
): Promise<StoreReading> {
  const S = quoteIdent(schema);
  let state = cloneState(fold.initial());
  let epoch = 0;
  let lastSeq = 0;
  let snapshotBytes = 0;
  let tailBytes = 0;
  const snapshot = await db.query<{ seq: string; epoch: string; payload: Buffer; crc: string }>(
    `SELECT seq, epoch, payload, crc FROM ${S}.snapshots WHERE name = $1 ORDER BY seq DESC LIMIT 1`,
    [name],
  );
  const snap = snapshot.rows[0];
  if (snap !== undefined) {
    const seq = Number(snap.seq);
    const decoded = checkedPayload(name, seq, snap.payload, snap.crc) as { epoch?: unknown; state?: unknown };
    try {
      state = restoreSnapshot(decoded?.state, fold);
    } catch (error) {
      throw new StoreCorruptError(name, seq, `the snapshot is not readable (${(error as Error).message})`, { cause: error });
    }
    epoch = Number(snap.epoch);
    lastSeq = seq;
    snapshotBytes = snap.payload.length;
    onEntry?.({ kind: 'snapshot', seq, offset: seq, eventCount: state.eventCount, state });
  }
  for (;;) {
    const page = await db.query<{ seq: string; type: number; payload: Buffer; crc: string }>(
      `SELECT seq, type, payload, crc FROM ${S}.events WHERE name = $1 AND seq > $2 ORDER BY seq LIMIT ${PAGE_ROWS}`,
      [name, lastSeq],
    );
    for (const row of page.rows) {
      const seq = Number(row.seq);
      const value = checkedPayload(name, seq, row.payload, row.crc);
      tailBytes += row.payload.length;
      lastSeq = seq;
      if (row.type === RecordType.Epoch) {
        const info = epochInfoOf(value);
        if (info === undefined) throw new StoreCorruptError(name, seq, 'an epoch record without a numeric epoch');
        epoch = Math.max(epoch, info.epoch);
        onEntry?.({ kind: 'epoch', seq, offset: seq, epoch: info });
      } else if (row.type === RecordType.Events) {
        if (!Array.isArray(value) || value.length === 0) throw new StoreCorruptError(name, seq, 'an events record that is not a non-empty array');
        value.forEach((event, index) => {
          try {
            fold.applyInPlace(state, event);
          } catch (error) {
            if (error instanceof FoldError) throw new StoreCorruptError(name, seq, `event ${index} is invalid: ${error.message}`, { cause: error });
            throw error;
          }
          onEntry?.({ kind: 'event', seq, offset: seq, index, event });
        });
      } else {
        throw new StoreCorruptError(name, seq, `record type ${row.type} is not an epoch or events record`);
      }
    }
    if (page.rows.length < PAGE_ROWS) break;
  }
  return { state, epoch, lastSeq, snapshotBytes, tailBytes };
}
