import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  errorCode,
  InvalidInputError,
  isCkptError,
  NotRegularFileError,
  StorageIoError,
  type FileInfo,
  type Storage,
  type StorageFile,
} from '@ckpt/core';
import { checkpointPathOf, partialPathOf } from './names.js';
import type { SourceInfo } from './source-port.js';

/**
 * The receiver's dealings with the destination folder: the checks before anything is created,
 * the hidden partial file, and the checks and attributes of publishing it under the final name.
 */

/** A refusal naming `folder`, for a folder that cannot receive the destination. */
function folderRefusal(folder: string, error: unknown, creating: boolean): Error {
  switch (errorCode(error)) {
    case 'ENOENT':
      return new InvalidInputError(`destination folder ${folder} does not exist; nothing was written`, {
        hint: 'create it first (like cp, ckpt copy does not create folders), or check the path',
      });
    case 'ENOTDIR':
    case 'EEXIST':
      return new InvalidInputError(`${folder} is not a folder; nothing was written`, { hint: 'check the destination path' });
    case 'EACCES':
    case 'EPERM':
      return new InvalidInputError(`cannot ${creating ? 'create' : 'write in'} ${folder} (permission denied); nothing was written`, {
        hint: 'check the permissions of the destination folder, or copy to a folder you may write in',
      });
    case 'EROFS':
      return new InvalidInputError(`cannot write in ${folder} (read-only file system); nothing was written`, { hint: 'copy to a writable folder' });
    default:
      return new StorageIoError(folder, creating ? 'creating the destination folder' : 'checking the destination folder', { cause: error });
  }
}

/**
 * Refuses, before anything is created, a destination whose folder is missing (unless
 * `createFolders`), not a folder or not writable, and a destination or hidden companion name
 * that holds something other than a regular file (a symbolic link planted there, a FIFO, a
 * folder): the refusal names the folder or the file, never an internal lock.
 */
export async function checkDestination(storage: Storage, destination: string, createFolders: boolean): Promise<void> {
  const folder = dirname(destination);
  if (createFolders) {
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw folderRefusal(folder, error, true);
    }
  }
  try {
    // Follows a link: a destination folder named through a symbolic link is the user's choice.
    if (!(await stat(folder)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await access(folder, fsConstants.W_OK | fsConstants.X_OK);
  } catch (error) {
    throw folderRefusal(folder, error, false);
  }
  for (const path of [destination, partialPathOf(destination), checkpointPathOf(destination)]) {
    const info = await storage.stat(path).catch((error: unknown) => {
      throw folderRefusal(folder, error, false);
    });
    if (info?.isSymbolicLink) throw new NotRegularFileError(path, 'a symbolic link');
    if (info?.isDirectory) throw new NotRegularFileError(path, 'a folder');
    if (info && !info.isFile) {
      // A FIFO, socket or device: storage's open (which never blocks) refuses it, naming what it is.
      await (await storage.open(path, 'read')).close();
      throw new NotRegularFileError(path, 'a special file');
    }
  }
}

/**
 * Opens (or creates, durably named) the hidden partial file beside the destination. The folder
 * exists (see {@link receiveFile}); storage refuses a partial name that is a symbolic link or
 * not a regular file, so a link planted there cannot redirect the data.
 */
export async function openPartial(storage: Storage, destination: string, partialPath: string): Promise<StorageFile> {
  try {
    if (await storage.stat(partialPath)) return await storage.open(partialPath, 'read-write');
    const file = await storage.open(partialPath, 'create-exclusive');
    // Its name is durable before any checkpoint refers to its data.
    await storage.syncDir(dirname(partialPath));
    return file;
  } catch (error) {
    if (isCkptError(error)) throw error;
    const code = errorCode(error);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new InvalidInputError(`cannot write in ${dirname(destination)} (permission denied)`, {
        hint: 'check the permissions of the destination folder',
      });
    }
    throw new StorageIoError(partialPath, 'opening the partial file', { cause: error });
  }
}

/**
 * Refuses to publish unless the partial name still holds the file this attempt wrote (same
 * device and inode, a regular file) and the destination name is free or a regular file: the
 * rename must neither publish a file swapped in meanwhile nor replace a link or a folder.
 */
export async function checkBeforePublish(storage: Storage, partialPath: string, destination: string, written: FileInfo | undefined): Promise<void> {
  const partial = await storage.stat(partialPath);
  if (!partial?.isFile || (written?.fileId !== undefined && partial.fileId !== written.fileId)) {
    throw new InvalidInputError(`${partialPath} was replaced or removed while the copy ran; nothing was published`, {
      hint: `check what else writes in ${dirname(destination)}, remove ${partialPath}, and rerun`,
    });
  }
  const target = await storage.stat(destination);
  if (target && !target.isFile)
    throw new NotRegularFileError(destination, target.isSymbolicLink ? 'a symbolic link' : target.isDirectory ? 'a folder' : 'a special file');
}

/** The mode of a file cp would create here: 0666 less the process's umask. */
function umaskMode(): number {
  // process.umask() without an argument reads it (documentation-only deprecation; main thread only).
  return 0o666 & ~process.umask();
}

/**
 * Sets the mode of `path` (the source's under `preserve`, else `0666 & ~umask`) and, under
 * `preserve`, its modification time to the source's. Opened without following a link: the
 * partial name was checked to be this attempt's regular file just before.
 */
export async function applyAttributes(path: string, info: SourceInfo, preserve: boolean): Promise<void> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    await handle.chmod(preserve && info.mode !== undefined ? info.mode : umaskMode());
    if (preserve) {
      const mtime = info.fingerprint.mtimeNs !== undefined ? Number(BigInt(info.fingerprint.mtimeNs) / 1000n) / 1e6 : info.fingerprint.mtimeMs / 1000;
      await handle.utimes(new Date(), mtime);
    }
  } catch (error) {
    throw new StorageIoError(path, preserve ? "setting the source's mode and modification time" : 'setting the mode', { cause: error });
  } finally {
    await handle?.close();
  }
}

/** Maps a failed write-side call on the partial file to a StorageIoError naming it. */
export async function wrapWrite(path: string, doing: string, operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    throw new StorageIoError(path, doing, { cause: error });
  }
}
