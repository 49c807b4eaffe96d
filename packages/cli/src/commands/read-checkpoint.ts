import { Fold, InvalidInputError, NodeStorage, readLog, type LogReading } from '@ckpt/core';

const storage = new NodeStorage();

/**
 * Reads a checkpoint for viewing, without locking or changing it. Events of runner namespaces
 * this build has no reducer for are counted, not refused, so any checkpoint can be looked at.
 */
export async function readCheckpointForViewing(path: string, withEntries: boolean): Promise<LogReading> {
  const info = await storage.stat(path);
  if (info === undefined) {
    throw new InvalidInputError(`${path}: no such checkpoint file`, { hint: 'check the path; a checkpoint is deleted when its job succeeds' });
  }
  if (!info.isFile) throw new InvalidInputError(`${path} is not a checkpoint file (it is a directory or special file)`);
  return readLog(storage, path, new Fold([], 'count'), { withEntries });
}
