// Over ~400 lines on purpose: the process life at the store boundary (the gated store, log and
// storage), its bookkeeping of what was acknowledged, and the checks that read that bookkeeping
// are one state machine; split apart, the invariants (what a dead life may still do, which
// records count as sent) would be spread over modules that all mutate the same life.
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
  type AppendReceipt,
  type CheckpointState,
  type CheckpointStore,
  type CkptEvent,
  type Durability,
  type ExtensionReducer,
  type Notice,
  type OpenCheckpointOptions,
  type OpenedCheckpoint,
  type Runner,
  type RunResult,
  type Storage,
  type StorageFile,
} from '@ckpt/core';
import fc from 'fast-check';
import { propertySettings } from '../crash/property-settings.js';
import { SimulatedStorage } from '../storage/simulated-storage.js';
import type { StoreHarness } from '../store/store-harness.js';
import { completedSummary, type EffectRecorder } from './runner-contract.js';

/**
 * What the runner contract needs of a store's test set-up: a {@link StoreHarness} has it all
 * (the contract uses `connect`, `name`, `crash` and `cleanup` only), so an adapter's store
 * contract harness serves both suites.
 */
export type RunnerStoreHarness = Pick<StoreHarness, 'connect' | 'name' | 'crash' | 'cleanup'>;

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
  /** Bound on one process life, ms (default 30 s): a life that neither ends nor dies is a hang. */
  readonly lifeTimeoutMs?: number;
  /** Timeout of the vitest test (default 120 s). */
  readonly timeoutMs?: number;
}

/** Where a process dies at the store boundary. */
export interface RunnerStoreCrash {
  /** The store call (0-based, counted in one process life: open, each append, each barrier, close) at which the process dies. */
  readonly at: number;
  /**
   * `before`: the call never reaches the store (a crash between two statements). `during`: it
   * is sent and the process dies at once: the store may or may not apply it. `after`: the store
   * has applied it (committed, synced) and the process dies before the answer arrives. Either
   * way it is never acknowledged.
   */
  readonly when: 'before' | 'during' | 'after';
  /** Passed to {@link StoreHarness.crash}: which crash the harness makes (PostgreSQL: killed sessions or a stopped server). */
  readonly seed: number;
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

/** What a dead process's calls get: it has no effects and sees no answers. */
export class ProcessDiedError extends Error {
  readonly code = 'EPROCESSDIED';
  constructor() {
    super('the process died (runner store contract): this call never happened');
  }
}

/** One record a life sent to its log, in append order, and whether its durability was acknowledged. */
interface SentRecord {
  readonly events: readonly CkptEvent[];
}

/**
 * One process life: every store call goes through {@link Life.gate}, which counts it, kills the
 * process at the planned call, and hides answers that come after death.
 */
class Life {
  dead = false;
  calls = 0;
  /** The store the harness's crash handed over, for the next life. */
  next: Promise<CheckpointStore> | undefined;
  /** The state the checkpoint was opened with (undefined: the open never answered). */
  startState: CheckpointState | undefined;
  readonly sent: SentRecord[] = [];
  /** Index of the last record known durable (-1: none). */
  ackedUpTo = -1;
  /** Everything opened at the store, answered or not, to release once the life is over. */
  readonly opened: OpenedCheckpoint[] = [];
  readonly inFlight: Promise<unknown>[] = [];
  readonly ran = new Map<string, number>();

  constructor(
    private readonly harness: RunnerStoreHarness,
    private readonly crash: RunnerStoreCrash | undefined,
  ) {}

  async gate<T>(call: () => Promise<T>): Promise<T> {
    if (this.dead) throw new ProcessDiedError();
    const index = this.calls++;
    if (this.crash !== undefined && index === this.crash.at) {
      // `after`: the store applies the call; the process dies before its answer arrives.
      if (this.crash.when === 'after') await call().catch(() => undefined);
      // From now on the process has no effects: set before anything else can run.
      this.dead = true;
      if (this.crash.when === 'during') this.inFlight.push(call().catch(() => undefined));
      this.next = this.harness.crash(this.crash.seed);
      await this.next.catch(() => undefined);
      throw new ProcessDiedError();
    }
    const promise = call();
    this.inFlight.push(promise.catch(() => undefined));
    const result = await promise;
    if (this.dead) throw new ProcessDiedError();
    return result;
  }

