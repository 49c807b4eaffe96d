/**
 * The store port: "where a checkpoint lives", as one interface. The engine, both runners and
 * every CLI verb work through a {@link CheckpointStore}; none of them knows which adapter it
 * has. Adapters: {@link FileStore} in core (one log file per checkpoint, the default) and
 * `@ckpt/postgres` (rows in a PostgreSQL schema, for jobs that move between machines).
 *
 * What every adapter shares and must not re-implement: the fold (`Fold`, pure), the events and
 * their sealing, the usage × save rules below, and the errors of `errors.ts` with their codes
 * (the CLI maps codes to exit codes in one place). The store contract suite
 * (`@ckpt/testkit/store-contract`) checks an adapter against every guarantee written here.
 */
import type { ExtensionReducer } from '../fold/fold.js';
import type { CheckpointState } from '../fold/state.js';
import type { JobIdentity } from '../log/identity.js';
import type { LogEntry, TailTruncation } from '../log/read-log.js';
import type { CheckpointUsage, OpenedCheckpoint } from './checkpoint-store.js';
import type { CompanionFiles, PruneReport } from './prune.js';

/**
 * How the current owner of a checkpoint looks from here:
 * - `live`: it is running (a process of this host that exists, or a store owner whose session
 *   is open and whose lease has not run out);
 * - `stale`: it is gone (a dead process of this host, a closed store session): the next open
 *   takes over at once;
 * - `expired`: a store owner whose lease ran out without being renewed: the next open takes over;
 * - `remote`: a file lock held by a process of another host, which cannot be checked from here;
 * - `unknown`: a lock or owner record that cannot be read (`problem` says why).
 */
export type OwnerState = 'live' | 'stale' | 'expired' | 'remote' | 'unknown';

/** Who owns (or last owned) a checkpoint, the same shape for every adapter. */
export interface CheckpointOwner {
  readonly host: string;
  readonly pid: number;
  /** When this owner took the checkpoint, ms since the epoch. */
  readonly since: number;
  /** The ownership epoch (stores with fencing): each takeover increments it. */
  readonly epoch?: number;
  /** When the lease runs out unless renewed, ms since the epoch (stores with leases). */
  readonly leaseExpiresAt?: number;
  readonly state: OwnerState;
  /** Why the state is `unknown`, or anything else a person should know about this owner. */
  readonly problem?: string;
}

/** The process that asks to own a checkpoint: the CLI takes `host` from `$CKPT_HOST`, else the host name. */
export interface OwnerClaim {
  readonly host: string;
  readonly pid: number;
}

/** What {@link CheckpointStore.open} needs: which checkpoint, for which job, and how it is used. */
export interface OpenCheckpointOptions {
  /**
   * The checkpoint's name in this store: a file path for {@link FileStore} (resolved there), a
   * key for a shared store (`checkpoint.file` or `--checkpoint-file` as given, else the package id).
   */
  readonly name: string;
  readonly identity: JobIdentity;
  readonly usage: CheckpointUsage;
  /** Whether progress is written (SSIS SaveCheckpoints). */
  readonly save: boolean;
  /** Reducers of the runner's event namespaces, added to the core fold. */
  readonly reducers?: readonly ExtensionReducer[];
  /** Called with an existing checkpoint's state before anything is written; throw to refuse. */
  readonly checkState?: (state: CheckpointState) => void;
  /** Who asks (default: this process on this host). Recorded as the owner and in the writer session. */
  readonly owner?: OwnerClaim;
  /**
   * How long ownership lasts without renewal, in ms (stores with leases; default 30 s). The
   * store renews it in the background while the checkpoint is open; a file lock ignores it.
   */
  readonly leaseMs?: number;
  /**
   * How long to wait for a live owner to finish before refusing, in ms (default 0: refuse at
   * once). `Infinity` waits as long as the owner lives (`ckpt run --wait` without a duration).
   */
  readonly waitMs?: number;
  /** Files only: the user named this path, so a symbolic link there is followed (see CheckpointOptions.followLink). */
  readonly followLink?: boolean;
}

