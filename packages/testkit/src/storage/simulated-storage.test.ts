import { describe, expect, it } from 'vitest';
import { SimulatedCrash, isSimulatedCrash } from './simulated-crash.js';
import { SimulatedStorage } from './simulated-storage.js';

const bytes = (...values: number[]) => Uint8Array.from(values);

async function writeFile(storage: SimulatedStorage, path: string, data: Uint8Array, sync: boolean) {
  const file = await storage.open(path, 'create-exclusive');
  await file.write(data, 0);
  if (sync) await file.datasync();
  await file.close();
}

describe('SimulatedStorage', () => {
  it('reads back what was written and records every call', async () => {
    const storage = new SimulatedStorage();
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', bytes(1, 2, 3), false);
    const file = await storage.open('/d/a', 'read');
    expect(await file.read(1, 10)).toEqual(bytes(2, 3));
    expect(storage.operations.map((o) => o.kind)).toEqual(['mkdir', 'open', 'write', 'close', 'open', 'read']);
  });

  it('keeps synced data and the synced name after a crash, and drops unsynced ones by default', async () => {
    const storage = new SimulatedStorage();
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', bytes(1, 2, 3), true);
    await storage.syncDir('/d');
    const file = await storage.open('/d/a', 'read-write');
    await file.write(bytes(9, 9), 3);
    await writeFile(storage, '/d/b', bytes(7), true);
    const after = storage.crash();
    expect(after.peekFile('/d/a')).toEqual(bytes(1, 2, 3));
    // b's data was synced but its name was not.
    expect(after.peekFile('/d/b')).toBeUndefined();
    expect(storage.crashed).toBe(true);
    await expect(file.read(0, 1)).rejects.toBeInstanceOf(SimulatedCrash);
  });

  it('keeps, drops or tears each unsynced write as the plan says, garbling the torn sector on request', async () => {
    const storage = new SimulatedStorage();
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', new Uint8Array(0), true);
    await storage.syncDir('/d');
    const file = await storage.open('/d/a', 'read-write');
    await file.write(bytes(1, 1, 1, 1), 0);
    await file.write(bytes(2, 2, 2, 2), 4);
    expect(storage.unsyncedWrites().map((w) => [w.index, w.position, w.length])).toEqual([
      [0, 0, 4],
      [1, 4, 4],
    ]);
    expect(storage.crash({ writes: [{ kind: 'keep' }, { kind: 'drop' }] }).peekFile('/d/a')).toEqual(bytes(1, 1, 1, 1));
    expect(storage.crash({ writes: [{ kind: 'drop' }, { kind: 'keep' }] }).peekFile('/d/a')).toEqual(bytes(0, 0, 0, 0, 2, 2, 2, 2));
    expect(storage.crash({ writes: [{ kind: 'keep' }, { kind: 'torn', keep: 3 }] }).peekFile('/d/a')).toEqual(bytes(1, 1, 1, 1, 2, 2, 2));
    const garbled = storage.crash({ writes: [{ kind: 'keep' }, { kind: 'torn', keep: 1, garble: true }] }).peekFile('/d/a')!;
    expect(garbled.length).toBe(8);
    expect([...garbled.subarray(0, 5)]).toEqual([1, 1, 1, 1, 2]);
    expect([...garbled.subarray(5)]).not.toEqual([2, 2, 2]);
  });

  it('makes a rename durable only with its directory sync, and keeps a prefix of unsynced changes as planned', async () => {
    const storage = new SimulatedStorage();
    await storage.mkdir('/d');
    await writeFile(storage, '/d/old', bytes(1), true);
    await storage.syncDir('/d');
    await writeFile(storage, '/d/tmp', bytes(2), true);
    await storage.rename('/d/tmp', '/d/old');
    expect(storage.unsyncedDirectories()).toEqual([{ path: '/d', changes: 2 }]);
    const none = storage.crash({ directories: [0] });
    expect(none.peekFile('/d/old')).toEqual(bytes(1));
    expect(none.peekFile('/d/tmp')).toBeUndefined();
    const created = storage.crash({ directories: [1] });
    expect(created.peekFile('/d/tmp')).toEqual(bytes(2));
    expect(created.peekFile('/d/old')).toEqual(bytes(1));
    const renamed = storage.crash({ directories: [2] });
    expect(renamed.peekFile('/d/old')).toEqual(bytes(2));
    expect(renamed.peekFile('/d/tmp')).toBeUndefined();
  });

  it('crashes before the chosen operation and fails every later call', async () => {
    const storage = new SimulatedStorage({ crashAt: 2 });
    await storage.mkdir('/d');
    const file = await storage.open('/d/a', 'create-exclusive');
    const error = await file.write(bytes(1), 0).catch((e: unknown) => e);
    expect(isSimulatedCrash(error)).toBe(true);
    await expect(storage.stat('/d')).rejects.toBeInstanceOf(SimulatedCrash);
    expect(storage.operations).toHaveLength(2);
  });

  it('injects EIO and ENOSPC on the nth matching call, including datasync', async () => {
    const storage = new SimulatedStorage({
      failedSyncLosesWrites: false,
      faults: [
        { kind: 'datasync', nth: 2, code: 'EIO' },
        { kind: 'write', nth: 3, code: 'ENOSPC' },
      ],
    });
    await storage.mkdir('/d');
    const file = await storage.open('/d/a', 'create-exclusive');
    await file.write(bytes(1), 0);
    await file.datasync();
    await file.write(bytes(2), 1);
    await expect(file.datasync()).rejects.toMatchObject({ code: 'EIO' });
    await expect(file.write(bytes(3), 2)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(storage.operations.filter((o) => o.error).map((o) => [o.kind, o.error])).toEqual([
      ['datasync', 'EIO'],
      ['write', 'ENOSPC'],
    ]);
    // The failed datasync made nothing durable: the second write is still at the crash's mercy.
    expect(storage.unsyncedWrites()).toHaveLength(1);
  });

  it('loses the writes of a failed datasync for good by default (fsyncgate), though reads still show them', async () => {
    const storage = new SimulatedStorage({ faults: [{ kind: 'datasync', nth: 2, code: 'EIO' }] });
    await storage.mkdir('/d');
    const file = await storage.open('/d/a', 'create-exclusive');
    await file.write(bytes(1, 1), 0);
    await file.datasync();
    await storage.syncDir('/d');
    await file.write(bytes(2), 1);
    await expect(file.datasync()).rejects.toMatchObject({ code: 'EIO' });
    expect([...(await file.read(0, 2))]).toEqual([1, 2]);
    await file.write(bytes(3), 2);
    // A retried datasync succeeds, yet the write the failed one lost never reaches the disk.
    await file.datasync();
    expect(storage.crash({ writes: [{ kind: 'keep' }] }).peekFile('/d/a')).toEqual(bytes(1, 1, 3));
  });

  it('reports Node-style errors for missing and existing names', async () => {
    const storage = new SimulatedStorage();
    await expect(storage.open('/nope/a', 'create-exclusive')).rejects.toMatchObject({ code: 'ENOENT' });
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', bytes(1), false);
    await expect(storage.open('/d/a', 'create-exclusive')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(storage.open('/d/b', 'read')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await storage.stat('/d/b')).toBeUndefined();
    expect((await storage.stat('/d'))?.isDirectory).toBe(true);
    expect(await storage.readdir('/d')).toEqual(['a']);
  });

  it('has blocking writeSync and datasyncSync with the same effects, crash points and faults, recorded as blocking', async () => {
    const storage = new SimulatedStorage({ faults: [{ kind: 'datasync', nth: 3, code: 'EIO' }] });
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', new Uint8Array(0), true);
    await storage.syncDir('/d');
    const file = await storage.open('/d/a', 'read-write');
    file.writeSync!(bytes(1, 2), 0);
    expect(storage.unsyncedWrites().map((w) => [w.position, w.length])).toEqual([[0, 2]]);
    file.datasyncSync!();
    expect(storage.unsyncedWrites()).toEqual([]);
    expect(storage.operations.slice(-2).map((o) => [o.kind, o.blocking])).toEqual([
      ['write', true],
      ['datasync', true],
    ]);
    // An injected fdatasync error is thrown, and the writes it should have made durable are lost for good.
    file.writeSync!(bytes(3), 2);
    expect(() => file.datasyncSync!()).toThrow(/EIO/);
    expect(storage.crash({ writes: [{ kind: 'keep' }] }).peekFile('/d/a')).toEqual(bytes(1, 2));
  });

  it('crashes before a blocking call as before an asynchronous one: thrown at once, no effect', async () => {
    const storage = new SimulatedStorage();
    await storage.mkdir('/d');
    await writeFile(storage, '/d/a', new Uint8Array(0), true);
    await storage.syncDir('/d');
    const file = await storage.open('/d/a', 'read-write');
    file.writeSync!(bytes(1), 0);
    storage.crashBefore(storage.operations.length);
    expect(() => file.datasyncSync!()).toThrow(SimulatedCrash);
    expect(storage.crash().peekFile('/d/a')).toEqual(bytes());
    const other = new SimulatedStorage({ crashAt: 0 });
    await expect(other.mkdir('/x')).rejects.toBeInstanceOf(SimulatedCrash);
  });
});
