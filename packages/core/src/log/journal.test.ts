import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptCheckpointError, InvalidInputError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { Fold, foldEvents } from '../fold/fold.js';
import { NodeStorage } from '../storage/node-storage.js';
import { createIdentity } from '../store/identity.js';
import { Journal } from './journal.js';
import { readLog } from './read-log.js';

const storage = new NodeStorage();
const fold = new Fold();
const identity = createIdentity({ kind: 'test', id: 'journal', version: 1, structure: { steps: ['a'] } });
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cursor = (i: number): CkptEvent => ({ type: 'cursor-set', unit: 'u', cursor: i });

describe('Journal', () => {
  it('create over an existing checkpoint refuses, file untouched, unless asked to replace it', async () => {
    const path = join(dir, 'kept.ckpt');
    const first = await Journal.create(path, identity, { storage, fold });
    await first.append([cursor(7)]);
    await first.close();
    const bytes = readFileSync(path);
    await expect(Journal.create(path, identity, { storage, fold })).rejects.toThrow(/already exists.*left it untouched/s);
    await expect(Journal.create(path, identity, { storage, fold })).rejects.toBeInstanceOf(InvalidInputError);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect((await readLog(storage, path, fold)).state.cursors.get('u')?.cursor).toBe(7);
    const replaced = await Journal.create(path, identity, { storage, fold, replace: true });
    await replaced.close();
    expect((await readLog(storage, path, fold)).state.cursors.size).toBe(0);
  });

  it('an invalid event in a batch rejects that append only: the state and the journal stay as they were', async () => {
    const path = join(dir, 'batch.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold });
    await journal.append([cursor(1)]);
    const before = JSON.stringify([...journal.state.cursors], (_k, v: unknown) => v);
    const eventsBefore = journal.state.eventCount;
    // The first event is valid, the second is not (no unit): the record must not land, not even its first half.
    const rejected = journal.append([cursor(2), { type: 'unit-started' } as unknown as CkptEvent]);
    await expect(rejected).rejects.toBeInstanceOf(InvalidInputError);
    await expect(rejected).rejects.toThrow(/event 1 \(unit-started\) is invalid/);
    expect(journal.failed).toBeUndefined();
    expect(journal.state.eventCount).toBe(eventsBefore);
    expect(JSON.stringify([...journal.state.cursors], (_k, v: unknown) => v)).toBe(before);
    // The journal keeps working, and the file holds exactly what was accepted.
    await journal.append([cursor(3), { type: 'unit-started', unit: 'v' }]);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.cursors.get('u')?.cursor).toBe(3);
    expect(reading.state.running.has('v')).toBe(true);
    expect(reading.state.eventCount).toBe(eventsBefore + 2);
  });

  it('creating a checkpoint removes what an interrupted creation left (a crash before its rename)', async () => {
    const path = join(dir, 'a.ckpt');
    const leftover = `${path}.new-0123456789abcdef.tmp`;
    const unrelated = join(dir, 'other.ckpt.new-0123456789abcdef.tmp');
    writeFileSync(leftover, 'half a header');
    writeFileSync(unrelated, 'another job');
    const journal = await Journal.create(path, identity, { storage, fold });
    await journal.close();
    expect(journal.recovery.removedTemporaryFiles).toEqual(['a.ckpt.new-0123456789abcdef.tmp']);
    expect(readdirSync(dir).sort()).toEqual(['a.ckpt', 'other.ckpt.new-0123456789abcdef.tmp']);
  });

  it('reopens to the state of everything appended, files 0600', async () => {
    const path = join(dir, 'a.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold });
    const events = Array.from({ length: 50 }, (_, i) => cursor(i));
    for (const event of events) await journal.append([event]);
    await journal.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const reading = await readLog(storage, path, fold);
    expect(reading.state.cursors.get('u')?.cursor).toBe(49);
    expect(reading.state.eventCount).toBe(foldEvents(events).eventCount);
  });

  it('keeps every event appended while a compaction runs', async () => {
    const path = join(dir, 'b.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold, compaction: { minBytes: 2048 } });
    const receipts: Promise<unknown>[] = [];
    for (let i = 0; i < 2000; i++) receipts.push(journal.append([cursor(i)], { durability: i % 7 === 0 ? 'durable' : 'buffered' }));
    await Promise.all(receipts);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.eventCount).toBe(2000);
    expect(reading.state.cursors.get('u')?.cursor).toBe(1999);
    expect(reading.fileSize).toBeLessThan(8192);
  });

  it('truncates a torn tail and refuses a damaged middle, naming the offset', async () => {
    const path = join(dir, 'c.ckpt');
    const journal = await Journal.create(path, identity, { storage, fold, compaction: false });
    for (let i = 0; i < 5; i++) await journal.append([cursor(i)]);
    await journal.close();
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 3));
    const torn = await Journal.open(path, { storage, fold });
    expect(torn.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(torn.state.cursors.get('u')?.cursor).toBe(3);
    await torn.close();
    const healed = readFileSync(path);
    const damaged = Buffer.from(healed);
    damaged[120] = damaged[120]! ^ 0xff;
    writeFileSync(path, damaged);
    await expect(Journal.open(path, { storage, fold })).rejects.toBeInstanceOf(CorruptCheckpointError);
    expect(readFileSync(path).equals(damaged)).toBe(true);
  });

  it('with an injected clock and random source, the same appends write the same bytes', async () => {
    const write = async (name: string) => {
      let counter = 0;
      const randomBytes = (size: number) => Uint8Array.from({ length: size }, () => counter++ & 0xff);
      const path = join(dir, name);
      const journal = await Journal.create(path, identity, { storage, fold, now: () => 1_000, randomBytes, compaction: { minBytes: 256 } });
      for (let i = 0; i < 40; i++) await journal.append([cursor(i)]);
      await journal.close();
      return readFileSync(path);
    };
    expect((await write('one.ckpt')).equals(await write('two.ckpt'))).toBe(true);
  });
});
