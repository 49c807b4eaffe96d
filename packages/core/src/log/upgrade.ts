import { randomBytes } from 'node:crypto';
import { StorageIoError } from '../errors.js';
import { FORMAT_VERSION, upgradedBytes } from './format.js';
import { writeReplacing } from './journal-create.js';
import type { JournalOptions } from './journal-options.js';
import type { RecoveredFile } from './journal-recovery.js';

// A writer never appends to a file of an older format version: a program of that version
// could read the file again and misread what this one appends (version 2: a variable set inside
// a scope would count at once). So opening one for writing first rewrites it as the current
// version, by the same atomic replacement as creation and compaction (temporary file, fdatasync,
// rename, directory fsync): a crash leaves the old file or the new one, both readable.

/**
 * `recovered` as a file of {@link FORMAT_VERSION}: unchanged when it already is one; else the
 * file is rewritten (header version raised, records up to the torn tail kept byte for byte) and
 * the rewritten file, open, replaces the one recovery opened.
 */
export async function upgradeToCurrentFormat(path: string, options: JournalOptions, recovered: RecoveredFile): Promise<RecoveredFile> {
  const { reading } = recovered;
  if (reading.header.version >= FORMAT_VERSION) return recovered;
  let file = recovered.file;
  try {
    const bytes = await file.read(0, reading.validEnd).catch((error: unknown) => {
      throw new StorageIoError(path, 'reading (to upgrade its format version)', { cause: error });
    });
    const upgraded = upgradedBytes(bytes, reading.header, reading.validEnd);
    const replaced = await writeReplacing(options.storage, path, 'new', upgraded, options.randomBytes ?? randomBytes);
    await file.close().catch(() => undefined);
    file = replaced;
  } catch (error) {
    await file.close().catch(() => undefined);
    throw error;
  }
  return { ...recovered, file, reading: { ...reading, header: { ...reading.header, version: FORMAT_VERSION } } };
}
