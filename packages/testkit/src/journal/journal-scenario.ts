import {
  CorruptCheckpointError,
  Fold,
  Journal,
  createIdentity,
  foldEvents,
  readLog,
  snapshotState,
  type CheckpointState,
  type CkptEvent,
  type Storage,
} from '@ckpt/core/internal';
import { SimulatedStorage, type CrashPlan, type FaultRule } from '../storage/simulated-storage.js';

/** One thing a workload does to a journal. */
export type JournalStep =
  /** Appends `events` events as one record; `wait` awaits the receipt before the next step. */
  | { readonly kind: 'append'; readonly events: number; readonly durability: 'durable' | 'buffered'; readonly wait: boolean }
  /** Awaits `journal.sync()`. */
  | { readonly kind: 'sync' }
  /** Awaits `journal.compact()`. */
  | { readonly kind: 'compact' };

/** One life of the writing process: open (or create), run `steps`, lose power. */
export interface JournalSession {
  readonly steps: readonly JournalStep[];
  /** Index of the storage operation (counted from this session's start) that does not happen. */
  readonly crashAt: number;
  /** What the power loss does to unsynced data. */
  readonly plan: CrashPlan;
  /** I/O errors injected during this session. */
  readonly faults?: readonly FaultRule[];
}

/** A run of several sessions, each ended by a crash, then a final clean recovery. */
export interface JournalScenario {
  /** Compaction threshold of every session (small values make compaction frequent). */
  readonly compaction: { readonly minBytes: number } | false;
  readonly sessions: readonly JournalSession[];
}

/** Reads the checkpoint at `path`; `undefined` when no file is there. */
export type CheckpointReader = (storage: Storage, path: string, fold: Fold) => Promise<CheckpointState | undefined>;

/** Turns the storage a journal uses into another (the teeth tests break it on purpose). */
export type StorageWrapper = (storage: Storage) => Storage;

/** Options of {@link runJournalScenario}. */
export interface JournalScenarioOptions {
  /** Wraps the storage the journal writes through (never the one the checker reads). */
  readonly wrapStorage?: StorageWrapper;
  /** How the checker reads a recovered checkpoint (default: core's readLog). */
  readonly read?: CheckpointReader;
  /**
   * What the writer does after an explicit `compact()` rejects without a crash (an injected
   * I/O error): `stop` using the journal (default), or `continue` appending. `continue` exposes
   * a core bug (see docs/testing-restart-semantics.md, "Known core issues"): the failed compaction consumed a
   * sequence number, so later records leave a hole that recovery treats as a torn tail, and a
   * `sync()` with nothing appended since spins forever in a microtask loop.
   */
  readonly afterFailedCompaction?: 'stop' | 'continue';
}

/** What a scenario did. */
export interface JournalScenarioReport {
  /** Crashes simulated (one per session). */
  readonly crashes: number;
  /** Events appended and accepted, across sessions. */
  readonly appended: number;
  /** Events the final checkpoint holds. */
  readonly recovered: number;
  /** Where each session's crash struck (for coverage checks). */
  readonly phases: Readonly<Record<CrashPhase, number>>;
}

/** Where a crash struck: creating the file, recovering it, compacting, writing, or after the session's steps. */
export type CrashPhase = 'create' | 'recovery' | 'compaction' | 'writing' | 'after-steps';

/** Path of the checkpoint in the scenarios. */
export const SCENARIO_PATH = '/ckpt/job.ckpt';
const DIRECTORY = '/ckpt';
const identity = createIdentity({ kind: 'testkit', id: 'journal-scenario', version: 1, structure: { steps: ['u'] } });
const fold = new Fold();
const fixedClock = () => 0;

/** A violation of a crash property: the message says which property, with the numbers. */
export class CrashPropertyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrashPropertyViolation';
  }
}

/** The default reader: core's readLog, or undefined when the file is missing. */
export const readCheckpoint: CheckpointReader = async (storage, path, f) => {
  if ((await storage.stat(path)) === undefined) return undefined;
  return (await readLog(storage, path, f)).state;
};

/** The event appended in position `i` of a scenario: distinct, so states tell prefixes apart. */
export function scenarioEvent(i: number): CkptEvent {
  return { type: 'cursor-set', unit: `u${i % 3}`, cursor: i };
}

function plain(state: CheckpointState): unknown {
  return JSON.parse(JSON.stringify(snapshotState(state, fold)));
}

/**
 * Checks the core crash property: `state` is the fold of a prefix of `history` that contains
 * its first `acknowledged` events. Returns the recovered prefix length.
 */
export function checkPrefix(state: CheckpointState | undefined, history: readonly CkptEvent[], acknowledged: number, where: string): number {
  const k = state?.eventCount ?? 0;
  if (k < acknowledged) {
    throw new CrashPropertyViolation(`${where}: acknowledged-but-lost: ${acknowledged} event(s) were acknowledged durable, only ${k} recovered`);
  }
  if (k > history.length) {
    throw new CrashPropertyViolation(`${where}: recovered ${k} events, but only ${history.length} were ever appended`);
  }
  if (state !== undefined) {
    const expected = plain(foldEvents(history.slice(0, k)));
    const actual = plain(state);
    if (JSON.stringify(expected) !== JSON.stringify(actual)) {
      throw new CrashPropertyViolation(`${where}: the recovered state is not the fold of the first ${k} appended events`);
    }
  }
  return k;
}

