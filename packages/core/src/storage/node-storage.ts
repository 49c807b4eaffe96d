import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { NotRegularFileError } from '../errors.js';
import { errorCode, type FileInfo, type OpenMode, type Storage, type StorageFile } from './storage.js';

const open = promisify(fs.open);
const close = promisify(fs.close);
const read = promisify(fs.read);
const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const fsync = promisify(fs.fsync);
const ftruncate = promisify(fs.ftruncate);
const fstat = promisify(fs.fstat);

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const { O_RDONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
// O_NOFOLLOW: a symbolic link planted at a name ckpt writes (a hidden companion, a checkpoint)
// must not redirect the write to its target. O_NONBLOCK: opening a FIFO must not wait for a
// writer for ever (it has no effect on regular files); fstat then refuses the FIFO.
const FLAGS: Record<OpenMode, number> = {
  read: O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
  'read-write': O_RDWR | O_NOFOLLOW | O_NONBLOCK,
  'create-exclusive': O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK,
};

/** What a non-regular file is, in words for an error message. */
function describeKind(s: fs.Stats): string {
  if (s.isSymbolicLink()) return 'a symbolic link';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isDirectory()) return 'a folder';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'a special file';
}

function infoOf(s: fs.Stats): FileInfo {
  return {
    size: s.size,
    mtimeMs: s.mtimeMs,
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymbolicLink: s.isSymbolicLink(),
    fileId: `${s.dev}:${s.ino}`,
  };
}

/**
 * A file opened with node:fs. Uses the callback API on a raw descriptor: it costs one
 * thread-pool hop per call, where `fs/promises` FileHandles add a second layer. `writeSync` and
 * `datasyncSync` make the same system calls on the main thread, with no hop at all.
 */
class NodeFile implements StorageFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  async size(): Promise<number> {
    return (await fstat(this.fd)).size;
  }

  async info(): Promise<FileInfo> {
    return infoOf(await fstat(this.fd));
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await read(this.fd, buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await write(this.fd, data, written, data.length - written, position + written);
      written += bytesWritten;
    }
  }

  writeSync(data: Uint8Array, position: number): void {
    let written = 0;
    while (written < data.length) written += fs.writeSync(this.fd, data, written, data.length - written, position + written);
  }

  truncate(size: number): Promise<void> {
    return ftruncate(this.fd, size);
  }

  datasync(): Promise<void> {
    return fdatasync(this.fd);
  }

  datasyncSync(): void {
    fs.fdatasyncSync(this.fd);
  }

  close(): Promise<void> {
    return close(this.fd);
  }
}

/**
 * The real {@link Storage}: node:fs, files created 0600 and directories 0700. Opens regular
 * files only: never through a symbolic link, never a FIFO, socket, device or folder.
 */
export class NodeStorage implements Storage {
  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    let fd: number;
    try {
      fd = await open(path, FLAGS[mode], FILE_MODE);
    } catch (error) {
      // ELOOP: a symbolic link (O_NOFOLLOW); ENXIO: a socket, or a FIFO without a reader;
      // EISDIR: a folder opened for writing. Anything else is an ordinary I/O error.
      const code = errorCode(error);
      if (code === 'ELOOP' || code === 'ENXIO' || code === 'EISDIR') {
        const found = await fs.promises.lstat(path).catch(() => undefined);
        if (found && !found.isFile()) throw new NotRegularFileError(path, describeKind(found));
      }
      throw error;
    }
    let kind: string | undefined;
    try {
      const s = await fstat(fd);
      if (!s.isFile()) kind = describeKind(s);
    } catch (error) {
      await close(fd).catch(() => undefined);
      throw error;
    }
    if (kind !== undefined) {
      await close(fd).catch(() => undefined);
      throw new NotRegularFileError(path, kind);
    }
    return new NodeFile(path, fd);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      return infoOf(await fs.promises.lstat(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  rename(from: string, to: string): Promise<void> {
    return fs.promises.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fs.promises.unlink(path);
  }

  async mkdir(path: string): Promise<void> {
    await fs.promises.mkdir(path, { recursive: true, mode: DIR_MODE });
  }

  readdir(path: string): Promise<string[]> {
    return fs.promises.readdir(path);
  }

  async syncDir(path: string): Promise<void> {
    const fd = await open(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      await fsync(fd);
    } finally {
      await close(fd);
    }
  }

  setMtime(path: string, mtimeMs: number): Promise<void> {
    const seconds = mtimeMs / 1000;
    return fs.promises.utimes(path, seconds, seconds);
  }
}
