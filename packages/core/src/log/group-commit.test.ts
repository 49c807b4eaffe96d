import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageIoError } from '../errors.js';
import { Fold } from '../fold/fold.js';
import { NodeStorage } from '../storage/node-storage.js';
import type { OpenMode, Storage, StorageFile } from '../storage/storage.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';
import { SLOW_BLOCKING_SYNC_MS } from './journal-blocking.js';
import { Journal } from './journal.js';
import { readLog } from './read-log.js';

const dir = useTempDir('group');
const fold = new Fold();

/**
 * Real files, with every fdatasync and directory fsync counted, and a switch that makes fdatasync
 * fail. With `blocking`, files also offer the blocking calls (`writeSync`, `datasyncSync`), recorded
 * under their own names; without it, the journal only has the asynchronous ones.
 */
class CountingStorage implements Storage {
  datasyncs = 0;
  dirSyncs = 0;
  failDatasync = false;
  failWrite = false;
  /** Called inside each blocking fdatasync (a test advances its fake clock here: a slow disk). */
  duringDatasyncSync: () => void = () => undefined;
  readonly calls: string[] = [];
  private readonly inner = new NodeStorage();

  constructor(private readonly blocking = false) {}

  private eio(syscall: string): Error {
    return Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: 'EIO' });
  }

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    const file = await this.inner.open(path, mode);
    const blocking = this.blocking && {
      writeSync: (data: Uint8Array, position: number) => {
        this.calls.push('writeSync');
        if (this.failWrite) throw this.eio('write');
        file.writeSync!(data, position);
      },
      datasyncSync: () => {
        this.calls.push('datasyncSync');
        this.datasyncs++;
        if (this.failDatasync) throw this.eio('fdatasync');
        this.duringDatasyncSync();
        file.datasyncSync!();
      },
    };
    return {
      ...blocking,
      path: file.path,
      size: () => file.size(),
      read: (position, length) => file.read(position, length),
      write: async (data, position) => {
        this.calls.push('write');
        if (this.failWrite) throw this.eio('write');
        return file.write(data, position);
      },
      truncate: (size) => file.truncate(size),
      datasync: async () => {
        this.calls.push('datasync');
        this.datasyncs++;
        if (this.failDatasync) throw this.eio('fdatasync');
        return file.datasync();
      },
      close: () => file.close(),
    };
  }
  stat = (path: string) => this.inner.stat(path);
  rename = (from: string, to: string) => (this.calls.push('rename'), this.inner.rename(from, to));
  unlink = (path: string) => this.inner.unlink(path);
  mkdir = (path: string) => this.inner.mkdir(path);
  readdir = (path: string) => this.inner.readdir(path);
  setMtime = (path: string, ms: number) => this.inner.setMtime(path, ms);
  syncDir = (path: string) => (this.calls.push('syncDir'), this.dirSyncs++, this.inner.syncDir(path));
}

