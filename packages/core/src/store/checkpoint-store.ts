import { lstat, readlink, realpath } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointNotFoundError, IdentityMismatchError, InvalidInputError, StorageIoError } from '../errors.js';
import { Fold, type ExtensionReducer } from '../fold/fold.js';
import { cloneState, type CheckpointState } from '../fold/state.js';
import { FileLocker } from '../lock/file-locker.js';
import type { Locker } from '../lock/locker.js';
import { sameIdentity, type JobIdentity } from '../log/identity.js';
import { Journal, type Durability, type JournalOptions, type RecoveryReport } from '../log/journal.js';
import { MemoryLog, type EventLog } from '../log/memory-log.js';
import { readIdentity, readLog } from '../log/read-log.js';
import { NodeStorage } from '../storage/node-storage.js';
import { errorCode, type Storage } from '../storage/storage.js';
import type { CheckpointOwner, CheckpointStore, OwnerClaim } from './port.js';

/**
 * Opening a checkpoint the way SSIS does (CheckpointUsage × SaveCheckpoints), deleting it on
 * success and keeping it on failure. docs/restart-semantics.md has the table; each row is a
 * test in checkpoint-store.test.ts.
 */

/** When an existing checkpoint is used (SSIS CheckpointUsage). */
export const CheckpointUsage = {
  /** Run from the start; never read a checkpoint. */
  Never: 'never',
  /** Resume from the checkpoint when there is one, else run from the start. */
  IfExists: 'if-exists',
  /** Resume from the checkpoint; refuse to run when there is none. */
  Always: 'always',
} as const;
export type CheckpointUsage = (typeof CheckpointUsage)[keyof typeof CheckpointUsage];

/** Parses a usage name, with an error naming `where` when it is not one. */
export function parseUsage(value: string, where: string): CheckpointUsage {
  const usages = Object.values(CheckpointUsage) as string[];
  if (!usages.includes(value)) {
    throw new InvalidInputError(`${where}: usage "${value}" is not one of ${usages.join(', ')}`);
  }
  return value as CheckpointUsage;
}

/** Default retention of a failed run's checkpoint: 30 days from its last write. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/** Where the checkpoint is and how it is used. */
export interface CheckpointOptions {
  readonly path: string;
  readonly identity: JobIdentity;
  readonly usage: CheckpointUsage;
  /** Whether progress is written (SSIS SaveCheckpoints). */
  readonly save: boolean;
  /** How long to wait for a live lock holder (default 0: refuse at once). */
  readonly lockWaitMs?: number;
  /**
   * The user named this path (`checkpoint.file`, `--checkpoint-file`): a symbolic link there
   * is followed to the real file, so every name of one file shares one lock. Off by default:
   * a path ckpt derives itself (a copy's hidden checkpoint) is never followed, and a link there
   * is refused. Symbolic links among the folders are resolved either way.
   */
  readonly followLink?: boolean;
  /** Called with an existing checkpoint's state before anything is written; throw to refuse. */
  readonly checkState?: (state: CheckpointState) => void;
  /** Who writes, as recorded in the writer session's epoch record (default: this process, this host's name). */
  readonly owner?: OwnerClaim;
}

/** The environment: where checkpoints live (a store), or the file store's storage, lock, reducers, clock, durability and compaction. */
export interface StoreEnvironment {
  /**
   * Where checkpoints live (the engine's default: a `FileStore` built from the rest of this
   * environment). The other fields configure that default and are ignored when a store is given,
   * except `reducers` and `now`, which the engine uses too.
   */
  readonly store?: CheckpointStore;
  readonly storage?: Storage;
  readonly locker?: Locker;
  readonly reducers?: readonly ExtensionReducer[];
  readonly now?: () => number;
  /** Source of salts and temporary names (see {@link JournalOptions.randomBytes}). */
  readonly randomBytes?: (size: number) => Uint8Array;
  readonly durability?: Durability;
  readonly compaction?: { readonly minBytes: number } | false;
}

