import { Engine, Fold, type CheckpointState, type Notice, type Runner, type RunResult } from '@ckpt/core';
import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import { crashPlanArbitrary, faultRuleArbitrary } from '../crash/crash-arbitraries.js';
import { propertySettings } from '../crash/property-settings.js';
import { readCheckpoint } from '../journal/journal-scenario.js';
import { MemoryLocker } from '../storage/memory-locker.js';
import { SimulatedStorage, type CrashPlan, type FaultRule } from '../storage/simulated-storage.js';

/**
 * Given to the runner factory for each process life: the runner calls `ran(unit)` at the
 * moment a unit's external effect happens (the thing that must not happen twice). Calls made
 * after the simulated machine lost power are ignored — a dead process has no effects.
 */
export interface EffectRecorder {
  ran(unit: string): void;
}

/** Options of {@link checkRunnerContract} (and of `describeRunnerContract` in `@ckpt/testkit/vitest`). */
export interface RunnerContractOptions<Job> {
  /** Suite name. */
  readonly name: string;
  /** Builds the runner for one process life, reporting its effects to `effects` (any result and notice types). */
  readonly runner: (effects: EffectRecorder) => Runner<Job, unknown, Notice>;
  /** The jobs to try. */
  readonly jobs: fc.Arbitrary<Job>;
  /** Most crashes in one run (default 3). */
  readonly maxCrashes?: number;
  /** Largest crash point, in storage operations of one process life (default 32: a life of a few units makes about that many). */
  readonly maxCrashAt?: number;
  /** fast-check runs (default 100; CKPT_SOAK multiplies, CKPT_RUNS overrides). */
  readonly numRuns?: number;
  /** Compaction of the simulated checkpoint (default: small, so it runs and crashes too). */
  readonly compaction?: { readonly minBytes: number } | false;
  /** Timeout of the vitest test (default 120 s). The clock the engine sees is fixed at 0. */
  readonly timeoutMs?: number;
}

/** One simulated power loss: where, and what it does to unsynced data. */
export interface RunnerCrash {
  readonly at: number;
  readonly plan: CrashPlan;
  /**
   * An I/O error injected in this life. If it strikes first, the life ends on its own (the
   * run fails); the machine then loses power anyway, as if the operator stopped it, and the
   * job is rerun: nothing acknowledged before the error may be lost or redone.
   */
  readonly fault?: FaultRule;
}

/** What happened in one checked run. */
export interface RunnerContractReport {
  readonly outcome: RunResult['outcome'];
  /** Lives ended by an injected I/O error (then a power loss) rather than a crash. */
  readonly faulted: number;
  /** Process lives, the final uninterrupted one included. */
  readonly lives: number;
  /** Units whose effect ran more than once (each was in flight at a crash). */
  readonly reran: readonly string[];
}

const PATH = '/ckpt/job.ckpt';

/** The completed units of a state with their outcomes and results, in unit order: what two runs must agree on. */
export function completedSummary(state: CheckpointState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [unit, record] of [...state.completed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out[unit] = { outcome: record.outcome, result: record.result ?? null };
  }
  return out;
}

async function runLife<Job>(
  options: RunnerContractOptions<Job>,
  job: Job,
  storage: SimulatedStorage,
): Promise<{ result: RunResult<unknown> | undefined; error: unknown; ran: Map<string, number> }> {
  const ran = new Map<string, number>();
  const recorder: EffectRecorder = {
    ran: (unit) => {
      if (storage.crashed) return;
      ran.set(unit, (ran.get(unit) ?? 0) + 1);
    },
  };
  const engine = new Engine({
    storage,
    locker: new MemoryLocker(),
    now: () => 0,
    compaction: options.compaction ?? { minBytes: 512 },
  });
  try {
    const result = await engine.run(options.runner(recorder), job, {
      checkpoint: { path: PATH, usage: 'if-exists', save: true, keepOnSuccess: true },
    });
    return { result, error: undefined, ran };
  } catch (error) {
    return { result: undefined, error, ran };
  }
}

async function emptyDisk(): Promise<SimulatedStorage> {
  const disk = new SimulatedStorage();
  await disk.mkdir('/ckpt');
  return disk;
}

/**
 * Runs `job` once without crashes and once with `crashes` (restarting after each until a life
 * ends without one), and checks crash-restart equivalence:
 * - the outcome and the completed units (with their outcomes and results) equal the
 *   uninterrupted run's, and the same set of units had effects;
 * - a unit recorded complete in the checkpoint a crash left never runs again;
 * - so only units in flight at a crash (effect done, completion not durable) run again;
 * - within one process life, no unit's effect runs twice.
 * Throws an assertion error naming the life and the unit when one fails.
 */
