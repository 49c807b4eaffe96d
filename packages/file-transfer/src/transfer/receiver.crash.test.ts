/**
 * The receiver on the testkit's simulated disk: its partial data and its checkpoint journal go
 * through the same Storage, so a power loss strikes both at once, at any storage operation,
 * with unsynced writes kept, dropped, torn or garbled. The sender can go away mid-stream too.
 */
import { randomBytes } from 'node:crypto';
import { Engine, StorageIoError, type RunResult } from '@ckpt/core';
import { crashPlanArbitrary, MemoryLocker, propertySettings, SimulatedStorage, type CrashPlan, type FaultRule } from '@ckpt/testkit';
import { describeRunnerContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONTRACT_DESTINATION as DESTINATION,
  CONTRACT_DIR as DIR,
  randomData,
  receiverContractRunner,
  transferJobOf as jobOf,
  transferSpecArbitrary as specArbitrary,
  type TransferSpec,
} from '../test-support/contract-jobs.js';
import { checkpointPathOf, partialPathOf } from './names.js';
import { runReceive, type TransferEvent, type TransferResult } from './receiver.js';

const KiB = 1024;

describeRunnerContract<TransferSpec>({
  name: 'file-transfer receiver',
  runner: receiverContractRunner,
  jobs: specArbitrary,
  numRuns: 60,
  maxCrashAt: 120,
});

/** What one process life did. */
interface Life {
  readonly result: RunResult<TransferResult> | undefined;
  readonly error: unknown;
  /** Events as announced to the caller (a checkpoint only once its record is durable). */
  readonly events: readonly TransferEvent[];
  /** Bytes the receiver had written when the life ended (undefined: none in this life). */
  readonly received: number | undefined;
}

async function live(disk: SimulatedStorage, spec: TransferSpec, diesAt?: number): Promise<Life> {
  const events: TransferEvent[] = [];
  let received: number | undefined;
  const job = jobOf(spec, { ...(diesAt !== undefined && { diesAt }) });
  const engine = new Engine({ storage: disk, locker: new MemoryLocker(), now: () => 0, compaction: { minBytes: 512 } });
  try {
    // The view a copy has: events once durable, progress as notices.
    const result = await runReceive(
      engine,
      job,
      { checkpoint: { path: checkpointPathOf(DESTINATION), usage: 'if-exists', save: true } },
      { onEvent: (event) => events.push(event), onProgress: (progress) => (received = progress.offset) },
    );
    return { result, error: result.error, events, received };
  } catch (error) {
    return { result: undefined, error, events, received };
  }
}

/**
 * Where a life started copying: the resumed offset, 0 for a new copy, or undefined when it ended
 * before choosing (a power loss while the engine recovered the checkpoint, whose warning about a
 * torn tail may be the life's only event).
 */
function startOf(life: Life): number | undefined {
  for (const event of life.events) {
    if (event.type === 'transfer/resumed') return event['offset'] as number;
    if (event.type === 'transfer/started') return 0;
  }
  return undefined;
}

/** The newest checkpoint a life announced (durable by then), or 0. */
function lastAnnounced(life: Life): number {
  return Math.max(0, ...life.events.filter((event) => event.type === 'transfer/checkpoint').map((event) => event['offset'] as number));
}

/** A published destination is always the whole source, never a prefix or a mix. */
function expectNoCorruptDestination(disk: SimulatedStorage, data: Uint8Array, when: string): void {
  const published = disk.peekFile(DESTINATION);
  if (published !== undefined) expect(Buffer.from(published).equals(Buffer.from(data)), `destination after ${when}`).toBe(true);
}

interface PlannedLife {
  /** Power loss before this storage operation of the life. */
  readonly powerLossAt?: number;
  readonly plan: CrashPlan;
  /** The sender goes away at this fraction of the file. */
  readonly senderDiesAt?: number;
}

const livesArbitrary: fc.Arbitrary<PlannedLife[]> = fc.array(
  fc.record(
    { powerLossAt: fc.nat({ max: 160 }), plan: crashPlanArbitrary(), senderDiesAt: fc.double({ min: 0, max: 1, noNaN: true }) },
    { requiredKeys: ['plan'] },
  ),
  { maxLength: 4 },
);

async function emptyDisk(): Promise<SimulatedStorage> {
  const disk = new SimulatedStorage();
  await disk.mkdir(DIR);
  return disk;
}

