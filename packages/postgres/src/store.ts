import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  CheckpointLockedError,
  CheckpointNotFoundError,
  CheckpointUsage,
  Fold,
  IdentityMismatchError,
  InvalidInputError,
  MemoryLog,
  cloneState,
  sameIdentity,
  expiryOf,
  type CheckpointOwner,
  type CheckpointReading,
  type CheckpointState,
  type CheckpointStore,
  type ConnectStoreOptions,
  type Durability,
  type ExtensionReducer,
  type JobIdentity,
  type ListedCheckpoint,
  type ListOptions,
  type LogEntry,
  type OpenCheckpointOptions,
  type OpenedCheckpoint,
  type PruneReport,
  type PrunedCheckpoint,
  type PruneSkip,
  type ReadCheckpointOptions,
  type StoreInitReport,
  type StorePruneOptions,
} from '@ckpt/core/internal';
import type pg from 'pg';
import { connectClient } from './connect.js';
import { OwnershipLostError, StoreCorruptError, StoreFailedError, StoreSchemaError, type StoreOwner } from './errors.js';
import { PgLog } from './pg-log.js';
import { checkpointColumns, checkpointRowOf, readCheckpointRow, readStoreLog, type CheckpointRow, type StoreReading } from './read.js';
import { migrate, quoteIdent, SCHEMA_VERSION, schemaVersion, type MigrationReport } from './schema.js';
import { parseStoreUrl, redact, type StoreUrl } from './url.js';

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
  /** The owner's host name when an open names none (default `$CKPT_HOST`, else the host name). */
  readonly host?: string;
  /** The owner's pid when an open names none (default this process's). */
  readonly pid?: number;
  /** Create or upgrade the schema when it is missing or older (default true; `ckpt store init` does it explicitly). */
  readonly migrate?: boolean;
  /** The sessions' `application_name` (default `ckpt HOST pid PID`), shown in pg_stat_activity. */
  readonly applicationName?: string;
  /** Bound on connecting, ms (default the URL's `connect_timeout`, else 10 s). */
  readonly connectTimeoutMs?: number;
  /** Reducers added to every open's and read's. */
  readonly reducers?: readonly ExtensionReducer[];
  readonly now?: () => number;
  /** Default durability of appends (default `durable`). */
  readonly durability?: Durability;
  /** Snapshot once the records after the last one exceed `minBytes` and twice its size (default 256 KiB); false keeps every row. */
  readonly compaction?: { readonly minBytes: number } | false;
}

/** How a checkpoint is opened: the port's options, plus a test hook. */
export interface StoreOpenOptions extends OpenCheckpointOptions {
  /** Renewal period (default leaseMs / 3; 0 never renews: for tests of a paused owner). */
  readonly renewEveryMs?: number;
}

/** A checkpoint opened in the store: core's {@link OpenedCheckpoint}, plus whom it was taken over from. */
export interface StoreCheckpoint extends OpenedCheckpoint {
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
 * The adapter entry the CLI loads (`StoreAdapterModule`): connects to the store at `url`
 * (`?schema=NAME`, default `ckpt`), refusing an unreachable or misconfigured one with code
 * `invalid` naming host and port, never its password.
 */
export function connectStore(url: string, options: ConnectStoreOptions & PostgresStoreOptions = {}): Promise<PostgresStore> {
  return PostgresStore.connect(url, options);
}

/** The port's view of an owner row: undefined when nobody holds it (released). */
export function portOwner(info: OwnerInfo | undefined): CheckpointOwner | undefined {
  if (info === undefined || info.released) return undefined;
  const state = !info.sessionAlive ? 'stale' : info.leaseExpiresAt <= Date.now() ? 'expired' : 'live';
  return { host: info.host, pid: info.pid, since: info.since, epoch: info.epoch, leaseExpiresAt: info.leaseExpiresAt, state };
}

/**
 * A PostgreSQL checkpoint store, the adapter of core's {@link CheckpointStore} port:
 * checkpoints named by key, one owner at a time with leases and fencing, the log as rows.
 * {@link PostgresStore.open} has core's openCheckpoint rules (usage, save, identity, delete on
 * success). docs/shared-store.md describes the schema and the rules.
 */
export class PostgresStore implements CheckpointStore {
  private closed = false;
  /** The schema's version when connected; reads of a store without a schema find no checkpoint. */
  private version: number;

