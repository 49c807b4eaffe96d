/**
 * Opening a checkpoint in the store for a run: core's usage/save rules for files (refusals before
 * anything is written), then ownership, then the fenced log. Apart from store.ts because it is the
 * one path that writes; the store's other verbs only read, prune or delete.
 */
import {
  CheckpointNotFoundError,
  CheckpointUsage,
  Fold,
  IdentityMismatchError,
  InvalidInputError,
  memoryCheckpoint,
  cloneState,
  sameIdentity,
  type Durability,
  type ExtensionReducer,
  type OpenCheckpointOptions,
  type OpenedCheckpoint,
} from '@ckpt/core/internal';
import type pg from 'pg';
import { connectClient } from './connect.js';
import { OwnershipLostError, type StoreOwner } from './errors.js';
import { DEFAULT_LEASE_MS, acquire, createCheckpointRow, release, removeOwned, type OwnerInfo } from './ownership.js';
import { PgLog } from './pg-log.js';
import { readCheckpointRow, readStoreLog, type StoreReading } from './read.js';
import type { StoreUrl } from './url.js';

/** Recorded in each run's epoch entry, so that a reader knows which program wrote the log. */
const WRITER = '@ckpt/postgres/1';

/**
 * Options of `PostgresStore.connect`. Declared here, not in store.ts, because most of them are
 * the environment every open inherits (reducers, durability, compaction, clock), and store.ts
 * imports this module: the other way round would be an import cycle.
 */
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

/**
 * What an open needs of its {@link PostgresStore}: its connection settings, its read connection
 * and its schema checks. A handle rather than the class, so that this module does not import
 * store.ts (which imports it).
 */
export interface StoreHandle {
  readonly url: StoreUrl;
  /** The store's read connection; the opened checkpoint writes on a connection of its own. */
  readonly admin: pg.Client;
  /** `host:port` of the server, for messages. */
  readonly where: string;
  readonly host: string;
  readonly pid: number;
  readonly options: PostgresStoreOptions;
  /** Whether the schema exists (a store without one has no checkpoint). */
  hasSchema(): Promise<boolean>;
  /** Creates or upgrades the schema before the first write, or refuses saying who may. */
  ready(): Promise<void>;
  /** The current owner row of `name`, for the message of a lost ownership. */
  owner(name: string): Promise<OwnerInfo | undefined>;
}

/**
 * Opens checkpoint `name` for a run, applying the usage/save rules of files: refusals (not
 * found, identity mismatch, a live owner, the checkState hook) happen before anything is
 * written. Saving, or reading an existing checkpoint, takes ownership: a live owner refuses
 * (after `waitMs`), a dead or expired one is taken over with the next epoch.
 */
export async function openCheckpoint(store: StoreHandle, options: StoreOpenOptions): Promise<StoreCheckpoint> {
  const { name, identity, usage, save } = options;
  if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('a checkpoint in a store needs a non-empty name');
  const environment = store.options;
  const fold = new Fold([...(environment.reducers ?? []), ...(options.reducers ?? [])]);
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) throw new InvalidInputError(`lease ${leaseMs} ms is too short: use at least 100 ms`);
  const claim = options.owner ?? { host: store.host, pid: store.pid };
  // A store without the schema yet has no checkpoint; refusals create nothing, not even the schema.
  const existing = !(await store.hasSchema()) ? undefined : await readCheckpointRow(store.admin, store.url.schema, name);
  if (usage === CheckpointUsage.Always && existing === undefined) throw new CheckpointNotFoundError(name);
  if (!save && (usage === CheckpointUsage.Never || existing === undefined)) {
    return { ...memoryCheckpoint(name, identity, fold, fold.initial(), false), tookOver: undefined };
  }
  // The identity is checked before ownership is taken (a refusal changes nothing), and again under it.
  if (existing !== undefined && !sameIdentity(existing.identity, identity)) throw new IdentityMismatchError(name, existing.identity, identity);
  await store.ready();

  const client = await connectClient(store.url, store.options.applicationName);
  let owner: StoreOwner | undefined;
  try {
    const acquired = await acquire(client, store.url.schema, store.where, name, claim, leaseMs, options.waitMs ?? 0);
    owner = acquired.owner;
    const row = await readCheckpointRow(client, store.url.schema, name);
    if (usage === CheckpointUsage.Always && row === undefined) throw new CheckpointNotFoundError(name);
    if (row !== undefined && !sameIdentity(row.identity, identity)) throw new IdentityMismatchError(name, row.identity, identity);
    if (!save) {
      const reading = await readStoreLog(client, store.url.schema, name, fold);
      options.checkState?.(reading.state);
      const held = owner;
      return {
        ...memoryCheckpoint(name, identity, fold, reading.state, true, () =>
          release(client, store.url.schema, name, held)
            .finally(() => client.end())
            .catch(() => undefined),
        ),
        owner: { ...owner, since: Date.now(), leaseExpiresAt: Date.now() + leaseMs, state: 'live' },
        tookOver: acquired.tookOver,
      };
    }
    const resume = row !== undefined && usage !== CheckpointUsage.Never;
    let reading: StoreReading;
    if (resume) {
      reading = await readStoreLog(client, store.url.schema, name, fold);
      options.checkState?.(reading.state);
    } else {
      await createCheckpointRow(client, store.url.schema, store.where, name, identity, owner, leaseMs, () => store.owner(name));
      reading = { state: cloneState(fold.initial()), epoch: 0, lastSeq: 0, snapshotBytes: 0, tailBytes: 0 };
    }
    const self = owner;
    const log = new PgLog({
      client,
      reader: store.admin,
      schema: store.url.schema,
      name,
      where: store.where,
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
      currentOwner: () => store.owner(name),
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
            await removeOwned(client, store.url.schema, store.where, name, self, () => store.owner(name));
            return { removed: true };
          }
          if (!(log.failed instanceof OwnershipLostError)) await release(client, store.url.schema, name, self).catch(() => undefined);
          return { removed: false };
        } finally {
          log.stopRenewing();
          await client.end().catch(() => undefined);
        }
      },
    };
  } catch (error) {
    if (owner !== undefined) await release(client, store.url.schema, name, owner).catch(() => undefined);
    await client.end().catch(() => undefined);
    throw error;
  }
}
