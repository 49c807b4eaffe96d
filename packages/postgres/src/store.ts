import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  CheckpointLockedError,
  CheckpointNotFoundError,
  CheckpointUsage,
  DEFAULT_RETENTION_MS,
  Fold,
  IdentityMismatchError,
  InvalidInputError,
  MemoryLog,
  cloneState,
  sameIdentity,
  type CheckpointState,
  type Durability,
  type ExtensionReducer,
  type JobIdentity,
  type LogEntry,
  type OpenedCheckpoint,
} from '@ckpt/core';
import type pg from 'pg';
import { connectClient } from './connect.js';
import { OwnershipLostError, StoreFailedError, StoreSchemaError, type StoreOwner } from './errors.js';
import { PgLog } from './pg-log.js';
import { CHECKPOINT_COLUMNS, checkpointRowOf, readCheckpointRow, readStoreLog, type CheckpointRow, type StoreReading } from './read.js';
import { migrate, quoteIdent, SCHEMA_VERSION, schemaVersion, type MigrationReport } from './schema.js';
import { parseStoreUrl, type StoreUrl } from './url.js';

/** Default lease: an owner that neither writes nor renews for this long may be taken over. */
export const DEFAULT_LEASE_MS = 30_000;
/**
 * A refusal for a live owner is decided only after watching it this long: a process killed a
 * moment ago still has its database session for a few milliseconds, until the server notices
 * the closed socket.
 */
const MIN_DECISION_MS = 300;
const POLL_MS = 50;
const WRITER = '@ckpt/postgres/1';

/** Options of {@link PostgresStore.connect}. */
export interface PostgresStoreOptions {
  /** The owner's host name (default `$CKPT_HOST`, else the host name). */
  readonly host?: string;
  /** The owner's pid (default this process's). */
  readonly pid?: number;
  /** Create or upgrade the schema when it is missing or older (default true; `ckpt store init` does it explicitly). */
  readonly migrate?: boolean;
}

/** How a checkpoint is opened: the usage/save rules of files, plus ownership. */
export interface StoreOpenOptions {
  /** The checkpoint's name (its key in the store). */
  readonly name: string;
  readonly identity: JobIdentity;
  readonly usage: CheckpointUsage;
  /** Whether progress is written (SSIS SaveCheckpoints). */
  readonly save: boolean;
  /** How long to wait for a live owner to finish (default 0: refuse at once). */
  readonly waitMs?: number;
  /** Lease of this owner (default 30 s), renewed in the background at a third of it. */
  readonly leaseMs?: number;
  /** Renewal period (default leaseMs / 3; 0 never renews: for tests of a paused owner). */
  readonly renewEveryMs?: number;
  /** Called with an existing checkpoint's state before anything is written; throw to refuse. */
  readonly checkState?: (state: CheckpointState) => void;
}

/** Reducers, clock, durability and compaction, as core's StoreEnvironment. */
export interface StoreOpenEnvironment {
  readonly reducers?: readonly ExtensionReducer[];
  readonly now?: () => number;
  readonly durability?: Durability;
  readonly compaction?: { readonly minBytes: number } | false;
}

/** A checkpoint opened in the store: core's {@link OpenedCheckpoint}, plus its owner. */
export interface StoreCheckpoint extends OpenedCheckpoint {
  /** This run as the owner (undefined when nothing is saved and nothing existed: no ownership taken). */
  readonly owner: StoreOwner | undefined;
  /** The owner this run took the checkpoint over from, and why. */
  readonly tookOver: { readonly from: StoreOwner; readonly reason: string } | undefined;
}

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

/** One checkpoint of the store, for list and prune. */
export interface StoredCheckpoint extends CheckpointRow {
  /** Retention in force (the last attempt's, else the default) and when it expires. */
  readonly effectiveRetentionMs: number;
  readonly expiresAt: number;
  readonly owner: OwnerInfo | undefined;
}

