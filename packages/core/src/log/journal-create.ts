import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidInputError, StorageIoError } from '../errors.js';
import type { Storage, StorageFile } from '../storage/storage.js';
import { decodePayload, encodePayload } from './codec.js';
import { encodeHeader, frameRecord, framedSize, RecordType, saltCrcOf, saltOf } from './format.js';
import { parseIdentity, type JobIdentity } from './identity.js';
import type { JournalCreateOptions } from './journal-options.js';
import { epochRecord, removeTemporaryFiles } from './journal-recovery.js';
import { readLogBytes, type LogReading } from './read-log.js';

// Creating a checkpoint file: never in place. The bytes go to a temporary file beside the
// checkpoint, which is synced and renamed into place, then the directory is synced: a crash
// leaves either no checkpoint (or the previous one) or the complete new one, never half a file.

/** A new checkpoint file, written and in place. */
export interface CreatedFile {
  readonly file: StorageFile;
  readonly reading: LogReading;
  /** Bytes written: header and first epoch record. */
  readonly size: number;
  readonly removedTemporaryFiles: string[];
}

/**
 * Writes a new checkpoint file at `path` (header and the epoch record of epoch 1, seq 1) by
 * {@link writeReplacing}, after removing leftovers of interrupted creations or compactions.
 * Refuses an existing file unless `options.replace`, and an identity the reader could not read.
 */
export async function createFile(path: string, identity: JobIdentity, options: JournalCreateOptions): Promise<CreatedFile> {
  const { storage } = options;
  if (options.replace !== true && (await storage.stat(path).catch(() => undefined)) !== undefined) {
    throw new InvalidInputError(`${path} already exists; Journal.create would replace it and lose its events, so it left it untouched`, {
      hint: 'continue it with Journal.open(path, options), or pass { replace: true } to Journal.create to start over',
    });
  }
  const now = options.now ?? Date.now;
  const random = options.randomBytes ?? randomBytes;
  // The reader's rule for the header: an identity it can parse, in at most MAX_HEADER_BYTES.
  const identityBytes = encodePayload(identity);
  let readable: JobIdentity | undefined;
  try {
    readable = parseIdentity(decodePayload(identityBytes));
  } catch {
    readable = undefined;
  }
  if (readable === undefined) {
    throw new InvalidInputError(`the job identity of ${path} lacks a string kind, id, version or structureHash`);
  }
  let header: Uint8Array;
  try {
    header = encodeHeader({ salt: random(8), firstSeq: 1, createdAt: now(), identityBytes });
  } catch (error) {
    throw new InvalidInputError(`cannot create checkpoint ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'use a shorter job id and version',
    });
  }
  const epochPayload = encodePayload(epochRecord(1, options, now()));
  const bytes = new Uint8Array(header.length + framedSize(epochPayload.length));
  bytes.set(header, 0);
  const saltCrc = saltCrcOf(saltOf(header));
  frameRecord(bytes, header.length, { type: RecordType.Epoch, seq: 1, payload: epochPayload }, saltCrc, 0);
  const removedTemporaryFiles = await removeTemporaryFiles(storage, path);
  const file = await writeReplacing(storage, path, 'new', bytes, random);
  const reading = readLogBytes(path, bytes, options.fold);
  return { file, reading, size: bytes.length, removedTemporaryFiles };
}

/**
 * Writes `bytes` to a new temporary file beside `path`, syncs it, renames it over `path` and
 * syncs the directory. Returns the open file (now at `path`). On failure the temporary file is
 * removed and `path` is as it was.
 */
export async function writeReplacing(
  storage: Storage,
  path: string,
  purpose: 'new' | 'compact',
  bytes: Uint8Array,
  random: (size: number) => Uint8Array,
): Promise<StorageFile> {
  const temporary = `${path}.${purpose}-${Buffer.from(random(8)).toString('hex')}.tmp`;
  const dir = dirname(path);
  let file: StorageFile | undefined;
  let step = 'creating';
  try {
    file = await storage.open(temporary, 'create-exclusive');
    step = 'write';
    await file.write(bytes, 0);
    step = 'fdatasync';
    await file.datasync();
    step = 'rename';
    await storage.rename(temporary, path);
  } catch (error) {
    await file?.close().catch(() => undefined);
    if (step !== 'creating') await storage.unlink(temporary).catch(() => undefined);
    throw new StorageIoError(
      step === 'creating' ? temporary : path,
      `${step} (writing ${purpose === 'new' ? 'a new checkpoint' : 'a compacted checkpoint'})`,
      {
        cause: error,
      },
    );
  }
  try {
    await storage.syncDir(dir);
  } catch (error) {
    await file.close().catch(() => undefined);
    throw new StorageIoError(dir, 'fsync of the directory', { cause: error });
  }
  return file;
}
