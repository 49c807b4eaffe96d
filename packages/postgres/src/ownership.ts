/**
 * Ownership of a checkpoint in the store: the owner row (epoch, lease, the database session that
 * holds it), taking it over from a dead or expired owner, releasing it, and the two writes of the
 * checkpoint row that are fenced by the owner's epoch (create, delete on success). Apart from
 * store.ts because these are the rules that keep two machines from writing one checkpoint; the
 * store only decides when to apply them. docs/shared-store.md states the rules.
 */
import { readFileSync } from 'node:fs';
import { CheckpointLockedError, type CheckpointOwner, type JobIdentity } from '@ckpt/core/internal';
import type pg from 'pg';
import { OwnershipLostError, StoreFailedError, type StoreOwner } from './errors.js';
import { quoteIdent } from './schema.js';

/** Default lease: an owner that neither writes nor renews for this long may be taken over. */
export const DEFAULT_LEASE_MS = 30_000;
/**
 * A refusal for a live owner is decided only after watching it this long: a process killed a
 * moment ago still has its database session for a few milliseconds, until the server notices
 * the closed socket.
 */
const MIN_DECISION_MS = 300;
const POLL_MS = 50;

/** An owner row, for inspect and list. */
export interface OwnerInfo extends StoreOwner {
  readonly since: number;
  readonly leaseExpiresAt: number;
  readonly renewedAt: number;
  /** The owner closed (its row is kept so that epochs never repeat). */
  readonly released: boolean;
  /** Its database session is still there. */
  readonly sessionAlive: boolean;
}

interface RawOwner {
  epoch: string;
  host: string;
  pid: number;
  acquired_at: Date;
  renewed_at: Date;
  lease_expires_at: Date;
  released: boolean;
  expired: boolean;
  session_alive: boolean;
}

function ownerOf(row: RawOwner): OwnerInfo {
  return {
    host: row.host,
    pid: row.pid,
    epoch: Number(row.epoch),
    since: row.acquired_at.getTime(),
    leaseExpiresAt: row.lease_expires_at.getTime(),
    renewedAt: row.renewed_at.getTime(),
    released: row.released,
    sessionAlive: row.session_alive,
  };
}

/** Whether a process of this host is gone (never signalled: `kill(pid, 0)` only tests), or a zombie. */
function localProcessGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

/** The owner-row columns every reader selects, with liveness computed by the server. */
function ownerColumns(o: string): string {
  return `${o}.epoch, ${o}.host, ${o}.pid, ${o}.acquired_at, ${o}.renewed_at, ${o}.lease_expires_at,
    ${o}.released_at IS NOT NULL AS released, ${o}.lease_expires_at < now() AS expired,
    EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = ${o}.backend_pid
            AND (a.backend_start IS NULL OR ${o}.backend_start IS NULL OR a.backend_start = ${o}.backend_start)) AS session_alive`;
}

/** The port's view of an owner row: undefined when nobody holds it (released). */
export function portOwner(info: OwnerInfo | undefined): CheckpointOwner | undefined {
  if (info === undefined || info.released) return undefined;
  const state = !info.sessionAlive ? 'stale' : info.leaseExpiresAt <= Date.now() ? 'expired' : 'live';
  return { host: info.host, pid: info.pid, since: info.since, epoch: info.epoch, leaseExpiresAt: info.leaseExpiresAt, state };
}

/** The owner row of `name` (released or not), if anyone ever owned it; the caller knows the schema exists. */
export async function readOwner(client: pg.Client, schema: string, name: string): Promise<OwnerInfo | undefined> {
  const result = await client.query<RawOwner>(`SELECT ${ownerColumns('o')} FROM ${quoteIdent(schema)}.owners o WHERE o.name = $1`, [name]);
  const row = result.rows[0];
  return row === undefined ? undefined : ownerOf(row);
}

/**
 * Takes ownership of `name` on `client` (whose backend pid and start are recorded, so that its
 * death is seen at once), or refuses with CheckpointLockedError once `waitMs` has passed while a
 * live owner holds it. One transaction per try; the owner row is locked while it is decided.
 */