export async function checkRunnerCrashRestart<Job>(
  options: RunnerContractOptions<Job>,
  job: Job,
  crashes: readonly RunnerCrash[],
): Promise<RunnerContractReport> {
  const clean = await runLife(options, job, await emptyDisk());
  if (clean.result === undefined) throw new Error(`the uninterrupted run threw: ${String(clean.error)}`);
  for (const [unit, count] of clean.ran) {
    if (count !== 1) throw new Error(`uninterrupted run: unit ${unit} had ${count} effects in one life`);
  }

  // The checkpoint a crash left is read with the runner's own reducers (its namespaced events).
  const fold = new Fold(options.runner({ ran: () => undefined }).reducers ?? []);
  let disk = await emptyDisk();
  const totals = new Map<string, number>();
  // Units the last crash left recorded complete: the next life must not touch them.
  let forbidden: ReadonlySet<string> = new Set();
  let lives = 0;
  let faultedLives = 0;
  for (let i = 0; ; i++) {
    const crash = crashes[i];
    const storage = disk.crash({}, crash !== undefined ? { crashAt: crash.at, ...(crash.fault !== undefined && { faults: [crash.fault] }) } : {});
    const life = await runLife(options, job, storage);
    lives++;
    for (const [unit, count] of life.ran) {
      if (count > 1) throw new Error(`life ${lives}: unit ${unit} had ${count} effects in one life`);
      if (forbidden.has(unit)) {
        throw new Error(`life ${lives}: unit ${unit} ran again although the checkpoint left by crash ${lives - 1} records it complete`);
      }
      totals.set(unit, (totals.get(unit) ?? 0) + count);
    }
    const faulted = storage.operations.some((operation) => operation.error === 'EIO' || operation.error === 'ENOSPC');
    if (faulted && !storage.crashed) faultedLives++;
    if (!storage.crashed && !faulted) {
      if (life.result === undefined) throw new Error(`life ${lives} (no crash) threw: ${String(life.error)}`);
      // node:assert, not a test framework's: this check runs under any runner (or none).
      deepStrictEqual(life.result.outcome, clean.result.outcome, `outcome after ${lives - 1} crash(es)`);
      deepStrictEqual(completedSummary(life.result.state), completedSummary(clean.result.state), `completed units after ${lives - 1} crash(es)`);
      deepStrictEqual([...totals.keys()].sort(), [...clean.ran.keys()].sort(), 'units that had effects');
      const reran = [...totals]
        .filter(([, n]) => n > 1)
        .map(([unit]) => unit)
        .sort();
      return { outcome: life.result.outcome, faulted: faultedLives, lives, reran };
    }
    if (crash === undefined) throw new Error(`life ${lives} crashed without a planned crash`);
    // Lose power now if the injected error ended the life first.
    disk = storage.crash(crash.plan);
    const recovered = await readCheckpoint(disk, PATH, fold);
    forbidden = new Set(recovered ? recovered.completed.keys() : []);
    // Units without an effect of their own in the uninterrupted run (containers, say) are
    // exempt: only an effectful unit recorded complete must have had its effect.
    for (const unit of forbidden) {
      if (clean.ran.has(unit) && !totals.has(unit))
        throw new Error(`after crash ${lives}: unit ${unit} is recorded complete but its effect never ran`);
    }
  }
}

/** The arbitrary of crash sequences used by the contract. */
export function runnerCrashesArbitrary(maxCrashes = 3, maxCrashAt = 32): fc.Arbitrary<RunnerCrash[]> {
  return fc.array(
    fc.record(
      {
        at: fc.nat({ max: maxCrashAt }),
        plan: crashPlanArbitrary(),
        fault: faultRuleArbitrary(),
      },
      { requiredKeys: ['at', 'plan'] },
    ),
    { maxLength: maxCrashes },
  );
}

/** Totals of a {@link checkRunnerContract} run. */
export interface RunnerContractSummary {
  readonly seed: number;
  readonly jobs: number;
  /** Simulated power losses that struck (planned crash points past a life's end do not count). */
  readonly crashes: number;
  /** Lives ended by an injected I/O error. */
  readonly faults: number;
  /** Units whose effect ran again because a crash caught them in flight. */
  readonly reranUnits: number;
}

/**
 * Checks the contract as a fast-check property (framework-neutral; throws with seed and path
 * on failure). Also fails if no crash struck at all: a contract that never crashed proves nothing.
 */
export async function checkRunnerContract<Job>(options: RunnerContractOptions<Job>): Promise<RunnerContractSummary> {
  const settings = propertySettings<[Job, RunnerCrash[]]>(options.numRuns ?? 100);
  let jobs = 0;
  let crashes = 0;
  let faults = 0;
  let reranUnits = 0;
  await fc.assert(
    fc.asyncProperty(options.jobs, runnerCrashesArbitrary(options.maxCrashes, options.maxCrashAt), async (job, planned) => {
      const report = await checkRunnerCrashRestart(options, job, planned);
      jobs++;
      crashes += report.lives - 1 - report.faulted;
      faults += report.faulted;
      reranUnits += report.reran.length;
    }),
    settings,
  );
  if (crashes === 0) throw new Error(`runner contract ${options.name}: no simulated crash struck in ${jobs} runs; lower maxCrashAt`);
  return { seed: settings.seed ?? 0, jobs, crashes, faults, reranUnits };
}
