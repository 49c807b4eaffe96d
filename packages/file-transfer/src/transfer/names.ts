import { basename, dirname, join } from 'node:path';
import type { CompanionFiles } from '@ckpt/core';

/** The identity kind of file-transfer checkpoints. */
export const TRANSFER_KIND = 'file-transfer';

/** Partial data of `destination`, hidden beside it: `dir/.name.ckpt-part`. */
export function partialPathOf(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.ckpt-part`);
}

/** Checkpoint records of `destination`, hidden beside it: `dir/.name.ckpt`. */
export function checkpointPathOf(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.ckpt`);
}

/**
 * Companion files of a file-transfer checkpoint for `pruneCheckpoints`: the partial data beside
 * it. Register it as `new Map([[TRANSFER_KIND, transferCompanions]])`.
 */
export const transferCompanions: CompanionFiles = (checkpointPath) => {
  const name = basename(checkpointPath);
  if (!name.startsWith('.') || !name.endsWith('.ckpt')) return [];
  return [join(dirname(checkpointPath), `${name}-part`)];
};

/**
 * Whether `name` (one path segment) has the shape of a file ckpt keeps beside a destination or a
 * checkpoint: `.X.ckpt`, `.X.ckpt-part`, `.X.ckpt.lock` (the writer lock, a folder),
 * `.X.ckpt.lock.takeover`, `.X.ckpt.compact-….tmp`, and any hidden `.X.lock`. A peer may use none
 * of them as any segment of a path: as a folder (`.a.ckpt/x`) it would occupy the name the next
 * push to `a` needs and wedge that destination for ever.
 */
export function isReservedName(name: string): boolean {
  return /^\..+\.ckpt(?:[-.].*)?$/s.test(name) || /^\..+\.lock(?:\.takeover)?$/s.test(name);
}