/**
 * Runs `scenario` against core's Journal on a {@link SimulatedStorage} and checks after every
 * crash, and after a final clean recovery, that:
 * - the checkpoint on the crashed disk is the fold of a prefix of the appended events
 *   containing every acknowledged one (an append whose durable promise resolved, or one before
 *   a resolved `sync()`), whatever I/O errors were injected;
 * - recovery keeps what the crashed disk holds: a recovery interrupted by a crash, then
 *   repeated, ends in the same state (the events readable after a crash count as acknowledged
 *   from then on);
 * - compaction (automatic or explicit, crashed anywhere) loses nothing acknowledged.
 * Throws {@link CrashPropertyViolation} (or the unexpected error) when a property fails.
 */
export async function runJournalScenario(scenario: JournalScenario, options: JournalScenarioOptions = {}): Promise<JournalScenarioReport> {
  const read = options.read ?? readCheckpoint;
  const wrap = options.wrapStorage ?? ((s: Storage) => s);
  let disk = new SimulatedStorage();
  await disk.mkdir(DIRECTORY);
  let history: CkptEvent[] = [];
  let acknowledged = 0;
  let appendedTotal = 0;
  let sessionNumber = 0;
  const phases: Record<CrashPhase, number> = { create: 0, recovery: 0, compaction: 0, writing: 0, 'after-steps': 0 };
  for (const session of scenario.sessions) {
    sessionNumber++;
    const where = `session ${sessionNumber}`;
    const storage = sessionStorage(disk, session);
    const outcome = await runSession(
      wrap(storage),
      storage,
      session,
      scenario.compaction,
      history,
      acknowledged,
      where,
      options.afterFailedCompaction ?? 'stop',
    );
    history = outcome.history;
    phases[outcome.phase]++;
    acknowledged = outcome.acknowledged;
    appendedTotal += outcome.appended;
    disk = storage.crash(session.plan);
    const state = await readAfterCrash(read, disk, `${where}, after its crash`);
    // Whatever the crashed disk holds is durable now: no later recovery may lose it.
    acknowledged = checkPrefix(state, history, acknowledged, `${where}, after its crash`);
    history = history.slice(0, acknowledged);
  }
  // A final clean recovery must succeed and change nothing.
  const finalStorage = disk.crash({}, {});
  if ((await finalStorage.stat(SCENARIO_PATH)) !== undefined) {
    const journal = await Journal.open(SCENARIO_PATH, { storage: wrap(finalStorage), fold, compaction: false, now: fixedClock });
    checkPrefix(journal.state, history, acknowledged, 'final recovery');
    await journal.close();
  }
  const finalState = await readAfterCrash(read, finalStorage, 'final recovery');
  if ((finalState?.eventCount ?? 0) !== acknowledged) {
    throw new CrashPropertyViolation(
      `final recovery: recovery is not idempotent: ${acknowledged} events before it, ${finalState?.eventCount ?? 0} after`,
    );
  }
  return { crashes: scenario.sessions.length, appended: appendedTotal, recovered: acknowledged, phases };
}

/** A session run up to its crash, powered off, ready to be crashed with any plan. */
export interface CrashedSession {
  /** The session's storage, powered off; {@link SimulatedStorage.crash} gives the disk after. */
  readonly storage: SimulatedStorage;
  /** Events the log may hold: the previous history plus this session's accepted appends. */
  readonly history: readonly CkptEvent[];
  /** How many of them were acknowledged durable. */
  readonly acknowledged: number;
  /** Where the crash struck. */
  readonly phase: CrashPhase;
}

/**
 * Runs one session on (a copy of) `disk` until it crashes or its steps end, then powers it off.
 * The building block of {@link runJournalScenario} and of the exhaustive explorer.
 */
export async function runSessionOnDisk(
  disk: SimulatedStorage,
  session: JournalSession,
  compaction: JournalScenario['compaction'],
  history: readonly CkptEvent[],
  acknowledged: number,
  options: JournalScenarioOptions = {},
  where = 'session',
): Promise<CrashedSession> {
  const storage = sessionStorage(disk, session);
  const wrap = options.wrapStorage ?? ((s: Storage) => s);
  const outcome = await runSession(
    wrap(storage),
    storage,
    session,
    compaction,
    history,
    acknowledged,
    where,
    options.afterFailedCompaction ?? 'stop',
  );
  return { storage, history: outcome.history, acknowledged: outcome.acknowledged, phase: outcome.phase };
}

/** A fresh simulated disk with the scenario's (empty, durable) checkpoint directory. */
export async function emptyScenarioDisk(): Promise<SimulatedStorage> {
  const disk = new SimulatedStorage();
  await disk.mkdir(DIRECTORY);
  return disk;
}

/**
 * Checks the disk after a crash: its checkpoint is a prefix containing the acknowledged events,
 * and a clean recovery (Journal.open, close) keeps exactly that prefix. Returns its length.
 */
