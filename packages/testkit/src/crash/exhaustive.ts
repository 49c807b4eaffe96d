import type { CkptEvent } from '@ckpt/core';
import {
  checkCrashedDisk,
  emptyScenarioDisk,
  runSessionOnDisk,
  type JournalScenario,
  type JournalScenarioOptions,
  type JournalStep,
} from '../journal/journal-scenario.js';
import type { CrashPlan, SimulatedStorage, UnsyncedWrite, WriteFate } from '../storage/simulated-storage.js';

/** A bounded workload for {@link exploreCrashStates}. */
export interface ExhaustiveWorkload {
  readonly name: string;
  readonly steps: readonly JournalStep[];
  readonly compaction: JournalScenario['compaction'];
}

/** Options of {@link exploreCrashStates}. */
export interface ExhaustiveOptions extends JournalScenarioOptions {
  /** Also tear each write with the rest of its sector garbled (default true). */
  readonly garble?: boolean;
  /**
   * Largest number of fate combinations enumerated at one crash point; beyond it, each write
   * is varied through all its fates while the others are all kept, then all dropped.
   */
  readonly maxCombinations?: number;
  /**
   * Also crash the first recovery of each crash state before every one of its operations,
   * with four plans for its unsynced writes: dropped, kept, torn, torn and garbled
   * (multiplies the states; soak mode).
   */
  readonly crashRecovery?: boolean;
  /** Stop at the first violation (default true); otherwise collect them all. */
  readonly stopOnFailure?: boolean;
}

/** One crash state that broke a property. */
export interface CrashStateFailure {
  readonly workload: string;
  /** Operation the crash happened before. */
  readonly crashAt: number;
  readonly plan: CrashPlan;
  /** Operation the recovery crash happened before, if any. */
  readonly recoveryCrashAt?: number;
  readonly message: string;
}

/** What {@link exploreCrashStates} explored. */
export interface ExhaustiveReport {
  readonly crashPoints: number;
  /** Distinct crash states checked (crash point × fate of every unsynced write × directory prefix). */
  readonly states: number;
  readonly failures: readonly CrashStateFailure[];
  readonly elapsedMs: number;
}

/** Every fate of one write: dropped, kept, torn after each byte (and garbled there). */
export function fatesOf(write: UnsyncedWrite, garble: boolean): WriteFate[] {
  const fates: WriteFate[] = [{ kind: 'drop' }, { kind: 'keep' }];
  for (let keep = 1; keep < write.length; keep++) {
    fates.push({ kind: 'torn', keep });
    if (garble) fates.push({ kind: 'torn', keep, garble: true });
  }
  return fates;
}

function* plansAt(storage: SimulatedStorage, garble: boolean, maxCombinations: number): Generator<CrashPlan> {
  const writes = storage.unsyncedWrites();
  const perWrite = writes.map((w) => fatesOf(w, garble));
  const dirChoices = storage.unsyncedDirectories().map((d) => Array.from({ length: d.changes + 1 }, (_, i) => i));
  const directoryCombos = product(dirChoices);
  const writeCount = perWrite.reduce((n, fates) => n * fates.length, 1);
  const truncations = hasUnsyncedTruncation(storage) ? [true, false] : [true];
  if (writeCount * directoryCombos.length * truncations.length <= maxCombinations) {
    for (const fates of product(perWrite)) {
      for (const directories of directoryCombos) {
        for (const keepTruncations of truncations) yield { writes: fates, directories, keepTruncations };
      }
    }
    return;
  }
  // Too many: vary one write at a time against all-kept and all-dropped neighbours.
  for (let i = 0; i < perWrite.length; i++) {
    for (const others of ['keep', 'drop'] as const) {
      for (const fate of perWrite[i]!) {
        const fates = writes.map((_, j): WriteFate => (j === i ? fate : { kind: others }));
        for (const directories of directoryCombos) yield { writes: fates, directories };
      }
    }
  }
}

