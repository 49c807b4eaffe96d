import { errorCode, type Storage } from '@ckpt/core';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';

/** A storage to check and the directory (existing, empty) the checks may use. */
export interface StorageUnderTest {
  readonly storage: Storage;
  readonly root: string;
  /** Removes what the checks left behind. */
  cleanup?(): Promise<void>;
}

const bytes = (...values: number[]) => Uint8Array.from(values);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return errorCode(error);
  }
}

/** The contract's cases: what journal and store rely on from any {@link Storage}. */
export const STORAGE_CONTRACT: readonly { readonly name: string; readonly check: (s: Storage, root: string) => Promise<void> }[] = [
  {
    name: 'reads back what was written; a read past the end is short',
    check: async (s, root) => {
      const file = await s.open(posix.join(root, 'a'), 'create-exclusive');
      await file.write(bytes(1, 2, 3, 4), 0);
      expect(await file.size()).toBe(4);
      expect([...(await file.read(2, 10))]).toEqual([3, 4]);
      expect([...(await file.read(10, 2))]).toEqual([]);
      await file.datasync();
      await file.close();
    },
  },
  {
    name: 'the blocking writeSync and datasyncSync, when offered, come together and act as write and datasync',
    check: async (s, root) => {
      const file = await s.open(posix.join(root, 'blocking'), 'create-exclusive');
      expect(file.writeSync === undefined).toBe(file.datasyncSync === undefined);
      if (file.writeSync === undefined || file.datasyncSync === undefined) return await file.close();
      file.writeSync(bytes(1, 2, 3), 0);
      file.writeSync(bytes(9), 5);
      file.datasyncSync();
      expect(await file.size()).toBe(6);
      expect([...(await file.read(0, 10))]).toEqual([1, 2, 3, 0, 0, 9]);
      await file.close();
      const readOnly = await s.open(posix.join(root, 'blocking'), 'read');
      expect(() => readOnly.writeSync?.(bytes(1), 0)).toThrow();
      await readOnly.close();
    },
  },
  {
    name: 'a write past the end leaves a zero-filled hole',
    check: async (s, root) => {
      const file = await s.open(posix.join(root, 'hole'), 'create-exclusive');
      await file.write(bytes(9), 3);
      expect([...(await file.read(0, 4))]).toEqual([0, 0, 0, 9]);
      await file.close();
    },
  },
  {
    name: 'truncate shrinks, and extends with zeros',
    check: async (s, root) => {
      const file = await s.open(posix.join(root, 't'), 'create-exclusive');
      await file.write(bytes(1, 2, 3, 4), 0);
      await file.truncate(2);
      expect([...(await file.read(0, 10))]).toEqual([1, 2]);
      await file.truncate(3);
      expect([...(await file.read(0, 10))]).toEqual([1, 2, 0]);
      await file.close();
    },
  },
  {
    name: 'names: EEXIST, ENOENT, stat of a missing name is undefined',
    check: async (s, root) => {
      const path = posix.join(root, 'n');
      await (await s.open(path, 'create-exclusive')).close();
      expect(await codeOf(s.open(path, 'create-exclusive'))).toBe('EEXIST');
      expect(await codeOf(s.open(posix.join(root, 'missing'), 'read'))).toBe('ENOENT');
      expect(await codeOf(s.open(posix.join(root, 'no-dir', 'x'), 'create-exclusive'))).toBe('ENOENT');
      expect(await codeOf(s.unlink(posix.join(root, 'missing')))).toBe('ENOENT');
      expect(await codeOf(s.rename(posix.join(root, 'missing'), path))).toBe('ENOENT');
      expect(await s.stat(posix.join(root, 'missing'))).toBeUndefined();
    },
  },
  {
    name: 'rename replaces the target; unlink removes; readdir lists; stat tells files from directories',
    check: async (s, root) => {
      const a = posix.join(root, 'a');
      const b = posix.join(root, 'b');
      const fa = await s.open(a, 'create-exclusive');
      await fa.write(bytes(1), 0);
      await fa.close();
      const fb = await s.open(b, 'create-exclusive');
      await fb.write(bytes(2, 2), 0);
      await fb.close();
      await s.rename(a, b);
      await s.syncDir(root);
      expect(await s.stat(a)).toBeUndefined();
      const info = await s.stat(b);
      expect(info).toMatchObject({ size: 1, isFile: true, isDirectory: false, isSymbolicLink: false });
      expect((await s.readdir(root)).sort()).toEqual(['b']);
      await s.unlink(b);
      expect(await s.readdir(root)).toEqual([]);
      expect((await s.stat(root))?.isDirectory).toBe(true);
    },
  },
  {
    name: 'mkdir makes parents and is idempotent; setMtime sets the modification time',
    check: async (s, root) => {
      const deep = posix.join(root, 'x', 'y');
      await s.mkdir(deep);
      await s.mkdir(deep);
      expect((await s.stat(deep))?.isDirectory).toBe(true);
      const path = posix.join(deep, 'f');
      await (await s.open(path, 'create-exclusive')).close();
      await s.setMtime(path, 1_700_000_000_000);
      expect(Math.round((await s.stat(path))!.mtimeMs)).toBe(1_700_000_000_000);
    },
  },
];

/**
 * A vitest suite checking that a {@link Storage} behaves as journal and store rely on (the
 * testkit runs it on NodeStorage and on SimulatedStorage, so the simulation matches the real
 * file system on everything but durability).
 */
export function describeStorageContract(name: string, create: () => Promise<StorageUnderTest>): void {
  describe(`storage contract: ${name}`, () => {
    for (const testCase of STORAGE_CONTRACT) {
      it(testCase.name, async () => {
        const subject = await create();
        try {
          await testCase.check(subject.storage, subject.root);
        } finally {
          await subject.cleanup?.();
        }
      });
    }
  });
}
