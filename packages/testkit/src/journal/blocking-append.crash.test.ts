import { describe, expect, it } from 'vitest';
import { exploreCrashStates, type ExhaustiveWorkload } from '../crash/exhaustive.js';
import { emptyScenarioDisk, runSessionOnDisk } from './journal-scenario.js';

// A durable append alone makes the journal block on writeSync + datasyncSync (core's
// journal-writer.ts); the simulated disk records those calls as blocking, with the same crash
// points and faults as the asynchronous ones. These tests make sure the crash properties reach
// that path: its calls are crash points, and a crash at any of them loses nothing acknowledged.

const lone: ExhaustiveWorkload = {
  name: 'lone durable appends (blocking path)',
  compaction: false,
  steps: [
    { kind: 'append', events: 1, durability: 'durable', wait: true },
    { kind: 'append', events: 2, durability: 'durable', wait: true },
    { kind: 'append', events: 1, durability: 'durable', wait: true },
  ],
};

// (The journal's handle keeps the name it was opened with: the temporary file renamed into place.)
const blockingKinds = (operations: readonly { kind: string; blocking?: true }[]) => operations.filter((o) => o.blocking).map((o) => o.kind);

describe('the blocking path of a lone durable append, under simulated power loss', () => {
  it('is taken by lone durable appends and not by concurrent ones', async () => {
    const run = await runSessionOnDisk(await emptyScenarioDisk(), { steps: lone.steps, crashAt: 10_000, plan: {} }, false, [], 0);
    expect(run.acknowledged).toBe(4);
    expect(blockingKinds(run.storage.operations)).toEqual(['write', 'datasync', 'write', 'datasync', 'write', 'datasync']);
    const concurrent = await runSessionOnDisk(
      await emptyScenarioDisk(),
      {
        steps: [
          { kind: 'append', events: 1, durability: 'durable', wait: false },
          { kind: 'append', events: 1, durability: 'durable', wait: false },
          { kind: 'sync' },
        ],
        crashAt: 10_000,
        plan: {},
      },
      false,
      [],
      0,
    );
    expect(concurrent.acknowledged).toBe(2);
    expect(blockingKinds(concurrent.storage.operations)).toEqual([]);
    // Creation writes the header (temporary file), then one write holds both appends.
    expect(concurrent.storage.operations.filter((o) => o.kind === 'write')).toHaveLength(2);
  });

  it('a crash before or after each blocking write and fdatasync, with every fate of the unsynced bytes, keeps every acknowledged append', async () => {
    const full = await runSessionOnDisk(await emptyScenarioDisk(), { steps: lone.steps, crashAt: 10_000, plan: {} }, false, [], 0);
    const blocking = full.storage.operations.filter((o) => o.blocking).map((o) => o.index);
    expect(blocking).toHaveLength(6);
    const lastBlocking = Math.max(...blocking);
    const report = await exploreCrashStates(lone);
    expect(report.failures).toEqual([]);
    // The explorer crashed before every operation of the session, the blocking ones included.
    expect(report.crashPoints).toBeGreaterThan(lastBlocking + 1);
    expect(report.states).toBeGreaterThan(1_000);
  });

  it('a crash at the blocking fdatasync rejects that append and keeps the ones before it', async () => {
    const full = await runSessionOnDisk(await emptyScenarioDisk(), { steps: lone.steps, crashAt: 10_000, plan: {} }, false, [], 0);
    const syncs = full.storage.operations.filter((o) => o.blocking && o.kind === 'datasync').map((o) => o.index);
    expect(syncs).toHaveLength(3);
    // Crash at the second append's blocking fdatasync: only the first append (1 event) was acknowledged.
    const crashed = await runSessionOnDisk(await emptyScenarioDisk(), { steps: lone.steps, crashAt: syncs[1]!, plan: {} }, false, [], 0);
    expect(crashed.acknowledged).toBe(1);
    // Right after it: the second append (2 more events) was acknowledged, and every fate of the later bytes keeps it.
    const after = await runSessionOnDisk(await emptyScenarioDisk(), { steps: lone.steps, crashAt: syncs[1]! + 1, plan: {} }, false, [], 0);
    expect(after.acknowledged).toBe(3);
  });
});
