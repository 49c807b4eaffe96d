import { lstat, mkdir, realpath } from 'node:fs/promises';
import { basename, join, relative, isAbsolute, sep } from 'node:path';
import { PathRefusedError } from '../errors.js';
import { isReservedName } from '../transfer/names.js';

/**
 * Every path a peer names is confined to the node's root: no absolute paths, no `.` or `..`
 * segments, no backslashes, NUL or percent-encoded separators/dots, no symbolic link that
 * leads outside the root, and no segment named like one of ckpt's own hidden files.
 */

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && !rel.startsWith(`..${sep}`));
}

function refuse(requested: string, why: string): never {
  throw new PathRefusedError(`path "${requested}" is refused: ${why}`, {
    hint: "name a file relative to the node's root, without .. or symbolic links that leave it",
  });
}

/** Checks the text of a path; returns its segments. */
export function checkPathText(requested: string): string[] {
  if (requested.length === 0 || requested.length > 4096) refuse(requested, 'it is empty or too long');
  if (requested.includes('\0')) refuse(requested, 'it contains NUL');
  if (requested.includes('\\')) refuse(requested, 'it contains a backslash');
  if (/%(?:2e|2f|5c|00)/i.test(requested)) refuse(requested, 'it contains an encoded dot or separator');
  if (requested.startsWith('/') || /^[A-Za-z]:/.test(requested)) refuse(requested, 'it is absolute; paths are relative to the node root');
  const segments = requested.split('/');
  for (const segment of segments) {
    if (segment === '..') refuse(requested, 'it leaves the root (..)');
    if (segment === '.' || segment === '') refuse(requested, 'it has an empty or "." segment');
    // In any segment, not only the last: a folder named like a companion blocks its file for ever.
    if (isReservedName(segment))
      refuse(requested, `"${segment}" has the name of one of ckpt's own hidden files (.X.ckpt, .X.ckpt-part, .X.ckpt.lock, …)`);
  }
  return segments;
}

/**
 * Resolves `requested` under `root` for writing (`create` makes missing folders, mode 0700) or
 * reading. Returns the absolute path whose parent is a real folder inside the root.
 */
export async function confinePath(root: string, requested: string, mode: 'write' | 'read'): Promise<string> {
  const segments = checkPathText(requested);
  const realRoot = await realpath(root);
  let dir = realRoot;
  for (const segment of segments.slice(0, -1)) {
    const next = join(dir, segment);
    const info = await lstat(next).catch(() => undefined);
    if (info === undefined) {
      if (mode === 'read') refuse(requested, `${segment}/ does not exist`);
      await mkdir(next, { mode: 0o700 });
      dir = next;
    } else if (info.isSymbolicLink()) {
      const target = await realpath(next).catch(() => refuse(requested, `${segment} is a dangling symbolic link`));
      if (!inside(realRoot, target)) refuse(requested, `${segment} is a symbolic link that leads outside the root`);
      dir = target;
    } else if (info.isDirectory()) {
      dir = next;
    } else {
      refuse(requested, `${segment} is not a folder`);
    }
  }
  const path = join(dir, basename(requested));
  const info = await lstat(path).catch(() => undefined);
  if (info?.isSymbolicLink()) {
    const target = await realpath(path).catch(() => refuse(requested, 'it is a dangling symbolic link'));
    if (!inside(realRoot, target)) refuse(requested, 'it is a symbolic link that leads outside the root');
    if (mode === 'write') refuse(requested, 'it is a symbolic link; copy to the real path');
    return target;
  }
  if (mode === 'read' && info === undefined) refuse(requested, 'it does not exist');
  if (info?.isDirectory()) refuse(requested, 'it is a folder');
  return path;
}