/** A checkpoint opened for a run (by {@link openCheckpoint}, or any {@link CheckpointStore}). */
export interface OpenedCheckpoint {
  /** Where it is, as people read it: a file's real path, or the checkpoint's name in a store. */
  readonly path: string;
  readonly identity: JobIdentity;
  /** True when the run starts from an existing checkpoint's state. */
  readonly resumed: boolean;
  /** True when usage `never` with save on replaced an older checkpoint of the same job. */
  readonly replaced: boolean;
  /** The state the run starts from (a copy). */
  readonly startState: CheckpointState;
  /** Where the run's events go. */
  readonly log: EventLog;
  /** What recovery repaired, when an existing file was opened for writing. */
  readonly recovery: RecoveryReport | undefined;
  /** Whether progress is written to disk. */
  readonly saving: boolean;
  /** The ownership this run holds, when the store tracks one beyond a file lock (epoch, lease). */
  readonly owner?: CheckpointOwner;
  /** Syncs and closes; deletes the file when `remove` (success) and saving. Releases the lock. */
  close(options: { readonly remove: boolean }): Promise<{ readonly removed: boolean }>;
}

/** Opens the checkpoint for a run, applying the usage/save rules. Refusals change nothing on disk. */
export async function openCheckpoint(options: CheckpointOptions, environment: StoreEnvironment = {}): Promise<OpenedCheckpoint> {
  const storage = environment.storage ?? new NodeStorage();
  const locker = environment.locker ?? new FileLocker();
  const fold = new Fold(environment.reducers ?? []);
  const { identity, usage, save } = options;
  // One file, one lock: every companion (lock, temporaries, compaction) derives from the real
  // path, so two names for one checkpoint (a symlink, a symlinked folder) share one lock.
  // Only the real file system has symlinks; a simulated storage's paths are already canonical.
  const path = storage instanceof NodeStorage ? await resolveCheckpointPath(options.path, { followLink: options.followLink === true }) : options.path;

  const exists = await statExists(storage, path);
  if (usage === CheckpointUsage.Always && !exists) throw new CheckpointNotFoundError(path);
  if (!save && (usage === CheckpointUsage.Never || !exists)) {
    return memoryCheckpoint(path, identity, fold, fold.initial(), false);
  }
  // Check the identity before taking the lock (so a refusal creates no lock directory), and
  // again under it.
  if (exists) await checkIdentity(storage, path, identity);
  if (save) {
    try {
      await storage.mkdir(dirname(path));
    } catch (error) {
      throw new StorageIoError(dirname(path), 'creating the checkpoint directory', { cause: error });
    }
  }
  // The journal checks the lock before every write; a lost lock fails it there.
  const lock = await locker.acquire(path, {
    ...(options.lockWaitMs !== undefined && { waitMs: options.lockWaitMs }),
    onCompromised: () => undefined,
  });
  try {
    const existsNow = await statExists(storage, path);
    if (usage === CheckpointUsage.Always && !existsNow) throw new CheckpointNotFoundError(path);
    if (existsNow) await checkIdentity(storage, path, identity);
    if (!save) {
      const reading = await readLog(storage, path, fold);
      options.checkState?.(reading.state);
      return memoryCheckpoint(path, identity, fold, reading.state, true, () => lock.release());
    }
    const journalOptions = {
      storage,
      fold,
      lock,
      session: options.owner ?? { pid: process.pid, host: hostname() },
      ...(environment.durability !== undefined && { durability: environment.durability }),
      ...(environment.compaction !== undefined && { compaction: environment.compaction }),
      ...(environment.now !== undefined && { now: environment.now }),
      ...(environment.randomBytes !== undefined && { randomBytes: environment.randomBytes }),
      ...(options.checkState !== undefined && { checkRecovered: options.checkState }),
    };
    const resume = existsNow && usage !== CheckpointUsage.Never;
    // Usage `never` replaces a checkpoint that is there (the SSIS rule); nothing else may.
    const journal = resume
      ? await Journal.open(path, journalOptions)
      : await Journal.create(path, identity, { ...journalOptions, replace: existsNow });
    return {
      path,
      identity,
      resumed: resume,
      replaced: existsNow && !resume,
      startState: cloneState(journal.state),
      log: journal,
      recovery: resume ? journal.recovery : undefined,
      saving: true,
      close: async ({ remove }) => {
        try {
          await journal.close();
          if (remove && !journal.failed) {
            await removeCheckpointFile(storage, path);
            return { removed: true };
          }
          return { removed: false };
        } finally {
          await lock.release().catch(() => undefined);
        }
      },
    };
  } catch (error) {
    await lock.release().catch(() => undefined);
    throw error;
  }
}

