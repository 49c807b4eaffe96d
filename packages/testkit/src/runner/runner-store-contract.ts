/**
 * The runner contract at the store boundary: the properties of {@link checkRunnerContract}
 * (a crash at any point and a restart give the outcome of a run that never crashed; every
 * effect happens once, only a unit in flight at a crash may repeat; the resumed state is the
 * fold of what was acknowledged), checked against any {@link CheckpointStore} instead of the
 * simulated disk. A crash point is the Nth call a process life makes through the store port
 * (the open, each append, each barrier, the close): the process dies there, the harness crashes
 * the store (PostgreSQL: its sessions killed, or the server stopped with `pg_ctl stop -m
 * immediate` and restarted; files: a power loss of the simulated disk), and a fresh engine on a
 * fresh store handle over the same data resumes.
 *
 * Framework-neutral: the checks throw (node:assert) with the run's seed. The vitest suite is
 * `describeRunnerStoreContract` in `@ckpt/testkit/vitest`.
 */
import { deepStrictEqual } from 'node:assert/strict';
import {
  Engine,
  Fold,
  isCkptError,
  type CheckpointState,
  type CheckpointStore,
  type ExtensionReducer,
  type Notice,
  type Runner,
  type RunResult,
  type Storage,
} from '@ckpt/core';
import fc from 'fast-check';
import { propertySettings } from '../crash/property-settings.js';
import { SimulatedStorage } from '../storage/simulated-storage.js';
import { completedSummary, type EffectRecorder } from './runner-contract.js';
import { Life, gatedStore, mortalStorage, type RunnerStoreCrash, type RunnerStoreHarness } from './store-life.js';

export { ProcessDiedError } from './store-life.js';
export type { RunnerStoreCrash, RunnerStoreHarness } from './store-life.js';

/** Options of {@link checkRunnerStoreContract} (and of `describeRunnerStoreContract` in `@ckpt/testkit/vitest`). */
export interface RunnerStoreContractOptions<Job> {
  /** Suite name. */
  readonly name: string;
  /** Builds the runner for one process life, reporting its effects to `effects` (as for {@link checkRunnerContract}). */
  readonly runner: (effects: EffectRecorder) => Runner<Job, unknown, Notice>;
  /** The jobs to try. */
  readonly jobs: fc.Arbitrary<Job>;
  /** The store under test: called once per contract check for an empty store; its `cleanup` runs at the end. */
  readonly store: () => Promise<RunnerStoreHarness>;
  /**
   * The runner's own storage (its data files, `RunContext.storage`) for one checked run, shared
   * by all its lives (default: an empty {@link SimulatedStorage}). A store crash kills the
   * process, not the machine: this storage keeps every write, but a dead life touches it no more.
   */
  readonly storage?: () => Promise<Storage>;
  /** Most crashes in one run (default 2). */
  readonly maxCrashes?: number;
  /** Largest crash point, in store calls of one process life (default 24). */
  readonly maxCrashAt?: number;
  /** fast-check runs (default 10: each life is real I/O against the store; CKPT_SOAK multiplies, CKPT_RUNS overrides). */
  readonly numRuns?: number;
  /**
   * Shrink a counterexample (default true). Against a real server each shrinking step is a
   * whole run, which can outlast the test's timeout and hide the seed: pass false there, and
   * replay the printed seed and path (`CKPT_SEED`, `CKPT_PATH`) to look at it.
   */
  readonly shrink?: boolean;
  /** Bound on one process life, ms (default 30 s): a life that neither ends nor dies is a hang. */
  readonly lifeTimeoutMs?: number;
  /** Timeout of the vitest test (default 120 s). */
  readonly timeoutMs?: number;
}

/** What happened in one checked run. */
export interface RunnerStoreContractReport {
  readonly outcome: RunResult['outcome'];
  /** Process lives, the final uninterrupted one included. */
  readonly lives: number;
  /** Units whose effect ran more than once (each was in flight at a crash). */
  readonly reran: readonly string[];
  /** Records acknowledged before a crash (each then found after it). */
  readonly acknowledged: number;
  /** Store calls made by all lives. */
  readonly storeCalls: number;
}

/** Totals of a {@link checkRunnerStoreContract} run. */
export interface RunnerStoreContractSummary {
  readonly seed: number;
  readonly jobs: number;
  /** Crashes that struck (planned crash points past a life's end do not count). */
  readonly crashes: number;
  /** Records acknowledged before a crash, all found after it. */
  readonly acknowledged: number;
  readonly reranUnits: number;
  /** Process lives, and the store calls they made (their ratio is the scale of `maxCrashAt`). */
  readonly lives: number;
  readonly storeCalls: number;
}

