import { lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { errorCode, InvalidInputError, StorageIoError } from '@ckpt/core';
import { copyFile, type CopyFileOptions } from './copy-file.js';
import { parseEndpoint } from './net/netmap.js';
import { isReservedName } from './transfer/names.js';
import type { TransferEvent, TransferProgress } from './transfer/receiver.js';

/** Options of {@link copyTree}: those of {@link copyFile}, for every file of the tree. */
export interface CopyTreeOptions extends Omit<CopyFileOptions, 'onEvent' | 'onProgress'> {
  /** Every event of every file, with `path` (relative to the tree) added; plus `transfer/skipped` and `transfer/file-completed`. */
  readonly onEvent?: (event: TransferEvent) => void;
  /** Progress of the file in flight, with its relative path. */
  readonly onProgress?: (progress: TransferProgress & { readonly path: string }) => void;
}

/** What a tree copy did. */
export interface TreeResult {
  /** Regular files in the tree (copied or up to date). */
  readonly files: number;
  /** Of those, the ones already equal at the destination (nothing sent). */
  readonly upToDate: number;
  /** Symbolic links and special files left out. */
  readonly skipped: number;
  /** Bytes of all the files. */
  readonly bytes: number;
  /** Bytes sent by the attempts that completed them. */
  readonly sent: number;
}

interface Entry {
  readonly kind: 'file' | 'folder' | 'skip';
  /** Relative to the tree's root, with `/`. */
  readonly path: string;
  readonly mode: number;
  readonly reason?: string;
}

/**
 * The entries under `root`, folders before their content, names in code-unit order (a rerun
 * walks the same order). Symbolic links are never followed; links, special files and names of
 * ckpt's own hidden files (a partial transfer inside the source) are listed as skipped.
 */
async function walk(root: string, prefix = ''): Promise<Entry[]> {
  const entries: Entry[] = [];
  let names: string[];
  try {
    names = (await readdir(join(root, prefix))).sort();
  } catch (error) {
    throw new StorageIoError(join(root, prefix), 'listing the source folder', { cause: error });
  }
  for (const name of names) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const info = await lstat(join(root, path));
    if (info.isSymbolicLink()) entries.push({ kind: 'skip', path, mode: 0, reason: 'a symbolic link (links are not followed)' });
    else if (isReservedName(name))
      entries.push({ kind: 'skip', path, mode: 0, reason: 'a file ckpt keeps beside a transfer (a checkpoint or partial data), not data' });
    else if (info.isDirectory()) {
      entries.push({ kind: 'folder', path, mode: info.mode & 0o7777 });
      entries.push(...(await walk(root, path)));
    } else if (info.isFile()) entries.push({ kind: 'file', path, mode: info.mode & 0o7777 });
    else entries.push({ kind: 'skip', path, mode: 0, reason: 'a special file (FIFO, socket or device)' });
  }
  return entries;
}

/**
 * Copies the folder SOURCE to DESTINATION, file by file, each with its own checkpoint beside its
 * destination (and the usual intervals inside it): the files of SOURCE land in DESTINATION
 * (created if missing; its parent must exist), so a rerun copies onto the same paths. A rerun
 * after a kill finds the finished files up to date (their content is compared; nothing is
 * sent) and resumes the one in flight at its checkpoint. Local → local and local → node.
 */
export async function copyTree(options: CopyTreeOptions): Promise<TreeResult> {
  const from = parseEndpoint(options.source, 'SOURCE');
  const to = parseEndpoint(options.destination, 'DESTINATION');
  if (from.kind === 'remote') {
    throw new InvalidInputError('--recursive copies a local folder (local → local or local → node)', {
      hint: 'pull the files one by one, or run the copy on the node that holds them',
    });
  }
  const root = resolve(from.path);
  const rootInfo = await stat(root).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT')
      throw new InvalidInputError(`source ${from.path} does not exist`, { hint: 'check the path of the folder to copy' });
    throw new StorageIoError(root, 'reading the source folder', { cause: error });
  });
  if (!rootInfo.isDirectory()) throw new InvalidInputError(`source ${from.path} is not a folder`, { hint: 'drop --recursive to copy one file' });

  let target: string;
  if (to.kind === 'local') {
    target = resolve(to.path);
    const inside = relative(root, target);
    if (inside === '' || (!inside.startsWith('..') && !inside.startsWith(sep) && !/^[a-zA-Z]:/.test(inside))) {
      throw new InvalidInputError(`DESTINATION ${to.path} is inside SOURCE ${from.path}`, { hint: 'copy the tree to a folder outside it' });
    }
  } else {
    target = to.path.replace(/\/+$/, '');
  }
  const entries = await walk(root);
  const makeFolder = async (path: string, mode: number) => {
    try {
      await mkdir(path, { mode: options.preserve ? mode : 0o777 });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST' && (await stat(path)).isDirectory()) return;
      if (code === 'ENOENT')
        throw new InvalidInputError(`destination folder ${resolve(path, '..')} does not exist; nothing was written there`, {
          hint: 'create it first, or check the path',
        });
      if (code === 'EACCES' || code === 'EPERM')
        throw new InvalidInputError(`cannot create ${path} (permission denied)`, { hint: 'check the permissions of the destination folder' });
      throw new StorageIoError(path, 'creating a destination folder', { cause: error });
    }
  };
  if (to.kind === 'local') await makeFolder(target, rootInfo.mode & 0o7777);

  const totals = { files: 0, upToDate: 0, skipped: 0, bytes: 0, sent: 0 };
  for (const entry of entries) {
    if (entry.kind === 'skip') {
      totals.skipped++;
      options.onEvent?.({ type: 'transfer/skipped', path: entry.path, reason: entry.reason ?? 'not a regular file' });
      continue;
    }
    if (entry.kind === 'folder') {
      // A node creates the folders of a pushed path itself (mode 0700); an empty folder is not pushed.
      if (to.kind === 'local') await makeFolder(join(target, ...entry.path.split('/')), entry.mode);
      continue;
    }
    let upToDate = false;
    const { onEvent, onProgress, ...rest } = options;
    const result = await copyFile({
      ...rest,
      source: join(root, ...entry.path.split('/')),
      destination: to.kind === 'local' ? join(target, ...entry.path.split('/')) : `ckpt://${to.node}/${target}/${entry.path}`,
      onEvent: (event) => {
        if (event.type === 'transfer/up-to-date') upToDate = true;
        onEvent?.({ ...event, path: entry.path });
      },
      ...(onProgress && { onProgress: (progress: TransferProgress) => onProgress({ ...progress, path: entry.path }) }),
    });
    totals.files++;
    totals.bytes += result.bytes;
    totals.sent += result.sent;
    if (upToDate) totals.upToDate++;
    onEvent?.({
      type: 'transfer/file-completed',
      path: entry.path,
      bytes: result.bytes,
      sent: result.sent,
      resumedFrom: result.resumedFrom,
      upToDate,
      digest: result.digest,
    });
  }
  return totals;
}
