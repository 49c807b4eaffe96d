import { crc32 } from 'node:zlib';
import { Fold, Journal, createIdentity, readLog, snapshotState, type CheckpointState, type CkptEvent } from '@ckpt/core/internal';
import { describe, expect, it } from 'vitest';
import { isSimulatedCrash } from '../storage/simulated-crash.js';
import { SimulatedStorage, type CrashPlan } from '../storage/simulated-storage.js';

/**
 * Opening a checkpoint of format version 1 for writing rewrites it as version 2 (log-format.md,
 * "Versions"). A power loss before any operation of that open, whatever happens to the unsynced
 * writes and directory entries, leaves a checkpoint that reads to the same state, as version 1
 * or 2, and a later open finishes the upgrade.
 */

const fold = new Fold();
const path = '/data/job.ckpt';
const identity = createIdentity({ kind: 'test', id: 'upgrade', version: 1, structure: ['a'] });

const plain = (state: CheckpointState) => JSON.parse(JSON.stringify(snapshotState(state, fold))) as { eventCount: number };

/** A disk holding a version-1 checkpoint with a few records and a torn tail. */
async function versionOneDisk(): Promise<SimulatedStorage> {
  const disk = new SimulatedStorage();
  await disk.mkdir('/data');
  const journal = await Journal.create(path, identity, { storage: disk, fold, compaction: false });
  const events: CkptEvent[] = [
    { type: 'attempt-started', attempt: 1 },
    { type: 'variable-set', name: 'rows', value: 1, valueType: 'int', sensitive: false },
    { type: 'scope-opened', scope: 'tx', kind: 'transaction' },
  ];
  for (const event of events) await journal.append([event]);
  await journal.close();
  const bytes = Buffer.from(disk.peekFile(path)!);
  bytes.writeUInt16LE(1, 8);
  const headerLength = bytes.readUInt16LE(10);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, headerLength - 4)), headerLength - 4);
  // A torn tail: recovery truncates it, and the upgrade leaves it out.
  disk.putFile(path, Buffer.concat([bytes, Buffer.from([9, 0, 0, 0, 1, 2, 3])]));
  return disk.crash({});
}

const versionOf = (disk: SimulatedStorage) => Buffer.from(disk.peekFile(path)!).readUInt16LE(8);

describe('upgrading a version-1 checkpoint', () => {
  it('a crash before any operation of the upgrading open leaves the same state, as version 1 or 2; the next open finishes it', async () => {
    const base = await versionOneDisk();
    const expected = plain((await readLog(base, path, fold)).state);
    // A clean open, to count its operations.
    const clean = base.crash({});
    await (await Journal.open(path, { storage: clean, fold })).close();
    expect(versionOf(clean)).toBe(2);
    const operations = clean.operations.length;
    expect(operations).toBeGreaterThan(5);
    const plans: CrashPlan[] = [
      {},
      { writes: [{ kind: 'keep' }], directories: [1] },
      { writes: [{ kind: 'keep' }], directories: [2] },
      { writes: [{ kind: 'keep' }], directories: [3] },
      { writes: [{ kind: 'torn', keep: 20 }], directories: [2] },
      { writes: [{ kind: 'torn', keep: 3, garble: true }], directories: [1] },
    ];
    const versions = new Set<number>();
    let states = 0;
    for (let crashAt = 0; crashAt <= operations; crashAt++) {
      const disk = base.crash({}, { crashAt });
      try {
        await (await Journal.open(path, { storage: disk, fold })).close();
      } catch (error) {
        if (!isSimulatedCrash(error) && !disk.crashed) throw error;
      }
      for (const plan of plans) {
        const after = disk.crash(plan);
        const what = `crash before operation ${crashAt}, plan ${JSON.stringify(plan)}`;
        const reading = await readLog(after, path, fold);
        versions.add(reading.header.version);
        expect(reading.header.version === 1 || reading.header.version === 2, what).toBe(true);
        // The same events (an epoch record is not an event), so the same state.
        expect(plain(reading.state), what).toEqual(expected);
        await (await Journal.open(path, { storage: after, fold })).close();
        expect(versionOf(after), what).toBe(2);
        expect(plain((await readLog(after, path, fold)).state), what).toEqual(expected);
        expect(
          (await after.readdir('/data')).filter((name) => name.endsWith('.tmp')),
          what,
        ).toEqual([]);
        states++;
      }
    }
    // Both sides of the rename were reached.
    expect([...versions].sort()).toEqual([1, 2]);
    console.info(`[ckpt] format upgrade: ${states} crash states over ${operations} operations`);
  });
});