function hasUnsyncedTruncation(storage: SimulatedStorage): boolean {
  return storage.operations.some((o) => o.kind === 'truncate');
}

function product<T>(lists: readonly (readonly T[])[]): T[][] {
  let out: T[][] = [[]];
  for (const list of lists) out = out.flatMap((prefix) => list.map((item) => [...prefix, item]));
  return out;
}

/**
 * CrashMonkey-style bounded exhaustive exploration: runs `workload` once per crash point
 * (before every storage operation it makes, and after the last), and at each one checks every
 * crash state — each unsynced write dropped, kept, torn after every byte (optionally with the
 * rest of its sector garbled), times every surviving prefix of each directory's unsynced
 * changes — against the journal's crash properties: the crashed disk holds a prefix of the
 * appended events containing every acknowledged one, and recovery keeps exactly that prefix.
 */
export async function exploreCrashStates(workload: ExhaustiveWorkload, options: ExhaustiveOptions = {}): Promise<ExhaustiveReport> {
  const started = performance.now();
  const garble = options.garble ?? true;
  const maxCombinations = options.maxCombinations ?? 20_000;
  const stopOnFailure = options.stopOnFailure ?? true;
  const failures: CrashStateFailure[] = [];
  let states = 0;
  let crashPoints = 0;
  const base = await emptyScenarioDisk();
  for (let crashAt = 0; ; crashAt++) {
    const session = { steps: workload.steps, crashAt, plan: {} };
    const crashed = await runSessionOnDisk(base, session, workload.compaction, [], 0, options, `${workload.name}, crash before operation ${crashAt}`);
    crashPoints++;
    const ranToEnd = crashed.storage.operations.length < crashAt;
    for (const plan of plansAt(crashed.storage, garble, maxCombinations)) {
      states++;
      const failure = await checkState(workload.name, crashed.storage, plan, crashAt, crashed.history, crashed.acknowledged, options);
      if (failure) {
        failures.push(failure);
        if (stopOnFailure) return { crashPoints, states, failures, elapsedMs: performance.now() - started };
      }
      if (options.crashRecovery) {
        const extra = await exploreRecoveryCrashes(workload.name, crashed.storage, plan, crashAt, crashed.history, crashed.acknowledged, options);
        states += extra.states;
        failures.push(...extra.failures);
        if (stopOnFailure && failures.length > 0) return { crashPoints, states, failures, elapsedMs: performance.now() - started };
      }
    }
    // The session made fewer operations than the crash point: it ran to its end, and that
    // crash point (power loss after everything) is the last one.
    if (ranToEnd) break;
  }
  return { crashPoints, states, failures, elapsedMs: performance.now() - started };
}

async function checkState(
  workload: string,
  storage: SimulatedStorage,
  plan: CrashPlan,
  crashAt: number,
  history: readonly CkptEvent[],
  acknowledged: number,
  options: JournalScenarioOptions,
): Promise<CrashStateFailure | undefined> {
  try {
    await checkCrashedDisk(storage.crash(plan), history, acknowledged, options, `${workload}, crash before operation ${crashAt}`);
    return undefined;
  } catch (error) {
    return { workload, crashAt, plan, message: (error as Error).message };
  }
}

async function exploreRecoveryCrashes(
  workload: string,
  storage: SimulatedStorage,
  plan: CrashPlan,
  crashAt: number,
  history: readonly CkptEvent[],
  acknowledged: number,
  options: ExhaustiveOptions,
): Promise<{ states: number; failures: CrashStateFailure[] }> {
  const failures: CrashStateFailure[] = [];
  let states = 0;
  const disk = storage.crash(plan);
  let k: number;
  try {
    k = await checkCrashedDisk(disk.crash({}, {}), history, acknowledged, options, 'before recovery');
  } catch {
    return { states, failures };
  }
  const recoveredHistory = history.slice(0, k);
  for (let recoveryCrashAt = 0; ; recoveryCrashAt++) {
    const crashed = await runSessionOnDisk(disk, { steps: [], crashAt: recoveryCrashAt, plan: {} }, false, recoveredHistory, k, options);
    for (const recoveryPlan of RECOVERY_PLANS) {
      states++;
      try {
        await checkCrashedDisk(
          crashed.storage.crash(recoveryPlan),
          recoveredHistory,
          k,
          options,
          `${workload}, recovery crashed before operation ${recoveryCrashAt}`,
        );
      } catch (error) {
        failures.push({ workload, crashAt, plan, recoveryCrashAt, message: (error as Error).message });
        if (options.stopOnFailure ?? true) return { states, failures };
      }
    }
    if (crashed.storage.operations.length < recoveryCrashAt) break;
  }
  return { states, failures };
}