describe('group commit and durability', () => {
  it('256 concurrent durable appends share far fewer fdatasyncs, and all of them land', async () => {
    const storage = new CountingStorage();
    const path = join(dir.path, 'group.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: false });
    const before = storage.datasyncs;
    await Promise.all(Array.from({ length: 256 }, (_, i) => journal.append([{ type: 'cursor-set', unit: `u${i}`, cursor: i }])));
    const used = storage.datasyncs - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(16);
    await journal.close();
    expect((await readLog(storage, path, fold)).state.cursors.size).toBe(256);
  });

  it('appenders that append again as soon as they are released share one fdatasync per round', async () => {
    const storage = new CountingStorage();
    const journal = await Journal.create(join(dir.path, 'rounds.ckpt'), testIdentity(), { storage, fold, compaction: false });
    const before = storage.datasyncs;
    const rounds = 10;
    const appender = async (id: number) => {
      for (let round = 0; round < rounds; round++) await journal.append([{ type: 'cursor-set', unit: `u${id}`, cursor: round }]);
    };
    await Promise.all(Array.from({ length: 64 }, (_, id) => appender(id)));
    expect(storage.datasyncs - before).toBeLessThanOrEqual(rounds + 1);
    await journal.close();
  });

  it('a durable append resolves only after an fdatasync that follows its write', async () => {
    const storage = new CountingStorage();
    const journal = await Journal.create(join(dir.path, 'order.ckpt'), testIdentity(), { storage, fold, compaction: false });
    storage.calls.length = 0;
    await journal.append([{ type: 'unit-started', unit: 'a' }]);
    expect(storage.calls).toEqual(['write', 'datasync']);
    storage.calls.length = 0;
    await journal.append([{ type: 'unit-started', unit: 'b' }], { durability: 'buffered' });
    await journal.sync();
    expect(storage.calls).toEqual(['write', 'datasync']);
    await journal.close();
  });

  it('creating a checkpoint syncs the file before the rename and the directory after it', async () => {
    const storage = new CountingStorage();
    await (await Journal.create(join(dir.path, 'create.ckpt'), testIdentity(), { storage, fold })).close();
    expect(storage.calls.slice(0, 4)).toEqual(['write', 'datasync', 'rename', 'syncDir']);
  });

  it('an fdatasync error fails the writer: the waiting append rejects and nothing more is accepted', async () => {
    const storage = new CountingStorage();
    const journal = await Journal.create(join(dir.path, 'eio.ckpt'), testIdentity(), { storage, fold, compaction: false });
    await journal.append([{ type: 'unit-started', unit: 'a' }]);
    storage.failDatasync = true;
    await expect(journal.append([{ type: 'unit-started', unit: 'b' }])).rejects.toBeInstanceOf(StorageIoError);
    storage.failDatasync = false;
    // No retry-and-trust: the writer stays failed even though fdatasync would now succeed.
    await expect(journal.append([{ type: 'unit-started', unit: 'c' }])).rejects.toBeInstanceOf(StorageIoError);
    await expect(journal.sync()).rejects.toBeInstanceOf(StorageIoError);
    expect(journal.failed?.message).toMatch(/fdatasync/);
    await journal.close();
  });

  it('compaction rewrites through temp file, fdatasync, rename and directory fsync, keeping the state', async () => {
    const storage = new CountingStorage();
    const path = join(dir.path, 'compact.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: false });
    for (let i = 0; i < 200; i++) await journal.append([{ type: 'cursor-set', unit: 'u', cursor: i }], { durability: 'buffered' });
    await journal.sync();
    const longSize = journal.size;
    storage.calls.length = 0;
    await journal.compact();
    expect(storage.calls).toEqual(['write', 'datasync', 'rename', 'syncDir']);
    expect(journal.size).toBeLessThan(longSize / 10);
    await journal.append([{ type: 'cursor-set', unit: 'u', cursor: 200 }]);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.cursors.get('u')?.cursor).toBe(200);
    expect(reading.state.eventCount).toBe(201);
  });
});

describe('a durable append alone blocks on write and fdatasync', () => {
  it('takes the blocking calls when one durable append is alone, and receipts and marks are as before', async () => {
    const storage = new CountingStorage(true);
    const path = join(dir.path, 'alone.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: false });
    const marks: number[] = [];
    journal.durableMarks().subscribe((mark) => marks.push(mark));
    storage.calls.length = 0;
    const receipts = [];
    for (let i = 0; i < 3; i++) receipts.push(await journal.append([{ type: 'cursor-set', unit: 'u', cursor: i }]));
    expect(storage.calls).toEqual(['writeSync', 'datasyncSync', 'writeSync', 'datasyncSync', 'writeSync', 'datasyncSync']);
    expect(receipts).toEqual([{ seq: 2 }, { seq: 3 }, { seq: 4 }]);
    expect(marks).toEqual([1, 2, 3, 4]);
    expect(journal.durableSeq).toBe(4);
    storage.calls.length = 0;
    await journal.append([{ type: 'cursor-set', unit: 'u', cursor: 3 }], { durability: 'buffered' });
    await journal.sync();
    // A sync() barrier never blocks (runners call it while they go on working).
    expect(storage.calls).toEqual(['write', 'datasync']);
    storage.calls.length = 0;
    // Buffered appends on their own never block: nobody waits for them.
    journal.append([{ type: 'cursor-set', unit: 'u', cursor: 4 }], { durability: 'buffered' });
    await journal.append([{ type: 'cursor-set', unit: 'u', cursor: 5 }], { durability: 'buffered' });
    await journal.close();
    // Close's barrier came while that write was in flight: the same turn syncs, asynchronously.
    expect(storage.calls).toEqual(['write', 'datasync']);
    expect((await readLog(storage, path, fold)).state.cursors.get('u')?.cursor).toBe(5);
  });

  it(`after one blocking fdatasync slower than ${SLOW_BLOCKING_SYNC_MS} ms the journal never blocks again (a stalled disk must not stop the event loop)`, async () => {
    const storage = new CountingStorage(true);
    let clock = 1_000_000;
    const journal = await Journal.create(join(dir.path, 'slow.ckpt'), testIdentity(), { storage, fold, compaction: false, now: () => clock });
    const append = (cursor: number) => journal.append([{ type: 'cursor-set', unit: 'u', cursor }]);
    storage.calls.length = 0;
    storage.duringDatasyncSync = () => {
      clock += SLOW_BLOCKING_SYNC_MS; // at the bound: still blocking
    };
    await append(1);
    await append(2);
    expect(storage.calls).toEqual(['writeSync', 'datasyncSync', 'writeSync', 'datasyncSync']);
    storage.calls.length = 0;
    storage.duringDatasyncSync = () => {
      clock += SLOW_BLOCKING_SYNC_MS + 1;
    };
    await append(3);
    expect(storage.calls).toEqual(['writeSync', 'datasyncSync']);
    // Fast again, but the journal does not trust the disk any more: asynchronous for good.
    storage.duringDatasyncSync = () => undefined;
    storage.calls.length = 0;
    for (let i = 4; i <= 6; i++) await append(i);
    expect(storage.calls).toEqual(['write', 'datasync', 'write', 'datasync', 'write', 'datasync']);
    expect(journal.durableSeq).toBe(7);
    await journal.close();
    expect((await readLog(storage, join(dir.path, 'slow.ckpt'), fold)).state.cursors.get('u')?.cursor).toBe(6);
  });

  it('concurrent durable appends take the asynchronous calls, one fdatasync for the batch', async () => {
    const storage = new CountingStorage(true);
    const journal = await Journal.create(join(dir.path, 'together.ckpt'), testIdentity(), { storage, fold, compaction: false });
    storage.calls.length = 0;
    const receipts = await Promise.all(Array.from({ length: 8 }, (_, i) => journal.append([{ type: 'cursor-set', unit: `u${i}`, cursor: i }])));
    expect(storage.calls).toEqual(['write', 'datasync']);
    expect(receipts.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    await journal.close();
  });

  for (const failing of ['write', 'fdatasync'] as const) {
    it(`a failed blocking ${failing} fails the writer for good, with the error the asynchronous path gives`, async () => {
      const messages: string[] = [];
      for (const blocking of [true, false]) {
        const storage = new CountingStorage(blocking);
        const journal = await Journal.create(join(dir.path, `fail-${failing}-${blocking}.ckpt`), testIdentity(), {
          storage,
          fold,
          compaction: false,
        });
        await journal.append([{ type: 'unit-started', unit: 'a' }]);
        storage.calls.length = 0;
        if (failing === 'write') storage.failWrite = true;
        else storage.failDatasync = true;
        const error = await journal.append([{ type: 'unit-started', unit: 'b' }]).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StorageIoError);
        expect(storage.calls[0]).toBe(blocking ? 'writeSync' : 'write');
        storage.failWrite = false;
        storage.failDatasync = false;
        // No retry-and-trust: the writer stays failed, with the same error.
        await expect(journal.append([{ type: 'unit-started', unit: 'c' }])).rejects.toBe(error);
        await expect(journal.sync()).rejects.toBe(error);
        expect(journal.failed).toBe(error);
        messages.push((error as Error).message.replace(/fail-\w+-\w+\.ckpt/, 'X'));
        await journal.close();
      }
      expect(messages[0]).toBe(messages[1]);
      expect(messages[0]).toMatch(failing === 'write' ? /write/ : /fdatasync/);
    });
  }
});
