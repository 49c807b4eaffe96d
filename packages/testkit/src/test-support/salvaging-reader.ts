import { CorruptCheckpointError, readLogBytes } from '@ckpt/core/internal';
import type { CheckpointReader } from '../journal/journal-scenario.js';

/**
 * A deliberately broken reader (tests only): it accepts a mid-log CRC failure by treating the
 * damaged record and everything after it as a torn tail, the way a naive "salvage what you
 * can" recovery would. The media-damage property must catch it.
 */
export const salvagingReader: CheckpointReader = async (storage, path, fold) => {
  if ((await storage.stat(path)) === undefined) return undefined;
  const file = await storage.open(path, 'read');
  const bytes = await file.read(0, await file.size());
  await file.close();
  try {
    return readLogBytes(path, bytes, fold).state;
  } catch (error) {
    if (!(error instanceof CorruptCheckpointError) || error.offset <= 0) throw error;
    return readLogBytes(path, bytes.subarray(0, error.offset), fold).state;
  }
};
