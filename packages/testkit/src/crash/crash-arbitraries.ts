import fc from 'fast-check';
import type { JournalScenario, JournalSession, JournalStep } from '../journal/journal-scenario.js';
import type { CrashPlan, FaultRule, OperationKind, WriteFate } from '../storage/simulated-storage.js';

/**
 * fast-check arbitraries for crashes: where the power goes, what it does to unsynced data,
 * which call fails. Shrinking goes toward "crash early, keep everything, no faults", so a
 * counterexample is as small as it can be.
 */

/** What a crash does to one unsynced write: kept, dropped, or torn at any byte (maybe garbling its sector). */
export function writeFateArbitrary(): fc.Arbitrary<WriteFate> {
  return fc.oneof(
    { arbitrary: fc.constant<WriteFate>({ kind: 'keep' }), weight: 3 },
    { arbitrary: fc.constant<WriteFate>({ kind: 'drop' }), weight: 3 },
    {
      arbitrary: fc.record({ kind: fc.constant('torn' as const), keep: fc.nat({ max: 1 << 16 }), garble: fc.boolean() }),
      weight: 4,
    },
  );
}

/** A whole crash plan: a fate per unsynced write, a surviving prefix per directory. */
export function crashPlanArbitrary(): fc.Arbitrary<CrashPlan> {
  return fc.record({
    writes: fc.array(writeFateArbitrary(), { minLength: 1, maxLength: 8 }),
    directories: fc.array(fc.nat({ max: 8 }), { minLength: 1, maxLength: 3 }),
    keepTruncations: fc.boolean(),
  });
}

/** An operation index to crash before, below `max`. */
export function crashPointArbitrary(max = 200): fc.Arbitrary<number> {
  return fc.nat({ max });
}

const FAILING_KINDS: readonly OperationKind[] = [
  'open',
  'write',
  'datasync',
  'rename',
  'syncDir',
  'truncate',
  'readdir',
  'unlink',
  'read',
  'size',
  'stat',
  'close',
];

/** An injected I/O error: EIO or ENOSPC on the nth call of some kind. */
export function faultRuleArbitrary(): fc.Arbitrary<FaultRule> {
  return fc.record({
    kind: fc.constantFrom(...FAILING_KINDS),
    nth: fc.integer({ min: 1, max: 6 }),
    code: fc.constantFrom('EIO' as const, 'ENOSPC' as const),
  });
}

/** One step of a journal workload. */
export function journalStepArbitrary(): fc.Arbitrary<JournalStep> {
  return fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        events: fc.integer({ min: 1, max: 4 }),
        durability: fc.constantFrom('durable' as const, 'buffered' as const),
        wait: fc.boolean(),
      }),
      weight: 8,
    },
    { arbitrary: fc.constant<JournalStep>({ kind: 'sync' }), weight: 1 },
    { arbitrary: fc.constant<JournalStep>({ kind: 'compact' }), weight: 1 },
  );
}

/** Options of {@link journalScenarioArbitrary}. */
export interface JournalScenarioArbitraryOptions {
  readonly maxSessions?: number;
  readonly maxSteps?: number;
  /** Inject I/O errors into some sessions (default true). */
  readonly faults?: boolean;
  /** Largest crash point (default 48 operations: a session of a dozen steps makes about that many). */
  readonly maxCrashAt?: number;
}

/** A session: its steps, where it crashes, the crash plan, maybe an injected error. */
export function journalSessionArbitrary(options: JournalScenarioArbitraryOptions = {}): fc.Arbitrary<JournalSession> {
  return fc.record(
    {
      steps: fc.array(journalStepArbitrary(), { maxLength: options.maxSteps ?? 12 }),
      crashAt: crashPointArbitrary(options.maxCrashAt ?? 48),
      plan: crashPlanArbitrary(),
      faults: options.faults === false ? fc.constant([]) : fc.array(faultRuleArbitrary(), { maxLength: 1 }),
    },
    { requiredKeys: ['steps', 'crashAt', 'plan'] },
  );
}

/**
 * Several sessions, each ended by a crash (sessions after the first start with recovery, so a
 * small crash point crashes recovery), with compaction thresholds small enough that
 * compaction runs, and crashes, often.
 */
export function journalScenarioArbitrary(options: JournalScenarioArbitraryOptions = {}): fc.Arbitrary<JournalScenario> {
  return fc.record({
    compaction: fc.oneof(fc.constant(false as const), fc.record({ minBytes: fc.integer({ min: 64, max: 1024 }) })),
    sessions: fc.array(journalSessionArbitrary(options), { minLength: 1, maxLength: options.maxSessions ?? 4 }),
  });
}