/** What a crash during recovery does to recovery's own unsynced writes (truncation, epoch record, removals). */
const RECOVERY_PLANS: readonly CrashPlan[] = [
  { writes: [{ kind: 'drop' }] },
  { writes: [{ kind: 'keep' }], directories: [99] },
  { writes: [{ kind: 'torn', keep: 7 }], keepTruncations: false },
  { writes: [{ kind: 'torn', keep: 29, garble: true }], directories: [1] },
];

/** Small workloads whose crash states the default CI run explores exhaustively. */
export const CI_WORKLOADS: readonly ExhaustiveWorkload[] = [
  {
    name: 'appends with group commit',
    compaction: false,
    steps: [
      { kind: 'append', events: 1, durability: 'durable', wait: true },
      { kind: 'append', events: 2, durability: 'buffered', wait: false },
      { kind: 'append', events: 1, durability: 'durable', wait: false },
      { kind: 'append', events: 3, durability: 'durable', wait: true },
      { kind: 'append', events: 1, durability: 'buffered', wait: true },
      { kind: 'sync' },
    ],
  },
  {
    name: 'explicit compaction between appends',
    compaction: false,
    steps: [
      { kind: 'append', events: 2, durability: 'durable', wait: true },
      { kind: 'compact' },
      { kind: 'append', events: 1, durability: 'durable', wait: true },
      { kind: 'append', events: 1, durability: 'buffered', wait: false },
      { kind: 'sync' },
    ],
  },
  {
    name: 'automatic compaction',
    compaction: { minBytes: 64 },
    steps: [
      { kind: 'append', events: 2, durability: 'durable', wait: true },
      { kind: 'append', events: 2, durability: 'durable', wait: true },
      { kind: 'append', events: 1, durability: 'buffered', wait: false },
      { kind: 'append', events: 2, durability: 'durable', wait: true },
    ],
  },
  {
    name: 'larger records, torn anywhere',
    compaction: false,
    steps: [
      { kind: 'append', events: 4, durability: 'durable', wait: true },
      { kind: 'append', events: 4, durability: 'buffered', wait: false },
      { kind: 'append', events: 4, durability: 'durable', wait: true },
      { kind: 'compact' },
      { kind: 'append', events: 4, durability: 'durable', wait: true },
    ],
  },
];

/** Larger workloads for soak mode (`CKPT_SOAK=1`): millions of crash states. */
export const SOAK_WORKLOADS: readonly ExhaustiveWorkload[] = [
  ...CI_WORKLOADS,
  {
    name: 'long history with automatic compaction',
    compaction: { minBytes: 256 },
    steps: Array.from(
      { length: 24 },
      (_, i): JournalStep =>
        i % 6 === 5 ? { kind: 'sync' } : { kind: 'append', events: 1 + (i % 3), durability: i % 2 === 0 ? 'durable' : 'buffered', wait: i % 4 === 0 },
    ),
  },
  {
    name: 'concurrent appends around compactions',
    compaction: false,
    steps: Array.from(
      { length: 16 },
      (_, i): JournalStep => (i % 5 === 4 ? { kind: 'compact' } : { kind: 'append', events: 2, durability: 'durable', wait: i % 3 === 0 }),
    ),
  },
];