export async function acquire(
  client: pg.Client,
  schema: string,
  where: string,
  name: string,
  claim: { readonly host: string; readonly pid: number },
  leaseMs: number,
  waitMs: number,
): Promise<{ owner: StoreOwner; tookOver: { from: StoreOwner; reason: string } | undefined }> {
  const S = quoteIdent(schema);
  const deadline = Date.now() + Math.max(waitMs, MIN_DECISION_MS);
  const self = `host = $2, pid = $3, backend_pid = pg_backend_pid(),
    backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
    acquired_at = now(), renewed_at = now(), lease_ms = $4::integer, lease_expires_at = now() + $4::integer * interval '1 millisecond', released_at = NULL`;
  for (;;) {
    let alive: OwnerInfo | undefined;
    try {
      await client.query('BEGIN');
      const found = await client.query<RawOwner>(`SELECT ${ownerColumns('o')} FROM ${S}.owners o WHERE o.name = $1 FOR UPDATE OF o`, [name]);
      const row = found.rows[0];
      if (row === undefined) {
        // Epochs continue after those the log already holds (never below them).
        const inserted = await client.query<{ epoch: string }>(
          `INSERT INTO ${S}.owners (name, epoch, host, pid, backend_pid, backend_start, acquired_at, renewed_at, lease_ms, lease_expires_at)
           SELECT $1, 1 + GREATEST(COALESCE((SELECT max(epoch) FROM ${S}.events WHERE name = $1), 0),
                                   COALESCE((SELECT max(epoch) FROM ${S}.snapshots WHERE name = $1), 0)),
                  $2, $3, pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
                  now(), now(), $4, now() + $4::integer * interval '1 millisecond'
           ON CONFLICT (name) DO NOTHING RETURNING epoch`,
          [name, claim.host, claim.pid, leaseMs],
        );
        await client.query('COMMIT');
        const epoch = inserted.rows[0]?.epoch;
        if (epoch === undefined) continue; // another opener inserted first: decide again against its row
        return { owner: { host: claim.host, pid: claim.pid, epoch: Number(epoch) }, tookOver: undefined };
      }
      const previous = ownerOf(row);
      const reason = row.released
        ? undefined
        : !row.session_alive
          ? 'its database session is gone'
          : row.expired
            ? 'its lease ran out'
            : previous.host === claim.host && localProcessGone(previous.pid)
              ? 'its process is gone'
              : null;
      if (reason !== null) {
        const updated = await client.query<{ epoch: string }>(`UPDATE ${S}.owners SET epoch = epoch + 1, ${self} WHERE name = $1 RETURNING epoch`, [
          name,
          claim.host,
          claim.pid,
          leaseMs,
        ]);
        await client.query('COMMIT');
        const owner = { host: claim.host, pid: claim.pid, epoch: Number(updated.rows[0]!.epoch) };
        return {
          owner,
          tookOver: reason === undefined ? undefined : { from: { host: previous.host, pid: previous.pid, epoch: previous.epoch }, reason },
        };
      }
      await client.query('COMMIT');
      alive = previous;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new StoreFailedError(name, 'taking ownership', where, { cause: error });
    }
    if (Date.now() >= deadline) {
      throw new CheckpointLockedError(`"${name}" (store ${where})`, { pid: alive.pid, host: alive.host, since: alive.since });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Creates (or replaces, usage `never`) the checkpoint row, fenced by the owner's epoch. */
export async function createCheckpointRow(
  client: pg.Client,
  schema: string,
  where: string,
  name: string,
  identity: JobIdentity,
  owner: StoreOwner,
  leaseMs: number,
  currentOwner: () => Promise<OwnerInfo | undefined>,
): Promise<void> {
  const S = quoteIdent(schema);
  try {
    await client.query('BEGIN');
    const owned = await client.query(
      `UPDATE ${S}.owners SET renewed_at = now(), lease_expires_at = now() + $3::integer * interval '1 millisecond'
       WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING 1`,
      [name, owner.epoch, leaseMs],
    );
    if (owned.rowCount !== 1) {
      await client.query('ROLLBACK');
      throw new OwnershipLostError(name, owner, await currentOwner());
    }
    await client.query(`DELETE FROM ${S}.events WHERE name = $1`, [name]);
    await client.query(`DELETE FROM ${S}.snapshots WHERE name = $1`, [name]);
    await client.query(`DELETE FROM ${S}.checkpoints WHERE name = $1`, [name]);
    await client.query(`INSERT INTO ${S}.checkpoints (name, kind, job_id, job_version, structure_hash) VALUES ($1, $2, $3, $4, $5)`, [
      name,
      identity.kind,
      identity.id,
      identity.version,
      identity.structureHash,
    ]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (error instanceof OwnershipLostError) throw error;
    throw new StoreFailedError(name, 'creating the checkpoint', where, { cause: error });
  }
}

/** Deletes the checkpoint and releases ownership in one fenced statement (a run that succeeded). */
export async function removeOwned(
  client: pg.Client,
  schema: string,
  where: string,
  name: string,
  owner: StoreOwner,
  currentOwner: () => Promise<OwnerInfo | undefined>,
): Promise<void> {
  const S = quoteIdent(schema);
  let owned: number;
  try {
    const result = await client.query<{ owned: string }>(
      `WITH own AS (UPDATE ${S}.owners SET released_at = now(), backend_pid = NULL WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING name),
       del AS (DELETE FROM ${S}.checkpoints WHERE name = (SELECT name FROM own)),
       de AS (DELETE FROM ${S}.events WHERE name = (SELECT name FROM own)),
       ds AS (DELETE FROM ${S}.snapshots WHERE name = (SELECT name FROM own))
       SELECT count(*) AS owned FROM own`,
      [name, owner.epoch],
    );
    owned = Number(result.rows[0]?.owned ?? 0);
  } catch (error) {
    throw new StoreFailedError(name, 'deleting the checkpoint', where, { cause: error });
  }
  if (owned !== 1) throw new OwnershipLostError(name, owner, await currentOwner());
}

/** Releases ownership (the row and its epoch stay). */
export async function release(client: pg.Client, schema: string, name: string, owner: StoreOwner): Promise<void> {
  await client.query(
    `UPDATE ${quoteIdent(schema)}.owners SET released_at = now(), backend_pid = NULL WHERE name = $1 AND epoch = $2 AND released_at IS NULL`,
    [name, owner.epoch],
  );
}