  get alive(): boolean {
    return !this.dead;
  }
}

/** The log of an opened checkpoint, its appends and barriers gated and recorded. */
function gatedLog(log: OpenedCheckpoint['log'], life: Life): OpenedCheckpoint['log'] {
  return {
    get state() {
      return log.state;
    },
    get failed() {
      return log.failed;
    },
    get replayedSeq() {
      return log.replayedSeq;
    },
    get durableSeq() {
      return log.durableSeq;
    },
    entries: () => log.entries(),
    durableMarks: () => log.durableMarks(),
    close: () => log.close(),
    append: async (events: readonly CkptEvent[], options?: { readonly durability?: Durability }): Promise<AppendReceipt> => {
      let index = -1;
      const receipt = await life.gate(() => {
        // Sent: recorded in order whether or not the answer comes back.
        index = life.sent.push({ events }) - 1;
        return log.append(events, options);
      });
      if (options?.durability === 'durable') life.ackedUpTo = Math.max(life.ackedUpTo, index);
      return receipt;
    },
    sync: async () => {
      let upTo = -1;
      await life.gate(() => {
        upTo = life.sent.length - 1;
        return log.sync();
      });
      life.ackedUpTo = Math.max(life.ackedUpTo, upTo);
    },
  };
}

/** The store as one process life sees it: `open` and the opened checkpoint's log and close are gated. */
function gatedStore(store: CheckpointStore, life: Life): CheckpointStore {
  return {
    description: store.description,
    open: (options: OpenCheckpointOptions) =>
      life.gate(async () => {
        const opened = await store.open(options);
        life.opened.push(opened);
        life.startState = opened.startState;
        return {
          ...opened,
          log: gatedLog(opened.log, life),
          close: (closing: { readonly remove: boolean }) => life.gate(() => opened.close(closing)),
        };
      }),
    read: (name, options) => life.gate(() => store.read(name, options)),
    list: (options) => store.list(options),
    prune: (options) => life.gate(() => store.prune(options)),
    delete: (name) => life.gate(() => store.delete(name)),
    close: () => store.close(),
  };
}

/** The runner's storage as one life sees it: a dead process reads and writes nothing more. */
function mortalStorage(storage: Storage, life: Life): Storage {
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (!life.alive) throw new ProcessDiedError();
      return call(...args);
    };
  const file = (inner: StorageFile): StorageFile => ({
    path: inner.path,
    size: guard(() => inner.size()),
    read: guard((position: number, length: number) => inner.read(position, length)),
    write: guard((data: Uint8Array, position: number) => inner.write(data, position)),
    truncate: guard((size: number) => inner.truncate(size)),
    ...(inner.info !== undefined && { info: guard(() => inner.info!()) }),
    datasync: guard(() => inner.datasync()),
    // Closing a descriptor is what the kernel does for a dead process too.
    close: () => inner.close(),
  });
  return {
    open: guard(async (path: string, mode: Parameters<Storage['open']>[1]) => file(await storage.open(path, mode))),
    stat: guard((path: string) => storage.stat(path)),
    rename: guard((from: string, to: string) => storage.rename(from, to)),
    unlink: guard((path: string) => storage.unlink(path)),
    mkdir: guard((path: string) => storage.mkdir(path)),
    readdir: guard((path: string) => storage.readdir(path)),
    syncDir: guard((path: string) => storage.syncDir(path)),
    setMtime: guard((path: string, mtimeMs: number) => storage.setMtime(path, mtimeMs)),
  };
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
  // A dead process's calls in flight end (they fail, or land as the crash allowed); then what
  // it held is released, as the end of a process releases it, before the next life starts.
  await bounded(Promise.allSettled(life.inFlight), options.lifeTimeoutMs ?? 30_000, 'the calls in flight at a crash');
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
    store = await life.next!;
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
  const settings = propertySettings<[Job, RunnerStoreCrash[]]>(options.numRuns ?? 10);
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
