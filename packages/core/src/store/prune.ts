import { basename, dirname, join } from 'node:path';
import { CheckpointLockedError, CkptError, CorruptCheckpointError, InvalidInputError, StorageIoError } from '../errors.js';
import { Fold, type ExtensionReducer } from '../fold/fold.js';
import type { CheckpointState } from '../fold/state.js';
import { FileLocker } from '../lock/file-locker.js';
import type { Locker } from '../lock/locker.js';
import { MAGIC } from '../log/format.js';
import type { JobIdentity } from '../log/identity.js';
import { JOURNAL_TEMPORARY_SUFFIX } from '../log/journal.js';
import { readLog, type LogReading } from '../log/read-log.js';
import { NodeStorage } from '../storage/node-storage.js';
import type { Storage } from '../storage/storage.js';
import { DEFAULT_RETENTION_MS } from './checkpoint-store.js';

/**
 * Retention: a checkpoint left by a failed run expires `retention` after its last write (the
 * file's mtime). The retention is the one its last attempt recorded, or the default (30 days).
 * `pruneCheckpoints` removes expired checkpoint files, their temporary leftovers, and the
 * companion files a runner declares (a partial transfer's data, for instance).
 */

/** Files that belong to a checkpoint of a runner kind and go with it. */
export type CompanionFiles = (checkpointPath: string, reading: LogReading) => readonly string[];

/** Options of {@link pruneCheckpoints}. */
export interface PruneOptions {
  /** Remove checkpoints whose last write is older than this (ms), whatever their own retention. */
  readonly olderThanMs?: number;
  readonly now?: () => number;
  readonly storage?: Storage;
  readonly locker?: Locker;
  readonly reducers?: readonly ExtensionReducer[];
  /** Companion files by runner kind. */
  readonly companions?: ReadonlyMap<string, CompanionFiles>;
  /** Report what would be removed without removing it. */
  readonly dryRun?: boolean;
}

/** A checkpoint that was (or, in a dry run, would be) removed. */
export interface PrunedCheckpoint {
  readonly path: string;
  readonly identity?: JobIdentity;
  readonly lastWriteMs: number;
  readonly retentionMs: number;
  /** Every file removed, the checkpoint first. */
  readonly removed: readonly string[];
  readonly bytes: number;
}

/** A checkpoint left in place, and why. */
export interface PruneSkip {
  readonly path: string;
  readonly reason: string;
}

/** What {@link pruneCheckpoints} did. */
export interface PruneReport {
  readonly removed: readonly PrunedCheckpoint[];
  readonly skipped: readonly PruneSkip[];
  /** Checkpoints found that have not expired. */
  readonly kept: number;
}

/**
 * When the checkpoint expires: its last write plus its retention (the last attempt's recorded
 * one, else the default). Any store's reading will do: only the folded state is used.
 */
export function expiryOf(
  lastWriteMs: number,
  reading: { readonly state: CheckpointState } | undefined,
  olderThanMs?: number,
): { retentionMs: number; expiresAt: number } {
  const recorded = reading?.state.attempts.findLast((a) => a.retentionMs !== undefined)?.retentionMs;
  const retentionMs = olderThanMs ?? recorded ?? DEFAULT_RETENTION_MS;
  return { retentionMs, expiresAt: lastWriteMs + retentionMs };
}

async function startsWithMagic(storage: Storage, path: string): Promise<boolean> {
  const file = await storage.open(path, 'read');
  try {
    const head = await file.read(0, MAGIC.length);
    return head.length === MAGIC.length && MAGIC.every((b, i) => head[i] === b);
  } finally {
    await file.close();
  }
}

async function* walk(storage: Storage, dir: string): AsyncGenerator<string> {
  let names: string[];
  try {
    names = await storage.readdir(dir);
  } catch (error) {
    throw new StorageIoError(dir, 'listing', { cause: error });
  }
  for (const name of names.sort()) {
    const path = join(dir, name);
    const info = await storage.stat(path);
    if (info === undefined || info.isSymbolicLink) continue;
    if (info.isDirectory) {
      if (!name.endsWith('.lock') && !name.endsWith('.lock.takeover') && name !== 'node_modules') yield* walk(storage, path);
    } else if (info.isFile) {
      yield path;
    }
  }
}

/** Removes expired checkpoints under `dir` (recursively, not following symbolic links). */
export async function pruneCheckpoints(dir: string, options: PruneOptions = {}): Promise<PruneReport> {
  const storage = options.storage ?? new NodeStorage();
  const locker = options.locker ?? new FileLocker();
  const now = (options.now ?? Date.now)();
  const fold = new Fold(options.reducers ?? [], 'count');
  const removed: PrunedCheckpoint[] = [];
  const skipped: PruneSkip[] = [];
  let kept = 0;
  const rootInfo = await storage.stat(dir);
  if (rootInfo === undefined || !rootInfo.isDirectory) {
    throw new StorageIoError(dir, 'pruning', { hint: `${dir} is not a directory; name the folder that holds the checkpoints` });
  }
  for await (const path of walk(storage, dir)) {
    const info = await storage.stat(path);
    if (info === undefined) continue;
    if (JOURNAL_TEMPORARY_SUFFIX.test(basename(path))) {
      // A leftover of an interrupted compaction: expired with the default retention.
      if (now - info.mtimeMs > (options.olderThanMs ?? DEFAULT_RETENTION_MS)) {
        if (!options.dryRun) await storage.unlink(path);
        removed.push({
          path,
          lastWriteMs: info.mtimeMs,
          retentionMs: options.olderThanMs ?? DEFAULT_RETENTION_MS,
          removed: [path],
          bytes: info.size,
        });
      }
      continue;
    }
    if (!(await startsWithMagic(storage, path).catch(() => false))) continue;
    let reading: LogReading | undefined;
    try {
      reading = await readLog(storage, path, fold);
    } catch (error) {
      if (!(error instanceof CkptError)) throw error;
      // A later ckpt's file is not damaged (and its retention cannot be read here): never
      // deleted, always reported, whatever its age.
      if (error instanceof CorruptCheckpointError && error.newer) {
        skipped.push({ path, reason: `${error.reason}; upgrade ckpt to prune it` });
        continue;
      }
      // A damaged checkpoint still expires by its last write and the default retention.
    }
    const { retentionMs, expiresAt } = expiryOf(info.mtimeMs, reading, options.olderThanMs);
    if (now <= expiresAt) {
      kept++;
      continue;
    }
    let lock;
    try {
      lock = await locker.acquire(path, { onCompromised: () => undefined });
    } catch (error) {
      // Locked by a live run, or a planted link/file where the lock goes: skip this one, say why.
      if (error instanceof CheckpointLockedError || error instanceof InvalidInputError) {
        skipped.push({ path, reason: error.message.split('\n')[0]! });
        continue;
      }
      throw error;
    }
    try {
      const companions = reading ? (options.companions?.get(reading.identity.kind)?.(path, reading) ?? []) : [];
      const files = [path];
      let bytes = info.size;
      for (const companion of companions) {
        const companionInfo = await storage.stat(companion);
        if (companionInfo?.isFile) {
          files.push(companion);
          bytes += companionInfo.size;
        }
      }
      if (!options.dryRun) {
        for (const file of files) await storage.unlink(file);
        for (const parent of new Set(files.map((f) => dirname(f)))) await storage.syncDir(parent);
      }
      removed.push({
        path,
        ...(reading && { identity: reading.identity }),
        lastWriteMs: info.mtimeMs,
        retentionMs,
        removed: files,
        bytes,
      });
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
  return { removed, skipped, kept };
}