  private constructor(
    readonly url: StoreUrl,
    /** For reads (list, inspect, events, replays); owners write on connections of their own. */
    private readonly admin: pg.Client,
    readonly host: string,
    readonly pid: number,
    private readonly options: PostgresStoreOptions,
    version: number,
    /** For messages: the URL, its password masked. */
    readonly description: string,
  ) {
    this.version = version;
  }

  /** `host:port` of the server, for messages. */
  get where(): string {
    return `${this.url.host}:${this.url.port}`;
  }

  private get S(): string {
    return quoteIdent(this.url.schema);
  }

  /**
   * Connects (refused with {@link StoreUnreachableError} naming host and port within the
   * connect timeout) and checks the schema: one newer than this program is refused; a missing
   * or older one is created or upgraded at the first open (when the role may), or by
   * {@link PostgresStore.init}.
   */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const given = parseStoreUrl(url);
    const parsed = options.connectTimeoutMs !== undefined ? { ...given, connectTimeoutMs: options.connectTimeoutMs } : given;
    const host = options.host ?? (process.env['CKPT_HOST'] || hostname());
    const pid = options.pid ?? process.pid;
    const applicationName = options.applicationName ?? `ckpt ${host} pid ${pid}`;
    const admin = await connectClient(parsed, applicationName);
    let version: number;
    try {
      version = await schemaVersion(admin, parsed.schema);
      if (version > SCHEMA_VERSION) await migrate(admin, parsed.schema); // refuses, naming both versions
    } catch (error) {
      await admin.end().catch(() => undefined);
      throw error;
    }
    return new PostgresStore(parsed, admin, host, pid, { ...options, applicationName }, version, redact(url));
  }

  /** Creates or upgrades the schema (idempotent): `ckpt store init URL`. */
  async init(): Promise<StoreInitReport> {
    const report = await migrate(this.admin, this.url.schema);
    this.version = report.to;
    return { where: `schema "${report.schema}" of database "${this.url.database}" at ${this.where}`, fromVersion: report.from, toVersion: report.to };
  }

  /**
   * Whether the schema exists. A handle connected before another process created the schema
   * looks again (two workers starting together on a fresh database), until it finds one.
   */
  private async hasSchema(): Promise<boolean> {
    if (this.version === 0) this.version = await schemaVersion(this.admin, this.url.schema);
    return this.version !== 0;
  }