async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one process life of `job` on `store`, dying at `crash` if the life gets that far. */
async function storeLife<Job>(
  options: RunnerStoreContractOptions<Job>,
  job: Job,
  store: CheckpointStore,
  name: string,
  storage: Storage,
  harness: RunnerStoreHarness,
  crash: RunnerStoreCrash | undefined,
): Promise<{ life: Life; result: RunResult<unknown> | undefined; error: unknown }> {
  const life = new Life(harness, crash);
  const recorder: EffectRecorder = {
    ran: (unit) => {
      if (life.dead) return;
      life.ran.set(unit, (life.ran.get(unit) ?? 0) + 1);
    },
  };
  const engine = new Engine({ store: gatedStore(store, life), storage: mortalStorage(storage, life), now: () => 0 });
  let result: RunResult<unknown> | undefined;
  let error: unknown;
  try {
    result = await bounded(
      engine.run(options.runner(recorder), job, { checkpoint: { path: name, usage: 'if-exists', save: true, keepOnSuccess: true } }),
      options.lifeTimeoutMs ?? 30_000,
      `a process life of "${options.name}"`,
    );
  } catch (thrown) {
    error = thrown;
  }
  // A crash that started (perhaps after the run ended: `after` a call nobody awaited) finishes;
  // the dead process's calls in flight end (they fail, or land as the crash allowed); then what
  // it held is released, as the end of a process releases it, before the next life starts.
  await bounded(Promise.allSettled([life.crashing, ...life.inFlight]), options.lifeTimeoutMs ?? 30_000, 'the crash and the calls in flight');
  if (life.dead) {
    for (const opened of life.opened) await opened.close({ remove: false }).catch(() => undefined);
    await store.close().catch(() => undefined);
  }
  return { life, result, error };
}

/** What two states must agree on: the events folded and the completed units with outcomes and results. */
function summary(state: CheckpointState): { events: number; completed: Record<string, unknown> } {
  return { events: state.eventCount, completed: completedSummary(state) };
}

/** The checkpoint as the next process reads it, or undefined when there is none. */
async function recoveredState(store: CheckpointStore, name: string, reducers: readonly ExtensionReducer[]): Promise<CheckpointState | undefined> {
  try {
    return (await store.read(name, { reducers })).state;
  } catch (error) {
    if (isCkptError(error, 'invalid')) return undefined;
    throw error;
  }
}

/**
 * Checks that `recovered` is the fold, over `start`, of a whole-record prefix of what the life
 * sent that holds every acknowledged record. Returns how many records survived.
 */
function checkFoldOfAcknowledged(fold: Fold, start: CheckpointState, life: Life, recovered: CheckpointState, lives: number): number {
  const want = summary(recovered);
  let state = start;
  for (let kept = 0; kept <= life.sent.length; kept++) {
    if (kept > 0) state = fold.foldEvents(life.sent[kept - 1]!.events, state);
    if (kept <= life.ackedUpTo) continue;
    const have = summary(state);
    if (have.events === want.events) {
      deepStrictEqual(
        want,
        have,
        `after crash ${lives}: the checkpoint holds ${kept} of ${life.sent.length} records sent, but its state is not their fold`,
      );
      return kept;
    }
  }
  throw new Error(
    `after crash ${lives}: the checkpoint's state (${want.events} events) is not the fold of any whole-record prefix of what was sent that holds the ${life.ackedUpTo + 1} acknowledged records (${life.sent.length} sent)`,
  );
}

/**
 * Runs `job` once on `harness` without crashes and once dying at each of `crashes` (a fresh
 * engine on the store the crash handed over resumes each time, until a life ends without one),
 * and checks:
 * - the outcome and the completed units (outcomes and results) equal the uninterrupted run's,
 *   and the same set of units had effects;
 * - after each crash, the checkpoint holds every acknowledged record (a durable append or a
 *   barrier that answered before the crash) and its state is the fold of a whole-record prefix
 *   of what was sent: nothing acknowledged lost, nothing torn, nothing invented;
 * - the next life resumes from exactly that state;
 * - a unit recorded complete after a crash never runs again, and had its effect; so only units
 *   in flight at a crash run again, and no unit's effect runs twice in one life.
 * Throws an assertion error naming the life and the unit when one fails.
 */
