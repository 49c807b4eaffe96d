import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { Fold } from '../fold/fold.js';
import type { PlainValue } from '../fold/plain.js';
import { Journal } from '../log/journal.js';
import { readLog } from '../log/read-log.js';
import { NodeStorage } from '../storage/node-storage.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';

/**
 * Issue 12 item 4: a writer must never write a record its own reader refuses. A value nested
 * 70 levels deep passed the fold (which checks the field, not the record) and was written; the
 * reader then refused the whole checkpoint for good.
 */
const storage = new NodeStorage();
const fold = new Fold();
const dir = useTempDir('writes-what-it-reads');

function nested(depth: number): PlainValue {
  let value: PlainValue = 'bottom';
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

async function journalWithOneEvent(): Promise<{ journal: Journal; path: string }> {
  const path = join(dir.path, 'job.ckpt');
  const journal = await Journal.create(path, testIdentity(), { storage, fold });
  await journal.append([{ type: 'cursor-set', unit: 'u', cursor: 1 }]);
  return { journal, path };
}

describe('security: the journal writes only what its reader reads', () => {
  it('refuses a 70-deep nested payload with a clear error; the log is unchanged and readable', async () => {
    const { journal, path } = await journalWithOneEvent();
    const before = readFileSync(path);
    const deep: CkptEvent = { type: 'cursor-set', unit: 'u', cursor: nested(70) };
    const error = await journal.append([deep]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/reader would refuse them.*nested deeper than 64 levels/);
    // The journal is not failed: a good append still works, and lands after the first one.
    expect(journal.failed).toBeUndefined();
    await journal.sync();
    expect(readFileSync(path).equals(before)).toBe(true);
    await journal.append([{ type: 'cursor-set', unit: 'u', cursor: 2 }]);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.cursors.get('u')?.cursor).toBe(2);
    expect(reading.tailBytes).toBe(0);
  });

  it('refuses an own "__proto__" key, which the reader would silently rename', async () => {
    const { journal, path } = await journalWithOneEvent();
    const before = readFileSync(path);
    const cursor = JSON.parse('{"__proto__": {"polluted": true}}') as PlainValue;
    await expect(journal.append([{ type: 'cursor-set', unit: 'u', cursor }])).rejects.toThrow(/events\[0\]\.cursor\.__proto__/);
    await journal.close();
    expect(readFileSync(path).equals(before)).toBe(true);
    await expect(readLog(storage, path, fold)).resolves.toBeDefined();
  });

  it('refuses to create a checkpoint whose header the reader would refuse (an identity too large), writing nothing', async () => {
    const path = join(dir.path, 'long.ckpt');
    const identity = { ...testIdentity(), id: 'x'.repeat(5000) };
    const error = await Journal.create(path, identity, { storage, fold }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/cannot create checkpoint .*long\.ckpt: the identity is too large for a header/);
    expect(readdirSync(dir.path)).toEqual([]);
  });

  it('keeps the history instead of compacting into a snapshot its reader would refuse', async () => {
    const path = join(dir.path, 'deep-state.ckpt');
    const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: { minBytes: 1 } });
    // Accepted in an events record (depth 64 there), one level deeper inside a snapshot.
    await journal.append([{ type: 'cursor-set', unit: 'u', cursor: nested(61) }]);
    for (let i = 0; i < 5; i++) await journal.append([{ type: 'unit-started', unit: `s${i}` }]);
    await journal.close();
    const reading = await readLog(storage, path, fold);
    expect(reading.state.cursors.get('u')?.cursor).toEqual(nested(61));
    expect(reading.state.running.size).toBe(5);
  });
});