export async function checkCrashedDisk(
  disk: SimulatedStorage,
  history: readonly CkptEvent[],
  acknowledged: number,
  options: JournalScenarioOptions = {},
  where = 'after the crash',
): Promise<number> {
  const read = options.read ?? readCheckpoint;
  const k = checkPrefix(await readAfterCrash(read, disk, where), history, acknowledged, where);
  const recovered = disk.crash({}, {});
  if ((await recovered.stat(SCENARIO_PATH)) === undefined) return k;
  const wrap = options.wrapStorage ?? ((s: Storage) => s);
  const journal = await Journal.open(SCENARIO_PATH, { storage: wrap(recovered), fold, compaction: false, now: fixedClock });
  checkPrefix(journal.state, history, k, `${where}, Journal.open`);
  await journal.close();
  const again = await readAfterCrash(read, recovered, `${where}, reread after recovery`);
  if ((again?.eventCount ?? 0) !== k) {
    throw new CrashPropertyViolation(`${where}: recovery is not idempotent: ${k} events before it, ${again?.eventCount ?? 0} after`);
  }
  return k;
}

function sessionStorage(disk: SimulatedStorage, session: JournalSession): SimulatedStorage {
  return disk.crash({}, { crashAt: session.crashAt, ...(session.faults !== undefined && { faults: session.faults }) });
}

async function readAfterCrash(read: CheckpointReader, disk: SimulatedStorage, where: string): Promise<CheckpointState | undefined> {
  try {
    return await read(disk, SCENARIO_PATH, fold);
  } catch (error) {
    if (error instanceof CorruptCheckpointError) {
      throw new CrashPropertyViolation(`${where}: a crash alone left a checkpoint recovery refuses: ${error.message}`);
    }
    throw error;
  }
}

async function runSession(
  storage: Storage,
  simulated: SimulatedStorage,
  session: JournalSession,
  compaction: JournalScenario['compaction'],
  startHistory: readonly CkptEvent[],
  startAcknowledged: number,
  where: string,
  afterFailedCompaction: 'stop' | 'continue',
): Promise<{ history: CkptEvent[]; acknowledged: number; appended: number; phase: CrashPhase }> {
  const history = [...startHistory];
  let acknowledged = startAcknowledged;
  let appended = 0;
  const options = { storage, fold, compaction, now: fixedClock };
  let journal: Journal;
  let phase: CrashPhase = 'create';
  const crashPhase = (): CrashPhase => {
    if (!simulated.crashed) return 'after-steps';
    // Automatic compaction runs inside the flush loop: recognise it by its temporary file.
    if (/\.compact-[0-9a-f]+\.tmp$/.test(simulated.operations.at(-1)?.path ?? '')) return 'compaction';
    return phase;
  };
  try {
    const exists = (await storage.stat(SCENARIO_PATH)) !== undefined;
    phase = exists ? 'recovery' : 'create';
    journal = exists ? await Journal.open(SCENARIO_PATH, options) : await Journal.create(SCENARIO_PATH, identity, options);
  } catch (error) {
    if (simulated.crashed || hasInjectedFault(simulated)) {
      const crashedIn = crashPhase();
      simulated.powerOff();
      return { history, acknowledged, appended, phase: crashedIn };
    }
    throw error;
  }
  checkPrefix(journal.state, history, acknowledged, `${where}, recovered by Journal.open`);
  const acknowledge = (count: number) => {
    if (count > acknowledged) acknowledged = count;
  };
  const inFlight: Promise<unknown>[] = [];
  phase = 'writing';
  for (const step of session.steps) {
    if (simulated.crashed || journal.failed) break;
    phase = step.kind === 'compact' ? 'compaction' : 'writing';
    try {
      if (step.kind === 'append') {
        const events = Array.from({ length: step.events }, (_, i) => scenarioEvent(history.length + i));
        const before = journal.state.eventCount;
        const receipt = journal.append(events, { durability: step.durability });
        if (journal.state.eventCount === before + events.length) {
          history.push(...events);
          appended += events.length;
        }
        const upTo = history.length;
        const acked = receipt.then(() => {
          if (step.durability === 'durable') acknowledge(upTo);
        });
        if (step.wait) await acked;
        else inFlight.push(acked.catch(() => undefined));
      } else if (step.kind === 'sync') {
        const upTo = history.length;
        await journal.sync();
        acknowledge(upTo);
      } else {
        try {
          await journal.compact();
        } catch {
          if (afterFailedCompaction === 'stop') break;
        }
      }
    } catch {
      // A crash or an injected error: the journal is failed or the machine is off.
    }
  }
  // The process dies with the machine: no close(). In-flight appends settle (rejected by the
  // crash, or resolved if they became durable before it).
  const crashedIn = crashPhase();
  simulated.powerOff();
  await Promise.all(inFlight);
  return { history, acknowledged, appended, phase: crashedIn };
}

function hasInjectedFault(storage: SimulatedStorage): boolean {
  return storage.operations.some((operation) => operation.error === 'EIO' || operation.error === 'ENOSPC');
}
