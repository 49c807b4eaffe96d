/**
 * The store handle: connecting and the schema's version, then the verbs that only read (read,
 * list, owner), prune and delete. Opening for a run is in open.ts and the ownership rules in
 * ownership.ts; this module wires them to the handle's connections.
 */
import { hostname } from 'node:os';
import {
  Fold,
  InvalidInputError,
  cloneState,
  expiryOf,
  type CheckpointReading,
  type CheckpointStore,
  type ConnectStoreOptions,
  type ListedCheckpoint,
  type ListOptions,
  type LogEntry,
  type PruneReport,
  type PrunedCheckpoint,
  type PruneSkip,
  type ReadCheckpointOptions,
  type StoreInitReport,
  type StorePruneOptions,
} from '@ckpt/core/internal';
import type pg from 'pg';
import { connectClient } from './connect.js';
import { StoreCorruptError, StoreSchemaError } from './errors.js';
import { openCheckpoint, type PostgresStoreOptions, type StoreCheckpoint, type StoreOpenOptions } from './open.js';
import { DEFAULT_LEASE_MS, acquire, portOwner, readOwner, removeOwned, type OwnerInfo } from './ownership.js';
import { checkpointColumns, checkpointRowOf, readCheckpointRow, readStoreLog, type CheckpointRow, type StoreReading } from './read.js';
import { migrate, quoteIdent, SCHEMA_VERSION, schemaVersion, type MigrationReport } from './schema.js';
import { parseStoreUrl, redact, type StoreUrl } from './url.js';

// The public names moved to open.ts and ownership.ts stay importable from here, as index.ts and the tests do.
export { DEFAULT_LEASE_MS, portOwner } from './ownership.js';
export type { OwnerInfo } from './ownership.js';
export type { PostgresStoreOptions, StoreCheckpoint, StoreOpenOptions } from './open.js';

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
   * (after `waitMs`), a dead or expired one is taken over with the next epoch. See open.ts.
   */
  async open(options: StoreOpenOptions): Promise<StoreCheckpoint> {
    // A handle of closures rather than `this`: the schema checks stay private to the class.
    return openCheckpoint(
      {
        url: this.url,
        admin: this.admin,
        where: this.where,
        host: this.host,
        pid: this.pid,
        options: this.options,
        hasSchema: () => this.hasSchema(),
        ready: () => this.ready(),
        owner: (name) => this.owner(name),
      },
      options,
    );
  }

  /** Who owns `name` now (released or not), if anyone ever did. */
  async owner(name: string): Promise<OwnerInfo | undefined> {
    if (!(await this.hasSchema())) return undefined;
    return readOwner(this.admin, this.url.schema, name);
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
      const { owner } = await acquire(client, this.url.schema, this.where, name, { host: this.host, pid: this.pid }, DEFAULT_LEASE_MS, 0);
      const existed = (await readCheckpointRow(client, this.url.schema, name)) !== undefined;
      await removeOwned(client, this.url.schema, this.where, name, owner, () => this.owner(name));
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
