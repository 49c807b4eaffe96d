import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CkptEvent } from '../fold/events.js';
import { Fold } from '../fold/fold.js';
import { Journal } from '../log/journal.js';
import { readLog } from '../log/read-log.js';
import { NodeStorage } from '../storage/node-storage.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';

/**
 * Issue 12 item 24: a flipped bit in the final, fsynced record looks exactly like a torn write,
 * and the next writer truncated it without a word. Every truncation is now reported to the
 * opener and recorded in the log (the new session's epoch record).
 */
const storage = new NodeStorage();
const fold = new Fold();
const dir = useTempDir('tail-truncation');
const cursor = (i: number): CkptEvent => ({ type: 'cursor-set', unit: 'u', cursor: i });

describe('security: recovery never truncates a tail silently', () => {
  it('a flipped bit in the last synced record: open reports and records offset, bytes and last good seq', async () => {
    const path = join(dir.path, 'job.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: false });
    let lastStart = 0;
    let lastGoodSeq = 0;
    for (let i = 0; i < 3; i++) {
      lastStart = journal.size;
      const { seq } = await journal.append([cursor(i)], { durability: 'durable' });
      if (i < 2) lastGoodSeq = seq;
    }
    await journal.close();
    const bytes = readFileSync(path);
    const size = bytes.length;
    bytes[size - 2]! ^= 0x10; // one bit of the last record's payload
    writeFileSync(path, bytes);

    const reopened = await Journal.open(path, { storage, fold, compaction: false });
    const expected = { offset: lastStart, bytes: size - lastStart, lastGoodSeq };
    expect(reopened.recovery.truncatedTail).toMatchObject(expected);
    expect(reopened.recovery.truncatedTail?.reason).toMatch(/checksum/);
    await reopened.close();

    const reading = await readLog(storage, path, fold, { withEntries: true });
    expect(reading.truncatedTails).toEqual([expect.objectContaining(expected)]);
    const epochs = (reading.entries ?? []).filter((entry) => entry.kind === 'epoch');
    expect(epochs.at(-1)).toMatchObject({ kind: 'epoch', offset: lastStart, epoch: { epoch: 2, truncatedTail: expected } });
    expect(reading.state.cursors.get('u')?.cursor).toBe(1);
  });

  it('a clean open records no truncation', async () => {
    const path = join(dir.path, 'clean.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold });
    await journal.append([cursor(1)]);
    await journal.close();
    const reopened = await Journal.open(path, { storage, fold });
    expect(reopened.recovery.truncatedTail).toBeUndefined();
    await reopened.close();
    expect((await readLog(storage, path, fold)).truncatedTails).toEqual([]);
  });
});
