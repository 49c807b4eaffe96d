import type { Storage, StorageFile } from '@ckpt/core';

/**
 * Deliberately broken storages, to prove that crash properties have teeth: run a property
 * against a journal writing through one of these and it must fail. Each wraps a real (or
 * simulated) {@link Storage} and breaks exactly one durability rule.
 */

function wrapFiles(storage: Storage, wrapFile: (file: StorageFile) => StorageFile): Storage {
  return {
    open: async (path, mode) => wrapFile(await storage.open(path, mode)),
    stat: (path) => storage.stat(path),
    rename: (from, to) => storage.rename(from, to),
    unlink: (path) => storage.unlink(path),
    mkdir: (path) => storage.mkdir(path),
    readdir: (path) => storage.readdir(path),
    syncDir: (path) => storage.syncDir(path),
    setMtime: (path, mtimeMs) => storage.setMtime(path, mtimeMs),
  };
}

/** Wraps `file`; its blocking calls (`writeSync`, `datasyncSync`) are passed on when it has them, and broken alike. */
function delegate(file: StorageFile, overrides: Partial<Pick<StorageFile, 'truncate' | 'datasync' | 'datasyncSync'>>): StorageFile {
  const { writeSync, datasyncSync } = file;
  const blocking = writeSync !== undefined &&
    datasyncSync !== undefined && {
      writeSync: (data: Uint8Array, position: number) => writeSync.call(file, data, position),
      datasyncSync: overrides.datasyncSync ?? (() => datasyncSync.call(file)),
    };
  return {
    ...blocking,
    path: file.path,
    size: () => file.size(),
    read: (position, length) => file.read(position, length),
    write: (data, position) => file.write(data, position),
    truncate: overrides.truncate ?? ((size) => file.truncate(size)),
    datasync: overrides.datasync ?? (() => file.datasync()),
    close: () => file.close(),
  };
}

/** Acknowledges before fdatasync: `datasync` (and `datasyncSync`) return at once and make nothing durable. */
export function withoutDatasync(storage: Storage): Storage {
  return wrapFiles(storage, (file) => delegate(file, { datasync: () => Promise.resolve(), datasyncSync: () => undefined }));
}

/**
 * Acknowledges a lone durable append before fdatasync: only the blocking `datasyncSync` (the
 * journal's path for a durable append alone) makes nothing durable; the asynchronous one works.
 */
export function withoutBlockingDatasync(storage: Storage): Storage {
  return wrapFiles(storage, (file) => delegate(file, { datasyncSync: () => undefined }));
}

/** Skips the directory fsync: `syncDir` resolves at once, so a rename or create is never durable. */
export function withoutDirectorySync(storage: Storage): Storage {
  return { ...wrapFiles(storage, (file) => file), syncDir: () => Promise.resolve() };
}

/**
 * Truncates `extraBytes` more than asked, as a recovery that mistakes the end of a valid record
 * for a torn tail would.
 */
export function overTruncating(storage: Storage, extraBytes = 1): Storage {
  return wrapFiles(storage, (file) => delegate(file, { truncate: (size) => file.truncate(Math.max(0, size - extraBytes)) }));
}

/**
 * Retries a failed fdatasync once and reports success if the retry succeeds — the pattern
 * "fsyncgate" showed to be wrong: the writes the failed call should have made durable may be
 * gone for good.
 */
export function retryingDatasync(storage: Storage): Storage {
  return wrapFiles(storage, (file) =>
    delegate(file, {
      datasync: async () => {
        try {
          await file.datasync();
        } catch {
          await file.datasync();
        }
      },
      ...(file.datasyncSync !== undefined && {
        datasyncSync: () => {
          try {
            file.datasyncSync!();
          } catch {
            file.datasyncSync!();
          }
        },
      }),
    }),
  );
}
