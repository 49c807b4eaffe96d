import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CkptError, CorruptCheckpointError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { Fold, foldEvents } from '../fold/fold.js';
import { NodeStorage } from '../storage/node-storage.js';
import { pinnedSeed, testIdentity, useTempDir } from '../test-support/fixtures.js';
import { RECORD_HEADER_BYTES } from './format.js';
import { Journal } from './journal.js';
import { readLogBytes } from './read-log.js';

const storage = new NodeStorage();
const fold = new Fold();
const dir = useTempDir('recovery');
const cursor = (i: number): CkptEvent => ({ type: 'cursor-set', unit: 'u', cursor: i });

/** A small log of `count` one-event records, each durable; returns its bytes and record offsets. */
async function smallLog(count: number): Promise<{ bytes: Uint8Array; starts: number[] }> {
  const path = join(dir.path, 'small.ckpt');
  const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: false });
  const starts: number[] = [];
  for (let i = 0; i < count; i++) {
    starts.push(journal.size);
    await journal.append([cursor(i)]);
  }
  await journal.close();
  return { bytes: new Uint8Array(readFileSync(path)), starts };
}

const read = (bytes: Uint8Array) => readLogBytes('test.ckpt', bytes, fold);

describe('recovery', () => {
  it('a torn tail at every byte of the last record is truncated back to the record before', async () => {
    const { bytes, starts } = await smallLog(4);
    const last = starts.at(-1)!;
    const expected = foldEvents([cursor(0), cursor(1), cursor(2)]);
    for (let cut = last; cut < bytes.length; cut++) {
      const reading = read(bytes.subarray(0, cut));
      expect(reading.validEnd, `cut at ${cut}`).toBe(last);
      expect(reading.tailBytes).toBe(cut - last);
      expect(reading.state.cursors).toEqual(expected.cursors);
    }
  });

  it('a zero-filled tail (a file extended but never written) is a torn tail', async () => {
    const { bytes } = await smallLog(3);
    for (const zeros of [1, RECORD_HEADER_BYTES - 1, RECORD_HEADER_BYTES, 4096]) {
      const padded = new Uint8Array(bytes.length + zeros);
      padded.set(bytes);
      const reading = read(padded);
      expect(reading.validEnd).toBe(bytes.length);
      expect(reading.tailBytes).toBe(zeros);
      expect(reading.state.cursors.get('u')?.cursor).toBe(2);
    }
  });

  it('a flipped bit anywhere: in the last record it is a torn tail, anywhere before it is refused with the offset', async () => {
    const { bytes, starts } = await smallLog(5);
    const last = starts.at(-1)!;
    let refused = 0;
    let truncated = 0;
    for (let position = 0; position < bytes.length; position++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = bytes.slice();
        damaged[position] = damaged[position]! ^ (1 << bit);
        if (position < last) {
          expect(() => read(damaged), `flip at ${position} bit ${bit}`).toThrow(CorruptCheckpointError);
          refused++;
        } else {
          const reading = read(damaged);
          expect(reading.validEnd).toBe(last);
          expect(reading.state.cursors.get('u')?.cursor).toBe(3);
          truncated++;
        }
      }
    }
    expect(refused + truncated).toBe(bytes.length * 8);
  });

  it('the refusal names the file and the byte offset of the damage', async () => {
    const { bytes, starts } = await smallLog(3);
    const damaged = bytes.slice();
    damaged[starts[1]! + RECORD_HEADER_BYTES] = damaged[starts[1]! + RECORD_HEADER_BYTES]! ^ 1;
    try {
      read(damaged);
      expect.unreachable('damage in the middle must be refused');
    } catch (error) {
      expect(error).toBeInstanceOf(CorruptCheckpointError);
      expect((error as CorruptCheckpointError).offset).toBe(starts[1]);
      expect((error as Error).message).toContain('test.ckpt');
      expect((error as Error).message).toContain(String(starts[1]));
    }
  });

  it('a record length far beyond the file is not allocated and not trusted', async () => {
    const { bytes, starts } = await smallLog(2);
    const damaged = bytes.slice();
    new DataView(damaged.buffer).setUint32(starts[1]!, 0xffff_ffff, true);
    const reading = read(damaged);
    expect(reading.validEnd).toBe(starts[1]);
  });

  it('random bytes, and random damage to a valid log, never throw anything but a CkptError', async () => {
    const { bytes } = await smallLog(4);
    const outcome = (input: Uint8Array) => {
      try {
        read(input);
        return 'read';
      } catch (error) {
        expect(error).toBeInstanceOf(CkptError);
        return 'refused';
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (random) => {
        outcome(random);
        const withHeader = new Uint8Array(64 + random.length);
        withHeader.set(bytes.subarray(0, 64));
        withHeader.set(random, 64);
        outcome(withHeader);
      }),
      { ...pinnedSeed(), numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const damaged = bytes.slice();
        for (const [position, value] of edits) damaged[position] = value;
        outcome(damaged);
      }),
      { ...pinnedSeed(), numRuns: 500 },
    );
  });

  it('open(append(events)) folds to the same state as folding the events in memory', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.constantFrom<CkptEvent>(cursor(1), { type: 'unit-started', unit: 'a' }, { type: 'unit-completed', unit: 'a', outcome: 'success' }),
            { minLength: 1, maxLength: 3 },
          ),
          { maxLength: 30 },
        ),
        fc.boolean(),
        async (records, compact) => {
          const path = join(dir.path, `property-${run++}.ckpt`);
          const journal = await Journal.create(path, testIdentity(), { storage, fold, compaction: compact ? { minBytes: 256 } : false });
          await Promise.all(records.map((events, i) => journal.append(events, { durability: i % 2 ? 'durable' : 'buffered' })));
          await journal.close();
          const reopened = await Journal.open(path, { storage, fold });
          const expected = foldEvents(records.flat());
          expect(reopened.state.completed).toEqual(expected.completed);
          expect(reopened.state.cursors).toEqual(expected.cursors);
          expect(reopened.state.running).toEqual(expected.running);
          expect(reopened.state.eventCount).toBe(expected.eventCount);
          await reopened.close();
        },
      ),
      { ...pinnedSeed(), numRuns: 40 },
    );
  });
});
