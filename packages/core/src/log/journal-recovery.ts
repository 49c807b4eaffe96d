import { basename, dirname, join } from 'node:path';
import { StorageIoError } from '../errors.js';
import type { Storage, StorageFile } from '../storage/storage.js';
import type { JournalOptions } from './journal-options.js';
import { readLogBytes, readWholeFile, type LogReading, type TailTruncation } from './read-log.js';

// Opening a journal: what recovery does to an existing checkpoint file before the writer takes
// it over (scan, refuse damage, remove the leftovers of interrupted creations and compactions,
// truncate a torn tail), and the epoch record each writer session starts with.

const WRITER = '@ckpt/core/1';

/** The suffix of temporary files a journal writes beside its checkpoint (and may leave behind when a process dies). */
export const JOURNAL_TEMPORARY_SUFFIX = /\.(compact|new)-[0-9a-f]{16}\.tmp$/;

/** Whether `name` is a temporary file of the checkpoint named `checkpointName`. */
export function isJournalTemporaryFile(checkpointName: string, name: string): boolean {
  return name.startsWith(`${checkpointName}.`) && JOURNAL_TEMPORARY_SUFFIX.test(name);
}

/**
 * The first record of every writer session: which epoch, which process, when, and (after a
 * recovery that truncated a tail) what was dropped, so that a truncation is never silent.
 */
export function epochRecord(epoch: number, options: JournalOptions, now: number, truncatedTail?: TailTruncation) {
  return {
    epoch,
    ...(options.session && { pid: options.session.pid, host: options.session.host }),
    startedAt: now,
    writer: WRITER,
    ...(truncatedTail !== undefined && { truncatedTail }),
  };
}

/**
 * Removes the temporary files a creation or compaction of `path` left behind when it was
 * interrupted, and syncs the directory when it removed any. Returns the names removed.
 */
export async function removeTemporaryFiles(storage: Storage, path: string): Promise<string[]> {
  const dir = dirname(path);
  const name = basename(path);
  let names: string[];
  try {
    names = await storage.readdir(dir);
  } catch (error) {
    throw new StorageIoError(dir, 'listing the checkpoint directory', { cause: error });
  }
  const removed: string[] = [];
  for (const candidate of names.filter((n) => isJournalTemporaryFile(name, n))) {
    try {
      await storage.unlink(join(dir, candidate));
      removed.push(candidate);
    } catch (error) {
      throw new StorageIoError(join(dir, candidate), 'removing a leftover temporary file', { cause: error });
    }
  }
  if (removed.length > 0) {
    try {
      await storage.syncDir(dir);
    } catch (error) {
      throw new StorageIoError(dir, 'fsync of the directory', { cause: error });
    }
  }
  return removed;
}

/** An existing checkpoint file read, checked and opened for writing, not yet changed. */
export interface RecoveredFile {
  readonly reading: LogReading;
  readonly file: StorageFile;
  readonly removedTemporaryFiles: string[];
  /** The torn or zero-filled tail to truncate, if any. */
  readonly truncatedTail: TailTruncation | undefined;
}

/**
 * Reads and checks the checkpoint at `path` (damage is refused with its offset, the file
 * untouched), lets `options.checkRecovered` refuse the recovered state before anything is
 * written, removes leftover temporary files and opens the file for writing. The torn tail, if
 * any, is only reported here: {@link truncateTornTail} cuts it once the journal exists.
 */
export async function recoverFile(path: string, options: JournalOptions): Promise<RecoveredFile> {
  const { storage } = options;
  const bytes = await readWholeFile(storage, path);
  const reading = readLogBytes(path, bytes, options.fold);
  options.checkRecovered?.(reading.state);
  const removedTemporaryFiles = await removeTemporaryFiles(storage, path);
  let file: StorageFile;
  try {
    file = await storage.open(path, 'read-write');
  } catch (error) {
    throw new StorageIoError(path, 'opening for writing', { cause: error });
  }
  const truncatedTail: TailTruncation | undefined =
    reading.tailBytes > 0
      ? {
          offset: reading.validEnd,
          bytes: reading.tailBytes,
          lastGoodSeq: reading.lastSeq,
          reason: reading.tailReason ?? 'incomplete record',
        }
      : undefined;
  return { reading, file, removedTemporaryFiles, truncatedTail };
}

/**
 * Truncates a torn or zero-filled tail and syncs the truncation, so that the next record is
 * written where the reader stops. On failure the file is closed and StorageIoError thrown.
 */
export async function truncateTornTail(file: StorageFile, path: string, reading: LogReading): Promise<void> {
  try {
    if (reading.tailBytes > 0) {
      await file.truncate(reading.validEnd);
      await file.datasync();
    }
  } catch (error) {
    await file.close().catch(() => undefined);
    throw new StorageIoError(path, 'truncating the torn tail', { cause: error });
  }
}
