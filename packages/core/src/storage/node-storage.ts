import * as fs from 'node:fs';
import { promisify } from 'node:util';
import type { FileInfo, OpenMode, Storage, StorageFile } from './storage.js';

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

const FLAGS: Record<OpenMode, number> = {
  read: fs.constants.O_RDONLY,
  'read-write': fs.constants.O_RDWR,
  'create-exclusive': fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
};

/**
 * A file opened with node:fs. Uses the callback API on a raw descriptor: it costs one
 * thread-pool hop per call, where `fs/promises` FileHandles add a second layer.
 */
class NodeFile implements StorageFile {
  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  async size(): Promise<number> {
    return (await fstat(this.fd)).size;
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

  truncate(size: number): Promise<void> {
    return ftruncate(this.fd, size);
  }

  datasync(): Promise<void> {
    return fdatasync(this.fd);
  }

  close(): Promise<void> {
    return close(this.fd);
  }
}

/** The real {@link Storage}: node:fs, files created 0600 and directories 0700. */
export class NodeStorage implements Storage {
  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    const fd = await open(path, FLAGS[mode], FILE_MODE);
    return new NodeFile(path, fd);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const s = await fs.promises.lstat(path);
      return { size: s.size, mtimeMs: s.mtimeMs, isFile: s.isFile(), isDirectory: s.isDirectory(), isSymbolicLink: s.isSymbolicLink() };
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