/**
 * The real path of a checkpoint: symbolic links among its folders are resolved, and with
 * `followLink` (a path the user named) the file's own link too, so that every name of one file
 * resolves to the same path. Without `followLink`, a link as the file is refused. A checkpoint
 * that does not exist yet resolves through its nearest existing folder. A dangling link is
 * refused: writing through it would replace the link, or create a file elsewhere.
 */
export async function resolveCheckpointPath(path: string, options: { readonly followLink: boolean }): Promise<string> {
  const absolute = resolve(path);
  if (!options.followLink) {
    const own = await lstat(absolute).catch(() => undefined);
    if (own?.isSymbolicLink()) {
      throw new InvalidInputError(`checkpoint ${absolute} is a symbolic link; ckpt never follows a link as a file it names itself`, {
        hint: `nothing was changed; remove ${absolute} (it was not made by ckpt) and rerun`,
      });
    }
  }
  try {
    if (!options.followLink) return join(await realpath(dirname(absolute)), basename(absolute));
    return await realpath(absolute);
  } catch (error) {
    if (errorCode(error) === 'ELOOP') {
      throw new InvalidInputError(`checkpoint path ${absolute} is a loop of symbolic links`, { hint: 'point checkpoint.file at a regular file' });
    }
    if (errorCode(error) === 'ENOTDIR') {
      throw new InvalidInputError(`checkpoint path ${absolute}: a folder on the way is a file`, { hint: 'check the path' });
    }
    if (errorCode(error) !== 'ENOENT') throw new StorageIoError(absolute, 'resolving the checkpoint path', { cause: error });
  }
  const link = await lstat(absolute).catch(() => undefined);
  if (link?.isSymbolicLink()) {
    const target = await readlink(absolute).catch(() => '?');
    throw new InvalidInputError(`checkpoint path ${absolute} is a symbolic link to ${target}, which does not exist`, {
      hint: `remove the link ${absolute}, or point it at an existing checkpoint file`,
    });
  }
  // The file does not exist: resolve the nearest existing folder, keep the rest as named.
  const rest: string[] = [basename(absolute)];
  let folder = dirname(absolute);
  for (;;) {
    try {
      return join(await realpath(folder), ...rest);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' || dirname(folder) === folder) {
        throw new StorageIoError(folder, 'resolving the checkpoint folder', { cause: error });
      }
      rest.unshift(basename(folder));
      folder = dirname(folder);
    }
  }
}

async function statExists(storage: Storage, path: string): Promise<boolean> {
  try {
    const info = await storage.stat(path);
    if (info?.isDirectory) {
      throw new InvalidInputError(`checkpoint path ${path} is a directory`, { hint: 'name a file, e.g. .ckpt/job.ckpt' });
    }
    return info !== undefined;
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new StorageIoError(path, 'stat', { cause: error });
  }
}

async function checkIdentity(storage: Storage, path: string, identity: JobIdentity): Promise<void> {
  const found = await readIdentity(storage, path);
  if (!sameIdentity(found, identity)) throw new IdentityMismatchError(path, found, identity);
}

/**
 * A checkpoint that is not saved (save off): its events fold in memory and nothing is written.
 * Closing closes the log, then `release` frees what the open held (a lock, an owner row); it
 * never removes anything. Shared by every store adapter, so save off behaves the same in each.
 */
export function memoryCheckpoint(
  path: string,
  identity: JobIdentity,
  fold: Fold,
  start: CheckpointState,
  resumed: boolean,
  release: () => Promise<void> = async () => undefined,
): OpenedCheckpoint {
  const log = new MemoryLog(fold, start);
  return {
    path,
    identity,
    resumed,
    replaced: false,
    startState: cloneState(start),
    log,
    recovery: undefined,
    saving: false,
    close: async () => {
      await log.close();
      await release();
      return { removed: false };
    },
  };
}

/** Deletes a checkpoint file and syncs its directory. */
export async function removeCheckpointFile(storage: Storage, path: string): Promise<void> {
  try {
    await storage.unlink(path);
    await storage.syncDir(dirname(path));
  } catch (error) {
    throw new StorageIoError(path, 'deleting the checkpoint', { cause: error });
  }
}