/** Options of {@link CheckpointStore.read}. */
export interface ReadCheckpointOptions {
  /** Reducers for runner namespaces; events of namespaces without one are counted, not refused. */
  readonly reducers?: readonly ExtensionReducer[];
  /** Return every entry in order (`ckpt events`, the timeline). */
  readonly withEntries?: boolean;
  /**
   * On a damaged checkpoint, return the entries before the damage with {@link CheckpointReading.damage}
   * set, instead of throwing (`ckpt events`). Implies `withEntries`.
   */
  readonly salvage?: boolean;
}

/** A damage a reader stopped at. */
export interface CheckpointDamage {
  /** Where: a byte offset for a file, a sequence number for a store. */
  readonly offset: number;
  readonly reason: string;
  /** The error a plain read throws for it (code `corrupt`). */
  readonly error: Error;
}

/** A checkpoint as read for viewing: no owner taken, nothing changed. */
export interface CheckpointReading {
  /** The checkpoint's name in its store (a file's path as given). */
  readonly name: string;
  readonly identity: JobIdentity;
  /** When the checkpoint was created, ms since the epoch. */
  readonly createdAt: number;
  /** The last write (a file's mtime, a store's last committed append), ms since the epoch. */
  readonly lastWriteAt: number;
  /** The folded state (empty when `damage` is set). */
  readonly state: CheckpointState;
  /** Highest writer session (epoch) recorded, 0 when none. */
  readonly epoch: number;
  /** Every entry in order, when asked for. For a store, `offset` is the sequence number. */
  readonly entries?: readonly LogEntry[];
  /** The current owner; undefined when nobody holds it. */
  readonly owner?: CheckpointOwner;
  /** Bytes (or an estimate) the checkpoint takes in its store. */
  readonly sizeBytes?: number;
  /** Files: bytes of torn tail after the last valid record, and why (the next writer truncates them). */
  readonly tail?: { readonly bytes: number; readonly offset: number; readonly reason: string };
  /** Files: tails truncated by recovery, recorded by the writer sessions since the last compaction. */
  readonly truncatedTails?: readonly TailTruncation[];
  /**
   * Only with `salvage`: the damage the reading stopped at. `entries` are then those before it,
   * and `identity`, `state` and `epoch` are placeholders (nothing past the damage was folded).
   */
  readonly damage?: CheckpointDamage;
}

/** One row of {@link CheckpointStore.list}: a checkpoint, or something that could not be read, with its problem. */
export interface ListedCheckpoint {
  readonly name: string;
  /** Undefined when `problem` says why it could not be read. */
  readonly reading?: CheckpointReading;
  /** The owner, also when the checkpoint itself could not be read. */
  readonly owner?: CheckpointOwner;
  readonly problem?: string;
}

/** Options of {@link CheckpointStore.list}. */
export interface ListOptions {
  /** Files: the folder searched, recursively (default `.`). Stores: a name prefix (default: all). */
  readonly under?: string;
  readonly reducers?: readonly ExtensionReducer[];
}

/** Options of {@link CheckpointStore.prune}. */
export interface StorePruneOptions {
  /** Files: the folder searched (required for files). Stores: a name prefix (default: all). */
  readonly under?: string;
  /** Remove checkpoints last written longer ago than this (ms), whatever their own retention. */
  readonly olderThanMs?: number;
  readonly dryRun?: boolean;
  readonly reducers?: readonly ExtensionReducer[];
  /** Files that go with a checkpoint of a runner kind (a partial transfer's data). */
  readonly companions?: ReadonlyMap<string, CompanionFiles>;
}

/** What `ckpt store init` reports. */
export interface StoreInitReport {
  /** Where the store keeps its data (a schema name). */
  readonly where: string;
  /** Schema version before (0: created now) and after. */
  readonly fromVersion: number;
  readonly toVersion: number;
}

/**
 * Where checkpoints live. Every method's refusals are `CkptError`s with the codes of
 * `errors.ts`; a refusal changes nothing in the store.
 */
export interface CheckpointStore {
  /** For messages: `files`, or the store's URL with its password masked. */
  readonly description: string;

