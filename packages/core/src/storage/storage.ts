/**
 * The storage seam: every byte the journal and the checkpoint store read or write goes through
 * this interface. {@link NodeStorage} is the real one; the testkit provides a simulated disk
 * that can crash after any operation. Implementations must not buffer writes themselves: a
 * `write` that resolved is in the operating system's cache, and only `datasync` (for file data)
 * or `syncDir` (for names in a directory) makes it survive power loss.
 */

/** How to open a file. */
export type OpenMode =
  /** Read only; the file must exist. */
  | 'read'
  /** Read and write; the file must exist. */
  | 'read-write'
  /** Create a new file (mode 0600); fails with code EEXIST if the name exists. */
  | 'create-exclusive';

/** What {@link Storage.stat} reports. */
export interface FileInfo {
  readonly size: number;
  /** Last modification time, milliseconds since the epoch. */
  readonly mtimeMs: number;
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymbolicLink: boolean;
  /**
   * Device and inode (`dev:ino`), when the storage has them: two names with the same id are
   * the same file. Lets a caller check that a name still holds the file it opened.
   */
  readonly fileId?: string;
}

/** An open file. Positions are absolute byte offsets. */
export interface StorageFile {
  readonly path: string;
  /** Current size in bytes. */
  size(): Promise<number>;
  /** Reads up to `length` bytes at `position`; fewer only at end of file. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Writes all of `data` at `position`. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the file's size. */
  truncate(size: number): Promise<void>;
  /** What the open descriptor refers to (fstat), when the storage can tell. */
  info?(): Promise<FileInfo>;
  /** Makes the file's data (and the size) durable: fdatasync(2). */
  datasync(): Promise<void>;
  /**
   * {@link StorageFile.write}, blocking the caller until it is done (errors are thrown). Optional,
   * with {@link StorageFile.datasyncSync}: the journal uses the pair only when one durable append
   * is alone (nothing else queued, no write in flight), where waiting blocked costs less than two
   * trips through a thread pool; everything else takes the asynchronous calls. A storage that
   * offers them must give them exactly the asynchronous calls' effects, failures and crash
   * behaviour.
   */
  writeSync?(data: Uint8Array, position: number): void;
  /** {@link StorageFile.datasync}, blocking (errors are thrown); present when `writeSync` is. */
  datasyncSync?(): void;
  close(): Promise<void>;
}

/**
 * File-system operations. Errors are Node-style: an `Error` with a string `code`
 * (ENOENT, EEXIST, EIO, ENOSPC, ...).
 */
export interface Storage {
  /**
   * Opens a regular file. Never follows a symbolic link at `path` and never blocks on a FIFO:
   * anything at `path` that is not a regular file is refused with a `NotRegularFileError`
   * (a CkptError, code `invalid`) before a byte is read or written.
   */
  open(path: string, mode: OpenMode): Promise<StorageFile>;
  /** `undefined` when nothing exists at `path`. Does not follow a symbolic link (lstat). */
  stat(path: string): Promise<FileInfo | undefined>;
  /** Atomically replaces `to` with `from`. Durable only after {@link Storage.syncDir}. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. Durable only after {@link Storage.syncDir}. */
  unlink(path: string): Promise<void>;
  /** Creates a directory and its missing parents, each with mode 0700. */
  mkdir(path: string): Promise<void>;
  /** Names in a directory (no `.` or `..`), unsorted. */
  readdir(path: string): Promise<string[]>;
  /** Makes creations, renames and removals in directory `path` durable: fsync(2) on the directory. */
  syncDir(path: string): Promise<void>;
  /** Sets a file's modification time (used by tests of retention and by `touch`-like callers). */
  setMtime(path: string, mtimeMs: number): Promise<void>;
}

/** Node-style error code of `error`, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
