import { constants, promises as fs } from 'node:fs';
import { InvalidInputError } from '../errors.js';
import { MAGIC } from '../log/format.js';

/** Largest file read as one checkpoint (the reader's own limit: offsets are 31-bit). */
const MAX_CHECKPOINT_BYTES = 0x7fff_ffff;

/**
 * The bytes of the checkpoint file at `path` and its last write (mtime), for viewing
 * (`FileStore.read`): nothing is locked or changed; the log in the bytes is not checked yet.
 *
 * A symbolic link is followed to its checkpoint, as `ckpt run` follows it. Everything that is
 * not a readable checkpoint is refused (code `invalid`, exit 2) with what is wrong with it:
 * missing, a dangling link, unreadable, a directory or special file, empty, or a file that is
 * not a checkpoint at all (a package file, say) — never with advice to delete it.
 */
export async function readCheckpointFile(path: string): Promise<{ readonly bytes: Uint8Array; readonly mtimeMs: number }> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted at the path opens at once and is refused below, instead of
    // blocking the open until a writer appears. It changes nothing for a regular file.
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw await cannotOpen(path, error);
  }
  try {
    // Checked on the open descriptor, so the file read is the file checked.
    const info = await handle.stat();
    if (!info.isFile()) {
      throw new InvalidInputError(
        `${path} is not a checkpoint file: it is ${info.isDirectory() ? 'a directory' : 'a special file (FIFO, socket or device)'}`,
        {
          hint: 'name the checkpoint file itself (checkpoint.file in the package, e.g. .ckpt/nightly-load.ckpt)',
        },
      );
    }
    if (info.size === 0) {
      throw new InvalidInputError(`${path} is not a checkpoint: the file is empty`, {
        hint: 'ckpt never leaves an empty checkpoint (it writes a new one aside and renames it into place); check the path',
      });
    }
    if (info.size > MAX_CHECKPOINT_BYTES) {
      throw new InvalidInputError(`${path} is not a checkpoint: it is ${info.size} bytes, beyond what one checkpoint can hold`, {
        hint: 'check the path',
      });
    }
    const bytes = new Uint8Array(info.size);
    let length = 0;
    while (length < bytes.length) {
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    const content = bytes.subarray(0, length);
    if (content.length < MAGIC.length || MAGIC.some((byte, i) => content[i] !== byte)) {
      // Not damage to a checkpoint but another kind of file: nothing to recover, nothing to delete.
      throw new InvalidInputError(`${path} is not a checkpoint: it does not start with the bytes every ckpt checkpoint starts with`, {
        hint: 'name the checkpoint file (checkpoint.file in the package, default .ckpt/<package id>.ckpt), not the package file',
      });
    }
    return { bytes: content, mtimeMs: info.mtimeMs };
  } catch (error) {
    if (error instanceof InvalidInputError || !isErrno(error)) throw error;
    throw new InvalidInputError(`cannot read checkpoint ${path}: ${error.code ?? error.message}`, {
      cause: error,
      hint: 'check the file and the disk',
    });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && !('hint' in error);
}

/** The refusal for a path that cannot be opened, naming the problem. */
async function cannotOpen(path: string, error: unknown): Promise<unknown> {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': {
      const target = await fs.readlink(path).catch(() => undefined);
      if (target !== undefined) {
        return new InvalidInputError(`${path} is a symbolic link to ${target}, which does not exist`, {
          cause: error,
          hint: 'point the link at the checkpoint file, or name the checkpoint file itself',
        });
      }
      return new InvalidInputError(`${path}: no such checkpoint file`, {
        cause: error,
        hint: 'check the path; a checkpoint is deleted when its job succeeds',
      });
    }
    case 'EACCES':
    case 'EPERM':
      return new InvalidInputError(`cannot read checkpoint ${path}: permission denied`, {
        cause: error,
        hint: `run as a user who may read it (ls -l ${path} shows its owner and mode), or ask its owner for read access`,
      });
    case 'ELOOP':
      return new InvalidInputError(`${path} is a loop of symbolic links`, { cause: error, hint: 'point the link at the checkpoint file' });
    case 'ENOTDIR':
      return new InvalidInputError(`${path}: a folder on the path is a file`, { cause: error, hint: 'check the path' });
    default:
      return new InvalidInputError(`cannot open checkpoint ${path}: ${code ?? String(error)}`, { cause: error, hint: 'check the path and the file' });
  }
}