/** What {@link PostgresStore.prune} did. */
export interface StorePruneReport {
  readonly removed: readonly StoredCheckpoint[];
  readonly skipped: readonly { readonly name: string; readonly reason: string }[];
  readonly kept: number;
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

/** Creates or upgrades the store's schema at `url` (idempotent): `ckpt store init URL`. */
export async function initStore(url: string): Promise<MigrationReport> {
  const parsed = parseStoreUrl(url);
  const client = await connectClient(parsed);
  try {
    return await migrate(client, parsed.schema);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A PostgreSQL checkpoint store: checkpoints named by key, one owner at a time with leases and
 * fencing, the log as rows. {@link PostgresStore.open} has core's openCheckpoint rules (usage,
 * save, identity, delete on success). docs/shared-store.md describes the schema and the rules.
 */
export class PostgresStore {
  private closed = false;

  private constructor(
    readonly url: StoreUrl,
    /** For reads (list, inspect, events, replays); owners write on connections of their own. */
    private readonly admin: pg.Client,
    readonly host: string,
    readonly pid: number,
  ) {}

  /** `host:port` of the server, for messages. */
  get where(): string {
    return `${this.url.host}:${this.url.port}`;
  }

  private get S(): string {
    return quoteIdent(this.url.schema);
  }

  /**
   * Connects (refused with {@link StoreUnreachableError} naming host and port within the
   * connect timeout) and makes sure the schema is usable: created or upgraded when the role
   * may, refused when newer than this program.
   */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const parsed = parseStoreUrl(url);
    const admin = await connectClient(parsed);
    try {
      const version = await schemaVersion(admin, parsed.schema);
      if (version > SCHEMA_VERSION || (version < SCHEMA_VERSION && options.migrate !== false)) await migrate(admin, parsed.schema);
      else if (version < SCHEMA_VERSION) {
        throw new StoreSchemaError(`the store's schema "${parsed.schema}" is at version ${version}, this program needs ${SCHEMA_VERSION}`, {
          hint: `run "ckpt store init URL" to create or upgrade it`,
        });
      }
    } catch (error) {
      await admin.end().catch(() => undefined);
      throw error;
    }
    const host = options.host ?? (process.env['CKPT_HOST'] || hostname());
    return new PostgresStore(parsed, admin, host, options.pid ?? process.pid);
  }

  /** Closes the store's read connection (opened checkpoints close their own). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.admin.end().catch(() => undefined);
  }

  /**
   * Opens checkpoint `name` for a run, applying the usage/save rules of files: refusals (not
   * found, identity mismatch, a live owner, the checkState hook) happen before anything is
   * written. Saving, or reading an existing checkpoint, takes ownership: a live owner refuses
   * (after `waitMs`), a dead or expired one is taken over with the next epoch.
   */
  async open(options: StoreOpenOptions, environment: StoreOpenEnvironment = {}): Promise<StoreCheckpoint> {
    const { name, identity, usage, save } = options;
    if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('a checkpoint in a store needs a non-empty name');
    const fold = new Fold(environment.reducers ?? []);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) throw new InvalidInputError(`lease ${leaseMs} ms is too short: use at least 100 ms`);
    const existing = await readCheckpointRow(this.admin, this.url.schema, name);
    if (usage === CheckpointUsage.Always && existing === undefined) throw new CheckpointNotFoundError(name);
    if (!save && (usage === CheckpointUsage.Never || existing === undefined)) {
      return memoryCheckpoint(name, identity, fold, fold.initial(), false, async () => undefined);
    }
    // The identity is checked before ownership is taken (a refusal changes nothing), and again under it.
    if (existing !== undefined && !sameIdentity(existing.identity, identity)) throw new IdentityMismatchError(name, existing.identity, identity);

    const client = await connectClient(this.url);
    let owner: StoreOwner | undefined;
    try {
      const acquired = await this.acquire(client, name, leaseMs, options.waitMs ?? 0);
      owner = acquired.owner;
      const row = await readCheckpointRow(client, this.url.schema, name);
      if (usage === CheckpointUsage.Always && row === undefined) throw new CheckpointNotFoundError(name);
      if (row !== undefined && !sameIdentity(row.identity, identity)) throw new IdentityMismatchError(name, row.identity, identity);
      if (!save) {
        const reading = await readStoreLog(client, this.url.schema, name, fold);
        options.checkState?.(reading.state);
        const held = owner;
        return {
          ...memoryCheckpoint(name, identity, fold, reading.state, true, () => this.release(client, name, held).finally(() => client.end())),
          owner,
          tookOver: acquired.tookOver,
        };
      }
      const resume = row !== undefined && usage !== CheckpointUsage.Never;
      let reading: StoreReading;
      if (resume) {
        reading = await readStoreLog(client, this.url.schema, name, fold);
        options.checkState?.(reading.state);
      } else {
        await this.create(client, name, identity, owner, leaseMs);
        reading = { state: cloneState(fold.initial()), epoch: 0, lastSeq: 0, snapshotBytes: 0, tailBytes: 0 };
      }
      const self = owner;
      const log = new PgLog({
        client,
        reader: this.admin,
        schema: this.url.schema,
        name,
        where: this.where,
        fold,
        owner,
        leaseMs,
        ...(options.renewEveryMs !== undefined && { renewEveryMs: options.renewEveryMs }),
        ...(environment.durability !== undefined && { durability: environment.durability }),
        ...(environment.compaction !== undefined && { compaction: environment.compaction }),
        ...(environment.now !== undefined && { now: environment.now }),
        state: reading.state,
        nextSeq: reading.lastSeq + 1,
        snapshotBytes: reading.snapshotBytes,
        tailBytes: reading.tailBytes,
        currentOwner: () => this.owner(name),
      });
      const now = environment.now ?? Date.now;
      try {
        await log.appendEpoch({
          epoch: owner.epoch,
          pid: owner.pid,
          host: owner.host,
          startedAt: now(),
          writer: WRITER,
          ...(acquired.tookOver !== undefined && { tookOver: { ...acquired.tookOver.from, reason: acquired.tookOver.reason } }),
        });
      } catch (error) {
        await log.close().catch(() => undefined);
        throw error;
      }
      return {
        path: name,
        identity,
        resumed: resume,
        replaced: row !== undefined && !resume,
        startState: cloneState(log.state),
        log,
        recovery: resume ? { truncatedBytes: 0, removedTemporaryFiles: [] } : undefined,
        saving: true,
        owner,
        tookOver: acquired.tookOver,
        close: async ({ remove }) => {
          try {
            await log.close();
            if (remove && !log.failed) {
              await this.removeOwned(client, name, self);
              return { removed: true };
            }
            if (!(log.failed instanceof OwnershipLostError)) await this.release(client, name, self).catch(() => undefined);
            return { removed: false };
          } finally {
            log.stopRenewing();
            await client.end().catch(() => undefined);
          }
        },
      };
    } catch (error) {
      if (owner !== undefined) await this.release(client, name, owner).catch(() => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Takes ownership of `name` on `client` (whose backend pid and start are recorded, so that its
   * death is seen at once), or refuses with CheckpointLockedError once `waitMs` has passed while a
   * live owner holds it. One transaction per try; the owner row is locked while it is decided.
   */
  private async acquire(
    client: pg.Client,
    name: string,
    leaseMs: number,
    waitMs: number,
  ): Promise<{ owner: StoreOwner; tookOver: { from: StoreOwner; reason: string } | undefined }> {
    const { S } = this;
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
            [name, this.host, this.pid, leaseMs],
          );
          await client.query('COMMIT');
          const epoch = inserted.rows[0]?.epoch;
          if (epoch === undefined) continue; // another opener inserted first: decide again against its row
          return { owner: { host: this.host, pid: this.pid, epoch: Number(epoch) }, tookOver: undefined };
        }
        const previous = ownerOf(row);
        const reason = row.released
          ? undefined
          : !row.session_alive
            ? 'its database session is gone'
            : row.expired
              ? 'its lease ran out'
              : previous.host === this.host && localProcessGone(previous.pid)
                ? 'its process is gone'
                : null;
        if (reason !== null) {
          const updated = await client.query<{ epoch: string }>(`UPDATE ${S}.owners SET epoch = epoch + 1, ${self} WHERE name = $1 RETURNING epoch`, [
            name,
            this.host,
            this.pid,
            leaseMs,
          ]);
          await client.query('COMMIT');
          const owner = { host: this.host, pid: this.pid, epoch: Number(updated.rows[0]!.epoch) };
          return {
            owner,
            tookOver: reason === undefined ? undefined : { from: { host: previous.host, pid: previous.pid, epoch: previous.epoch }, reason },
          };
        }
        await client.query('COMMIT');
        alive = previous;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new StoreFailedError(name, 'taking ownership', this.where, { cause: error });
      }
      if (Date.now() >= deadline) {
        throw new CheckpointLockedError(`"${name}" (store ${this.where})`, { pid: alive.pid, host: alive.host, since: alive.since });
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Creates (or replaces, usage `never`) the checkpoint row, fenced by the owner's epoch. */
  private async create(client: pg.Client, name: string, identity: JobIdentity, owner: StoreOwner, leaseMs: number): Promise<void> {
    const { S } = this;
    try {
      await client.query('BEGIN');
      const owned = await client.query(
        `UPDATE ${S}.owners SET renewed_at = now(), lease_expires_at = now() + $3::integer * interval '1 millisecond'
         WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING 1`,
        [name, owner.epoch, leaseMs],
      );
      if (owned.rowCount !== 1) {
        await client.query('ROLLBACK');
        throw new OwnershipLostError(name, owner, await this.owner(name));
      }
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
      throw new StoreFailedError(name, 'creating the checkpoint', this.where, { cause: error });
    }
  }

  /** Deletes the checkpoint and releases ownership in one fenced statement (a run that succeeded). */
  private async removeOwned(client: pg.Client, name: string, owner: StoreOwner): Promise<void> {
    const { S } = this;
    let owned: number;
    try {
      const result = await client.query<{ owned: string }>(
        `WITH own AS (UPDATE ${S}.owners SET released_at = now(), backend_pid = NULL WHERE name = $1 AND epoch = $2 AND released_at IS NULL RETURNING name),
         del AS (DELETE FROM ${S}.checkpoints WHERE name = (SELECT name FROM own))
         SELECT count(*) AS owned FROM own`,
        [name, owner.epoch],
      );
      owned = Number(result.rows[0]?.owned ?? 0);
    } catch (error) {
      throw new StoreFailedError(name, 'deleting the checkpoint', this.where, { cause: error });
    }
    if (owned !== 1) throw new OwnershipLostError(name, owner, await this.owner(name));
  }

  /** Releases ownership (the row and its epoch stay). */
  private async release(client: pg.Client, name: string, owner: StoreOwner): Promise<void> {
    await client.query(`UPDATE ${this.S}.owners SET released_at = now(), backend_pid = NULL WHERE name = $1 AND epoch = $2 AND released_at IS NULL`, [
      name,
      owner.epoch,
    ]);
  }

  /** Who owns `name` now (released or not), if anyone ever did. */
  async owner(name: string): Promise<OwnerInfo | undefined> {
    const result = await this.admin.query<RawOwner>(`SELECT ${ownerColumns('o')} FROM ${this.S}.owners o WHERE o.name = $1`, [name]);
    const row = result.rows[0];
    return row === undefined ? undefined : ownerOf(row);
  }

  /** Every checkpoint of the store, by name, with its owner and expiry. */
  async list(options: { readonly olderThanMs?: number } = {}): Promise<StoredCheckpoint[]> {
    const result = await this.admin.query<Record<string, unknown>>(
      `SELECT ${CHECKPOINT_COLUMNS.split(', ')
        .map((c) => `c.${c}`)
        .join(', ')}, o.name AS owner_name, ${ownerColumns('o')}
       FROM ${this.S}.checkpoints c LEFT JOIN ${this.S}.owners o ON o.name = c.name ORDER BY c.name`,
    );
    return result.rows.map((raw) => {
      const row = checkpointRowOf(raw as unknown as Parameters<typeof checkpointRowOf>[0]);
      const effectiveRetentionMs = options.olderThanMs ?? row.retentionMs ?? DEFAULT_RETENTION_MS;
      return {
        ...row,
        effectiveRetentionMs,
        expiresAt: row.updatedAt + effectiveRetentionMs,
        owner: raw['owner_name'] === null ? undefined : ownerOf(raw as unknown as RawOwner),
      };
    });
  }

  /** Reads a checkpoint: its row, owner and folded state (undefined when there is none). */
  async inspect(
    name: string,
    options: { readonly reducers?: readonly ExtensionReducer[] } = {},
  ): Promise<{ readonly checkpoint: CheckpointRow; readonly owner: OwnerInfo | undefined; readonly reading: StoreReading } | undefined> {
    const checkpoint = await readCheckpointRow(this.admin, this.url.schema, name);
    if (checkpoint === undefined) return undefined;
    const reading = await readStoreLog(this.admin, this.url.schema, name, new Fold(options.reducers ?? []));
    return { checkpoint, owner: await this.owner(name), reading };
  }

  /** Every entry of a checkpoint's log, in order (snapshot first when compacted). Undefined when there is no such checkpoint. */
  async events(name: string, options: { readonly reducers?: readonly ExtensionReducer[] } = {}): Promise<LogEntry[] | undefined> {
    const checkpoint = await readCheckpointRow(this.admin, this.url.schema, name);
    if (checkpoint === undefined) return undefined;
    const entries: LogEntry[] = [];
    await readStoreLog(this.admin, this.url.schema, name, new Fold(options.reducers ?? []), (entry) => entries.push(entry));
    return entries;
  }

  /**
   * Removes the checkpoints whose retention ran out (`olderThanMs` overrides every retention),
   * except those a live owner holds. A checkpoint written since it was listed is kept.
   */
  async prune(options: { readonly olderThanMs?: number; readonly now?: () => number; readonly dryRun?: boolean } = {}): Promise<StorePruneReport> {
    const now = (options.now ?? Date.now)();
    const all = await this.list(options.olderThanMs !== undefined ? { olderThanMs: options.olderThanMs } : {});
    const removed: StoredCheckpoint[] = [];
    const skipped: { name: string; reason: string }[] = [];
    let kept = 0;
    for (const checkpoint of all) {
      if (checkpoint.expiresAt > now) {
        kept++;
        continue;
      }
      const owner = checkpoint.owner;
      if (owner !== undefined && !owner.released && owner.sessionAlive && owner.leaseExpiresAt > now) {
        skipped.push({ name: checkpoint.name, reason: `owned by ${owner.host} pid ${owner.pid} (epoch ${owner.epoch}), which is running` });
        continue;
      }
      if (options.dryRun) {
        removed.push(checkpoint);
        continue;
      }
      // Only if nobody wrote since it was listed, and nobody live owns it now.
      const result = await this.admin.query(
        `DELETE FROM ${this.S}.checkpoints c WHERE c.name = $1 AND c.updated_at = $2
           AND NOT EXISTS (SELECT 1 FROM ${this.S}.owners o WHERE o.name = c.name AND o.released_at IS NULL AND o.lease_expires_at > now()
             AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = o.backend_pid))`,
        [checkpoint.name, new Date(checkpoint.updatedAt)],
      );
      if (result.rowCount === 1) removed.push(checkpoint);
      else skipped.push({ name: checkpoint.name, reason: 'it was written or taken over while pruning' });
    }
    return { removed, skipped, kept };
  }

  /** Deletes a checkpoint whatever its state (not while a live owner holds it). True when one was deleted. */
  async delete(name: string): Promise<boolean> {
    const owner = await this.owner(name);
    if (owner !== undefined && !owner.released && owner.sessionAlive && owner.leaseExpiresAt > Date.now()) {
      throw new CheckpointLockedError(`"${name}" (store ${this.where})`, { pid: owner.pid, host: owner.host, since: owner.since });
    }
    const result = await this.admin.query(`DELETE FROM ${this.S}.checkpoints WHERE name = $1`, [name]);
    return result.rowCount === 1;
  }

  /**
   * Every byte the store holds for ckpt, raw (bytea as its bytes, not hex): what a test greps to
   * show that nothing is in clear that a checkpoint file would not hold.
   */
  async dumpRaw(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (const table of ['schema_version', 'checkpoints', 'owners', 'events', 'snapshots']) {
      const result = await this.admin.query<Record<string, unknown>>(`SELECT * FROM ${this.S}.${table}`);
      for (const row of result.rows) {
        for (const value of Object.values(row)) {
          parts.push(Buffer.isBuffer(value) ? value : Buffer.from(value instanceof Date ? value.toISOString() : String(value)), Buffer.from('\n'));
        }
      }
    }
    return Buffer.concat(parts);
  }
}

function memoryCheckpoint(
  name: string,
  identity: JobIdentity,
  fold: Fold,
  start: CheckpointState,
  resumed: boolean,
  release: () => Promise<void>,
): StoreCheckpoint {
  const log = new MemoryLog(fold, start);
  return {
    path: name,
    identity,
    resumed,
    replaced: false,
    startState: cloneState(start),
    log,
    recovery: undefined,
    saving: false,
    owner: undefined,
    tookOver: undefined,
    close: async () => {
      await log.close();
      await release().catch(() => undefined);
      return { removed: false };
    },
  };
}
