/**
 * The line runner on the testkit's simulated disk: its input, part and output files and its
 * checkpoint all go through `context.storage`, so a power loss strikes them together.
 */
import { defineRunner, Engine, type RunResult, type Storage } from '@ckpt/core';
import { MemoryLocker, SimulatedStorage } from '@ckpt/testkit';
import { describeRunnerContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLineRunner, runLines, type LineJob, type LineResult, type LineRunnerHooks } from './line-runner.js';

/** A generated job: the input's lines and the checkpoint interval. */
interface LinesSpec {
  readonly lines: readonly string[];
  readonly every: number;
}

const INPUT = '/data/in.txt';
const OUTPUT = '/data/out.txt';
const encoder = new TextEncoder();
const inputOf = (spec: LinesSpec) => encoder.encode(spec.lines.map((line) => `${line}\n`).join(''));
const jobOf = (spec: LinesSpec): LineJob => ({
  input: INPUT,
  output: OUTPUT,
  transform: (line) => line.toUpperCase(),
  transformName: 'upper',
  linesPerCheckpoint: spec.every,
});

/** Puts the spec's input on the disk, durably, unless it is there already (each life starts on the disk the last one left). */
async function ensureInput(storage: Storage, spec: LinesSpec): Promise<void> {
  const bytes = inputOf(spec);
  const info = await storage.stat(INPUT);
  if (info !== undefined && info.size === bytes.length) {
    const file = await storage.open(INPUT, 'read');
    const there = await file.read(0, bytes.length).finally(() => file.close());
    if (Buffer.from(there).equals(bytes)) return;
  }
  await storage.mkdir('/data');
  if (info !== undefined) await storage.unlink(INPUT);
  const file = await storage.open(INPUT, 'create-exclusive');
  await file.write(bytes, 0);
  await file.datasync();
  await file.close();
  await storage.syncDir('/data');
}

/** The line runner, with the input put in place first (as an operator would have). */
function simulatedLineRunner(hooks: LineRunnerHooks) {
  const inner = createLineRunner(hooks);
  return defineRunner<LinesSpec, LineResult>({
    kind: inner.kind,
    identify: (spec) => inner.identify(jobOf(spec)),
    run: async (spec, context, emit) => {
      await ensureInput(context.storage, spec);
      return runLines(jobOf(spec), context, emit, hooks);
    },
  });
}

const line = fc.string({ unit: fc.constantFrom('a', 'b', 'é', ' ', '\u{1F600}'), maxLength: 6 });

describeRunnerContract<LinesSpec>({
  name: 'example line runner',
  // Its one unit's effect is publishing the output (the rename).
  runner: (effects) => simulatedLineRunner({ published: () => effects.ran('lines') }),
  jobs: fc.record({ lines: fc.array(line, { maxLength: 12 }), every: fc.integer({ min: 1, max: 4 }) }),
  maxCrashAt: 48,
});

async function readText(storage: Storage, path: string): Promise<string> {
  const file = await storage.open(path, 'read');
  try {
    return new TextDecoder().decode(await file.read(0, await file.size()));
  } finally {
    await file.close();
  }
}

async function life(disk: SimulatedStorage, spec: LinesSpec, published: string[]): Promise<RunResult<LineResult>> {
  const engine = new Engine({ storage: disk, locker: new MemoryLocker(), now: () => 0 });
  return engine.run(simulatedLineRunner({ published: (output) => published.push(output) }), spec, {
    checkpoint: { path: '/ckpt/lines.ckpt', usage: 'if-exists', save: true },
  });
}

describe('the example line runner after a kill', () => {
  it('a kill after the rename and before the completion is durable: the rerun completes without redoing anything', async () => {
    const spec: LinesSpec = { lines: ['one', 'two', 'three', 'four', 'five'], every: 2 };
    const expected = 'ONE\nTWO\nTHREE\nFOUR\nFIVE\n';
    // An uninterrupted life, to find the operation after the rename's directory fsync.
    const probe = new SimulatedStorage();
    await probe.mkdir('/ckpt');
    const clean = await life(probe, spec, []);
    expect(clean.result).toEqual({ lines: 5, outputBytes: expected.length });
    const rename = probe.operations.findIndex((op) => op.kind === 'rename' && op.to === OUTPUT);
    const synced = probe.operations.findIndex((op, i) => i > rename && op.kind === 'syncDir');
    expect(rename).toBeGreaterThan(0);
    expect(synced).toBeGreaterThan(rename);

    // The same life, killed right after the rename is durable: the completion is not.
    const disk = new SimulatedStorage();
    await disk.mkdir('/ckpt');
    const published: string[] = [];
    disk.crashBefore(synced + 1);
    await life(disk, spec, published).catch(() => undefined);
    expect(disk.crashed).toBe(true);
    expect(published).toEqual([OUTPUT]);
    const after = disk.crash({});
    expect(await after.stat(`${OUTPUT}.part`)).toBeUndefined(); // the part file is gone: renamed
    expect(await readText(after, OUTPUT)).toBe(expected);

    const rerun: string[] = [];
    const result = await life(after, spec, rerun);
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ outcome: 'success', resumed: true, result: { lines: 5, outputBytes: expected.length } });
    expect(rerun).toEqual([]); // nothing published twice
    expect(await readText(after, OUTPUT)).toBe(expected);
  });
});