  /** The schema, created or upgraded before the first write (when the role may; else a refusal saying who may). */
  private async ready(): Promise<void> {
    if (this.version === SCHEMA_VERSION) return;
    if (this.options.migrate === false) {
      throw new StoreSchemaError(`the store's schema "${this.url.schema}" is at version ${this.version}, this program needs ${SCHEMA_VERSION}`, {
        hint: 'run "ckpt store init URL" to create or upgrade it',
      });
    }
    this.version = (await migrate(this.admin, this.url.schema)).to;
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
  async open(options: StoreOpenOptions): Promise<StoreCheckpoint> {
    const { name, identity, usage, save } = options;
    if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('a checkpoint in a store needs a non-empty name');
    const environment = this.options;
    const fold = new Fold([...(environment.reducers ?? []), ...(options.reducers ?? [])]);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) throw new InvalidInputError(`lease ${leaseMs} ms is too short: use at least 100 ms`);
    const claim = options.owner ?? { host: this.host, pid: this.pid };
    // A store without the schema yet has no checkpoint; refusals create nothing, not even the schema.
    const existing = !(await this.hasSchema()) ? undefined : await readCheckpointRow(this.admin, this.url.schema, name);
    if (usage === CheckpointUsage.Always && existing === undefined) throw new CheckpointNotFoundError(name);
    if (!save && (usage === CheckpointUsage.Never || existing === undefined)) {
      return memoryCheckpoint(name, identity, fold, fold.initial(), false, async () => undefined);
    }
    // The identity is checked before ownership is taken (a refusal changes nothing), and again under it.
    if (existing !== undefined && !sameIdentity(existing.identity, identity)) throw new IdentityMismatchError(name, existing.identity, identity);
    await this.ready();

    const client = await connectClient(this.url, this.options.applicationName);
    let owner: StoreOwner | undefined;
    try {
      const acquired = await this.acquire(client, name, claim, leaseMs, options.waitMs ?? 0);
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
          owner: { ...owner, since: Date.now(), leaseExpiresAt: Date.now() + leaseMs, state: 'live' },
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
        owner: { ...owner, since: Date.now(), leaseExpiresAt: Date.now() + leaseMs, state: 'live' },
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
    claim: { readonly host: string; readonly pid: number },
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
         del AS (DELETE FROM ${S}.checkpoints WHERE name = (SELECT name FROM own)),
         de AS (DELETE FROM ${S}.events WHERE name = (SELECT name FROM own)),
         ds AS (DELETE FROM ${S}.snapshots WHERE name = (SELECT name FROM own))
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
    if (!(await this.hasSchema())) return undefined;
    const result = await this.admin.query<RawOwner>(`SELECT ${ownerColumns('o')} FROM ${this.S}.owners o WHERE o.name = $1`, [name]);
    const row = result.rows[0];
    return row === undefined ? undefined : ownerOf(row);
  }

  /** The rows of the checkpoints whose name starts with `under` (all by default), in name order. */
  private async rows(under: string | undefined): Promise<CheckpointRow[]> {
    if (!(await this.hasSchema())) return [];
    const result = await this.admin.query<Parameters<typeof checkpointRowOf>[0]>(
      `SELECT ${checkpointColumns(this.S)} FROM ${this.S}.checkpoints c WHERE left(c.name, length($1)) = $1 ORDER BY c.name COLLATE "C"`,
      [under ?? ''],
    );
    return result.rows.map(checkpointRowOf);
  }

  /**
   * Reads a checkpoint for viewing (no ownership taken). Missing: code `invalid`; damage: code
   * `corrupt`, unless `salvage`, which returns the entries before it. Entry offsets are seqs.
   */
  async read(name: string, options: ReadCheckpointOptions = {}): Promise<CheckpointReading> {
    const row = !(await this.hasSchema()) ? undefined : await readCheckpointRow(this.admin, this.url.schema, name);
    if (row === undefined) {
      throw new InvalidInputError(`checkpoint "${name}" is not in the store ${this.description}`, {
        hint: 'ckpt list --store URL lists the checkpoints of a store; a checkpoint is deleted when its job succeeds',
      });
    }
    const fold = new Fold([...(this.options.reducers ?? []), ...(options.reducers ?? [])], 'count');
    const entries: LogEntry[] | undefined = options.withEntries === true || options.salvage === true ? [] : undefined;
    const owner = portOwner(await this.owner(name));
    const common = {
      name,
      identity: row.identity,
      createdAt: row.createdAt,
      lastWriteAt: row.updatedAt,
      ...(owner !== undefined && { owner }),
    };
    let reading: StoreReading;
    try {
      reading = await readStoreLog(this.admin, this.url.schema, name, fold, entries && ((entry) => entries.push(entry)));
    } catch (error) {
      if (!(error instanceof StoreCorruptError) || options.salvage !== true) throw error;
      return {
        ...common,
        state: cloneState(fold.initial()),
        epoch: 0,
        entries: entries ?? [],
        damage: { offset: error.seq, reason: error.reason, error },
      };
    }
    return {
      ...common,
      state: reading.state,
      epoch: reading.epoch,
      ...(entries !== undefined && { entries }),
      sizeBytes: reading.snapshotBytes + reading.tailBytes,
    };
  }

  /** Every checkpoint whose name starts with `under`, in name order, with its owner; one that cannot be read is listed with its problem. */
  async *list(options: ListOptions = {}): AsyncIterable<ListedCheckpoint> {
    for (const row of await this.rows(options.under)) {
      try {
        const reading = await this.read(row.name, options.reducers !== undefined ? { reducers: options.reducers } : {});
        yield { name: row.name, reading, ...(reading.owner !== undefined && { owner: reading.owner }) };
      } catch (error) {
        const owner = portOwner(await this.owner(row.name).catch(() => undefined));
        yield {
          name: row.name,
          ...(owner !== undefined && { owner }),
          problem: (error instanceof Error ? error.message : String(error)).split('\n')[0]!,
        };
      }
    }
  }

  /**
   * Removes the checkpoints whose retention ran out (their last attempt's, default 30 days, or
   * `olderThanMs`), except those a live owner holds. A checkpoint written or taken since it was
   * read is kept (the delete is conditioned on its last seq and on no live owner).
   */
  async prune(options: StorePruneOptions = {}): Promise<PruneReport> {
    const now = (this.options.now ?? Date.now)();
    const removed: PrunedCheckpoint[] = [];
    const skipped: PruneSkip[] = [];
    let kept = 0;
    for (const row of await this.rows(options.under)) {
      let reading: CheckpointReading;
      try {
        reading = await this.read(row.name, options.reducers !== undefined ? { reducers: options.reducers } : {});
      } catch (error) {
        skipped.push({ path: row.name, reason: (error instanceof Error ? error.message : String(error)).split('\n')[0]! });
        continue;
      }
      const { retentionMs, expiresAt } = expiryOf(reading.lastWriteAt, reading, options.olderThanMs);
      if (expiresAt > now) {
        kept++;
        continue;
      }
      if (reading.owner?.state === 'live') {
        skipped.push({ path: row.name, reason: `it is owned by pid ${reading.owner.pid} on host ${reading.owner.host}, which is running` });
        continue;
      }
      const pruned: PrunedCheckpoint = {
        path: row.name,
        identity: reading.identity,
        lastWriteMs: reading.lastWriteAt,
        retentionMs,
        removed: [row.name],
        bytes: reading.sizeBytes ?? 0,
      };
      if (options.dryRun === true) {
        removed.push(pruned);
        continue;
      }
      const result = await this.admin.query<{ deleted: string }>(
        `WITH c AS (
           DELETE FROM ${this.S}.checkpoints c WHERE c.name = $1
             AND GREATEST(c.snapshot_seq, (SELECT max(e.seq) FROM ${this.S}.events e WHERE e.name = c.name)) = $2
             AND NOT EXISTS (SELECT 1 FROM ${this.S}.owners o WHERE o.name = c.name AND o.released_at IS NULL AND o.lease_expires_at > now()
               AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = o.backend_pid))
           RETURNING name),
         e AS (DELETE FROM ${this.S}.events WHERE name IN (SELECT name FROM c)),
         s AS (DELETE FROM ${this.S}.snapshots WHERE name IN (SELECT name FROM c))
         SELECT count(*) AS deleted FROM c`,
        [row.name, row.lastSeq],
      );
      if (Number(result.rows[0]?.deleted ?? 0) === 1) removed.push(pruned);
      else skipped.push({ path: row.name, reason: 'it was written or taken over while pruning' });
    }
    return { removed, skipped, kept };
  }

  /**
   * Deletes a checkpoint whatever its age, taking ownership first: a live owner refuses it
   * (`locked`). False when there is none.
   */
  async delete(name: string): Promise<boolean> {
    if (!(await this.hasSchema()) || (await readCheckpointRow(this.admin, this.url.schema, name)) === undefined) return false;
    const client = await connectClient(this.url, this.options.applicationName);
    try {
      const { owner } = await this.acquire(client, name, { host: this.host, pid: this.pid }, DEFAULT_LEASE_MS, 0);
      const existed = (await readCheckpointRow(client, this.url.schema, name)) !== undefined;
      await this.removeOwned(client, name, owner);
      return existed;
    } finally {
      await client.end().catch(() => undefined);
    }
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
    tookOver: undefined,
    close: async () => {
      await log.close();
      await release().catch(() => undefined);
      return { removed: false };
    },
  };
}