export async function checkRunnerStoreCrashRestart<Job>(
  options: RunnerStoreContractOptions<Job>,
  harness: RunnerStoreHarness,
  job: Job,
  crashes: readonly RunnerStoreCrash[],
): Promise<RunnerStoreContractReport> {
  const makeStorage = options.storage ?? (async () => new SimulatedStorage());
  const reducers = options.runner({ ran: () => undefined }).reducers ?? [];
  const fold = new Fold(reducers);

  const cleanStore = await harness.connect();
  let clean: Awaited<ReturnType<typeof storeLife>>;
  try {
    clean = await storeLife(options, job, cleanStore, harness.name('uninterrupted'), await makeStorage(), harness, undefined);
  } finally {
    await cleanStore.close().catch(() => undefined);
  }
  if (clean.result === undefined) throw new Error(`the uninterrupted run threw: ${String(clean.error)}`);
  for (const [unit, count] of clean.life.ran) {
    if (count !== 1) throw new Error(`uninterrupted run: unit ${unit} had ${count} effects in one life`);
  }

  const name = harness.name('crashed');
  const storage = await makeStorage();
  let store = await harness.connect();
  const totals = new Map<string, number>();
  let forbidden: ReadonlySet<string> = new Set();
  let recovered: CheckpointState | undefined;
  let lives = 0;
  let acknowledged = 0;
  let storeCalls = 0;
  for (let i = 0; ; i++) {
    const crash = crashes[i];
    const { life, result, error } = await storeLife(options, job, store, name, storage, harness, crash);
    lives++;
    storeCalls += life.calls;
    for (const [unit, count] of life.ran) {
      if (count > 1) throw new Error(`life ${lives}: unit ${unit} had ${count} effects in one life`);
      if (forbidden.has(unit)) {
        throw new Error(`life ${lives}: unit ${unit} ran again although the checkpoint left by crash ${lives - 1} records it complete`);
      }
      totals.set(unit, (totals.get(unit) ?? 0) + count);
    }
    if (life.startState !== undefined && lives > 1) {
      deepStrictEqual(
        summary(life.startState),
        summary(recovered ?? fold.initial()),
        `life ${lives} resumed from another state than the checkpoint crash ${lives - 1} left`,
      );
    }
    if (!life.dead) {
      try {
        if (result === undefined) throw new Error(`life ${lives} (no crash) threw: ${String(error)}`);
        deepStrictEqual(result.outcome, clean.result.outcome, `outcome after ${lives - 1} crash(es)`);
        deepStrictEqual(completedSummary(result.state), completedSummary(clean.result.state), `completed units after ${lives - 1} crash(es)`);
        deepStrictEqual([...totals.keys()].sort(), [...clean.life.ran.keys()].sort(), 'units that had effects');
      } finally {
        await store.close().catch(() => undefined);
      }
      const reran = [...totals]
        .filter(([, n]) => n > 1)
        .map(([unit]) => unit)
        .sort();
      return { outcome: result.outcome, lives, reran, acknowledged, storeCalls };
    }
    // The process died: the next one connects to what the crash left.
    store = await life.crashing!;
    const next = await recoveredState(store, name, reducers);
    checkFoldOfAcknowledged(fold, life.startState ?? recovered ?? fold.initial(), life, next ?? fold.initial(), lives);
    acknowledged += life.ackedUpTo + 1;
    recovered = next;
    forbidden = new Set(recovered ? recovered.completed.keys() : []);
    // Units without an effect of their own in the uninterrupted run (containers, say) are
    // exempt: only an effectful unit recorded complete must have had its effect.
    for (const unit of forbidden) {
      if (clean.life.ran.has(unit) && !totals.has(unit))
        throw new Error(`after crash ${lives}: unit ${unit} is recorded complete but its effect never ran`);
    }
  }
}

/** The arbitrary of crash sequences used by {@link checkRunnerStoreContract}. */
export function runnerStoreCrashesArbitrary(maxCrashes = 2, maxCrashAt = 24): fc.Arbitrary<RunnerStoreCrash[]> {
  return fc.array(
    fc.record({
      at: fc.nat({ max: maxCrashAt }),
      when: fc.constantFrom<RunnerStoreCrash['when']>('before', 'during', 'after'),
      seed: fc.nat({ max: 0x7fff_ffff }),
    }),
    { maxLength: maxCrashes },
  );
}

/**
 * Checks the contract at the store boundary as a fast-check property over one harness (made
 * once, cleaned up at the end). Throws with seed and counterexample path on failure; also fails
 * if no crash struck at all (a contract that never crashed proves nothing).
 */
export async function checkRunnerStoreContract<Job>(options: RunnerStoreContractOptions<Job>): Promise<RunnerStoreContractSummary> {
  const settings = { ...propertySettings<[Job, RunnerStoreCrash[]]>(options.numRuns ?? 10), endOnFailure: options.shrink === false };
  const harness = await options.store();
  let jobs = 0;
  let crashes = 0;
  let acknowledged = 0;
  let reranUnits = 0;
  let lives = 0;
  let storeCalls = 0;
  try {
    await fc.assert(
      fc.asyncProperty(options.jobs, runnerStoreCrashesArbitrary(options.maxCrashes, options.maxCrashAt), async (job, planned) => {
        const report = await checkRunnerStoreCrashRestart(options, harness, job, planned);
        jobs++;
        crashes += report.lives - 1;
        acknowledged += report.acknowledged;
        reranUnits += report.reran.length;
        lives += report.lives;
        storeCalls += report.storeCalls;
      }),
      settings,
    );
  } finally {
    await harness.cleanup();
  }
  if (crashes === 0)
    throw new Error(
      `runner store contract ${options.name}: no crash struck in ${jobs} runs (seed ${settings.seed}, ${storeCalls} store calls in ${lives} lives); lower maxCrashAt`,
    );
  return { seed: settings.seed ?? 0, jobs, crashes, acknowledged, reranUnits, lives, storeCalls };
}