  /**
   * Opens a named checkpoint for a run, applying usage × save (docs/restart-semantics.md):
   * - usage `always` and no checkpoint: `CheckpointNotFoundError` (code `not-found`);
   * - an existing checkpoint of another identity: `IdentityMismatchError` (`mismatch`), checked
   *   before ownership is taken and again under it;
   * - damage recovery may not repair: `CorruptCheckpointError` (`corrupt`);
   * - a live owner (after `waitMs`): `CheckpointLockedError` (`locked`) naming its host and pid;
   *   a stale owner (dead process, closed session) or an expired lease is taken over at once;
   * - `checkState` throwing: that error;
   * - a store that cannot be reached or used: code `invalid` (exit 2), naming host and port.
   * Every refusal happens before anything is written: the checkpoint is as it was.
   *
   * Save off: nothing is ever written; with usage `if-exists`/`always` the existing state is
   * read (under ownership) and events fold in memory. Save on: the returned `log` is durable:
   * `append(…, { durability: 'durable' })` resolves only once the events are durable (file:
   * fdatasync; store: committed with synchronous commit), `'buffered'` resolves at once and
   * becomes durable at the next `sync()` (a barrier). Concurrent appends are group-committed.
   * Every acknowledged append survives a crash of the process, the machine or the store's
   * server; a later open resumes from exactly the fold of what was acknowledged (plus possibly
   * records written but not yet acknowledged, whole, never torn).
   *
   * Ownership: one owner at a time. While open, the store keeps it (file lock refresh, lease
   * renewal). If it is lost (lock removed, lease taken over by another owner), every later
   * append rejects with a `LockCompromisedError` (code `compromised`, exit 1; a subclass may
   * name the new owner) and nothing more is written for this owner (fencing).
   *
   * `close({ remove: true })` on success deletes the checkpoint (when saving and the log did not
   * fail); `close({ remove: false })` keeps it. Either releases ownership.
   */
  open(options: OpenCheckpointOptions): Promise<OpenedCheckpoint>;

  /**
   * Reads a checkpoint for viewing (`ckpt inspect`, `ckpt events`): identity, folded state,
   * entries when asked, epochs, last write, owner. Takes no ownership and changes nothing.
   * A missing checkpoint, or something that is not one, is refused with code `invalid`;
   * damage with code `corrupt` (unless `salvage`).
   */
  read(name: string, options?: ReadCheckpointOptions): Promise<CheckpointReading>;

  /**
   * Every checkpoint (under `under`), in name order. Read only: no ownership taken. A
   * checkpoint that cannot be read is a row with its problem; the listing goes on.
   */
  list(options?: ListOptions): AsyncIterable<ListedCheckpoint>;

  /**
   * Removes expired checkpoints: a checkpoint expires its recorded retention (the last
   * attempt's, default 30 days) after its last write, or `olderThanMs` after it when given.
   * One owned by a live owner is skipped with the reason. `dryRun` removes nothing.
   */
  prune(options?: StorePruneOptions): Promise<PruneReport>;

  /**
   * Deletes one checkpoint whatever its age, taking ownership first (a live owner: `locked`).
   * Resolves false when there was none.
   */
  delete(name: string): Promise<boolean>;

  /**
   * Creates or upgrades what the store needs (a schema), idempotently. Absent for files.
   * A store newer than this program is refused (code `invalid`).
   */
  init?(): Promise<StoreInitReport>;

  /** Releases what the store holds (connections). Checkpoints opened from it must be closed first. */
  close(): Promise<void>;
}

/** Options the CLI passes when it connects a store from a URL. */
export interface ConnectStoreOptions {
  /** Refuse (code `invalid`, naming host and port) when the store does not answer within this (default: the adapter's). */
  readonly connectTimeoutMs?: number;
}

/**
 * What a store adapter package exports for the CLI, which loads it lazily
 * (`await import('@ckpt/postgres')`) only when a URL of its scheme is given.
 */
export interface StoreAdapterModule {
  /**
   * Connects to the store at `url` (kept as given: the adapter reads its own parameters, e.g.
   * `?schema=`). Refuses an unreachable or misconfigured store with code `invalid`, never
   * printing the URL's password.
   */
  connectStore(url: string, options?: ConnectStoreOptions): Promise<CheckpointStore>;
}