describe('receiver on a simulated disk', () => {
  it('property: power losses on the receiver and a sender going away at any point give identical bytes, never resume before an announced checkpoint, and a sender that went away costs nothing resent', async () => {
    let powerLosses = 0;
    let senderDeaths = 0;
    await fc.assert(
      fc.asyncProperty(specArbitrary, livesArbitrary, async (spec, planned) => {
        let disk = await emptyDisk();
        // Every checkpoint announced so far is durable: no later life may start before it.
        let floor = 0;
        let previous: { life: Life; senderDied: boolean } | undefined;
        for (let i = 0; ; i++) {
          const plan = planned[i];
          if (plan?.powerLossAt !== undefined) disk.crashBefore(disk.operations.length + plan.powerLossAt);
          const diesAt = plan?.senderDiesAt !== undefined ? Math.floor(plan.senderDiesAt * spec.data.length) : undefined;
          const life = await live(disk, spec, diesAt);
          const start = startOf(life);
          if (start !== undefined) {
            expect(start, `life ${i + 1} starts at or after the announced checkpoint ${floor}`).toBeGreaterThanOrEqual(floor);
            // The data received before the sender went away is still in place and verifies:
            // nothing is sent twice.
            if (previous?.senderDied && spec.interval > 0) {
              expect(start, `resumed after the sender went away in life ${i}`).toBe(previous.life.received ?? startOf(previous.life) ?? 0);
            }
          }
          floor = Math.max(floor, lastAnnounced(life));
          // A power loss planned past the end of the life does not strike later.
          if (!disk.crashed) disk.crashBefore(Number.MAX_SAFE_INTEGER);
          if (disk.crashed) {
            powerLosses++;
            disk = disk.crash(plan!.plan);
            expectNoCorruptDestination(disk, spec.data, `power loss in life ${i + 1}`);
            if (!(await disk.stat(checkpointPathOf(DESTINATION)))) {
              // No checkpoint survived: either nothing was recorded yet, or the transfer had
              // completed and its checkpoint was deleted; a rerun is then a new copy.
              if (floor > 0) expect(disk.peekFile(DESTINATION), `published before the checkpoint was deleted in life ${i + 1}`).toBeDefined();
              floor = 0;
            }
            previous = { life, senderDied: false };
            continue;
          }
          if (life.result?.outcome === 'success') {
            expect(Buffer.from(disk.peekFile(DESTINATION)!).equals(Buffer.from(spec.data))).toBe(true);
            // Partial data and checkpoint are gone; only the destination is left.
            expect((await disk.readdir(DIR)).sort()).toEqual(['out.bin']);
            return;
          }
          expect(plan, `life ${i + 1} failed without a planned crash: ${String(life.error)}`).toBeDefined();
          expect(String(life.error)).toMatch(/sender went away/);
          senderDeaths++;
          expectNoCorruptDestination(disk, spec.data, `the sender went away in life ${i + 1}`);
          previous = { life, senderDied: true };
        }
      }),
      {
        ...propertySettings(150),
        examples: [
          [{ data: randomData(8 * KiB), interval: 1 * KiB, chunkBytes: 512, verify: 'tail' }, [{ plan: {}, senderDiesAt: 0.5 }]],
          // Found by this property: the last (partial-interval) checkpoint was announced before its record was durable.
          [
            { data: randomData(32 * KiB + 1), interval: 16 * KiB, chunkBytes: 4 * KiB, verify: 'tail' },
            [
              { plan: {}, senderDiesAt: 0 },
              { plan: {}, senderDiesAt: 0 },
              { powerLossAt: 43, plan: { writes: [{ kind: 'drop' }] } },
            ],
          ],
          // A power loss after the publish and the checkpoint's unlink, before its directory sync: a rerun is a new copy.
          [
            { data: randomData(4 * KiB), interval: 4 * KiB, chunkBytes: 4 * KiB, verify: 'tail' },
            [
              { plan: {}, senderDiesAt: 0 },
              { powerLossAt: 41, plan: { writes: [{ kind: 'keep' }], directories: [7] } },
            ],
          ],
        ],
      },
    );
    // A property whose crashes never struck would prove nothing.
    expect(powerLosses).toBeGreaterThan(0);
    expect(senderDeaths).toBeGreaterThan(0);
  }, 120_000);

  it('no room on the receiver (ENOSPC): the error names the partial file, and once there is room a rerun resumes from the last checkpoint', async () => {
    const spec: TransferSpec = { data: new Uint8Array(randomBytes(64 * KiB)), interval: 8 * KiB, chunkBytes: 4 * KiB, verify: 'tail' };
    // The 12th write of the partial file finds the disk full.
    const fault: FaultRule = { kind: 'write', path: partialPathOf(DESTINATION), nth: 12, code: 'ENOSPC' };
    const disk = new SimulatedStorage({ faults: [fault] });
    await disk.mkdir(DIR);
    const first = await live(disk, spec);
    expect(first.result?.outcome).toBe('failure');
    expect(first.error).toBeInstanceOf(StorageIoError);
    expect((first.error as Error).message).toContain(`writing the partial file failed on ${partialPathOf(DESTINATION)} (ENOSPC)`);
    expect(disk.peekFile(DESTINATION)).toBeUndefined();
    // 11 writes of 4 KiB landed: every whole interval among them (up to 40 KiB) got its checkpoint.
    expect(lastAnnounced(first)).toBe(40 * KiB);

    // Once there is room: the rerun keeps the checkpointed 40 KiB and the 4 KiB written after
    // it (re-hashed on both sides), and sends only the rest.
    const second = await live(disk, spec);
    expect(second.result?.outcome).toBe('success');
    expect(startOf(second)).toBe(44 * KiB);
    expect(second.events.find((event) => event.type === 'transfer/resumed')).toMatchObject({ offset: 44 * KiB, checkpoint: 40 * KiB });
    expect(Buffer.from(disk.peekFile(DESTINATION)!).equals(Buffer.from(spec.data))).toBe(true);
  });
});
